#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod cli;
pub mod fixture;
pub mod http;
pub mod registry;
