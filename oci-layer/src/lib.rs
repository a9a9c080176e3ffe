#![doc = include_str!("../README.md")]

pub mod apply;
pub mod create;
