//! The one checked byte reader of the container layers: every read names
//! the layer and what it was reading, so a short or lying input becomes
//! `fat: at offset 0x1c: fat_arch #2 runs past the end (…)` rather than a
//! panic or a silent zero. Offsets are within the layer's own bytes.
//!
//! Layer: base (imports only [`crate::error`]).

use crate::error::{FormatError, FormatResult};

/// A bounds-checked view of one layer's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Bytes<'a> {
    data: &'a [u8],
    layer: &'a str,
}

impl<'a> Bytes<'a> {
    /// A reader over `data`, naming `layer` in its errors.
    pub fn new(data: &'a [u8], layer: &'a str) -> Self {
        Bytes { data, layer }
    }

    /// The whole buffer.
    pub fn data(self) -> &'a [u8] {
        self.data
    }

    /// Its length.
    pub fn len(self) -> usize {
        self.data.len()
    }

    /// Whether it is empty.
    pub fn is_empty(self) -> bool {
        self.data.is_empty()
    }

    /// An error in this layer at `offset`.
    pub fn error(self, offset: u64, message: impl Into<String>) -> FormatError {
        FormatError::new(self.layer, offset, message)
    }

    /// `len` bytes at `offset`, or an error naming `what`.
    pub fn slice_at(self, offset: u64, len: u64, what: &str) -> FormatResult<&'a [u8]> {
        let end = offset.checked_add(len);
        match end {
            Some(end) if end <= self.data.len() as u64 => Ok(&self.data[offset as usize..end as usize]),
            _ => Err(self.error(
                offset,
                format!(
                    "{what} ({len:#x} bytes) runs past the end of the {} ({:#x} bytes)",
                    self.layer,
                    self.data.len()
                ),
            )),
        }
    }

    /// Everything from `offset` to the end.
    pub fn rest_at(self, offset: u64, what: &str) -> FormatResult<&'a [u8]> {
        let len = (self.data.len() as u64)
            .checked_sub(offset)
            .ok_or_else(|| self.error(offset, format!("{what} starts past the end ({:#x} bytes)", self.data.len())))?;
        self.slice_at(offset, len, what)
    }

    fn array_at<const N: usize>(self, offset: u64, what: &str) -> FormatResult<[u8; N]> {
        let s = self.slice_at(offset, N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// A big-endian u32.
    pub fn u32_be_at(self, offset: u64, what: &str) -> FormatResult<u32> {
        self.array_at(offset, what).map(u32::from_be_bytes)
    }

    /// A little-endian u32.
    pub fn u32_le_at(self, offset: u64, what: &str) -> FormatResult<u32> {
        self.array_at(offset, what).map(u32::from_le_bytes)
    }

    /// A big-endian u64.
    pub fn u64_be_at(self, offset: u64, what: &str) -> FormatResult<u64> {
        self.array_at(offset, what).map(u64::from_be_bytes)
    }

    /// A little-endian u64.
    pub fn u64_le_at(self, offset: u64, what: &str) -> FormatResult<u64> {
        self.array_at(offset, what).map(u64::from_le_bytes)
    }

    /// One byte.
    pub fn u8_at(self, offset: u64, what: &str) -> FormatResult<u8> {
        self.array_at::<1>(offset, what).map(|a| a[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_bounds() {
        let b = Bytes::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9], "t");
        assert_eq!(b.u32_be_at(0, "x").unwrap(), 0x0102_0304);
        assert_eq!(b.u32_le_at(0, "x").unwrap(), 0x0403_0201);
        assert_eq!(b.u64_le_at(1, "x").unwrap(), 0x0908_0706_0504_0302);
        assert_eq!(b.u64_be_at(0, "x").unwrap(), 0x0102_0304_0506_0708);
        assert_eq!(b.u8_at(8, "x").unwrap(), 9);
        let e = b.u32_be_at(6, "magic").unwrap_err();
        assert_eq!(e.to_string(), "t: at offset 0x6: magic (0x4 bytes) runs past the end of the t (0x9 bytes)");
        assert!(b.slice_at(u64::MAX, 2, "x").is_err());
        assert!(b.rest_at(10, "x").is_err());
        assert_eq!(b.rest_at(9, "x").unwrap(), &[] as &[u8]);
    }
}
