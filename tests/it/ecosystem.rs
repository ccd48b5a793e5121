//! Fitting the Mac admin's world: the man page, shell completions,
//! `--color` / `NO_COLOR`, `--quiet`.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

/// kcheck with a clean colour environment (the test runner's NO_COLOR
/// must not leak in).
fn kcheck() -> Command {
    let mut cmd = Command::cargo_bin("kcheck").unwrap();
    cmd.env_remove("NO_COLOR");
    cmd
}

const SUBCOMMANDS: &[&str] = &["verify", "info", "kexts", "diff", "zones", "panic", "loaded", "man", "completions"];

/// stdout, and the exit status, of kcheck with `args` (and `env`).
fn run(args: &[&str], env: &[(&str, &str)]) -> (String, i32) {
    let out = kcheck().args(args).envs(env.iter().copied()).output().unwrap();
    (String::from_utf8(out.stdout).unwrap(), out.status.code().unwrap())
}

fn root() -> String {
    testdata("roots/kx002-version-differs").to_str().unwrap().to_string()
}

#[test]
fn man_page_is_roff_with_every_command() {
    let (page, code) = run(&["man"], &[]);
    assert_eq!(code, 0);
    assert!(page.starts_with(".TH KCHECK 1"), "{}", &page[..page.len().min(200)]);
    assert_eq!(page.matches(".TH ").count(), 1, "one page");
    for sub in SUBCOMMANDS {
        assert!(page.contains(&format!(".SH \"KCHECK {}\"", sub.to_uppercase())), "no section for {sub}");
    }
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH \"EXIT STATUS\"", ".SH EXAMPLES", "NO_COLOR"] {
        assert!(page.contains(section), "no {section}");
    }
    // Options of commands, global options, and no hidden ones.
    for opt in ["data\\-root", "color", "quiet", "watch"] {
        assert!(page.contains(opt), "no {opt}");
    }
    assert!(!page.contains("probe\\-dir"));
    assert!(!page.contains('\x1b'));
}

#[test]
fn man_page_lists_the_exit_codes_of_the_help() {
    let (help, _) = run(&["--help"], &[]);
    let (page, _) = run(&["man"], &[]);
    let exit = page.split(".SH \"EXIT STATUS\"").nth(1).unwrap().split(".SH").next().unwrap();
    for code in ["0", "1", "2", "64", "65", "66", "70", "74"] {
        assert!(help.contains(&format!(" {code} ")) || help.contains(&format!("{code} ")), "help lacks {code}");
        assert!(exit.contains(&format!(".TP\n\\fB{code}\\fR")), "man page lacks exit status {code}: {exit}");
    }
}

#[test]
fn man_page_renders() {
    // `man -l` / groff, where installed: no errors, every section there.
    let Ok(probe) = std::process::Command::new("groff").arg("-v").output() else {
        return;
    };
    if !probe.status.success() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kcheck.1");
    std::fs::write(&file, kcheck().arg("man").output().unwrap().stdout).unwrap();
    let out = std::process::Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    for heading in ["NAME", "SYNOPSIS", "KCHECK VERIFY", "KCHECK COMPLETIONS", "EXIT STATUS", "EXAMPLES"] {
        assert!(text.contains(heading), "{heading} not rendered");
    }
}

#[test]
fn completions_for_each_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (script, code) = run(&["completions", shell], &[]);
        assert_eq!(code, 0, "{shell}");
        assert!(script.contains("kcheck"), "{shell}");
        for sub in ["verify", "kexts", "completions"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
        assert!(script.contains("data-root"), "{shell} lacks --data-root");
    }
    kcheck().args(["completions", "tcsh"]).assert().code(64);
    kcheck().arg("completions").assert().code(64);
}

#[test]
fn help_has_examples_everywhere() {
    let (help, _) = run(&["--help"], &[]);
    for needle in ["Examples:", "--color", "--quiet", "NO_COLOR", "Exit status"] {
        assert!(help.contains(needle), "top-level help lacks {needle}");
    }
    for sub in SUBCOMMANDS {
        let (help, code) = run(&[sub, "--help"], &[]);
        assert_eq!(code, 0);
        assert!(help.contains("Example"), "{sub} --help has no example");
        assert!(help.contains("--color") && help.contains("--quiet"), "{sub}: global options");
    }
}

#[test]
fn color_always_colours_the_verdict_and_findings() {
    let (out, code) = run(&["verify", "--root", &root(), "--color", "always"], &[]);
    assert_eq!(code, 1);
    assert!(out.contains("\x1b["), "{out}");
    assert!(out.contains("\x1b[33mATTENTION\x1b[0m"), "{out:?}");
    assert!(out.contains("\x1b[33mWARNINGS\x1b[0m (1)"), "{out:?}");
    assert!(out.contains("\x1b[33mKX002\x1b[0m"), "{out:?}");
    // An explicit --color always wins over NO_COLOR; the flag works before
    // the command too.
    let (forced, _) = run(&["--color", "always", "verify", "--root", &root()], &[("NO_COLOR", "1")]);
    assert_eq!(forced, out);
}

