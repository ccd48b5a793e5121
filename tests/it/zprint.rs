//! `zprint` output: the real samples in `../shared/realdata/zprint` (read in
//! place; skipped loudly when absent), one synthetic table per layout of
//! research/zones-panics.md §1, the ZN001/ZN002 rules, the renderers and
//! `watch` with a scripted sampler.

use crate::common::realdata;
use std::cell::RefCell;
use std::time::Duration;

use kcheck::app::zones::watch;
use kcheck::check::finding::{Finding, Severity};
use kcheck::check::zones::{Thresholds, growth_findings, sample_findings};
use kcheck::error::Error;
use kcheck::logs::zprint::{self, ZoneTable, parse};
use kcheck::report::zones::{to_json, write_text};
use serde_json::{Value, json};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// The default header (10.14 → 26), with `-w` / `-t` columns when asked.
fn header(w: bool, t: bool) -> String {
    let mut l1 = String::from(
        "                            elem         cur         max        cur         max         cur  alloc  alloc    ",
    );
    let mut l2 = String::from(
        "zone name                   size        size        size      #elts       #elts       inuse   size  count    ",
    );
    if w {
        l1.push_str("     frag      free");
        l2.push_str("     size      size");
    }
    if t {
        l1.push_str("            total");
        l2.push_str("           allocs");
    }
    format!("{l1}\n{l2}\n{}\n", "-".repeat(109))
}

/// One row laid out the way zprint prints it.
fn row(name: &str, elem: u64, cur_k: u64, max_k: u64, inuse: u64, alloc_k: u64, flags: &str) -> String {
    let per = |k: u64| (k * 1024).checked_div(elem).unwrap_or(0);
    let alloc_count = per(alloc_k);
    format!(
        "{name:<25} {elem:>6} {:>10}K {:>10}K {:>10} {:>11} {inuse:>11} {alloc_k:>5}K {alloc_count:>6}  {flags:<2}",
        cur_k,
        max_k,
        per(cur_k),
        per(max_k)
    )
}

fn get<'a>(t: &'a ZoneTable, name: &str) -> &'a zprint::Zone {
    t.zones.iter().find(|z| z.name == name).unwrap_or_else(|| panic!("no zone {name} in {:?}", t.zones))
}

fn codes(f: &[Finding]) -> Vec<(&str, &str, Severity)> {
    f.iter().map(|x| (x.code.as_str(), x.subject.as_str(), x.severity)).collect()
}

// ---------------------------------------------------------------------------
// Real samples

/// (file, rows, [(zone, elem, cur K, inuse)]) — values copied from the file.
/// (zone, elem size, cur size in K, in use)
type Expect = (&'static str, u64, u64, u64);

const REAL: &[(&str, usize, &[Expect])] = &[
    (
        "01-mojave-kalloc-zones.txt",
        25,
        &[
            ("kalloc.16", 16, 17320, 1060838),
            ("kalloc.48", 48, 10868, 223454),
            ("kalloc.512", 512, 53620, 106302),
            ("kalloc.8192", 8192, 3744, 453),
        ],
    ),
    (
        "writeup-mojave-era-zprint-kalloc-zones.txt",
        25,
        &[("kalloc.16", 16, 17320, 1060838), ("kalloc.576", 576, 188, 303), ("kalloc.1024", 1024, 24048, 23699)],
    ),
];

#[test]
fn real_samples_parse() {
    let Some(rd) = realdata() else { return };
    let dir = rd.join("zprint");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file.starts_with("SOURCES") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let t = parse(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!t.zones.is_empty(), "{file}");
        assert!(!t.redacted, "{file}");
        assert!(t.issues.is_empty(), "{file}: {:?}", t.issues);
        seen += 1;
        let Some((_, rows, expect)) = REAL.iter().find(|(f, _, _)| *f == file) else {
            continue;
        };
        assert_eq!(t.format, "columns", "{file}");
        assert_eq!(t.zones.len(), *rows, "{file}");
        assert!(t.zones.iter().all(|z| z.is_kalloc() && z.flags == "C"), "{file}");
        for (name, elem, cur_k, inuse) in *expect {
            let z = get(&t, name);
            assert_eq!(z.elem_size, Some(*elem), "{file} {name}");
            assert_eq!(z.cur_bytes, Some(cur_k * KIB), "{file} {name}");
            assert_eq!(z.inuse, Some(*inuse), "{file} {name}");
        }
        let z = get(&t, "kalloc.48");
        assert_eq!(z.max_bytes, Some(13301 * KIB));
        assert_eq!(z.cur_elements, Some(231850));
        assert_eq!(z.max_elements, Some(283754));
        assert_eq!(z.alloc_size, Some(4 * KIB));
        assert_eq!(z.alloc_count, Some(85));
        // Line 1 is the shell command, 2-4 the header.
        assert_eq!(t.zones[0].line, 5);
        // A healthy Mac: nothing to report.
        assert!(sample_findings(&t, &Thresholds::default(), None).is_empty(), "{file}");
    }
    assert!(seen >= 2, "expected the zprint samples in {}", dir.display());
}

