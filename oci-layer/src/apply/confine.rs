//! Confinement: every path is cleaned lexically, then resolved inside the root through
//! open directory handles.
//!
//! Resolution follows symbolic links in the *parent* components of an entry, always
//! inside the root: `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` where the kernel has
//! it; otherwise a walk of `openat(O_NOFOLLOW | O_DIRECTORY)` steps that reads each
//! symbolic link it meets and continues with its target resolved lexically against the
//! root (an absolute target starts again at the root, `..` stops at the root). The last
//! component of an entry is never resolved: callers act on it with `*at` calls relative
//! to the parent's handle, without following it.

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::options::Resolver;

/// Symbolic links followed in one resolution before giving up (as the kernel's `ELOOP`).
const MAX_LINKS: u32 = 40;

/// Cleans an entry name lexically into its components: empty components and `.` dropped,
/// `..` removes the previous component and stops at the root. An empty result is the
/// root itself.
pub(crate) fn clean(name: &[u8]) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Joins components with `/`.
pub(crate) fn join(comps: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c);
    }
    out
}

/// Why a resolution failed.
#[derive(Debug)]
pub(crate) enum ResolveError {
    /// A component does not exist (and was not to be created).
    NotFound,
    /// A component is neither a directory nor a symbolic link.
    NotDir,
    /// Too many symbolic links.
    Loop,
    /// Anything else.
    Io(Errno),
}

/// The open root directory.
#[derive(Debug)]
pub(crate) struct Root {
    fd: OwnedFd,
    /// Cleared when `openat2` turns out to be unavailable.
    openat2: Cell<bool>,
}

/// Flags for directory handles: readable (for `readdir`, `fchmod`), never following the
/// last component where that applies.
pub(crate) fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
}

impl Root {
    pub(crate) fn open(path: &Path, resolver: Resolver) -> std::io::Result<Root> {
        let fd = rustix::fs::open(path, dir_flags(), Mode::empty())?;
        Ok(Root {
            fd,
            openat2: Cell::new(resolver == Resolver::Auto),
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory at `comps` inside the root, following symbolic links inside
    /// the root. With `create`, missing directories are made (mode 0755 before the
    /// umask) and each one made is reported, as its lexical path, to `created`.
    pub(crate) fn dir(
        &self,
        comps: &[&[u8]],
        create: bool,
        created: &mut dyn FnMut(&[u8]),
    ) -> Result<OwnedFd, ResolveError> {
        if comps.is_empty() {
            return rustix::io::fcntl_dupfd_cloexec(&self.fd, 0).map_err(ResolveError::Io);
        }
        if self.openat2.get() {
            let path = join(comps);
            let mut tries = 0;
            loop {
                let r = rustix::fs::openat2(
                    &self.fd,
                    path.as_slice(),
                    dir_flags(),
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
                );
                match r {
                    Ok(fd) => return Ok(fd),
                    Err(Errno::NOENT) if create => break,
                    Err(Errno::NOENT) => return Err(ResolveError::NotFound),
                    Err(Errno::NOTDIR) => return Err(ResolveError::NotDir),
                    Err(Errno::LOOP) => return Err(ResolveError::Loop),
                    Err(Errno::AGAIN) if tries < 8 => tries += 1,
                    Err(Errno::AGAIN) => break,
                    Err(Errno::NOSYS | Errno::PERM | Errno::INVAL | Errno::OPNOTSUPP) => {
                        self.openat2.set(false);
                        break;
                    }
                    Err(e) => return Err(ResolveError::Io(e)),
                }
            }
        }
        self.walk(comps, create, created)
    }

    /// The portable resolution: one component at a time from the root.
    fn walk(
        &self,
        comps: &[&[u8]],
        create: bool,
        created: &mut dyn FnMut(&[u8]),
    ) -> Result<OwnedFd, ResolveError> {
        // Components still to resolve, last first.
        let mut todo: Vec<Vec<u8>> = comps.iter().rev().map(|c| c.to_vec()).collect();
        // Handles and names of the directories walked so far (the root not included).
        let mut stack: Vec<OwnedFd> = Vec::new();
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut links = 0;
        while let Some(c) = todo.pop() {
            match c.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    stack.pop();
                    names.pop();
                    continue;
                }
                _ => {}
            }
            let cur = stack.last().map_or(self.fd.as_fd(), |f| f.as_fd());
            match rustix::fs::openat(
                cur,
                c.as_slice(),
                dir_flags() | OFlags::NOFOLLOW,
                Mode::empty(),
            ) {
                Ok(fd) => {
                    stack.push(fd);
                    names.push(c);
                }
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(cur, c.as_slice(), Mode::from_raw_mode(0o755)) {
                        Ok(()) => {
                            let mut path = names.join(&b'/');
                            if !path.is_empty() {
                                path.push(b'/');
                            }
                            path.extend_from_slice(&c);
                            created(&path);
                        }
                        Err(Errno::EXIST) => {}
                        Err(e) => return Err(ResolveError::Io(e)),
                    }
                    todo.push(c);
                }
                Err(Errno::NOENT) => return Err(ResolveError::NotFound),
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    let st = rustix::fs::statat(
                        cur,
                        c.as_slice(),
                        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(ResolveError::Io)?;
                    if rustix::fs::FileType::from_raw_mode(st.st_mode)
                        != rustix::fs::FileType::Symlink
                    {
                        return Err(ResolveError::NotDir);
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(ResolveError::Loop);
                    }
                    let target = rustix::fs::readlinkat(cur, c.as_slice(), Vec::new())
                        .map_err(ResolveError::Io)?;
                    let target = target.into_bytes();
                    if target.starts_with(b"/") {
                        stack.clear();
                        names.clear();
                    }
                    for part in target.split(|&b| b == b'/').rev() {
                        todo.push(part.to_vec());
                    }
                }
                Err(e) => return Err(ResolveError::Io(e)),
            }
        }
        match stack.pop() {
            Some(fd) => Ok(fd),
            None => rustix::io::fcntl_dupfd_cloexec(&self.fd, 0).map_err(ResolveError::Io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        let c = |s: &str| {
            clean(s.as_bytes())
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("/")
        };
        assert_eq!(c("a/b/c"), "a/b/c");
        assert_eq!(c("./a//b/"), "a/b");
        assert_eq!(c("/etc/passwd"), "etc/passwd");
        assert_eq!(c("../../etc/passwd"), "etc/passwd");
        assert_eq!(c("a/../../b"), "b");
        assert_eq!(c("a/b/.."), "a");
        assert_eq!(c("."), "");
        assert_eq!(c("/"), "");
        assert_eq!(c("a/.."), "");
    }
}
