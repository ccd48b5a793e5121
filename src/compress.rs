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
/// The output is allocated once, at `size` bytes, and the stream is decoded
/// straight into it (see [`lzvn_decode_into`]). Like Apple's reference
/// decoder, the stream must end with the end-of-stream instruction (`0x06`)
/// followed by its 7 bytes of padding, and nothing after that.
///
/// Errors (at the offset of the offending instruction) if `size` exceeds
/// [`MAX_DECOMPRESSED`], or the stream is malformed, produces fewer bytes
/// than `size`, or would produce more.
pub fn lzvn_decode(src: &[u8], size: usize, layer: &str) -> FormatResult<Vec<u8>> {
    if size as u64 > MAX_DECOMPRESSED {
        return Err(FormatError::new(
            layer,
            0,
            format!("lzvn declared size of {size} bytes exceeds the limit of {MAX_DECOMPRESSED} bytes"),
        ));
    }
    let mut out = vec![0u8; size];
    lzvn_decode_into(src, &mut out).map_err(|e| e.into_format_error(size, layer))?;
    Ok(out)
}

/// What went wrong in an LZVN stream; `at` is the input offset of the
/// instruction at fault. Kept small and free of strings so the decode loop
/// does no formatting; [`LzvnError::into_format_error`] words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LzvnError {
    /// The input ran out before an end-of-stream instruction.
    MissingEos { at: usize, written: usize },
    /// An instruction (opcode bytes or its literals) runs past the input.
    Truncated { at: usize },
    /// The end-of-stream opcode is not followed by its 7 padding bytes.
    ShortPadding { at: usize },
    /// Bytes after the end-of-stream instruction and its padding.
    Trailing { at: usize, extra: usize },
    /// An undefined opcode.
    Undefined { at: usize, opcode: u8 },
    /// A match distance of 0 or reaching before the start of the output.
    Distance { at: usize, distance: usize, written: usize },
    /// The instruction would write past the declared size.
    Exceeds { at: usize, written: usize },
    /// End of stream before the declared size was reached.
    Short { at: usize, written: usize },
}

impl LzvnError {
    #[cold]
    fn into_format_error(self, size: usize, layer: &str) -> FormatError {
        let (at, message) = match self {
            LzvnError::MissingEos { at, written } => (
                at,
                format!("lzvn stream ended after {written} of {size} declared bytes without an end-of-stream marker"),
            ),
            LzvnError::Truncated { at } => (at, "lzvn stream ends in the middle of an instruction".to_string()),
            LzvnError::ShortPadding { at } => {
                (at, "lzvn end-of-stream marker is not followed by its 7 bytes of padding".to_string())
            }
            LzvnError::Trailing { at, extra } => {
                (at, format!("lzvn stream has {extra} trailing bytes after the end-of-stream marker"))
            }
            LzvnError::Undefined { at, opcode } => (at, format!("invalid lzvn opcode {opcode:#04x}")),
            LzvnError::Distance { at, distance, written } => {
                (at, format!("lzvn match distance {distance} is invalid at output byte {written}"))
            }
            LzvnError::Exceeds { at, written } => {
                (at, format!("decompressed data exceeds the declared size of {size} bytes (after {written} bytes)"))
            }
            LzvnError::Short { at, written } => {
                (at, format!("lzvn stream ended after {written} of {size} declared bytes"))
            }
        };
        FormatError::new(layer, at as u64, message)
    }
}

/// Classes of LZVN opcodes (the first byte of each instruction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LzvnOp {
    /// `LLMMMDDD DDDDDDDD`: L literals, M + 3 match, 11-bit distance.
    SmlD,
    /// `101LLMMM DDDDDDMM DDDDDDDD`: L literals, M + 3 match, 14-bit distance.
    MedD,
    /// `LLMMM111 DDDDDDDD DDDDDDDD`: L literals, M + 3 match, 16-bit distance.
    LrgD,
    /// `LLMMM110`: L literals, M + 3 match at the previous distance.
    PreD,
    /// `1111MMMM` (M > 0): match at the previous distance.
    SmlM,
    /// `11110000 MMMMMMMM`: M + 16 match at the previous distance.
    LrgM,
    /// `1110LLLL` (L > 0): literals only.
    SmlL,
    /// `11100000 LLLLLLLL`: L + 16 literals.
    LrgL,
    /// `0x06`: end of stream (followed by 7 bytes of padding).
    Eos,
    /// `0x0e`, `0x16`: no operation.
    Nop,
    /// Everything else: undefined.
    Udef,
}

const fn lzvn_op(b: u8) -> LzvnOp {
    match b {
        0x06 => LzvnOp::Eos,
        0x0E | 0x16 => LzvnOp::Nop,
        0x1E | 0x26 | 0x2E | 0x36 | 0x3E | 0x70..=0x7F | 0xD0..=0xDF => LzvnOp::Udef,
        0xA0..=0xBF => LzvnOp::MedD,
        0xE0 => LzvnOp::LrgL,
        0xE1..=0xEF => LzvnOp::SmlL,
        0xF0 => LzvnOp::LrgM,
        0xF1..=0xFF => LzvnOp::SmlM,
        _ if b & 7 == 6 => LzvnOp::PreD,
        _ if b & 7 == 7 => LzvnOp::LrgD,
        _ => LzvnOp::SmlD,
    }
}

