//! Binary OpenPGP signed messages (RFC 4880 §11.3) as containers/image writes and reads
//! them: one-pass signature, literal data, signature, optionally inside one compressed
//! data packet. The message structure is read here, strictly; keys and the signature
//! cryptography are rPGP's (`pgp`, pure Rust).

use std::io::Read as _;

use pgp::composed::{PublicOrSecret, SignedPublicKey, SignedPublicSubKey, SignedSecretKey};
use pgp::packet::{
    OnePassSignature, PacketHeader, Signature, SignatureConfig, SignatureType, Subpacket,
    SubpacketData,
};
use pgp::ser::Serialize as _;
use pgp::types::{KeyDetails as _, Password, Tag, Timestamp};

/// The most packets read from one message (a signed message has three).
const MAX_PACKETS: usize = 16;
/// The largest decompressed message (containers/image's signature body limit).
const MAX_MESSAGE_SIZE: usize = 4 << 20;

/// Why a blob is not an acceptable signed message, or its signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenPgpError {
    /// ASCII-armored data (not storable; refused).
    #[error("armored OpenPGP data is not accepted, only binary messages")]
    Armored,
    /// A cleartext-signed message (refused).
    #[error("cleartext-signed OpenPGP messages are not accepted")]
    Cleartext,
    /// The packet stream is malformed.
    #[error("malformed OpenPGP packet at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset in the (decompressed) stream.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than 16 packets, or a message larger than 4 MiB.
    #[error("OpenPGP message exceeds the limits ({reason})")]
    TooLarge {
        /// Which limit.
        reason: &'static str,
    },
    /// A compression algorithm not supported (BZip2 or unknown).
    #[error("unsupported OpenPGP compression algorithm {algorithm}")]
    UnsupportedCompression {
        /// The algorithm id.
        algorithm: u8,
    },
    /// An encrypted message.
    #[error("encrypted OpenPGP message (packet tag {tag}) is not a signed message")]
    Encrypted {
        /// The encryption packet's tag.
        tag: u8,
    },
    /// Literal data without a signature.
    #[error("unsigned OpenPGP literal message")]
    LiteralOnly,
    /// A signature without the data (a detached signature).
    #[error("detached OpenPGP signature, not a signed message")]
    Detached,
    /// Not exactly one signature.
    #[error("OpenPGP message has {count} signatures, exactly one is required")]
    SignatureCount {
        /// How many signature packets.
        count: usize,
    },
    /// Any other packet sequence.
    #[error(
        "OpenPGP message has packet sequence {tags:?}, not one-pass signature, literal data, signature"
    )]
    UnexpectedPackets {
        /// The tags in order.
        tags: Vec<u8>,
    },
    /// A packet that does not parse.
    #[error("invalid OpenPGP {packet} packet: {reason}")]
    BadPacket {
        /// Which packet.
        packet: &'static str,
        /// rPGP's message.
        reason: String,
    },
    /// The signature is not over binary or text data.
    #[error("OpenPGP signature of type {found:?} is not a document signature")]
    WrongSignatureType {
        /// The type found.
        found: Option<SignatureType>,
    },
    /// No key of the keyring made the signature.
    #[error("OpenPGP signature by unknown key {issuer}")]
    UnknownKey {
        /// The issuer fingerprint or key id of the signature, uppercase hex.
        issuer: String,
    },
    /// The signing key is revoked.
    #[error("OpenPGP key {fingerprint} is revoked")]
    KeyRevoked {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// The signing key has expired.
    #[error("OpenPGP key {fingerprint} expired at {expired_at}")]
    KeyExpired {
        /// The key's fingerprint.
        fingerprint: String,
        /// Unix seconds.
        expired_at: u64,
    },
    /// The signing key has no valid self-signature or binding, or may not sign.
    #[error("OpenPGP key {fingerprint} is not a valid signing key: {reason}")]
    KeyInvalid {
        /// The key's fingerprint.
        fingerprint: String,
        /// Why.
        reason: String,
    },
    /// The signature has expired.
    #[error("OpenPGP signature expired at {expired_at}")]
    SignatureExpired {
        /// Unix seconds.
        expired_at: u64,
    },
    /// The cryptographic check failed.
    #[error("OpenPGP signature by {fingerprint} does not verify: {reason}")]
    BadSignature {
        /// The key tried.
        fingerprint: String,
        /// rPGP's message.
        reason: String,
    },
}

