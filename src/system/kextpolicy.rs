//! The user-approval database `/var/db/SystemPolicyConfiguration/KextPolicy`,
//! read strictly read-only, and the approval rules built on it.
//!
//! # Opening without writing
//!
//! The file is opened as the URI `file://<absolute path>?mode=ro&immutable=1`
//! with `SQLITE_OPEN_READ_ONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NO_MUTEX`.
//! `immutable=1` tells SQLite the file sits on read-only media: it takes no
//! lock, never looks for or creates a `-journal`, `-wal` or `-shm` file and
//! never checkpoints or rolls anything back, so nothing on disk changes, even
//! on a read-only volume or while syspolicyd holds the database open. The
//! connection is also set `PRAGMA query_only` and `trusted_schema=OFF`.
//!
//! The price of `immutable=1` is that SQLite reads the main file only:
//! changes committed to a `-wal` file and not yet checkpointed are not seen,
//! and neither is a hot `-journal` rolled back. [`open`] therefore lists every
//! non-empty `-wal` or `-journal` sibling in [`KextPolicy::ignored`], so the
//! caller can say the data may be slightly stale. On macOS 11+ the live
//! database appears to run in WAL mode: OpenCore-Legacy-Patcher deletes
//! `KextPolicy`, `KextPolicy-shm` and `KextPolicy-wal` after killing syspolicyd
//! (dortania/OpenCore-Legacy-Patcher,
//! `opencore_legacy_patcher/sys_patch/kernelcache/kernel_collection/auxiliary.py`,
//! `_force_auxiliary_usage`), so a non-empty `-wal` is expected there.
//!
//! # Which paths are opened
//!
//! Only a regular file is opened. The path is checked with
//! [`std::fs::symlink_metadata`], so a symbolic link is refused rather than
//! followed: the caller resolves links (for example inside a mounted volume,
//! where an absolute link target must be re-rooted) and passes the final
//! path. After opening the file for the header check, its `fstat` identity
//! (device, inode) must equal that of the `lstat`; SQLite then opens the path
//! once more, so a file swapped in that short window is not detected. The
//! database lives in a root-owned, SIP-protected folder, which makes that race
//! moot in practice.
//!
//! # Schema (from public dumps; syspolicyd is closed source)
//!
//! ```sql
//! CREATE TABLE kext_policy ( team_id TEXT, bundle_id TEXT, allowed BOOLEAN, developer_name TEXT, flags INTEGER, PRIMARY KEY (team_id, bundle_id) );
//! CREATE TABLE kext_load_history_v3 ( path TEXT PRIMARY KEY, team_id TEXT, bundle_id TEXT, boot_uuid TEXT, created_at TEXT, last_seen TEXT, flags INTEGER , cdhash TEXT);
//! CREATE TABLE kext_policy_mdm ( team_id TEXT, bundle_id TEXT, allowed BOOLEAN, payload_uuid TEXT, PRIMARY KEY (team_id, bundle_id) );
//! CREATE TABLE settings ( name TEXT, value TEXT, PRIMARY KEY (name) );
//! ```
//!
//! Sources:
//! - The four statements above are the `.schema` output on 10.14 quoted in
//!   the Ask Different answer to "Revoke permission to run third-party kernel
//!   extension" (apple.stackexchange.com/questions/382216), which also quotes
//!   TN2459: approved kexts are "tracked in a system-wide policy database
//!   through the team identifier in the KEXT's code signature and the bundle
//!   identifier from the KEXT's Info.plist". An earlier answer
//!   (apple.stackexchange.com/questions/324268) shows the same `kext_policy`
//!   statement and rows such as `4C6364ACXT|com.parallels.kext.hypervisor|1|…|1`.
//! - VM-provisioning scripts of the 10.13 era create `kext_load_history_v3`
//!   with seven columns, without `cdhash` (the leading space in
//!   `flags INTEGER , cdhash TEXT` suggests a later `ALTER TABLE`). When the
//!   column appeared is not confirmed.
//! - A Jamf extension attribute in the code index (its repository is not
//!   named there) reports `select bundle_id, team_id from kext_policy where
//!   allowed = 0` as "Unapproved Kexts": a row the user saw but did not
//!   approve. TN2459 itself survives as an archived copy ("Technical Note
//!   TN2459: User-Approved Kernel Extension Loading", archive.orkl.eu).
//!
//! Tables and columns that are absent are not an error: [`KextPolicy::missing`]
//! and [`KextPolicy::missing_columns`] list them and the values read as `None`.
//!
//! # Approval rules ([`KextPolicy::approval`])
//!
//! 1. A `kext_policy` row with the same team and bundle id whose `allowed` is
//!    true: [`Approval::Allowed`]`(`[`Source::User`]`)`.
//! 2. A `kext_policy_mdm` row with the same team and bundle id, `allowed`
//!    true: [`Source::MdmKext`] (the profile key `AllowedKernelExtensions`).
//! 3. A `kext_policy_mdm` row with the same non-empty team whose `bundle_id`
//!    is NULL or empty, `allowed` true: the whole team is allowed,
//!    [`Source::MdmTeam`] (the profile key `AllowedTeamIdentifiers`).
//! 4. Otherwise, a matching `kext_policy` row whose `allowed` is false or
//!    NULL: [`Approval::Denied`] (the user was asked and did not approve).
//! 5. Otherwise [`Approval::Unknown`] (never asked, or asked and no row kept).
//!
//! The first rule that matches names the source. Identifiers compare exactly
//! (case-sensitive, as SQLite's default `=` does in the scripts that query the
//! table). An `allowed = 0` row in `kext_policy_mdm` allows nothing and denies
//! nothing. The profile's `AllowUserOverrides` (whether user approvals count
//! when an MDM policy is installed) is not in this database as far as any
//! source shows, so it is not applied here.
//!
//! Sources for the MDM rows:
//! - Apple's Device Management reference for `SystemPolicyKernelExtensions`
//!   (mirrored in Averyy/apple-dev-docs,
//!   `documentation/DeviceManagement/systempolicykernelextensions.md`):
//!   `AllowedTeamIdentifiers` is "the array of team identifiers that define
//!   which validly signed kernel extensions can load";
//!   `AllowedKernelExtensions` maps team identifiers to arrays of bundle
//!   identifiers, and its example uses an empty key. mosen/profiledocs
//!   (`source/payloads/mac/kernelextpolicy.rst`, rendered): "For unsigned
//!   legacy kernel extensions, use an empty key for the team identifier."
//! - Readers of `kext_policy_mdm`: LcTrKiD/munki_conditionals
//!   (`kext_conditions.py`) and carlashley/munkicon (`src/processors/kext.py`)
//!   run `SELECT team_id, bundle_id, allowed FROM kext_policy_mdm` and collect
//!   teams and bundle ids separately, guarding each with `if bundle_id:`;
//!   MLBZ521/MacAdmin (`Jamf Pro/Extension Attributes/jamf_ea_CrowdStrikeStatus.sh`)
//!   runs `select allowed from kext_policy_mdm where team_id=… and bundle_id=…`.
//!   That is how tools read the table: they do not show what syspolicyd writes
//!   for a team-only entry. Whether its `bundle_id` is NULL or `''` is
//!   unconfirmed, so both are accepted.
//!
//! Unsigned kexts: a kext without a team id (pass `None` or `Some("")`)
//! matches rows whose `team_id` is NULL or empty. On 10.13 legacy unsigned
//! kexts get an empty `team_id` and a `developer_name` of
//! `Legacy Developer: <name>`. A team-only MDM row never covers unsigned
//! kexts: `AllowedTeamIdentifiers` is about "validly signed" kexts.
//!
//! # Value types
//!
//! SQLite keeps whatever type was stored. This module reads values as follows:
//! - Booleans (`allowed`) are evaluated as SQLite does in a boolean context
//!   (`CASE WHEN allowed THEN 1 ELSE 0 END`). `1`, `2`, `0.5`, `'1'`,
//!   `'1abc'` and `x'31'` are true. `0`, `'0'`, `''`, `'yes'` and `'true'` are
//!   false. NULL reads as `None`, which allows nothing.
//! - Text columns are read as `CAST(x AS TEXT)`. So an integer `5` reads as
//!   `"5"`, and a blob's bytes are read as text. Bytes that are not UTF-8 are
//!   replaced with U+FFFD.
//! - Integer columns (`flags`) are `Some` only when the stored value is an
//!   integer.
//!
//! # Bounds
//!
//! Each bound applies to the whole read. Crossing one is an error, not a
//! truncation, because a truncated identifier could match the wrong row.
//! - The file may be at most [`Limits::max_file_bytes`] (64 MiB by default).
//! - Each table may have at most [`Limits::max_rows`] rows (100,000 by
//!   default).
//! - Each text value may be at most [`Limits::max_string_bytes`] (4 KiB by
//!   default). SQLite cuts the value to at most that many characters plus one
//!   before it is copied out.
//!
//! Every failure is a one-line [`PolicyError`] that names the path.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// Where macOS keeps the database (10.13 and later).
pub const DEFAULT_PATH: &str = "/var/db/SystemPolicyConfiguration/KextPolicy";

