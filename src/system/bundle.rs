//! The installed-kext inventory: every kext bundle under the extension
//! folders of a volume, with its identifier, version, executable UUIDs
//! and hash, and every bundle that could not be read (finding KX005).
//!
//! Rules (see `design.md`, "Findings"):
//!
//! - A bundle is a *directory* whose name ends in `.kext`. In a scanned
//!   folder every other entry is ignored, and nothing else is descended
//!   into. A bundle's plug-ins are the `.kext` directories in its
//!   `Contents/PlugIns` folder (flat layout: `PlugIns`), at any nesting
//!   depth up to [`Limits::max_depth`] (a top-level bundle is level 1).
//!   Non-kext plug-ins (`Foo.bundle`) are neither reported nor entered.
//! - The Info.plist is `Contents/Info.plist` (macOS layout) or, failing
//!   that, `Info.plist` at the bundle top (flat iOS layout). It may be XML
//!   or binary (`bplist00`); ASCII/OpenStep plists are refused, as the
//!   kernel's loader refuses them. It must be a dictionary with a
//!   non-empty string `CFBundleIdentifier`; `CFBundleVersion` is optional
//!   but must be a string when present.
//! - A non-empty `CFBundleExecutable` names `Contents/MacOS/<name>` (flat:
//!   `<name>`), which must be a Mach-O or a FAT file of Mach-O slices. Each
//!   slice's `LC_UUID` is recorded with its architecture (a slice without
//!   one is simply not listed) and the whole file is hashed (SHA-256). A
//!   kext without `CFBundleExecutable` (or with an empty one) is codeless.
//! - Sizes are checked before anything is read ([`Limits`]); the walk
//!   reads at most [`Limits::max_entries`] directory entries in all.
//! - Symbolic links are never followed blindly: every bundle, folder and
//!   file used is canonicalised and must stay inside the canonical volume
//!   root. A link that leads outside, a link loop (`ELOOP`, or a plug-in
//!   link back into an enclosing bundle) or a dangling link makes a
//!   [`BadBundle`], never a hang.
//! - Paths are reported as the Mac sees them: relative to the volume root,
//!   with a leading `/`, non-UTF-8 bytes replaced (`to_string_lossy`).
//!   Reasons are one line; a reason naming a file inside the bundle uses
//!   the path relative to the bundle (`Contents/MacOS/Foo`).
//! - Nothing is ever written. Results are sorted by path.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use goblin::mach::fat::FAT_MAGIC;
use goblin::mach::header::{MH_CIGAM, MH_CIGAM_64, MH_MAGIC, MH_MAGIC_64};

use crate::bytes::Bytes;
use crate::cache::sha256_hex;
use crate::container::{FAT_MAGIC_64, read_fat};
use crate::macho::{MachView, format_uuid};

/// One kext bundle found on disk.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InstalledKext {
    /// `CFBundleIdentifier`.
    pub bundle_id: String,
    /// `CFBundleVersion`.
    pub version: Option<String>,
    /// The bundle path as the Mac sees it (relative to the volume root it
    /// was found under, with a leading `/`), e.g.
    /// `/System/Library/Extensions/AppleHDA.kext/Contents/PlugIns/AppleHDAController.kext`.
    pub path: String,
    /// `CFBundleExecutable` (`None` for a codeless kext).
    pub executable: Option<String>,
    /// The executable's path, in the style of [`InstalledKext::path`].
    pub executable_path: Option<String>,
    /// `(arch, upper-case dashed LC_UUID)` per Mach-O slice of the
    /// executable that has an `LC_UUID`, in file order.
    pub uuids: Vec<(String, String)>,
    /// SHA-256 of the whole executable file, lower-case hex: only filled
    /// in by [`hash_executable`], for the kexts a rule needs it for (the
    /// walk reads executables only as far as their headers).
    pub executable_sha256: Option<String>,
    /// The executable's file on this machine (resolved inside the root).
    #[serde(skip)]
    pub executable_file: Option<PathBuf>,
    /// `"xml"` or `"binary"`.
    pub info_plist_format: &'static str,
    /// `OSBundleRequired`, when present.
    pub required: Option<String>,
    /// `CFBundlePackageType`, when present (a kext's is `KEXT`).
    pub package_type: Option<String>,
    /// The bundle ids named in `OSBundleLibraries`, sorted.
    pub libraries: Vec<String>,
    /// Architectures of the executable's slices (all of them, with or
    /// without an `LC_UUID`), in file order; empty for a codeless kext.
    pub archs: Vec<String>,
    /// The team identifier of the executable's code signature (the first
    /// signed slice's CodeDirectory), when signed with one.
    pub team_id: Option<String>,
    /// 1 for a top-level bundle, 2 for a plug-in (`Contents/PlugIns`).
    pub level: u8,
    /// `OSKextExcludeList` of the exclude-list kext
    /// (`com.apple.driver.KextExcludeList`): bundle id → rule.
    #[serde(skip)]
    pub exclude_list: Option<Vec<(String, ExcludeRule)>>,
}

/// One `OSKextExcludeList` entry's value (IOKitUser `OSKext.c`
/// `_excludeThisVersion`): a version string, or a dictionary whose
/// `Versions` string applies only when its IOKit matching dictionaries
/// (`Any_Match` / `All_Match`) match this Mac's hardware — which kcheck
/// cannot evaluate offline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExcludeRule {
    /// The version rule (`"LE 1.5.0, 2.0 thru 3.1"`).
    pub versions: String,
    /// Whether the rule also depends on IOKit matching.
    pub needs_matching: bool,
}

impl InstalledKext {
    /// The UUID of the `arch` slice: an exact match, else arm64e for
    /// arm64 (and arm64 for arm64e), else the UUID of a single-slice
    /// executable.
    pub fn uuid_for(&self, arch: &str) -> Option<&str> {
        let find = |a: &str| self.uuids.iter().find(|(have, _)| have == a).map(|(_, u)| u.as_str());
        if let Some(u) = find(arch) {
            return Some(u);
        }
        let alt = match arch {
            "arm64e" => Some("arm64"),
            "arm64" => Some("arm64e"),
            _ => None,
        };
        if let Some(u) = alt.and_then(find) {
            return Some(u);
        }
        match self.uuids.as_slice() {
            [(_, u)] => Some(u.as_str()),
            _ => None,
        }
    }
}

/// A bundle that could not be read (becomes finding KX005 elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BadBundle {
    /// The bundle (or folder) path as the Mac sees it.
    pub path: String,
    /// What was wrong, one line.
    pub reason: String,
}

/// The result of [`scan`].
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Inventory {
    /// Readable kexts, sorted by path.
    pub kexts: Vec<InstalledKext>,
    /// Unreadable bundles, sorted by path.
    pub bad: Vec<BadBundle>,
    /// The folders that existed and were walked, as the Mac sees them.
    pub dirs_scanned: Vec<String>,
}

/// Bounds on what [`scan`] reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Deepest plug-in nesting level read (a top-level bundle is level 1).
    pub max_depth: usize,
    /// Directory entries examined in all before the walk stops.
    pub max_entries: usize,
    /// Largest Info.plist read.
    pub max_plist_bytes: u64,
    /// Largest executable read.
    pub max_executable_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 16, max_entries: 200_000, max_plist_bytes: 16 << 20, max_executable_bytes: 512 << 20 }
    }
}

/// Walk `<volume_root><dir>` for each dir (e.g. `volume_root` =
/// `/Volumes/Mac HD - Data`, dir = `/Library/Extensions`). A missing dir
/// is simply skipped. Results are sorted by path.
pub fn scan(volume_root: &Path, dirs: &[&str], limits: &Limits) -> Inventory {
    let mut inv = Inventory::default();
    let root = match fs::canonicalize(volume_root) {
        Ok(r) => r,
        Err(e) if is_absent(&e) => return inv,
        Err(e) => {
            inv.bad.push(BadBundle {
                path: "/".into(),
                reason: one_line(&format!("cannot resolve the volume root {}: {e}", volume_root.display())),
            });
            return inv;
        }
    };
    let mut walker = Walker {
        root: &root,
        limits,
        entries: 0,
        stopped: false,
        jobs: Vec::new(),
        bad: Vec::new(),
        visited: std::collections::HashMap::new(),
    };
    for dir in dirs {
        if walker.stopped {
            break;
        }
        let mac = normalize_dir(dir);
        let fs_path = root.join(mac.trim_start_matches('/'));
        match fs::symlink_metadata(&fs_path) {
            Ok(_) => {}
            Err(e) if is_absent(&e) => continue,
            Err(e) => {
                walker.bad(&mac, io_reason(&e, &mac));
                continue;
            }
        }
        let canon = match resolve(&root, &fs_path, &mac) {
            Ok(c) => c,
            Err(reason) => {
                walker.bad(&mac, reason);
                continue;
            }
        };
        if !canon.is_dir() {
            continue;
        }
        inv.dirs_scanned.push(mac.clone());
        let mut ancestors = Vec::new();
        walker.walk(&canon, &mac, 1, &mut ancestors);
    }
    let Walker { jobs, bad, .. } = walker;
    inv.bad = bad;
    for (job, result) in jobs.iter().zip(read_all(&root, &jobs, limits)) {
        match result {
            Ok(k) => inv.kexts.push(k),
            Err(reason) => inv.bad.push(BadBundle { path: job.mac.clone(), reason: one_line(&reason) }),
        }
    }
    inv.kexts.sort_by(|a, b| a.path.cmp(&b.path));
    inv.bad.sort_by(|a, b| a.path.cmp(&b.path).then_with(|| a.reason.cmp(&b.reason)));
    inv
}

