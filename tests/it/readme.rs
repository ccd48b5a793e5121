//! README.md, tried as a new user would: every example is run and its
//! output compared.
//!
//! **Transcripts.** A fenced block whose first line starts with `$ ` is a
//! transcript, and every transcript is run:
//!
//! - Each line starting with `$ ` is a command. It runs as `sh -c COMMAND`
//!   in the repository root, with the directory of the `kcheck` this test
//!   was built with first on `PATH` (so `kcheck`, and `KCHECK=kcheck`, mean
//!   this build), `NO_COLOR=1` and no `KCHECK` in the environment. Only
//!   bundled inputs (`testdata/`) are used, so the outputs are fixed.
//! - The lines up to the next command are its expected output: standard
//!   output, then standard error, compared line by line, byte for byte.
//! - **Excerpts:** a line that is exactly `…` stands for zero or more lines
//!   left out. The shown lines must then appear in order, each run of
//!   consecutive shown lines consecutively in the output; lines shown before
//!   the first `…` are the first lines of the output, lines shown after the
//!   last `…` its last lines. So "the first N lines" is N lines and a `…`.
//!   Without a `…` the whole output must match.
//! - `$ echo $?` expects, as its one output line, the exit status of the
//!   command before it. A command not followed by `$ echo $?` must exit 0,
//!   1 or 2 (a verdict), not with a usage error or a crash.
//! - A fenced block with a `$ ` line that is not its first line is refused,
//!   so that no example can go untested by mistake. Blocks without a
//!   prompt (`sudo kcheck verify --live`, `cargo install …`) are for a Mac
//!   or an installation and are not run.
//!
//! **Commands.** Every `` ### `kcheck COMMAND …` `` section (all nine
//! commands must have one) holds a transcript that runs `kcheck COMMAND`.
//!
//! **Set up.** The block under `## Set up` is exactly two lines: the Demo's
//! first command with `kcheck` spelled `cargo run -q --`, and the
//! `cargo test` command `.ci/run` runs. They are compared, not run from
//! here (cargo inside `cargo test` would wait for the build lock); the demo
//! command runs as the Demo's transcript, with the same binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The nine commands; each has a section and a transcript.
const COMMANDS: [&str; 9] = ["verify", "zones", "panic", "loaded", "info", "kexts", "diff", "man", "completions"];

/// The line standing for lines left out of an excerpt.
const GAP: &str = "…";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fenced block of the README.
#[derive(Debug)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The `##`/`###` heading the block is under.
    heading: String,
    /// The `##` heading the block is under.
    section: String,
    lines: Vec<String>,
}

fn blocks(readme: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let (mut heading, mut section) = (String::new(), String::new());
    let mut open: Option<Block> = None;
    for (i, l) in readme.lines().enumerate() {
        if l.starts_with("```") {
            match open.take() {
                Some(b) => out.push(b),
                None => {
                    open =
                        Some(Block { line: i + 1, heading: heading.clone(), section: section.clone(), lines: vec![] })
                }
            }
        } else if let Some(b) = open.as_mut() {
            b.lines.push(l.to_string());
        } else if l.starts_with("## ") {
            section = l.to_string();
            heading = l.to_string();
        } else if l.starts_with("### ") {
            heading = l.to_string();
        }
    }
    assert!(open.is_none(), "README.md: a fenced block is never closed");
    out
}

/// One `$ ` command of a transcript and the output shown after it.
#[derive(Debug)]
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
}

fn steps(b: &Block) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for (i, l) in b.lines.iter().enumerate() {
        if let Some(c) = l.strip_prefix("$ ") {
            out.push(Step { line: b.line + 1 + i, command: c.to_string(), expected: vec![] });
        } else {
            out.last_mut().expect("a transcript starts with `$ `").expected.push(l.clone());
        }
    }
    out
}

fn transcripts(all: &[Block]) -> Vec<&Block> {
    all.iter().filter(|b| b.lines.first().is_some_and(|l| l.starts_with("$ "))).collect()
}

