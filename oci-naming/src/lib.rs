#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod discovery;
mod glob;
pub mod grammar;
mod reference;
mod registries;

pub use discovery::{
    CAS_TEMPLATE_PROTOCOL, ConfigError, Engine, Entry, HostBasedName, INDEX_MEDIA_TYPE,
    INDEX_TEMPLATE_PROTOCOL, IndexError, LocalConfig, LocalConfigError, NameError,
    REF_ENGINES_MEDIA_TYPE, REF_NAME_ANNOTATION, TemplateError, WELL_KNOWN_PATH, engines,
    error_chain, expand_template, select_entries,
};
pub use reference::{
    AnyReference, BadPattern, DEFAULT_DOMAIN, DEFAULT_TAG, Dialect, Error, LEGACY_DEFAULT_DOMAIN,
    NAME_TOTAL_LENGTH_MAX, OFFICIAL_REPO_PREFIX, Reference, familiar_match, parse_digest,
};
pub use registries::{
    ConfError, ConfigLocations, Mirror, PullFromMirror, PullSource, Rationale, RegistriesConf,
    Registry, Resolution, ResolveError, ShortNameMode, ref_matching_prefix,
};
