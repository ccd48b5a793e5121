//! The shell wrappers in `scripts/`: `kcheck-preflight.sh` (the one-line
//! answer an MDM runs before a scheduled reboot) and `kcheck-recovery.sh`
//! (the diagnostic for Recovery's Terminal), run with `sh` against the
//! committed fixture roots and a `/Volumes`-like folder built from them.
//! The tests are skipped, with a message, where there is no `sh`.

use crate::common::copy_tree;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn roots(rel: &str) -> PathBuf {
    manifest().join("testdata/roots").join(rel)
}

fn script(name: &str) -> PathBuf {
    manifest().join("scripts").join(name)
}

fn kcheck_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kcheck")
}

/// The POSIX shells present here: `sh` first, then the others the scripts
/// claim to run under.
fn shells() -> Vec<&'static str> {
    ["sh", "dash", "bash", "zsh"]
        .into_iter()
        .filter(|s| Command::new(s).args(["-c", "exit 0"]).output().is_ok_and(|o| o.status.success()))
        .collect()
}

fn have_sh(test: &str) -> bool {
    let ok = shells().first() == Some(&"sh");
    if !ok {
        eprintln!("skipping {test}: no `sh` on this machine");
    }
    ok
}

/// Run `script` under `shell` with `KCHECK` set to `kcheck` (or removed).
fn run_with(shell: &str, script_path: &Path, kcheck: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(shell);
    if shell == "zsh" {
        c.args(["--emulate", "sh"]);
    }
    c.arg(script_path).args(args);
    match kcheck {
        Some(k) => c.env("KCHECK", k),
        None => c.env_remove("KCHECK"),
    };
    c.output().expect("run the script")
}

