//! Fixture encoders: the inverse of kcheck's decoders, used only to build
//! test inputs. LZSS is our own greedy encoder; LZFSE and LZVN wrap the
//! `lzfse_rust` and `lzvn` crates.

use kcheck::compress::{LZSS_F, LZSS_MIN_MATCH, LZSS_N, LZSS_R0};

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

/// Greedy LZSS encoder producing exactly the format [`kcheck::compress::lzss_decode`] reads
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

/// Raw LZVN encoder for fixtures (wraps `lzvn::encode_raw`).
pub fn lzvn_encode(src: &[u8]) -> Vec<u8> {
    lzvn::encode_raw(src)
}
