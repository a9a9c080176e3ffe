//! The rule tables (`conformance/rules.tsv` for the image-spec checklist,
//! `conformance/distribution.tsv` for the distribution-spec client checklist) and the
//! repository's own vectors (`conformance/vectors/*.jsonl`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
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

/// One rule table of `conformance/` and the checklist whose rule ids it must list.
#[derive(Debug, Clone, Copy)]
struct Table {
    /// The table's file name in `conformance/`.
    file: &'static str,
    /// What the checklist covers, for the report.
    title: &'static str,
    /// The checklist's file name in `../shared/conformance/`.
    checklist: &'static str,
    /// The environment variable that names the checklist elsewhere.
    env: &'static str,
    /// The first letters of the checklist's rule ids (`None`: any id).
    prefix: Option<&'static str>,
    /// Whether rows may be checked by the own vectors (`vectors`).
    vectors: bool,
}

/// The tables, in the order they are reported.
const TABLES: [Table; 2] = [
    Table {
        file: "rules.tsv",
        title: "image-spec",
        checklist: "REQUIREMENTS.md",
        env: "OCI_REQUIREMENTS",
        prefix: None,
        vectors: true,
    },
    Table {
        file: "distribution.tsv",
        title: "distribution-spec (client)",
        checklist: "DISTRIBUTION.md",
        env: "OCI_DISTRIBUTION",
        prefix: Some("R"),
        vectors: false,
    },
];

/// Parses a rule table; `file` names it in errors, `vectors` says whether `vectors` is a
/// check it may use.
fn parse_table(file: &str, text: &str, vectors: bool) -> anyhow::Result<Vec<Rule>> {
    let rules = parse_rules(text).with_context(|| format!("conformance/{file}"))?;
    if !vectors && let Some(r) = rules.iter().find(|r| r.check == Check::Vectors) {
        anyhow::bail!(
            "conformance/{file}: {} is checked by \"vectors\", but the own vectors check only image-spec rules (name tests instead)",
            r.id
        );
    }
    Ok(rules)
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
            anyhow::bail!("line {line_no}: expected 3 tab-separated columns");
        };
        let check = if check == "vectors" {
            Check::Vectors
        } else if let Some(rest) = check.strip_prefix("tests ") {
            let mut words = rest.split_whitespace();
            let krate = words
                .next()
                .with_context(|| format!("line {line_no}: tests needs a crate"))?
                .to_owned();
            let names: Vec<String> = words.map(str::to_owned).collect();
            anyhow::ensure!(!names.is_empty(), "line {line_no}: tests needs names");
            Check::Tests { krate, names }
        } else if let Some(rest) = check.strip_prefix("deferred: ") {
            Check::Deferred(rest.to_owned())
        } else if let Some(rest) = check.strip_prefix("n/a: ") {
            Check::NotApplicable(rest.to_owned())
        } else {
            anyhow::bail!("line {line_no}: unknown check {check:?}");
        };
        anyhow::ensure!(
            seen.insert(id.to_owned()),
            "line {line_no}: {id} listed twice"
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

/// The rule ids a checklist's tables list: the first cell of every table row that looks
/// like an id (an uppercase letter, then uppercase letters and digits, with a digit), and,
/// with `prefix`, starts with it.
fn checklist_ids(text: &str, prefix: Option<&str>) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let id = line.strip_prefix("| ")?.split(' ').next()?;
            let ok = id.len() >= 2
                && id.as_bytes()[0].is_ascii_uppercase()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                && id.bytes().any(|b| b.is_ascii_digit())
                && prefix.is_none_or(|p| id.starts_with(p));
            ok.then(|| id.to_owned())
        })
        .collect()
}

/// The checklist of `table`, when it is found (named by its environment variable, or
/// beside the repository in `../shared/conformance/`): its path and rule ids.
fn find_checklist(table: &Table) -> anyhow::Result<Option<(PathBuf, Vec<String>)>> {
    let path = match std::env::var_os(table.env) {
        Some(path) => PathBuf::from(path),
        None => crate::project_root()
            .join("../shared/conformance")
            .join(table.checklist),
    };
    if !path.is_file() {
        // A variable that names a missing file is a mistake; a missing default is not.
        anyhow::ensure!(
            std::env::var_os(table.env).is_none(),
            "{} names {}, which is not a file",
            table.env,
            path.display()
        );
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(Some((path, checklist_ids(&text, table.prefix))))
}

/// Compares a table's ids with its checklist's: the checklist ids without a row, and the
/// rows whose id the checklist does not have, each in the order they appear.
fn compare_ids<'a>(rules: &'a [Rule], checklist: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
    let listed: BTreeSet<&str> = rules.iter().map(|r| r.id.as_str()).collect();
    let known: BTreeSet<&str> = checklist.iter().map(String::as_str).collect();
    let missing = checklist
        .iter()
        .map(String::as_str)
        .filter(|id| !listed.contains(id))
        .collect();
    let unknown = rules
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !known.contains(id))
        .collect();
    (missing, unknown)
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

