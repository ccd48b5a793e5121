//! The command line as scripts see it: output, JSON shapes, exit codes.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

fn kcheck() -> Command {
    Command::cargo_bin("kcheck").unwrap()
}

fn json(args: &[&str]) -> Value {
    let out = kcheck().args(args).output().unwrap();
    assert!(out.status.code().unwrap() <= 1, "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn kexts_text_table() {
    let f = testdata("caches/prelinkedkernel-a.fat-lzvn");
    kcheck()
        .arg("kexts")
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("layers       fat[x86_64] > comp/lzvn > mach-o/execute"))
        .stdout(predicate::str::contains("kernel       Darwin Kernel Version 19.0.0:"))
        .stdout(predicate::str::contains("kexts        14 (5 codeless)"))
        .stdout(predicate::str::is_match(r"(?m)^BUNDLE ID\s+VERSION\s+UUID\s+LOAD ADDRESS\s+SIZE\s+BUNDLE PATH$").unwrap())
        .stdout(
            predicate::str::is_match(
                r"(?m)^com\.example\.driver\.FooNet\s+1\.2\.3\s+[0-9A-F-]{36}\s+0xffffff7f8[0-9a-f]+\s+\d+\s+/Library/Extensions/FooNet\.kext$",
            )
            .unwrap(),
        );
}

#[test]
fn kexts_columns_are_aligned() {
    let out = kcheck().arg("kexts").arg(testdata("caches/BootKernelExtensions.kc")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().skip_while(|l| !l.starts_with("BUNDLE ID")).collect();
    let col = lines[0].find("VERSION").unwrap();
    for l in &lines[1..] {
        assert_eq!(l.as_bytes()[col - 2..col], *b"  ", "{l}");
        assert_ne!(l.as_bytes()[col], b' ', "{l}");
    }
}

#[test]
fn kexts_json_shape() {
    let f = testdata("caches/kernelcache-ios.im4p-lzfse");
    let v = json(&["kexts", "--json", f.to_str().unwrap()]);
    assert_eq!(v["layers"], serde_json::json!(["im4p[krnl]", "lzfse", "mach-o/fileset"]));
    assert!(v["kernel"]["version"].as_str().unwrap().starts_with("Darwin Kernel Version 20.1.0"));
    assert!(v["kernel"]["uuid"].as_str().unwrap().len() == 36);
    let kexts = v["kexts"].as_array().unwrap();
    assert_eq!(kexts.len(), 10);
    for k in kexts {
        for key in [
            "bundle_id",
            "version",
            "uuid",
            "bundle_path",
            "executable_relative_path",
            "load_address",
            "executable_size",
        ] {
            assert!(k.get(key).is_some(), "missing {key} in {k}");
        }
    }
    let kpi = &kexts[0];
    assert_eq!(kpi["bundle_id"], "com.apple.kpi.bsd");
    assert!(kpi["uuid"].is_null() && kpi["load_address"].is_null());
    let hda = kexts.iter().find(|k| k["bundle_id"] == "com.apple.driver.AppleHDA").unwrap();
    assert!(hda["load_address"].as_str().unwrap().starts_with("0xfffffe0007"));
    assert_eq!(hda["executable_relative_path"], "Contents/MacOS/AppleHDA");
    // --format json is the long form of --json.
    let v2 = json(&["kexts", "--format", "json", f.to_str().unwrap()]);
    assert_eq!(v, v2);
}

#[test]
fn info_text_and_json() {
    let f = testdata("caches/prelinkedkernel-a.fat2");
    kcheck()
        .args(["info"])
        .arg(&f)
        .assert()
        .success()
        .stdout(predicate::str::contains("slice        x86_64 at 0x4000"))
        .stdout(predicate::str::contains("slice        arm64e at 0xc000"))
        .stdout(predicate::str::contains("kind         prelinked-kernel (mach-o/execute, x86_64)"));
    let v = json(&["info", "--json", "--arch", "arm64e", f.to_str().unwrap()]);
    assert_eq!(v["layers"], serde_json::json!(["fat[arm64e]", "mach-o/execute"]));
    assert_eq!(v["kind"], "prelinked-kernel");
    assert_eq!(v["kext_count"], 14);
    assert_eq!(v["codeless_kext_count"], 5);
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["slices"].as_array().unwrap().len(), 2);
    assert!(v["kc_id"].is_string());
}

