//! CLI.md's common rule: with `--json`, a command that fails before it has a report prints
//! exactly one JSON object `{"error": MESSAGE}` on standard output, the message also on
//! standard error, and exits as it would without `--json`. `validate`, `fsck` and `digest`
//! print their report instead. A test walks the commands of `ocimg --help`: every one with
//! `--json` has a failing case here.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::{ocimg, scratch};

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `args` fail with and without `--json` (appended last) with the same exit code, and with
/// `--json` standard output is exactly `{"error": MESSAGE}`, MESSAGE also on standard error.
fn check(args: &[&str], expected_code: i32) {
    let plain = ocimg(args);
    assert_eq!(
        plain.status.code(),
        Some(expected_code),
        "{args:?}: {plain:?}"
    );
    assert!(
        plain.stdout.is_empty(),
        "{args:?}: nothing on stdout: {plain:?}"
    );
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = ocimg(&with_json);
    assert_eq!(
        out.status.code(),
        plain.status.code(),
        "{args:?}: same exit code with --json: {out:?}"
    );
    // Exactly one JSON value, an object with the one key "error".
    let mut values = serde_json::Deserializer::from_slice(&out.stdout).into_iter::<Value>();
    let value = match values.next() {
        Some(Ok(v)) => v,
        other => panic!("{args:?}: stdout is not JSON ({other:?}): {out:?}"),
    };
    assert!(
        values.next().is_none(),
        "{args:?}: one JSON value only: {out:?}"
    );
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("{args:?}: {value}"));
    assert_eq!(object.len(), 1, "{args:?}: only \"error\": {value}");
    let message = object["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{args:?}: error is a string: {value}"));
    assert!(!message.is_empty(), "{args:?}");
    assert!(
        stderr(&out).contains(message),
        "{args:?}: the message is on stderr too: {message:?} / {}",
        stderr(&out)
    );
    assert_eq!(
        stderr(&plain),
        stderr(&out),
        "{args:?}: same stderr with --json"
    );
}

#[test]
fn every_json_command_prints_one_error_object_on_failure() {
    let dir = scratch("json-errors");
    let missing = dir.join("missing");
    let missing = path(&missing);
    // A layout with no image in it, and a file that is no tar.
    let layout = dir.join("layout");
    assert_eq!(ocimg(&["init", path(&layout)]).status.code(), Some(0));
    let layout = path(&layout);
    let not_tar = dir.join("not.tar");
    std::fs::write(
        &not_tar,
        b"this is not a tar archive, not even close to one",
    )
    .expect("write");
    let not_tar = path(&not_tar);
    // Each command that creates its destination gets its own (none may exist).
    let dest = |name: &str| dir.join(name).display().to_string();
    let (layer_out, apply_root, unpack_dest, bundle_dest) = (
        dest("layer"),
        dest("root"),
        dest("unpacked"),
        dest("bundle"),
    );
    let missing_ref = format!("{layout}:nope");
    let missing_tag = format!("{missing}:t");
    let into_layout = format!("{layout}:new");
    let oci_missing = format!("oci:{missing}");
    let oci_dest = format!("oci:{}", dest("copied"));

    let cases: &[(&[&str], i32)] = &[
        // Names: refused (1), unreadable configuration (2).
        (&["name", "parse", "Foo/Bar:latest"], 1),
        (
            &["name", "resolve", "alpine", "--registries-conf", missing],
            2,
        ),
        (&["name", "discover", "not a name"], 1),
        // Layers.
        (&["layer", "create", missing, "-o", &layer_out], 2),
        (&["layer", "ls", missing], 2),
        (&["layer", "ls", not_tar], 1),
        (&["layer", "apply", missing, &apply_root], 2),
        // Layout maintenance.
        (&["init", layout], 2),
        (&["ls", missing], 2),
        (&["tag", &missing_ref, "t2"], 2),
        (&["untag", &missing_tag], 2),
        (&["inspect", &missing_ref], 2),
        (&["inspect", missing], 2),
        (&["fsck", missing], 2),
        (&["gc", missing], 2),
        (&["config", &missing_ref, "--tag", "t2"], 2),
        (&["index", "create", &into_layout, &missing_ref], 2),
        // Images.
        (&["unpack", &missing_ref, &unpack_dest], 2),
        (&["bundle", &missing_ref, &bundle_dest], 2),
        (&["build", &into_layout, "--rootfs", missing], 2),
        (&["copy", &oci_missing, &oci_dest], 2),
        // Signing: an unreadable passphrase file, key or policy; an image not there.
        (
            &[
                "key",
                "generate",
                &dest("key"),
                "--passphrase-file",
                missing,
            ],
            2,
        ),
        (
            &[
                "sign",
                &missing_ref,
                "--key",
                missing,
                "--identity",
                "example.com/app",
            ],
            2,
        ),
        (&["verify", &missing_ref, "--policy", missing], 2),
        // Registries: a registry that does not answer; a logout with no entry to remove.
        (
            &[
                "login",
                "127.0.0.1:1",
                "-u",
                "ann",
                "--password",
                "secret",
                "--authfile",
                &dest("auth.json"),
            ],
            2,
        ),
        (
            &["logout", "127.0.0.1:1", "--authfile", &dest("auth.json")],
            2,
        ),
        (
            &["tags", "docker://127.0.0.1:1/app", "--retry-times", "0"],
            2,
        ),
        (
            &[
                "delete",
                "docker://127.0.0.1:1/app:v1",
                "--retry-times",
                "0",
            ],
            2,
        ),
        (&["referrers", &missing_ref], 2),
    ];
    for (args, code) in cases {
        check(args, *code);
    }
    // Every command with --json is in the table above or prints its report instead
    // (report_commands_print_their_report_on_failure).
    let covered: Vec<String> = cases
        .iter()
        .map(|(args, _)| command_of(args))
        .chain(REPORT_COMMANDS.iter().map(|c| (*c).to_owned()))
        .collect();
    let missing: Vec<String> = json_commands()
        .into_iter()
        .filter(|c| !covered.contains(c))
        .collect();
    assert!(
        missing.is_empty(),
        "commands with --json and no failing case here: {missing:?}; add a case (its \
         arguments and exit code) to the table of \
         json_errors::every_json_command_prints_one_error_object_on_failure"
    );
}

