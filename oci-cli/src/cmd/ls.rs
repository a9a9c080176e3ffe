//! `ocimg ls [--json] DIR`: the entries of a layout's index.json.

use std::path::PathBuf;

use oci_image::platform_string;

use super::init::{fail, open};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg ls layout
  ocimg ls --json layout")]
pub struct Args {
    /// Print one JSON array `[{"ref", "digest", "mediaType", "size", "platform"}]` on
    /// standard output (`ref` and `platform` null when absent; `platform` spelled
    /// OS/ARCH[/VARIANT]).
    #[arg(long)]
    json: bool,
    /// The layout directory.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let layout = match open("ls", &args.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let index = match layout.index() {
        Ok(index) => index,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("ls", check, e);
        }
    };
    let entries = &index.value().manifests;
    if args.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|d| {
                serde_json::json!({
                    "ref": d.ref_name(),
                    "digest": d.digest,
                    "mediaType": d.media_type,
                    "size": d.size,
                    "platform": platform_string(d),
                })
            })
            .collect();
        crate::print_json(&list)?;
    } else {
        for d in entries {
            println!(
                "{}\t{}\t{}\t{}\t{}",
                d.ref_name().unwrap_or("<none>"),
                d.digest,
                platform_string(d).unwrap_or_else(|| "-".to_owned()),
                d.size,
                d.media_type
            );
        }
    }
    Ok(Outcome::Ok)
}