/// Whether `actual` shows as `expected`, with `…` lines as gaps (see the
/// module doc).
fn matches(expected: &[String], actual: &[&str]) -> bool {
    if !expected.iter().any(|l| l == GAP) {
        return expected.len() == actual.len() && expected.iter().zip(actual).all(|(e, a)| e == a);
    }
    let segs: Vec<&[String]> = expected.split(|l| l == GAP).collect();
    let eq = |seg: &[String], at: &[&str]| seg.len() == at.len() && seg.iter().zip(at).all(|(e, a)| e == a);
    let (first, last) = (segs[0], segs[segs.len() - 1]);
    if first.len() + last.len() > actual.len()
        || !eq(first, &actual[..first.len()])
        || !eq(last, &actual[actual.len() - last.len()..])
    {
        return false;
    }
    let (mut pos, end) = (first.len(), actual.len() - last.len());
    for seg in &segs[1..segs.len() - 1] {
        match (pos..=end.saturating_sub(seg.len()))
            .find(|&i| i + seg.len() <= end && eq(seg, &actual[i..i + seg.len()]))
        {
            Some(i) => pos = i + seg.len(),
            None => return false,
        }
    }
    true
}

/// Run `command` as the README's reader would, with this build as `kcheck`.
fn run(command: &str) -> (Option<i32>, String) {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_kcheck"));
    let dir = bin.parent().unwrap().to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&path))).unwrap();
    let o = Command::new("sh")
        .args(["-c", command])
        .current_dir(repo())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("KCHECK")
        .output()
        .expect("run sh");
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    (o.status.code(), text)
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// Check every transcript of `readme`; returns one message per failure.
fn check_transcripts(readme: &str) -> Vec<String> {
    let all = blocks(readme);
    let mut failures = Vec::new();
    for b in &all {
        if let Some(i) = b.lines.iter().skip(1).position(|l| l.starts_with("$ "))
            && !b.lines[0].starts_with("$ ")
        {
            failures.push(format!(
                "README.md:{}: a `$ ` line in a block that does not start with one: start the block \
                 with the command, or drop the prompt",
                b.line + 2 + i
            ));
        }
    }
    for b in transcripts(&all) {
        let steps = steps(b);
        let mut prev: Option<(usize, &str, Option<i32>)> = None;
        for (n, s) in steps.iter().enumerate() {
            if s.command == "echo $?" {
                let Some((line, cmd, status)) = prev.take() else {
                    failures.push(format!("README.md:{}: `echo $?` with no command before it", s.line));
                    continue;
                };
                let got = status.map_or("(killed by a signal)".to_string(), |c| c.to_string());
                if s.expected != [got.clone()] {
                    failures.push(format!(
                        "README.md:{line}: `{cmd}` exited {got}; the README says {:?}",
                        s.expected.join("\n")
                    ));
                }
                continue;
            }
            let (status, text) = run(&s.command);
            let next_is_status = steps.get(n + 1).is_some_and(|t| t.command == "echo $?");
            if !next_is_status && !matches!(status, Some(0..=2)) {
                failures.push(format!(
                    "README.md:{}: `{}` exited {status:?} (not 0, 1 or 2, and no `$ echo $?` follows):\n{text}",
                    s.line, s.command
                ));
            }
            let actual: Vec<&str> = text.strip_suffix('\n').map_or(vec![], |t| t.split('\n').collect());
            if !text.is_empty() && !text.ends_with('\n') {
                failures.push(format!("README.md:{}: `{}`: output does not end with a newline", s.line, s.command));
            } else if !matches(&s.expected, &actual) {
                let first_diff = s.expected.iter().zip(&actual).position(|(e, a)| e != a).map_or(String::new(), |i| {
                    format!(
                        "\nfirst difference at output line {}:\n  README: {:?}\n  actual: {:?}",
                        i + 1,
                        s.expected[i],
                        actual[i]
                    )
                });
                failures.push(format!(
                    "README.md:{}: `{}`: the output differs from the README{first_diff}\n--- README\n{}\n--- actual\n{}",
                    s.line,
                    s.command,
                    s.expected.join("\n"),
                    text
                ));
            }
            prev = Some((s.line, &s.command, status));
        }
    }
    failures
}

