//! `ocimg unpack IMAGE DEST [--platform P] [--rootless] [--json]`: applies an image's
//! layers into a new directory, verifying every digest and diffID; nothing is left at
//! DEST after a failure.

use std::path::PathBuf;

use oci_image::{UnpackError, UnpackOptions};
use oci_spec_types::Platform;

use super::init::{fail, open_image_with, parse_platform};
use crate::Outcome;
use crate::progress::{end_progress, progress};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg unpack layout:1.0 ./rootfs
  ocimg unpack --rootless --platform linux/arm64 oci-archive:app.tar:1.0 ./rootfs")]
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
    // The trust policy the image must satisfy.
    #[command(flatten)]
    policy: super::policy::PolicyArgs,
    // Network options for discover: images.
    #[command(flatten)]
    net: super::name::NetArgs,
    // Options for docker:// images.
    #[command(flatten)]
    registry: super::registry::RegistryArgs,
    /// The image: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG],
    /// docker://HOST/REPO[:TAG|@DIGEST], discover:HOST/PATH[#FRAGMENT], or DIR[:REF] (a
    /// layout; DIR alone when it holds one image).
    #[arg(value_name = "IMAGE")]
    name: String,
    /// The directory to create (must not exist).
    #[arg(value_name = "DEST")]
    dest: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let source = match open_image_with("unpack", &args.name, &args.registry, Some(&args.net)) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = args.policy.check("unpack", &args.name, source.as_ref()) {
        return outcome;
    }
    let options = UnpackOptions {
        platform: args.platform,
        rootless: args.rootless,
        progress: progress(),
        prefetch: super::registry::prefetch(&args.name, args.registry.jobs()),
    };
    let result = oci_image::unpack(source.as_ref(), &args.dest, &options);
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
