//! `verify --live` on recorded probe outputs (the same parsers the live
//! subprocesses feed), and the `zones`, `panic` and `loaded` commands.

use crate::common::copy_tree;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kcheck::app::verify::verify_with;
use kcheck::facts::VerifyOptions;
use kcheck::facts::live::RecordedProbe;
use kcheck::macho::format_uuid;
use kcheck::system::Sip;
use kcheck_testkit::roots;
use predicates::prelude::*;
use serde_json::Value;

fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(rel)
}

const ZONE_PANIC: &str = r#"Anonymous UUID:       5D1C7E6B-9C2B-4F0A-8A62-1F2E3D4C5B6A

Sun Oct 20 10:10:10 2019

*** Panic Report ***
panic(cpu 2 caller 0xffffff801a4d4b5a): "zalloc: zone map exhausted while allocating from zone kalloc.48, likely due to memory leak in zone kalloc.48 (6676135520 total bytes, 139085865 elements allocated)"@/AppleInternal/BuildRoot/Library/Caches/com.apple.xbs/Sources/xnu/xnu-6153.41.3/osfmk/kern/zalloc.c:3117
Backtrace (CPU 2), Frame : Return Address
0xffffff8111b3b7a0 : 0xffffff801a43e00d
      Kernel Extensions in backtrace:
         com.example.driver.FooNet(1.2.3)[A7590331-DFF5-DEA8-960E-22B16AB8632F]@0xffffff7f9c000000->0xffffff7f9c00ffff

BSD process name corresponding to current thread: kernel_task

Mac OS version:
19A583

Kernel version:
Darwin Kernel Version 19.0.0: Thu Oct 17 16:17:15 PDT 2019; root:xnu-6153.41.3~29/RELEASE_X86_64
"#;

/// A kextstat listing of the demo root's kexts as booted (FooNet 1.2.3,
/// the version in the boot cache; 1.3.0 is on disk).
fn kextstat_listing() -> String {
    let mut s =
        String::from("Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n");
    s.push_str("    1   90 0xffffff8000200000 0x1000     0x1000     com.apple.kpi.bsd (19.0.0) 2B5F1D8C-0E3A-3E2B-9C6C-6B2A4C0D3E1F\n");
    for (i, k) in roots::base_kexts().iter().enumerate() {
        let version = if k.bundle_id == "com.example.driver.FooNet" { "1.2.3" } else { k.version.as_str() };
        let uuid = if k.executable.is_some() { format_uuid(&k.uuid) } else { "no UUID".into() };
        s.push_str(&format!(
            "  {:>3}    0 0xffffff7f8{:07x} 0x1000     0x1000     {} ({version}) {uuid} <1>\n",
            i + 10,
            i * 0x1000,
            k.bundle_id
        ));
    }
    s
}

/// The demo root (10.15.0, pending shove_kernels) copied to a temp dir,
/// with a panic report, and a recorded probe of the Mac it came from.
fn live_scenario(boottime: i64, kernelcache_uuid: &str) -> (tempfile::TempDir, PathBuf, tempfile::TempDir) {
    let root_dir = tempfile::tempdir().unwrap();
    copy_tree(&testdata("roots/demo-10.15.0-pending-shove"), root_dir.path());
    let reports = root_dir.path().join("Macintosh HD - Data/Library/Logs/DiagnosticReports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(reports.join("Kernel_2019-10-20-101010_Mac.panic"), ZONE_PANIC).unwrap();
    let probe = tempfile::tempdir().unwrap();
    let p = probe.path();
    std::fs::create_dir_all(p.join("sysctl")).unwrap();
    std::fs::write(p.join("sysctl/kern.version"), kcheck_testkit::synth::catalina_kernel().version + "\n").unwrap();
    std::fs::write(p.join("sysctl/kern.kernelcacheuuid"), format!("{kernelcache_uuid}\n")).unwrap();
    std::fs::write(
        p.join("sysctl/kern.boottime"),
        format!("{{ sec = {boottime}, usec = 0 }} Thu Jan  1 00:00:00 2100\n"),
    )
    .unwrap();
    std::fs::write(p.join("csrutil status.txt"), "System Integrity Protection status: enabled.\n").unwrap();
    std::fs::write(p.join("kextstat.txt"), kextstat_listing()).unwrap();
    let root = root_dir.path().join("Macintosh HD");
    (root_dir, root, probe)
}

fn boot_kc_id(root: &Path) -> String {
    let c = kcheck::cache::open(
        &root.join("System/Library/PrelinkedKernels/prelinkedkernel"),
        &kcheck::cache::OpenOptions::default(),
    )
    .unwrap();
    c.kc_id.unwrap()
}

fn codes(findings: &[kcheck::check::finding::Finding]) -> Vec<&'static str> {
    let mut c: Vec<_> = findings.iter().map(|f| f.code.as_str()).collect();
    c.sort();
    c.dedup();
    c
}