/// The tables this module reads, in the order they are reported missing.
pub const TABLES: [&str; 4] = ["kext_policy", "kext_policy_mdm", "kext_load_history_v3", "settings"];

/// The 16 bytes every SQLite 3 database file begins with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Size bounds applied while reading (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows read from one table; one more is an error.
    pub max_rows: usize,
    /// Longest text value in bytes (after UTF-8 conversion); longer is an error.
    pub max_string_bytes: usize,
    /// Largest database file in bytes; larger is an error before SQLite opens it.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_rows: 100_000, max_string_bytes: 4096, max_file_bytes: 64 * 1024 * 1024 }
    }
}

/// A failure to read the database: the path and what went wrong, one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {kind}", one_line(&path.display().to_string()))]
pub struct PolicyError {
    /// The path given to [`open`].
    pub path: PathBuf,
    /// What went wrong.
    pub kind: PolicyErrorKind,
}

/// What went wrong while reading the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyErrorKind {
    /// There is nothing at the path.
    Missing,
    /// The path is not a regular file; the text says what it is instead
    /// (`symbolic link`, `directory`, `fifo`, …).
    NotRegularFile(String),
    /// The file could not be opened or read (for example permission denied).
    Io(String),
    /// The file is larger than [`Limits::max_file_bytes`].
    TooLarge {
        /// The file's size in bytes.
        size: u64,
        /// The bound in bytes.
        limit: u64,
    },
    /// The file is empty (0 bytes). SQLite would read this as a database with
    /// no tables; syspolicyd never leaves one, so it is reported instead.
    Empty,
    /// The file is not an SQLite 3 database.
    NotADatabase,
    /// SQLite found the database malformed; the text says where.
    Corrupt(String),
    /// A table has more rows than [`Limits::max_rows`].
    TooManyRows {
        /// The table.
        table: &'static str,
        /// The bound.
        limit: usize,
    },
    /// A text value is longer than [`Limits::max_string_bytes`].
    ValueTooLong {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// The bound in bytes.
        limit: usize,
    },
    /// Any other SQLite failure; the text says where and what.
    Sqlite(String),
}

impl fmt::Display for PolicyErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyErrorKind::Missing => write!(f, "no such file"),
            PolicyErrorKind::NotRegularFile(what) => write!(f, "not a regular file ({what})"),
            PolicyErrorKind::Io(msg) => write!(f, "cannot read: {}", one_line(msg)),
            PolicyErrorKind::TooLarge { size, limit } => {
                write!(f, "file too large ({size} bytes, limit {limit})")
            }
            PolicyErrorKind::Empty => write!(f, "empty file (0 bytes), not a database"),
            PolicyErrorKind::NotADatabase => write!(f, "not a database"),
            PolicyErrorKind::Corrupt(msg) => write!(f, "database is corrupt: {}", one_line(msg)),
            PolicyErrorKind::TooManyRows { table, limit } => {
                write!(f, "table {table}: too many rows (more than {limit})")
            }
            PolicyErrorKind::ValueTooLong { table, column, limit } => {
                write!(f, "table {table}: column {column}: value longer than {limit} bytes")
            }
            PolicyErrorKind::Sqlite(msg) => write!(f, "{}", one_line(msg)),
        }
    }
}

/// Replace line breaks and other control characters with spaces.
fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// One row of `kext_policy`: a user's answer for one kext.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyRow {
    /// Team identifier; empty or `None` for unsigned legacy kexts.
    pub team_id: Option<String>,
    /// Bundle identifier.
    pub bundle_id: Option<String>,
    /// `allowed` in a boolean context; `None` when NULL.
    pub allowed: Option<bool>,
    /// The developer name shown to the user.
    pub developer_name: Option<String>,
    /// `flags` (meaning unknown; 0, 1 and 8 have been seen).
    pub flags: Option<i64>,
}

/// One row of `kext_policy_mdm`: an entry from an MDM kernel-extension policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MdmRow {
    /// Team identifier; empty or `None` for unsigned legacy kexts.
    pub team_id: Option<String>,
    /// Bundle identifier; `None` or empty for a whole-team entry.
    pub bundle_id: Option<String>,
    /// `allowed` in a boolean context; `None` when NULL.
    pub allowed: Option<bool>,
    /// The profile payload's UUID.
    pub payload_uuid: Option<String>,
}

/// One row of `kext_load_history_v3`: a kext path the system saw.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryRow {
    /// Path the kext was loaded or staged from.
    pub path: Option<String>,
    /// Team identifier.
    pub team_id: Option<String>,
    /// Bundle identifier.
    pub bundle_id: Option<String>,
    /// Boot session UUID.
    pub boot_uuid: Option<String>,
    /// When first seen (text as stored).
    pub created_at: Option<String>,
    /// When last seen (text as stored).
    pub last_seen: Option<String>,
    /// `flags` (meaning unknown).
    pub flags: Option<i64>,
    /// Code-directory hash; `None` where the column does not exist (10.13).
    pub cdhash: Option<String>,
}

/// One row of `settings`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingRow {
    /// Setting name.
    pub name: Option<String>,
    /// Setting value.
    pub value: Option<String>,
}

/// A sibling file that SQLite would normally consult but that was not read
/// (see the module docs on `immutable=1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredFile {
    /// The sibling's path (`<db>-wal` or `<db>-journal`).
    pub path: PathBuf,
    /// Its size in bytes (always more than 0).
    pub len: u64,
}

/// Everything read from the database.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KextPolicy {
    /// `kext_policy`: user approvals.
    pub user: Vec<PolicyRow>,
    /// `kext_policy_mdm`: MDM approvals.
    pub mdm: Vec<MdmRow>,
    /// `kext_load_history_v3`: kexts the system saw.
    pub history: Vec<HistoryRow>,
    /// `settings`.
    pub settings: Vec<SettingRow>,
    /// Tables of [`TABLES`] that the database lacks.
    pub missing: Vec<String>,
    /// Columns the database lacks in tables it has, as `table.column`.
    pub missing_columns: Vec<String>,
    /// Non-empty `-wal` / `-journal` siblings whose contents were not read.
    pub ignored: Vec<IgnoredFile>,
}

/// Where an approval came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The user approved it (`kext_policy`).
    User,
    /// An MDM policy lists this team and bundle id (`AllowedKernelExtensions`).
    MdmKext,
    /// An MDM policy allows the whole team (`AllowedTeamIdentifiers`).
    MdmTeam,
}

/// The database's verdict on one kext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Approval {
    /// Approved, by the given source.
    Allowed(Source),
    /// The user was asked and did not approve (a `kext_policy` row whose
    /// `allowed` is false or NULL), and no MDM row allows it.
    Denied,
    /// No row speaks for this kext.
    Unknown,
}

impl Approval {
    /// True for [`Approval::Allowed`].
    pub fn is_allowed(self) -> bool {
        matches!(self, Approval::Allowed(_))
    }
}

/// A team id with "unsigned" (NULL or empty) folded to `""`.
fn team_key(team: Option<&str>) -> &str {
    team.unwrap_or("")
}

impl KextPolicy {
    /// The verdict for a kext with this team id (`None` or `""` when unsigned)
    /// and bundle id; the rules are in the module docs.
    pub fn approval(&self, team_id: Option<&str>, bundle_id: &str) -> Approval {
        let team = team_key(team_id);
        let same_team = |row_team: &Option<String>| team_key(row_team.as_deref()) == team;
        let same_bundle = |row_bundle: &Option<String>| row_bundle.as_deref() == Some(bundle_id);

        let user_rows = || self.user.iter().filter(|r| same_team(&r.team_id) && same_bundle(&r.bundle_id));
        if user_rows().any(|r| r.allowed == Some(true)) {
            return Approval::Allowed(Source::User);
        }
        let mdm_allowed = || self.mdm.iter().filter(|r| r.allowed == Some(true) && same_team(&r.team_id));
        if mdm_allowed().any(|r| same_bundle(&r.bundle_id)) {
            return Approval::Allowed(Source::MdmKext);
        }
        if !team.is_empty() && mdm_allowed().any(|r| r.bundle_id.as_deref().unwrap_or("").is_empty()) {
            return Approval::Allowed(Source::MdmTeam);
        }
        if user_rows().next().is_some() {
            return Approval::Denied;
        }
        Approval::Unknown
    }
}