/// The folders below `<volume_root><base>` that directly contain `.kext`
/// bundles, as the Mac sees them, sorted: for `/Library/StagedExtensions`,
/// whose staged copies mirror their source paths
/// (`/Library/StagedExtensions/Library/Filesystems/macfuse.fs/Contents/Extensions/13/macfuse.kext`).
/// Symbolic links are not followed and bundles are not entered; at most
/// 12 levels and `limits.max_entries` entries are examined.
pub fn kext_dirs_under(volume_root: &Path, base: &str, limits: &Limits) -> Vec<String> {
    let start = volume_root.join(base.trim_start_matches('/'));
    let mut dirs = std::collections::BTreeSet::new();
    let walk = walkdir::WalkDir::new(&start).follow_links(false).max_depth(12).into_iter();
    let mut seen = 0usize;
    let mut it = walk;
    while let Some(entry) = it.next() {
        seen += 1;
        if seen > limits.max_entries {
            break;
        }
        let Ok(e) = entry else { continue };
        if !e.file_type().is_dir() {
            continue;
        }
        if e.file_name().as_encoded_bytes().ends_with(b".kext") {
            if let Some(parent) = e.path().parent()
                && let Ok(rel) = parent.strip_prefix(volume_root)
            {
                dirs.insert(format!("/{}", rel.to_string_lossy()));
            }
            it.skip_current_dir();
        }
    }
    dirs.into_iter().collect()
}

/// A bundle found by the walk, to be read.
struct Job {
    /// Path as the Mac sees it.
    mac: String,
    /// Canonical path on this machine (inside the volume root).
    fs: PathBuf,
    /// 1 top level, 2 plug-in.
    level: usize,
}

struct Walker<'a> {
    root: &'a Path,
    limits: &'a Limits,
    entries: usize,
    stopped: bool,
    jobs: Vec<Job>,
    bad: Vec<BadBundle>,
    /// Canonical bundle paths already queued, with the path first seen.
    visited: std::collections::HashMap<PathBuf, String>,
}

impl Walker<'_> {
    fn bad(&mut self, path: &str, reason: String) {
        self.bad.push(BadBundle { path: path.to_string(), reason: one_line(&reason) });
    }

    /// Read the `.kext` entries of the folder `dir` (canonical), whose
    /// bundles are at nesting level `depth`. `ancestors` holds the
    /// canonical paths of the enclosing bundles.
    fn walk(&mut self, dir: &Path, dir_mac: &str, depth: usize, ancestors: &mut Vec<PathBuf>) {
        let reader = match fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                self.bad(dir_mac, io_reason(&e, dir_mac));
                return;
            }
        };
        let mut kexts = Vec::new();
        for entry in reader {
            self.entries += 1;
            if self.entries > self.limits.max_entries {
                self.stopped = true;
                let reason = format!("more than {} entries; scan stopped", self.limits.max_entries);
                self.bad(dir_mac, reason);
                return;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.bad(dir_mac, io_reason(&e, dir_mac));
                    continue;
                }
            };
            let name = entry.file_name();
            if name.as_encoded_bytes().ends_with(b".kext") {
                kexts.push((name, entry.file_type()));
            }
        }
        kexts.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, file_type) in kexts {
            if self.stopped {
                return;
            }
            let mac = mac_join(dir_mac, &name.to_string_lossy());
            let path = dir.join(&name);
            let canon = match file_type {
                Ok(t) if t.is_dir() => path,
                Ok(t) if t.is_symlink() => match resolve(self.root, &path, &mac) {
                    Ok(c) if c.is_dir() => c,
                    Ok(_) => continue, // a link to a file: not a bundle
                    Err(reason) => {
                        self.bad(&mac, reason);
                        continue;
                    }
                },
                Ok(_) => continue, // a file named *.kext: not a bundle
                Err(e) => {
                    self.bad(&mac, io_reason(&e, &mac));
                    continue;
                }
            };
            if depth > self.limits.max_depth {
                let reason = format!("nesting deeper than {} levels", self.limits.max_depth);
                self.bad(&mac, reason);
                continue;
            }
            if ancestors.iter().any(|a| a.starts_with(&canon)) {
                let reason = format!("symlink loop at {mac}: it leads back into an enclosing bundle");
                self.bad(&mac, reason);
                continue;
            }
            // An unreadable bundle folder (e.g. mode 000) is one bad bundle,
            // reported here rather than once per file inside it.
            let has_contents = match exists(&canon.join("Contents")) {
                Ok(c) => c,
                Err(e) => {
                    self.bad(&mac, io_reason(&e, &mac));
                    continue;
                }
            };
            // Each bundle is read once, whatever links lead to it: links
            // between plug-in folders must not multiply the walk.
            if depth > 1
                && let Some(first) = self.visited.get(&canon)
            {
                let reason = format!("a symbolic link to the bundle already read at {first}");
                self.bad(&mac, reason);
                continue;
            }
            self.visited.entry(canon.clone()).or_insert_with(|| mac.clone());
            self.jobs.push(Job { mac: mac.clone(), fs: canon.clone(), level: depth });
            // Apple loads the plug-ins of a top-level kext only, never
            // plug-ins of plug-ins (IOKitUser `OSKext.c`
            // `OSKextCopyPlugins` looks one level down), so neither do we.
            if depth == 1 {
                self.plugins(&canon, &mac, has_contents, depth, ancestors);
            }
        }
    }

    /// Walk the plug-ins folder of the bundle at `bundle` (canonical).
    fn plugins(
        &mut self,
        bundle: &Path,
        bundle_mac: &str,
        has_contents: bool,
        depth: usize,
        ancestors: &mut Vec<PathBuf>,
    ) {
        let rel = if has_contents { "Contents/PlugIns" } else { "PlugIns" };
        let path = bundle.join(rel);
        let mac = mac_join(bundle_mac, rel);
        match exists(&path) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                self.bad(bundle_mac, io_reason(&e, &mac));
                return;
            }
        }
        let canon = match resolve(self.root, &path, &mac) {
            Ok(c) => c,
            Err(reason) => {
                self.bad(bundle_mac, reason);
                return;
            }
        };
        if !canon.is_dir() {
            return;
        }
        ancestors.push(bundle.to_path_buf());
        self.walk(&canon, &mac, depth + 1, ancestors);
        ancestors.pop();
    }
}

/// Read every job, on up to 4 threads; results in job order.
fn read_all(root: &Path, jobs: &[Job], limits: &Limits) -> Vec<Result<InstalledKext, String>> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
        .min(jobs.len().div_ceil(16).max(1));
    if threads <= 1 {
        return jobs.iter().map(|j| read_bundle(root, j, limits)).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Result<InstalledKext, String>)>> = Mutex::new(Vec::with_capacity(jobs.len()));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    mine.push((i, read_bundle(root, job, limits)));
                }
                // A poisoned lock only means another worker panicked;
                // its data is still a valid Vec.
                let mut all = done.lock().unwrap_or_else(|p| p.into_inner());
                all.extend(mine);
            });
        }
    });
    let mut all = done.into_inner().unwrap_or_else(|p| p.into_inner());
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Read one bundle's Info.plist and executable.
fn read_bundle(root: &Path, job: &Job, limits: &Limits) -> Result<InstalledKext, String> {
    let b = &job.fs;
    let ioerr = |e: io::Error, rel: &str| io_reason(&e, rel);
    // The common layout first, one lstat per component: `Contents` a
    // directory and `Info.plist` a regular file, neither a link. That is
    // all the general way below finds for such a bundle (it exists, it
    // resolves to itself, its metadata), in 2 calls instead of 5.
    let common = plain_below(b, &["Contents", "Info.plist"]);
    let contents_plain = common.is_some();
    let (plist_rel, flat, plist_path, meta) = match common {
        Some((path, meta)) => ("Contents/Info.plist", false, path, meta),
        None => {
            let (plist_rel, flat) =
                if exists(&b.join("Contents/Info.plist")).map_err(|e| ioerr(e, "Contents/Info.plist"))? {
                    ("Contents/Info.plist", false)
                } else if exists(&b.join("Info.plist")).map_err(|e| ioerr(e, "Info.plist"))? {
                    ("Info.plist", true)
                } else {
                    return Err("Contents/Info.plist is missing".into());
                };
            let plist_path = resolve_below(root, b, plist_rel, &mac_join(&job.mac, plist_rel))?;
            let meta = fs::metadata(&plist_path).map_err(|e| ioerr(e, plist_rel))?;
            (plist_rel, flat, plist_path, meta)
        }
    };
    if meta.is_dir() {
        return Err(format!("a directory where Info.plist should be ({plist_rel})"));
    }
    if !meta.is_file() {
        return Err(format!("{plist_rel} is not a regular file"));
    }
    if meta.len() > limits.max_plist_bytes {
        return Err(format!("Info.plist is {} bytes, over the {}-byte limit", meta.len(), limits.max_plist_bytes));
    }
    let bytes = read_bounded(&plist_path, limits.max_plist_bytes).map_err(|e| ioerr(e, plist_rel))?;
    let info = parse_info_plist(&bytes)?;
    let InfoPlist { bundle_id, version, executable, format, required, package_type, libraries, exclude_list } = info;
    let mut kext = InstalledKext {
        bundle_id,
        version,
        path: job.mac.clone(),
        executable: None,
        executable_path: None,
        uuids: Vec::new(),
        executable_sha256: None,
        executable_file: None,
        info_plist_format: format,
        required,
        package_type,
        libraries,
        archs: Vec::new(),
        team_id: None,
        level: u8::try_from(job.level).unwrap_or(u8::MAX),
        exclude_list,
    };
    let Some(exe) = executable else {
        return Ok(kext);
    };
    let exe_rel = if flat { exe.clone() } else { format!("Contents/MacOS/{exe}") };
    let exe_mac = mac_join(&job.mac, &exe_rel);
    // As for Info.plist: the common layout, one lstat per component
    // (`Contents` not again when it was just seen to be a directory).
    let common = match flat || matches!(exe.as_str(), "" | "." | "..") || exe.contains('/') {
        true => None,
        false if contents_plain => plain_below(&b.join("Contents"), &["MacOS", &exe]),
        false => plain_below(b, &["Contents", "MacOS", &exe]),
    };
    let (exe_path, meta) = match common {
        Some(found) => found,
        None => {
            match exists(&b.join(&exe_rel)) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!("CFBundleExecutable \"{exe}\" is missing at {exe_rel}"));
                }
                Err(e) => return Err(ioerr(e, &exe_rel)),
            }
            let exe_path = resolve_below(root, b, &exe_rel, &exe_mac)?;
            let meta = fs::metadata(&exe_path).map_err(|e| ioerr(e, &exe_rel))?;
            (exe_path, meta)
        }
    };
    if !meta.is_file() {
        return Err(format!("CFBundleExecutable \"{exe}\" at {exe_rel} is not a regular file"));
    }
    if meta.len() > limits.max_executable_bytes {
        return Err(format!(
            "executable {exe_rel} is {} bytes, over the {}-byte limit",
            meta.len(),
            limits.max_executable_bytes
        ));
    }
    // The team id serves only user approval: Apple's kexts need none, so
    // their code signatures are not read.
    let team = approval_applies(&kext.bundle_id, &kext.path);
    let slices = read_executable(&exe_path, limits.max_executable_bytes, team).map_err(|e| ioerr(e, &exe_rel))??;
    kext.uuids = slices.iter().filter_map(|s| Some((s.arch.clone(), s.uuid.clone()?))).collect();
    kext.archs = slices.iter().map(|s| s.arch.clone()).collect();
    kext.team_id = slices.iter().find_map(|s| s.team_id.clone());
    kext.executable_file = Some(exe_path);
    kext.executable = Some(exe);
    kext.executable_path = Some(exe_mac);
    Ok(kext)
}

