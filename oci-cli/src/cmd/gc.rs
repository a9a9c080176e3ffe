//! `ocimg gc [--grace SECONDS] [--json] DIR`: removes the blobs unreachable from
//! index.json.

use std::path::PathBuf;
use std::time::Duration;

use oci_image::GcOptions;
use serde_json::json;

use super::init::{fail, open};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg gc layout
  # Remove every unreachable blob now, however recent
  ocimg gc --grace 0 --json layout")]
pub struct Args {
    /// Keep unreachable blobs modified less than this many seconds ago (they may belong
    /// to a writer that has not updated index.json yet).
    #[arg(long, value_name = "SECONDS", default_value_t = oci_image::DEFAULT_GRACE.as_secs())]
    grace: u64,
    /// Print one JSON object `{"removed": [digest...], "bytes", "keptRecent": [digest...]}`
    /// on standard output.
    #[arg(long)]
    json: bool,
    /// The layout directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let layout = match open("gc", &args.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let options = GcOptions {
        grace: Duration::from_secs(args.grace),
    };
    let report = match layout.gc(&options) {
        Ok(report) => report,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("gc", check, e);
        }
    };
    if args.json {
        crate::print_json(&json!({
            "removed": report.removed,
            "bytes": report.bytes,
            "keptRecent": report.kept_recent,
        }))?;
    } else {
        for digest in &report.removed {
            println!("removed {digest}");
        }
        println!(
            "removed {} blob{} ({} bytes){}",
            report.removed.len(),
            if report.removed.len() == 1 { "" } else { "s" },
            report.bytes,
            if report.kept_recent.is_empty() {
                String::new()
            } else {
                format!(
                    "; kept {} unreachable blob(s) younger than {} s",
                    report.kept_recent.len(),
                    args.grace
                )
            }
        );
    }
    Ok(Outcome::Ok)
}
