//! A raw Mach-O (prelinked kernel, kernel collection, kext): load
//! commands, segments, sections, fileset entries, prelink info, UUIDs.
//! Also differential: the same bytes as a file, through `cache::open`
//! (which reads a raw Mach-O piecewise), must give exactly what
//! `cache::analyze` gives on the whole bytes.
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("kcheck-fuzz-{}.bin", std::process::id())))
}

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
    let whole = kcheck::cache::analyze(data, None);
    let _ = kcheck::system::bundle::executable_uuids(data);
    if std::fs::write(scratch(), data).is_ok() {
        let opened = kcheck::cache::open(scratch(), &kcheck::cache::OpenOptions::default());
        match (&whole, &opened) {
            (Ok(w), Ok(o)) => {
                let mut o = o.clone();
                o.file = w.file.clone();
                assert_eq!(serde_json::to_string(w).unwrap(), serde_json::to_string(&o).unwrap());
            }
            (Err(_), Err(_)) => {}
            _ => panic!("whole: {:?}\nopened: {:?}", whole.as_ref().map(|_| ()), opened.as_ref().map(|_| ())),
        }
    }
});
