//! How containers/image stores a signature blob (`internal/signature/signature.go`):
//! OpenPGP simple signatures raw, anything else as `\x00` + format name + `\n` + data.

/// The largest signature blob read from any store (containers/image's
/// `MaxSignatureBodySize`: 4 MiB).
pub const MAX_SIGNATURE_SIZE: usize = 4 << 20;

/// The most signatures read for one image from any store (cosign's limit, CVE-2023-46737).
pub const MAX_SIGNATURES: usize = 1000;

/// A stored signature blob, by format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredSignature {
    /// A simple-signing OpenPGP message (stored raw, or framed as `simple-signing`).
    SimpleSigning(Vec<u8>),
    /// A sigstore signature: the JSON of `{"mimeType", "payload", "annotations"}`.
    SigstoreJson(Vec<u8>),
}

/// Why a blob is not a stored signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The blob is larger than [`MAX_SIGNATURE_SIZE`].
    #[error("signature blob of {size} bytes exceeds the limit of {MAX_SIGNATURE_SIZE}")]
    TooLarge {
        /// The blob's size.
        size: usize,
    },
    /// The blob is empty.
    #[error("empty signature blob")]
    Empty,
    /// A framed blob without the `\n` after the format name.
    #[error("framed signature blob has no format name line")]
    NoFormatLine,
    /// A framed blob of a format that is not known.
    #[error("unknown signature format {format:?}")]
    UnknownFormat {
        /// The format name (lossily decoded).
        format: String,
    },
    /// The first byte is neither `\x00` nor the first byte of a binary OpenPGP message
    /// (ASCII armor and cleartext signatures cannot be stored).
    #[error(
        "signature blob starts with byte {byte:#04x}, not a binary OpenPGP message or framed signature"
    )]
    Unrecognized {
        /// The first byte.
        byte: u8,
    },
}

/// The first bytes containers/image accepts as a raw binary OpenPGP message: compressed
/// data, one-pass signature and signature packets, in old and new packet format.
const OPENPGP_FIRST_BYTES: [u8; 14] = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xc8, 0x90, 0x91, 0x92, 0x3d, 0xc4, 0x88, 0x89, 0x8a, 0x8b,
];

impl StoredSignature {
    /// Reads a stored blob as containers/image does, bounded by [`MAX_SIGNATURE_SIZE`].
    pub fn from_blob(blob: &[u8]) -> Result<StoredSignature, FramingError> {
        if blob.len() > MAX_SIGNATURE_SIZE {
            return Err(FramingError::TooLarge { size: blob.len() });
        }
        let Some(&first) = blob.first() else {
            return Err(FramingError::Empty);
        };
        if first == 0 {
            let rest = &blob[1..];
            let nl = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(FramingError::NoFormatLine)?;
            let (format, data) = (&rest[..nl], rest[nl + 1..].to_vec());
            return match format {
                b"simple-signing" => Ok(StoredSignature::SimpleSigning(data)),
                b"sigstore-json" => Ok(StoredSignature::SigstoreJson(data)),
                other => Err(FramingError::UnknownFormat {
                    format: String::from_utf8_lossy(other).into_owned(),
                }),
            };
        }
        if OPENPGP_FIRST_BYTES.contains(&first) || first == 0xc2 {
            return Ok(StoredSignature::SimpleSigning(blob.to_vec()));
        }
        Err(FramingError::Unrecognized { byte: first })
    }

    /// The blob as containers/image stores it: simple signing raw, sigstore framed.
    pub fn to_blob(&self) -> Vec<u8> {
        match self {
            StoredSignature::SimpleSigning(data) => data.clone(),
            StoredSignature::SigstoreJson(data) => {
                let mut out = b"\x00sigstore-json\n".to_vec();
                out.extend_from_slice(data);
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_rejects_armor() {
        let s = StoredSignature::SigstoreJson(b"{}".to_vec());
        assert_eq!(StoredSignature::from_blob(&s.to_blob()).unwrap(), s);
        let raw = StoredSignature::SimpleSigning(vec![0xa3, 1, 2]);
        assert_eq!(StoredSignature::from_blob(&raw.to_blob()).unwrap(), raw);
        assert_eq!(
            StoredSignature::from_blob(b"-----BEGIN PGP MESSAGE-----"),
            Err(FramingError::Unrecognized { byte: b'-' })
        );
        assert_eq!(
            StoredSignature::from_blob(b"\x00simple-signing\n\xa3").unwrap(),
            StoredSignature::SimpleSigning(vec![0xa3])
        );
        assert!(StoredSignature::from_blob(b"\x00other\nx").is_err());
        assert!(StoredSignature::from_blob(&vec![0xa3; MAX_SIGNATURE_SIZE + 1]).is_err());
    }
}
