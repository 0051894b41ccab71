//! Real hostile entries for the system under test (P16): FIFOs (`mkfifo`), Unix sockets,
//! character devices (`mknod`, needs CAP_MKNOD), directories and symlinks, with their own mtime
//! set without following a link; and reading them back in model terms without ever opening one.

use crate::machine::DIR;
use lockcore::FileKind;
use models::reference::Content;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

fn c_path(path: &Path) -> Result<CString, String> {
    CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())
}

fn errno(what: &str, path: &Path) -> String {
    format!(
        "{what} {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    )
}

/// Creates a `kind` entry at `path`; a symlink points to `target` (a name in the same
/// directory: a file, nothing, or itself).
pub fn make(path: &Path, kind: FileKind, target: Option<&str>) -> Result<(), String> {
    let c = c_path(path)?;
    match kind {
        FileKind::Fifo => {
            // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
            if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
                return Err(errno("mkfifo", path));
            }
        }
        FileKind::Device => {
            let dev = libc::makedev(1, 3);
            // SAFETY: as above; mknod only reads its arguments.
            if unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) } != 0 {
                return Err(errno("mknod", path));
            }
        }
        // The listener is dropped at once: the socket file stays, nobody accepts.
        FileKind::Socket => drop(
            std::os::unix::net::UnixListener::bind(path).map_err(|e| errno_of("bind", path, e))?,
        ),
        FileKind::Directory => std::fs::create_dir(path).map_err(|e| errno_of("mkdir", path, e))?,
        FileKind::Symlink => std::os::unix::fs::symlink(target.unwrap_or("missing.target"), path)
            .map_err(|e| errno_of("symlink", path, e))?,
        FileKind::Regular | FileKind::Other => {
            return Err(format!("cannot plant a {} entry", kind.as_str()))
        }
    }
    Ok(())
}

fn errno_of(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("{what} {}: {e}", path.display())
}

/// Sets the entry's own mtime (a link's, not its target's) to `ms`.
pub fn set_mtime_nofollow(path: &Path, ms: i64) -> Result<(), String> {
    let c = c_path(path)?;
    let ts = libc::timespec {
        tv_sec: ms.div_euclid(1000),
        tv_nsec: ms.rem_euclid(1000) * 1_000_000,
    };
    let times = [ts, ts];
    // SAFETY: `c` and `times` outlive the call; utimensat reads both.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r != 0 {
        return Err(errno("utimensat", path));
    }
    Ok(())
}

/// What sits at `path` in model terms if it is not a regular file (`lstat`; a link's target
/// is mapped into the model directory by name); `None` for a regular file.
pub fn describe(path: &Path) -> Result<Option<Content>, String> {
    let meta = path
        .symlink_metadata()
        .map_err(|e| errno_of("lstat", path, e))?;
    let t = meta.file_type();
    let kind = if t.is_file() {
        return Ok(None);
    } else if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Directory
    } else if t.is_fifo() {
        FileKind::Fifo
    } else if t.is_socket() {
        FileKind::Socket
    } else if t.is_char_device() || t.is_block_device() {
        FileKind::Device
    } else {
        FileKind::Other
    };
    let target = if kind == FileKind::Symlink {
        let to = std::fs::read_link(path).map_err(|e| errno_of("readlink", path, e))?;
        let name = to.file_name().map(PathBuf::from).unwrap_or(to);
        Some(Path::new(DIR).join(name))
    } else {
        None
    };
    Ok(Some(Content::NotRegular { kind, target }))
}

/// The bytes of the regular file at `path`, never blocking on a FIFO or following a link
/// (`O_NONBLOCK | O_NOFOLLOW`, then `fstat`): `Ok(None)` for anything that is not a regular file.
/// The harness's own reads must be as careful as lockcore's, or a planted FIFO hangs the run.
pub fn read_regular(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let mut f = match opened {
        Ok(f) => f,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENXIO)) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    if !f.metadata()?.file_type().is_file() {
        return Ok(None);
    }
    let mut buf = Vec::with_capacity(512);
    f.read_to_end(&mut buf)?;
    Ok(Some(buf))
}