/// Why key material cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The data holds no OpenPGP key.
    #[error("no OpenPGP key in the data")]
    NoKey,
    /// The data does not parse as OpenPGP keys.
    #[error("invalid OpenPGP key data: {reason}")]
    Parse {
        /// rPGP's message.
        reason: String,
    },
    /// A secret key was needed, only public keys were found.
    #[error("no OpenPGP secret key in the data")]
    NoSecretKey,
    /// No (sub)key of the secret key may sign.
    #[error("OpenPGP key {fingerprint} has no usable signing key")]
    NoSigningKey {
        /// The primary key's fingerprint.
        fingerprint: String,
    },
    /// Signing failed (usually a wrong passphrase).
    #[error("OpenPGP signing with {fingerprint} failed: {reason}")]
    Sign {
        /// The signing key's fingerprint.
        fingerprint: String,
        /// rPGP's message.
        reason: String,
    },
}

/// Uppercase hex, as gpg and containers/image print fingerprints.
fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// A set of public keys trusted for verification (a keyring file, `gpg --export`, or
/// armored key data).
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads keys from binary or ASCII-armored data holding one or more public (or
    /// secret) keys; secret material is dropped.
    pub fn from_bytes(data: &[u8]) -> Result<Keyring, KeyError> {
        let (iter, _) = PublicOrSecret::from_reader_many(data).map_err(|e| KeyError::Parse {
            reason: e.to_string(),
        })?;
        let mut keys = Vec::new();
        for key in iter {
            let key = key.map_err(|e| KeyError::Parse {
                reason: e.to_string(),
            })?;
            keys.push(match key {
                PublicOrSecret::Public(k) => k,
                PublicOrSecret::Secret(k) => k.to_public_key(),
            });
        }
        if keys.is_empty() {
            return Err(KeyError::NoKey);
        }
        Ok(Keyring { keys })
    }

    /// Adds the keys of another keyring.
    pub fn extend(&mut self, other: Keyring) {
        self.keys.extend(other.keys);
    }

    /// The primary keys' fingerprints, uppercase hex.
    pub fn fingerprints(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| hex_upper(k.primary_key.fingerprint().as_bytes()))
            .collect()
    }
}

/// A message whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMessage {
    /// The primary key's fingerprint, uppercase hex.
    pub fingerprint: String,
    /// The fingerprint of the (sub)key that made the signature, uppercase hex.
    pub signing_key_fingerprint: String,
    /// The signed data (the literal data's contents).
    pub data: Vec<u8>,
    /// The signature's creation time, Unix seconds.
    pub created: Option<u64>,
}

/// One packet: its tag and its body (partial lengths joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawPacket {
    /// The packet tag.
    pub tag: u8,
    /// The body.
    pub body: Vec<u8>,
}

/// Reads the packets of a binary OpenPGP stream, bounded to 16 packets. Old and new
/// packet formats, partial body lengths for data packets, indeterminate length last.
pub fn read_packets(data: &[u8]) -> Result<Vec<RawPacket>, OpenPgpError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        if out.len() == MAX_PACKETS {
            return Err(OpenPgpError::TooLarge {
                reason: "more than 16 packets",
            });
        }
        let start = pos;
        let malformed = |reason| OpenPgpError::Malformed {
            offset: start,
            reason,
        };
        let b = data[pos];
        pos += 1;
        if b & 0x80 == 0 {
            return Err(malformed("not a packet header"));
        }
        let take = |n: usize, pos: &mut usize| -> Result<&[u8], OpenPgpError> {
            let end = pos.checked_add(n).filter(|e| *e <= data.len());
            let end = end.ok_or(malformed("truncated"))?;
            let s = &data[*pos..end];
            *pos = end;
            Ok(s)
        };
        if b & 0x40 == 0 {
            let tag = (b >> 2) & 0x0f;
            let len = match b & 3 {
                0 => usize::from(take(1, &mut pos)?[0]),
                1 => {
                    let l = take(2, &mut pos)?;
                    usize::from(u16::from_be_bytes([l[0], l[1]]))
                }
                2 => {
                    let l = take(4, &mut pos)?;
                    u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize
                }
                _ => data.len() - pos,
            };
            let body = take(len, &mut pos)?.to_vec();
            out.push(RawPacket { tag, body });
            continue;
        }
        let tag = b & 0x3f;
        let mut body = Vec::new();
        loop {
            let l1 = take(1, &mut pos)?[0];
            let (len, partial) = match l1 {
                0..=191 => (usize::from(l1), false),
                192..=223 => {
                    let l2 = take(1, &mut pos)?[0];
                    (
                        ((usize::from(l1) - 192) << 8) + usize::from(l2) + 192,
                        false,
                    )
                }
                255 => {
                    let l = take(4, &mut pos)?;
                    (u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize, false)
                }
                _ => (1usize << (l1 & 0x1f), true),
            };
            if partial && !matches!(tag, 8 | 9 | 11 | 18 | 20) {
                return Err(malformed("partial length on a non-data packet"));
            }
            body.extend_from_slice(take(len, &mut pos)?);
            if !partial {
                break;
            }
        }
        out.push(RawPacket { tag, body });
    }
    Ok(out)
}

