use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_digest::{
    Algorithm, BlobStore, Digester, InvalidReason, OpenError, PutError, TEMP_PREFIX, VerifyError,
};

/// Deterministic content of `len` bytes.
fn content(len: usize, seed: u8) -> Vec<u8> {
    let mut x = u32::from(seed) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn read_blob(store: &BlobStore, m: &oci_digest::Measured) -> Vec<u8> {
    let mut r = store
        .open_sized(&m.digest, m.size)
        .expect("open")
        .expect("present");
    let mut out = Vec::new();
    r.read_to_end(&mut out).expect("verified read");
    out
}

/// Every file name under `blobs/<alg>/` starting with the temporary prefix.
fn temp_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for alg in std::fs::read_dir(root.join("blobs"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for f in std::fs::read_dir(alg.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                found.push(f.path());
            }
        }
    }
    found
}

#[test]
fn store_put_open_stat_list_delete() {
    let root = crate::scratch("store-roundtrip");
    let store = BlobStore::new(&root);
    assert_eq!(store.list().expect("list empty").blobs, vec![]);
    let mut expected = Vec::new();
    for algorithm in Algorithm::ALL {
        let m = store.put_bytes(b"hello", algorithm).expect("put");
        assert_eq!(m, Digester::digest_bytes(algorithm, b"hello"));
        let path = root
            .join("blobs")
            .join(algorithm.name())
            .join(m.digest.encoded());
        assert_eq!(store.blob_path(&m.digest), path);
        assert_eq!(std::fs::read(&path).expect("blob file"), b"hello");
        assert_eq!(store.stat(&m.digest).expect("stat"), Some(5));
        assert_eq!(read_blob(&store, &m), b"hello");
        assert_eq!(
            store.read_verified(&m.digest, Some(5)).expect("read"),
            Some(b"hello".to_vec())
        );
        expected.push(m.digest);
    }
    expected.sort();
    let listing = store.list().expect("list");
    assert_eq!(listing.blobs, expected);
    assert!(listing.invalid.is_empty(), "{:?}", listing.invalid);
    assert!(temp_files(&root).is_empty());

    let gone = &expected[0];
    assert!(store.delete(gone).expect("delete"));
    assert!(!store.delete(gone).expect("delete is idempotent"));
    assert_eq!(store.stat(gone).expect("stat"), None);
    assert!(store.open(gone).expect("open").is_none());
    assert_eq!(store.read_verified(gone, None).expect("read"), None);
    assert_eq!(store.list().expect("list").blobs.len(), expected.len() - 1);
}

#[test]
fn store_put_is_idempotent() {
    let store = BlobStore::new(crate::scratch("store-idempotent"));
    let a = store
        .put_bytes(b"same", Algorithm::Sha256)
        .expect("first put");
    let b = store
        .put_bytes(b"same", Algorithm::Sha256)
        .expect("second put");
    let c = store
        .put_verified(&b"same"[..], &a.digest, Some(4))
        .expect("verified put of a present blob");
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(store.list().expect("list").blobs, vec![a.digest]);
}

#[test]
fn store_put_verified_publishes_on_match() {
    let store = BlobStore::new(crate::scratch("store-verified-ok"));
    let data = content(300_000, 1);
    let m = Digester::digest_bytes(Algorithm::Sha256, &data);
    assert_eq!(
        store
            .put_verified(&data[..], &m.digest, Some(m.size))
            .expect("put"),
        m
    );
    assert_eq!(
        store.put_verified(&data[..], &m.digest, None).expect("put"),
        m
    );
    assert_eq!(read_blob(&store, &m), data);
}

