//! `ocimg validate --kind KIND [--json] FILE...`: every violation of every file.

use std::io::Write as _;
use std::path::PathBuf;

use oci_spec_types::validate::{self, Kind, Violation};
use serde::Serialize;

use crate::Outcome;

/// The document kinds, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// A content descriptor.
    Descriptor,
    /// An image manifest.
    Manifest,
    /// An image index (or a layout's index.json).
    Index,
    /// An image configuration.
    Config,
    /// A layout's oci-layout file.
    OciLayout,
}

impl From<KindArg> for Kind {
    fn from(k: KindArg) -> Kind {
        match k {
            KindArg::Descriptor => Kind::Descriptor,
            KindArg::Manifest => Kind::Manifest,
            KindArg::Index => Kind::Index,
            KindArg::Config => Kind::Config,
            KindArg::OciLayout => Kind::OciLayout,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What the files are.
    #[arg(long, value_enum)]
    kind: KindArg,
    /// Print one JSON array of results on standard output.
    #[arg(long)]
    json: bool,
    /// The documents to validate (`-` is standard input).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Serialize)]
struct FileResult<'a> {
    file: String,
    valid: bool,
    violations: &'a [Violation],
}

fn read(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let kind = Kind::from(args.kind);
    let mut reports = Vec::new();
    let mut unreadable = false;
    for path in &args.files {
        let name = path.display().to_string();
        match read(path) {
            Ok(bytes) => reports.push((name, validate::validate(kind, &bytes))),
            Err(e) => {
                eprintln!("ocimg: read {name}: {e}");
                unreadable = true;
            }
        }
    }
    let all_valid = reports.iter().all(|(_, r)| r.is_valid());
    if args.json {
        let results: Vec<FileResult<'_>> = reports
            .iter()
            .map(|(file, r)| FileResult {
                file: file.clone(),
                valid: r.is_valid(),
                violations: &r.violations,
            })
            .collect();
        crate::print_json(&results)?;
    } else {
        let mut out = std::io::stdout().lock();
        for (file, report) in &reports {
            for v in &report.violations {
                writeln!(out, "{file}: {v}")?;
            }
        }
        out.flush()?;
    }
    Ok(if unreadable {
        Outcome::IoFailed
    } else if all_valid {
        Outcome::Ok
    } else {
        Outcome::CheckFailed
    })
}
