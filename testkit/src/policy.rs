//! Test support: real files shaped like the ones macOS writes, for the
//! readers in [`kcheck::system::kextpolicy`] and [`kcheck::system::auxkc`]. Meant for a dev-only
//! crate; nothing here is used at run time.
//!
//! The database schema is the 10.14 `.schema` dump cited in
//! [`kcheck::system::kextpolicy`] (Ask Different, question 382216). The plist shape is
//! the dictionary keyed by bundle id that [`kcheck::system::auxkc`] documents
//! (PIKACHUIM/vGPU-macOS `tools/guest-patch-kcinstructions.py`;
//! dortania/OpenCore-Legacy-Patcher `support.py`). Both are third-party
//! observations, not Apple documentation.

use std::path::Path;

use plist::{Dictionary, Value};
use rusqlite::{Connection, params};

use kcheck::system::auxkc::AuxKcEntry;

/// The four `CREATE TABLE` statements of the KextPolicy database, byte for
/// byte as `.schema` prints them on 10.14 (see [`kcheck::system::kextpolicy`]).
pub const KEXTPOLICY_SCHEMA: &str = "\
CREATE TABLE kext_policy ( team_id TEXT, bundle_id TEXT, allowed BOOLEAN, developer_name TEXT, flags INTEGER, PRIMARY KEY (team_id, bundle_id) );
CREATE TABLE kext_load_history_v3 ( path TEXT PRIMARY KEY, team_id TEXT, bundle_id TEXT, boot_uuid TEXT, created_at TEXT, last_seen TEXT, flags INTEGER , cdhash TEXT);
CREATE TABLE kext_policy_mdm ( team_id TEXT, bundle_id TEXT, allowed BOOLEAN, payload_uuid TEXT, PRIMARY KEY (team_id, bundle_id) );
CREATE TABLE settings ( name TEXT, value TEXT, PRIMARY KEY (name) );
";

/// Create a KextPolicy database at `path` (which must not exist yet) with
/// the full schema and these rows, as a single file (`journal_mode=DELETE`,
/// so nothing but `path` is left behind).
///
/// - `user`: `(team_id, bundle_id, allowed)` rows of `kext_policy`. The
///   `developer_name` is `"<team_id> Developer"` and `flags` is 1.
/// - `mdm`: `(team_id, bundle_id, allowed)` rows of `kext_policy_mdm`. A
///   `None` bundle id is stored as NULL. The `payload_uuid` is a fixed
///   `"00000000-0000-0000-0000-000000000000"`.
/// - `history`: `(path, team_id, bundle_id)` rows of `kext_load_history_v3`,
///   with fixed `created_at`/`last_seen` text and `flags` 0. `boot_uuid` and
///   `cdhash` are NULL.
pub fn write_kextpolicy(
    path: &Path,
    user: &[(&str, &str, i64)],
    mdm: &[(&str, Option<&str>, i64)],
    history: &[(&str, &str, &str)],
) -> rusqlite::Result<()> {
    let mut conn = open_new(path)?;
    let tx = conn.transaction()?;
    tx.execute_batch(KEXTPOLICY_SCHEMA)?;
    for (team, bundle, allowed) in user {
        tx.execute(
            "INSERT INTO kext_policy (team_id, bundle_id, allowed, developer_name, flags) VALUES (?1, ?2, ?3, ?4, 1)",
            params![team, bundle, allowed, format!("{team} Developer")],
        )?;
    }
    for (team, bundle, allowed) in mdm {
        tx.execute(
            "INSERT INTO kext_policy_mdm (team_id, bundle_id, allowed, payload_uuid) VALUES (?1, ?2, ?3, ?4)",
            params![team, bundle, allowed, "00000000-0000-0000-0000-000000000000"],
        )?;
    }
    for (kext_path, team, bundle) in history {
        tx.execute(
            "INSERT INTO kext_load_history_v3 (path, team_id, bundle_id, boot_uuid, created_at, last_seen, flags, cdhash) \
             VALUES (?1, ?2, ?3, NULL, '2024-01-01 00:00:00', '2024-01-02 00:00:00', 0, NULL)",
            params![kext_path, team, bundle],
        )?;
    }
    tx.commit()?;
    conn.close().map_err(|(_, e)| e)
}

/// Create a database at `path` (which must not exist yet) by running `sql`,
/// for schemas that [`write_kextpolicy`] does not make (missing tables or
/// columns, odd value types). Leaves a single file (`journal_mode=DELETE`).
pub fn write_sqlite(path: &Path, sql: &str) -> rusqlite::Result<()> {
    let conn = open_new(path)?;
    conn.execute_batch(sql)?;
    conn.close().map_err(|(_, e)| e)
}

