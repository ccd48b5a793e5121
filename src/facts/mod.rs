//! Facts gathering: everything `verify` looks at, read from a system root
//! (read-only) — its release and era, its boot, staged, system and
//! auxiliary caches, the deferred-install script, the kernel, the installed
//! kexts — and, with `--live`, from probes of the running Mac ([`live`]).
//!
//! Layer: facts. Imports the readers below it; never a rule or a report.

pub mod live;

use std::path::PathBuf;

use crate::cache::{self, CacheInfo, OpenOptions};
use crate::error::Error;
use crate::system::bundle::{self, Inventory};
use crate::system::{self, Era, Resolve, Sip, SystemRoot, Vol};

/// Options of a verify run.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// System root (default `/`).
    pub root: PathBuf,
    /// Data root (default: `<root> - Data` if it exists, else the root).
    pub data_root: Option<PathBuf>,
    /// SIP state.
    pub sip: Sip,
    /// The Preboot volume (Apple silicon; default
    /// `<root>/System/Volumes/Preboot` when it exists).
    pub preboot: Option<PathBuf>,
}

/// A cache as found on the system.
#[derive(Clone, Debug)]
pub enum CacheState {
    /// Not there.
    Missing,
    /// There, but it could not be read or parsed.
    Broken(String),
    /// Its location could not be found (Apple silicon: the Preboot volume
    /// or its boot folder), with why: its checks are `not_checked`.
    Unlocated(String),
    /// Read.
    Ok(Box<CacheInfo>),
}

impl CacheState {
    /// The parsed cache, if any.
    pub fn info(&self) -> Option<&CacheInfo> {
        match self {
            CacheState::Ok(c) => Some(c),
            _ => None,
        }
    }
}

/// What a cache is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The cache the next boot uses (prelinkedkernel, boot collection).
    Boot,
    /// 10.15: the prelinkedkernel staged on the data volume for the
    /// shutdown copy.
    Staged,
    /// 11+ Intel: the system kernel collection.
    System,
    /// 11+: the auxiliary (third-party) kernel collection.
    Auxiliary,
}

