//! Plists through the bounded reader (XML and binary): depth, element and
//! string budgets, reference cycles and DAG fan-out.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kcheck::bounded_plist::parse(data, &kcheck::bounded_plist::Limits::default());
});
