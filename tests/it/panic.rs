//! Panic reports: every real sample in `../shared/realdata/panics` and
//! `../shared/realdata/panic` against values read off the files by hand,
//! then synthetic logs for each zone-exhaustion generation, the JSON forms,
//! the findings rules, the output shapes, `find_reports` and robustness.

use crate::common::realdata;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use kcheck::check::finding::Severity;
use kcheck::logs::panic::{PanicClass, PanicFormat, PanicReport};

/// Expected facts of one real file.
struct Case {
    file: &'static str,
    format: PanicFormat,
    build: Option<&'static str>,
    kernel_prefix: Option<&'static str>,
    class: PanicClass,
    /// (zone, elements, bytes)
    leak: Option<(&'static str, u64, Option<u64>)>,
    /// (bundle id, third party)
    backtrace: &'static [(&'static str, bool)],
    last: Option<(&'static str, &'static str)>,
    loaded: usize,
    process: Option<&'static str>,
}

const C: Case = Case {
    file: "",
    format: PanicFormat::Text,
    build: None,
    kernel_prefix: None,
    class: PanicClass::Other,
    leak: None,
    backtrace: &[],
    last: None,
    loaded: 0,
    process: None,
};

const ZFS: &[(&str, bool)] = &[("net.lundman.spl", true), ("net.lundman.zfs", true)];
const APFS: &[(&str, bool)] = &[("com.apple.filesystems.apfs", false)];
const NVME: &[(&str, bool)] = &[("com.apple.iokit.IONVMeFamily", false)];

const CASES: &[Case] = &[
    Case {
        file: "panics/01-x86_64-10.14-mojave-iousbfamily.full.panic.txt",
        backtrace: &[("com.apple.iokit.IOUSBFamily", false)],
        ..C
    },
    Case {
        file: "panics/03-x86_64-10.15.6-zone-map-exhausted-kalloc48.excerpt.txt",
        class: PanicClass::ZoneExhaustion,
        leak: Some(("kalloc.48", 137_228_148, Some(6_586_956_000))),
        backtrace: &[("com.apple.iokit.IOAcceleratorFamily2", false)],
        ..C
    },
    Case {
        file: "panics/04-x86_64-10.15.6-zone-map-exhausted-kalloc80-apfs.excerpt.txt",
        class: PanicClass::ZoneExhaustion,
        leak: Some(("kalloc.80", 37_047_870, Some(2_963_830_320))),
        backtrace: APFS,
        ..C
    },
    Case {
        file: "panics/06-x86_64-10.9-zone-map-exhausted-kalloc256-zfs.excerpt.txt",
        class: PanicClass::ZoneExhaustion,
        leak: Some(("kalloc.256", 15_163_226, Some(3_888_533_504))),
        backtrace: ZFS,
        ..C
    },
    Case {
        file: "panics/07-x86_64-10.9.2-13C64-zone-map-exhausted-socket.excerpt.txt",
        build: Some("13C64"),
        kernel_prefix: Some("Darwin Kernel Version 13.1.0: Thu Jan 16"),
        class: PanicClass::ZoneExhaustion,
        leak: Some(("socket", 6_142_520, Some(5_847_679_040))),
        process: Some("vpnserver"),
        ..C
    },
    Case {
        file: "panics/08-x86_64-10.12.6-16G1036-panic-report-header-zone-socket.excerpt.txt",
        build: Some("16G1036"),
        kernel_prefix: Some("Darwin Kernel Version 16.7.0: Wed Oct  4"),
        class: PanicClass::ZoneExhaustion,
        leak: Some(("socket", 6_193_458, Some(5_896_172_016))),
        process: Some("vpnserver"),
        ..C
    },
    Case {
        file: "panics/09-x86_64-10.15.7-tcp_lock-third-party-kext.excerpt.txt",
        backtrace: &[("com.adguard.nfext", true)],
        ..C
    },
    Case {
        file: "panics/10-x86_64-legacy-last-loaded-and-loaded-kexts-tab.excerpt.txt",
        last: Some(("org.virtualbox.kext.VBoxNetAdp", "4.3.18")),
        loaded: 26,
        ..C
    },
    Case {
        file: "panics/12-x86_64-12.5.1-panicked-task-header.excerpt.txt",
        class: PanicClass::Trap,
        process: Some("Bitwarden Helper"),
        ..C
    },
    Case { file: "panics/13-x86_64-15-process-name-new-format.excerpt.txt", process: Some("kernel_task"), ..C },
    Case {
        file: "panics/14-arm64-12.3.1-21E258-T6000.excerpt.txt",
        build: Some("21E258"),
        kernel_prefix: Some("Darwin Kernel Version 21.4.0:"),
        ..C
    },
    Case {
        file: "panics/15-arm64-14.5-23F79-T6031.excerpt.txt",
        build: Some("23F79"),
        kernel_prefix: Some("Darwin Kernel Version 23.5.0: Wed May  1"),
        ..C
    },
    Case { file: "panics/16a-arm64-15.5-24F74-T6000-panic-line.excerpt.txt", class: PanicClass::Trap, ..C },
    Case {
        file: "panics/16b-arm64-15.5-24F74-T6000-header.excerpt.txt",
        build: Some("24F74"),
        kernel_prefix: Some("Darwin Kernel Version 24.5.0:"),
        ..C
    },
    Case {
        file: "panics/16c-arm64-15.5-24F74-T6000-panicked-task.excerpt.txt",
        process: Some("com.adguard.mac.adguard.network-"),
        ..C
    },
    Case {
        file: "panics/18-arm64-26.3-25D125-zone-map-exhausted-data-kalloc-1024.wrapped.excerpt.txt",
        class: PanicClass::ZoneExhaustion,
        leak: Some(("data.kalloc.1024", 20_787_632, Some(19 << 30))),
        ..C
    },
    Case {
        file: "panics/20-x86_64-11plus-element-modified-default-kalloc.excerpt.txt",
        class: PanicClass::ZoneCorruption,
        ..C
    },
    // Only the symbolised backtrace survives in this excerpt: the kexts
    // come from the frames' owners.
    Case { file: "panics/21-x86_64-10.8-zalloc-retry-fail-kalloc1024.excerpt.txt", backtrace: ZFS, ..C },
    Case {
        file: "panic/bigsur-11.3-x86_nvme.txt",
        build: Some("20E232"),
        kernel_prefix: Some("Darwin Kernel Version 20.4.0:"),
        backtrace: NVME,
        process: Some("kernel_task"),
        ..C
    },
    // The header says 19H2026 (the system that wrote the file); the log
    // itself is from 21G651 (kernel 21.6.0).
    Case {
        file: "panic/catalina-json_nvme-timeout_2023-09-08.panic",
        format: PanicFormat::JsonIntel,
        build: Some("21G651"),
        kernel_prefix: Some("Darwin Kernel Version 21.6.0:"),
        backtrace: NVME,
        process: Some("kernel_task"),
        ..C
    },
    Case {
        file: "panic/excerpt-cputune-18-catalina-zone-leak-kalloc80-apfs.txt",
        class: PanicClass::ZoneExhaustion,
        leak: Some(("kalloc.80", 37_047_870, Some(2_963_830_320))),
        backtrace: APFS,
        ..C
    },
    Case {
        file: "panic/excerpt-karabiner-archived-644-yosemite-zone-leak-kalloc1024.txt",
        build: Some("14F27"),
        kernel_prefix: Some("Darwin Kernel Version 14.5.0:"),
        class: PanicClass::ZoneExhaustion,
        leak: Some(("kalloc.1024", 5_264_945, Some(5_391_306_752))),
        process: Some("WindowServer"),
        ..C
    },
    // The list's last line is cut off mid-id (no version): not counted.
    Case {
        file: "panic/excerpt-karabiner-elements-1660-high-sierra-last-loaded-kext.txt",
        last: Some(("com.apple.driver.usb.cdc", "5.0.0")),
        loaded: 26,
        ..C
    },
    Case {
        file: "panic/excerpt-openzfsonosx-zfs-132-mavericks-zone-leak-kalloc256.txt",
        class: PanicClass::ZoneExhaustion,
        leak: Some(("kalloc.256", 15_163_226, Some(3_888_533_504))),
        backtrace: ZFS,
        ..C
    },
];

