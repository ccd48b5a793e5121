//! OSKextParseVersionString and the exclude-list rule matcher: the input is
//! split at the first NUL into a rule and a version.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (rule, version) = text.split_once('\0').unwrap_or((&text, "1.0"));
    let v = kcheck::kext_version::KextVersion::parse(version);
    let _ = kcheck::kext_version::KextVersion::parse_kernel(version);
    if let Some(v) = v {
        let _ = v.to_string();
        let _ = kcheck::kext_version::exclude_list_matches(rule, v);
    }
    let _ = kcheck::kext_version::exclude_list_matches_raw(rule, -1);
});
