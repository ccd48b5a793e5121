//! Malformed inputs through the command line, across every layer and
//! command: each gives the documented exit status and one line naming the
//! file, the layer and the byte offset, quickly and without a panic.
//! (`tests/bad_input.rs` covers the cache layers in more depth through the
//! library.)

use std::path::Path;

use assert_cmd::Command;
use kcheck_testkit::synth::{self, Arch, Comp};

struct Case {
    name: &'static str,
    args: Vec<std::ffi::OsString>,
    /// Exit status.
    code: i32,
    /// Regex the single stderr line must match (after `kcheck: `).
    stderr: &'static str,
}

fn plk() -> Vec<u8> {
    synth::prelinked_kernel(&synth::catalina_kernel(), &synth::kexts_a(), Arch::X86_64, [7; 16])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn cases(dir: &Path) -> Vec<Case> {
    let d = dir;
    let plk = plk();
    let lzvn = synth::comp(Comp::Lzvn, &plk);
    let fat = synth::fat(&[(Arch::X86_64, &lzvn)], true);
    let im4p = synth::im4p(&plk, synth::Im4pComp::Lzfse, "x");
    let c = |name, args: &[&str], code, stderr| Case {
        name,
        args: args.iter().map(std::ffi::OsString::from).collect(),
        code,
        stderr,
    };
    let mut v = Vec::new();
    // Every file-reading command on an empty file, a directory, a missing
    // file and a symlink loop.
    let empty = write(d, "empty", b"");
    let loop_path = d.join("loop");
    std::os::unix::fs::symlink(&loop_path, &loop_path).unwrap();
    let loop_path = loop_path.display().to_string();
    let dir_s = d.display().to_string();
    for cmd in ["info", "kexts"] {
        v.push(c("0-byte cache", &[cmd, &empty], 65, r"empty: file: at offset 0x0: only 0 bytes"));
        v.push(c("directory as cache", &[cmd, &dir_s], 65, r": file: at offset 0x0: is a directory"));
        v.push(c("missing cache", &[cmd, "/nonexistent/prelinkedkernel"], 66, r"prelinkedkernel: no such file"));
        v.push(c("symlink loop as cache", &[cmd, &loop_path], 74, r"loop: cannot read: "));
    }
    for cmd in ["panic", "zones", "loaded"] {
        v.push(c("0-byte log", &[cmd, &empty], 65, r"empty: [a-z]+: at offset 0x0: "));
        v.push(c("directory as log", &[cmd, &dir_s], 65, r": file: at offset 0x0: is a directory"));
        v.push(c("missing log", &[cmd, "/nonexistent/log.txt"], 66, r"log.txt: no such file"));
        v.push(c("symlink loop as log", &[cmd, &loop_path], 74, r"loop: cannot read: "));
    }
    // Cache layers, one case each.
    let truncated = |n: usize| fat[..n].to_vec();
    for (name, cut, re) in [
        ("fat header cut", 6, r"fat: at offset 0x0: truncated"),
        ("fat table cut", 20, r"fat: at offset 0x8: truncated"),
        ("comp header cut", 0x1c + 0x100, r"fat: at offset 0x8: slice 0 \(x86_64\) claims bytes"),
    ] {
        let f = write(d, &format!("cut-{cut}"), &truncated(cut));
        v.push(Case { name, args: vec!["kexts".into(), f.into()], code: 65, stderr: re });
    }
    let mut bad = fat.clone();
    bad[0x1c + 8] ^= 1;
    v.push(Case {
        name: "adler32 mismatch",
        args: vec!["info".into(), write(d, "adler", &bad).into()],
        code: 65,
        stderr: r"fat\[x86_64\] > comp/lzvn: at offset 0x24: adler32 mismatch",
    });
    let mut bad = lzvn.clone();
    bad[16..20].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
    v.push(Case {
        name: "lying compressedSize",
        args: vec!["kexts".into(), write(d, "csize", &bad).into()],
        code: 65,
        stderr: r"comp/lzvn: at offset 0x10: compressedSize 0xffffff runs past the end",
    });
    let mut bad = lzvn.clone();
    bad[12..16].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    v.push(Case {
        name: "huge uncompressedSize",
        args: vec!["kexts".into(), write(d, "usize", &bad).into()],
        code: 65,
        stderr: r"comp/lzvn: at offset 0xc: declared uncompressed size 0xfffffff0 exceeds",
    });
    v.push(Case {
        name: "DER length past the end",
        args: vec!["info".into(), write(d, "im4p-cut", &im4p[..im4p.len() / 2]).into()],
        code: 65,
        stderr: r"im4p: at offset 0x0: DER element \(tag 0x30\) length 0x[0-9a-f]+ runs past the end",
    });
    let mut bad = plk.clone();
    bad[20..24].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    v.push(Case {
        name: "sizeofcmds past the end",
        args: vec!["kexts".into(), write(d, "sizeofcmds", &bad).into()],
        code: 65,
        stderr: r"mach-o/execute: at offset 0x14: sizeofcmds",
    });
    let at = plk.windows(9).position(|w| w == b"IDREF=\"2\"").unwrap();
    let mut bad = plk.clone();
    bad[at + 7] = b'8';
    v.push(Case {
        name: "IDREF before its ID",
        args: vec!["kexts".into(), write(d, "idref", &bad).into()],
        code: 65,
        stderr: r"mach-o/execute > __PRELINK_INFO,__info: at offset 0x[0-9a-f]+: idref 8 refers to a later id",
    });
    v.push(Case {
        name: "wrong magic",
        args: vec!["info".into(), write(d, "text.txt", b"#!/bin/sh\necho hi\n").into()],
        code: 65,
        stderr: r"text.txt: file: at offset 0x0: unrecognised magic",
    });
    // Non-UTF-8 file name.
    let odd = {
        use std::os::unix::ffi::OsStrExt;
        d.join(std::ffi::OsStr::from_bytes(b"caf\xe9.kc"))
    };
    std::fs::write(&odd, b"garbage!").unwrap();
    v.push(Case {
        name: "non-UTF-8 file name",
        args: vec!["info".into(), odd.clone().into_os_string()],
        code: 65, // the name is shown lossily; the file is read by its real name
        stderr: r"caf.*\.kc: file: at offset 0x0: unrecognised magic",
    });
    // Log layers.
    v.push(c(
        "panic: random text",
        &["panic", &write(d, "notes.txt", b"hello\nworld\n")],
        65,
        r"notes.txt: panic: at offset 0x0: ",
    ));
    v.push(c(
        "panic: broken JSON body",
        &[
            "panic",
            &write(
                d,
                "broken.ips",
                b"{\"bug_type\":\"210\",\"os_version\":\"macOS 11.3\"}\n{\"macOSPanicString\": \"panic(cpu 0",
            ),
        ],
        65,
        r"broken.ips: panic: at offset 0x[0-9a-f]+: ",
    ));
    v.push(c(
        "zprint: random text",
        &["zones", &write(d, "z.txt", b"nothing here\n")],
        65,
        r"z.txt: zprint: at offset 0x0: ",
    ));
    v.push(c(
        "kextstat: random text",
        &["loaded", &write(d, "k.txt", b"not a listing\nat all\n")],
        65,
        r"k.txt: kextstat: at offset 0x0: ",
    ));
    // System roots.
    v.push(c(
        "verify: not a macOS root",
        &["verify", "--root", &dir_s],
        66,
        r"not a macOS system root: .*SystemVersion.plist is missing",
    ));
    let root = d.join("root");
    std::fs::create_dir_all(root.join("System/Library/CoreServices")).unwrap();
    std::fs::write(root.join("System/Library/CoreServices/SystemVersion.plist"), b"<plist><dict><key>x</key>").unwrap();
    v.push(c(
        "verify: malformed SystemVersion.plist",
        &["verify", "--root", &root.display().to_string()],
        65,
        r"SystemVersion.plist: SystemVersion.plist: at offset 0x[0-9a-f]+: not a valid plist",
    ));
    let sv = root.join("System/Library/CoreServices/SystemVersion.plist");
    let root2 = d.join("root2");
    std::fs::create_dir_all(root2.join("System/Library/CoreServices/SystemVersion.plist")).unwrap();
    v.push(c(
        "verify: a directory where SystemVersion.plist belongs",
        &["verify", "--root", &root2.display().to_string()],
        65,
        r"SystemVersion.plist: at offset 0x0: is a directory",
    ));
    let _ = sv;
    v.push(c(
        "verify: root is a file",
        &["verify", "--root", &empty],
        66,
        r"not a macOS system root: is not a directory",
    ));
    v.push(c("diff: one side missing", &["diff", &empty, "/nonexistent/b"], 65, r"empty: file: at offset 0x0"));
    v.push(c("diff: empty side", &["diff", &write(d, "plk", &plk), &empty], 65, r"empty: file: at offset 0x0"));
    let huge = d.join("huge.txt");
    std::fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    v.push(c(
        "zones: huge input",
        &["zones", &huge.display().to_string()],
        65,
        r"huge.txt: file: at offset 0x10000000: larger than any log",
    ));
    v.push(c("usage: unknown command", &["frobnicate"], 64, r""));
    v.push(c("usage: jsonl outside verify", &["kexts", "--format", "jsonl", &empty], 64, r"jsonl is only for verify"));
    v
}

#[test]
fn bad_input_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let all = cases(dir.path());
    assert!(all.len() >= 40, "only {} cases", all.len());
    let mut failures = Vec::new();
    for case in &all {
        let out = Command::cargo_bin("kcheck").unwrap().args(&case.args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(case.code) {
            failures.push(format!("{}: exit {:?}, want {} ({stderr})", case.name, out.status.code(), case.code));
        }
        if case.code != 64 {
            let lines: Vec<&str> = stderr.lines().collect();
            let re = regex_lite(case.stderr);
            if lines.len() != 1 || !lines[0].starts_with("kcheck: ") || !re(lines[0]) {
                failures.push(format!("{}: stderr {stderr:?} does not match {:?}", case.name, case.stderr));
            }
            if stderr.contains("panicked") {
                failures.push(format!("{}: panicked", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A tiny matcher for the patterns above: `.*`, `.`, `[0-9a-f]+`, `[a-z]+`,
/// `\(`-style escapes and literal text, searched anywhere in the line.
fn regex_lite(pattern: &'static str) -> impl Fn(&str) -> bool {
    move |line: &str| {
        (0..=line.len()).any(|i| line.is_char_boundary(i) && matches_at(pattern.as_bytes(), &line.as_bytes()[i..]))
    }
}

fn matches_at(p: &[u8], s: &[u8]) -> bool {
    if p.is_empty() {
        return true;
    }
    let (class, rest): (Box<dyn Fn(u8) -> bool>, &[u8]) = if p.starts_with(b"[0-9a-f]") {
        (Box::new(|c: u8| c.is_ascii_hexdigit()), &p[8..])
    } else if p.starts_with(b"[a-z]") {
        (Box::new(|c: u8| c.is_ascii_lowercase()), &p[5..])
    } else if p[0] == b'.' {
        (Box::new(|_| true), &p[1..])
    } else if p[0] == b'\\' && p.len() > 1 {
        let lit = p[1];
        (Box::new(move |c| c == lit), &p[2..])
    } else {
        let lit = p[0];
        (Box::new(move |c| c == lit), &p[1..])
    };
    match rest.first() {
        Some(b'+') => {
            let rest = &rest[1..];
            let mut i = 0;
            while i < s.len() && class(s[i]) {
                i += 1;
                if matches_at(rest, &s[i..]) {
                    return true;
                }
            }
            false
        }
        Some(b'*') => {
            let rest = &rest[1..];
            let mut i = 0;
            loop {
                if matches_at(rest, &s[i..]) {
                    return true;
                }
                if i < s.len() && class(s[i]) {
                    i += 1;
                } else {
                    return false;
                }
            }
        }
        _ => !s.is_empty() && class(s[0]) && matches_at(rest, &s[1..]),
    }
}
