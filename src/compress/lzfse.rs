//! LZFSE streams (`bvx2`/`bvx1`/`bvxn`/`bvx-` blocks, as in IM4P payloads):
//! the block headers are walked first to bound the output, then
//! `lzfse_rust` decodes. Decoder only.

use crate::error::{FormatError, FormatResult};

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
pub(super) fn lzfse_scan(
    src: &[u8],
    cap: u64,
    layer: &str,
    mut on_block: impl FnMut(usize, [u8; 4]),
) -> FormatResult<u64> {
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