#[test]
fn real_sample_survives_damage() {
    let Some(rd) = realdata() else { return };
    let text = std::fs::read_to_string(rd.join("zprint/01-mojave-kalloc-zones.txt")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Every prefix, every line dropped, every line cut in half: no panic,
    // and whatever parses keeps exact values for the rows it has.
    for cut in 0..=text.len() {
        if text.is_char_boundary(cut) {
            let _ = parse(&text[..cut]);
        }
    }
    for drop in 0..lines.len() {
        let mut l = lines.clone();
        l.remove(drop);
        let _ = parse(&l.join("\n"));
        let mut l = lines.clone();
        let half = l[drop].len() / 2;
        l[drop] = &lines[drop][..half];
        if let Ok(t) = parse(&l.join("\n"))
            && let Some(z) = t.zones.iter().find(|z| z.name == "kalloc.16" && z.line != drop + 1)
        {
            assert_eq!(z.inuse, Some(1060838));
        }
    }
}

// ---------------------------------------------------------------------------
// Synthetic layouts

#[test]
fn default_layout_every_era_of_names() {
    let text = format!(
        "{}{}\n{}\n{}\n{}\n{}\n{}\n",
        header(false, false),
        row("vm.objects", 256, 56384, 69632, 210000, 16, "C"),
        row("VM.map.entries", 80, 12000, 14000, 150000, 16, "XC"),
        row("vm objects", 256, 100, 200, 300, 4, ""),
        // 11+: max is a high-water mark and can overflow to dashes.
        "default.kalloc.48             48      10868K     -------     231850     -------      223454     4K     85  C",
        row("kalloc.type.var3.128", 128, 4096, 4096, 30000, 4, "C"),
        row("IOMachPort.IOServiceNot$", 64, 1024, 2048, 16000, 4, ""),
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.format, "columns");
    assert_eq!(t.zones.len(), 6);
    let z = get(&t, "vm.objects");
    assert_eq!((z.elem_size, z.cur_bytes, z.inuse), (Some(256), Some(56384 * KIB), Some(210000)));
    assert!(!z.is_kalloc());
    assert_eq!(get(&t, "VM.map.entries").flags, "XC");
    let z = get(&t, "vm objects");
    assert_eq!((z.elem_size, z.cur_bytes, z.flags.as_str()), (Some(256), Some(100 * KIB), ""));
    let z = get(&t, "default.kalloc.48");
    assert!(z.is_kalloc());
    assert_eq!((z.max_bytes, z.max_elements, z.inuse), (None, None, Some(223454)));
    assert!(get(&t, "kalloc.type.var3.128").is_kalloc());
    let z = get(&t, "IOMachPort.IOServiceNot$");
    assert!(z.name_truncated);
    assert_eq!(z.inuse, Some(16000));
}

#[test]
fn wasted_layout_and_trailing_sections() {
    let text = format!(
        "{}{}     512B       12K\n{}      40K        0B\n\n{}\n                          kmod          vm        peak               cur\n\
wired memory                                                         id         tag        size   waste       size\n{}\n\
VM_KERN_MEMORY_KALLOC                                                             13      20000K           18000K\n\
ZONE TOTALS\n---------------------------------------------\nTOTAL SIZE        = 123456\n",
        header(true, false),
        row("kalloc.16", 16, 17320, 19951, 1060838, 4, "C"),
        row("vm.objects", 256, 56384, 69632, 210000, 16, "C"),
        "-".repeat(109),
        "-".repeat(109),
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.format, "columns-w");
    assert_eq!(t.zones.len(), 2, "{:?}", t.zones);
    let z = get(&t, "kalloc.16");
    assert_eq!((z.frag_bytes, z.free_bytes), (Some(512), Some(12 * KIB)));
    assert_eq!(z.inuse, Some(1060838));
    assert_eq!(z.flags, "C");
    let z = get(&t, "vm.objects");
    assert_eq!((z.frag_bytes, z.free_bytes), (Some(40 * KIB), Some(0)));
    assert!(t.issues.is_empty());
}

#[test]
fn total_allocs_layout_and_both() {
    let text = format!(
        "{}{}        83886080K\n{}             900B\n",
        header(false, true),
        row("kalloc.48", 48, 10868, 13301, 223454, 4, "C"),
        row("pipe.zone", 128, 100, 200, 600, 4, ""),
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.format, "columns-t");
    assert_eq!(get(&t, "kalloc.48").total_allocated_bytes, Some(83886080 * KIB));
    assert_eq!(get(&t, "pipe.zone").total_allocated_bytes, Some(900));
    assert_eq!(get(&t, "pipe.zone").flags, "");

    let text = format!(
        "{}{}     512B       12K        83886080K\nZONE TOTALS\n---------------------------------------------\nTOTAL SIZE        = 11128832\n",
        header(true, true),
        row("kalloc.48", 48, 10868, 13301, 223454, 4, "C"),
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.format, "columns-wt");
    let z = get(&t, "kalloc.48");
    assert_eq!(
        (z.frag_bytes, z.free_bytes, z.total_allocated_bytes),
        (Some(512), Some(12 * KIB), Some(83886080 * KIB))
    );
}

/// 11+ names: heap prefixes, with the zone views section after the table.
fn bigsur_table() -> String {
    format!(
        "{}{}\n{}\n{}\n{}\n{}\n\n{}\n                                                               cur\nzone views                                                   inuse\n{}\ndata.kalloc.16[raw]                                          1234K\n",
        header(false, false),
        row("default.kalloc.16", 16, 17320, 19951, 1060838, 16, "C"),
        row("data.kalloc.1024", 1024, 24048, 29927, 23699, 16, "C"),
        row("kext.kalloc.48", 48, 1024, 2048, 20000, 16, "C"),
        row("VM.map.entries", 80, 12000, 14000, 150000, 16, "C"),
        row("ipc.ports", 168, 5000, 6000, 30000, 16, "C"),
        "-".repeat(109),
        "-".repeat(109),
    )
}

#[test]
fn heap_prefixed_names_big_sur_on() {
    let t = parse(&bigsur_table()).unwrap();
    assert_eq!(t.zones.len(), 5);
    assert!(t.zones.iter().all(|z| !z.name.contains('[')));
    let kalloc: Vec<&str> = t.zones.iter().filter(|z| z.is_kalloc()).map(|z| z.name.as_str()).collect();
    assert_eq!(kalloc, ["default.kalloc.16", "data.kalloc.1024", "kext.kalloc.48"]);
    let z = get(&t, "data.kalloc.1024");
    assert_eq!((z.elem_size, z.cur_bytes, z.inuse), (Some(1024), Some(24048 * KIB), Some(23699)));
}

fn redacted_table(kalloc48_inuse: u64) -> String {
    format!(
        "{}{}\n{}\n{}\n{}\n",
        header(false, false),
        row("kalloc.16", 16, 0, 0, 1060838, 0, "C"),
        row("kalloc.48", 48, 0, 0, kalloc48_inuse, 0, "C"),
        row("data.kalloc.1024", 1024, 0, 0, 23699, 0, "C"),
        row("vm.objects", 256, 0, 0, 210000, 0, "C"),
    )
}

#[test]
fn redacted_view_of_13_3_on() {
    let t = parse(&redacted_table(223454)).unwrap();
    assert!(t.redacted);
    let z = get(&t, "kalloc.48");
    assert_eq!((z.elem_size, z.inuse), (Some(48), Some(223454)));
    assert_eq!((z.cur_bytes, z.max_bytes, z.alloc_size, z.cur_elements), (None, None, None, None));
    assert_eq!(z.bytes(), Some(223454 * 48));
    assert!(sample_findings(&t, &Thresholds::default(), None).is_empty());
    let j = to_json(&t, &[]);
    assert_eq!(j["zones"][1]["cur_bytes"], Value::Null);
    assert_eq!(j["zones"][1]["inuse"], json!(223454));
}

#[test]
fn headerless_and_block_layouts() {
    let text = format!(
        "{}\n{}\n",
        row("kalloc.16", 16, 17320, 19951, 1060838, 4, "C"),
        row("kalloc.48", 48, 10868, 13301, 223454, 4, "C"),
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.format, "headerless");
    assert_eq!(t.zones.len(), 2);
    assert_eq!(get(&t, "kalloc.48").inuse, Some(223454));

    let text = "kalloc.16 zone:\n\tcur_size:    17320K bytes (1108480 elements)\n\tmax_size:    19951K bytes (1276896 elements)\n\
\telem_size:   16 bytes\n\t# of elems:  1060838\n\talloc_size:  4K bytes (256 elements)\n\tCOLLECTABLE\n\
vm objects zone:\n\tcur_size:    56384K bytes (225536 elements)\n\tmax_size:    69632K bytes (278528 elements)\n\
\telem_size:   256 bytes\n\t# of elems:  210000\n\talloc_size:  16K bytes (64 elements)\n\tEXHAUSTIBLE\n\tCOLLECTABLE\n";
    let t = parse(text).unwrap();
    assert_eq!(t.format, "block");
    assert_eq!(t.zones.len(), 2);
    let z = get(&t, "kalloc.16");
    assert_eq!(
        (z.elem_size, z.cur_bytes, z.cur_elements, z.inuse, z.alloc_size, z.alloc_count, z.flags.as_str()),
        (Some(16), Some(17320 * KIB), Some(1108480), Some(1060838), Some(4 * KIB), Some(256), "C")
    );
    let z = get(&t, "vm objects");
    assert_eq!((z.inuse, z.flags.as_str()), (Some(210000), "XC"));
}

#[test]
fn truncated_and_odd_lines() {
    let text = format!(
        "{}{}\n{}\nkalloc.64                     64      21584K      29927K     345344      478836      339291\n\
IOKit.stray.line\n",
        header(false, false),
        row("kalloc.16", 16, 17320, 19951, 1060838, 4, "C"),
        // Wrapped inside the name column's padding.
        "kalloc.48\n                    48      10868K      13301K     231850      283754      223454     4K     85  C",
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.zones.len(), 3, "{:?}", t.zones);
    assert_eq!(get(&t, "kalloc.48").alloc_count, Some(85));
    let z = get(&t, "kalloc.64");
    assert_eq!((z.inuse, z.alloc_size), (Some(339291), None));
    assert_eq!(t.issues.len(), 2, "{:?}", t.issues);
    assert!(t.issues[0].message.contains("cut short"));
    assert!(t.issues[1].message.contains("not a zone row"));
}

#[test]
fn errors_name_line_and_offset() {
    for (text, needle) in [
        ("", "not zprint output: no zone table found"),
        ("total 12\nsomething else\n", "not zprint output: no zone table found"),
        ("zprint: mach_memory_info: (os/kern) protection failure (try running as root)\n", "try running as root"),
    ] {
        let e = parse(text).unwrap_err();
        assert_eq!(e.layer, "zprint");
        assert!(e.message.starts_with("line 1:"), "{e}");
        assert!(e.message.contains(needle), "{e}");
    }
    let text = format!(
        "{}kalloc.16   16   17320K   19951K   1108480   1276896   1060838   4K   256  C\n\
kalloc.48   48   10868K   13301K   23l850   283754   223454   4K   85  C\n",
        header(false, false)
    );
    let e = parse(&text).unwrap_err();
    assert!(e.message.starts_with("line 5:") && e.message.contains("23l850"), "{e}");
    assert_eq!(e.offset, text.find("kalloc.48").unwrap() as u64);
    // A count column with a unit is damaged, not a layout.
    let text =
        format!("{}kalloc.48   48   10868K   13301K   231850K   283754   223454   4K   85  C\n", header(false, false));
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("`231850K` does not fit the `cur #elts` column"), "{e}");
    // Words between numbers on a line that does not start like a zone row
    // (a stray wired-memory line when the dashes were filtered out): skipped.
    let text = format!(
        "{}{}\nzone tags   100 of 200\n",
        header(false, false),
        row("kalloc.48", 48, 10868, 13301, 223454, 4, "C")
    );
    let t = parse(&text).unwrap();
    assert_eq!(t.zones.len(), 1);
    assert_eq!(t.issues.len(), 1);
}

