//! Tagging: `index.json` entries with an `org.opencontainers.image.ref.name`.

use oci_spec_types::annotations::REF_NAME;
use oci_spec_types::{Descriptor, ImageIndex};

use crate::layout::{IndexError, Layout, LockError, WriteError};
use crate::name::{Reference, is_valid_tag};
use crate::resolve::{ResolveError, select_entry};
use oci_spec_types::Platform;

/// Why a tag could not be set or removed.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// The new tag does not follow the ref.name grammar.
    #[error(
        "tag {tag:?} does not follow the ref.name grammar (components of [A-Za-z0-9] joined by one of -._:@+ or --, separated by /)"
    )]
    InvalidTag {
        /// The tag.
        tag: String,
    },
    /// The source image could not be found.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// No entry has the tag to remove.
    #[error("no tag {tag} in layout {layout}")]
    NoSuchTag {
        /// The tag.
        tag: String,
        /// The layout directory.
        layout: std::path::PathBuf,
    },
    /// Taking the layout lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Writing `index.json` failed.
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl TagError {
    /// Whether a check failed (exit 1): a rejected tag or a damaged layout.
    pub fn is_check_failure(&self) -> bool {
        match self {
            TagError::InvalidTag { .. } => true,
            TagError::Resolve(e) => e.is_check_failure(),
            TagError::NoSuchTag { .. } | TagError::Lock(_) | TagError::Write(_) => false,
        }
    }
}

impl From<IndexError> for TagError {
    fn from(e: IndexError) -> TagError {
        TagError::Resolve(ResolveError::Index(e))
    }
}

impl Layout {
    /// Tags the image `source` names (for `platform` where several entries share a name)
    /// as `tag`: a copy of its descriptor, platform and annotations included, with the ref
    /// name set. Any entry already tagged `tag` is replaced (the new entry takes the place
    /// of the first one), so a tag names exactly one entry. Returns the new entry.
    ///
    /// Runs under the layout lock: concurrent taggers lose nothing.
    pub fn tag(
        &self,
        source: Option<&Reference>,
        platform: Option<&Platform>,
        tag: &str,
    ) -> Result<Descriptor, TagError> {
        if !is_valid_tag(tag) {
            return Err(TagError::InvalidTag {
                tag: tag.to_owned(),
            });
        }
        let lock = self.lock()?;
        let mut index = lock.read_index()?.into_value();
        let found = select_entry(&index, source, platform, self.root())?.cloned();
        let mut entry = match found {
            Some(entry) => entry,
            None => self.resolve(source, platform)?,
        };
        entry
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.to_owned(), tag.to_owned());
        place_tagged(&mut index, entry.clone(), tag);
        lock.write_index(index)?;
        Ok(entry)
    }

    /// Removes every entry tagged `tag` (one per platform where several share it);
    /// returns them. The blobs stay until [`gc`](Layout::gc).
    pub fn untag(&self, tag: &str) -> Result<Vec<Descriptor>, TagError> {
        let lock = self.lock()?;
        let mut index = lock.read_index()?.into_value();
        let (removed, kept): (Vec<Descriptor>, Vec<Descriptor>) = index
            .manifests
            .into_iter()
            .partition(|d| d.ref_name() == Some(tag));
        if removed.is_empty() {
            return Err(TagError::NoSuchTag {
                tag: tag.to_owned(),
                layout: self.root().to_path_buf(),
            });
        }
        index.manifests = kept;
        lock.write_index(index)?;
        Ok(removed)
    }
}

/// Puts `entry` (already carrying its ref name) into `index` as the one entry tagged
/// `tag`: it takes the place of the first entry that had the tag, the others go, and
/// without one it is appended. So a tag names exactly one entry.
pub(crate) fn place_tagged(index: &mut ImageIndex, entry: Descriptor, tag: &str) {
    let position = index
        .manifests
        .iter()
        .position(|d| d.ref_name() == Some(tag));
    index.manifests.retain(|d| d.ref_name() != Some(tag));
    let at = position.unwrap_or(index.manifests.len());
    index.manifests.insert(at, entry);
}
