//! `ocimg copy SRC DST [--format oci|docker] [--compress gzip|zstd|none] [--level N]
//! [--platform P | --all-platforms] [--include-referrers] [registry options] [--json]`:
//! copies an image between `oci:`, `oci-archive:`, `docker-archive:`, `docker://` and (as
//! a source) `discover:` endpoints.

use oci_image::{CopyOptions, Endpoint, Format, OpenOptions, Platforms};
use oci_spec_types::Platform;

use super::init::{fail, parse_platform};
use super::layer_create::{Compress, GZIP_DEFAULT, compression};
use crate::Outcome;
use crate::progress::{end_progress, progress};

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    /// OCI image manifests and indexes.
    Oci,
    /// Docker Image Manifest V2 Schema 2 and manifest lists.
    Docker,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg copy oci:layout:1.0 oci-archive:app.tar:1.0
  # Into a file that docker load reads
  ocimg copy oci:layout:1.0 docker-archive:app.tar:app:1.0
  # The whole index, layers recompressed with zstd
  ocimg copy --all-platforms --compress zstd oci:layout:multi oci:other:multi
  ocimg copy discover:example.com/app#1.0 oci:layout:1.0")]
pub struct Args {
    /// The source: oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG],
    /// docker://HOST/REPO[:TAG|@DIGEST] or discover:HOST/PATH[#FRAGMENT].
    #[arg(value_name = "SRC")]
    source: String,
    /// The destination: oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE[:NAME:TAG] or docker://HOST/REPO[:TAG].
    #[arg(value_name = "DST")]
    destination: String,
    /// The manifest format to write (default: the source's; OCI from a docker-archive,
    /// Docker into one).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Recompress the layers that are not already in this compression (diffIDs unchanged).
    #[arg(long, value_enum)]
    compress: Option<Compress>,
    /// The compression level (gzip 0-9, default 4; zstd 1-22, default 3); needs --compress
    /// gzip or zstd.
    #[arg(long, requires = "compress", allow_negative_numbers = true)]
    level: Option<i32>,
    /// Copy only the image for this platform (OS/ARCH[/VARIANT]) from an index (default:
    /// this machine's).
    #[arg(long, value_parser = parse_platform, conflicts_with = "all_platforms")]
    platform: Option<Platform>,
    /// Copy the index and every image under it.
    #[arg(long)]
    all_platforms: bool,
    /// Copy the manifests that refer to the image (signatures, SBOMs) with it.
    #[arg(long)]
    include_referrers: bool,
    /// Do not carry the source's signatures (signature referrers, cosign's .sig tag,
    /// lookaside signatures): needed when the copy changes a signed manifest (another
    /// format, recompressed layers) or the destination cannot hold signatures (a
    /// docker-archive).
    #[arg(long)]
    remove_signatures: bool,
    // The trust policy the source must satisfy.
    #[command(flatten)]
    policy: super::policy::PolicyArgs,
    // Network options for discover: sources.
    #[command(flatten)]
    net: super::name::NetArgs,
    // Options for docker:// sources and destinations.
    #[command(flatten)]
    registry: super::registry::CopyRegistryArgs,
    /// Print one JSON object `{"source", "destination", "digest", "blobs": {"copied",
    /// "skipped", "mounted"}}` on standard output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let compress = args
        .compress
        .map(|kind| compression(kind, args.level, GZIP_DEFAULT))
        .transpose()?;
    let format = match args.format {
        Some(FormatArg::Oci) => Some(Format::Oci),
        Some(FormatArg::Docker) => Some(Format::Docker),
        None => None,
    };
    let platforms = if args.all_platforms {
        Platforms::All
    } else {
        Platforms::One(args.platform.clone())
    };
    // Discovery's network options, read only for a discover: source.
    let discoverer = match Endpoint::parse_image(&args.source) {
        Ok(Endpoint::Discover(_)) => Some(args.net.discoverer(args.net.connect_to()?)?),
        _ => None,
    };
    let open = OpenOptions {
        discoverer,
        registry: args.registry.source(),
        ..OpenOptions::default()
    };
    let options = CopyOptions {
        format,
        compress,
        platforms,
        threads: 0,
        jobs: args.registry.jobs(),
        include_referrers: args.include_referrers,
        registry: args.registry.destination(),
        progress: progress(),
        remove_signatures: args.remove_signatures,
        policy: args
            .policy
            .policy
            .as_deref()
            .map(super::policy::load_policy)
            .transpose()?,
        registries_d: args.policy.registries_d()?,
    };
    let result = oci_image::copy_image(&args.source, &args.destination, &open, &options);
    end_progress(&options.progress);
    let copied = match result {
        Ok(copied) => copied,
        Err(e) => {
            let check = e.is_check_failure();
            return fail("copy", check, e);
        }
    };
    if args.json {
        crate::print_json(&serde_json::json!({
            "source": args.source,
            "destination": args.destination,
            "digest": copied.digest,
            "blobs": {
                "copied": copied.copied,
                "skipped": copied.skipped,
                "mounted": copied.mounted,
            },
        }))?;
    } else {
        println!(
            "copied {} to {} ({} blobs copied, {} already there, {} mounted)",
            copied.digest, args.destination, copied.copied, copied.skipped, copied.mounted
        );
    }
    Ok(Outcome::Ok)
}