fn decompress(body: &[u8]) -> Result<Vec<u8>, OpenPgpError> {
    let Some((&algorithm, rest)) = body.split_first() else {
        return Err(OpenPgpError::Malformed {
            offset: 0,
            reason: "empty compressed data packet",
        });
    };
    let mut out = Vec::new();
    let limit = MAX_MESSAGE_SIZE as u64 + 1;
    let res = match algorithm {
        0 => {
            out.extend_from_slice(rest);
            Ok(out.len())
        }
        1 => flate2::read::DeflateDecoder::new(rest)
            .take(limit)
            .read_to_end(&mut out),
        2 => flate2::read::ZlibDecoder::new(rest)
            .take(limit)
            .read_to_end(&mut out),
        other => return Err(OpenPgpError::UnsupportedCompression { algorithm: other }),
    };
    res.map_err(|_| OpenPgpError::Malformed {
        offset: 0,
        reason: "corrupt compressed data",
    })?;
    if out.len() > MAX_MESSAGE_SIZE {
        return Err(OpenPgpError::TooLarge {
            reason: "decompressed message over 4 MiB",
        });
    }
    Ok(out)
}

/// The three parts of a signed message, checked for structure only.
#[derive(Debug)]
struct SignedMessage {
    ops: OnePassSignature,
    literal: Vec<u8>,
    signature: Signature,
}

fn parse_signed_message(blob: &[u8]) -> Result<SignedMessage, OpenPgpError> {
    if blob.starts_with(b"-----BEGIN PGP SIGNED MESSAGE-----") {
        return Err(OpenPgpError::Cleartext);
    }
    if blob.starts_with(b"-----BEGIN") {
        return Err(OpenPgpError::Armored);
    }
    if blob.len() > MAX_MESSAGE_SIZE {
        return Err(OpenPgpError::TooLarge {
            reason: "message over 4 MiB",
        });
    }
    let mut packets = read_packets(blob)?;
    if let [only] = packets.as_slice()
        && only.tag == 8
    {
        packets = read_packets(&decompress(&only.body)?)?;
    }
    let tags: Vec<u8> = packets.iter().map(|p| p.tag).collect();
    if let Some(&tag) = tags.iter().find(|t| matches!(t, 1 | 3 | 9 | 18 | 20)) {
        return Err(OpenPgpError::Encrypted { tag });
    }
    let signatures = tags.iter().filter(|&&t| t == 2).count();
    let one_pass = tags.iter().filter(|&&t| t == 4).count();
    if signatures > 1 || one_pass > 1 {
        return Err(OpenPgpError::SignatureCount {
            count: signatures.max(one_pass),
        });
    }
    match tags.as_slice() {
        [4, 11, 2] => {}
        [11] => return Err(OpenPgpError::LiteralOnly),
        [2] => return Err(OpenPgpError::Detached),
        _ => return Err(OpenPgpError::UnexpectedPackets { tags }),
    }
    let bad = |packet, e: pgp::errors::Error| OpenPgpError::BadPacket {
        packet,
        reason: e.to_string(),
    };
    let header = |tag, len: usize| {
        PacketHeader::new_fixed(
            tag,
            u32::try_from(len).expect("bounded by MAX_MESSAGE_SIZE"),
        )
    };
    let ops = OnePassSignature::try_from_reader(
        header(Tag::OnePassSignature, packets[0].body.len()),
        packets[0].body.as_slice(),
    )
    .map_err(|e| bad("one-pass signature", e))?;
    let signature = Signature::try_from_reader(
        header(Tag::Signature, packets[2].body.len()),
        packets[2].body.as_slice(),
    )
    .map_err(|e| bad("signature", e))?;
    let literal = literal_contents(&packets[1].body)?;
    Ok(SignedMessage {
        ops,
        literal,
        signature,
    })
}

