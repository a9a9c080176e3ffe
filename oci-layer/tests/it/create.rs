//! Creating layers: entry kinds, attributes, long names, hardlinks, determinism, diffs,
//! digests and compression, checked by reading the written bytes back with the `tar` crate
//! and the peers (`gzip`, `zstd`).

// Skipped tests say so on standard error.
#![allow(clippy::print_stderr)]

use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use oci_digest::Digester;
use oci_layer::{Compression, CreateError, CreateOptions, EntryKind, Warning};
use oci_spec_types::digest::Algorithm;

/// A fresh, empty directory under the target directory (a real file system with user.*
/// extended attributes, unlike /tmp).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("create")
        .join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn skip_unless_root(what: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipped: {what} needs root (devices, fifos, chown)");
    true
}

/// Sets the mtime of `path` without following a symlink.
fn set_mtime(path: &Path, secs: i64, nsec: i64) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in test paths");
    let times = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
    ];
    // SAFETY: a valid C string and two timespecs, as utimensat requires.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}

fn mknod(path: &Path, kind: libc::mode_t, major: u32, minor: u32) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in test paths");
    // SAFETY: a valid C string; mknod only reads it.
    let rc = unsafe { libc::mknod(c.as_ptr(), kind | 0o640, libc::makedev(major, minor)) };
    assert_eq!(rc, 0, "mknod {}", path.display());
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).expect("no NUL in test paths");
    // SAFETY: a valid C string; mkfifo only reads it.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    assert_eq!(rc, 0, "mkfifo {}", path.display());
}

fn write(path: &Path, content: &[u8]) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(path, content).expect("write");
}

fn opts(compression: Compression) -> CreateOptions {
    CreateOptions {
        compression,
        ..CreateOptions::default()
    }
}

/// Creates a layer of `dir` in memory.
fn layer(dir: &Path, o: &CreateOptions) -> (Vec<u8>, oci_layer::Created) {
    let mut out = Vec::new();
    let created = oci_layer::create(dir, &mut out, o).expect("create layer");
    (out, created)
}

/// One entry read back with the `tar` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read_ {
    path: String,
    typeflag: u8,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    link: Option<String>,
    content: Vec<u8>,
    xattrs: Vec<(String, Vec<u8>)>,
    dev: Option<(u32, u32)>,
    uname_empty: bool,
}

fn decompress(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("gunzip");
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        out = zstd::decode_all(bytes).expect("unzstd");
    } else {
        out = bytes.to_vec();
    }
    out
}

fn read_tar(bytes: &[u8]) -> Vec<Read_> {
    let tar = decompress(bytes);
    let mut archive = tar::Archive::new(&tar[..]);
    let mut out = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = String::from_utf8(entry.path_bytes().into_owned()).expect("utf-8 path");
        let link = entry
            .link_name_bytes()
            .map(|l| String::from_utf8(l.into_owned()).expect("utf-8 link"));
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions().expect("pax") {
            for ext in pax {
                let ext = ext.expect("pax record");
                let key = ext.key().expect("utf-8 key");
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        let h = entry.header().clone();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("content");
        let typeflag = h.entry_type().as_byte();
        out.push(Read_ {
            path,
            typeflag,
            mode: h.mode().expect("mode"),
            uid: h.uid().expect("uid"),
            gid: h.gid().expect("gid"),
            mtime: h.mtime().expect("mtime"),
            link: if typeflag == b'1' || typeflag == b'2' {
                link
            } else {
                None
            },
            content,
            xattrs,
            dev: if typeflag == b'3' || typeflag == b'4' {
                Some((
                    h.device_major().expect("major").expect("ustar"),
                    h.device_minor().expect("minor").expect("ustar"),
                ))
            } else {
                None
            },
            uname_empty: h.username_bytes().is_none_or(<[u8]>::is_empty)
                && h.groupname_bytes().is_none_or(<[u8]>::is_empty),
        });
    }
    out
}

fn find<'a>(entries: &'a [Read_], path: &str) -> &'a Read_ {
    entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no entry {path} in {:?}", paths(entries)))
}

fn paths(entries: &[Read_]) -> Vec<&str> {
    entries.iter().map(|e| e.path.as_str()).collect()
}

fn sha256(bytes: &[u8]) -> String {
    let mut d = Digester::new(Algorithm::Sha256);
    d.update(bytes);
    d.finish().digest.to_string()
}

