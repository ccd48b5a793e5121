//! Issue 14: a poisoned file must never make the verdict look better, hang
//! kcheck, blow up its memory, or print a raw control character. One small,
//! generated regression input per item.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::copy_tree;

fn kcheck() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kcheck"));
    c.env_remove("NO_COLOR").arg("--color").arg("never");
    c
}

fn roots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots")
}

/// A scratch copy of a fixture root.
fn scratch(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&roots().join(name), dir.path());
    dir
}

fn quiet_verdict(root: &Path) -> (String, Option<i32>) {
    let out = kcheck().args(["-q", "verify", "--root"]).arg(root).output().unwrap();
    (String::from_utf8_lossy(&out.stdout).trim().to_string(), out.status.code())
}

/// No raw control character but the newline.
fn assert_clean(text: &str, what: &str) {
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("{what}: raw control character {c:?} in output:\n{text}");
    }
}

// Item 2: plists without a depth limit.
#[test]
fn deeply_nested_info_plist_is_one_unreadable_bundle() {
    let dir = scratch("healthy-10.14");
    let kext = dir.path().join("Library/Extensions/Deep.kext/Contents");
    std::fs::create_dir_all(&kext).unwrap();
    let mut xml = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\">");
    xml.push_str(&"<array>".repeat(300_000));
    std::fs::write(kext.join("Info.plist"), xml).unwrap();
    let out = kcheck().args(["verify", "--json", "--root"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kx005: Vec<&serde_json::Value> =
        v["findings"].as_array().unwrap().iter().filter(|f| f["code"] == "KX005").collect();
    assert_eq!(kx005.len(), 1);
    assert!(kx005[0]["message"].as_str().unwrap().contains("nesting deeper than"), "{}", kx005[0]);
}

#[test]
fn deeply_nested_binary_system_version_is_a_clean_error() {
    let dir = scratch("healthy-10.14");
    // A binary plist: 100,000 nested one-element arrays.
    let n: usize = 100_000;
    let mut objects: Vec<u8> = Vec::new();
    let mut offsets = Vec::new();
    for i in 0..n {
        offsets.push(8 + objects.len());
        if i + 1 < n {
            objects.push(0xA1);
            objects.extend_from_slice(&((i + 1) as u32).to_be_bytes());
        } else {
            objects.push(0xA0);
        }
    }
    let mut file = b"bplist00".to_vec();
    file.extend_from_slice(&objects);
    let table = file.len();
    for o in &offsets {
        file.extend_from_slice(&(*o as u32).to_be_bytes());
    }
    let mut trailer = vec![0u8; 6];
    trailer.push(4); // offset int size
    trailer.push(4); // object ref size
    trailer.extend_from_slice(&(n as u64).to_be_bytes());
    trailer.extend_from_slice(&0u64.to_be_bytes());
    trailer.extend_from_slice(&(table as u64).to_be_bytes());
    file.extend_from_slice(&trailer);
    std::fs::write(dir.path().join("System/Library/CoreServices/SystemVersion.plist"), file).unwrap();
    let log = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs/kextstat-10.15.txt");
    let log = log.to_str().unwrap();
    for args in [vec!["verify", "--root"], vec!["panic", "--root"], vec!["loaded", log, "--root"]] {
        let out = kcheck().args(&args).arg(dir.path()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(65), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("SystemVersion.plist") && err.contains("nesting deeper"), "{err}");
    }
}

// Item 3: FIFOs and device nodes.
#[test]
fn fifos_and_devices_never_hang_or_flood() {
    let dir = scratch("healthy-10.15");
    for rel in ["System/Library/PrelinkedKernels/prelinkedkernel", "System/Library/Kernels/kernel"] {
        let p = dir.path().join(rel);
        std::fs::remove_file(&p).unwrap();
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }
    let (line, code) = quiet_verdict(dir.path());
    assert_eq!(code, Some(2), "{line}"); // KC001: the boot cache is unreadable
    let out = kcheck().args(["verify", "--json", "--root"]).arg(dir.path()).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v.to_string();
    assert!(text.contains("a FIFO, not a regular file"), "{text}");
    // SystemVersion.plist as a FIFO.
    let sv = dir.path().join("System/Library/CoreServices/SystemVersion.plist");
    std::fs::remove_file(&sv).unwrap();
    nix::unistd::mkfifo(&sv, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let out = kcheck().args(["verify", "--root"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", String::from_utf8_lossy(&out.stderr));
    // A character device given as a cache.
    let out = kcheck().args(["info", "/dev/zero"]).output().unwrap();
    assert!(matches!(out.status.code(), Some(65) | Some(66) | Some(74)), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("/dev/zero"));
}

// Item 4: terminal injection.
#[test]
fn control_characters_never_reach_the_terminal() {
    let dir = scratch("healthy-10.14");
    let kext = dir.path().join("Library/Extensions/Evil.kext/Contents");
    std::fs::create_dir_all(&kext).unwrap();
    let id = "com.evil.\u{1b}]52;c;aGk=\u{7}\u{1b}[2J\r\nkcheck: all caches OK\u{9b}1A";
    let plist = format!(
        "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleIdentifier</key><string>{}</string>\
         <key>CFBundleVersion</key><string>1.0</string><key>CFBundlePackageType</key><string>KEXT</string></dict></plist>",
        id.replace('&', "&amp;")
    );
    std::fs::write(kext.join("Info.plist"), plist).unwrap();
    for color in ["never", "always"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kcheck"))
            .args(["--color", color, "verify", "--root"])
            .arg(dir.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // With colour on only kcheck's own SGR sequences may appear.
        let without_sgr = regex_free_sgr(&text);
        assert_clean(&without_sgr, color);
        assert!(!text.lines().any(|l| l.trim() == "kcheck: all caches OK"), "{text}");
    }
    // An error naming a hostile path stays on one line.
    let evil = dir.path().join("no\nkcheck: all caches OK");
    let out = kcheck().arg("info").arg(&evil).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_clean(&err, "stderr");
}

/// Remove `ESC [ digits ; m` sequences.
fn regex_free_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\u{1b}[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after.find(|c: char| !(c.is_ascii_digit() || c == ';')).unwrap_or(after.len());
        if after[n..].starts_with('m') {
            rest = &after[n + 1..];
        } else {
            out.push_str("\u{1b}[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

// Item 6: symlinked plug-ins visit each bundle once.
#[test]
fn plugin_links_do_not_multiply_the_walk() {
    let dir = scratch("healthy-10.14");
    let le = dir.path().join("Library/Extensions");
    // Twenty bundles whose plug-in folders all link to every other bundle.
    for i in 0..20 {
        let b = le.join(format!("B{i}.kext/Contents"));
        std::fs::create_dir_all(b.join("PlugIns")).unwrap();
        std::fs::write(
            b.join("Info.plist"),
            format!("<plist><dict><key>CFBundleIdentifier</key><string>com.example.B{i}</string><key>CFBundleVersion</key><string>1.0</string><key>CFBundlePackageType</key><string>KEXT</string></dict></plist>"),
        )
        .unwrap();
    }
    for i in 0..20 {
        for j in 0..20 {
            if i != j {
                std::os::unix::fs::symlink(
                    format!("../../../B{j}.kext"),
                    le.join(format!("B{i}.kext/Contents/PlugIns/L{j}.kext")),
                )
                .unwrap();
            }
        }
    }
    let out = kcheck().args(["verify", "--json", "--root"]).arg(dir.path()).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each bundle is read at most twice (once at the top, once as the
    // first plug-in that links to it); every other link is one KX005, so
    // the work is linear in the links, never exponential.
    let kexts = v["installed"]["kexts"].as_u64().unwrap();
    assert!(kexts <= 7 + 20 + 19, "{kexts} kexts read");
    assert!(v["installed"]["unreadable"].as_u64().unwrap() <= 20 * 19, "{v}");
}

// Item 7: text parsers stay linear.
#[test]
fn huge_text_inputs_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("lines.txt");
    std::fs::write(&lines, "\n".repeat(1_000_001)).unwrap();
    let out = kcheck().arg("zones").arg(&lines).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 1000000 lines"));
    let out = kcheck().arg("loaded").arg(&lines).args(["--root", "/nonexistent-root"]).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let long = dir.path().join("long.txt");
    std::fs::write(&long, format!("zone name {}\n", "9 ".repeat(100_000))).unwrap();
    let out = kcheck().arg("zones").arg(&long).output().unwrap();
    assert_eq!(out.status.code(), Some(65));
}

// Item 9: a closed pipe keeps the verdict.
#[test]
fn a_closed_pipe_keeps_the_verdict() {
    let root = roots().join("kc001-missing-boot-cache");
    let script = format!(
        "'{}' --color never verify --root '{}' | true; echo \"${{PIPESTATUS[0]}}\"",
        env!("CARGO_BIN_EXE_kcheck"),
        root.display()
    );
    let out = Command::new("bash").args(["-c", &script]).stdin(Stdio::null()).output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(status == "2" || status == "74", "exit {status}");
}

// Item 10: a kernel symlinked out of the root is not a healthy kernel.
#[test]
fn a_kernel_linked_out_of_the_root_is_not_healthy() {
    let dir = scratch("healthy-10.14");
    let kernel = dir.path().join("System/Library/Kernels/kernel");
    std::fs::remove_file(&kernel).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &kernel).unwrap();
    let (line, code) = quiet_verdict(dir.path());
    assert_eq!(code, Some(1), "{line}");
    let out = kcheck().args(["verify", "--json", "--root"]).arg(dir.path()).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["code"] == "KN003"), "{v}");
    assert!(v["not_checked"].as_array().unwrap().iter().any(|n| n["check"] == "KN001"), "{v}");
}

// Item 11 of the CLI: huge --min-mib does not wrap.
#[test]
fn huge_min_mib_does_not_wrap() {
    let out = kcheck()
        .args(["zones", "--min-mib", "18446744073709551615"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/logs/zprint-leak-19G73.txt"))
        .output()
        .unwrap();
    // With an impossible floor the share rules stay quiet, but the element
    // rule still sees the 62.5 M element leak.
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
}

// Item 1 (and 10): a bare LZFSE stream wrapping a FAT file. FAT slice
// offsets belong to the decompressed buffer, not to the file.
#[test]
fn lzfse_wrapped_fat_keeps_its_slice_uuids_and_never_panics() {
    let fat =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches/prelinkedkernel-a.fat-raw")).unwrap();
    let wrapped = kcheck_testkit::encode::lzfse_encode(&fat);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrapped");
    std::fs::write(&file, &wrapped).unwrap();
    let out = kcheck().args(["info", "--json"]).arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let slices = v["slices"].as_array().unwrap();
    assert!(!slices.is_empty(), "{v}");
    assert!(slices.iter().all(|s| s["uuid"].is_string()), "{v}");
    // As the staged cache of the 10.15.0 demo, it never makes the verdict better.
    let demo = scratch("demo-10.15.0-pending-shove");
    let staged = demo.path().join("Macintosh HD - Data/Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel");
    std::fs::write(&staged, &wrapped).unwrap();
    let (line, code) = quiet_verdict(&demo.path().join("Macintosh HD"));
    assert_eq!(code, Some(2), "{line}");
}

// Item 7: a panic log whose backtrace names 20,000 different kexts stays
// linear, and a report of more than a million lines is refused.
#[test]
fn panic_backtraces_and_line_counts_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut log =
        String::from("panic(cpu 0 caller 0xffffff80001): \"boom\"@/x.c:1\nBacktrace (CPU 0), Frame : Return Address\n");
    for i in 0..20_000 {
        log.push_str(&format!("0xffffff8000{i:06x} : 0xffffff7f80000000 com.example.k{i} + 0x10\n"));
    }
    let f = dir.path().join("wide.panic");
    std::fs::write(&f, &log).unwrap();
    let out = kcheck().args(["panic", "--json", "--root", "/nonexistent"]).arg(&f).output().unwrap();
    // The root does not exist: exit 66, but only after proving nothing hangs.
    assert!(matches!(out.status.code(), Some(0..=2) | Some(66)), "{out:?}");
    let many = dir.path().join("many.panic");
    std::fs::write(&many, format!("panic(cpu 0 caller 0x1): \"x\"\n{}", "\n".repeat(1_000_001))).unwrap();
    let out = kcheck().arg("panic").arg(&many).output().unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("more than 1000000 lines"));
}

// Found by the 2026-12-03 fuzz campaign (macho_prelink): a __PRELINK_TEXT
// whose vmaddr + filesize overflows made the error message itself overflow
// (a panic under overflow checks). Now a clean error naming the range.
#[test]
fn prelink_text_at_the_top_of_the_address_space_is_a_clean_error() {
    use goblin::mach::load_command::CommandVariant;
    let mut bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches/prelinkedkernel-a.raw")).unwrap();
    let m = goblin::mach::MachO::parse(&bytes, 0).unwrap();
    let cmd = m
        .load_commands
        .iter()
        .find(|lc| matches!(&lc.command, CommandVariant::Segment64(s) if s.segname.starts_with(b"__PRELINK_TEXT")))
        .unwrap();
    // segment_command_64: cmd, cmdsize, segname[16], then vmaddr.
    let at = cmd.offset + 24;
    bytes[at..at + 8].copy_from_slice(&0xffff_ffff_ffff_ff00u64.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("plk");
    std::fs::write(&f, &bytes).unwrap();
    let out = kcheck().arg("info").arg(&f).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(err.contains("0xffffffffffffff00..0xffffffffffffffff"), "{err}");
}
