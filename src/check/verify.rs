//! The rules of `verify` (design.md, "The rules verify follows"): pure
//! functions from gathered [`Facts`] to findings and `not_checked` entries.
//! No I/O.
//!
//! Each rule follows what Apple's own tools do, and cites the source it
//! rests on (the repositories are `apple-oss-distributions/*`):
//!
//! - **Which installed copy counts** (KX009): kext_tools
//!   `kextcache_main.c` `_appendIfNewest` keeps, per bundle id, the copy
//!   with the highest `OSKextParseVersionString` value; on a tie the first
//!   in the `ExtensionsDir` order of `bootcaches.plist`. A copy without a
//!   valid version is never a candidate.
//! - **What goes into a ≤ 10.15 boot cache** (KX001 vs KX006):
//!   `bootcaches.c` `rebuild_kext_boot_cache_file` runs
//!   `kextcache -local-root`; `kextcache_main.c` `filterKextsForCache` adds
//!   `Root` and `Console` (and `DriverKit` on 10.15) and keeps the kexts
//!   whose `OSBundleRequired` matches (IOKitUser `OSKext.c`
//!   `OSKextMatchesRequiredFlags`), plus kexts already loaded.
//! - **What kextcache leaves out whatever the flags say** (KX007, KX008):
//!   `filterKextsForCache` skips kexts without a slice for the cache's
//!   architecture (`OSKextSupportsArchitecture`), invalid kexts (IOKitUser
//!   `OSKext.c` validation: `CFBundleVersion` must parse,
//!   `CFBundleIdentifier` ≤ 63 characters, `CFBundlePackageType` `KEXT`),
//!   kexts on the exclude list (`OSKextIsInExcludeList`,
//!   `_excludeThisVersion`), kexts that fail authentication — including user
//!   approval, `security.c` `SPAllowKextLoadCache` — and kexts whose
//!   dependencies do not resolve.
//! - **Versions** are compared as [`KextVersion`] values, never as strings.
//! - **10.15 staging** (ST001–ST005, KX004): `kextcache_main.c` writes
//!   `shove_kernels` after every staged build; `kcditto_main.m` copies the
//!   staged cache byte for byte at shutdown and deletes the script only
//!   after a successful copy; `staging.m` `createStagingURL` makes the cache
//!   record `/Library/StagedExtensions/Library/Extensions/X.kext`.
//! - **10.15.0** (ST003): the shutdown copy fails with SIP on; from
//!   Recovery `kextcache -i "/Volumes/<name>"` copies at once
//!   (`kextcache_main.c`: outside the booted Data volume it calls
//!   `copyKernelsInVolume()` directly).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Value, json};

use crate::cache::diff::{self, Diff};
use crate::cache::{CacheInfo, Kext};
use crate::check::finding::{Code, Finding};
use crate::check::known_issues;
use crate::facts::{CacheState, Facts, NotChecked, PolicyState, Role};
use crate::kext_version::{KextVersion, exclude_list_matches_raw, same_version};
use crate::system::bundle::{self, EXCLUDE_LIST_KEXT, ExcludeRule, InstalledKext};
use crate::system::{self, Era, SystemRoot, Vol};

/// What the rules found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The findings (unsorted).
    pub findings: Vec<Finding>,
    /// The checks that could not run, and why.
    pub not_checked: Vec<NotChecked>,
}

/// Index of kexts by bundle id (first wins).
fn index(kexts: &[Kext]) -> HashMap<&str, &Kext> {
    let mut m = HashMap::new();
    for k in kexts {
        m.entry(k.bundle_id.as_str()).or_insert(k);
    }
    m
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
    /// The 10.15.0 remedy: from Recovery, `kextcache -i` on the volume
    /// copies at once (not `touch -c …/Extensions`, which only schedules the
    /// same failing shutdown copy again).
    fn catalina_broken_copy(&self, kext: Option<(&str, &str)>) -> String {
        let back = kext.map_or(String::new(), |(id, v)| {
            format!(" Or go back to {id} version {v}, the version in the boot cache.")
        });
        format!(
            "Update to macOS 10.15.1 (19B88) or later, which fixes the shutdown copy. Or boot to Recovery (hold Command-R), open Terminal and run `kextcache -i \"{}\"`: outside the booted system kextcache copies the new cache to the system volume at once; then restart.{back}",
            self.recovery_volume()
        )
    }
}

/// Everything the per-kext rules share.
struct Ctx<'a> {
    f: &'a Facts,
    r: Remedies<'a>,
    /// 10.15.0 with SIP on (or unknown): the shutdown copy fails.
    copy_fails: bool,
    /// The cache's architecture (`x86_64`, `arm64e`).
    arch: String,
    /// Bundle ids whose change a working shutdown copy installs (ST001).
    pending: HashSet<String>,
    /// The exclude list, when the exclude-list kext is installed.
    exclude: Option<HashMap<&'a str, &'a ExcludeRule>>,
    /// Every bundle id installed (any copy) or in any cache.
    known_ids: HashSet<&'a str>,
}

