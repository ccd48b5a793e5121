//! Synthetic system roots for `verify`: for each era a healthy root, and one
//! root per finding code that shows exactly that problem (plus the README's
//! 10.15.0 demo). Written under `testdata/roots/` by
//! `cargo run --example gen_fixtures`; each is an integration test.

use std::io;
use std::path::Path;

use crate::synth::{self, Arch, Comp, SynthKernel, SynthKext, uuid_for};
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

/// One fake system root.
#[derive(Clone, Debug)]
pub struct RootSpec {
    /// Directory name under `testdata/roots`.
    pub name: &'static str,
    /// The finding codes `verify` must report (sorted), for the tests.
    pub expect: &'static [&'static str],
    /// `ProductVersion`.
    pub product_version: &'static str,
    /// `ProductBuildVersion`.
    pub build: &'static str,
    /// Write the data volume beside the system volume, as Recovery mounts
    /// them (`<name>/Macintosh HD` and `<name>/Macintosh HD - Data`).
    pub split: bool,
    /// The kernel linked into the caches.
    pub kernel: SynthKernel,
    /// `/System/Library/Kernels/kernel` (None: same as `kernel`).
    pub kernel_file: Option<SynthKernel>,
    /// Kexts installed on disk (their bundle paths choose the volume).
    pub disk: Vec<SynthKext>,
    /// The boot cache (prelinkedkernel or boot kernel collection).
    pub boot: Option<CacheSpec>,
    /// The staged prelinkedkernel (10.15) or auxiliary collection (11+).
    pub staged: Option<CacheSpec>,
    /// `_BootKCID` written into the auxiliary collection (11+): default
    /// the boot collection's KCID.
    pub aux_boot_kcid: Option<[u8; 16]>,
    /// Write `/private/var/install/shove_kernels`.
    pub shove: bool,
    /// Extra files: (on the data volume?, path, bytes).
    pub extra: Vec<(bool, &'static str, Vec<u8>)>,
}

/// A small kext for the fixture roots (one library, 0x180 bytes of code).
fn small(id: &str, version: &str, path: &str) -> SynthKext {
    let mut k = synth::kext(id, version, path, 0x180);
    k.libraries.truncate(1);
    k
}

/// The kexts every fake root has installed: Apple kexts (one with a nested
/// plug-in), two third-party kexts and a codeless one.
pub fn base_kexts() -> Vec<SynthKext> {
    let mut v = vec![
        small("com.apple.iokit.IOACPIFamily", "1.4", "/System/Library/Extensions/IOACPIFamily.kext"),
        small("com.apple.driver.AppleHDA", "283.15", "/System/Library/Extensions/AppleHDA.kext"),
        small(
            "com.apple.driver.AppleHDAController",
            "283.15",
            "/System/Library/Extensions/AppleHDA.kext/Contents/PlugIns/AppleHDAController.kext",
        ),
        small("com.example.driver.FooNet", "1.2.3", "/Library/Extensions/FooNet.kext"),
        small("com.example.driver.BarStorage", "4.0.1", "/Library/Extensions/BarStorage.kext"),
    ];
    let mut codeless = small("com.example.injector.BazUSBMap", "1.0", "/Library/Extensions/BazUSBMap.kext");
    codeless.executable = None;
    v.push(codeless);
    v
}

fn with_version(mut kexts: Vec<SynthKext>, id: &str, version: &str) -> Vec<SynthKext> {
    for k in &mut kexts {
        if k.bundle_id == id {
            *k = small(id, version, &k.bundle_path.clone());
            k.executable = k.executable.clone();
        }
    }
    kexts
}

