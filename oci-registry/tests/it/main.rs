//! oci-registry's integration tests, one module per source module.

mod credentials;
mod proxy;
mod tls;
