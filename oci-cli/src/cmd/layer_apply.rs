//! `ocimg layer apply [--rootless] [--strict] [--json] LAYER... ROOT`: applies layers in
//! order onto ROOT (created when missing). A refused entry, a damaged layer or a limit
//! exits 1 with the reason; filesystem and read errors exit 2.

use std::fs::File;
use std::path::PathBuf;

use anyhow::Context as _;
use oci_layer::apply::{Applied, ApplyOptions, Expected, apply_layer};

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg layer apply base.tar.gz app.tar.gz ./root
  # Without root privileges, the counts as JSON
  ocimg layer apply --rootless --json layer.tar ./root")]
#[command(override_usage = "ocimg layer apply [OPTIONS] LAYER... ROOT")]
pub struct ApplyArgs {
    /// Apply without privileges: no ownership changes, devices become empty files,
    /// read-only directories still get their children.
    #[arg(long)]
    rootless: bool,
    /// Refuse duplicate entries instead of letting the last one win.
    #[arg(long)]
    strict: bool,
    /// Print one JSON object `{"entries", "bytes", "warnings"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The layers, in order (gzip, zstd or plain tar), then the root directory.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    entries: u64,
    bytes: u64,
    warnings: Vec<String>,
}

pub fn apply(args: ApplyArgs) -> anyhow::Result<Outcome> {
    let Some((root, layers)) = args.paths.split_last() else {
        anyhow::bail!("usage: ocimg layer apply LAYER... ROOT");
    };
    if layers.is_empty() {
        anyhow::bail!("usage: ocimg layer apply LAYER... ROOT (no layer given)");
    }
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    let options = ApplyOptions {
        rootless: args.rootless,
        strict: args.strict,
        ..ApplyOptions::default()
    };
    let mut total = Applied::default();
    for layer in layers {
        let file = File::open(layer).with_context(|| format!("open {}", layer.display()))?;
        match apply_layer(root, file, &Expected::default(), &options) {
            Ok(applied) => total.add(applied),
            Err(e) if e.is_io() => {
                return Err(anyhow::Error::new(e).context(format!("layer {}", layer.display())));
            }
            Err(e) => {
                let e = anyhow::Error::new(e).context(format!("layer apply: {}", layer.display()));
                return Err(crate::check_failed(e));
            }
        }
    }
    if args.json {
        crate::print_json(&Report {
            entries: total.entries,
            bytes: total.bytes,
            warnings: total.warnings,
        })?;
    } else {
        for w in &total.warnings {
            eprintln!("warning: {w}");
        }
        println!(
            "applied {} entries ({} bytes) from {} layer{} onto {}",
            total.entries,
            total.bytes,
            layers.len(),
            if layers.len() == 1 { "" } else { "s" },
            root.display()
        );
    }
    Ok(Outcome::Ok)
}