#[test]
fn colour_off_is_the_plain_output_byte_for_byte() {
    let args = ["verify", "--root", &root()];
    let (plain, code) = run(&args, &[]);
    assert_eq!(code, 1);
    assert!(!plain.contains('\x1b'));
    let never = run(&[&args[..], &["--color", "never"]].concat(), &[]);
    let no_color = run(&[&args[..], &["--color", "auto"]].concat(), &[("NO_COLOR", "1")]);
    // Not a terminal: auto does not colour, with NO_COLOR empty too.
    let empty = run(&args, &[("NO_COLOR", "")]);
    for (out, c) in [never, no_color, empty] {
        assert_eq!(c, 1);
        assert_eq!(out, plain);
    }
    // And stripping the escapes of --color always gives the same layout.
    let (coloured, _) = run(&[&args[..], &["--color", "always"]].concat(), &[]);
    assert_eq!(strip_escapes(&coloured), plain);
}

#[test]
fn diff_markers_are_coloured_without_moving_columns() {
    let a = testdata("caches/prelinkedkernel-a.fat-lzvn");
    let b = testdata("caches/prelinkedkernel-b.fat-lzvn");
    let args = ["diff", a.to_str().unwrap(), b.to_str().unwrap()];
    let (plain, code) = run(&args, &[]);
    assert_eq!(code, 1);
    let (coloured, code) = run(&[&args[..], &["--color", "always"]].concat(), &[]);
    assert_eq!(code, 1);
    for marker in ["\x1b[32m+\x1b[0m  ", "\x1b[31m-\x1b[0m  ", "\x1b[33m~\x1b[0m  "] {
        assert!(coloured.contains(marker), "{marker:?} in {coloured:?}");
    }
    assert_eq!(strip_escapes(&coloured), plain);
}

#[test]
fn json_is_never_coloured() {
    let (out, _) = run(&["verify", "--root", &root(), "--json", "--color", "always"], &[]);
    assert!(!out.contains('\x1b'));
    serde_json::from_str::<Value>(&out).unwrap();
    let (out, _) = run(&["verify", "--root", &root(), "--format", "jsonl", "--color", "always"], &[]);
    assert!(!out.contains('\x1b'));
    for line in out.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

#[test]
fn quiet_verify_prints_the_verdict_line() {
    let (out, code) = run(&["verify", "--root", &root(), "--quiet"], &[]);
    assert_eq!((out.as_str(), code), ("attention: 1 warning\n", 1));
    // -q before the command, and --color always: still one plain line.
    let (out, code) = run(&["-q", "--color", "always", "verify", "--root", &root()], &[]);
    assert_eq!((out.as_str(), code), ("attention: 1 warning\n", 1));
    let demo = testdata("roots/demo-10.15.0-pending-shove/Macintosh HD");
    let (out, code) = run(&["verify", "-q", "--root", demo.to_str().unwrap()], &[]);
    assert_eq!(code, 2);
    assert!(out.starts_with("broken: 1 error, ") && out.ends_with('\n') && out.lines().count() == 1, "{out}");
}

#[test]
fn quiet_other_commands_print_nothing() {
    let cache = testdata("caches/prelinkedkernel-a.fat-lzvn");
    let b = testdata("caches/prelinkedkernel-b.fat-lzvn");
    kcheck().args(["kexts", "-q"]).arg(&cache).assert().code(0).stdout("");
    kcheck().args(["info", "--quiet"]).arg(&cache).assert().code(0).stdout("");
    kcheck().args(["diff", "-q"]).arg(&cache).arg(&b).assert().code(1).stdout("");
    // Errors still reach standard error, with their exit status.
    kcheck()
        .args(["kexts", "-q", "/nonexistent/kcheck-test"])
        .assert()
        .code(66)
        .stdout("")
        .stderr(predicates::str::contains("kcheck:"));
}

#[test]
fn quiet_has_no_effect_on_json() {
    let (quiet, code) = run(&["verify", "--root", &root(), "--json", "--quiet"], &[]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&quiet).unwrap();
    assert_eq!(v["verdict"], "attention");
    let cache = testdata("caches/prelinkedkernel-a.fat-lzvn");
    let (loud, _) = run(&["kexts", "--json", cache.to_str().unwrap()], &[]);
    let (quiet, _) = run(&["kexts", "--json", "-q", cache.to_str().unwrap()], &[]);
    assert_eq!(quiet, loud);
    // JSONL: the one finding, then the run record; -q changes neither.
    let (jsonl, _) = run(&["verify", "--root", &root(), "--format", "jsonl", "-q"], &[]);
    let (loud, _) = run(&["verify", "--root", &root(), "--format", "jsonl"], &[]);
    assert_eq!(jsonl, loud);
    let lines: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{jsonl}");
    assert_eq!(lines[0]["code"], "KX002");
    assert_eq!(lines[1]["record"], "run");
    assert_eq!(lines[1]["verdict"], "attention");
}

/// Remove ANSI SGR sequences (`ESC [ … m`).
fn strip_escapes(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn color_choice_follows_no_color_org() {
    use kcheck::cli::ColorArg;
    use std::ffi::OsStr;
    let set = Some(OsStr::new("1"));
    let empty = Some(OsStr::new(""));
    // auto: a terminal, and NO_COLOR unset or empty.
    assert!(ColorArg::Auto.enabled(true, None));
    assert!(ColorArg::Auto.enabled(true, empty));
    assert!(!ColorArg::Auto.enabled(true, set));
    assert!(!ColorArg::Auto.enabled(false, None));
    // An explicit choice wins over NO_COLOR and the terminal test.
    assert!(ColorArg::Always.enabled(false, set));
    assert!(!ColorArg::Never.enabled(true, None));
}
