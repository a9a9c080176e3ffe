//! Integration tests of oci-registry: the HTTP client, discovery's network walk and the
//! distribution protocol, against the scripted server of test-support and real peers;
//! credentials, TLS and proxies.

// Skipped peers are reported on standard error, as the project's test rules ask.
#![allow(clippy::print_stderr)]

mod credentials;
mod discovery;
mod fake;
mod peer;
mod protocol;
mod proxy;
mod referrers;
mod stream;
mod tls;