// ---------------------------------------------------------------------------
// ZN001

/// A 10.15.6 (19G73) Mac days into the leak: kalloc.48 holds 62.5 M
/// elements, 2.8 GiB.
fn leak_table() -> String {
    format!(
        "{}{}\n{}\n{}\n{}\n{}\n{}\n",
        header(false, false),
        row("kalloc.16", 16, 17320, 19951, 1060838, 4, "C"),
        row("kalloc.32", 32, 6640, 8867, 167654, 4, "C"),
        row("kalloc.48", 48, 2_929_688, 3_145_728, 62_500_000, 4, "C"),
        row("kalloc.80", 80, 5924, 8867, 69303, 4, "C"),
        row("vm.objects", 256, 56384, 69632, 210000, 16, "C"),
        row("VM.map.entries", 80, 12000, 14000, 150000, 16, "C"),
    )
}

#[test]
fn leak_on_19g73_is_an_error_tied_to_the_known_issue() {
    let t = parse(&leak_table()).unwrap();
    let f = sample_findings(&t, &Thresholds::default(), Some("19G73"));
    assert_eq!(codes(&f), [("ZN001", "kalloc.48", Severity::Error)]);
    let x = &f[0];
    let total = t.total_bytes();
    assert_eq!(x.evidence["zone"], json!("kalloc.48"));
    assert_eq!(x.evidence["elem_size"], json!(48));
    assert_eq!(x.evidence["inuse"], json!(62_500_000));
    assert_eq!(x.evidence["cur_bytes"], json!(2_929_688 * KIB));
    assert_eq!(x.evidence["total_bytes"], json!(total));
    let share = x.evidence["share"].as_f64().unwrap();
    let exact = (2_929_688 * KIB) as f64 / total as f64;
    assert!((share - exact).abs() < 0.0005 && (share * 1000.0).fract() == 0.0, "{share}");
    assert_eq!(x.evidence["build"], json!("19G73"));
    assert_eq!(x.evidence["known_issue"], json!("catalina-10.15.6-zone-leak"));
    assert!(x.message.contains("19G73"), "{}", x.message);
    assert!(x.remedy.contains("19G2021"), "{}", x.remedy);

    // Another build: the same error, with the generic hunt for the kext.
    let f = sample_findings(&t, &Thresholds::default(), Some("19H2"));
    assert_eq!(codes(&f), [("ZN001", "kalloc.48", Severity::Error)]);
    assert!(f[0].evidence.get("known_issue").is_none());
    assert!(f[0].remedy.contains("sudo zprint -t"), "{}", f[0].remedy);
    assert!(f[0].remedy.contains("kext"), "{}", f[0].remedy);
}