fn run(name: &str, args: &[&str]) -> Output {
    run_with("sh", &script(name), Some(Path::new(kcheck_bin())), args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A `/Volumes` as Recovery shows it: `Macintosh HD` + `Macintosh HD -
/// Data` (the 10.15.0 demo with its pending shove_kernels), `Old Disk` (a
/// healthy 10.14, one volume) and `USB` (just files).
fn fixture_volumes() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots("demo-10.15.0-pending-shove"), dir.path());
    copy_tree(&roots("healthy-10.14"), &dir.path().join("Old Disk"));
    let usb = dir.path().join("USB");
    std::fs::create_dir_all(usb.join("Installers")).unwrap();
    std::fs::write(usb.join("README.txt"), "not a Mac\n").unwrap();
    dir
}

/// Every file under `dir` with its contents and modification time, to
/// show that nothing was changed.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, std::time::SystemTime)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let meta = e.metadata().unwrap();
            (e.path().to_path_buf(), (std::fs::read(e.path()).unwrap(), meta.modified().unwrap()))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// kcheck-preflight.sh

#[test]
fn preflight_on_the_demo_is_broken_with_the_first_error() {
    if !have_sh("preflight_on_the_demo_is_broken_with_the_first_error") {
        return;
    }
    let root = roots("demo-10.15.0-pending-shove/Macintosh HD");
    for shell in shells() {
        let o = run_with(
            shell,
            &script("kcheck-preflight.sh"),
            Some(Path::new(kcheck_bin())),
            &["--root", root.to_str().unwrap()],
        );
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(2), "{shell}: {out}{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(out.lines().count(), 1, "{shell}: one line: {out}");
        assert!(
            out.starts_with(
                "kcheck-preflight: broken: ST003 /Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel: \
                 The staged kernel cache differs"
            ),
            "{shell}: {out}"
        );
        assert!(out.contains("on macOS 10.15 (19A583) that copy fails with SIP on"), "{shell}: {out}");
    }
}

#[test]
fn preflight_on_a_healthy_root_is_ok() {
    if !have_sh("preflight_on_a_healthy_root_is_ok") {
        return;
    }
    for root in ["healthy-10.14", "healthy-10.15", "healthy-11"] {
        let o = run("kcheck-preflight.sh", &["--root", roots(root).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{root}");
        assert_eq!(stdout(&o), "kcheck-preflight: ok (healthy)\n", "{root}");
    }
}

#[test]
fn preflight_notes_attention_but_lets_the_reboot_go() {
    if !have_sh("preflight_notes_attention_but_lets_the_reboot_go") {
        return;
    }
    let o = run("kcheck-preflight.sh", &["--root", roots("kx002-version-differs").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "kcheck-preflight: ok (attention): 1 warning, first: KX002 com.example.driver.FooNet\n");
    // An info-only root (ST002) is healthy.
    let o = run("kcheck-preflight.sh", &["--root", roots("st002-shove-without-staged-cache").to_str().unwrap()]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "kcheck-preflight: ok (healthy)\n"));
}

#[test]
fn preflight_passes_sip_through() {
    if !have_sh("preflight_passes_sip_through") {
        return;
    }
    // With SIP off the 10.15.0 copy works: the pending install is ST001, an
    // info that folds FooNet's drift (design.md), so only the build's
    // known issue (KB001) is left as a warning.
    let root = roots("demo-10.15.0-pending-shove/Macintosh HD");
    let o = run("kcheck-preflight.sh", &["--root", root.to_str().unwrap(), "--sip", "disabled"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "kcheck-preflight: ok (attention): 1 warning, first: KB001 macOS 10.15 (19A583)\n");
}

#[test]
fn preflight_exits_3_when_kcheck_is_missing_or_fails() {
    if !have_sh("preflight_exits_3_when_kcheck_is_missing_or_fails") {
        return;
    }
    let healthy = roots("healthy-10.14");
    let o = run_with(
        "sh",
        &script("kcheck-preflight.sh"),
        Some(Path::new("/nonexistent/kcheck")),
        &["--root", healthy.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "kcheck-preflight: error: KCHECK=/nonexistent/kcheck is not an executable file\n");

    // Not next to the script and not on PATH either.
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("kcheck-preflight.sh");
    std::fs::copy(script("kcheck-preflight.sh"), &lone).unwrap();
    let o = Command::new("sh").arg(&lone).env_remove("KCHECK").env("PATH", "/usr/bin:/bin").output().unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).starts_with("kcheck-preflight: error: kcheck not found"), "{}", stdout(&o));

    // kcheck runs but fails (not a macOS root: 66): its error, one line.
    let o = run("kcheck-preflight.sh", &["--root", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.starts_with("kcheck-preflight: error: kcheck failed (exit 66): kcheck: "), "{out}");
    assert!(out.contains("not a macOS system root"), "{out}");

    // A usage error in the passed-through options (64).
    let o = run("kcheck-preflight.sh", &["--sip", "maybe"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stdout(&o).starts_with("kcheck-preflight: error: kcheck failed (exit 64): "), "{}", stdout(&o));
}

#[test]
fn preflight_finds_kcheck_next_to_itself() {
    if !have_sh("preflight_finds_kcheck_next_to_itself") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kcheck-preflight.sh");
    std::fs::copy(script("kcheck-preflight.sh"), &copy).unwrap();
    std::fs::copy(kcheck_bin(), dir.path().join("kcheck")).unwrap();
    let o = Command::new("sh")
        .arg(&copy)
        .args(["--root", roots("healthy-10.14").to_str().unwrap()])
        .env_remove("KCHECK")
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "kcheck-preflight: ok (healthy)\n"));
}

// ---------------------------------------------------------------------------
// kcheck-recovery.sh

#[test]
fn recovery_finds_the_systems_pairs_data_volumes_and_prints_the_remedy() {
    if !have_sh("recovery_finds_the_systems_pairs_data_volumes_and_prints_the_remedy") {
        return;
    }
    let vols = fixture_volumes();
    let v = vols.path().display().to_string();
    let before = snapshot(vols.path());
    for shell in shells() {
        let o = run_with(shell, &script("kcheck-recovery.sh"), Some(Path::new(kcheck_bin())), &[&v]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(2), "{shell}: {out}{}", String::from_utf8_lossy(&o.stderr));
        assert!(out.starts_with(&format!("kcheck-recovery: 2 macOS systems in {v} (not macOS: USB)\n")), "{out}");
        assert!(!out.contains("== USB") && !out.contains("== Macintosh HD - Data"), "{out}");
        // The demo system, paired with its data volume, broken, with the
        // Catalina remedy named once for its volume.
        assert!(out.contains("== Macintosh HD: macOS 10.15 (19A583)\n"), "{out}");
        assert!(out.contains(&format!("   data volume    {v}/Macintosh HD - Data\n")), "{out}");
        assert!(out.contains("   verdict        BROKEN"), "{out}");
        assert!(out.contains("   error    ST003  /Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel\n"));
        // The 10.15.0 remedy (design.md): `kextcache -i` on the volume from
        // Recovery (it copies at once there), never `touch -c …/Extensions`.
        let kextcache = format!("     kextcache -i \"{v}/Macintosh HD\"\n");
        assert_eq!(out.matches(&kextcache).count(), 1, "{shell}: {out}");
        assert!(!out.contains("touch -c"), "{shell}: {out}");
        // The JSONL run record is not printed as a finding.
        assert!(out.lines().all(|l| l.is_empty() || !l.trim().is_empty()), "{shell}: blank finding lines: {out:?}");
        assert!(out.contains("   (1 info finding not shown)\n"), "{shell}: {out}");
        assert!(out.contains("   Also: Update to macOS 10.15.1 (19B88) or later.\n"), "{out}");
        // The old single-volume system: healthy, no data volume.
        assert!(out.contains("== Old Disk: macOS 10.14.6 (18G103)\n"), "{out}");
        assert!(out.contains("   data volume    (none: the system volume holds /Library)\n"), "{out}");
        assert!(out.contains("   verdict        healthy"), "{out}");
        // Summary and worst verdict.
        let summary = out.split("== Summary\n").nth(1).unwrap_or_default();
        assert!(summary.contains("Macintosh HD") && summary.contains("broken"), "{summary}");
        assert!(summary.contains("Old Disk") && summary.contains("healthy"), "{summary}");
        assert!(out.ends_with("kcheck-recovery: worst verdict broken (exit 2)\n"), "{out}");
    }
    assert!(before == snapshot(vols.path()), "the script and kcheck must not change the volumes");
}

#[test]
fn recovery_passes_sip_through() {
    if !have_sh("recovery_passes_sip_through") {
        return;
    }
    let vols = fixture_volumes();
    let v = vols.path().display().to_string();
    let o = run("kcheck-recovery.sh", &["--sip", "disabled", &v]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("kcheck-recovery: SIP given as disabled\n"), "{out}");
    // With SIP off the pending install happens at a normal restart: ST001
    // and ST002 are infos (not listed), FooNet's drift is folded into
    // ST001, and there is nothing to rebuild.
    assert!(out.contains("   verdict        attention"), "{out}");
    assert!(out.contains("   warning  KB001  macOS 10.15 (19A583)\n"), "{out}");
    assert!(!out.contains("ST001") && !out.contains("KX002"), "{out}");
    assert!(out.contains("   (2 info findings not shown)\n"), "{out}");
    assert!(!out.contains("kextcache -i"), "{out}");
    assert!(!out.contains("touch -c"), "{out}");
    assert!(out.contains(&format!("kcheck verify --root \"{v}/Macintosh HD\" --sip disabled")), "{out}");
    // The --sip=VALUE form too.
    let o = run("kcheck-recovery.sh", &["--sip=enabled", &v]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
}

#[test]
fn recovery_attention_lists_warnings_and_their_commands() {
    if !have_sh("recovery_attention_lists_warnings_and_their_commands") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots("kx002-version-differs"), &dir.path().join("Mojave"));
    let v = dir.path().display().to_string();
    let o = run("kcheck-recovery.sh", &[&v]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.starts_with(&format!("kcheck-recovery: 1 macOS system in {v}\n")), "{out}");
    assert!(out.contains("   warning  KX002  com.example.driver.FooNet\n"), "{out}");
    assert!(out.contains(&format!("     sudo kextcache -i \"{v}/Mojave\"\n")), "{out}");
    assert!(out.ends_with("kcheck-recovery: worst verdict attention (exit 1)\n"), "{out}");
}

#[test]
fn recovery_failures_and_usage() {
    if !have_sh("recovery_failures_and_usage") {
        return;
    }
    let vols = fixture_volumes();
    let v = vols.path().display().to_string();
    // No kcheck.
    let o = run_with("sh", &script("kcheck-recovery.sh"), Some(Path::new("/nonexistent/kcheck")), &[&v]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is not an executable file"));
    // kcheck fails on one volume (a SystemVersion.plist that is not a
    // plist): that volume is reported, the others still checked, exit 3.
    let sv = vols.path().join("Old Disk/System/Library/CoreServices/SystemVersion.plist");
    std::fs::write(&sv, "garbage").unwrap();
    let o = run("kcheck-recovery.sh", &[&v]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("== Old Disk: macOS unknown\n"), "{out}");
    assert!(out.contains("   verdict        not checked: kcheck failed (exit 65): kcheck: "), "{out}");
    assert!(out.contains(&format!("     kextcache -i \"{v}/Macintosh HD\"\n")), "{out}");
    // No macOS system at all: 66.
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("USB")).unwrap();
    let o = run("kcheck-recovery.sh", &[empty.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no macOS system volume in"), "{:?}", o);
    // Usage errors: 64.
    assert_eq!(run("kcheck-recovery.sh", &["--sip", "maybe", &v]).status.code(), Some(64));
    assert_eq!(run("kcheck-recovery.sh", &["--frobnicate"]).status.code(), Some(64));
    assert_eq!(run("kcheck-recovery.sh", &[&v, &v]).status.code(), Some(64));
    let help = run("kcheck-recovery.sh", &["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("kcheck-recovery.sh [--sip enabled|disabled|unknown] [VOLUMES_DIR]"));
}

#[test]
fn recovery_warns_when_a_catalina_data_volume_is_not_mounted() {
    if !have_sh("recovery_warns_when_a_catalina_data_volume_is_not_mounted") {
        return;
    }
    // Only the system half of the demo: as Recovery shows it while
    // FileVault keeps the data volume locked.
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots("demo-10.15.0-pending-shove/Macintosh HD"), &dir.path().join("Macintosh HD"));
    let o = run("kcheck-recovery.sh", &[dir.path().to_str().unwrap()]);
    let out = stdout(&o);
    assert!(out.contains("keeps /Library on a separate data volume"), "{out}");
    assert!(out.contains("FileVault"), "{out}");
}
