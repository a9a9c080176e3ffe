//! ChainIDs (config.md "Layer ChainID"): one identifier for a stack of layers.
//!
//! ```text
//! ChainID(L0)      = DiffID(L0)
//! ChainID(L0..Ln)  = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))
//! ```
//!
//! The rule hashes the digest strings as given; they are not parsed, so the image-spec's
//! own test vectors (`sha256:a`, `sha256:b`) work too.

use oci_spec_types::digest::Algorithm;

use crate::digester::Digester;

/// The ChainID of every prefix of `diff_ids`: entry `i` is `ChainID(L0..Li)`.
///
/// An empty list gives an empty list.
pub fn chain_ids(diff_ids: &[impl AsRef<str>]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.as_ref().to_owned(),
            Some(previous) => next_chain_id(previous, diff_id.as_ref()),
        };
        out.push(next);
    }
    out
}

/// The ChainID of the whole stack `diff_ids`, or `None` for an empty list (where the
/// image-spec's Go code returns the empty string).
pub fn chain_id(diff_ids: &[impl AsRef<str>]) -> Option<String> {
    let mut iter = diff_ids.iter();
    let first = iter.next()?.as_ref().to_owned();
    Some(iter.fold(first, |chain, diff_id| {
        next_chain_id(&chain, diff_id.as_ref())
    }))
}

fn next_chain_id(previous: &str, diff_id: &str) -> String {
    let mut d = Digester::new(Algorithm::Sha256);
    d.update(previous.as_bytes());
    d.update(b" ");
    d.update(diff_id.as_bytes());
    d.finish().digest.into_string()
}
