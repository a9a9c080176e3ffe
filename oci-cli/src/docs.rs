//! The command reference, generated from the clap definitions so that it cannot drift:
//! man pages (`docs/man/ocimg.1` and one per subcommand, through clap_mangen) and
//! `docs/reference.md` (every command's `--help`, and the environment variables).
//!
//! The test `docs::reference_is_current` fails when the checked-in files differ from what
//! the definitions give; `cargo xtask docs` (or `OCIMG_BLESS=1` on that test) rewrites them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;

/// The environment variables ocimg reads, as the reference lists them.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "CONTAINERS_REGISTRIES_CONF",
        "registries.conf to use for rewrites, mirrors, `blocked` and `insecure` when \
         `--registries-conf` is not given (then the system file).",
    ),
    (
        "REGISTRY_AUTH_FILE",
        "credentials file when `--authfile` is not given (then \
         `${XDG_RUNTIME_DIR}/containers/auth.json`, then `~/.docker/config.json`).",
    ),
    (
        "SOURCE_DATE_EPOCH",
        "seconds since the epoch used as the creation time of images and layer entries \
         (`build`, `config`, `layer create`) when `--source-date-epoch` is not given: \
         the manifest digest is then reproducible.",
    ),
    (
        "NO_COLOR",
        "when set to a non-empty value, no colour in messages and logs.",
    ),
    (
        "OCIMG_LOG",
        "log filter for standard error (`debug` does what `--debug` does; \
         tracing's `EnvFilter` syntax, for example `oci_registry=debug`).",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
        "proxies for https and http requests, and the hosts that bypass them \
         (lower-case spellings are read too).",
    ),
];

/// Every generated file, by its path relative to the repository root.
fn generate() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut cmd = crate::Cli::command();
    cmd.build();
    let mut files = BTreeMap::new();
    files.insert(
        PathBuf::from("docs/reference.md"),
        markdown(&cmd).into_bytes(),
    );
    man_pages(&cmd, "ocimg", &mut files);
    files
}

/// `ocimg.1`, then `ocimg-SUB.1` (and `ocimg-SUB-SUBSUB.1`) for every subcommand.
fn man_pages(cmd: &clap::Command, name: &str, files: &mut BTreeMap<PathBuf, Vec<u8>>) {
    // After `build()`, a subcommand's display name is already `ocimg-SUB`: the page title.
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .expect("rendering into memory does not fail");
    files.insert(
        PathBuf::from(format!("docs/man/{name}.1")),
        examples_section(&String::from_utf8(out).expect("roff is UTF-8")).into_bytes(),
    );
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        man_pages(sub, &format!("{name}-{}", sub.get_name()), files);
    }
}

/// clap_mangen puts `after_help` in an `EXTRA` section that roff fills like prose; the
/// examples become an `EXAMPLES` section printed line for line (`.nf` ... `.fi`).
fn examples_section(page: &str) -> String {
    const EXTRA: &str = ".SH EXTRA\nExamples:\n";
    let Some(start) = page.find(EXTRA) else {
        return page.to_owned();
    };
    let body_start = start + EXTRA.len();
    let body_end = page[body_start..]
        .find("\n.SH ")
        .map_or(page.len(), |at| body_start + at + 1);
    format!(
        "{}.SH EXAMPLES\n.nf\n{}.fi\n{}",
        &page[..start],
        &page[body_start..body_end],
        &page[body_end..]
    )
}

fn markdown(cmd: &clap::Command) -> String {
    let mut out = String::new();
    out.push_str(
        "# `ocimg` command reference\n\n\
         <!-- Generated from the clap definitions by `cargo xtask docs`; do not edit. -->\n\n\
         Exit codes: 0 success, 1 a check failed, 2 a usage, file or network error \
         (see CLI.md for the JSON shapes). Man pages: [`docs/man/`](man/).\n\n\
         ## Commands\n\n",
    );
    let mut all = Vec::new();
    collect(cmd, &mut all);
    for (path, sub) in &all {
        let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
        let anchor = path.replace(' ', "-");
        let _ = writeln!(out, "- [`{path}`](#{anchor}): {about}");
    }
    out.push_str("\n## Environment\n\n");
    for (name, what) in ENVIRONMENT {
        let _ = writeln!(out, "- `{name}`: {what}");
    }
    for (path, sub) in &all {
        let help = (*sub).clone().render_long_help().to_string();
        let help: Vec<&str> = help.lines().map(str::trim_end).collect();
        let _ = write!(
            out,
            "\n## {path}\n\n```text\n{}\n```\n",
            help.join("\n").trim()
        );
    }
    out
}

