//! `verify --sqlite`: the report in a SQLite database, read back with the
//! `sqlite3` command-line tool (an independent reader), host rows replaced
//! atomically.

use crate::common::copy_tree;
use std::path::{Path, PathBuf};

use kcheck::app::verify::verify;
use kcheck::facts::VerifyOptions;
use kcheck::system::Sip;

fn root(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots").join(name)
}

fn report(name: &str) -> kcheck::check::VerifyReport {
    let r = root(name);
    let r = if r.join("Macintosh HD").exists() { r.join("Macintosh HD") } else { r };
    verify(&VerifyOptions { root: r, data_root: None, sip: Sip::Unknown, preboot: None }).unwrap()
}

fn sqlite3(db: &Path, sql: &str) -> Option<String> {
    let out = std::process::Command::new("sqlite3").arg(db).arg(sql).output().ok()?;
    assert!(out.status.success(), "sqlite3 failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

fn query(db: &Path, sql: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    let n = st.column_count();
    st.query_map([], |row| {
        Ok((0..n)
            .map(|i| match row.get_ref(i).unwrap() {
                rusqlite::types::ValueRef::Null => "NULL".to_string(),
                rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                other => format!("{other:?}"),
            })
            .collect())
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

#[test]
fn report_tables_are_readable_by_sqlite3() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kcheck.sqlite");
    kcheck::report::sqlite::write_sqlite(&db, "mac-1", &report("demo-10.15.0-pending-shove"), 1_600_000_000).unwrap();
    let Some(out) = sqlite3(&db, "SELECT code, severity FROM kcheck_findings WHERE host = 'mac-1' ORDER BY seq;")
    else {
        assert!(std::env::var_os("CI").is_none(), "CI must have the sqlite3 CLI (.ci/run installs it)");
        eprintln!(
            "SKIPPED the sqlite3 CLI check: sqlite3 not installed (apt-get install sqlite3); read back with rusqlite only"
        );
        let rows = query(&db, "SELECT code FROM kcheck_findings ORDER BY seq");
        assert_eq!(rows.len(), 4);
        return;
    };
    assert_eq!(out, "ST003|error\nKB001|warning\nKX002|warning\nST002|info\n");
    let sys =
        sqlite3(&db, "SELECT host, build, era, verdict, errors, warnings, infos, run_at FROM kcheck_system;").unwrap();
    assert_eq!(sys, "mac-1|19A583|prelinked-staged|broken|1|2|1|1600000000\n");
    let caches = sqlite3(&db, "SELECT role, status, layers, kext_count FROM kcheck_caches ORDER BY role;").unwrap();
    assert_eq!(
        caches,
        "boot|ok|fat[x86_64] > comp/lzvn > mach-o/execute|11\nstaged|ok|fat[x86_64] > comp/lzvn > mach-o/execute|11\n"
    );
    let evidence =
        sqlite3(&db, "SELECT json_extract(evidence, '$.disk_version') FROM kcheck_findings WHERE code='KX002';")
            .unwrap();
    assert_eq!(evidence, "1.3.0\n");
    let version = sqlite3(&db, "PRAGMA user_version;").unwrap();
    assert_eq!(version, "1\n");
}

#[test]
fn repeated_runs_replace_a_hosts_rows_and_keep_others() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fleet.sqlite");
    kcheck::report::sqlite::write_sqlite(&db, "mac-1", &report("demo-10.15.0-pending-shove"), 1).unwrap();
    kcheck::report::sqlite::write_sqlite(&db, "mac-2", &report("kx002-version-differs"), 2).unwrap();
    kcheck::report::sqlite::write_sqlite(&db, "mac-1", &report("healthy-10.15"), 3).unwrap();
    let sys = query(&db, "SELECT host, verdict, run_at FROM kcheck_system ORDER BY host");
    assert_eq!(sys, [["mac-1", "healthy", "3"], ["mac-2", "attention", "2"]]);
    let findings = query(&db, "SELECT host, code FROM kcheck_findings ORDER BY host, seq");
    assert_eq!(findings, [["mac-2", "KX002"]]);
}

#[test]
fn a_database_path_that_is_a_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"precious").unwrap();
    let db = dir.path().join("fleet.sqlite");
    std::os::unix::fs::symlink(&target, &db).unwrap();
    let err = kcheck::report::sqlite::write_sqlite(&db, "h", &report("healthy-10.15"), 1).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    // A planted journal link is refused too.
    let db2 = dir.path().join("other.sqlite");
    std::os::unix::fs::symlink(&target, dir.path().join("other.sqlite-journal")).unwrap();
    let err = kcheck::report::sqlite::write_sqlite(&db2, "h", &report("healthy-10.15"), 1).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[test]
fn never_writes_inside_the_volume_it_checks() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&root("healthy-10.14"), dir.path());
    let r =
        verify(&VerifyOptions { root: dir.path().to_path_buf(), data_root: None, sip: Sip::Unknown, preboot: None })
            .unwrap();
    let err = kcheck::report::sqlite::write_sqlite(&dir.path().join("Library/kcheck.sqlite"), "h", &r, 1).unwrap_err();
    assert!(err.to_string().contains("never writes to what it inspects"), "{err}");
    assert!(!dir.path().join("Library/kcheck.sqlite").exists());
}

#[test]
fn verify_sqlite_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.sqlite");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_kcheck"))
        .args(["verify", "--quiet", "--host", "ci-mac", "--sqlite"])
        .arg(&db)
        .arg("--root")
        .arg(root("kx002-version-differs"))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    assert_eq!(query(&db, "SELECT host, verdict FROM kcheck_system"), [["ci-mac", "attention"]]);
    assert_eq!(query(&db, "SELECT code FROM kcheck_findings"), [["KX002"]]);
    // Inside the inspected root: refused, nothing written there.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&root("healthy-10.14"), copy.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kcheck"))
        .args(["verify", "--root"])
        .arg(copy.path())
        .arg("--sqlite")
        .arg(copy.path().join("k.sqlite"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never writes to what it inspects"));
    assert!(!copy.path().join("k.sqlite").exists());
}