/// Deterministic pseudo-random bytes that compress somewhat (like binaries do).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len);
    let words = [
        &b"alpha "[..],
        b"beta ",
        b"gamma\n",
        b"delta ",
        b"\x00\x01\x02",
    ];
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            out.push((x >> 24) as u8);
        } else {
            out.extend_from_slice(words[(x >> 40) as usize % words.len()]);
        }
    }
    out.truncate(len);
    out
}

#[test]
fn every_entry_kind() {
    let dir = scratch("kinds");
    write(&dir.join("a/file"), b"hello");
    symlink("file", dir.join("a/rel")).expect("symlink");
    symlink("/etc/../abs/target", dir.join("a/abs")).expect("symlink");
    fs::hard_link(dir.join("a/file"), dir.join("b-link")).expect("hardlink");
    let root = is_root();
    if root {
        mkfifo(&dir.join("fifo"));
        mknod(&dir.join("chr"), libc::S_IFCHR, 1, 3);
        mknod(&dir.join("blk"), libc::S_IFBLK, 7, 200);
    } else {
        eprintln!("skipped: fifo and device entries need root");
    }
    let (bytes, created) = layer(&dir, &opts(Compression::None));
    assert!(created.warnings.is_empty());
    let e = read_tar(&bytes);
    let mut expect = vec!["a/", "a/abs", "a/file", "a/rel", "b-link"];
    if root {
        expect = vec![
            "a/", "a/abs", "a/file", "a/rel", "b-link", "blk", "chr", "fifo",
        ];
    }
    assert_eq!(paths(&e), expect);
    assert_eq!(find(&e, "a/").typeflag, b'5');
    assert_eq!(find(&e, "a/file").typeflag, b'0');
    assert_eq!(find(&e, "a/file").content, b"hello");
    assert_eq!(find(&e, "a/rel").typeflag, b'2');
    assert_eq!(find(&e, "a/rel").link.as_deref(), Some("file"));
    assert_eq!(
        find(&e, "a/abs").link.as_deref(),
        Some("/etc/../abs/target")
    );
    assert_eq!(find(&e, "b-link").typeflag, b'1');
    assert_eq!(find(&e, "b-link").link.as_deref(), Some("a/file"));
    assert!(find(&e, "b-link").content.is_empty());
    if root {
        assert_eq!(find(&e, "fifo").typeflag, b'6');
        assert_eq!(find(&e, "chr").typeflag, b'3');
        assert_eq!(find(&e, "chr").dev, Some((1, 3)));
        assert_eq!(find(&e, "blk").typeflag, b'4');
        assert_eq!(find(&e, "blk").dev, Some((7, 200)));
        assert_eq!(find(&e, "blk").mode, 0o640);
    }
    assert!(e.iter().all(|x| x.uname_empty), "no user or group names");
}

#[test]
fn attributes_modes_owners_mtimes_xattrs() {
    let dir = scratch("attrs");
    write(&dir.join("suid"), b"x");
    fs::set_permissions(dir.join("suid"), fs::Permissions::from_mode(0o4755)).expect("chmod");
    write(&dir.join("sgid"), b"x");
    fs::set_permissions(dir.join("sgid"), fs::Permissions::from_mode(0o2711)).expect("chmod");
    fs::create_dir(dir.join("tmp")).expect("mkdir");
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    xattr::set(dir.join("sgid"), "user.test", b"va\x00lue").expect("set xattr");
    xattr::set(dir.join("sgid"), "user.another", b"2").expect("set xattr");
    set_mtime(&dir.join("suid"), 1_234_567_890, 999_999_999);
    if is_root() {
        std::os::unix::fs::lchown(dir.join("suid"), Some(1234), Some(5678)).expect("chown");
        std::os::unix::fs::lchown(dir.join("tmp"), Some(3_000_000), Some(0)).expect("chown");
        // chown clears setuid: set the mode again.
        fs::set_permissions(dir.join("suid"), fs::Permissions::from_mode(0o4755)).expect("chmod");
    }
    let (bytes, _) = layer(&dir, &opts(Compression::None));
    let e = read_tar(&bytes);
    assert_eq!(find(&e, "suid").mode, 0o4755);
    assert_eq!(find(&e, "sgid").mode, 0o2711);
    assert_eq!(find(&e, "tmp/").mode, 0o1777);
    assert_eq!(find(&e, "suid").mtime, 1_234_567_890, "whole seconds");
    assert_eq!(
        find(&e, "sgid").xattrs,
        vec![
            ("user.another".to_string(), b"2".to_vec()),
            ("user.test".to_string(), b"va\x00lue".to_vec())
        ]
    );
    assert!(find(&e, "suid").xattrs.is_empty());
    if is_root() {
        assert_eq!((find(&e, "suid").uid, find(&e, "suid").gid), (1234, 5678));
        // 3,000,000 does not fit 7 octal digits: a PAX uid record carries it.
        let listed = oci_layer::list(&bytes[..]).expect("list");
        let tmp = listed.iter().find(|x| x.path == "tmp/").expect("tmp/");
        assert_eq!(tmp.uid, 3_000_000);
    } else {
        eprintln!("skipped: chown needs root");
    }
}

