//! `kcheck verify` on the fixture roots: every finding code of the three
//! eras is produced by a root that shows exactly that problem, healthy
//! roots are clean, and malformed roots give findings or clear errors.

use crate::common::copy_tree;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kcheck::app::verify::verify;
use kcheck::check::finding::Verdict;
use kcheck::facts::VerifyOptions;
use kcheck::system::Sip;
use kcheck_testkit::roots;
use predicates::prelude::*;
use serde_json::Value;

fn roots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots")
}

fn root_of(spec: &roots::RootSpec) -> PathBuf {
    let top = roots_dir().join(spec.name);
    if spec.split { top.join("Macintosh HD") } else { top }
}

fn codes(root: &Path, sip: Sip) -> (Vec<&'static str>, Verdict) {
    let r = verify(&VerifyOptions { root: root.to_path_buf(), data_root: None, sip, preboot: None })
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut c: Vec<&'static str> = r.findings.iter().map(|f| f.code.as_str()).collect();
    c.sort();
    c.dedup();
    (c, r.verdict)
}

#[test]
fn every_fixture_root_gives_exactly_its_codes() {
    let mut failures = Vec::new();
    for spec in roots::roots() {
        let (got, verdict) = codes(&root_of(&spec), Sip::Unknown);
        let mut want = spec.expect.to_vec();
        want.sort();
        if got != want {
            failures.push(format!("{}: got {got:?}, want {want:?}", spec.name));
        }
        let worst =
            want.iter().map(|c| kcheck::check::finding::Code::from_id(c).expect("a known code").severity()).max();
        let expected_verdict = match worst {
            Some(kcheck::check::finding::Severity::Error) => Verdict::Broken,
            Some(kcheck::check::finding::Severity::Warning) => Verdict::Attention,
            _ => Verdict::Healthy,
        };
        if verdict != expected_verdict {
            failures.push(format!("{}: verdict {verdict:?}, want {expected_verdict:?}", spec.name));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_verify_code_of_the_three_eras_has_a_fixture() {
    let covered: Vec<&str> = roots::roots().iter().flat_map(|r| r.expect.iter().copied()).collect();
    // ST006 and KN002 need the live probes of `verify --live`; ZN/PN come from logs.
    for code in kcheck::check::finding::Code::ALL.iter().map(|c| c.as_str()) {
        let live_or_logs = ["ST006", "KN002"].contains(&code)
            || code.starts_with("ZN")
            || code.starts_with("PN")
            || code.starts_with("LD");
        assert!(live_or_logs || covered.contains(&code), "no fixture root produces {code}");
    }
}

#[test]
fn healthy_roots_of_every_era_are_clean() {
    for (name, era) in
        [("healthy-10.14", "prelinked"), ("healthy-10.15", "prelinked-staged"), ("healthy-11", "kernel-collections")]
    {
        let r =
            verify(&VerifyOptions { root: roots_dir().join(name), data_root: None, sip: Sip::Enabled, preboot: None })
                .unwrap();
        assert!(r.findings.is_empty(), "{name}: {:?}", r.findings);
        assert_eq!(r.verdict, Verdict::Healthy);
        assert_eq!(r.facts.system.era.as_str(), era);
        assert!(r.facts.installed.kexts.len() >= 6, "{name}: {:?}", r.facts.installed);
    }
}

#[test]
fn sip_disabled_means_the_catalina_copy_will_happen() {
    let root = roots_dir().join("st003-copy-fails-with-sip");
    assert_eq!(codes(&root, Sip::Enabled).0, ["KB001", "ST002", "ST003"]);
    assert_eq!(codes(&root, Sip::Unknown).0, ["KB001", "ST002", "ST003"]);
    assert_eq!(codes(&root, Sip::Disabled).0, ["KB001", "ST001", "ST002"]);
}

#[test]
fn the_demo_tells_the_catalina_story() {
    let root = roots_dir().join("demo-10.15.0-pending-shove/Macintosh HD");
    let out = Command::cargo_bin("kcheck").unwrap().arg("verify").arg("--root").arg(&root).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    // Everything but the two lines naming the (arbitrarily long) volume
    // paths fits in 80 columns.
    for line in text.lines().filter(|l| !l.starts_with("kcheck verify:") && !l.starts_with("data volume:")) {
        assert!(line.chars().count() <= 80, "line over 80 columns: {line:?}");
    }
    assert!(text.contains("data volume:   "), "{text}");
    assert!(text.contains("Macintosh HD - Data"), "the sibling data volume is found: {text}");
    assert!(text.contains("system:        Mac OS X 10.15 (19A583), era prelinked-staged"));
    assert!(text.contains("SIP:           unknown (assumed enabled, the default)"));
    assert!(text.contains("BROKEN: the next boot will not run the kexts you think are installed."));
    let errors = text.find("ERRORS (1)").unwrap();
    let warnings = text.find("WARNINGS (2)").unwrap();
    let info = text.find("INFO (1)").unwrap();
    assert!(errors < warnings && warnings < info);
    assert!(text.contains("ST003  /Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel"));
    assert!(text.contains("Remedy: Boot to Recovery"), "{text}");
    assert!(text.contains("KX002  com.example.driver.FooNet"));
    assert!(text.contains("staged_version: 1.3.0"));
}

#[test]
fn verify_json_has_the_design_shape() {
    let root = roots_dir().join("demo-10.15.0-pending-shove/Macintosh HD");
    let out = Command::cargo_bin("kcheck").unwrap().args(["verify", "--json", "--root"]).arg(&root).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tool"]["name"], "kcheck");
    assert_eq!(v["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["system"]["product_version"], "10.15");
    assert_eq!(v["system"]["build"], "19A583");
    assert_eq!(v["system"]["era"], "prelinked-staged");
    assert_eq!(v["verdict"], "broken");
    let caches = v["caches"].as_array().unwrap();
    assert_eq!(caches[0]["role"], "boot");
    assert_eq!(caches[1]["role"], "staged");
    for c in caches {
        for key in ["role", "path", "sha256", "layers", "kernel_version", "kernel_uuid", "kc_id", "kext_count"] {
            assert!(c.get(key).is_some(), "{key} missing in {c}");
        }
        assert_eq!(c["layers"], serde_json::json!(["fat[x86_64]", "comp/lzvn", "mach-o/execute"]));
    }
    assert_ne!(caches[0]["kc_id"], caches[1]["kc_id"]);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings[0]["code"], "ST003");
    for f in findings {
        for key in ["code", "severity", "subject", "message", "evidence", "remedy"] {
            assert!(f.get(key).is_some(), "{key} missing in {f}");
        }
        assert!(f["evidence"].is_object());
        assert!(!f["remedy"].as_str().unwrap().is_empty());
    }
    let remedy = findings[0]["remedy"].as_str().unwrap();
    let system_ext = format!("`touch -c \"{}/System/Library/Extensions\"`", root.display());
    assert!(remedy.contains(&system_ext), "{remedy}");
    assert!(remedy.contains("go back to com.example.driver.FooNet version 1.2.3"), "{remedy}");
    let kx = findings.iter().find(|f| f["code"] == "KX002").unwrap();
    assert_eq!(kx["evidence"]["disk_version"], "1.3.0");
    assert_eq!(kx["evidence"]["boot_version"], "1.2.3");
    assert_eq!(kx["evidence"]["staged_version"], "1.3.0");
    // jsonl: one finding a line.
    let out = Command::cargo_bin("kcheck")
        .unwrap()
        .args(["verify", "--format", "jsonl", "--root"])
        .arg(&root)
        .output()
        .unwrap();
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), findings.len());
    assert_eq!(lines[0]["code"], "ST003");
}

#[test]
fn exit_status_follows_the_verdict() {
    let run = |name: &str| {
        Command::cargo_bin("kcheck")
            .unwrap()
            .arg("verify")
            .arg("--root")
            .arg(roots_dir().join(name))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run("healthy-10.15"), Some(0));
    assert_eq!(run("kx002-version-differs"), Some(1));
    assert_eq!(run("kc001-missing-boot-cache"), Some(2));
}

#[test]
fn data_root_can_be_given() {
    let top = roots_dir().join("demo-10.15.0-pending-shove");
    let r = verify(&VerifyOptions {
        root: top.join("Macintosh HD"),
        data_root: Some(top.join("Macintosh HD - Data")),
        sip: Sip::Unknown,
        preboot: None,
    })
    .unwrap();
    assert_eq!(r.facts.system.data_root_source, "given");
    assert!(r.findings.iter().any(|f| f.code == "ST003"));
    // Pointing the data root at the system volume hides the staged cache and
    // the script: then only the disk/cache drift and the build remain.
    let r = verify(&VerifyOptions {
        root: top.join("Macintosh HD"),
        data_root: Some(top.join("Macintosh HD")),
        sip: Sip::Unknown,
        preboot: None,
    })
    .unwrap();
    let mut c: Vec<_> = r.findings.iter().map(|f| f.code.as_str()).collect();
    c.sort();
    assert_eq!(c, ["KB001", "KX004", "KX004", "KX004"]);
}

#[test]
fn committed_roots_are_what_the_generator_writes() {
    let dir = tempfile::tempdir().unwrap();
    roots::write_roots(dir.path()).unwrap();
    let list = |base: &Path| {
        let mut v: Vec<(PathBuf, Vec<u8>)> = walkdir::WalkDir::new(base)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| e.file_type().is_file())
            .map(|e| (e.path().strip_prefix(base).unwrap().to_path_buf(), std::fs::read(e.path()).unwrap()))
            .collect();
        v.sort();
        v
    };
    let generated = list(dir.path());
    let committed = list(&roots_dir());
    assert_eq!(generated.len(), committed.len(), "run `cargo run --example gen_fixtures`");
    for (g, c) in generated.iter().zip(&committed) {
        assert_eq!(g.0, c.0);
        assert!(g.1 == c.1, "{} differs: run `cargo run --example gen_fixtures`", g.0.display());
    }
}

// ---- malformed roots ----

fn scratch_root(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots_dir().join(name), dir.path());
    dir
}

