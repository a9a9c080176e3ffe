#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod credentials;
pub mod discovery;
pub mod http;
pub mod proxy;
pub mod tls;