impl Role {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Boot => "boot",
            Role::Staged => "staged",
            Role::System => "system",
            Role::Auxiliary => "auxiliary",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A check that could not run, and why (design.md: "Nothing is ever
/// silently skipped"). JSON: `{"check", "reason"}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NotChecked {
    /// The finding code(s) or rule that did not run, e.g. `KN001`.
    pub check: String,
    /// Why, one line.
    pub reason: String,
}

impl NotChecked {
    /// A new entry.
    pub fn new(check: impl Into<String>, reason: impl Into<String>) -> Self {
        NotChecked { check: check.into(), reason: reason.into() }
    }
}

/// The user-approval database (`KextPolicy`, 10.13+) as found.
#[derive(Clone, Debug)]
pub enum PolicyState {
    /// Before 10.13 there is no user approval of kexts.
    NotApplicable,
    /// Not there (or kcheck was built without SQLite), with why.
    Unavailable(String),
    /// Read.
    #[cfg(feature = "sqlite")]
    Read(Box<crate::system::kextpolicy::KextPolicy>),
}

/// Where the user-approval database lives (SIP-protected, data volume).
pub const KEXT_POLICY: &str = "/private/var/db/SystemPolicyConfiguration/KextPolicy";

/// One cache slot of the era.
#[derive(Clone, Debug)]
pub struct CacheSlot {
    /// `boot`, `staged`, `system`, `auxiliary`.
    pub role: Role,
    /// Path on the Mac (e.g. `/System/Library/PrelinkedKernels/prelinkedkernel`).
    pub mac_path: String,
    /// Path on this machine.
    pub path: PathBuf,
    /// What was found.
    pub state: CacheState,
}

/// Everything `check` looks at.
#[derive(Clone, Debug)]
pub struct Facts {
    /// The system.
    pub system: SystemRoot,
    /// SIP state as given.
    pub sip: Sip,
    /// The era's caches.
    pub caches: Vec<CacheSlot>,
    /// `/System/Library/Kernels/kernel` (Apple silicon: the boot
    /// collection's `kernel.release.<soc>`).
    pub kernel: CacheState,
    /// Whether `/private/var/install/shove_kernels` exists (10.15).
    pub shove_kernels: bool,
    /// Installed kexts.
    pub installed: Inventory,
    /// Kexts staged in `/Library/StagedExtensions` (11+).
    pub staged_extensions: Inventory,
    /// The Mac path of [`Facts::kernel`].
    pub kernel_path: String,
    /// The user-approval database.
    pub policy: PolicyState,
    /// Intel 11+: the bundle paths in the current AuxKC build list
    /// (`com.apple.kcgen.instructions.plist`), when it exists and reads.
    pub auxkc_build_list: Option<Result<Vec<String>, String>>,
}

impl Facts {
    /// The cache in `role`.
    pub fn cache(&self, role: Role) -> Option<&CacheSlot> {
        self.caches.iter().find(|c| c.role == role)
    }
}

/// Open the cache at a path found outside the volume layout (Preboot).
/// Its SHA-256 is not computed: no rule compares it.
fn open_cache_at(path: &std::path::Path) -> CacheState {
    match std::fs::symlink_metadata(path) {
        Err(_) => CacheState::Missing,
        Ok(_) => match cache::open(path, &OpenOptions { arch: None, hash: false }) {
            Ok(info) => CacheState::Ok(Box::new(info)),
            Err(e) => CacheState::Broken(e.to_string()),
        },
    }
}

/// The kernel file the boot cache should match: `/System/Library/Kernels/kernel`,
/// or on Apple silicon the `kernel.release.<soc>` named by the boot
/// collection's kernel (`…RELEASE_ARM64_T8101` → `kernel.release.t8101`).
fn kernel_path(sys: &SystemRoot, caches: &[CacheSlot]) -> String {
    if sys.platform != system::Platform::AppleSilicon {
        return system::KERNEL.to_string();
    }
    let soc = caches
        .iter()
        .find(|c| c.role == Role::Boot)
        .and_then(|c| c.state.info())
        .and_then(|b| b.kernel.version.as_deref())
        .and_then(|v| v.rsplit("RELEASE_ARM64_").next().filter(|_| v.contains("RELEASE_ARM64_")))
        .map(|soc| soc.trim().to_ascii_lowercase());
    match soc {
        Some(soc) if !soc.is_empty() && soc.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            format!("{}/kernel.release.{soc}", system::KERNELS_DIR)
        }
        _ => system::KERNEL.to_string(),
    }
}

/// The boot collection of an Apple-silicon system: from `--preboot`, else
/// `<root>/System/Volumes/Preboot`.
fn apple_silicon_boot(sys: &SystemRoot, preboot: Option<&std::path::Path>) -> CacheSlot {
    let dir = match preboot {
        Some(p) => Some(p.to_path_buf()),
        None => sys.resolve(Vol::System, system::PREBOOT).ok(),
    };
    let (path, state) = match dir {
        None => (
            sys.join(Vol::System, system::PREBOOT),
            CacheState::Unlocated(format!(
                "the Preboot volume was not found at {} (give it with --preboot)",
                sys.join(Vol::System, system::PREBOOT).display()
            )),
        ),
        Some(dir) => match system::preboot_kernelcache(&dir, &sys.build) {
            Ok(kc) => {
                let state = open_cache_at(&kc);
                (kc, state)
            }
            Err(why) => (dir, CacheState::Unlocated(why)),
        },
    };
    let mac_path = match path.strip_prefix(&sys.root) {
        Ok(rel) if path.starts_with(sys.join(Vol::System, system::PREBOOT)) => format!("/{}", rel.display()),
        _ => path.display().to_string(),
    };
    CacheSlot { role: Role::Boot, mac_path, path, state }
}

