//! A macOS system root (default `/`, in Recovery `/Volumes/<name>`) and its
//! data volume, the release it runs (from `SystemVersion.plist`), the era
//! that release belongs to, and where that era keeps its caches.
//!
//! Every path kcheck opens goes through [`SystemRoot::resolve`], which joins
//! it onto the right volume root and refuses symbolic links that lead
//! outside it (or loop).

pub mod auxkc;
pub mod bundle;
#[cfg(feature = "sqlite")]
pub mod kextpolicy;

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, FormatError};

/// `SystemVersion.plist`, relative to the system volume.
pub const SYSTEM_VERSION: &str = "/System/Library/CoreServices/SystemVersion.plist";
/// The boot prelinked kernel (≤ 10.15), system volume.
pub const BOOT_PLK: &str = "/System/Library/PrelinkedKernels/prelinkedkernel";
/// The staged prelinked kernel (10.15), data volume.
pub const STAGED_PLK: &str = "/Library/Apple/System/Library/PrelinkedKernels/prelinkedkernel";
/// The deferred-install script (10.15), data volume.
pub const SHOVE_KERNELS: &str = "/private/var/install/shove_kernels";
/// The kernel, system volume.
pub const KERNEL: &str = "/System/Library/Kernels/kernel";
/// The boot kernel collection (11+), system volume.
pub const BOOT_KC: &str = "/System/Library/KernelCollections/BootKernelExtensions.kc";
/// The system kernel collection (11+, Intel), system volume.
pub const SYSTEM_KC: &str = "/System/Library/KernelCollections/SystemKernelExtensions.kc";
/// The auxiliary kernel collection (11+), data volume.
pub const AUX_KC: &str = "/Library/KernelCollections/AuxiliaryKernelExtensions.kc";
/// Staged third-party kexts awaiting approval (11+), data volume.
pub const STAGED_EXTENSIONS: &str = "/Library/StagedExtensions";
/// Apple's kexts, system volume.
pub const SYSTEM_EXTENSIONS: &str = "/System/Library/Extensions";
/// Third-party kexts, data volume.
pub const LIBRARY_EXTENSIONS: &str = "/Library/Extensions";
/// Apple kexts updated outside the sealed volume (10.15+), data volume.
pub const APPLE_LIBRARY_EXTENSIONS: &str = "/Library/Apple/System/Library/Extensions";

/// SystemVersion.plist files larger than this are refused.
const MAX_SYSTEM_VERSION: u64 = 1 << 20;

/// Which volume a path lives on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vol {
    /// The system volume (`--root`).
    System,
    /// The data volume (`--data-root`; the root itself before 10.15).
    Data,
}

/// The three eras of kext caching (design.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Era {
    /// ≤ 10.14: one prelinkedkernel, rebuilt in place.
    Prelinked,
    /// 10.15: the read-only system volume; a staged prelinkedkernel copied at shutdown.
    PrelinkedStaged,
    /// ≥ 11: boot, system and auxiliary kernel collections.
    KernelCollections,
}

impl Era {
    /// The era id used in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Era::Prelinked => "prelinked",
            Era::PrelinkedStaged => "prelinked-staged",
            Era::KernelCollections => "kernel-collections",
        }
    }
}

/// A system root, opened.
#[derive(Clone, Debug)]
pub struct SystemRoot {
    /// The system volume root.
    pub root: PathBuf,
    /// The data volume root.
    pub data_root: PathBuf,
    /// How the data root was chosen: `given`, `root` or `sibling`.
    pub data_root_source: &'static str,
    /// `ProductName`.
    pub product_name: String,
    /// `ProductVersion`.
    pub product_version: String,
    /// `ProductBuildVersion`.
    pub build: String,
    /// Major, minor, patch of `ProductVersion`.
    pub version: (u32, u32, u32),
    /// The era.
    pub era: Era,
    /// Intel or Apple silicon (11+; see [`Platform`]).
    pub platform: Platform,
}

/// The kind of Mac the system volume is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// An Intel Mac (every release before 11, and 11+ without Apple-silicon kernels).
    Intel,
    /// An Apple-silicon Mac (11+): the boot collection lives in Preboot.
    AppleSilicon,
}

impl Platform {
    /// `intel` or `apple-silicon`.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Intel => "intel",
            Platform::AppleSilicon => "apple-silicon",
        }
    }
}

