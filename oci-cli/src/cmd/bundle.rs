//! `ocimg bundle IMAGE BUNDLE [--platform P] [--rootless] [--tty] [--json]`: a runtime
//! bundle (`BUNDLE/rootfs`, `BUNDLE/config.json`, `BUNDLE/volumes`) that `runc run` runs
//! with no extra arguments; nothing is left at BUNDLE after a failure.

use std::path::PathBuf;

use oci_image::{BundleDirOptions, UnpackOptions};
use oci_spec_types::Platform;

use super::init::{open_image_with, parse_platform};
use super::unpack::failed;
use crate::Outcome;
use crate::progress::{end_progress, progress};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg bundle layout:1.0 ./bundle && sudo runc run -b ./bundle app
  # As an unprivileged user, with a terminal
  ocimg bundle --rootless --tty layout:1.0 ./bundle && runc run -b ./bundle app")]
pub struct Args {
    /// Pick this platform's manifest (OS/ARCH[/VARIANT]) from an index or from entries
    /// sharing the name (default: this machine's).
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Unpack without root and write a rootless runtime configuration (container root
    /// mapped to the current user; the image's user must be root).
    #[arg(long)]
    rootless: bool,
    /// Set `process.terminal` (and `TERM=xterm` when the image sets no TERM).
    #[arg(long)]
    tty: bool,
    /// Print one JSON object `{"bundle", "args", "user"}` on standard output.
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
    /// The bundle directory to create (must not exist).
    #[arg(value_name = "BUNDLE")]
    bundle: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let source = match open_image_with("bundle", &args.name, &args.registry, Some(&args.net)) {
        Ok(source) => source,
        Err(outcome) => return outcome,
    };
    if let Err(outcome) = args.policy.check("bundle", &args.name, source.as_ref()) {
        return outcome;
    }
    let options = BundleDirOptions {
        unpack: UnpackOptions {
            platform: args.platform,
            rootless: args.rootless,
            progress: progress(),
            prefetch: super::registry::prefetch(&args.name, args.registry.jobs()),
        },
        terminal: args.tty,
    };
    let result = oci_image::bundle(source.as_ref(), &args.bundle, &options);
    end_progress(&options.unpack.progress);
    let bundled = match result {
        Ok(bundled) => bundled,
        Err(e) => return failed("bundle", e),
    };
    for warning in &bundled.unpacked.warnings {
        eprintln!("ocimg bundle: warning: {warning}");
    }
    if args.json {
        crate::print_json(&serde_json::json!({
            "bundle": bundled.bundle,
            "args": bundled.args,
            "user": bundled.user,
        }))?;
    } else {
        println!(
            "bundle {} from {}: args {:?}, user {}:{}",
            bundled.bundle.display(),
            bundled.unpacked.manifest.digest,
            bundled.args,
            bundled.user.uid,
            bundled.user.gid
        );
    }
    Ok(Outcome::Ok)
}
