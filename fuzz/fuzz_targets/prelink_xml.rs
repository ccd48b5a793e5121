//! The kernel's XML dialect (ID/IDREF, hex integers, headerless or full plist).
#![no_main]
fn walk(n: kcheck::prelink::NodeRef<'_, '_>, depth: usize, budget: &mut usize) {
    // IDREFs make the document a DAG: visit a bounded number of nodes.
    if depth > 200 || *budget == 0 {
        return;
    }
    *budget -= 1;
    let _ = (n.as_str(), n.as_u64(), n.as_bool(), n.as_data(), n.len(), n.offset());
    for (_, v) in n.entries() {
        walk(v, depth + 1, budget);
    }
    for v in n.items() {
        walk(v, depth + 1, budget);
    }
}
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = kcheck::prelink::parse(data) {
        let mut budget = 100_000;
        walk(doc.root(), 0, &mut budget);
        let _ = doc.root().get("_PrelinkInfoDictionary");
    }
});
