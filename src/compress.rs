//! Decompressors (and fixture encoders) for the formats found in macOS
//! kernel caches: Apple's LZSS (`comp`/`lzss` prelinkedkernels), raw LZVN
//! (`comp`/`lzvn`), LZFSE streams (`bvx2`/`bvx1`/`bvxn`/`bvx-` blocks, as in
//! im4p payloads), and the Adler-32 checksum that guards the `comp` layer.
//!
//! Every decoder is bounded: the caller states (or the stream declares) the
//! decompressed size up front, the declared size is checked against a cap
//! before anything is allocated, and a stream that produces more or fewer
//! bytes than declared is an error (LZSS reports a short count instead, so the
//! caller can word the error with its own header fields).

use crate::error::{FormatError, FormatResult};

/// Hard cap on any decompressed size (1 GiB); real caches are < 300 MB.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;

// ---------------------------------------------------------------------------
// Adler-32
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// LZSS (Okumura 1989, as used by kextcache and iBoot)
// ---------------------------------------------------------------------------

/// Ring buffer size.
const LZSS_N: usize = 4096;
/// Longest match.
const LZSS_F: usize = 18;
/// Matches must be longer than this to be encoded.
const LZSS_THRESHOLD: usize = 2;
/// Shortest encodable match.
const LZSS_MIN_MATCH: usize = LZSS_THRESHOLD + 1;
/// Initial ring write position.
const LZSS_R0: usize = LZSS_N - LZSS_F;
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

/// Hash-table size (log2) for the LZSS encoder.
const LZSS_HASH_BITS: u32 = 15;
/// How many earlier positions the encoder tries per input position.
const LZSS_MAX_CHAIN: usize = 48;
/// Furthest distance the encoder uses: LZSS.C's own encoder never reaches
/// further back than N - F, so every decoder handles it the same way.
const LZSS_MAX_DIST: usize = LZSS_N - LZSS_F;
/// Sentinel for "no position" in the hash tables.
const LZSS_NONE: usize = usize::MAX;

/// Hash of the three bytes at `at`.
#[inline(always)]
fn lzss_hash(buf: &[u8], at: usize) -> usize {
    let v = u32::from(buf[at]) | (u32::from(buf[at + 1]) << 8) | (u32::from(buf[at + 2]) << 16);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - LZSS_HASH_BITS)) as usize
}

/// Greedy LZSS encoder producing exactly the format [`lzss_decode`] reads
/// (for test fixtures). Uses hash chains over a 3-byte hash, so it runs in
/// linear time; matches may reach into the initial space-filled ring.
pub fn lzss_encode(src: &[u8]) -> Vec<u8> {
    // Work on "history + input": the N - F spaces of the initial ring, then
    // the input, so buffer index `x` is output position `x - (N - F)` and
    // ring slot `x % N`. (The last F, unset, ring slots are never used.)
    let base = LZSS_R0;
    let mut buf = Vec::with_capacity(base + src.len());
    buf.resize(base, b' ');
    buf.extend_from_slice(src);
    let end = buf.len();

    let mut head = vec![LZSS_NONE; 1 << LZSS_HASH_BITS];
    let mut prev = vec![LZSS_NONE; LZSS_N];
    let insert = |head: &mut [usize], prev: &mut [usize], x: usize| {
        if x + LZSS_MIN_MATCH <= end {
            let h = lzss_hash(&buf, x);
            prev[x % LZSS_N] = head[h];
            head[h] = x;
        }
    };
    // The spaces are all alike: the most recent F positions are enough to
    // find every match into them (longer chains would only repeat).
    for x in base.saturating_sub(LZSS_F)..base {
        insert(&mut head, &mut prev, x);
    }

    let mut out = Vec::with_capacity(src.len() / 2 + 16);
    let mut p = base;
    while p < end {
        let flag_at = out.len();
        out.push(0u8);
        let mut flags = 0u8;
        for bit in 0..8 {
            if p >= end {
                break;
            }
            let max_len = LZSS_F.min(end - p);
            let (mut best_len, mut best_from) = (0usize, 0usize);
            if max_len >= LZSS_MIN_MATCH {
                let mut cand = head[lzss_hash(&buf, p)];
                let mut tries = 0;
                while cand != LZSS_NONE && p - cand <= LZSS_MAX_DIST && tries < LZSS_MAX_CHAIN {
                    let len = buf[cand..].iter().zip(&buf[p..p + max_len]).take_while(|(a, b)| a == b).count();
                    if len > best_len {
                        best_len = len;
                        best_from = cand;
                        if len == max_len {
                            break;
                        }
                    }
                    cand = prev[cand % LZSS_N];
                    tries += 1;
                }
            }
            if best_len >= LZSS_MIN_MATCH {
                let pos = best_from % LZSS_N;
                out.push((pos & 0xFF) as u8);
                out.push((((pos >> 4) & 0xF0) | (best_len - LZSS_MIN_MATCH)) as u8);
                for x in p..p + best_len {
                    insert(&mut head, &mut prev, x);
                }
                p += best_len;
            } else {
                flags |= 1 << bit;
                out.push(buf[p]);
                insert(&mut head, &mut prev, p);
                p += 1;
            }
        }
        out[flag_at] = flags;
    }
    out
}

