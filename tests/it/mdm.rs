//! kcheck in the Mac admin's tools (docs/mdm.md): the Jamf Pro extension
//! attribute and the Munki guard, run with `sh` (and dash, bash, zsh where
//! present) against the fixture roots and against fake kchecks that print
//! what a real one rarely does; the pkginfo examples of docs/mdm.md; the
//! LaunchDaemon, read by the `plist` crate and by libplist's `plistutil`;
//! the Homebrew formula's syntax and the checks of its `test do` block;
//! and shellcheck over the new scripts.
//!
//! A tool that is not installed (plistutil, shellcheck, ruby, dash, zsh)
//! skips its test with a message, except under CI (`CI=true`), where it
//! fails: `.ci/install-extras.sh` installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::completions::tool_available;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn root(rel: &str) -> String {
    manifest().join("testdata/roots").join(rel).to_str().unwrap().to_string()
}

fn script(name: &str) -> PathBuf {
    manifest().join("scripts").join(name)
}

fn kcheck_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kcheck")
}

const EA: &str = "kcheck-extension-attribute.sh";
const MUNKI: &str = "munki-kcheck-preflight.sh";

/// The POSIX shells the scripts claim to run under that are here.
fn shells(test: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for sh in ["sh", "dash", "bash", "zsh"] {
        if tool_available(sh, &["-c", "exit 0"], test) {
            found.push(sh);
        }
    }
    found
}

/// Run `name` under `shell` with `env` (KCHECK is the built kcheck unless
/// `env` sets it) and `args`.
fn run_in(shell: &str, name: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(shell);
    if shell == "zsh" {
        c.args(["--emulate", "sh"]);
    }
    c.arg(script(name)).args(args).env("KCHECK", kcheck_bin());
    c.env_remove("KCHECK_ON_ERROR").env_remove("KCHECK_BLOCK_ON");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run the script")
}

