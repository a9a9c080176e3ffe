//! `cargo xtask conformance [--corpus DIR]`: the rule tables of REQUIREMENTS.md
//! (`conformance/rules.tsv`) and DISTRIBUTION.md (`conformance/distribution.tsv`) with the
//! status of every rule, from the repository's own vectors (`conformance/vectors/*.jsonl`,
//! run through the validator) and named tests (run with `cargo test`), then, with
//! `--corpus DIR`, agreement with an external vector corpus.
//!
//! Output, per table: a title line, one line per rule, `ID  LEVEL  STATUS  DETAIL`, STATUS
//! one of `pass`, `FAIL`, `deferred`, `n/a`; then `rules: N  pass: N  FAIL: N  deferred: N
//! n/a: N`. With a
//! corpus, one line per file, `FILE  N vectors: N agree, N disagree, N excused`, each
//! disagreement and excuse on its own indented line, then `corpus: ... ` totals.
//! Any FAIL or disagreement makes the task fail (exit 1).

mod corpus;
/// The distribution/reference corpus runner: oci-naming's test code (so that its
/// published package holds it), compiled here too.
#[path = "../../../oci-naming/tests/it/upstream.rs"]
mod reference;
mod rules;

use std::path::PathBuf;

/// The verdict on one corpus vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The vector's `id`.
    pub id: String,
    /// Agreement with the vector.
    pub status: Status,
}

/// Whether our code agrees with a vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Same verdict (and same fields, where the vector gives them).
    Agree,
    /// A different verdict; the text says what differs.
    Disagree(String),
    /// A different verdict that the spec prose allows; the text says why.
    Excused(String),
}

/// Runs the task; `Ok(false)` means a check failed.
pub fn run(args: &[String]) -> anyhow::Result<bool> {
    let mut corpus_dir: Option<PathBuf> = None;
    let mut skip_tests = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--corpus" => {
                let dir = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--corpus needs a directory"))?;
                corpus_dir = Some(PathBuf::from(dir));
            }
            "--no-tests" => skip_tests = true,
            other => anyhow::bail!(
                "unknown argument {other:?} (usage: cargo xtask conformance [--corpus DIR] [--no-tests])"
            ),
        }
    }
    let root = crate::project_root().join("conformance");
    let mut ok = rules::run(&root, skip_tests)?;
    if let Some(dir) = corpus_dir {
        println!();
        ok &= corpus::run(&dir)?;
    }
    Ok(ok)
}
