//! The whole container chain (FAT, comp/LZSS/LZVN, IMG4/IM4P, LZFSE) down
//! to the Mach-O, the prelink info and every kext's UUID.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(info) = kcheck::cache::analyze(data, None) {
        let _ = kcheck::cache::diff::diff(&info, &info);
    }
});
