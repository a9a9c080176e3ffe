//! The upstream distribution/reference vectors, when the shared corpus is present.

use std::path::Path;

use crate::{Status, upstream::run_corpus};

const CORPUS: &str = "/work/shared/conformance/vectors/reference.jsonl";

#[test]
fn every_upstream_reference_vector_agrees() {
    let path = Path::new(CORPUS);
    if !path.exists() {
        eprintln!("skipped: {CORPUS} not present");
        return;
    }
    let outcomes = run_corpus(path).expect("corpus runs");
    assert_eq!(outcomes.len(), 352, "every row is run");
    let mut bad = Vec::new();
    for o in &outcomes {
        match &o.status {
            Status::Agree => {}
            Status::Excused(_) if o.id == "reference-014" => {}
            other => bad.push(format!("{}: {other:?}", o.id)),
        }
    }
    assert!(
        bad.is_empty(),
        "{} rows disagree:\n{}",
        bad.len(),
        bad.join("\n")
    );
    let excused: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o.status, Status::Excused(_)))
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(excused, ["reference-014"]);
}
