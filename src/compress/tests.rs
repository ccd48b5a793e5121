use super::lzfse::{lzfse_output, lzfse_scan};
use super::lzvn::{LZVN_OPS, LzvnOp, lzvn_op};
use super::*;
use kcheck_testkit::encode::{lzfse_encode, lzss_encode, lzvn_encode};

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
        assert!(kcheck_testkit::lzvn::decode_raw(&enc, data.len()).unwrap() == data);
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
    assert!(kcheck_testkit::lzvn::decode_raw(&enc, data.len()).unwrap() == data);
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
            let at =
                (usize::from(noise[4 * i + k]) << 8 | usize::from(noise[(4 * i + k + 7) % noise.len()])) % bad.len();
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
                assert!(Some(out.to_vec()) == lzvn_decode_via_lzfse_rust(&bad, size), "flip {i}");
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
        // .ci/run installs the oracles: under CI their absence is a failure.
        assert!(std::env::var_os("CI").is_none(), "{package} not installed under CI=true (see .ci/run)");
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
    let a = time("lzvn_decode (lzvn crate)", n, 5, || kcheck_testkit::lzvn::decode_raw(&vn, n).unwrap());
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

/// Decode `src` with [`lzvn::lzvn_decode_stream_in`] at chunk size
/// `chunk`, checking the pieces are handed over in order, once, ending on
/// page boundaries; returns the output or the error.
fn lzvn_streamed(src: &[u8], size: usize, chunk: usize) -> Result<Vec<u8>, crate::error::FormatError> {
    let mut out = Vec::new();
    let mut reads = 0usize;
    let mut read = |off: u64, buf: &mut [u8]| {
        reads += 1;
        buf.copy_from_slice(&src[off as usize..off as usize + buf.len()]);
        Ok(())
    };
    let mut pieces: Vec<(u64, usize)> = Vec::new();
    let mut sink = |off: u64, b: &[u8]| {
        assert_eq!(off, out.len() as u64, "pieces in order, each byte once");
        assert!(!b.is_empty());
        pieces.push((off, b.len()));
        out.extend_from_slice(b);
    };
    let r = super::lzvn::lzvn_decode_stream_in(src.len() as u64, size, "comp/lzvn", chunk, &mut read, &mut sink);
    // Every piece but the last ends on a page boundary.
    for (off, len) in pieces.iter().take(pieces.len().saturating_sub(1)) {
        assert_eq!((off + *len as u64) % STREAM_PAGE, 0, "piece {off:#x}+{len:#x}");
    }
    match r {
        Ok(()) => Ok(out),
        Err(StreamError::Format(e)) => Err(e),
        Err(StreamError::Read(e)) => panic!("read failed: {e}"),
    }
}

#[test]
fn lzvn_streamed_decode_gives_the_whole_decode_and_its_errors() {
    // Large enough for many window slides (64 KiB of history, small chunks).
    let data = mixed_bytes(600_000, 21);
    let enc = lzvn_encode(&data);
    for chunk in [1, 300, 4096, 100_000, 1 << 20] {
        assert!(lzvn_streamed(&enc, data.len(), chunk).unwrap() == data, "chunk {chunk}");
        // Declared sizes one off, and a stream cut before its end marker.
        for (src, size) in [(&enc[..], data.len() + 1), (&enc[..], data.len() - 1), (&enc[..enc.len() - 8], data.len())]
        {
            assert_eq!(
                lzvn_streamed(src, size, chunk).unwrap_err(),
                lzvn_decode(src, size, "comp/lzvn").unwrap_err(),
                "chunk {chunk}"
            );
        }
        // Trailing bytes after the end marker: the whole-stream count.
        let mut trailing = enc.clone();
        trailing.extend_from_slice(&[0u8; 1000]);
        assert_eq!(
            lzvn_streamed(&trailing, data.len(), chunk).unwrap_err(),
            lzvn_decode(&trailing, data.len(), "comp/lzvn").unwrap_err()
        );
    }
    // Damaged streams: the same error (message, offset) or the same output.
    for seed in 0..300u64 {
        let mut bad = enc.clone();
        let r = random_bytes(8, seed);
        let at = (u64::from_le_bytes(r[..8].try_into().unwrap()) % bad.len() as u64) as usize;
        bad[at] ^= r[0] | 1;
        if seed % 3 == 0 {
            bad.truncate(at + (seed as usize % 50));
        }
        let whole = lzvn_decode(&bad, data.len(), "comp/lzvn");
        for chunk in [300, 70_000] {
            let streamed = lzvn_streamed(&bad, data.len(), chunk);
            match (&whole, &streamed) {
                (Ok(a), Ok(b)) => assert!(a == b, "seed {seed}"),
                (Err(a), Err(b)) => assert_eq!(a, b, "seed {seed} chunk {chunk}"),
                _ => panic!("seed {seed} chunk {chunk}: {:?} vs {:?}", whole.is_ok(), streamed.is_ok()),
            }
        }
    }
    for seed in 0..100 {
        let src = random_bytes(2000, seed);
        assert_eq!(lzvn_streamed(&src, 4000, 500).unwrap_err(), lzvn_decode(&src, 4000, "comp/lzvn").unwrap_err());
    }
    // Empty output, and the size cap.
    assert!(lzvn_streamed(&[0x06, 0, 0, 0, 0, 0, 0, 0], 0, 10).unwrap().is_empty());
    assert!(lzvn_streamed(&[0x06, 0, 0, 0, 0, 0, 0, 0], usize::MAX, 10).is_err());
}

#[test]
fn adler32_in_pieces_is_adler32_of_the_whole() {
    let data = mixed_bytes(100_000, 3);
    let mut h = Adler32::new();
    for piece in data.chunks(777) {
        h.write(piece);
    }
    assert_eq!(h.finish(), adler32(&data));
}
