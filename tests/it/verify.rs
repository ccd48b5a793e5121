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

/// The checks a `not_checked` entry's `check` field names, one item each:
/// `"KX001-KX004, AX001"` is KX001, KX002, KX003, KX004 and AX001; an item
/// that is not a range (`KN001`, `KX008 (exclude-list)`) stands for itself.
fn checks_named(check: &str) -> Vec<String> {
    let mut out = Vec::new();
    for item in check.split(", ") {
        let range = item.split_once('-').and_then(|(a, b)| {
            let (pa, na) = a.split_at_checked(2)?;
            let (pb, nb) = b.split_at_checked(2)?;
            let (na, nb): (u32, u32) = (na.parse().ok()?, nb.parse().ok()?);
            (pa == pb && pa.chars().all(|c| c.is_ascii_uppercase()) && na <= nb).then(|| (pa.to_string(), na, nb))
        });
        match range {
            Some((prefix, from, to)) => out.extend((from..=to).map(|n| format!("{prefix}{n:03}"))),
            None => out.push(item.to_string()),
        }
    }
    out
}

#[test]
fn not_checked_ranges_are_read_as_apple_codes() {
    assert_eq!(checks_named("KX001-KX003, AX001"), ["KX001", "KX002", "KX003", "AX001"]);
    assert_eq!(checks_named("ST001, ST003-ST005"), ["ST001", "ST003", "ST004", "ST005"]);
    assert_eq!(checks_named("KX008 (exclude-list)"), ["KX008 (exclude-list)"]);
    assert_eq!(checks_named("KN001"), ["KN001"]);
}

/// Run `verify` on the root `name` (SIP unknown, as a plain `kcheck
/// verify`) and compare it with its spec: the exact (code, severity)
/// multiset, the verdict, and the checks listed as not run.
fn check_root(name: &str) {
    let spec = roots::roots().into_iter().find(|r| r.name == name).unwrap_or_else(|| panic!("no fixture root {name}"));
    let r = verify(&VerifyOptions { root: root_of(&spec), data_root: None, sip: Sip::Unknown, preboot: None })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut got: Vec<(&str, &str)> = r.findings.iter().map(|f| (f.code.as_str(), f.severity.as_str())).collect();
    got.sort();
    let mut want: Vec<(&str, &str)> = spec.expect.iter().map(|(c, s)| (*c, s.as_str())).collect();
    want.sort();
    let mut got_nc: Vec<String> = r.not_checked.iter().flat_map(|n| checks_named(&n.check)).collect();
    got_nc.sort();
    let mut want_nc: Vec<String> = spec.expect_not_checked.iter().flat_map(|c| checks_named(c)).collect();
    want_nc.sort();
    let mut failures = Vec::new();
    if got != want {
        let detail: Vec<String> = r
            .findings
            .iter()
            .map(|f| format!("  {} {} {}: {}", f.code, f.severity.as_str(), f.subject, f.message))
            .collect();
        failures.push(format!("findings: got {got:?}, want {want:?}\n{}", detail.join("\n")));
    }
    if r.verdict.as_str() != spec.expect_verdict.as_str() {
        failures.push(format!("verdict: got {}, want {}", r.verdict.as_str(), spec.expect_verdict.as_str()));
    }
    if got_nc != want_nc {
        let detail: Vec<String> = r.not_checked.iter().map(|n| format!("  {}: {}", n.check, n.reason)).collect();
        failures.push(format!("not_checked: got {got_nc:?}, want {want_nc:?}\n{}", detail.join("\n")));
    }
    assert!(failures.is_empty(), "{name}:\n{}", failures.join("\n"));
}

/// One test per fixture root (`cargo test --test it verify::root::`); a
/// root whose spec follows design.md where kcheck's rule does not yet is
/// ignored, with the disagreement written up in RULE-DISAGREEMENTS.md.
mod root {
    use super::check_root;

