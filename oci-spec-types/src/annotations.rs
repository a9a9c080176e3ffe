//! Annotations (annotations.md): a map from string keys to string values.
//!
//! Keys are an open vocabulary (A8): any string parses and survives a round trip. The
//! constants below are the keys the image-spec pre-defines; [`is_reserved`] tells whether
//! a key falls under a prefix reserved for OCI specifications (A5, A6).

use std::collections::BTreeMap;

/// An annotation map. A `BTreeMap`, so that serialization is deterministic.
///
/// Where a document may carry annotations, the field is an `Option<Annotations>`:
/// `None` (the property is absent) and `Some` of an empty map stay distinguishable (A7).
pub type Annotations = BTreeMap<String, String>;

/// `org.opencontainers`: reserved for OCI specifications (A5).
pub const OCI_PREFIX: &str = "org.opencontainers";
/// `org.opencontainers.image`: reserved for the image-spec (A6).
pub const IMAGE_PREFIX: &str = "org.opencontainers.image";

/// `org.opencontainers.image.created`: RFC 3339 date and time the image was built (A9).
pub const CREATED: &str = "org.opencontainers.image.created";
/// `org.opencontainers.image.authors`: contact details of the people or organization.
pub const AUTHORS: &str = "org.opencontainers.image.authors";
/// `org.opencontainers.image.url`: where to find more information on the image.
pub const URL: &str = "org.opencontainers.image.url";
/// `org.opencontainers.image.documentation`: where to find the image's documentation.
pub const DOCUMENTATION: &str = "org.opencontainers.image.documentation";
/// `org.opencontainers.image.source`: where to find the source code the image was built from.
pub const SOURCE: &str = "org.opencontainers.image.source";
/// `org.opencontainers.image.version`: version of the packaged software.
pub const VERSION: &str = "org.opencontainers.image.version";
/// `org.opencontainers.image.revision`: source control revision.
pub const REVISION: &str = "org.opencontainers.image.revision";
/// `org.opencontainers.image.vendor`: name of the distributing entity.
pub const VENDOR: &str = "org.opencontainers.image.vendor";
/// `org.opencontainers.image.licenses`: SPDX license expression (A9).
pub const LICENSES: &str = "org.opencontainers.image.licenses";
/// `org.opencontainers.image.ref.name`: the name of a reference; counts only on
/// `index.json` descriptors of an image layout (L9, A10).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// `org.opencontainers.image.title`: human-readable title.
pub const TITLE: &str = "org.opencontainers.image.title";
/// `org.opencontainers.image.description`: human-readable description.
pub const DESCRIPTION: &str = "org.opencontainers.image.description";
/// `org.opencontainers.image.base.digest`: digest of the immediate base image manifest (A11).
pub const BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// `org.opencontainers.image.base.name`: fully qualified reference of the base image (A11).
pub const BASE_NAME: &str = "org.opencontainers.image.base.name";

/// Every key pre-defined by annotations.md, in the order the spec lists them.
pub const PREDEFINED: [&str; 14] = [
    CREATED,
    AUTHORS,
    URL,
    DOCUMENTATION,
    SOURCE,
    VERSION,
    REVISION,
    VENDOR,
    LICENSES,
    REF_NAME,
    TITLE,
    DESCRIPTION,
    BASE_DIGEST,
    BASE_NAME,
];

/// Implicit annotations of conversion.md (V6, V16): the keys a converter to a runtime
/// `config.json` derives from the image config.
pub mod implicit {
    /// From the config's `os`.
    pub const OS: &str = "org.opencontainers.image.os";
    /// From the config's `architecture`.
    pub const ARCHITECTURE: &str = "org.opencontainers.image.architecture";
    /// From the config's `variant`.
    pub const VARIANT: &str = "org.opencontainers.image.variant";
    /// From the config's `os.version`.
    pub const OS_VERSION: &str = "org.opencontainers.image.os.version";
    /// From the config's `os.features`, joined by commas.
    pub const OS_FEATURES: &str = "org.opencontainers.image.os.features";
    /// From the config's `author`.
    pub const AUTHOR: &str = "org.opencontainers.image.author";
    /// From the config's `created`.
    pub const CREATED: &str = "org.opencontainers.image.created";
    /// From `config.StopSignal`.
    pub const STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";
    /// From the keys of `config.ExposedPorts`, joined by commas (V16).
    pub const EXPOSED_PORTS: &str = "org.opencontainers.image.exposedPorts";
}

/// Whether `key` is `org.opencontainers` or lies under `org.opencontainers.` (A5).
///
/// Pre-defined keys are reserved keys too: this says who may define a key, not whether
/// a document may use it.
pub fn is_reserved(key: &str) -> bool {
    key.strip_prefix(OCI_PREFIX)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Whether `key` is one of the [`PREDEFINED`] keys.
pub fn is_predefined(key: &str) -> bool {
    PREDEFINED.contains(&key)
}

/// Whether `s` follows the `org.opencontainers.image.ref.name` grammar of annotations.md (A10):
/// `component ("/" component)*`, component = `alphanum (separator alphanum)*`,
/// separator = `[-._:@+]` or `--`.
pub fn is_valid_ref_name(s: &str) -> bool {
    !s.is_empty() && s.split('/').all(component)
}

fn component(c: &str) -> bool {
    let b = c.as_bytes();
    let mut i = 0;
    let alnum_run = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_alphanumeric) {
            *i += 1;
        }
        *i > start
    };
    if !alnum_run(&mut i) {
        return false;
    }
    while i < b.len() {
        if b[i..].starts_with(b"--") {
            i += 2;
        } else if b"-._:@+".contains(&b[i]) {
            i += 1;
        } else {
            return false;
        }
        if !alnum_run(&mut i) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefixes() {
        assert!(is_reserved(OCI_PREFIX));
        assert!(is_reserved(REF_NAME));
        assert!(is_reserved("org.opencontainers.runtime.x"));
        assert!(!is_reserved("org.opencontainersx.y"));
        assert!(!is_reserved("com.example.key"));
        assert!(is_predefined(BASE_NAME));
        assert!(!is_predefined("org.opencontainers.image.unknown"));
    }
}
