//! Tar headers in fixed formats: POSIX ustar blocks, preceded by a PAX extended header
//! (`x`) only when a value does not fit the ustar fields (long path or link target, huge
//! size, uid or gid, negative or huge mtime) or when the entry has extended attributes.
//!
//! Every field is written the same way every time: octal numbers zero-padded and
//! NUL-terminated, no user or group names, no atime or ctime, mtime in whole seconds.
//! In the [`HeaderStyle::Layer`] style the ustar `prefix` field is never used: a path
//! longer than 100 bytes goes in a PAX `path` record (its first 100 bytes stay in the
//! `name` field for old readers); [`HeaderStyle::Go`] writes what Go's `archive/tar` does.

/// Tar type flags.
pub mod typeflag {
    /// A regular file.
    pub const FILE: u8 = b'0';
    /// A hard link.
    pub const HARDLINK: u8 = b'1';
    /// A symbolic link.
    pub const SYMLINK: u8 = b'2';
    /// A character device.
    pub const CHAR: u8 = b'3';
    /// A block device.
    pub const BLOCK: u8 = b'4';
    /// A directory.
    pub const DIR: u8 = b'5';
    /// A fifo.
    pub const FIFO: u8 = b'6';
    /// A PAX extended header for the next entry.
    pub const PAX: u8 = b'x';
}

/// The name of every PAX extended header block of [`HeaderStyle::Layer`].
const PAX_NAME: &[u8] = b"././@PaxHeader";

/// Largest value of an 11-digit octal field (size, mtime).
const MAX_OCTAL_11: u64 = 0o777_7777_7777;
/// Largest value of a 7-digit octal field (mode, uid, gid, device numbers).
const MAX_OCTAL_7: u64 = 0o777_7777;

/// Extended attributes: (name, value) pairs sorted by name.
pub(crate) type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// How headers are laid out when a value does not fit the ustar fields. Both are
/// deterministic: the same header gives the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderStyle {
    /// This crate's layers: the ustar `prefix` field is never used (a path over 100 bytes
    /// goes in a PAX `path` record), PAX records in the order path, linkpath, size, uid,
    /// gid, mtime, extended attributes, under the name `././@PaxHeader` with mode 0644.
    #[default]
    Layer,
    /// Go's `archive/tar` as containers/image uses it for docker-archives: a long path is
    /// split into ustar prefix and name where Go's `splitUSTARPath` can, PAX records sorted
    /// by key, under the name `DIR/PaxHeaders.0/BASE` with mode 0 and empty device fields.
    Go,
}

/// Everything a header says about one entry.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// The full path in the archive (directories end with `/`).
    pub path: &'a [u8],
    /// The type flag ([`typeflag`]).
    pub typeflag: u8,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    /// Numeric owner.
    pub uid: u64,
    /// Numeric group.
    pub gid: u64,
    /// Bytes of data that follow the header.
    pub size: u64,
    /// Seconds since the epoch (already clamped by the caller).
    pub mtime: i64,
    /// Link target of a symbolic or hard link.
    pub linkname: &'a [u8],
    /// Major device number (devices only).
    pub devmajor: u64,
    /// Minor device number (devices only).
    pub devminor: u64,
    /// Extended attributes, sorted by name, written as PAX `SCHILY.xattr.*` records.
    pub xattrs: &'a [(Vec<u8>, Vec<u8>)],
    /// The layout.
    pub style: HeaderStyle,
}

impl Header<'_> {
    /// Appends the header block(s) to `out`: an optional PAX header with its records,
    /// then the ustar block. Content (and its [`padding`]) is the caller's business.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode(self, out)
    }
}

fn encode(f: &Header<'_>, out: &mut Vec<u8>) {
    let go = f.style == HeaderStyle::Go;
    let split = if go { split_ustar_path(f.path) } else { None };
    let mut records: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if f.path.len() > 100 && split.is_none() {
        records.push((b"path".to_vec(), f.path.to_vec()));
    }
    if f.linkname.len() > 100 {
        records.push((b"linkpath".to_vec(), f.linkname.to_vec()));
    }
    if f.size > MAX_OCTAL_11 {
        records.push((b"size".to_vec(), f.size.to_string().into_bytes()));
    }
    if f.uid > MAX_OCTAL_7 {
        records.push((b"uid".to_vec(), f.uid.to_string().into_bytes()));
    }
    if f.gid > MAX_OCTAL_7 {
        records.push((b"gid".to_vec(), f.gid.to_string().into_bytes()));
    }
    let mtime_fits = f.mtime >= 0 && (f.mtime as u64) <= MAX_OCTAL_11;
    if !mtime_fits {
        records.push((b"mtime".to_vec(), f.mtime.to_string().into_bytes()));
    }
    for (name, value) in f.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(name);
        records.push((key, value.clone()));
    }
    if go {
        records.sort();
    }
    if !records.is_empty() {
        let mut data = Vec::new();
        for (key, value) in &records {
            pax_record(&mut data, key, value);
        }
        let go_name;
        let (name, mode) = if go {
            let (dir, base) = match f.path.iter().rposition(|&b| b == b'/') {
                Some(i) => f.path.split_at(i + 1),
                None => (&b""[..], f.path),
            };
            go_name = [dir, b"PaxHeaders.0/", base].concat();
            (go_name.as_slice(), 0)
        } else {
            (PAX_NAME, 0o644)
        };
        let pax = Header {
            path: name,
            typeflag: typeflag::PAX,
            mode,
            uid: 0,
            gid: 0,
            size: data.len() as u64,
            mtime: 0,
            linkname: b"",
            devmajor: 0,
            devminor: 0,
            xattrs: &[],
            style: f.style,
        };
        ustar(&pax, None, out);
        out.extend_from_slice(&data);
        pad(out);
    }
    ustar(f, split, out);
}

