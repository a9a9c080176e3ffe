//! `Config.User` into `process.user` (conversion.md "Config.User", V9 to V14): parsing
//! the value, reading `/etc/passwd` and `/etc/group` of the root filesystem without
//! leaving it, and resolving names.

use std::fs::File;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::ConvertError;
use super::spec::User;

/// Path of the user database in the container.
pub(crate) const PASSWD: &str = "/etc/passwd";
/// Path of the group database in the container.
pub(crate) const GROUP: &str = "/etc/group";

/// Largest `/etc/passwd` or `/etc/group` read (a hostile image could ship a huge one).
pub(crate) const MAX_USER_DB_SIZE: u64 = 16 << 20;

/// Where the converter reads the container's `/etc/passwd` and `/etc/group`.
pub trait UserDb {
    /// The bytes of the file at `path` (absolute, as seen in the container), or `None`
    /// when it does not exist.
    fn read_file(&self, path: &str) -> io::Result<Option<Vec<u8>>>;
}

/// Files of an unpacked root filesystem, read as the container would see them.
///
/// # Security
///
/// Paths are resolved with `openat2(RESOLVE_IN_ROOT)`: `..` and symlinks (absolute or
/// relative) never leave the root directory, so a hostile `/etc/passwd ->
/// ../../../etc/passwd` reads the rootfs's own `/etc/passwd`, not the host's. Only regular
/// files are read (a FIFO or device is an error, opened non-blocking), and at most
/// 16 MiB. Needs Linux 5.6 or later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsFiles {
    root: PathBuf,
}

