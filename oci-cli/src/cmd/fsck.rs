//! `ocimg fsck [--json] DIR`: checks every reachable blob, document and diffID of a
//! layout; exit 1 on any problem.

use std::path::PathBuf;

use oci_image::Problem;
use serde_json::{Value, json};

use super::init::open;
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg fsck layout
  ocimg fsck --json layout")]
pub struct Args {
    /// Print one JSON object `{"ok", "checked": {"blobs", "bytes"}, "problems": [{"digest",
    /// "kind", "message"}], "warnings": [...]}` on standard output.
    #[arg(long)]
    json: bool,
    /// The layout directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

fn problem(p: &Problem) -> Value {
    json!({
        "digest": p.digest,
        "kind": p.kind.name(),
        "message": p.message,
    })
}

fn line(p: &Problem) -> String {
    let digest = p
        .digest
        .as_ref()
        .map_or("-".to_owned(), ToString::to_string);
    format!("{digest} {} {}", p.kind, p.message)
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let layout = match open("fsck", &args.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let progress = crate::progress::progress();
    let report = layout.fsck_with_progress(&progress);
    crate::progress::end_progress(&progress);
    if args.json {
        crate::print_json(&json!({
            "ok": report.is_ok(),
            "checked": { "blobs": report.blobs, "bytes": report.bytes },
            "problems": report.problems.iter().map(problem).collect::<Vec<_>>(),
            "warnings": report.warnings.iter().map(problem).collect::<Vec<_>>(),
        }))?;
    } else {
        for p in &report.problems {
            println!("{}", line(p));
        }
        for w in &report.warnings {
            eprintln!("warning: {}", line(w));
        }
        println!(
            "{}: {} blobs ({} bytes) checked, {} problem{}, {} warning{}",
            if report.is_ok() { "ok" } else { "FAILED" },
            report.blobs,
            report.bytes,
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" },
            report.warnings.len(),
            if report.warnings.len() == 1 { "" } else { "s" },
        );
    }
    Ok(if report.is_ok() {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}