/// Commands whose report is the answer, also on failure.
const REPORT_COMMANDS: &[&str] = &["validate", "fsck", "digest"];

/// The command path of a case's arguments (`layer create`): the leading words that are
/// subcommands, as `ocimg --help` lists them.
fn command_of(args: &[&str]) -> String {
    let groups = ["name", "layer", "index", "key"];
    match args {
        [group, sub, ..] if groups.contains(group) => format!("{group} {sub}"),
        [command, ..] => (*command).to_owned(),
        [] => String::new(),
    }
}

/// Every command (`ls`, `layer create`, ...) whose `--help` offers `--json`, found by
/// walking the `Commands:` lists of `ocimg --help` and of each group.
fn json_commands() -> Vec<String> {
    fn subcommands(path: &[&str]) -> Vec<String> {
        let mut args = path.to_vec();
        args.push("--help");
        let out = ocimg(&args);
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        help.lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_owned)
            .collect()
    }
    let mut found = Vec::new();
    let mut todo: Vec<Vec<String>> = subcommands(&[]).into_iter().map(|c| vec![c]).collect();
    while let Some(path) = todo.pop() {
        let words: Vec<&str> = path.iter().map(String::as_str).collect();
        let subs = subcommands(&words);
        if subs.is_empty() {
            let mut args = words.clone();
            args.push("--help");
            let help = String::from_utf8_lossy(&ocimg(&args).stdout).into_owned();
            if help.contains("--json") {
                found.push(path.join(" "));
            }
        } else {
            todo.extend(subs.into_iter().map(|s| {
                let mut p = path.clone();
                p.push(s);
                p
            }));
        }
    }
    assert!(found.len() > 15, "commands found: {found:?}");
    found.sort();
    found
}

#[test]
fn a_usage_error_with_json_prints_one_error_object_and_exits_2() {
    let out = ocimg(&["ls", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let value: Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    let message = value["error"].as_str().expect("an error message");
    assert!(message.contains("DIR"), "{message}");
    assert!(stderr(&out).contains("DIR"), "{}", stderr(&out));
    // Without --json nothing goes to stdout.
    let out = ocimg(&["ls"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    // After `--`, "--json" is an operand, not the flag.
    let out = ocimg(&["name", "parse", "--", "--json", "extra"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn report_commands_print_their_report_on_failure() {
    let dir = scratch("json-reports");
    let missing = dir.join("missing.json");
    let missing = path(&missing);
    // validate: the report lists the unreadable file with its error; exit 2.
    let out = ocimg(&["validate", "--json", "--kind", "manifest", missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let value: Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    assert_eq!(value[0]["file"], missing);
    assert_eq!(value[0]["valid"], false);
    assert!(value[0]["error"].is_string(), "{value}");
    // fsck: a damaged layout is a report with problems, exit 1.
    let layout = dir.join("layout");
    assert_eq!(ocimg(&["init", path(&layout)]).status.code(), Some(0));
    std::fs::write(layout.join("index.json"), b"{}").expect("write");
    let out = ocimg(&["fsck", "--json", path(&layout)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let value: Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    assert_eq!(value["ok"], false, "{value}");
    assert!(
        value["problems"].as_array().is_some_and(|p| !p.is_empty()),
        "{value}"
    );
    // digest: the files it could read (none here), exit 2.
    let out = ocimg(&["digest", "--json", missing]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let value: Value = serde_json::from_slice(&out.stdout).expect("one JSON value");
    assert_eq!(value, serde_json::json!([]));
}
