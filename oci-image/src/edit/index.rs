//! Multi-platform indexes (`ocimg index create`).

use oci_spec_types::{Descriptor, ImageIndex, media_type};

use super::EditError;
use crate::layout::Layout;
use crate::name::{Reference, is_valid_tag};

impl Layout {
    /// `ocimg index create`: an image index whose entries are the images `sources` name
    /// (each an `index.json` entry or manifest of this layout), each with the platform of
    /// its config (an index among the sources is listed without a platform). Stored and
    /// tagged `tag`; returns the new `index.json` entry.
    pub fn create_index(&self, tag: &str, sources: &[Reference]) -> Result<Descriptor, EditError> {
        if !is_valid_tag(tag) {
            return Err(EditError::InvalidTag {
                tag: tag.to_owned(),
            });
        }
        if sources.is_empty() {
            return Err(EditError::NoImages);
        }
        let mut entries = Vec::with_capacity(sources.len());
        for source in sources {
            let found = self.resolve(Some(source), None)?;
            let (_, manifest) = self.read_manifest(&found)?;
            let mut entry = Descriptor::new(found.media_type.clone(), found.digest, found.size);
            if let Some(config) = manifest.config() {
                if config.media_type.is_image_config() {
                    let (_, config) = self.read_config(config)?;
                    entry.platform = Some(config.platform());
                } else {
                    entry.platform = found.platform;
                }
            }
            entries.push(entry);
        }
        let index =
            self.put_document(ImageIndex::new(entries), media_type::IMAGE_INDEX, "index")?;
        self.set_tag(index, tag)
    }
}
