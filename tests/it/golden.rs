//! Golden outputs: every command's text and JSON on the bundled inputs,
//! byte for byte. They are the proof that a refactoring changed no
//! behaviour. After an intended change of output, refresh them with
//! `KCHECK_BLESS=1 cargo test golden` and say why in the commit.
//!
//! Each golden file holds the command's standard output, then a trailer
//! with its standard error and exit status. Commands run with relative
//! paths from a fixed folder, so no machine's paths leak into the files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run kcheck in `cwd` with `args`; the golden text of the run.
fn run(cwd: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kcheck"))
        .current_dir(cwd)
        .args(["--color", "never"])
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    format!(
        "{}\n# ---- stderr\n{}# ---- exit {}\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        out.status.code().map_or("signal".to_string(), |c| c.to_string())
    )
}

/// Compare `got` with the golden file `rel` (under tests/golden), or
/// write it when KCHECK_BLESS is set. Returns a description of a mismatch.
fn check(rel: &str, got: &str) -> Option<String> {
    let path = repo().join("tests/golden").join(rel);
    if std::env::var_os("KCHECK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return None;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if want == got {
        return None;
    }
    let line = want
        .lines()
        .zip(got.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(want.lines().count().min(got.lines().count()));
    Some(format!(
        "{rel}: differs from line {}:\n  want: {:?}\n  got:  {:?}",
        line + 1,
        want.lines().nth(line).unwrap_or("<end>"),
        got.lines().nth(line).unwrap_or("<end>")
    ))
}

fn finish(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} golden files differ (KCHECK_BLESS=1 to refresh after an intended change):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The system folder of a fixture root: the root itself, or the one
/// sub-folder holding `System` (a Recovery-style `<name>` + `<name> - Data`).
fn system_dir(root: &Path) -> PathBuf {
    if root.join("System").is_dir() {
        return root.to_path_buf();
    }
    let mut subs: Vec<PathBuf> =
        std::fs::read_dir(root).unwrap().map(|e| e.unwrap().path()).filter(|p| p.join("System").is_dir()).collect();
    subs.sort();
    subs.into_iter().next().unwrap_or_else(|| root.to_path_buf())
}

#[test]
fn golden_verify_every_root() {
    let roots = repo().join("testdata/roots");
    let mut names: Vec<String> =
        std::fs::read_dir(&roots).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert!(names.len() >= 20, "fixture roots missing");
    let mut failures = Vec::new();
    for name in &names {
        let sys = system_dir(&roots.join(name));
        let rel = sys.strip_prefix(&roots).unwrap().to_string_lossy().into_owned();
        for (ext, fmt) in [("txt", "text"), ("json", "json"), ("jsonl", "jsonl")] {
            let got = run(&roots, &["verify", "--root", &rel, "--format", fmt]);
            failures.extend(check(&format!("verify/{name}.{ext}"), &got));
        }
        let got = run(&roots, &["verify", "--root", &rel, "--sip", "disabled"]);
        failures.extend(check(&format!("verify/{name}.sip-disabled.txt"), &got));
        let got = run(&roots, &["-q", "verify", "--root", &rel]);
        failures.extend(check(&format!("verify/{name}.quiet.txt"), &got));
    }
    finish(failures);
}

#[test]
fn golden_cache_commands() {
    let caches = repo().join("testdata/caches");
    let mut names: Vec<String> =
        std::fs::read_dir(&caches).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut failures = Vec::new();
    let top = repo();
    for name in &names {
        let file = format!("testdata/caches/{name}");
        for cmd in ["info", "kexts"] {
            for (ext, fmt) in [("txt", "text"), ("json", "json")] {
                let got = run(&top, &[cmd, &file, "--format", fmt]);
                failures.extend(check(&format!("{cmd}/{name}.{ext}"), &got));
            }
        }
    }
    for kext in ["FooNet-fat", "FooNet-x86_64"] {
        let got = run(&top, &["info", &format!("testdata/kexts/{kext}")]);
        failures.extend(check(&format!("info/kext-{kext}.txt"), &got));
    }
    for (a, b, tag) in [
        ("prelinkedkernel-a.fat-lzvn", "prelinkedkernel-b.fat-lzvn", "a-b"),
        ("prelinkedkernel-a.fat-lzvn", "prelinkedkernel-a.raw", "same"),
    ] {
        for (ext, fmt) in [("txt", "text"), ("json", "json")] {
            let got =
                run(&top, &["diff", &format!("testdata/caches/{a}"), &format!("testdata/caches/{b}"), "--format", fmt]);
            failures.extend(check(&format!("diff/{tag}.{ext}"), &got));
        }
    }
    // Coloured markers (+ green, - red, ~ yellow), header left plain.
    let got = run(
        &top,
        &[
            "diff",
            "testdata/caches/prelinkedkernel-a.fat-lzvn",
            "testdata/caches/prelinkedkernel-b.fat-lzvn",
            "--color",
            "always",
        ],
    );
    failures.extend(check("diff/a-b.color.txt", &got));
    finish(failures);
}

#[test]
fn golden_evidence_commands() {
    let top = repo();
    let root = "testdata/roots/healthy-10.15";
    let mut failures = Vec::new();
    for (ext, fmt) in [("txt", "text"), ("json", "json")] {
        let got = run(&top, &["zones", "testdata/logs/zprint-leak-19G73.txt", "--build", "19G73", "--format", fmt]);
        failures.extend(check(&format!("zones/leak.{ext}"), &got));
        let got = run(&top, &["panic", "testdata/logs/panic-zone-leak-19G73.txt", "--root", root, "--format", fmt]);
        failures.extend(check(&format!("panic/zone-leak.{ext}"), &got));
        let got = run(&top, &["loaded", "testdata/logs/kextstat-10.15.txt", "--root", root, "--format", fmt]);
        failures.extend(check(&format!("loaded/kextstat.{ext}"), &got));
    }
    let got = run(&top, &["loaded", "--all", "testdata/logs/kextstat-10.15.txt", "--root", root]);
    failures.extend(check("loaded/kextstat-all.txt", &got));
    let got = run(&top, &["zones", "testdata/logs/zprint-leak-19G73.txt", "--build", "19H15", "--top", "3"]);
    failures.extend(check("zones/leak-other-build.txt", &got));
    // Errors are output too: one line naming the file, layer and offset.
    for (tag, args) in [
        ("info-missing", &["info", "testdata/nope"][..]),
        ("kexts-not-a-cache", &["kexts", "testdata/kexts/FooNet-x86_64"][..]),
        ("zones-not-zprint", &["zones", "testdata/logs/kextstat-10.15.txt"][..]),
        ("verify-not-a-root", &["verify", "--root", "testdata"][..]),
    ] {
        let got = run(&top, args);
        failures.extend(check(&format!("errors/{tag}.txt"), &got));
    }
    finish(failures);
}
