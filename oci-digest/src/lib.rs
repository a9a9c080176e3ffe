#![doc = include_str!("../README.md")]

mod digester;

pub use digester::{Digester, Measured};