fn literal_contents(body: &[u8]) -> Result<Vec<u8>, OpenPgpError> {
    let malformed = OpenPgpError::Malformed {
        offset: 0,
        reason: "truncated literal data packet",
    };
    let name_len = usize::from(*body.get(1).ok_or(malformed.clone())?);
    let start = 2 + name_len + 4;
    if body.len() < start {
        return Err(malformed);
    }
    Ok(body[start..].to_vec())
}

/// Seconds since the Unix epoch now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Verifies a binary signed message against `keyring` at time `now` (Unix seconds):
/// exactly one signature, by a key of the keyring (primary or signing subkey) that is
/// validly self-signed, not revoked and not expired, a signature that is not expired and
/// verifies over the literal data. Returns the data; it is not parsed here.
pub fn verify_message(
    blob: &[u8],
    keyring: &Keyring,
    now: u64,
) -> Result<VerifiedMessage, OpenPgpError> {
    let message = parse_signed_message(blob)?;
    let sig = &message.signature;
    if !matches!(sig.typ(), Some(SignatureType::Binary | SignatureType::Text)) {
        return Err(OpenPgpError::WrongSignatureType { found: sig.typ() });
    }
    if !message.ops.matches(sig) {
        return Err(OpenPgpError::Malformed {
            offset: 0,
            reason: "one-pass signature does not match the signature",
        });
    }
    let issuer_fps: Vec<Vec<u8>> = sig
        .issuer_fingerprint()
        .into_iter()
        .map(|f| f.as_bytes().to_vec())
        .collect();
    let issuer_ids: Vec<Vec<u8>> = sig
        .issuer_key_id()
        .into_iter()
        .map(|k| k.as_ref().to_vec())
        .collect();
    let issuer = issuer_fps
        .first()
        .or(issuer_ids.first())
        .map(|b| hex_upper(b))
        .unwrap_or_else(|| "(none)".to_owned());
    let names = |fp: &[u8], id: &[u8]| {
        issuer_fps.iter().any(|f| f == fp) || issuer_ids.iter().any(|i| i == id)
    };
    for key in &keyring.keys {
        let primary = &key.primary_key;
        if names(
            primary.fingerprint().as_bytes(),
            primary.legacy_key_id().as_ref(),
        ) {
            check_primary(key, now)?;
            return finish(sig, primary, key, &message.literal, now);
        }
        for sub in &key.public_subkeys {
            if names(
                sub.key.fingerprint().as_bytes(),
                sub.key.legacy_key_id().as_ref(),
            ) {
                check_primary(key, now)?;
                check_subkey(key, sub, now)?;
                return finish(sig, &sub.key, key, &message.literal, now);
            }
        }
    }
    Err(OpenPgpError::UnknownKey { issuer })
}

fn finish(
    sig: &Signature,
    signer: &impl pgp::types::VerifyingKey,
    key: &SignedPublicKey,
    data: &[u8],
    now: u64,
) -> Result<VerifiedMessage, OpenPgpError> {
    let fingerprint = hex_upper(signer.fingerprint().as_bytes());
    sig.verify(signer, data)
        .map_err(|e| OpenPgpError::BadSignature {
            fingerprint: fingerprint.clone(),
            reason: e.to_string(),
        })?;
    let created = sig.created().map(|t| u64::from(t.as_secs()));
    if let (Some(created), Some(exp)) = (created, sig.signature_expiration_time()) {
        let exp = u64::from(exp.as_secs());
        if exp != 0 && created + exp <= now {
            return Err(OpenPgpError::SignatureExpired {
                expired_at: created + exp,
            });
        }
    }
    Ok(VerifiedMessage {
        fingerprint: hex_upper(key.primary_key.fingerprint().as_bytes()),
        signing_key_fingerprint: fingerprint,
        data: data.to_vec(),
        created,
    })
}