#[test]
fn live_catches_the_failed_catalina_copy_in_the_act() {
    // Booted (year 2100) after shove_kernels was written: the copy at the
    // last shutdown failed (ST006). The running cache is not the boot cache
    // on disk (KN002). FooNet 1.2.3 runs but 1.3.0 is installed (LD002).
    // A zone-exhaustion panic is in DiagnosticReports (PN001, PN002).
    let (_keep, root, probe) = live_scenario(4_102_444_800, "00000000-1111-2222-3333-444444444444");
    let r = verify_with(
        &VerifyOptions { root: root.clone(), data_root: None, sip: Sip::Unknown, preboot: None },
        Some(&RecordedProbe::new(probe.path())),
    )
    .unwrap();
    assert_eq!(codes(&r.findings), ["KB001", "KN002", "KX002", "LD002", "PN001", "PN002", "ST002", "ST003", "ST006"]);
    assert_eq!(r.facts.sip, Sip::Enabled, "SIP comes from csrutil when not given");
    let live = r.live.as_ref().unwrap();
    assert_eq!(live.loaded.len(), 7);
    assert_eq!(live.panics.len(), 1);
    assert!(live.unavailable.iter().any(|u| u.starts_with("zprint: needs root")), "{:?}", live.unavailable);
    let st006 = r.findings.iter().find(|f| f.code == "ST006").unwrap();
    assert_eq!(st006.evidence["boot_time"], 4_102_444_800i64);
}

#[test]
fn live_on_a_mac_that_booted_the_cache_it_has() {
    // Booted before shove_kernels was written (1970) and running the boot
    // cache on disk: no ST006, no KN002.
    let (_keep, root, probe) = live_scenario(0, "PLACEHOLDER");
    let kcid = boot_kc_id(&root);
    std::fs::write(probe.path().join("sysctl/kern.kernelcacheuuid"), &kcid).unwrap();
    let r = verify_with(
        &VerifyOptions { root, data_root: None, sip: Sip::Unknown, preboot: None },
        Some(&RecordedProbe::new(probe.path())),
    )
    .unwrap();
    assert_eq!(codes(&r.findings), ["KB001", "KX002", "LD002", "PN001", "PN002", "ST002", "ST003"]);
}

#[test]
fn live_cli_with_recorded_probes_and_json() {
    let (_keep, root, probe) = live_scenario(4_102_444_800, "00000000-1111-2222-3333-444444444444");
    let out = Command::cargo_bin("kcheck")
        .unwrap()
        .args(["verify", "--live", "--json", "--probe-dir"])
        .arg(probe.path())
        .arg("--root")
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["live"]["loaded_kexts"], 7);
    assert_eq!(v["live"]["sip"], "enabled");
    assert_eq!(v["system"]["sip"], "enabled");
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "ST006"));
    // Text view has a LIVE section.
    Command::cargo_bin("kcheck")
        .unwrap()
        .args(["verify", "--live", "--probe-dir"])
        .arg(probe.path())
        .arg("--root")
        .arg(&root)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("\nLIVE\n").and(predicate::str::contains("loaded kexts: 7")));
}

#[test]
fn live_probes_are_macos_only() {
    if cfg!(target_os = "macos") {
        return;
    }
    Command::cargo_bin("kcheck")
        .unwrap()
        .args(["verify", "--live", "--root"])
        .arg(testdata("roots/healthy-10.14"))
        .assert()
        .code(64)
        .stderr(predicate::str::contains("works only on macOS"));
    Command::cargo_bin("kcheck").unwrap().args(["zones"]).assert().code(64);
    Command::cargo_bin("kcheck").unwrap().args(["zones", "--watch"]).assert().code(64);
    Command::cargo_bin("kcheck").unwrap().args(["loaded"]).assert().code(64);
}

