//! kcheck never writes to what it inspects: a full manifest of a fixture
//! root (paths, sizes, modes, modification times, content hashes) is the
//! same before and after every command has run on it.

use crate::common::copy_tree;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

type Manifest = BTreeMap<PathBuf, (u64, u32, i64, i64, String)>;

fn manifest(root: &Path) -> Manifest {
    let mut m = Manifest::new();
    for e in walkdir::WalkDir::new(root).follow_links(false) {
        let e = e.unwrap();
        let meta = std::fs::symlink_metadata(e.path()).unwrap();
        let hash =
            if meta.is_file() { kcheck::cache::sha256_hex(&std::fs::read(e.path()).unwrap()) } else { String::new() };
        m.insert(
            e.path().strip_prefix(root).unwrap().to_path_buf(),
            (meta.len(), meta.mode(), meta.mtime(), meta.mtime_nsec(), hash),
        );
    }
    m
}

#[test]
fn no_command_changes_the_root_it_reads() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots/demo-10.15.0-pending-shove");
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&src, dir.path());
    let sys = dir.path().join("Macintosh HD");
    let data = dir.path().join("Macintosh HD - Data");
    let before = manifest(dir.path());
    let boot = sys.join("System/Library/PrelinkedKernels/prelinkedkernel");
    let staged = data.join("Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel");
    let runs: Vec<Vec<&std::ffi::OsStr>> = vec![
        vec!["verify".as_ref(), "--root".as_ref(), sys.as_os_str()],
        vec![
            "verify".as_ref(),
            "--json".as_ref(),
            "--root".as_ref(),
            sys.as_os_str(),
            "--data-root".as_ref(),
            data.as_os_str(),
        ],
        vec!["verify".as_ref(), "--format".as_ref(), "jsonl".as_ref(), "--root".as_ref(), sys.as_os_str()],
        vec!["info".as_ref(), boot.as_os_str()],
        vec!["kexts".as_ref(), "--json".as_ref(), boot.as_os_str()],
        vec!["diff".as_ref(), boot.as_os_str(), staged.as_os_str()],
    ];
    for args in runs {
        let out = Command::cargo_bin("kcheck").unwrap().args(&args).output().unwrap();
        assert!(out.status.code().unwrap() <= 2, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let after = manifest(dir.path());
    assert_eq!(before, after, "kcheck changed the tree it inspected");
}

/// Unmounts on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn works_on_a_read_only_root() {
    use std::os::unix::fs::PermissionsExt;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots/demo-10.15.0-pending-shove");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    copy_tree(&src, &copy);
    // A real read-only file system where we may make one (root with
    // mount(8)); otherwise read-only permissions on every file and folder.
    let mnt = dir.path().join("ro");
    std::fs::create_dir(&mnt).unwrap();
    let bind = std::process::Command::new("mount").arg("--bind").arg(&copy).arg(&mnt).status();
    let (target, _guard) = if bind.is_ok_and(|s| s.success()) {
        let guard = Mount(mnt.clone());
        let ro = std::process::Command::new("mount").args(["-o", "remount,ro,bind"]).arg(&mnt).status().unwrap();
        assert!(ro.success());
        assert!(std::fs::write(mnt.join("probe"), b"x").is_err(), "the mount is not read-only");
        eprintln!("read-only bind mount at {}", mnt.display());
        (mnt.clone(), Some(guard))
    } else {
        eprintln!("no mount(8) here: using read-only permissions instead");
        for e in walkdir::WalkDir::new(&copy).contents_first(true) {
            let e = e.unwrap();
            let mode = if e.file_type().is_dir() { 0o555 } else { 0o444 };
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        }
        (copy.clone(), None)
    };
    let before = manifest(&target);
    let sys = target.join("Macintosh HD");
    let out = Command::cargo_bin("kcheck").unwrap().arg("verify").arg("--root").arg(&sys).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ST003"));
    let out = Command::cargo_bin("kcheck")
        .unwrap()
        .arg("kexts")
        .arg(sys.join("System/Library/PrelinkedKernels/prelinkedkernel"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(before, manifest(&target));
    drop(_guard);
    for e in walkdir::WalkDir::new(&copy) {
        let e = e.unwrap();
        let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o755));
    }
}