#[test]
fn store_put_digest_mismatch_publishes_nothing() {
    let root = crate::scratch("store-mismatch");
    let store = BlobStore::new(&root);
    let m = Digester::digest_bytes(Algorithm::Sha256, b"expected");
    let e = store
        .put_verified(&b"imposter"[..], &m.digest, Some(8))
        .expect_err("mismatch");
    assert!(
        matches!(e, PutError::Mismatch(VerifyError::DigestMismatch { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains(m.digest.as_str()), "{e}");
    assert_eq!(store.stat(&m.digest).expect("stat"), None);
    assert!(!store.blob_path(&m.digest).exists());
    assert!(temp_files(&root).is_empty(), "temporary file left behind");
    assert!(store.list().expect("list").blobs.is_empty());
}

#[test]
fn store_put_size_mismatch_publishes_nothing() {
    let root = crate::scratch("store-size-mismatch");
    let store = BlobStore::new(&root);
    let m = Digester::digest_bytes(Algorithm::Sha256, b"expected");
    let e = store
        .put_verified(&b"expected"[..], &m.digest, Some(7))
        .expect_err("too long");
    assert!(
        matches!(e, PutError::Mismatch(VerifyError::TooLong { .. })),
        "{e:?}"
    );
    let e = store
        .put_verified(&b"expected"[..], &m.digest, Some(9))
        .expect_err("too short");
    assert!(
        matches!(e, PutError::Mismatch(VerifyError::TooShort { .. })),
        "{e:?}"
    );
    assert_eq!(store.stat(&m.digest).expect("stat"), None);
    assert!(temp_files(&root).is_empty());
}

#[test]
fn store_put_refuses_unregistered_algorithm() {
    let store = BlobStore::new(crate::scratch("store-unregistered"));
    let d = crate::digest("md5:d41d8cd98f00b204e9800998ecf8427e");
    assert!(matches!(
        store.put_verified(&b""[..], &d, None),
        Err(PutError::Unverifiable(_))
    ));
    assert!(matches!(store.open(&d), Err(OpenError::Unverifiable(_))));
}

/// L5: a file in blobs/<alg>/<encoded> whose content does not hash to its name is caught
/// when read.
#[test]
fn store_open_detects_damaged_blob() {
    let store = BlobStore::new(crate::scratch("store-damaged"));
    let m = store
        .put_bytes(b"original", Algorithm::Sha256)
        .expect("put");
    std::fs::write(store.blob_path(&m.digest), b"tampered").expect("tamper");
    let mut r = store.open(&m.digest).expect("open").expect("present");
    let e = r.read_to_end(&mut Vec::new()).expect_err("damaged");
    match VerifyError::from_io(&e) {
        Some(VerifyError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, &m.digest);
            assert_eq!(
                actual,
                &Digester::digest_bytes(Algorithm::Sha256, b"tampered")
            );
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(store.read_verified(&m.digest, None).is_err());
    assert!(matches!(
        store.verify(&m.digest, None),
        Err(oci_digest::ReadError::Mismatch(
            VerifyError::DigestMismatch { .. }
        ))
    ));
}

#[test]
fn store_verify_streams_a_blob_and_reports_absence() {
    let store = BlobStore::new(crate::scratch("store-verify"));
    let data = content(1 << 20, 5);
    let m = store.put(&data[..], Algorithm::Blake3).expect("put");
    assert_eq!(
        store.verify(&m.digest, Some(m.size)).expect("verify"),
        Some(m.clone())
    );
    assert_eq!(
        store.verify(&m.digest, None).expect("verify"),
        Some(m.clone())
    );
    assert!(store.verify(&m.digest, Some(m.size + 1)).is_err());
    let absent = Digester::digest_bytes(Algorithm::Sha256, b"absent").digest;
    assert_eq!(store.verify(&absent, None).expect("verify"), None);
}

/// D8, DG3: the size on disk is checked before anything is hashed.
#[test]
fn store_open_sized_checks_size_before_reading() {
    let store = BlobStore::new(crate::scratch("store-open-size"));
    let m = store
        .put_bytes(b"twelve bytes", Algorithm::Sha256)
        .expect("put");
    match store.open_sized(&m.digest, 11) {
        Err(OpenError::SizeMismatch {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (11, 12)),
        other => panic!("expected a size mismatch, got {other:?}"),
    }
}

#[test]
fn store_open_refuses_symlinked_blob() {
    let root = crate::scratch("store-symlink");
    let store = BlobStore::new(&root);
    let m = Digester::digest_bytes(Algorithm::Sha256, b"x");
    let dir = root.join("blobs/sha256");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(root.join("target"), b"x").expect("write");
    std::os::unix::fs::symlink(root.join("target"), store.blob_path(&m.digest)).expect("symlink");
    assert!(matches!(
        store.open(&m.digest),
        Err(OpenError::NotAFile { .. })
    ));
    assert!(store.stat(&m.digest).is_err());
    let listing = store.list().expect("list");
    assert_eq!(listing.invalid.len(), 1);
    assert_eq!(listing.invalid[0].reason, InvalidReason::NotAFile);
}

/// L6: names in blobs/ that do not fit the digest grammar are reported, temp files skipped.
#[test]
fn store_list_reports_invalid_names() {
    let root = crate::scratch("store-invalid-names");
    let store = BlobStore::new(&root);
    let m = store.put_bytes(b"ok", Algorithm::Sha256).expect("put");
    let blobs = root.join("blobs");
    std::fs::write(blobs.join("sha256/ABCDEF"), b"").expect("write");
    std::fs::write(blobs.join("sha256/short"), b"").expect("write");
    std::fs::write(blobs.join("sha256").join(format!("{TEMP_PREFIX}left")), b"").expect("write");
    std::fs::create_dir_all(blobs.join("Bad_Alg")).expect("mkdir");
    std::fs::write(blobs.join("stray-file"), b"").expect("write");
    std::fs::create_dir_all(blobs.join("md5")).expect("mkdir");
    std::fs::write(blobs.join("md5/d41d8cd98f00b204e9800998ecf8427e"), b"").expect("write");
    std::fs::create_dir_all(blobs.join("sha256").join("a".repeat(64))).expect("mkdir");

    let listing = store.list().expect("list");
    let md5 = crate::digest("md5:d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(listing.blobs, vec![md5, m.digest]);
    let invalid: Vec<(String, &InvalidReason)> = listing
        .invalid
        .iter()
        .map(|e| {
            (
                e.path
                    .strip_prefix(&blobs)
                    .expect("under blobs")
                    .display()
                    .to_string(),
                &e.reason,
            )
        })
        .collect();
    let names: Vec<&str> = invalid.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Bad_Alg",
            "sha256/ABCDEF",
            &format!("sha256/{}", "a".repeat(64)),
            "sha256/short",
            "stray-file",
        ]
    );
    assert_eq!(invalid[0].1, &InvalidReason::BadAlgorithm);
    assert!(matches!(invalid[1].1, InvalidReason::BadDigest(e) if e.rule() == "DG6"));
    assert_eq!(invalid[2].1, &InvalidReason::NotAFile);
    assert_eq!(invalid[4].1, &InvalidReason::NotADirectory);
}

#[test]
fn store_dropped_writer_leaves_no_blob() {
    let root = crate::scratch("store-dropped-writer");
    let store = BlobStore::new(&root);
    let data = content(1 << 20, 2);
    let m = Digester::digest_bytes(Algorithm::Sha256, &data);
    let mut w = store.writer(Algorithm::Sha256).expect("writer");
    w.write_all(&data[..data.len() / 2]).expect("write half");
    let temp = w.temp_path().to_path_buf();
    assert!(temp.exists());
    drop(w);
    assert!(!temp.exists(), "temporary file removed on drop");
    assert_eq!(store.stat(&m.digest).expect("stat"), None);
    assert!(store.list().expect("list").blobs.is_empty());
}

#[test]
fn store_writer_commit_publishes() {
    let store = BlobStore::new(crate::scratch("store-writer"));
    let m = Digester::digest_bytes(Algorithm::Sha512, b"streamed in pieces");
    let mut w = store
        .writer_verified(&m.digest, Some(m.size))
        .expect("writer");
    for piece in [&b"streamed "[..], b"in ", b"pieces"] {
        w.write_all(piece).expect("write");
    }
    assert_eq!(w.commit().expect("commit"), m);
    assert_eq!(read_blob(&store, &m), b"streamed in pieces");
}

#[test]
fn store_unhashed_writer_publishes_under_the_callers_digest() {
    let root = crate::scratch("store-unhashed");
    let store = BlobStore::new(&root);
    let bytes = content(200_000, 7);
    let m = Digester::digest_bytes(Algorithm::Sha256, &bytes);
    let mut w = store.writer_unhashed(Algorithm::Sha256).expect("writer");
    for piece in bytes.chunks(70_000) {
        w.write_all(piece).expect("write");
    }
    assert_eq!(w.size(), m.size);
    assert_eq!(w.commit_measured(&m).expect("commit"), m);
    assert_eq!(read_blob(&store, &m), bytes);
    assert!(temp_files(&root).is_empty());
}

#[test]
fn store_unhashed_writer_plain_commit_hashes_the_file() {
    let store = BlobStore::new(crate::scratch("store-unhashed-commit"));
    let m = Digester::digest_bytes(Algorithm::Blake3, b"hashed on commit");
    let mut w = store.writer_unhashed(Algorithm::Blake3).expect("writer");
    w.write_all(b"hashed on commit").expect("write");
    assert_eq!(w.commit().expect("commit"), m);
    assert_eq!(read_blob(&store, &m), b"hashed on commit");
}

#[test]
fn store_commit_measured_refuses_a_claim_that_disagrees() {
    let root = crate::scratch("store-unhashed-mismatch");
    let store = BlobStore::new(&root);
    let actual = Digester::digest_bytes(Algorithm::Sha256, b"real content");
    // Wrong size, wrong algorithm: the unhashed writer reads the file back and reports
    // the content's own digest. Wrong digest on a hashing writer: its own digest.
    let short = Digester::digest_bytes(Algorithm::Sha256, b"real");
    let other_algorithm = Digester::digest_bytes(Algorithm::Sha512, b"real content");
    let same_size = Digester::digest_bytes(Algorithm::Sha256, b"fake content");
    let cases: [(&str, oci_digest::Measured); 3] = [
        ("unhashed, size", short),
        ("unhashed, algorithm", other_algorithm),
        ("hashing, digest", same_size),
    ];
    for (case, claimed) in cases {
        let mut w = if case.starts_with("unhashed") {
            store.writer_unhashed(Algorithm::Sha256).expect("writer")
        } else {
            store.writer(Algorithm::Sha256).expect("writer")
        };
        w.write_all(b"real content").expect("write");
        match w.commit_measured(&claimed) {
            Err(PutError::Mismatch(VerifyError::DigestMismatch {
                expected,
                actual: found,
            })) => {
                assert_eq!(expected, claimed.digest, "{case}");
                assert_eq!(found, actual, "{case}");
            }
            other => panic!("{case}: expected a digest mismatch, got {other:?}"),
        }
        assert_eq!(store.stat(&claimed.digest).expect("stat"), None, "{case}");
        assert_eq!(store.stat(&actual.digest).expect("stat"), None, "{case}");
    }
    assert!(store.list().expect("list").blobs.is_empty());
    assert!(temp_files(&root).is_empty());
}

#[test]
fn store_writer_fails_as_soon_as_size_exceeded() {
    let root = crate::scratch("store-writer-too-long");
    let store = BlobStore::new(&root);
    let m = Digester::digest_bytes(Algorithm::Sha256, b"abc");
    let mut w = store.writer_verified(&m.digest, Some(3)).expect("writer");
    w.write_all(b"ab").expect("within size");
    let e = w.write_all(b"cd").expect_err("exceeds size");
    assert!(matches!(
        VerifyError::from_io(&e),
        Some(VerifyError::TooLong { .. })
    ));
    assert!(matches!(w.commit(), Err(PutError::Mismatch(_))));
    assert_eq!(store.stat(&m.digest).expect("stat"), None);
    assert!(temp_files(&root).is_empty());
}

#[test]
fn store_concurrent_puts_from_threads_all_succeed() {
    let root = crate::scratch("store-threads");
    let store = BlobStore::new(&root);
    let data = content(2 << 20, 3);
    let m = Digester::digest_bytes(Algorithm::Sha256, &data);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (store, data, m) = (&store, &data, &m);
                s.spawn(move || {
                    if i % 2 == 0 {
                        store.put(&data[..], Algorithm::Sha256)
                    } else {
                        store.put_verified(&data[..], &m.digest, Some(m.size))
                    }
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().expect("thread").expect("put"), m);
        }
    });
    assert_eq!(read_blob(&store, &m), data);
    assert_eq!(store.list().expect("list").blobs, vec![m.digest]);
    assert!(temp_files(&root).is_empty());
}

const CHILD_ENV: &str = "OCI_DIGEST_TEST_CHILD";

/// Not a test of its own: the body of the child processes spawned by the tests below.
/// Without the environment variable it does nothing.
#[test]
fn store_child_process_helper() {
    let Ok(task) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, root) = task.split_once(':').expect("MODE:ROOT");
    let store = BlobStore::new(root);
    match mode {
        "put" => {
            let data = content(4 << 20, 4);
            let m = Digester::digest_bytes(Algorithm::Sha256, &data);
            store
                .put_verified(&data[..], &m.digest, Some(m.size))
                .expect("child put");
        }
        "stall" => {
            // Hands out 1 MiB, then blocks until the parent kills this process.
            struct Stall(usize);
            impl Read for Stall {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    if self.0 >= 1 << 20 {
                        loop {
                            std::thread::sleep(std::time::Duration::from_secs(3600));
                        }
                    }
                    let n = buf.len().min((1 << 20) - self.0);
                    buf[..n].fill(b's');
                    self.0 += n;
                    Ok(n)
                }
            }
            let _ = store.put(Stall(0), Algorithm::Sha256);
            unreachable!("the stalled put never returns");
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(mode: &str, root: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([
        "store::store_child_process_helper",
        "--exact",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, format!("{mode}:{}", root.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    cmd
}

#[test]
fn store_concurrent_puts_from_processes_all_succeed() {
    let root = crate::scratch("store-processes");
    let children: Vec<_> = (0..4)
        .map(|_| child("put", &root).spawn().expect("spawn child"))
        .collect();
    for mut c in children {
        assert!(c.wait().expect("wait").success(), "a child put failed");
    }
    let store = BlobStore::new(&root);
    let data = content(4 << 20, 4);
    let m = Digester::digest_bytes(Algorithm::Sha256, &data);
    assert_eq!(read_blob(&store, &m), data);
    assert_eq!(store.list().expect("list").blobs, vec![m.digest]);
    assert!(temp_files(&root).is_empty());
}

#[test]
fn store_killed_writer_leaves_no_partial_blob() {
    let root = crate::scratch("store-killed");
    let mut c = child("stall", &root).spawn().expect("spawn child");
    // Wait until the child has written part of the blob into its temporary file.
    let mut waited = 0;
    let temp = loop {
        if let Some(t) = temp_files(&root)
            .into_iter()
            .find(|t| std::fs::metadata(t).is_ok_and(|m| m.len() > 0))
        {
            break t;
        }
        if let Some(status) = c.try_wait().expect("try_wait") {
            panic!("child ended early: {status}");
        }
        waited += 1;
        if waited > 6000 {
            let _ = c.kill();
            panic!("child never started writing");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    c.kill().expect("kill child");
    c.wait().expect("wait");
    let store = BlobStore::new(&root);
    let full = Digester::digest_bytes(Algorithm::Sha256, &[b's'; 1 << 20]);
    assert_eq!(store.stat(&full.digest).expect("stat"), None);
    assert!(
        temp.exists(),
        "the killed writer's temporary file stays behind"
    );
    let listing = store.list().expect("list");
    assert!(listing.blobs.is_empty(), "{:?}", listing.blobs);
    assert!(listing.invalid.is_empty(), "{:?}", listing.invalid);
    // A later put of the same content is unaffected by the leftover.
    let m = store
        .put(&[b's'; 1 << 20][..], Algorithm::Sha256)
        .expect("put");
    assert_eq!(m, full);
}
