//! The rules of `verify` (design.md, "The rules verify follows"): pure
//! functions from gathered [`Facts`] to findings. No I/O.

use crate::check::finding::Code;
use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::cache::CacheInfo;
use crate::cache::Kext;
use crate::cache::diff::{self, Diff};
use crate::check::finding::Finding;
use crate::check::known_issues;
use crate::facts::Role;
use crate::facts::{CacheState, Facts};
use crate::system::bundle::{self, InstalledKext};
use crate::system::{self, Era, SystemRoot, Vol};

/// Index of kexts by bundle id (first wins).
fn index(kexts: &[Kext]) -> HashMap<&str, &Kext> {
    let mut m = HashMap::new();
    for k in kexts {
        m.entry(k.bundle_id.as_str()).or_insert(k);
    }
    m
}

/// Whether two caches hold the same thing: the same file, or the same
/// `_PrelinkKCID` and the same kexts at the same versions and UUIDs.
fn same_cache(a: &CacheInfo, b: &CacheInfo) -> (bool, Diff) {
    if a.sha256.is_some() && a.sha256 == b.sha256 {
        return (true, Diff::default());
    }
    let d = diff::diff(a, b);
    (d.is_empty() && a.kc_id == b.kc_id, d)
}

fn ids(kexts: &[Kext]) -> Value {
    json!(kexts.iter().map(|k| k.bundle_id.clone()).collect::<Vec<_>>())
}

/// Remedies, worded for the era, the build and where kcheck looked.
struct Remedies<'a> {
    sys: &'a SystemRoot,
}

impl Remedies<'_> {
    fn live(&self) -> bool {
        self.sys.root == Path::new("/")
    }
    /// How to name the system volume in a command run from Recovery.
    fn recovery_volume(&self) -> String {
        if self.live() { "/Volumes/<system volume>".into() } else { self.sys.root.display().to_string() }
    }
    fn rebuild(&self) -> String {
        match self.sys.era {
            Era::KernelCollections if self.live() => {
                "rebuild the collections with `sudo kmutil install --update-all` (or `sudo kextcache -i /`) and restart"
                    .into()
            }
            Era::KernelCollections => format!(
                "rebuild the collections of that volume with `kmutil install --volume-root \"{}\" --update-all` and restart",
                self.sys.root.display()
            ),
            _ if self.live() => "rebuild the cache with `sudo kextcache -i /` and restart".into(),
            _ => format!(
                "rebuild the cache with `sudo kextcache -i \"{}\"` (from Recovery, or while booted from another volume) and restart",
                self.sys.root.display()
            ),
        }
    }
    fn catalina_broken_copy(&self, kext: Option<(&str, &str)>) -> String {
        let back = kext.map_or(String::new(), |(id, v)| {
            format!(", or go back to {id} version {v}, the version in the boot cache")
        });
        format!(
            "Boot to Recovery (hold Command-R), open Terminal and run `touch -c \"{}/System/Library/Extensions\"`, then restart so the cache is rebuilt on the system volume{back}. Updating to macOS 10.15.1 (19B88) or later fixes the deferred copy.",
            self.recovery_volume()
        )
    }
}

