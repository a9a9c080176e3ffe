//! `ocimg unpack DIR:REF DEST [--platform P] [--rootless] [--json]`: applies an image's
//! layers into a new directory, verifying every digest and diffID; nothing is left at
//! DEST after a failure.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oci_image::{ImageName, Progress, UnpackError, UnpackEvent, UnpackOptions};
use oci_spec_types::Platform;

use super::init::{fail, open, parse_platform};
use crate::Outcome;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Pick this platform's manifest (OS/ARCH[/VARIANT]) from an index or from entries
    /// sharing the name (default: this machine's).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Unpack without root: no ownership changes, devices become empty files.
    #[arg(long)]
    rootless: bool,
    /// Print one JSON object `{"dest", "layers", "entries"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The image: DIR:REF (a tag or a digest), or DIR when it holds one image.
    #[arg(value_name = "DIR[:REF]")]
    name: String,
    /// The directory to create (must not exist).
    #[arg(value_name = "DEST")]
    dest: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let name = ImageName::parse(&args.name)?;
    let layout = match open("unpack", &name.dir) {
        Ok(layout) => layout,
        Err(outcome) => return outcome,
    };
    let options = UnpackOptions {
        platform: args.platform,
        rootless: args.rootless,
        progress: progress(),
    };
    let result = oci_image::unpack(&layout, name.reference.as_ref(), &args.dest, &options);
    end_progress(&options.progress);
    let unpacked = match result {
        Ok(unpacked) => unpacked,
        Err(e) => return failed("unpack", e),
    };
    for warning in &unpacked.warnings {
        eprintln!("ocimg unpack: warning: {warning}");
    }
    if args.json {
        crate::print_json(&serde_json::json!({
            "dest": unpacked.dest,
            "layers": unpacked.layers,
            "entries": unpacked.entries,
        }))?;
    } else {
        println!(
            "unpacked {} ({} layers, {} entries) into {}",
            unpacked.manifest.digest,
            unpacked.layers,
            unpacked.entries,
            unpacked.dest.display()
        );
    }
    Ok(Outcome::Ok)
}

/// Reports an unpack or bundle error with the exit code CLI.md gives it.
pub(crate) fn failed(command: &str, e: UnpackError) -> anyhow::Result<Outcome> {
    let check = e.is_check_failure();
    fail(command, check, e)
}

/// A progress line on standard error when it is a terminal, nothing otherwise.
pub(crate) fn progress() -> Progress {
    if !std::io::stderr().is_terminal() {
        return Progress::default();
    }
    let last: Mutex<Option<Instant>> = Mutex::new(None);
    let layer: Mutex<(usize, usize, String)> = Mutex::new((0, 0, String::new()));
    Progress(Some(Arc::new(move |event: &UnpackEvent<'_>| match event {
        UnpackEvent::Layer {
            index,
            count,
            descriptor,
        } => {
            if let Ok(mut l) = layer.lock() {
                let digest = descriptor.digest.to_string();
                let short = digest.get(..19).unwrap_or(&digest).to_owned();
                *l = (*index, *count, short);
            }
            if let Ok(mut last) = last.lock() {
                *last = None;
            }
        }
        UnpackEvent::Read { read, size, .. } => {
            let Ok(mut last) = last.lock() else { return };
            let now = Instant::now();
            let due = last.is_none_or(|t| now.duration_since(t) >= Duration::from_millis(100));
            if !due && read != size {
                return;
            }
            *last = Some(now);
            let Ok(l) = layer.lock() else { return };
            let percent = if *size == 0 { 100 } else { read * 100 / size };
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[Klayer {}/{} {} {:>3}% ({} / {} bytes)",
                l.0 + 1,
                l.1,
                l.2,
                percent.min(100),
                read,
                size
            );
            let _ = err.flush();
        }
    })))
}

/// Ends the progress line, if one was drawn.
pub(crate) fn end_progress(progress: &Progress) {
    if progress.0.is_some() {
        eprint!("\r\x1b[K");
    }
}