#[test]
fn share_rules_warning_error_and_floor() {
    // kalloc.64 at 150 MiB of ~1 GiB: a warning (10 % ≤ share < 25 %).
    let table = |k64: u64, other: u64| {
        format!(
            "{}{}\n{}\n",
            header(false, false),
            row("kalloc.64", 64, k64, k64, k64 * 1024 / 64, 4, "C"),
            row("vm.objects", 256, other, other, other * 1024 / 256, 16, "C"),
        )
    };
    let th = Thresholds::default();
    let t = parse(&table(150 * 1024, 874 * 1024)).unwrap();
    assert_eq!(codes(&sample_findings(&t, &th, None)), [("ZN001", "kalloc.64", Severity::Warning)]);
    // 30 %: an error.
    let t = parse(&table(300 * 1024, 700 * 1024)).unwrap();
    assert_eq!(codes(&sample_findings(&t, &th, None)), [("ZN001", "kalloc.64", Severity::Error)]);
    // 60 % but only 30 MiB: under the floor, quiet.
    let t = parse(&table(30 * 1024, 20 * 1024)).unwrap();
    assert!(sample_findings(&t, &th, None).is_empty());
    // A non-kalloc zone never gets ZN001.
    let t = parse(&table(1024, 900 * 1024)).unwrap();
    assert!(sample_findings(&t, &th, None).is_empty());
}

