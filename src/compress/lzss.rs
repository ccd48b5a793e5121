//! LZSS (Okumura 1989), as kextcache and iBoot use it for `comp`/`lzss`
//! prelinkedkernels and `complzss` IM4P payloads. Decoder only: the fixture
//! encoder lives in the dev-only `kcheck-testkit` crate.
//!
//! Not read through `crate::bytes::Bytes`: byte access in the decode loop
//! is indexed for speed; every index is checked against the buffer lengths
//! by the loop conditions.

use crate::error::{FormatError, FormatResult};

/// Ring buffer size.
pub const LZSS_N: usize = 4096;
/// Longest match.
pub const LZSS_F: usize = 18;
/// Matches must be longer than this to be encoded.
const LZSS_THRESHOLD: usize = 2;
/// Shortest encodable match.
pub const LZSS_MIN_MATCH: usize = LZSS_THRESHOLD + 1;
/// Initial ring write position.
pub const LZSS_R0: usize = LZSS_N - LZSS_F;
/// Most output one flag group (8 items) can produce.
const LZSS_GROUP_OUT: usize = 8 * LZSS_F;
/// Most input one flag group can consume (flag byte + 8 two-byte matches).
const LZSS_GROUP_IN: usize = 1 + 8 * 2;

/// The initial ring content, viewed as "history" before output byte 0.
///
/// Output byte `k` is written to ring slot `(LZSS_R0 + k) % N`, so a match
/// whose source is `dist` bytes back from output position `op` reads output
/// byte `op - dist` when that exists, and otherwise the initial ring slot
/// `(LZSS_R0 + op - dist) mod N`: spaces in slots `0..N-F`, zero in the last
/// `F` slots (which LZSS.C leaves uninitialised; encoders never use them).
/// `back` is `dist - op`, in `1..=N`.
fn lzss_prefill(back: usize) -> u8 {
    let slot = (LZSS_R0 + LZSS_N - back) % LZSS_N;
    if slot < LZSS_R0 { b' ' } else { 0 }
}

/// Distance back from output position `op` to ring slot `pos`, in `1..=N`.
///
/// LZSS.C copies a match byte by byte, reading slot `pos + k` before writing
/// slot `r + k`, so `pos == r` reads the byte written N positions earlier.
#[inline(always)]
fn lzss_distance(op: usize, pos: usize) -> usize {
    let r = (LZSS_R0 + op) % LZSS_N;
    (r.wrapping_sub(pos).wrapping_sub(1) % LZSS_N) + 1
}

/// Decode a match pair into (ring position, length).
#[inline(always)]
fn lzss_pair(b0: u8, b1: u8) -> (usize, usize) {
    let pos = usize::from(b0) | ((usize::from(b1) & 0xF0) << 4);
    let len = usize::from(b1 & 0x0F) + LZSS_MIN_MATCH;
    (pos, len)
}

/// Apple's LZSS (Okumura 1989 LZSS.C as used by kextcache/iBoot).
///
/// N = 4096 ring, F = 18, THRESHOLD = 2; the ring starts filled with spaces
/// for its first N - F bytes and the write position starts at N - F. Each
/// flag byte is read LSB first: bit 1 = one literal byte, bit 0 = a match
/// `b0, b1` at ring position `b0 | ((b1 & 0xF0) << 4)` of length
/// `(b1 & 0x0F) + 3`.
///
/// Decodes into `dst`, whose length is the declared uncompressed size, and
/// returns the number of bytes produced. Running out of input ends decoding
/// (a trailing partial flag group is normal), so a truncated stream yields a
/// short count the caller must check. An item that would write past
/// `dst.len()` is an error, unless everything from that item to the end of
/// the input is zero bytes (padding after a full output). Bytes of `dst`
/// past the returned count are unspecified.
pub fn lzss_decode(src: &[u8], dst: &mut [u8], layer: &str) -> FormatResult<usize> {
    let mut ip = 0usize;
    let mut op = 0usize;
    loop {
        // Fast path: whole flag groups that cannot run out of input or
        // output and whose matches cannot reach the initial ring.
        while op >= LZSS_N
            && dst.len() - op >= LZSS_GROUP_OUT
            && let Some((group, _)) = src[ip..].split_first_chunk::<LZSS_GROUP_IN>()
        {
            let flags = group[0];
            let mut k = 1usize;
            for bit in 0..8 {
                if flags & (1 << bit) != 0 {
                    dst[op] = group[k];
                    k += 1;
                    op += 1;
                } else {
                    let (pos, len) = lzss_pair(group[k], group[k + 1]);
                    k += 2;
                    let from = op - lzss_distance(op, pos);
                    if op - from >= len {
                        // Non-overlapping: a fixed-size move is cheaper than a
                        // variable one; the extra bytes are rewritten later
                        // (the group bound guarantees they are inside `dst`).
                        dst.copy_within(from..from + LZSS_F, op);
                    } else {
                        for j in 0..len {
                            dst[op + j] = dst[from + j];
                        }
                    }
                    op += len;
                }
            }
            ip += k;
        }

        // Slow path: one flag group with every access checked.
        let Some(&flags) = src.get(ip) else {
            return Ok(op);
        };
        ip += 1;
        for bit in 0..8 {
            let item = ip;
            if flags & (1 << bit) != 0 {
                let Some(&byte) = src.get(ip) else {
                    return Ok(op);
                };
                ip += 1;
                if op >= dst.len() {
                    return lzss_overrun(src, item, dst.len(), op, layer);
                }
                dst[op] = byte;
                op += 1;
            } else {
                let (Some(&b0), Some(&b1)) = (src.get(ip), src.get(ip + 1)) else {
                    return Ok(op);
                };
                ip += 2;
                let (pos, len) = lzss_pair(b0, b1);
                if dst.len() - op < len {
                    return lzss_overrun(src, item, dst.len(), op, layer);
                }
                let dist = lzss_distance(op, pos);
                for j in 0..len {
                    let at = op + j;
                    dst[at] = if at >= dist { dst[at - dist] } else { lzss_prefill(dist - at) };
                }
                op += len;
            }
        }
    }
}

/// Classify an item that would not fit in the output: zero padding after the
/// stream (tolerated, decoding ends) or a real overrun (an error).
fn lzss_overrun(src: &[u8], item: usize, size: usize, produced: usize, layer: &str) -> FormatResult<usize> {
    if src[item..].iter().all(|&b| b == 0) {
        return Ok(produced);
    }
    Err(FormatError::new(layer, item as u64, format!("decompressed data exceeds the declared size of {size} bytes")))
}
