//! The digest grammar of descriptor.md: `algorithm ":" encoded`.
//!
//! ```text
//! digest     ::= algorithm ":" encoded
//! algorithm  ::= component (separator component)*
//! component  ::= [a-z0-9]+
//! separator  ::= [+._-]
//! encoded    ::= [a-zA-Z0-9=_-]+
//! ```
//!
//! Registered algorithms add their own rules on `encoded` (DG6-DG8):
//! sha256 and blake3 are exactly 64 lowercase hex characters, sha512 exactly 128.
//! Unregistered algorithms that fit the grammar are accepted (DG2); whoever has to
//! verify content against them reports them as unverifiable.

use std::fmt;
use std::str::FromStr;

/// An algorithm registered by the image-spec, whose digests can be verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// `sha256`: 64 lowercase hex characters (DG6).
    Sha256,
    /// `sha512`: 128 lowercase hex characters (DG7).
    Sha512,
    /// `blake3` (image-spec main): 256-bit output, 64 lowercase hex characters (DG8).
    Blake3,
}

impl Algorithm {
    /// Every registered algorithm.
    pub const ALL: [Algorithm; 3] = [Algorithm::Sha256, Algorithm::Sha512, Algorithm::Blake3];

    /// The name used in digest strings.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
        }
    }

    /// The registered algorithm with this name, if any.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The exact number of hex characters in an encoded digest of this algorithm.
    pub fn encoded_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Blake3 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// The id of the requirement in REQUIREMENTS.md that states this algorithm's encoding rule.
    pub fn rule(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "DG6",
            Algorithm::Sha512 => "DG7",
            Algorithm::Blake3 => "DG8",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or_else(|| UnknownAlgorithm { name: s.to_owned() })
    }
}

/// A name that is not a registered digest algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown digest algorithm {name:?} (registered: sha256, sha512, blake3)")]
pub struct UnknownAlgorithm {
    /// The name that was given.
    pub name: String,
}

/// Why a string is not a valid digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The string does not fit `algorithm ":" encoded` (DG1).
    #[error("digest {input:?} does not fit the grammar algorithm \":\" encoded: {reason}")]
    Grammar {
        /// The whole input.
        input: String,
        /// What part of the grammar failed.
        reason: &'static str,
    },
    /// The algorithm is registered and the encoded part breaks its rule (DG6-DG8).
    #[error(
        "digest {input:?}: {algorithm} requires exactly {expected_len} lowercase hex characters, found {found}"
    )]
    Encoding {
        /// The whole input.
        input: String,
        /// The registered algorithm.
        algorithm: Algorithm,
        /// The required length of the encoded part.
        expected_len: usize,
        /// A description of what was found instead.
        found: String,
    },
}

impl Error {
    /// The requirement id (REQUIREMENTS.md) that the digest breaks.
    pub fn rule(&self) -> &'static str {
        match self {
            Error::Grammar { .. } => "DG1",
            Error::Encoding { algorithm, .. } => algorithm.rule(),
        }
    }
}

/// A digest string that fits the grammar, and the rules of its algorithm when registered.
///
/// Ordering and equality are those of the string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    value: String,
    /// Byte index of the `:`.
    colon: usize,
}

impl Digest {
    /// Parses and validates a digest: the grammar (DG1) and, for registered algorithms,
    /// the length and case of the encoded part (DG6-DG8).
    pub fn parse(input: &str) -> Result<Digest, Error> {
        let colon = check_grammar(input)?;
        let digest = Digest {
            value: input.to_owned(),
            colon,
        };
        if let Some(algorithm) = digest.algorithm() {
            check_encoding(input, algorithm, digest.encoded())?;
        }
        Ok(digest)
    }

