//! Adler-32, the checksum that guards the `comp` layer (zlib's `adler32(1, buf, len)`).

/// Adler-32 modulus: the largest prime below 2^16.
const ADLER_MOD: u32 = 65521;

/// Largest n such that 255 n (n + 1) / 2 + (n + 1)(MOD - 1) fits in a u32:
/// the number of bytes that can be summed before a modulo is needed.
const ADLER_NMAX: usize = 5552;

/// Standard Adler-32 (a = 1, b = 0, mod 65521); the same value as zlib's
/// `adler32(1, buf, len)`.
///
/// The modulo is deferred to once per 5552-byte block, and the inner loop
/// works on 16-byte chunks so the compiler can keep everything in registers.
pub fn adler32(data: &[u8]) -> u32 {
    let mut a: u32 = 1;
    let mut b: u32 = 0;
    for block in data.chunks(ADLER_NMAX) {
        let mut chunks = block.chunks_exact(16);
        for chunk in &mut chunks {
            for &byte in chunk {
                a += u32::from(byte);
                b += a;
            }
        }
        for &byte in chunks.remainder() {
            a += u32::from(byte);
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    (b << 16) | a
}