/// Most FAT slices read from one executable (real ones have 2 or 3).
const MAX_EXECUTABLE_SLICES: u64 = 64;

/// The slice facts of the executable at `path` ([`read_slices`]), reading
/// only what they come from: the FAT table, each slice's Mach-O header
/// and load commands, and its code signature — not the code. When the
/// pieces do not read cleanly the whole file is read and read again, so a
/// damaged executable gives the same reason either way. The outer
/// `Result` is I/O; the inner one a damaged executable.
///
/// Without `team` the code signature is neither read nor parsed and every
/// slice's `team_id` is `None`.
fn read_executable(path: &Path, max: u64, team: bool) -> io::Result<Result<Vec<SliceFacts>, String>> {
    read_executable_with(path, max, 0, team)
}

/// Whether user approval (and so the team id) applies to the kext
/// `bundle_id` at `path` (its path on the Mac): not to Apple's own kexts,
/// platform binaries in the SIP-protected folders; approval is tracked by
/// team id and bundle id (TN2459: "Kext loading is allowed for all kexts
/// signed by Apple"; KextPolicy rows name a team id).
pub fn approval_applies(bundle_id: &str, path: &str) -> bool {
    !(bundle_id.starts_with("com.apple.") || path.starts_with("/System/Library/Extensions/"))
}

/// As [`read_executable`], with the bytes it does not read set to `fill`
/// (tests poison them to prove they are never looked at).
fn read_executable_with(path: &Path, max: u64, fill: u8, team: bool) -> io::Result<Result<Vec<SliceFacts>, String>> {
    let (file, len) = crate::input::open_regular(path).map_err(|e| match e {
        crate::input::InputError::Io(e) => e,
        other => io::Error::other(other.to_string()),
    })?;
    if len > max {
        return Err(io::Error::other(format!("is {len} bytes, over the {max}-byte limit")));
    }
    // len <= max, a few hundred MB at most: fits in usize. Each walker
    // thread reuses one buffer (poisoned in tests: never cleared).
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut sp = if fill == 0 {
        crate::input::Sparse::reusing(file, len as usize, BUFFER.take())
    } else {
        crate::input::Sparse::with_fill(file, len as usize, fill)
    };
    let result = read_pieces(&mut sp, team);
    if fill == 0 {
        let buf = sp.into_buffer();
        // A huge executable's buffer is not kept for the next one.
        if buf.len() <= 64 << 20 {
            BUFFER.set(buf);
        }
    }
    result
}

/// The body of [`read_executable_with`] on an open file.
fn read_pieces(sp: &mut crate::input::Sparse, team: bool) -> io::Result<Result<Vec<SliceFacts>, String>> {
    sp.load(0, crate::input::SPARSE_PAGE)?;
    let magic = Bytes::new(sp.bytes(), "executable").u32_be_at(0, "magic").ok();
    let starts: Vec<u64> = match magic {
        Some(FAT_MAGIC | FAT_MAGIC_64) => {
            let n = Bytes::new(sp.bytes(), "fat").u32_be_at(4, "nfat_arch").map_or(0, u64::from);
            sp.load(0, 8 + n.min(MAX_EXECUTABLE_SLICES) * 32)?;
            match read_fat(sp.bytes(), None) {
                Ok((slices, _)) if slices.len() as u64 <= MAX_EXECUTABLE_SLICES => {
                    slices.iter().map(|s| s.offset).collect()
                }
                _ => return whole(sp, team),
            }
        }
        Some(MH_MAGIC | MH_MAGIC_64 | MH_CIGAM | MH_CIGAM_64) => vec![0],
        _ => return whole(sp, team),
    };
    for start in starts {
        sp.load(start, 32)?;
        let sizeofcmds = sp
            .bytes()
            .get(usize::try_from(start).unwrap_or(usize::MAX).saturating_add(crate::macho::SIZEOFCMDS_OFFSET)..)
            .and_then(|b| b.get(..4))
            .map_or(0, |b| u32::from_le_bytes(b.try_into().expect("4 bytes")));
        // Either byte order: load the larger reading (bounded by the file).
        let sizeofcmds = u64::from(sizeofcmds.max(sizeofcmds.swap_bytes()));
        sp.load(start, 32 + sizeofcmds)?;
        if team
            && let Some(Ok(Some((a, b)))) =
                sp.bytes().get(start as usize..).map(crate::macho::codesign::signature_range)
        {
            sp.load(start + a as u64, (b - a) as u64)?;
        }
    }
    match read_slices_with(sp.bytes(), team) {
        Ok(s) => Ok(Ok(s)),
        Err(_) => whole(sp, team),
    }
}

/// [`read_slices_with`] on the whole file.
fn whole(sp: &mut crate::input::Sparse, team: bool) -> io::Result<Result<Vec<SliceFacts>, String>> {
    sp.load(0, u64::MAX)?;
    Ok(read_slices_with(sp.bytes(), team))
}

/// Fill in [`InstalledKext::executable_sha256`] (reading the whole
/// executable); a file that no longer reads leaves it `None`.
pub fn hash_executable(k: &mut InstalledKext, limits: &Limits) {
    if let Some(p) = &k.executable_file
        && let Ok(data) = read_bounded(p, limits.max_executable_bytes)
    {
        k.executable_sha256 = Some(sha256_hex(&data));
    }
}

/// The facts of a kext's Info.plist that kcheck uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoPlist {
    /// `CFBundleIdentifier` (non-empty).
    pub bundle_id: String,
    /// `CFBundleVersion`.
    pub version: Option<String>,
    /// `CFBundleExecutable` (a plain file name; `None` for codeless kexts).
    pub executable: Option<String>,
    /// `xml` or `binary`.
    pub format: &'static str,
    /// `OSBundleRequired`.
    pub required: Option<String>,
    /// `CFBundlePackageType`.
    pub package_type: Option<String>,
    /// The keys of `OSBundleLibraries`, sorted.
    pub libraries: Vec<String>,
    /// `OSKextExcludeList` (only read for `com.apple.driver.KextExcludeList`).
    pub exclude_list: Option<Vec<(String, ExcludeRule)>>,
}

/// The bundle id of Apple's exclude-list kext (`AppleKextExcludeList.kext`).
pub const EXCLUDE_LIST_KEXT: &str = "com.apple.driver.KextExcludeList";

/// Parse an Info.plist (XML or `bplist00`; nothing else, so junk is not
/// taken for an old-style ASCII plist). Errors are one-line reasons.
pub fn parse_info_plist(bytes: &[u8]) -> Result<InfoPlist, String> {
    let format = if bytes.starts_with(b"bplist00") { "binary" } else { "xml" };
    if format == "xml" && !looks_like_xml(bytes) {
        return Err("Info.plist is not a valid plist: not an XML or binary property list".into());
    }
    let limits = crate::bounded_plist::Limits { max_bytes: 16 << 20, ..crate::bounded_plist::Limits::default() };
    let value = crate::bounded_plist::parse(bytes, &limits)
        .map_err(|e| one_line(&format!("Info.plist is not a valid plist: {e}")))?;
    let dict = value.as_dictionary().ok_or("Info.plist is not a dictionary")?;
    let bundle_id = dict
        .get("CFBundleIdentifier")
        .and_then(plist::Value::as_string)
        .filter(|s| !s.is_empty())
        .ok_or("Info.plist has no CFBundleIdentifier string")?
        .to_string();
    let version = match dict.get("CFBundleVersion") {
        None => None,
        Some(v) => Some(v.as_string().ok_or("CFBundleVersion is not a string")?.to_string()),
    };
    let executable = match dict.get("CFBundleExecutable") {
        None => None,
        Some(v) => {
            let name = v.as_string().ok_or("CFBundleExecutable is not a string")?;
            if name.is_empty() {
                None
            } else if name.contains('/') || name == "." || name == ".." || name.contains('\0') {
                return Err(format!("CFBundleExecutable {name:?} is not a plain file name"));
            } else {
                Some(name.to_string())
            }
        }
    };
    for (key, v) in [("CFBundleIdentifier", Some(&bundle_id)), ("CFBundleVersion", version.as_ref())] {
        if let Some(v) = v
            && v.len() > crate::cache::MAX_STRING
        {
            return Err(format!("{key} is {} bytes long, over the {}-byte limit", v.len(), crate::cache::MAX_STRING));
        }
    }
    let string = |key: &str| dict.get(key).and_then(plist::Value::as_string).map(str::to_string);
    let required = string("OSBundleRequired");
    let package_type = string("CFBundlePackageType");
    let mut libraries: Vec<String> = dict
        .get("OSBundleLibraries")
        .and_then(plist::Value::as_dictionary)
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default();
    libraries.sort();
    let exclude_list = (bundle_id == EXCLUDE_LIST_KEXT).then(|| {
        let Some(list) = dict.get("OSKextExcludeList").and_then(plist::Value::as_dictionary) else {
            return Vec::new();
        };
        list.iter()
            .filter_map(|(id, v)| {
                let rule = match v {
                    plist::Value::String(s) => ExcludeRule { versions: s.clone(), needs_matching: false },
                    plist::Value::Dictionary(d) => ExcludeRule {
                        versions: d.get("Versions").and_then(plist::Value::as_string)?.to_string(),
                        needs_matching: ["Any_Match", "All_Match"]
                            .iter()
                            .any(|k| d.get(k).and_then(plist::Value::as_array).is_some_and(|a| !a.is_empty())),
                    },
                    _ => return None,
                };
                Some((id.clone(), rule))
            })
            .collect()
    });
    Ok(InfoPlist { bundle_id, version, executable, format, required, package_type, libraries, exclude_list })
}

