//! `ocimg digest [--algorithm sha256|sha512|blake3] [--json] FILE...`: digests of files,
//! like sha256sum. `-` is standard input.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use oci_digest::{Algorithm, Input, Measured};

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg digest layer.tar.gz
  ocimg digest --algorithm sha512 --json a.tar b.tar
  tar -cf - rootfs | ocimg digest -")]
pub struct Args {
    /// Digest algorithm: sha256, sha512 or blake3.
    #[arg(long, short = 'a', default_value = "sha256", value_parser = parse_algorithm)]
    algorithm: Algorithm,
    /// Print one JSON array `[{"file", "digest", "size"}]` on standard output.
    #[arg(long)]
    json: bool,
    /// Files to digest; `-` is standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<OsString>,
}

fn parse_algorithm(s: &str) -> Result<Algorithm, String> {
    s.parse::<Algorithm>().map_err(|e| e.to_string())
}

#[derive(Debug, serde::Serialize)]
struct Entry {
    file: String,
    digest: String,
    size: u64,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut entries = Vec::new();
    let mut outcome = Outcome::Ok;
    let stdout = io::stdout();
    let inputs = args.files.into_iter().map(|file| {
        if file == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(file))
        }
    });
    for (input, measured) in oci_digest::digest_files(inputs, args.algorithm) {
        // `-` keeps its name in the output, as sha256sum prints it.
        let name = match &input {
            Input::Stdin => "-".to_owned(),
            Input::File(path) => path.display().to_string(),
        };
        let measured = match measured {
            Ok(m) => m,
            Err(e) => {
                eprintln!("ocimg digest: {:#}", anyhow::Error::new(e));
                outcome = Outcome::IoFailed;
                continue;
            }
        };
        if args.json {
            entries.push(Entry {
                file: name,
                digest: measured.digest.into_string(),
                size: measured.size,
            });
        } else {
            let mut out = stdout.lock();
            out.write_all(sum_line(&measured, &name).as_bytes())
                .and_then(|()| out.flush())
                .context("writing to standard output")?;
        }
    }
    if args.json {
        crate::print_json(&entries)?;
    }
    Ok(outcome)
}

/// `ALGORITHM:HEX  FILE`, escaped like sha256sum: a name holding a newline or a backslash
/// gets them escaped and the line starts with a backslash.
fn sum_line(measured: &Measured, name: &str) -> String {
    if name.contains(['\n', '\\', '\r']) {
        let escaped = name
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\r', "\\r");
        format!("\\{}  {escaped}\n", measured.digest)
    } else {
        format!("{}  {name}\n", measured.digest)
    }
}
