//! Fuzz target: arbitrary bytes (a tar, or a gzip or zstd compressed one) read by every
//! consumer of `oci_layer::tar::Reader` that needs no root: the layer listing
//! (`ocimg layer ls`) and the archive index behind `oci-archive:` and `docker-archive:`.
//! Besides "never panics": both accept the input or both refuse it with the same reader
//! error, and every file the index can read is one the listing ends with, of the same
//! size (`layer apply` has its own target, `layer_apply`).
#![no_main]

use std::collections::BTreeMap;
use std::fs;

use oci_image::{TarIndex, TarIndexError};
use oci_layer::{EntryKind, Limits};

mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| tar_reader(data));

fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// The target body, over bytes.
pub fn tar_reader(data: &[u8]) {
    let listed = oci_layer::list_with_limits(data, Limits::default());
    let dir = common::arena("tar-reader");
    let file = dir.join("input.tar");
    fs::write(&file, data).expect("write input");
    let indexed = TarIndex::open(&file, dir);
    match (&listed, &indexed) {
        (Err(l), Err(TarIndexError::Tar { error, .. })) => {
            assert_eq!(l.to_string(), error.to_string(), "different refusals");
        }
        (Err(l), Ok(_)) => panic!("listed refused ({l}), the index accepted"),
        (Err(l), Err(other)) => panic!("listed refused ({l}), the index said {other}"),
        (Ok(_), Err(TarIndexError::Tar { error, .. })) => {
            panic!("the index refused ({error}), the listing accepted")
        }
        // The index refuses more (names leaving the archive, too many entries): fine.
        (Ok(_), Err(_)) => {}
        (Ok(entries), Ok(index)) => {
            // Regular files as the listing ends with them (the last entry of a name wins).
            let mut files: BTreeMap<String, u64> = BTreeMap::new();
            let mut others = std::collections::BTreeSet::new();
            for e in entries {
                let path = clean(&e.path);
                if e.kind == EntryKind::File && !e.path.ends_with('/') {
                    others.remove(&path);
                    files.insert(path, e.size);
                } else {
                    files.remove(&path);
                    others.insert(path);
                }
            }
            for (name, size) in &files {
                if index.names().any(|n| n == name) {
                    assert_eq!(index.size(name), Some(*size), "{name}");
                }
            }
        }
    }
    common::only_input_left(dir, &file);
}