/// The primary key: not revoked, a valid self-signature, not expired.
fn check_primary(key: &SignedPublicKey, now: u64) -> Result<(), OpenPgpError> {
    let primary = &key.primary_key;
    let fingerprint = hex_upper(primary.fingerprint().as_bytes());
    if key
        .details
        .revocation_signatures
        .iter()
        .any(|s| s.verify_key(primary).is_ok())
    {
        return Err(OpenPgpError::KeyRevoked { fingerprint });
    }
    // The newest valid self-signature states the key's expiry.
    let mut newest: Option<&Signature> = None;
    for user in &key.details.users {
        for s in &user.signatures {
            if s.verify_certification(primary, Tag::UserId, &user.id)
                .is_ok()
                && newest.is_none_or(|n| s.created() >= n.created())
            {
                newest = Some(s);
            }
        }
    }
    for s in &key.details.direct_signatures {
        if s.verify_key(primary).is_ok() && newest.is_none_or(|n| s.created() >= n.created()) {
            newest = Some(s);
        }
    }
    let Some(newest) = newest else {
        return Err(OpenPgpError::KeyInvalid {
            fingerprint,
            reason: "no valid self-signature".to_owned(),
        });
    };
    check_expiry(
        &fingerprint,
        u64::from(primary.created_at().as_secs()),
        newest,
        now,
    )
}

fn check_subkey(
    key: &SignedPublicKey,
    sub: &SignedPublicSubKey,
    now: u64,
) -> Result<(), OpenPgpError> {
    let fingerprint = hex_upper(sub.key.fingerprint().as_bytes());
    let primary = &key.primary_key;
    let mut binding: Option<&Signature> = None;
    for s in &sub.signatures {
        if s.verify_subkey_binding(primary, &sub.key).is_err() {
            continue;
        }
        match s.typ() {
            Some(SignatureType::SubkeyRevocation) => {
                return Err(OpenPgpError::KeyRevoked { fingerprint });
            }
            Some(SignatureType::SubkeyBinding)
                if binding.is_none_or(|b| s.created() >= b.created()) =>
            {
                binding = Some(s);
            }
            _ => {}
        }
    }
    let Some(binding) = binding else {
        return Err(OpenPgpError::KeyInvalid {
            fingerprint,
            reason: "no valid subkey binding".to_owned(),
        });
    };
    if !binding.key_flags().sign() {
        return Err(OpenPgpError::KeyInvalid {
            fingerprint,
            reason: "subkey may not sign".to_owned(),
        });
    }
    check_expiry(
        &fingerprint,
        u64::from(sub.key.created_at().as_secs()),
        binding,
        now,
    )
}

fn check_expiry(
    fingerprint: &str,
    created: u64,
    self_sig: &Signature,
    now: u64,
) -> Result<(), OpenPgpError> {
    if let Some(exp) = self_sig.key_expiration_time() {
        let exp = u64::from(exp.as_secs());
        if exp != 0 && created + exp <= now {
            return Err(OpenPgpError::KeyExpired {
                fingerprint: fingerprint.to_owned(),
                expired_at: created + exp,
            });
        }
    }
    Ok(())
}

/// An OpenPGP secret key to sign with, read from an exported key file
/// (`gpg --export-secret-keys`, binary or armored).
#[derive(Debug, Clone)]
pub struct SecretKey {
    key: SignedSecretKey,
}

/// Options for [`SecretKey::sign_message`].
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Signature creation time, Unix seconds (default: now).
    pub created: Option<u32>,
    /// Seconds after creation at which the signature expires (default: never).
    pub expires_in: Option<u32>,
}

impl SecretKey {
    /// Reads the first secret key in the data.
    pub fn from_bytes(data: &[u8]) -> Result<SecretKey, KeyError> {
        let (iter, _) = PublicOrSecret::from_reader_many(data).map_err(|e| KeyError::Parse {
            reason: e.to_string(),
        })?;
        for key in iter {
            let key = key.map_err(|e| KeyError::Parse {
                reason: e.to_string(),
            })?;
            if let PublicOrSecret::Secret(key) = key {
                return Ok(SecretKey { key });
            }
        }
        Err(KeyError::NoSecretKey)
    }

