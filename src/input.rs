//! Reading input files safely: only regular files are read, they are
//! opened without blocking (a FIFO or a device node at a cache, kernel or
//! plist path must never hang kcheck or feed it endless bytes), and the
//! length is checked against a bound on the open file before anything is
//! read, then enforced while reading (a file that grows is cut off and
//! refused).
//!
//! Layer: base (imports nothing of the crate).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug)]
pub enum InputError {
    /// Not a regular file (a FIFO, a socket, a device, a directory).
    NotRegular(&'static str),
    /// Larger than the bound.
    TooLarge {
        /// Its size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// The operating system refused.
    Io(io::Error),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::NotRegular(kind) => write!(f, "is {kind}, not a regular file"),
            InputError::TooLarge { size, max } => write!(f, "is {size} bytes, over the {max}-byte limit"),
            InputError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InputError {}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

/// Open `path` for reading without blocking, and check on the open file
/// that it is a regular file. Returns the file and its length.
pub fn open_regular(path: &Path) -> Result<(File, u64), InputError> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
    // writer forever. It has no effect on reads from a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(InputError::Io)?;
    let meta = file.metadata().map_err(InputError::Io)?;
    if !meta.file_type().is_file() {
        return Err(InputError::NotRegular(kind_of(meta.file_type())));
    }
    Ok((file, meta.len()))
}

/// Read all of a regular file of at most `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> Result<Vec<u8>, InputError> {
    let (file, len) = open_regular(path)?;
    if len > max {
        return Err(InputError::TooLarge { size: len, max });
    }
    let mut data = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1)).read_to_end(&mut data).map_err(InputError::Io)?;
    if data.len() as u64 > max {
        return Err(InputError::TooLarge { size: data.len() as u64, max });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(matches!(read_regular(&fifo, 10), Err(InputError::NotRegular("a FIFO"))));
        assert!(matches!(read_regular(Path::new("/dev/zero"), 10), Err(InputError::NotRegular("a character device"))));
        assert!(matches!(
            read_regular(dir.path(), 10),
            Err(InputError::NotRegular("a directory")) | Err(InputError::Io(_))
        ));
        let f = dir.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_regular(&f, 5).unwrap(), b"hello");
        assert!(matches!(read_regular(&f, 4), Err(InputError::TooLarge { size: 5, max: 4 })));
    }
}
