//! Synthetic system roots for `verify`: for each era a healthy root, one
//! root per finding code that shows exactly that problem, one per rule of
//! design.md's "The rules verify follows" that changed what a finding
//! means (a kext left out on purpose, duplicates, version equality, staged
//! paths, plug-ins of plug-ins, absent databases), and the README's
//! 10.15.0 demo. Written under `testdata/roots/` by
//! `cargo run --example gen_fixtures`; each is an integration test
//! (`tests/it/verify.rs`) asserting its exact findings, verdict and
//! `not_checked`.
//!
//! The expectations ([`RootSpec::expect`], [`RootSpec::expect_verdict`],
//! [`RootSpec::expect_not_checked`]) are written by hand from design.md's
//! Findings table and rules, never computed from kcheck's own catalogue.
//!
//! What every root has, as on a real Mac of its era (unless its spec says
//! otherwise): Apple kexts with their `OSBundleRequired`
//! (IOACPIFamily `Root`; AppleHDA and its plug-in none), third-party kexts
//! in `/Library/Extensions` signed with a team id ([`TEAM_FOO`],
//! [`TEAM_BAR`]) and approved in the KextPolicy database (10.13+), a
//! codeless USB-map injector, and Apple's exclude-list kext
//! (`AppleKextExcludeList.kext`, in `/System/Library/Extensions` up to
//! 10.14 and `/Library/Apple/System/Library/Extensions` from 10.15; see
//! [`exclude_list_kext`]). The 10.15 caches record the
//! `/Library/StagedExtensions` copy of each `/Library/Extensions` kext as
//! its `_PrelinkBundlePath`, as kextcache does with SIP on. The bare
//! kernel has the real layout ([`synth::prelinked_kernel_without_kexts`]).
//!
//! The Apple-silicon roots (`as-*`, see [`AppleSilicon`]) have arm64e
//! kexts, `kernel.release.t8101` (and `kernel.release.t6000`) instead of
//! `kernel`, no `BootKernelExtensions.kc`, and the boot collection as an
//! IMG4 kernelcache in `System/Volumes/Preboot/<UUID>/boot/<96 hex>/`.

use std::io;
use std::path::Path;

use crate::synth::{self, Arch, Comp, ExeArchs, Im4pComp, SynthKernel, SynthKext, uuid_for};
use crate::xml::Value;

/// Which volume a file is written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vol {
    System,
    Data,
}

/// What a cache slot holds.
#[derive(Clone, Debug)]
pub enum CacheSpec {
    /// A cache linking `kexts` (with the root's kernel), identified by `kcid`.
    Kexts { kexts: Vec<SynthKext>, kcid: [u8; 16] },
    /// These exact bytes (e.g. a corrupt cache).
    Bytes(Vec<u8>),
}

/// Severity of an expected finding, as design.md's Findings table gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sev {
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
}

impl Sev {
    /// The JSON spelling (`info`, `warning`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Sev::Info => "info",
            Sev::Warning => "warning",
            Sev::Error => "error",
        }
    }
}

/// An expected verdict (design.md: `healthy` without warnings or errors,
/// `attention` with warnings, `broken` with an error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `healthy`.
    Healthy,
    /// `attention`.
    Attention,
    /// `broken`.
    Broken,
}

impl Verdict {
    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Attention => "attention",
            Verdict::Broken => "broken",
        }
    }
}

/// Rows of a KextPolicy database
/// (`/private/var/db/SystemPolicyConfiguration/KextPolicy` on the data
/// volume), written with [`crate::policy::write_kextpolicy`].
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `kext_policy` rows: (team id, bundle id, allowed).
    pub user: Vec<(String, String, bool)>,
    /// `kext_policy_mdm` rows: (team id, bundle id — `None` allows the
    /// whole team —, allowed).
    pub mdm: Vec<(String, Option<String>, bool)>,
}

/// What `/System/Library/Kernels/kernel` holds.
#[derive(Clone, Debug)]
pub enum KernelFile {
    /// The bare kernel the caches were linked against.
    Linked,
    /// Another bare kernel.
    Other(SynthKernel),
    /// These exact bytes (e.g. garbage).
    Bytes(Vec<u8>),
}

/// One fake system root.
#[derive(Clone, Debug)]
pub struct RootSpec {
    /// Directory name under `testdata/roots`.
    pub name: &'static str,
    /// The findings `verify` must report (with `--sip unknown`), one
    /// `(code, severity)` pair per finding, in any order.
    pub expect: &'static [(&'static str, Sev)],
    /// The verdict `verify` must give.
    pub expect_verdict: Verdict,
    /// The `check` fields of the report's `not_checked` entries, in any
    /// order (a range such as `KX001-KX004` stands for each code in it).
    pub expect_not_checked: &'static [&'static str],
    /// `ProductVersion`.
    pub product_version: &'static str,
    /// `ProductBuildVersion`.
    pub build: &'static str,
    /// Write the data volume beside the system volume, as Recovery mounts
    /// them (`<name>/Macintosh HD` and `<name>/Macintosh HD - Data`).
    pub split: bool,
    /// The kernel linked into the caches.
    pub kernel: SynthKernel,
    /// `/System/Library/Kernels/kernel`.
    pub kernel_file: KernelFile,
    /// Kexts installed on disk (their bundle paths choose the volume).
    pub disk: Vec<SynthKext>,
    /// The boot cache (prelinkedkernel or boot kernel collection).
    pub boot: Option<CacheSpec>,
    /// The staged prelinkedkernel (10.15) or auxiliary collection (11+).
    pub staged: Option<CacheSpec>,
    /// `_BootKCID` written into the auxiliary collection (11+): default
    /// the boot collection's KCID.
    pub aux_boot_kcid: Option<[u8; 16]>,
    /// The system kernel collection (11+ Intel,
    /// `/System/Library/KernelCollections/SystemKernelExtensions.kc`;
    /// `None`: not there).
    pub system_kc: Option<CacheSpec>,
    /// `_PageableKCID` written into the auxiliary collection (11+ Intel):
    /// default the system collection's KCID when there is one, else none.
    pub aux_pageable_kcid: Option<[u8; 16]>,
    /// An Apple-silicon root (`None`: Intel): the boot collection goes into
    /// the Preboot volume, the kernel is `kernel.release.<soc>`.
    pub apple_silicon: Option<AppleSilicon>,
    /// Write `/private/var/install/shove_kernels`.
    pub shove: bool,
    /// The KextPolicy database (`None`: not there).
    pub policy: Option<Policy>,
    /// Extra files: (on the data volume?, path, bytes).
    pub extra: Vec<(bool, &'static str, Vec<u8>)>,
}

/// What makes a root an Apple-silicon one (design.md, "Apple silicon
/// (11+)"): `/System/Library/Kernels/kernel.release.<soc>` files (the one
/// of [`AppleSilicon::soc`] is the root's kernel, bare and arm64e; a
/// `kernel.release.t6000` for another SoC sits beside it, as on a
/// universal system volume), no `BootKernelExtensions.kc`, and the boot
/// collection ([`RootSpec::boot`], linked for arm64e) as an IMG4 kernelcache
/// in the Preboot volume at `<root>/System/Volumes/Preboot`.
#[derive(Clone, Debug)]
pub struct AppleSilicon {
    /// The SoC of the root's kernel, lower case (`t8101`); the kernel's
    /// version string ends in `RELEASE_ARM64_<SOC>`.
    pub soc: &'static str,
    /// How the IM4P payload of the kernelcache is stored.
    pub payload: Im4pComp,
    /// The volume groups of the Preboot volume (`None`: no
    /// `System/Volumes/Preboot` folder at all).
    pub preboot: Option<Vec<VolumeGroup>>,
}

/// One `<Preboot>/<UUID>` volume-group folder.
#[derive(Clone, Debug)]
pub struct VolumeGroup {
    /// The folder name, the volume group's UUID.
    pub uuid: &'static str,
    /// (`ProductVersion`, `ProductBuildVersion`) of the group's
    /// `System/Library/CoreServices/SystemVersion.plist`.
    pub system_version: (&'static str, &'static str),
    /// The `boot/<96 hex>` folders and what their kernelcache is. Every
    /// boot folder also holds a stand-in `usr/standalone/firmware/iBoot.img4`
    /// (so it is never an empty folder, which git would drop).
    pub boot_folders: Vec<(String, Kernelcache)>,
    /// The folder name `boot/active` holds (`None`: no such file).
    pub active: Option<String>,
}

/// The kernelcache of a Preboot boot folder.
#[derive(Clone, Debug)]
pub enum Kernelcache {
    /// The root's boot collection ([`RootSpec::boot`]).
    Boot,
    /// An IMG4 whose IM4P payload is a boot collection cut short (a
    /// damaged file kcheck must not read as the boot collection).
    Corrupt,
    /// No `kernelcache` file (the boot folder holds only the stand-in
    /// firmware).
    Missing,
}