#[test]
fn panic_command_on_files_and_on_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("Kernel_2019-10-20-101010_Mac.panic");
    std::fs::write(&f, ZONE_PANIC).unwrap();
    let out = Command::cargo_bin("kcheck").unwrap().args(["panic", "--json"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &v["reports"][0];
    assert_eq!(r["format"], "text");
    assert_eq!(r["build"], "19A583");
    assert_eq!(r["panic_class"], "zone-exhaustion");
    assert_eq!(r["leak_zone"], "kalloc.48");
    assert_eq!(r["leak_elements"], 139_085_865u64);
    assert_eq!(r["kexts_in_backtrace"][0]["bundle_id"], "com.example.driver.FooNet");
    assert_eq!(r["kexts_in_backtrace"][0]["third_party"], true);
    // The DiagnosticReports folder of a root whose build differs: PN003.
    let (_keep, root, _probe) = live_scenario(0, "X");
    let sv = root.join("System/Library/CoreServices/SystemVersion.plist");
    let text = std::fs::read_to_string(&sv).unwrap().replace("19A583", "19B88").replace(">10.15<", ">10.15.1<");
    std::fs::write(&sv, text).unwrap();
    let out = Command::cargo_bin("kcheck").unwrap().args(["panic", "--json", "--root"]).arg(&root).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut c: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    c.sort();
    assert_eq!(c, ["PN001", "PN002", "PN003"]);
    // A file that is not a panic report: 65, naming the file and layer.
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    Command::cargo_bin("kcheck")
        .unwrap()
        .arg("panic")
        .arg(&junk)
        .assert()
        .code(65)
        .stderr(predicate::str::contains("notes.txt: panic: at offset 0x"));
}

#[test]
fn zones_command_on_a_leak_sample() {
    // A 10.15.6 zprint sample with kalloc.48 holding most of the zone memory.
    let sample = "\
                            elem         cur         max        cur         max         cur  alloc  alloc
zone name                   size        size        size      #elts       #elts       inuse   size  count
-------------------------------------------------------------------------------------------------------------
vm objects                   256      40960K      65536K     163840      262144      150000    16K     64  C
kalloc.16                     16      10240K      12288K     655360      786432      600000     4K    256  C
kalloc.48                     48    6519664K    6750000K  139085865   144000000   139085865     4K     85  C
kalloc.1024                 1024      51200K      65536K      51200       65536       50000     4K      4  C
";
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("zprint.txt");
    std::fs::write(&f, sample).unwrap();
    let out =
        Command::cargo_bin("kcheck").unwrap().args(["zones", "--json", "--build", "19G73"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["zones"].as_array().unwrap().len(), 4);
    let zn = &v["findings"][0];
    assert_eq!(zn["code"], "ZN001");
    assert_eq!(zn["severity"], "error");
    assert_eq!(zn["evidence"]["zone"], "kalloc.48");
    assert!(zn["remedy"].as_str().unwrap().contains("19G2021"), "{}", zn["remedy"]);
    // Standard input works the same.
    Command::cargo_bin("kcheck")
        .unwrap()
        .args(["zones", "-"])
        .write_stdin(sample)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("ZN001").and(predicate::str::contains("kalloc.48")));
}

#[test]
fn loaded_command_against_a_root() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("kextstat.txt");
    std::fs::write(&f, kextstat_listing()).unwrap();
    let top = testdata("roots/demo-10.15.0-pending-shove/Macintosh HD");
    let out =
        Command::cargo_bin("kcheck").unwrap().args(["loaded", "--json", "--root"]).arg(&top).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["loaded"].as_array().unwrap().len(), 7);
    let codes: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["LD002"]);
    // Without a macOS root to compare with (the default / on Linux), it lists.
    if !cfg!(target_os = "macos") {
        Command::cargo_bin("kcheck").unwrap().arg("loaded").arg(&f).assert().code(0);
    }
}