/// [`lzvn_op`] for every byte, so the decode loop dispatches with one load.
static LZVN_OPS: [LzvnOp; 256] = {
    let mut table = [LzvnOp::Udef; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = lzvn_op(i as u8);
        i += 1;
    }
    table
};

/// How the common instructions (`sml_d`, `med_d`, `lrg_d`, `pre_d`,
/// `sml_m`, `sml_l`) decode, as data, so the fast path in
/// [`lzvn_decode_into`] needs no branch on the opcode. With `b0` the first
/// byte and `v` the next two as a little-endian u16:
///
/// - literals `L = l`, match `M = m + (v & m_mask)`,
/// - distance `((b0 & d_b0) << 8) | ((v & d_mask) >> d_shift)`, or, when
///   `keep` is all ones, the previous distance (`d_b0` and `d_mask` are 0).
///
/// `len == 0` marks the other opcodes, left to the general path.
#[derive(Debug, Clone, Copy)]
struct LzvnFast {
    keep: usize,
    d_mask: u16,
    len: u8,
    l: u8,
    m: u8,
    m_mask: u8,
    d_b0: u8,
    d_shift: u8,
}

const fn lzvn_fast(b: u8) -> LzvnFast {
    let none = LzvnFast { keep: usize::MAX, d_mask: 0, len: 0, l: 0, m: 0, m_mask: 0, d_b0: 0, d_shift: 0 };
    let (l, m) = (b >> 6, ((b >> 3) & 7) + 3);
    match lzvn_op(b) {
        // D = ((b0 & 7) << 8) | b1.
        LzvnOp::SmlD => LzvnFast { keep: 0, d_mask: 0xFF, len: 2, l, m, d_b0: 7, ..none },
        // M = ((b0 & 7) << 2 | (b1 & 3)) + 3, D = (b1 >> 2) | (b2 << 6).
        LzvnOp::MedD => LzvnFast {
            keep: 0,
            d_mask: 0xFFFF,
            len: 3,
            l: (b >> 3) & 3,
            m: ((b & 7) << 2) + 3,
            m_mask: 3,
            d_shift: 2,
            ..none
        },
        // D = b1 | (b2 << 8).
        LzvnOp::LrgD => LzvnFast { keep: 0, d_mask: 0xFFFF, len: 3, l, m, ..none },
        LzvnOp::PreD => LzvnFast { len: 1, l, m, ..none },
        LzvnOp::SmlM => LzvnFast { len: 1, m: b & 15, ..none },
        LzvnOp::SmlL => LzvnFast { len: 1, l: b & 15, ..none },
        _ => none,
    }
}

static LZVN_FAST: [LzvnFast; 256] = {
    let mut table = [lzvn_fast(0); 256];
    let mut i = 0;
    while i < 256 {
        table[i] = lzvn_fast(i as u8);
        i += 1;
    }
    table
};

/// Copy `N` bytes from `src[from..]` to `out[to..]` as one fixed-size load
/// and store (both bounds-checked).
#[inline(always)]
fn copy_fixed<const N: usize>(out: &mut [u8], to: usize, src: &[u8], from: usize) {
    let chunk: [u8; N] = src[from..from + N].try_into().unwrap();
    out[to..to + N].copy_from_slice(&chunk);
}

/// Copy `N` bytes within `out`, from `from` to `to`, as one fixed-size load
/// and store; `from < to` and the chunk may overlap its destination (the
/// load happens first).
#[inline(always)]
fn copy_within_fixed<const N: usize>(out: &mut [u8], from: usize, to: usize) {
    let chunk: [u8; N] = out[from..from + N].try_into().unwrap();
    out[to..to + N].copy_from_slice(&chunk);
}

/// Write the `m`-byte match at `out[pos..]` copied from `distance` bytes
/// back. The caller has checked `1 <= distance <= pos` and
/// `pos + m <= out.len()`.
///
/// Distances of 16 or more copy whole 16-byte chunks and 8 to 15 copy 8-byte
/// chunks (each chunk reads only bytes already final: they lie at least one
/// chunk behind its destination), rounding `m` up, when the output has room
/// for the overshoot; the extra bytes are overwritten by later instructions.
/// Shorter distances repeat the pattern.
#[inline(always)]
fn lzvn_copy_match(out: &mut [u8], pos: usize, distance: usize, m: usize) {
    let from = pos - distance;
    let room = out.len() - pos;
    if distance >= 16 && room >= m + 16 {
        let mut k = 0;
        while k < m {
            copy_within_fixed::<16>(out, from + k, pos + k);
            k += 16;
        }
    } else if distance >= 8 && room >= m + 8 {
        let mut k = 0;
        while k < m {
            copy_within_fixed::<8>(out, from + k, pos + k);
            k += 8;
        }
    } else if distance == 1 {
        let b = out[from];
        out[pos..pos + m].fill(b);
    } else if distance >= m {
        // No overlap: one plain copy.
        out.copy_within(from..from + m, pos);
    } else {
        // Overlapping: the bytes from `from` repeat with period `distance`.
        // Copy the pattern, then double the copied span each time (the
        // source span always ends at or before its destination, and its
        // length stays a multiple of the period).
        let mut done = 0;
        while done < m {
            let n = (distance + done).min(m - done);
            out.copy_within(from..from + n, pos + done);
            done += n;
        }
    }
}