#[test]
fn long_names_and_link_targets() {
    let dir = scratch("long");
    let name150 = "n".repeat(150);
    let deep = format!("{}/{}/{}", "d".repeat(120), "e".repeat(120), "f".repeat(60));
    write(&dir.join(&name150), b"150");
    write(&dir.join(&deep).join("file"), b"deep");
    let target = format!("/{}", "t/".repeat(200));
    symlink(&target, dir.join("longlink")).expect("symlink");
    fs::hard_link(dir.join(&name150), dir.join("z-hard")).expect("hardlink");
    let (bytes, _) = layer(&dir, &opts(Compression::None));
    let e = read_tar(&bytes);
    assert_eq!(find(&e, &name150).content, b"150");
    let deep_file = format!("{deep}/file");
    assert!(deep_file.len() > 255);
    assert_eq!(find(&e, &deep_file).content, b"deep");
    assert_eq!(find(&e, &format!("{deep}/")).typeflag, b'5');
    assert_eq!(find(&e, "longlink").link.as_deref(), Some(target.as_str()));
    assert_eq!(find(&e, "z-hard").link.as_deref(), Some(name150.as_str()));
}

#[test]
fn hardlinks_point_to_the_first_path_in_output_order() {
    let dir = scratch("hardlinks");
    write(&dir.join("m/one"), b"shared");
    fs::hard_link(dir.join("m/one"), dir.join("a")).expect("link");
    fs::hard_link(dir.join("m/one"), dir.join("z")).expect("link");
    write(&dir.join("single"), b"s");
    let (bytes, _) = layer(&dir, &opts(Compression::None));
    let e = read_tar(&bytes);
    assert_eq!(paths(&e), ["a", "m/", "m/one", "single", "z"]);
    assert_eq!(find(&e, "a").typeflag, b'0');
    assert_eq!(find(&e, "a").content, b"shared");
    assert_eq!(find(&e, "m/one").link.as_deref(), Some("a"));
    assert_eq!(find(&e, "z").link.as_deref(), Some("a"));
    assert_eq!(find(&e, "single").typeflag, b'0');
}

#[test]
fn sockets_are_skipped_with_a_warning() {
    let dir = scratch("socket");
    write(&dir.join("file"), b"f");
    let sock = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let (bytes, created) = layer(&dir, &opts(Compression::None));
    assert_eq!(paths(&read_tar(&bytes)), ["file"]);
    assert_eq!(
        created.warnings,
        vec![Warning::SocketSkipped { path: sock.clone() }]
    );
    assert!(created.warnings[0].to_string().contains("socket"));
}