fn sample_files(rd: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["panics", "panic"] {
        for e in std::fs::read_dir(rd.join(dir)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with("SOURCES") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_real_sample() {
    let Some(rd) = realdata() else { return };
    let files = sample_files(&rd);
    let listed: Vec<PathBuf> = CASES.iter().map(|c| rd.join(c.file)).collect();
    for f in &files {
        assert!(listed.contains(f), "no expectation for {}", f.display());
    }
    assert_eq!(files.len(), CASES.len(), "a listed sample is missing");
    for c in CASES {
        let path = rd.join(c.file);
        let text = std::fs::read_to_string(&path).unwrap();
        let r = kcheck::logs::panic::parse(&text, c.file).unwrap_or_else(|e| panic!("{}: {e}", c.file));
        let f = c.file;
        assert_eq!(r.file, f);
        assert_eq!(r.format, c.format, "{f}: format");
        assert_eq!(r.build.as_deref(), c.build, "{f}: build");
        match c.kernel_prefix {
            Some(k) => {
                assert!(r.kernel_version.as_deref().unwrap_or("").starts_with(k), "{f}: kernel {:?}", r.kernel_version)
            }
            None => assert_eq!(r.kernel_version, None, "{f}: kernel"),
        }
        assert_eq!(r.panic_class, c.class, "{f}: class");
        match c.leak {
            Some((zone, elements, bytes)) => {
                assert_eq!(r.leak_zone.as_deref(), Some(zone), "{f}: leak zone");
                assert_eq!(r.leak_elements, Some(elements), "{f}: leak elements");
                assert_eq!(r.leak_bytes, bytes, "{f}: leak bytes");
            }
            None => {
                assert_eq!(r.leak_zone, None, "{f}");
                assert_eq!(r.leak_elements, None, "{f}");
            }
        }
        let bt: Vec<(&str, bool)> =
            r.kexts_in_backtrace.iter().map(|k| (k.bundle_id.as_str(), k.third_party)).collect();
        assert_eq!(bt, c.backtrace, "{f}: kexts in backtrace");
        let last = r.last_loaded_kext.as_ref().map(|k| (k.bundle_id.as_str(), k.version.as_deref().unwrap_or("")));
        assert_eq!(last, c.last, "{f}: last loaded kext");
        assert_eq!(r.loaded_kexts.len(), c.loaded, "{f}: loaded kexts");
        assert_eq!(r.process.as_deref(), c.process, "{f}: process");
    }
}

#[test]
fn real_sample_details() {
    let Some(rd) = realdata() else { return };
    let read = |f: &str| {
        let t = std::fs::read_to_string(rd.join(f)).unwrap();
        kcheck::logs::panic::parse(&t, f).unwrap()
    };
    let json = read("panic/catalina-json_nvme-timeout_2023-09-08.panic");
    assert_eq!(json.timestamp.as_deref(), Some("2023-09-08 20:40:16.84 -0700"));
    assert_eq!(json.reporter_build.as_deref(), Some("19H2026"));
    assert_eq!(json.architecture.as_deref(), Some("x86_64"));
    assert_eq!(json.model.as_deref(), Some("MacBookPro16,3"));
    assert_eq!(json.panic_location.as_deref(), Some("IONVMeController.cpp:6090"));
    let nvme = &json.kexts_in_backtrace[0];
    assert_eq!(nvme.version.as_deref(), Some("2.1"));
    assert_eq!(nvme.uuid.as_deref(), Some("392A4540-D459-37E7-B7CA-E8AB48B4C526"));

    let wrapped = read("panics/18-arm64-26.3-25D125-zone-map-exhausted-data-kalloc-1024.wrapped.excerpt.txt");
    assert_eq!(
        wrapped.panic_message.as_deref(),
        Some(
            "zalloc[3]: zone map exhausted while allocating from zone [data.kalloc.1024], \
             likely due to memory leak in zone [data.kalloc.1024] (19G, 20787632 elements \
             allocated)"
        )
    );
    assert_eq!(wrapped.panic_location.as_deref(), Some("zalloc.c:4534"));
    assert_eq!(wrapped.leak_size.as_deref(), Some("19G"));
    assert_eq!(wrapped.architecture.as_deref(), Some("arm64"));

    let k48 = read("panics/03-x86_64-10.15.6-zone-map-exhausted-kalloc48.excerpt.txt");
    assert_eq!(k48.allocating_zone.as_deref(), Some("kalloc.12288"));
    assert_eq!(k48.xnu_version.as_deref(), Some("6153.141.1"));
    assert_eq!(k48.panic_cpu, Some(8));

    let bigsur = read("panic/bigsur-11.3-x86_nvme.txt");
    // The message spans two lines in the log (a real newline in the string).
    let m = bigsur.panic_message.unwrap();
    assert!(m.starts_with("nvme: \"Fatal error occurred."), "{m}");
    assert!(m.ends_with("FW Revision=3L1QFXV7\""), "{m}");

    let tcp = read("panics/09-x86_64-10.15.7-tcp_lock-third-party-kext.excerpt.txt");
    assert!(!tcp.panic_message.unwrap().contains("\\n"));

    let hs = read("panic/excerpt-karabiner-elements-1660-high-sierra-last-loaded-kext.txt");
    let third: Vec<&str> = hs.loaded_kexts.iter().filter(|k| k.third_party).map(|k| k.bundle_id.as_str()).collect();
    assert_eq!(third, ["org.pqrs.driver.Karabiner.VirtualHIDDevice.v060800"]);
    assert_eq!(hs.loaded_kexts[0].version.as_deref(), Some("6.8.0"));

    let sierra = read("panics/08-x86_64-10.12.6-16G1036-panic-report-header-zone-socket.excerpt.txt");
    assert_eq!(sierra.timestamp.as_deref(), Some("Sun Nov 19 06:49:49 2017"));
    assert_eq!(sierra.kernel_uuid.as_deref(), Some("F487A842-6E21-37AB-83C3-83F951218734"));

    let corrupt = read("panics/20-x86_64-11plus-element-modified-default-kalloc.excerpt.txt");
    assert_eq!(corrupt.corrupted_zone.as_deref(), Some("default.kalloc.4096"));
}

// ---------------------------------------------------------------------------
// Bundle id compaction

#[test]
fn compacted_ids_expand() {
    let table = [
        (">!AHDA", "com.apple.driver.AppleHDA"),
        (">!A!IKBLGraphics", "com.apple.driver.AppleIntelKBLGraphics"),
        (">!UHostCompositeDevice", "com.apple.driver.AppleUSBHostCompositeDevice"),
        ("|IO!S!F", "com.apple.iokit.IOStorageFamily"),
        ("|IO!BFamily", "com.apple.iokit.IOBluetoothFamily"),
        ("|IO!B!F", "com.apple.iokit.IOBluetoothFamily"),
        (">!AHDA!C", "com.apple.driver.AppleHDAController"),
        ("$sandbox", "com.apple.security.sandbox"),
        ("@filesystems.apfs", "com.apple.filesystems.apfs"),
        ("@kec.corecrypto", "com.apple.kec.corecrypto"),
        ("com.apple.driver.AppleHDA", "com.apple.driver.AppleHDA"),
        ("com.parallels.kext.hypervisor", "com.parallels.kext.hypervisor"),
        // Unknown code: left as it is.
        (">!Zfoo", "com.apple.driver.!Zfoo"),
        ("", ""),
    ];
    for (compact, full) in table {
        assert_eq!(kcheck::logs::panic::expand_bundle_id(compact), full, "{compact}");
    }
    assert!(kcheck::logs::panic::is_third_party("org.virtualbox.kext.VBoxDrv"));
    assert!(!kcheck::logs::panic::is_third_party(&kcheck::logs::panic::expand_bundle_id(">!AHDA")));
}

const INTEL_COMPACT: &str = "\
panic(cpu 2 caller 0xffffff800c76aad5): \"userspace watchdog timeout: no successful checkins from WindowServer\"@/BuildRoot/xnu-4903.201.2/osfmk/kern/x.c:12
Backtrace (CPU 2), Frame : Return Address
0xffffff81f8af3c00 : 0xffffff800c72ad21 
      Kernel Extensions in backtrace:
         com.vendor.driver.Thing(1.2.3)[11111111-2222-3333-4444-555555555555]@0xffffff7f80000000->0xffffff7f80001fff
            dependency: com.apple.iokit.IOPCIFamily(2.9)[2CE7BCB3-0766-3A94-A8D4-29BF3EBAEFBC]@0xffffff7f97c95000

BSD process name corresponding to current thread: watchdogd

Mac OS version:
18G103

Kernel version:
Darwin Kernel Version 18.7.0: Tue Aug 20 16:57:14 PDT 2019; root:xnu-4903.271.2~2/RELEASE_X86_64
Kernel UUID: 3C4B2C1B-B8F8-3C2B-A8B9-0B2D6AF8A2D4
System model name: iMac18,3 (Mac-BE088AF8C5EB4FA2)

last loaded kext at 5475089206: >!AHDA!C\t282.10 (addr 0xffffff7f99bfe000, size 28672)
last unloaded kext at 93660170880: >!UHostCompositeDevice\t1.2 (addr 0xffffff7f994cb000, size 36864)
loaded kexts:
com.parallels.kext.hypervisor\t14.0.1 45154
com.vendor.driver.Thing\t1.2.3
>!AHDA\t282.10
|IO!S!F\t2.1
@filesystems.apfs\t945.275.7
$sandbox\t300.0

Model: iMac18,3, BootROM 220.0.0.0.0, 4 processors
";

#[test]
fn intel_text_with_compacted_lists() {
    let r = kcheck::logs::panic::parse(INTEL_COMPACT, "k.panic").unwrap();
    assert_eq!(r.format, PanicFormat::Text);
    assert_eq!(r.panic_class, PanicClass::Watchdog);
    assert_eq!(r.build.as_deref(), Some("18G103"));
    assert_eq!(r.xnu_version.as_deref(), Some("4903.271.2"));
    assert_eq!(r.model.as_deref(), Some("iMac18,3"));
    assert_eq!(r.process.as_deref(), Some("watchdogd"));
    let last = r.last_loaded_kext.as_ref().unwrap();
    assert_eq!(last.bundle_id, "com.apple.driver.AppleHDAController");
    assert_eq!(last.version.as_deref(), Some("282.10"));
    let ids: Vec<(&str, &str, bool)> =
        r.loaded_kexts.iter().map(|k| (k.bundle_id.as_str(), k.version.as_deref().unwrap(), k.third_party)).collect();
    assert_eq!(
        ids,
        [
            ("com.parallels.kext.hypervisor", "14.0.1 45154", true),
            ("com.vendor.driver.Thing", "1.2.3", true),
            ("com.apple.driver.AppleHDA", "282.10", false),
            ("com.apple.iokit.IOStorageFamily", "2.1", false),
            ("com.apple.filesystems.apfs", "945.275.7", false),
            ("com.apple.security.sandbox", "300.0", false),
        ]
    );
    assert_eq!(r.kexts_in_backtrace.len(), 1, "dependencies are not in the list");
    assert_eq!(r.kexts_in_backtrace[0].uuid.as_deref(), Some("11111111-2222-3333-4444-555555555555"));
    assert!(r.kexts_in_backtrace[0].third_party);
}

// ---------------------------------------------------------------------------
// Zone exhaustion, every generation

fn one_line(msg: &str) -> PanicReport {
    let text = format!("panic(cpu 0 caller 0xffffff8000000000): {msg}\n");
    kcheck::logs::panic::parse(&text, "t").unwrap()
}

fn leak(r: &PanicReport) -> (PanicClass, Option<&str>, Option<u64>, Option<u64>) {
    (r.panic_class, r.leak_zone.as_deref(), r.leak_elements, r.leak_bytes)
}

#[test]
fn zone_exhaustion_generations() {
    use PanicClass::ZoneExhaustion as Z;
    // ≤ 10.8 (xnu-2050), as quoted in openzfsonosx/zfs#30.
    let r = one_line(
        r#""zalloc: \"kalloc.1024\" (100535 elements) retry fail 3, kfree_nop_count: 0"@/SourceCache/xnu/xnu-2050.7.9/osfmk/kern/zalloc.c:1826"#,
    );
    assert_eq!(leak(&r), (Z, Some("kalloc.1024"), Some(100_535), None));
    assert_eq!(r.xnu_version.as_deref(), Some("2050.7.9"));
    assert_eq!(
        r.panic_message.as_deref(),
        Some(r#"zalloc: "kalloc.1024" (100535 elements) retry fail 3, kfree_nop_count: 0"#)
    );
    // 10.9 – 10.15, plain and with thousands separators.
    let r = one_line(
        "\"zalloc: zone map exhausted while allocating from zone kalloc.12288, likely due to memory leak in zone kalloc.48 (6586956000 total bytes, 137228148 elements allocated)\"@/x/zalloc.c:3627",
    );
    assert_eq!(leak(&r), (Z, Some("kalloc.48"), Some(137_228_148), Some(6_586_956_000)));
    let r = one_line(
        "\"zalloc: zone map exhausted while allocating from zone kalloc.12288, likely due to memory leak in zone kalloc.48 (6,676,135,520 total bytes, 139,085,865 elements allocated)\"@/x/zalloc.c:3627",
    );
    assert_eq!(leak(&r), (Z, Some("kalloc.48"), Some(139_085_865), Some(6_676_135_520)));
    // A zone name with spaces (10.x prints it raw).
    let r = one_line(
        "\"zalloc: zone map exhausted while allocating from zone VM map entries, likely due to memory leak in zone vm objects (1000 total bytes, 10 elements allocated)\"@/x/zalloc.c:1",
    );
    assert_eq!(leak(&r), (Z, Some("vm objects"), Some(10), Some(1000)));
    assert_eq!(r.allocating_zone.as_deref(), Some("VM map entries"));
    // 11 (xnu-7195): brackets with heap prefix, size in M.
    let r = one_line(
        "zalloc: zone map exhausted while allocating from zone [default.kalloc.4096], likely due to memory leak in zone [default.kalloc.48] (512M, 11184810 elements allocated) @zalloc.c:3921",
    );
    assert_eq!(leak(&r), (Z, Some("default.kalloc.48"), Some(11_184_810), Some(512 << 20)));
    // 12 (xnu-8019/8020): zalloc[kr].
    let r = one_line(
        "zalloc[3]: zone map exhausted while allocating from zone [data.kalloc.128], likely due to memory leak in zone [VM map entries] (1536M, 20132659 elements allocated) @zalloc.c:4100",
    );
    assert_eq!(leak(&r), (Z, Some("VM map entries"), Some(20_132_659), Some(1536 << 20)));
    // 13+ (xnu-8792+): pretty size with unit.
    let r = one_line(
        "zalloc[3]: zone map exhausted while allocating from zone [shared.kalloc.32], likely due to memory leak in zone [data.kalloc.1024] (20G, 21202480 elements allocated) @zalloc.c:4534",
    );
    assert_eq!(leak(&r), (Z, Some("data.kalloc.1024"), Some(21_202_480), Some(20 << 30)));
    assert_eq!(r.leak_size.as_deref(), Some("20G"));
    // 13+: zba_populate, no sizes.
    let r = one_line(
        "zba_populate: out of bitmap space, likely due to memory leak in zone [kalloc.type3.64] @zalloc.c:2200",
    );
    assert_eq!(leak(&r), (Z, Some("kalloc.type3.64"), None, None));
}

#[test]
fn other_classes() {
    let cases = [
        (
            "watchdog timeout: no checkins from watchdogd in 91 seconds (30 total checkins since monitoring last enabled)",
            PanicClass::Watchdog,
        ),
        ("userspace watchdog timeout: no successful checkins from WindowServer", PanicClass::Watchdog),
        ("Kernel trap at 0xffffff7f8a2b3c4d, type 13=general protection, registers:", PanicClass::Trap),
        ("Kernel data abort. at pc 0xfffffe002c44cd9c, lr 0x5ff0fe002c25484c", PanicClass::Trap),
        (
            "\"a freed zone element has been modified in zone kalloc.64: expected 0xdeadbeef but found 0x0\"@/x/zalloc.c:1",
            PanicClass::ZoneCorruption,
        ),
        (
            "[data.kalloc.32]: element modified after free (off:0, val:0x1, sz:32, ptr:0x2) @zalloc.c:1",
            PanicClass::ZoneCorruption,
        ),
        ("\"IOGMD: not wired for the IODMACommand\"@/x/IOMemoryDescriptor.cpp:2337", PanicClass::Other),
    ];
    for (msg, class) in cases {
        assert_eq!(one_line(msg).panic_class, class, "{msg}");
    }
    let r = one_line(
        "\"a freed zone element has been modified in zone kalloc.64: expected 0xdeadbeef but found 0x0\"@/x/zalloc.c:1",
    );
    assert_eq!(r.corrupted_zone.as_deref(), Some("kalloc.64"));
}

// ---------------------------------------------------------------------------
// JSON forms and errors

#[test]
fn json_arm_form() {
    let header = r#"{"bug_type":"210","timestamp":"2024-05-01 10:00:00.00 +0200","os_version":"macOS 14.5 (23F79)","incident_id":"X"}"#;
    let body = serde_json::json!({
        "build": "macOS 14.5 (23F79)",
        "product": "Mac14,6",
        "kernel": "Darwin Kernel Version 23.5.0: Wed May  1 20:17:33 PDT 2024; root:xnu-10063.121.3~5/RELEASE_ARM64_T6031",
        "macOSPanicString": "not yet set",
        "panicString": "panic(cpu 0 caller 0xfffffe001f094a8c): Kernel data abort. at pc 0x1, lr 0x2 @arm_vm_init.c:1\nPanicked task 0xfffffe3000b3eb28: 44594 pages, 26 threads: pid 2469: Finder\nlast started kext at 123: com.example.driver\t1.0 (addr 0xfffffe0000000000, size 4096)\nloaded kexts:\ncom.example.driver\t1.0\ncom.apple.iokit.IOPCIFamily\t2.9\n",
    });
    let text = format!("{header}\n{}\n", serde_json::to_string_pretty(&body).unwrap());
    let r = kcheck::logs::panic::parse(&text, "panic-full-2024.ips").unwrap();
    assert_eq!(r.format, PanicFormat::JsonArm);
    assert_eq!(r.build.as_deref(), Some("23F79"));
    assert_eq!(r.model.as_deref(), Some("Mac14,6"));
    assert_eq!(r.architecture.as_deref(), Some("arm64"));
    assert_eq!(r.panic_class, PanicClass::Trap);
    assert_eq!(r.process.as_deref(), Some("Finder"));
    assert_eq!(r.timestamp.as_deref(), Some("2024-05-01 10:00:00.00 +0200"));
    assert_eq!(r.last_loaded_kext.as_ref().unwrap().bundle_id, "com.example.driver");
    assert_eq!(r.loaded_kexts.len(), 2);
    assert!(r.kernel_version.unwrap().starts_with("Darwin Kernel Version 23.5.0"));
}

#[test]
fn bad_input_is_an_error() {
    let cases: &[(&str, u64)] = &[
        ("", 0),
        ("   \n\n", 0),
        ("hello world\nthis is not a panic\n", 0),
        ("Model: MacBookPro16,3, BootROM 1\n", 0),
    ];
    for (text, offset) in cases {
        let e = kcheck::logs::panic::parse(text, "x").unwrap_err();
        assert_eq!(e.layer, "panic");
        assert_eq!(e.offset, *offset, "{text:?}");
    }
    // Broken JSON: the offset points into the file.
    let header = r#"{"bug_type":"210","os_version":"macOS 12.5 (21G72)"}"#;
    let broken = format!("{header}\n{{\"panicString\": \"panic(cpu 0 caller 0x1): x\", ");
    let e = kcheck::logs::panic::parse(&broken, "x").unwrap_err();
    assert_eq!(e.layer, "panic");
    assert!(e.offset as usize > header.len(), "{e}");
    assert!(e.offset as usize <= broken.len(), "{e}");
    let e = kcheck::logs::panic::parse(r#"{"bug_type": 210, oops}"#, "x").unwrap_err();
    assert_eq!(e.offset, 18, "{e}");
    // A header alone, or a body without a log.
    let e = kcheck::logs::panic::parse(header, "x").unwrap_err();
    assert!(e.message.contains("without a report body"), "{e}");
    let e = kcheck::logs::panic::parse(&format!("{header}\n{{\"notes\": []}}"), "x").unwrap_err();
    assert!(e.message.contains("panicString"), "{e}");
    assert_eq!(e.offset as usize, header.len());
    let e = kcheck::logs::panic::parse(&format!("{header}\n[1, 2]"), "x").unwrap_err();
    assert!(e.message.contains("not an object"), "{e}");
}

// ---------------------------------------------------------------------------
// Findings

const LEAK_19G73: &str = "\
panic(cpu 8 caller 0xffffff80017729eb): \"zalloc: zone map exhausted while allocating from zone kalloc.12288, likely due to memory leak in zone kalloc.48 (6586956000 total bytes, 137228148 elements allocated)\"@/AppleInternal/BuildRoot/Library/Caches/com.apple.xbs/Sources/xnu/xnu-6153.141.1/osfmk/kern/zalloc.c:3627
Backtrace (CPU 8), Frame : Return Address
      Kernel Extensions in backtrace:
         com.vmware.kext.vmx86(1.0)[AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE]@0xffffff7f85909000->0xffffff7f859ccfff

BSD process name corresponding to current thread: vmware-vmx

Mac OS version:
19G73

Kernel version:
Darwin Kernel Version 19.6.0: Sun Jul  5 00:43:10 PDT 2020; root:xnu-6153.141.1~9/RELEASE_X86_64
";

#[test]
fn pn001_ties_19g73_to_the_known_leak() {
    let r = kcheck::logs::panic::parse(LEAK_19G73, "Kernel_2020-08-10.panic").unwrap();
    let f = kcheck::check::panics::findings(std::slice::from_ref(&r), Some("19G73"));
    let codes: Vec<&str> = f.iter().map(|x| x.code.as_str()).collect();
    assert_eq!(codes, ["PN001", "PN002"]);
    let pn1 = &f[0];
    assert_eq!(pn1.severity, Severity::Error);
    assert_eq!(pn1.subject, "Kernel_2020-08-10.panic");
    assert_eq!(pn1.evidence["leak_zone"], "kalloc.48");
    assert_eq!(pn1.evidence["leak_elements"], 137_228_148u64);
    assert_eq!(pn1.evidence["leak_bytes"], 6_586_956_000u64);
    assert_eq!(pn1.evidence["build"], "19G73");
    assert_eq!(pn1.evidence["current"], true);
    assert_eq!(pn1.evidence["known_issue"], "catalina-10.15.6-zone-leak");
    assert!(pn1.message.contains("catalina-10.15.6-zone-leak"), "{}", pn1.message);
    assert!(pn1.remedy.contains("19G2021"), "{}", pn1.remedy);
    let pn2 = &f[1];
    assert_eq!(pn2.severity, Severity::Warning);
    assert_eq!(pn2.evidence["kexts"][0]["bundle_id"], "com.vmware.kext.vmx86");
    assert_eq!(pn2.evidence["kexts"][0]["uuid"], "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE");
    assert!(pn2.remedy.contains("vendor"));
}

#[test]
fn pn003_marks_history_without_lowering_severity() {
    let r = kcheck::logs::panic::parse(LEAK_19G73, "old.panic").unwrap();
    let f = kcheck::check::panics::findings(std::slice::from_ref(&r), Some("19G2021"));
    let got: Vec<(&str, Severity)> = f.iter().map(|x| (x.code.as_str(), x.severity)).collect();
    assert_eq!(got, [("PN001", Severity::Error), ("PN002", Severity::Warning), ("PN003", Severity::Info)]);
    for x in &f[..2] {
        assert_eq!(x.evidence["current"], false, "{}", x.code);
        assert!(x.message.contains("from an earlier build"), "{}", x.message);
    }
    assert_eq!(f[2].evidence["report_build"], "19G73");
    assert_eq!(f[2].evidence["installed_build"], "19G2021");
    // No installed build, or no build in the report: no PN003, current null.
    let f = kcheck::check::panics::findings(std::slice::from_ref(&r), None);
    assert!(f.iter().all(|x| x.code != "PN003"));
    assert!(f[0].evidence["current"].is_null());
}

#[test]
fn pn001_without_known_issue_points_at_kexts() {
    let r = one_line(
        "zalloc[3]: zone map exhausted while allocating from zone [data.kalloc.1024], likely due to memory leak in zone [data.kalloc.1024] (19G, 20787632 elements allocated) @zalloc.c:4534",
    );
    let f = kcheck::check::panics::findings(&[r], Some("25D125"));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, "PN001");
    assert!(f[0].evidence.get("known_issue").is_none());
    assert!(f[0].remedy.contains("third-party kexts in the backtrace"));
    assert!(f[0].remedy.contains("Apple"));
    // Nothing for an Apple-only, non-zone panic on the installed build.
    let r = one_line("\"IOGMD: not wired\"@/x/IOMemoryDescriptor.cpp:2337");
    assert!(kcheck::check::panics::findings(&[r], Some("18A391")).is_empty());
}

// ---------------------------------------------------------------------------
// Output

#[test]
fn json_shape() {
    let r = kcheck::logs::panic::parse(LEAK_19G73, "k.panic").unwrap();
    let f = kcheck::check::panics::findings(std::slice::from_ref(&r), Some("19G2021"));
    let v = kcheck::report::panic::to_json(&[r], &f);
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["reports", "findings"]);
    let rep = v["reports"][0].as_object().unwrap();
    let keys: Vec<&str> = rep.keys().map(String::as_str).collect();
    let design = [
        "file",
        "format",
        "timestamp",
        "build",
        "kernel_version",
        "panic_class",
        "panic_message",
        "leak_zone",
        "leak_elements",
        "leak_bytes",
        "process",
        "kexts_in_backtrace",
        "last_loaded_kext",
        "loaded_kexts",
    ];
    assert_eq!(&keys[..design.len()], design);
    assert_eq!(rep["format"], "text");
    assert_eq!(rep["panic_class"], "zone-exhaustion");
    assert_eq!(rep["build"], "19G73");
    assert!(rep["timestamp"].is_null());
    assert!(rep["last_loaded_kext"].is_null());
    assert_eq!(rep["loaded_kexts"], serde_json::json!([]));
    let k = rep["kexts_in_backtrace"][0].as_object().unwrap();
    let kk: Vec<&str> = k.keys().map(String::as_str).collect();
    assert_eq!(kk, ["bundle_id", "version", "uuid", "third_party"]);
    let finding = v["findings"][0].as_object().unwrap();
    for key in ["code", "severity", "subject", "message", "evidence", "remedy"] {
        assert!(finding.contains_key(key), "{key}");
    }
    assert_eq!(v["findings"][0]["severity"], "error");
    let other = kcheck::logs::panic::parse(INTEL_COMPACT, "x").unwrap();
    let v = kcheck::report::panic::to_json(&[other], &[]);
    let last = v["reports"][0]["last_loaded_kext"].as_object().unwrap();
    assert!(last.contains_key("bundle_id") && last.contains_key("version"));
    assert_eq!(v["reports"][0]["loaded_kexts"][0]["version"], "14.0.1 45154");
}

#[test]
fn text_output_fits_80_columns() {
    let reports = vec![
        kcheck::logs::panic::parse(
            LEAK_19G73,
            "/Library/Logs/DiagnosticReports/Kernel_2020-08-10-101010_Some-Very-Long-Host-Name-That-Goes-On.panic",
        )
        .unwrap(),
        kcheck::logs::panic::parse(INTEL_COMPACT, "b.panic").unwrap(),
    ];
    let f = kcheck::check::panics::findings(&reports, Some("19G2021"));
    let mut out = Vec::new();
    kcheck::report::panic::write_text(&mut out, kcheck::report::Style::PLAIN, &reports, &f).unwrap();
    let text = String::from_utf8(out).unwrap();
    for line in text.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line:?}");
    }
    for needle in [
        "zone-exhaustion",
        "kalloc.48: 137228148 elements, 6586956000 bytes",
        "com.vmware.kext.vmx86 1.0  third-party",
        "com.apple.driver.AppleHDAController 282.10",
        "ERRORS (1)",
        "WARNINGS (2)",
        "INFO (2)",
        "PN001",
        "Remedy:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let mut out = Vec::new();
    kcheck::report::panic::write_text(&mut out, kcheck::report::Style::PLAIN, &[], &[]).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("No findings."));
}

// ---------------------------------------------------------------------------
// find_reports

fn touch(dir: &Path, name: &str, age_secs: u64) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, "panic(cpu 0 caller 0x1): x\n").unwrap();
    let f = std::fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(age_secs)).unwrap();
    p
}