fn open_new(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // The journal mode must be set before anything is written.
    let mode: String = conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    Ok(conn)
}

/// An XML `com.apple.kcgen.instructions.plist` listing `entries` under
/// `kextsToBuild`, in the dictionary form keyed by bundle id that
/// [`kcheck::system::auxkc`] documents. If any entry has no bundle id, the array form
/// of [`auxkc_instructions_plist_array`] is written instead. A `None`
/// `team_id` is written as `""`, as for ad-hoc signed kexts. A `None`
/// `cd_hash` omits the key. With a duplicate bundle id, the later entry wins.
pub fn auxkc_instructions_plist(entries: &[AuxKcEntry]) -> Vec<u8> {
    if entries.iter().any(|e| e.bundle_id.is_none()) {
        return auxkc_instructions_plist_array(entries);
    }
    let mut kexts = Dictionary::new();
    for e in entries {
        kexts.insert(e.bundle_id.clone().unwrap_or_default(), entry_value(e));
    }
    wrap(Value::Dictionary(kexts))
}

/// Like [`auxkc_instructions_plist`], but `kextsToBuild` is an array (the
/// shape OpenCore-Legacy-Patcher's docstring suggests). Bundle ids are not
/// written: no source names a key for them.
pub fn auxkc_instructions_plist_array(entries: &[AuxKcEntry]) -> Vec<u8> {
    wrap(Value::Array(entries.iter().map(entry_value).collect()))
}

fn entry_value(e: &AuxKcEntry) -> Value {
    let mut d = Dictionary::new();
    d.insert("bundlePathMainOS".into(), Value::String(e.bundle_path.clone()));
    if let Some(h) = &e.cd_hash {
        d.insert("cdHash".into(), Value::String(h.clone()));
    }
    d.insert("teamID".into(), Value::String(e.team_id.clone().unwrap_or_default()));
    Value::Dictionary(d)
}

fn wrap(kexts: Value) -> Vec<u8> {
    let mut root = Dictionary::new();
    root.insert("kextsToBuild".into(), kexts);
    let mut out = Vec::new();
    // Writing a Value into a Vec cannot fail: there is no I/O error and
    // every value here is a string, dictionary or array.
    if let Err(e) = Value::Dictionary(root).to_writer_xml(&mut out) {
        unreachable!("writing an XML plist to memory failed: {e}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kextpolicy_is_one_file_with_the_exact_schema() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("KextPolicy");
        write_kextpolicy(&db, &[("T", "com.t.a", 1)], &[("T", None, 1)], &[("/L/E/a.kext", "T", "com.t.a")]).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("KextPolicy")]);

        let conn = Connection::open(&db).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "delete");
        let mut stmt = conn.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' ORDER BY rowid").unwrap();
        let sql: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        let want: Vec<String> = KEXTPOLICY_SCHEMA.lines().map(|l| l.trim_end_matches(';').to_string()).collect();
        assert_eq!(sql, want);
        let bundle: Option<String> = conn.query_row("SELECT bundle_id FROM kext_policy_mdm", [], |r| r.get(0)).unwrap();
        assert_eq!(bundle, None);
    }

    #[test]
    fn kextpolicy_refuses_an_existing_database() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("KextPolicy");
        write_kextpolicy(&db, &[], &[], &[]).unwrap();
        assert!(write_kextpolicy(&db, &[], &[], &[]).is_err());
    }

    #[test]
    fn auxkc_plist_is_xml_keyed_by_bundle_id() {
        let e = AuxKcEntry {
            bundle_path: "/Library/Extensions/A.kext".into(),
            team_id: None,
            cd_hash: Some("ab".repeat(20)),
            bundle_id: Some("com.a".into()),
        };
        let bytes = auxkc_instructions_plist(std::slice::from_ref(&e));
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("<?xml"), "{text}");
        let v = Value::from_reader_xml(&bytes[..]).unwrap();
        let entry =
            v.as_dictionary().unwrap()["kextsToBuild"].as_dictionary().unwrap()["com.a"].as_dictionary().unwrap();
        assert_eq!(entry["teamID"].as_string(), Some(""));
        assert_eq!(entry["bundlePathMainOS"].as_string(), Some("/Library/Extensions/A.kext"));
    }

    #[test]
    fn auxkc_plist_falls_back_to_array_without_bundle_ids() {
        let e = AuxKcEntry { bundle_path: "/L/E/B.kext".into(), ..Default::default() };
        let v = Value::from_reader_xml(&auxkc_instructions_plist(&[e])[..]).unwrap();
        assert!(v.as_dictionary().unwrap()["kextsToBuild"].as_array().is_some());
    }
}