#[test]
fn whiteout_names_are_refused() {
    let dir = scratch("refuse");
    write(&dir.join("sub/.wh.foo"), b"");
    let err = oci_layer::create(&dir, Vec::new(), &CreateOptions::default())
        .expect_err("a .wh. name cannot be stored");
    assert!(matches!(err, CreateError::WhiteoutName { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("sub/.wh.foo"), "{msg}");
}

#[test]
fn order_is_bytewise_within_each_directory() {
    let dir = scratch("order");
    for name in ["b", "B", "a-", "_", "é", "a/x", "a/A"] {
        write(&dir.join(name), b"");
    }
    fs::create_dir_all(dir.join("dir/sub")).expect("mkdir");
    write(&dir.join("dir/sub/f"), b"");
    write(&dir.join("dir/a"), b"");
    write(&dir.join("dir-"), b"");
    let (bytes, _) = layer(&dir, &opts(Compression::None));
    let got = paths(&read_tar(&bytes))
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    assert_eq!(
        got,
        [
            "B",
            "_",
            "a/",
            "a/A",
            "a/x",
            "a-",
            "b",
            "dir/",
            "dir/a",
            "dir/sub/",
            "dir/sub/f",
            "dir-",
            "é"
        ]
    );
}

#[test]
fn same_tree_same_bytes_whatever_the_threads() {
    let dir = scratch("determinism");
    // Over 24 MiB, so zstd has several jobs and gzip many blocks.
    write(&dir.join("big1"), &noise(14 << 20, 1));
    write(&dir.join("sub/big2"), &noise(11 << 20, 2));
    for i in 0..50 {
        write(&dir.join(format!("small/{i}")), &noise(i * 300, i as u64));
    }
    for compression in [Compression::DEFAULT_GZIP, Compression::DEFAULT_ZSTD] {
        let mut outputs = Vec::new();
        for threads in [1, 2, 4, 3] {
            let o = CreateOptions {
                compression,
                threads,
                ..CreateOptions::default()
            };
            let (bytes, created) = layer(&dir, &o);
            assert_eq!(created.digest.to_string(), sha256(&bytes));
            outputs.push(bytes);
        }
        for (i, o) in outputs.iter().enumerate().skip(1) {
            assert!(
                *o == outputs[0],
                "{compression:?}: output with thread setting #{i} differs"
            );
        }
    }
    let (a, _) = layer(&dir, &opts(Compression::None));
    let (b, _) = layer(&dir, &opts(Compression::None));
    assert_eq!(a, b);
}

#[test]
fn source_date_epoch_clamps_later_mtimes() {
    let dir = scratch("sde");
    write(&dir.join("old"), b"o");
    write(&dir.join("new"), b"n");
    set_mtime(&dir.join("old"), 1_000, 0);
    set_mtime(&dir.join("new"), 2_000_000_000, 5);
    let o = CreateOptions {
        compression: Compression::None,
        source_date_epoch: Some(1_500_000_000),
        ..CreateOptions::default()
    };
    let (bytes, _) = layer(&dir, &o);
    let e = read_tar(&bytes);
    assert_eq!(find(&e, "old").mtime, 1_000);
    assert_eq!(find(&e, "new").mtime, 1_500_000_000);
    // Touching a clamped file again does not change the layer.
    set_mtime(&dir.join("new"), 2_100_000_000, 0);
    let (again, _) = layer(&dir, &o);
    assert_eq!(bytes, again);
}

#[test]
fn digest_size_and_diff_id_match_the_bytes() {
    let dir = scratch("digests");
    write(&dir.join("f"), &noise(3 << 20, 9));
    write(&dir.join("g/h"), b"hello");
    for compression in [
        Compression::None,
        Compression::Gzip { level: 1 },
        Compression::Gzip { level: 9 },
        Compression::Zstd { level: 19 },
    ] {
        let (bytes, created) = layer(&dir, &opts(compression));
        assert_eq!(created.size, bytes.len() as u64);
        assert_eq!(created.digest.to_string(), sha256(&bytes));
        assert_eq!(created.diff_id.to_string(), sha256(&decompress(&bytes)));
        assert_eq!(created.media_type, compression.media_type());
        if compression == Compression::None {
            assert_eq!(created.digest, created.diff_id);
        }
    }
}

/// Runs a decompressing peer on `bytes`; `None` when the peer is missing (skipped).
fn peer_decompress(peer: &str, bytes: &[u8]) -> Option<Vec<u8>> {
    let child = Command::new(peer)
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(_) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{peer} not installed"
            );
            eprintln!("skipped: {peer} not installed");
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("peer output");
    feeder.join().expect("feeder").expect("feed peer");
    assert!(out.status.success(), "{peer} -dc failed");
    Some(out.stdout)
}

#[test]
fn peers_decompress_gzip_and_zstd_layers() {
    let dir = scratch("peers");
    write(&dir.join("f"), &noise(2 << 20, 4));
    write(&dir.join("e"), b"");
    let (plain, _) = layer(&dir, &opts(Compression::None));
    for (compression, peer) in [
        (Compression::Gzip { level: 6 }, "gzip"),
        (Compression::Zstd { level: 3 }, "zstd"),
    ] {
        let (bytes, created) = layer(&dir, &opts(compression));
        if let Some(tar) = peer_decompress(peer, &bytes) {
            assert!(tar == plain, "{peer} gives back the plain tar");
            assert_eq!(created.diff_id.to_string(), sha256(&tar));
        }
    }
}

/// Splits a gzip stream into its members' uncompressed bytes, checking each header.
fn gzip_members(mut gz: &[u8]) -> Vec<Vec<u8>> {
    let mut members = Vec::new();
    while !gz.is_empty() {
        // No flags, mtime 0, OS unknown: nothing from the machine or the clock.
        assert_eq!(gz[..8], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0], "member header");
        assert_eq!(gz[9], 255, "member OS byte");
        let mut decoder = flate2::bufread::GzDecoder::new(gz);
        let mut member = Vec::new();
        decoder.read_to_end(&mut member).expect("gunzip one member");
        gz = decoder.into_inner();
        members.push(member);
    }
    members
}

