//! Naming images on disk: `DIR[:REF]`, as umoci and skopeo's `oci:` transport spell it.

use std::fmt;
use std::path::PathBuf;

use oci_spec_types::Digest;

/// What selects an entry of a layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// An `org.opencontainers.image.ref.name` value.
    Tag(String),
    /// A digest: an `index.json` entry with that digest, or any manifest or index blob of
    /// the layout (an ocimg extension; skopeo's `oci:` reads only tags).
    Digest(Digest),
}

impl Reference {
    /// A REF that parses as a digest of a registered algorithm (`sha256:...`,
    /// `sha512:...`, `blake3:...`) selects by digest; anything else is a tag, so that tags
    /// holding a `:` (`v1:2`, which the digest grammar would also accept) stay tags.
    ///
    /// `None` for the empty string.
    pub fn parse(reference: &str) -> Option<Reference> {
        if reference.is_empty() {
            return None;
        }
        Some(match Digest::parse(reference) {
            Ok(digest) if digest.algorithm().is_some() => Reference::Digest(digest),
            _ => Reference::Tag(reference.to_owned()),
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(tag) => f.write_str(tag),
            Reference::Digest(digest) => write!(f, "{digest}"),
        }
    }
}

/// `DIR[:REF]`: an image in the OCI layout at `dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The layout directory.
    pub dir: PathBuf,
    /// The entry; `None` when the layout must hold exactly one image.
    pub reference: Option<Reference>,
}

/// Why a string is not `DIR[:REF]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing before the first `:`.
    #[error("image name {input:?} has an empty layout directory (expected DIR[:REF])")]
    EmptyDir {
        /// The whole input.
        input: String,
    },
    /// A `:` with nothing after it.
    #[error("image name {input:?} has an empty reference after ':' (expected DIR[:REF])")]
    EmptyReference {
        /// The whole input.
        input: String,
    },
}

impl ImageName {
    /// Splits `DIR[:REF]` at the first `:`; see [`Reference::parse`] for REF.
    pub fn parse(input: &str) -> Result<ImageName, NameError> {
        let (dir, reference) = match input.split_once(':') {
            Some((dir, reference)) => (dir, Some(reference)),
            None => (input, None),
        };
        if dir.is_empty() {
            return Err(NameError::EmptyDir {
                input: input.to_owned(),
            });
        }
        let reference = match reference {
            None => None,
            Some(r) => Some(
                Reference::parse(r).ok_or_else(|| NameError::EmptyReference {
                    input: input.to_owned(),
                })?,
            ),
        };
        Ok(ImageName {
            dir: PathBuf::from(dir),
            reference,
        })
    }
}

impl fmt::Display for ImageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.dir.display())?;
        if let Some(reference) = &self.reference {
            write!(f, ":{reference}")?;
        }
        Ok(())
    }
}

/// Whether `name` follows the `org.opencontainers.image.ref.name` grammar (A10):
/// `component ("/" component)*`, a component being `alphanum (separator alphanum)*`,
/// `alphanum` `[A-Za-z0-9]+` and a separator one of `-._:@+` or `--`.
///
/// New tags must follow it; existing entries are read whatever their name.
pub fn is_valid_tag(name: &str) -> bool {
    oci_spec_types::annotations::is_valid_ref_name(name)
}
