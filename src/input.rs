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

/// A short positioned read of `start..end` worded as the file having
/// become shorter since it was opened (its length was checked then); other
/// errors as they are.
pub fn shorter(e: io::Error, start: u64, end: u64) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the file became shorter while it was read (no bytes at {start:#x}..{end:#x})"),
        )
    } else {
        e
    }
}

/// A regular file read piecewise: a buffer the length of the file, in
/// which only the ranges asked for ([`Sparse::load`]) are read, in whole
/// 4 KiB pages, each page at most once.
///
/// The buffer is allocated zeroed (`calloc`: the operating system hands
/// out zero pages on first touch), so a 200 MB kernel collection of which
/// 3 MB are read costs 3 MB of memory and 3 MB of reading. Bytes outside
/// the loaded ranges read as `fill` (0 unless a test asks otherwise); the
/// caller must only look at ranges it loaded. The file is read with
/// positioned reads (`pread`), never mapped: a file truncated while
/// kcheck reads it gives a short read, reported as an error, where a
/// mapping would kill the process with SIGBUS (docs/security.md).
pub struct Sparse {
    file: File,
    /// At least `len` bytes; only `buf[..len]` is the file.
    buf: Vec<u8>,
    len: usize,
    /// One bit per page: loaded.
    pages: Vec<u64>,
}

/// The unit [`Sparse::load`] reads in.
pub const SPARSE_PAGE: u64 = 4096;

impl Sparse {
    /// A sparse reader of `file`, `len` bytes long (from
    /// [`open_regular`]); nothing is read yet.
    pub fn new(file: File, len: usize) -> Sparse {
        Sparse::with_fill(file, len, 0)
    }

    /// As [`Sparse::new`], with the unread bytes set to `fill` (tests set
    /// a non-zero fill to prove a reader never looks outside what it
    /// loaded; this touches every page).
    pub fn with_fill(file: File, len: usize, fill: u8) -> Sparse {
        let pages = (len as u64).div_ceil(SPARSE_PAGE).div_ceil(64) as usize;
        Sparse { file, buf: vec![fill; len], len, pages: vec![0; pages] }
    }

    /// As [`Sparse::new`], reading into `buf`, a buffer given back by
    /// [`Sparse::into_buffer`] (the bundle walk reads hundreds of
    /// executables: clearing a fresh buffer for each cost more than reading
    /// their headers). The unread bytes hold whatever `buf` held.
    pub fn reusing(file: File, len: usize, mut buf: Vec<u8>) -> Sparse {
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let pages = (len as u64).div_ceil(SPARSE_PAGE).div_ceil(64) as usize;
        Sparse { file, buf, len, pages: vec![0; pages] }
    }

    /// The buffer, for [`Sparse::reusing`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }

    /// The whole buffer (loaded ranges hold the file's bytes).
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Read `len` bytes at `off` (clamped to the file) if not read yet.
    /// Fails when the file is shorter than it was when opened.
    pub fn load(&mut self, off: u64, len: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let size = self.len as u64;
        let end = off.saturating_add(len).min(size);
        if off >= end {
            return Ok(());
        }
        let (first, last) = (off / SPARSE_PAGE, (end - 1) / SPARSE_PAGE);
        let mut page = first;
        while page <= last {
            if self.is_page_loaded(page) {
                page += 1;
                continue;
            }
            // A run of pages not loaded yet, read in one call.
            let mut run_end = page;
            while run_end < last && !self.is_page_loaded(run_end + 1) {
                run_end += 1;
            }
            let start = page * SPARSE_PAGE;
            let stop = ((run_end + 1) * SPARSE_PAGE).min(size);
            // start < stop <= buf.len(): both fit in usize.
            self.file
                .read_exact_at(&mut self.buf[start as usize..stop as usize], start)
                .map_err(|e| shorter(e, start, stop))?;
            for p in page..=run_end {
                self.pages[(p / 64) as usize] |= 1 << (p % 64);
            }
            page = run_end + 1;
        }
        Ok(())
    }

    /// Read `buf.len()` bytes at `off` straight into `buf`, bypassing the
    /// buffer (a stream read a chunk at a time); fails, as [`Sparse::load`]
    /// does, when the file is shorter than that.
    pub fn read_at(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = off.saturating_add(buf.len() as u64);
        self.file.read_exact_at(buf, off).map_err(|e| shorter(e, off, end))
    }

    fn is_page_loaded(&self, page: u64) -> bool {
        self.pages[(page / 64) as usize] & (1 << (page % 64)) != 0
    }

    /// Bytes read from the file so far (whole pages).
    pub fn loaded_bytes(&self) -> u64 {
        let pages: u64 = self.pages.iter().map(|w| u64::from(w.count_ones())).sum();
        (pages * SPARSE_PAGE).min(self.len as u64)
    }

    /// Read everything not read yet, and give the whole file.
    pub fn into_full(mut self) -> io::Result<Vec<u8>> {
        self.load(0, self.len as u64)?;
        self.buf.truncate(self.len);
        Ok(self.buf)
    }
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

    #[test]
    fn sparse_reads_only_what_is_asked_in_pages_and_reports_a_shrunk_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8 + 1).collect();
        std::fs::write(&f, &data).unwrap();
        let (file, len) = open_regular(&f).unwrap();
        let mut s = Sparse::with_fill(file, len as usize, 0);
        assert_eq!(s.loaded_bytes(), 0);
        s.load(5000, 10).unwrap();
        assert_eq!(s.loaded_bytes(), 4096);
        assert_eq!(&s.bytes()[4096..8192], &data[4096..8192]);
        assert!(s.bytes()[..4096].iter().all(|b| *b == 0));
        assert!(s.bytes()[8192..].iter().all(|b| *b == 0));
        // Overlapping and past-the-end requests read only the new pages.
        s.load(4000, 100_000).unwrap();
        assert_eq!(s.loaded_bytes(), 20_000);
        assert_eq!(&s.bytes()[4096..], &data[4096..]);
        s.load(30_000, 10).unwrap();
        assert_eq!(s.into_full().unwrap(), data);
        // A file cut short after it was opened is an error, not zeros.
        let (file, len) = open_regular(&f).unwrap();
        let mut s = Sparse::new(file, len as usize);
        std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(6000).unwrap();
        s.load(0, 100).unwrap();
        let e = s.load(8192, 100).unwrap_err();
        assert!(e.to_string().contains("shorter"), "{e}");
    }
}
