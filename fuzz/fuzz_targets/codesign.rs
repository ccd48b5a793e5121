//! A kext executable's code signature: SuperBlob, CodeDirectory, team id.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = kcheck::macho::codesign::read(data);
    let _ = kcheck::system::bundle::read_slices(data);
});
