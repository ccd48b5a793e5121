//! Raw LZVN (`comp`/`lzvn` prelinkedkernels): an own decoder into one
//! pre-sized buffer. Decoder only.
//!
//! Not read through `crate::bytes::Bytes`: byte access in the decode loop
//! is indexed for speed; every index is checked against the buffer lengths
//! by the loop conditions.

use crate::error::{FormatError, FormatResult};

use super::MAX_DECOMPRESSED;

/// Decode a raw LZVN stream (no `bvxn` header, as inside a prelinkedkernel's
/// `comp`/`lzvn` container) into exactly `size` bytes.
///
/// The output is allocated once, at `size` bytes, and the stream is decoded
/// straight into it (see `lzvn_decode_into`). Like Apple's reference
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
pub(super) enum LzvnOp {
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

pub(super) const fn lzvn_op(b: u8) -> LzvnOp {
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
pub(super) static LZVN_OPS: [LzvnOp; 256] = {
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
fn lzvn_decode_fast(src: &[u8], out: &mut [u8], c: &mut Cursor, stop: Stop) -> Result<(), LzvnError> {
    let (mut ip, mut pos, mut distance) = (c.ip, c.pos, c.distance);
    if src.len() < 32 || out.len() < 32 {
        return Ok(());
    }
    // The stops only shorten the run (a streaming caller's pause points).
    let ip_last = (src.len() - 32).min(stop.input);
    let pos_last = (out.len() - 32).min(stop.output);
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
    (c.ip, c.pos, c.distance) = (ip, pos, distance);
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
    let mut c = Cursor::default();
    let done = lzvn_run(src, out, &mut c, Stop::NEVER)?;
    debug_assert!(done, "a run without stops ends at the end of the stream or an error");
    Ok(())
}

/// Where a decode run is: input position, output position, and the
/// previous match distance (the state carried from one instruction to the
/// next).
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    ip: usize,
    pos: usize,
    distance: usize,
}

/// Where [`lzvn_run`] pauses: before the first instruction that starts at
/// or after input offset `input` or output offset `output`.
#[derive(Debug, Clone, Copy)]
struct Stop {
    input: usize,
    output: usize,
}

impl Stop {
    const NEVER: Stop = Stop { input: usize::MAX, output: usize::MAX };
}

/// Decode instructions from `src[c.ip..]` into `out[c.pos..]` until the
/// end-of-stream instruction (`Ok(true)`, its padding checked against the
/// end of `src` and the output against the end of `out`) or a pause at
/// `stop` (`Ok(false)`, between two instructions). A streaming caller sets
/// the stops so that every instruction started before them has its bytes
/// in `src` and room in `out` (see [`lzvn_decode_stream`]).
fn lzvn_run(src: &[u8], out: &mut [u8], c: &mut Cursor, stop: Stop) -> Result<bool, LzvnError> {
    let Cursor { mut ip, mut pos, mut distance } = *c;
    loop {
        *c = Cursor { ip, pos, distance };
        lzvn_decode_fast(src, out, c, stop)?;
        Cursor { ip, pos, distance } = *c;
        if ip >= stop.input || pos >= stop.output {
            return Ok(false);
        }
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
                *c = Cursor { ip, pos, distance };
                return Ok(true);
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

/// Bytes of output an LZVN match can reach back (distances are 16 bits).
const LZVN_HISTORY: usize = 1 << 16;
/// Input one instruction can take, rounded up (`lrg_l`: 2 opcode bytes and
/// up to 271 literals; the fast path reads 32-byte windows).
const LZVN_MAX_IN: usize = 288;
/// Output one instruction can write, rounded up (`lrg_l` and `lrg_m`: 271
/// bytes; the fast path copies in 16-byte chunks).
const LZVN_MAX_OUT: usize = 512;
/// Bytes decoded (and read) per step of [`lzvn_decode_stream`]: small
/// enough to stay in the CPU's cache while the caller checksums and sifts
/// them.
const STREAM_CHUNK: usize = 256 << 10;
/// The pieces [`lzvn_decode_stream`] hands over end on multiples of this.
pub const STREAM_PAGE: u64 = 4096;

/// Why [`lzvn_decode_stream`] stopped.
#[derive(Debug)]
pub enum StreamError {
    /// The caller's reader failed.
    Read(std::io::Error),
    /// The stream is malformed (the same error, at the same offset, as
    /// [`lzvn_decode`] gives for the whole stream).
    Format(FormatError),
}

/// Decode a raw LZVN stream of `src_len` bytes into exactly `size` bytes
/// without holding either whole: the stream is read through
/// `read(offset, buf)` a chunk at a time, decoded into a window that keeps
/// the last 64 KiB of output (as far back as a match reaches), and every
/// decoded byte is handed to `sink(offset, bytes)` once, in order, in
/// pieces that end on multiples of [`STREAM_PAGE`] (all but the last).
///
/// A 64 MB prelinked kernel is decoded in about 0.6 MB of memory, and the
/// caller keeps only what it needs: the output never has to be faulted in
/// whole, which costs as much as decoding it (docs/performance.md). The
/// checks are those of [`lzvn_decode`], and so are the errors and their
/// offsets (the window's positions are translated back to the stream's).
pub fn lzvn_decode_stream(
    src_len: u64,
    size: usize,
    layer: &str,
    read: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    sink: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), StreamError> {
    lzvn_decode_stream_in(src_len, size, layer, STREAM_CHUNK, read, sink)
}

/// [`lzvn_decode_stream`] with a chunk size of `chunk` bytes (tests use
/// small ones to make every pause and slide happen).
pub(super) fn lzvn_decode_stream_in(
    src_len: u64,
    size: usize,
    layer: &str,
    chunk: usize,
    read: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    sink: &mut dyn FnMut(u64, &[u8]),
) -> Result<(), StreamError> {
    if size as u64 > MAX_DECOMPRESSED {
        return Err(StreamError::Format(FormatError::new(
            layer,
            0,
            format!("lzvn declared size of {size} bytes exceeds the limit of {MAX_DECOMPRESSED} bytes"),
        )));
    }
    // The input window: `inb[..in_fill]` holds the stream from `in_base`.
    let in_cap = usize::try_from(src_len).unwrap_or(usize::MAX).min(chunk + LZVN_MAX_IN);
    let mut inb = vec![0u8; in_cap];
    let mut in_base = 0u64;
    read(0, &mut inb).map_err(StreamError::Read)?;
    let mut in_fill = in_cap;
    // The output window: `win[..c.pos]` is the output from `out_base`,
    // `win[..emitted]` of it already handed over.
    let mut win = vec![0u8; size.min(LZVN_HISTORY + chunk + LZVN_MAX_OUT)];
    let mut out_base = 0usize;
    let mut emitted = 0usize;
    let mut c = Cursor::default();
    loop {
        let in_final = in_base + in_fill as u64 == src_len;
        // Not the last input: every instruction started before the stop
        // has all its bytes in the window (in_fill >= LZVN_MAX_IN).
        let in_stop = if in_final { usize::MAX } else { in_fill - LZVN_MAX_IN };
        // The rest of the output fits: the window's end is the declared
        // end. Otherwise pause where every instruction still has room.
        let left = size - out_base;
        let (end, out_stop) =
            if left <= win.len() { (left, usize::MAX) } else { (win.len(), win.len() - LZVN_MAX_OUT) };
        let done = lzvn_run(&inb[..in_fill], &mut win[..end], &mut c, Stop { input: in_stop, output: out_stop })
            .map_err(|e| StreamError::Format(e.shifted(in_base, out_base, src_len).into_format_error(size, layer)))?;
        let ready =
            if done { c.pos } else { ((out_base + c.pos) & !(STREAM_PAGE as usize - 1)).saturating_sub(out_base) };
        if ready > emitted {
            sink((out_base + emitted) as u64, &win[emitted..ready]);
            emitted = ready;
        }
        if done {
            return Ok(());
        }
        if c.pos >= out_stop {
            // Keep the last 64 KiB (pos >= out_stop > LZVN_HISTORY); the
            // bytes not handed over yet are within the last page.
            let keep = c.pos - LZVN_HISTORY;
            win.copy_within(keep..c.pos, 0);
            out_base += keep;
            c.pos -= keep;
            emitted -= keep;
        }
        if !in_final && c.ip >= in_stop {
            inb.copy_within(c.ip..in_fill, 0);
            in_fill -= c.ip;
            in_base += c.ip as u64;
            c.ip = 0;
            let more = (in_cap - in_fill).min(usize::try_from(src_len - in_base).unwrap_or(usize::MAX) - in_fill);
            read(in_base + in_fill as u64, &mut inb[in_fill..in_fill + more]).map_err(StreamError::Read)?;
            in_fill += more;
        }
    }
}

impl LzvnError {
    /// The error of a run over windows starting at input offset `in_base`
    /// and output offset `out_base`, as the whole stream of `src_len`
    /// bytes gives it.
    fn shifted(self, in_base: u64, out_base: usize, src_len: u64) -> LzvnError {
        let i = in_base as usize;
        match self {
            LzvnError::MissingEos { at, written } => LzvnError::MissingEos { at: at + i, written: written + out_base },
            LzvnError::Truncated { at } => LzvnError::Truncated { at: at + i },
            LzvnError::ShortPadding { at } => LzvnError::ShortPadding { at: at + i },
            LzvnError::Trailing { at, .. } => {
                LzvnError::Trailing { at: at + i, extra: (src_len as usize).saturating_sub(at + i + 8) }
            }
            LzvnError::Undefined { at, opcode } => LzvnError::Undefined { at: at + i, opcode },
            LzvnError::Distance { at, distance, written } => {
                LzvnError::Distance { at: at + i, distance, written: written + out_base }
            }
            LzvnError::Exceeds { at, written } => LzvnError::Exceeds { at: at + i, written: written + out_base },
            LzvnError::Short { at, written } => LzvnError::Short { at: at + i, written: written + out_base },
        }
    }
}
