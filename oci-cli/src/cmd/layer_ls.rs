//! `ocimg layer ls [--json] FILE`: the entries of a layer, one line each like `tar tv`
//! (whiteouts as deletions), or a JSON array. A layer the tar reader refuses (damaged,
//! over a limit) exits 1 with the reason; an unreadable file exits 2.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use oci_layer::{EntryKind, ListEntry};

use crate::Outcome;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  ocimg layer ls layer.tar.gz
  ocimg layer ls --json layer.tar.zst")]
pub struct LsArgs {
    /// Print a JSON array of entries.
    #[arg(long)]
    json: bool,
    /// The layer (plain tar, gzip or zstd, detected from its bytes).
    #[arg(value_name = "FILE")]
    file: PathBuf,
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
