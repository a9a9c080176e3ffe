//! A validator for OCI documents that reports every violation, not the first.
//!
//! It reads the raw bytes into a JSON tree of its own (so duplicate member names, non-UTF-8
//! input and out-of-range numbers are visible) and checks the prose of the image-spec, not
//! only its JSON schema: per-algorithm digest rules (DG6-DG8), negative sizes (D9), strict
//! base64 and the data/digest/size agreement of `data` (D13, D14), `artifactType` on
//! manifests with the empty config (M5), the top-level `mediaType` (M3, I4), RFC 6838
//! media types, RFC 3986 urls, RFC 3339 timestamps and reserved annotation prefixes.
//! It accepts what the prose allows and the schema refuses: `null` optional config fields
//! (C4), an empty `layers` list (M14, a warning), unknown fields, media types and digest
//! algorithms.
//!
//! Each [`Violation`] carries an RFC 6901 JSON pointer, the rule id of
//! `REQUIREMENTS.md` (D3, M5, C14, J2, ...), a message naming the value at fault and a
//! [`Level`]: MUST rules give errors, SHOULD rules warnings. Only errors make a document
//! invalid.
//!
//! ```
//! use oci_spec_types::validate::{validate, Kind, Level};
//!
//! let report = validate(Kind::Descriptor, br#"{"mediaType":"text/plain","size":-1,
//!     "digest":"sha256:ABC"}"#);
//! assert!(!report.is_valid());
//! let found: Vec<(&str, &str)> =
//!     report.violations.iter().map(|v| (v.pointer.as_str(), v.rule)).collect();
//! assert_eq!(found, [("/digest", "DG6"), ("/size", "D9")]);
//! assert_eq!(report.violations[0].level, Level::Error);
//! ```

mod check;
mod documents;
mod formats;

use std::fmt;

use serde::Serialize;

use crate::json;

/// The kind of document to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A standalone content descriptor (`application/vnd.oci.descriptor.v1+json`).
    Descriptor,
    /// An image manifest.
    Manifest,
    /// An image index (also `index.json` of a layout).
    Index,
    /// An image configuration.
    Config,
    /// The `oci-layout` file of an image layout.
    OciLayout,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Kind::Descriptor,
        Kind::Manifest,
        Kind::Index,
        Kind::Config,
        Kind::OciLayout,
    ];

    /// The name used on the command line: descriptor, manifest, index, config, oci-layout.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Descriptor => "descriptor",
            Kind::Manifest => "manifest",
            Kind::Index => "index",
            Kind::Config => "config",
            Kind::OciLayout => "oci-layout",
        }
    }

    /// The kind of a command-line name (`layout` is accepted for `oci-layout`).
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "layout" => Some(Kind::OciLayout),
            _ => Kind::ALL.into_iter().find(|k| k.name() == name),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How serious a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A MUST (or MUST NOT) is broken, or a field has the wrong type: the document is invalid.
    Error,
    /// A SHOULD is not followed: the document stays valid.
    Warning,
}

impl Level {
    /// `error` or `warning`.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One broken rule at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// RFC 6901 JSON pointer to the value at fault (`""` is the whole document; for a
    /// missing member, the pointer of where it should be).
    pub pointer: String,
    /// The rule id from `REQUIREMENTS.md`.
    pub rule: &'static str,
    /// Error or warning.
    pub level: Level,
    /// What is wrong, naming the value at fault.
    pub message: String,
}

/// `POINTER RULE LEVEL MESSAGE`; the whole document's pointer (the empty string) is
/// written `""` so that the line keeps four fields.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "\"\""
        } else {
            &self.pointer
        };
        write!(f, "{pointer} {} {} {}", self.rule, self.level, self.message)
    }
}

/// Every violation found in one document, sorted by pointer, then rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The violations, errors and warnings together.
    pub violations: Vec<Violation>,
}

impl Report {
    /// Whether the document is valid: no error-level violation (warnings are allowed).
    pub fn is_valid(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The error-level violations.
    pub fn errors(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.level == Level::Error)
    }

    /// The warning-level violations.
    pub fn warnings(&self) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(|v| v.level == Level::Warning)
    }

    /// The rule ids found, sorted and without repeats.
    pub fn rules(&self) -> Vec<&'static str> {
        let mut rules: Vec<&'static str> = self.violations.iter().map(|v| v.rule).collect();
        rules.sort_unstable();
        rules.dedup();
        rules
    }
}

/// Validates the bytes of one document of `kind`, reporting every violation.
///
/// Never panics; input that is not UTF-8 or not JSON gives one J1 error at pointer `""`.
pub fn validate(kind: Kind, bytes: &[u8]) -> Report {
    let mut cx = check::Cx::default();
    match json::parse(bytes) {
        Ok(root) => {
            check::json_wide(&mut cx, &root);
            match kind {
                Kind::Descriptor => documents::descriptor(&mut cx, &root),
                Kind::Manifest => documents::manifest(&mut cx, &root),
                Kind::Index => documents::index(&mut cx, &root),
                Kind::Config => documents::config(&mut cx, &root),
                Kind::OciLayout => documents::oci_layout(&mut cx, &root),
            }
        }
        Err(e) => cx.error("", "J1", e.to_string()),
    }
    let mut violations = cx.into_violations();
    violations.sort_by(|a, b| {
        (a.pointer.as_str(), a.rule, a.level, a.message.as_str()).cmp(&(
            b.pointer.as_str(),
            b.rule,
            b.level,
            b.message.as_str(),
        ))
    });
    Report { violations }
}
