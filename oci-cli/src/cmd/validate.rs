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
#[command(after_help = "Examples:
  # Check a manifest: one line per violation, exit 1 when it is invalid
  ocimg validate --kind manifest manifest.json
  # A layout's index.json, the results as JSON
  ocimg validate --kind index --json layout/index.json
  # A config from standard input
  cat config.json | ocimg validate --kind config -")]
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
    /// Why the file could not be read (then it is not valid, and the exit code is 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    // Every file in order: its report, or why it could not be read.
    let mut reports = Vec::new();
    let mut unreadable = false;
    for path in &args.files {
        let name = path.display().to_string();
        match read(path) {
            Ok(bytes) => reports.push((name, Ok(validate::validate(kind, &bytes)))),
            Err(e) => {
                let message = format!("read {name}: {e}");
                eprintln!("ocimg: {message}");
                unreadable = true;
                reports.push((name, Err(message)));
            }
        }
    }
    let all_valid = reports
        .iter()
        .all(|(_, r)| r.as_ref().is_ok_and(validate::Report::is_valid));
    if args.json {
        // The report is the answer: an unreadable file is in it, with its error.
        let results: Vec<FileResult<'_>> = reports
            .iter()
            .map(|(file, r)| match r {
                Ok(r) => FileResult {
                    file: file.clone(),
                    valid: r.is_valid(),
                    violations: &r.violations,
                    error: None,
                },
                Err(message) => FileResult {
                    file: file.clone(),
                    valid: false,
                    violations: &[],
                    error: Some(message.clone()),
                },
            })
            .collect();
        crate::print_json(&results)?;
    } else {
        let mut out = std::io::stdout().lock();
        for (file, report) in &reports {
            for v in report.iter().flat_map(|r| &r.violations) {
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