#[test]
fn every_readme_example_runs_and_matches() {
    let failures = check_transcripts(&readme());
    assert!(failures.is_empty(), "{} README example(s) fail:\n\n{}", failures.len(), failures.join("\n\n"));
}

#[test]
fn every_command_section_has_an_example_that_runs() {
    let readme = readme();
    let all = blocks(&readme);
    let mut sections = Vec::new();
    for l in readme.lines() {
        if let Some(rest) = l.strip_prefix("### `kcheck ") {
            let name = rest.split([' ', '`']).next().unwrap().to_string();
            sections.push((l.to_string(), name));
        }
    }
    let names: Vec<&str> = sections.iter().map(|(_, n)| n.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    let mut want = COMMANDS.to_vec();
    want.sort_unstable();
    assert_eq!(sorted, want, "one `### `kcheck COMMAND`` section per command");
    for (heading, name) in &sections {
        let ran = transcripts(&all)
            .into_iter()
            .filter(|b| &b.heading == heading)
            .flat_map(steps)
            .any(|s| s.command.starts_with(&format!("kcheck {name} ")) || s.command == format!("kcheck {name}"));
        assert!(ran, "{heading}: no `$ kcheck {name} …` example");
    }
}

#[test]
fn set_up_is_the_demo_and_the_ci_test_command() {
    let readme = readme();
    let all = blocks(&readme);
    let setup = all.iter().find(|b| b.section == "## Set up").expect("a block under ## Set up");
    let demo = transcripts(&all).into_iter().find(|b| b.section == "## Demo").expect("a transcript under ## Demo");
    let demo_cmd = &steps(demo)[0].command;
    let args = demo_cmd.strip_prefix("kcheck ").expect("the demo runs kcheck");
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let tests: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("echo"))
        .filter_map(|l| l.find("cargo test").map(|i| &l[i..]))
        .collect();
    assert_eq!(tests.len(), 1, ".ci/run should run cargo test once: {tests:?}");
    let lines: Vec<&str> = setup.lines.iter().map(String::as_str).filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines, [format!("cargo run -q -- {args}").as_str(), tests[0]]);
}

#[test]
fn excerpts_match_only_what_they_show() {
    let v = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    let out = ["a", "b", "c", "d", "e"];
    assert!(matches(&v(&["a", "b", "c", "d", "e"]), &out));
    assert!(!matches(&v(&["a", "b", "c", "d"]), &out), "without … the whole output");
    assert!(!matches(&v(&["a", "b", "c", "d", "E"]), &out), "one character");
    assert!(matches(&v(&["a", "b", GAP]), &out));
    assert!(!matches(&v(&["b", GAP]), &out), "lines before … are the first lines");
    assert!(matches(&v(&[GAP, "d", "e"]), &out));
    assert!(!matches(&v(&[GAP, "d"]), &out), "lines after … are the last lines");
    assert!(matches(&v(&["a", GAP, "c", GAP, "e"]), &out));
    assert!(matches(&v(&["a", GAP, "b", "c", GAP]), &out));
    assert!(!matches(&v(&["a", GAP, "c", "e", GAP]), &out), "consecutive lines stay consecutive");
    assert!(!matches(&v(&[GAP, "d", "c", GAP]), &out), "in order");
    assert!(!matches(&v(&["a", "b", "c", GAP, "c", "d", "e"]), &out), "lines are not used twice");
    assert!(matches(&v(&[GAP]), &[]));
    assert!(matches(&v(&[]), &[]));
}

#[test]
fn a_changed_output_line_fails() {
    // The Demo block with one character of its output changed: the check
    // must report that block, and nothing else.
    let readme = readme();
    let line = "BROKEN: the next boot will not run the kexts you think are installed.";
    let demo = readme.find("## Demo").unwrap();
    let at = demo + readme[demo..].find(line).expect("the demo verdict line; update this test");
    let changed = format!("{}BR0KEN{}", &readme[..at], &readme[at + "BROKEN".len()..]);
    let failures = check_transcripts(&changed);
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(failures[0].contains("BR0KEN") && failures[0].contains("kcheck verify --root"), "{}", failures[0]);
}