fn run(name: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    run_in("sh", name, env, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fake kcheck: a shell script that prints `jsonl` (and `stderr`) and
/// exits with `status`, in its own folder.
fn fake_kcheck(jsonl: &str, stderr: &str, status: i32) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.jsonl"), jsonl).unwrap();
    std::fs::write(dir.path().join("err.txt"), stderr).unwrap();
    let path = dir.path().join("kcheck");
    let d = dir.path().display();
    std::fs::write(&path, format!("#!/bin/sh\ncat '{d}/out.jsonl'\ncat '{d}/err.txt' >&2\nexit {status}\n")).unwrap();
    set_executable(&path);
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn finding(code: &str, severity: &str) -> String {
    // Keys inside evidence that look like ours must not be read as ours.
    format!(
        r#"{{"code":"{code}","severity":"{severity}","subject":"s \"quoted\", {{braced}}","message":"m","evidence":{{"code":"ZZ999","severity":"error","list":["x","{{"]}},"remedy":"r","record":"finding"}}"#
    )
}

fn run_record(verdict: &str) -> String {
    format!(
        r#"{{"record":"run","tool":{{"name":"kcheck","version":"0.1.0"}},"root":"/","system":{{"product_version":"10.15","build":"19A583","era":"prelinked-staged"}},"verdict":"{verdict}","counts":{{"error":0,"warning":0,"info":0}},"not_checked":[]}}"#
    )
}

/// The one `<result>…</result>` line, checked for the shape Jamf needs.
fn result_line(o: &Output, what: &str) -> String {
    let out = stdout(o);
    assert_eq!(o.status.code(), Some(0), "{what}: an extension attribute always exits 0: {out}");
    assert_eq!(out.lines().count(), 1, "{what}: one line: {out:?}");
    assert!(out.ends_with('\n'), "{what}: {out:?}");
    let line = out.trim_end_matches('\n');
    assert!(line.len() <= 200, "{what}: {} bytes: {line}", line.len());
    let inner = line
        .strip_prefix("<result>")
        .and_then(|l| l.strip_suffix("</result>"))
        .unwrap_or_else(|| panic!("{what}: not a <result> line: {line}"));
    assert!(!inner.contains("</"), "{what}: a closing tag inside the value: {line}");
    assert!(o.stderr.is_empty(), "{what}: stderr: {}", String::from_utf8_lossy(&o.stderr));
    inner.to_string()
}

// ---------------------------------------------------------------------------
// The Jamf Pro extension attribute

#[test]
fn extension_attribute_gives_the_verdict_and_the_codes_on_the_fixtures() {
    let test = "extension_attribute_gives_the_verdict_and_the_codes_on_the_fixtures";
    for shell in shells(test) {
        for (rel, args, want) in [
            ("healthy-10.14", &[][..], "healthy"),
            ("healthy-10.15", &[], "healthy"),
            ("healthy-11", &[], "healthy"),
            // Info findings (ST002) are left out.
            ("st002-shove-without-staged-cache", &[], "healthy"),
            ("kx002-version-differs", &[], "attention: KX002"),
            ("kc001-missing-boot-cache", &[], "broken: KC001"),
            // Errors first, then warnings, each once.
            ("demo-10.15.0-pending-shove/Macintosh HD", &[], "broken: ST003 KB001 KX002"),
            // Options pass through to kcheck verify.
            ("demo-10.15.0-pending-shove/Macintosh HD", &["--sip", "disabled"], "attention: KB001"),
        ] {
            let r = root(rel);
            let mut a = vec!["--root", r.as_str()];
            a.extend_from_slice(args);
            let o = run_in(shell, EA, &[], &a);
            let what = format!("{shell}: {rel} {args:?}");
            assert_eq!(result_line(&o, &what), want, "{what}");
        }
    }
}

#[test]
fn extension_attribute_reports_failures_as_a_value_and_exits_0() {
    let test = "extension_attribute_reports_failures_as_a_value_and_exits_0";
    if shells(test).is_empty() {
        return;
    }
    // kcheck fails (not a macOS root: 66): its exit status and first line.
    let dir = tempfile::tempdir().unwrap();
    let o = run(EA, &[], &["--root", dir.path().to_str().unwrap()]);
    let v = result_line(&o, "not a root");
    assert!(v.starts_with("error: kcheck exit 66: kcheck: "), "{v}");
    assert!(v.contains("not a macOS system root"), "{v}");
    // A usage error in the passed options (64).
    let v = result_line(&run(EA, &[], &["--sip", "maybe"]), "usage");
    assert!(v.starts_with("error: kcheck exit 64: "), "{v}");
    // No kcheck: a path that is not there, a name that is not on PATH.
    let v = result_line(&run(EA, &[("KCHECK", "/nonexistent/kcheck")], &[]), "bad path");
    assert_eq!(v, "error: kcheck not found: KCHECK=/nonexistent/kcheck is not an executable file");
    let v = result_line(&run(EA, &[("KCHECK", "kcheck-nonexistent")], &[]), "bad name");
    assert_eq!(v, "error: kcheck not found: KCHECK=kcheck-nonexistent is not a command on PATH");
    // Not set and not installed: /usr/local/bin, /opt/homebrew/bin, PATH.
    if !Path::new("/usr/local/bin/kcheck").exists() && !Path::new("/opt/homebrew/bin/kcheck").exists() {
        let o = Command::new("sh").arg(script(EA)).env_remove("KCHECK").env("PATH", "/usr/bin:/bin").output().unwrap();
        let v = result_line(&o, "not installed");
        assert!(v.starts_with("error: kcheck not found"), "{v}");
    }
}

#[test]
fn extension_attribute_takes_kcheck_as_a_name_on_path_or_a_path() {
    if shells("extension_attribute_takes_kcheck_as_a_name_on_path_or_a_path").is_empty() {
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(kcheck_bin(), bin.path().join("kcheck")).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let r = root("kx002-version-differs");
    let o = run(EA, &[("KCHECK", "kcheck"), ("PATH", &path)], &["--root", &r]);
    assert_eq!(result_line(&o, "KCHECK=kcheck"), "attention: KX002");
    let o = run(EA, &[("PATH", &path)], &["--root", &r]);
    assert_eq!(result_line(&o, "KCHECK=path"), "attention: KX002");
    // Unset: found on PATH.
    let o = Command::new("sh").arg(script(EA)).args(["--root", &r]).env_remove("KCHECK").env("PATH", &path).output();
    assert_eq!(result_line(&o.unwrap(), "on PATH"), "attention: KX002");
}

#[test]
fn extension_attribute_ignores_the_positional_parameters_of_an_mdm() {
    if shells("extension_attribute_ignores_the_positional_parameters_of_an_mdm").is_empty() {
        return;
    }
    // Jamf passes the target volume, the computer name and the user name;
    // kcheck must not see them (it would fail with a usage error, 64).
    let (_keep, fake) = fake_kcheck(&format!("{}\n", run_record("healthy")), "", 0);
    let log = Path::new(&fake).with_file_name("args.txt");
    let body = std::fs::read_to_string(&fake).unwrap();
    std::fs::write(&fake, body.replacen("\n", &format!("\nprintf '%s\\n' \"$@\" > '{}'\n", log.display()), 1)).unwrap();
    let o = run(EA, &[("KCHECK", &fake)], &["/", "Mac-042", "admin"]);
    assert_eq!(result_line(&o, "jamf args"), "healthy");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "verify\n--format\njsonl\n");
}

#[test]
fn extension_attribute_reads_only_top_level_fields_and_dedups_in_severity_order() {
    if shells("extension_attribute_reads_only_top_level_fields_and_dedups_in_severity_order").is_empty() {
        return;
    }
    let jsonl = [
        finding("KX002", "warning"),
        finding("ST002", "info"),
        finding("KX002", "warning"),
        finding("KC001", "error"),
        finding("AX003", "error"),
        finding("KC001", "error"),
        run_record("broken"),
    ]
    .join("\n");
    let (_keep, fake) = fake_kcheck(&(jsonl + "\n"), "", 2);
    let o = run(EA, &[("KCHECK", &fake)], &[]);
    assert_eq!(result_line(&o, "dedup"), "broken: KC001 AX003 KX002");

    // An older kcheck without record types or a run record: the verdict
    // from the exit status.
    let old = r#"{"code":"KX002","severity":"warning","subject":"s","message":"m","evidence":{},"remedy":"r"}"#;
    let (_keep, fake) = fake_kcheck(&format!("{old}\n"), "", 1);
    assert_eq!(result_line(&run(EA, &[("KCHECK", &fake)], &[]), "old"), "attention: KX002");
    let (_keep, fake) = fake_kcheck("", "", 0);
    assert_eq!(result_line(&run(EA, &[("KCHECK", &fake)], &[]), "empty"), "healthy");
}

#[test]
fn extension_attribute_stays_within_200_characters() {
    if shells("extension_attribute_stays_within_200_characters").is_empty() {
        return;
    }
    // 60 codes do not fit: as many as fit, then a count of the others.
    let mut lines: Vec<String> = (1..=60).map(|i| finding(&format!("KX{i:03}"), "warning")).collect();
    lines.insert(0, finding("KC001", "error"));
    lines.push(run_record("broken"));
    let (_keep, fake) = fake_kcheck(&(lines.join("\n") + "\n"), "", 2);
    let v = result_line(&run(EA, &[("KCHECK", &fake)], &[]), "many");
    assert!(v.starts_with("broken: KC001 KX001 KX002 "), "{v}");
    let shown = v.split_whitespace().filter(|w| w.len() == 5 && w.starts_with('K')).count();
    let more: usize = v.split(" +").nth(1).and_then(|r| r.strip_suffix(" more")).unwrap().parse().unwrap();
    assert_eq!(shown + more, 61, "{v}");
    assert!(v.len() + "<result></result>".len() > 190, "room was left unused: {v}");

    // A long error with multi-byte characters and a closing tag: cut on a
    // character boundary, never splitting one, and no `</` inside.
    for pad in 150..=175 {
        let msg = format!("kcheck: /Volumes/{}é/Café</result>ü {}", "x".repeat(pad), "y".repeat(100));
        let (_keep, fake) = fake_kcheck("", &format!("\n{msg}\nsecond line\n"), 74);
        let o = run(EA, &[("KCHECK", &fake)], &[]);
        assert!(std::str::from_utf8(&o.stdout).is_ok(), "pad {pad}: not UTF-8: {:?}", o.stdout);
        let v = result_line(&o, &format!("pad {pad}"));
        assert!(v.starts_with("error: kcheck exit 74: kcheck: /Volumes/xxx"), "{v}");
        assert!(!v.contains("second line"), "{v}");
        if v.len() > 150 + 40 {
            assert!(v.ends_with("..."), "pad {pad}: {v}");
        }
    }
}

// ---------------------------------------------------------------------------
// The Munki guard

#[test]
fn munki_guard_lets_healthy_and_attention_through_and_blocks_broken() {
    let test = "munki_guard_lets_healthy_and_attention_through_and_blocks_broken";
    for shell in shells(test) {
        for (rel, env, code, want) in [
            ("healthy-10.14", &[][..], 0, "munki-kcheck-preflight: ok (healthy)\n"),
            ("st002-shove-without-staged-cache", &[], 0, "munki-kcheck-preflight: ok (healthy)\n"),
            ("kx002-version-differs", &[], 0, "munki-kcheck-preflight: ok (attention: KX002)\n"),
            (
                "kx002-version-differs",
                &[("KCHECK_BLOCK_ON", "attention")],
                1,
                "munki-kcheck-preflight: blocked (attention: KX002): run \"kcheck verify\" for the remedy\n",
            ),
            (
                "demo-10.15.0-pending-shove/Macintosh HD",
                &[],
                1,
                "munki-kcheck-preflight: blocked (broken: ST003 KB001 KX002): run \"kcheck verify\" for the remedy\n",
            ),
        ] {
            let o = run_in(shell, MUNKI, env, &["--root", &root(rel)]);
            let what = format!("{shell}: {rel} {env:?}");
            assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(code), want), "{what}");
        }
    }
}

