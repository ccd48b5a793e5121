//! Real-world samples from `../shared/realdata` (read in place, never copied
//! into the repo). Every test here says so loudly and passes when that
//! folder is absent; CI has it.
//!
//! Expected UUIDs were read with LIEF 1.0.0 (an independent Mach-O parser);
//! `scripts/crosscheck.py` re-derives them on every CI run.

use crate::common::realdata;
use std::path::Path;

use kcheck::cache::{self, CacheInfo, CacheKind, OpenOptions};
use kcheck::macho::format_uuid;
use kcheck_testkit::synth::{self, Arch, Comp};

fn open(p: &Path, arch: Option<&str>) -> CacheInfo {
    let opts = OpenOptions { arch: arch.map(str::to_string), hash: true };
    cache::open(p, &opts).unwrap_or_else(|e| panic!("{e}"))
}

const IOKITTEST_X86: &str = "B119EF5D-FFDA-304D-9E47-F06BF5280353";
const IOKITTEST_ARM64E: &str = "12A04B95-3276-3061-BFD2-F5787E6CE2E9";
const IOKITTEST_FAT_ARM64: &str = "69BBFBB6-1A42-3464-8B01-86F939D3DBAE";
const IOAUDIOFAMILY: &str = "ADF203B2-80F7-32A7-8EC0-0E24EE8472FB";
const PYIMG4_PAYLOAD: &str = "BBC894E6-E4F6-3F6D-927A-7419128B9DA3";

#[test]
fn real_kext_executables() {
    let Some(rd) = realdata() else { return };
    let b = rd.join("kext_bundles");
    let x86 = open(&b.join("IOKitTest-x86_64.kext/Contents/MacOS/IOKitTest"), None);
    assert_eq!((x86.layers.clone(), x86.arch.clone()), (vec!["mach-o/kext".to_string()], "x86_64".to_string()));
    assert_eq!(x86.uuid.as_deref(), Some(IOKITTEST_X86));
    assert_eq!(x86.kind, CacheKind::MachO);

    let arm = open(&b.join("IOKitTest-arm64e.kext/Contents/MacOS/IOKitTest"), None);
    assert_eq!(arm.arch, "arm64e");
    assert_eq!(arm.uuid.as_deref(), Some(IOKITTEST_ARM64E));

    let fat_path = b.join("IOKitTest-fat-arm64-x86_64.kext/Contents/MacOS/IOKitTest");
    let fat = open(&fat_path, None);
    assert_eq!(fat.layers, ["fat[x86_64]", "mach-o/kext"]);
    let slices: Vec<_> = fat.slices.iter().map(|s| (s.arch.as_str(), s.uuid.as_deref())).collect();
    assert_eq!(slices, [("x86_64", Some(IOKITTEST_X86)), ("arm64", Some(IOKITTEST_FAT_ARM64))]);
    let fat_arm = open(&fat_path, Some("arm64"));
    assert_eq!(fat_arm.layers, ["fat[arm64]", "mach-o/kext"]);
    assert_eq!(fat_arm.uuid.as_deref(), Some(IOKITTEST_FAT_ARM64));

    let audio = open(&b.join("IOAudioFamily-300.6.1.macho"), None);
    assert_eq!(audio.uuid.as_deref(), Some(IOAUDIOFAMILY));
    assert_eq!(audio.filetype, "kext");
}

#[test]
fn real_im4p_and_img4_layers() {
    let Some(rd) = realdata() else { return };
    let d = rd.join("img4");
    let payload_len = std::fs::metadata(d.join("pyimg4-test_payload.bin")).unwrap().len();
    let im4p = open(&d.join("pyimg4-IM4P.bin"), None);
    assert_eq!(im4p.layers, ["im4p[test]", "mach-o/execute"]);
    assert_eq!(im4p.image_size, payload_len);
    assert_eq!(im4p.uuid.as_deref(), Some(PYIMG4_PAYLOAD));
    let img4 = open(&d.join("pyimg4-IMG4.bin"), None);
    assert_eq!(img4.layers, ["img4", "im4p[test]", "mach-o/execute"]);
    assert_eq!(img4.uuid.as_deref(), Some(PYIMG4_PAYLOAD));
    // A manifest and restore info are not payloads: clear errors.
    for name in ["pyimg4-IM4M.bin", "pyimg4-IM4R.bin"] {
        let err = cache::open(&d.join(name), &OpenOptions::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("not IM4P or IMG4") && text.contains("at offset 0x"), "{text}");
        assert_eq!(err.exit_code(), 65);
    }
}

#[test]
fn real_kext_executables_linked_into_synthetic_caches() {
    // The real executables, placed in __PRELINK_TEXT of a synthetic
    // prelinked kernel (x86_64, LZVN) and in a fileset (arm64e, IM4P
    // LZFSE): kcheck must find their real LC_UUIDs there.
    let Some(rd) = realdata() else { return };
    let b = rd.join("kext_bundles");
    let real = |rel: &str, id: &str| {
        let mut k = synth::kexts_a()[6].clone();
        k.bundle_id = id.into();
        k.image = Some(std::fs::read(b.join(rel)).unwrap());
        k
    };
    let x86 = vec![
        real("IOKitTest-x86_64.kext/Contents/MacOS/IOKitTest", "com.mycompany.driver"),
        real("IOAudioFamily-300.6.1.macho", "com.apple.iokit.IOAudioFamily"),
    ];
    let plk = synth::prelinked_kernel(&synth::catalina_kernel(), &x86, Arch::X86_64, [9; 16]);
    let file = synth::fat(&[(Arch::X86_64, &synth::comp(Comp::Lzvn, &plk))], true);
    let c = cache::analyze(&file, None).unwrap();
    let uuid = |id: &str| c.kexts.iter().find(|k| k.bundle_id == id).and_then(|k| k.uuid.clone());
    assert_eq!(uuid("com.mycompany.driver").as_deref(), Some(IOKITTEST_X86));
    assert_eq!(uuid("com.apple.iokit.IOAudioFamily").as_deref(), Some(IOAUDIOFAMILY));

    let arm = vec![real("IOKitTest-arm64e.kext/Contents/MacOS/IOKitTest", "com.mycompany.driver")];
    let kc = synth::kernel_collection(Some(&synth::arm_kernel()), &arm, Arch::Arm64e, [5; 16], None);
    let file = synth::im4p(&kc, synth::Im4pComp::Lzfse, "real");
    let c = cache::analyze(&file, None).unwrap();
    let k = c.kexts.iter().find(|k| k.bundle_id == "com.mycompany.driver").unwrap();
    assert_eq!(k.uuid.as_deref(), Some(IOKITTEST_ARM64E));
    assert_eq!(c.kernel.uuid, Some(format_uuid(&synth::arm_kernel().uuid)));
}