/// The checks of design.md over gathered facts. Pure: no I/O.
pub fn check(f: &Facts) -> Vec<Finding> {
    let sys = &f.system;
    let r = Remedies { sys };
    let build = sys.build.as_str();
    let copy_fails = sys.era == Era::PrelinkedStaged && known_issues::shove_copy_fails(build) && f.sip.assumed_on();
    let mut out = Vec::new();

    // KB001: the build itself.
    for k in known_issues::for_build(build) {
        out.push(
            Finding::new(
                Code::KB001,
                format!("macOS {} ({build})", sys.product_version),
                format!("{}: {}.", k.summary, k.detail),
            )
            .severity(k.severity)
            .with("id", k.id)
            .with("build", build)
            .with("fixed_in", k.fixed_in)
            .with("sources", json!(k.sources))
            .remedy(match k.fixed_in {
                Some(v) => format!("Update to macOS {v} or later."),
                None => "No fix is known; see the sources.".into(),
            }),
        );
    }

    // KC001 / KC002: the caches themselves.
    for slot in &f.caches {
        let CacheState::Broken(why) = &slot.state else {
            if slot.role == Role::Boot && matches!(slot.state, CacheState::Missing) {
                out.push(
                    Finding::new(Code::KC001, slot.mac_path, "The boot kernel cache is missing: the Mac has no prelinked kexts to boot with.")
                        .with("path", slot.path.display().to_string())
                        .remedy(match sys.era {
                            Era::KernelCollections => "The boot kernel collection is part of the sealed system volume: reinstall macOS from Recovery.".to_string(),
                            _ => format!("Rebuild it: {}.", r.rebuild()),
                        }),
                );
            }
            continue;
        };
        let (code, what) = match slot.role {
            Role::Boot | Role::System => (Code::KC001, format!("The {} kernel cache cannot be read: {why}", slot.role)),
            _ => (Code::KC002, format!("The {} kernel cache is present but cannot be read: {why}", slot.role)),
        };
        let remedy = match (sys.era, slot.role) {
            (Era::KernelCollections, Role::Boot | Role::System) => {
                "This collection is part of the sealed system volume: reinstall macOS from Recovery.".to_string()
            }
            (Era::KernelCollections, _) => format!("Rebuild the auxiliary collection: {}.", r.rebuild()),
            _ => format!("Rebuild it: {}.", r.rebuild()),
        };
        out.push(
            Finding::new(code, slot.mac_path, what)
                .with("path", slot.path.display().to_string())
                .with("error", why.clone())
                .remedy(remedy),
        );
    }

    let boot = f.cache(Role::Boot).and_then(|s| s.state.info());
    let staged = f.cache(Role::Staged).and_then(|s| s.state.info());
    let system_kc = f.cache(Role::System).and_then(|s| s.state.info());
    let aux = f.cache(Role::Auxiliary).and_then(|s| s.state.info());

    // ST001-ST005: the 10.15 staged cache and the deferred install.
    if sys.era == Era::PrelinkedStaged {
        if f.shove_kernels {
            out.push(
                Finding::new(Code::ST002, system::SHOVE_KERNELS, "A deferred kernel-cache install is scheduled: launchd runs this script at shutdown to copy the staged prelinkedkernel to the system volume.")
                    .with("path", sys.join(Vol::Data, system::SHOVE_KERNELS).display().to_string())
                    .remedy("Nothing to do unless another finding says the copy will fail."),
            );
        }
        if let (Some(b), Some(s)) = (boot, staged) {
            let (same, d) = same_cache(b, s);
            let evidence = |fd: Finding| {
                fd.with("boot_kc_id", b.kc_id.clone())
                    .with("staged_kc_id", s.kc_id.clone())
                    .with("boot_sha256", b.sha256.clone())
                    .with("staged_sha256", s.sha256.clone())
                    .with("added", ids(&d.added))
                    .with("removed", ids(&d.removed))
                    .with("changed", json!(d.changed.iter().map(|c| c.bundle_id.clone()).collect::<Vec<_>>()))
            };
            if same && f.shove_kernels {
                out.push(evidence(
                    Finding::new(Code::ST004, system::SHOVE_KERNELS, "The deferred-install script is still there although the staged and boot caches are identical: a past shutdown copy did not finish its clean-up (kcditto deletes the script only after a successful copy).")
                        .remedy(format!(
                            "The caches agree, so the next boot is fine. Once you have checked that, the leftover script can be removed: `sudo rm \"{}\"`.",
                            if r.live() {
                                system::SHOVE_KERNELS.to_string()
                            } else {
                                sys.join(Vol::Data, system::SHOVE_KERNELS).display().to_string()
                            }
                        )),
                ));
            } else if !same && f.shove_kernels && copy_fails {
                let first = d.changed.first().and_then(|c| Some((c.bundle_id.as_str(), c.version_a.as_deref()?)));
                out.push(evidence(
                    Finding::new(Code::ST003, system::STAGED_PLK, format!("The staged kernel cache differs from the boot cache and an install is scheduled for shutdown, but on {build} that copy fails with SIP on: the next boot will still use the old boot cache."))
                        .with("sip", f.sip.as_str())
                        .remedy(r.catalina_broken_copy(first)),
                ));
            } else if !same && f.shove_kernels {
                out.push(evidence(
                    Finding::new(Code::ST001, system::STAGED_PLK, "The staged kernel cache differs from the boot cache: an install is pending and happens at the next shutdown.")
                        .remedy("Shut down or restart normally (not a forced power-off) so the staged cache is copied; then run kcheck again."),
                ));
            } else if !same {
                out.push(evidence(
                    Finding::new(Code::ST005, system::STAGED_PLK, "The staged kernel cache differs from the boot cache, but no deferred install is scheduled: nothing will copy it to the system volume.")
                        .remedy(if copy_fails { r.catalina_broken_copy(None) } else { format!("Schedule the copy again: {}.", r.rebuild()) }),
                ));
            }
        }
    }

    // AX003: the auxiliary collection's link to the boot collection.
    if let (Some(b), Some(a)) = (boot, aux)
        && a.boot_kc_id.is_some()
        && a.boot_kc_id != b.kc_id
    {
        out.push(
            Finding::new(Code::AX003, system::AUX_KC, "The auxiliary kernel collection was linked against a different boot kernel collection: the kernel will refuse to load it, and no third-party kext in it will load.")
                .with("aux_boot_kc_id", a.boot_kc_id.clone())
                .with("boot_kc_id", b.kc_id.clone())
                .remedy(format!("Rebuild the auxiliary collection: {}.", r.rebuild())),
        );
    }

    // KN001: the cache against the kernel on disk.
    if let (Some(b), Some(k)) = (boot, f.kernel.info())
        && let (Some(bv), Some(kv)) = (&b.kernel.version, &k.kernel.version)
        && bv != kv
    {
        out.push(
            Finding::new(
                Code::KN001,
                f.cache(Role::Boot).map_or("boot cache", |s| s.mac_path),
                "The boot cache was linked against a different kernel than the one in /System/Library/Kernels/kernel.",
            )
            .with("cache_kernel_version", bv.clone())
            .with("cache_kernel_uuid", b.kernel.uuid.clone())
            .with("kernel_version", kv.clone())
            .with("kernel_uuid", k.kernel.uuid.clone())
            .remedy(format!(
                "{}; if the kernel file itself is wrong (a failed update), reinstall macOS.",
                capitalise(&r.rebuild())
            )),
        );
    }

    // KX / AX: installed kexts against the caches.
    let Some(b) = boot else {
        for bad in &f.installed.bad {
            out.push(kx005(bad));
        }
        return out;
    };
    let boot_idx = {
        let mut m = index(&b.kexts);
        if let Some(s) = system_kc {
            for (k, v) in index(&s.kexts) {
                m.entry(k).or_insert(v);
            }
        }
        m
    };
    let staged_idx = staged.map(|s| index(&s.kexts));
    let aux_idx = aux.map(|a| index(&a.kexts));
    let aux_broken = f.cache(Role::Auxiliary).is_some_and(|s| matches!(s.state, CacheState::Broken(_)));
    let staged_ext: HashSet<&str> = f.staged_extensions.kexts.iter().map(|k| k.bundle_id.as_str()).collect();
    let arch = b.arch.as_str();
    for k in &f.installed.kexts {
        let third_party_kc = sys.era == Era::KernelCollections && k.path.starts_with(system::LIBRARY_EXTENSIONS);
        if third_party_kc {
            // A damaged auxiliary collection is KC002 already; comparing
            // against it would only repeat that for every kext.
            if !aux_broken {
                check_aux(&mut out, k, aux_idx.as_ref(), &staged_ext, &r, arch);
            }
            continue;
        }
        match boot_idx.get(k.bundle_id.as_str()) {
            None => {
                let in_staged = staged_idx.as_ref().map(|s| s.contains_key(k.bundle_id.as_str()));
                let mut msg = format!(
                    "{} {} is installed at {} but is not in the boot kernel cache: it will not load at boot.",
                    k.bundle_id,
                    k.version.as_deref().unwrap_or("(no version)"),
                    k.path
                );
                if in_staged == Some(true) {
                    msg.push_str(" The staged cache has it.");
                }
                out.push(
                    Finding::new(Code::KX001, k.bundle_id.clone(), msg)
                        .with("path", k.path.clone())
                        .with("disk_version", k.version.clone())
                        .with("in_staged_cache", in_staged)
                        .remedy(kx_remedy(&r, copy_fails, None)),
                );
            }
            Some(c) => compare(&mut out, k, c, staged_idx.as_ref(), &r, copy_fails, arch, Code::KX002),
        }
    }
    for bad in &f.installed.bad {
        out.push(kx005(bad));
    }

    // KX004: cached third-party kexts gone from disk.
    let on_disk: HashSet<&str> = f
        .installed
        .kexts
        .iter()
        .map(|k| k.path.as_str())
        .chain(f.installed.bad.iter().map(|b| b.path.as_str()))
        .collect();
    let ids_on_disk: HashSet<&str> = f.installed.kexts.iter().map(|k| k.bundle_id.as_str()).collect();
    let gone_from: Vec<&Kext> = match sys.era {
        Era::KernelCollections => aux.map_or(Vec::new(), |a| a.kexts.iter().collect()),
        _ => b.kexts.iter().collect(),
    };
    for c in gone_from {
        let Some(path) = &c.bundle_path else { continue };
        if path.starts_with("/Library/Extensions/")
            && !on_disk.contains(path.as_str())
            && !ids_on_disk.contains(c.bundle_id.as_str())
        {
            out.push(
                Finding::new(Code::KX004, c.bundle_id.clone(), format!("{} {} is in the kernel cache but {} is no longer on disk: the next boot still loads the removed kext.", c.bundle_id, c.version.as_deref().unwrap_or(""), path))
                    .with("bundle_path", path.clone())
                    .with("cached_version", c.version.clone())
                    .with("cached_uuid", c.uuid.clone())
                    .remedy(format!("To drop it from the cache, {}.", r.rebuild())),
            );
        }
    }
    out
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map_or(String::new(), |f| f.to_uppercase().collect::<String>() + c.as_str())
}