fn without(kexts: Vec<SynthKext>, id: &str) -> Vec<SynthKext> {
    kexts.into_iter().filter(|k| k.bundle_id != id).collect()
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

fn plk_spec(kexts: Vec<SynthKext>, tag: &str) -> Option<CacheSpec> {
    Some(CacheSpec::Kexts { kexts, kcid: uuid_for(tag) })
}

fn corrupt(kernel: &SynthKernel) -> Vec<u8> {
    let plk = synth::prelinked_kernel(kernel, &base_kexts(), Arch::X86_64, [1; 16]);
    let mut c = synth::comp(Comp::Lzvn, &plk);
    c[8] ^= 0x5a; // adler32 no longer matches
    synth::fat(&[(Arch::X86_64, &c)], true)
}

/// Every fixture root.
pub fn roots() -> Vec<RootSpec> {
    let base = base_kexts();
    let mojave = |name, expect| RootSpec {
        name,
        expect,
        product_version: "10.14.6",
        build: "18G103",
        split: false,
        kernel: mojave_kernel(),
        kernel_file: None,
        disk: base.clone(),
        boot: plk_spec(base.clone(), "boot"),
        staged: None,
        aux_boot_kcid: None,
        shove: false,
        extra: vec![],
    };
    let catalina = |name, expect| RootSpec {
        name,
        expect,
        product_version: "10.15.7",
        build: "19H15",
        split: false,
        kernel: catalina_late_kernel(),
        kernel_file: None,
        disk: base.clone(),
        boot: plk_spec(base.clone(), "boot"),
        staged: plk_spec(base.clone(), "boot"),
        aux_boot_kcid: None,
        shove: false,
        extra: vec![],
    };
    let big_sur = |name, expect| RootSpec {
        name,
        expect,
        product_version: "11.7.10",
        build: "20G1427",
        split: false,
        kernel: big_sur_late_kernel(),
        kernel_file: None,
        disk: base.clone(),
        boot: plk_spec(system_only(&base), "boot-kc"),
        staged: plk_spec(library_only(&base), "aux-kc"),
        aux_boot_kcid: None,
        shove: false,
        extra: vec![],
    };
    let bad_plist = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>CFBundleIdentifier</key>".to_vec();
    vec![
        mojave("healthy-10.14", &[]),
        catalina("healthy-10.15", &[]),
        big_sur("healthy-11", &[]),
        RootSpec {
            split: true,
            product_version: "10.15",
            build: "19A583",
            kernel: SynthKernel { text_size: 0x200, ..synth::catalina_kernel() },
            disk: with_version(base.clone(), "com.example.driver.FooNet", "1.3.0"),
            staged: plk_spec(with_version(base.clone(), "com.example.driver.FooNet", "1.3.0"), "staged"),
            shove: true,
            ..catalina("demo-10.15.0-pending-shove", &["KB001", "KX002", "ST002", "ST003"])
        },
        RootSpec { boot: None, ..mojave("kc001-missing-boot-cache", &["KC001"]) },
        RootSpec {
            boot: Some(CacheSpec::Bytes(corrupt(&mojave_kernel()))),
            ..mojave("kc001-corrupt-boot-cache", &["KC001"])
        },
        RootSpec {
            staged: Some(CacheSpec::Bytes(corrupt(&catalina_late_kernel()))),
            ..catalina("kc002-corrupt-staged-cache", &["KC002"])
        },
        RootSpec {
            staged: Some(CacheSpec::Bytes(b"this is not a kernel collection".to_vec())),
            ..big_sur("kc002-corrupt-aux-collection", &["KC002"])
        },
        RootSpec {
            staged: plk_spec(base.clone(), "relinked"),
            shove: true,
            ..catalina("st001-install-pending", &["ST001", "ST002"])
        },
        RootSpec { staged: None, shove: true, ..catalina("st002-shove-without-staged-cache", &["ST002"]) },
        RootSpec {
            product_version: "10.15",
            build: "19A583",
            kernel: SynthKernel { text_size: 0x200, ..synth::catalina_kernel() },
            staged: plk_spec(base.clone(), "relinked"),
            shove: true,
            ..catalina("st003-copy-fails-with-sip", &["KB001", "ST002", "ST003"])
        },
        RootSpec { shove: true, ..catalina("st004-shove-left-behind", &["ST002", "ST004"]) },
        RootSpec { staged: plk_spec(base.clone(), "relinked"), ..catalina("st005-staged-never-copied", &["ST005"]) },
        RootSpec {
            disk: {
                let mut d = base.clone();
                d.push(small("com.example.driver.QuxAudio", "2.0", "/Library/Extensions/QuxAudio.kext"));
                d
            },
            ..mojave("kx001-kext-not-in-cache", &["KX001"])
        },
        RootSpec {
            disk: with_version(base.clone(), "com.example.driver.FooNet", "1.3.0"),
            ..mojave("kx002-version-differs", &["KX002"])
        },
        RootSpec {
            disk: base
                .iter()
                .cloned()
                .map(|mut k| {
                    if k.bundle_id == "com.example.driver.BarStorage" {
                        k.uuid = uuid_for("BarStorage-rebuilt");
                    }
                    k
                })
                .collect(),
            ..mojave("kx003-rebuilt-executable", &["KX003"])
        },
        RootSpec {
            boot: plk_spec(
                {
                    let mut c = base.clone();
                    c.push(small("as.vit9696.Lilu", "1.4.0", "/Library/Extensions/Lilu.kext"));
                    c
                },
                "boot",
            ),
            ..mojave("kx004-cached-kext-removed", &["KX004"])
        },
        RootSpec {
            disk: without(base.clone(), "com.example.driver.BarStorage"),
            extra: vec![
                (true, "/Library/Extensions/Broken.kext/Contents/Info.plist", bad_plist),
                (true, "/Library/Extensions/BarStorage.kext/Contents/Info.plist", {
                    let k = base.iter().find(|k| k.bundle_id == "com.example.driver.BarStorage").cloned();
                    k.map(|k| info_plist(&k)).unwrap_or_default()
                }),
            ],
            ..mojave("kx005-unreadable-bundles", &["KX005"])
        },
        RootSpec {
            kernel_file: Some(kernel(
                "Darwin Kernel Version 18.7.0: Thu Jan 23 06:52:12 PST 2020; root:xnu-4903.278.25~1/RELEASE_X86_64",
                "kernel-18G3020",
            )),
            ..mojave("kn001-kernel-differs", &["KN001"])
        },
        RootSpec {
            product_version: "10.15.6",
            build: "19G73",
            kernel: catalina_leak_kernel(),
            ..catalina("kb001-zone-leak-build", &["KB001"])
        },
        RootSpec {
            disk: {
                let mut d = base.clone();
                d.push(small("com.example.driver.QuxAudio", "2.0", "/Library/Extensions/QuxAudio.kext"));
                d
            },
            extra: vec![(
                true,
                "/Library/StagedExtensions/Library/Extensions/QuxAudio.kext/Contents/Info.plist",
                info_plist(&small("com.example.driver.QuxAudio", "2.0", "/Library/Extensions/QuxAudio.kext")),
            )],
            ..big_sur("ax001-kext-awaiting-approval", &["AX001"])
        },
        RootSpec {
            disk: with_version(base.clone(), "com.example.driver.FooNet", "1.3.0"),
            ..big_sur("ax002-aux-version-differs", &["AX002"])
        },
        RootSpec {
            aux_boot_kcid: Some(uuid_for("previous-boot-kc")),
            ..big_sur("ax003-aux-linked-to-old-boot", &["AX003"])
        },
    ]
}

/// The Info.plist of an installed kext (XML).
pub fn info_plist(k: &SynthKext) -> Vec<u8> {
    let s = |x: &str| Value::String(x.to_string());
    let mut d = vec![
        ("CFBundleIdentifier".to_string(), s(&k.bundle_id)),
        ("CFBundleName".to_string(), s(k.bundle_id.rsplit('.').next().unwrap_or(""))),
        ("CFBundlePackageType".to_string(), s("KEXT")),
        ("CFBundleInfoDictionaryVersion".to_string(), s("6.0")),
        ("CFBundleVersion".to_string(), s(&k.version)),
        ("CFBundleShortVersionString".to_string(), s(&k.version)),
    ];
    if let Some(exe) = &k.executable {
        d.push(("CFBundleExecutable".to_string(), s(exe)));
    }
    let libs = k.libraries.iter().map(|(id, v)| (id.clone(), s(v))).collect();
    d.push(("OSBundleLibraries".to_string(), Value::Dict(libs)));
    crate::xml::serialize_plist(&Value::Dict(d))
}

fn system_version(spec: &RootSpec) -> Vec<u8> {
    let s = |x: &str| Value::String(x.to_string());
    let name = if spec.product_version.starts_with("10.") { "Mac OS X" } else { "macOS" };
    crate::xml::serialize_plist(&Value::Dict(vec![
        ("ProductBuildVersion".into(), s(spec.build)),
        ("ProductCopyright".into(), s("1983-2020 Apple Inc.")),
        ("ProductName".into(), s(name)),
        ("ProductUserVisibleVersion".into(), s(spec.product_version)),
        ("ProductVersion".into(), s(spec.product_version)),
    ]))
}

/// A bare kernel Mach-O (`/System/Library/Kernels/kernel`).
fn bare_kernel(k: &SynthKernel) -> Vec<u8> {
    synth::prelinked_kernel_without_kexts(k, Arch::X86_64)
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
    write(Vol::System, kcheck::system::SYSTEM_VERSION, &system_version(spec))?;
    write(Vol::System, kcheck::system::KERNEL, &bare_kernel(spec.kernel_file.as_ref().unwrap_or(&spec.kernel)))?;
    for k in &spec.disk {
        write(vol_of(&k.bundle_path), &format!("{}/Contents/Info.plist", k.bundle_path), &info_plist(k))?;
        if let Some(exe) = &k.executable {
            write(
                vol_of(&k.bundle_path),
                &format!("{}/Contents/MacOS/{exe}", k.bundle_path),
                &synth::kext_macho(k, Arch::X86_64, 0, 0),
            )?;
        }
    }
    let kc_era = !spec.product_version.starts_with("10.");
    let boot_kcid = match &spec.boot {
        Some(CacheSpec::Kexts { kcid, .. }) => *kcid,
        _ => [0; 16],
    };
    let build = |c: &CacheSpec, role: &str| -> Vec<u8> {
        match c {
            CacheSpec::Bytes(b) => b.clone(),
            CacheSpec::Kexts { kexts, kcid } if kc_era && role == "boot" => {
                synth::kernel_collection(Some(&spec.kernel), kexts, Arch::X86_64, *kcid, None)
            }
            CacheSpec::Kexts { kexts, kcid } if kc_era => synth::kernel_collection(
                None,
                kexts,
                Arch::X86_64,
                *kcid,
                Some(spec.aux_boot_kcid.unwrap_or(boot_kcid)),
            ),
            CacheSpec::Kexts { kexts, kcid } => {
                let plk = synth::prelinked_kernel(&spec.kernel, kexts, Arch::X86_64, *kcid);
                synth::fat(&[(Arch::X86_64, &synth::comp(Comp::Lzvn, &plk))], true)
            }
        }
    };
    if let Some(b) = &spec.boot {
        let path = if kc_era { kcheck::system::BOOT_KC } else { kcheck::system::BOOT_PLK };
        write(Vol::System, path, &build(b, "boot"))?;
    }
    if let Some(s) = &spec.staged {
        let path = if kc_era { kcheck::system::AUX_KC } else { kcheck::system::STAGED_PLK };
        write(Vol::Data, path, &build(s, "staged"))?;
    }
    if spec.shove {
        write(Vol::Data, kcheck::system::SHOVE_KERNELS, b"#!/bin/sh\n/usr/sbin/kcditto\nexit 0\0")?;
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
        product_version: "10.15.7",
        build: "19H15",
        split: false,
        kernel: catalina_late_kernel(),
        kernel_file: None,
        disk: kexts.clone(),
        boot: Some(CacheSpec::Kexts { kexts: kexts.clone(), kcid: uuid_for("scaled-boot") }),
        staged: Some(CacheSpec::Kexts { kexts, kcid: uuid_for("scaled-staged") }),
        aux_boot_kcid: None,
        shove: true,
        extra: vec![],
    };
    let top = dir.join(spec.name);
    if top.exists() {
        std::fs::remove_dir_all(&top)?;
    }
    write_root(dir, &spec)?;
    Ok(())
}