// ---------------------------------------------------------------------------
// LZFSE
// ---------------------------------------------------------------------------

/// Read a little-endian u32 at `at`, if present.
fn le_u32(src: &[u8], at: usize) -> Option<u32> {
    let bytes = src.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Read a little-endian u64 at `at`, if present.
fn le_u64(src: &[u8], at: usize) -> Option<u64> {
    let bytes = src.get(at..at.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

/// Extract `bits` bits starting at bit `lo` of `v`.
fn bit_field(v: u64, lo: u32, bits: u32) -> u64 {
    (v >> lo) & ((1u64 << bits) - 1)
}

/// Size of an LZFSE v1 (uncompressed tables) block header.
const LZFSE_V1_HEADER: u64 = 770;
/// Fixed part of an LZFSE v2 block header (magic, n_raw, three u64 fields).
const LZFSE_V2_FIXED: u64 = 32;

/// Walk the block headers of an LZFSE stream without decoding and return the
/// total declared raw (decompressed) size.
///
/// Blocks: `bvx-` (stored), `bvxn` (LZVN), `bvx1`/`bvx2` (LZFSE with
/// uncompressed/compressed tables), ended by `bvx$`. Errors on an unknown
/// magic, a block running past the end of `src`, a missing end marker, data
/// after the end marker, or a total above `cap`.
pub fn lzfse_decoded_size(src: &[u8], cap: u64, layer: &str) -> FormatResult<u64> {
    lzfse_scan(src, cap, layer, |_, _| {})
}

/// [`lzfse_decoded_size`], calling `on_block(offset, magic)` for each block
/// (including the end marker) as it is found.
fn lzfse_scan(src: &[u8], cap: u64, layer: &str, mut on_block: impl FnMut(usize, [u8; 4])) -> FormatResult<u64> {
    let err = |at: usize, msg: String| FormatError::new(layer, at as u64, msg);
    let len = src.len() as u64;
    let mut pos = 0usize;
    let mut total = 0u64;
    loop {
        let Some(magic) = src.get(pos..pos + 4) else {
            return Err(err(pos, "missing lzfse end-of-stream marker".into()));
        };
        let short = || err(pos, "lzfse block header runs past the end of the input".into());
        on_block(pos, [magic[0], magic[1], magic[2], magic[3]]);
        let (n_raw, block_len) = match magic {
            b"bvx$" => {
                let after = pos + 4;
                if after != src.len() {
                    return Err(err(
                        after,
                        format!("{} bytes of data after the lzfse end-of-stream marker", src.len() - after),
                    ));
                }
                return Ok(total);
            }
            b"bvx-" => {
                let n_raw = le_u32(src, pos + 4).ok_or_else(short)?;
                (u64::from(n_raw), 8 + u64::from(n_raw))
            }
            b"bvxn" => {
                let n_raw = le_u32(src, pos + 4).ok_or_else(short)?;
                let n_payload = le_u32(src, pos + 8).ok_or_else(short)?;
                (u64::from(n_raw), 12 + u64::from(n_payload))
            }
            b"bvx1" => {
                if len - (pos as u64) < LZFSE_V1_HEADER {
                    return Err(short());
                }
                let n_raw = le_u32(src, pos + 4).ok_or_else(short)?;
                let n_lit_payload = le_u32(src, pos + 20).ok_or_else(short)?;
                let n_lmd_payload = le_u32(src, pos + 24).ok_or_else(short)?;
                (u64::from(n_raw), LZFSE_V1_HEADER + u64::from(n_lit_payload) + u64::from(n_lmd_payload))
            }
            b"bvx2" => {
                let n_raw = le_u32(src, pos + 4).ok_or_else(short)?;
                let v0 = le_u64(src, pos + 8).ok_or_else(short)?;
                let v1 = le_u64(src, pos + 16).ok_or_else(short)?;
                let v2 = le_u64(src, pos + 24).ok_or_else(short)?;
                let n_lit_payload = bit_field(v0, 20, 20);
                let n_lmd_payload = bit_field(v1, 40, 20);
                let header_size = bit_field(v2, 0, 32);
                if header_size < LZFSE_V2_FIXED {
                    return Err(err(pos, format!("lzfse v2 block header size {header_size} is too small")));
                }
                (u64::from(n_raw), header_size + n_lit_payload + n_lmd_payload)
            }
            _ => {
                return Err(err(
                    pos,
                    format!(
                        "unknown lzfse block magic {:02x}{:02x}{:02x}{:02x}",
                        magic[0], magic[1], magic[2], magic[3]
                    ),
                ));
            }
        };
        if block_len > len - pos as u64 {
            return Err(err(
                pos,
                format!(
                    "lzfse block of {block_len} bytes runs past the end of the input ({} bytes left)",
                    len - pos as u64
                ),
            ));
        }
        total += n_raw;
        if total > cap {
            return Err(err(pos, format!("lzfse stream declares more than {cap} decompressed bytes")));
        }
        // `block_len <= len - pos`, so this fits in usize.
        pos += block_len as usize;
    }
}

/// Turn a decoder's message into this crate's style (lower case).
fn lower(msg: impl std::fmt::Display) -> String {
    msg.to_string().to_lowercase()
}

/// Allocate the output buffer for an LZFSE decode producing `size` bytes.
///
/// lzfse_rust's `Vec` writer asks for `reserve(len + match + 32)` *extra*
/// bytes on every match (it passes an absolute size where `reserve` wants an
/// increment), so an exactly-sized Vec is reallocated to about twice its size
/// (copying everything) once the output passes the halfway mark. Reserving
/// that much up front avoids the copy; the untouched tail is address space
/// only, and is returned by `shrink_to_fit` afterwards.
fn lzfse_output(size: usize) -> Vec<u8> {
    Vec::with_capacity(size.saturating_mul(2).saturating_add(64))
}

/// Decode a whole LZFSE stream (any mix of block kinds).
///
/// The block headers are walked first ([`lzfse_decoded_size`], bounded by
/// `cap`) so the output is allocated once, then the stream is decoded with
/// `lzfse_rust`, and the produced length must equal the declared total.
/// Decoder errors carry offset 0 (the decoder does not say where).
pub fn lzfse_decode(src: &[u8], cap: u64, layer: &str) -> FormatResult<Vec<u8>> {
    let total = lzfse_decoded_size(src, cap, layer)?;
    let size = usize::try_from(total)
        .map_err(|_| FormatError::new(layer, 0, format!("lzfse size {total} does not fit in memory")))?;
    let mut out = lzfse_output(size);
    lzfse_rust::decode_bytes(src, &mut out).map_err(|e| FormatError::new(layer, 0, format!("lzfse: {}", lower(e))))?;
    if out.len() != size {
        return Err(FormatError::new(
            layer,
            0,
            format!("lzfse stream produced {} bytes but its headers declare {size}", out.len()),
        ));
    }
    out.shrink_to_fit();
    Ok(out)
}

/// LZFSE encoder for fixtures (wraps `lzfse_rust::encode_bytes`).
pub fn lzfse_encode(src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len() / 2 + 64);
    // Encoding into a Vec cannot fail except on allocation failure, which
    // aborts anyway; an empty result would fail any later decode loudly.
    if lzfse_rust::encode_bytes(src, &mut out).is_err() {
        out.clear();
    }
    out
}

// ---------------------------------------------------------------------------
// LZVN
// ---------------------------------------------------------------------------

/// Decode a raw LZVN stream (no `bvxn` header, as inside a prelinkedkernel's
/// `comp`/`lzvn` container) into exactly `size` bytes.
///
/// The stream is wrapped in a synthetic `bvxn` block and decoded with
/// lzfse_rust, which measured about 1.4-1.7x faster than the `lzvn` crate
/// on 60 MB of shared libraries (the `lzvn` crate copies matches byte by
/// byte), even counting the copy of the compressed input. If that fails,
/// the stream is decoded again with `lzvn::decode_raw_into`, which reports
/// where the problem is, to word the error.
///
/// Errors if `size` exceeds [`MAX_DECOMPRESSED`], or the stream is
/// malformed, produces fewer bytes than `size`, or would produce more.
pub fn lzvn_decode(src: &[u8], size: usize, layer: &str) -> FormatResult<Vec<u8>> {
    let too_big = |what: &str, n: usize| {
        FormatError::new(layer, 0, format!("lzvn {what} of {n} bytes exceeds the limit of {MAX_DECOMPRESSED} bytes"))
    };
    if size as u64 > MAX_DECOMPRESSED {
        return Err(too_big("declared size", size));
    }
    let n_raw = u32::try_from(size).map_err(|_| too_big("declared size", size))?;
    let n_payload = u32::try_from(src.len()).map_err(|_| too_big("stream", src.len()))?;
    let mut wrapped = Vec::with_capacity(src.len() + 16);
    wrapped.extend_from_slice(b"bvxn");
    wrapped.extend_from_slice(&n_raw.to_le_bytes());
    wrapped.extend_from_slice(&n_payload.to_le_bytes());
    wrapped.extend_from_slice(src);
    wrapped.extend_from_slice(b"bvx$");
    let mut out = lzfse_output(size);
    match lzfse_rust::decode_bytes(&wrapped, &mut out) {
        Ok(_) if out.len() == size => {
            out.shrink_to_fit();
            Ok(out)
        }
        result => {
            drop(out);
            drop(wrapped);
            // Diagnose with the other decoder, which knows input offsets.
            match lzvn_decode_direct(src, size, layer) {
                Err(e) => Err(e),
                Ok(_) => Err(FormatError::new(
                    layer,
                    0,
                    match result {
                        Err(e) => format!("lzvn: {}", lower(e)),
                        Ok(_) => format!("lzvn stream does not decode to {size} bytes"),
                    },
                )),
            }
        }
    }
}

/// Decode raw LZVN with the `lzvn` crate into exactly `size` bytes.
///
/// Slower than [`lzvn_decode`]'s main path, but its errors carry the input
/// offset of the problem.
fn lzvn_decode_direct(src: &[u8], size: usize, layer: &str) -> FormatResult<Vec<u8>> {
    let mut out = vec![0u8; size];
    let written = lzvn::decode_raw_into(src, &mut out).map_err(|e| lzvn_error(e, size, layer))?;
    if written != size {
        return Err(FormatError::new(
            layer,
            src.len() as u64,
            format!("lzvn stream ended after {written} of {size} declared bytes"),
        ));
    }
    Ok(out)
}

/// Map an `lzvn` error to a [`FormatError`], keeping its input offset when
/// it has one.
fn lzvn_error(e: lzvn::Error, size: usize, layer: &str) -> FormatError {
    match e {
        lzvn::Error::TruncatedInput { position } => {
            FormatError::new(layer, position as u64, "lzvn stream ends in the middle of an instruction")
        }
        lzvn::Error::InvalidOpcode { position, opcode } => {
            FormatError::new(layer, position as u64, format!("invalid lzvn opcode {opcode:#04x}"))
        }
        lzvn::Error::OutputTooSmall { written, .. } => FormatError::new(
            layer,
            0,
            format!("decompressed data exceeds the declared size of {size} bytes (after {written} bytes)"),
        ),
        other => FormatError::new(layer, 0, format!("lzvn: {}", lower(other))),
    }
}

/// Raw LZVN encoder for fixtures (wraps `lzvn::encode_raw`).
pub fn lzvn_encode(src: &[u8]) -> Vec<u8> {
    lzvn::encode_raw(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random bytes (xorshift64*).
    fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s >> 12;
                s ^= s << 25;
                s ^= s >> 27;
                (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect()
    }

    /// Text-like, compressible data with some randomness.
    fn mixed_bytes(n: usize, seed: u64) -> Vec<u8> {
        let words: [&[u8]; 8] = [
            b"kernel ",
            b"__TEXT ",
            b"com.apple.driver.",
            b"\0\0\0\0",
            b"IOService ",
            b"\x48\x89\xe5",
            b"<key>CFBundleIdentifier</key>",
            b"\n",
        ];
        let noise = random_bytes(n, seed);
        let mut out = Vec::with_capacity(n + 64);
        let mut i = 0;
        while out.len() < n {
            let r = noise[i % n.max(1)];
            i += 1;
            if r < 40 {
                out.push(noise[(i * 7) % n.max(1)]);
            } else {
                out.extend_from_slice(words[usize::from(r) % words.len()]);
            }
        }
        out.truncate(n);
        out
    }

    fn naive_adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &x in data {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        (b << 16) | a
    }

    fn lzss_roundtrip(data: &[u8]) -> Vec<u8> {
        let enc = lzss_encode(data);
        let mut dst = vec![0u8; data.len()];
        let n = lzss_decode(&enc, &mut dst, "lzss").unwrap();
        assert_eq!(n, data.len());
        assert!(dst == data, "lzss round trip differs");
        enc
    }

    #[test]
    fn adler32_known_vectors() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b"a"), 0x0062_0062);
    }

    #[test]
    fn adler32_large_matches_naive() {
        let mut data = random_bytes(1_000_003, 7);
        assert_eq!(adler32(&data), naive_adler32(&data));
        // All 0xff is the worst case for the deferred modulo.
        data.iter_mut().for_each(|b| *b = 0xFF);
        assert_eq!(adler32(&data), naive_adler32(&data));
        for n in [1, 15, 16, 17, 5551, 5552, 5553, 11104, 11105] {
            assert_eq!(adler32(&data[..n]), naive_adler32(&data[..n]), "n = {n}");
        }
    }

    #[test]
    fn lzss_roundtrips() {
        assert!(lzss_roundtrip(b"").is_empty());
        lzss_roundtrip(b"x");
        lzss_roundtrip(b"hello hello hello hello");
        lzss_roundtrip(&random_bytes(100_000, 1));
        lzss_roundtrip(&mixed_bytes(1 << 20, 2));
        // Exercise every distance boundary around the ring size.
        let mut far = random_bytes(5000, 3);
        far.extend_from_within(0..5000);
        far.extend_from_slice(&random_bytes(4078, 4));
        far.extend_from_within(4000..9000);
        lzss_roundtrip(&far);
    }

    #[test]
    fn lzss_compresses_repetitive_data() {
        let data: Vec<u8> = b"abcdefgh".iter().copied().cycle().take(1 << 20).collect();
        let enc = lzss_roundtrip(&data);
        // 18 bytes per 2-byte match plus a flag byte per 8 matches.
        assert!(enc.len() < data.len() / 8, "{} bytes", enc.len());
        let enc = lzss_roundtrip(&mixed_bytes(1 << 20, 9));
        assert!(enc.len() < (1 << 20) * 3 / 4, "{} bytes", enc.len());
    }

    #[test]
    fn lzss_spaces_use_the_prefilled_ring() {
        let data = vec![b' '; 10_000];
        let enc = lzss_roundtrip(&data);
        // The very first item is already a match into the initial ring.
        assert_eq!(enc[0] & 1, 0);
        assert!(enc.len() < 1300, "{} bytes", enc.len());
        lzss_roundtrip(b" ");
        lzss_roundtrip(b"   ");
    }

    #[test]
    fn lzss_match_into_initial_ring_decodes_to_spaces() {
        // Flag 0b10: a match, then a literal. Position 0 of the ring,
        // length 18: all spaces. Then 'x'.
        let src = [0b10u8, 0x00, 0x0F, b'x'];
        let mut dst = [0u8; 19];
        assert_eq!(lzss_decode(&src, &mut dst, "lzss").unwrap(), 19);
        assert_eq!(&dst[..18], &[b' '; 18]);
        assert_eq!(dst[18], b'x');
        // Position 0xfed (N - F - 1) is the space just before the write
        // position: "a" + 4 bytes from there gives "a" + " a a" overlapping.
        let src = [0b01u8, b'a', 0xED, 0xF1];
        let mut dst = [0u8; 5];
        assert_eq!(lzss_decode(&src, &mut dst, "lzss").unwrap(), 5);
        assert_eq!(&dst, b"a a a");
    }

    #[test]
    fn lzss_overrun_is_an_error() {
        let data = mixed_bytes(50_000, 5);
        let enc = lzss_encode(&data);
        let mut dst = vec![0u8; data.len() - 1];
        let err = lzss_decode(&enc, &mut dst, "comp/lzss").unwrap_err();
        assert_eq!(err.layer, "comp/lzss");
        assert!(err.message.starts_with("decompressed data exceeds the declared size"));
        assert!(err.offset > 0 && err.offset < enc.len() as u64);
        // Zero padding after a complete stream is accepted.
        let mut padded = enc.clone();
        padded.extend_from_slice(&[0u8; 13]);
        let mut dst = vec![0u8; data.len()];
        assert_eq!(lzss_decode(&padded, &mut dst, "lzss").unwrap(), data.len());
        assert!(dst == data);
    }

    #[test]
    fn lzss_truncated_gives_short_count() {
        let data = mixed_bytes(200_000, 6);
        let enc = lzss_encode(&data);
        for cut in [0, 1, 2, 17, enc.len() / 2, enc.len() - 1] {
            let mut dst = vec![0u8; data.len()];
            let n = lzss_decode(&enc[..cut], &mut dst, "lzss").unwrap();
            assert!(n < data.len(), "cut {cut}");
            assert!(dst[..n] == data[..n]);
        }
    }

    #[test]
    fn lzss_garbage_does_not_panic() {
        for seed in 0..200 {
            let src = random_bytes(3000, seed);
            let mut dst = vec![0u8; (seed as usize) * 50];
            let _ = lzss_decode(&src, &mut dst, "lzss");
        }
    }

    #[test]
    fn lzfse_size_matches_input() {
        for data in [
            Vec::new(),
            b"test".to_vec(),
            mixed_bytes(3000, 1),
            mixed_bytes(100_000, 2),
            random_bytes(300_000, 3),
            mixed_bytes(3_000_000, 4),
        ] {
            let enc = lzfse_encode(&data);
            assert_eq!(lzfse_decoded_size(&enc, MAX_DECOMPRESSED, "lzfse").unwrap(), data.len() as u64);
            assert!(lzfse_decode(&enc, MAX_DECOMPRESSED, "lzfse").unwrap() == data);
        }
    }

    /// Offsets of the blocks of an LZFSE stream, with their magic.
    fn lzfse_blocks(enc: &[u8]) -> Vec<(usize, [u8; 4])> {
        let mut out = Vec::new();
        lzfse_scan(enc, MAX_DECOMPRESSED, "lzfse", |at, magic| out.push((at, magic))).unwrap();
        out
    }

    #[test]
    fn lzfse_bvx2_layout_and_cap() {
        let data = mixed_bytes(2_000_000, 11);
        let enc = lzfse_encode(&data);
        let blocks = lzfse_blocks(&enc);
        assert!(blocks.len() >= 3, "{blocks:?}");
        assert!(blocks[..blocks.len() - 1].iter().all(|b| &b.1 == b"bvx2"));
        assert_eq!(blocks[blocks.len() - 1], (enc.len() - 4, *b"bvx$"));
        // The cap applies to the declared total.
        let err = lzfse_decoded_size(&enc, data.len() as u64 - 1, "lzfse").unwrap_err();
        assert!(err.message.contains("declares more than"), "{err}");
        assert!(lzfse_decode(&enc, 1000, "lzfse").is_err());
    }

    #[test]
    fn lzfse_lying_size_is_an_error() {
        for data in [mixed_bytes(200_000, 12), mixed_bytes(1000, 13), b"abc".to_vec()] {
            let enc = lzfse_encode(&data);
            for delta in [1i64, -1] {
                let mut bad = enc.clone();
                let n = u32::from_le_bytes(bad[4..8].try_into().unwrap());
                let n = (i64::from(n) + delta).max(0) as u32;
                bad[4..8].copy_from_slice(&n.to_le_bytes());
                assert!(lzfse_decode(&bad, MAX_DECOMPRESSED, "lzfse").is_err(), "{:?} delta {delta}", &enc[..4]);
            }
        }
    }

    #[test]
    fn lzfse_truncated_and_trailing_are_errors() {
        let data = mixed_bytes(300_000, 14);
        let enc = lzfse_encode(&data);
        for cut in [0, 3, 4, 10, 31, enc.len() / 2, enc.len() - 4, enc.len() - 1] {
            let err = lzfse_decoded_size(&enc[..cut], MAX_DECOMPRESSED, "lzfse");
            assert!(err.is_err(), "cut {cut}");
            assert!(lzfse_decode(&enc[..cut], MAX_DECOMPRESSED, "lzfse").is_err());
        }
        let mut extra = enc.clone();
        extra.push(0);
        let err = lzfse_decoded_size(&extra, MAX_DECOMPRESSED, "lzfse").unwrap_err();
        assert_eq!(err.offset, enc.len() as u64);
        let mut bad = enc.clone();
        bad[3] = b'9';
        let err = lzfse_decoded_size(&bad, MAX_DECOMPRESSED, "lzfse").unwrap_err();
        assert!(err.message.starts_with("unknown lzfse block magic"), "{err}");
    }

    #[test]
    fn lzfse_size_walks_v1_and_stored_blocks() {
        // A synthetic bvx1 header (sizes only) followed by a stored block.
        let mut src = vec![0u8; 770];
        src[..4].copy_from_slice(b"bvx1");
        src[4..8].copy_from_slice(&1000u32.to_le_bytes()); // n_raw
        src[20..24].copy_from_slice(&5u32.to_le_bytes()); // literal payload
        src[24..28].copy_from_slice(&7u32.to_le_bytes()); // lmd payload
        src.extend_from_slice(&[0xAA; 12]);
        src.extend_from_slice(b"bvx-");
        src.extend_from_slice(&3u32.to_le_bytes());
        src.extend_from_slice(b"abc");
        src.extend_from_slice(b"bvx$");
        let blocks = lzfse_blocks(&src);
        assert_eq!(blocks, vec![(0, *b"bvx1"), (782, *b"bvx-"), (793, *b"bvx$")]);
        assert_eq!(lzfse_decoded_size(&src, 2000, "lzfse").unwrap(), 1003);
        let err = lzfse_decoded_size(&src[..769], 2000, "lzfse").unwrap_err();
        assert!(err.message.contains("header runs past"), "{err}");
        // Stored blocks decode through lzfse_rust too.
        let stored = [b"bvx-".as_slice(), &3u32.to_le_bytes(), b"abc", b"bvx$"].concat();
        assert_eq!(lzfse_decode(&stored, 3, "lzfse").unwrap(), b"abc");
    }

    #[test]
    fn lzfse_huge_stored_block_is_rejected_without_allocating() {
        let mut src = b"bvx-".to_vec();
        src.extend_from_slice(&u32::MAX.to_le_bytes());
        src.extend_from_slice(b"tiny");
        src.extend_from_slice(b"bvx$");
        let err = lzfse_decoded_size(&src, u64::MAX, "lzfse").unwrap_err();
        assert!(err.message.contains("runs past the end"), "{err}");
        assert!(lzfse_decode(&src, MAX_DECOMPRESSED, "lzfse").is_err());
        // Many small blocks adding up past the cap.
        let mut src = Vec::new();
        for _ in 0..3 {
            src.extend_from_slice(b"bvxn");
            src.extend_from_slice(&0x3000_0000u32.to_le_bytes());
            src.extend_from_slice(&8u32.to_le_bytes());
            src.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 0, 0]);
        }
        src.extend_from_slice(b"bvx$");
        let err = lzfse_decode(&src, MAX_DECOMPRESSED, "lzfse").unwrap_err();
        assert_eq!(err.offset, 20);
        assert!(err.message.contains("declares more than"), "{err}");
    }

    #[test]
    fn lzvn_roundtrip_and_size_errors() {
        for data in [Vec::new(), b"x".to_vec(), mixed_bytes(500_000, 15)] {
            let enc = lzvn_encode(&data);
            assert!(lzvn_decode(&enc, data.len(), "comp/lzvn").unwrap() == data);
            assert!(lzvn_decode_direct(&enc, data.len(), "comp/lzvn").unwrap() == data);
            let err = lzvn_decode(&enc, data.len() + 1, "comp/lzvn").unwrap_err();
            assert!(err.message.contains("ended after"), "{err}");
            if !data.is_empty() {
                let err = lzvn_decode(&enc, data.len() - 1, "comp/lzvn").unwrap_err();
                assert!(err.message.contains("exceeds the declared size"), "{err}");
            }
            // Without its end-of-stream marker.
            let err = lzvn_decode(&enc[..enc.len() - 8], data.len(), "comp/lzvn").unwrap_err();
            assert_eq!(err.offset, enc.len() as u64 - 8, "{err}");
        }
        assert!(lzvn_decode(&[0x06, 0, 0, 0, 0, 0, 0, 0], usize::MAX, "lzvn").is_err());
        for seed in 0..100 {
            let _ = lzvn_decode(&random_bytes(2000, seed), 4000, "lzvn");
        }
    }

    // --- cross-checks against independent Python implementations ---------

    /// Whether `python3 -c "import {module}"` succeeds (probed once).
    fn python_has(module: &str) -> bool {
        use std::collections::HashMap;
        use std::process::{Command, Stdio};
        use std::sync::Mutex;
        static KNOWN: Mutex<Option<HashMap<String, bool>>> = Mutex::new(None);
        let mut known = KNOWN.lock().unwrap();
        *known.get_or_insert_with(HashMap::new).entry(module.to_string()).or_insert_with(|| {
            Command::new("python3")
                .args(["-c", &format!("import {module}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    }

    /// Run `script` under python3 with `input` on stdin; return stdout, or
    /// `None` (after printing why) when python3 or `module` is unavailable.
    fn python(module: &str, script: &str, input: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        use std::process::{Command, Stdio};
        if !python_has(module) {
            let package = if module == "lzss" { "pylzss" } else { module };
            println!("skipped: {package} not installed");
            return None;
        }
        let mut child =
            Command::new("python3").args(["-c", script]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success(), "python script failed: {script}");
        Some(out.stdout)
    }

    const PY_IO: &str = "import sys\nd = sys.stdin.buffer.read()\n";

    fn samples() -> Vec<Vec<u8>> {
        vec![
            b"x".to_vec(),
            vec![b' '; 5000],
            b"hello hello hello hello".to_vec(),
            random_bytes(20_000, 21),
            mixed_bytes(300_000, 22),
        ]
    }

    #[test]
    fn lzss_cross_check_with_pylzss() {
        for data in samples() {
            let script = format!("{PY_IO}import lzss\nsys.stdout.buffer.write(lzss.compress(d))");
            let Some(theirs) = python("lzss", &script, &data) else {
                return;
            };
            let mut dst = vec![0u8; data.len()];
            let n = lzss_decode(&theirs, &mut dst, "lzss").unwrap();
            assert_eq!(n, data.len());
            assert!(dst == data, "pylzss stream decoded differently");

            let script = format!("{PY_IO}import lzss\nsys.stdout.buffer.write(lzss.decompress(d))");
            let back = python("lzss", &script, &lzss_encode(&data)).unwrap();
            assert!(back == data, "pylzss decoded our stream differently");
        }
    }

    #[test]
    fn lzfse_lzvn_cross_check_with_python_lzfse() {
        for data in samples() {
            let script = format!("{PY_IO}import lzfse\nsys.stdout.buffer.write(lzfse.compress(d))");
            let Some(theirs) = python("lzfse", &script, &data) else {
                return;
            };
            assert_eq!(lzfse_decoded_size(&theirs, MAX_DECOMPRESSED, "lzfse").unwrap(), data.len() as u64);
            assert!(lzfse_decode(&theirs, MAX_DECOMPRESSED, "lzfse").unwrap() == data);
            // Small inputs come back as one bvxn block: decode its raw LZVN.
            if theirs.starts_with(b"bvxn") {
                let n_payload = u32::from_le_bytes(theirs[8..12].try_into().unwrap()) as usize;
                let raw = &theirs[12..12 + n_payload];
                assert!(lzvn_decode(raw, data.len(), "lzvn").unwrap() == data);
            }

            let script = format!("{PY_IO}import lzfse\nsys.stdout.buffer.write(lzfse.decompress(d))");
            let back = python("lzfse", &script, &lzfse_encode(&data)).unwrap();
            assert!(back == data, "python lzfse decoded our lzfse stream differently");

            let script = format!(
                "{PY_IO}import lzfse, struct\nn = {}\n\
                 sys.stdout.buffer.write(lzfse.decompress(b'bvxn' + \
                 struct.pack('<II', n, len(d)) + d + b'bvx$'))",
                data.len()
            );
            let back = python("lzfse", &script, &lzvn_encode(&data)).unwrap();
            assert!(back == data, "python lzfse decoded our lzvn stream differently");
        }
    }

    #[test]
    fn python_lzfse_multi_block_stream() {
        let data = mixed_bytes(3_000_000, 31);
        let script = format!("{PY_IO}import lzfse\nsys.stdout.buffer.write(lzfse.compress(d))");
        let Some(theirs) = python("lzfse", &script, &data) else {
            return;
        };
        let blocks = lzfse_blocks(&theirs);
        assert!(blocks.len() >= 3, "{blocks:?}");
        assert!(blocks[..blocks.len() - 1].iter().all(|b| &b.1 == b"bvx2"));
        assert!(lzfse_decode(&theirs, MAX_DECOMPRESSED, "lzfse").unwrap() == data);
    }

    #[test]
    fn python_lzfse_small_input_is_bvxn() {
        let script = format!("{PY_IO}import lzfse\nsys.stdout.buffer.write(lzfse.compress(d))");
        let Some(theirs) = python("lzfse", &script, &mixed_bytes(3000, 30)) else {
            return;
        };
        let kinds: Vec<[u8; 4]> = lzfse_blocks(&theirs).into_iter().map(|b| b.1).collect();
        assert_eq!(kinds, vec![*b"bvxn", *b"bvx$"]);
    }

    // --- throughput (run with `cargo test --release -- --ignored --nocapture bench`)

    /// ~60 MB of realistic data: shared libraries, or generated if absent.
    fn bench_corpus() -> Vec<u8> {
        let mut data = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/usr/lib/x86_64-linux-gnu") {
            let mut paths: Vec<_> =
                dir.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.to_string_lossy().contains(".so")).collect();
            paths.sort();
            for p in paths {
                if data.len() >= 60 << 20 {
                    break;
                }
                if let Ok(bytes) = std::fs::read(&p) {
                    data.extend_from_slice(&bytes);
                }
            }
        }
        if data.len() < 60 << 20 {
            data.extend_from_slice(&mixed_bytes((60 << 20) - data.len(), 99));
        }
        data.truncate(60 << 20);
        data
    }

    fn time<T>(label: &str, bytes: usize, runs: usize, mut f: impl FnMut() -> T) -> T {
        let mut best = f64::MAX;
        let mut result = None;
        for _ in 0..runs {
            let t = std::time::Instant::now();
            let r = f();
            best = best.min(t.elapsed().as_secs_f64());
            result = Some(r);
        }
        println!("{label:<28} {:>8.1} ms  {:>8.0} MB/s", best * 1e3, bytes as f64 / best / 1e6);
        result.unwrap()
    }

    #[test]
    #[ignore]
    fn bench_throughput() {
        let data = bench_corpus();
        let n = data.len();
        println!("corpus: {n} bytes");
        time("adler32", n, 5, || adler32(&data));

        let lzss = time("lzss_encode", n, 1, || lzss_encode(&data));
        println!("  lzss ratio {:.3}", lzss.len() as f64 / n as f64);
        let mut dst = vec![0u8; n];
        time("lzss_decode", n, 5, || lzss_decode(&lzss, &mut dst, "b").unwrap());
        assert!(dst == data);

        let vn = time("lzvn_encode", n, 1, || lzvn_encode(&data));
        println!("  lzvn ratio {:.3}", vn.len() as f64 / n as f64);
        let a = time("lzvn_decode (lzvn crate)", n, 5, || lzvn_decode_direct(&vn, n, "b").unwrap());
        assert!(a == data);
        let b = time("lzvn_decode (lzfse_rust)", n, 5, || lzvn_decode(&vn, n, "b").unwrap());
        assert!(b == data);

        let fse = time("lzfse_encode", n, 1, || lzfse_encode(&data));
        println!("  lzfse ratio {:.3}", fse.len() as f64 / n as f64);
        let c = time("lzfse_decode", n, 5, || lzfse_decode(&fse, MAX_DECOMPRESSED, "b").unwrap());
        assert!(c == data);
        let cap = time("lzfse_decode (exact Vec)", n, 5, || {
            let mut out = Vec::with_capacity(n);
            lzfse_rust::decode_bytes(&fse, &mut out).unwrap();
            out.capacity()
        });
        println!("  exact Vec of {n} grew to capacity {cap}");
        let vnw = {
            let mut w = b"bvxn".to_vec();
            w.extend_from_slice(&(n as u32).to_le_bytes());
            w.extend_from_slice(&(vn.len() as u32).to_le_bytes());
            w.extend_from_slice(&vn);
            w.extend_from_slice(b"bvx$");
            w
        };
        let cap = time("lzvn via lzfse (exact Vec)", n, 5, || {
            let mut out = Vec::with_capacity(n);
            lzfse_rust::decode_bytes(&vnw, &mut out).unwrap();
            out.capacity()
        });
        println!("  exact Vec of {n} grew to capacity {cap}");
    }
}