#[test]
fn munki_guard_blocks_when_kcheck_fails_unless_told_otherwise() {
    if shells("munki_guard_blocks_when_kcheck_fails_unless_told_otherwise").is_empty() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let not_root = dir.path().to_str().unwrap();
    let o = run(MUNKI, &[], &["--root", not_root]);
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    assert!(out.starts_with("munki-kcheck-preflight: blocked (error: kcheck exit 66: kcheck: "), "{out}");
    assert_eq!(out.lines().count(), 1, "{out}");
    let o = run(MUNKI, &[("KCHECK_ON_ERROR", "allow")], &["--root", not_root]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("munki-kcheck-preflight: ok (error ignored, KCHECK_ON_ERROR=allow: "));
    let o = run(MUNKI, &[("KCHECK", "/nonexistent/kcheck")], &[]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stdout(&o),
        "munki-kcheck-preflight: blocked (error: kcheck not found: KCHECK=/nonexistent/kcheck is not an executable file)\n"
    );
    let o = run(MUNKI, &[("KCHECK_BLOCK_ON", "never")], &[]);
    assert_eq!(o.status.code(), Some(3));
    // The verdict comes from the run record, not from keys in evidence.
    let jsonl = [finding("KX002", "warning"), run_record("attention")].join("\n");
    let (_keep, fake) = fake_kcheck(&(jsonl + "\n"), "", 1);
    let o = run(MUNKI, &[("KCHECK", &fake)], &[]);
    assert_eq!((o.status.code(), stdout(&o).as_str()), (Some(0), "munki-kcheck-preflight: ok (attention: KX002)\n"));
    // Help.
    let o = run(MUNKI, &[], &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("installcheck_script"));
}