/// Where the kernels live; on Apple silicon they are `kernel.release.<soc>`
/// (e.g. `kernel.release.t8101`; blacktop/ipsw `GetKernelPath`).
pub const KERNELS_DIR: &str = "/System/Library/Kernels";
/// The Preboot volume's mount point in a booted system (11+).
pub const PREBOOT: &str = "/System/Volumes/Preboot";
/// The boot kernel collection below a Preboot boot folder (kext_tools
/// `bootcaches.plist`: `bless2 > BootObjects > KernelCache`).
pub const PREBOOT_KERNELCACHE: &str = "System/Library/Caches/com.apple.kernelcaches/kernelcache";
/// The Intel AuxKC build list (kernelmanagerd; OpenCore-Legacy-Patcher).
pub const AUXKC_INSTRUCTIONS: &str =
    "/private/var/db/KernelExtensionManagement/AuxKC/CurrentAuxKC/com.apple.kcgen.instructions.plist";

/// Why a path could not be resolved safely.
#[derive(Debug)]
pub enum Resolve {
    /// Nothing there.
    Missing,
    /// A symbolic link leads outside the volume, or loops, or the path
    /// cannot be examined.
    Refused(String),
}

impl SystemRoot {
    /// Open `root`: read its `SystemVersion.plist` and choose the era.
    /// Without `data_root`, a sibling `<root> - Data` volume is used when
    /// it exists (the Recovery layout), else the root itself.
    pub fn open(root: &Path, data_root: Option<&Path>) -> Result<SystemRoot, Error> {
        let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        if !meta.is_dir() {
            return Err(Error::NotSystem { root: root.to_path_buf(), reason: "is not a directory".into() });
        }
        let (data_root, data_root_source) = match data_root {
            Some(d) => {
                let m = std::fs::metadata(d).map_err(|e| Error::io(d, e))?;
                if !m.is_dir() {
                    return Err(Error::NotSystem {
                        root: d.to_path_buf(),
                        reason: "data root is not a directory".into(),
                    });
                }
                (d.to_path_buf(), "given")
            }
            None => match sibling_data_volume(root) {
                Some(d) => (d, "sibling"),
                None => (root.to_path_buf(), "root"),
            },
        };
        let mut sys = SystemRoot {
            root: root.to_path_buf(),
            data_root,
            data_root_source,
            product_name: String::new(),
            product_version: String::new(),
            build: String::new(),
            version: (0, 0, 0),
            era: Era::Prelinked,
            platform: Platform::Intel,
        };
        let plist_path = match sys.resolve(Vol::System, SYSTEM_VERSION) {
            Ok(p) => p,
            Err(Resolve::Missing) => {
                return Err(Error::NotSystem {
                    root: root.to_path_buf(),
                    reason: format!("{SYSTEM_VERSION} is missing, so this is not a macOS system volume"),
                });
            }
            Err(Resolve::Refused(why)) => {
                return Err(Error::NotSystem { root: root.to_path_buf(), reason: why });
            }
        };
        let fmt =
            |offset: u64, msg: String| Error::format(&plist_path, FormatError::new("SystemVersion.plist", offset, msg));
        let m = std::fs::metadata(&plist_path).map_err(|e| Error::io(&plist_path, e))?;
        if m.is_dir() {
            return Err(fmt(0, "is a directory, not a file".into()));
        }
        if m.len() > MAX_SYSTEM_VERSION {
            return Err(fmt(0, format!("{} bytes is too large for a SystemVersion.plist", m.len())));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&plist_path)
            .and_then(|f| f.take(MAX_SYSTEM_VERSION).read_to_end(&mut bytes))
            .map_err(|e| Error::io(&plist_path, e))?;
        // Read within depth and element budgets: a hostile plist must not
        // overflow the stack or expand without bound.
        let value = crate::bounded_plist::parse(&bytes, &crate::bounded_plist::Limits::default())
            .map_err(|e| fmt(e.offset, format!("not a valid plist: {}", e.message)))?;
        let dict = value.as_dictionary().ok_or_else(|| fmt(0, "the top level is not a dictionary".into()))?;
        let get = |k: &str| dict.get(k).and_then(|v| v.as_string()).map(str::to_string);
        sys.product_version = get("ProductVersion").ok_or_else(|| fmt(0, "no ProductVersion string".into()))?;
        sys.build = get("ProductBuildVersion").ok_or_else(|| fmt(0, "no ProductBuildVersion string".into()))?;
        sys.product_name = get("ProductName").unwrap_or_else(|| "macOS".into());
        sys.version = parse_version(&sys.product_version)
            .ok_or_else(|| fmt(0, format!("ProductVersion {:?} is not a version number", sys.product_version)))?;
        sys.era = match sys.version {
            (10, minor, _) if minor <= 14 => Era::Prelinked,
            (10, 15, _) => Era::PrelinkedStaged,
            (major, _, _) if major >= 11 || major == 10 => Era::KernelCollections,
            _ => {
                return Err(fmt(
                    0,
                    format!("ProductVersion {} is not a macOS release kcheck knows", sys.product_version),
                ));
            }
        };
        if sys.era == Era::KernelCollections && sys.apple_silicon_kernels() {
            sys.platform = Platform::AppleSilicon;
        }
        Ok(sys)
    }

