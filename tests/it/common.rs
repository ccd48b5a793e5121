//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// A path under `testdata/`.
pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

/// Copy a directory tree (files and folders; no links).
pub fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let dest = to.join(e.path().strip_prefix(from).unwrap());
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// `../shared/realdata`, or `None` (saying loudly that the real-sample
/// tests are skipped) when it is not beside the repository.
pub fn realdata() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/realdata");
    if p.is_dir() {
        Some(p)
    } else if std::env::var_os("CI").is_some() {
        // CI has ../shared beside the clone: its absence there is a
        // broken setup, not a reason to skip in silence.
        panic!("../shared/realdata not found under CI=true: the real-sample tests cannot run");
    } else {
        eprintln!("SKIPPED: ../shared/realdata not found; real-sample tests did not run");
        None
    }
}