/// A boot-folder name: 96 hex digits (a SHA-384), derived from `tag`.
pub fn boot_hash(tag: &str) -> String {
    (0..3).map(|i| kcheck::macho::format_uuid(&uuid_for(&format!("{tag}/{i}"))).replace('-', "")).collect()
}

/// The volume group of the Apple-silicon roots' system.
pub const AS_GROUP: &str = "5B2A9C4E-1F3D-4A6B-8C7E-9D0F1A2B3C4D";
/// Another volume group in the same Preboot volume (another macOS
/// installed in the same container); sorts before [`AS_GROUP`].
pub const AS_OTHER_GROUP: &str = "0E7F6D5C-4B3A-4291-8807-F6E5D4C3B2A1";

/// Team id of the example vendor of FooNet (and most test kexts).
pub const TEAM_FOO: &str = "ABCDE12345";
/// Team id of the example vendor of BarStorage.
pub const TEAM_BAR: &str = "FGHIJ67890";
/// Team id of a vendor the user never approved.
pub const TEAM_UNAPPROVED: &str = "KLMNO24680";

/// A small kext for the fixture roots (one library, 0x180 bytes of code,
/// no `OSBundleRequired`, unsigned).
fn small(id: &str, version: &str, path: &str) -> SynthKext {
    let mut k = synth::kext(id, version, path, 0x180);
    k.libraries.truncate(1);
    k.not_required()
}

/// A third-party kext in `/Library/Extensions` signed by [`TEAM_FOO`].
fn vendor(id: &str, version: &str, name: &str) -> SynthKext {
    small(id, version, &format!("/Library/Extensions/{name}.kext")).signed(TEAM_FOO)
}

/// The kexts every fake root has installed (besides the exclude list):
/// Apple kexts (one with a plug-in), two signed third-party kexts and a
/// codeless one.
pub fn base_kexts() -> Vec<SynthKext> {
    vec![
        small("com.apple.iokit.IOACPIFamily", "1.4", "/System/Library/Extensions/IOACPIFamily.kext").required("Root"),
        small("com.apple.driver.AppleHDA", "283.15", "/System/Library/Extensions/AppleHDA.kext"),
        small(
            "com.apple.driver.AppleHDAController",
            "283.15",
            "/System/Library/Extensions/AppleHDA.kext/Contents/PlugIns/AppleHDAController.kext",
        ),
        small("com.example.driver.FooNet", "1.2.3", "/Library/Extensions/FooNet.kext")
            .required("Root")
            .signed(TEAM_FOO),
        small("com.example.driver.BarStorage", "4.0.1", "/Library/Extensions/BarStorage.kext")
            .required("Local-Root")
            .signed(TEAM_BAR),
        small("com.example.injector.BazUSBMap", "1.0", "/Library/Extensions/BazUSBMap.kext")
            .codeless()
            .required("Root"),
    ]
}

/// Entries of the exclude list of every root but `kx008-exclude-list`:
/// none matches an installed kext.
pub const EXCLUDE_RULES: &[(&str, &str)] = &[
    ("com.example.legacy.OldFirewall", "LT 3.0"),
    ("com.example.legacy.VPNShim", "LE 1.5.0, 2.0.0 thru 3.1.4, 4.2.2"),
];

/// Apple's exclude-list kext (`com.apple.driver.KextExcludeList`,
/// codeless) for a release: in `/System/Library/Extensions` up to 10.14,
/// in `/Library/Apple/System/Library/Extensions` from 10.15; its Info.plist
/// key `OSKextExcludeList` maps each bundle id to a version rule string.
pub fn exclude_list_kext(product_version: &str, rules: &[(&str, &str)]) -> SynthKext {
    let (dir, version) = match product_version {
        v if v.starts_with("10.") && !v.starts_with("10.15") => ("/System/Library/Extensions", "14.0.0"),
        v if v.starts_with("10.15") => ("/Library/Apple/System/Library/Extensions", "15.0.0"),
        _ => ("/Library/Apple/System/Library/Extensions", "16.0.0"),
    };
    let list = rules.iter().map(|(id, rule)| (id.to_string(), Value::String(rule.to_string()))).collect();
    SynthKext {
        bundle_id: kcheck::system::bundle::EXCLUDE_LIST_KEXT.into(),
        version: version.into(),
        bundle_path: format!("{dir}/AppleKextExcludeList.kext"),
        extra_info: vec![("OSKextExcludeList".into(), Value::Dict(list))],
        ..SynthKext::default()
    }
}

/// A KextPolicy approving every signed third-party kext of `disk` (the
/// user clicked Allow for each).
pub fn approving(disk: &[SynthKext]) -> Policy {
    let mut user: Vec<(String, String, bool)> = Vec::new();
    for k in disk.iter().filter(|k| !k.bundle_path.starts_with("/System/") && !k.bundle_id.starts_with("com.apple.")) {
        if let Some(team) = &k.team_id
            && !user.iter().any(|(t, b, _)| t == team && *b == k.bundle_id)
        {
            user.push((team.clone(), k.bundle_id.clone(), true));
        }
    }
    Policy { user, mdm: Vec::new() }
}

fn with_version(mut kexts: Vec<SynthKext>, id: &str, version: &str) -> Vec<SynthKext> {
    for k in &mut kexts {
        if k.bundle_id == id {
            k.version = version.into();
            k.uuid = uuid_for(&format!("{id}-{version}"));
        }
    }
    kexts
}

fn without(kexts: Vec<SynthKext>, id: &str) -> Vec<SynthKext> {
    kexts.into_iter().filter(|k| k.bundle_id != id).collect()
}

fn plus(mut kexts: Vec<SynthKext>, more: impl IntoIterator<Item = SynthKext>) -> Vec<SynthKext> {
    kexts.extend(more);
    kexts
}

fn system_only(kexts: &[SynthKext]) -> Vec<SynthKext> {
    kexts.iter().filter(|k| k.bundle_path.starts_with("/System/")).cloned().collect()
}

fn library_only(kexts: &[SynthKext]) -> Vec<SynthKext> {
    kexts.iter().filter(|k| k.bundle_path.starts_with("/Library/")).cloned().collect()
}

fn kernel(version: &str, tag: &str) -> SynthKernel {
    let darwin = version.trim_start_matches("Darwin Kernel Version ").split(':').next().unwrap_or("").to_string();
    SynthKernel { version: version.into(), uuid: uuid_for(tag), darwin, text_size: 0x200 }
}

/// 10.14.6 (18G103).
pub fn mojave_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 18.7.0: Tue Aug 20 16:57:14 PDT 2019; root:xnu-4903.271.2~2/RELEASE_X86_64",
        "kernel-18G103",
    )
}

/// 10.15.7 (19H15).
pub fn catalina_late_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 19.6.0: Thu Oct 29 22:56:45 PDT 2020; root:xnu-6153.141.2.2~1/RELEASE_X86_64",
        "kernel-19H15",
    )
}

/// 10.15.6 (19G73), the zone-leak build.
pub fn catalina_leak_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 19.6.0: Sun Jul  5 00:43:10 PDT 2020; root:xnu-6153.141.1~9/RELEASE_X86_64",
        "kernel-19G73",
    )
}

/// 11.7.10 (20G1427).
pub fn big_sur_late_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 20.6.0: Thu Jul  6 22:12:47 PDT 2023; root:xnu-7195.141.49.702.12~1/RELEASE_X86_64",
        "kernel-20G1427",
    )
}

/// 26.1 (25B78), Intel. (The fixtures' version strings have the real
/// shape; dates and xnu tags are stand-ins.)
pub fn tahoe_intel_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 25.1.0: Mon Oct 20 19:32:41 PDT 2025; root:xnu-12377.41.6~2/RELEASE_X86_64",
        "kernel-25B78",
    )
}

/// 26.1 (25B78), Apple silicon, the M1's SoC (T8101).
pub fn tahoe_arm_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 25.1.0: Mon Oct 20 19:34:05 PDT 2025; root:xnu-12377.41.6~2/RELEASE_ARM64_T8101",
        "kernel-25B78-t8101",
    )
}

/// 15.6 (24G84), Apple silicon, T8101.
pub fn sequoia_arm_kernel() -> SynthKernel {
    kernel(
        "Darwin Kernel Version 24.6.0: Mon Jul 14 11:28:17 PDT 2025; root:xnu-11417.140.69~1/RELEASE_ARM64_T8101",
        "kernel-24G84-t8101",
    )
}

fn plk_spec(kexts: Vec<SynthKext>, tag: &str) -> Option<CacheSpec> {
    Some(CacheSpec::Kexts { kexts, kcid: uuid_for(tag) })
}

fn corrupt(kernel: &SynthKernel) -> Vec<u8> {
    let plk = synth::prelinked_kernel(kernel, &base_kexts(), Arch::X86_64, [1; 16]);
    let mut c = synth::comp(Comp::Lzvn, &plk);
    c[8] ^= 0x5a; // adler32 no longer matches
    synth::fat(&[(Arch::X86_64, &c)], true)
}