#[test]
fn healthy_tables_have_no_findings() {
    let th = Thresholds::default();
    for text in [bigsur_table(), redacted_table(223454)] {
        let t = parse(&text).unwrap();
        assert!(sample_findings(&t, &th, Some("19G73")).is_empty());
    }
}

#[test]
fn redacted_leak_is_still_flagged_by_element_count() {
    let t = parse(&redacted_table(20_000_000)).unwrap();
    assert!(t.redacted);
    let f = sample_findings(&t, &Thresholds::default(), Some("19G73"));
    assert_eq!(codes(&f), [("ZN001", "kalloc.48", Severity::Error)]);
    let x = &f[0];
    assert_eq!(x.evidence["cur_bytes"], Value::Null);
    assert_eq!(x.evidence["inuse"], json!(20_000_000));
    assert_eq!(x.evidence["redacted"], json!(true));
    assert_eq!(x.evidence["estimated_bytes"], json!(20_000_000u64 * 48));
    assert!(x.message.contains("redacted") && x.message.contains("sudo zprint"), "{}", x.message);
    assert!(x.message.contains("more than 10000000 elements"), "{}", x.message);

    // Even with the share rule out of reach, the count alone is an error.
    let th = Thresholds { share_warn: 2.0, share_error: 2.0, ..Thresholds::default() };
    assert_eq!(codes(&sample_findings(&t, &th, None)), [("ZN001", "kalloc.48", Severity::Error)]);
}

