//! The whole container chain (FAT, comp/LZSS/LZVN, IMG4/IM4P, LZFSE) down
//! to the Mach-O, the prelink info and every kext's UUID.
//! Also differential: the same bytes as a file, through `cache::open`
//! (which decodes a `comp`/LZVN cache as a stream and keeps only the pages
//! it needs), must give exactly what `cache::analyze` gives on the whole
//! bytes, and so must `cache::open` with the file's hash (taken on a second
//! thread).
#![no_main]
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| std::env::temp_dir().join(format!("kcheck-fuzz-container-{}.bin", std::process::id())))
}

fn same(what: &str, whole: &Result<kcheck::cache::CacheInfo, String>, other: &Result<kcheck::cache::CacheInfo, String>) {
    match (whole, other) {
        (Ok(w), Ok(o)) => {
            let mut o = o.clone();
            o.file = w.file.clone();
            o.sha256 = w.sha256.clone();
            assert_eq!(serde_json::to_string(w).unwrap(), serde_json::to_string(&o).unwrap(), "{what}");
        }
        (Err(a), Err(b)) => assert!(b.ends_with(a.as_str()), "{what}: {a} vs {b}"),
        _ => panic!("{what}: whole {:?}, other {:?}", whole.as_ref().map(|_| ()), other.as_ref().map(|_| ())),
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let whole = kcheck::cache::analyze(data, None);
    if let Ok(info) = &whole {
        let _ = kcheck::cache::diff::diff(info, info);
    }
    let whole = whole.map_err(|e| e.to_string());
    if std::fs::write(scratch(), data).is_ok() {
        let opened = kcheck::cache::open(scratch(), &kcheck::cache::OpenOptions::default());
        same("open", &whole, &opened.map_err(|e| e.to_string()));
        let hashed = kcheck::cache::open(scratch(), &kcheck::cache::OpenOptions { arch: None, hash: true });
        if let Ok(h) = &hashed {
            assert_eq!(h.sha256.as_deref(), Some(kcheck::cache::sha256_hex(data).as_str()));
        }
        same("open with hash", &whole, &hashed.map_err(|e| e.to_string()));
    }
});