/// ST006 is graded by release (design.md): an error on 10.15.0 with SIP on
/// (the copy is known to fail), a warning on 10.15.1+ where a panic, a
/// power loss or a forced shutdown also skips the script; there the remedy
/// is a normal restart, not Recovery.
#[test]
fn st006_is_graded_by_release() {
    use kcheck::check::finding::Severity;
    let (_keep, root, probe) = live_scenario(4_102_444_800, "00000000-1111-2222-3333-444444444444");
    let opts = VerifyOptions { root: root.clone(), data_root: None, sip: Sip::Unknown, preboot: None };
    let r = verify_with(&opts, Some(&RecordedProbe::new(probe.path()))).unwrap();
    let st006 = r.findings.iter().find(|f| f.code == "ST006").unwrap();
    assert_eq!(st006.severity, Severity::Error);
    assert!(st006.remedy.contains("kextcache -i"), "{}", st006.remedy);
    // The same Mac on 10.15.7.
    let sv = root.join("System/Library/CoreServices/SystemVersion.plist");
    let text = std::fs::read_to_string(&sv).unwrap().replace(">10.15<", ">10.15.7<").replace(">19A583<", ">19H15<");
    std::fs::write(&sv, text).unwrap();
    let r = verify_with(&opts, Some(&RecordedProbe::new(probe.path()))).unwrap();
    let st006 = r.findings.iter().find(|f| f.code == "ST006").unwrap();
    assert_eq!(st006.severity, Severity::Warning);
    assert!(st006.remedy.starts_with("Restart normally"), "{}", st006.remedy);
    assert!(!r.findings.iter().any(|f| f.code == "ST003"), "{:?}", r.findings);
}

/// Apple silicon with `--live`: `kmutil inspect` lists the auxiliary
/// collection, so AX001/AX002 are checked against it (AX003 stays not
/// checked). The listing's shape follows `kcheck::logs::kmutil`'s module
/// doc (no complete real capture is public).
#[test]
fn apple_silicon_live_reads_the_aux_collection_from_kmutil() {
    let root = testdata("roots/as-healthy-preboot");
    let run = |listing: &str| {
        let probe = tempfile::tempdir().unwrap();
        std::fs::write(probe.path().join("kmutil inspect --show-kext-uuids.txt"), listing).unwrap();
        let opts = VerifyOptions { root: root.clone(), data_root: None, sip: Sip::Unknown, preboot: None };
        verify_with(&opts, Some(&RecordedProbe::new(probe.path()))).unwrap()
    };
    let header = "auxiliary kext collection at /private/var/db/aux.kc (0B6E3C1A-7D52-4F0E-9B21-5C8A1D3E7F90):\nExtension Information:\n";
    let r = run(&format!("{header}com.example.driver.FooNet\t1.2.3\t/Library/Extensions/FooNet.kext\t\n"));
    assert!(!r.findings.iter().any(|f| f.code == "AX001" || f.code == "AX002"), "{:?}", r.findings);
    let checks: Vec<&str> = r.not_checked.iter().map(|n| n.check.as_str()).collect();
    assert!(checks.contains(&"AX003") && !checks.iter().any(|c| c.contains("AX001")), "{checks:?}");
    let r = run(&format!("{header}com.example.driver.FooNet\t1.2.0\t/Library/Extensions/FooNet.kext\t\n"));
    assert!(
        r.findings.iter().any(|f| f.code == "AX002" && f.subject == "com.example.driver.FooNet"),
        "{:?}",
        r.findings
    );
    let r = run(&format!("{header}com.example.other\t1.0\t/Library/Extensions/Other.kext\t\n"));
    assert!(
        r.findings.iter().any(|f| f.code == "AX001" && f.subject == "com.example.driver.FooNet"),
        "{:?}",
        r.findings
    );
    // No auxiliary section: nothing is concluded, the checks stay listed.
    let r = run("No variant specified, falling back to release\n");
    assert!(!r.findings.iter().any(|f| f.code == "AX001"), "{:?}", r.findings);
    assert!(r.not_checked.iter().any(|n| n.check == "AX001, AX002, AX003"));
}

