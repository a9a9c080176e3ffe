//! One module per command; each has `Args` (clap) and `run(Args) -> anyhow::Result<Outcome>`.

pub mod build;
pub mod bundle;
pub mod config;
pub mod copy;
pub mod digest;
pub mod fsck;
pub mod gc;
pub mod index;
pub mod init;
pub mod inspect;
pub mod key;
pub mod layer;
pub mod layer_apply;
pub mod layer_create;
pub mod layer_ls;
pub mod login;
pub mod ls;
pub mod name;
pub mod referrers;
pub mod registry;
pub mod tag;
pub mod tags;
pub mod unpack;
pub mod validate;