/// Every command with its full path (`ocimg`, `ocimg name`, `ocimg name parse`, ...).
fn collect<'a>(cmd: &'a clap::Command, out: &mut Vec<(String, &'a clap::Command)>) {
    let path = cmd.get_bin_name().unwrap_or(cmd.get_name()).to_owned();
    out.push((path, cmd));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() != "help" {
            collect(sub, out);
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("oci-cli lives one level below the root")
}

#[test]
fn reference_is_current() {
    let files = generate();
    let bless = std::env::var_os("OCIMG_BLESS").is_some_and(|v| v == "1");
    let man = root().join("docs/man");
    if bless {
        if man.exists() {
            std::fs::remove_dir_all(&man).expect("remove docs/man");
        }
        for (path, bytes) in &files {
            let path = root().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write the reference");
        }
        return;
    }
    let mut stale = Vec::new();
    for (path, bytes) in &files {
        if std::fs::read(root().join(path)).ok().as_deref() != Some(&bytes[..]) {
            stale.push(path.display().to_string());
        }
    }
    // A page whose command is gone is stale too.
    for entry in std::fs::read_dir(&man).into_iter().flatten().flatten() {
        let path = PathBuf::from("docs/man").join(entry.file_name());
        if !files.contains_key(&path) {
            stale.push(format!("{} (no such command)", path.display()));
        }
    }
    assert!(
        stale.is_empty(),
        "the command reference is stale; run `cargo xtask docs` and commit the result:\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_command_is_in_the_reference_and_has_a_man_page() {
    let files = generate();
    let reference =
        String::from_utf8(files[Path::new("docs/reference.md")].clone()).expect("UTF-8 reference");
    let mut cmd = crate::Cli::command();
    cmd.build();
    let mut all = Vec::new();
    collect(&cmd, &mut all);
    assert!(all.len() > 10, "subcommands are found: {}", all.len());
    for (path, _) in &all {
        assert!(reference.contains(&format!("\n## {path}\n")), "{path}");
        let page = PathBuf::from(format!("docs/man/{}.1", path.replace(' ', "-")));
        let roff = String::from_utf8_lossy(&files[&page]);
        assert!(
            roff.contains(".SH EXAMPLES\n.nf\n") && !roff.contains(".SH EXTRA"),
            "{}: the examples are an EXAMPLES section printed line for line",
            page.display()
        );
    }
    for (name, _) in ENVIRONMENT {
        assert!(reference.contains(name), "{name}");
    }
}

/// The command lines of a command's examples: the lines of its `after_help` below
/// `Examples:` that are not `#` comments, each cut to the `ocimg ...` part (before a
/// `|`, `>` or `&&` that hands its output on) and split into words as a shell would.
fn example_command_lines(cmd: &clap::Command) -> Option<Vec<(String, Vec<String>)>> {
    let help = cmd.get_after_help()?.to_string();
    let (_, examples) = help.split_once("Examples:\n")?;
    let mut lines = Vec::new();
    for line in examples.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(start) = line.find("ocimg ") else {
            continue;
        };
        let mut command = &line[start..];
        for end in [" | ", " > ", " && "] {
            if let Some(at) = command.find(end) {
                command = &command[..at];
            }
        }
        lines.push((command.to_owned(), shell_words(command)));
    }
    Some(lines)
}

/// Splits a command line into words: whitespace separates, single quotes keep everything,
/// double quotes keep everything but a backslash before `"` or `\\`.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                w.extend(chars.by_ref().take_while(|&c| c != '\''));
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => w.extend(chars.next()),
                        c => w.push(c),
                    }
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

#[test]
fn shell_words_follow_the_quotes() {
    assert_eq!(
        shell_words(r#"ocimg build a:b --cmd '["/bin/sh","-c"]' --env "K=a b\"c""#),
        [
            "ocimg",
            "build",
            "a:b",
            "--cmd",
            r#"["/bin/sh","-c"]"#,
            "--env",
            r#"K=a b"c"#
        ]
    );
}

/// Every command's `--help` ends with examples that run it, and each example parses:
/// a new subcommand without them fails here with what to add.
#[test]
fn every_command_has_examples_that_parse() {
    let mut cmd = crate::Cli::command();
    cmd.build();
    let mut all = Vec::new();
    collect(&cmd, &mut all);
    let mut problems = Vec::new();
    for (path, sub) in &all {
        let Some(examples) = example_command_lines(sub).filter(|e| !e.is_empty()) else {
            problems.push(format!(
                "`{path}` has no example in its --help. Add to the clap struct of its arguments \
                 (the `#[derive(clap::Args)]` struct of the subcommand, beside the other \
                 commands' ones in oci-cli/src/cmd/):\n\
                 \x20   #[command(after_help = \"Examples:\n  # what it does (optional)\n  {path} ARGS...\")]\n\
                 with one or more lines that each run `{path} ...` and parse, then run \
                 `cargo xtask docs` and commit docs/."
            ));
            continue;
        };
        for (line, words) in examples {
            if !line.starts_with(&format!("{path} ")) {
                problems.push(format!(
                    "`{path}`: the example `{line}` does not run `{path}`; every example line \
                     of a command starts with the command itself"
                ));
                continue;
            }
            if let Err(e) = crate::Cli::command().try_get_matches_from(&words) {
                let e = e.render().to_string();
                let reason = e.lines().next().unwrap_or_default();
                problems.push(format!(
                    "`{path}`: the example `{line}` does not parse: {reason}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
