//! zprint zone tables of every era.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = kcheck::zprint::parse(&text) {
        let th = kcheck::zprint::Thresholds::default();
        let f = kcheck::zprint::sample_findings(&t, &th, Some("19G73"));
        let _ = kcheck::zprint::growth_findings(&[t.clone(), t.clone(), t.clone()], &th);
        let _ = kcheck::zprint::write_text(&mut std::io::sink(), &t, &f, 15);
    }
});