/// The fast path of [`lzvn_decode_into`]: decode the common instructions
/// while there is room for fixed-size copies, at least 32 bytes of input left
/// (opcode bytes plus up to 15 literals copied as 16 bytes) and 32 bytes of
/// output (16 of literals, then a match copied as 16 bytes from at most 15
/// bytes further on). Decoded by table ([`LzvnFast`]), without branching on
/// the opcode; the checks are the same as in the general path. Returns (with
/// the positions and distance updated) at the first instruction it leaves to
/// the general path.
#[inline(never)]
fn lzvn_decode_fast(
    src: &[u8],
    out: &mut [u8],
    ip_io: &mut usize,
    pos_io: &mut usize,
    distance_io: &mut usize,
) -> Result<(), LzvnError> {
    let (mut ip, mut pos, mut distance) = (*ip_io, *pos_io, *distance_io);
    if src.len() < 32 || out.len() < 32 {
        return Ok(());
    }
    let ip_last = src.len() - 32;
    let pos_last = out.len() - 32;
    while ip <= ip_last && pos <= pos_last {
        let w: &[u8; 32] = src[ip..].first_chunk().unwrap();
        let b0 = w[0];
        let v = usize::from(u16::from_le_bytes([w[1], w[2]]));
        let e = LZVN_FAST[usize::from(b0)];
        if e.len == 0 {
            break;
        }
        let at = ip;
        let len = usize::from(e.len);
        let l = usize::from(e.l);
        let m = usize::from(e.m) + (v & usize::from(e.m_mask));
        let new = (usize::from(b0 & e.d_b0) << 8) | ((v & usize::from(e.d_mask)) >> e.d_shift);
        distance = (distance & e.keep) | new;
        if l + m > out.len() - pos {
            return Err(LzvnError::Exceeds { at, written: pos });
        }
        // Literals (l <= 15, all within `w`).
        out[pos..pos + 16].copy_from_slice(&w[len..len + 16]);
        ip += len + l;
        pos += l;
        // A match needs 1 <= distance <= pos. (A new distance always comes
        // with a match, so distance <= pos holds afterwards.)
        if (distance.wrapping_sub(1) >= pos) & (m > 0) {
            return Err(LzvnError::Distance { at, distance, written: pos });
        }
        if m <= 16 && m <= distance {
            // One 16-byte copy: the bytes of the match (m <= distance) are
            // final, the rest are overwritten later. With m = 0 it copies
            // harmlessly (distance <= pos).
            copy_within_fixed::<16>(out, pos - distance, pos);
        } else {
            lzvn_copy_match(out, pos, distance, m);
        }
        pos += m;
    }
    (*ip_io, *pos_io, *distance_io) = (ip, pos, distance);
    Ok(())
}