    /// Whether `/System/Library/Kernels` holds `kernel.release.<soc>` files
    /// and there is no Intel boot collection: how a root that is not the
    /// running system is recognised as Apple silicon (design.md).
    fn apple_silicon_kernels(&self) -> bool {
        let has_soc_kernel = self.soc_kernels().into_iter().next().is_some();
        has_soc_kernel && self.resolve(Vol::System, BOOT_KC).is_err()
    }

    /// The `kernel.release.<soc>` files of `/System/Library/Kernels`, sorted.
    pub fn soc_kernels(&self) -> Vec<String> {
        let Ok(dir) = self.resolve(Vol::System, KERNELS_DIR) else { return Vec::new() };
        let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .take(10_000)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("kernel.release.") && n.len() > "kernel.release.".len())
            .collect();
        names.sort();
        names
    }

    /// The root a volume lives under.
    pub fn volume(&self, vol: Vol) -> &Path {
        match vol {
            Vol::System => &self.root,
            Vol::Data => &self.data_root,
        }
    }

    /// `rel` (an absolute Mac path like `/Library/Extensions`) joined onto
    /// the volume, without resolving anything.
    pub fn join(&self, vol: Vol, rel: &str) -> PathBuf {
        self.volume(vol).join(rel.trim_start_matches('/'))
    }

    /// Resolve `rel` on `vol` to a path that exists and whose symbolic
    /// links all stay inside the volume root.
    pub fn resolve(&self, vol: Vol, rel: &str) -> Result<PathBuf, Resolve> {
        resolve_within(self.volume(vol), rel)
    }

    /// Whether the system runs a given release or later.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.version.0, self.version.1) >= (major, minor)
    }
}

/// Resolve `rel` under `base`, refusing links that leave `base`.
pub fn resolve_within(base: &Path, rel: &str) -> Result<PathBuf, Resolve> {
    let joined = base.join(rel.trim_start_matches('/'));
    match std::fs::symlink_metadata(&joined) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A dangling link or a missing parent: either way, nothing there
            // unless a parent is a loop.
            return match std::fs::canonicalize(&joined) {
                Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
                    Err(Resolve::Refused(format!("{}: symbolic link loop", joined.display())))
                }
                _ => Err(Resolve::Missing),
            };
        }
        Err(e) => return Err(Resolve::Refused(format!("{}: {e}", joined.display()))),
        Ok(_) => {}
    }
    let canon_base = std::fs::canonicalize(base).map_err(|e| Resolve::Refused(format!("{}: {e}", base.display())))?;
    match std::fs::canonicalize(&joined) {
        Ok(real) if real.starts_with(&canon_base) => Ok(joined),
        Ok(real) => Err(Resolve::Refused(format!(
            "{}: symbolic link leads outside the volume ({})",
            joined.display(),
            real.display()
        ))),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            Err(Resolve::Refused(format!("{}: symbolic link loop", joined.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Resolve::Missing),
        Err(e) => Err(Resolve::Refused(format!("{}: {e}", joined.display()))),
    }
}

fn sibling_data_volume(root: &Path) -> Option<PathBuf> {
    let name = root.components().next_back()?;
    let Component::Normal(name) = name else {
        return None;
    };
    let sibling = root.with_file_name(format!("{} - Data", name.to_string_lossy()));
    sibling.is_dir().then_some(sibling)
}

fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let mut parts = s.trim().split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let patch = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((major, minor, patch))
}

