//! `ocimg layer create [--compress gzip|zstd|none] [--level N] [--source-date-epoch N]
//! [--opaque] [--from OLD] DIR -o FILE`.
//!
//! `create` writes the layer through `oci_digest::AtomicFile` (FILE is whole or
//! untouched), then prints `{"mediaType", "digest", "size", "diffID"}`; `--json` is
//! accepted and changes nothing. A name that cannot be stored (`.wh.*`) exits 1; usage,
//! read and write errors exit 2.

use std::path::PathBuf;

use anyhow::Context as _;
use oci_layer::{Compression, CreateError, CreateOptions};

use super::config::source_date_epoch;
use crate::Outcome;

/// What `--compress gzip` writes without `--level`, in `layer create`, `build` and `copy`
/// (CLI.md): libdeflate's level 4 gives layers no larger than Go's default level.
pub(crate) const GZIP_DEFAULT: Compression = Compression::Gzip { level: 4 };

/// `--compress gzip|zstd|none` of `layer create`, `build` and `copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Compress {
    Gzip,
    Zstd,
    None,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  # The whole directory, gzip-compressed
  ocimg layer create rootfs -o layer.tar.gz
  # Only what changed from old/ to new/, zstd, mtimes clamped for a reproducible digest
  ocimg layer create --from old --compress zstd --source-date-epoch 0 new -o diff.tar.zst")]
pub struct CreateArgs {
    /// Compression of the layer.
    #[arg(long, value_enum, default_value = "gzip")]
    compress: Compress,
    /// Compression level (gzip 0-9, default 4; zstd 1-22, default 3).
    #[arg(long, allow_negative_numbers = true)]
    level: Option<i32>,
    /// Clamp every mtime above N (seconds since the epoch) to N; defaults to the
    /// SOURCE_DATE_EPOCH environment variable.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    source_date_epoch: Option<i64>,
    /// Allow opaque whiteouts for directories replaced wholesale (with --from).
    #[arg(long)]
    opaque: bool,
    /// Write only the changes from OLD to DIR, deletions as whiteouts.
    #[arg(long, value_name = "OLD")]
    from: Option<PathBuf>,
    /// Compression threads (0: all cores); the output does not depend on it.
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Accepted and ignored, for symmetry with other commands: the output is always one
    /// JSON object.
    #[arg(long)]
    json: bool,
    /// The layer file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// The directory whose content becomes the layer.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(rename = "diffID")]
    diff_id: String,
}

/// `--compress` and `--level` as a compression; `gzip` is what `--compress gzip` gives
/// without a level.
pub(crate) fn compression(
    kind: Compress,
    level: Option<i32>,
    gzip: Compression,
) -> anyhow::Result<Compression> {
    Ok(match (kind, level) {
        (Compress::None, Some(_)) => anyhow::bail!("--level needs --compress gzip or zstd"),
        (Compress::None, None) => Compression::None,
        (Compress::Gzip, None) => gzip,
        (Compress::Gzip, Some(l)) => Compression::Gzip {
            level: u32::try_from(l)
                .ok()
                .filter(|l| *l <= 9)
                .with_context(|| format!("invalid gzip level {l} (0 to 9)"))?,
        },
        (Compress::Zstd, None) => Compression::DEFAULT_ZSTD,
        (Compress::Zstd, Some(l)) => Compression::Zstd { level: l },
    })
}

pub fn create(args: CreateArgs) -> anyhow::Result<Outcome> {
    let options = CreateOptions {
        compression: compression(args.compress, args.level, GZIP_DEFAULT)?,
        source_date_epoch: source_date_epoch(args.source_date_epoch)?,
        opaque: args.opaque,
        threads: args.threads,
        ..CreateOptions::default()
    };
    if args.opaque && args.from.is_none() {
        eprintln!("ocimg layer create: --opaque has no effect without --from");
    }
    let mut file = oci_digest::AtomicFile::create(&args.output)?;
    let result = match &args.from {
        None => oci_layer::create(&args.dir, &mut file, &options),
        Some(old) => oci_layer::diff(old, &args.dir, &mut file, &options),
    };
    let created = match result {
        Ok(c) => c,
        Err(e @ CreateError::WhiteoutName { .. }) => {
            return Err(crate::check_failed(
                anyhow::Error::new(e).context("layer create"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    file.commit()?;
    for w in &created.warnings {
        eprintln!("ocimg layer create: warning: {w}");
    }
    crate::print_json(&Report {
        media_type: created.media_type.as_str().to_string(),
        digest: created.digest.to_string(),
        size: created.size,
        diff_id: created.diff_id.to_string(),
    })?;
    Ok(Outcome::Ok)
}
