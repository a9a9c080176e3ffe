//! `ocimg layer apply`: JSON shape, people output, exit codes 0, 1 and 2.

use std::fs;
use std::path::Path;

use crate::{ocimg, scratch};

/// A minimal ustar header with a correct checksum.
fn header(name: &str, flag: u8, size: usize, link: &str) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"13000000000\0");
    h[156] = flag;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

/// A tar of `(name, type flag, data or link target)`.
fn tar(entries: &[(&str, u8, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, flag, data) in entries {
        let (size, link) = match flag {
            b'0' => (data.len(), ""),
            _ => (0, *data),
        };
        out.extend_from_slice(&header(name, *flag, size, link));
        if *flag == b'0' {
            out.extend_from_slice(data.as_bytes());
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn applies_layers_in_order_and_prints_json() {
    let dir = scratch("layer-apply-json");
    let l1 = write(
        &dir,
        "l1.tar",
        &tar(&[
            ("etc/", b'5', ""),
            ("etc/a", b'0', "alpha"),
            ("etc/b", b'0', "beta"),
        ]),
    );
    let l2 = write(
        &dir,
        "l2.tar",
        &tar(&[("etc/.wh.a", b'0', ""), ("etc/l", b'2', "b")]),
    );
    let root = dir.join("root/missing/parent");
    let out = ocimg(&["layer", "apply", "--json", &l1, &l2, root.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entries"], 5);
    assert_eq!(v["bytes"], 9);
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(v.as_object().unwrap().len(), 3);
    assert!(!root.join("etc/a").exists());
    assert_eq!(fs::read(root.join("etc/b")).unwrap(), b"beta");
    assert_eq!(fs::read_link(root.join("etc/l")).unwrap(), Path::new("b"));
}

#[test]
fn people_output_without_json() {
    let dir = scratch("layer-apply-text");
    let l1 = write(&dir, "l1.tar", &tar(&[("a", b'0', "x")]));
    let root = dir.join("root");
    let out = ocimg(&["layer", "apply", &l1, root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("applied 1 entries (1 bytes) from 1 layer onto "),
        "{text}"
    );
}

#[test]
fn rootless_devices_are_warnings() {
    let dir = scratch("layer-apply-rootless");
    let l1 = write(&dir, "l1.tar", &tar(&[("dev/null", b'3', "")]));
    let root = dir.join("root");
    let out = ocimg(&[
        "layer",
        "apply",
        "--rootless",
        "--json",
        &l1,
        root.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].as_str().unwrap().contains("dev/null"));
    assert!(root.join("dev/null").is_file());
}

#[test]
fn refused_entry_exits_1_with_name_and_reason() {
    let dir = scratch("layer-apply-refused");
    let l1 = write(
        &dir,
        "l1.tar",
        &tar(&[("ok", b'0', "x"), ("./", b'2', "/etc")]),
    );
    let root = dir.join("root");
    let out = ocimg(&["layer", "apply", "--json", &l1, root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // CLI.md: with --json, the one object {"error": MESSAGE} on stdout.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("refused")),
        "{v}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"./\"") && err.contains("refused") && err.contains("root"),
        "{err}"
    );
    // Bad whiteouts too.
    let l2 = write(&dir, "l2.tar", &tar(&[("d/.wh..", b'0', "")]));
    let out = ocimg(&["layer", "apply", &l2, root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("d/.wh.."));
}

#[test]
fn damaged_layer_exits_1() {
    let dir = scratch("layer-apply-damaged");
    let mut bytes = tar(&[("a", b'0', "alpha")]);
    bytes[5] ^= 1;
    let l1 = write(&dir, "bad.tar", &bytes);
    let truncated = write(&dir, "short.tar", &tar(&[("a", b'0', "alpha")])[..700]);
    let root = dir.join("root");
    for layer in [&l1, &truncated] {
        let out = ocimg(&["layer", "apply", layer, root.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{layer}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("checksum") || err.contains("truncated"),
            "{err}"
        );
    }
}

#[test]
fn io_errors_exit_2() {
    let dir = scratch("layer-apply-io");
    let root = dir.join("root");
    let missing = dir.join("nope.tar");
    let out = ocimg(&[
        "layer",
        "apply",
        missing.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.tar"));
    // ROOT is a file.
    let l1 = write(&dir, "l1.tar", &tar(&[("a", b'0', "x")]));
    let file_root = write(&dir, "file-root", b"");
    let out = ocimg(&["layer", "apply", &l1, &file_root]);
    assert_eq!(out.status.code(), Some(2));
    // Usage: a single path.
    let out = ocimg(&["layer", "apply", &l1]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn usage_names_layers_then_root() {
    let out = ocimg(&["layer", "apply", "--help"]);
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("Usage: ocimg layer apply [OPTIONS] LAYER... ROOT\n"),
        "{help}"
    );
    assert!(!help.contains("<LAYER... ROOT> <LAYER... ROOT>"), "{help}");
    let out = ocimg(&["layer", "apply", "only-one"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ocimg layer apply [OPTIONS] LAYER... ROOT"),
        "{err}"
    );
}

/// `layer ls` reads with the same bounded reader as `layer apply`: a 64 MiB GNU long name
/// is refused before it is buffered (the tar crate took `ls` to 165 MB for it).
#[test]
fn ls_refuses_a_64_mib_long_name_in_little_memory() {
    let dir = scratch("layer-ls-long-name");
    let long = 64usize << 20;
    let mut layer = Vec::with_capacity(long + 4096);
    layer.extend_from_slice(&header("././@LongLink", b'L', long + 1, ""));
    layer.resize(layer.len() + long, b'a');
    layer.push(0);
    layer.resize(layer.len().div_ceil(512) * 512, 0);
    layer.extend_from_slice(&tar(&[("x", b'0', "x")]));
    let plain = write(&dir, "long.tar", &layer);
    drop(layer);
    let gz = std::process::Command::new("gzip")
        .args(["-f", &plain])
        .status()
        .expect("run gzip");
    assert!(gz.success());
    let gz = format!("{plain}.gz");
    let on_disk = fs::metadata(&gz).unwrap().len();
    assert!(on_disk < 1 << 20, "{on_disk}");
    let out = std::process::Command::new("/usr/bin/time")
        .args([
            "-f",
            "maxrss-kib=%M",
            env!("CARGO_BIN_EXE_ocimg"),
            "layer",
            "ls",
            &gz,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run /usr/bin/time ocimg");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record size limit exceeded"), "{err}");
    assert!(err.contains("long.tar.gz"), "{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    let kib: u64 = err
        .lines()
        .find_map(|l| l.strip_prefix("maxrss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .expect("GNU time's %M");
    assert!(kib < 16 << 10, "peak RSS {kib} KiB");
    // `layer apply` refuses it the same way.
    let root = dir.join("root");
    let out = ocimg(&["layer", "apply", &gz, root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("record size limit exceeded"));
}
