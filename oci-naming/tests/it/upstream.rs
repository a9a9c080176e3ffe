//! The distribution/reference vectors (`reference.jsonl`): each row runs through the
//! oci-naming function that matches the upstream function its `op` names, and every
//! output field the row gives is compared.

use std::path::Path;

use oci_naming::{AnyReference, Dialect, Reference, familiar_match, grammar};
use serde_json::{Map, Value, json};

use super::{Outcome, Status};

/// The one row where ocimg knowingly differs: upstream's test binary links no sha512, so
/// its `Parse` refuses a sha512 digest, while the image-spec registers sha512.
const EXCUSED: &[(&str, &str)] = &[(
    "reference-014",
    "sha512 is accepted: the image-spec registers it; upstream refuses it only because its test binary does not link sha512",
)];

/// The output fields a row may give, in the order differences are reported.
const FIELDS: &[&str] = &[
    "valid",
    "error",
    "name",
    "domain",
    "path",
    "tag",
    "digest",
    "string",
    "combined",
    "normalized",
    "familiar",
    "familiar_string",
    "matched",
    "digest_only",
];

/// Runs every row of `reference.jsonl` at `path`. (`std::io::Error`, not anyhow: this file
/// is oci-naming's test code, and libraries' tests do not depend on anyhow.)
pub fn run_corpus(path: &Path) -> std::io::Result<Vec<Outcome>> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let text = std::fs::read_to_string(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?;
    let mut outcomes = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row: Value = serde_json::from_str(line).map_err(|e| {
            bad(format!(
                "{}: line {}: not JSON: {e}",
                path.display(),
                number + 1
            ))
        })?;
        let id = row["id"]
            .as_str()
            .ok_or_else(|| bad(format!("{}: line {}: no id", path.display(), number + 1)))?
            .to_owned();
        let status = match check(&row) {
            Ok(()) => Status::Agree,
            Err(difference) => match EXCUSED.iter().find(|(excused, _)| *excused == id) {
                Some((_, why)) => Status::Excused(format!("{why} ({difference})")),
                None => Status::Disagree(difference),
            },
        };
        outcomes.push(Outcome { id, status });
    }
    Ok(outcomes)
}

fn str_field<'a>(row: &'a Value, key: &str) -> Result<&'a str, String> {
    row[key]
        .as_str()
        .ok_or_else(|| format!("row has no string {key:?}"))
}

/// Compares our outputs with the row's; `Err` describes the first differences.
fn check(row: &Value) -> Result<(), String> {
    let op = str_field(row, "op")?;
    let input = str_field(row, "input")?;
    let actual = evaluate(op, input, row)?;
    let mut differences = Vec::new();
    // On invalid rows the other fields are the operation's inputs (with_tag's tag, ...).
    let expected_valid = row.get("valid") != Some(&json!(false));
    for field in FIELDS {
        let Some(expected) = row.get(*field) else {
            continue;
        };
        if !expected_valid && !matches!(*field, "valid" | "error") {
            continue;
        }
        // Upstream's error text is compared only where we give an identifier.
        let got = actual.get(*field).cloned().unwrap_or(Value::Null);
        if *field == "error" && got.is_null() && actual["valid"] == json!(false) {
            continue;
        }
        if &got != expected {
            differences.push(format!("{field}: expected {expected}, got {got}"));
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(format!("{op}({input:?}): {}", differences.join("; ")))
    }
}

fn invalid(error: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("valid".into(), json!(false));
    if let Some(e) = error {
        out.insert("error".into(), json!(e));
    }
    out
}

fn named_fields(r: &Reference) -> Map<String, Value> {
    let familiar = r.familiar();
    let mut out = Map::new();
    out.insert("valid".into(), json!(true));
    out.insert("name".into(), json!(r.name()));
    out.insert("domain".into(), json!(r.domain()));
    out.insert("path".into(), json!(r.path()));
    out.insert("tag".into(), json!(r.tag().unwrap_or("")));
    out.insert("digest".into(), json!(r.digest().unwrap_or("")));
    out.insert("string".into(), json!(r.to_string()));
    out.insert("combined".into(), json!(r.to_string()));
    out.insert("normalized".into(), json!(r.to_string()));
    out.insert("familiar".into(), json!(familiar.name()));
    out.insert("familiar_string".into(), json!(familiar.to_string()));
    out
}

fn from_result(result: Result<Reference, oci_naming::Error>) -> Map<String, Value> {
    match result {
        Ok(r) => named_fields(&r),
        Err(e) => invalid(e.identifier()),
    }
}

fn evaluate(op: &str, input: &str, row: &Value) -> Result<Map<String, Value>, String> {
    let d = Dialect::Distribution;
    Ok(match op {
        "parse" => from_result(d.parse(input)),
        "with_name" => from_result(d.with_name(input)),
        "parse_named" => from_result(d.parse_canonical(input)),
        "parse_normalized_named" => from_result(d.parse_normalized(input)),
        "parse_docker_ref" => from_result(d.parse_docker(input)),
        "with_tag" => {
            let tag = str_field(row, "tag")?;
            let digest = row["digest"].as_str().unwrap_or("");
            from_result(d.with_name(input).and_then(|named| {
                let named = if digest.is_empty() {
                    named
                } else {
                    named.with_digest(digest)?
                };
                named.with_tag(tag)
            }))
        }
        "with_digest" => {
            let digest = str_field(row, "digest")?;
            let tag = row["tag"].as_str().unwrap_or("");
            from_result(d.with_name(input).and_then(|named| {
                let named = if tag.is_empty() {
                    named
                } else {
                    named.with_tag(tag)?
                };
                named.with_digest(digest)
            }))
        }
        "parse_any_reference" => match d.parse_any(input) {
            Ok(any) => {
                let mut out = Map::new();
                out.insert("valid".into(), json!(true));
                out.insert("normalized".into(), json!(any.to_string()));
                out.insert(
                    "digest_only".into(),
                    json!(matches!(any, AnyReference::Digest(_))),
                );
                out
            }
            Err(e) => invalid(e.identifier()),
        },
        "familiar_match" => {
            let pattern = str_field(row, "pattern")?;
            let reference = d
                .parse_any(input)
                .map_err(|e| format!("familiar_match input {input:?} does not parse: {e}"))?;
            match familiar_match(pattern, &reference) {
                Ok(matched) => {
                    let mut out = Map::new();
                    out.insert("valid".into(), json!(true));
                    out.insert("matched".into(), json!(matched));
                    out
                }
                Err(_) => invalid(Some("bad pattern")),
            }
        }
        "regexp_domain" => {
            let mut out = Map::new();
            out.insert("valid".into(), json!(grammar::is_domain(input, d)));
            out
        }
        "regexp_identifier" => {
            let mut out = Map::new();
            out.insert("valid".into(), json!(grammar::is_identifier(input)));
            out
        }
        "regexp_name" => match grammar::split_name(input, d) {
            Some((domain, path)) => {
                let mut out = Map::new();
                out.insert("valid".into(), json!(true));
                out.insert("domain".into(), json!(domain.unwrap_or("")));
                out.insert("path".into(), json!(path));
                out
            }
            None => invalid(None),
        },
        "regexp_reference" => match grammar::match_reference(input, d) {
            Some(m) => {
                let mut out = Map::new();
                out.insert("valid".into(), json!(true));
                out.insert("name".into(), json!(m.name));
                out.insert("tag".into(), json!(m.tag.unwrap_or("")));
                out.insert("digest".into(), json!(m.digest.unwrap_or("")));
                out
            }
            None => invalid(None),
        },
        other => return Err(format!("unknown op {other:?}")),
    })
}