    /// The primary key's fingerprint, uppercase hex.
    pub fn fingerprint(&self) -> String {
        hex_upper(self.key.primary_key.fingerprint().as_bytes())
    }

    /// The public half, as a keyring of one key.
    pub fn public_keyring(&self) -> Keyring {
        Keyring {
            keys: vec![self.key.to_public_key()],
        }
    }

    /// Signs `data` into a binary signed message: one-pass signature, literal data
    /// (binary, no file name), signature (v4, SHA-256), uncompressed, with the issuer's
    /// fingerprint and key id. The primary key signs; if its self-signature forbids
    /// signing, the first signing subkey does.
    pub fn sign_message(
        &self,
        passphrase: &[u8],
        data: &[u8],
        options: &SignOptions,
    ) -> Result<Vec<u8>, KeyError> {
        let primary = &self.key.primary_key;
        let flags: Vec<_> = self
            .key
            .details
            .users
            .iter()
            .flat_map(|u| u.signatures.iter().map(|s| s.key_flags()))
            .collect();
        let no_flags = |f: &pgp::packet::KeyFlags| {
            !(f.sign() || f.certify() || f.encrypt_comms() || f.encrypt_storage())
        };
        let primary_may_sign = flags.iter().any(|f| f.sign()) || flags.iter().all(no_flags);
        if primary_may_sign {
            return sign_with(primary, passphrase, data, options);
        }
        for sub in &self.key.secret_subkeys {
            if sub.signatures.iter().any(|s| s.key_flags().sign()) {
                return sign_with(&sub.key, passphrase, data, options);
            }
        }
        Err(KeyError::NoSigningKey {
            fingerprint: self.fingerprint(),
        })
    }
}

fn sign_with(
    key: &impl pgp::types::SigningKey,
    passphrase: &[u8],
    data: &[u8],
    options: &SignOptions,
) -> Result<Vec<u8>, KeyError> {
    let fingerprint = hex_upper(key.fingerprint().as_bytes());
    let sign_err = |e: pgp::errors::Error| KeyError::Sign {
        fingerprint: fingerprint.clone(),
        reason: e.to_string(),
    };
    let created = options
        .created
        .unwrap_or_else(|| u32::try_from(unix_now()).unwrap_or(u32::MAX));
    let hash = pgp::crypto::hash::HashAlgorithm::Sha256;
    let mut config = SignatureConfig::v4(SignatureType::Binary, key.algorithm(), hash);
    let mut hashed = vec![
        Subpacket::regular(SubpacketData::IssuerFingerprint(key.fingerprint())),
        Subpacket::regular(SubpacketData::SignatureCreationTime(Timestamp::from_secs(
            created,
        ))),
    ];
    if let Some(exp) = options.expires_in {
        hashed.push(Subpacket::regular(SubpacketData::SignatureExpirationTime(
            pgp::types::Duration::from_secs(exp),
        )));
    }
    config.hashed_subpackets = hashed
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(sign_err)?;
    config.unhashed_subpackets = vec![
        Subpacket::regular(SubpacketData::IssuerKeyId(key.legacy_key_id())).map_err(sign_err)?,
    ];
    let password = Password::from(passphrase);
    let signature = config.sign(key, &password, data).map_err(sign_err)?;
    let ops = OnePassSignature::v3(
        SignatureType::Binary,
        hash,
        key.algorithm(),
        key.legacy_key_id(),
    );
    let mut literal = vec![b'b', 0];
    literal.extend_from_slice(&created.to_be_bytes());
    literal.extend_from_slice(data);
    let mut out = Vec::new();
    write_packet(&mut out, 4, &ops.to_bytes().map_err(sign_err)?);
    write_packet(&mut out, 11, &literal);
    write_packet(&mut out, 2, &signature.to_bytes().map_err(sign_err)?);
    Ok(out)
}

/// Writes a new-format packet with a fixed length.
fn write_packet(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(0xc0 | tag);
    let len = body.len();
    if len < 192 {
        out.push(len as u8);
    } else if len < 8384 {
        let l = len - 192;
        out.push((l >> 8) as u8 + 192);
        out.push((l & 0xff) as u8);
    } else {
        out.push(255);
        out.extend_from_slice(&u32::try_from(len).expect("bounded").to_be_bytes());
    }
    out.extend_from_slice(body);
}
