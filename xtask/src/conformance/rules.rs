//! The rule table (`conformance/rules.tsv`) and the repository's own vectors
//! (`conformance/vectors/*.jsonl`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::Context as _;
use oci_spec_types::validate::{self, Kind};
use serde::Deserialize;

/// How a rule is checked, from the third column of rules.tsv.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// By the own vectors that name the rule.
    Vectors,
    /// By named tests of a crate's `it` test binary.
    Tests { krate: String, names: Vec<String> },
    /// Later, in the issue named.
    Deferred(String),
    /// Not checkable, for the reason given.
    NotApplicable(String),
}

#[derive(Debug, Clone)]
struct Rule {
    id: String,
    level: String,
    check: Check,
}

fn parse_rules(text: &str) -> anyhow::Result<Vec<Rule>> {
    let mut rules = Vec::new();
    let mut seen = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with("id\t") {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [id, level, check] = cols[..] else {
            anyhow::bail!("rules.tsv line {line_no}: expected 3 tab-separated columns");
        };
        let check = if check == "vectors" {
            Check::Vectors
        } else if let Some(rest) = check.strip_prefix("tests ") {
            let mut words = rest.split_whitespace();
            let krate = words
                .next()
                .with_context(|| format!("rules.tsv line {line_no}: tests needs a crate"))?
                .to_owned();
            let names: Vec<String> = words.map(str::to_owned).collect();
            anyhow::ensure!(
                !names.is_empty(),
                "rules.tsv line {line_no}: tests needs names"
            );
            Check::Tests { krate, names }
        } else if let Some(rest) = check.strip_prefix("deferred: ") {
            Check::Deferred(rest.to_owned())
        } else if let Some(rest) = check.strip_prefix("n/a: ") {
            Check::NotApplicable(rest.to_owned())
        } else {
            anyhow::bail!("rules.tsv line {line_no}: unknown check {check:?}");
        };
        anyhow::ensure!(
            seen.insert(id.to_owned()),
            "rules.tsv line {line_no}: {id} listed twice"
        );
        rules.push(Rule {
            id: id.to_owned(),
            level: level.to_owned(),
            check,
        });
    }
    Ok(rules)
}

/// One of the repository's own vectors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    id: String,
    kind: String,
    /// The rules this vector checks.
    rules: Vec<String>,
    /// Expected verdict.
    valid: bool,
    /// The exact set of rule ids the validator must report (errors and warnings).
    expect: Vec<String>,
    /// The document as JSON (serialized compactly), or ...
    doc: Option<serde_json::Value>,
    /// ... the exact text, or ...
    raw: Option<String>,
    /// ... the exact bytes in hex (for input that is not UTF-8).
    raw_hex: Option<String>,
    why: String,
}

impl Vector {
    fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        match (&self.doc, &self.raw, &self.raw_hex) {
            (Some(doc), None, None) => Ok(serde_json::to_vec(doc)?),
            (None, Some(raw), None) => Ok(raw.clone().into_bytes()),
            (None, None, Some(hex)) => {
                decode_hex(hex).with_context(|| format!("vector {}: raw_hex is not hex", self.id))
            }
            _ => anyhow::bail!("vector {}: give exactly one of doc, raw, raw_hex", self.id),
        }
    }

    /// Runs the vector; `Err` says how the validator disagreed.
    fn run(&self) -> anyhow::Result<Result<(), String>> {
        anyhow::ensure!(!self.why.is_empty(), "vector {}: why is empty", self.id);
        let kind = Kind::from_name(&self.kind)
            .with_context(|| format!("vector {}: unknown kind {:?}", self.id, self.kind))?;
        let report = validate::validate(kind, &self.bytes()?);
        let mut expect: Vec<&str> = self.expect.iter().map(String::as_str).collect();
        expect.sort_unstable();
        expect.dedup();
        let got = report.rules();
        if report.is_valid() != self.valid || got != expect {
            let found: Vec<String> = report
                .violations
                .iter()
                .map(|v| format!("{} {} {}", v.pointer, v.rule, v.level))
                .collect();
            return Ok(Err(format!(
                "expected valid={} rules {expect:?}, got valid={} [{}]",
                self.valid,
                report.is_valid(),
                found.join("; ")
            )));
        }
        Ok(Ok(()))
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}

