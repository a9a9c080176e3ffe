//! One rule for causes (STYLE.md): an error either includes its cause in its message or
//! exposes it as its source, never both, so that the chain `ocimg` prints names each cause
//! once.

use std::path::Path;

use crate::{ocimg, scratch};

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `args`, expects exit code `code`, and checks the one error line printed: no part of
/// its chain (the parts `{:#}` joins with `: `) stands twice, and `cause` stands once.
fn check(args: &[&str], code: i32, cause: &str) {
    let out = ocimg(args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("ocimg"))
        .unwrap_or_else(|| panic!("{args:?}: no error line in {stderr:?}"));
    assert_eq!(
        line.matches(cause).count(),
        1,
        "{args:?}: {cause:?} stands once in {line:?}"
    );
    let parts: Vec<&str> = line.split(": ").map(str::trim).collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(part),
            "{args:?}: {part:?} stands twice in {line:?}"
        );
    }
}

#[test]
fn printed_error_chains_name_each_cause_once() {
    let work = scratch("causes");
    let missing = work.join("missing.tar");
    let out = work.join("out");
    let enoent = "No such file or directory";

    let docker = format!("docker-archive:{}", path(&missing));
    let oci_out = format!("oci:{}", path(&out));
    check(&["copy", &docker, &oci_out], 2, enoent);
    let archive = format!("oci-archive:{}", path(&missing));
    check(&["copy", &archive, &oci_out], 2, enoent);
    check(&["inspect", &archive], 2, enoent);

    let layer = work.join("layer.tar.gz");
    check(
        &[
            "layer",
            "create",
            path(&work.join("no-dir")),
            "-o",
            path(&layer),
        ],
        2,
        enoent,
    );

    let conf = work.join("registries.conf");
    check(
        &[
            "name",
            "resolve",
            "--registries-conf",
            path(&conf),
            "alpine",
        ],
        2,
        enoent,
    );

    // A docker-archive whose manifest.json is not JSON: the parser's message once.
    let bad = work.join("bad.tar");
    std::fs::write(
        &bad,
        oci_test_support::fixture::tar_of(&[("manifest.json", b"{")]),
    )
    .expect("write");
    let docker_bad = format!("docker-archive:{}", path(&bad));
    check(
        &["copy", &docker_bad, &oci_out],
        1,
        "manifest.json is invalid",
    );

    // An image with neither Entrypoint nor Cmd cannot become a bundle.
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::write(rootfs.join("etc/hostname"), b"box\n").expect("write");
    let image = format!("{}:v1", path(&work.join("layout")));
    let built = ocimg(&["build", "-q", "--rootfs", path(&rootfs), &image]);
    assert!(built.status.success(), "{built:?}");
    check(
        &["bundle", &image, path(&work.join("bundle"))],
        1,
        "neither Entrypoint nor Cmd",
    );
}
