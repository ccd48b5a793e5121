//! zprint zone tables of every era.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = kcheck::logs::zprint::parse(&text) {
        let th = kcheck::check::zones::Thresholds::default();
        let f = kcheck::check::zones::sample_findings(&t, &th, Some("19G73"));
        let _ = kcheck::check::zones::growth_findings(&[t.clone(), t.clone(), t.clone()], &th);
        let _ = kcheck::report::zones::write_text(&mut std::io::sink(), kcheck::report::Style::PLAIN, &t, &f, 15);
    }
});