fn kcheck_verify(root: &Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("kcheck").unwrap().arg("verify").arg("--root").arg(root).assert()
}

#[test]
fn not_a_macos_root_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    kcheck_verify(dir.path()).code(66).stderr(
        predicate::str::contains("not a macOS system root")
            .and(predicate::str::contains("SystemVersion.plist is missing")),
    );
    kcheck_verify(Path::new("/nonexistent/root")).code(66).stderr(predicate::str::contains("no such file"));
}

#[test]
fn malformed_system_version_plist() {
    let dir = scratch_root("healthy-10.14");
    let p = dir.path().join("System/Library/CoreServices/SystemVersion.plist");
    std::fs::write(&p, b"<plist><dict><key>ProductVersion</key>").unwrap();
    kcheck_verify(dir.path())
        .code(65)
        .stderr(predicate::str::contains("SystemVersion.plist: at offset 0x0: not a valid plist"));
    std::fs::write(&p, b"<plist><dict><key>ProductVersion</key><string>banana</string><key>ProductBuildVersion</key><string>1</string></dict></plist>").unwrap();
    kcheck_verify(dir.path()).code(65).stderr(predicate::str::contains("is not a version number"));
    // A directory where the file belongs.
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    kcheck_verify(dir.path()).code(65).stderr(predicate::str::contains("is a directory"));
}

