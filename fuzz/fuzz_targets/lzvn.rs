//! Raw LZVN (as inside comp/lzvn): the first two bytes choose the size
//! (up to 256 KiB), the third how far it is scaled (×1 to ×8, so windows
//! slide in the streamed decoder). Differential: the streamed decoder
//! (`lzvn_decode_stream`, pieces handed to a sink) must give the whole
//! decoder's output, or its error at the same offset.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let size = u16::from_le_bytes([data[0], data[1]]) as usize * 4 * (1 + usize::from(data[2] & 7));
    let src = &data[3..];
    let whole = kcheck::compress::lzvn_decode(src, size, "lzvn");
    let mut out = Vec::new();
    let mut read = |off: u64, buf: &mut [u8]| {
        buf.copy_from_slice(&src[off as usize..off as usize + buf.len()]);
        Ok(())
    };
    let streamed = kcheck::compress::lzvn_decode_stream(src.len() as u64, size, "lzvn", &mut read, &mut |off, piece| {
        assert_eq!(off, out.len() as u64);
        out.extend_from_slice(piece);
    });
    match (whole, streamed) {
        (Ok(w), Ok(())) => assert!(w == out),
        (Err(a), Err(kcheck::compress::StreamError::Format(b))) => assert_eq!(a, b),
        (w, s) => panic!("whole {:?} streamed {:?}", w.map(|_| ()), s.map(|_| ())),
    }
});
