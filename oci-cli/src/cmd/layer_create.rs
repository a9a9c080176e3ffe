//! `ocimg layer create [--compress gzip|zstd|none] [--level N] [--source-date-epoch N]
//! [--opaque] [--from OLD] DIR -o FILE` and `ocimg layer ls [--json] FILE`.
//!
//! `create` writes the layer through `oci_digest::AtomicFile` (FILE is whole or
//! untouched), then prints `{"mediaType", "digest", "size", "diffID"}`; `--json` is
//! accepted and changes nothing. A name that cannot be stored (`.wh.*`) exits 1; usage,
//! read and write errors exit 2.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use oci_layer::{Compression, CreateError, CreateOptions, EntryKind, ListEntry};

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

#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// Print a JSON array of entries.
    #[arg(long)]
    json: bool,
    /// The layer (plain tar, gzip or zstd, detected from its bytes).
    #[arg(value_name = "FILE")]
    file: PathBuf,
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

#[derive(Debug, serde::Serialize)]
struct JsonEntry<'a> {
    path: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
    linkname: Option<&'a str>,
}

pub fn ls(args: LsArgs) -> anyhow::Result<Outcome> {
    let file = File::open(&args.file).with_context(|| format!("open {}", args.file.display()))?;
    let entries = match oci_layer::list(file) {
        Ok(e) => e,
        Err(e) => {
            let e = anyhow::Error::new(e).context(format!("layer ls: {}", args.file.display()));
            return Err(crate::check_failed(e));
        }
    };
    if args.json {
        let json: Vec<JsonEntry<'_>> = entries
            .iter()
            .map(|e| JsonEntry {
                path: &e.path,
                kind: e.kind.name(),
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                size: e.size,
                mtime: e.mtime,
                linkname: e.linkname.as_deref(),
            })
            .collect();
        crate::print_json(&json)?;
        return Ok(Outcome::Ok);
    }
    let mut out = std::io::stdout().lock();
    for e in &entries {
        writeln!(out, "{}", human(e))?;
    }
    out.flush()?;
    Ok(Outcome::Ok)
}

/// One line like `tar tv`: mode, owner, size, date, path; whiteouts as deletions.
fn human(e: &ListEntry) -> String {
    match e.kind {
        EntryKind::Whiteout => return format!("deleted {}", e.path),
        EntryKind::Opaque => {
            let dir = if e.path.is_empty() { "/" } else { &e.path };
            return format!("opaque  {dir} (lower content hidden)");
        }
        _ => {}
    }
    let type_char = match e.kind {
        EntryKind::Dir => 'd',
        EntryKind::Symlink => 'l',
        EntryKind::Hardlink => 'h',
        EntryKind::Char => 'c',
        EntryKind::Block => 'b',
        EntryKind::Fifo => 'p',
        _ => '-',
    };
    let size = match e.kind {
        EntryKind::Char | EntryKind::Block => {
            let (major, minor) = e.device.unwrap_or((0, 0));
            format!("{major},{minor}")
        }
        _ => e.size.to_string(),
    };
    let mut line = format!(
        "{type_char}{} {}/{} {size:>10} {} {}",
        mode_string(e.mode),
        e.uid,
        e.gid,
        date(e.mtime),
        e.path
    );
    match (e.kind, &e.linkname) {
        (EntryKind::Symlink, Some(l)) => line.push_str(&format!(" -> {l}")),
        (EntryKind::Hardlink, Some(l)) => line.push_str(&format!(" link to {l}")),
        _ => {}
    }
    line
}

fn mode_string(mode: u32) -> String {
    let mut s = String::with_capacity(9);
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `YYYY-MM-DD HH:MM` in UTC, as `tar tv` prints it.
fn date(secs: i64) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ`: keep the date and the hours and minutes.
    let full = oci_image::rfc3339(secs);
    format!("{} {}", &full[..10], &full[11..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_modes_read_like_tar() {
        assert_eq!(date(0), "1970-01-01 00:00");
        assert_eq!(date(1_700_000_000), "2023-11-14 22:13");
        assert_eq!(date(-86_400), "1969-12-31 00:00");
        assert_eq!(mode_string(0o755), "rwxr-xr-x");
        assert_eq!(mode_string(0o4755), "rwsr-xr-x");
        assert_eq!(mode_string(0o1777), "rwxrwxrwt");
        assert_eq!(mode_string(0o2644), "rw-r-Sr--");
    }
}