// ---------------------------------------------------------------------------
// ZN002 and watch

/// Sample `i` (0-based) of 5: kalloc.48 grows 16 MiB (340 000 elements) each
/// time, kalloc.64 goes up and down, kalloc.16 creeps by 10 elements (too
/// little to matter), vm.objects stays put.
fn growth_sample(i: u64) -> String {
    let k64 = [102400, 101376, 103424, 102400, 101376][i as usize];
    format!(
        "{}{}\n{}\n{}\n{}\n",
        header(false, false),
        row("kalloc.16", 16, 1024, 2048, 60_000 + 10 * i, 4, "C"),
        row("kalloc.48", 48, 262_144 + 16_384 * i, 524_288, 5_000_000 + 340_000 * i, 4, "C"),
        row("kalloc.64", 64, k64, 204_800, k64 * 16 - 1000, 4, "C"),
        row("vm.objects", 256, 65536, 65536, 250_000, 16, "C"),
    )
}

fn growth_samples() -> Vec<ZoneTable> {
    (0..5).map(|i| parse(&growth_sample(i)).unwrap()).collect()
}

#[test]
fn monotonic_growth_gives_one_zn002() {
    let samples = growth_samples();
    let th = Thresholds::default();
    let f = growth_findings(&samples, &th);
    assert_eq!(codes(&f), [("ZN002", "kalloc.48", Severity::Warning)]);
    let e = &f[0].evidence;
    assert_eq!(e["zone"], json!("kalloc.48"));
    assert_eq!(e["samples"], json!(5));
    assert_eq!(e["metric"], json!("inuse"));
    assert_eq!(e["first_inuse"], json!(5_000_000));
    assert_eq!(e["last_inuse"], json!(6_360_000));
    assert_eq!(e["first_bytes"], json!(256 * MIB));
    assert_eq!(e["last_bytes"], json!(320 * MIB));
    assert_eq!(e["growth_per_sample_elements"], json!(340_000.0));
    assert_eq!(e["growth_per_sample_bytes"], json!(16.0 * MIB as f64));
    assert!(!f[0].remedy.is_empty());

    // Fewer samples than the window: nothing yet.
    assert!(growth_findings(&samples[..2], &th).is_empty());
    assert_eq!(growth_findings(&samples[..3], &th).len(), 1);
    // A dip anywhere breaks monotonic growth.
    let mut dipped = samples.clone();
    dipped.swap(2, 3);
    assert!(growth_findings(&dipped, &th).is_empty());
}