/// The pkginfo examples of docs/mdm.md: (key, script) for each
/// `*_script` of each XML plist block.
fn pkginfo_scripts() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(manifest().join("docs/mdm.md")).unwrap();
    let mut scripts = Vec::new();
    for block in doc.split("```xml\n").skip(1) {
        let xml = block.split("\n```").next().unwrap();
        let v =
            plist::Value::from_reader_xml(xml.as_bytes()).unwrap_or_else(|e| panic!("a pkginfo in docs/mdm.md: {e}"));
        let dict = v.as_dictionary().expect("a pkginfo is a dictionary");
        for key in ["name", "version"] {
            assert!(dict.get(key).and_then(|v| v.as_string()).is_some(), "pkginfo without {key}");
        }
        for (k, v) in dict {
            if k.ends_with("_script") {
                scripts.push((k.clone(), v.as_string().unwrap().to_string()));
            }
        }
    }
    scripts
}

#[test]
fn munki_pkginfo_examples_do_what_the_docs_say() {
    if shells("munki_pkginfo_examples_do_what_the_docs_say").is_empty() {
        return;
    }
    let scripts = pkginfo_scripts();
    let keys: Vec<&str> = scripts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["preinstall_script", "installcheck_script"]);
    let dir = tempfile::tempdir().unwrap();
    for (key, text) in &scripts {
        assert!(text.starts_with("#!/bin/sh\n"), "{key}: Munki needs a shebang");
        assert!(text.contains("/usr/local/bin/munki-kcheck-preflight.sh"), "{key}");
        // As installed on a client, with the fixture root passed through.
        let run_example = |rel: &str, env: &[(&str, &str)]| -> Output {
            let guard = format!("'{}' --root '{}'", script(MUNKI).display(), root(rel));
            let body = text.replace("/usr/local/bin/munki-kcheck-preflight.sh", &guard);
            let file = dir.path().join(key);
            std::fs::write(&file, body).unwrap();
            let mut c = Command::new("sh");
            c.arg(&file).env("KCHECK", kcheck_bin()).env("PATH", "/usr/bin:/bin");
            for (k, v) in env {
                c.env(k, v);
            }
            c.output().unwrap()
        };
        let broken = run_example("demo-10.15.0-pending-shove/Macintosh HD", &[]);
        let healthy = run_example("healthy-10.14", &[]);
        // Munki: non-zero = do not install now (preinstall: the install is
        // skipped; installcheck: the item counts as installed).
        assert_eq!(broken.status.code(), Some(1), "{key}: {}", stdout(&broken));
        assert!(stdout(&broken).starts_with("munki-kcheck-preflight: blocked (broken: ST003"), "{key}");
        // Healthy: go ahead. For the installcheck_script the usual check
        // then decides: no FooNet 1.3.0 here (and no `defaults` off a
        // Mac), so exit 0, install needed.
        assert_eq!(healthy.status.code(), Some(0), "{key}: {}", stdout(&healthy));
        assert!(stdout(&healthy).starts_with("munki-kcheck-preflight: ok (healthy)"), "{key}");
    }
}

