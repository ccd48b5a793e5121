//! Every container variant and both Mach-O kinds, read from the committed
//! fixtures and from fixtures synthesised on the fly.

use std::path::{Path, PathBuf};

use kcheck::cache::{self, CacheInfo, CacheKind, OpenOptions};
use kcheck::macho::format_uuid;
use kcheck_testkit::synth::{self, Arch};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(name)
}

fn open(name: &str) -> CacheInfo {
    cache::open(&testdata(name), &OpenOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ids(c: &CacheInfo) -> Vec<(String, Option<String>, Option<String>)> {
    c.kexts.iter().map(|k| (k.bundle_id.clone(), k.version.clone(), k.uuid.clone())).collect()
}

#[test]
fn committed_fixtures_are_what_the_generator_writes() {
    for (sub, files) in [("caches", synth::cache_fixtures()), ("kexts", synth::kext_fixtures())] {
        for (name, bytes) in files {
            let path = testdata(&format!("{sub}/{name}"));
            let on_disk = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                on_disk == bytes,
                "{} differs from synth output: run `cargo run --example gen_fixtures`",
                path.display()
            );
        }
    }
}

#[test]
fn every_prelinkedkernel_container_gives_the_same_kexts() {
    let reference = open("caches/prelinkedkernel-a.raw");
    assert_eq!(reference.layers, ["mach-o/execute"]);
    assert_eq!(reference.kind, CacheKind::PrelinkedKernel);
    let cases = [
        ("caches/prelinkedkernel-a.fat-lzvn", vec!["fat[x86_64]", "comp/lzvn", "mach-o/execute"]),
        ("caches/prelinkedkernel-a.fat-lzss", vec!["fat[x86_64]", "comp/lzss", "mach-o/execute"]),
        ("caches/prelinkedkernel-a.comp-lzvn", vec!["comp/lzvn", "mach-o/execute"]),
        ("caches/prelinkedkernel-a.fat-raw", vec!["fat[x86_64]", "mach-o/execute"]),
        ("caches/prelinkedkernel-a.fat2", vec!["fat[x86_64]", "comp/lzvn", "mach-o/execute"]),
    ];
    for (name, layers) in cases {
        let c = open(name);
        assert_eq!(c.layers, layers, "{name}");
        assert_eq!(c.kind, CacheKind::PrelinkedKernel, "{name}");
        assert_eq!(ids(&c), ids(&reference), "{name}");
        assert_eq!(c.kernel, reference.kernel, "{name}");
        assert_eq!(c.kc_id, reference.kc_id, "{name}");
        assert_eq!(c.image_size, reference.image_size, "{name}");
    }
}

#[test]
fn prelinked_kernel_facts_match_what_was_synthesised() {
    let c = open("caches/prelinkedkernel-a.fat-lzvn");
    let kernel = synth::catalina_kernel();
    assert_eq!(c.kernel.version.as_deref(), Some(kernel.version.as_str()));
    assert_eq!(c.kernel.uuid, Some(format_uuid(&kernel.uuid)));
    assert_eq!(c.kc_id, Some(format_uuid(&synth::uuid_for("kcid-a"))));
    // 4 kpi pseudo-kexts + the synthesised ones, in cache order.
    let expected = synth::kexts_a();
    assert_eq!(c.kexts.len(), 4 + expected.len());
    for (got, want) in c.kexts[4..].iter().zip(&expected) {
        assert_eq!(got.bundle_id, want.bundle_id);
        assert_eq!(got.version.as_deref(), Some(want.version.as_str()));
        assert_eq!(got.bundle_path.as_deref(), Some(want.bundle_path.as_str()));
        if let Some(exe) = &want.executable {
            assert_eq!(got.uuid, Some(format_uuid(&want.uuid)), "{}", want.bundle_id);
            let exe = format!("Contents/MacOS/{exe}");
            assert_eq!(got.executable_relative_path.as_deref(), Some(exe.as_str()));
            assert!(got.load_address.unwrap() >= 0xffff_ff7f_8000_0000);
            assert!(got.executable_size.unwrap() > 0);
        } else {
            assert_eq!(got.uuid, None, "codeless kext {} has no UUID", want.bundle_id);
            assert_eq!(got.load_address, None);
        }
    }
    let kpi = &c.kexts[0];
    assert_eq!(kpi.bundle_id, "com.apple.kpi.bsd");
    assert_eq!(kpi.version.as_deref(), Some("19.0.0"));
    assert_eq!(c.codeless_count(), 5);
}

#[test]
fn arch_option_picks_the_other_slice() {
    let opts = OpenOptions { arch: Some("arm64e".into()), hash: false };
    let c = cache::open(&testdata("caches/prelinkedkernel-a.fat2"), &opts).unwrap();
    assert_eq!(c.layers, ["fat[arm64e]", "mach-o/execute"]);
    assert_eq!(c.arch, "arm64e");
    assert_eq!(c.kernel.uuid, Some(format_uuid(&synth::arm_kernel().uuid)));
    assert_eq!(c.slices.len(), 2);
    let opts = OpenOptions { arch: Some("ppc".into()), hash: false };
    let err = cache::open(&testdata("caches/prelinkedkernel-a.fat2"), &opts).unwrap_err();
    assert!(err.to_string().contains("no ppc slice (slices: x86_64, arm64e)"), "{err}");
}

#[test]
fn im4p_lzss_kernelcache() {
    let c = open("caches/kernelcache-a.im4p-lzss");
    assert_eq!(c.layers, ["im4p[krnl]", "comp/lzss", "mach-o/execute"]);
    assert_eq!(c.arch, "arm64e");
    assert_eq!(c.kernel.version.as_deref(), Some(synth::arm_kernel().version.as_str()));
    // Same kexts as the x86_64 cache; the kpi pseudo-kexts carry the arm
    // kernel's Darwin version.
    assert_eq!(ids(&c)[4..], ids(&open("caches/prelinkedkernel-a.raw"))[4..]);
    assert!(c.kexts[..4].iter().all(|k| k.version.as_deref() == Some("20.1.0")));
}

#[test]
fn im4p_lzfse_and_img4_kernel_collections() {
    for (name, layers) in [
        ("caches/kernelcache-ios.im4p-lzfse", vec!["im4p[krnl]", "lzfse", "mach-o/fileset"]),
        ("caches/kernelcache-ios.img4", vec!["img4", "im4p[krnl]", "lzfse", "mach-o/fileset"]),
    ] {
        let c = open(name);
        assert_eq!(c.layers, layers);
        assert_eq!(c.kind, CacheKind::KernelCollection);
        assert_eq!(c.arch, "arm64e");
        assert_eq!(c.kernel.uuid, Some(format_uuid(&synth::arm_kernel().uuid)));
        assert_eq!(c.kernel.version.as_deref(), Some(synth::arm_kernel().version.as_str()));
        assert_eq!(c.kc_id, Some(format_uuid(&synth::uuid_for("ios-kc"))));
    }
}

#[test]
fn boot_kernel_collection() {
    let c = open("caches/BootKernelExtensions.kc");
    assert_eq!(c.layers, ["mach-o/fileset"]);
    assert_eq!(c.kind, CacheKind::KernelCollection);
    let kernel = synth::big_sur_kernel();
    assert_eq!(c.kernel.version.as_deref(), Some(kernel.version.as_str()));
    assert_eq!(c.kernel.uuid, Some(format_uuid(&kernel.uuid)));
    assert_eq!(c.kc_id, Some(format_uuid(&synth::uuid_for("boot-kc"))));
    assert_eq!(c.boot_kc_id, None);
    // kpi kexts (codeless) + 6 kexts with fileset entries; the kernel is not a kext.
    assert_eq!(c.kexts.len(), 4 + 6);
    assert!(c.kexts.iter().all(|k| k.bundle_id != "com.apple.kernel"));
    for want in &synth::kexts_a()[..6] {
        let got = c.kexts.iter().find(|k| k.bundle_id == want.bundle_id).unwrap();
        assert_eq!(got.uuid, Some(format_uuid(&want.uuid)));
        assert_eq!(got.version.as_deref(), Some(want.version.as_str()));
        assert!(got.load_address.unwrap() >= 0xffff_fe00_0700_0000);
    }
}

#[test]
fn auxiliary_collection_names_its_boot_collection() {
    let c = open("caches/AuxiliaryKernelExtensions.kc");
    assert_eq!(c.kind, CacheKind::KernelCollection);
    assert_eq!(c.kernel.version, None);
    assert_eq!(c.boot_kc_id, Some(format_uuid(&synth::uuid_for("boot-kc"))));
    let names: Vec<_> = c.kexts.iter().map(|k| k.bundle_id.as_str()).collect();
    assert_eq!(
        names,
        [
            "com.example.driver.FooNet",
            "com.example.driver.BarStorage",
            "as.vit9696.Lilu",
            "com.example.injector.BazUSBMap"
        ]
    );
    assert_eq!(c.codeless_count(), 1);
}

#[test]
fn fileset_entry_without_plist_entry_is_still_listed() {
    // A collection whose info lacks one coded kext: the entry is listed
    // from its LC_FILESET_ENTRY alone, with its UUID and no version.
    let kexts = synth::kexts_a();
    let kc = synth::kernel_collection(None, &kexts[6..7], Arch::X86_64, [1; 16], None);
    let mut bytes = kc.clone();
    // Rename the plist's bundle id so it no longer matches the entry.
    let needle = b"<string>com.example.driver.FooNet</string>";
    let at = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
    bytes[at + 8..at + 8 + 3].copy_from_slice(b"org");
    let c = cache::analyze(&bytes, None).unwrap();
    let entry = c.kexts.iter().find(|k| k.bundle_id == "com.example.driver.FooNet").unwrap();
    assert_eq!(entry.uuid, Some(format_uuid(&kexts[6].uuid)));
    assert_eq!(entry.version, None);
    assert!(c.kexts.iter().any(|k| k.bundle_id == "org.example.driver.FooNet"));
}

#[test]
fn plain_kext_executables() {
    let c = open("kexts/FooNet-x86_64");
    assert_eq!(c.kind, CacheKind::MachO);
    assert_eq!(c.filetype, "kext");
    assert_eq!(c.layers, ["mach-o/kext"]);
    assert!(c.kexts.is_empty());
    let fat = open("kexts/FooNet-fat");
    assert_eq!(fat.layers, ["fat[x86_64]", "mach-o/kext"]);
    assert_eq!(fat.slices.len(), 2);
    assert_eq!(fat.slices[0].uuid, c.uuid);
    assert_eq!(fat.slices[1].arch, "arm64e");
    assert_eq!(fat.slices[1].uuid, Some(format_uuid(&synth::uuid_for("FooNet-arm64e"))));
}

#[test]
fn diff_reports_added_removed_version_and_uuid_changes() {
    let a = open("caches/prelinkedkernel-a.fat-lzvn");
    let b = open("caches/prelinkedkernel-b.fat-lzvn");
    let d = kcheck::cache::diff::diff(&a, &b);
    let added: Vec<_> = d.added.iter().map(|k| k.bundle_id.as_str()).collect();
    let removed: Vec<_> = d.removed.iter().map(|k| k.bundle_id.as_str()).collect();
    assert_eq!(added, ["com.example.driver.QuxAudio"]);
    assert_eq!(removed, ["as.vit9696.Lilu"]);
    assert_eq!(d.changed.len(), 2);
    assert_eq!(d.changed[0].bundle_id, "com.example.driver.BarStorage");
    assert_eq!(d.changed[0].changes, ["uuid"]);
    assert_eq!(d.changed[1].bundle_id, "com.example.driver.FooNet");
    assert_eq!(d.changed[1].changes, ["version", "uuid"]);
    assert_eq!(d.changed[1].version_b.as_deref(), Some("1.3.0"));
    assert!(!d.kernel_changed);
    assert!(kcheck::cache::diff::diff(&a, &a).is_empty());
    // Same kexts in another container: identical.
    assert!(kcheck::cache::diff::diff(&a, &open("caches/prelinkedkernel-a.fat-lzss")).is_empty());
}

#[test]
fn version_string_twin_is_skipped() {
    let data = b"xx@(#)VERSION: Darwin Kernel Version 1.0: twin\0Darwin Kernel Version 2.0: real\0";
    assert_eq!(kcheck::macho::find_kernel_version(data).as_deref(), Some("Darwin Kernel Version 2.0: real"));
    assert_eq!(kcheck::macho::find_kernel_version(b"nothing here"), None);
}
