//! Raw LZVN (as inside comp/lzvn): the first two bytes choose the size.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let size = u16::from_le_bytes([data[0], data[1]]) as usize * 4;
    let _ = kcheck::compress::lzvn_decode(&data[2..], size, "lzvn");
});
