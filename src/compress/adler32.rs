//! Adler-32, the checksum that guards the `comp` layer (zlib's `adler32(1, buf, len)`).
//!
//! Computed with `simd-adler32` (the implementation `miniz_oxide` and
//! `png` use): AVX2/SSSE3/NEON paths picked at run time, a scalar path
//! elsewhere; about 3× the deferred-modulo scalar loop kcheck used before
//! on a 76 MB image (docs/performance.md). The tests check it against a
//! naive implementation and zlib's known vectors.

/// Standard Adler-32 (a = 1, b = 0, mod 65521); the same value as zlib's
/// `adler32(1, buf, len)`.
pub fn adler32(data: &[u8]) -> u32 {
    let mut h = simd_adler32::Adler32::new();
    h.write(data);
    h.finish()
}

/// Adler-32 over data given in pieces ([`adler32`] of their concatenation).
#[derive(Default)]
pub struct Adler32(simd_adler32::Adler32);

impl Adler32 {
    /// A checksum of nothing yet.
    pub fn new() -> Adler32 {
        Adler32(simd_adler32::Adler32::new())
    }

    /// Add `data`.
    pub fn write(&mut self, data: &[u8]) {
        self.0.write(data);
    }

    /// The checksum of everything written.
    pub fn finish(&self) -> u32 {
        self.0.finish()
    }
}
