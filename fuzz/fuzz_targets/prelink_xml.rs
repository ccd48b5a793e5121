//! The kernel's XML dialect (ID/IDREF, hex integers, headerless or full plist).
#![no_main]
fn walk(n: kcheck::prelink::NodeRef<'_, '_>, depth: usize) {
    if depth > 200 {
        return;
    }
    let _ = (n.as_str(), n.as_u64(), n.as_bool(), n.as_data(), n.len(), n.offset());
    for (_, v) in n.entries() {
        walk(v, depth + 1);
    }
    for v in n.items() {
        walk(v, depth + 1);
    }
}
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = kcheck::prelink::parse(data) {
        walk(doc.root(), 0);
    }
});
