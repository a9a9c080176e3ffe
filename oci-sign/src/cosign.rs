//! cosign key-based signatures: ECDSA P-256 over SHA-256 of the simple-signing payload,
//! ASN.1 DER then base64 (the `dev.cosignproject.cosign/signature` annotation); SPKI PEM
//! public keys; private keys as cosign encrypts them (scrypt, then NaCl secretbox over
//! PKCS#8 DER, in a JSON document inside PEM).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead as _, KeyInit as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::der::pem::LineEnding;
use p256::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

/// The annotation holding a cosign signature on a layer of the signature manifest.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of a cosign simple-signing payload layer.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The PEM label cosign ≤ 2.0.0 writes, and that containers/image 5.23 alone reads.
pub const COSIGN_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// The PEM label cosign ≥ 2.0.1 writes.
pub const SIGSTORE_PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";

/// The scrypt cost parameters (log2 N) readers accept: 2^15 (legacy, written here),
/// 2^16 (standard) and 2^17 (OWASP), each with r=8, p=1.
const ACCEPTED_LOG_N: [u8; 3] = [15, 16, 17];
/// The cost written: N=32768, r=8, p=1 (the set every cosign and containers/image reads).
const WRITTEN_LOG_N: u8 = 15;

/// Why cosign key material or a signature is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignError {
    /// The PEM is malformed, or its label is not one of the expected labels.
    #[error("invalid PEM: {reason}")]
    Pem {
        /// What is wrong.
        reason: String,
    },
    /// The PEM label is not accepted here.
    #[error("PEM label {label:?} is not {expected}")]
    Label {
        /// The label found.
        label: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The public key is not an ECDSA P-256 SubjectPublicKeyInfo.
    #[error("public key is not an ECDSA P-256 SubjectPublicKeyInfo: {reason}")]
    PublicKey {
        /// The decoder's message.
        reason: String,
    },
    /// The encrypted key document is malformed.
    #[error("encrypted private key document is malformed: {reason}")]
    Document {
        /// What is wrong.
        reason: String,
    },
    /// The KDF or cipher is not the one cosign uses, or its parameters are not accepted.
    #[error("unsupported key encryption: {what}")]
    Unsupported {
        /// The KDF, cipher or parameters found.
        what: String,
    },
    /// Decryption failed: a wrong passphrase or a modified key.
    #[error("decrypting the private key failed (wrong passphrase?)")]
    Decrypt,
    /// The decrypted key is not a PKCS#8 ECDSA P-256 key.
    #[error("private key is not a PKCS#8 ECDSA P-256 key: {reason}")]
    PrivateKey {
        /// The decoder's message.
        reason: String,
    },
    /// The signature is not base64 of a DER ECDSA signature.
    #[error("cosign signature is not base64 DER: {reason}")]
    SignatureEncoding {
        /// The decoder's message.
        reason: String,
    },
    /// The signature does not verify over the payload.
    #[error("cosign signature does not verify with the public key")]
    BadSignature,
}

/// A cosign (ECDSA P-256) public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignPublicKey {
    key: VerifyingKey,
}

impl CosignPublicKey {
    /// Reads a `PUBLIC KEY` PEM (PKIX SubjectPublicKeyInfo).
    pub fn from_pem(pem: &[u8]) -> Result<CosignPublicKey, CosignError> {
        let text = std::str::from_utf8(pem).map_err(|_| CosignError::Pem {
            reason: "not UTF-8".to_owned(),
        })?;
        let (label, der) =
            p256::pkcs8::der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| {
                CosignError::Pem {
                    reason: e.to_string(),
                }
            })?;
        if label != "PUBLIC KEY" {
            return Err(CosignError::Label {
                label: label.to_owned(),
                expected: "PUBLIC KEY",
            });
        }
        let key = VerifyingKey::from_public_key_der(&der).map_err(|e| CosignError::PublicKey {
            reason: e.to_string(),
        })?;
        Ok(CosignPublicKey { key })
    }

    /// The key as cosign writes it: `PUBLIC KEY` PEM, LF line ends.
    pub fn to_pem(&self) -> String {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .expect("a P-256 key encodes")
    }

    /// Verifies a cosign signature (base64 of DER) over `payload`.
    pub fn verify(&self, payload: &[u8], signature_b64: &str) -> Result<(), CosignError> {
        let der = B64
            .decode(signature_b64.trim())
            .map_err(|e| CosignError::SignatureEncoding {
                reason: e.to_string(),
            })?;
        let sig =
            DerSignature::try_from(der.as_slice()).map_err(|e| CosignError::SignatureEncoding {
                reason: e.to_string(),
            })?;
        self.key
            .verify(payload, &sig)
            .map_err(|_| CosignError::BadSignature)
    }
}