/// Read the database at `path` with the default [`Limits`].
pub fn open(path: &Path) -> Result<KextPolicy, PolicyError> {
    open_with(path, &Limits::default())
}

/// Read the database at `path` with the given bounds.
pub fn open_with(path: &Path, limits: &Limits) -> Result<KextPolicy, PolicyError> {
    let err = |kind: PolicyErrorKind| PolicyError { path: path.to_path_buf(), kind };
    check_file(path, limits).map_err(err)?;
    let ignored = ignored_siblings(path);

    let uri = sqlite_uri(path).map_err(|e| err(PolicyErrorKind::Io(e.to_string())))?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&uri, flags).map_err(|e| err(sql_kind("open", e)))?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA trusted_schema = OFF;").map_err(|e| err(sql_kind("open", e)))?;

    let mut policy = read_all(&conn, limits).map_err(err)?;
    policy.ignored = ignored;
    Ok(policy)
}

/// Refuse anything but a non-empty, bounded, regular file that starts like
/// an SQLite database.
fn check_file(path: &Path, limits: &Limits) -> Result<(), PolicyErrorKind> {
    let io_kind = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PolicyErrorKind::Missing
        } else {
            PolicyErrorKind::Io(e.to_string())
        }
    };
    let meta = std::fs::symlink_metadata(path).map_err(io_kind)?;
    if !meta.file_type().is_file() {
        return Err(PolicyErrorKind::NotRegularFile(describe_type(&meta.file_type()).into()));
    }
    if meta.len() > limits.max_file_bytes {
        return Err(PolicyErrorKind::TooLarge { size: meta.len(), limit: limits.max_file_bytes });
    }
    let mut file = File::open(path).map_err(io_kind)?;
    let opened = file.metadata().map_err(io_kind)?;
    if !opened.file_type().is_file() || !same_inode(&meta, &opened) {
        return Err(PolicyErrorKind::Io("the file changed while it was being opened".into()));
    }
    if opened.len() == 0 {
        return Err(PolicyErrorKind::Empty);
    }
    let mut head = [0u8; 100];
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_kind(e)),
        }
    }
    if got < head.len() || &head[..16] != SQLITE_MAGIC {
        return Err(PolicyErrorKind::NotADatabase);
    }
    Ok(())
}

#[cfg(unix)]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_inode(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len()
}

fn describe_type(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "fifo";
        }
        if t.is_socket() {
            return "socket";
        }
        if t.is_block_device() {
            return "block device";
        }
        if t.is_char_device() {
            return "character device";
        }
    }
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else {
        "special file"
    }
}

/// Non-empty `-wal` and `-journal` siblings (regular files only).
fn ignored_siblings(path: &Path) -> Vec<IgnoredFile> {
    let mut out = Vec::new();
    for suffix in ["-wal", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let sibling = PathBuf::from(name);
        if let Ok(meta) = std::fs::symlink_metadata(&sibling)
            && meta.file_type().is_file()
            && meta.len() > 0
        {
            out.push(IgnoredFile { path: sibling, len: meta.len() });
        }
    }
    out
}

/// `file://<absolute path, percent-encoded>?mode=ro&immutable=1`.
fn sqlite_uri(path: &Path) -> std::io::Result<String> {
    let abs = std::path::absolute(path)?;
    let mut uri = String::from("file://");
    for &b in path_bytes(&abs).iter() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Ok(uri)
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    p.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> Vec<u8> {
    p.to_string_lossy().replace('\\', "/").into_bytes()
}

/// Map a rusqlite error, met while doing `context`, to an error kind.
fn sql_kind(context: &str, e: rusqlite::Error) -> PolicyErrorKind {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let msg = msg.clone().unwrap_or_else(|| f.to_string());
            match f.code {
                ErrorCode::NotADatabase => PolicyErrorKind::NotADatabase,
                ErrorCode::DatabaseCorrupt => PolicyErrorKind::Corrupt(format!("{context}: {msg}")),
                ErrorCode::CannotOpen => PolicyErrorKind::Io(format!("{context}: sqlite cannot open the file")),
                _ => PolicyErrorKind::Sqlite(format!("{context}: sqlite: {msg}")),
            }
        }
        _ => PolicyErrorKind::Sqlite(format!("{context}: sqlite: {e}")),
    }
}

/// How a column is read.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Bool,
    Int,
}

/// One value as read.
enum Cell {
    Text(Option<String>),
    Bool(Option<bool>),
    Int(Option<i64>),
}

impl Cell {
    fn text(&mut self) -> Option<String> {
        match self {
            Cell::Text(t) => t.take(),
            _ => None,
        }
    }
    fn boolean(&self) -> Option<bool> {
        match self {
            Cell::Bool(b) => *b,
            _ => None,
        }
    }
    fn int(&self) -> Option<i64> {
        match self {
            Cell::Int(i) => *i,
            _ => None,
        }
    }
}

const POLICY_COLS: &[(&str, Kind)] = &[
    ("team_id", Kind::Text),
    ("bundle_id", Kind::Text),
    ("allowed", Kind::Bool),
    ("developer_name", Kind::Text),
    ("flags", Kind::Int),
];
const MDM_COLS: &[(&str, Kind)] =
    &[("team_id", Kind::Text), ("bundle_id", Kind::Text), ("allowed", Kind::Bool), ("payload_uuid", Kind::Text)];
const HISTORY_COLS: &[(&str, Kind)] = &[
    ("path", Kind::Text),
    ("team_id", Kind::Text),
    ("bundle_id", Kind::Text),
    ("boot_uuid", Kind::Text),
    ("created_at", Kind::Text),
    ("last_seen", Kind::Text),
    ("flags", Kind::Int),
    ("cdhash", Kind::Text),
];
const SETTINGS_COLS: &[(&str, Kind)] = &[("name", Kind::Text), ("value", Kind::Text)];

fn read_all(conn: &Connection, limits: &Limits) -> Result<KextPolicy, PolicyErrorKind> {
    let present = existing_tables(conn)?;
    let mut policy = KextPolicy::default();
    for table in TABLES {
        if !present.iter().any(|t| t == table) {
            policy.missing.push(table.to_string());
        }
    }
    let has = |t: &str| present.iter().any(|p| p == t);

    if has("kext_policy") {
        for mut c in read_table(conn, "kext_policy", POLICY_COLS, limits, &mut policy.missing_columns)? {
            policy.user.push(PolicyRow {
                team_id: c[0].text(),
                bundle_id: c[1].text(),
                allowed: c[2].boolean(),
                developer_name: c[3].text(),
                flags: c[4].int(),
            });
        }
    }
    if has("kext_policy_mdm") {
        for mut c in read_table(conn, "kext_policy_mdm", MDM_COLS, limits, &mut policy.missing_columns)? {
            policy.mdm.push(MdmRow {
                team_id: c[0].text(),
                bundle_id: c[1].text(),
                allowed: c[2].boolean(),
                payload_uuid: c[3].text(),
            });
        }
    }
    if has("kext_load_history_v3") {
        for mut c in read_table(conn, "kext_load_history_v3", HISTORY_COLS, limits, &mut policy.missing_columns)? {
            policy.history.push(HistoryRow {
                path: c[0].text(),
                team_id: c[1].text(),
                bundle_id: c[2].text(),
                boot_uuid: c[3].text(),
                created_at: c[4].text(),
                last_seen: c[5].text(),
                flags: c[6].int(),
                cdhash: c[7].text(),
            });
        }
    }
    if has("settings") {
        for mut c in read_table(conn, "settings", SETTINGS_COLS, limits, &mut policy.missing_columns)? {
            policy.settings.push(SettingRow { name: c[0].text(), value: c[1].text() });
        }
    }
    Ok(policy)
}