/// Per-table counts of rule statuses.
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    pass: usize,
    fail: usize,
    deferred: usize,
    na: usize,
    skipped: usize,
}

/// The status and detail of one rule, given the vector results by rule and the tests
/// that passed by crate (`None`: tests were skipped).
fn status_of(
    rule: &Rule,
    by_rule: &BTreeMap<&str, (usize, Vec<String>)>,
    passed: Option<&BTreeMap<String, BTreeSet<String>>>,
) -> (&'static str, String) {
    match &rule.check {
        Check::Vectors => match by_rule.get(rule.id.as_str()) {
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
        Check::Tests { krate, names } => match passed {
            None => ("skipped", format!("{krate}: {}", names.join(", "))),
            Some(passed) => {
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
        },
        Check::Deferred(why) => ("deferred", why.clone()),
        Check::NotApplicable(why) => ("n/a", why.clone()),
    }
}

/// Prints one table's rules and its coverage line; returns the counts.
fn report(
    table: &Table,
    rules: &[Rule],
    by_rule: &BTreeMap<&str, (usize, Vec<String>)>,
    passed: Option<&BTreeMap<String, BTreeSet<String>>>,
) -> Counts {
    let mut counts = Counts::default();
    println!("{} rules (conformance/{}):", table.title, table.file);
    println!("{:<5} {:<12} {:<8} DETAIL", "RULE", "LEVEL", "STATUS");
    for r in rules {
        let (status, detail) = status_of(r, by_rule, passed);
        match status {
            "pass" => counts.pass += 1,
            "FAIL" => counts.fail += 1,
            "deferred" => counts.deferred += 1,
            "n/a" => counts.na += 1,
            _ => counts.skipped += 1,
        }
        println!("{:<5} {:<12} {:<8} {detail}", r.id, r.level, status);
    }
    println!(
        "rules: {}  pass: {}  FAIL: {}  deferred: {}  n/a: {}{}",
        rules.len(),
        counts.pass,
        counts.fail,
        counts.deferred,
        counts.na,
        if counts.skipped > 0 {
            format!("  skipped: {}", counts.skipped)
        } else {
            String::new()
        }
    );
    counts
}

/// Prints every rule table; returns whether every checked rule passed.
pub fn run(root: &Path, skip_tests: bool) -> anyhow::Result<bool> {
    let mut ok = true;
    let mut tables = Vec::new();
    for table in TABLES {
        let path = root.join(table.file);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let rules = parse_table(table.file, &text, table.vectors)?;
        match find_checklist(&table)? {
            Some((checklist, ids)) => {
                let (missing, unknown) = compare_ids(&rules, &ids);
                if !missing.is_empty() {
                    println!(
                        "FAIL: rules of {} missing from conformance/{}: {missing:?}",
                        checklist.display(),
                        table.file
                    );
                    ok = false;
                }
                if !unknown.is_empty() {
                    println!(
                        "FAIL: rows of conformance/{} that {} does not have: {unknown:?}",
                        table.file,
                        checklist.display()
                    );
                    ok = false;
                }
            }
            None => println!(
                "note: {} not found beside the repository (or by {}); completeness of conformance/{} not checked",
                table.checklist, table.env, table.file
            ),
        }
        tables.push((table, rules));
    }

    // Own vectors, by rule (image-spec rules only).
    let vectors = load_vectors(&root.join("vectors"))?;
    let image_rules = &tables[0].1;
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
                image_rules.iter().any(|r| &r.id == rule),
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

    // Named tests of every table, one cargo run per crate.
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, rules) in &tables {
        for r in rules {
            if let Check::Tests { krate, names } = &r.check {
                wanted
                    .entry(krate.clone())
                    .or_default()
                    .extend(names.iter().cloned());
            }
        }
    }
    let passed = if skip_tests {
        None
    } else {
        let mut passed = BTreeMap::new();
        for (krate, names) in &wanted {
            passed.insert(krate.clone(), run_tests(krate, names)?);
        }
        Some(passed)
    };

    for (i, (table, rules)) in tables.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let counts = report(table, rules, &by_rule, passed.as_ref());
        ok &= counts.fail == 0;
    }
    println!("own vectors: {}  failed: {vector_failures}", vectors.len());
    Ok(ok)
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
    fn distribution_table_takes_no_vectors() {
        let err = parse_table("distribution.tsv", "R1\tMUST\tvectors\n", false)
            .expect_err("vectors refused");
        assert!(format!("{err:#}").contains("R1"), "{err:#}");
        let rules = parse_table(
            "distribution.tsv",
            "R1\tMUST\tdeferred: issue 10\nR2\tMUST\ttests oci-registry a::b\n",
            false,
        )
        .expect("parses");
        assert_eq!(rules.len(), 2);
        let err = parse_table("distribution.tsv", "R1\tMUST\tsoon\n", false).expect_err("bad");
        assert!(
            format!("{err:#}").starts_with("conformance/distribution.tsv: line 1"),
            "{err:#}"
        );
    }

    #[test]
    fn checklist_ids_come_from_table_rows_with_the_prefix() {
        let text = "# Title\n\n| # | Rule | Level | Who |\n|---|---|---|---|\n\
                    | R1 | a rule | MUST | client |\n| R12 | another | SHOULD | both |\n\
                    | D3 | not ours | MUST | x |\n| Rx | no digit | MUST | x |\n";
        assert_eq!(checklist_ids(text, Some("R")), ["R1", "R12"]);
        assert_eq!(checklist_ids(text, None), ["R1", "R12", "D3"]);
    }

    #[test]
    fn completeness_is_checked_both_ways() {
        let rules = parse_rules("R1\tMUST\tdeferred: x\nR3\tMUST\tdeferred: x\n").expect("parses");
        let checklist = ["R1".to_owned(), "R2".to_owned()];
        assert_eq!(compare_ids(&rules, &checklist), (vec!["R2"], vec!["R3"]));
        let full = ["R1".to_owned(), "R3".to_owned()];
        assert_eq!(compare_ids(&rules, &full), (vec![], vec![]));
    }

    #[test]
    fn named_tests_pass_only_when_every_one_passed() {
        let rules = parse_rules(
            "R1\tMUST\ttests oci-registry a::one a::two\nR2\tMUST\tdeferred: issue 10\n",
        )
        .expect("parses");
        let none = BTreeMap::new();
        let mut passed = BTreeMap::new();
        passed.insert(
            "oci-registry".to_owned(),
            BTreeSet::from(["a::one".to_owned()]),
        );
        let (status, detail) = status_of(&rules[0], &none, Some(&passed));
        assert_eq!(status, "FAIL", "{detail}");
        assert!(detail.contains("a::two"), "{detail}");
        passed
            .get_mut("oci-registry")
            .expect("entry")
            .insert("a::two".to_owned());
        assert_eq!(status_of(&rules[0], &none, Some(&passed)).0, "pass");
        assert_eq!(status_of(&rules[0], &none, None).0, "skipped");
        assert_eq!(status_of(&rules[1], &none, Some(&passed)).0, "deferred");
    }

    #[test]
    fn repository_distribution_table_lists_every_rule() {
        let table = TABLES[1];
        let root = crate::project_root().join("conformance");
        let text = std::fs::read_to_string(root.join(table.file)).expect("distribution.tsv");
        let rules = parse_table(table.file, &text, table.vectors).expect("parses");
        match find_checklist(&table).expect("checklist readable") {
            Some((path, ids)) => {
                let (missing, unknown) = compare_ids(&rules, &ids);
                assert!(
                    missing.is_empty() && unknown.is_empty(),
                    "{}: missing rows {missing:?}, unknown rows {unknown:?}",
                    path.display()
                );
            }
            // Without the checklist, the ids still run R1, R2, ... without a gap.
            None => {
                let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
                let expected: Vec<String> = (1..=ids.len()).map(|n| format!("R{n}")).collect();
                assert_eq!(ids, expected);
                assert!(ids.len() >= 120, "{} rows", ids.len());
            }
        }
    }

    #[test]
    fn hex() {
        assert_eq!(decode_hex("00ff 7b"), Some(vec![0, 255, 123]));
        assert_eq!(decode_hex("0"), None);
        assert_eq!(decode_hex("zz"), None);
    }
}