/// Open one cache of the era. `hash`: compute its SHA-256, which only
/// the 10.15 boot/staged comparison needs ("same cache" is byte-identical,
/// design.md); a raw collection is then read piecewise instead of whole.
fn open_cache(sys: &SystemRoot, vol: Vol, rel: &'static str, hash: bool) -> (PathBuf, CacheState) {
    let path = sys.join(vol, rel);
    let state = match sys.resolve(vol, rel) {
        Err(Resolve::Missing) => CacheState::Missing,
        Err(Resolve::Refused(why)) => CacheState::Broken(why),
        Ok(p) => match cache::open(&p, &OpenOptions { arch: None, hash }) {
            Ok(info) => CacheState::Ok(Box::new(info)),
            Err(e) => CacheState::Broken(e.to_string()),
        },
    };
    (path, state)
}

/// Gather the facts of a system root. Fails only when the root is not a
/// macOS system; damaged caches and bundles become findings.
pub fn gather(opts: &VerifyOptions) -> Result<Facts, Error> {
    let mut sys = SystemRoot::open(&opts.root, opts.data_root.as_deref())?;
    // An Apple-silicon system volume may still carry an x86_64
    // BootKernelExtensions.kc that is not its boot collection; a Preboot
    // boot folder with a kernelcache settles it.
    if sys.era == Era::KernelCollections && sys.platform == system::Platform::Intel && !sys.soc_kernels().is_empty() {
        let preboot = opts.preboot.clone().or_else(|| sys.resolve(Vol::System, system::PREBOOT).ok());
        if preboot.is_some_and(|p| system::preboot_kernelcache(&p, &sys.build).is_ok()) {
            sys.platform = system::Platform::AppleSilicon;
        }
    }
    let slots: Vec<(Role, Vol, &'static str)> = match sys.era {
        // Apple silicon: the boot collection is in Preboot (below); there
        // is no system collection, and the auxiliary collection's file is
        // not documented (kmutil(8)).
        Era::KernelCollections if sys.platform == system::Platform::AppleSilicon => Vec::new(),
        Era::Prelinked => vec![(Role::Boot, Vol::System, system::BOOT_PLK)],
        Era::PrelinkedStaged => {
            vec![(Role::Boot, Vol::System, system::BOOT_PLK), (Role::Staged, Vol::Data, system::STAGED_PLK)]
        }
        Era::KernelCollections => vec![
            (Role::Boot, Vol::System, system::BOOT_KC),
            (Role::System, Vol::System, system::SYSTEM_KC),
            (Role::Auxiliary, Vol::Data, system::AUX_KC),
        ],
    };
    let limits = bundle::Limits::default();
    let mut extra_dirs: Vec<String> = Vec::new();
    let mut system_dirs = vec![system::SYSTEM_EXTENSIONS];
    let mut data_dirs = vec![system::LIBRARY_EXTENSIONS];
    if sys.at_least(10, 15) {
        data_dirs.push(system::APPLE_LIBRARY_EXTENSIONS);
    }
    // Third-party kexts outside the usual folders are found from the paths
    // syspolicyd recorded when they were loaded (KextPolicy
    // `kext_load_history_v3`), 11+.
    let policy = read_policy(&sys);
    if sys.era == Era::KernelCollections {
        for dir in history_dirs(&policy) {
            if !data_dirs.contains(&dir.as_str()) && !system_dirs.contains(&dir.as_str()) {
                extra_dirs.push(dir);
            }
        }
    }
    data_dirs.extend(extra_dirs.iter().map(String::as_str));
    if sys.data_root == sys.root {
        system_dirs.append(&mut data_dirs);
    }
    // Every cache is opened on a thread of its own while the bundles are
    // walked on this one (the 10.15 boot and staged caches are the two
    // largest decodes; the kernel is read alongside them).
    let hash = sys.era == Era::PrelinkedStaged;
    let (caches, (kernel, kernel_path), (installed, staged_extensions)) = std::thread::scope(|s| {
        let sys = &sys;
        let caches = s.spawn(move || {
            let mut caches: Vec<CacheSlot> = if hash {
                boot_and_staged(sys).into()
            } else {
                std::thread::scope(|s| {
                    let opened: Vec<_> = slots
                        .iter()
                        .map(|&(role, vol, rel)| {
                            s.spawn(move || {
                                let (path, state) = open_cache(sys, vol, rel, hash);
                                CacheSlot { role, mac_path: rel.to_string(), path, state }
                            })
                        })
                        .collect();
                    // A panic in a cache thread is a bug, never "no cache".
                    opened.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
                })
            };
            if sys.platform == system::Platform::AppleSilicon {
                caches.insert(0, apple_silicon_boot(sys, opts.preboot.as_deref()));
            }
            let kpath = kernel_path(sys, &caches);
            // A link leaving the volume is refused, as everywhere.
            let kernel = match sys.resolve(Vol::System, &kpath) {
                Err(Resolve::Missing) => CacheState::Missing,
                Err(Resolve::Refused(why)) => CacheState::Broken(why),
                Ok(p) => open_cache_at(&p),
            };
            (caches, (kernel, kpath))
        });
        let mut installed = bundle::scan(&sys.root, &system_dirs, &limits);
        if sys.data_root != sys.root {
            let more = bundle::scan(&sys.data_root, &data_dirs, &limits);
            installed.kexts.extend(more.kexts);
            installed.bad.extend(more.bad);
            installed.dirs_scanned.extend(more.dirs_scanned);
        }
        let staged = if sys.era == Era::KernelCollections {
            let dirs = bundle::kext_dirs_under(&sys.data_root, system::STAGED_EXTENSIONS, &limits);
            let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
            bundle::scan(&sys.data_root, &dirs, &limits)
        } else {
            Inventory::default()
        };
        // A panic in the cache thread is a bug, never "no caches": a
        // missing cache list would read as a better verdict.
        let (caches, (kernel, kernel_path)) = caches.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (caches, (kernel, kernel_path), (installed, staged))
    });
    let mut installed = installed;
    hash_rebuilt_executables(&mut installed, &caches, &limits);
    let shove_kernels = sys.era == Era::PrelinkedStaged
        && matches!(sys.resolve(Vol::Data, system::SHOVE_KERNELS), Ok(_) | Err(Resolve::Refused(_)));
    let auxkc_build_list = read_auxkc_build_list(&sys);
    Ok(Facts {
        kernel_path,
        system: sys,
        sip: opts.sip,
        caches,
        kernel,
        shove_kernels,
        installed,
        staged_extensions,
        policy,
        auxkc_build_list,
    })
}

