//! Directory-handle primitives: every call names one child of an open directory, so no path
//! string that crosses directories is ever resolved again (another process cannot swap a parent
//! for a symlink between a check and a write).
//!
//! Symlinks are never followed: directories are opened with `O_DIRECTORY | O_NOFOLLOW`, files
//! with `O_NOFOLLOW`, and metadata is read with `AT_SYMLINK_NOFOLLOW`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags, Stat};

/// `O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens the directory `name` inside `dir`; a symlink there fails (`ELOOP` or `ENOTDIR`).
pub(crate) fn open_dir(dir: impl AsFd, name: &OsStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, dir_flags(), Mode::empty())?)
}

/// Opens a directory the caller named by path (its parents may be symlinks: the caller chose
/// them); the last component must not be a symlink when `nofollow`.
pub(crate) fn open_dir_path(path: &Path, nofollow: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    if nofollow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(rustix::fs::open(path, flags, Mode::empty())?)
}

/// Opens the regular file `name` inside `dir` for reading, without following a symlink.
pub(crate) fn open_file(dir: impl AsFd, name: &OsStr) -> io::Result<std::fs::File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    Ok(std::fs::File::from(fd))
}

/// Creates the file `name` inside `dir` with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode `mode`
/// (before the umask): it never follows a symlink and never reuses an inode.
pub(crate) fn create_file(dir: impl AsFd, name: &OsStr, mode: u32) -> io::Result<std::fs::File> {
    let fd = rustix::fs::openat(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?;
    Ok(std::fs::File::from(fd))
}

/// The metadata of `name` inside `dir` (not following a symlink), or `None` when it is missing.
pub(crate) fn lstat(dir: impl AsFd, name: &OsStr) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(stat)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What an `lstat` says a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Type {
    Dir,
    File,
    Symlink,
    Other,
}

/// The type recorded in `stat`.
pub(crate) fn file_type(stat: &Stat) -> Type {
    match rustix::fs::FileType::from_raw_mode(stat.st_mode) {
        rustix::fs::FileType::Directory => Type::Dir,
        rustix::fs::FileType::RegularFile => Type::File,
        rustix::fs::FileType::Symlink => Type::Symlink,
        _ => Type::Other,
    }
}

/// The permission bits of `stat` (with setuid, setgid and sticky).
pub(crate) fn mode_bits(stat: &Stat) -> u32 {
    stat.st_mode & 0o7777
}

/// Sets the mode of an open file or directory.
pub(crate) fn set_mode(fd: impl AsFd, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))?)
}

/// Creates the directory `name` inside `dir` with mode `mode` (before the umask).
pub(crate) fn mkdir(dir: impl AsFd, name: &OsStr, mode: u32) -> io::Result<()> {
    Ok(rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode))?)
}

/// Removes the non-directory `name` inside `dir`.
pub(crate) fn unlink(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?)
}

/// The names in an open directory, `.` and `..` left out, in the order the kernel gives them.
pub(crate) fn children(dir: impl AsFd) -> io::Result<Vec<OsString>> {
    let mut out = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(OsString::from_vec(name.to_vec()));
        }
    }
    Ok(out)
}

/// Removes whatever is at `name` inside `dir` — a file, a symlink (not what it points to) or a
/// whole directory tree — walking by handle. Directories are made `0700` first so a tree whose
/// directories are read-only (`0555`) can still be emptied. A missing `name` is not an error.
pub(crate) fn remove_tree(dir: impl AsFd, name: &OsStr) -> io::Result<()> {
    let dir = dir.as_fd();
    let Some(stat) = lstat(dir, name)? else {
        return Ok(());
    };
    if file_type(&stat) != Type::Dir {
        return match unlink(dir, name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
    }
    let child = match open_dir(dir, name) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            // A directory without `r` or `x` for us: make it ours to list, then open it. (The
            // name was a directory a moment ago; `fchmodat` has no no-follow mode, so re-check.)
            rustix::fs::chmodat(dir, name, Mode::from_raw_mode(0o700), AtFlags::empty())?;
            open_dir(dir, name)?
        }
        Err(e) => return Err(e),
    };
    set_mode(&child, 0o700)?;
    for grandchild in children(&child)? {
        remove_tree(&child, &grandchild)?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        other => Ok(other?),
    }
}

/// `prefix` followed by a name no other call in any process is likely to produce (process id,
/// a per-process counter and per-process random bits). Callers create it exclusively
/// (`mkdirat`, `O_EXCL`) and try again on `EEXIST`, so uniqueness is checked, not assumed.
pub(crate) fn unique_name(prefix: &OsStr) -> OsString {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(count);
    let random = hasher.finish() & 0xff_ffff;
    let mut name = prefix.to_os_string();
    name.push(format!("{:x}{count:x}{random:06x}", std::process::id()));
    name
}

/// `a` followed by `b`.
pub(crate) fn concat(a: &OsStr, b: impl AsRef<OsStr>) -> OsString {
    let mut out = a.to_os_string();
    out.push(b);
    out
}

/// Whether `name` starts with `prefix`, byte for byte; the rest when it does.
pub(crate) fn strip_prefix<'a>(name: &'a OsStr, prefix: &OsStr) -> Option<&'a OsStr> {
    name.as_bytes()
        .strip_prefix(prefix.as_bytes())
        .map(OsStr::from_bytes)
}