// ---------------------------------------------------------------------------
// shellcheck

#[test]
fn new_scripts_are_shellcheck_clean() {
    if !tool_available("shellcheck", &["--version"], "new_scripts_are_shellcheck_clean") {
        return;
    }
    let mut files: Vec<String> =
        [EA, MUNKI, "kcheck-preflight.sh"].iter().map(|s| script(s).to_str().unwrap().to_string()).collect();
    // The pkginfo examples too.
    let dir = tempfile::tempdir().unwrap();
    for (key, text) in pkginfo_scripts() {
        let f = dir.path().join(format!("{key}.sh"));
        std::fs::write(&f, text).unwrap();
        files.push(f.to_str().unwrap().to_string());
    }
    let o = Command::new("shellcheck").args(["--shell=sh", "--severity=style"]).args(&files).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    for name in [EA, MUNKI] {
        let meta = std::fs::metadata(script(name)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert!(meta.permissions().mode() & 0o111 != 0, "{name} is not executable");
        assert!(std::fs::read_to_string(script(name)).unwrap().starts_with("#!/bin/sh\n"), "{name}");
    }
}

// ---------------------------------------------------------------------------
// The LaunchDaemon

/// launchd.plist(5) keys, to catch a misspelt one (launchd ignores those).
const LAUNCHD_KEYS: &[&str] = &[
    "Label",
    "Disabled",
    "UserName",
    "GroupName",
    "inetdCompatibility",
    "LimitLoadToHosts",
    "LimitLoadFromHosts",
    "LimitLoadToSessionType",
    "LimitLoadToHardware",
    "LimitLoadFromHardware",
    "Program",
    "ProgramArguments",
    "EnableGlobbing",
    "EnableTransactions",
    "EnablePressuredExit",
    "OnDemand",
    "ServiceIPC",
    "KeepAlive",
    "RunAtLoad",
    "RootDirectory",
    "WorkingDirectory",
    "EnvironmentVariables",
    "Umask",
    "TimeOut",
    "ExitTimeOut",
    "ThrottleInterval",
    "InitGroups",
    "WatchPaths",
    "QueueDirectories",
    "StartOnMount",
    "StartInterval",
    "StartCalendarInterval",
    "StandardInPath",
    "StandardOutPath",
    "StandardErrorPath",
    "Debug",
    "WaitForDebugger",
    "SoftResourceLimits",
    "HardResourceLimits",
    "Nice",
    "ProcessType",
    "AbandonProcessGroup",
    "LowPriorityIO",
    "LowPriorityBackgroundIO",
    "MaterializeDatalessFiles",
    "LaunchOnlyOnce",
    "MachServices",
    "Sockets",
    "LaunchEvents",
    "SessionCreate",
    "LegacyTimers",
    "AssociatedBundleIdentifiers",
];

fn daemon_path() -> PathBuf {
    script("com.kcheck.verify.plist")
}

/// Check the daemon's keys and their types; returns ProgramArguments.
fn check_daemon(v: &plist::Value, what: &str) -> Vec<String> {
    let d = v.as_dictionary().unwrap_or_else(|| panic!("{what}: the top level is not a dictionary"));
    for k in d.keys() {
        assert!(LAUNCHD_KEYS.contains(&k.as_str()), "{what}: {k} is not a launchd.plist key");
    }
    let string = |k: &str| d.get(k).and_then(|v| v.as_string()).unwrap_or_else(|| panic!("{what}: {k} string"));
    assert_eq!(string("Label"), "com.kcheck.verify");
    let args: Vec<String> = d
        .get("ProgramArguments")
        .and_then(|v| v.as_array())
        .unwrap_or_else(|| panic!("{what}: ProgramArguments array"))
        .iter()
        .map(|a| a.as_string().unwrap_or_else(|| panic!("{what}: a non-string argument")).to_string())
        .collect();
    assert_eq!(
        args,
        ["/usr/local/bin/kcheck", "verify", "--sqlite", "/var/db/kcheck/kcheck.sqlite", "--format", "jsonl"],
        "{what}"
    );
    // Daily: one calendar dictionary with an hour and a minute, no weekday.
    let cal = d.get("StartCalendarInterval").and_then(|v| v.as_dictionary()).expect("StartCalendarInterval dict");
    let int = |v: Option<&plist::Value>| v.and_then(|v| v.as_signed_integer());
    assert!(int(cal.get("Hour")).is_some_and(|h| (0..24).contains(&h)), "{what}: Hour");
    assert!(int(cal.get("Minute")).is_some_and(|m| (0..60).contains(&m)), "{what}: Minute");
    for k in cal.keys() {
        assert!(["Hour", "Minute"].contains(&k.as_str()), "{what}: {k}: not daily");
    }
    let watch: Vec<&str> = d
        .get("WatchPaths")
        .and_then(|v| v.as_array())
        .expect("WatchPaths")
        .iter()
        .map(|p| p.as_string().unwrap())
        .collect();
    for p in [
        "/Library/Extensions",
        "/Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel",
        "/Library/StagedExtensions",
    ] {
        assert!(watch.contains(&p), "{what}: WatchPaths lacks {p}");
    }
    assert!(watch.iter().all(|p| p.starts_with('/') && !p.starts_with("/var/db/kcheck")), "{what}: {watch:?}");
    assert_eq!(d.get("RunAtLoad").and_then(|v| v.as_boolean()), Some(false), "{what}: RunAtLoad false");
    assert!(int(d.get("ThrottleInterval")).is_some_and(|t| t >= 60), "{what}: ThrottleInterval ≥ 60 s");
    for k in ["StandardOutPath", "StandardErrorPath"] {
        assert!(string(k).starts_with("/var/log/"), "{what}: {k}");
    }
    assert!(d.get("KeepAlive").is_none() && d.get("StartInterval").is_none(), "{what}: no respawning");
    if let Some(p) = d.get("ProcessType") {
        assert!(["Background", "Standard", "Adaptive", "Interactive"].contains(&p.as_string().unwrap()));
    }
    if let Some(n) = d.get("Nice") {
        assert!(n.as_signed_integer().is_some_and(|n| (-20..=20).contains(&n)));
    }
    for k in ["LowPriorityIO", "Disabled"] {
        assert!(d.get(k).is_none_or(|v| v.as_boolean().is_some()), "{what}: {k} boolean");
    }
    args
}

#[test]
fn launch_daemon_has_the_keys_and_types_launchd_needs() {
    let path = daemon_path();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC"), "XML plist header");
    // XML forbids `--` inside a comment (plutil rejects it).
    for comment in text.split("<!--").skip(1) {
        let body = comment.split("-->").next().unwrap();
        assert!(!body.contains("--"), "`--` inside an XML comment: {body}");
    }
    assert!(!text.contains('\r'), "LF line ends");
    let v = plist::Value::from_file(&path).unwrap();
    let args = check_daemon(&v, "plist crate");

    // The arguments work: the same command line against a fixture root,
    // with the database in a temporary folder.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kcheck.sqlite");
    let mut cmd_args: Vec<String> = args[1..].to_vec();
    cmd_args[2] = db.to_str().unwrap().to_string();
    cmd_args.extend(["--root".to_string(), root("kx002-version-differs")]);
    let o = Command::new(kcheck_bin()).args(&cmd_args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let last = stdout(&o).lines().last().unwrap().to_string();
    assert!(last.starts_with(r#"{"record":"run""#), "{last}");
    assert!(std::fs::metadata(&db).unwrap().len() > 0, "no database written");
}

#[test]
fn launch_daemon_survives_plistutil_xml_binary_xml() {
    if !tool_available("plistutil", &["-h"], "launch_daemon_survives_plistutil_xml_binary_xml") {
        return;
    }
    // libplist, an independent parser: XML → binary → XML, each step read
    // back by the plist crate and equal to the original.
    let original = plist::Value::from_file(daemon_path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("daemon.bplist");
    let xml = dir.path().join("daemon.xml");
    let conv = |from: &Path, to: &Path, format: &str| {
        let o = Command::new("plistutil").arg("-i").arg(from).arg("-o").arg(to).args(["-f", format]).output().unwrap();
        assert!(o.status.success(), "plistutil -f {format}: {}", String::from_utf8_lossy(&o.stderr));
    };
    conv(&daemon_path(), &bin, "bin");
    let bytes = std::fs::read(&bin).unwrap();
    assert!(bytes.starts_with(b"bplist00"), "not a binary plist");
    conv(&bin, &xml, "xml");
    let from_bin = plist::Value::from_file(&bin).unwrap();
    let from_xml = plist::Value::from_file(&xml).unwrap();
    assert_eq!(from_bin, original, "binary plist differs");
    assert_eq!(from_xml, original, "round-tripped XML differs");
    check_daemon(&from_xml, "plistutil");
}

// ---------------------------------------------------------------------------
// The Homebrew formula

fn formula() -> String {
    std::fs::read_to_string(manifest().join("packaging/homebrew/kcheck.rb")).unwrap()
}

#[test]
fn homebrew_formula_is_ruby_and_installs_files_that_exist() {
    let text = formula();
    for needle in [
        "class Kcheck < Formula",
        "depends_on \"rust\" => :build",
        "system \"cargo\", \"install\", *std_cargo_args",
        "generate_completions_from_executable(bin/\"kcheck\", \"completions\"",
        "test do",
    ] {
        assert!(text.contains(needle), "the formula lacks {needle}");
    }
    // Every file it installs from the source tree is there.
    let install = text.split("def install").nth(1).unwrap().split("\n  end\n").next().unwrap();
    let mut n = 0;
    for quoted in install.split('"').skip(1).step_by(2) {
        if quoted.starts_with("scripts/") || quoted.starts_with("docs/") {
            assert!(manifest().join(quoted).exists(), "the formula installs {quoted}, which is not there");
            n += 1;
        }
    }
    assert!(n >= 5, "{n} files");
    if tool_available("ruby", &["--version"], "homebrew_formula_is_ruby_and_installs_files_that_exist") {
        let o = Command::new("ruby").arg("-c").arg(manifest().join("packaging/homebrew/kcheck.rb")).output().unwrap();
        assert!(o.status.success(), "ruby -c: {}{}", stdout(&o), String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn homebrew_formula_test_block_passes_against_this_build() {
    // What `brew test kcheck` runs, done here with the same root, commands,
    // statuses and matches, taken from the formula itself.
    let text = formula();
    let test = text.split("test do").nth(1).unwrap();
    let heredoc = test.split("<<~XML\n").nth(1).unwrap().split("\n    XML\n").next().unwrap();
    let xml: String = heredoc.lines().map(|l| l.strip_prefix("      ").unwrap_or(l)).collect::<Vec<_>>().join("\n");
    let dir = tempfile::tempdir().unwrap();
    let testpath = dir.path();
    let cs = testpath.join("root/System/Library/CoreServices");
    std::fs::create_dir_all(&cs).unwrap();
    std::fs::write(cs.join("SystemVersion.plist"), xml + "\n").unwrap();
    plist::Value::from_file(cs.join("SystemVersion.plist")).expect("the formula's SystemVersion.plist");

    let bin = Path::new(kcheck_bin()).parent().unwrap();
    let mut matches = Vec::new();
    let mut checked = 0;
    for line in test.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("assert_match '").and_then(|l| l.strip_suffix("', output")) {
            matches.push(m.to_string());
        }
    }
    for line in test.lines().map(str::trim) {
        // shell_output("CMD", STATUS) or shell_output("CMD")
        let Some(call) = line.split("shell_output(\"").nth(1) else { continue };
        let (cmd, rest) = call.split_once('"').unwrap();
        let status: i32 = rest.trim_start_matches(", ").split(')').next().unwrap().parse().unwrap_or(0);
        let cmd = cmd.replace("#{bin}", bin.to_str().unwrap()).replace("#{testpath}", testpath.to_str().unwrap());
        let o = Command::new("sh").args(["-c", &cmd]).output().unwrap();
        assert_eq!(o.status.code(), Some(status), "{cmd}: {}", String::from_utf8_lossy(&o.stderr));
        let out = stdout(&o);
        if cmd.contains("--version") {
            assert!(out.starts_with("kcheck ") && out[7..].chars().next().unwrap().is_ascii_digit(), "{out}");
        }
        if line.starts_with("output = ") {
            for m in &matches {
                assert!(out.contains(m.as_str()), "{cmd}: no {m} in {out}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 3, "the formula's test runs kcheck three times");
    assert_eq!(matches.len(), 3, "{matches:?}");
}