#[test]
fn find_reports_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let d = tmp.path();
    touch(d, "Kernel_2019-01-01-000000_mac.panic", 3000);
    touch(d, "panic-full-2022-05-05-101010.0001.ips", 100);
    touch(d, "Kernel-2021-02-02-020202.ips", 2000);
    touch(d, "kernel.panic.txt", 1000);
    touch(d, "panic-full-2022-05-05-101010.0002.panic", 100);
    touch(d, "Safari_2022-01-01.ips", 10);
    touch(d, "notes.txt", 10);
    std::fs::create_dir(d.join("Retired")).unwrap();
    touch(&d.join("Retired"), "Kernel_2018-01-01-000000_mac.panic", 4000);
    std::fs::create_dir(d.join("dir.panic")).unwrap();
    let secret = touch(outside.path(), "secret.panic", 1);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&secret, d.join("escape.panic")).unwrap();
        std::os::unix::fs::symlink(d.join("kernel.panic.txt"), d.join("Kernel_link.panic")).unwrap();
    }
    let names = |v: Vec<PathBuf>| -> Vec<String> {
        v.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect()
    };
    let got = names(kcheck::logs::panic::find_reports(d, 100));
    let mut want = vec!["panic-full-2022-05-05-101010.0002.panic", "panic-full-2022-05-05-101010.0001.ips"];
    if cfg!(unix) {
        // Inside the folder: followed (it has the target's mtime).
        want.push("kernel.panic.txt");
        want.push("Kernel_link.panic");
    } else {
        want.push("kernel.panic.txt");
    }
    want.extend([
        "Kernel-2021-02-02-020202.ips",
        "Kernel_2019-01-01-000000_mac.panic",
        "Kernel_2018-01-01-000000_mac.panic",
    ]);
    assert_eq!(got, want);
    assert_eq!(names(kcheck::logs::panic::find_reports(d, 2)), &want[..2]);
    assert!(kcheck::logs::panic::find_reports(&d.join("missing"), 10).is_empty());
}

