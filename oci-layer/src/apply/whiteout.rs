//! Whiteouts, the order-sensitive part of layer.md.
//!
//! A whiteout (`.wh.NAME`) or opaque whiteout (`.wh..wh..opq`) hides content of *lower*
//! layers only: entries of the same layer survive it, whether they come before or after
//! it in the tar. So each layer records the paths it has written ([`Marks`]): a whiteout
//! met after them removes everything at its path except what this layer wrote (and the
//! directories leading there); one met before them removes the lower content, which this
//! layer then writes over. Either order gives the same tree.

use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::confine::dir_flags;
use super::fsops::{children, kind_at, remove_all};

/// What the current layer did at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// An entry of the layer was written there.
    Entry,
    /// A missing parent directory was made there for an entry.
    Implicit,
    /// A directory leading to one of the above.
    Ancestor,
}

/// Paths (cleaned, joined with `/`) the current layer wrote.
#[derive(Debug, Default)]
pub(crate) struct Marks {
    map: HashMap<Vec<u8>, Mark>,
}

impl Marks {
    pub(crate) fn get(&self, path: &[u8]) -> Option<Mark> {
        self.map.get(path).copied()
    }

    /// Records `path` (and its ancestors).
    pub(crate) fn set(&mut self, path: &[u8], mark: Mark) {
        match self.map.get_mut(path) {
            Some(m) => {
                if mark == Mark::Entry || *m == Mark::Ancestor {
                    *m = mark;
                }
            }
            None => {
                self.map.insert(path.to_vec(), mark);
            }
        }
        let mut end = path.len();
        while let Some(slash) = path[..end].iter().rposition(|&b| b == b'/') {
            end = slash;
            let prefix = &path[..end];
            if self.map.contains_key(prefix) {
                break;
            }
            self.map.insert(prefix.to_vec(), Mark::Ancestor);
        }
    }

    /// Removes `name` in `dir` (at `path`) except what this layer wrote: a path the layer
    /// wrote is kept, a directory on the way to one is kept and cleaned recursively,
    /// anything else is removed with its contents.
    pub(crate) fn remove_lower(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: &mut Vec<u8>,
    ) -> Result<(), Errno> {
        match self.get(path) {
            None => remove_all(dir, name),
            Some(_) => {
                if kind_at(dir, name)? != Some(FileType::Directory) {
                    return Ok(());
                }
                let fd = match rustix::fs::openat(
                    dir,
                    name,
                    dir_flags() | OFlags::NOFOLLOW,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(()),
                    Err(e) => return Err(e),
                };
                self.clear_lower(fd.as_fd(), path)
            }
        }
    }

    /// Removes the children of the directory `dir` (at `path`) that this layer did not
    /// write: the opaque whiteout.
    pub(crate) fn clear_lower(&self, dir: BorrowedFd<'_>, path: &mut Vec<u8>) -> Result<(), Errno> {
        for child in children(dir)? {
            let len = path.len();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&child);
            let r = self.remove_lower(dir, &child, path);
            path.truncate(len);
            r?;
        }
        Ok(())
    }
}
