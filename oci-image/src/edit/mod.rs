//! Whole-image edits over a layout: a new image from a root filesystem (`build`), config
//! changes (`config`), and multi-platform indexes (`index`). Each reads what it starts
//! from through the read side ([`crate::descend`] over a [`crate::LayoutSource`]), writes
//! new documents, and tags the result last, under the layout lock.

mod build;
mod config;
mod index;

use std::time::{SystemTime, UNIX_EPOCH};

use oci_digest::PutError;
use oci_spec_types::annotations::REF_NAME;
use oci_spec_types::document::{AnyManifest, DocumentType};
use oci_spec_types::{
    Algorithm, Descriptor, Digest, Document, ImageConfig, ImageManifest, Platform, media_type,
};

pub use build::{BUILD_COMPRESSION, BuildError, BuildOptions, Built, build};
pub use config::{
    ConfigEdits, ValueError, ValueReason, check_absolute, check_signal, check_user,
    parse_exec_array, parse_key_value, parse_port,
};

use crate::image::descend;
use crate::layout::{IndexError, Layout, LockError, WriteError};
use crate::name::{Reference, is_valid_tag};
use crate::resolve::{BlobError, ResolveError};
use crate::{LayoutSource, Source as _};

/// The time an image is created at: `SOURCE_DATE_EPOCH` when given, else now.
pub(crate) fn timestamp(source_date_epoch: Option<i64>) -> String {
    let secs = source_date_epoch.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    });
    rfc3339(secs)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the epoch (UTC).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Why an image could not be edited, or an index created.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The new tag does not follow the ref.name grammar.
    #[error(
        "tag {tag:?} does not follow the ref.name grammar (components of [A-Za-z0-9] joined by one of -._:@+ or --, separated by /)"
    )]
    InvalidTag {
        /// The tag.
        tag: String,
    },
    /// The source image could not be found or read.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The source is not an OCI image manifest with an OCI image config.
    #[error("{what} {digest} is a {media_type}, not an OCI image manifest with an image config")]
    NotAnImage {
        /// What was expected: "image", "base image", ...
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
    },
    /// Storing a document failed.
    #[error("cannot store the new {what}")]
    Put {
        /// "config", "manifest" or "index".
        what: &'static str,
        /// The cause.
        #[source]
        source: PutError,
    },
    /// Taking the layout lock failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Writing `index.json` failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// An index needs at least one image.
    #[error("an index needs at least one image")]
    NoImages,
}

impl EditError {
    /// Whether a check failed (exit 1): a rejected tag, a damaged layout, a source that
    /// is not an image.
    pub fn is_check_failure(&self) -> bool {
        match self {
            EditError::InvalidTag { .. } | EditError::NotAnImage { .. } => true,
            EditError::Resolve(e) => e.is_check_failure(),
            EditError::Put { .. }
            | EditError::Lock(_)
            | EditError::Write(_)
            | EditError::NoImages => false,
        }
    }
}

impl From<IndexError> for EditError {
    fn from(e: IndexError) -> EditError {
        EditError::Resolve(ResolveError::Index(e))
    }
}

impl From<BlobError> for EditError {
    fn from(e: BlobError) -> EditError {
        EditError::Resolve(ResolveError::Blob(e))
    }
}

/// A new image written to a layout and tagged: what `ocimg build` and `ocimg config`
/// report.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The `index.json` entry written (platform and ref name included).
    pub manifest: Descriptor,
    /// The config's descriptor.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// An image read from a layout: its manifest and config, parsed.
#[derive(Debug, Clone)]
pub(crate) struct OciImage {
    pub(crate) descriptor: Descriptor,
    pub(crate) manifest: ImageManifest,
    pub(crate) config: ImageConfig,
}

impl Layout {
    /// Reads the OCI image `reference` names, descending through an index by `platform`.
    pub(crate) fn read_oci_image(
        &self,
        reference: Option<&Reference>,
        platform: Option<&Platform>,
        what: &'static str,
    ) -> Result<OciImage, EditError> {
        let entry = self.resolve(reference, platform)?;
        let source = LayoutSource::new(self.clone(), entry);
        let (descriptor, _, manifest) =
            descend(&source, source.root(), platform).map_err(ResolveError::Image)?;
        let not_an_image = |media_type: String| EditError::NotAnImage {
            what,
            digest: descriptor.digest.clone(),
            media_type,
        };
        let manifest = match manifest {
            AnyManifest::OciManifest(m) if m.is_image() => m,
            AnyManifest::OciManifest(m) => {
                return Err(not_an_image(format!(
                    "manifest with config {}",
                    m.config.media_type
                )));
            }
            other => return Err(not_an_image(other.kind().media_type().to_owned())),
        };
        let (_, config) = self.read_config(&manifest.config)?;
        Ok(OciImage {
            descriptor,
            manifest,
            config,
        })
    }

    /// Stores the serialization of `value` and returns its descriptor.
    pub(crate) fn put_document<T: DocumentType>(
        &self,
        value: T,
        media_type: &str,
        what: &'static str,
    ) -> Result<Descriptor, EditError> {
        let document = Document::from_value(value);
        let measured = self
            .blobs()
            .put_bytes(document.bytes(), Algorithm::Sha256)
            .map_err(|source| EditError::Put { what, source })?;
        Ok(Descriptor::new(media_type, measured.digest, measured.size))
    }

    /// Stores `config` and a manifest made from `base` (unknown members and annotations
    /// kept, subject dropped) with `layers`, and tags it `tag` for the config's platform.
    pub(crate) fn write_image(
        &self,
        base: Option<ImageManifest>,
        config: ImageConfig,
        layers: Vec<Descriptor>,
        tag: &str,
    ) -> Result<Written, EditError> {
        if !is_valid_tag(tag) {
            return Err(EditError::InvalidTag {
                tag: tag.to_owned(),
            });
        }
        let platform = config.platform();
        let config = self.put_document(config, media_type::IMAGE_CONFIG, "config")?;
        let manifest = match base {
            Some(mut m) => {
                m.config = config.clone();
                m.layers = layers.clone();
                // The new image is not a referrer of what the old one referred to.
                m.subject = None;
                m
            }
            None => ImageManifest::new(config.clone(), layers.clone()),
        };
        let mut descriptor = self.put_document(manifest, media_type::IMAGE_MANIFEST, "manifest")?;
        descriptor.platform = Some(platform);
        let manifest = self.set_tag(descriptor, tag)?;
        Ok(Written {
            manifest,
            config,
            layers,
        })
    }

    /// Adds `descriptor` to `index.json` as `tag`, replacing every entry tagged so (the
    /// new entry takes the place of the first), under the layout lock. Unlike
    /// [`Layout::tag`] it needs no lookup: the caller knows the descriptor.
    fn set_tag(&self, mut descriptor: Descriptor, tag: &str) -> Result<Descriptor, EditError> {
        descriptor
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.to_owned(), tag.to_owned());
        let lock = self.lock()?;
        let mut index = lock.read_index()?.into_value();
        crate::tag::place_tagged(&mut index, descriptor.clone(), tag);
        lock.write_index(index)?;
        Ok(descriptor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_spells_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