/// A cosign (ECDSA P-256) private key.
#[derive(Debug, Clone)]
pub struct CosignPrivateKey {
    key: SigningKey,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Cipher {
    name: String,
    nonce: String,
}

fn derive_key(passphrase: &[u8], salt: &[u8], log_n: u8) -> Zeroizing<[u8; 32]> {
    let params = scrypt::Params::new(log_n, 8, 1, 32).expect("accepted scrypt parameters");
    let mut key = Zeroizing::new([0u8; 32]);
    scrypt::scrypt(passphrase, salt, &params, key.as_mut()).expect("32-byte output");
    key
}

impl CosignPrivateKey {
    /// A new random key.
    pub fn generate() -> CosignPrivateKey {
        CosignPrivateKey {
            key: SigningKey::random(&mut OsRng),
        }
    }

    /// The public half.
    pub fn public_key(&self) -> CosignPublicKey {
        CosignPublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// Signs `payload`: ECDSA P-256 over its SHA-256, DER, base64 (std, padded).
    pub fn sign(&self, payload: &[u8]) -> String {
        let sig: DerSignature = self.key.sign(payload);
        B64.encode(sig.as_bytes())
    }

    /// Reads an encrypted key under either label cosign uses, with one of the accepted
    /// scrypt parameter sets; anything else is rejected before any key derivation.
    pub fn from_encrypted_pem(
        pem: &[u8],
        passphrase: &[u8],
    ) -> Result<CosignPrivateKey, CosignError> {
        let text = std::str::from_utf8(pem).map_err(|_| CosignError::Pem {
            reason: "not UTF-8".to_owned(),
        })?;
        let (label, body) =
            p256::pkcs8::der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| {
                CosignError::Pem {
                    reason: e.to_string(),
                }
            })?;
        if label != COSIGN_PRIVATE_KEY_LABEL && label != SIGSTORE_PRIVATE_KEY_LABEL {
            return Err(CosignError::Label {
                label: label.to_owned(),
                expected: "ENCRYPTED COSIGN PRIVATE KEY or ENCRYPTED SIGSTORE PRIVATE KEY",
            });
        }
        let doc: EncryptedKey =
            serde_json::from_slice(&body).map_err(|e| CosignError::Document {
                reason: e.to_string(),
            })?;
        if doc.kdf.name != "scrypt" {
            return Err(CosignError::Unsupported {
                what: format!("kdf {:?}", doc.kdf.name),
            });
        }
        if doc.cipher.name != "nacl/secretbox" {
            return Err(CosignError::Unsupported {
                what: format!("cipher {:?}", doc.cipher.name),
            });
        }
        let p = &doc.kdf.params;
        let log_n = ACCEPTED_LOG_N
            .into_iter()
            .find(|l| p.n == 1u64 << l && p.r == 8 && p.p == 1)
            .ok_or_else(|| CosignError::Unsupported {
                what: format!("scrypt parameters N={} r={} p={}", p.n, p.r, p.p),
            })?;
        let field = |name: &str, v: &str| {
            B64.decode(v).map_err(|e| CosignError::Document {
                reason: format!("{name}: {e}"),
            })
        };
        let salt = field("salt", &doc.kdf.salt)?;
        let nonce = field("nonce", &doc.cipher.nonce)?;
        let ciphertext = field("ciphertext", &doc.ciphertext)?;
        if nonce.len() != 24 {
            return Err(CosignError::Document {
                reason: format!("nonce of {} bytes, expected 24", nonce.len()),
            });
        }
        let key = derive_key(passphrase, &salt, log_n);
        let cipher = XSalsa20Poly1305::new(key.as_ref().into());
        let plain = Zeroizing::new(
            cipher
                .decrypt(nonce.as_slice().into(), ciphertext.as_slice())
                .map_err(|_| CosignError::Decrypt)?,
        );
        let key = SigningKey::from_pkcs8_der(&plain).map_err(|e| CosignError::PrivateKey {
            reason: e.to_string(),
        })?;
        Ok(CosignPrivateKey { key })
    }

    /// The key as cosign writes it, readable by every cosign and containers/image:
    /// PKCS#8 DER sealed with NaCl secretbox under scrypt(N=32768, r=8, p=1) of the
    /// passphrase, in label `ENCRYPTED COSIGN PRIVATE KEY`.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> String {
        let mut salt = [0u8; 32];
        let mut nonce = [0u8; 24];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut nonce);
        let der = self.key.to_pkcs8_der().expect("a P-256 key encodes");
        let key = derive_key(passphrase, &salt, WRITTEN_LOG_N);
        let cipher = XSalsa20Poly1305::new(key.as_ref().into());
        let ciphertext = cipher
            .encrypt((&nonce).into(), der.as_bytes())
            .expect("secretbox encryption does not fail");
        let doc = EncryptedKey {
            kdf: Kdf {
                name: "scrypt".to_owned(),
                params: ScryptParams {
                    n: 1 << WRITTEN_LOG_N,
                    r: 8,
                    p: 1,
                },
                salt: B64.encode(salt),
            },
            cipher: Cipher {
                name: "nacl/secretbox".to_owned(),
                nonce: B64.encode(nonce),
            },
            ciphertext: B64.encode(ciphertext),
        };
        let json = serde_json::to_vec(&doc).expect("JSON encodes");
        p256::pkcs8::der::pem::encode_string(COSIGN_PRIVATE_KEY_LABEL, LineEnding::LF, &json)
            .expect("PEM encodes")
    }
}
