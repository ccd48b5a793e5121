//! The buffer a decoder writes a whole decompressed image into.
//!
//! A 76 MB image written into fresh heap memory costs one page fault per
//! 4 KiB page (about 19,000 faults, a quarter of a `comp`/LZVN decode's
//! time). Large buffers are therefore anonymous mappings (`memmap2`'s safe
//! `map_anon`) advised `MADV_HUGEPAGE` on Linux, so the kernel can back
//! them with 2 MiB pages where transparent huge pages are enabled in
//! `madvise` or `always` mode; elsewhere (macOS, or when the mapping or
//! the advice is refused) they are ordinary zeroed memory. Either way the
//! bytes start as zeros, as `vec![0; n]` would give.
//!
//! Measured on the 600-kext FAT > comp/LZVN cache (docs/performance.md):
//! huge pages cut `kexts` to 0.65× of ordinary pages at the median;
//! pre-faulting ordinary pages (`MAP_POPULATE`) gave 0.8×. The price on
//! Linux with THP `defrag` set to `madvise` (the usual default) is an
//! occasional slow run when the kernel compacts memory to find 2 MiB
//! pages on a busy, fragmented machine.

use std::ops::{Deref, DerefMut};

/// Buffers at least this large are mapped rather than allocated.
const MAP_AT_LEAST: usize = 4 << 20;

/// A zero-filled output buffer of a fixed length.
pub struct OutBuf(Inner);

enum Inner {
    Heap(Vec<u8>),
    Mapped(memmap2::MmapMut),
}

impl OutBuf {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> OutBuf {
        if len >= MAP_AT_LEAST
            && let Ok(m) = memmap2::MmapMut::map_anon(len)
        {
            #[cfg(target_os = "linux")]
            {
                // Only advice: a refusal leaves ordinary pages.
                let _ = m.advise(memmap2::Advice::HugePage);
            }
            return OutBuf(Inner::Mapped(m));
        }
        OutBuf(Inner::Heap(vec![0u8; len]))
    }

    /// A buffer holding `v`.
    pub fn from_vec(v: Vec<u8>) -> OutBuf {
        OutBuf(Inner::Heap(v))
    }
}

impl Deref for OutBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.0 {
            Inner::Heap(v) => v,
            Inner::Mapped(m) => m,
        }
    }
}

impl DerefMut for OutBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Inner::Heap(v) => v,
            Inner::Mapped(m) => m,
        }
    }
}

impl<T: AsRef<[u8]>> PartialEq<T> for OutBuf {
    fn eq(&self, other: &T) -> bool {
        **self == *other.as_ref()
    }
}

impl std::fmt::Debug for OutBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.0 {
            Inner::Heap(_) => "heap",
            Inner::Mapped(_) => "mapped",
        };
        write!(f, "OutBuf({kind}, {} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_large_buffers_start_zeroed_and_keep_their_length() {
        for len in [0, 1, 4095, MAP_AT_LEAST - 1, MAP_AT_LEAST, MAP_AT_LEAST + 12_345] {
            let mut b = OutBuf::zeroed(len);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|x| *x == 0), "len {len}");
            if len > 0 {
                b[len - 1] = 7;
                assert_eq!(b[len - 1], 7);
            }
        }
        assert!(format!("{:?}", OutBuf::zeroed(MAP_AT_LEAST)).contains("bytes"));
        assert_eq!(&*OutBuf::from_vec(vec![1, 2]), &[1, 2]);
    }
}
