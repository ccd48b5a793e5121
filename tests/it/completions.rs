//! Completion scripts that really load: `kcheck completions bash|zsh|fish`
//! sourced in a real bash, zsh and fish, with a subcommand completed (or,
//! in zsh, which cannot complete outside the line editor without zpty, the
//! completion function defined and registered by `compinit` and by
//! `compdef`); and the man page rendered by groff and man.
//!
//! A shell or tool that is not installed skips its test with a message,
//! except under CI (`CI=true`), where it fails: `.ci/install-extras.sh`
//! installs them all.

use std::path::Path;
use std::process::{Command, Output};

/// Whether `tool` runs here (`tool ARGS` exits 0). When it does not, the
/// calling test is skipped with a message, or fails under CI.
pub(crate) fn tool_available(tool: &str, args: &[&str], test: &str) -> bool {
    let ok = Command::new(tool).args(args).output().is_ok_and(|o| o.status.success());
    if !ok {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "{test}: `{tool}` is not installed, and CI=true (run .ci/install-extras.sh)");
        eprintln!("skipping {test}: `{tool}` is not installed");
    }
    ok
}

fn completion_script(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kcheck")).args(["completions", shell]).output().unwrap();
    assert!(out.status.success(), "kcheck completions {shell}");
    String::from_utf8(out.stdout).unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn bash_completes_a_subcommand_and_an_option() {
    if !tool_available("bash", &["-c", "exit 0"], "bash_completes_a_subcommand_and_an_option") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "kcheck.bash", &completion_script("bash"));
    // The completion function gets (command, word, previous word) and
    // COMP_WORDS / COMP_CWORD, as bash's programmable completion calls it.
    let probe = r#"
set -u
source "$1" || exit 10
spec=$(complete -p kcheck) || exit 11
printf 'spec: %s\n' "$spec"
fn=$(printf '%s\n' "$spec" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ -n "$fn" ] || exit 12
complete_line() {   # words..., the last one is completed
    COMP_WORDS=("$@")
    COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$fn" kcheck "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf 'reply %s:' "$*"
    printf ' %s' "${COMPREPLY[@]}"
    printf '\n'
}
complete_line kcheck ve
complete_line kcheck ""
complete_line kcheck verify --da
complete_line kcheck verify --sip ""
complete_line kcheck completions ""
"#;
    let out = Command::new("bash").args(["--norc", "--noprofile", "-c", probe, "probe", &script]).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("spec: complete ") && t.contains(" kcheck\n"), "{t}");
    let reply = |line: &str| -> Vec<String> {
        let prefix = format!("reply {line}:");
        let l = t.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no reply for {line}: {t}"));
        l[prefix.len()..].split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(reply("kcheck ve"), ["verify"], "{t}");
    let all = reply("kcheck ");
    for sub in ["verify", "info", "kexts", "diff", "zones", "panic", "loaded", "man", "completions"] {
        assert!(all.iter().any(|w| w == sub), "{sub} not offered: {all:?}");
    }
    assert_eq!(reply("kcheck verify --da"), ["--data-root"], "{t}");
    assert_eq!(reply("kcheck verify --sip "), ["enabled", "disabled", "unknown"], "{t}");
    let shells = reply("kcheck completions ");
    for sh in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|w| w == sh), "{sh} not offered: {shells:?}");
    }
}

#[test]
fn zsh_loads_the_completion_with_compinit_and_compdef() {
    if !tool_available("zsh", &["-f", "-c", "exit 0"], "zsh_loads_the_completion_with_compinit_and_compdef") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let zdotdir = dir.path().join("zdotdir");
    let fpath_dir = dir.path().join("site-functions");
    std::fs::create_dir_all(&zdotdir).unwrap();
    std::fs::create_dir_all(&fpath_dir).unwrap();
    let script = completion_script("zsh");
    assert!(script.starts_with("#compdef kcheck"), "{}", &script[..script.len().min(80)]);
    write(&fpath_dir, "_kcheck", &script);
    let sourced = write(dir.path(), "kcheck.zsh", &script);

    // As Homebrew installs it: a `_kcheck` file in a directory of $fpath,
    // found by compinit through its #compdef line, then loaded.
    let by_fpath = r#"
fpath=("$1" $fpath)
autoload -Uz compinit && compinit -u -D -d "$ZDOTDIR/.zcompdump" || exit 10
print -r -- "registered: ${_comps[kcheck]-none}"
autoload +X _kcheck || exit 11
print -r -- "defined: ${+functions[_kcheck]}"
print -r -- "${functions[_kcheck]}" | grep -q "_kcheck_commands" && print -r -- "body: commands"
print -r -- "${functions[_kcheck]}" | grep -Eq "'verify:|verify:" && print -r -- "body: verify"
"#;
    let out = Command::new("zsh")
        .args(["-f", "-c", by_fpath, "probe"])
        .arg(&fpath_dir)
        .env("ZDOTDIR", &zdotdir)
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("registered: _kcheck\n"), "compinit did not register _kcheck: {t}");
    assert!(t.contains("defined: 1\n"), "{t}");
    assert!(t.contains("body: commands\n") && t.contains("body: verify\n"), "{t}");

    // As `source <(kcheck completions zsh)` in a .zshrc: compdef registers
    // it and the functions are defined.
    let by_source = r#"
