//! A kext's Info.plist (XML or binary) and its executable's slices.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kcheck::system::bundle::parse_info_plist(data);
    let _ = kcheck::system::bundle::executable_uuids(data);
});