/// 10.15: the boot and staged prelinked kernels. They are compared first
/// (in 1 MiB reads): when they are the same bytes (kcditto copies byte for
/// byte, so a Mac in step has two identical files) the file is hashed and
/// analysed once, else each is hashed and analysed, both at the same time.
/// Each cache is hashed on a second thread while it is decoded
/// ([`cache::open`] with `hash`).
fn boot_and_staged(sys: &SystemRoot) -> [CacheSlot; 2] {
    let spec = [(Role::Boot, Vol::System, system::BOOT_PLK), (Role::Staged, Vol::Data, system::STAGED_PLK)];
    let resolve = |(_, vol, rel): (Role, Vol, &'static str)| match sys.resolve(vol, rel) {
        Err(Resolve::Missing) => Err(CacheState::Missing),
        Err(Resolve::Refused(why)) => Err(CacheState::Broken(why)),
        Ok(p) => Ok(p),
    };
    let state = |r: Result<CacheInfo, Error>| match r {
        Ok(info) => CacheState::Ok(Box::new(info)),
        Err(e) => CacheState::Broken(e.to_string()),
    };
    let opts = OpenOptions { arch: None, hash: true };
    let open = |p: &std::path::Path| state(cache::open(p, &opts));
    let (b, st) = match (resolve(spec[0]), resolve(spec[1])) {
        (Ok(b), Ok(st)) if cache::same_bytes(&b, &st).unwrap_or(false) => match cache::open(&b, &opts) {
            Ok(info) => {
                let other = CacheInfo { file: st.clone(), ..info.clone() };
                (state(Ok(info)), state(Ok(other)))
            }
            // The error names the boot cache; the staged one is read for
            // its own.
            Err(e) => (state(Err(e)), open(&st)),
        },
        (b, st) => std::thread::scope(|s| {
            let st = s.spawn(|| st.map_or_else(|e| e, |p| open(&p)));
            let b = b.map_or_else(|e| e, |p| open(&p));
            (b, st.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
        }),
    };
    [(spec[0], b), (spec[1], st)].map(|((role, vol, rel), state)| CacheSlot {
        role,
        mac_path: rel.to_string(),
        path: sys.join(vol, rel),
        state,
    })
}

/// Hash the executables of the installed kexts whose UUID differs from
/// the build of the same bundle id in a cache: the one rule that shows an
/// executable's SHA-256 (KX003, "a different build than the one in the
/// kernel cache") needs it for those alone, and hashing all of them was
/// 13–28 % of a `verify` (docs/performance.md).
fn hash_rebuilt_executables(installed: &mut Inventory, caches: &[CacheSlot], limits: &bundle::Limits) {
    let cached: Vec<(&str, std::collections::HashMap<&str, &str>)> = caches
        .iter()
        .filter_map(|c| c.state.info())
        .map(|info| {
            let ids = info.kexts.iter().filter_map(|k| Some((k.bundle_id.as_str(), k.uuid.as_deref()?))).collect();
            (info.arch.as_str(), ids)
        })
        .collect();
    for k in &mut installed.kexts {
        let rebuilt = cached.iter().any(
            |(arch, ids)| matches!((ids.get(k.bundle_id.as_str()), k.uuid_for(arch)), (Some(c), Some(d)) if *c != d),
        );
        if rebuilt {
            bundle::hash_executable(k, limits);
        }
    }
}

/// The folders of the kexts syspolicyd saw load (KextPolicy
/// `kext_load_history_v3.path`), outside `/System` and the staging area.
fn history_dirs(policy: &PolicyState) -> Vec<String> {
    #[cfg(feature = "sqlite")]
    if let PolicyState::Read(p) = policy {
        let mut dirs: Vec<String> = p
            .history
            .iter()
            .filter_map(|h| h.path.as_deref())
            .filter(|p| p.starts_with('/') && p.ends_with(".kext") && !p.contains("/../"))
            .filter(|p| !p.starts_with("/System/") && !p.starts_with(system::STAGED_EXTENSIONS))
            .filter_map(|p| p.rsplit_once('/').map(|(dir, _)| dir.to_string()))
            .filter(|d| !d.is_empty())
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs.truncate(1000);
        return dirs;
    }
    let _ = policy;
    Vec::new()
}

/// Intel 11+: the current AuxKC build list, when present.
fn read_auxkc_build_list(sys: &SystemRoot) -> Option<Result<Vec<String>, String>> {
    if sys.era != Era::KernelCollections || sys.platform != system::Platform::Intel {
        return None;
    }
    let path = match sys.resolve(Vol::Data, system::AUXKC_INSTRUCTIONS) {
        Ok(p) => p,
        Err(Resolve::Missing) => return None,
        Err(Resolve::Refused(why)) => return Some(Err(why)),
    };
    Some(
        crate::input::read_regular(&path, crate::system::auxkc::MAX_INPUT_BYTES as u64)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|b| crate::system::auxkc::parse(&b))
            .map(|entries| entries.into_iter().map(|e| e.bundle_path).collect()),
    )
}

/// Read the KextPolicy database of the data volume, read-only.
fn read_policy(sys: &SystemRoot) -> PolicyState {
    if !sys.at_least(10, 13) {
        return PolicyState::NotApplicable;
    }
    let path = match sys.resolve(Vol::Data, KEXT_POLICY) {
        Ok(p) => p,
        Err(Resolve::Missing) => return PolicyState::Unavailable(format!("{KEXT_POLICY} not found")),
        Err(Resolve::Refused(why)) => return PolicyState::Unavailable(why),
    };
    #[cfg(feature = "sqlite")]
    {
        match crate::system::kextpolicy::open(&path) {
            Ok(p) => PolicyState::Read(Box::new(p)),
            Err(e) => PolicyState::Unavailable(e.to_string()),
        }
    }
    #[cfg(not(feature = "sqlite"))]
    {
        PolicyState::Unavailable(format!("{}: this kcheck was built without SQLite", path.display()))
    }
}