/// The boot kernel collection of an Apple-silicon system in its Preboot
/// volume: `<preboot>/<volume group UUID>/boot/<96 hex>/` +
/// [`PREBOOT_KERNELCACHE`]. With several volume groups, the one whose
/// `System/Library/CoreServices/SystemVersion.plist` names `build`; the
/// boot folder is the one `boot/active` names, else the only one. Errors
/// are one-line reasons (they become `not_checked` entries).
pub fn preboot_kernelcache(preboot: &Path, build: &str) -> Result<PathBuf, String> {
    // `--preboot` may also name a volume-group folder (`<UUID>`) or a boot
    // folder (`<UUID>/boot/<hash>`, what `sysctl kern.bootobjectspath`
    // gives on macOS 13+).
    let direct = preboot.join(PREBOOT_KERNELCACHE);
    if std::fs::symlink_metadata(&direct).is_ok() {
        return Ok(direct);
    }
    if preboot.join("boot").is_dir() && preboot.file_name().is_some_and(|n| is_uuid(&n.to_string_lossy())) {
        return boot_folder_kernelcache(&preboot.join("boot"));
    }
    let groups =
        read_dir_names(preboot)?.into_iter().filter(|n| is_uuid(n) && preboot.join(n).is_dir()).collect::<Vec<_>>();
    let group = match groups.as_slice() {
        [] => return Err(format!("{}: no volume-group folder (a UUID) in the Preboot volume", preboot.display())),
        [one] => one.clone(),
        many => {
            let matching: Vec<&String> =
                many.iter().filter(|g| group_build(&preboot.join(g)).as_deref() == Some(build)).collect();
            match matching.as_slice() {
                [one] => (*one).clone(),
                [] => {
                    return Err(format!(
                        "{}: {} volume groups and none has build {build} in its SystemVersion.plist",
                        preboot.display(),
                        many.len()
                    ));
                }
                _ => return Err(format!("{}: several volume groups have build {build}", preboot.display())),
            }
        }
    };
    boot_folder_kernelcache(&preboot.join(&group).join("boot"))
}

/// The kernelcache of the active boot folder below a volume group's `boot`.
fn boot_folder_kernelcache(boot: &Path) -> Result<PathBuf, String> {
    let active = boot.join("active");
    let hash = match std::fs::symlink_metadata(&active) {
        Ok(m) if m.is_file() && m.len() <= 4096 => {
            let text = std::fs::read_to_string(&active).map_err(|e| format!("{}: {e}", active.display()))?;
            let h = text.trim().to_string();
            if !is_nsih(&h) {
                return Err(format!("{}: does not name a boot folder (96 hex digits)", active.display()));
            }
            h
        }
        _ => {
            let hashes: Vec<String> =
                read_dir_names(boot)?.into_iter().filter(|n| is_nsih(n) && boot.join(n).is_dir()).collect();
            match hashes.as_slice() {
                [one] => one.clone(),
                [] => return Err(format!("{}: no boot folder (96 hex digits)", boot.display())),
                _ => return Err(format!("{}: several boot folders and no boot/active file", boot.display())),
            }
        }
    };
    let kc = boot.join(&hash).join(PREBOOT_KERNELCACHE);
    match std::fs::symlink_metadata(&kc) {
        Ok(_) => Ok(kc),
        Err(_) => Err(format!("{}: not found", kc.display())),
    }
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).take(10_000).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Ok(names)
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A boot folder name: a SHA-384 as 96 hex digits.
fn is_nsih(s: &str) -> bool {
    s.len() == 96 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `ProductBuildVersion` of a Preboot volume group's SystemVersion.plist.
fn group_build(group: &Path) -> Option<String> {
    let p = group.join(SYSTEM_VERSION.trim_start_matches('/'));
    let m = std::fs::metadata(&p).ok()?;
    if !m.is_file() || m.len() > MAX_SYSTEM_VERSION {
        return None;
    }
    let bytes = std::fs::read(&p).ok()?;
    let v = crate::bounded_plist::parse(&bytes, &crate::bounded_plist::Limits::default()).ok()?;
    v.as_dictionary()?.get("ProductBuildVersion")?.as_string().map(str::to_string)
}

/// What the user says about System Integrity Protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sip {
    /// SIP is on.
    Enabled,
    /// SIP is off.
    Disabled,
    /// Not known: treated as the platform default, enabled.
    Unknown,
}

impl Sip {
    /// Name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sip::Enabled => "enabled",
            Sip::Disabled => "disabled",
            Sip::Unknown => "unknown",
        }
    }
    /// Whether checks treat SIP as on.
    pub fn assumed_on(self) -> bool {
        self != Sip::Disabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("10.15"), Some((10, 15, 0)));
        assert_eq!(parse_version("11.7.10"), Some((11, 7, 10)));
        assert_eq!(parse_version("x"), None);
    }
}