/// Whether `bytes` starts like an XML document (after an optional BOM and
/// white space): `<`.
fn looks_like_xml(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'<')
}

/// `(arch, uuid)` of every Mach-O slice of an executable that has one.
pub fn executable_uuids(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    Ok(read_slices(data)?.into_iter().filter_map(|s| Some((s.arch, s.uuid?))).collect())
}

/// What kcheck reads of one slice of a kext executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SliceFacts {
    /// `x86_64`, `arm64e`, …
    pub arch: String,
    /// Its `LC_UUID`, upper-case dashed.
    pub uuid: Option<String>,
    /// The code signature's team identifier.
    pub team_id: Option<String>,
}

/// Every Mach-O slice of an executable (thin or FAT): arch, UUID, team id.
pub fn read_slices(data: &[u8]) -> Result<Vec<SliceFacts>, String> {
    read_slices_with(data, true)
}

/// [`read_slices`]; without `team` the code signatures are not parsed
/// (every `team_id` is `None`).
fn read_slices_with(data: &[u8], team: bool) -> Result<Vec<SliceFacts>, String> {
    let magic = Bytes::new(data, "executable").u32_be_at(0, "magic").ok();
    let mut out = Vec::new();
    let mut one = |bytes: &[u8], start: usize, layer: &str, what: &str| -> Result<(), String> {
        let view = MachView::parse(bytes, start, layer).map_err(|e| format!("executable is a damaged {what}: {e}"))?;
        // A damaged signature is not a damaged kext: the kext's team id is
        // then unknown (and approval is judged without it).
        let team_id = team
            .then(|| bytes.get(start..))
            .flatten()
            .and_then(|slice| crate::macho::codesign::read(slice).ok().flatten())
            .and_then(|sig| sig.team_id);
        out.push(SliceFacts { arch: view.arch(), uuid: view.uuid().map(|u| format_uuid(&u)), team_id });
        Ok(())
    };
    match magic {
        Some(FAT_MAGIC | FAT_MAGIC_64) => {
            let (slices, _) = read_fat(data, None).map_err(|e| format!("executable is a damaged FAT file: {e}"))?;
            for s in slices {
                // The file up to the end of the slice (offsets stay relative
                // to the file); read_fat checked this range too.
                let bytes = Bytes::new(data, "fat")
                    .slice_at(0, s.offset.saturating_add(s.size), "fat slice")
                    .map_err(|_| format!("executable is a damaged FAT file: slice {} is outside the file", s.arch))?;
                let start = s.offset as usize;
                one(bytes, start, &format!("fat[{}] > mach-o", s.arch), "FAT file")?;
            }
        }
        Some(MH_MAGIC | MH_MAGIC_64 | MH_CIGAM | MH_CIGAM_64) => one(data, 0, "mach-o", "Mach-O")?,
        _ => {
            let e = match MachView::parse(data, 0, "mach-o") {
                Err(e) => e.to_string(),
                Ok(_) => "unrecognised magic".into(),
            };
            return Err(format!("executable is not a Mach-O: {e}"));
        }
    }
    Ok(out)
}

/// Canonicalise `path` and check that it stays inside `root` (already
/// canonical). `mac` names the path in reasons.
fn resolve(root: &Path, path: &Path, mac: &str) -> Result<PathBuf, String> {
    match fs::canonicalize(path) {
        Ok(c) if c.starts_with(root) => Ok(c),
        Ok(c) => Err(format!("symlink leads outside the volume root: {mac} -> {}", c.to_string_lossy())),
        Err(e) if is_loop(&e) => Err(format!("symlink loop at {mac}")),
        Err(e) if is_absent(&e) => {
            let target = fs::read_link(path).map(|t| format!(" -> {}", t.to_string_lossy())).unwrap_or_default();
            Err(format!("dangling symlink at {mac}{target}"))
        }
        Err(e) => Err(io_reason(&e, mac)),
    }
}

/// [`resolve`] for `rel` below the canonical directory `base`, with one
/// `lstat` per component of `rel` instead of a `realpath` of the whole
/// path (which reads every component from `/`): when no component is a
/// symbolic link (or `..`), `base/rel` is already canonical and inside the
/// root. Anything else takes the full [`resolve`], with its reasons.
fn resolve_below(root: &Path, base: &Path, rel: &str, mac: &str) -> Result<PathBuf, String> {
    let mut at = base.to_path_buf();
    for part in rel.split('/') {
        at.push(part);
        let needs_full = matches!(part, "" | "." | "..")
            || !matches!(fs::symlink_metadata(&at), Ok(m) if !m.file_type().is_symlink());
        if needs_full {
            return resolve(root, &base.join(rel), mac);
        }
    }
    Ok(at)
}

/// `base/parts…` when every part but the last is a directory and the last
/// a regular file, none of them a symbolic link (one `lstat` each), with
/// the file's metadata; `None` for anything else (absent, a link, another
/// kind of file, an error), which the caller then examines the general
/// way. `base` is canonical, so the path is too.
fn plain_below(base: &Path, parts: &[&str]) -> Option<(PathBuf, fs::Metadata)> {
    let mut at = base.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let m = fs::symlink_metadata(&at).ok()?;
        let last = i + 1 == parts.len();
        if (last && !m.is_file()) || (!last && !m.is_dir()) {
            return None;
        }
        if last {
            return Some((at, m));
        }
    }
    None
}