/// The checks of design.md over gathered facts. Pure: no I/O.
pub fn check(f: &Facts) -> Outcome {
    let sys = &f.system;
    let mut o = Outcome::default();
    let copy_fails = sys.era == Era::PrelinkedStaged
        && known_issues::shove_copy_fails(sys.version, &sys.build)
        && f.sip.assumed_on();
    kb001(f, &mut o);
    caches_readable(f, &Remedies { sys }, &mut o);
    let pending = staged(f, &Remedies { sys }, copy_fails, &mut o);
    aux_link(f, &Remedies { sys }, &mut o);
    kernel(f, &Remedies { sys }, &mut o);

    // Apple silicon: the auxiliary collection lives in Preboot under a name
    // Apple does not document (kmutil(8)); kcheck does not guess one.
    if sys.era == Era::KernelCollections && sys.platform == system::Platform::AppleSilicon {
        o.not_checked.push(NotChecked::new(
            "AX001, AX002, AX003",
            "on Apple silicon the auxiliary kernel collection's file in Preboot is not documented; kcheck does not guess it (the kexts' own problems, KX007 and KX008, are still checked)",
        ));
    }
    let boot = f.cache(Role::Boot).and_then(|s| s.state.info());
    let Some(b) = boot else {
        for bad in &f.installed.bad {
            o.findings.push(kx005(bad));
        }
        let why = match f.cache(Role::Boot).map(|s| &s.state) {
            Some(CacheState::Unlocated(why)) => format!("the boot kernel collection was not located: {why}"),
            _ => "no readable boot kernel cache to compare the installed kexts with".to_string(),
        };
        // (On Apple silicon AX001-AX003 are listed once, above.)
        let checks = if sys.platform == system::Platform::AppleSilicon {
            "KX001-KX004, KX006-KX009"
        } else {
            "KX001-KX004, KX006-KX009, AX001, AX002"
        };
        o.not_checked.push(NotChecked::new(checks, why));
        return o;
    };
    let exclude = exclude_list(f, &mut o);
    let mut known_ids: HashSet<&str> = f.installed.kexts.iter().map(|k| k.bundle_id.as_str()).collect();
    for slot in &f.caches {
        if let Some(c) = slot.state.info() {
            known_ids.extend(c.kexts.iter().map(|k| k.bundle_id.as_str()));
        }
    }
    let ctx = Ctx { f, r: Remedies { sys }, copy_fails, arch: b.arch.clone(), pending, exclude, known_ids };
    if let PolicyState::Unavailable(why) = &f.policy {
        o.not_checked.push(NotChecked::new("KX007", format!("user approval not checked: {why}")));
    }
    installed(&ctx, b, &mut o);
    removed(f, &ctx.r, b, &mut o);
    o
}