#[test]
fn info_on_a_kext_executable() {
    let v = json(&["info", "--json", testdata("kexts/FooNet-fat").to_str().unwrap()]);
    assert_eq!(v["kind"], "mach-o");
    assert_eq!(v["filetype"], "kext");
    assert_eq!(v["kext_count"], 0);
    assert!(v["kernel"]["version"].is_null());
    assert_eq!(v["slices"][1]["arch"], "arm64e");
    assert!(v["slices"][1]["uuid"].is_string());
}

#[test]
fn diff_exit_status_and_output() {
    let a = testdata("caches/prelinkedkernel-a.fat-lzvn");
    let b = testdata("caches/prelinkedkernel-b.fat-lzvn");
    kcheck()
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("summary      1 added, 1 removed, 2 changed, 11 unchanged"))
        .stdout(predicate::str::is_match(r"(?m)^\+\s+com\.example\.driver\.QuxAudio\s+-\s+2\.0\s+added$").unwrap())
        .stdout(predicate::str::is_match(r"(?m)^-\s+as\.vit9696\.Lilu\s+1\.4\.0\s+-\s+removed$").unwrap())
        .stdout(
            predicate::str::is_match(r"(?m)^~\s+com\.example\.driver\.FooNet\s+1\.2\.3\s+1\.3\.0\s+version, uuid$")
                .unwrap(),
        );
    // Same kexts in another container: identical, exit 0.
    kcheck()
        .arg("diff")
        .arg(&a)
        .arg(testdata("caches/prelinkedkernel-a.fat-lzss"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("The two caches hold the same kexts."));
    let out = kcheck().args(["diff", "--json"]).arg(&a).arg(&b).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["identical"], false);
    assert_eq!(v["added"][0]["bundle_id"], "com.example.driver.QuxAudio");
    assert_eq!(v["removed"][0]["bundle_id"], "as.vit9696.Lilu");
    assert_eq!(v["changed"][0]["changes"], serde_json::json!(["uuid"]));
    assert_eq!(v["changed"][1]["version_a"], "1.2.3");
    assert_eq!(v["changed"][1]["version_b"], "1.3.0");
    assert_eq!(v["unchanged_count"], 11);
}

#[test]
fn missing_file_is_66() {
    kcheck()
        .args(["kexts", "/nonexistent/prelinkedkernel"])
        .assert()
        .code(66)
        .stderr(predicate::str::diff("kcheck: /nonexistent/prelinkedkernel: no such file\n"));
}

#[test]
fn malformed_input_is_65_with_file_layer_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(testdata("caches/prelinkedkernel-a.fat-lzvn")).unwrap();
    let bad = dir.path().join("prelinkedkernel");
    let mut data = good.clone();
    data[0x1c + 8] ^= 0xff; // adler32
    std::fs::write(&bad, &data).unwrap();
    kcheck().arg("kexts").arg(&bad).assert().code(65).stderr(
        predicate::str::is_match(format!(
            r"^kcheck: {}: fat\[x86_64\] > comp/lzvn: at offset 0x24: adler32 mismatch: header says 0x[0-9a-f]{{8}}, decompressed data gives 0x[0-9a-f]{{8}}\n$",
            regex_escape(&bad.display().to_string())
        ))
        .unwrap(),
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    kcheck().arg("info").arg(&empty).assert().code(65).stderr(predicate::str::contains("empty: file: at offset 0x0"));
    kcheck().arg("info").arg(dir.path()).assert().code(65).stderr(predicate::str::contains("is a directory"));
    // A plain Mach-O is not a kernel cache for `kexts`.
    kcheck()
        .arg("kexts")
        .arg(testdata("kexts/FooNet-x86_64"))
        .assert()
        .code(65)
        .stderr(predicate::str::contains("not a kernel cache"));
}

fn regex_escape(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '/' { c.to_string() } else { format!("\\{c}") }).collect()
}

#[test]
fn usage_errors_are_64_and_help_is_0() {
    kcheck().assert().code(64);
    kcheck().args(["kexts"]).assert().code(64);
    kcheck().args(["frobnicate"]).assert().code(64);
    kcheck().args(["info", "--format", "yaml", "x"]).assert().code(64);
    kcheck().args(["--help"]).assert().code(0).stdout(predicate::str::contains("Exit status"));
    kcheck().args(["kexts", "--help"]).assert().code(0).stdout(predicate::str::contains("Example:"));
    kcheck().args(["--version"]).assert().code(0).stdout(predicate::str::contains("kcheck 0.1.0"));
}