impl RootfsFiles {
    /// The root filesystem at `root`.
    pub fn new(root: impl Into<PathBuf>) -> RootfsFiles {
        RootfsFiles { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl UserDb for RootfsFiles {
    fn read_file(&self, path: &str) -> io::Result<Option<Vec<u8>>> {
        read_in_root(&self.root, path, MAX_USER_DB_SIZE)
    }
}

/// No user database at all: names never resolve, numeric ids get group 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoUserDb;

impl UserDb for NoUserDb {
    fn read_file(&self, _path: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// Opens `path` inside `root` with every symlink and `..` confined to `root`.
pub(crate) fn open_in_root(root: &Path, path: &str, flags: OFlags) -> io::Result<Option<File>> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() { "." } else { relative };
    // openat2 rejects O_PATH combined with anything but O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC.
    let flags = if flags.contains(OFlags::PATH) {
        flags | OFlags::CLOEXEC
    } else {
        flags | OFlags::CLOEXEC | OFlags::NOCTTY
    };
    let mut attempts = 0;
    loop {
        match rustix::fs::openat2(
            &dir,
            relative,
            flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        ) {
            Ok(fd) => return Ok(Some(File::from(fd))),
            Err(Errno::NOENT) | Err(Errno::NOTDIR) => return Ok(None),
            // The kernel asks for a retry when a rename raced with the lookup.
            Err(Errno::AGAIN) if attempts < 16 => attempts += 1,
            Err(err) => return Err(err.into()),
        }
    }
}

fn read_in_root(root: &Path, path: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let Some(file) = open_in_root(root, path, OFlags::RDONLY | OFlags::NONBLOCK)? else {
        return Ok(None);
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(Some(bytes))
}

/// One `/etc/passwd` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

/// One `/etc/group` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// The lines worth parsing: not blank, not comments, not NIS `+`/`-` entries.
fn lines(bytes: &[u8]) -> impl Iterator<Item = Vec<&str>> {
    bytes
        .split(|&b| b == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| {
            let trimmed = line.trim_start();
            !trimmed.is_empty()
                && !trimmed.starts_with('#')
                && !trimmed.starts_with('+')
                && !trimmed.starts_with('-')
        })
        .map(|line| line.split(':').collect())
}

/// `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped.
pub(crate) fn parse_passwd(bytes: &[u8]) -> Vec<PasswdEntry> {
    lines(bytes)
        .filter_map(|fields| {
            Some(PasswdEntry {
                name: (*fields.first()?).to_owned(),
                uid: parse_id(fields.get(2)?)?,
                gid: parse_id(fields.get(3)?)?,
            })
        })
        .collect()
}

/// `name:password:gid:member,member`; malformed lines are skipped.
pub(crate) fn parse_group(bytes: &[u8]) -> Vec<GroupEntry> {
    lines(bytes)
        .filter_map(|fields| {
            Some(GroupEntry {
                name: (*fields.first()?).to_owned(),
                gid: parse_id(fields.get(2)?)?,
                members: fields
                    .get(3)
                    .map(|list| {
                        list.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// A decimal id: ASCII digits only, fitting 32 bits.
fn parse_id(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A part of `Config.User`: a number or a name.
enum Id<'a> {
    Numeric(u32),
    Name(&'a str),
}

fn classify<'a>(user: &str, part: &'a str) -> Result<Id<'a>, ConvertError> {
    if part.is_empty() {
        return Err(ConvertError::InvalidUser {
            user: user.to_owned(),
            reason: "empty user or group",
        });
    }
    if part.bytes().all(|b| b.is_ascii_digit()) {
        return part
            .parse()
            .map(Id::Numeric)
            .map_err(|_| ConvertError::InvalidUser {
                user: user.to_owned(),
                reason: "id does not fit 32 bits",
            });
    }
    Ok(Id::Name(part))
}

/// Lazily read user and group databases.
struct Databases<'a> {
    source: &'a dyn UserDb,
    passwd: Option<Vec<PasswdEntry>>,
    group: Option<Vec<GroupEntry>>,
}

impl Databases<'_> {
    fn read(&self, path: &'static str) -> Result<Vec<u8>, ConvertError> {
        self.source
            .read_file(path)
            .map(Option::unwrap_or_default)
            .map_err(|source| ConvertError::ReadUserDb { path, source })
    }

    fn passwd(&mut self) -> Result<&[PasswdEntry], ConvertError> {
        if self.passwd.is_none() {
            self.passwd = Some(parse_passwd(&self.read(PASSWD)?));
        }
        Ok(self.passwd.as_deref().unwrap_or_default())
    }

    fn group(&mut self) -> Result<&[GroupEntry], ConvertError> {
        if self.group.is_none() {
            self.group = Some(parse_group(&self.read(GROUP)?));
        }
        Ok(self.group.as_deref().unwrap_or_default())
    }
}

/// `process.user` for `Config.User` (`None` or empty: root, uid 0 gid 0, V13).
///
/// - numeric user or group: copied verbatim (V10), even when absent from the databases;
/// - named user or group: resolved from `/etc/passwd` and `/etc/group` (V11); a name
///   that is not there is an error (V14);
/// - no group: the primary group of the user's passwd entry (0 for a numeric uid that has
///   no entry);
/// - `additionalGids` (V12): only for a named user without a group, the groups whose
///   member list names the user, sorted, without duplicates and without the primary
///   group; otherwise left unset.
pub(crate) fn resolve(
    config_user: Option<&str>,
    source: &dyn UserDb,
) -> Result<User, ConvertError> {
    let Some(spec) = config_user.filter(|u| !u.is_empty()) else {
        return Ok(User::default());
    };
    let (user_part, group_part) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    if group_part.is_some_and(|g| g.contains(':')) {
        return Err(ConvertError::InvalidUser {
            user: spec.to_owned(),
            reason: "more than one ':'",
        });
    }
    let user_id = classify(spec, user_part)?;
    let group_id = group_part.map(|g| classify(spec, g)).transpose()?;
    let mut dbs = Databases {
        source,
        passwd: None,
        group: None,
    };

    let (uid, primary_gid, name) = match user_id {
        Id::Numeric(uid) => {
            let primary = if group_id.is_none() {
                dbs.passwd()?
                    .iter()
                    .find(|e| e.uid == uid)
                    .map_or(0, |e| e.gid)
            } else {
                0
            };
            (uid, primary, None)
        }
        Id::Name(name) => {
            let entry = dbs
                .passwd()?
                .iter()
                .find(|e| e.name == name)
                .ok_or_else(|| ConvertError::UnknownUser {
                    user: spec.to_owned(),
                    name: name.to_owned(),
                })?;
            (entry.uid, entry.gid, Some(name))
        }
    };

    let gid = match group_id {
        None => primary_gid,
        Some(Id::Numeric(gid)) => gid,
        Some(Id::Name(group)) => dbs
            .group()?
            .iter()
            .find(|e| e.name == group)
            .map(|e| e.gid)
            .ok_or_else(|| ConvertError::UnknownGroup {
                user: spec.to_owned(),
                name: group.to_owned(),
            })?,
    };

    let additional_gids = match (name, group_id) {
        (Some(name), None) => {
            let mut gids: Vec<u32> = dbs
                .group()?
                .iter()
                .filter(|e| e.gid != gid && e.members.iter().any(|m| m == name))
                .map(|e| e.gid)
                .collect();
            gids.sort_unstable();
            gids.dedup();
            (!gids.is_empty()).then_some(gids)
        }
        _ => None,
    };
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_skips_noise() {
        let text = b"# comment\n\nroot:x:0:0:root:/root:/bin/sh\r\n+nis\nbad:x:notanumber:1\nshort:x:5\n  \napp:x:1000:1001::/home/app:/bin/sh";
        let entries = parse_passwd(text);
        assert_eq!(
            entries,
            vec![
                PasswdEntry {
                    name: "root".into(),
                    uid: 0,
                    gid: 0
                },
                PasswdEntry {
                    name: "app".into(),
                    uid: 1000,
                    gid: 1001
                },
            ]
        );
    }

    #[test]
    fn group_members() {
        let entries = parse_group(b"wheel:x:10:app, other ,\nempty:x:11:\nnolist:x:12\n");
        assert_eq!(entries[0].members, vec!["app", "other"]);
        assert!(entries[1].members.is_empty());
        assert!(entries[2].members.is_empty());
    }
}
