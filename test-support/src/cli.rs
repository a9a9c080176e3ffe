//! Helpers for tests that run programs: run one with arguments (and optional standard
//! input), fresh scratch directories under the target directory, reading an output as
//! JSON or text, and interop peers that must be there under `CI=true`.
//!
//! The paths Cargo gives integration tests at compile time (`CARGO_TARGET_TMPDIR`,
//! `CARGO_BIN_EXE_<name>`) exist only in the test crate, so [`scratch!`](crate::scratch)
//! and [`ocimg!`](crate::ocimg) are macros that read them there.

use std::ffi::OsStr;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `program` with `args` and no standard input, and returns what it did.
pub fn run(program: impl AsRef<OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref();
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.to_string_lossy()))
}

/// Runs `program` with `args`, writing `input` to its standard input.
pub fn run_with_input(program: impl AsRef<OsStr>, args: &[&str], input: &[u8]) -> Output {
    let program = program.as_ref();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.to_string_lossy()));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    // A writer thread, so that a program that answers before reading all cannot block us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for the program");
    let _ = writer.join();
    out
}

/// Runs `command` with no standard input and asserts it succeeded.
pub fn run_ok(command: &mut Command) -> Output {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {out:?}");
    out
}

/// A fresh, empty directory `base/name` (whatever was there is removed).
pub fn scratch_in(base: impl AsRef<Path>, name: &str) -> PathBuf {
    let dir = base.as_ref().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A fresh, empty directory for one test under the calling test crate's
/// `CARGO_TARGET_TMPDIR`, in a folder named after the package: `scratch!("name")`.
#[macro_export]
macro_rules! scratch {
    ($name:expr) => {
        $crate::cli::scratch_in(
            ::std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(env!("CARGO_PKG_NAME")),
            $name,
        )
    };
}

/// Runs the `ocimg` binary of the calling test crate (oci-cli's tests) with the given
/// arguments, without standard input: `ocimg!(&["digest", file])`.
#[macro_export]
macro_rules! ocimg {
    ($args:expr) => {
        $crate::cli::run(env!("CARGO_BIN_EXE_ocimg"), $args)
    };
}

/// `p` as UTF-8 (test paths are).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Standard output parsed as one JSON value (panics with the output when it is not).
pub fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// Standard error as text.
pub fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether the interop peer `name` runs (`name --version` succeeds). When it does not,
/// this fails the test under `CI=true`, and otherwise prints `skipped: NAME not installed`
/// to standard error and returns false.
pub fn peer(name: &str) -> bool {
    peer_with(name, Command::new(name).arg("--version"))
}

/// Like [`peer`], with `check` as the command that must succeed (for peers without
/// `--version`).
// The skip message must be visible in the test output.
#[allow(clippy::print_stderr)]
pub fn peer_with(name: &str, check: &mut Command) -> bool {
    match check
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(status) if status.success() => true,
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI: {name} is not installed"
            );
            eprintln!("skipped: {name} not installed");
            false
        }
    }
}