    macro_rules! root_tests {
        ($($(#[$meta:meta])* $test:ident: $name:literal;)*) => {
            $(
                #[test]
                $(#[$meta])*
                fn $test() {
                    check_root($name);
                }
            )*
            /// Every root that has a test above.
            pub(super) const TESTED: &[&str] = &[$($name),*];
        };
    }

    root_tests! {
        healthy_10_14: "healthy-10.14";
        healthy_10_15: "healthy-10.15";
        healthy_11: "healthy-11";
        demo_10_15_0_pending_shove: "demo-10.15.0-pending-shove";
        kc001_missing_boot_cache: "kc001-missing-boot-cache";
        kc001_corrupt_boot_cache: "kc001-corrupt-boot-cache";
        kc002_corrupt_staged_cache: "kc002-corrupt-staged-cache";
        kc002_corrupt_aux_collection: "kc002-corrupt-aux-collection";
        st001_install_pending: "st001-install-pending";
        st001_pending_on_10_15_7: "st001-pending-on-10.15.7";
        st002_shove_without_staged_cache: "st002-shove-without-staged-cache";
        st003_copy_fails_with_sip: "st003-copy-fails-with-sip";
        st003_10_15_0_seed_build: "st003-10.15.0-seed-build";
        st004_shove_left_behind: "st004-shove-left-behind";
        st005_staged_never_copied: "st005-staged-never-copied";
        kx001_kext_not_in_cache: "kx001-kext-not-in-cache";
        kx002_version_differs: "kx002-version-differs";
        kx002_versions_equal_as_apple_compares: "kx002-versions-equal-as-apple-compares";
        kx003_rebuilt_executable: "kx003-rebuilt-executable";
        kx004_cached_kext_removed: "kx004-cached-kext-removed";
        kx004_staged_kext_removed: "kx004-staged-kext-removed";
        kx005_unreadable_bundles: "kx005-unreadable-bundles";
        kx006_loaded_on_demand: "kx006-loaded-on-demand";
        kx007_not_approved: "kx007-not-approved";
        kx007_mdm_team_allowed: "kx007-mdm-team-allowed";
        kx008_arch: "kx008-arch";
        kx008_exclude_list: "kx008-exclude-list";
        kx008_invalid: "kx008-invalid";
        kx008_dependency: "kx008-dependency";
        kx009_duplicate_install: "kx009-duplicate-install";
        nested_plugin_of_plugin: "nested-plugin-of-plugin";
        kn001_kernel_differs: "kn001-kernel-differs";
        kn003_kernel_unreadable: "kn003-kernel-unreadable";
        kb001_zone_leak_build: "kb001-zone-leak-build";
        not_checked_no_policy: "not-checked-no-policy";
        ax001_kext_awaiting_approval: "ax001-kext-awaiting-approval";
        ax001_approved_awaiting_restart: "ax001-approved-awaiting-restart";
        ax002_aux_version_differs: "ax002-aux-version-differs";
        ax003_aux_linked_to_old_boot: "ax003-aux-linked-to-old-boot";
        ax003_pageable_id_mismatch: "ax003-pageable-id-mismatch";
        ax001_library_apple_kext: "ax001-library-apple-kext";
        ax001_in_auxkc_build_list: "ax001-in-auxkc-build-list";
        era_26_1_intel: "era-26.1-intel";
        as_healthy_preboot: "as-healthy-preboot";
        as_no_preboot: "as-no-preboot";
        as_x86_only_kext: "as-x86-only-kext";
        as_arm64_plain_kext: "as-arm64-plain-kext";
        as_kext_awaiting_approval: "as-kext-awaiting-approval";
        as_two_volume_groups: "as-two-volume-groups";
        as_boot_active: "as-boot-active";
        as_preboot_without_kernelcache: "as-preboot-without-kernelcache";
    }
}

#[test]
fn every_fixture_root_has_its_test() {
    let mut specs: Vec<&str> = roots::roots().iter().map(|r| r.name).collect();
    specs.sort_unstable();
    let mut tested = root::TESTED.to_vec();
    tested.sort_unstable();
    assert_eq!(tested, specs, "add a line to root_tests! for each new root");
    // And every root is on disk (the generator wrote it).
    for name in specs {
        assert!(roots_dir().join(name).is_dir(), "{name}: run `cargo run --example gen_fixtures`");
    }
}

#[test]
fn every_verify_code_of_design_md_has_a_fixture() {
    // design.md's verify codes, except the live-only ST006 and KN002.
    const DESIGN: &[&str] = &[
        "KC001", "KC002", "ST001", "ST002", "ST003", "ST004", "ST005", "KX001", "KX002", "KX003", "KX004", "KX005",
        "KX006", "KX007", "KX008", "KX009", "KN001", "KN003", "KB001", "AX001", "AX002", "AX003",
    ];
    let specs = roots::roots();
    for code in DESIGN {
        assert!(specs.iter().any(|r| r.expect.iter().any(|(c, _)| c == code)), "no fixture root produces {code}");
    }
    // Every code a root expects is one of kcheck's (no typos).
    for r in &specs {
        for (c, _) in r.expect {
            assert!(kcheck::check::finding::Code::from_id(c).is_some(), "{}: unknown code {c}", r.name);
        }
    }
}

#[test]
fn healthy_roots_of_every_era_are_clean() {
    for (name, era) in
        [("healthy-10.14", "prelinked"), ("healthy-10.15", "prelinked-staged"), ("healthy-11", "kernel-collections")]
    {
        for sip in [Sip::Enabled, Sip::Unknown, Sip::Disabled] {
            let r =
                verify(&VerifyOptions { root: roots_dir().join(name), data_root: None, sip, preboot: None }).unwrap();
            // healthy-11 has one info finding where kcheck's rule and
            // design.md disagree (RULE-DISAGREEMENTS.md); its exact codes are
            // checked by the ignored verify::root::healthy_11.
            if name != "healthy-11" {
                assert!(r.findings.is_empty(), "{name}: {:?}", r.findings);
            }
            assert!(r.findings.iter().all(|f| f.severity.as_str() == "info"), "{name}: {:?}", r.findings);
            assert!(r.not_checked.is_empty(), "{name}: {:?}", r.not_checked);
            assert_eq!(r.verdict, Verdict::Healthy);
            assert_eq!(r.facts.system.era.as_str(), era);
            assert!(r.facts.installed.kexts.len() >= 7, "{name}: {:?}", r.facts.installed);
        }
    }
}

/// The bare kernel of every root has the layout of a real one (empty
/// `__PRELINK_*` segments, `__PRELINK_TEXT` below `__TEXT`) and kcheck
/// reads it as a kernel with no kexts.
#[test]
fn the_bare_kernel_has_the_real_layout_and_reads_as_a_kernel() {
    use goblin::mach::{Mach, MachO};
    let path = roots_dir().join("healthy-10.14/System/Library/Kernels/kernel");
    let bytes = std::fs::read(&path).unwrap();
    let Ok(Mach::Binary(m)) = Mach::parse(&bytes) else { panic!("not a thin Mach-O") };
    let m: MachO = m;
    assert_eq!(m.header.filetype, goblin::mach::header::MH_EXECUTE);
    let seg = |name: &str| m.segments.iter().find(|s| s.name().ok() == Some(name)).unwrap_or_else(|| panic!("{name}"));
    let text = seg("__TEXT");
    for name in ["__PRELINK_TEXT", "__PRELINK_INFO", "__PRELINK_DATA"] {
        let s = seg(name);
        assert_eq!((s.vmsize, s.filesize), (0, 0), "{name} is empty");
    }
    assert!(seg("__PRELINK_TEXT").vmaddr < text.vmaddr, "__PRELINK_TEXT below __TEXT");
    let info = seg("__PRELINK_INFO").sections().unwrap();
    assert_eq!(
        info.iter().map(|(s, _)| (s.name().unwrap().to_string(), s.size)).collect::<Vec<_>>(),
        [("__info".to_string(), 0)]
    );
    let out = Command::cargo_bin("kcheck").unwrap().args(["info", "--json"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "kernel");
    assert_eq!(v["kext_count"], 0);
    assert!(v["kernel"]["version"].as_str().unwrap().starts_with("Darwin Kernel Version 18.7.0:"), "{v}");
    let text = Command::cargo_bin("kcheck").unwrap().arg("info").arg(&path).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("kind         kernel (mach-o/execute, x86_64)"), "{text}");
    assert!(text.contains("kexts        0 (0 codeless)"), "{text}");
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
    // The 10.15.0 remedy (design.md): update, or `kextcache -i` on the
    // volume from Recovery — never `touch -c …/Extensions`, which only
    // schedules the same failing shutdown copy again.
    assert!(text.contains("Remedy: Update to macOS 10.15.1 (19B88) or later"), "{text}");
    // Compared without white space: a long root path is broken across
    // lines wherever the wrap falls (the test must pass in any checkout).
    let flat: String = text.split_whitespace().collect();
    let kextcache: String =
        format!("boot to Recovery (hold Command-R), open Terminal and run `kextcache -i \"{}\"`", root.display())
            .split_whitespace()
            .collect();
    assert!(flat.contains(&kextcache), "{text}");
    assert!(!text.contains("touch -c"), "{text}");
    assert!(text.contains("KX002  com.example.driver.FooNet"));
    assert!(text.contains("staged_version: 1.3.0"));
    assert!(!text.contains("NOT CHECKED"), "every check ran: {text}");
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
    let kextcache = format!("`kextcache -i \"{}\"`", root.display());
    assert!(remedy.contains(&kextcache), "{remedy}");
    assert!(!remedy.contains("touch -c"), "{remedy}");
    assert!(remedy.contains("go back to com.example.driver.FooNet version 1.2.3"), "{remedy}");
    assert_eq!(v["not_checked"], serde_json::json!([]));
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
    // One line a finding, then the run record (verdict, counts, not_checked).
    assert_eq!(lines.len(), findings.len() + 1);
    assert!(lines[..findings.len()].iter().all(|l| l["record"] == "finding"));
    assert_eq!(lines[0]["code"], "ST003");
    let run = &lines[findings.len()];
    assert_eq!(run["record"], "run");
    assert_eq!(run["verdict"], "broken");
    assert_eq!(run["counts"], serde_json::json!({"error": 1, "warning": 2, "info": 1}));
    assert_eq!(run["not_checked"], serde_json::json!([]));
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
        .stderr(predicate::str::contains("SystemVersion.plist: at offset 0x26: not a valid plist"));
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

/// design.md AX001: the remedy depends on the state; for a kext that is
/// already approved (KextPolicy) it is a restart, so the rebuilt collection
/// loads — not "approve".
#[test]
fn ax001_remedy_for_an_approved_kext_is_a_restart() {
    let r = verify(&VerifyOptions {
        root: roots_dir().join("ax001-approved-awaiting-restart"),
        data_root: None,
        sip: Sip::Unknown,
        preboot: None,
    })
    .unwrap();
    let f = r.findings.iter().find(|f| f.code == "AX001").expect("AX001");
    assert!(f.remedy.to_lowercase().contains("restart"), "{}", f.remedy);
    assert!(!f.remedy.to_lowercase().contains("approve the kext"), "already approved: {}", f.remedy);
}

fn verify_root(name: &str, preboot: Option<PathBuf>) -> kcheck::check::VerifyReport {
    verify(&VerifyOptions { root: roots_dir().join(name), data_root: None, sip: Sip::Unknown, preboot })
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The Apple-silicon roots are recognised as such (`kernel.release.t8101`,
/// no `BootKernelExtensions.kc`), their boot collection is the IMG4
/// kernelcache of the Preboot boot folder (raw, LZSS and LZFSE IM4P
/// payloads), and the kernel it is compared with is `kernel.release.t8101`
/// (the SoC its version string names), not the `kernel.release.t6000`
/// beside it.
#[test]
fn apple_silicon_roots_read_the_preboot_kernelcache() {
    use kcheck::facts::Role;
    use kcheck::system::Platform;
    for (name, payload) in [
        ("as-healthy-preboot", None),
        ("as-x86-only-kext", None),
        ("as-arm64-plain-kext", None),
        ("as-kext-awaiting-approval", None),
        ("as-two-volume-groups", Some("comp/lzss")),
        ("as-boot-active", Some("lzfse")),
    ] {
        let r = verify_root(name, None);
        assert_eq!(r.facts.system.era.as_str(), "kernel-collections", "{name}");
        assert_eq!(r.facts.system.platform, Platform::AppleSilicon, "{name}");
        let boot = r.facts.cache(Role::Boot).unwrap_or_else(|| panic!("{name}: no boot slot"));
        assert!(boot.mac_path.starts_with("/System/Volumes/Preboot/"), "{name}: {}", boot.mac_path);
        assert!(boot.mac_path.ends_with("/System/Library/Caches/com.apple.kernelcaches/kernelcache"), "{name}");
        let info = boot.state.info().unwrap_or_else(|| panic!("{name}: {:?}", boot.state));
        let mut want = vec!["img4", "im4p[krnl]"];
        want.extend(payload);
        want.push("mach-o/fileset");
        assert_eq!(info.layers, want, "{name}");
        assert_eq!(info.arch, "arm64e", "{name}");
        assert!(info.kernel.version.as_deref().is_some_and(|v| v.ends_with("RELEASE_ARM64_T8101")), "{name}");
        assert_eq!(r.facts.kernel_path, "/System/Library/Kernels/kernel.release.t8101", "{name}");
        assert!(r.facts.kernel.info().is_some(), "{name}: {:?}", r.facts.kernel);
        // No system or auxiliary collection is looked for on Apple silicon.
        assert_eq!(r.facts.caches.len(), 1, "{name}: {:?}", r.facts.caches);
    }
    // Without Preboot it is still recognised as Apple silicon.
    let r = verify_root("as-no-preboot", None);
    assert_eq!(r.facts.system.platform, Platform::AppleSilicon);
}

/// The HEALTHY verdicts of `as-two-volume-groups` and `as-boot-active`
/// mean the right volume group and boot folder were used: the other one's
/// kernelcache is damaged, and reading it is KC001.
#[test]
fn apple_silicon_the_group_and_folder_not_chosen_are_damaged() {
    let preboot = |root: &str, group: &str| roots_dir().join(root).join("System/Volumes/Preboot").join(group);
    let codes_with = |root: &str, dir: PathBuf| {
        let r = verify_root(root, Some(dir));
        let mut c: Vec<&str> = r.findings.iter().map(|f| f.code.as_str()).collect();
        c.sort_unstable();
        c.dedup();
        (c, r.verdict)
    };
    let other = preboot("as-two-volume-groups", roots::AS_OTHER_GROUP);
    assert_eq!(codes_with("as-two-volume-groups", other), (vec!["KC001"], Verdict::Broken));
    let stale = preboot("as-boot-active", roots::AS_GROUP).join("boot").join(roots::boot_hash("as-boot-active-stale"));
    assert!(stale.is_dir(), "{}", stale.display());
    assert_eq!(codes_with("as-boot-active", stale), (vec!["KC001"], Verdict::Broken));
    // And `boot/active` sorts after the stale folder, so "the first folder"
    // would be the wrong one.
    let active = roots::boot_hash("as-boot-active-current");
    assert!(roots::boot_hash("as-boot-active-stale") < active);
    assert!(roots::AS_OTHER_GROUP < roots::AS_GROUP);
}

/// design.md KX008: on Apple silicon a kext needs an arm64e slice; an
/// x86_64-only or plain-arm64 executable is KX008 with reason `arch`.
#[test]
fn apple_silicon_kx008_reason_is_arch() {
    for (name, id) in
        [("as-x86-only-kext", "com.example.driver.LegacyNIC"), ("as-arm64-plain-kext", "com.example.driver.PlainArm64")]
    {
        let r = verify_root(name, None);
        let f = r.findings.iter().find(|f| f.code == "KX008").unwrap_or_else(|| panic!("{name}: no KX008"));
        assert_eq!(f.subject, id, "{name}");
        assert_eq!(f.evidence.get("reason").and_then(Value::as_str), Some("arch"), "{name}: {:?}", f.evidence);
        assert!(!f.remedy.to_lowercase().contains("rebuild the"), "{name}: {}", f.remedy);
    }
}

/// design.md KX007: on Apple silicon approval means nothing until the Mac
/// runs Reduced Security with user management of kexts allowed, so the
/// remedy starts there (Startup Security Utility in recoveryOS). kcheck
/// cannot tell from an offline root whether the Mac already runs Reduced
/// Security (the boot policy lives in the Secure Enclave / LocalPolicy, not
/// on the volume), so the remedy always names the step.
#[test]
fn apple_silicon_kx007_remedy_names_reduced_security() {
    let r = verify_root("as-kext-awaiting-approval", None);
    let f = r.findings.iter().find(|f| f.code == "KX007").expect("KX007");
    assert_eq!(f.subject, "com.example.driver.ZapFilter");
    assert!(f.remedy.contains("Reduced Security"), "{}", f.remedy);
    assert!(f.remedy.contains("Startup Security Utility"), "{}", f.remedy);
    assert!(f.remedy.contains("Privacy & Security"), "macOS 15: System Settings: {}", f.remedy);
}

/// design.md AX001: an approved kext listed in the current AuxKC build list
/// (`com.apple.kcgen.instructions.plist`) is waiting for a restart.
#[test]
fn ax001_in_the_auxkc_build_list_is_approved_pending_restart() {
    let r = verify_root("ax001-in-auxkc-build-list", None);
    let f = r.findings.iter().find(|f| f.code == "AX001").expect("AX001");
    assert_eq!(f.subject, "com.example.driver.QuxAudio");
    assert_eq!(
        f.evidence.get("approval").and_then(Value::as_str),
        Some("approved-pending-restart"),
        "{:?}",
        f.evidence
    );
    assert_eq!(f.evidence.get("in_current_auxkc_build_list"), Some(&Value::Bool(true)), "{:?}", f.evidence);
    assert!(f.remedy.to_lowercase().contains("restart"), "{}", f.remedy);
    assert!(!f.remedy.to_lowercase().contains("approve the kext"), "already approved: {}", f.remedy);
    // The kext of /Library/Apple/System/Library/Extensions is compared with
    // the auxiliary collection (AX001), not the sealed ones (KX001/KX006).
    let r = verify_root("ax001-library-apple-kext", None);
    let f = r.findings.iter().find(|f| f.code == "AX001").expect("AX001");
    assert_eq!(f.subject, "com.apple.driver.ExampleOutOfBandUpdate");
    assert!(f.message.contains("auxiliary"), "{}", f.message);
}

/// design.md AX003 (Intel): the aux collection's `_PageableKCID` must be the
/// system collection's `_PrelinkKCID`; here its `_BootKCID` is right.
#[test]
fn ax003_pageable_id_mismatch_names_the_system_collection() {
    let r = verify_root("ax003-pageable-id-mismatch", None);
    let f = r.findings.iter().find(|f| f.code == "AX003").expect("AX003");
    let ev = |k: &str| f.evidence.get(k).and_then(Value::as_str).map(str::to_string);
    assert_eq!(ev("aux_boot_kc_id"), ev("boot_kc_id"), "{:?}", f.evidence);
    assert!(ev("aux_pageable_kc_id").is_some() && ev("system_kc_id").is_some(), "{:?}", f.evidence);
    assert_ne!(ev("aux_pageable_kc_id"), ev("system_kc_id"), "{:?}", f.evidence);
    // The same shape with matching ids (era-26.1-intel) has no AX003.
    assert!(verify_root("era-26.1-intel", None).findings.is_empty());
}

/// design.md Eras: 26.x (here 26.1 on Intel) is `kernel-collections`, with
/// its boot, system and auxiliary collections read.
#[test]
fn macos_26_on_intel_is_the_kernel_collections_era() {
    use kcheck::facts::Role;
    let r = verify_root("era-26.1-intel", None);
    assert_eq!(r.facts.system.product_version, "26.1");
    assert_eq!(r.facts.system.version, (26, 1, 0));
    assert_eq!(r.facts.system.era.as_str(), "kernel-collections");
    assert_eq!(r.facts.system.platform, kcheck::system::Platform::Intel);
    for role in [Role::Boot, Role::System, Role::Auxiliary] {
        let slot = r.facts.cache(role).unwrap_or_else(|| panic!("no {role} slot"));
        assert!(slot.state.info().is_some(), "{role}: {:?}", slot.state);
    }
    assert_eq!(r.facts.kernel_path, "/System/Library/Kernels/kernel");
    assert_eq!(r.verdict, Verdict::Healthy);
}

/// design.md "Apple silicon (11+)": the kernel of an Apple-silicon root is
/// `kernel.release.<soc>`; the report names the file KN001 compared with.
#[test]
fn apple_silicon_report_names_the_soc_kernel() {
    let out = Command::cargo_bin("kcheck")
        .unwrap()
        .args(["verify", "--json", "--root"])
        .arg(roots_dir().join("as-healthy-preboot"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["system"]["kernel"]["path"], "/System/Library/Kernels/kernel.release.t8101", "{}", v["system"]);
    let out = Command::cargo_bin("kcheck")
        .unwrap()
        .args(["verify", "--root"])
        .arg(roots_dir().join("as-healthy-preboot"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("kernel    /System/Library/Kernels/kernel.release.t8101\n"), "{text}");
}

/// `SystemVersionCompat.plist` (macOS 11+ shows old tools "10.16" there)
/// is never read: the release comes from `SystemVersion.plist`.
#[test]
fn system_version_compat_decoy_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&roots_dir().join("healthy-11"), dir.path());
    let compat = dir.path().join("System/Library/CoreServices/SystemVersionCompat.plist");
    std::fs::write(
        &compat,
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>ProductVersion</key><string>10.16</string>\
         <key>ProductBuildVersion</key><string>20G95</string></dict></plist>",
    )
    .unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    assert_ne!(r.facts.system.product_version, "10.16");
    assert_eq!(r.facts.system.era.as_str(), "kernel-collections");
    assert_eq!(r.verdict, Verdict::Healthy, "{:?}", r.findings);
}

/// KX008 `invalid` at IOKitUser's identifier limit: 63 characters pass,
/// 64 do not (mutation testing found the boundary untested).
#[test]
fn bundle_id_length_boundary() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&roots_dir().join("healthy-10.15"), dir.path());
    let le = dir.path().join("Library/Extensions");
    for (name, len) in [("Sixty3", 63), ("Sixty4", 64)] {
        let id = format!("com.example.{}", "x".repeat(len - "com.example.".len()));
        assert_eq!(id.len(), len);
        let c = le.join(format!("{name}.kext/Contents"));
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(
            c.join("Info.plist"),
            format!(
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>{id}</string>\
                 <key>CFBundleVersion</key><string>1.0</string><key>CFBundlePackageType</key><string>KEXT</string></dict></plist>"
            ),
        )
        .unwrap();
    }
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let of = |n: usize| r.findings.iter().find(|f| f.subject.len() == n).map(|f| f.code.as_str());
    // 63 is valid: it gets past validation (and, unsigned and unapproved here, is KX007).
    assert_eq!(of(63), Some("KX007"), "{:?}", r.findings);
    assert_eq!(of(64), Some("KX008"), "{:?}", r.findings);
}

/// KN001 on 11+: the kernel and the boot collection are sealed, so the
/// remedy is to reinstall macOS, never a rebuild.
#[test]
fn kn001_on_11_says_reinstall() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::copy_tree(&roots_dir().join("healthy-11"), dir.path());
    std::fs::copy(
        roots_dir().join("healthy-10.14/System/Library/Kernels/kernel"),
        dir.path().join("System/Library/Kernels/kernel"),
    )
    .unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let kn = r.findings.iter().find(|f| f.code == "KN001").expect("KN001");
    assert!(kn.remedy.contains("reinstall macOS"), "{}", kn.remedy);
    assert!(!kn.remedy.contains("kmutil"), "{}", kn.remedy);
}

/// The facts of a copy of fixture root `name`, and the rules' outcome on
/// them after `edit` (for cases no committed root shows).
fn outcome_after(name: &str, edit: impl FnOnce(&mut kcheck::facts::Facts)) -> kcheck::check::verify::Outcome {
    let opts = VerifyOptions { root: roots_dir().join(name), data_root: None, sip: Sip::Unknown, preboot: None };
    let mut f = kcheck::facts::gather(&opts).unwrap();
    edit(&mut f);
    kcheck::check::verify::check(&f)
}

/// A copy of the first installed kext turned into the exclude-list kext
/// (`version`, `list`), for tests that inject one into the facts.
fn exclude_list_kext(
    f: &kcheck::facts::Facts,
    path: &str,
    version: &str,
    list: Option<Vec<(String, kcheck::system::bundle::ExcludeRule)>>,
) -> kcheck::system::bundle::InstalledKext {
    let mut k = f.installed.kexts[0].clone();
    k.bundle_id = kcheck::system::bundle::EXCLUDE_LIST_KEXT.into();
    k.path = path.into();
    k.version = Some(version.into());
    k.exclude_list = list;
    k
}

/// AX003 when the auxiliary collection names neither the boot nor the
/// system collection: one finding that says both.
#[test]
fn ax003_with_both_links_wrong_names_both_collections() {
    use kcheck::facts::{CacheState, Role};
    // The root with a system collection; its aux already names the wrong one.
    let o = outcome_after("ax003-pageable-id-mismatch", |f| {
        for slot in &mut f.caches {
            if slot.role == Role::Auxiliary
                && let CacheState::Ok(a) = &mut slot.state
            {
                a.boot_kc_id = Some("00000000-0000-0000-0000-00000000000B".into());
                assert!(a.pageable_kc_id.is_some());
            }
        }
    });
    let ax: Vec<_> = o.findings.iter().filter(|f| f.code.as_str() == "AX003").collect();
    assert_eq!(ax.len(), 1, "{:?}", o.findings);
    assert!(ax[0].message.contains("different boot and system kernel collections"), "{}", ax[0].message);
}

/// KN001 with a boot cache but no kernel file: not checked, because the
/// kernel is missing (not because the cache is).
#[test]
fn kn001_without_the_kernel_file_says_the_kernel_is_missing() {
    use kcheck::facts::CacheState;
    let o = outcome_after("healthy-10.14", |f| f.kernel = CacheState::Missing);
    let kn: Vec<_> = o.not_checked.iter().filter(|n| n.check == "KN001").collect();
    assert_eq!(kn.len(), 1, "{:?}", o.not_checked);
    assert_eq!(kn[0].reason, "/System/Library/Kernels/kernel not found");
}

/// An exclude-list rule that depends on IOKit matching is named in
/// not_checked for an installed kext, and not for a kext that is absent.
#[test]
fn exclude_list_rules_needing_hardware_matching_are_not_checked() {
    use kcheck::system::bundle::ExcludeRule;
    let o = outcome_after("healthy-10.15", |f| {
        let rule = |v: &str| ExcludeRule { versions: v.into(), needs_matching: true };
        let list = vec![
            ("com.example.driver.FooNet".into(), rule("LE 99.0")),
            ("com.example.not.installed".into(), rule("LE 99.0")),
        ];
        let k = exclude_list_kext(f, "/System/Library/Extensions/AppleKextExcludeList.kext", "15.0.0", Some(list));
        f.installed.kexts.push(k);
    });
    let ex: Vec<_> = o.not_checked.iter().filter(|n| n.check == "KX008 (exclude-list)").collect();
    assert_eq!(ex.len(), 1, "{:?}", o.not_checked);
    assert!(ex[0].reason.contains("com.example.driver.FooNet"), "{}", ex[0].reason);
    assert!(!ex[0].reason.contains("com.example.not.installed"), "{}", ex[0].reason);
    assert!(ex[0].reason.contains("IOKit matching"), "{}", ex[0].reason);
}

/// `OSBundleRequired` DriverKit puts a kext in the 10.15 boot cache
/// (kext_tools `filterKextsForCache`), not in a 10.14 one: missing from
/// the cache it is KX001 on 10.15 and KX006 on 10.14.
#[test]
fn driverkit_required_kexts_belong_in_the_boot_cache_on_10_15_only() {
    for (root, want) in [("healthy-10.15", "KX001"), ("healthy-10.14", "KX006")] {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&roots_dir().join(root), dir.path());
        let c = dir.path().join("System/Library/Extensions/DriverKitThing.kext/Contents");
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(
            c.join("Info.plist"),
            "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>\
             <key>CFBundleIdentifier</key><string>com.apple.driver.DriverKitThing</string>\
             <key>CFBundleVersion</key><string>1.0</string><key>CFBundlePackageType</key><string>KEXT</string>\
             <key>OSBundleRequired</key><string>DriverKit</string></dict></plist>",
        )
        .unwrap();
        let r = verify(&VerifyOptions {
            root: dir.path().to_path_buf(),
            data_root: None,
            sip: Sip::Unknown,
            preboot: None,
        })
        .unwrap();
        let got: Vec<_> = r
            .findings
            .iter()
            .filter(|f| f.subject == "com.apple.driver.DriverKitThing")
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(got, vec![want], "{root}: {:?}", r.findings);
    }
}

/// A version bump of an Apple kext in /System/Library/Extensions: on
/// ≤ 10.15 the remedy rebuilds the cache; on 11+ the kext and the
/// collections are on the sealed volume, so it says reinstall macOS.
#[test]
fn kx002_remedy_for_a_system_kext_by_era() {
    for (root, rebuild) in [("healthy-10.14", true), ("healthy-11", false)] {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&roots_dir().join(root), dir.path());
        let plist = dir.path().join("System/Library/Extensions/AppleHDA.kext/Contents/Info.plist");
        let text = std::fs::read_to_string(&plist).unwrap();
        std::fs::write(&plist, text.replace("<string>283.15</string>", "<string>283.16</string>")).unwrap();
        let r = verify(&VerifyOptions {
            root: dir.path().to_path_buf(),
            data_root: None,
            sip: Sip::Unknown,
            preboot: None,
        })
        .unwrap();
        let kx = r.findings.iter().find(|f| f.subject == "com.apple.driver.AppleHDA").expect("a finding");
        assert_eq!(kx.code, "KX002", "{root}: {:?}", r.findings);
        assert_eq!(kx.remedy.contains("reinstall macOS"), !rebuild, "{root}: {}", kx.remedy);
        assert_eq!(kx.remedy.contains("kextcache"), rebuild, "{root}: {}", kx.remedy);
    }
}

/// AX001 for a kext that is not in a build list naming other kexts: the
/// list does not make it "approved, pending restart".
#[test]
fn ax001_not_in_a_build_list_of_other_kexts() {
    let o = outcome_after("ax001-in-auxkc-build-list", |f| {
        f.auxkc_build_list = Some(Ok(vec!["/Library/Extensions/Other.kext".into()]));
    });
    let ax = o.findings.iter().find(|f| f.code.as_str() == "AX001").expect("AX001");
    assert_eq!(ax.evidence.get("in_current_auxkc_build_list"), Some(&Value::Bool(false)), "{:?}", ax.evidence);
    assert_ne!(ax.evidence.get("approval").and_then(Value::as_str), Some("approved-pending-restart"));
}

/// KX004 on 11+: a third-party kext still in the auxiliary collection
/// but removed from /Library/Extensions.
#[test]
fn kx004_on_11_compares_the_auxiliary_collection() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots_dir().join("healthy-11"), dir.path());
    std::fs::remove_dir_all(dir.path().join("Library/Extensions/FooNet.kext")).unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let kx: Vec<_> = r.findings.iter().filter(|f| f.code == "KX004").map(|f| f.subject.as_str()).collect();
    assert_eq!(kx, vec!["com.example.driver.FooNet"], "{:?}", r.findings);
}