/// KB001: the installed build or release has a known problem.
fn kb001(f: &Facts, o: &mut Outcome) {
    let sys = &f.system;
    let build = sys.build.as_str();
    for k in known_issues::for_system(sys.version, build) {
        o.findings.push(
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
}

/// KC001 / KC002: the caches themselves.
fn caches_readable(f: &Facts, r: &Remedies<'_>, o: &mut Outcome) {
    let sys = &f.system;
    for slot in &f.caches {
        if let CacheState::Unlocated(why) = &slot.state {
            // Apple silicon without a reachable Preboot: never KC001.
            o.not_checked.push(NotChecked::new(if slot.role == Role::Boot { "KC001" } else { "KC002" }, why.clone()));
            continue;
        }
        let CacheState::Broken(why) = &slot.state else {
            if slot.role == Role::Boot && matches!(slot.state, CacheState::Missing) {
                o.findings.push(
                    Finding::new(Code::KC001, slot.mac_path.clone(), "The boot kernel cache is missing: the Mac has no prelinked kexts to boot with.")
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
        o.findings.push(
            Finding::new(code, slot.mac_path.clone(), what)
                .with("path", slot.path.display().to_string())
                .with("error", why.clone())
                .remedy(remedy),
        );
    }
}

/// ST001–ST005: the 10.15 staged cache and the deferred install. Returns
/// the bundle ids a working shutdown copy will change (ST001 folds them:
/// they get no KX001/KX002/KX003).
fn staged(f: &Facts, r: &Remedies<'_>, copy_fails: bool, o: &mut Outcome) -> HashSet<String> {
    let sys = &f.system;
    let mut pending = HashSet::new();
    if sys.era != Era::PrelinkedStaged {
        return pending;
    }
    let build = sys.build.as_str();
    if f.shove_kernels {
        o.findings.push(
            Finding::new(Code::ST002, system::SHOVE_KERNELS, "A deferred kernel-cache install is scheduled: launchd runs this script at shutdown to copy the staged prelinkedkernel to the system volume.")
                .with("path", sys.join(Vol::Data, system::SHOVE_KERNELS).display().to_string())
                .remedy("Nothing to do unless another finding says the copy will fail."),
        );
    }
    let boot = f.cache(Role::Boot).and_then(|s| s.state.info());
    let staged = f.cache(Role::Staged).and_then(|s| s.state.info());
    let (Some(b), Some(s)) = (boot, staged) else {
        let staged_missing = f.cache(Role::Staged).is_some_and(|s| matches!(s.state, CacheState::Missing));
        if boot.is_none() && !staged_missing {
            o.not_checked.push(NotChecked::new(
                "ST001, ST003-ST005",
                "no readable boot kernel cache to compare the staged cache with",
            ));
        } else if boot.is_some() && !staged_missing {
            o.not_checked.push(NotChecked::new("ST001, ST003-ST005", "the staged cache cannot be read (KC002)"));
        }
        return pending;
    };
    // Same cache = same bytes (kcditto copies byte for byte). Equal
    // `_PrelinkKCID`s with different bytes are not the same cache: the id
    // hashes only the kernel UUID, load addresses and executable UUIDs
    // (IOKitUser `OSKext.c`), not personalities.
    let same = b.sha256.is_some() && b.sha256 == s.sha256;
    let d: Diff = if same { Diff::default() } else { diff::diff(b, s) };
    let evidence = |fd: Finding| {
        fd.with("boot_sha256", b.sha256.clone())
            .with("staged_sha256", s.sha256.clone())
            .with("boot_kc_id", b.kc_id.clone())
            .with("staged_kc_id", s.kc_id.clone())
            .with("same_kc_id", b.kc_id.is_some() && b.kc_id == s.kc_id)
            .with("added", ids(&d.added))
            .with("removed", ids(&d.removed))
            .with("changed", json!(d.changed.iter().map(|c| c.bundle_id.clone()).collect::<Vec<_>>()))
    };
    if same && f.shove_kernels {
        o.findings.push(evidence(
            Finding::new(Code::ST004, system::SHOVE_KERNELS, "The deferred-install script is present and the staged and boot caches are byte-identical: the normal state right after a rebuild that changed nothing (kextcache writes the script after every staged build).")
                .remedy("Nothing to do: the next boot uses this cache, and kcditto removes the script after its next copy. Do not delete it by hand."),
        ));
    } else if !same && f.shove_kernels && copy_fails {
        let first = d.changed.first().and_then(|c| Some((c.bundle_id.as_str(), c.version_a.as_deref()?)));
        o.findings.push(evidence(
            Finding::new(Code::ST003, system::STAGED_PLK, format!("The staged kernel cache differs from the boot cache and an install is scheduled for shutdown, but on macOS {} ({build}) that copy fails with SIP on: the next boot will still use the old boot cache.", sys.product_version))
                .with("sip", f.sip.as_str())
                .remedy(r.catalina_broken_copy(first)),
        ));
    } else if !same && f.shove_kernels {
        pending.extend(d.added.iter().map(|k| k.bundle_id.clone()));
        pending.extend(d.changed.iter().map(|c| c.bundle_id.clone()));
        o.findings.push(evidence(
            Finding::new(Code::ST001, system::STAGED_PLK, "The staged kernel cache differs from the boot cache and an install is scheduled: a normal restart copies it to the system volume, and the kexts listed change then.")
                .remedy("Restart normally (not a forced power-off) so the staged cache is copied; then run kcheck again."),
        ));
    } else if !same {
        o.findings.push(evidence(
            Finding::new(Code::ST005, system::STAGED_PLK, "The staged kernel cache differs from the boot cache, but no deferred install is scheduled: nothing will copy it to the system volume.")
                .remedy(if copy_fails { r.catalina_broken_copy(None) } else { format!("Schedule the copy again: {}.", r.rebuild()) }),
        ));
    }
    pending
}

/// AX003: the auxiliary collection's links. The kernel refuses an aux
/// collection whose `_BootKCID` is not the boot collection's
/// `_PrelinkKCID`, and on Intel one whose `_PageableKCID` is not the loaded
/// system collection's (xnu `OSKext.cpp` `validateKCFileSetUUID`).
fn aux_link(f: &Facts, r: &Remedies<'_>, o: &mut Outcome) {
    let boot = f.cache(Role::Boot).and_then(|s| s.state.info());
    let system_kc = f.cache(Role::System).and_then(|s| s.state.info());
    let Some(a) = f.cache(Role::Auxiliary).and_then(|s| s.state.info()) else {
        if f.cache(Role::Auxiliary).is_some_and(|s| matches!(s.state, CacheState::Broken(_))) {
            o.not_checked.push(NotChecked::new("AX003, KX004", "the auxiliary collection cannot be read (KC002)"));
        }
        return;
    };
    let boot_bad = boot.filter(|b| a.boot_kc_id.is_some() && a.boot_kc_id != b.kc_id);
    let pageable_bad = system_kc.filter(|s| a.pageable_kc_id.is_some() && a.pageable_kc_id != s.kc_id);
    if boot_bad.is_none() && pageable_bad.is_none() {
        return;
    }
    let what = match (boot_bad.is_some(), pageable_bad.is_some()) {
        (true, true) => "boot and system kernel collections",
        (true, false) => "boot kernel collection",
        _ => "system kernel collection",
    };
    o.findings.push(
        Finding::new(Code::AX003, system::AUX_KC, format!("The auxiliary kernel collection was linked against a different {what}: the kernel will refuse to load it, and no third-party kext in it will load."))
            .with("aux_boot_kc_id", a.boot_kc_id.clone())
            .with("boot_kc_id", boot.and_then(|b| b.kc_id.clone()))
            .with("aux_pageable_kc_id", a.pageable_kc_id.clone())
            .with("system_kc_id", system_kc.and_then(|s| s.kc_id.clone()))
            .remedy(format!("Rebuild the auxiliary collection: {}.", r.rebuild())),
    );
}

/// KN001 / KN003: the cache against the kernel on disk.
fn kernel(f: &Facts, r: &Remedies<'_>, o: &mut Outcome) {
    let boot = f.cache(Role::Boot).and_then(|s| s.state.info());
    if boot.is_none() && matches!(f.kernel, CacheState::Missing | CacheState::Unlocated(_)) {
        // Without a boot cache there is nothing to compare (and on Apple
        // silicon no way to know which kernel.release.<soc> it needs).
        o.not_checked.push(NotChecked::new("KN001", "no readable boot kernel cache to compare the kernel with"));
        return;
    }
    let k = match &f.kernel {
        CacheState::Missing | CacheState::Unlocated(_) => {
            o.not_checked.push(NotChecked::new("KN001", format!("{} not found", f.kernel_path)));
            return;
        }
        CacheState::Broken(why) => {
            o.findings.push(
                Finding::new(
                    Code::KN003,
                    f.kernel_path.clone(),
                    format!("The kernel file cannot be read, so kcheck could not check that the boot cache was linked against it: {why}"),
                )
                .with("error", why.clone())
                .remedy("Run kcheck again as root; if the file is damaged, reinstall macOS."),
            );
            o.not_checked.push(NotChecked::new("KN001", format!("{} cannot be read: {why}", f.kernel_path)));
            return;
        }
        CacheState::Ok(k) => k,
    };
    let Some(kv) = &k.kernel.version else {
        let why = "no kernel version string in it";
        o.findings.push(
            Finding::new(Code::KN003, f.kernel_path.clone(), format!("The kernel file was read but has {why}, so kcheck could not check that the boot cache was linked against it."))
                .with("error", why)
                .remedy("If the file is damaged, reinstall macOS."),
        );
        o.not_checked.push(NotChecked::new("KN001", format!("{}: {why}", f.kernel_path)));
        return;
    };
    let Some(b) = boot else {
        o.not_checked.push(NotChecked::new("KN001", "no readable boot kernel cache to compare the kernel with"));
        return;
    };
    let Some(bv) = &b.kernel.version else {
        o.not_checked.push(NotChecked::new("KN001", "the boot cache has no kernel version string"));
        return;
    };
    if bv == kv {
        return;
    }
    let remedy = match f.system.era {
        // Both are on the sealed system volume (kmutil(8): the boot
        // collection is an immutable artifact): nothing rebuilds them.
        Era::KernelCollections => "The kernel and the boot collection are both part of the sealed system volume, so a mismatch means a damaged system: reinstall macOS from Recovery.".to_string(),
        _ => format!(
            "{}; if the kernel file itself is wrong (a failed update), reinstall macOS.",
            capitalise(&r.rebuild())
        ),
    };
    o.findings.push(
        Finding::new(
            Code::KN001,
            f.cache(Role::Boot).map_or("boot cache".to_string(), |s| s.mac_path.clone()),
            format!("The boot cache was linked against a different kernel than the one in {}.", f.kernel_path),
        )
        .with("cache_kernel_version", bv.clone())
        .with("cache_kernel_uuid", b.kernel.uuid.clone())
        .with("kernel_version", kv.clone())
        .with("kernel_uuid", k.kernel.uuid.clone())
        .with("kernel_path", f.kernel_path.clone())
        .remedy(remedy),
    );
}

/// The exclude list of the installed exclude-list kext (the winner, if
/// several copies), or a `not_checked` entry when none is installed.
fn exclude_list<'a>(f: &'a Facts, o: &mut Outcome) -> Option<HashMap<&'a str, &'a ExcludeRule>> {
    let copies: Vec<&InstalledKext> =
        f.installed.kexts.iter().filter(|k| k.bundle_id == EXCLUDE_LIST_KEXT && k.exclude_list.is_some()).collect();
    // The list with the highest version wins (xnu `OSKext::updateExcludeList`).
    let best = copies.into_iter().max_by_key(|k| k.version.as_deref().and_then(KextVersion::parse));
    match best.and_then(|k| k.exclude_list.as_ref()) {
        Some(list) => {
            // A dictionary rule applies only when its IOKit matching
            // dictionaries match this Mac's hardware, which cannot be
            // evaluated offline: those entries are named, not judged.
            let hardware: Vec<&str> = list
                .iter()
                .filter(|(id, r)| r.needs_matching && f.installed.kexts.iter().any(|k| &k.bundle_id == id))
                .map(|(id, _)| id.as_str())
                .collect();
            if !hardware.is_empty() {
                o.not_checked.push(NotChecked::new(
                    "KX008 (exclude-list)",
                    format!(
                        "the exclude-list rules for {} depend on IOKit matching against this Mac's hardware",
                        hardware.join(", ")
                    ),
                ));
            }
            Some(list.iter().map(|(id, rule)| (id.as_str(), rule)).collect())
        }
        None => {
            o.not_checked.push(NotChecked::new(
                "KX008 (exclude-list)",
                format!(
                    "the exclude-list kext ({EXCLUDE_LIST_KEXT}) is not installed, so the exclude list was not read"
                ),
            ));
            None
        }
    }
}

/// The era's extension-folder order (bootcaches.plist `ExtensionsDir`):
/// on a tie of versions the first copy in this order wins.
fn folder_rank(era: Era, path: &str) -> usize {
    let order: &[&str] = match era {
        // ≤ 10.14 (bootcaches.plist of 10.11–10.14).
        Era::Prelinked => &["/System/Library/Extensions/", "/Library/Extensions/"],
        _ => &[
            "/Library/Extensions/",
            "/Library/Apple/System/Library/Extensions/",
            "/System/Library/Extensions/",
            "/Library/StagedExtensions/",
        ],
    };
    order.iter().position(|p| path.starts_with(p)).unwrap_or(order.len())
}

/// Why Apple would never put a kext in a cache (KX008), if it would not.
fn never_cached(ctx: &Ctx<'_>, k: &InstalledKext, version: Option<KextVersion>) -> Option<(&'static str, String)> {
    // Validation (IOKitUser OSKext.c): version, identifier length,
    // package type.
    if version.is_none() {
        return Some((
            "invalid",
            match &k.version {
                None => "CFBundleVersion is missing".to_string(),
                Some(v) => format!("CFBundleVersion \"{v}\" is not a valid kext version"),
            },
        ));
    }
    if k.bundle_id.len() > 63 {
        return Some(("invalid", format!("CFBundleIdentifier is {} characters long (at most 63)", k.bundle_id.len())));
    }
    if k.package_type.as_deref() != Some("KEXT") {
        return Some((
            "invalid",
            match &k.package_type {
                None => "CFBundlePackageType is missing".to_string(),
                Some(t) => format!("CFBundlePackageType is \"{t}\", not KEXT"),
            },
        ));
    }
    // Architecture (OSKextSupportsArchitecture): codeless kexts pass; else a
    // slice for the cache's CPU type (x86_64 covers x86_64h).
    if k.executable.is_some() {
        let want = ctx.arch.as_str();
        let ok = k.archs.iter().any(|a| a == want || (want == "x86_64" && a.starts_with("x86_64")));
        if !ok {
            return Some((
                "arch",
                format!(
                    "the executable has no {want} slice (it has {})",
                    if k.archs.is_empty() { "none".into() } else { k.archs.join(", ") }
                ),
            ));
        }
    }
    if let (Some(list), Some(v)) = (&ctx.exclude, version)
        && let Some(rule) = list.get(k.bundle_id.as_str())
        && !rule.needs_matching
        && exclude_list_matches_raw(&rule.versions, v.value())
    {
        return Some((
            "exclude-list",
            format!(
                "version {} matches the exclude-list rule \"{}\"",
                k.version.as_deref().unwrap_or_default(),
                rule.versions
            ),
        ));
    }
    None
}

/// KX008 `dependency`: an `OSBundleLibraries` id neither installed nor in
/// any cache. kextcache checks this after authentication (approval), so it
/// comes after KX007 (`filterKextsForCache`).
fn unresolved(ctx: &Ctx<'_>, k: &InstalledKext) -> Option<(&'static str, String)> {
    let missing: Vec<&str> = k.libraries.iter().map(String::as_str).filter(|id| !ctx.known_ids.contains(id)).collect();
    (!missing.is_empty()).then(|| {
        ("dependency", format!("OSBundleLibraries names {} that is neither installed nor cached", missing.join(", ")))
    })
}

/// Whether kexts need user approval on this system, and this one has it.
/// `None`: cannot tell (database unavailable) or not applicable.
fn approved(ctx: &Ctx<'_>, k: &InstalledKext) -> Option<bool> {
    // Apple's own kexts (platform binaries in the SIP-protected folders)
    // need no approval; approval is tracked by team id and bundle id
    // (TN2459), MDM can allow a whole team. The bundle reader reads team
    // ids by the same test.
    if !bundle::approval_applies(&k.bundle_id, &k.path) {
        return None;
    }
    match &ctx.f.policy {
        #[cfg(feature = "sqlite")]
        PolicyState::Read(p) => Some(p.approval(k.team_id.as_deref(), &k.bundle_id).is_allowed()),
        _ => None,
    }
}

/// Whether `OSBundleRequired` puts the kext in a ≤ 10.15 boot cache.
fn required_for_boot(sys: &SystemRoot, k: &InstalledKext) -> bool {
    match k.required.as_deref() {
        Some("Root" | "Local-Root" | "Console") => true,
        // 10.15's filterKextsForCache adds DriverKit; 10.11-10.14 do not.
        Some("DriverKit") => sys.at_least(10, 15),
        _ => false,
    }
}

/// Whether the kext goes to the auxiliary collection (11+): everything
/// outside the sealed `/System` — `/Library/Extensions`, other
/// third-party locations, and `/Library/Apple/System/Library/Extensions`,
/// whose kexts kernelmanagerd resolves with the third-party ones (kmutil(8):
/// the aux collection holds "kexts placed in /Library/Extensions and any
/// other third-party kexts"; macfuse#915 logs).
fn aux_kext(sys: &SystemRoot, k: &InstalledKext) -> bool {
    sys.era == Era::KernelCollections && !k.path.starts_with("/System/")
}

/// The installed kexts against the caches: KX001–KX003, KX005–KX009,
/// AX001, AX002.
fn installed(ctx: &Ctx<'_>, b: &CacheInfo, o: &mut Outcome) {
    let f = ctx.f;
    let sys = &f.system;
    let boot_idx = {
        let mut m = index(&b.kexts);
        if let Some(s) = f.cache(Role::System).and_then(|s| s.state.info()) {
            for (k, v) in index(&s.kexts) {
                m.entry(k).or_insert(v);
            }
        }
        m
    };
    let staged_idx = f.cache(Role::Staged).and_then(|s| s.state.info()).map(|s| index(&s.kexts));
    let aux_idx = f.cache(Role::Auxiliary).and_then(|s| s.state.info()).map(|a| index(&a.kexts));
    let aux_broken = f.cache(Role::Auxiliary).is_some_and(|s| matches!(s.state, CacheState::Broken(_)));
    if aux_broken {
        o.not_checked.push(NotChecked::new("AX001, AX002", "the auxiliary collection cannot be read (KC002)"));
    }
    // Apple silicon: the auxiliary collection lives in Preboot under a name
    // Apple does not document (kmutil(8)); kcheck does not guess one.
    let aux_unknown = sys.era == Era::KernelCollections && sys.platform == system::Platform::AppleSilicon;
    let staged_ext: HashSet<&str> = f.staged_extensions.kexts.iter().map(|k| k.bundle_id.as_str()).collect();

    // Group by bundle id; pick Apple's winner (highest valid version, then
    // folder order); the rest are KX009; copies without a valid version
    // never compete and are KX008 `invalid`.
    let mut groups: HashMap<&str, Vec<(&InstalledKext, Option<KextVersion>)>> = HashMap::new();
    for k in &f.installed.kexts {
        let v = k.version.as_deref().and_then(KextVersion::parse);
        groups.entry(k.bundle_id.as_str()).or_default().push((k, v));
    }
    let mut ids: Vec<&str> = groups.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let mut copies = groups.remove(id).unwrap_or_default();
        copies.sort_by(|(a, va), (b, vb)| {
            vb.cmp(va)
                .then_with(|| folder_rank(sys.era, &a.path).cmp(&folder_rank(sys.era, &b.path)))
                .then_with(|| a.path.cmp(&b.path))
        });
        let (winner, wv) = copies[0];
        for (loser, lv) in copies.iter().skip(1) {
            if lv.is_none() && wv.is_some() {
                // Never a candidate: its own problem is reported below.
                kx008(
                    ctx,
                    loser,
                    "invalid",
                    &match &loser.version {
                        None => "CFBundleVersion is missing".to_string(),
                        Some(v) => format!("CFBundleVersion \"{v}\" is not a valid kext version"),
                    },
                    o,
                );
                continue;
            }
            o.findings.push(
                Finding::new(Code::KX009, loser.path.clone(), format!("{} {} at {} is also installed at {} with version {}; Apple uses that copy and ignores this one.", loser.bundle_id, loser.version.as_deref().unwrap_or(""), loser.path, winner.path, winner.version.as_deref().unwrap_or("")))
                    .with("bundle_id", loser.bundle_id.clone())
                    .with("path", loser.path.clone())
                    .with("version", loser.version.clone())
                    .with("winner_path", winner.path.clone())
                    .with("winner_version", winner.version.clone())
                    .remedy("Nothing breaks; remove the old copy to avoid confusion."),
            );
        }
        if aux_kext(sys, winner) {
            if aux_unknown {
                if let Some((reason, detail)) = never_cached(ctx, winner, wv) {
                    kx008(ctx, winner, reason, &detail, o);
                } else if approved(ctx, winner) == Some(false) {
                    kx007(ctx, winner, o);
                } else if let Some((reason, detail)) = unresolved(ctx, winner) {
                    kx008(ctx, winner, reason, &detail, o);
                }
            } else if !aux_broken {
                check_aux(ctx, winner, aux_idx.as_ref(), &staged_ext, o);
            }
            continue;
        }
        match boot_idx.get(id) {
            Some(c) => compare(ctx, winner, wv, c, staged_idx.as_ref(), Code::KX002, o),
            None => not_in_cache(ctx, winner, wv, staged_idx.as_ref(), o),
        }
    }
    for bad in &f.installed.bad {
        o.findings.push(kx005(bad));
    }
}

fn kx008(ctx: &Ctx<'_>, k: &InstalledKext, reason: &str, detail: &str, o: &mut Outcome) {
    let _ = ctx;
    o.findings.push(
        Finding::new(Code::KX008, k.bundle_id.clone(), format!("{} {} at {} is never put in a kernel cache: {detail}.", k.bundle_id, k.version.as_deref().unwrap_or("(no version)"), k.path))
            .with("path", k.path.clone())
            .with("reason", reason)
            .with("detail", detail)
            .with("disk_version", k.version.clone())
            .remedy(match reason {
                "arch" => "Install a version of the kext built for this Mac's architecture, or remove it; rebuilding the cache does not help.",
                "exclude-list" => "Apple blocks this version: update the kext to a version the vendor supports on this macOS, or remove it; rebuilding the cache does not help.",
                "dependency" => "Install the kexts it depends on (or an update of the kext that does not need them), or remove it; rebuilding the cache does not help.",
                _ => "The kext is damaged or malformed: reinstall or update it from its vendor, or remove it; rebuilding the cache does not help.",
            }),
    );
}

/// The winner is in no boot cache: why, in Apple's order of causes.
fn not_in_cache(
    ctx: &Ctx<'_>,
    k: &InstalledKext,
    version: Option<KextVersion>,
    staged: Option<&HashMap<&str, &Kext>>,
    o: &mut Outcome,
) {
    if let Some((reason, detail)) = never_cached(ctx, k, version) {
        kx008(ctx, k, reason, &detail, o);
        return;
    }
    if approved(ctx, k) == Some(false) {
        kx007(ctx, k, o);
        return;
    }
    if let Some((reason, detail)) = unresolved(ctx, k) {
        kx008(ctx, k, reason, &detail, o);
        return;
    }
    let in_staged = staged.map(|s| s.contains_key(k.bundle_id.as_str()));
    if ctx.pending.contains(&k.bundle_id) {
        return; // ST001 lists it: a normal restart installs it.
    }
    if ctx.f.system.era == Era::KernelCollections {
        // 11+: a kext of the sealed /System that Apple did not build into
        // the boot or system collection.
        o.findings.push(
            Finding::new(Code::KX006, k.bundle_id.clone(), format!("{} {} at {} is in neither the boot nor the system kernel collection: Apple builds those collections and left it out.", k.bundle_id, k.version.as_deref().unwrap_or(""), k.path))
                .with("path", k.path.clone())
                .with("disk_version", k.version.clone())
                .remedy("Nothing to do."),
        );
        return;
    }
    if !required_for_boot(&ctx.f.system, k) {
        o.findings.push(
            Finding::new(Code::KX006, k.bundle_id.clone(), format!("{} {} is not in the boot cache, as Apple intends: its OSBundleRequired ({}) does not put it there, and kextd loads it from disk when it is first needed.", k.bundle_id, k.version.as_deref().unwrap_or(""), k.required.as_deref().unwrap_or("none")))
                .with("path", k.path.clone())
                .with("os_bundle_required", k.required.clone())
                .with("disk_version", k.version.clone())
                .remedy("Nothing to do."),
        );
        return;
    }
    let mut msg = format!(
        "{} {} is installed at {} with OSBundleRequired {} but is not in the boot kernel cache: it will not load early in boot.",
        k.bundle_id,
        k.version.as_deref().unwrap_or("(no version)"),
        k.path,
        k.required.as_deref().unwrap_or("")
    );
    if in_staged == Some(true) {
        msg.push_str(" The staged cache has it.");
    }
    o.findings.push(
        Finding::new(Code::KX001, k.bundle_id.clone(), msg)
            .with("path", k.path.clone())
            .with("disk_version", k.version.clone())
            .with("os_bundle_required", k.required.clone())
            .with("in_staged_cache", in_staged)
            .remedy(kx_remedy(&ctx.r, ctx.copy_fails, None, &k.path)),
    );
}

/// KX007: not approved. The remedy depends on the platform: on Apple
/// silicon approval means nothing until the Mac runs Reduced Security with
/// user management of kexts allowed (Apple Platform Security, "Kernel
/// extensions in macOS").
fn kx007(ctx: &Ctx<'_>, k: &InstalledKext, o: &mut Outcome) {
    let sys = &ctx.f.system;
    let pane = if sys.at_least(13, 0) {
        "System Settings > Privacy & Security"
    } else {
        "System Preferences > Security & Privacy > General"
    };
    let remedy = if sys.platform == system::Platform::AppleSilicon {
        format!(
            "On Apple silicon first allow kexts: shut down, hold the power button to start recoveryOS, open Startup Security Utility, choose Reduced Security and \"Allow user management of kernel extensions from identified developers\"; then start up, approve the kext in {pane} (or with an MDM kernel-extension policy) and restart."
        )
    } else {
        format!(
            "Approve it in {pane} (\"System software from developer … was blocked\") or with an MDM kernel-extension policy, then restart."
        )
    };
    o.findings.push(
        Finding::new(Code::KX007, k.bundle_id.clone(), format!("{} {} at {} is not approved: KextPolicy has no allowing row for team {} and this bundle id, so it is left out of the kernel cache and does not load.", k.bundle_id, k.version.as_deref().unwrap_or(""), k.path, k.team_id.as_deref().unwrap_or("(unsigned)")))
            .with("path", k.path.clone())
            .with("team_id", k.team_id.clone())
            .with("disk_version", k.version.clone())
            .with("platform", sys.platform.as_str())
            .remedy(remedy),
    );
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

/// The remedy of KX001–KX003 for the kext at `path`: on 11+ the kexts of `/System`
/// and their collections are on the sealed system volume, which no rebuild
/// changes (kmutil(8)).
fn kx_remedy(r: &Remedies<'_>, copy_fails: bool, back_to: Option<(&str, &str)>, path: &str) -> String {
    if r.sys.era == Era::KernelCollections && path.starts_with("/System/") {
        return "This kext and the boot and system collections are part of the sealed system volume, so a mismatch means a damaged system: reinstall macOS from Recovery.".to_string();
    }
    if copy_fails {
        r.catalina_broken_copy(back_to)
    } else {
        format!("To bring the cache in line with the disk, {}.", r.rebuild())
    }
}

/// The winner is in the cache: version (KX002 / AX002) and build (KX003).
fn compare(
    ctx: &Ctx<'_>,
    k: &InstalledKext,
    _version: Option<KextVersion>,
    c: &Kext,
    staged: Option<&HashMap<&str, &Kext>>,
    version_code: Code,
    o: &mut Outcome,
) {
    if ctx.pending.contains(&k.bundle_id) {
        return; // ST001 lists it: a normal restart installs the staged build.
    }
    let staged_kext = staged.and_then(|s| s.get(k.bundle_id.as_str()));
    if !same_version(k.version.as_deref(), c.version.as_deref()) {
        let back = c.version.as_deref().map(|v| (k.bundle_id.as_str(), v));
        o.findings.push(
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
            .remedy(kx_remedy(&ctx.r, ctx.copy_fails && version_code == Code::KX002, back, &k.path)),
        );
        return;
    }
    let disk_uuid = k.uuid_for(&ctx.arch);
    if let (Some(d), Some(cu)) = (disk_uuid, c.uuid.as_deref())
        && d != cu
    {
        o.findings.push(
            Finding::new(Code::KX003, k.bundle_id.clone(), format!("{} {} on disk is a different build than the one in the kernel cache (executable UUID differs): the next boot loads the cached build.", k.bundle_id, k.version.as_deref().unwrap_or("")))
                .with("path", k.path.clone())
                .with("version", k.version.clone())
                .with("disk_uuid", d)
                .with("boot_uuid", cu)
                .with("staged_uuid", staged_kext.and_then(|s| s.uuid.clone()))
                .with("executable_sha256", k.executable_sha256.clone())
                .remedy(kx_remedy(&ctx.r, ctx.copy_fails, None, &k.path)),
        );
    }
}

fn check_aux(
    ctx: &Ctx<'_>,
    k: &InstalledKext,
    aux: Option<&HashMap<&str, &Kext>>,
    staged_ext: &HashSet<&str>,
    o: &mut Outcome,
) {
    match aux.and_then(|a| a.get(k.bundle_id.as_str())) {
        None => {
            if let Some((reason, detail)) = never_cached(ctx, k, k.version.as_deref().and_then(KextVersion::parse)) {
                kx008(ctx, k, reason, &detail, o);
                return;
            }
            let approval = approved(ctx, k);
            if approval == Some(false) {
                kx007(ctx, k, o);
                return;
            }
            if let Some((reason, detail)) = unresolved(ctx, k) {
                kx008(ctx, k, reason, &detail, o);
                return;
            }
            let staged = staged_ext.contains(k.bundle_id.as_str());
            let in_build_list = match &ctx.f.auxkc_build_list {
                Some(Ok(paths)) => Some(paths.iter().any(|p| p == &k.path)),
                _ => None,
            };
            let sys = &ctx.f.system;
            let pane = if sys.at_least(13, 0) {
                "System Settings > Privacy & Security"
            } else {
                "System Preferences > Security & Privacy"
            };
            // The remedy by state (kmutil(8): the aux collection is rebuilt
            // by kernelmanagerd after approval and takes effect at the next
            // boot).
            let (state, remedy) = match (approval, in_build_list) {
                (_, Some(true)) => (
                    "approved-pending-restart",
                    "It is in the build list of the current auxiliary collection: restart so the rebuilt collection loads, then run kcheck again.".to_string(),
                ),
                (Some(true), _) => (
                    "approved",
                    format!("KextPolicy already allows it: restart so kernelmanagerd's rebuilt collection loads; if it is still missing after the restart, {}.", ctx.r.rebuild()),
                ),
                _ => (
                    "approval-unknown",
                    format!("Approve the kext in {pane} (or with an MDM kernel-extension policy), then restart so the rebuilt auxiliary collection loads."),
                ),
            };
            o.findings.push(
                Finding::new(Code::AX001, k.bundle_id.clone(), format!("{} {} is installed at {} but is not in the auxiliary kernel collection: it does not load until the collection is rebuilt with it and the Mac restarts.", k.bundle_id, k.version.as_deref().unwrap_or(""), k.path))
                    .with("path", k.path.clone())
                    .with("disk_version", k.version.clone())
                    .with("in_staged_extensions", staged)
                    .with("aux_collection_present", aux.is_some())
                    .with("approval", state)
                    .with("in_current_auxkc_build_list", in_build_list)
                    .remedy(remedy),
            );
        }
        // (On 11+ nothing is pending and the 10.15.0 copy bug cannot apply.)
        Some(c) => compare(ctx, k, None, c, None, Code::AX002, o),
    }
}

/// KX004: cached third-party kexts gone from disk. The cache records a
/// staged copy's path (`/Library/StagedExtensions/Library/Extensions/X.kext`,
/// kext_tools `staging.m` `createStagingURL`): the prefix is stripped.
fn removed(f: &Facts, r: &Remedies<'_>, b: &CacheInfo, o: &mut Outcome) {
    let sys = &f.system;
    let on_disk: HashSet<&str> = f
        .installed
        .kexts
        .iter()
        .map(|k| k.path.as_str())
        .chain(f.installed.bad.iter().map(|b| b.path.as_str()))
        .collect();
    let ids_on_disk: HashSet<&str> = f.installed.kexts.iter().map(|k| k.bundle_id.as_str()).collect();
    let aux = f.cache(Role::Auxiliary).and_then(|s| s.state.info());
    let gone_from: Vec<&Kext> = match sys.era {
        Era::KernelCollections => aux.map_or(Vec::new(), |a| a.kexts.iter().collect()),
        _ => b.kexts.iter().collect(),
    };
    for c in gone_from {
        let Some(recorded) = &c.bundle_path else { continue };
        let path = recorded.strip_prefix(system::STAGED_EXTENSIONS).unwrap_or(recorded);
        if path.starts_with("/Library/Extensions/")
            && !on_disk.contains(path)
            && !ids_on_disk.contains(c.bundle_id.as_str())
        {
            o.findings.push(
                Finding::new(Code::KX004, c.bundle_id.clone(), format!("{} {} is in the kernel cache but {} is no longer on disk: the next boot still loads the removed kext.", c.bundle_id, c.version.as_deref().unwrap_or(""), path))
                    .with("bundle_path", path)
                    .with("cached_bundle_path", recorded.clone())
                    .with("cached_version", c.version.clone())
                    .with("cached_uuid", c.uuid.clone())
                    .remedy(format!("To drop it from the cache, {}.", r.rebuild())),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn sys(root: &str, era: Era, version: (u32, u32, u32)) -> SystemRoot {
        SystemRoot {
            root: PathBuf::from(root),
            data_root: PathBuf::from(root),
            data_root_source: "root",
            product_name: "macOS".into(),
            product_version: format!("{}.{}.{}", version.0, version.1, version.2),
            build: "X".into(),
            version,
            era,
            platform: system::Platform::Intel,
        }
    }

    /// The remedies name the running system (`/`) differently from a
    /// volume examined from elsewhere (Recovery, another boot volume).
    #[test]
    fn remedies_for_the_running_system_and_for_a_volume() {
        let live = sys("/", Era::PrelinkedStaged, (10, 15, 7));
        let r = Remedies { sys: &live };
        assert!(r.live());
        assert_eq!(r.rebuild(), "rebuild the cache with `sudo kextcache -i /` and restart");
        assert_eq!(r.recovery_volume(), "/Volumes/<system volume>");
        let kc = sys("/", Era::KernelCollections, (14, 5, 0));
        assert!(
            Remedies { sys: &kc }
                .rebuild()
                .starts_with("rebuild the collections with `sudo kmutil install --update-all`")
        );
        let vol = sys("/Volumes/Mac HD", Era::PrelinkedStaged, (10, 15, 0));
        let r = Remedies { sys: &vol };
        assert!(!r.live());
        assert!(r.rebuild().contains("`sudo kextcache -i \"/Volumes/Mac HD\"` (from Recovery"), "{}", r.rebuild());
        assert!(r.catalina_broken_copy(None).contains("kextcache -i \"/Volumes/Mac HD\""));
        let kc_vol = sys("/Volumes/Mac HD", Era::KernelCollections, (14, 5, 0));
        assert!(Remedies { sys: &kc_vol }.rebuild().contains("--volume-root \"/Volumes/Mac HD\""));
        let live_catalina = sys("/", Era::PrelinkedStaged, (10, 15, 0));
        assert!(Remedies { sys: &live_catalina }.catalina_broken_copy(None).contains("\"/Volumes/<system volume>\""));
    }
}
