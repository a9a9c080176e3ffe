//! `ocimg build DIR:TAG --rootfs ROOTFS [--base DIR:REF] [config flags] [--platform P]
//! [--compress gzip|zstd|none] [--level N] [--source-date-epoch N]`: a new image whose top
//! layer is ROOTFS's difference from the base (the whole tree without a base).

use std::path::PathBuf;

use oci_image::{BuildOptions, ImageName, Reference};
use oci_spec_types::Platform;

use super::config::{ConfigFlags, source_date_epoch};
use super::init::{fail, parse_platform};
use super::layer_create::{Compress, compression};
use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # From scratch
  ocimg build layout:app --rootfs ./rootfs --entrypoint '[\"/bin/app\"]'
  # On a base image, with a reproducible digest
  ocimg build layout:app-1.0 --base base:latest --rootfs ./app --env APP_MODE=prod --source-date-epoch 0")]
pub struct Args {
    /// The root filesystem to build from.
    #[arg(long, value_name = "ROOTFS")]
    rootfs: PathBuf,
    /// The base image, DIR:REF (any layout; its layers are copied over when needed).
    #[arg(long, value_name = "DIR:REF")]
    base: Option<String>,
    #[command(flatten)]
    flags: ConfigFlags,
    /// Without --base, the image's platform (default: this machine's); with --base, the
    /// platform to pick from a multi-platform base.
    #[arg(long, value_parser = parse_platform)]
    platform: Option<Platform>,
    /// Compression of the new layer.
    #[arg(long, value_enum, default_value = "gzip")]
    compress: Compress,
    /// Compression level (gzip 0-9, default 4, which compresses like zlib's 6; zstd 1-22,
    /// default 3).
    #[arg(long, allow_negative_numbers = true)]
    level: Option<i32>,
    /// `created`, the history time and the clamp of layer mtimes, in seconds since the
    /// epoch; defaults to the SOURCE_DATE_EPOCH environment variable, else now.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    source_date_epoch: Option<i64>,
    /// Compression threads (0: all cores); the output does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Print one JSON object `{"ref", "digest", "config", "layers"}` on standard output.
    #[arg(long)]
    json: bool,
    /// The layout (created when missing) and tag: DIR:TAG.
    #[arg(value_name = "DIR:TAG")]
    name: String,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let name = ImageName::parse(&args.name)?;
    let Some(Reference::Tag(tag)) = &name.reference else {
        anyhow::bail!("ocimg build: {} names no tag (expected DIR:TAG)", args.name);
    };
    let base = args.base.as_deref().map(ImageName::parse).transpose()?;
    let options = BuildOptions {
        base,
        edits: args.flags.edits(),
        platform: args.platform.clone(),
        compression: compression(args.compress, args.level, oci_image::BUILD_COMPRESSION)?,
        source_date_epoch: source_date_epoch(args.source_date_epoch)?,
        threads: args.threads,
        ..BuildOptions::new(&args.rootfs)
    };
    // Bars on a terminal; nothing extra when standard error is piped or with -q.
    let options = BuildOptions {
        progress: crate::progress::progress(),
        ..options
    };
    let built = oci_image::build(&name.dir, tag, &options);
    crate::progress::end_progress(&options.progress);
    let built = match built {
        Ok(built) => built,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("build", check, e);
        }
    };
    for warning in &built.warnings {
        eprintln!("ocimg build: warning: {warning}");
    }
    let image = &built.image;
    if args.json {
        crate::print_json(&serde_json::json!({
            "ref": tag,
            "digest": image.manifest.digest,
            "config": image.config.digest,
            "layers": image.layers.iter().map(|l| &l.digest).collect::<Vec<_>>(),
        }))?;
    } else {
        println!(
            "built {} as {}:{tag} ({} layers)",
            image.manifest.digest,
            name.dir.display(),
            image.layers.len()
        );
    }
    Ok(Outcome::Ok)
}