/// A damaged boot collection on 11+ is part of the sealed volume: KC001
/// says reinstall macOS (never "rebuild the auxiliary collection").
#[test]
fn kc001_for_a_damaged_11_boot_collection_says_reinstall() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots_dir().join("healthy-11"), dir.path());
    std::fs::write(dir.path().join("System/Library/KernelCollections/BootKernelExtensions.kc"), b"\xcf\xfa\xed\xfe")
        .unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let kc = r.findings.iter().find(|f| f.code == "KC001").expect("KC001");
    assert!(kc.remedy.contains("reinstall macOS"), "{}", kc.remedy);
}

/// 10.15 with an unreadable boot cache and a readable staged one: the
/// staged comparison is named as not checked, for that reason.
#[test]
fn staged_comparison_without_a_readable_boot_cache_is_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots_dir().join("healthy-10.15"), dir.path());
    std::fs::write(dir.path().join("System/Library/PrelinkedKernels/prelinkedkernel"), b"garbage").unwrap();
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let nc: Vec<_> = r.not_checked.iter().filter(|n| n.check == "ST001, ST003-ST005").collect();
    assert_eq!(nc.len(), 1, "{:?}", r.not_checked);
    assert_eq!(nc[0].reason, "no readable boot kernel cache to compare the staged cache with");
}

/// Of two copies of the exclude-list kext, one whose list could not be read
/// (no `OSKextExcludeList`) does not hide the other's list, even with a
/// higher version.
#[test]
fn exclude_list_copy_without_a_list_does_not_hide_the_other() {
    use kcheck::system::bundle::ExcludeRule;
    let o = outcome_after("healthy-10.15", |f| {
        let rule = ExcludeRule { versions: "LE 1.0".into(), needs_matching: false };
        let with = exclude_list_kext(
            f,
            "/System/Library/Extensions/AppleKextExcludeList.kext",
            "15.0.0",
            Some(vec![("com.example.nothing".into(), rule)]),
        );
        let without =
            exclude_list_kext(f, "/Library/Apple/System/Library/Extensions/AppleKextExcludeList.kext", "16.0.0", None);
        f.installed.kexts.extend([with, without]);
    });
    assert!(
        !o.not_checked.iter().any(|n| n.check == "KX008 (exclude-list)"),
        "the 15.0.0 list is read: {:?}",
        o.not_checked
    );
}
