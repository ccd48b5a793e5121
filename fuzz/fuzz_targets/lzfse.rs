//! LZFSE streams (bvx2, bvx1, bvxn, bvx-), bounded by a 16 MiB cap.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kcheck::compress::lzfse_decoded_size(data, 16 << 20, "lzfse");
    let _ = kcheck::compress::lzfse_decode(data, 16 << 20, "lzfse");
});