/// The facts of fixture root `rel` (under testdata/roots) with SIP `sip`.
fn root_facts(rel: &str, sip: Sip) -> kcheck::facts::Facts {
    let opts = VerifyOptions { root: testdata("roots").join(rel), data_root: None, sip, preboot: None };
    kcheck::facts::gather(&opts).unwrap()
}

fn codes_of(f: &[kcheck::check::finding::Finding]) -> Vec<&str> {
    f.iter().map(|f| f.code.as_str()).collect()
}

/// ST006 needs the script strictly older than the boot; on 10.15.0 with SIP
/// on its remedy names the volume that was given.
#[test]
fn st006_needs_an_older_script_and_names_the_volume() {
    use kcheck::facts::live::LiveFacts;
    let f = root_facts("demo-10.15.0-pending-shove/Macintosh HD", Sip::Enabled);
    assert!(f.shove_kernels);
    let live = |shove: i64| LiveFacts { shove_mtime: Some(shove), boottime: Some(1000), ..Default::default() };
    assert!(!codes_of(&kcheck::check::live::check(&f, &live(1000))).contains(&"ST006"));
    let found = kcheck::check::live::check(&f, &live(999));
    let st = found.iter().find(|x| x.code == "ST006").expect("ST006");
    assert!(st.remedy.contains(&f.system.root.display().to_string()), "{}", st.remedy);
    assert!(!st.remedy.contains("<system volume>"), "{}", st.remedy);
}

/// KN002 for the auxiliary collection only when the running one differs.
#[test]
fn kn002_aux_only_when_the_running_collection_differs() {
    use kcheck::facts::Role;
    use kcheck::facts::live::LiveFacts;
    let f = root_facts("healthy-11", Sip::Unknown);
    let aux = f.cache(Role::Auxiliary).and_then(|s| s.state.info()).and_then(|a| a.kc_id.clone()).expect("aux id");
    let same = LiveFacts { aux_uuid: Some(aux), ..Default::default() };
    assert!(kcheck::check::live::check(&f, &same).is_empty());
    let other = LiveFacts { aux_uuid: Some("00000000-0000-0000-0000-000000000001".into()), ..Default::default() };
    let found = kcheck::check::live::check(&f, &other);
    assert_eq!(codes_of(&found), vec!["KN002"]);
    assert_eq!(found[0].subject, "kern.auxiliaryfilesetuuid");
}

/// Apple silicon --live: of two copies of a third-party kext the highest
/// version is compared with the running auxiliary collection; of two
/// copies of the same version, the first found.
#[test]
fn apple_silicon_aux_compares_the_winning_copy() {
    use kcheck::facts::live::LiveFacts;
    let mut f = root_facts("healthy-11", Sip::Unknown);
    let mut one = f.installed.kexts.iter().find(|k| k.bundle_id == "com.example.driver.FooNet").unwrap().clone();
    one.bundle_id = "com.example.Twin".into();
    one.version = Some("1.0".into());
    one.path = "/Library/Extensions/TwinA.kext".into();
    let mut two = one.clone();
    two.version = Some("2.0".into());
    two.path = "/Library/Extensions/TwinB.kext".into();
    f.installed.kexts.retain(|k| k.path.starts_with("/System/"));
    f.installed.kexts.extend([one.clone(), two]);
    let aux = |v: &str| LiveFacts {
        aux_kexts: Some(vec![("com.example.Twin".into(), Some(v.into()))]),
        ..Default::default()
    };
    assert!(kcheck::check::live::apple_silicon_aux(&f, &aux("2.0")).is_empty());
    let found = kcheck::check::live::apple_silicon_aux(&f, &aux("1.0"));
    assert_eq!(codes_of(&found), vec!["AX002"]);
    // Same version twice: the first copy is the one reported.
    let mut same = one.clone();
    same.path = "/Library/Extensions/TwinC.kext".into();
    f.installed.kexts.retain(|k| k.bundle_id != "com.example.Twin");
    f.installed.kexts.extend([one, same]);
    let found =
        kcheck::check::live::apple_silicon_aux(&f, &LiveFacts { aux_kexts: Some(vec![]), ..Default::default() });
    assert_eq!(codes_of(&found), vec!["AX001"]);
    assert_eq!(found[0].evidence.get("path").and_then(Value::as_str), Some("/Library/Extensions/TwinA.kext"));
}
