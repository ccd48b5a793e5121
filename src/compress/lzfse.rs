//! LZFSE streams (`bvx2`/`bvx1`/`bvxn`/`bvx-` blocks, as in IM4P payloads):
//! the block headers are walked first to bound the output, then
//! `lzfse_rust` decodes. Decoder only.

use crate::bytes::Bytes;
use crate::error::{FormatError, FormatResult};

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
pub(super) fn lzfse_scan(
    src: &[u8],
    cap: u64,
    layer: &str,
    mut on_block: impl FnMut(usize, [u8; 4]),
) -> FormatResult<u64> {
    let mut header = |pos: u64, buf: &mut [u8]| -> std::io::Result<usize> {
        // pos <= src.len(): the walk stops at the end.
        let rest = &src[pos as usize..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    };
    match lzfse_walk(src.len() as u64, cap, layer, &mut header, &mut |pos, magic| on_block(pos as usize, magic)) {
        Ok(r) => r,
        Err(_) => unreachable!("a slice of the input cannot fail to read"),
    }
}

/// The most bytes of a block header the walk reads (a v1 header).
pub const LZFSE_MAX_HEADER: usize = LZFSE_V1_HEADER as usize;

/// [`lzfse_decoded_size`] of a stream of `len` bytes that is not in
/// memory: `header(pos, buf)` fills `buf` ([`LZFSE_MAX_HEADER`] bytes)
/// with the stream's bytes from `pos`, or as many as there are, and says
/// how many (a caller reads just the block headers, a few hundred bytes a
/// block). The outer `Result` is the
/// reader's; the inner one is exactly what [`lzfse_decoded_size`] gives
/// for the same bytes.
pub fn lzfse_decoded_size_by_headers(
    len: u64,
    cap: u64,
    layer: &str,
    header: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<usize>,
) -> std::io::Result<FormatResult<u64>> {
    lzfse_walk(len, cap, layer, header, &mut |_, _| {})
}

/// The block walk of [`lzfse_scan`] over headers read by `header`.
fn lzfse_walk(
    len: u64,
    cap: u64,
    layer: &str,
    header: &mut dyn FnMut(u64, &mut [u8]) -> std::io::Result<usize>,
    on_block: &mut dyn FnMut(u64, [u8; 4]),
) -> std::io::Result<FormatResult<u64>> {
    let err = |at: u64, msg: String| FormatError::new(layer, at, msg);
    let mut pos = 0u64;
    let mut total = 0u64;
    let mut buf = [0u8; LZFSE_MAX_HEADER];
    loop {
        let n = header(pos, &mut buf)?.min(buf.len());
        let h = &buf[..n];
        // Offsets within the header; errors name the stream offset.
        let b = Bytes::new(h, layer);
        let Ok(magic) = b.u32_le_at(0, "lzfse block magic") else {
            return Ok(Err(err(pos, "missing lzfse end-of-stream marker".into())));
        };
        let magic = magic.to_le_bytes();
        let short = |_| err(pos, "lzfse block header runs past the end of the input".into());
        on_block(pos, magic);
        let fields = || -> FormatResult<(u64, u64)> {
            Ok(match &magic {
                b"bvx-" => {
                    let n_raw = b.u32_le_at(4, "n_raw").map_err(short)?;
                    (u64::from(n_raw), 8 + u64::from(n_raw))
                }
                b"bvxn" => {
                    let n_raw = b.u32_le_at(4, "n_raw").map_err(short)?;
                    let n_payload = b.u32_le_at(8, "n_payload_bytes").map_err(short)?;
                    (u64::from(n_raw), 12 + u64::from(n_payload))
                }
                b"bvx1" => {
                    b.slice_at(0, LZFSE_V1_HEADER, "lzfse v1 block header").map_err(short)?;
                    let n_raw = b.u32_le_at(4, "n_raw").map_err(short)?;
                    let n_lit_payload = b.u32_le_at(20, "n_literal_payload_bytes").map_err(short)?;
                    let n_lmd_payload = b.u32_le_at(24, "n_lmd_payload_bytes").map_err(short)?;
                    (u64::from(n_raw), LZFSE_V1_HEADER + u64::from(n_lit_payload) + u64::from(n_lmd_payload))
                }
                b"bvx2" => {
                    let n_raw = b.u32_le_at(4, "n_raw").map_err(short)?;
                    let v0 = b.u64_le_at(8, "packed_fields[0]").map_err(short)?;
                    let v1 = b.u64_le_at(16, "packed_fields[1]").map_err(short)?;
                    let v2 = b.u64_le_at(24, "packed_fields[2]").map_err(short)?;
                    let n_lit_payload = bit_field(v0, 20, 20);
                    let n_lmd_payload = bit_field(v1, 40, 20);
                    let header_size = bit_field(v2, 0, 32);
                    if header_size < LZFSE_V2_FIXED {
                        return Err(err(pos, format!("lzfse v2 block header size {header_size} is too small")));
                    }
                    (u64::from(n_raw), header_size + n_lit_payload + n_lmd_payload)
                }
                [m0, m1, m2, m3] => {
                    return Err(err(pos, format!("unknown lzfse block magic {m0:02x}{m1:02x}{m2:02x}{m3:02x}")));
                }
            })
        };
        if &magic == b"bvx$" {
            let after = pos + 4;
            if after != len {
                return Ok(Err(err(
                    after,
                    format!("{} bytes of data after the lzfse end-of-stream marker", len - after),
                )));
            }
            return Ok(Ok(total));
        }
        let (n_raw, block_len) = match fields() {
            Ok(f) => f,
            Err(e) => return Ok(Err(e)),
        };
        if block_len > len - pos {
            return Ok(Err(err(
                pos,
                format!("lzfse block of {block_len} bytes runs past the end of the input ({} bytes left)", len - pos),
            )));
        }
        total += n_raw;
        if total > cap {
            return Ok(Err(err(pos, format!("lzfse stream declares more than {cap} decompressed bytes"))));
        }
        pos += block_len;
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
pub(super) fn lzfse_output(size: usize) -> Vec<u8> {
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