fn kx005(bad: &bundle::BadBundle) -> Finding {
    Finding::new(Code::KX005, bad.path.clone(), format!("The kext bundle at {} cannot be read: {}.", bad.path, bad.reason))
        .with("path", bad.path.clone())
        .with("reason", bad.reason.clone())
        .remedy("Reinstall the kext from its vendor, or remove the damaged bundle; kextcache and kmutil skip it, so it will not load.")
}

fn kx_remedy(r: &Remedies<'_>, copy_fails: bool, back_to: Option<(&str, &str)>) -> String {
    if copy_fails {
        r.catalina_broken_copy(back_to)
    } else {
        format!("To bring the cache in line with the disk, {}.", r.rebuild())
    }
}

#[allow(clippy::too_many_arguments)]
fn compare(
    out: &mut Vec<Finding>,
    k: &InstalledKext,
    c: &Kext,
    staged: Option<&HashMap<&str, &Kext>>,
    r: &Remedies<'_>,
    copy_fails: bool,
    arch: &str,
    version_code: Code,
) {
    let staged_kext = staged.and_then(|s| s.get(k.bundle_id.as_str()));
    if k.version != c.version {
        let back = c.version.as_deref().map(|v| (k.bundle_id.as_str(), v));
        out.push(
            Finding::new(
                version_code,
                k.bundle_id.clone(),
                format!(
                    "{} is {} on disk but {} in the kernel cache: the next boot loads the cached version.",
                    k.bundle_id,
                    k.version.as_deref().unwrap_or("unversioned"),
                    c.version.as_deref().unwrap_or("unversioned")
                ),
            )
            .with("path", k.path.clone())
            .with("disk_version", k.version.clone())
            .with("boot_version", c.version.clone())
            .with("staged_version", staged_kext.and_then(|s| s.version.clone()))
            .remedy(kx_remedy(r, copy_fails, back)),
        );
        return;
    }
    let disk_uuid = k.uuid_for(arch);
    if let (Some(d), Some(cu)) = (disk_uuid, c.uuid.as_deref())
        && d != cu
    {
        out.push(
            Finding::new(Code::KX003, k.bundle_id.clone(), format!("{} {} on disk is a different build than the one in the kernel cache (executable UUID differs): the next boot loads the cached build.", k.bundle_id, k.version.as_deref().unwrap_or("")))
                .with("path", k.path.clone())
                .with("version", k.version.clone())
                .with("disk_uuid", d)
                .with("boot_uuid", cu)
                .with("staged_uuid", staged_kext.and_then(|s| s.uuid.clone()))
                .with("executable_sha256", k.executable_sha256.clone())
                .remedy(kx_remedy(r, copy_fails, None)),
        );
    }
}

fn check_aux(
    out: &mut Vec<Finding>,
    k: &InstalledKext,
    aux: Option<&HashMap<&str, &Kext>>,
    staged_ext: &HashSet<&str>,
    r: &Remedies<'_>,
    arch: &str,
) {
    match aux.and_then(|a| a.get(k.bundle_id.as_str())) {
        None => {
            let staged = staged_ext.contains(k.bundle_id.as_str());
            out.push(
                Finding::new(Code::AX001, k.bundle_id.clone(), format!("{} {} is installed at {} but is not in the auxiliary kernel collection: it will not load until it is approved and the collection is rebuilt.", k.bundle_id, k.version.as_deref().unwrap_or(""), k.path))
                    .with("path", k.path.clone())
                    .with("disk_version", k.version.clone())
                    .with("in_staged_extensions", staged)
                    .with("aux_collection_present", aux.is_some())
                    .remedy(format!("Approve the kext in System Settings > Privacy & Security (System Preferences > Security & Privacy on macOS 11-12), then {}.", r.rebuild())),
            );
        }
        Some(c) => compare(out, k, c, None, r, false, arch, Code::AX002),
    }
}