/// Which of [`TABLES`] exist as ordinary tables.
fn existing_tables(conn: &Connection) -> Result<Vec<String>, PolicyErrorKind> {
    let ctx = "reading sqlite_master";
    let sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN \
               ('kext_policy', 'kext_policy_mdm', 'kext_load_history_v3', 'settings')";
    let mut stmt = conn.prepare(sql).map_err(|e| sql_kind(ctx, e))?;
    let mut rows = stmt.query([]).map_err(|e| sql_kind(ctx, e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| sql_kind(ctx, e))? {
        if let ValueRef::Text(t) = row.get_ref(0).map_err(|e| sql_kind(ctx, e))? {
            out.push(String::from_utf8_lossy(t).into_owned());
        }
    }
    Ok(out)
}

/// The column names of `table` (a constant from [`TABLES`]).
fn table_columns(conn: &Connection, table: &'static str) -> Result<Vec<String>, PolicyErrorKind> {
    let ctx = format!("table {table}: reading its columns");
    let mut stmt = conn.prepare(&format!("PRAGMA table_info(\"{table}\")")).map_err(|e| sql_kind(&ctx, e))?;
    let mut rows = stmt.query([]).map_err(|e| sql_kind(&ctx, e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| sql_kind(&ctx, e))? {
        if let ValueRef::Text(t) = row.get_ref(1).map_err(|e| sql_kind(&ctx, e))? {
            out.push(String::from_utf8_lossy(t).into_owned());
        }
    }
    Ok(out)
}

/// Read up to `limits.max_rows` rows of `cols` from `table`; absent columns
/// read as NULL and are recorded in `missing_columns`.
fn read_table(
    conn: &Connection,
    table: &'static str,
    cols: &'static [(&'static str, Kind)],
    limits: &Limits,
    missing_columns: &mut Vec<String>,
) -> Result<Vec<Vec<Cell>>, PolicyErrorKind> {
    let have = table_columns(conn, table)?;
    // SQLite matches column names case-insensitively; so does this.
    let exists = |c: &str| have.iter().any(|h| h.eq_ignore_ascii_case(c));
    // One more character than the byte bound: enough to tell "too long".
    let cut = limits.max_string_bytes.saturating_add(1);
    let mut exprs = Vec::with_capacity(cols.len());
    for &(col, kind) in cols {
        if !exists(col) {
            missing_columns.push(format!("{table}.{col}"));
            exprs.push("NULL".to_string());
            continue;
        }
        exprs.push(match kind {
            Kind::Text => {
                format!("CASE WHEN \"{col}\" IS NULL THEN NULL ELSE substr(CAST(\"{col}\" AS TEXT), 1, {cut}) END")
            }
            Kind::Bool => format!("CASE WHEN \"{col}\" IS NULL THEN NULL WHEN \"{col}\" THEN 1 ELSE 0 END"),
            Kind::Int => format!("CASE WHEN typeof(\"{col}\") = 'integer' THEN \"{col}\" ELSE NULL END"),
        });
    }
    let fetch = limits.max_rows.saturating_add(1);
    let sql = format!("SELECT {} FROM \"{table}\" LIMIT {fetch}", exprs.join(", "));
    let ctx = format!("table {table}");
    let mut stmt = conn.prepare(&sql).map_err(|e| sql_kind(&ctx, e))?;
    let mut rows = stmt.query([]).map_err(|e| sql_kind(&ctx, e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| sql_kind(&ctx, e))? {
        if out.len() == limits.max_rows {
            return Err(PolicyErrorKind::TooManyRows { table, limit: limits.max_rows });
        }
        let mut cells = Vec::with_capacity(cols.len());
        for (i, &(col, kind)) in cols.iter().enumerate() {
            let v = row.get_ref(i).map_err(|e| sql_kind(&ctx, e))?;
            cells.push(match kind {
                Kind::Text => {
                    let s = match v {
                        ValueRef::Null => None,
                        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
                        ValueRef::Integer(n) => Some(n.to_string()),
                        ValueRef::Real(r) => Some(r.to_string()),
                    };
                    if s.as_ref().is_some_and(|s| s.len() > limits.max_string_bytes) {
                        return Err(PolicyErrorKind::ValueTooLong {
                            table,
                            column: col,
                            limit: limits.max_string_bytes,
                        });
                    }
                    Cell::Text(s)
                }
                Kind::Bool => Cell::Bool(match v {
                    ValueRef::Integer(n) => Some(n != 0),
                    _ => None,
                }),
                Kind::Int => Cell::Int(match v {
                    ValueRef::Integer(n) => Some(n),
                    _ => None,
                }),
            });
        }
        out.push(cells);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcheck_testkit::policy::{write_kextpolicy, write_sqlite};
    use std::collections::BTreeMap;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;
    use std::time::SystemTime;

    const T: &str = "ABCDE12345";
    const OTHER: &str = "ZZZZZ99999";

    fn db_with(
        user: &[(&str, &str, i64)],
        mdm: &[(&str, Option<&str>, i64)],
    ) -> (tempfile::TempDir, PathBuf, KextPolicy) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(&path, user, mdm, &[]).unwrap();
        let p = open(&path).unwrap();
        (dir, path, p)
    }

    fn sql_db(sql: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_sqlite(&path, sql).unwrap();
        (dir, path)
    }

    fn kind_of(path: &Path) -> PolicyErrorKind {
        open(path).unwrap_err().kind
    }

    /// Everything observable about a directory tree: each entry's path, type,
    /// mode, size, mtime and contents, plus the directory's own.
    type Snapshot = BTreeMap<PathBuf, (u32, u64, SystemTime, Vec<u8>)>;

    fn snapshot(dir: &Path) -> Snapshot {
        let mut out = BTreeMap::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            let m = fs::symlink_metadata(&d).unwrap();
            out.insert(d.clone(), (m.permissions().mode(), m.len(), m.modified().unwrap(), Vec::new()));
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                let m = fs::symlink_metadata(&p).unwrap();
                if m.is_dir() {
                    todo.push(p);
                } else {
                    let content = if m.is_file() { fs::read(&p).unwrap() } else { Vec::new() };
                    out.insert(p, (m.permissions().mode(), m.len(), m.modified().unwrap(), content));
                }
            }
        }
        out
    }

    // ----- reading -----

    #[test]
    fn reads_all_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(
            &path,
            &[(T, "com.example.a", 1), ("", "com.legacy.b", 0)],
            &[(T, Some("com.example.c"), 1), (OTHER, None, 1)],
            &[("/Library/Extensions/A.kext", T, "com.example.a")],
        )
        .unwrap();
        let p = open(&path).unwrap();
        assert!(p.missing.is_empty() && p.missing_columns.is_empty() && p.ignored.is_empty());
        assert_eq!(
            p.user,
            vec![
                PolicyRow {
                    team_id: Some(T.into()),
                    bundle_id: Some("com.example.a".into()),
                    allowed: Some(true),
                    developer_name: Some(format!("{T} Developer")),
                    flags: Some(1),
                },
                PolicyRow {
                    team_id: Some("".into()),
                    bundle_id: Some("com.legacy.b".into()),
                    allowed: Some(false),
                    developer_name: Some(" Developer".into()),
                    flags: Some(1),
                },
            ]
        );
        assert_eq!(p.mdm.len(), 2);
        assert_eq!(p.mdm[1].bundle_id, None);
        assert_eq!(p.mdm[0].payload_uuid.as_deref(), Some("00000000-0000-0000-0000-000000000000"));
        assert_eq!(
            p.history,
            vec![HistoryRow {
                path: Some("/Library/Extensions/A.kext".into()),
                team_id: Some(T.into()),
                bundle_id: Some("com.example.a".into()),
                boot_uuid: None,
                created_at: Some("2024-01-01 00:00:00".into()),
                last_seen: Some("2024-01-02 00:00:00".into()),
                flags: Some(0),
                cdhash: None,
            }]
        );
        assert!(p.settings.is_empty());
    }

    #[test]
    fn reads_settings() {
        let (_d, path) = sql_db(
            "CREATE TABLE settings ( name TEXT, value TEXT, PRIMARY KEY (name) );
             INSERT INTO settings VALUES ('migrationPerformed', 'YES');",
        );
        let p = open(&path).unwrap();
        assert_eq!(p.settings, vec![SettingRow { name: Some("migrationPerformed".into()), value: Some("YES".into()) }]);
        assert_eq!(p.missing, vec!["kext_policy", "kext_policy_mdm", "kext_load_history_v3"]);
    }

    // ----- approval rules -----

    #[test]
    fn user_row_allowed() {
        let (_d, _p, p) = db_with(&[(T, "com.example.a", 1)], &[]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Allowed(Source::User));
        assert!(p.approval(Some(T), "com.example.a").is_allowed());
    }

    #[test]
    fn user_row_not_allowed_is_denied() {
        let (_d, _p, p) = db_with(&[(T, "com.example.a", 0)], &[]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Denied);
        assert!(!Approval::Denied.is_allowed());
    }

    #[test]
    fn no_row_is_unknown() {
        let (_d, _p, p) = db_with(&[(T, "com.example.a", 1)], &[]);
        assert_eq!(p.approval(Some(T), "com.example.other"), Approval::Unknown);
        assert_eq!(p.approval(Some(OTHER), "com.example.a"), Approval::Unknown);
        assert_eq!(p.approval(None, "com.example.a"), Approval::Unknown);
    }

    #[test]
    fn mdm_kext_row_allows() {
        let (_d, _p, p) = db_with(&[], &[(T, Some("com.example.a"), 1)]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Allowed(Source::MdmKext));
        assert_eq!(p.approval(Some(T), "com.example.b"), Approval::Unknown);
        assert_eq!(p.approval(Some(OTHER), "com.example.a"), Approval::Unknown);
    }

    #[test]
    fn mdm_team_row_with_null_or_empty_bundle_allows_the_team() {
        for bundle in [None, Some("")] {
            let (_d, _p, p) = db_with(&[], &[(T, bundle, 1)]);
            assert_eq!(p.approval(Some(T), "com.example.anything"), Approval::Allowed(Source::MdmTeam));
            assert_eq!(p.approval(Some(OTHER), "com.example.anything"), Approval::Unknown);
            assert_eq!(p.approval(None, "com.example.anything"), Approval::Unknown);
        }
    }

    #[test]
    fn mdm_team_row_never_covers_unsigned_kexts() {
        for team in ["", "\u{0}"] {
            let team = if team == "\u{0}" { None } else { Some(team) };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("KextPolicy");
            write_sqlite(
                &path,
                &format!(
                    "{} INSERT INTO kext_policy_mdm VALUES ({}, NULL, 1, 'u');",
                    kcheck_testkit::policy::KEXTPOLICY_SCHEMA,
                    team.map_or("NULL".to_string(), |t| format!("'{t}'"))
                ),
            )
            .unwrap();
            let p = open(&path).unwrap();
            assert_eq!(p.approval(None, "com.legacy.a"), Approval::Unknown);
            assert_eq!(p.approval(Some(""), "com.legacy.a"), Approval::Unknown);
        }
    }

    #[test]
    fn mdm_rows_not_allowed_allow_nothing() {
        let (_d, _p, p) = db_with(&[], &[(T, Some("com.example.a"), 0), (OTHER, None, 0)]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Unknown);
        assert_eq!(p.approval(Some(OTHER), "com.example.a"), Approval::Unknown);
    }

    #[test]
    fn mdm_overrides_a_user_denial() {
        let (_d, _p, p) = db_with(&[(T, "com.example.a", 0)], &[(T, Some("com.example.a"), 1)]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Allowed(Source::MdmKext));
        let (_d, _p, p) = db_with(&[(T, "com.example.a", 0)], &[(T, None, 1)]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Allowed(Source::MdmTeam));
    }

    #[test]
    fn first_matching_rule_names_the_source() {
        let (_d, _p, p) = db_with(&[(T, "com.example.a", 1)], &[(T, Some("com.example.a"), 1), (T, None, 1)]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Allowed(Source::User));
        let (_d, _p, p) = db_with(&[], &[(T, Some("com.example.a"), 1), (T, None, 1)]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Allowed(Source::MdmKext));
    }

    #[test]
    fn unsigned_kexts_match_empty_and_null_team_rows() {
        let (_d, _p, p) = db_with(&[("", "com.legacy.a", 1)], &[("", Some("com.legacy.m"), 1)]);
        for team in [None, Some("")] {
            assert_eq!(p.approval(team, "com.legacy.a"), Approval::Allowed(Source::User));
            assert_eq!(p.approval(team, "com.legacy.m"), Approval::Allowed(Source::MdmKext));
        }
        // A signed kext with the same bundle id is a different kext.
        assert_eq!(p.approval(Some(T), "com.legacy.a"), Approval::Unknown);

        let (_d, path) = sql_db(&format!(
            "{} INSERT INTO kext_policy VALUES (NULL, 'com.legacy.n', 1, 'Legacy Developer: X', 0);
             INSERT INTO kext_policy VALUES (NULL, 'com.legacy.d', 0, 'Legacy Developer: X', 0);",
            kcheck_testkit::policy::KEXTPOLICY_SCHEMA
        ));
        let p = open(&path).unwrap();
        assert_eq!(p.approval(None, "com.legacy.n"), Approval::Allowed(Source::User));
        assert_eq!(p.approval(Some(""), "com.legacy.n"), Approval::Allowed(Source::User));
        assert_eq!(p.approval(None, "com.legacy.d"), Approval::Denied);
    }

    #[test]
    fn any_allowing_row_wins_over_a_denying_duplicate() {
        // NULL and '' team rows for the same bundle can coexist (NULLs are
        // distinct in an SQLite primary key).
        let (_d, path) = sql_db(&format!(
            "{} INSERT INTO kext_policy VALUES (NULL, 'com.legacy.a', 0, 'x', 0);
             INSERT INTO kext_policy VALUES ('', 'com.legacy.a', 1, 'x', 0);",
            kcheck_testkit::policy::KEXTPOLICY_SCHEMA
        ));
        assert_eq!(open(&path).unwrap().approval(None, "com.legacy.a"), Approval::Allowed(Source::User));
    }

    #[test]
    fn identifiers_compare_exactly() {
        let (_d, _p, p) = db_with(&[(T, "com.Example.A", 1)], &[]);
        assert_eq!(p.approval(Some(T), "com.example.a"), Approval::Unknown);
        assert_eq!(p.approval(Some(&T.to_lowercase()), "com.Example.A"), Approval::Unknown);
        assert_eq!(p.approval(Some(T), "com.Example.A "), Approval::Unknown);
    }

    // ----- value types -----

    #[test]
    fn allowed_is_read_as_sqlite_does_in_a_boolean_context() {
        // Insert through a table without affinity so the stored types stay as
        // written, then rename it into place.
        let (_d, path) = sql_db(
            "CREATE TABLE kext_policy ( team_id, bundle_id, allowed, developer_name, flags );
             INSERT INTO kext_policy VALUES
               ('T', 'int1', 1, NULL, NULL), ('T', 'int2', 2, NULL, NULL), ('T', 'int0', 0, NULL, NULL),
               ('T', 'text1', '1', NULL, NULL), ('T', 'text0', '0', NULL, NULL),
               ('T', 'text1abc', '1abc', NULL, NULL), ('T', 'textyes', 'yes', NULL, NULL),
               ('T', 'texttrue', 'true', NULL, NULL), ('T', 'textempty', '', NULL, NULL),
               ('T', 'real', 0.5, NULL, NULL), ('T', 'blob1', x'31', NULL, NULL),
               ('T', 'null', NULL, NULL, NULL);",
        );
        let p = open(&path).unwrap();
        let got: BTreeMap<&str, Option<bool>> =
            p.user.iter().map(|r| (r.bundle_id.as_deref().unwrap(), r.allowed)).collect();
        let want: BTreeMap<&str, Option<bool>> = [
            ("int1", Some(true)),
            ("int2", Some(true)),
            ("int0", Some(false)),
            ("text1", Some(true)),
            ("text0", Some(false)),
            ("text1abc", Some(true)),
            ("textyes", Some(false)),
            ("texttrue", Some(false)),
            ("textempty", Some(false)),
            ("real", Some(true)),
            ("blob1", Some(true)),
            ("null", None),
        ]
        .into_iter()
        .collect();
        assert_eq!(got, want);
        assert_eq!(p.approval(Some("T"), "text1abc"), Approval::Allowed(Source::User));
        assert_eq!(p.approval(Some("T"), "textyes"), Approval::Denied);
        // A NULL answer is a row the user saw, without approval.
        assert_eq!(p.approval(Some("T"), "null"), Approval::Denied);
    }

    #[test]
    fn text_and_integer_columns_tolerate_other_types() {
        let (_d, path) = sql_db(
            "CREATE TABLE kext_policy ( team_id, bundle_id, allowed, developer_name, flags );
             INSERT INTO kext_policy VALUES (12345, x'636f6d2e61', 1, x'ff41', 'eight');
             INSERT INTO kext_policy VALUES ('T', 'b', 1, 1.5, 8.5);
             INSERT INTO kext_policy VALUES ('T', 'c', 1, NULL, 8);",
        );
        let p = open(&path).unwrap();
        assert_eq!(p.user[0].team_id.as_deref(), Some("12345"));
        assert_eq!(p.user[0].bundle_id.as_deref(), Some("com.a"));
        assert_eq!(p.user[0].developer_name.as_deref(), Some("\u{FFFD}A"));
        assert_eq!(p.user[0].flags, None);
        assert_eq!(p.user[1].developer_name.as_deref(), Some("1.5"));
        assert_eq!(p.user[1].flags, None);
        assert_eq!(p.user[2].flags, Some(8));
        assert_eq!(p.approval(Some("12345"), "com.a"), Approval::Allowed(Source::User));
    }

    // ----- schema variation -----

    #[test]
    fn missing_tables_are_listed_not_fatal() {
        let (_d, path) = sql_db(
            "CREATE TABLE kext_policy ( team_id TEXT, bundle_id TEXT, allowed BOOLEAN, developer_name TEXT, flags INTEGER, PRIMARY KEY (team_id, bundle_id) );
             INSERT INTO kext_policy VALUES ('T', 'com.a', 1, 'd', 1);",
        );
        let p = open(&path).unwrap();
        assert_eq!(p.missing, vec!["kext_policy_mdm", "kext_load_history_v3", "settings"]);
        assert!(p.missing_columns.is_empty());
        assert_eq!(p.approval(Some("T"), "com.a"), Approval::Allowed(Source::User));
    }

    #[test]
    fn a_database_without_any_table_reads_as_all_missing() {
        let (_d, path) = sql_db("CREATE TABLE unrelated (x);");
        let p = open(&path).unwrap();
        assert_eq!(p.missing, TABLES.to_vec());
        assert_eq!(p.approval(Some("T"), "com.a"), Approval::Unknown);
    }

    #[test]
    fn views_do_not_count_as_tables() {
        let (_d, path) =
            sql_db("CREATE VIEW kext_policy AS SELECT 'T' AS team_id, 'com.a' AS bundle_id, 1 AS allowed;");
        let p = open(&path).unwrap();
        assert!(p.missing.contains(&"kext_policy".to_string()));
        assert!(p.user.is_empty());
    }

    #[test]
    fn high_sierra_history_without_cdhash() {
        let (_d, path) = sql_db(
            "CREATE TABLE kext_load_history_v3 ( path TEXT PRIMARY KEY, team_id TEXT, bundle_id TEXT, boot_uuid TEXT, created_at TEXT, last_seen TEXT, flags INTEGER );
             INSERT INTO kext_load_history_v3 VALUES ('/Library/Extensions/A.kext', 'T', 'com.a', 'B', 'c', 'l', 8);",
        );
        let p = open(&path).unwrap();
        assert_eq!(p.missing_columns, vec!["kext_load_history_v3.cdhash"]);
        assert_eq!(p.history[0].cdhash, None);
        assert_eq!(p.history[0].flags, Some(8));
        assert_eq!(p.history[0].boot_uuid.as_deref(), Some("B"));
    }

    #[test]
    fn missing_columns_read_as_none() {
        let (_d, path) = sql_db(
            "CREATE TABLE kext_policy ( TEAM_ID TEXT, bundle_id TEXT );
             INSERT INTO kext_policy VALUES ('T', 'com.a');
             CREATE TABLE kext_policy_mdm ( team_id TEXT, allowed BOOLEAN );
             INSERT INTO kext_policy_mdm VALUES ('M', 1);",
        );
        let p = open(&path).unwrap();
        assert_eq!(
            p.missing_columns,
            vec![
                "kext_policy.allowed",
                "kext_policy.developer_name",
                "kext_policy.flags",
                "kext_policy_mdm.bundle_id",
                "kext_policy_mdm.payload_uuid"
            ]
        );
        // Column names match case-insensitively, as in SQLite.
        assert_eq!(p.user[0].team_id.as_deref(), Some("T"));
        assert_eq!(p.user[0].allowed, None);
        assert_eq!(p.approval(Some("T"), "com.a"), Approval::Denied);
        // Without a bundle_id column every MDM row reads as a team entry.
        assert_eq!(p.approval(Some("M"), "com.x"), Approval::Allowed(Source::MdmTeam));
    }

    #[test]
    fn extra_columns_and_tables_are_ignored() {
        let (_d, path) = sql_db(&format!(
            "{} ALTER TABLE kext_policy ADD COLUMN future TEXT;
             CREATE TABLE kext_policy_v2 (x);
             INSERT INTO kext_policy VALUES ('T', 'com.a', 1, 'd', 1, 'f');",
            kcheck_testkit::policy::KEXTPOLICY_SCHEMA
        ));
        let p = open(&path).unwrap();
        assert!(p.missing.is_empty() && p.missing_columns.is_empty());
        assert_eq!(p.approval(Some("T"), "com.a"), Approval::Allowed(Source::User));
    }

    // ----- bounds -----

    fn many_rows(n: usize) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_sqlite(
            &path,
            &format!(
                "{} WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
                 INSERT INTO kext_load_history_v3 (path, team_id, bundle_id) SELECT '/k/' || i, 'T', 'b' || i FROM n;",
                kcheck_testkit::policy::KEXTPOLICY_SCHEMA
            ),
        )
        .unwrap();
        (dir, path)
    }

    #[test]
    fn row_bound_default_is_100000() {
        let (_d, path) = many_rows(100_000);
        assert_eq!(open(&path).unwrap().history.len(), 100_000);
        let (_d, path) = many_rows(100_001);
        let e = open(&path).unwrap_err();
        assert_eq!(e.kind, PolicyErrorKind::TooManyRows { table: "kext_load_history_v3", limit: 100_000 });
        assert_eq!(
            e.to_string(),
            format!("{}: table kext_load_history_v3: too many rows (more than 100000)", path.display())
        );
    }

    #[test]
    fn row_bound_is_configurable() {
        let (_d, path) = many_rows(11);
        let limits = Limits { max_rows: 10, ..Limits::default() };
        assert!(matches!(open_with(&path, &limits).unwrap_err().kind, PolicyErrorKind::TooManyRows { limit: 10, .. }));
        let limits = Limits { max_rows: 11, ..Limits::default() };
        assert_eq!(open_with(&path, &limits).unwrap().history.len(), 11);
    }

    #[test]
    fn string_bound_is_4_kib() {
        let ok = "a".repeat(4096);
        let (_d, _p, p) = db_with(&[(T, &ok, 1)], &[]);
        assert_eq!(p.user[0].bundle_id.as_deref(), Some(ok.as_str()));

        for long in ["a".repeat(4097), "é".repeat(2049), "é".repeat(5000), "a".repeat(1_000_000)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("KextPolicy");
            write_kextpolicy(&path, &[], &[], &[("/k", T, &long)]).unwrap();
            let e = open(&path).unwrap_err();
            assert_eq!(
                e.kind,
                PolicyErrorKind::ValueTooLong { table: "kext_load_history_v3", column: "bundle_id", limit: 4096 }
            );
        }
        // 2048 two-byte characters are exactly 4096 bytes.
        let (_d, _p, p) = db_with(&[(T, &"é".repeat(2048), 1)], &[]);
        assert_eq!(p.user[0].bundle_id.as_ref().map(String::len), Some(4096));
    }

    #[test]
    fn file_size_bound() {
        let (_d, path, _) = db_with(&[], &[]);
        let len = fs::metadata(&path).unwrap().len();
        let limits = Limits { max_file_bytes: len - 1, ..Limits::default() };
        assert_eq!(
            open_with(&path, &limits).unwrap_err().kind,
            PolicyErrorKind::TooLarge { size: len, limit: len - 1 }
        );
        // Default: 64 MiB; a sparse file past it is refused before SQLite opens it.
        let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(64 * 1024 * 1024 + 1).unwrap();
        assert!(matches!(kind_of(&path), PolicyErrorKind::TooLarge { .. }));
    }

    // ----- error paths -----

    #[test]
    fn missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        let e = open(&path).unwrap_err();
        assert_eq!(e.kind, PolicyErrorKind::Missing);
        assert_eq!(e.to_string(), format!("{}: no such file", path.display()));
        assert_eq!(e.path, path);
    }

    #[test]
    fn only_regular_files_are_opened() {
        let (dir, path, _) = db_with(&[(T, "com.a", 1)], &[]);
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert_eq!(kind_of(&link), PolicyErrorKind::NotRegularFile("symbolic link".into()));
        assert_eq!(kind_of(dir.path()), PolicyErrorKind::NotRegularFile("directory".into()));
        assert_eq!(kind_of(Path::new("/dev/null")), PolicyErrorKind::NotRegularFile("character device".into()));
        let fifo = dir.path().join("fifo");
        if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
            // Refused without opening, so this does not block.
            assert_eq!(kind_of(&fifo), PolicyErrorKind::NotRegularFile("fifo".into()));
        }
        // A link to a directory is still a link.
        let dlink = dir.path().join("dlink");
        std::os::unix::fs::symlink(dir.path(), &dlink).unwrap();
        assert_eq!(kind_of(&dlink), PolicyErrorKind::NotRegularFile("symbolic link".into()));
    }

    #[test]
    fn zero_length_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        fs::write(&path, b"").unwrap();
        let e = open(&path).unwrap_err();
        assert_eq!(e.kind, PolicyErrorKind::Empty);
        assert!(e.to_string().ends_with(": empty file (0 bytes), not a database"));
    }

    #[test]
    fn files_that_are_not_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        for bytes in [
            b"hello, world\n".to_vec(),
            b"SQLite format 3\0".to_vec(),
            b"<?xml version=\"1.0\"?><plist/>".to_vec(),
            vec![0u8; 4096],
            vec![0xffu8; 100],
        ] {
            fs::write(&path, &bytes).unwrap();
            let e = open(&path).unwrap_err();
            assert_eq!(e.kind, PolicyErrorKind::NotADatabase, "{bytes:?}");
            assert_eq!(e.to_string(), format!("{}: not a database", path.display()));
        }
    }

    #[test]
    fn a_valid_header_with_garbage_after_it() {
        let (dir, path, _) = db_with(&[(T, "com.a", 1)], &[]);
        let good = fs::read(&path).unwrap();
        let mut bad = good[..100].to_vec();
        bad.resize(good.len(), 0xA5);
        let p2 = dir.path().join("garbage");
        fs::write(&p2, &bad).unwrap();
        let e = open(&p2).unwrap_err();
        assert!(matches!(e.kind, PolicyErrorKind::Corrupt(_) | PolicyErrorKind::NotADatabase), "{e}");
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn truncated_databases_never_panic() {
        let (dir, path, _) = db_with(&[(T, "com.a", 1), (OTHER, "com.b", 0)], &[(T, None, 1)]);
        let good = fs::read(&path).unwrap();
        let p2 = dir.path().join("cut");
        for len in (1..good.len()).step_by(97) {
            fs::write(&p2, &good[..len]).unwrap();
            if let Err(e) = open(&p2) {
                assert!(!e.to_string().contains('\n'));
            }
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let (dir, path, _) = db_with(
            &[(T, "com.a", 1), (OTHER, "com.b", 0), ("", "com.legacy", 1)],
            &[(T, None, 1), (OTHER, Some("com.c"), 1)],
        );
        let good = fs::read(&path).unwrap();
        let p2 = dir.path().join("flipped");
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut errors = 0;
        for i in 0..400 {
            let mut bad = good.clone();
            for _ in 0..(1 + i % 8) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % bad.len();
                bad[at] = (seed >> 32) as u8;
            }
            fs::write(&p2, &bad).unwrap();
            match open(&p2) {
                Ok(_) => {}
                Err(e) => {
                    errors += 1;
                    assert!(!e.to_string().contains('\n'), "{e}");
                }
            }
        }
        // Most flips land in unused space; some must hit structure.
        assert!(errors > 0);
    }

    #[test]
    fn error_messages_are_one_line_and_name_the_path() {
        let kinds = [
            PolicyErrorKind::Missing,
            PolicyErrorKind::NotRegularFile("fifo".into()),
            PolicyErrorKind::Io("a\nb".into()),
            PolicyErrorKind::TooLarge { size: 2, limit: 1 },
            PolicyErrorKind::Empty,
            PolicyErrorKind::NotADatabase,
            PolicyErrorKind::Corrupt("x\r\ny".into()),
            PolicyErrorKind::TooManyRows { table: "settings", limit: 1 },
            PolicyErrorKind::ValueTooLong { table: "settings", column: "name", limit: 1 },
            PolicyErrorKind::Sqlite("z\n".into()),
        ];
        for kind in kinds {
            let e = PolicyError { path: PathBuf::from("/var/db/Sys\nPolicy/KextPolicy"), kind };
            let s = e.to_string();
            assert!(!s.contains('\n') && !s.contains('\r'), "{s:?}");
            assert!(s.starts_with("/var/db/Sys Policy/KextPolicy: "), "{s}");
        }
    }

    #[test]
    fn unreadable_file_is_an_io_error() {
        // Root reads anything, so this only runs unprivileged.
        let (_d, path, _) = db_with(&[], &[]);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o000)).unwrap();
        if fs::File::open(&path).is_err() {
            assert!(matches!(kind_of(&path), PolicyErrorKind::Io(_)));
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }

    // ----- paths -----

    #[test]
    fn awkward_paths_are_escaped_in_the_uri() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"a ?#%&=;x\xff\xfe"));
        fs::create_dir(&odd).unwrap();
        let path = odd.join("Kext Policy?mode=rw");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        let p = open(&path).unwrap();
        assert_eq!(p.approval(Some(T), "com.a"), Approval::Allowed(Source::User));
        let uri = sqlite_uri(&path).unwrap();
        assert!(uri.starts_with("file:///") && uri.ends_with("?mode=ro&immutable=1"), "{uri}");
        assert_eq!(uri.matches('?').count(), 1);
    }

    #[test]
    fn relative_paths_work() {
        let (_d, path, _) = db_with(&[(T, "com.a", 1)], &[]);
        let cwd = std::env::current_dir().unwrap();
        let rel = pathdiff(&path, &cwd);
        assert!(rel.is_relative());
        assert_eq!(open(&rel).unwrap().user.len(), 1);
    }

    /// `path` relative to `base` (both absolute), with `..` steps.
    fn pathdiff(path: &Path, base: &Path) -> PathBuf {
        let p: Vec<_> = path.components().collect();
        let b: Vec<_> = base.components().collect();
        let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
        let mut out = PathBuf::new();
        for _ in common..b.len() {
            out.push("..");
        }
        for c in &p[common..] {
            out.push(c);
        }
        out
    }

    // ----- never writes -----

    #[test]
    fn opening_changes_nothing_in_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[(T, None, 1)], &[("/k", T, "com.a")]).unwrap();
        let before = snapshot(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..3 {
            open(&path).unwrap();
        }
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn read_only_file_and_folder() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("SystemPolicyConfiguration");
        fs::create_dir(&sub).unwrap();
        let path = sub.join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o555)).unwrap();
        let before = snapshot(&sub);
        let got = open(&path);
        let after = snapshot(&sub);
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(got.unwrap().approval(Some(T), "com.a"), Approval::Allowed(Source::User));
        // Tests run as root, which ignores mode bits: the snapshot is what
        // proves nothing was written.
        assert_eq!(after, before);
    }

    /// `chattr +i` stops even root from creating, renaming or deleting
    /// entries in the folder (ext4, xfs, btrfs). Skipped where unsupported.
    #[test]
    fn immutable_folder_even_for_root() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("ro");
        fs::create_dir(&sub).unwrap();
        let path = sub.join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        let chattr = |flag: &str, p: &Path| {
            std::process::Command::new("chattr")
                .arg(flag)
                .arg(p)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !chattr("+i", &sub) {
            eprintln!("immutable_folder_even_for_root: chattr +i not available, skipped");
            return;
        }
        chattr("+i", &path);
        let probe = fs::File::create(sub.join("probe")).is_err();
        let before = snapshot(&sub);
        let got = open(&path);
        let after = snapshot(&sub);
        chattr("-i", &path);
        chattr("-i", &sub);
        assert!(probe, "chattr +i did not stop root from creating a file");
        assert_eq!(got.unwrap().approval(Some(T), "com.a"), Approval::Allowed(Source::User));
        assert_eq!(after, before);
    }

    #[test]
    fn wal_database_cleanly_closed_creates_no_wal_or_shm() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        {
            let c = Connection::open(&path).unwrap();
            let mode: String = c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
        }
        assert_eq!(fs::read(&path).unwrap()[18..20], [2, 2], "header says WAL");
        let before = snapshot(dir.path());
        assert_eq!(before.len(), 2, "only the folder and the database");
        let p = open(&path).unwrap();
        assert_eq!(p.approval(Some(T), "com.a"), Approval::Allowed(Source::User));
        assert!(p.ignored.is_empty());
        assert_eq!(snapshot(dir.path()), before);
    }

    /// The control for the test above: an ordinary read-only open of the same
    /// WAL database does create `-shm` and `-wal`, so the snapshot would
    /// catch it.
    #[test]
    fn control_plain_read_only_open_of_a_wal_database_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        {
            let c = Connection::open(&path).unwrap();
            c.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).unwrap();
        }
        let before = snapshot(dir.path());
        let c = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let n: i64 = c.query_row("SELECT count(*) FROM kext_policy", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        let during = snapshot(dir.path());
        drop(c);
        assert_ne!(during, before, "a plain read-only open should have created -shm/-wal");
    }

    #[test]
    fn live_wal_writer_is_not_disturbed_and_its_wal_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        let w = Connection::open(&path).unwrap();
        w.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).unwrap();
        w.execute_batch("PRAGMA wal_autocheckpoint = 0; INSERT INTO kext_policy VALUES ('N', 'com.new', 1, 'n', 1);")
            .unwrap();
        let wal = dir.path().join("KextPolicy-wal");
        assert!(fs::metadata(&wal).unwrap().len() > 0);

        let before = snapshot(dir.path());
        let p = open(&path).unwrap();
        assert_eq!(snapshot(dir.path()), before);
        assert_eq!(p.ignored.len(), 1);
        assert_eq!(p.ignored[0].path, wal);
        // What is only in the -wal is not seen; what was checkpointed is.
        assert_eq!(p.approval(Some(T), "com.a"), Approval::Allowed(Source::User));
        assert_eq!(p.approval(Some("N"), "com.new"), Approval::Unknown);

        // The writer still works and, once it checkpoints, the row is there.
        w.execute_batch("INSERT INTO kext_policy VALUES ('N', 'com.new2', 1, 'n', 1);").unwrap();
        w.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        let p = open(&path).unwrap();
        assert_eq!(p.approval(Some("N"), "com.new"), Approval::Allowed(Source::User));
        assert_eq!(p.approval(Some("N"), "com.new2"), Approval::Allowed(Source::User));
        assert!(p.ignored.is_empty(), "{:?}", p.ignored);
    }

    #[test]
    fn wal_only_database_is_reported_not_misread() {
        // A WAL database whose main file was never checkpointed past the
        // header: reading it must give a clean result, never a panic.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        let w = Connection::open(&path).unwrap();
        w.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).unwrap();
        w.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = 0; {} INSERT INTO kext_policy VALUES ('T', 'com.a', 1, 'd', 1);",
            kcheck_testkit::policy::KEXTPOLICY_SCHEMA
        ))
        .unwrap();
        let before = snapshot(dir.path());
        match open(&path) {
            Ok(p) => {
                assert!(!p.ignored.is_empty());
                assert_eq!(p.approval(Some(T), "com.a"), Approval::Unknown);
            }
            Err(e) => assert!(matches!(e.kind, PolicyErrorKind::Empty | PolicyErrorKind::NotADatabase), "{e}"),
        }
        assert_eq!(snapshot(dir.path()), before);
        drop(w);
    }

    #[test]
    fn exclusive_lock_held_elsewhere_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        write_kextpolicy(&path, &[(T, "com.a", 1)], &[], &[]).unwrap();
        let w = Connection::open(&path).unwrap();
        w.execute_batch("BEGIN EXCLUSIVE; INSERT INTO kext_policy VALUES ('N', 'com.new', 1, 'n', 1);").unwrap();
        let start = std::time::Instant::now();
        let p = open(&path).unwrap();
        // Under a lock SQLite would wait for its 5 s busy timeout.
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(p.approval(Some(T), "com.a"), Approval::Allowed(Source::User));
        assert_eq!(p.approval(Some("N"), "com.new"), Approval::Unknown);
        w.execute_batch("ROLLBACK").unwrap();
    }

    // ----- oracle -----

    /// Compare every row with what the `sqlite3` command-line tool prints.
    #[test]
    fn oracle_sqlite3_cli() {
        if std::process::Command::new("sqlite3").arg("-version").output().is_err() {
            eprintln!("oracle_sqlite3_cli: sqlite3 not installed, skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KextPolicy");
        let user: Vec<(String, String, i64)> = (0..50)
            .map(|i| (format!("TEAM{:06}", i % 7), format!("com.vendor{i}.kext"), i64::from(i % 3 != 0)))
            .collect();
        let user_ref: Vec<(&str, &str, i64)> = user.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), *c)).collect();
        let mut user_ref = user_ref;
        user_ref.push(("", "com.legacy.thing", 1));
        let mdm = [("TEAM000001", None, 1), ("TEAM000002", Some("com.vendor2.kext"), 1), ("", Some("com.legacy.m"), 0)];
        let hist: Vec<(String, String, String)> = (0..30)
            .map(|i| {
                (format!("/Library/Extensions/K{i}.kext"), format!("TEAM{:06}", i % 5), format!("com.vendor{i}.kext"))
            })
            .collect();
        let hist_ref: Vec<(&str, &str, &str)> =
            hist.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
        write_kextpolicy(&path, &user_ref, &mdm, &hist_ref).unwrap();

        let cli = |sql: &str| -> Vec<String> {
            let out = std::process::Command::new("sqlite3")
                .args(["-readonly", "-noheader", "-separator", "\x1f", "-nullvalue", "\u{2400}"])
                .arg(&path)
                .arg(sql)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let mut v: Vec<String> = String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect();
            v.sort();
            v
        };
        let f = |o: &Option<String>| o.clone().unwrap_or_else(|| "\u{2400}".into());
        let b = |o: Option<bool>| o.map_or("\u{2400}".to_string(), |x| (x as u8).to_string());
        let i = |o: Option<i64>| o.map_or("\u{2400}".to_string(), |x| x.to_string());
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };

        let p = open(&path).unwrap();
        let ours = sorted(
            p.user
                .iter()
                .map(|r| [f(&r.team_id), f(&r.bundle_id), b(r.allowed), f(&r.developer_name), i(r.flags)].join("\x1f"))
                .collect(),
        );
        assert_eq!(ours, cli("SELECT team_id, bundle_id, allowed, developer_name, flags FROM kext_policy"));
        let ours = sorted(
            p.mdm
                .iter()
                .map(|r| [f(&r.team_id), f(&r.bundle_id), b(r.allowed), f(&r.payload_uuid)].join("\x1f"))
                .collect(),
        );
        assert_eq!(ours, cli("SELECT team_id, bundle_id, allowed, payload_uuid FROM kext_policy_mdm"));
        let ours = sorted(
            p.history
                .iter()
                .map(|r| {
                    [
                        f(&r.path),
                        f(&r.team_id),
                        f(&r.bundle_id),
                        f(&r.boot_uuid),
                        f(&r.created_at),
                        f(&r.last_seen),
                        i(r.flags),
                        f(&r.cdhash),
                    ]
                    .join("\x1f")
                })
                .collect(),
        );
        assert_eq!(
            ours,
            cli(
                "SELECT path, team_id, bundle_id, boot_uuid, created_at, last_seen, flags, cdhash FROM kext_load_history_v3"
            )
        );
        assert_eq!(p.history.len(), 30);

        // The approval rules against the same rules written as SQL.
        for (team, bundle, _) in &user_ref {
            let team_sql =
                if team.is_empty() { "coalesce(team_id, '') = ''".to_string() } else { format!("team_id = '{team}'") };
            let allowed = cli(&format!(
                "SELECT (SELECT count(*) FROM kext_policy WHERE {team_sql} AND bundle_id = '{bundle}' AND allowed)
                      + (SELECT count(*) FROM kext_policy_mdm WHERE {team_sql} AND allowed
                           AND (bundle_id = '{bundle}' OR ('{team}' <> '' AND coalesce(bundle_id, '') = '')))"
            ));
            let team = (!team.is_empty()).then_some(*team);
            assert_eq!(p.approval(team, bundle).is_allowed(), allowed != ["0"], "{team:?} {bundle}");
        }
    }
}
