//! Filesystem operations relative to directory handles that never follow a symbolic link
//! in their last component.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use super::confine::dir_flags;
use crate::tar::Mtime;

/// Deepest directory tree removed recursively.
const MAX_REMOVE_DEPTH: usize = 4096;

pub(crate) fn timestamps(m: Mtime) -> Timestamps {
    let t = Timespec {
        tv_sec: m.secs,
        tv_nsec: i64::from(m.nanos),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// The type of `name` in `dir`, without following it; `None` when absent.
pub(crate) fn kind_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<Option<FileType>, Errno> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `name` in `dir` whatever it is (a directory with all its contents), never
/// following symbolic links. Absent is fine.
pub(crate) fn remove_all(dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    remove_all_depth(dir, name, 0)
}

fn remove_all_depth(dir: BorrowedFd<'_>, name: &[u8], depth: usize) -> Result<(), Errno> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR | Errno::PERM) => {}
        Err(e) => return Err(e),
    }
    if depth > MAX_REMOVE_DEPTH {
        return Err(Errno::LOOP);
    }
    let fd = match rustix::fs::openat(dir, name, dir_flags() | OFlags::NOFOLLOW, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        // Replaced by a non-directory meanwhile: unlink that.
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    for child in children(fd.as_fd())? {
        remove_all_depth(fd.as_fd(), &child, depth + 1)?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The names in a directory, `.` and `..` left out.
pub(crate) fn children(dir: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    let mut d = Dir::read_from(dir)?;
    while let Some(entry) = d.read() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// `chmod` of `name` in `dir` without following a symbolic link: `fchmodat2` with
/// `AT_SYMLINK_NOFOLLOW` (Linux 6.6), else an `O_PATH` handle checked not to be a link and
/// changed through `/proc/self/fd`.
pub(crate) fn chmod_nofollow(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> Result<(), Errno> {
    let cname = CString::new(name).map_err(|_| Errno::INVAL)?;
    // SAFETY: plain syscall with a valid fd, a NUL-terminated string and integer flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            dir.as_raw_fd(),
            cname.as_ptr(),
            mode as libc::c_uint,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO);
    if err != Errno::NOSYS && err != Errno::INVAL && err != Errno::PERM {
        return Err(err);
    }
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let st = rustix::fs::fstat(&fd)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Ok(());
    }
    let proc = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::chmod(proc.as_str(), Mode::from_raw_mode(mode))
}