autoload -Uz compinit && compinit -u -D -d "$ZDOTDIR/.zcompdump" || exit 10
source "$1" || exit 11
print -r -- "registered: ${_comps[kcheck]-none}"
print -r -- "defined: ${+functions[_kcheck]} ${+functions[_kcheck_commands]}"
"#;
    let out =
        Command::new("zsh").args(["-f", "-c", by_source, "probe", &sourced]).env("ZDOTDIR", &zdotdir).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("registered: _kcheck\n"), "compdef did not register _kcheck: {t}");
    assert!(t.contains("defined: 1 1\n"), "{t}");
    // Nothing on standard error: the script loads cleanly.
    assert!(out.stderr.is_empty(), "{t}");
}

#[test]
fn fish_completes_a_subcommand_and_an_option() {
    if !tool_available("fish", &["--no-config", "-c", "exit 0"], "fish_completes_a_subcommand_and_an_option") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "kcheck.fish", &completion_script("fish"));
    let probe = r#"
source $argv[1]; or exit 10
echo "== kcheck ve"
complete -C "kcheck ve"
echo "== kcheck verify --da"
complete -C "kcheck verify --da"
echo "== kcheck verify --sip "
complete -C "kcheck verify --sip "
"#;
    let out = Command::new("fish")
        .args(["--no-config", "-c", probe, &script])
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let section = |name: &str| -> Vec<String> {
        t.split(&format!("== {name}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name}: {t}"))
            .lines()
            .take_while(|l| !l.starts_with("== "))
            .map(|l| l.split('\t').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(section("kcheck ve"), ["verify"], "{t}");
    assert_eq!(section("kcheck verify --da"), ["--data-root"], "{t}");
    let sips = section("kcheck verify --sip ");
    for s in ["enabled", "disabled", "unknown"] {
        assert!(sips.iter().any(|w| w == s), "{s}: {t}");
    }
}

// ---------------------------------------------------------------------------
// The man page, rendered

#[test]
fn man_page_renders_with_groff_and_man() {
    // The rendering test in ecosystem.rs passes silently without groff;
    // this one says so, and fails under CI.
    let test = "man_page_renders_with_groff_and_man";
    if !tool_available("groff", &["-v"], test) || !tool_available("man", &["--version"], test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = Command::new(env!("CARGO_BIN_EXE_kcheck")).arg("man").output().unwrap();
    assert!(page.status.success());
    let file = dir.path().join("kcheck.1");
    std::fs::write(&file, &page.stdout).unwrap();

    let out = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&file).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "groff warns: {}", text(&out));

    // man(1) itself, as an admin would read the installed page.
    let out = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "80")
        .env("MAN_KEEP_FORMATTING", "0")
        .env("LANG", "C.UTF-8")
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "man -l: {}", text(&out));
    // Without the overstrike bold and underline of a terminal.
    let plain: String = {
        let mut s = String::new();
        for c in t.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    };
    for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "KCHECK VERIFY", "KCHECK COMPLETIONS", "EXIT STATUS", "EXAMPLES"]
    {
        assert!(plain.lines().any(|l| l.trim_start() == heading), "{heading} not rendered by man:\n{plain}");
    }
    assert!(plain.contains("kcheck verify"), "{plain}");
    // Nothing went through as a raw multi-byte sequence (groff without
    // preconv would show those as garbage): the page is ASCII roff.
    assert!(page.stdout.is_ascii(), "kcheck man prints non-ASCII bytes");
    assert!(plain.contains("arm64e, \u{2026})"), "the escaped ellipsis renders: {plain}");
}
