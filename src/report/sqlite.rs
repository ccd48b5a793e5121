//! Fleet output: `verify --sqlite FILE` writes the report into a SQLite
//! database that osquery's automatic table construction (ATC) can expose
//! as tables (`docs/fleet.md` has the schema and the osquery snippet).
//!
//! SQLite is the engine (through `rusqlite`, with SQLite itself bundled so
//! nothing is needed on the Mac); nothing here is a home-made format. A
//! host's rows are replaced in one transaction: a run that is interrupted
//! (killed, power loss) leaves the previous rows as they were, because
//! SQLite's journal rolls an unfinished transaction back.
//!
//! kcheck never writes to the system it inspects: the database may not lie
//! inside `--root` or `--data-root` when those are a mounted volume (any
//! root other than `/`).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::check::VerifyReport;
use crate::error::Error;
use crate::facts::CacheState;

/// The schema version, stored in `PRAGMA user_version`.
pub const SCHEMA_VERSION: i64 = 1;

/// The tables (`CREATE TABLE IF NOT EXISTS`, so older databases keep
/// working; columns are only ever added).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kcheck_system (
    host TEXT PRIMARY KEY,
    run_at INTEGER NOT NULL,
    kcheck_version TEXT NOT NULL,
    root TEXT NOT NULL,
    data_root TEXT NOT NULL,
    product_name TEXT,
    product_version TEXT,
    build TEXT,
    era TEXT,
    sip TEXT,
    verdict TEXT NOT NULL,
    errors INTEGER NOT NULL,
    warnings INTEGER NOT NULL,
    infos INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS kcheck_caches (
    host TEXT NOT NULL,
    role TEXT NOT NULL,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    sha256 TEXT,
    layers TEXT,
    kernel_version TEXT,
    kernel_uuid TEXT,
    kc_id TEXT,
    boot_kc_id TEXT,
    kext_count INTEGER,
    error TEXT,
    PRIMARY KEY (host, role)
);
CREATE TABLE IF NOT EXISTS kcheck_findings (
    host TEXT NOT NULL,
    seq INTEGER NOT NULL,
    code TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    remedy TEXT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (host, seq)
);
";

/// This machine's host name (what `--host` defaults to).
pub fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

fn sql_err(path: &Path, e: rusqlite::Error) -> Error {
    Error::Io { path: path.to_path_buf(), source: std::io::Error::other(format!("sqlite: {e}")) }
}

/// Refuse a database path inside an inspected volume (other than `/`).
fn check_outside(db: &Path, report: &VerifyReport) -> Result<(), Error> {
    let parent = db.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let db_dir = std::fs::canonicalize(parent).map_err(|e| Error::io(parent, e))?;
    for root in [&report.facts.system.root, &report.facts.system.data_root] {
        if root == Path::new("/") {
            continue;
        }
        if let Ok(r) = std::fs::canonicalize(root)
            && db_dir.starts_with(&r)
        {
            return Err(Error::Unsupported(format!(
                "refusing to write {} inside the volume being checked ({}): kcheck never writes to what it inspects",
                db.display(),
                root.display()
            )));
        }
    }
    Ok(())
}

/// Refuse a database (or its journal) that is a symbolic link: as root in
/// a world-writable folder, a planted link would otherwise let kcheck
/// create or clobber a file anywhere.
fn check_no_links(db: &Path) -> Result<(), Error> {
    let name = db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let p = db.with_file_name(format!("{name}{suffix}"));
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::Unsupported(format!(
                "refusing to write {}: it is a symbolic link (kcheck does not follow links when it writes)",
                p.display()
            )));
        }
    }
    Ok(())
}

/// Write `report` for `host` into the database at `db` (created if
/// needed), replacing that host's previous rows atomically.
pub fn write_sqlite(db: &Path, host: &str, report: &VerifyReport, run_at: i64) -> Result<(), Error> {
    write_sqlite_inner(db, host, report, run_at, None)
}

