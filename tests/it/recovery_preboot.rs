//! `scripts/kcheck-recovery.sh` on Apple silicon: it finds the Preboot
//! volume (a mounted `Preboot` under the volumes folder, `--preboot DIR`, or
//! `KCHECK_PREBOOT`) and passes `--preboot` to kcheck for a system volume
//! that has `System/Library/Kernels/kernel.release.*` and no
//! `System/Library/KernelCollections/BootKernelExtensions.kc` — and never
//! for an Intel one. The volume layouts are built in a temporary folder; a
//! fake `kcheck` (via `KCHECK`) records the arguments it is given. One test
//! runs the real kcheck on the same layout. Skipped, with a message, where
//! there is no `sh`.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const AS_BUILD: &str = "23E214";
const GROUP: &str = "1A2B3C4D-0000-4111-8222-0123456789AB";
const OTHER_GROUP: &str = "99999999-8888-4777-8666-555555555555";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kcheck-recovery.sh")
}

/// The POSIX shells present here: `sh` first, then the others the script
/// claims to run under.
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

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn system_version(vol: &Path, version: &str, build: &str) {
    write(
        &vol.join("System/Library/CoreServices/SystemVersion.plist"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n<dict>\n\
             \t<key>ProductBuildVersion</key>\n\t<string>{build}</string>\n\
             \t<key>ProductName</key>\n\t<string>macOS</string>\n\
             \t<key>ProductVersion</key>\n\t<string>{version}</string>\n\
             </dict>\n</plist>\n"
        )
        .as_bytes(),
    );
}

/// A Preboot volume at `dir` with one volume group of `build` and its
/// active boot folder holding `kernelcache` (whatever bytes are given).
fn preboot(dir: &Path, group: &str, build: &str, kernelcache: &[u8]) {
    let hash = "A1".repeat(48);
    let g = dir.join(group);
    system_version(&g, "14.4", build);
    write(&g.join("boot/active"), hash.as_bytes());
    write(&g.join("boot").join(&hash).join("System/Library/Caches/com.apple.kernelcaches/kernelcache"), kernelcache);
}

/// `/Volumes` as recoveryOS shows it on a Mac with an Apple-silicon system
/// (`Macintosh HD` + `Macintosh HD - Data`), a second, Intel macOS 13
/// system (`Intel HD`, which has a `kernel.release.*` file too but also the
/// Intel boot collection), an old one-volume 10.14 system (`Old Disk`), a
/// `USB` disk, and — when `with_preboot` — the mounted `Preboot` volume.
fn volumes(with_preboot: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path();
    let mac = v.join("Macintosh HD");
    system_version(&mac, "14.4", AS_BUILD);
    write(&mac.join("System/Library/Kernels/kernel.release.t8103"), b"not a real kernel");
    std::fs::create_dir_all(mac.join("System/Volumes/Preboot")).unwrap(); // an empty mount point, as in recoveryOS
    std::fs::create_dir_all(v.join("Macintosh HD - Data/Library/Extensions")).unwrap();

    let intel = v.join("Intel HD");
    system_version(&intel, "13.6", "22G120");
    write(&intel.join("System/Library/Kernels/kernel"), b"not a real kernel");
    write(&intel.join("System/Library/Kernels/kernel.release.t8101"), b"not a real kernel");
    write(&intel.join("System/Library/KernelCollections/BootKernelExtensions.kc"), b"not a real collection");
    std::fs::create_dir_all(v.join("Intel HD - Data/Library/Extensions")).unwrap();

    let old = v.join("Old Disk");
    system_version(&old, "10.14.6", "18G103");
    write(&old.join("System/Library/Kernels/kernel"), b"not a real kernel");

    write(&v.join("USB/README.txt"), b"not a Mac\n");
    if with_preboot {
        preboot(&v.join("Preboot"), GROUP, AS_BUILD, b"any file will do for the fake kcheck");
    }
    dir
}

/// A fake `kcheck` in `dir` that appends its arguments (one a line, then
/// `<end>`) to `dir/args.log` and prints a healthy JSONL run record with one
/// `not_checked` entry.
fn fake_kcheck(dir: &Path) -> PathBuf {
    let path = dir.join("kcheck");
    let log = dir.join("args.log");
    let body = format!(
        "#!/bin/sh\n\
         {{ for a in \"$@\"; do printf '%s\\n' \"$a\"; done; printf '<end>\\n'; }} >>'{}'\n\
         printf '%s\\n' '{{\"record\":\"run\",\"verdict\":\"healthy\",\"counts\":{{\"error\":0,\"warning\":0,\"info\":0}},\"not_checked\":[{{\"check\":\"KX007\",\"reason\":\"fake \\\"quoted\\\" reason\"}}]}}'\n\
         exit 0\n",
        log.display()
    );
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The argument lists the fake kcheck was called with.
fn calls_of(fake: &Path) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(fake.with_file_name("args.log")).unwrap_or_default();
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for line in log.lines() {
        if line == "<end>" {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(line.to_string());
        }
    }
    out
}

