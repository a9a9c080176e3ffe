#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod apply;
pub mod create;
mod list;
pub mod recompress;
pub mod tar;

pub use apply::{
    Applied, ApplyOptions, Error as ApplyError, Expected, IdMap, IdRange, apply_layer, apply_layers,
};
pub use tar::Limits;
pub use tar::detect as detect_compression;

pub use create::{
    Compression, CreateOptions, CreateProgress, CreateProgressFn, Created, Error as CreateError,
    Warning, create, diff,
};
pub use list::{EntryKind, ListEntry, list, list_with_limits};
