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
}

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
        let value = plist::Value::from_reader(std::io::Cursor::new(&bytes))
            .map_err(|e| fmt(0, format!("not a valid plist: {e}")))?;
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
        Ok(sys)
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
