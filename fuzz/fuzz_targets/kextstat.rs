//! kextstat and kmutil showloaded listings.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(rows) = kcheck::logs::kextstat::parse(&text) {
        let f = kcheck::check::loaded::findings(&rows, None, None);
        let _ = kcheck::report::loaded::to_json(&rows, &f);
    }
});