fn load_vectors(dir: &Path) -> anyhow::Result<Vec<Vector>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut vectors = Vec::new();
    let mut ids = BTreeSet::new();
    for file in files {
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let v: Vector = serde_json::from_str(line)
                .with_context(|| format!("{} line {}", file.display(), n + 1))?;
            anyhow::ensure!(
                ids.insert(v.id.clone()),
                "{}: duplicate vector id {}",
                file.display(),
                v.id
            );
            vectors.push(v);
        }
    }
    Ok(vectors)
}

/// The rule ids of REQUIREMENTS.md, when it is found beside the repository.
fn requirement_ids() -> Option<(std::path::PathBuf, Vec<String>)> {
    let candidates = [
        std::env::var_os("OCI_REQUIREMENTS").map(std::path::PathBuf::from),
        Some(crate::project_root().join("../shared/conformance/REQUIREMENTS.md")),
    ];
    let path = candidates.into_iter().flatten().find(|p| p.is_file())?;
    let text = std::fs::read_to_string(&path).ok()?;
    let ids = text
        .lines()
        .filter_map(|line| {
            let id = line.strip_prefix("| ")?.split(' ').next()?;
            let ok = id.len() >= 2
                && id.as_bytes()[0].is_ascii_uppercase()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && id.bytes().any(|b| b.is_ascii_digit());
            ok.then(|| id.to_owned())
        })
        .collect();
    Some((path, ids))
}

/// Runs named tests of one crate; returns the names that passed.
fn run_tests(krate: &str, names: &BTreeSet<String>) -> anyhow::Result<BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(crate::project_root())
        .args(["test", "-p", krate, "--test", "it", "--"])
        .arg("--exact")
        .args(names)
        .output()
        .with_context(|| format!("run cargo test -p {krate}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() && !stdout.contains("test result:") {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    let passed = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... ok"))
        .map(str::to_owned)
        .collect();
    Ok(passed)
}