#[test]
fn gzip_layers_are_one_member_per_block_read_back_by_every_multi_member_reader() {
    let dir = scratch("gzip-members");
    // 2.5 MiB of content and a tiny file: ten full 256 KiB blocks and a partial one.
    write(&dir.join("f"), &noise(5 << 19, 7));
    write(&dir.join("e"), b"x");
    let (plain, _) = layer(&dir, &opts(Compression::None));
    let block = 256 * 1024;
    for level in [0, 1, 6, 9] {
        let mut outputs = Vec::new();
        for threads in 1..=4 {
            let o = CreateOptions {
                compression: Compression::Gzip { level },
                threads,
                ..CreateOptions::default()
            };
            let (gz, created) = layer(&dir, &o);
            assert_eq!(created.diff_id.to_string(), sha256(&plain));
            outputs.push(gz);
        }
        for (i, o) in outputs.iter().enumerate().skip(1) {
            assert!(*o == outputs[0], "level {level}: {} threads differ", i + 1);
        }
        let gz = &outputs[0];
        // Each member holds one block; only the last is short, and none is empty.
        let members = gzip_members(gz);
        assert_eq!(members.len(), plain.len().div_ceil(block), "level {level}");
        for (i, m) in members.iter().enumerate() {
            let want = block.min(plain.len() - i * block);
            assert_eq!(m.len(), want, "level {level}: member {i}");
        }
        assert!(members.concat() == plain, "level {level}: members in order");
        // XFL as RFC 1952 has it: 4 for the fastest levels, 2 for the slowest.
        let xfl = match level {
            0 | 1 => 4,
            9 => 2,
            _ => 0,
        };
        assert_eq!(gz[8], xfl, "level {level}: XFL");
        let mut multi = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut multi)
            .expect("multi-member gunzip");
        assert!(multi == plain, "level {level}: MultiGzDecoder");
        for peer in ["gzip", "pigz"] {
            if let Some(tar) = peer_decompress(peer, gz) {
                assert!(tar == plain, "level {level}: {peer} -dc gives back the tar");
            }
        }
    }
}

#[test]
fn gzip_of_a_tree_smaller_than_a_block_is_one_member() {
    let dir = scratch("gzip-one-member");
    write(&dir.join("f"), b"hello\n");
    let (plain, _) = layer(&dir, &opts(Compression::None));
    let (gz, _) = layer(&dir, &opts(Compression::DEFAULT_GZIP));
    let members = gzip_members(&gz);
    assert_eq!(members.len(), 1);
    assert!(members[0] == plain);
}

#[test]
fn bad_levels_are_refused() {
    let dir = scratch("levels");
    let err = oci_layer::create(&dir, Vec::new(), &opts(Compression::Gzip { level: 10 }))
        .expect_err("gzip 10");
    assert!(err.to_string().contains("gzip level 10"), "{err}");
    let err = oci_layer::create(&dir, Vec::new(), &opts(Compression::Zstd { level: 99 }))
        .expect_err("zstd 99");
    assert!(err.to_string().contains("zstd level 99"), "{err}");
    let err = oci_layer::create(&dir.join("missing"), Vec::new(), &CreateOptions::default())
        .expect_err("missing dir");
    assert!(err.to_string().contains("missing"), "{err}");
}

/// Two trees for diff tests: `old` and `new`, both with mtimes fixed to the nanosecond.
fn diff_pair(name: &str) -> (PathBuf, PathBuf) {
    let base = scratch(name);
    let old = base.join("old");
    let new = base.join("new");
    fs::create_dir_all(&old).expect("mkdir");
    fs::create_dir_all(&new).expect("mkdir");
    (old, new)
}

