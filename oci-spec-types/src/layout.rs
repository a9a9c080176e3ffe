//! The image layout (image-layout.md): the `oci-layout` file and the names of a layout's
//! parts. Names only: this crate does no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// The `imageLayoutVersion` this crate writes and the schema requires (L3).
pub const IMAGE_LAYOUT_VERSION: &str = "1.0.0";
/// The name of the layout marker file (L3).
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// The name of the layout's index file (L4).
pub const INDEX_FILE: &str = "index.json";
/// The name of the blobs directory (L1).
pub const BLOBS_DIR: &str = "blobs";

/// The content of the `oci-layout` file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciLayout {
    /// `imageLayoutVersion`, `1.0.0` for valid layouts (L3). Any string parses.
    pub image_layout_version: String,
    /// Members this crate does not know, kept for the round trip (L3 allows extra fields).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl OciLayout {
    /// `{"imageLayoutVersion":"1.0.0"}`.
    pub fn new() -> OciLayout {
        OciLayout {
            image_layout_version: IMAGE_LAYOUT_VERSION.to_owned(),
            extra: BTreeMap::new(),
        }
    }
}

impl Default for OciLayout {
    fn default() -> Self {
        OciLayout::new()
    }
}

/// The path of a blob relative to the layout root: `blobs/<algorithm>/<encoded>` (L5, L6),
/// with `/` separators.
///
/// The digest grammar (DG1) admits no `/`, and the components cannot be `.` or `..`, so
/// the path never leaves the `blobs` directory.
pub fn blob_path(digest: &Digest) -> String {
    format!(
        "{BLOBS_DIR}/{}/{}",
        digest.algorithm_name(),
        digest.encoded()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths() {
        let d = Digest::parse(crate::descriptor::EMPTY_DIGEST).unwrap();
        assert_eq!(
            blob_path(&d),
            "blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
