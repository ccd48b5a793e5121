//! kextstat and kmutil showloaded listings.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(rows) = kcheck::loaded::parse(&text) {
        let f = kcheck::loaded::findings(&rows, None, None);
        let _ = kcheck::loaded::to_json(&rows, &f);
    }
});