/// The call whose `--root` is `root`.
fn call_for<'a>(calls: &'a [Vec<String>], root: &Path) -> &'a [String] {
    let root = root.display().to_string();
    calls
        .iter()
        .find(|c| c.windows(2).any(|w| w[0] == "--root" && w[1] == root))
        .unwrap_or_else(|| panic!("no kcheck call for {root}: {calls:?}"))
}

/// The value after `flag`, if the call has it.
fn value<'a>(call: &'a [String], flag: &str) -> Option<&'a str> {
    call.windows(2).find(|w| w[0] == flag).map(|w| w[1].as_str())
}

fn run(shell: &str, kcheck: &Path, envs: &[(&str, &Path)], args: &[&str]) -> Output {
    let mut c = Command::new(shell);
    if shell == "zsh" {
        c.args(["--emulate", "sh"]);
    }
    c.arg(script()).args(args).env("KCHECK", kcheck).env_remove("KCHECK_PREBOOT");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run the script")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn apple_silicon_gets_preboot_and_intel_does_not() {
    if !have_sh("apple_silicon_gets_preboot_and_intel_does_not") {
        return;
    }
    let vols = volumes(true);
    let v = vols.path();
    for shell in shells() {
        let bin = tempfile::tempdir().unwrap();
        let fake = fake_kcheck(bin.path());
        let o = run(shell, &fake, &[], &[v.to_str().unwrap()]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{shell}: {out}{}", String::from_utf8_lossy(&o.stderr));
        let calls = calls_of(&fake);
        assert_eq!(calls.len(), 3, "{shell}: one kcheck run a system, none for Preboot or USB: {calls:?}");

        let mac = call_for(&calls, &v.join("Macintosh HD"));
        assert_eq!(mac.first().map(String::as_str), Some("verify"), "{mac:?}");
        assert_eq!(value(mac, "--preboot"), Some(v.join("Preboot").to_str().unwrap()), "{shell}: {mac:?}");
        assert_eq!(value(mac, "--data-root"), Some(v.join("Macintosh HD - Data").to_str().unwrap()), "{mac:?}");
        assert_eq!(value(mac, "--format"), Some("jsonl"), "{mac:?}");

        // Intel: a kernel.release.* file does not make it Apple silicon
        // while the Intel boot collection is there.
        let intel = call_for(&calls, &v.join("Intel HD"));
        assert!(!intel.iter().any(|a| a == "--preboot"), "{shell}: {intel:?}");
        let old = call_for(&calls, &v.join("Old Disk"));
        assert!(!old.iter().any(|a| a == "--preboot"), "{shell}: {old:?}");

        // What the script says.
        assert!(out.starts_with(&format!("kcheck-recovery: 3 macOS systems in {} (not macOS: USB)\n", v.display())));
        assert!(out.contains(&format!("kcheck-recovery: Preboot volume {}/Preboot\n", v.display())), "{out}");
        assert!(!out.contains("== Preboot"), "{out}");
        assert_eq!(out.matches("   platform       Apple silicon").count(), 1, "{shell}: {out}");
        assert!(out.contains(&format!("   preboot        {}/Preboot\n", v.display())), "{out}");
        assert!(
            out.contains(&format!(
                "   full report:   kcheck verify --root \"{0}/Macintosh HD\" --preboot \"{0}/Preboot\"\n",
                v.display()
            )),
            "{out}"
        );
        assert!(out.contains(&format!("   full report:   kcheck verify --root \"{}/Intel HD\"\n", v.display())));
        // The run record's not_checked entries are listed (JSON escapes
        // undone), and the run record is never shown as a finding.
        assert_eq!(out.matches("   not checked    KX007: fake \"quoted\" reason\n").count(), 3, "{shell}: {out}");
        assert!(out.ends_with("kcheck-recovery: all healthy\n"), "{shell}: {out}");
    }
}

#[test]
fn preboot_can_be_given_by_option_or_environment() {
    if !have_sh("preboot_can_be_given_by_option_or_environment") {
        return;
    }
    let vols = volumes(false);
    let v = vols.path();
    let elsewhere = tempfile::tempdir().unwrap();
    let pb = elsewhere.path().join("My Preboot");
    preboot(&pb, GROUP, AS_BUILD, b"kernelcache");
    let pb_s = pb.to_str().unwrap();
    let mac = v.join("Macintosh HD");

    let as_given = |args: &[&str], envs: &[(&str, &Path)]| {
        let bin = tempfile::tempdir().unwrap();
        let fake = fake_kcheck(bin.path());
        let o = run("sh", &fake, envs, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
        let calls = calls_of(&fake);
        assert!(!call_for(&calls, &v.join("Intel HD")).iter().any(|a| a == "--preboot"), "{calls:?}");
        (value(call_for(&calls, &mac), "--preboot").map(str::to_string), stdout(&o))
    };
    let (got, out) = as_given(&["--preboot", pb_s, v.to_str().unwrap()], &[]);
    assert_eq!(got.as_deref(), Some(pb_s));
    assert!(out.contains(&format!("kcheck-recovery: Preboot volume given as {pb_s}\n")), "{out}");
    let (got, _) = as_given(&[&format!("--preboot={pb_s}"), v.to_str().unwrap()], &[]);
    assert_eq!(got.as_deref(), Some(pb_s));
    let (got, _) = as_given(&[v.to_str().unwrap()], &[("KCHECK_PREBOOT", &pb)]);
    assert_eq!(got.as_deref(), Some(pb_s));

    // Not a directory: 66, and kcheck is never run.
    let bin = tempfile::tempdir().unwrap();
    let fake = fake_kcheck(bin.path());
    let o = run("sh", &fake, &[], &["--preboot", "/nonexistent/Preboot", v.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--preboot /nonexistent/Preboot is not a directory"));
    assert!(calls_of(&fake).is_empty());
    // A missing value is a usage error.
    assert_eq!(run("sh", &fake, &[], &["--preboot"]).status.code(), Some(64));
}

#[test]
fn without_a_mounted_preboot_it_says_how_to_mount_one() {
    if !have_sh("without_a_mounted_preboot_it_says_how_to_mount_one") {
        return;
    }
    let vols = volumes(false);
    let v = vols.path();
    let bin = tempfile::tempdir().unwrap();
    let fake = fake_kcheck(bin.path());
    let o = run("sh", &fake, &[], &[v.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let calls = calls_of(&fake);
    assert!(calls.iter().all(|c| !c.iter().any(|a| a == "--preboot")), "{calls:?}");
    assert!(out.contains("   preboot        (none found for this system)\n"), "{out}");
    assert!(out.contains("`diskutil list`") && out.contains("`diskutil mount"), "{out}");
    assert!(out.contains("/Volumes/Preboot") && out.contains("--preboot DIR"), "{out}");
}

#[test]
fn of_several_preboot_volumes_the_one_with_the_systems_build_is_used() {
    if !have_sh("of_several_preboot_volumes_the_one_with_the_systems_build_is_used") {
        return;
    }
    let vols = volumes(false);
    let v = vols.path();
    // `Preboot` belongs to another container (another build); `Preboot 1`
    // holds this system's volume group.
    preboot(&v.join("Preboot"), OTHER_GROUP, "22A380", b"kernelcache");
    preboot(&v.join("Preboot 1"), GROUP, AS_BUILD, b"kernelcache");
    let bin = tempfile::tempdir().unwrap();
    let fake = fake_kcheck(bin.path());
    let o = run("sh", &fake, &[], &[v.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    let calls = calls_of(&fake);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        value(call_for(&calls, &v.join("Macintosh HD")), "--preboot"),
        Some(v.join("Preboot 1").to_str().unwrap())
    );
    assert!(!out.contains("not macOS: Preboot") && !out.contains("Preboot 1,"), "{out}");

    // Two candidates and neither has the build: none is guessed.
    std::fs::remove_dir_all(v.join("Preboot 1")).unwrap();
    preboot(&v.join("Preboot 1"), GROUP, "21A559", b"kernelcache");
    let bin = tempfile::tempdir().unwrap();
    let fake = fake_kcheck(bin.path());
    let o = run("sh", &fake, &[], &[v.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(calls_of(&fake).iter().all(|c| !c.iter().any(|a| a == "--preboot")));
    assert!(stdout(&o).contains("   preboot        (none found for this system)\n"));
}

#[test]
fn the_real_kcheck_reads_the_boot_collection_from_the_preboot_volume() {
    if !have_sh("the_real_kcheck_reads_the_boot_collection_from_the_preboot_volume") {
        return;
    }
    let vols = volumes(false);
    let v = vols.path();
    let kc = std::fs::read(crate::common::testdata("caches/BootKernelExtensions.kc")).unwrap();
    preboot(&v.join("Preboot"), GROUP, AS_BUILD, &kc);
    let dir = v.join("only-as");
    std::fs::create_dir(&dir).unwrap();
    for name in ["Macintosh HD", "Macintosh HD - Data", "Preboot"] {
        std::fs::rename(v.join(name), dir.join(name)).unwrap();
    }
    let o = run("sh", Path::new(env!("CARGO_BIN_EXE_kcheck")), &[], &[dir.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{out}{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains(&format!("   preboot        {}/Preboot\n", dir.display())), "{out}");
    // The boot collection was found and read: neither KC001 nor the kext
    // comparisons are among the checks that did not run.
    assert!(!out.contains("not checked    KC001"), "{out}");
    assert!(!out.contains("not checked    KX001-KX004"), "{out}");
    assert!(out.contains("not checked    AX001, AX002, AX003: on Apple silicon"), "{out}");
}
