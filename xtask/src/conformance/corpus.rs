//! An external corpus of JSON Lines vectors (see the corpus README for the fields): every
//! document vector through the validator, digest vectors through `Digest::parse` and
//! `oci_digest::Digester`, ChainID vectors through `oci_digest::chain_ids`, reference
//! vectors through [`super::reference::run_corpus`].

use std::path::Path;

use anyhow::Context as _;
use oci_spec_types::digest::{Algorithm, Digest};
use oci_spec_types::validate::{self, Kind};
use serde_json::Value;

use super::{Outcome, Status, reference};

/// Vectors where our verdict differs from the corpus and the prose allows ours.
const EXCUSES: &[(&str, bool, &str)] = &[
    (
        "manifest-005",
        true,
        "empty layers: manifest.md says only SHOULD have one entry (M14), so a warning, not an error; the schema's minItems 1 is stricter than the prose",
    ),
    (
        "config-009",
        true,
        "Env entry without '=': config.md has no MUST for the form (C13), so a warning; the Go validator's regex is stricter than the prose",
    ),
];

fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), n + 1))
        })
        .collect()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or("?").to_owned()
}

fn document(v: &Value) -> anyhow::Result<Outcome> {
    let id = id_of(v);
    let kind_name = v["kind"].as_str().context("kind is not a string")?;
    let kind =
        Kind::from_name(kind_name).with_context(|| format!("{id}: unknown kind {kind_name}"))?;
    let expected = v["valid"]
        .as_bool()
        .with_context(|| format!("{id}: valid is not a boolean"))?;
    let bytes = match v["raw"].as_str() {
        Some(raw) => raw.as_bytes().to_vec(),
        None => serde_json::to_vec(&v["doc"])?,
    };
    let report = validate::validate(kind, &bytes);
    let got = report.is_valid();
    let status = if got == expected {
        Status::Agree
    } else if let Some((_, _, why)) = EXCUSES
        .iter()
        .find(|(e, verdict, _)| *e == id && *verdict == got)
    {
        Status::Excused((*why).to_owned())
    } else {
        let errors: Vec<String> = report
            .errors()
            .map(|e| format!("{} {}: {}", e.pointer, e.rule, e.message))
            .collect();
        Status::Disagree(format!(
            "expected valid={expected}, got valid={got} [{}]",
            errors.join("; ")
        ))
    };
    Ok(Outcome { id, status })
}

fn digest(v: &Value) -> anyhow::Result<Outcome> {
    let id = id_of(v);
    let status = if v["op"].as_str() == Some("compute") {
        let name = v["algorithm"]
            .as_str()
            .context("algorithm is not a string")?;
        let algorithm = Algorithm::from_name(name)
            .with_context(|| format!("{id}: unknown algorithm {name}"))?;
        let content = v["content_utf8"]
            .as_str()
            .with_context(|| format!("{id}: no content_utf8"))?;
        let expected = v["expected"]
            .as_str()
            .with_context(|| format!("{id}: no expected"))?;
        let got = oci_digest::Digester::digest_bytes(algorithm, content.as_bytes()).digest;
        if got.as_str() == expected {
            Status::Agree
        } else {
            Status::Disagree(format!("expected {expected}, computed {}", got.as_str()))
        }
    } else {
        let input = v["input"]
            .as_str()
            .with_context(|| format!("{id}: input is not a string"))?;
        let expected = v["valid"]
            .as_bool()
            .with_context(|| format!("{id}: valid is not a boolean"))?;
        match (Digest::parse(input), expected) {
            (Ok(_), true) | (Err(_), false) => Status::Agree,
            (Ok(_), false) => Status::Disagree(format!("{input:?} parsed but is invalid")),
            (Err(e), true) => Status::Disagree(format!("{input:?} refused but is valid: {e}")),
        }
    };
    Ok(Outcome { id, status })
}

fn chainid(v: &Value) -> anyhow::Result<Outcome> {
    let id = id_of(v);
    let strings = |key: &str| -> anyhow::Result<Vec<String>> {
        match &v[key] {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("{id}: {key} holds a non-string"))
                })
                .collect(),
            _ => anyhow::bail!("{id}: {key} is not an array"),
        }
    };
    let diff_ids = strings("diff_ids")?;
    let expected_chain = strings("expected_chain")?;
    let expected_id = v["expected_chainid"]
        .as_str()
        .with_context(|| format!("{id}: no expected_chainid"))?;
    let chain = oci_digest::chain_ids(&diff_ids);
    let chain_id = oci_digest::chain_id(&diff_ids).unwrap_or_default();
    let status = if chain == expected_chain && chain_id == expected_id {
        Status::Agree
    } else {
        Status::Disagree(format!(
            "expected {expected_chain:?} / {expected_id:?}, computed {chain:?} / {chain_id:?}"
        ))
    };
    Ok(Outcome { id, status })
}

/// The check of one vector.
type Check = fn(&Value) -> anyhow::Result<Outcome>;

/// Runs every file of the corpus; returns whether there was no disagreement or error.
pub fn run(dir: &Path) -> anyhow::Result<bool> {
    println!("corpus {}", dir.display());
    let files: [(&str, Check); 7] = [
        ("descriptor.jsonl", document),
        ("manifest.jsonl", document),
        ("index.jsonl", document),
        ("config.jsonl", document),
        ("layout.jsonl", document),
        ("digest.jsonl", digest),
        ("chainid.jsonl", chainid),
    ];
    let mut ok = true;
    let (mut total, mut agree, mut disagree, mut excused) = (0, 0, 0, 0);
    let mut report = |file: &str, result: anyhow::Result<Vec<Outcome>>| match result {
        Ok(outcomes) => {
            let a = outcomes
                .iter()
                .filter(|o| o.status == Status::Agree)
                .count();
            let d = outcomes
                .iter()
                .filter(|o| matches!(o.status, Status::Disagree(_)))
                .count();
            let e = outcomes
                .iter()
                .filter(|o| matches!(o.status, Status::Excused(_)))
                .count();
            println!(
                "  {file:<18} {:>4} vectors: {a} agree, {d} disagree, {e} excused",
                outcomes.len()
            );
            for o in &outcomes {
                match &o.status {
                    Status::Agree => {}
                    Status::Disagree(why) => println!("    DISAGREE {}: {why}", o.id),
                    Status::Excused(why) => println!("    EXCUSED {}: {why}", o.id),
                }
            }
            total += outcomes.len();
            agree += a;
            disagree += d;
            excused += e;
            d == 0
        }
        Err(e) => {
            println!("  {file:<18} NOT RUN: {e:#}");
            false
        }
    };
    for (file, check) in files {
        let path = dir.join(file);
        let result = read_jsonl(&path).and_then(|vectors| vectors.iter().map(check).collect());
        ok &= report(file, result);
    }
    ok &= report(
        "reference.jsonl",
        reference::run_corpus(&dir.join("reference.jsonl")).map_err(Into::into),
    );
    println!("corpus: {total} vectors: {agree} agree, {disagree} disagree, {excused} excused");
    Ok(ok)
}