/// The installed kexts of a root of `product_version`: [`base_kexts`] and
/// the exclude list with [`EXCLUDE_RULES`].
fn disk_of(product_version: &str) -> Vec<SynthKext> {
    plus(base_kexts(), [exclude_list_kext(product_version, EXCLUDE_RULES)])
}

/// A healthy 10.14.6 root: every installed kext in the boot cache.
fn mojave(name: &'static str) -> RootSpec {
    let disk = disk_of("10.14.6");
    RootSpec {
        name,
        expect: &[],
        expect_verdict: Verdict::Healthy,
        expect_not_checked: &[],
        product_version: "10.14.6",
        build: "18G103",
        split: false,
        kernel: mojave_kernel(),
        kernel_file: KernelFile::Linked,
        boot: plk_spec(disk.clone(), "boot"),
        staged: None,
        aux_boot_kcid: None,
        system_kc: None,
        aux_pageable_kcid: None,
        apple_silicon: None,
        shove: false,
        policy: Some(approving(&disk)),
        extra: vec![],
        disk,
    }
}

/// A healthy 10.15.7 root: boot and staged caches byte-identical, no
/// deferred install.
fn catalina(name: &'static str) -> RootSpec {
    let disk = disk_of("10.15.7");
    RootSpec {
        name,
        expect: &[],
        expect_verdict: Verdict::Healthy,
        expect_not_checked: &[],
        product_version: "10.15.7",
        build: "19H15",
        split: false,
        kernel: catalina_late_kernel(),
        kernel_file: KernelFile::Linked,
        boot: plk_spec(disk.clone(), "boot"),
        staged: plk_spec(disk.clone(), "boot"),
        aux_boot_kcid: None,
        system_kc: None,
        aux_pageable_kcid: None,
        apple_silicon: None,
        shove: false,
        policy: Some(approving(&disk)),
        extra: vec![],
        disk,
    }
}

/// A 10.15.0 (19A583) root with the 10.15.0 kernel, otherwise [`catalina`].
fn catalina_zero(name: &'static str) -> RootSpec {
    RootSpec {
        product_version: "10.15",
        build: "19A583",
        kernel: SynthKernel { text_size: 0x200, ..synth::catalina_kernel() },
        ..catalina(name)
    }
}

/// An 11.7.10 (Intel) root: Apple kexts in the boot collection, the
/// third-party kexts in the auxiliary collection. Without the exclude-list
/// kext (so `KX008 (exclude-list)` is not checked), except `healthy-11`:
/// see RULE-DISAGREEMENTS.md (kcheck compares `/Library/Apple/System/
/// Library/Extensions` with the boot and system collections, design.md
/// with the auxiliary one).
fn big_sur(name: &'static str) -> RootSpec {
    let disk = base_kexts();
    RootSpec {
        name,
        expect: &[],
        expect_verdict: Verdict::Healthy,
        expect_not_checked: &["KX008 (exclude-list)"],
        product_version: "11.7.10",
        build: "20G1427",
        split: false,
        kernel: big_sur_late_kernel(),
        kernel_file: KernelFile::Linked,
        boot: plk_spec(system_only(&disk), "boot-kc"),
        staged: plk_spec(library_only(&disk), "aux-kc"),
        aux_boot_kcid: None,
        system_kc: None,
        aux_pageable_kcid: None,
        apple_silicon: None,
        shove: false,
        policy: Some(approving(&disk)),
        extra: vec![],
        disk,
    }
}

/// [`big_sur`] with the exclude-list kext installed (and in the auxiliary
/// collection with the other `/Library` kexts): the shape of `healthy-11`,
/// where every check runs.
fn big_sur_checked(name: &'static str) -> RootSpec {
    let disk = plus(base_kexts(), [exclude_list_kext("11.7.10", EXCLUDE_RULES)]);
    RootSpec { expect_not_checked: &[], staged: plk_spec(library_only(&disk), "aux-kc"), disk, ..big_sur(name) }
}

/// The `/System` kexts of `disk` split as Intel 11+ splits them: the boot
/// collection gets the kexts required at `Root`, the system collection
/// the rest.
fn boot_and_system(disk: &[SynthKext]) -> (Vec<SynthKext>, Vec<SynthKext>) {
    system_only(disk).into_iter().partition(|k| k.required.as_deref() == Some("Root"))
}

/// The kexts of the Apple-silicon roots, every executable arm64e: two
/// Apple kexts (in the boot collection) and a signed third-party kext in
/// `/Library/Extensions` (which belongs to the auxiliary collection).
pub fn apple_silicon_kexts() -> Vec<SynthKext> {
    let arm = ExeArchs::Arm64e;
    vec![
        small("com.apple.driver.AppleARMPlatform", "1.0.2", "/System/Library/Extensions/AppleARMPlatform.kext")
            .required("Root")
            .archs(arm),
        small("com.apple.iokit.IOSurface", "372.5.2", "/System/Library/Extensions/IOSurface.kext").archs(arm),
        vendor("com.example.driver.FooNet", "1.2.3", "FooNet").archs(arm),
    ]
}

/// A healthy Apple-silicon root of `product_version` (`build`, `kernel`):
/// [`apple_silicon_kexts`] and the exclude-list kext installed, approved
/// in KextPolicy, the boot collection (raw IM4P payload) in the only boot
/// folder of the only volume group of Preboot (no `boot/active` file).
/// The auxiliary collection's file is not documented on Apple silicon, so
/// its checks are not run (design.md).
fn apple_silicon_on(
    name: &'static str,
    product_version: &'static str,
    build: &'static str,
    kernel: SynthKernel,
) -> RootSpec {
    let disk = plus(apple_silicon_kexts(), [exclude_list_kext(product_version, EXCLUDE_RULES)]);
    let hash = boot_hash(&format!("{AS_GROUP}-{build}"));
    RootSpec {
        name,
        expect: &[],
        expect_verdict: Verdict::Healthy,
        expect_not_checked: &["AX001, AX002, AX003"],
        product_version,
        build,
        split: false,
        kernel,
        kernel_file: KernelFile::Linked,
        boot: plk_spec(system_only(&disk), "as-boot-kc"),
        staged: None,
        aux_boot_kcid: None,
        system_kc: None,
        aux_pageable_kcid: None,
        apple_silicon: Some(AppleSilicon {
            soc: "t8101",
            payload: Im4pComp::Raw,
            preboot: Some(vec![VolumeGroup {
                uuid: AS_GROUP,
                system_version: (product_version, build),
                boot_folders: vec![(hash, Kernelcache::Boot)],
                active: None,
            }]),
        }),
        shove: false,
        policy: Some(approving(&disk)),
        extra: vec![],
        disk,
    }
}

/// [`apple_silicon_on`] macOS 26.1 (25B78).
fn apple_silicon(name: &'static str) -> RootSpec {
    apple_silicon_on(name, "26.1", "25B78", tahoe_arm_kernel())
}

/// [`apple_silicon`] with these Preboot volume groups, the boot collection's
/// IM4P payload stored as `payload`.
fn apple_silicon_preboot(name: &'static str, payload: Im4pComp, groups: Vec<VolumeGroup>) -> RootSpec {
    RootSpec {
        apple_silicon: Some(AppleSilicon { soc: "t8101", payload, preboot: Some(groups) }),
        ..apple_silicon(name)
    }
}

