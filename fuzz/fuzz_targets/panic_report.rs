//! Panic reports: text paniclogs and the two-object JSON .panic/.ips form.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(r) = kcheck::logs::panic::parse(&text, "fuzz") {
        let reports = [r];
        let f = kcheck::check::panics::findings(&reports, Some("19G73"));
        let _ = kcheck::report::panic::to_json(&reports, &f);
        let _ = kcheck::report::panic::write_text(&mut std::io::sink(), kcheck::report::Style::PLAIN, &reports, &f);
    }
});