// ---------------------------------------------------------------------------
// Robustness

/// xorshift64*: deterministic noise without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn samples() -> Vec<String> {
    let mut all = vec![INTEL_COMPACT.to_string(), LEAK_19G73.to_string()];
    if let Some(rd) = realdata() {
        for f in sample_files(&rd) {
            all.push(std::fs::read_to_string(f).unwrap());
        }
    }
    all
}

#[test]
fn never_panics_on_truncations_and_garbage() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for text in samples() {
        // Every prefix and a sample of suffixes (starting mid-report).
        for cut in 0..=text.len() {
            if text.is_char_boundary(cut) {
                let _ = kcheck::logs::panic::parse(&text[..cut], "t");
                if cut % 7 == 0 {
                    let _ = kcheck::logs::panic::parse(&text[cut..], "t");
                }
            }
        }
        // Random byte damage.
        for _ in 0..200 {
            let mut bytes = text.clone().into_bytes();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(bytes.len());
                if let Some(b) = bytes.get_mut(i) {
                    let alphabet = b"(){}[]\":,@\n\t !>|$0x9zK";
                    *b = alphabet[rng.below(alphabet.len())];
                }
            }
            let _ = kcheck::logs::panic::parse(&String::from_utf8_lossy(&bytes), "t");
        }
    }
    for _ in 0..2000 {
        let len = rng.below(400);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let _ = kcheck::logs::panic::parse(&text, "t");
        let _ = kcheck::logs::panic::parse(&format!("{{\"bug_type\":\"210\"}}\n{text}"), "t");
        let _ = kcheck::logs::panic::parse(&format!("panic(cpu 1 caller 0x1): {text}"), "t");
        let _ = kcheck::logs::panic::parse(&format!("loaded kexts:\n{text}"), "t");
    }
    // Pathological numbers and shapes.
    for msg in [
        "zone map exhausted likely due to memory leak in zone [",
        "likely due to memory leak in zone x (99999999999999999999999 total bytes, 1 elements allocated)",
        "likely due to memory leak in zone x (1e308G, 1 elements allocated)",
        "likely due to memory leak in zone x (NaNG, -1 elements allocated)",
        "zalloc: \"",
        "zalloc: \"z\" (",
        "[",
        "@:",
        "\"\"@a:1",
    ] {
        let _ = one_line(msg);
    }
}