/// Decode a raw LZVN stream into all of `out`; `out.len()` is the declared
/// decompressed size.
///
/// Each instruction is checked once, up front: its opcode bytes and literals
/// lie within `src`, its literal and match lengths fit in what is left of
/// `out`, and its match distance is neither 0 nor reaches before the start
/// of `out`. Every slice access is bounds-checked as well, so a bug here can
/// only panic, never read or write out of bounds. The copies use fixed-size
/// chunks that may write a little past the end of the instruction (never
/// past `out`); those bytes are rewritten by the instructions that follow.
fn lzvn_decode_into(src: &[u8], out: &mut [u8]) -> Result<(), LzvnError> {
    let mut ip = 0usize; // input position
    let mut pos = 0usize; // output position
    let mut distance = 0usize; // the previous match distance
    loop {
        lzvn_decode_fast(src, out, &mut ip, &mut pos, &mut distance)?;
        let at = ip;
        // The first three bytes of the instruction (zero past the end of
        // the input; the instruction's length is checked below).
        let w: [u8; 3] = match src.get(ip..).and_then(|s| s.first_chunk::<3>()) {
            Some(w) => *w,
            None => {
                let rest = &src[ip.min(src.len())..];
                if rest.is_empty() {
                    return Err(LzvnError::MissingEos { at, written: pos });
                }
                let mut w = [0u8; 3];
                w[..rest.len()].copy_from_slice(rest);
                w
            }
        };
        let b0 = usize::from(w[0]);
        let b1 = usize::from(w[1]);
        let b2 = usize::from(w[2]);
        let (len, l, m) = match LZVN_OPS[b0] {
            LzvnOp::SmlD => {
                distance = ((b0 & 7) << 8) | b1;
                (2, b0 >> 6, ((b0 >> 3) & 7) + 3)
            }
            LzvnOp::MedD => {
                distance = (b1 >> 2) | (b2 << 6);
                (3, (b0 >> 3) & 3, (((b0 & 7) << 2) | (b1 & 3)) + 3)
            }
            LzvnOp::LrgD => {
                distance = b1 | (b2 << 8);
                (3, b0 >> 6, ((b0 >> 3) & 7) + 3)
            }
            LzvnOp::PreD => (1, b0 >> 6, ((b0 >> 3) & 7) + 3),
            LzvnOp::SmlM => (1, 0, b0 & 15),
            LzvnOp::LrgM => (2, 0, b1 + 16),
            LzvnOp::SmlL => (1, b0 & 15, 0),
            LzvnOp::LrgL => (2, b1 + 16, 0),
            LzvnOp::Nop => (1, 0, 0),
            LzvnOp::Eos => {
                let rest = src.len() - ip;
                if rest < 8 {
                    return Err(LzvnError::ShortPadding { at });
                }
                if rest > 8 {
                    return Err(LzvnError::Trailing { at, extra: rest - 8 });
                }
                if pos != out.len() {
                    return Err(LzvnError::Short { at, written: pos });
                }
                return Ok(());
            }
            LzvnOp::Udef => return Err(LzvnError::Undefined { at, opcode: w[0] }),
        };
        let lit = ip + len;
        ip = lit + l;
        if ip > src.len() {
            return Err(LzvnError::Truncated { at });
        }
        if l + m > out.len() - pos {
            return Err(LzvnError::Exceeds { at, written: pos });
        }
        if l > 0 {
            if l <= 16 && src.len() - lit >= 16 && out.len() - pos >= 16 {
                copy_fixed::<16>(out, pos, src, lit);
            } else {
                out[pos..pos + l].copy_from_slice(&src[lit..ip]);
            }
            pos += l;
        }
        if m > 0 {
            if distance == 0 || distance > pos {
                return Err(LzvnError::Distance { at, distance, written: pos });
            }
            lzvn_copy_match(out, pos, distance, m);
            pos += m;
        }
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
            assert!(lzvn::decode_raw(&enc, data.len()).unwrap() == data);
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

    /// The previous implementation: wrap the stream in a synthetic `bvxn`
    /// block and decode it with lzfse_rust (kept for comparison).
    fn lzvn_decode_via_lzfse_rust(src: &[u8], size: usize) -> Option<Vec<u8>> {
        let mut wrapped = b"bvxn".to_vec();
        wrapped.extend_from_slice(&u32::try_from(size).ok()?.to_le_bytes());
        wrapped.extend_from_slice(&u32::try_from(src.len()).ok()?.to_le_bytes());
        wrapped.extend_from_slice(src);
        wrapped.extend_from_slice(b"bvx$");
        let mut out = lzfse_output(size);
        lzfse_rust::decode_bytes(&wrapped, &mut out).ok()?;
        (out.len() == size).then_some(out)
    }

    /// Walk an LZVN stream's instructions (independently of the decoder's
    /// loop) and return the opcode class of each, stopping at eos or at
    /// anything unexpected.
    fn lzvn_ops(stream: &[u8]) -> Vec<LzvnOp> {
        let mut ops = Vec::new();
        let mut i = 0;
        while i < stream.len() {
            let b0 = stream[i];
            let b1 = usize::from(*stream.get(i + 1).unwrap_or(&0));
            let op = lzvn_op(b0);
            ops.push(op);
            let (len, lits) = match op {
                LzvnOp::SmlD => (2, b0 >> 6),
                LzvnOp::MedD => (3, (b0 >> 3) & 3),
                LzvnOp::LrgD => (3, b0 >> 6),
                LzvnOp::PreD => (1, b0 >> 6),
                LzvnOp::SmlM | LzvnOp::Nop => (1, 0),
                LzvnOp::LrgM => (2, 0),
                LzvnOp::SmlL => (1, b0 & 15),
                LzvnOp::LrgL => (2, 0),
                LzvnOp::Eos | LzvnOp::Udef => break,
            };
            i += len + usize::from(lits) + if op == LzvnOp::LrgL { b1 + 16 } else { 0 };
        }
        ops
    }

    /// Decode with ours and check against the input and the `lzvn` crate.
    fn lzvn_check_roundtrip(data: &[u8]) -> Vec<u8> {
        let enc = lzvn_encode(data);
        let ours = lzvn_decode(&enc, data.len(), "lzvn").unwrap();
        assert!(ours == data, "round trip of {} bytes differs", data.len());
        assert!(lzvn::decode_raw(&enc, data.len()).unwrap() == data);
        enc
    }

    #[test]
    fn lzvn_opcode_table_matches_the_format() {
        use LzvnOp::*;
        let count = |op| (0..=255u8).filter(|&b| LZVN_OPS[usize::from(b)] == op).count();
        // 0x00-0xff minus the special, med, literal, match and undefined rows.
        assert_eq!(count(Eos), 1);
        assert_eq!(count(Nop), 2);
        assert_eq!(count(Udef), 5 + 16 + 16);
        assert_eq!(count(MedD), 32);
        assert_eq!((count(SmlL), count(LrgL), count(SmlM), count(LrgM)), (15, 1, 15, 1));
        // Rows 0x00-0x6f, 0x80-0x9f, 0xc0-0xcf: 10 rows of 16, two of each
        // 8 ending in 6 (pre_d) and 7 (lrg_d), minus 0x06-0x3e for pre_d.
        assert_eq!(count(LrgD), 10 * 2);
        assert_eq!(count(PreD), 10 * 2 - 8);
        assert_eq!(count(SmlD), 10 * 12);
        assert_eq!(LZVN_OPS[0x46], PreD);
        assert_eq!(LZVN_OPS[0x07], LrgD);
        assert_eq!(LZVN_OPS[0xC5], SmlD);
        assert_eq!(LZVN_OPS[0xA6], MedD);
        assert_eq!(LZVN_OPS[0x76], Udef);
    }

    /// A hand-assembled stream using every instruction kind, with what it
    /// decodes to (the layouts were checked against Apple's reference
    /// decoder, python `lzfse`; see `lzvn_hand_stream_cross_check`).
    #[allow(clippy::unusual_byte_groupings)] // opcode bytes grouped by field
    fn lzvn_hand_stream() -> (Vec<u8>, Vec<u8>) {
        let mut s = Vec::new();
        let mut want = Vec::new();
        // lrg_l: 17 literals.
        s.extend_from_slice(&[0xE0, 1]);
        s.extend_from_slice(b"ABCDEFGHIJKLMNOPQ");
        want.extend_from_slice(b"ABCDEFGHIJKLMNOPQ");
        // nop, nop.
        s.extend_from_slice(&[0x0E, 0x16]);
        // sml_l: 3 literals.
        s.extend_from_slice(b"\xe3xyz");
        want.extend_from_slice(b"xyz");
        // sml_d: L = 1, M = 4, D = 3: "!" then "yz!y".
        s.extend_from_slice(&[0b01_001_000, 3, b'!']);
        want.extend_from_slice(b"!yz!y");
        // med_d: L = 2, M = ((1 << 2) | 2) + 3 = 9, D = 20 (low 6 bits in
        // byte 1 above the 2 match bits, the rest in byte 2).
        s.extend_from_slice(&[0b101_10_001, (20 << 2) | 2, 0, b'#', b'$']);
        want.extend_from_slice(b"#$");
        for _ in 0..9 {
            want.push(want[want.len() - 20]);
        }
        // lrg_d: L = 3, M = 4, D = 0x0102 would be too far; D = 7.
        s.extend_from_slice(&[0b11_001_111, 7, 0, b'u', b'v', b'w']);
        want.extend_from_slice(b"uvw");
        for _ in 0..4 {
            want.push(want[want.len() - 7]);
        }
        // pre_d: L = 1, M = 3, D = 7 (previous).
        s.extend_from_slice(&[0b01_000_110, b'p']);
        want.push(b'p');
        for _ in 0..3 {
            want.push(want[want.len() - 7]);
        }
        // sml_m: M = 5, D = 7.
        s.push(0xF5);
        for _ in 0..5 {
            want.push(want[want.len() - 7]);
        }
        // lrg_m: M = 16 + 40, D = 7 (overlapping).
        s.extend_from_slice(&[0xF0, 40]);
        for _ in 0..56 {
            want.push(want[want.len() - 7]);
        }
        // sml_d: L = 0, M = 10, D = 100.
        s.extend_from_slice(&[0b00_111_000, 100]);
        for _ in 0..10 {
            want.push(want[want.len() - 100]);
        }
        // med_d with a 14-bit distance > 255: L = 0, M = 34, D = 0x101.
        // First 300 literals (lrg_l 16 + 255 = 271, then sml_l 15, 14).
        s.extend_from_slice(&[0xE0, 255]);
        let lits: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        s.extend_from_slice(&lits[..271]);
        s.push(0xEF);
        s.extend_from_slice(&lits[271..286]);
        s.push(0xEE);
        s.extend_from_slice(&lits[286..]);
        want.extend_from_slice(&lits);
        s.extend_from_slice(&[0b101_00_111, (((0x101u32 & 63) << 2) | 3) as u8, (0x101u32 >> 6) as u8]);
        for _ in 0..34 {
            want.push(want[want.len() - 0x101]);
        }
        // lrg_d with a two-byte distance (checks the byte order): L = 0,
        // M = 10, D = 0x0180.
        s.extend_from_slice(&[0b00_111_111, 0x80, 0x01]);
        for _ in 0..10 {
            want.push(want[want.len() - 0x180]);
        }
        s.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 0, 0]);
        (s, want)
    }

    #[test]
    fn lzvn_every_opcode_kind() {
        let (s, want) = lzvn_hand_stream();
        let ops = lzvn_ops(&s);
        use LzvnOp::*;
        for op in [SmlD, MedD, LrgD, PreD, SmlM, LrgM, SmlL, LrgL, Nop] {
            assert!(ops.contains(&op), "{op:?} missing from the hand-assembled stream");
        }
        assert!(lzvn_decode(&s, want.len(), "lzvn").unwrap() == want);
        assert!(lzvn_decode_via_lzfse_rust(&s, want.len()).unwrap() == want);
        // The encoder, on mixed data, uses the distance and literal forms.
        let data = mixed_bytes(1 << 20, 40);
        let enc = lzvn_check_roundtrip(&data);
        let ops = lzvn_ops(&enc);
        for op in [SmlD, MedD, LrgD, PreD, SmlM, LrgM, SmlL, LrgL] {
            assert!(ops.contains(&op), "lzvn::encode_raw did not produce {op:?}");
        }
    }

    #[test]
    fn lzvn_roundtrips() {
        lzvn_check_roundtrip(b"");
        for n in 1..40 {
            lzvn_check_roundtrip(&mixed_bytes(n, n as u64));
            lzvn_check_roundtrip(&vec![b'a'; n]);
        }
        lzvn_check_roundtrip(&random_bytes(100_000, 41));
        lzvn_check_roundtrip(&vec![0u8; 1 << 20]);
        lzvn_check_roundtrip(&b"abcdefgh".iter().copied().cycle().take(300_000).collect::<Vec<_>>());
        lzvn_check_roundtrip(&mixed_bytes(1 << 20, 42));
        // Overlapping matches: a period-d pattern, runs of many lengths, at
        // every distance 1..=8 (and a few longer ones), including right at
        // the end of the output.
        for d in 1..=20usize {
            let mut data = Vec::new();
            let pattern = random_bytes(d, d as u64 + 100);
            for (i, run) in [3usize, 4, 5, 7, 9, 16, 17, 31, 33, 100, 271, 272, 1000].iter().enumerate() {
                data.extend_from_slice(&random_bytes(i % 3, i as u64));
                data.extend(pattern.iter().cycle().take(run + d));
            }
            lzvn_check_roundtrip(&data);
            for cut in [1, 2, 5, 15, 16, 17] {
                lzvn_check_roundtrip(&data[..data.len() - cut]);
            }
        }
        // Data reusing far-back content (large distances).
        let mut far = random_bytes(70_000, 43);
        far.extend_from_within(100..30_000);
        far.extend_from_within(60_000..69_000);
        lzvn_check_roundtrip(&far);
    }

    #[test]
    fn lzvn_overlap_copies_at_every_distance_and_length() {
        // Hand-assembled: 8 literals, then one match (lrg_m after a lrg_d
        // setting the distance) of every length at every short distance.
        for d in 1..=18usize {
            for m in 3..=60usize {
                let lits = b"01234567890abcdefghi";
                let mut s = vec![0xE0, 4];
                s.extend_from_slice(lits);
                // lrg_d: L = 0, M = 3, D = d.
                s.extend_from_slice(&[0b00_000_111, d as u8, 0]);
                let mut want = lits.to_vec();
                let mut left = m;
                let mut first = true;
                while left > 0 {
                    let k = if first { 3 } else { left.min(15) };
                    if !first {
                        s.push(0xF0 | k as u8);
                    }
                    first = false;
                    for _ in 0..k {
                        want.push(want[want.len() - d]);
                    }
                    left -= k;
                }
                s.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 0, 0]);
                assert!(lzvn_decode(&s, want.len(), "lzvn").unwrap() == want, "d {d} m {m}");
            }
        }
    }

    /// Decode a malformed stream; return the error's offset and message.
    fn lzvn_err(src: &[u8], size: usize) -> (u64, String) {
        let e = lzvn_decode(src, size, "comp/lzvn").unwrap_err();
        assert_eq!(e.layer, "comp/lzvn");
        (e.offset, e.message)
    }

    #[test]
    fn lzvn_malformed_streams() {
        const EOS: [u8; 8] = [0x06, 0, 0, 0, 0, 0, 0, 0];
        let cat = |parts: &[&[u8]]| parts.concat();
        // Distance 0, and distance beyond the output (sml_d, lrg_d, med_d).
        let (at, msg) = lzvn_err(&cat(&[b"\xe3abc", &[0b00_000_000, 0], &EOS]), 6);
        assert_eq!(at, 4, "{msg}");
        assert!(msg.contains("distance 0"), "{msg}");
        let (at, msg) = lzvn_err(&cat(&[b"\xe3abc", &[0b01_000_000, 5, b'd'], &EOS]), 7);
        assert_eq!(at, 4);
        assert!(msg.contains("distance 5 is invalid at output byte 4"), "{msg}");
        assert_eq!(lzvn_err(&cat(&[b"\xe3abc", &[0b00_000_111, 4, 0], &EOS]), 6).0, 4);
        assert!(lzvn_decode(&cat(&[b"\xe3abc", &[0b00_000_111, 3, 0], &EOS]), 6, "l").is_ok());
        assert_eq!(lzvn_err(&cat(&[b"\xe3abc", &[0xA0, 4 << 2, 0], &EOS]), 6).0, 4);
        // A previous-distance match before any distance was set.
        let (at, msg) = lzvn_err(&cat(&[b"\xe3abc", &[0xF3], &EOS]), 6);
        assert_eq!(at, 4);
        assert!(msg.contains("distance 0"), "{msg}");
        assert_eq!(lzvn_err(&cat(&[&[0b01_000_110], b"a", &EOS]), 4).0, 0);
        // Output past the declared size: by literals, by a match, by one byte.
        let (at, msg) = lzvn_err(&cat(&[b"\xe3abc", b"\xe2de", &EOS]), 4);
        assert_eq!(at, 4);
        assert!(msg.starts_with("decompressed data exceeds the declared size of 4 bytes"), "{msg}");
        let (at, msg) = lzvn_err(&cat(&[b"\xe3abc", &[0b00_000_000, 3], &EOS]), 5);
        assert_eq!(at, 4);
        assert!(msg.contains("exceeds"), "{msg}");
        // Stream ending early, with and without eos.
        let (at, msg) = lzvn_err(&cat(&[b"\xe3abc", &EOS]), 10);
        assert_eq!((at, msg.as_str()), (4, "lzvn stream ended after 3 of 10 declared bytes"));
        let (at, msg) = lzvn_err(b"\xe3abc", 3);
        assert_eq!(at, 4);
        assert!(msg.starts_with("lzvn stream ended after 3 of 3 declared bytes without"), "{msg}");
        assert!(lzvn_err(b"", 0).1.contains("without an end-of-stream marker"));
        // Truncated instructions: in the opcode bytes, and in the literals.
        for bad in [&[0xE3, b'a'][..], &[0xE0], &[0xE3, b'a', b'b', b'c', 0x07, 1], &[0xE3, b'a', b'b', b'c', 0x00]] {
            let (at, msg) = lzvn_err(bad, 100);
            assert_eq!(at, if bad[0] == 0xE3 && bad.len() > 3 { 4 } else { 0 }, "{bad:?}");
            assert_eq!(msg, "lzvn stream ends in the middle of an instruction", "{bad:?}");
        }
        // Undefined opcodes.
        for op in [0x1E, 0x26, 0x2E, 0x36, 0x3E, 0x70, 0x77, 0x7F, 0xD0, 0xD6, 0xDF] {
            let (at, msg) = lzvn_err(&cat(&[b"\xe1a", &[op], &EOS]), 10);
            assert_eq!(at, 2);
            assert_eq!(msg, format!("invalid lzvn opcode {op:#04x}"));
        }
        // The end-of-stream padding: required, any value, nothing after it.
        let (at, msg) = lzvn_err(b"\xe3abc\x06\0\0\0\0\0\0", 3);
        assert_eq!(at, 4);
        assert!(msg.contains("7 bytes of padding"), "{msg}");
        assert!(lzvn_decode(b"\xe3abc\x06\x01\x02\x03\x04\x05\x06\x07", 3, "l").unwrap() == b"abc");
        let (at, msg) = lzvn_err(b"\xe3abc\x06\0\0\0\0\0\0\0junk", 3);
        assert_eq!(at, 4);
        assert!(msg.contains("4 trailing bytes"), "{msg}");
        // Declared size over the cap: refused before allocating.
        let (at, msg) = lzvn_err(&EOS, MAX_DECOMPRESSED as usize + 1);
        assert_eq!(at, 0);
        assert!(msg.contains("exceeds the limit"), "{msg}");
    }

    #[test]
    fn lzvn_truncations_and_flips_do_not_panic() {
        let data = mixed_bytes(6000, 50);
        let enc = lzvn_check_roundtrip(&data);
        for cut in 0..enc.len() {
            let e = lzvn_decode(&enc[..cut], data.len(), "lzvn").unwrap_err();
            assert!(e.offset <= cut as u64, "cut {cut}: {e}");
        }
        let noise = random_bytes(40_000, 51);
        for i in 0..10_000 {
            let mut bad = enc.clone();
            let flips = 1 + usize::from(noise[4 * i] % 4);
            for k in 0..flips {
                let at = (usize::from(noise[4 * i + k]) << 8 | usize::from(noise[(4 * i + k + 7) % noise.len()]))
                    % bad.len();
                bad[at] ^= 1 << (noise[(4 * i + k + 13) % noise.len()] % 8);
            }
            let size = match i % 3 {
                0 => data.len(),
                1 => data.len() / 2,
                _ => data.len() + 100,
            };
            match lzvn_decode(&bad, size, "lzvn") {
                // A flip can leave a valid stream: then the old
                // decoder must agree with it (lzfse_rust also insists on
                // zero padding after eos, which Apple's does not).
                Ok(out) => {
                    let n = bad.len();
                    bad[n - 7..].fill(0);
                    assert!(Some(out) == lzvn_decode_via_lzfse_rust(&bad, size), "flip {i}");
                }
                Err(e) => assert!(e.offset < bad.len() as u64 + 1, "flip {i}: {e}"),
            }
        }
        for seed in 0..300 {
            let _ = lzvn_decode(&random_bytes(3000, seed), 6000, "lzvn");
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

    /// Python script: raw LZVN from the reference encoder, by compressing
    /// chunks of < 4096 bytes (each comes back as one `bvxn` block) and
    /// joining their streams without their end-of-stream instructions.
    const PY_LZVN_ENCODE: &str = "import lzfse, struct\nparts = []\n\
        for i in range(0, len(d), 4000):\n\
        \x20   blk = lzfse.compress(d[i:i+4000]); assert blk[:4] == b'bvxn'\n\
        \x20   n = struct.unpack('<I', blk[8:12])[0]; s = blk[12:12+n]\n\
        \x20   assert s[-8:] == b'\\x06' + b'\\0'*7\n\
        \x20   parts.append(s[:-8])\n\
        sys.stdout.buffer.write(b''.join(parts) + b'\\x06' + b'\\0'*7)";

    #[test]
    fn lzvn_cross_check_with_python_reference() {
        for data in [mixed_bytes(300_000, 60), b"abcdefgh".repeat(5000), vec![0u8; 100_000], mixed_bytes(123_457, 62)] {
            let Some(theirs) = python("lzfse", &format!("{PY_IO}{PY_LZVN_ENCODE}"), &data) else {
                return;
            };
            assert!(lzvn_decode(&theirs, data.len(), "lzvn").unwrap() == data, "reference encoder stream");
        }
        // The reference decoder reads the hand-assembled stream the same.
        let (s, want) = lzvn_hand_stream();
        let script = format!(
            "{PY_IO}import lzfse, struct\n\
             sys.stdout.buffer.write(lzfse.decompress(b'bvxn' + struct.pack('<II', {}, len(d)) + d + b'bvx$'))",
            want.len()
        );
        let back = python("lzfse", &script, &s).unwrap();
        assert!(back == want, "python lzfse decoded the hand-assembled stream differently");
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

    /// LZVN decode speed on a FAT-wrapped `comp`/`lzvn` prelinkedkernel
    /// (e.g. `plk-600.fat-lzvn` from `gen_fixtures --scale 600`): ours, the
    /// old lzfse_rust path, and Apple's reference decoder (python `lzfse`),
    /// best of 5 each, interleaved. Run with `LZVN_BENCH_FILE=path cargo
    /// test --release --lib -- --ignored --nocapture bench_lzvn_file`.
    #[test]
    #[ignore]
    fn bench_lzvn_file() {
        let Ok(path) = std::env::var("LZVN_BENCH_FILE") else {
            println!("skipped: LZVN_BENCH_FILE not set");
            return;
        };
        let file = std::fs::read(&path).unwrap();
        let be32 = |at: usize| u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        let comp = if file.starts_with(b"comp") { 0 } else { 0x1c };
        let (size, n) = (be32(comp + 0x0c), be32(comp + 0x10));
        let stream = &file[comp + 0x180..comp + 0x180 + n];
        println!("{path}: {n} -> {size} bytes");
        let (mut ours, mut old) = (f64::MAX, f64::MAX);
        let want = lzvn_decode_via_lzfse_rust(stream, size).unwrap();
        for _ in 0..5 {
            let t = std::time::Instant::now();
            let a = lzvn_decode(stream, size, "b").unwrap();
            ours = ours.min(t.elapsed().as_secs_f64());
            assert!(a == want);
            drop(a);
            let t = std::time::Instant::now();
            let b = lzvn_decode_via_lzfse_rust(stream, size).unwrap();
            old = old.min(t.elapsed().as_secs_f64());
            drop(b);
        }
        let script = format!(
            "{PY_IO}import lzfse, struct, time\nblk = b'bvxn' + struct.pack('<II', {size}, len(d)) + d + b'bvx$'\n\
             best = 1e9\nfor _ in range(5):\n    t = time.perf_counter(); out = lzfse.decompress(blk)\n\
             \x20   best = min(best, time.perf_counter() - t); del out\nprint(best)"
        );
        let reference =
            python("lzfse", &script, stream).map(|o| String::from_utf8(o).unwrap().trim().parse::<f64>().unwrap());
        let mbs = |s: f64| size as f64 / s / 1e6;
        println!("lzvn_decode (ours)        {:>7.1} ms {:>6.0} MB/s", ours * 1e3, mbs(ours));
        println!("lzvn via lzfse_rust (old) {:>7.1} ms {:>6.0} MB/s", old * 1e3, mbs(old));
        if let Some(r) = reference {
            println!("python lzfse (reference)  {:>7.1} ms {:>6.0} MB/s", r * 1e3, mbs(r));
            println!("ours / reference time: {:.2}", ours / r);
        }
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
        let a = time("lzvn_decode (lzvn crate)", n, 5, || lzvn::decode_raw(&vn, n).unwrap());
        assert!(a == data);
        let b = time("lzvn_decode (lzfse_rust)", n, 5, || lzvn_decode_via_lzfse_rust(&vn, n).unwrap());
        assert!(b == data);
        let b = time("lzvn_decode (own)", n, 5, || lzvn_decode(&vn, n, "b").unwrap());
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