/// Every fixture root.
pub fn roots() -> Vec<RootSpec> {
    use Sev::{Error as E, Info as I, Warning as W};
    use Verdict::{Attention, Broken};
    const FOO: &str = "com.example.driver.FooNet";
    let bad_plist = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleIdentifier</key>".to_vec();
    let cat = disk_of("10.15.7");
    let moj = disk_of("10.14.6");
    let zap = small("com.example.driver.ZapFilter", "3.1", "/Library/Extensions/ZapFilter.kext")
        .required("Root")
        .signed(TEAM_UNAPPROVED);
    let qux_audio = vendor("com.example.driver.QuxAudio", "2.0", "QuxAudio");
    let staged_qux = (
        true,
        "/Library/StagedExtensions/Library/Extensions/QuxAudio.kext/Contents/Info.plist",
        info_plist(&qux_audio),
    );
    vec![
        // ---- healthy, one per era
        mojave("healthy-10.14"),
        catalina("healthy-10.15"),
        big_sur_checked("healthy-11"),
        // ---- the README demo: 10.15.0, FooNet updated, the shutdown copy fails
        {
            let disk = with_version(cat.clone(), FOO, "1.3.0");
            RootSpec {
                expect: &[("KB001", W), ("KX002", W), ("ST002", I), ("ST003", E)],
                expect_verdict: Broken,
                split: true,
                staged: plk_spec(disk.clone(), "staged"),
                disk,
                shove: true,
                ..catalina_zero("demo-10.15.0-pending-shove")
            }
        },
        // ---- KC: the caches themselves
        RootSpec {
            expect: &[("KC001", E)],
            expect_verdict: Broken,
            expect_not_checked: &["KN001", "KX001-KX004, KX006-KX009, AX001, AX002"],
            boot: None,
            ..mojave("kc001-missing-boot-cache")
        },
        RootSpec {
            expect: &[("KC001", E)],
            expect_verdict: Broken,
            expect_not_checked: &["KN001", "KX001-KX004, KX006-KX009, AX001, AX002"],
            boot: Some(CacheSpec::Bytes(corrupt(&mojave_kernel()))),
            ..mojave("kc001-corrupt-boot-cache")
        },
        RootSpec {
            expect: &[("KC002", E)],
            expect_verdict: Broken,
            expect_not_checked: &["ST001, ST003-ST005"],
            staged: Some(CacheSpec::Bytes(corrupt(&catalina_late_kernel()))),
            ..catalina("kc002-corrupt-staged-cache")
        },
        RootSpec {
            expect: &[("KC002", E)],
            expect_verdict: Broken,
            expect_not_checked: &["AX001, AX002", "AX003", "KX004", "KX008 (exclude-list)"],
            staged: Some(CacheSpec::Bytes(b"this is not a kernel collection".to_vec())),
            ..big_sur("kc002-corrupt-aux-collection")
        },
        // ---- ST: the 10.15 staged cache and the deferred install
        RootSpec {
            expect: &[("ST001", I), ("ST002", I)],
            staged: plk_spec(cat.clone(), "relinked"),
            shove: true,
            ..catalina("st001-install-pending")
        },
        {
            let disk = with_version(cat.clone(), FOO, "1.3.0");
            RootSpec {
                expect: &[("ST001", I), ("ST002", I)],
                staged: plk_spec(disk.clone(), "staged"),
                disk,
                shove: true,
                ..catalina("st001-pending-on-10.15.7")
            }
        },
        RootSpec { expect: &[("ST002", I)], staged: None, shove: true, ..catalina("st002-shove-without-staged-cache") },
        RootSpec {
            expect: &[("KB001", W), ("ST002", I), ("ST003", E)],
            expect_verdict: Broken,
            staged: plk_spec(cat.clone(), "relinked"),
            shove: true,
            ..catalina_zero("st003-copy-fails-with-sip")
        },
        RootSpec {
            expect: &[("KB001", W), ("ST002", I), ("ST003", E)],
            expect_verdict: Broken,
            build: "19A536g",
            staged: plk_spec(cat.clone(), "relinked"),
            shove: true,
            ..catalina_zero("st003-10.15.0-seed-build")
        },
        RootSpec { expect: &[("ST002", I), ("ST004", I)], shove: true, ..catalina("st004-shove-left-behind") },
        RootSpec {
            expect: &[("ST005", W)],
            expect_verdict: Attention,
            staged: plk_spec(cat.clone(), "relinked"),
            ..catalina("st005-staged-never-copied")
        },
        // ---- KX: the installed kexts against the caches
        {
            let disk = plus(
                moj.clone(),
                [vendor("com.example.driver.QuxStorage", "2.0", "QuxStorage").required("Local-Root")],
            );
            RootSpec {
                expect: &[("KX001", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                ..mojave("kx001-kext-not-in-cache")
            }
        },
        RootSpec {
            expect: &[("KX002", W)],
            expect_verdict: Attention,
            disk: with_version(moj.clone(), FOO, "1.3.0"),
            ..mojave("kx002-version-differs")
        },
        {
            // Disk 1.0 and 2.01, cache 1.00 and 2.1: equal as
            // OSKextParseVersionString values (same executables).
            let gizmo = vendor("com.example.driver.Gizmo", "1.0", "Gizmo").required("Root");
            let gadget = vendor("com.example.driver.Gadget", "2.01", "Gadget").required("Root");
            let mut gizmo_cached = gizmo.clone();
            gizmo_cached.version = "1.00".into();
            let mut gadget_cached = gadget.clone();
            gadget_cached.version = "2.1".into();
            let disk = plus(moj.clone(), [gizmo, gadget]);
            RootSpec {
                boot: plk_spec(plus(moj.clone(), [gizmo_cached, gadget_cached]), "boot"),
                policy: Some(approving(&disk)),
                disk,
                ..mojave("kx002-versions-equal-as-apple-compares")
            }
        },
        RootSpec {
            expect: &[("KX003", W)],
            expect_verdict: Attention,
            disk: moj
                .iter()
                .cloned()
                .map(|mut k| {
                    if k.bundle_id == "com.example.driver.BarStorage" {
                        k.uuid = uuid_for("BarStorage-rebuilt");
                    }
                    k
                })
                .collect(),
            ..mojave("kx003-rebuilt-executable")
        },
        RootSpec {
            expect: &[("KX004", W)],
            expect_verdict: Attention,
            boot: plk_spec(plus(moj.clone(), [vendor("as.vit9696.Lilu", "1.4.0", "Lilu").required("Root")]), "boot"),
            ..mojave("kx004-cached-kext-removed")
        },
        {
            // 10.15 with SIP on: the caches record the staged copy's path,
            // /Library/StagedExtensions/Library/Extensions/Gone.kext.
            let cached = plus(cat.clone(), [vendor("com.example.driver.Gone", "1.1", "Gone").required("Root")]);
            RootSpec {
                expect: &[("KX004", W)],
                expect_verdict: Attention,
                boot: plk_spec(cached.clone(), "boot"),
                staged: plk_spec(cached, "boot"),
                ..catalina("kx004-staged-kext-removed")
            }
        },
        RootSpec {
            expect: &[("KX005", W), ("KX005", W)],
            expect_verdict: Attention,
            disk: without(moj.clone(), "com.example.driver.BarStorage"),
            extra: vec![
                (true, "/Library/Extensions/Broken.kext/Contents/Info.plist", bad_plist),
                (true, "/Library/Extensions/BarStorage.kext/Contents/Info.plist", {
                    let k = moj.iter().find(|k| k.bundle_id == "com.example.driver.BarStorage").cloned();
                    k.map(|k| info_plist(&k)).unwrap_or_default()
                }),
            ],
            ..mojave("kx005-unreadable-bundles")
        },
        {
            // No OSBundleRequired: left out of the cache on purpose.
            let disk = plus(moj.clone(), [qux_audio.clone()]);
            RootSpec {
                expect: &[("KX006", I)],
                policy: Some(approving(&disk)),
                disk,
                ..mojave("kx006-loaded-on-demand")
            }
        },
        RootSpec {
            expect: &[("KX007", W)],
            expect_verdict: Attention,
            disk: plus(cat.clone(), [zap.clone()]),
            ..catalina("kx007-not-approved")
        },
        {
            // Allowed by an MDM AllowedTeamIdentifiers row only.
            let mut policy = approving(&cat);
            policy.mdm.push((TEAM_UNAPPROVED.into(), None, true));
            RootSpec {
                expect: &[("KX001", W)],
                expect_verdict: Attention,
                disk: plus(cat.clone(), [zap.clone()]),
                policy: Some(policy),
                ..catalina("kx007-mdm-team-allowed")
            }
        },
        {
            // Intel: arm64e-only and plain-arm64-only executables never go
            // into the cache; a FAT x86_64 + arm64e one does (and is there).
            let universal = vendor("com.example.driver.Universal", "1.0", "Universal")
                .required("Root")
                .archs(ExeArchs::FatX86_64Arm64e);
            let disk = plus(
                cat.clone(),
                [
                    vendor("com.example.driver.ArmOnly", "1.0", "ArmOnly").required("Root").archs(ExeArchs::Arm64e),
                    vendor("com.example.driver.Arm64Plain", "1.0", "Arm64Plain")
                        .required("Root")
                        .archs(ExeArchs::Arm64),
                    universal.clone(),
                ],
            );
            let cached = plus(cat.clone(), [universal]);
            RootSpec {
                expect: &[("KX008", W), ("KX008", W)],
                expect_verdict: Attention,
                boot: plk_spec(cached.clone(), "boot"),
                staged: plk_spec(cached, "boot"),
                policy: Some(approving(&disk)),
                disk,
                ..catalina("kx008-arch")
            }
        },
        {
            // "LE 1.2.3" matches 1.2.0; "1.0, 2.0.0 thru 3.1.4" matches 2.5
            // through its range; "LT 1.2.3" does not match 1.2.3 (which has
            // no OSBundleRequired: KX006).
            let rules: &[(&str, &str)] = &[
                ("com.example.driver.OldFirewall", "LE 1.2.3"),
                ("com.example.driver.VPNShim", "1.0, 2.0.0 thru 3.1.4"),
                ("com.example.driver.EdgeCase", "LT 1.2.3"),
            ];
            let disk = plus(
                base_kexts(),
                [
                    exclude_list_kext("10.15.7", rules),
                    vendor("com.example.driver.OldFirewall", "1.2.0", "OldFirewall").required("Root"),
                    vendor("com.example.driver.VPNShim", "2.5", "VPNShim").required("Root"),
                    vendor("com.example.driver.EdgeCase", "1.2.3", "EdgeCase"),
                ],
            );
            let cached = plus(base_kexts(), [exclude_list_kext("10.15.7", rules)]);
            RootSpec {
                expect: &[("KX006", I), ("KX008", W), ("KX008", W)],
                expect_verdict: Attention,
                boot: plk_spec(cached.clone(), "boot"),
                staged: plk_spec(cached, "boot"),
                policy: Some(approving(&disk)),
                disk,
                ..catalina("kx008-exclude-list")
            }
        },
        {
            let mut bad_version = vendor("com.example.driver.BadVersion", "1.2.3", "BadVersion").required("Root");
            bad_version.raw_version = Some(Some("1.2.3.4".into()));
            let mut no_type = vendor("com.example.driver.NoPackageType", "1.0", "NoPackageType").required("Root");
            no_type.package_type = Some(None);
            let disk = plus(cat.clone(), [bad_version, no_type]);
            RootSpec {
                expect: &[("KX008", W), ("KX008", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                ..catalina("kx008-invalid")
            }
        },
        {
            let mut needs = vendor("com.example.driver.NeedsMissing", "1.0", "NeedsMissing").required("Root");
            needs.libraries.push(("com.example.missing".into(), "1.0".into()));
            let disk = plus(cat.clone(), [needs]);
            RootSpec {
                expect: &[("KX008", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                ..catalina("kx008-dependency")
            }
        },
        {
            // Three ids installed twice (10.14 folder order: /S/L/E, then
            // /L/E). FooNet: 1.0 in /S/L/E, 1.3.0 in /L/E (cached). Widget:
            // 1.9 in /S/L/E, 1.10 in /L/E (cached; 1.10 > 1.9 as numbers).
            // Tie: 2.0 in both, different builds; the /S/L/E one wins and
            // is cached.
            let sle = |k: SynthKext, name: &str| k.at(&format!("/System/Library/Extensions/{name}.kext"));
            let foo_new = vendor(FOO, "1.3.0", "FooNet").required("Root");
            let widget_new = vendor("com.example.driver.Widget", "1.10", "Widget").required("Root");
            let tie_first = sle(vendor("com.example.driver.Tie", "2.0", "Tie").required("Root"), "Tie");
            let mut tie_second = vendor("com.example.driver.Tie", "2.0", "Tie").required("Root");
            tie_second.uuid = uuid_for("Tie-2.0-second-build");
            let winners = [foo_new.clone(), widget_new.clone(), tie_first.clone()];
            let disk = plus(
                without(moj.clone(), FOO),
                [
                    foo_new,
                    sle(vendor(FOO, "1.0", "FooNet").required("Root"), "FooNet"),
                    widget_new,
                    sle(vendor("com.example.driver.Widget", "1.9", "Widget").required("Root"), "Widget"),
                    tie_first,
                    tie_second,
                ],
            );
            RootSpec {
                expect: &[("KX009", I), ("KX009", I), ("KX009", I)],
                boot: plk_spec(plus(without(moj.clone(), FOO), winners), "boot"),
                policy: Some(approving(&disk)),
                disk,
                ..mojave("kx009-duplicate-install")
            }
        },
        {
            // A plug-in of a plug-in, required at Root and in no cache:
            // Apple never loads it, so it is no finding.
            let helper = small(
                "com.example.driver.BarStorageHelper",
                "4.0.1",
                "/Library/Extensions/BarStorage.kext/Contents/PlugIns/BarStorageHelper.kext",
            )
            .required("Root")
            .signed(TEAM_BAR);
            let deep = small(
                "com.example.driver.BarStorageDeep",
                "4.0.1",
                "/Library/Extensions/BarStorage.kext/Contents/PlugIns/BarStorageHelper.kext/Contents/PlugIns/BarStorageDeep.kext",
            )
            .required("Root")
            .signed(TEAM_BAR);
            let disk = plus(moj.clone(), [helper.clone(), deep]);
            RootSpec {
                boot: plk_spec(plus(moj.clone(), [helper]), "boot"),
                policy: Some(approving(&disk)),
                disk,
                ..mojave("nested-plugin-of-plugin")
            }
        },
        // ---- KN: the kernel file
        RootSpec {
            expect: &[("KN001", E)],
            expect_verdict: Broken,
            kernel_file: KernelFile::Other(kernel(
                "Darwin Kernel Version 18.7.0: Thu Jan 23 06:52:12 PST 2020; root:xnu-4903.278.25~1/RELEASE_X86_64",
                "kernel-18G3020",
            )),
            ..mojave("kn001-kernel-differs")
        },
        RootSpec {
            expect: &[("KN003", W)],
            expect_verdict: Attention,
            expect_not_checked: &["KN001"],
            kernel_file: KernelFile::Bytes(b"\x00\x01 this is not a kernel \xff\xfe\n".repeat(64)),
            ..mojave("kn003-kernel-unreadable")
        },
        // ---- KB: known builds
        RootSpec {
            expect: &[("KB001", W)],
            expect_verdict: Attention,
            product_version: "10.15.6",
            build: "19G73",
            kernel: catalina_leak_kernel(),
            ..catalina("kb001-zone-leak-build")
        },
        // ---- databases and lists kcheck could not read
        {
            let disk = base_kexts();
            RootSpec {
                expect_not_checked: &["KX007", "KX008 (exclude-list)"],
                boot: plk_spec(disk.clone(), "boot"),
                staged: plk_spec(disk.clone(), "boot"),
                disk,
                policy: None,
                ..catalina("not-checked-no-policy")
            }
        },
        // ---- AX: the 11+ auxiliary collection
        {
            let disk = plus(base_kexts(), [qux_audio.clone()]);
            RootSpec {
                expect: &[("KX007", W)],
                expect_verdict: Attention,
                disk,
                extra: vec![staged_qux.clone()],
                ..big_sur("ax001-kext-awaiting-approval")
            }
        },
        {
            let disk = plus(base_kexts(), [qux_audio.clone()]);
            RootSpec {
                expect: &[("AX001", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                extra: vec![staged_qux.clone()],
                ..big_sur("ax001-approved-awaiting-restart")
            }
        },
        RootSpec {
            expect: &[("AX002", W)],
            expect_verdict: Attention,
            disk: with_version(base_kexts(), FOO, "1.3.0"),
            ..big_sur("ax002-aux-version-differs")
        },
        RootSpec {
            expect: &[("AX003", E)],
            expect_verdict: Broken,
            aux_boot_kcid: Some(uuid_for("previous-boot-kc")),
            ..big_sur("ax003-aux-linked-to-old-boot")
        },
        {
            // Intel: the aux collection names the right boot collection
            // (`_BootKCID`) but an old system collection (`_PageableKCID`).
            let spec = big_sur_checked("ax003-pageable-id-mismatch");
            let (boot, system) = boot_and_system(&spec.disk);
            RootSpec {
                expect: &[("AX003", E)],
                expect_verdict: Broken,
                boot: plk_spec(boot, "boot-kc"),
                system_kc: plk_spec(system, "system-kc"),
                aux_pageable_kcid: Some(uuid_for("previous-system-kc")),
                ..spec
            }
        },
        {
            // A kext of /Library/Apple/System/Library/Extensions belongs to
            // the auxiliary collection (design.md "11+ collections"), not to
            // the sealed boot and system ones: missing from it, AX001.
            let spec = big_sur_checked("ax001-library-apple-kext");
            let updated = small(
                "com.apple.driver.ExampleOutOfBandUpdate",
                "1.0.4",
                "/Library/Apple/System/Library/Extensions/ExampleOutOfBandUpdate.kext",
            );
            RootSpec {
                expect: &[("AX001", W)],
                expect_verdict: Attention,
                disk: plus(spec.disk.clone(), [updated]),
                ..spec
            }
        },
        {
            // Approved, not in the aux collection, but in the build list of
            // the current one (kernelmanagerd rebuilt it): a restart loads it.
            let spec = big_sur_checked("ax001-in-auxkc-build-list");
            let disk = plus(spec.disk.clone(), [qux_audio.clone()]);
            let entries: Vec<kcheck::system::auxkc::AuxKcEntry> = disk
                .iter()
                .filter(|k| k.bundle_path.starts_with("/Library/Extensions/"))
                .map(|k| kcheck::system::auxkc::AuxKcEntry {
                    bundle_path: k.bundle_path.clone(),
                    team_id: k.team_id.clone(),
                    cd_hash: k.team_id.as_ref().map(|_| cd_hash(&k.bundle_id)),
                    bundle_id: Some(k.bundle_id.clone()),
                })
                .collect();
            RootSpec {
                expect: &[("AX001", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                extra: vec![
                    staged_qux.clone(),
                    (true, kcheck::system::AUXKC_INSTRUCTIONS, crate::policy::auxkc_instructions_plist(&entries)),
                ],
                ..spec
            }
        },
        {
            // macOS 26 on Intel: a kernel-collections system like 11, with
            // boot, system and auxiliary collections all linked together.
            let disk = plus(base_kexts(), [exclude_list_kext("26.1", EXCLUDE_RULES)]);
            let (boot, system) = boot_and_system(&disk);
            RootSpec {
                product_version: "26.1",
                build: "25B78",
                kernel: tahoe_intel_kernel(),
                boot: plk_spec(boot, "boot-kc"),
                system_kc: plk_spec(system, "system-kc"),
                policy: Some(approving(&disk)),
                disk,
                ..big_sur_checked("era-26.1-intel")
            }
        },
        // ---- Apple silicon: the boot collection in Preboot
        apple_silicon("as-healthy-preboot"),
        RootSpec {
            expect_not_checked: &["KC001", "KN001", "KX001-KX004, KX006-KX009, AX001, AX002, AX003"],
            apple_silicon: Some(AppleSilicon { soc: "t8101", payload: Im4pComp::Raw, preboot: None }),
            ..apple_silicon("as-no-preboot")
        },
        {
            let spec = apple_silicon("as-x86-only-kext");
            let disk = plus(spec.disk.clone(), [vendor("com.example.driver.LegacyNIC", "2.1", "LegacyNIC")]);
            RootSpec {
                expect: &[("KX008", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                ..spec
            }
        },
        {
            let spec = apple_silicon("as-arm64-plain-kext");
            let plain = vendor("com.example.driver.PlainArm64", "1.0", "PlainArm64").archs(ExeArchs::Arm64);
            let disk = plus(spec.disk.clone(), [plain]);
            RootSpec {
                expect: &[("KX008", W)],
                expect_verdict: Attention,
                policy: Some(approving(&disk)),
                disk,
                ..spec
            }
        },
        {
            // macOS 15.6: signed, arm64e, no KextPolicy row.
            let spec = apple_silicon_on("as-kext-awaiting-approval", "15.6", "24G84", sequoia_arm_kernel());
            let zap_arm = zap.clone().archs(ExeArchs::Arm64e).not_required();
            RootSpec {
                expect: &[("KX007", W)],
                expect_verdict: Attention,
                disk: plus(spec.disk.clone(), [zap_arm]),
                ..spec
            }
        },
        {
            // Another macOS (15.6) in the same container: its volume group
            // sorts first and its kernelcache is damaged; this root's build
            // picks the right one. LZSS (`complzss`) payload.
            let other = boot_hash(&format!("{AS_OTHER_GROUP}-24G84"));
            let ours = boot_hash(&format!("{AS_GROUP}-25B78"));
            apple_silicon_preboot(
                "as-two-volume-groups",
                Im4pComp::Lzss,
                vec![
                    VolumeGroup {
                        uuid: AS_OTHER_GROUP,
                        system_version: ("15.6", "24G84"),
                        boot_folders: vec![(other, Kernelcache::Corrupt)],
                        active: None,
                    },
                    VolumeGroup {
                        uuid: AS_GROUP,
                        system_version: ("26.1", "25B78"),
                        boot_folders: vec![(ours, Kernelcache::Boot)],
                        active: None,
                    },
                ],
            )
        },
        {
            // Two boot folders (an update staged a new one); `boot/active`
            // names the one in use, which sorts second. LZFSE payload.
            let stale = boot_hash("as-boot-active-stale");
            let active = boot_hash("as-boot-active-current");
            apple_silicon_preboot(
                "as-boot-active",
                Im4pComp::Lzfse,
                vec![VolumeGroup {
                    uuid: AS_GROUP,
                    system_version: ("26.1", "25B78"),
                    boot_folders: vec![(stale, Kernelcache::Corrupt), (active.clone(), Kernelcache::Boot)],
                    active: Some(active),
                }],
            )
        },
        {
            // The Preboot boot objects are found and hold no kernelcache:
            // KC001 (design.md), not a Preboot that cannot be located.
            let hash = boot_hash(&format!("{AS_GROUP}-25B78"));
            RootSpec {
                expect: &[("KC001", E)],
                expect_verdict: Broken,
                expect_not_checked: &["KN001", "KX001-KX004, KX006-KX009, AX001, AX002, AX003"],
                ..apple_silicon_preboot(
                    "as-preboot-without-kernelcache",
                    Im4pComp::Raw,
                    vec![VolumeGroup {
                        uuid: AS_GROUP,
                        system_version: ("26.1", "25B78"),
                        boot_folders: vec![(hash, Kernelcache::Missing)],
                        active: None,
                    }],
                )
            }
        },
    ]
}

/// A stand-in CDHash (40 hex digits) for a kext of the AuxKC build list.
fn cd_hash(tag: &str) -> String {
    let a = kcheck::macho::format_uuid(&uuid_for(tag)).replace('-', "").to_ascii_lowercase();
    let b = kcheck::macho::format_uuid(&uuid_for(&format!("{tag}/cd"))).replace('-', "").to_ascii_lowercase();
    format!("{a}{}", &b[..8])
}

/// The Info.plist of an installed kext (XML), with the overrides of
/// [`SynthKext::package_type`] and [`SynthKext::raw_version`].
pub fn info_plist(k: &SynthKext) -> Vec<u8> {
    let s = |x: &str| Value::String(x.to_string());
    let mut d = vec![
        ("CFBundleIdentifier".to_string(), s(&k.bundle_id)),
        ("CFBundleName".to_string(), s(k.bundle_id.rsplit('.').next().unwrap_or(""))),
    ];
    match &k.package_type {
        None => d.push(("CFBundlePackageType".to_string(), s("KEXT"))),
        Some(Some(t)) => d.push(("CFBundlePackageType".to_string(), s(t))),
        Some(None) => {}
    }
    d.push(("CFBundleInfoDictionaryVersion".to_string(), s("6.0")));
    match &k.raw_version {
        None => d.push(("CFBundleVersion".to_string(), s(&k.version))),
        Some(Some(v)) => d.push(("CFBundleVersion".to_string(), s(v))),
        Some(None) => {}
    }
    d.push(("CFBundleShortVersionString".to_string(), s(&k.version)));
    if let Some(r) = &k.required {
        d.push(("OSBundleRequired".to_string(), s(r)));
    }
    if let Some(exe) = &k.executable {
        d.push(("CFBundleExecutable".to_string(), s(exe)));
    }
    let libs = k.libraries.iter().map(|(id, v)| (id.clone(), s(v))).collect();
    d.push(("OSBundleLibraries".to_string(), Value::Dict(libs)));
    d.extend(k.extra_info.iter().cloned());
    crate::xml::serialize_plist(&Value::Dict(d))
}

fn system_version(product_version: &str, build: &str) -> Vec<u8> {
    let s = |x: &str| Value::String(x.to_string());
    let name = if product_version.starts_with("10.") { "Mac OS X" } else { "macOS" };
    crate::xml::serialize_plist(&Value::Dict(vec![
        ("ProductBuildVersion".into(), s(build)),
        ("ProductCopyright".into(), s("1983-2020 Apple Inc.")),
        ("ProductName".into(), s(name)),
        ("ProductUserVisibleVersion".into(), s(product_version)),
        ("ProductVersion".into(), s(product_version)),
    ]))
}

/// A bare kernel Mach-O (`/System/Library/Kernels/kernel`, or
/// `kernel.release.<soc>` on Apple silicon).
fn bare_kernel(k: &SynthKernel, arch: Arch) -> Vec<u8> {
    synth::prelinked_kernel_without_kexts(k, arch)
}

/// The kernel of another SoC (T6000), as a universal system volume carries
/// beside the root's own: same release, its own version suffix and UUID.
fn other_soc_kernel(k: &SynthKernel) -> SynthKernel {
    let version = match k.version.rsplit_once("RELEASE_ARM64_") {
        Some((head, _)) => format!("{head}RELEASE_ARM64_T6000"),
        None => k.version.clone(),
    };
    SynthKernel { uuid: uuid_for(&format!("{version}-t6000")), version, ..k.clone() }
}

/// A damaged Preboot kernelcache: an IMG4 whose raw IM4P payload is the
/// first third of a boot collection.
fn corrupt_kernelcache(kernel: &SynthKernel, kexts: &[SynthKext]) -> Vec<u8> {
    let kc = synth::kernel_collection(Some(kernel), kexts, Arch::Arm64e, uuid_for("corrupt-kc"), None);
    synth::img4_with_manifest(&synth::im4p(&kc[..kc.len() / 3], Im4pComp::Raw, "kernelcache"), "corrupt-kc")
}

/// Write one root below `dir` (as `dir/<name>`).
pub fn write_root(dir: &Path, spec: &RootSpec) -> io::Result<()> {
    let top = dir.join(spec.name);
    let (sys_root, data_root) = if spec.split {
        (top.join("Macintosh HD"), top.join("Macintosh HD - Data"))
    } else {
        (top.clone(), top.clone())
    };
    let write = |vol: Vol, rel: &str, bytes: &[u8]| -> io::Result<()> {
        let base = if vol == Vol::System { &sys_root } else { &data_root };
        let p = base.join(rel.trim_start_matches('/'));
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, bytes)
    };
    let vol_of = |path: &str| {
        if path.starts_with("/System/") { Vol::System } else { Vol::Data }
    };
    write(Vol::System, kcheck::system::SYSTEM_VERSION, &system_version(spec.product_version, spec.build))?;
    let arch = if spec.apple_silicon.is_some() { Arch::Arm64e } else { Arch::X86_64 };
    let kernel_file = match &spec.kernel_file {
        KernelFile::Linked => bare_kernel(&spec.kernel, arch),
        KernelFile::Other(k) => bare_kernel(k, arch),
        KernelFile::Bytes(b) => b.clone(),
    };
    match &spec.apple_silicon {
        None => write(Vol::System, kcheck::system::KERNEL, &kernel_file)?,
        Some(a) => {
            let dir = kcheck::system::KERNELS_DIR;
            write(Vol::System, &format!("{dir}/kernel.release.{}", a.soc), &kernel_file)?;
            write(
                Vol::System,
                &format!("{dir}/kernel.release.t6000"),
                &bare_kernel(&other_soc_kernel(&spec.kernel), arch),
            )?;
        }
    }
    for k in &spec.disk {
        write(vol_of(&k.bundle_path), &format!("{}/Contents/Info.plist", k.bundle_path), &info_plist(k))?;
        if let Some(exe) = &k.executable {
            write(
                vol_of(&k.bundle_path),
                &format!("{}/Contents/MacOS/{exe}", k.bundle_path),
                &synth::installed_executable(k),
            )?;
        }
    }
    let kc_era = !spec.product_version.starts_with("10.");
    // 10.15 with SIP on: kextcache prelinks the /Library/StagedExtensions
    // copy of each /Library/Extensions kext and records that path
    // (kext_tools staging.m createStagingURL).
    let staging = spec.product_version.starts_with("10.15");
    let recorded = |kexts: &[SynthKext]| -> Vec<SynthKext> {
        kexts
            .iter()
            .cloned()
            .map(|mut k| {
                if staging && k.bundle_path.starts_with("/Library/Extensions/") {
                    k.bundle_path = format!("{}{}", kcheck::system::STAGED_EXTENSIONS, k.bundle_path);
                }
                k
            })
            .collect()
    };
    let boot_kcid = match &spec.boot {
        Some(CacheSpec::Kexts { kcid, .. }) => *kcid,
        _ => [0; 16],
    };
    let system_kcid = match &spec.system_kc {
        Some(CacheSpec::Kexts { kcid, .. }) => Some(*kcid),
        _ => None,
    };
    let build = |c: &CacheSpec, role: &str| -> Vec<u8> {
        match c {
            CacheSpec::Bytes(b) => b.clone(),
            CacheSpec::Kexts { kexts, kcid } if kc_era && role == "boot" => {
                synth::kernel_collection(Some(&spec.kernel), kexts, arch, *kcid, None)
            }
            // The system collection, linked against the boot collection.
            CacheSpec::Kexts { kexts, kcid } if kc_era && role == "system" => {
                synth::kernel_collection(None, kexts, arch, *kcid, Some(boot_kcid))
            }
            CacheSpec::Kexts { kexts, kcid } if kc_era => synth::kernel_collection_linked(
                None,
                kexts,
                arch,
                *kcid,
                Some(spec.aux_boot_kcid.unwrap_or(boot_kcid)),
                spec.aux_pageable_kcid.or(system_kcid),
            ),
            CacheSpec::Kexts { kexts, kcid } => {
                let plk = synth::prelinked_kernel(&spec.kernel, &recorded(kexts), Arch::X86_64, *kcid);
                synth::fat(&[(Arch::X86_64, &synth::comp(Comp::Lzvn, &plk))], true)
            }
        }
    };
    match (&spec.boot, &spec.apple_silicon) {
        (Some(b), None) => {
            let path = if kc_era { kcheck::system::BOOT_KC } else { kcheck::system::BOOT_PLK };
            write(Vol::System, path, &build(b, "boot"))?;
        }
        (b, Some(a)) => {
            let kernelcache = b.as_ref().map(|b| match b {
                CacheSpec::Bytes(bytes) => bytes.clone(),
                kexts @ CacheSpec::Kexts { .. } => synth::img4_with_manifest(
                    &synth::im4p(&build(kexts, "boot"), a.payload, "kernelcache"),
                    &format!("{}-kernelcache", spec.name),
                ),
            });
            let boot_kexts = match b {
                Some(CacheSpec::Kexts { kexts, .. }) => kexts.as_slice(),
                _ => &[],
            };
            for g in a.preboot.iter().flatten() {
                let group = format!("{}/{}", kcheck::system::PREBOOT, g.uuid);
                let (version, build) = g.system_version;
                write(
                    Vol::System,
                    &format!("{group}{}", kcheck::system::SYSTEM_VERSION),
                    &system_version(version, build),
                )?;
                for (hash, kc) in &g.boot_folders {
                    let folder = format!("{group}/boot/{hash}");
                    write(
                        Vol::System,
                        &format!("{folder}/usr/standalone/firmware/iBoot.img4"),
                        b"stand-in for the personalised iBoot (kcheck does not read it)\n",
                    )?;
                    let path = format!("{folder}/{}", kcheck::system::PREBOOT_KERNELCACHE);
                    match (kc, &kernelcache) {
                        (Kernelcache::Boot, Some(bytes)) => write(Vol::System, &path, bytes)?,
                        (Kernelcache::Corrupt, _) => {
                            write(Vol::System, &path, &corrupt_kernelcache(&spec.kernel, boot_kexts))?
                        }
                        (Kernelcache::Missing, _) | (Kernelcache::Boot, None) => {}
                    }
                }
                if let Some(active) = &g.active {
                    write(Vol::System, &format!("{group}/boot/active"), active.as_bytes())?;
                }
            }
        }
        (None, None) => {}
    }
    if let Some(s) = &spec.system_kc {
        write(Vol::System, kcheck::system::SYSTEM_KC, &build(s, "system"))?;
    }
    if let Some(s) = &spec.staged {
        let path = if kc_era { kcheck::system::AUX_KC } else { kcheck::system::STAGED_PLK };
        write(Vol::Data, path, &build(s, "staged"))?;
    }
    if spec.shove {
        write(Vol::Data, kcheck::system::SHOVE_KERNELS, b"#!/bin/sh\n/usr/sbin/kcditto\nexit 0\0")?;
    }
    if let Some(p) = &spec.policy {
        let path = data_root.join(kcheck::facts::KEXT_POLICY.trim_start_matches('/'));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let user: Vec<(&str, &str, i64)> =
            p.user.iter().map(|(t, b, a)| (t.as_str(), b.as_str(), i64::from(*a))).collect();
        let mdm: Vec<(&str, Option<&str>, i64)> =
            p.mdm.iter().map(|(t, b, a)| (t.as_str(), b.as_deref(), i64::from(*a))).collect();
        crate::policy::write_kextpolicy(&path, &user, &mdm, &[]).map_err(io::Error::other)?;
    }
    for (data, rel, bytes) in &spec.extra {
        write(if *data { Vol::Data } else { Vol::System }, rel, bytes)?;
    }
    Ok(())
}

/// Write every root below `dir`.
pub fn write_roots(dir: &Path) -> io::Result<()> {
    for spec in roots() {
        write_root(dir, &spec)?;
    }
    Ok(())
}

/// A realistic-size 10.15 root for measurements (not committed): `n`
/// kexts in `/System/Library/Extensions` and `n / 10` in
/// `/Library/Extensions`, each with an executable of about `code_size`
/// bytes; boot and staged prelinkedkernels (LZVN) that both hold every
/// kext (the staged one relinked, so `verify` compares them by content).
pub fn write_scaled_root(dir: &Path, n: usize, code_size: usize) -> io::Result<()> {
    let mut kexts = synth::scaled_kexts(n + n / 10, code_size);
    for (i, k) in kexts.iter_mut().enumerate() {
        let name = k.bundle_path.rsplit('/').next().unwrap_or("X.kext").to_string();
        k.bundle_path =
            if i < n { format!("/System/Library/Extensions/{name}") } else { format!("/Library/Extensions/{name}") };
    }
    let spec = RootSpec {
        name: "root",
        expect: &[],
        expect_verdict: Verdict::Healthy,
        expect_not_checked: &["KX007", "KX008 (exclude-list)"],
        product_version: "10.15.7",
        build: "19H15",
        split: false,
        kernel: catalina_late_kernel(),
        kernel_file: KernelFile::Linked,
        disk: kexts.clone(),
        boot: Some(CacheSpec::Kexts { kexts: kexts.clone(), kcid: uuid_for("scaled-boot") }),
        staged: Some(CacheSpec::Kexts { kexts, kcid: uuid_for("scaled-staged") }),
        aux_boot_kcid: None,
        system_kc: None,
        aux_pageable_kcid: None,
        apple_silicon: None,
        shove: true,
        policy: None,
        extra: vec![],
    };
    let top = dir.join(spec.name);
    if top.exists() {
        std::fs::remove_dir_all(&top)?;
    }
    write_root(dir, &spec)?;
    Ok(())
}

/// Default bytes of code per kext for [`write_scaled_root_11`]: with the
/// spread of [`synth::scaled_kexts`] (half to one and a half times this),
/// 600 kexts make boot + system collections of 209 MB together (boot
/// 69.5 MB, system 139.7 MB; the auxiliary collection with the 60
/// `/Library/Extensions` kexts and the exclude list 23.0 MB).
pub const SCALED_11_CODE: usize = 340 * 1024;

/// The installed kexts of [`write_scaled_root_11`]: `n` Apple kexts
/// (`com.apple.driver.DriverNNNN`) in `/System/Library/Extensions`, one in
/// three required at `Root` (so in the boot collection) and the rest with
/// no `OSBundleRequired` (the system collection); `n / 10` third-party
/// kexts (`com.example.driver.VendorNNNN`) in `/Library/Extensions`, signed
/// ([`TEAM_FOO`] or [`TEAM_BAR`]); and the exclude-list kext. Executables of
/// about `code_size` bytes (see [`synth::scaled_kexts`]), a few
/// personalities each.
pub fn scaled_root_11_kexts(n: usize, code_size: usize) -> Vec<SynthKext> {
    let mut disk: Vec<SynthKext> = synth::scaled_kexts(n + n / 10, code_size)
        .into_iter()
        .enumerate()
        .map(|(i, mut k)| {
            let (id, path) = if i < n {
                (format!("com.apple.driver.Driver{i:04}"), format!("/System/Library/Extensions/Driver{i:04}.kext"))
            } else {
                (format!("com.example.driver.Vendor{i:04}"), format!("/Library/Extensions/Vendor{i:04}.kext"))
            };
            let exe = path.rsplit('/').next().unwrap_or("X.kext").trim_end_matches(".kext").to_string();
            k.uuid = uuid_for(&format!("{id}-{}", k.version));
            k.bundle_id = id;
            k.bundle_path = path;
            k.executable = Some(exe);
            if i < n {
                if i % 3 == 0 { k.required("Root") } else { k.not_required() }
            } else {
                k.signed(if i % 2 == 0 { TEAM_FOO } else { TEAM_BAR })
            }
        })
        .collect();
    disk.push(exclude_list_kext("11.7.10", EXCLUDE_RULES));
    disk
}

/// A realistic-size Intel macOS 11 (11.7.10) root for measurements (not
/// committed), laid out like the `healthy-11` / `era-26.1-intel` fixture
/// roots: `SystemVersion.plist`, the bare kernel, the kexts of
/// [`scaled_root_11_kexts`] installed, raw `MH_FILESET` collections
/// (`/System/Library/KernelCollections/BootKernelExtensions.kc` with the
/// kernel and the `Root` kexts, `SystemKernelExtensions.kc` with the other
/// `/System` kexts, linked against the boot one, and
/// `/Library/KernelCollections/AuxiliaryKernelExtensions.kc` with the
/// `/Library` kexts, linked against both), and a KextPolicy database
/// approving the third-party kexts. `kcheck verify` finds it healthy.
/// Written as `dir/root`, replacing any previous one.
pub fn write_scaled_root_11(dir: &Path, n: usize, code_size: usize) -> io::Result<()> {
    let disk = scaled_root_11_kexts(n, code_size);
    let (boot, system) = boot_and_system(&disk);
    let spec = RootSpec {
        name: "root",
        expect: &[],
        expect_verdict: Verdict::Healthy,
        expect_not_checked: &[],
        product_version: "11.7.10",
        build: "20G1427",
        split: false,
        kernel: big_sur_late_kernel(),
        kernel_file: KernelFile::Linked,
        boot: plk_spec(boot, "scaled-11-boot-kc"),
        staged: plk_spec(library_only(&disk), "scaled-11-aux-kc"),
        aux_boot_kcid: None,
        system_kc: plk_spec(system, "scaled-11-system-kc"),
        aux_pageable_kcid: None,
        apple_silicon: None,
        shove: false,
        policy: Some(approving(&disk)),
        extra: vec![],
        disk,
    };
    let top = dir.join(spec.name);
    if top.exists() {
        std::fs::remove_dir_all(&top)?;
    }
    write_root(dir, &spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcheck::system::bundle::{parse_info_plist, read_slices};

    #[test]
    fn installed_executables_have_their_archs_and_team_id() {
        for (archs, want) in [
            (ExeArchs::X86_64, &["x86_64"][..]),
            (ExeArchs::Arm64e, &["arm64e"][..]),
            (ExeArchs::Arm64, &["arm64"][..]),
            (ExeArchs::FatX86_64Arm64e, &["x86_64", "arm64e"][..]),
        ] {
            let k = vendor("com.example.driver.T", "1.0", "T").archs(archs);
            let slices = read_slices(&synth::installed_executable(&k)).unwrap();
            assert_eq!(slices.iter().map(|s| s.arch.as_str()).collect::<Vec<_>>(), want);
            assert!(slices.iter().all(|s| s.team_id.as_deref() == Some(TEAM_FOO)), "{slices:?}");
            // The x86_64 slice (the one the fixture caches link) keeps the kext's UUID.
            if let Some(x) = slices.iter().find(|s| s.arch == "x86_64") {
                assert_eq!(x.uuid.as_deref(), Some(kcheck::macho::format_uuid(&k.uuid).as_str()));
            }
        }
        let unsigned = small("com.example.driver.U", "1.0", "/Library/Extensions/U.kext");
        assert_eq!(read_slices(&synth::installed_executable(&unsigned)).unwrap()[0].team_id, None);
    }

    #[test]
    fn info_plist_overrides_and_exclude_list() {
        let mut k = vendor("com.example.driver.T", "1.0", "T").required("Local-Root");
        k.raw_version = Some(Some("1.2.3.4".into()));
        k.package_type = Some(None);
        let p = parse_info_plist(&info_plist(&k)).unwrap();
        assert_eq!(p.version.as_deref(), Some("1.2.3.4"));
        assert_eq!(p.package_type, None);
        assert_eq!(p.required.as_deref(), Some("Local-Root"));
        let p = parse_info_plist(&info_plist(&small("a.b", "1", "/x.kext"))).unwrap();
        assert_eq!((p.package_type.as_deref(), p.required), (Some("KEXT"), None));

        for (release, dir) in [
            ("10.14.6", "/System/Library/Extensions"),
            ("10.15", "/Library/Apple/System/Library/Extensions"),
            ("11.7.10", "/Library/Apple/System/Library/Extensions"),
        ] {
            let x = exclude_list_kext(release, &[("com.a", "LE 1.2.3")]);
            assert_eq!(x.bundle_path, format!("{dir}/AppleKextExcludeList.kext"));
            assert!(x.executable.is_none());
            let p = parse_info_plist(&info_plist(&x)).unwrap();
            let list = p.exclude_list.unwrap();
            assert_eq!(list.len(), 1);
            assert_eq!((list[0].0.as_str(), list[0].1.versions.as_str()), ("com.a", "LE 1.2.3"));
        }
    }

    #[test]
    fn preboot_names_and_kernelcaches_have_the_real_shapes() {
        let h = boot_hash("x");
        assert_eq!(h.len(), 96);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()), "{h}");
        assert_ne!(boot_hash("x"), boot_hash("y"));
        for g in [AS_GROUP, AS_OTHER_GROUP] {
            let parts: Vec<usize> = g.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 4, 4, 4, 12], "{g}");
        }
        // The IMG4 with a manifest reads as IMG4 > IM4P, the payload intact.
        let file = synth::img4_with_manifest(&synth::im4p(b"payload bytes", Im4pComp::Raw, "kernelcache"), "t");
        let im4p = kcheck::container::read_img4(&file).unwrap();
        assert!(im4p.in_img4);
        assert_eq!(im4p.fourcc, "krnl");
        assert_eq!(&file[im4p.payload_offset..im4p.payload_offset + im4p.payload_len], b"payload bytes");
        assert!(file.windows(4).any(|w| w == b"IM4M"));
    }

    #[test]
    fn every_root_expects_a_verdict_that_fits_its_findings() {
        // design.md: healthy = no warning or error, attention = warnings,
        // broken = an error. A spec that contradicts itself is a typo.
        for r in roots() {
            let worst = r.expect.iter().map(|(_, s)| *s).max();
            let fits = match r.expect_verdict {
                Verdict::Healthy => worst.is_none_or(|s| s == Sev::Info),
                Verdict::Attention => worst == Some(Sev::Warning),
                Verdict::Broken => worst == Some(Sev::Error),
            };
            assert!(fits, "{}: verdict {:?} with {:?}", r.name, r.expect_verdict, r.expect);
        }
    }
}