/// Whether `path` exists (without following a final symlink); errors
/// other than "not there" are returned.
fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if is_absent(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Read at most `max` bytes of a regular file (opened without blocking).
fn read_bounded(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    crate::input::read_regular(path, max).map_err(|e| match e {
        crate::input::InputError::Io(e) => e,
        crate::input::InputError::TooLarge { .. } => {
            io::Error::other(format!("grew past the {max}-byte limit while being read"))
        }
        other => io::Error::other(other.to_string()),
    })
}

fn is_absent(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

fn is_loop(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32)
}

/// A one-line reason for an I/O error on `what`.
fn io_reason(e: &io::Error, what: &str) -> String {
    if e.kind() == io::ErrorKind::PermissionDenied {
        format!("permission denied reading {what}")
    } else if is_loop(e) {
        format!("symlink loop at {what}")
    } else if is_absent(e) {
        format!("{what} is missing")
    } else {
        format!("cannot read {what}: {e}")
    }
}

/// Collapse line breaks so a reason stays on one line.
fn one_line(s: &str) -> String {
    if !s.contains(['\n', '\r']) {
        return s.to_string();
    }
    s.split(['\n', '\r']).map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// `/Library/Extensions/` → `/Library/Extensions`; `` → `/`.
fn normalize_dir(dir: &str) -> String {
    let trimmed = dir.trim_matches('/');
    if trimmed.is_empty() { "/".into() } else { format!("/{trimmed}") }
}

fn mac_join(base: &str, rel: &str) -> String {
    if base.ends_with('/') { format!("{base}{rel}") } else { format!("{base}/{rel}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcheck_testkit::synth::{self, Arch, SynthKext};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{PermissionsExt, symlink};
    use std::time::Instant;

    const LE: &str = "Library/Extensions";

    fn synth_kext(id: &str, version: &str, seed: &str) -> SynthKext {
        SynthKext {
            bundle_id: id.into(),
            version: version.into(),
            bundle_path: String::new(),
            executable: Some("x".into()),
            uuid: synth::uuid_for(seed),
            code_size: 0x300,
            libraries: vec![],
            image: None,
            personalities: 0,
            ..SynthKext::default()
        }
    }

    fn macho(id: &str, seed: &str) -> (Vec<u8>, String) {
        let k = synth_kext(id, "1", seed);
        (synth::kext_macho(&k, Arch::X86_64, 0, 0), format_uuid(&synth::uuid_for(seed)))
    }

    fn dict(pairs: &[(&str, plist::Value)]) -> plist::Value {
        let mut d = plist::Dictionary::new();
        for (k, v) in pairs {
            d.insert((*k).to_string(), v.clone());
        }
        plist::Value::Dictionary(d)
    }

    fn s(v: &str) -> plist::Value {
        plist::Value::String(v.into())
    }

    /// Write a macOS-layout bundle at `root/rel`: Info.plist (XML unless
    /// `binary`) with the given id/version/executable, and the executable
    /// bytes if given.
    fn bundle(
        root: &Path,
        rel: &str,
        id: &str,
        version: Option<&str>,
        exe: Option<(&str, &[u8])>,
        binary: bool,
    ) -> PathBuf {
        let b = root.join(rel);
        fs::create_dir_all(b.join("Contents")).unwrap();
        let mut pairs = vec![("CFBundleIdentifier", s(id))];
        if let Some(v) = version {
            pairs.push(("CFBundleVersion", s(v)));
        }
        if let Some((name, bytes)) = exe {
            pairs.push(("CFBundleExecutable", s(name)));
            fs::create_dir_all(b.join("Contents/MacOS")).unwrap();
            fs::write(b.join("Contents/MacOS").join(name), bytes).unwrap();
        }
        let p = b.join("Contents/Info.plist");
        if binary {
            dict(&pairs).to_file_binary(&p).unwrap();
        } else {
            dict(&pairs).to_file_xml(&p).unwrap();
        }
        b
    }

    fn codeless(root: &Path, rel: &str, id: &str) -> PathBuf {
        bundle(root, rel, id, Some("1.0"), None, false)
    }

    fn plist_at(root: &Path, rel: &str, pairs: &[(&str, plist::Value)]) {
        let b = root.join(rel);
        fs::create_dir_all(b.join("Contents")).unwrap();
        dict(pairs).to_file_xml(b.join("Contents/Info.plist")).unwrap();
    }

    fn scan_le(root: &Path) -> Inventory {
        scan(root, &["/Library/Extensions"], &Limits::default())
    }

    fn paths(inv: &Inventory) -> Vec<&str> {
        inv.kexts.iter().map(|k| k.path.as_str()).collect()
    }

    fn bad(inv: &Inventory) -> Vec<(&str, &str)> {
        inv.bad.iter().map(|b| (b.path.as_str(), b.reason.as_str())).collect()
    }

    fn find<'a>(inv: &'a Inventory, path: &str) -> &'a InstalledKext {
        inv.kexts.iter().find(|k| k.path == path).unwrap_or_else(|| panic!("{path} not found in {:?}", paths(inv)))
    }

    fn reason<'a>(inv: &'a Inventory, path: &str) -> &'a str {
        inv.bad
            .iter()
            .find(|b| b.path == path)
            .map(|b| b.reason.as_str())
            .unwrap_or_else(|| panic!("{path} not among bad bundles {:?}", bad(inv)))
    }

    #[test]
    fn reads_xml_binary_fat_codeless_nested_and_flat_bundles() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let (foo, foo_uuid) = macho("com.example.Foo", "foo");
        bundle(root, &format!("{LE}/Foo.kext"), "com.example.Foo", Some("1.2.3"), Some(("Foo", &foo)), false);
        let (x86, x86_uuid) = macho("com.example.Fat", "fat-x86");
        let arm_k = synth_kext("com.example.Fat", "1", "fat-arm");
        let arm = synth::kext_macho(&arm_k, Arch::Arm64e, 0, 0);
        let arm_uuid = format_uuid(&arm_k.uuid);
        let fat = synth::fat(&[(Arch::X86_64, &x86), (Arch::Arm64e, &arm)], false);
        bundle(root, &format!("{LE}/Fat.kext"), "com.example.Fat", Some("2.0"), Some(("Fat", &fat)), true);
        codeless(root, &format!("{LE}/Codeless.kext"), "com.example.Codeless");
        bundle(root, &format!("{LE}/NoVersion.kext"), "com.example.NoVersion", None, None, false);
        // Nested plug-ins, two levels, plus things that must be ignored.
        let (p, _) = macho("com.example.Parent", "parent");
        bundle(root, &format!("{LE}/Parent.kext"), "com.example.Parent", Some("3"), Some(("Parent", &p)), false);
        codeless(root, &format!("{LE}/Parent.kext/Contents/PlugIns/Child.kext"), "com.example.Child");
        let (g, g_uuid) = macho("com.example.Grand", "grand");
        bundle(
            root,
            &format!("{LE}/Parent.kext/Contents/PlugIns/Child.kext/Contents/PlugIns/Grand.kext"),
            "com.example.Grand",
            Some("3.1"),
            Some(("Grand", &g)),
            true,
        );
        codeless(
            root,
            &format!("{LE}/Parent.kext/Contents/PlugIns/Thing.bundle/Contents/PlugIns/Hidden.kext"),
            "com.example.Hidden",
        );
        codeless(root, &format!("{LE}/Other/Inner.kext"), "com.example.Inner");
        fs::write(root.join(LE).join("Readme.txt"), "hi").unwrap();
        fs::write(root.join(LE).join("File.kext"), "not a bundle").unwrap();
        // Flat (iOS) layout, with a flat plug-in.
        let (flat, flat_uuid) = macho("com.example.Flat", "flat");
        let fb = root.join(LE).join("Flat.kext");
        fs::create_dir_all(fb.join("PlugIns/FlatChild.kext")).unwrap();
        dict(&[
            ("CFBundleIdentifier", s("com.example.Flat")),
            ("CFBundleVersion", s("9")),
            ("CFBundleExecutable", s("Flat")),
        ])
        .to_file_xml(fb.join("Info.plist"))
        .unwrap();
        fs::write(fb.join("Flat"), &flat).unwrap();
        dict(&[("CFBundleIdentifier", s("com.example.FlatChild"))])
            .to_file_xml(fb.join("PlugIns/FlatChild.kext/Info.plist"))
            .unwrap();
        // A second folder, and a missing one.
        let (hda, _) = macho("com.apple.driver.AppleHDA", "hda");
        bundle(
            root,
            "System/Library/Extensions/AppleHDA.kext",
            "com.apple.driver.AppleHDA",
            Some("283.15"),
            Some(("AppleHDA", &hda)),
            false,
        );
        codeless(
            root,
            "System/Library/Extensions/AppleHDA.kext/Contents/PlugIns/AppleHDAController.kext",
            "com.apple.driver.AppleHDAController",
        );

        let inv = scan(
            root,
            &["/Library/Extensions", "/System/Library/Extensions/", "/Library/StagedExtensions"],
            &Limits::default(),
        );
        assert_eq!(bad(&inv), Vec::<(&str, &str)>::new());
        assert_eq!(inv.dirs_scanned, vec!["/Library/Extensions", "/System/Library/Extensions"]);
        assert_eq!(
            paths(&inv),
            vec![
                "/Library/Extensions/Codeless.kext",
                "/Library/Extensions/Fat.kext",
                "/Library/Extensions/Flat.kext",
                "/Library/Extensions/Flat.kext/PlugIns/FlatChild.kext",
                "/Library/Extensions/Foo.kext",
                "/Library/Extensions/NoVersion.kext",
                "/Library/Extensions/Parent.kext",
                "/Library/Extensions/Parent.kext/Contents/PlugIns/Child.kext",
                // Grand.kext, a plug-in of a plug-in, is never loaded by
                // Apple (OSKextCopyPlugins looks one level down): not listed.
                "/System/Library/Extensions/AppleHDA.kext",
                "/System/Library/Extensions/AppleHDA.kext/Contents/PlugIns/AppleHDAController.kext",
            ]
        );

        let k = find(&inv, "/Library/Extensions/Foo.kext");
        assert_eq!(
            k,
            &InstalledKext {
                bundle_id: "com.example.Foo".into(),
                version: Some("1.2.3".into()),
                path: "/Library/Extensions/Foo.kext".into(),
                executable: Some("Foo".into()),
                executable_path: Some("/Library/Extensions/Foo.kext/Contents/MacOS/Foo".into()),
                uuids: vec![("x86_64".into(), foo_uuid.clone())],
                executable_sha256: None,
                executable_file: Some(
                    fs::canonicalize(t.path()).unwrap().join("Library/Extensions/Foo.kext/Contents/MacOS/Foo")
                ),
                info_plist_format: "xml",
                required: None,
                package_type: None,
                libraries: vec![],
                archs: vec!["x86_64".into()],
                team_id: None,
                level: 1,
                exclude_list: None,
            }
        );
        assert_eq!(k.uuid_for("x86_64"), Some(foo_uuid.as_str()));
        assert_eq!(k.uuid_for("arm64e"), Some(foo_uuid.as_str())); // single slice

        let k = find(&inv, "/Library/Extensions/Fat.kext");
        assert_eq!(k.info_plist_format, "binary");
        assert_eq!(k.version.as_deref(), Some("2.0"));
        assert_eq!(k.uuids, vec![("x86_64".to_string(), x86_uuid.clone()), ("arm64e".to_string(), arm_uuid.clone())]);
        assert_eq!(k.uuid_for("arm64"), Some(arm_uuid.as_str()));
        assert_eq!(k.uuid_for("x86_64"), Some(x86_uuid.as_str()));
        assert_eq!(k.uuid_for("i386"), None);
        // The walk does not hash; hash_executable does, on demand.
        assert_eq!(k.executable_sha256, None);
        let mut k = k.clone();
        hash_executable(&mut k, &Limits::default());
        assert_eq!(k.executable_sha256, Some(sha256_hex(&fat)));

        let k = find(&inv, "/Library/Extensions/Codeless.kext");
        assert_eq!((k.bundle_id.as_str(), k.version.as_deref()), ("com.example.Codeless", Some("1.0")));
        assert_eq!((&k.executable, &k.executable_path, &k.executable_sha256), (&None, &None, &None));
        assert!(k.uuids.is_empty());
        assert_eq!(find(&inv, "/Library/Extensions/NoVersion.kext").version, None);

        let _ = g_uuid;
        let c = find(&inv, "/Library/Extensions/Parent.kext/Contents/PlugIns/Child.kext");
        assert_eq!(c.level, 2);

        let f = find(&inv, "/Library/Extensions/Flat.kext");
        assert_eq!(f.executable_path.as_deref(), Some("/Library/Extensions/Flat.kext/Flat"));
        assert_eq!(f.uuids, vec![("x86_64".to_string(), flat_uuid)]);
        assert_eq!(
            find(&inv, "/Library/Extensions/Flat.kext/PlugIns/FlatChild.kext").bundle_id,
            "com.example.FlatChild"
        );
        assert_eq!(find(&inv, "/System/Library/Extensions/AppleHDA.kext").bundle_id, "com.apple.driver.AppleHDA");
    }

    /// Every executable of the fixtures (and of ../shared/realdata when it
    /// is there), read piecewise with the unread bytes poisoned, gives
    /// what the whole file gives; so do damaged copies.
    #[test]
    fn executables_read_piecewise_agree_with_the_whole_file() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(repo.join("testdata/roots"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && e.path().parent().is_some_and(|p| p.ends_with("Contents/MacOS")))
            .map(|e| e.into_path())
            .collect();
        if let Some(real) = realdata().map(|r| r.join("kext_bundles")) {
            files.extend(
                walkdir::WalkDir::new(&real)
                    .into_iter()
                    .filter_map(Result::ok)
                    .filter(|e| {
                        let p = e.path().to_string_lossy();
                        e.file_type().is_file() && (p.contains("/MacOS/") || p.ends_with(".macho"))
                    })
                    .map(|e| e.into_path()),
            );
        }
        assert!(files.len() > 100, "{}", files.len());
        let t = tempfile::tempdir().unwrap();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for (i, f) in files.iter().enumerate() {
            let whole = fs::read(f).unwrap();
            let want = read_slices(&whole);
            assert_eq!(read_executable_with(f, 1 << 30, 0xA5, true).unwrap(), want, "{}", f.display());
            // The walk's way: a reused buffer that still holds the bytes
            // of the files read before (never cleared).
            assert_eq!(read_executable(f, 1 << 30, true).unwrap(), want, "reused buffer: {}", f.display());
            // Without team ids: the same slices, no team id, the signature
            // not looked at.
            let no_team =
                want.clone().map(|v| v.into_iter().map(|s| SliceFacts { team_id: None, ..s }).collect::<Vec<_>>());
            assert_eq!(read_executable_with(f, 1 << 30, 0xA5, false).unwrap(), no_team, "{}", f.display());
            assert_eq!(read_executable(f, 1 << 30, false).unwrap(), no_team, "reused buffer: {}", f.display());
            // A damaged copy (a byte of the headers changed).
            let mut bad = whole.clone();
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let at = (rng as usize) % bad.len().min(4096);
            bad[at] ^= (rng >> 32) as u8 | 1;
            let p = t.path().join(format!("{i}"));
            fs::write(&p, &bad).unwrap();
            assert_eq!(
                read_executable_with(&p, 1 << 30, 0xA5, true).unwrap(),
                read_slices(&bad),
                "damaged {}",
                f.display()
            );
        }
    }

    /// The team id is read where user approval applies (third-party
    /// kexts) and not for Apple's own, whose signatures are not read.
    #[test]
    fn team_ids_are_read_only_where_approval_applies() {
        let t = tempfile::tempdir().unwrap();
        let (m, _) = macho("com.example.Signed", "signed");
        let signed = kcheck_testkit::codesign::sign(&m, "com.example.Signed", Some("ABCDE12345"));
        let apple = kcheck_testkit::codesign::sign(&m, "com.apple.driver.Signed", Some("ABCDE12345"));
        bundle(
            t.path(),
            "Library/Extensions/Signed.kext",
            "com.example.Signed",
            Some("1"),
            Some(("Signed", &signed)),
            false,
        );
        bundle(
            t.path(),
            "Library/Extensions/AppleNamed.kext",
            "com.apple.driver.Signed",
            Some("1"),
            Some(("A", &apple)),
            false,
        );
        bundle(
            t.path(),
            "System/Library/Extensions/InSystem.kext",
            "com.example.InSystem",
            Some("1"),
            Some(("S", &signed)),
            false,
        );
        let inv = scan(t.path(), &["/Library/Extensions", "/System/Library/Extensions"], &Limits::default());
        let team = |id: &str| inv.kexts.iter().find(|k| k.bundle_id == id).unwrap().team_id.clone();
        assert_eq!(team("com.example.Signed").as_deref(), Some("ABCDE12345"));
        assert_eq!(team("com.apple.driver.Signed"), None);
        assert_eq!(team("com.example.InSystem"), None);
        assert!(approval_applies("com.example.Signed", "/Library/Extensions/Signed.kext"));
        assert!(!approval_applies("com.apple.driver.X", "/Library/Extensions/X.kext"));
        assert!(!approval_applies("com.example.X", "/System/Library/Extensions/X.kext"));
        // Everything else is read alike: UUIDs and archs.
        for k in &inv.kexts {
            assert_eq!(k.archs, ["x86_64"], "{}", k.bundle_id);
            assert_eq!(k.uuids.len(), 1, "{}", k.bundle_id);
        }
    }

    #[test]
    fn executable_without_lc_uuid_is_fine() {
        let t = tempfile::tempdir().unwrap();
        let (mut m, _) = macho("com.example.NoUuid", "nouuid");
        // Turn LC_UUID (cmd 0x1b, cmdsize 24) into an unknown command.
        let at = m.windows(8).position(|w| w == [0x1b, 0, 0, 0, 24, 0, 0, 0]).unwrap();
        m[at] = 0x7f;
        bundle(t.path(), &format!("{LE}/NoUuid.kext"), "com.example.NoUuid", Some("1"), Some(("NoUuid", &m)), false);
        let inv = scan_le(t.path());
        assert!(inv.bad.is_empty(), "{:?}", inv.bad);
        let k = find(&inv, "/Library/Extensions/NoUuid.kext");
        assert!(k.uuids.is_empty());
        assert_eq!(k.uuid_for("x86_64"), None);
        let mut k = k.clone();
        hash_executable(&mut k, &Limits::default());
        assert_eq!(k.executable_sha256, Some(sha256_hex(&m)));
    }

    #[test]
    fn unreadable_bundles_become_bad_bundles() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let le = root.join(LE);
        let exe = |name: &str| {
            plist::Value::Dictionary({
                let mut d = plist::Dictionary::new();
                d.insert("CFBundleIdentifier".into(), s(&format!("com.example.{name}")));
                d.insert("CFBundleExecutable".into(), s(name));
                d
            })
        };
        fs::create_dir_all(le.join("NoPlist.kext")).unwrap();
        fs::create_dir_all(le.join("EmptyContents.kext/Contents")).unwrap();
        fs::create_dir_all(le.join("Malformed.kext/Contents")).unwrap();
        fs::write(
            le.join("Malformed.kext/Contents/Info.plist"),
            "<?xml version=\"1.0\"?>\n<plist version=\"1.0\">\n<dict><key>CFBundleIdentifier</key>\n",
        )
        .unwrap();
        fs::create_dir_all(le.join("Ascii.kext/Contents")).unwrap();
        fs::write(le.join("Ascii.kext/Contents/Info.plist"), "hello").unwrap();
        fs::create_dir_all(le.join("NotDict.kext/Contents")).unwrap();
        plist::Value::Array(vec![s("x")]).to_file_xml(le.join("NotDict.kext/Contents/Info.plist")).unwrap();
        plist_at(root, &format!("{LE}/NoId.kext"), &[("CFBundleVersion", s("1"))]);
        plist_at(root, &format!("{LE}/IdNotString.kext"), &[("CFBundleIdentifier", plist::Value::Integer(7.into()))]);
        plist_at(
            root,
            &format!("{LE}/VersionNotString.kext"),
            &[("CFBundleIdentifier", s("com.example.V")), ("CFBundleVersion", plist::Value::Integer(1.into()))],
        );
        plist_at(
            root,
            &format!("{LE}/BadExeName.kext"),
            &[("CFBundleIdentifier", s("com.example.B")), ("CFBundleExecutable", s("../../../../etc/passwd"))],
        );
        fs::create_dir_all(le.join("MissingExe.kext/Contents")).unwrap();
        exe("MissingExe").to_file_xml(le.join("MissingExe.kext/Contents/Info.plist")).unwrap();
        for (name, bytes) in [
            ("GarbageExe", b"this is not a binary at all".to_vec()),
            ("EmptyExe", Vec::new()),
            ("TruncExe", macho("t", "t").0[..40].to_vec()),
            ("TruncFat", {
                let (m, _) = macho("tf", "tf");
                let f = synth::fat(&[(Arch::X86_64, &m)], false);
                f[..0x4000 + 16].to_vec()
            }),
        ] {
            let b = le.join(format!("{name}.kext/Contents"));
            fs::create_dir_all(b.join("MacOS")).unwrap();
            exe(name).to_file_xml(b.join("Info.plist")).unwrap();
            fs::write(b.join("MacOS").join(name), bytes).unwrap();
        }
        let b = le.join("ExeIsDir.kext/Contents");
        fs::create_dir_all(b.join("MacOS/ExeIsDir")).unwrap();
        exe("ExeIsDir").to_file_xml(b.join("Info.plist")).unwrap();
        let b = le.join("HugeExe.kext/Contents");
        fs::create_dir_all(b.join("MacOS")).unwrap();
        exe("HugeExe").to_file_xml(b.join("Info.plist")).unwrap();
        fs::File::create(b.join("MacOS/HugeExe")).unwrap().set_len(600 << 20).unwrap();
        fs::create_dir_all(le.join("HugePlist.kext/Contents")).unwrap();
        fs::File::create(le.join("HugePlist.kext/Contents/Info.plist")).unwrap().set_len(17 << 20).unwrap();
        fs::create_dir_all(le.join("DirPlist.kext/Contents/Info.plist")).unwrap();
        // A broken parent still has its plug-ins read.
        codeless(root, &format!("{LE}/NoPlist.kext/Contents/PlugIns/Fine.kext"), "com.example.Fine");

        let inv = scan_le(root);
        assert_eq!(paths(&inv), vec!["/Library/Extensions/NoPlist.kext/Contents/PlugIns/Fine.kext"]);
        let p = |n: &str| format!("/Library/Extensions/{n}.kext");
        let exact = [
            ("NoPlist", "Contents/Info.plist is missing"),
            ("EmptyContents", "Contents/Info.plist is missing"),
            ("NotDict", "Info.plist is not a dictionary"),
            ("NoId", "Info.plist has no CFBundleIdentifier string"),
            ("IdNotString", "Info.plist has no CFBundleIdentifier string"),
            ("VersionNotString", "CFBundleVersion is not a string"),
            ("BadExeName", "CFBundleExecutable \"../../../../etc/passwd\" is not a plain file name"),
            ("MissingExe", "CFBundleExecutable \"MissingExe\" is missing at Contents/MacOS/MissingExe"),
            ("ExeIsDir", "CFBundleExecutable \"ExeIsDir\" at Contents/MacOS/ExeIsDir is not a regular file"),
            ("HugeExe", "executable Contents/MacOS/HugeExe is 629145600 bytes, over the 536870912-byte limit"),
            ("HugePlist", "Info.plist is 17825792 bytes, over the 16777216-byte limit"),
            ("DirPlist", "a directory where Info.plist should be (Contents/Info.plist)"),
            ("GarbageExe", "executable is not a Mach-O: mach-o: at offset 0x0: not a Mach-O header (magic 0x74686973)"),
            ("EmptyExe", "executable is not a Mach-O: mach-o: at offset 0x0: truncated: no room for a Mach-O magic"),
        ];
        for (name, want) in exact {
            assert_eq!(reason(&inv, &p(name)), want, "{name}");
        }
        let malformed = reason(&inv, &p("Malformed"));
        assert!(malformed.starts_with("Info.plist is not a valid plist: "), "{malformed}");
        let ascii = reason(&inv, &p("Ascii"));
        assert!(ascii.starts_with("Info.plist is not a valid plist: "), "{ascii}");
        let trunc = reason(&inv, &p("TruncExe"));
        assert!(trunc.starts_with("executable is a damaged Mach-O: mach-o: at offset 0x"), "{trunc}");
        let fat = reason(&inv, &p("TruncFat"));
        assert!(fat.starts_with("executable is a damaged FAT file: fat"), "{fat}");
        assert!(fat.contains("offset 0x"), "{fat}");
        assert_eq!(inv.bad.len(), exact.len() + 4, "{:#?}", inv.bad);
        for b in &inv.bad {
            assert!(!b.reason.contains('\n'), "{b:?}");
        }
    }

    #[test]
    fn symlinks_are_followed_only_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = t.path();
        let le = root.join(LE);
        let (real, real_uuid) = macho("com.example.Real", "real");
        bundle(root, &format!("{LE}/Real.kext"), "com.example.Real", Some("1"), Some(("Real", &real)), false);
        codeless(outside.path(), "Evil.kext", "com.example.Evil");
        symlink("Real.kext", le.join("Alias.kext")).unwrap();
        symlink("b.kext", le.join("a.kext")).unwrap();
        symlink("a.kext", le.join("b.kext")).unwrap();
        symlink("Self.kext", le.join("Self.kext")).unwrap();
        symlink(outside.path().join("Evil.kext"), le.join("Out.kext")).unwrap();
        symlink("nowhere.kext", le.join("Dangling.kext")).unwrap();
        fs::create_dir_all(le.join("Real.kext/Contents/PlugIns")).unwrap();
        symlink("../../../Real.kext", le.join("Real.kext/Contents/PlugIns/Back.kext")).unwrap();
        // Info.plist and executable links.
        fs::create_dir_all(le.join("LinkedPlist.kext/Contents")).unwrap();
        fs::write(outside.path().join("Info.plist"), "secret").unwrap();
        symlink(outside.path().join("Info.plist"), le.join("LinkedPlist.kext/Contents/Info.plist")).unwrap();
        plist_at(
            root,
            &format!("{LE}/LinkedExe.kext"),
            &[("CFBundleIdentifier", s("com.example.LinkedExe")), ("CFBundleExecutable", s("LinkedExe"))],
        );
        fs::create_dir_all(le.join("LinkedExe.kext/Contents/MacOS")).unwrap();
        symlink("../../../Real.kext/Contents/MacOS/Real", le.join("LinkedExe.kext/Contents/MacOS/LinkedExe")).unwrap();
        plist_at(
            root,
            &format!("{LE}/OutExe.kext"),
            &[("CFBundleIdentifier", s("com.example.OutExe")), ("CFBundleExecutable", s("OutExe"))],
        );
        fs::create_dir_all(le.join("OutExe.kext/Contents/MacOS")).unwrap();
        symlink(outside.path().join("Info.plist"), le.join("OutExe.kext/Contents/MacOS/OutExe")).unwrap();
        fs::create_dir_all(le.join("PlistLoop.kext/Contents")).unwrap();
        symlink("Info.plist", le.join("PlistLoop.kext/Contents/Info.plist")).unwrap();
        // A Contents link inside the root is followed; a MacOS link out of
        // it is not (the common-layout shortcut must not pass through them).
        fs::create_dir_all(le.join("ContentsLink.kext")).unwrap();
        symlink("../Real.kext/Contents", le.join("ContentsLink.kext/Contents")).unwrap();
        plist_at(
            root,
            &format!("{LE}/MacOSOut.kext"),
            &[("CFBundleIdentifier", s("com.example.MacOSOut")), ("CFBundleExecutable", s("Real"))],
        );
        fs::create_dir_all(outside.path().join("MacOS")).unwrap();
        fs::write(outside.path().join("MacOS/Real"), &real).unwrap();
        symlink(outside.path().join("MacOS"), le.join("MacOSOut.kext/Contents/MacOS")).unwrap();

        let inv = scan_le(root);
        assert_eq!(
            paths(&inv),
            vec![
                "/Library/Extensions/Alias.kext",
                "/Library/Extensions/ContentsLink.kext",
                "/Library/Extensions/LinkedExe.kext",
                "/Library/Extensions/Real.kext",
            ]
        );
        let via = find(&inv, "/Library/Extensions/ContentsLink.kext");
        assert_eq!(via.bundle_id, "com.example.Real");
        assert_eq!(via.uuids, vec![("x86_64".to_string(), real_uuid.clone())]);
        assert_eq!(
            via.executable_file.as_deref(),
            Some(fs::canonicalize(le.join("Real.kext/Contents/MacOS/Real")).unwrap().as_path())
        );
        let alias = find(&inv, "/Library/Extensions/Alias.kext");
        assert_eq!(alias.bundle_id, "com.example.Real");
        assert_eq!(alias.executable_path.as_deref(), Some("/Library/Extensions/Alias.kext/Contents/MacOS/Real"));
        let linked = find(&inv, "/Library/Extensions/LinkedExe.kext");
        assert_eq!(linked.uuids, vec![("x86_64".to_string(), real_uuid)]);
        let mut linked = linked.clone();
        hash_executable(&mut linked, &Limits::default());
        assert_eq!(linked.executable_sha256, Some(sha256_hex(&real)));

        let out_root = fs::canonicalize(outside.path()).unwrap();
        let out = out_root.to_string_lossy();
        let want = vec![
            (
                "/Library/Extensions/Alias.kext/Contents/PlugIns/Back.kext".to_string(),
                "symlink loop at /Library/Extensions/Alias.kext/Contents/PlugIns/Back.kext: it leads back into an enclosing bundle".to_string(),
            ),
            (
                "/Library/Extensions/ContentsLink.kext/Contents/PlugIns/Back.kext".into(),
                "a symbolic link to the bundle already read at /Library/Extensions/Alias.kext".into(),
            ),
            (
                "/Library/Extensions/Dangling.kext".into(),
                "dangling symlink at /Library/Extensions/Dangling.kext -> nowhere.kext".into(),
            ),
            (
                "/Library/Extensions/LinkedPlist.kext".into(),
                format!("symlink leads outside the volume root: /Library/Extensions/LinkedPlist.kext/Contents/Info.plist -> {out}/Info.plist"),
            ),
            (
                "/Library/Extensions/MacOSOut.kext".into(),
                format!("symlink leads outside the volume root: /Library/Extensions/MacOSOut.kext/Contents/MacOS/Real -> {out}/MacOS/Real"),
            ),
            (
                "/Library/Extensions/Out.kext".into(),
                format!("symlink leads outside the volume root: /Library/Extensions/Out.kext -> {out}/Evil.kext"),
            ),
            (
                "/Library/Extensions/OutExe.kext".into(),
                format!("symlink leads outside the volume root: /Library/Extensions/OutExe.kext/Contents/MacOS/OutExe -> {out}/Info.plist"),
            ),
            (
                "/Library/Extensions/PlistLoop.kext".into(),
                "symlink loop at /Library/Extensions/PlistLoop.kext/Contents/Info.plist".into(),
            ),
            (
                "/Library/Extensions/Real.kext/Contents/PlugIns/Back.kext".into(),
                "symlink loop at /Library/Extensions/Real.kext/Contents/PlugIns/Back.kext: it leads back into an enclosing bundle".into(),
            ),
            (
                "/Library/Extensions/Self.kext".into(),
                "symlink loop at /Library/Extensions/Self.kext".into(),
            ),
            (
                "/Library/Extensions/a.kext".into(),
                "symlink loop at /Library/Extensions/a.kext".into(),
            ),
            (
                "/Library/Extensions/b.kext".into(),
                "symlink loop at /Library/Extensions/b.kext".into(),
            ),
        ];
        let got: Vec<(String, String)> = inv.bad.iter().map(|b| (b.path.clone(), b.reason.clone())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn scanned_folder_linked_outside_the_root_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        codeless(outside.path(), "Evil.kext", "com.example.Evil");
        fs::create_dir_all(t.path().join("Library")).unwrap();
        symlink(outside.path(), t.path().join(LE)).unwrap();
        let inv = scan_le(t.path());
        assert!(inv.kexts.is_empty());
        assert!(inv.dirs_scanned.is_empty());
        assert_eq!(inv.bad.len(), 1);
        assert_eq!(inv.bad[0].path, "/Library/Extensions");
        assert!(
            inv.bad[0].reason.starts_with("symlink leads outside the volume root: /Library/Extensions -> "),
            "{:?}",
            inv.bad
        );
    }

    #[test]
    fn missing_root_and_missing_dirs_are_skipped() {
        let t = tempfile::tempdir().unwrap();
        let inv = scan(&t.path().join("no-such-volume"), &["/Library/Extensions"], &Limits::default());
        assert!(inv.kexts.is_empty() && inv.bad.is_empty() && inv.dirs_scanned.is_empty());
        let inv = scan(t.path(), &["/Library/Extensions", "/System/Library/Extensions"], &Limits::default());
        assert!(inv.kexts.is_empty() && inv.bad.is_empty() && inv.dirs_scanned.is_empty());
    }

    #[test]
    fn unreadable_directories_are_reported() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let le = root.join(LE);
        codeless(root, &format!("{LE}/Locked.kext"), "com.example.Locked");
        codeless(root, &format!("{LE}/Host.kext"), "com.example.Host");
        codeless(root, &format!("{LE}/Host.kext/Contents/PlugIns/P.kext"), "com.example.P");
        let locked = [le.join("Locked.kext"), le.join("Host.kext/Contents/PlugIns")];
        for d in &locked {
            fs::set_permissions(d, fs::Permissions::from_mode(0o000)).unwrap();
        }
        let inv = scan_le(root);
        for d in &locked {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        if nix::unistd::geteuid().is_root() {
            // root reads through mode 000: everything is readable.
            eprintln!("SKIPPED permission assertions: running as root");
            assert_eq!(inv.kexts.len(), 3);
            assert!(inv.bad.is_empty());
            return;
        }
        assert_eq!(paths(&inv), vec!["/Library/Extensions/Host.kext"]);
        assert_eq!(
            bad(&inv),
            vec![
                (
                    "/Library/Extensions/Host.kext/Contents/PlugIns",
                    "permission denied reading /Library/Extensions/Host.kext/Contents/PlugIns"
                ),
                ("/Library/Extensions/Locked.kext", "permission denied reading /Library/Extensions/Locked.kext"),
            ]
        );
    }

    #[test]
    fn non_utf8_names_are_reported_lossily() {
        let t = tempfile::tempdir().unwrap();
        let le = t.path().join(LE);
        fs::create_dir_all(&le).unwrap();
        let good = le.join(std::ffi::OsStr::from_bytes(b"Caf\xe9.kext"));
        fs::create_dir_all(good.join("Contents")).unwrap();
        dict(&[("CFBundleIdentifier", s("com.example.Cafe"))]).to_file_xml(good.join("Contents/Info.plist")).unwrap();
        fs::create_dir_all(le.join(std::ffi::OsStr::from_bytes(b"Bad\xff\xfe.kext"))).unwrap();
        let inv = scan_le(t.path());
        assert_eq!(paths(&inv), vec!["/Library/Extensions/Caf\u{fffd}.kext"]);
        assert_eq!(bad(&inv), vec![("/Library/Extensions/Bad\u{fffd}\u{fffd}.kext", "Contents/Info.plist is missing")]);
    }

    #[test]
    fn plugins_of_plugins_are_not_read() {
        let t = tempfile::tempdir().unwrap();
        let mut rel = format!("{LE}/L1.kext");
        for i in 1..=40 {
            if i > 1 {
                rel = format!("{rel}/Contents/PlugIns/L{i}.kext");
            }
            codeless(t.path(), &rel, &format!("com.example.L{i}"));
        }
        let inv = scan_le(t.path());
        assert_eq!(
            paths(&inv),
            vec!["/Library/Extensions/L1.kext", "/Library/Extensions/L1.kext/Contents/PlugIns/L2.kext"]
        );
        assert_eq!(inv.kexts.iter().map(|k| k.level).collect::<Vec<_>>(), [1, 2]);
        assert!(inv.bad.is_empty());
    }

    #[test]
    fn entry_limit_stops_the_scan() {
        let t = tempfile::tempdir().unwrap();
        for i in 0..3 {
            codeless(t.path(), &format!("{LE}/A{i}.kext"), "com.example.A");
        }
        for i in 0..10 {
            codeless(t.path(), &format!("System/Library/Extensions/B{i}.kext"), "com.example.B");
        }
        let limits = Limits { max_entries: 5, ..Limits::default() };
        let inv = scan(t.path(), &["/Library/Extensions", "/System/Library/Extensions", "/Library/Other"], &limits);
        assert_eq!(inv.kexts.len(), 3);
        assert_eq!(bad(&inv), vec![("/System/Library/Extensions", "more than 5 entries; scan stopped")]);
    }

    #[test]
    fn uuid_for_falls_back_between_arm64_flavours() {
        let mut k = InstalledKext {
            bundle_id: "x".into(),
            version: None,
            path: "/x.kext".into(),
            executable: None,
            executable_path: None,
            uuids: vec![("x86_64".into(), "A".into()), ("arm64".into(), "B".into())],
            executable_sha256: None,
            executable_file: None,
            info_plist_format: "xml",
            required: None,
            package_type: None,
            libraries: Vec::new(),
            archs: Vec::new(),
            team_id: None,
            level: 1,
            exclude_list: None,
        };
        assert_eq!(k.uuid_for("x86_64"), Some("A"));
        assert_eq!(k.uuid_for("arm64"), Some("B"));
        assert_eq!(k.uuid_for("arm64e"), Some("B"));
        assert_eq!(k.uuid_for("i386"), None);
        k.uuids = vec![("arm64e".into(), "C".into())];
        assert_eq!(k.uuid_for("arm64"), Some("C"));
        assert_eq!(k.uuid_for("x86_64"), Some("C"));
        k.uuids.clear();
        assert_eq!(k.uuid_for("x86_64"), None);
    }

    fn realdata() -> Option<PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/realdata");
        if p.is_dir() {
            Some(p)
        } else {
            assert!(std::env::var_os("CI").is_none(), "../shared/realdata not found under CI=true");
            println!("SKIPPED: ../shared/realdata not found");
            None
        }
    }

    /// (path, bundle id, version, uuids).
    type Row<'a> = (&'a str, &'a str, Option<&'a str>, &'a [(String, String)]);

    #[test]
    fn real_kext_bundles() {
        let Some(rd) = realdata() else { return };
        if !rd.join("kext_bundles").is_dir() {
            println!("SKIPPED: ../shared/realdata/kext_bundles not found");
            return;
        }
        let inv = scan(&rd, &["/kext_bundles"], &Limits::default());
        assert!(inv.bad.is_empty(), "{:?}", inv.bad);
        assert_eq!(inv.dirs_scanned, vec!["/kext_bundles"]);
        let got: Vec<Row> = inv
            .kexts
            .iter()
            .map(|k| (k.path.as_str(), k.bundle_id.as_str(), k.version.as_deref(), k.uuids.as_slice()))
            .collect();
        let u = |a: &str, b: &str| (a.to_string(), b.to_string());
        let x86 = u("x86_64", "B119EF5D-FFDA-304D-9E47-F06BF5280353");
        assert_eq!(
            got,
            vec![
                (
                    "/kext_bundles/IOKitTest-arm64e.kext",
                    "com.mycompany.driver",
                    Some("1"),
                    &[u("arm64e", "12A04B95-3276-3061-BFD2-F5787E6CE2E9")][..]
                ),
                (
                    "/kext_bundles/IOKitTest-fat-arm64-x86_64.kext",
                    "com.mycompany.driver",
                    Some("1"),
                    &[x86.clone(), u("arm64", "69BBFBB6-1A42-3464-8B01-86F939D3DBAE")][..]
                ),
                ("/kext_bundles/IOKitTest-x86_64.kext", "com.mycompany.driver", Some("1"), &[x86][..]),
            ]
        );
        for k in &inv.kexts {
            assert_eq!(k.executable.as_deref(), Some("IOKitTest"));
            assert_eq!(k.info_plist_format, "xml");
            let mut k = k.clone();
            hash_executable(&mut k, &Limits::default());
            assert_eq!(k.executable_sha256.as_ref().map(String::len), Some(64));
        }
    }

    #[test]
    fn real_clover_info_plists() {
        let Some(rd) = realdata() else { return };
        let dir = "/kext_plists/t420-tluck/EFI/CLOVER/kexts/Other";
        if !rd.join(&dir[1..]).is_dir() {
            println!("SKIPPED: ../shared/realdata{dir} not found");
            return;
        }
        let inv = scan(&rd, &[dir], &Limits::default());
        let p = |rel: &str| format!("{dir}/{rel}");
        // Codeless injectors are complete without an executable.
        let ids: Vec<(&str, &str, Option<&str>)> =
            inv.kexts.iter().map(|k| (k.path.as_str(), k.bundle_id.as_str(), k.version.as_deref())).collect();
        assert_eq!(
            ids,
            vec![
                (p("BlueTooth_Injector_T420.kext").as_str(), "com.noname.T420.BlueToothInjector", Some("1.0.0")),
                (p("EFICheckDisabler.kext").as_str(), "org.rehabman.disabler.eficheck", Some("0.5")),
                (
                    p("IOAHCIBlockStorageInjector.kext").as_str(),
                    "org.chameleon.plist.IOAHCIBlockStorageInjector",
                    Some("1.0.0")
                ),
            ]
        );
        // The rest name executables that this copy does not hold.
        assert_eq!(reason(&inv, &p("Lilu.kext")), "CFBundleExecutable \"Lilu\" is missing at Contents/MacOS/Lilu");
        for plugin in ["ACPISensors", "CPUSensors"] {
            let path = p(&format!("FakeSMC.kext/Contents/PlugIns/{plugin}.kext"));
            assert_eq!(
                reason(&inv, &path),
                format!("CFBundleExecutable \"{plugin}\" is missing at Contents/MacOS/{plugin}")
            );
        }
        assert_eq!(inv.bad.len(), 13, "{:#?}", inv.bad);
        assert!(inv.bad.iter().all(|b| b.reason.starts_with("CFBundleExecutable \"")), "{:#?}", inv.bad);
    }

    /// `cargo test --release bundle::tests::scan_600_bundles -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn scan_600_bundles() {
        let t = tempfile::tempdir().unwrap();
        let kexts = synth::scaled_kexts(600, 100 * 1024);
        let mut bytes = 0;
        for (i, k) in kexts.iter().enumerate() {
            let m = synth::kext_macho(k, Arch::X86_64, 0, 0);
            bytes += m.len();
            let exe = k.executable.clone().unwrap_or_else(|| "x".into());
            bundle(
                t.path(),
                k.bundle_path.trim_start_matches('/'),
                &k.bundle_id,
                Some(&k.version),
                Some((&exe, &m)),
                i % 3 == 0,
            );
        }
        let dirs = ["/System/Library/Extensions", "/Library/Extensions"];
        let _ = scan(t.path(), &dirs, &Limits::default()); // warm the page cache
        let start = Instant::now();
        let inv = scan(t.path(), &dirs, &Limits::default());
        let took = start.elapsed();
        assert_eq!(inv.kexts.len(), 600);
        assert!(inv.bad.is_empty());
        println!("scanned 600 bundles ({:.1} MB of executables) in {took:?}", bytes as f64 / 1e6);
    }
}
