#![doc = include_str!("../README.md")]

pub mod apply;
pub mod create;
pub mod recompress;

pub use apply::decompress::detect as detect_compression;
pub use apply::{
    Applied, ApplyOptions, Error as ApplyError, Expected, IdMap, IdRange, Limits, apply_layer,
    apply_layers,
};

pub use create::{
    Compression, CreateOptions, Created, EntryKind, Error as CreateError, ListEntry, ListError,
    Warning, create, diff, list,
};
