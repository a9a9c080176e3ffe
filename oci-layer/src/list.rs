//! Listing the entries of a layer, whatever its compression (sniffed from the bytes).

use std::io::Read;

use crate::tar::{Entry, Error, Kind, Limits, Reader};

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
    /// Content size in bytes (0 for links, directories, devices and fifos, which carry
    /// no data whatever their header says).
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Target of a symlink or hardlink.
    pub linkname: Option<String>,
    /// Device numbers of a character or block device.
    pub device: Option<(u32, u32)>,
}

/// The entries of a layer (plain tar, gzip including multi-member, or zstd), in order,
/// read with the crate's one tar reader within [`Limits::default()`].
pub fn list<R: Read>(reader: R) -> Result<Vec<ListEntry>, Error> {
    list_with_limits(reader, Limits::default())
}

/// [`list`] within the given limits; the layer is read to its end.
pub fn list_with_limits<R: Read>(reader: R, limits: Limits) -> Result<Vec<ListEntry>, Error> {
    let mut out = Vec::new();
    let mut reader = Reader::new(reader, limits)?;
    while let Some(entry) = reader.next()? {
        out.push(describe(entry));
    }
    reader.finish()?;
    Ok(out)
}

fn describe(entry: Entry) -> ListEntry {
    let raw_path = entry.name;
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
        let kind = match entry.kind {
            Kind::File => EntryKind::File,
            Kind::Dir => EntryKind::Dir,
            Kind::Symlink => EntryKind::Symlink,
            Kind::Hardlink => EntryKind::Hardlink,
            Kind::Char => EntryKind::Char,
            Kind::Block => EntryKind::Block,
            Kind::Fifo => EntryKind::Fifo,
            Kind::Other(flag) => EntryKind::Other(flag),
        };
        (kind, raw_path.clone())
    };
    let is_link = matches!(kind, EntryKind::Symlink | EntryKind::Hardlink);
    ListEntry {
        path: String::from_utf8_lossy(&path).into_owned(),
        kind,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        size: entry.size,
        mtime: entry.mtime.secs,
        linkname: (is_link && !entry.link.is_empty())
            .then(|| String::from_utf8_lossy(&entry.link).into_owned()),
        device: matches!(entry.kind, Kind::Char | Kind::Block)
            .then_some((entry.dev_major, entry.dev_minor)),
    }
}