/// As [`write_sqlite`]; `fail_after` makes the write fail after that many
/// finding rows (tests use it to show an interrupted run changes nothing).
pub(crate) fn write_sqlite_inner(
    db: &Path,
    host: &str,
    report: &VerifyReport,
    run_at: i64,
    fail_after: Option<usize>,
) -> Result<(), Error> {
    check_outside(db, report)?;
    check_no_links(db)?;
    let e = |err| sql_err(db, err);
    // SQLITE_OPEN_NOFOLLOW: SQLite itself refuses a database path that is a
    // symbolic link, closing the gap between the check above and the open.
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
        | rusqlite::OpenFlags::SQLITE_OPEN_NOFOLLOW
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(db, flags).map_err(e)?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(e)?;
    conn.execute_batch(SCHEMA).map_err(e)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(e)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(e)?;
    for table in ["kcheck_system", "kcheck_caches", "kcheck_findings"] {
        tx.execute(&format!("DELETE FROM {table} WHERE host = ?1"), params![host]).map_err(e)?;
    }
    let f = &report.facts;
    let s = &f.system;
    let count = |sev| report.findings.iter().filter(|x| x.severity == sev).count() as i64;
    tx.execute(
        "INSERT INTO kcheck_system (host, run_at, kcheck_version, root, data_root, product_name, product_version, \
         build, era, sip, verdict, errors, warnings, infos) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        params![
            host,
            run_at,
            env!("CARGO_PKG_VERSION"),
            s.root.display().to_string(),
            s.data_root.display().to_string(),
            s.product_name,
            s.product_version,
            s.build,
            s.era.as_str(),
            f.sip.as_str(),
            report.verdict.as_str(),
            count(crate::check::finding::Severity::Error),
            count(crate::check::finding::Severity::Warning),
            count(crate::check::finding::Severity::Info),
        ],
    )
    .map_err(e)?;
    for slot in &f.caches {
        let (status, info, error) = match &slot.state {
            CacheState::Ok(c) => ("ok", Some(c), None),
            CacheState::Missing => ("missing", None, None),
            CacheState::Broken(why) => ("unreadable", None, Some(why.clone())),
            CacheState::Unlocated(why) => ("not-located", None, Some(why.clone())),
        };
        tx.execute(
            "INSERT INTO kcheck_caches (host, role, path, status, sha256, layers, kernel_version, kernel_uuid, kc_id, \
             boot_kc_id, kext_count, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                host,
                slot.role.as_str(),
                slot.mac_path.as_str(),
                status,
                info.and_then(|c| c.sha256.clone()),
                info.map(|c| c.layers.join(" > ")),
                info.and_then(|c| c.kernel.version.clone()),
                info.and_then(|c| c.kernel.uuid.clone()),
                info.and_then(|c| c.kc_id.clone()),
                info.and_then(|c| c.boot_kc_id.clone()),
                info.map(|c| c.kexts.len() as i64),
                error,
            ],
        )
        .map_err(e)?;
    }
    for (seq, x) in report.findings.iter().enumerate() {
        if fail_after == Some(seq) {
            return Err(Error::Unsupported("simulated interruption".into()));
        }
        tx.execute(
            "INSERT INTO kcheck_findings (host, seq, code, severity, subject, message, remedy, evidence) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                host,
                seq as i64,
                x.code.as_str(),
                x.severity.as_str(),
                x.subject,
                x.message,
                x.remedy,
                serde_json::Value::Object(x.evidence.clone()).to_string(),
            ],
        )
        .map_err(e)?;
    }
    tx.commit().map_err(e)?;
    Ok(())
}

/// Seconds since 1970, for `run_at`.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The default database path in the docs (for reference only).
pub fn default_path() -> PathBuf {
    PathBuf::from("/var/db/kcheck/kcheck.sqlite")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_time_and_default_path() {
        let uname = std::process::Command::new("uname").arg("-n").output().unwrap();
        assert_eq!(hostname(), String::from_utf8_lossy(&uname.stdout).trim());
        let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!((now() - sys).abs() <= 5, "{} vs {sys}", now());
        assert_eq!(default_path(), Path::new("/var/db/kcheck/kcheck.sqlite"));
    }

    fn report(name: &str) -> VerifyReport {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots").join(name);
        let opts =
            crate::facts::VerifyOptions { root, data_root: None, sip: crate::system::Sip::Unknown, preboot: None };
        crate::app::verify::verify(&opts).unwrap()
    }

    fn rows(db: &Path) -> Vec<(String, String)> {
        let conn = Connection::open(db).unwrap();
        let mut st = conn
            .prepare("SELECT host, code FROM kcheck_findings UNION ALL SELECT host, verdict FROM kcheck_system")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn an_interrupted_write_leaves_the_previous_rows() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("fleet.sqlite");
        write_sqlite(&db, "mac-1", &report("kx002-version-differs"), 1).unwrap();
        let before = rows(&db);
        let err = write_sqlite_inner(&db, "mac-1", &report("demo-10.15.0-pending-shove/Macintosh HD"), 2, Some(1))
            .unwrap_err();
        assert!(err.to_string().contains("simulated"));
        assert_eq!(before, rows(&db));
    }
}
