//! Runtime work over any [`Source`](crate::Source): unpacking an image into a root
//! filesystem (`unpack`), and a runtime bundle of it (`bundle`: the rootfs, `config.json`
//! from the image config, the volumes).

pub(crate) mod bundle;
pub(crate) mod unpack;