    /// Builds a digest of a registered algorithm from raw hash output.
    ///
    /// # Panics
    /// When `hash` does not have the algorithm's output length; callers pass the output
    /// of the algorithm itself.
    pub fn from_hash(algorithm: Algorithm, hash: &[u8]) -> Digest {
        assert_eq!(
            hash.len() * 2,
            algorithm.encoded_len(),
            "hash output length of {algorithm}"
        );
        let name = algorithm.name();
        let mut value = String::with_capacity(name.len() + 1 + hash.len() * 2);
        value.push_str(name);
        value.push(':');
        for byte in hash {
            value.push(char::from(HEX[usize::from(byte >> 4)]));
            value.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Digest {
            value,
            colon: name.len(),
        }
    }

    /// The whole digest string.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The algorithm part, as written.
    pub fn algorithm_name(&self) -> &str {
        &self.value[..self.colon]
    }

    /// The registered algorithm, or `None` for an unregistered one (which cannot be verified).
    pub fn algorithm(&self) -> Option<Algorithm> {
        Algorithm::from_name(self.algorithm_name())
    }

    /// The encoded part, after the `:`.
    pub fn encoded(&self) -> &str {
        &self.value[self.colon + 1..]
    }

    /// Consumes the digest, returning its string.
    pub fn into_string(self) -> String {
        self.value
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Checks the grammar alone (DG1) and returns the index of the `:`.
fn check_grammar(input: &str) -> Result<usize, Error> {
    let fail = |reason| {
        Err(Error::Grammar {
            input: input.to_owned(),
            reason,
        })
    };
    let Some(colon) = input.find(':') else {
        return fail("missing ':'");
    };
    let (algorithm, encoded) = (&input[..colon], &input[colon + 1..]);
    if algorithm.is_empty() {
        return fail("empty algorithm");
    }
    let mut previous_separator = true;
    for b in algorithm.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => previous_separator = false,
            b'+' | b'.' | b'_' | b'-' => {
                if previous_separator {
                    return fail(
                        "algorithm components must be non-empty [a-z0-9]+ joined by one of +._-",
                    );
                }
                previous_separator = true;
            }
            _ => return fail("algorithm may hold only [a-z0-9] and the separators +._-"),
        }
    }
    if previous_separator {
        return fail("algorithm must not end with a separator");
    }
    if encoded.is_empty() {
        return fail("empty encoded part");
    }
    if !encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
    {
        return fail("encoded part may hold only [a-zA-Z0-9=_-]");
    }
    Ok(colon)
}

fn check_encoding(input: &str, algorithm: Algorithm, encoded: &str) -> Result<(), Error> {
    let expected_len = algorithm.encoded_len();
    let found = if encoded.len() != expected_len {
        format!("{} characters", encoded.len())
    } else if let Some(c) = encoded
        .chars()
        .find(|c| !matches!(c, '0'..='9' | 'a'..='f'))
    {
        format!("{c:?}")
    } else {
        return Ok(());
    };
    Err(Error::Encoding {
        input: input.to_owned(),
        algorithm,
        expected_len,
        found,
    })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({:?})", self.value)
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, rule: Option<&str>) {
        match (Digest::parse(input), rule) {
            (Ok(d), None) => assert_eq!(d.as_str(), input),
            (Err(e), Some(rule)) => assert_eq!(e.rule(), rule, "{input}: {e}"),
            (got, want) => panic!("{input}: got {got:?}, want rule {want:?}"),
        }
    }

    #[test]
    fn grammar_and_encoding() {
        let hex64 = "a".repeat(64);
        check(&format!("sha256:{hex64}"), None);
        check(&format!("blake3:{hex64}"), None);
        check(&format!("sha512:{}", "0".repeat(128)), None);
        check(&format!("sha256:{}", "A".repeat(64)), Some("DG6"));
        check(&format!("sha256:{}", "a".repeat(63)), Some("DG6"));
        check(&format!("sha512:{hex64}"), Some("DG7"));
        check(&format!("blake3:{}", "g".repeat(64)), Some("DG8"));
        check(
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
            None,
        );
        check(
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
            None,
        );
        check("sha256", Some("DG1"));
        check(":abc", Some("DG1"));
        check("sha256:", Some("DG1"));
        check("Sha256:abc", Some("DG1"));
        check("sha256+:abc", Some("DG1"));
        check("sha+-256:abc", Some("DG1"));
        check("sha256:ab/c", Some("DG1"));
        check("sha256:abc:def", Some("DG1"));
    }

    #[test]
    fn from_hash_matches_parse() {
        let d = Digest::from_hash(Algorithm::Sha256, &[0xab; 32]);
        assert_eq!(d, Digest::parse(d.as_str()).unwrap());
        assert_eq!(d.algorithm(), Some(Algorithm::Sha256));
        assert_eq!(d.encoded(), "ab".repeat(32));
    }
}