#[test]
fn a_directory_where_the_boot_cache_belongs_is_kc001() {
    let dir = scratch_root("healthy-10.14");
    let p = dir.path().join("System/Library/PrelinkedKernels/prelinkedkernel");
    std::fs::remove_file(&p).unwrap();
    std::fs::create_dir(&p).unwrap();
    let (c, v) = codes(dir.path(), Sip::Unknown);
    assert_eq!((c, v), (vec!["KC001"], Verdict::Broken));
}

#[test]
fn symlink_loops_and_escapes_never_hang_or_leave_the_root() {
    let dir = scratch_root("healthy-10.14");
    let ext = dir.path().join("Library/Extensions");
    std::os::unix::fs::symlink("Loop.kext", ext.join("Loop.kext")).unwrap();
    std::os::unix::fs::symlink("B.kext", ext.join("A.kext")).unwrap();
    std::os::unix::fs::symlink("A.kext", ext.join("B.kext")).unwrap();
    std::os::unix::fs::symlink("/usr", ext.join("Escape.kext")).unwrap();
    // The boot cache itself a link out of the root.
    let plk = dir.path().join("System/Library/PrelinkedKernels/prelinkedkernel");
    std::fs::remove_file(&plk).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &plk).unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let kx005: Vec<_> = r.findings.iter().filter(|f| f.code == "KX005").map(|f| f.subject.clone()).collect();
    for name in ["Loop.kext", "A.kext", "B.kext", "Escape.kext"] {
        assert!(kx005.iter().any(|s| s.ends_with(name)), "{name} not reported: {kx005:?}");
    }
    let kc = r.findings.iter().find(|f| f.code == "KC001").expect("KC001 for a cache link leaving the root");
    assert!(kc.message.contains("outside"), "{}", kc.message);
}

#[test]
fn unreadable_subtrees_and_huge_info_plists() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_root("healthy-10.14");
    let ext = dir.path().join("Library/Extensions");
    let huge = ext.join("Huge.kext/Contents");
    std::fs::create_dir_all(&huge).unwrap();
    let f = std::fs::File::create(huge.join("Info.plist")).unwrap();
    f.set_len(64 << 20).unwrap(); // sparse: 64 MiB of nothing
    let locked = ext.join("Locked.kext");
    std::fs::create_dir_all(locked.join("Contents")).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let huge_f = r
        .findings
        .iter()
        .find(|f| f.code == "KX005" && f.subject.ends_with("Huge.kext"))
        .expect("huge Info.plist reported");
    assert!(huge_f.message.contains("limit"), "{}", huge_f.message);
    if !nix::unistd::geteuid().is_root() {
        assert!(r.findings.iter().any(|f| f.code == "KX005" && f.subject.ends_with("Locked.kext")));
    }
}
