//! A raw Mach-O (prelinked kernel, kernel collection, kext): load
//! commands, segments, sections, fileset entries, prelink info, UUIDs.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(view) = kcheck::macho::MachView::parse(data, 0, "mach-o") {
        if let Ok(segs) = view.segments() {
            for s in &segs {
                let _ = view.sections(s);
            }
        }
        let _ = view.fileset_entries();
        let _ = view.section_data("__PRELINK_INFO", "__info");
    }
    let _ = kcheck::cache::analyze(data, None);
    let _ = kcheck::system::bundle::executable_uuids(data);
});
