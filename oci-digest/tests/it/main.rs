//! Integration tests of oci-digest; modules mirror `src/`.

// Skips are reported on standard error, as the house rules ask.
#![allow(clippy::print_stderr)]

mod atomic;
mod chain;
mod digester;
mod files;
mod props;
mod store;
mod tee;
mod verify;

use std::path::PathBuf;

use oci_digest::Digest;

/// Parses a digest the test itself wrote.
pub fn digest(s: &str) -> Digest {
    Digest::parse(s).expect("test digest")
}

/// A fresh, empty directory under the target directory, for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("oci-digest")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The shared conformance vectors file `name`, when `/work/shared` (`../shared` from the
/// workspace root) is present; otherwise `None` after a visible skip message.
pub fn shared_vectors(name: &str) -> Option<Vec<serde_json::Value>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/vectors")
        .join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI: shared vectors {} are missing: {e}",
                path.display()
            );
            eprintln!(
                "skipped: shared vectors {} not present ({e})",
                path.display()
            );
            return None;
        }
    };
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("vector line is JSON"))
            .collect(),
    )
}
