//! `AtomicFile`: the target is the old file until the commit and the new one after it;
//! nothing is left behind by a drop or a failed commit.

use std::io::Write as _;
use std::path::Path;

use oci_digest::AtomicFile;

use crate::scratch;

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_target_changes_only_at_the_commit() {
    let dir = scratch("atomic-commit");
    let target = dir.join("out.tar");
    std::fs::write(&target, b"old").expect("write");
    let mut file = AtomicFile::create(&target).expect("create");
    file.write_all(&vec![7u8; 1 << 20]).expect("write");
    file.flush().expect("flush");
    // The temporary file is beside the target, hidden, and the target is still old.
    let temp = file.temp_path().to_path_buf();
    assert_eq!(temp.parent(), Some(dir.as_path()));
    assert!(
        temp.file_name()
            .expect("name")
            .to_string_lossy()
            .starts_with(".out.tar."),
        "{}",
        temp.display()
    );
    assert_eq!(std::fs::read(&target).expect("read"), b"old");
    assert_eq!(file.target(), target);
    file.commit().expect("commit");
    assert_eq!(std::fs::read(&target).expect("read"), vec![7u8; 1 << 20]);
    assert_eq!(names(&dir), ["out.tar"]);
}

#[test]
fn a_dropped_file_leaves_nothing_and_the_target_untouched() {
    let dir = scratch("atomic-drop");
    let target = dir.join("out");
    std::fs::write(&target, b"old").expect("write");
    let mut file = AtomicFile::create(&target).expect("create");
    file.write_all(b"new").expect("write");
    drop(file);
    assert_eq!(names(&dir), ["out"]);
    assert_eq!(std::fs::read(&target).expect("read"), b"old");
}

#[test]
fn a_failed_commit_names_the_target_and_leaves_nothing() {
    let dir = scratch("atomic-fail");
    // A non-empty directory cannot be renamed over.
    let target = dir.join("busy");
    std::fs::create_dir_all(target.join("inside")).expect("mkdir");
    let mut file = AtomicFile::create(&target).expect("create");
    file.write_all(b"new").expect("write");
    let err = file.commit().expect_err("rename over a directory");
    assert_eq!(err.action, "rename into place");
    assert_eq!(err.path, target);
    // The message names the path; the cause is the source, not repeated.
    let cause = std::error::Error::source(&err).expect("source").to_string();
    assert!(err.to_string().contains("busy"), "{err}");
    assert!(!err.to_string().contains(&cause), "{err}");
    assert_eq!(names(&dir), ["busy"]);
}

#[test]
fn a_missing_directory_fails_at_creation() {
    let dir = scratch("atomic-missing");
    let err = AtomicFile::create(dir.join("no/such/out")).expect_err("no directory");
    assert_eq!(err.action, "create a temporary file in");
    assert_eq!(err.path, dir.join("no/such"));
}