/// Copies a tree with `cp -a` (keeps hardlinks, times, xattrs).
fn copy_tree(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

fn diff_layer(old: &Path, new: &Path, opaque: bool) -> Vec<Read_> {
    let o = CreateOptions {
        compression: Compression::None,
        opaque,
        ..CreateOptions::default()
    };
    let mut out = Vec::new();
    oci_layer::diff(old, new, &mut out, &o).expect("diff");
    read_tar(&out)
}

#[test]
fn diff_of_identical_trees_is_empty() {
    let (old, new) = diff_pair("diff-same");
    write(&old.join("a/b"), b"b");
    write(&old.join("c"), &noise(100_000, 3));
    symlink("a/b", old.join("l")).expect("symlink");
    fs::hard_link(old.join("c"), old.join("c2")).expect("link");
    copy_tree(&old, &new);
    assert_eq!(paths(&diff_layer(&old, &new, false)), Vec::<&str>::new());
}

#[test]
fn diff_add_modify_delete_and_type_changes() {
    let (old, new) = diff_pair("diff-changes");
    write(&old.join("keep/same"), b"same");
    write(&old.join("keep/modified"), b"before");
    write(&old.join("keep/deleted"), b"gone");
    write(&old.join("gone-dir/x/y"), b"y");
    write(&old.join("file-to-dir"), b"f");
    write(&old.join("dir-to-file/inner"), b"i");
    write(&old.join("chmod"), b"c");
    symlink("one", old.join("relink")).expect("symlink");
    write(&old.join("untouched/deep/file"), b"u");
    for p in ["keep/same", "keep/modified", "chmod", "untouched/deep/file"] {
        set_mtime(&old.join(p), 1_600_000_000, 123);
    }
    copy_tree(&old, &new);
    // Changes.
    write(&new.join("keep/modified"), b"after!");
    set_mtime(&new.join("keep/modified"), 1_600_000_001, 0);
    fs::remove_file(new.join("keep/deleted")).expect("rm");
    fs::remove_dir_all(new.join("gone-dir")).expect("rm");
    fs::remove_file(new.join("file-to-dir")).expect("rm");
    write(&new.join("file-to-dir/now"), b"n");
    fs::remove_dir_all(new.join("dir-to-file")).expect("rm");
    write(&new.join("dir-to-file"), b"now a file");
    fs::set_permissions(new.join("chmod"), fs::Permissions::from_mode(0o600)).expect("chmod");
    fs::remove_file(new.join("relink")).expect("rm");
    symlink("two", new.join("relink")).expect("symlink");
    write(&new.join("keep/added"), b"new");
    let e = diff_layer(&old, &new, false);
    assert_eq!(
        paths(&e),
        [
            ".wh.dir-to-file",
            ".wh.gone-dir",
            "chmod",
            "dir-to-file",
            "file-to-dir/",
            "file-to-dir/now",
            "keep/",
            "keep/.wh.deleted",
            "keep/added",
            "keep/modified",
            "relink",
        ]
    );
    assert_eq!(find(&e, "keep/modified").content, b"after!");
    assert_eq!(find(&e, "chmod").mode, 0o600);
    assert_eq!(find(&e, "relink").link.as_deref(), Some("two"));
    assert_eq!(find(&e, "dir-to-file").content, b"now a file");
    assert!(find(&e, "keep/.wh.deleted").content.is_empty());
}

#[test]
fn diff_compares_content_when_mtimes_may_be_truncated() {
    let (old, new) = diff_pair("diff-content");
    write(&old.join("truncated"), b"aaaa");
    write(&old.join("precise"), b"aaaa");
    copy_tree(&old, &new);
    write(&new.join("truncated"), b"bbbb");
    write(&new.join("precise"), b"bbbb");
    // Same size and mtime on both sides; whole seconds for one, nanoseconds for the other.
    for tree in [&old, &new] {
        set_mtime(&tree.join("truncated"), 1_500_000_000, 0);
        set_mtime(&tree.join("precise"), 1_500_000_000, 42);
        set_mtime(tree, 1_500_000_000, 0);
    }
    // Whole seconds: content compared, the change is found. Nanoseconds: trusted as equal,
    // as umoci and containerd do.
    assert_eq!(paths(&diff_layer(&old, &new, false)), ["truncated"]);
}

#[test]
fn diff_opaque_for_directories_replaced_wholesale() {
    let (old, new) = diff_pair("diff-opaque");
    write(&old.join("etc/a"), b"a");
    write(&old.join("etc/b"), b"b");
    write(&old.join("var/keep"), b"k");
    write(&old.join("var/drop"), b"d");
    copy_tree(&old, &new);
    fs::remove_dir_all(new.join("etc")).expect("rm");
    write(&new.join("etc/c"), b"c");
    fs::remove_file(new.join("var/drop")).expect("rm");
    let with = diff_layer(&old, &new, true);
    assert_eq!(
        paths(&with),
        ["etc/", "etc/.wh..wh..opq", "etc/c", "var/", "var/.wh.drop"]
    );
    let without = diff_layer(&old, &new, false);
    assert_eq!(
        paths(&without),
        [
            "etc/",
            "etc/.wh.a",
            "etc/.wh.b",
            "etc/c",
            "var/",
            "var/.wh.drop"
        ]
    );
}

#[test]
fn diff_keeps_hardlinks_among_emitted_entries() {
    let (old, new) = diff_pair("diff-links");
    write(&old.join("a"), b"a");
    copy_tree(&old, &new);
    // A new link to an unchanged file: both paths are written, the second as a link.
    fs::hard_link(new.join("a"), new.join("b")).expect("link");
    let e = diff_layer(&old, &new, false);
    assert_eq!(paths(&e), ["a", "b"]);
    assert_eq!(find(&e, "a").typeflag, b'0');
    assert_eq!(find(&e, "b").link.as_deref(), Some("a"));
}

#[test]
fn list_reports_kinds_whiteouts_and_opaques() {
    let (old, new) = diff_pair("list");
    write(&old.join("d/x"), b"x");
    write(&old.join("gone"), b"g");
    write(&old.join("e/y"), b"y");
    copy_tree(&old, &new);
    fs::remove_file(new.join("gone")).expect("rm");
    fs::remove_file(new.join("e/y")).expect("rm");
    write(&new.join("e/z"), b"zz");
    symlink("/abs", new.join("s")).expect("symlink");
    for compression in [
        Compression::None,
        Compression::DEFAULT_GZIP,
        Compression::DEFAULT_ZSTD,
    ] {
        let o = CreateOptions {
            compression,
            opaque: true,
            ..CreateOptions::default()
        };
        let mut out = Vec::new();
        oci_layer::diff(&old, &new, &mut out, &o).expect("diff");
        let listed = oci_layer::list(&out[..]).expect("list");
        let got: Vec<(&str, EntryKind)> =
            listed.iter().map(|e| (e.path.as_str(), e.kind)).collect();
        assert_eq!(
            got,
            [
                ("gone", EntryKind::Whiteout),
                ("e/", EntryKind::Dir),
                ("e/", EntryKind::Opaque),
                ("e/z", EntryKind::File),
                ("s", EntryKind::Symlink),
            ]
        );
        assert_eq!(listed[3].size, 2);
        assert_eq!(listed[4].linkname.as_deref(), Some("/abs"));
    }
    // A multi-member gzip stream (two members) lists as one tar.
    let dir = scratch("list-multimember");
    write(&dir.join("f"), b"f");
    let (plain, _) = layer(&dir, &opts(Compression::None));
    let mut gz = Vec::new();
    for half in [&plain[..512], &plain[512..]] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(half).expect("gzip");
        gz.extend(enc.finish().expect("gzip"));
    }
    let listed = oci_layer::list(&gz[..]).expect("list multi-member");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].path, "f");
}