/// Prints the rule table; returns whether every checked rule passed.
pub fn run(root: &Path, skip_tests: bool) -> anyhow::Result<bool> {
    let table = root.join("rules.tsv");
    let rules = parse_rules(
        &std::fs::read_to_string(&table).with_context(|| format!("read {}", table.display()))?,
    )?;
    let mut ok = true;
    if let Some((path, ids)) = requirement_ids() {
        let listed: BTreeSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !listed.contains(id.as_str()))
            .collect();
        if !missing.is_empty() {
            println!(
                "FAIL: rules of {} missing from rules.tsv: {missing:?}",
                path.display()
            );
            ok = false;
        }
    } else {
        println!(
            "note: REQUIREMENTS.md not found beside the repository; completeness of rules.tsv not checked"
        );
    }

    // Own vectors, by rule.
    let vectors = load_vectors(&root.join("vectors"))?;
    let mut by_rule: BTreeMap<&str, (usize, Vec<String>)> = BTreeMap::new();
    let mut vector_failures = 0;
    for v in &vectors {
        let result = v.run()?;
        if let Err(why) = &result {
            vector_failures += 1;
            println!("vector {} FAILED: {why}", v.id);
        }
        for rule in &v.rules {
            anyhow::ensure!(
                rules.iter().any(|r| &r.id == rule),
                "vector {} names rule {rule}, which rules.tsv does not list",
                v.id
            );
            let entry = by_rule.entry(rule.as_str()).or_default();
            entry.0 += 1;
            if result.is_err() {
                entry.1.push(v.id.clone());
            }
        }
    }
    if vector_failures > 0 {
        ok = false;
    }

    // Named tests, one cargo run per crate.
    let mut wanted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &rules {
        if let Check::Tests { krate, names } = &r.check {
            wanted
                .entry(krate)
                .or_default()
                .extend(names.iter().cloned());
        }
    }
    let mut passed: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    if !skip_tests {
        for (krate, names) in &wanted {
            passed.insert(krate, run_tests(krate, names)?);
        }
    }

    let (mut n_pass, mut n_fail, mut n_deferred, mut n_na, mut n_skipped) = (0, 0, 0, 0, 0);
    println!("{:<5} {:<12} {:<8} DETAIL", "RULE", "LEVEL", "STATUS");
    for r in &rules {
        let (status, detail) = match &r.check {
            Check::Vectors => match by_rule.get(r.id.as_str()) {
                None => ("FAIL", "no vector names this rule".to_owned()),
                Some((n, failed)) if failed.is_empty() => ("pass", format!("{n} vectors")),
                Some((n, failed)) => (
                    "FAIL",
                    format!(
                        "{} of {n} vectors fail: {}",
                        failed.len(),
                        failed.join(", ")
                    ),
                ),
            },
            Check::Tests { krate, names } if skip_tests => {
                n_skipped += 1;
                ("skipped", format!("{krate}: {}", names.join(", ")))
            }
            Check::Tests { krate, names } => {
                let got = passed.get(krate.as_str());
                let failed: Vec<&String> = names
                    .iter()
                    .filter(|n| !got.is_some_and(|g| g.contains(*n)))
                    .collect();
                if failed.is_empty() {
                    ("pass", format!("{} tests in {krate}", names.len()))
                } else {
                    ("FAIL", format!("{krate}: failed or not found: {failed:?}"))
                }
            }
            Check::Deferred(why) => ("deferred", why.clone()),
            Check::NotApplicable(why) => ("n/a", why.clone()),
        };
        match status {
            "pass" => n_pass += 1,
            "FAIL" => n_fail += 1,
            "deferred" => n_deferred += 1,
            "n/a" => n_na += 1,
            _ => {}
        }
        println!("{:<5} {:<12} {:<8} {detail}", r.id, r.level, status);
    }
    println!(
        "rules: {}  pass: {n_pass}  FAIL: {n_fail}  deferred: {n_deferred}  n/a: {n_na}{}",
        rules.len(),
        if n_skipped > 0 {
            format!("  skipped: {n_skipped}")
        } else {
            String::new()
        }
    );
    println!("own vectors: {}  failed: {vector_failures}", vectors.len());
    Ok(ok && n_fail == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_check_form() {
        let rules = parse_rules(
            "# comment\nid\tlevel\tcheck\nD3\tMUST\tvectors\nD6\tSHOULD\ttests oci-digest a::b c::d\nY1\tMUST\tdeferred: issue 3\nD1\tSHOULD\tn/a: advice\n",
        )
        .expect("parses");
        let checks: Vec<&Check> = rules.iter().map(|r| &r.check).collect();
        assert_eq!(
            checks,
            [
                &Check::Vectors,
                &Check::Tests {
                    krate: "oci-digest".to_owned(),
                    names: vec!["a::b".to_owned(), "c::d".to_owned()]
                },
                &Check::Deferred("issue 3".to_owned()),
                &Check::NotApplicable("advice".to_owned()),
            ]
        );
        assert!(parse_rules("D3\tMUST\n").is_err());
        assert!(parse_rules("D3\tMUST\tmaybe\n").is_err());
        assert!(parse_rules("D3\tMUST\tvectors\nD3\tMUST\tvectors\n").is_err());
        assert!(parse_rules("D6\tSHOULD\ttests oci-digest\n").is_err());
    }

    #[test]
    fn repository_table_and_vectors_load() {
        let root = crate::project_root().join("conformance");
        let text = std::fs::read_to_string(root.join("rules.tsv")).expect("rules.tsv");
        let rules = parse_rules(&text).expect("rules.tsv parses");
        assert!(rules.len() > 150, "{}", rules.len());
        let vectors = load_vectors(&root.join("vectors")).expect("vectors load");
        for v in &vectors {
            assert_eq!(v.run().expect("runs"), Ok(()), "{}", v.id);
        }
    }

    #[test]
    fn hex() {
        assert_eq!(decode_hex("00ff 7b"), Some(vec![0, 255, 123]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
