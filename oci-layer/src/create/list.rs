//! Listing the entries of a layer, whatever its compression (sniffed from the bytes).

use std::io::{self, BufRead, BufReader, Read};

/// What kind of entry a layer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A hardlink to an earlier entry.
    Hardlink,
    /// A character device.
    Char,
    /// A block device.
    Block,
    /// A named pipe.
    Fifo,
    /// `.wh.NAME`: NAME is deleted from the lower layers.
    Whiteout,
    /// `.wh..wh..opq`: the directory's lower content is hidden.
    Opaque,
    /// Any other tar type (its flag byte).
    Other(u8),
}

impl EntryKind {
    /// The name used in listings: file, dir, symlink, hardlink, char, block, fifo,
    /// whiteout, opaque (and `other` for anything else).
    pub fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Dir => "dir",
            EntryKind::Symlink => "symlink",
            EntryKind::Hardlink => "hardlink",
            EntryKind::Char => "char",
            EntryKind::Block => "block",
            EntryKind::Fifo => "fifo",
            EntryKind::Whiteout => "whiteout",
            EntryKind::Opaque => "opaque",
            EntryKind::Other(_) => "other",
        }
    }
}

/// One entry of a layer, as its headers (PAX records applied) describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The path in the archive, as written (directories usually end with `/`). For a
    /// whiteout, the path it deletes; for an opaque whiteout, its directory (`""` for the
    /// root). Bytes that are not UTF-8 are shown as U+FFFD.
    pub path: String,
    /// What the entry is.
    pub kind: EntryKind,
    /// Permission bits, with setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Content size in bytes.
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Target of a symlink or hardlink.
    pub linkname: Option<String>,
    /// Device numbers of a character or block device.
    pub device: Option<(u32, u32)>,
}

/// Why a layer could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("reading the layer: {0}")]
pub struct ListError(#[source] pub io::Error);

/// The entries of a layer (plain tar, gzip including multi-member, or zstd), in order.
pub fn list<R: Read>(reader: R) -> Result<Vec<ListEntry>, ListError> {
    list_dyn(&mut BufReader::with_capacity(128 * 1024, reader)).map_err(ListError)
}

fn list_dyn(reader: &mut dyn BufRead) -> io::Result<Vec<ListEntry>> {
    let head = reader.fill_buf()?;
    let decoded: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 4 && head[1..4] == [0x2a, 0x4d, 0x18] && head[0] & 0xf0 == 0x50)
    {
        Box::new(zstd::stream::read::Decoder::with_buffer(reader)?)
    } else {
        Box::new(reader)
    };
    let mut archive = tar::Archive::new(decoded);
    let mut out = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        out.push(describe(&mut entry)?);
    }
    Ok(out)
}

fn describe<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<ListEntry> {
    let raw_path = entry.path_bytes().into_owned();
    let linkname = entry
        .link_name_bytes()
        .map(|l| String::from_utf8_lossy(&l).into_owned());
    let header = entry.header();
    let mut uid = header.uid()?;
    let mut gid = header.gid()?;
    let mut mtime = i64::try_from(header.mtime()?).unwrap_or(i64::MAX);
    let mode = header.mode()? & 0o7777;
    let entry_type = header.entry_type();
    let device = match (header.device_major()?, header.device_minor()?) {
        (Some(major), Some(minor))
            if entry_type.is_character_special() || entry_type.is_block_special() =>
        {
            Some((major, minor))
        }
        _ => None,
    };
    let size = entry.size();
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let Ok(value) = ext.value() else { continue };
            match ext.key_bytes() {
                b"uid" => uid = value.parse().unwrap_or(uid),
                b"gid" => gid = value.parse().unwrap_or(gid),
                b"mtime" => {
                    let whole = value.split('.').next().unwrap_or("");
                    mtime = whole.parse().unwrap_or(mtime);
                }
                _ => {}
            }
        }
    }
    let trimmed = raw_path.strip_suffix(b"/").unwrap_or(&raw_path);
    let (dir, base) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..=i], &trimmed[i + 1..]),
        None => (&trimmed[..0], trimmed),
    };
    let (kind, path) = if base == b".wh..wh..opq" {
        (EntryKind::Opaque, dir.to_vec())
    } else if let Some(deleted) = base.strip_prefix(b".wh.") {
        let mut p = dir.to_vec();
        p.extend_from_slice(deleted);
        (EntryKind::Whiteout, p)
    } else {
        let kind = match entry_type {
            tar::EntryType::Regular | tar::EntryType::Continuous => EntryKind::File,
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink,
            tar::EntryType::Link => EntryKind::Hardlink,
            tar::EntryType::Char => EntryKind::Char,
            tar::EntryType::Block => EntryKind::Block,
            tar::EntryType::Fifo => EntryKind::Fifo,
            other => EntryKind::Other(other.as_byte()),
        };
        (kind, raw_path.clone())
    };
    Ok(ListEntry {
        path: String::from_utf8_lossy(&path).into_owned(),
        kind,
        mode,
        uid,
        gid,
        size,
        mtime,
        linkname: if matches!(kind, EntryKind::Symlink | EntryKind::Hardlink) {
            linkname
        } else {
            None
        },
        device,
    })
}