#[test]
fn devices_and_fifos_in_diffs() {
    if skip_unless_root("devices in diffs") {
        return;
    }
    let (old, new) = diff_pair("diff-devices");
    mknod(&old.join("dev"), libc::S_IFCHR, 1, 3);
    mkfifo(&old.join("fifo"));
    copy_tree(&old, &new);
    fs::remove_file(new.join("dev")).expect("rm");
    mknod(&new.join("dev"), libc::S_IFCHR, 1, 5);
    let meta = fs::symlink_metadata(old.join("dev")).expect("stat");
    set_mtime(&new.join("dev"), meta.mtime(), meta.mtime_nsec());
    let e = diff_layer(&old, &new, false);
    assert_eq!(paths(&e), ["dev"]);
    assert_eq!(find(&e, "dev").dev, Some((1, 5)));
}

mod random_trees {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Node {
        File(Vec<u8>, u32),
        Link(String),
        Dir(Vec<(String, Node)>),
    }

    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_.-]{1,12}".prop_filter("not . or .. or .wh.", |n| {
            n != "." && n != ".." && !n.starts_with(".wh.")
        })
    }

    fn node() -> impl Strategy<Value = Node> {
        let leaf = prop_oneof![
            (
                proptest::collection::vec(any::<u8>(), 0..2000),
                prop_oneof![Just(0o644u32), Just(0o755), Just(0o4755), Just(0o600)]
            )
                .prop_map(|(c, m)| Node::File(c, m)),
            "[a-z/.]{1,150}".prop_map(Node::Link),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            proptest::collection::vec((name(), inner), 0..6).prop_map(Node::Dir)
        })
    }

    /// Path, type flag, mode, content, link target.
    type Expected = (String, u8, u32, Vec<u8>, Option<String>);

    fn build(dir: &Path, children: &[(String, Node)], expect: &mut Vec<Expected>, prefix: &str) {
        let mut seen = std::collections::BTreeSet::new();
        for (name, node) in children {
            if !seen.insert(name.clone()) {
                continue;
            }
            let path = dir.join(name);
            let tar_path = format!("{prefix}{name}");
            match node {
                Node::File(content, mode) => {
                    fs::write(&path, content).expect("write");
                    fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).expect("chmod");
                    expect.push((tar_path, b'0', *mode, content.clone(), None));
                }
                Node::Link(target) => {
                    symlink(target, &path).expect("symlink");
                    expect.push((tar_path, b'2', 0o777, Vec::new(), Some(target.clone())));
                }
                Node::Dir(kids) => {
                    fs::create_dir(&path).expect("mkdir");
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
                    expect.push((format!("{tar_path}/"), b'5', 0o755, Vec::new(), None));
                    build(&path, kids, expect, &format!("{tar_path}/"));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn random_trees_read_back_the_same(root in proptest::collection::vec((name(), node()), 0..8), zstd in any::<bool>()) {
            let dir = scratch("proptest");
            let mut expect = Vec::new();
            build(&dir, &root, &mut expect, "");
            expect.sort();
            let compression = if zstd { Compression::DEFAULT_ZSTD } else { Compression::Gzip { level: 1 } };
            let (bytes, created) = layer(&dir, &opts(compression));
            prop_assert_eq!(created.digest.to_string(), sha256(&bytes));
            let got: Vec<_> = read_tar(&bytes)
                .into_iter()
                .map(|e| (e.path, e.typeflag, e.mode, e.content, e.link))
                .collect();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            prop_assert_eq!(got_sorted, expect);
        }
    }
}

/// layer.md (Y16): whiteouts come before the other entries of their directory, even when
/// a sibling's name sorts before the `.wh.` prefix.
#[test]
fn whiteouts_come_before_their_siblings() {
    let (old, new) = diff_pair("diff-whiteouts-first");
    write(&old.join("d/zz-deleted"), b"z");
    write(&old.join("d/kept"), b"k");
    set_mtime(&old.join("d/kept"), 1_600_000_000, 0);
    copy_tree(&old, &new);
    fs::remove_file(new.join("d/zz-deleted")).expect("rm");
    // '!' and '-' sort before '.', so byte order alone would put these first.
    write(&new.join("d/!added"), b"a");
    write(&new.join("d/-added"), b"a");
    let e = diff_layer(&old, &new, false);
    assert_eq!(
        paths(&e),
        ["d/", "d/.wh.zz-deleted", "d/!added", "d/-added"]
    );
}

/// The progress observer sees the uncompressed tar grow, chunk by chunk, to its whole
/// size; the layer is the same bytes with or without it.
#[test]
fn progress_reports_the_uncompressed_tar_as_it_grows() {
    use std::sync::{Arc, Mutex};
    let dir = scratch("create-progress");
    write(&dir.join("a"), &noise(700_000, 1));
    write(&dir.join("sub/b"), &noise(300_000, 2));
    let seen: Arc<Mutex<Vec<u64>>> = Arc::default();
    let s = Arc::clone(&seen);
    let o = CreateOptions {
        progress: oci_layer::CreateProgress(Some(Arc::new(move |written| {
            s.lock().expect("lock").push(written);
        }))),
        ..opts(Compression::DEFAULT_GZIP)
    };
    let (bytes, created) = layer(&dir, &o);
    let (plain, _) = layer(&dir, &opts(Compression::DEFAULT_GZIP));
    assert_eq!(bytes, plain, "the observer changes nothing");
    let seen = seen.lock().expect("lock").clone();
    let tar_len = decompress(&bytes).len() as u64;
    assert!(seen.len() >= 4, "one call per 256 KiB chunk: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "growing: {seen:?}");
    assert_eq!(seen.last().copied(), Some(tar_len), "{seen:?}");
    assert_eq!(created.size, bytes.len() as u64);
}
