#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod discovery;
mod glob;
pub mod grammar;
mod http;
mod reference;
mod registries;

pub use discovery::{
    Attempt, CAS_TEMPLATE_PROTOCOL, ConfigError, DiscoverError, Discoverer, Discovery, Engine,
    Entry, HostBasedName, INDEX_MEDIA_TYPE, INDEX_TEMPLATE_PROTOCOL, IndexError, Limits,
    LocalConfig, NameError, REF_ENGINES_MEDIA_TYPE, REF_NAME_ANNOTATION, TemplateError,
    WELL_KNOWN_PATH, Warning, error_chain, expand_template,
};
pub use http::{Client, ClientOptions, FetchError, Fetched};
pub use reference::{
    AnyReference, BadPattern, DEFAULT_DOMAIN, DEFAULT_TAG, Dialect, Error, LEGACY_DEFAULT_DOMAIN,
    NAME_TOTAL_LENGTH_MAX, OFFICIAL_REPO_PREFIX, Reference, familiar_match, parse_digest,
};
pub use registries::{
    ConfError, ConfigLocations, Mirror, PullFromMirror, PullSource, Rationale, RegistriesConf,
    Registry, Resolution, ResolveError, ShortNameMode, ref_matching_prefix,
};