#[test]
fn growth_in_redacted_samples_uses_inuse() {
    let samples: Vec<ZoneTable> = (0..4).map(|i| parse(&redacted_table(1_000_000 + 100_000 * i)).unwrap()).collect();
    let f = growth_findings(&samples, &Thresholds::default());
    assert_eq!(codes(&f), [("ZN002", "kalloc.48", Severity::Warning)]);
    assert_eq!(f[0].evidence["first_bytes"], json!(1_000_000u64 * 48));
}

/// A sampler that replays `texts` and counts calls.
fn scripted(texts: Vec<Result<String, String>>) -> impl FnMut() -> Result<String, String> {
    let mut it = texts.into_iter();
    move || it.next().unwrap_or_else(|| Err("sampler exhausted".into()))
}

#[test]
fn watch_plain_lines() {
    let mut sampler = scripted((0..5).map(|i| Ok(growth_sample(i))).collect());
    let slept = RefCell::new(Vec::new());
    let mut sleep = |d: Duration| slept.borrow_mut().push(d);
    let mut out = Vec::new();
    let f =
        watch(&mut sampler, Duration::from_secs(10), 5, &Thresholds::default(), &mut out, false, &mut sleep).unwrap();
    assert_eq!(*slept.borrow(), vec![Duration::from_secs(10); 4]);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "sample 1/5: total 421.0 MiB; top kalloc.48 256.0 MiB (+0 B); growing: none",
            "sample 2/5: total 436.0 MiB; top kalloc.48 272.0 MiB (+16.0 MiB); growing: kalloc.48",
            "sample 3/5: total 454.0 MiB; top kalloc.48 288.0 MiB (+32.0 MiB); growing: kalloc.48",
            "sample 4/5: total 469.0 MiB; top kalloc.48 304.0 MiB (+48.0 MiB); growing: kalloc.48",
            "sample 5/5: total 484.0 MiB; top kalloc.48 320.0 MiB (+64.0 MiB); growing: kalloc.48",
        ]
    );
    // ZN002 over the watch, ZN001 of the last sample: kalloc.48 holds 320
    // of 484 MiB (error); in so small a table kalloc.64's 99 MiB is 20 %
    // (warning).
    assert_eq!(
        codes(&f),
        [
            ("ZN001", "kalloc.48", Severity::Error),
            ("ZN001", "kalloc.64", Severity::Warning),
            ("ZN002", "kalloc.48", Severity::Warning)
        ]
    );
}