/// Appends zeros up to the next 512-byte boundary of `out`.
fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

/// The number of zero bytes that follow `size` bytes of content.
pub fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}

/// One PAX record: `"%d %s=%s\n"`, the length counting itself.
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let base = key.len() + value.len() + 3; // space, '=', newline
    let mut len = base + digits(base);
    if digits(len) > digits(base) {
        len += 1;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn digits(n: usize) -> usize {
    n.to_string().len()
}

/// Go's `splitUSTARPath`: a name too long for the name field split into prefix and name.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= 100 || !name.is_ascii() {
        return None;
    } else if length > 156 {
        length = 156;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let i = name[..length].iter().rposition(|&b| b == b'/')?;
    let nlen = name.len() - i - 1;
    if i == 0 || nlen > 100 || nlen == 0 || i > 155 {
        return None;
    }
    Some((&name[..i], &name[i + 1..]))
}

/// The ustar block itself; values that do not fit were given in PAX records and are
/// written here as zero (or truncated, for names).
fn ustar(f: &Header<'_>, split: Option<(&[u8], &[u8])>, out: &mut Vec<u8>) {
    let mut b = [0u8; 512];
    let (prefix, name) = split.unwrap_or((b"", f.path));
    let name_len = name.len().min(100);
    b[..name_len].copy_from_slice(&name[..name_len]);
    b[345..345 + prefix.len()].copy_from_slice(prefix);
    octal(&mut b[100..108], u64::from(f.mode & 0o7777));
    octal(
        &mut b[108..116],
        if f.uid > MAX_OCTAL_7 { 0 } else { f.uid },
    );
    octal(
        &mut b[116..124],
        if f.gid > MAX_OCTAL_7 { 0 } else { f.gid },
    );
    octal(
        &mut b[124..136],
        if f.size > MAX_OCTAL_11 { 0 } else { f.size },
    );
    let mtime = if f.mtime >= 0 && (f.mtime as u64) <= MAX_OCTAL_11 {
        f.mtime as u64
    } else {
        0
    };
    octal(&mut b[136..148], mtime);
    b[156] = f.typeflag;
    let link_len = f.linkname.len().min(100);
    b[157..157 + link_len].copy_from_slice(&f.linkname[..link_len]);
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    if f.typeflag == typeflag::CHAR || f.typeflag == typeflag::BLOCK {
        octal(&mut b[329..337], f.devmajor.min(MAX_OCTAL_7));
        octal(&mut b[337..345], f.devminor.min(MAX_OCTAL_7));
    } else if !(f.style == HeaderStyle::Go && f.typeflag == typeflag::PAX) {
        octal(&mut b[329..337], 0);
        octal(&mut b[337..345], 0);
    }
    // Checksum: computed with the field as eight spaces, written as six digits, NUL, space.
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let s = format!("{sum:06o}");
    b[148..154].copy_from_slice(s.as_bytes());
    b[154] = 0;
    b[155] = b' ';
    out.extend_from_slice(&b);
}

/// Zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    field[..width].copy_from_slice(&s.as_bytes()[s.len() - width..]);
    field[width] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, b"path", &[b'a'; 93]);
        // 4 + 93 + 3 = 100, plus "103" is 103 bytes.
        assert_eq!(out.len(), 103);
        assert!(out.starts_with(b"103 path="));
        let mut out = Vec::new();
        pax_record(&mut out, b"k", b"v");
        assert_eq!(out, b"6 k=v\n");
        let mut out = Vec::new();
        pax_record(&mut out, b"k", &[b'x'; 5]);
        assert_eq!(out, b"11 k=xxxxx\n");
    }

    #[test]
    fn octal_fields_are_zero_padded() {
        let mut f = [0xffu8; 8];
        octal(&mut f, 0o755);
        assert_eq!(&f, b"0000755\0");
    }
}
