//! Known kext-cache and kernel problems, keyed by exact build number
//! (`ProductBuildVersion`: `ProductVersion` alone cannot tell 10.15.6
//! 19G73 from its supplemental update 19G2021) or by a range of releases
//! (every 10.15.0 build has the shutdown-copy bug, including seeds and
//! builds not listed). Data, not code: add an entry here and KB001 (and
//! the panic readers) pick it up.

use crate::check::finding::Severity;

/// What a known problem is about (what evidence it explains).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueKind {
    /// The deferred kernel-cache install (shove_kernels) fails.
    DeferredInstall,
    /// A kernel zone leak exhausts the zone map (zprint, panics).
    ZoneLeak,
}

/// A `ProductVersion` as (major, minor, patch).
pub type Release = (u32, u32, u32);

/// One known problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownIssue {
    /// Stable id.
    pub id: &'static str,
    /// What it is about.
    pub kind: IssueKind,
    /// Builds affected (exact `ProductBuildVersion` strings).
    pub builds: &'static [&'static str],
    /// Releases affected, `[from, to)` as `ProductVersion` triples, in
    /// addition to `builds`.
    pub releases: Option<(Release, Release)>,
    /// One-line summary.
    pub summary: &'static str,
    /// What happens, for the report.
    pub detail: &'static str,
    /// First build that fixes it, with its marketing version.
    pub fixed_in: Option<&'static str>,
    /// Severity of the KB001 finding (both entries are warnings: the Mac
    /// still boots; ST003 / PN001 carry the error when it bites).
    pub severity: Severity,
    /// Public sources.
    pub sources: &'static [&'static str],
}

/// The table.
pub const KNOWN_ISSUES: &[KnownIssue] = &[
    KnownIssue {
        id: "catalina-shove-kernels",
        kind: IssueKind::DeferredInstall,
        builds: &["19A583", "19A602"],
        // kcditto's deferred copy works from 10.15.1 (19B88) on.
        releases: Some(((10, 15, 0), (10, 15, 1))),
        summary: "macOS 10.15.0 does not install updated kernel caches at shutdown when SIP is on",
        detail: "kextcache builds the new prelinked kernel in /Library/Apple/System/Library/PrelinkedKernels and \
                 schedules /private/var/install/shove_kernels to copy it to the read-only system volume at \
                 shutdown; with SIP on the copy silently fails, so kexts installed or updated since never reach \
                 the booted kernel cache",
        fixed_in: Some("10.15.1 (19B88)"),
        severity: Severity::Warning,
        sources: &[
            "https://obdev.at/ (How Kernel Prelinking Works on macOS Catalina (or not))",
            "https://mjtsai.com/blog/2019/10/21/",
            "https://github.com/acidanthera/bugtracker/issues/509",
            "apple-oss-distributions/kext_tools rosp_staging.m, kcditto_main.m",
        ],
    },
    KnownIssue {
        id: "catalina-10.15.6-zone-leak",
        kind: IssueKind::ZoneLeak,
        builds: &["19G73"],
        releases: None,
        summary: "macOS 10.15.6 (19G73) leaks kernel memory in kalloc zones until the zone map is exhausted",
        detail: "a kernel zone leak (kalloc.32/kalloc.48, millions of elements) exhausts the zone map after days \
                 of uptime, most quickly with virtual machines running; the Mac becomes unresponsive and panics \
                 with 'zone map exhausted'",
        fixed_in: Some("10.15.6 Supplemental Update (19G2021)"),
        severity: Severity::Warning,
        sources: &[
            "https://eclecticlight.co/2020/08/12/how-a-kernel-zone-memory-leak-can-panic-macos/",
            "https://eclecticlight.co/2020/08/14/the-life-cycle-of-a-kernel-panic/",
        ],
    },
];

/// The known issues affecting `build` (by build number only: for evidence
/// such as a panic report that names a build but no release).
pub fn for_build(build: &str) -> Vec<&'static KnownIssue> {
    KNOWN_ISSUES.iter().filter(|k| k.builds.contains(&build)).collect()
}

/// The known issues affecting a system: its build, or its release.
pub fn for_system(version: (u32, u32, u32), build: &str) -> Vec<&'static KnownIssue> {
    KNOWN_ISSUES
        .iter()
        .filter(|k| k.builds.contains(&build) || k.releases.is_some_and(|(from, to)| version >= from && version < to))
        .collect()
}

/// The zone-leak issue affecting `build`, if any (ties ZN001 and PN001 to it).
pub fn zone_leak(build: &str) -> Option<&'static KnownIssue> {
    for_build(build).into_iter().find(|k| k.kind == IssueKind::ZoneLeak)
}

/// Whether the deferred `shove_kernels` copy is known to fail with SIP on
/// for this system (10.15.0, any build).
pub fn shove_copy_fails(version: (u32, u32, u32), build: &str) -> bool {
    for_system(version, build).iter().any(|k| k.kind == IssueKind::DeferredInstall)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 10.15.0 shutdown-copy failure is a half-open release range:
    /// every 10.15.0 build, and not 10.15.1 (19B88), which fixed it.
    #[test]
    fn release_ranges_are_half_open() {
        assert!(shove_copy_fails((10, 15, 0), "19A583"));
        assert!(shove_copy_fails((10, 15, 0), "19A999z"));
        assert!(!shove_copy_fails((10, 15, 1), "19B88"));
        assert!(!shove_copy_fails((10, 14, 6), "18G103"));
    }
}