#[test]
fn watch_live_view() {
    let mut sampler = scripted((0..5).map(|i| Ok(growth_sample(i))).collect());
    let mut out = Vec::new();
    let f =
        watch(&mut sampler, Duration::from_secs(2), 5, &Thresholds::default(), &mut out, true, &mut |_| {}).unwrap();
    assert_eq!(f.iter().filter(|x| x.code == "ZN002").count(), 1);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("\x1b[H\x1b[2J").count(), 5);
    let last = text.rsplit("\x1b[H\x1b[2J").next().unwrap();
    assert!(last.contains("sample 5/5, t+8s"), "{last}");
    let k48 = last.lines().find(|l| l.starts_with("kalloc.48")).unwrap();
    assert!(k48.contains("+1360000") && k48.contains("+64.0 MiB"), "{k48}");
    assert!(k48.ends_with("<< growing"), "{k48}");
    let k64 = last.lines().find(|l| l.starts_with("kalloc.64")).unwrap();
    assert!(!k64.contains("growing"), "{k64}");
    // The first frame has nothing growing yet.
    let first = text.split("\x1b[H\x1b[2J").nth(1).unwrap();
    assert!(!first.contains("<< growing"), "{first}");
}

#[test]
fn watch_errors() {
    // zprint failing mid-watch: an I/O error on "zprint" carrying its message.
    let mut sampler = scripted(vec![
        Ok(growth_sample(0)),
        Err("zprint: mach_memory_info: (os/kern) protection failure (try running as root)".into()),
    ]);
    let e = watch(&mut sampler, Duration::from_secs(1), 3, &Thresholds::default(), &mut Vec::new(), false, &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 74);
    assert!(e.to_string().contains("try running as root"), "{e}");

    // Output that is not zprint's: a format error.
    let mut sampler = scripted(vec![Ok("command not found\n".into())]);
    let e = watch(&mut sampler, Duration::from_secs(1), 1, &Thresholds::default(), &mut Vec::new(), false, &mut |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::Format { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 65);

    let e = watch(
        &mut scripted(vec![]),
        Duration::from_secs(1),
        0,
        &Thresholds::default(),
        &mut Vec::new(),
        false,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
}

// ---------------------------------------------------------------------------
// Rendering

#[test]
fn json_shape() {
    let t = parse(&leak_table()).unwrap();
    let f = sample_findings(&t, &Thresholds::default(), Some("19G73"));
    let j = to_json(&t, &f);
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["zones", "findings"]);
    let z = &j["zones"][2];
    let zkeys: Vec<&String> = z.as_object().unwrap().keys().take(4).collect();
    assert_eq!(zkeys, ["name", "elem_size", "cur_bytes", "inuse"]);
    assert_eq!(z["name"], json!("kalloc.48"));
    assert_eq!(z["cur_bytes"], json!(2_929_688 * KIB));
    assert_eq!(j["findings"][0]["code"], json!("ZN001"));
    assert_eq!(j["findings"][0]["severity"], json!("error"));
    assert_eq!(j["findings"][0]["evidence"]["build"], json!("19G73"));
}

#[test]
fn text_report() {
    let t = parse(&leak_table()).unwrap();
    let f = sample_findings(&t, &Thresholds::default(), Some("19G73"));
    let mut out = Vec::new();
    write_text(&mut out, kcheck::report::Style::PLAIN, &t, &f, 3).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("zprint: 6 zones (columns layout)"), "{text}");
    let head = lines.iter().position(|l| l.starts_with("ZONE")).unwrap();
    assert!(lines[head + 1].starts_with("kalloc.48 "), "{text}");
    assert!(lines[head + 1].contains("2.8 GiB") && lines[head + 1].contains("62500000"), "{text}");
    assert!(lines[head + 2].starts_with("vm.objects"), "{text}");
    assert_eq!(lines[head + 4], "(3 more zones)");
    assert!(text.contains("ERRORS (1)") && text.contains("  ZN001  kalloc.48"), "{text}");
    assert!(text.contains("| known_issue: catalina-10.15.6-zone-leak"), "{text}");
    assert!(text.contains("Remedy: Install the 10.15.6 Supplemental Update (19G2021)"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");

    let t = parse(&redacted_table(1000)).unwrap();
    let mut out = Vec::new();
    write_text(&mut out, kcheck::report::Style::PLAIN, &t, &[], 10).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("redacted") && text.contains("No findings"), "{text}");
}
