//! Apple LZSS: the first two bytes choose the declared output size.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let size = u16::from_le_bytes([data[0], data[1]]) as usize * 4;
    let mut out = vec![0u8; size];
    let _ = kcheck::compress::lzss_decode(&data[2..], &mut out, "lzss");
});
