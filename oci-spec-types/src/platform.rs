//! Platforms (image-index.md, config.md) and the matcher that picks an entry of an index
//! by platform, the first match winning (I18).
//!
//! Values are an open vocabulary: `architecture`, `os` and `variant` are plain strings and
//! any value parses and survives a round trip (I14, I16). Comparison goes through
//! [`Platform::normalized`], which follows containerd's normalisation of architecture
//! aliases and default variants.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::descriptor::Descriptor;

/// The `platform` object of an index entry, also the platform fields of an image config.
///
/// Field order is that of the image-spec Go structs, and the serialization order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, a GOARCH value such as `amd64` or `arm64` (I13, I14).
    pub architecture: String,
    /// Operating system, a GOOS value such as `linux` or `windows` (I13, I14).
    pub os: String,
    /// `os.version`: operating-system version, such as `10.0.14393.1066` on Windows.
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// `os.features`: required operating-system features, such as `win32k` (I15).
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    /// CPU variant, such as `v7` for `arm` or `v8` for `arm64` (I16, I21).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Reserved by the image-spec (I17).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub features: Option<Vec<String>>,
    /// Members this crate does not know, kept for the round trip (never a known member name).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why a `OS/ARCH[/VARIANT]` string is not a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer than two or more than three `/`-separated parts.
    #[error("platform {input:?} must be OS/ARCH[/VARIANT], found {parts} part(s)")]
    Parts {
        /// The whole input.
        input: String,
        /// How many `/`-separated parts it has.
        parts: usize,
    },
    /// A part is empty, such as in `linux//v7`.
    #[error("platform {input:?}: empty {part}")]
    EmptyPart {
        /// The whole input.
        input: String,
        /// Which part: `os`, `architecture` or `variant`.
        part: &'static str,
    },
    /// A part holds a character outside `[A-Za-z0-9_.-]`.
    #[error("platform {input:?}: {part} holds {character:?}, allowed are A-Za-z0-9 and _.-")]
    Character {
        /// The whole input.
        input: String,
        /// Which part: `os`, `architecture` or `variant`.
        part: &'static str,
        /// The first character that is not allowed.
        character: char,
    },
}

impl Platform {
    /// A platform with the given OS and architecture and nothing else.
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Platform {
        Platform {
            architecture: architecture.into(),
            os: os.into(),
            os_version: None,
            os_features: None,
            variant: None,
            features: None,
            extra: BTreeMap::new(),
        }
    }

    /// This platform with the given variant.
    pub fn with_variant(mut self, variant: impl Into<String>) -> Platform {
        self.variant = Some(variant.into());
        self
    }

    /// Parses `OS/ARCH[/VARIANT]`, such as `linux/arm64/v8`, as the `--platform` option.
    ///
    /// The values are kept as written; matching normalises them.
    pub fn parse(input: &str) -> Result<Platform, ParseError> {
        let parts: Vec<&str> = input.split('/').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(ParseError::Parts {
                input: input.to_owned(),
                parts: if input.is_empty() { 0 } else { parts.len() },
            });
        }
        let names = ["os", "architecture", "variant"];
        for (part, name) in parts.iter().zip(names) {
            if part.is_empty() {
                return Err(ParseError::EmptyPart {
                    input: input.to_owned(),
                    part: name,
                });
            }
            if let Some(character) = part
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
            {
                return Err(ParseError::Character {
                    input: input.to_owned(),
                    part: name,
                    character,
                });
            }
        }
        let mut platform = Platform::new(parts[0], parts[1]);
        platform.variant = parts.get(2).map(|v| (*v).to_owned());
        Ok(platform)
    }

    /// The platform this program was compiled for, in Go's GOOS/GOARCH vocabulary.
    ///
    /// Known architectures are mapped to their GOARCH names (`x86_64` to `amd64`,
    /// `aarch64` to `arm64`, `x86` to `386`, ...); others are passed through as Rust
    /// names them. The variant is the architecture's default (see [`Platform::normalized`]).
    pub fn host() -> Platform {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            "mips64" if cfg!(target_endian = "little") => "mips64le",
            "mips" if cfg!(target_endian = "little") => "mipsle",
            other => other,
        };
        Platform::new(os, arch).normalized()
    }

    /// The platform with containerd's normalisation applied, used for comparison:
    ///
    /// - `os`, `architecture` and `variant` are lowercased; `macos` becomes `darwin`;
    /// - `x86_64` and `x86-64` become `amd64`, whose variant `v1` is the default and is dropped;
    /// - `aarch64` becomes `arm64`; a missing variant or `8`, `v8.0` become `v8`;
    /// - `armhf` becomes `arm/v7`, `armel` becomes `arm/v6`; for `arm`, a missing variant
    ///   becomes `v7` and a bare number `N` becomes `vN`;
    /// - `i386` becomes `386`, without variant.
    ///
    /// The other fields are kept.
    pub fn normalized(&self) -> Platform {
        let mut os = self.os.to_ascii_lowercase();
        if os == "macos" {
            os = "darwin".to_owned();
        }
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.as_deref().map(str::to_ascii_lowercase);
        let (arch, variant) = normalize_arch(&arch, variant.as_deref());
        Platform {
            architecture: arch,
            os,
            variant,
            ..self.clone()
        }
    }
}

fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let owned = |v: &str| Some(v.to_owned());
    match arch {
        "i386" | "386" => ("386".to_owned(), None),
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".to_owned(),
            match variant {
                None | Some("v1") => None,
                Some(v) => owned(v),
            },
        ),
        "aarch64" | "arm64" => (
            "arm64".to_owned(),
            match variant {
                None | Some("8" | "v8" | "v8.0") => owned("v8"),
                Some("9" | "9.0" | "v9.0") => owned("v9"),
                Some(v) => owned(v),
            },
        ),
        "armhf" => ("arm".to_owned(), owned("v7")),
        "armel" => ("arm".to_owned(), owned("v6")),
        "arm" => (
            "arm".to_owned(),
            match variant {
                None | Some("7") => owned("v7"),
                Some(v @ ("5" | "6" | "8")) => Some(format!("v{v}")),
                Some(v) => owned(v),
            },
        ),
        other => (other.to_owned(), variant.map(str::to_owned)),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::parse(s)
    }
}

/// Picks platforms equal to a wanted one after normalisation.
///
/// A candidate matches when, after [`Platform::normalized`] on both sides, `os`,
/// `architecture` and `variant` are equal; when the wanted platform sets `os.version`,
/// the candidate's must be equal; when it sets `os.features`, each must be among the
/// candidate's. There is no fallback to older variants: `linux/arm64` does not pick
/// `linux/arm/v7`, and `linux/amd64` does not pick `linux/amd64/v3`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformMatcher {
    wanted: Platform,
}

impl PlatformMatcher {
    /// A matcher for the wanted platform.
    pub fn new(wanted: &Platform) -> PlatformMatcher {
        PlatformMatcher {
            wanted: wanted.normalized(),
        }
    }

    /// The wanted platform, normalised.
    pub fn wanted(&self) -> &Platform {
        &self.wanted
    }

    /// Whether `candidate` matches the wanted platform.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let c = candidate.normalized();
        let w = &self.wanted;
        if c.os != w.os || c.architecture != w.architecture || c.variant != w.variant {
            return false;
        }
        if w.os_version.is_some() && c.os_version != w.os_version {
            return false;
        }
        if let Some(features) = &w.os_features {
            let have = c.os_features.as_deref().unwrap_or_default();
            if !features.iter().all(|f| have.contains(f)) {
                return false;
            }
        }
        true
    }

    /// The position of the first descriptor whose `platform` matches (I18).
    /// Descriptors without `platform` never match.
    pub fn position(&self, descriptors: &[Descriptor]) -> Option<usize> {
        descriptors
            .iter()
            .position(|d| d.platform.as_ref().is_some_and(|p| self.matches(p)))
    }

    /// The first descriptor whose `platform` matches (I18).
    pub fn select<'a>(&self, descriptors: &'a [Descriptor]) -> Option<&'a Descriptor> {
        self.position(descriptors).map(|i| &descriptors[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Platform::parse(s).unwrap().normalized().to_string()
    }

    #[test]
    fn normalisation() {
        assert_eq!(norm("linux/arm64"), "linux/arm64/v8");
        assert_eq!(norm("linux/aarch64/8"), "linux/arm64/v8");
        assert_eq!(norm("linux/arm"), "linux/arm/v7");
        assert_eq!(norm("linux/arm/6"), "linux/arm/v6");
        assert_eq!(norm("linux/armhf"), "linux/arm/v7");
        assert_eq!(norm("linux/amd64/v1"), "linux/amd64");
        assert_eq!(norm("Linux/X86_64"), "linux/amd64");
        assert_eq!(norm("linux/amd64/v3"), "linux/amd64/v3");
        assert_eq!(norm("linux/i386"), "linux/386");
        assert_eq!(norm("linux/riscv64/rva22u64"), "linux/riscv64/rva22u64");
    }

    #[test]
    fn parse_errors() {
        for (input, parts) in [("", 0), ("linux", 1), ("a/b/c/d", 4)] {
            assert_eq!(
                Platform::parse(input),
                Err(ParseError::Parts {
                    input: input.to_owned(),
                    parts
                })
            );
        }
        assert!(matches!(
            Platform::parse("linux//v7"),
            Err(ParseError::EmptyPart {
                part: "architecture",
                ..
            })
        ));
        assert!(matches!(
            Platform::parse("linux/arm/v 7"),
            Err(ParseError::Character {
                part: "variant",
                character: ' ',
                ..
            })
        ));
    }

    #[test]
    fn host_is_normalised() {
        let host = Platform::host();
        assert_eq!(host, host.normalized());
        assert!(PlatformMatcher::new(&host).matches(&host));
    }
}
