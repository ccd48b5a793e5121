//! `kcheck::loaded`: the `kextstat` / `kmutil showloaded` parser on every
//! real sample in `../shared/realdata/kextstat` (read in place, expectations
//! read off each file by hand), the LD001/LD002 checks against the fixture
//! roots, and robustness against truncated and random input.

use crate::common::realdata;
use std::path::{Path, PathBuf};

use kcheck::facts::{Facts, VerifyOptions, gather};
use kcheck::logs::kextstat::LoadedKext;
use kcheck::macho::format_uuid;
use kcheck::system::Sip;
use kcheck_testkit::roots::base_kexts;

/// What one row must be: (bundle id, version, index, refs, address, uuid,
/// linked against).
type Row = (&'static str, &'static str, Option<u32>, Option<u32>, Option<u64>, Option<&'static str>, &'static [u32]);

/// Expectations for one sample file.
struct Sample {
    file: &'static str,
    rows: usize,
    third_party: usize,
    header: bool,
    skipped: usize,
    first: Row,
    last: Row,
    /// Further rows, found by bundle id.
    more: &'static [Row],
}

fn samples() -> Vec<Sample> {
    vec![
        Sample {
            file: "02-sierra-10.12.6-kextstat-classic.excerpt.txt",
            rows: 10,
            third_party: 0,
            header: true,
            skipped: 0,
            first: (
                "com.apple.kpi.bsd",
                "16.7.0",
                Some(1),
                Some(104),
                Some(0xffffff7f80a16000),
                Some("DB734CA9-F88D-458E-B84D-0783A5BAA749"),
                &[],
            ),
            last: (
                "com.apple.kec.pthread",
                "1",
                Some(10),
                Some(0),
                Some(0xffffff7f81193000),
                Some("225C22A5-813D-3651-9C40-FDEEAB0D78E1"),
                &[7, 6, 5, 4, 1],
            ),
            more: &[(
                "com.apple.kec.corecrypto",
                "1.0",
                Some(8),
                Some(7),
                Some(0xffffff7f80a53000),
                Some("E3701C61-A548-3181-9F3E-C90DF8327185"),
                &[7, 6, 5, 4, 3, 1],
            )],
        },
        Sample {
            file: "03-kextstat-grep-virtualbox-rows.excerpt.txt",
            rows: 4,
            third_party: 4,
            header: false,
            skipped: 0,
            first: (
                "org.virtualbox.kext.VBoxDrv",
                "5.2.12",
                Some(159),
                Some(3),
                Some(0xffffff7f83791000),
                Some("3AABEB96-18B4-378E-B3EE-A0F6EB91DDE7"),
                &[7, 5, 4, 3, 1],
            ),
            last: (
                "org.virtualbox.kext.VBoxNetAdp",
                "5.2.12",
                Some(166),
                Some(0),
                Some(0xffffff7f83802000),
                Some("F6F0D614-6816-3226-9263-DA96DB33D890"),
                &[159, 5, 4, 1],
            ),
            more: &[(
                "org.virtualbox.kext.VBoxUSB",
                "5.2.12",
                Some(164),
                Some(0),
                Some(0xffffff7f837f5000),
                Some("9ABE1230-E87E-3B89-8E2A-B0B3BAA5F63D"),
                &[163, 159, 55, 7, 5, 4, 3, 1],
            )],
        },
        Sample {
            file: "04-mojave-kextstat-rows.excerpt.txt",
            rows: 9,
            third_party: 1,
            header: false,
            skipped: 0,
            first: (
                "com.apple.driver.AppleSSE",
                "1.0",
                Some(158),
                Some(0),
                Some(0xffffff7f85d78000),
                Some("EAA88574-9115-373B-A5DF-F86FEA5EDD14"),
                &[24, 20, 19, 8, 6, 5, 3, 1],
            ),
            last: (
                "com.apple.iokit.IOAVBFamily",
                "710.1",
                Some(167),
                Some(0),
                Some(0xffffff7f85e55000),
                Some("3845EF61-E120-38A5-AA2C-DB7434026A75"),
                &[166, 165, 18, 17, 7, 6, 5, 3, 1],
            ),
            more: &[
                (
                    "org.virtualbox.kext.VBoxUSB",
                    "5.2.18",
                    Some(162),
                    Some(0),
                    Some(0xffffff7f85d9e000),
                    Some("38AC00F1-4F4C-3101-B8E0-4F07161A728E"),
                    &[161, 100, 53, 8, 6, 5, 3, 1],
                ),
                (
                    "com.apple.fileutil",
                    "18.306.12",
                    Some(159),
                    Some(0),
                    Some(0xffffff7f85d83000),
                    Some("5E0468C0-F2DE-37EF-BB2A-0796BA8311B9"),
                    &[6, 5, 3, 2, 1],
                ),
            ],
        },
        Sample {
            file: "05-catalina-10.15.2-kextstat-head.excerpt.txt",
            rows: 9,
            third_party: 0,
            header: true,
            skipped: 0,
            first: (
                "com.apple.kpi.bsd",
                "19.2.0",
                Some(1),
                Some(119),
                Some(0xffffff7f80c58000),
                Some("C509F3BC-8645-439D-83FF-246EF205D74F"),
                &[],
            ),
            last: (
                "com.apple.kec.Libm",
                "1",
                Some(9),
                Some(2),
                Some(0xffffff7f80d5d000),
                Some("93FADEC1-CBCF-3B33-A28E-6DC4C01CA22D"),
                &[5],
            ),
            more: &[(
                "com.apple.kpi.kasan",
                "19.2.0",
                Some(4),
                Some(0),
                Some(0xffffff7f83535000),
                Some("BA25574A-60E7-46D4-9D88-58E508D4BD94"),
                &[],
            )],
        },
        Sample {
            file: "excerpt-hookcase-26-bigsur-11.3-kmutil-style.txt",
            rows: 9,
            third_party: 0,
            header: true,
            // Row 10 is cut off after `com.apple.kec.corecryp`.
            skipped: 1,
            first: (
                "com.apple.kpi.bsd",
                "20.4.0",
                Some(1),
                Some(141),
                Some(0),
                Some("068F99A3-1DB3-31C0-87D5-09942F122BB6"),
                &[],
            ),
            last: (
                "com.apple.kec.Libm",
                "1",
                Some(9),
                Some(2),
                Some(0xffffff800330a000),
                Some("526EF6DE-89A2-334E-A748-F37E33579C6F"),
                &[5],
            ),
            more: &[(
                "com.apple.kpi.unsupported",
                "20.4.0",
                Some(8),
                Some(107),
                Some(0),
                Some("068F99A3-1DB3-31C0-87D5-09942F122BB6"),
                &[],
            )],
        },
        Sample {
            file: "excerpt-horndis-42-sierra-10.12.txt",
            rows: 10,
            third_party: 0,
            header: true,
            // Row 11 is cut off after its address.
            skipped: 1,
            first: (
                "com.apple.kpi.bsd",
                "16.0.0",
                Some(1),
                Some(83),
                Some(0xffffff7f80a46000),
                Some("369ECC5E-023D-41D5-94AA-125188F389B3"),
                &[],
            ),
            last: (
                "com.apple.kec.Libm",
                "1",
                Some(10),
                Some(1),
                Some(0xffffff7f8222b000),
                Some("D8252495-CEEB-3D8B-BB55-F636C2765465"),
                &[4],
            ),
            more: &[(
                "com.apple.kec.corecrypto",
                "1.0",
                Some(8),
                Some(5),
                Some(0xffffff7f80dbc000),
                Some("0DDFAED6-A623-360C-9A63-00DCA16F506C"),
                &[7, 6, 5, 4, 3, 1],
            )],
        },
        Sample {
            file: "hacktricks-bigsur-11.4-kextstat-head.txt",
            rows: 10,
            third_party: 0,
            header: true,
            skipped: 0,
            first: (
                "com.apple.kpi.bsd",
                "20.5.0",
                Some(1),
                Some(142),
                Some(0),
                Some("52A1E876-863E-38E3-AC80-09BBAB13B752"),
                &[],
            ),
            last: (
                "com.apple.kec.corecrypto",
                "11.1",
                Some(10),
                Some(12),
                Some(0xffffff8003544000),
                Some("F5F1255F-6552-3CF4-A9DB-D60EFDEB4A9A"),
                &[8, 7, 6, 5, 3, 1],
            ),
            more: &[(
                "com.apple.kec.Libm",
                "1",
                Some(9),
                Some(2),
                Some(0xffffff8003317000),
                Some("6C1342CC-1D74-3D0F-BC43-97D5AD38200A"),
                &[5],
            )],
        },
        Sample {
            file: "vvv-docs-bigsur-kmutil-virtualbox-6.1.16.txt",
            rows: 4,
            third_party: 4,
            header: false,
            skipped: 0,
            first: (
                "org.virtualbox.kext.VBoxDrv",
                "6.1.16",
                Some(178),
                Some(3),
                Some(0xffffff7fa2326000),
                Some("DAF044F0-5043-3B8E-8758-5A462567BDAA"),
                &[8, 6, 5, 3, 1],
            ),
            last: (
                "org.virtualbox.kext.VBoxNetAdp",
                "6.1.16",
                Some(185),
                Some(0),
                Some(0xffffff7fa23f8000),
                Some("76200407-D2F0-3D84-BCCF-7EEA18F16654"),
                &[178, 6, 5, 1],
            ),
            more: &[(
                "org.virtualbox.kext.VBoxUSB",
                "6.1.16",
                Some(183),
                Some(0),
                Some(0xffffff7fa2403000),
                Some("CA33FA52-5933-3F0E-9B40-8B1ECF4D6A36"),
                &[182, 178, 66, 8, 6, 5, 3, 1],
            )],
        },
    ]
}

fn check_row(file: &str, what: &str, got: &LoadedKext, want: &Row) -> Vec<String> {
    let (id, version, index, refs, address, uuid, links) = *want;
    let got_tuple = (
        got.bundle_id.as_str(),
        got.version.as_str(),
        got.index,
        got.refs,
        got.address,
        got.uuid.as_deref(),
        got.linked_against.as_slice(),
    );
    if got_tuple == (id, version, index, refs, address, uuid, links) {
        Vec::new()
    } else {
        vec![format!("{file}: {what} row: got {got_tuple:?}, want {want:?}")]
    }
}

fn sample_paths(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file() && !name.starts_with("SOURCES")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_real_kextstat_sample_parses_as_read_by_hand() {
    let Some(rd) = realdata() else { return };
    let dir = rd.join("kextstat");
    let table = samples();
    let mut failures = Vec::new();
    let files = sample_paths(&dir);
    assert!(!files.is_empty(), "no samples in {}", dir.display());
    for path in &files {
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(want) = table.iter().find(|s| s.file == file) else {
            failures.push(format!("{file}: new sample without expectations; add it to samples()"));
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let p = match kcheck::logs::kextstat::parse_detailed(&text) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        let k = &p.kexts;
        if k.len() != want.rows {
            failures.push(format!("{file}: {} rows, want {}", k.len(), want.rows));
            continue;
        }
        if p.has_header != want.header || p.skipped.len() != want.skipped {
            failures.push(format!(
                "{file}: header {}, skipped {:?}; want header {}, {} skipped",
                p.has_header, p.skipped, want.header, want.skipped
            ));
        }
        let third = k.iter().filter(|x| x.is_third_party()).count();
        if third != want.third_party {
            failures.push(format!("{file}: {third} third-party, want {}", want.third_party));
        }
        failures.extend(check_row(file, "first", &k[0], &want.first));
        failures.extend(check_row(file, "last", &k[k.len() - 1], &want.last));
        for m in want.more {
            match k.iter().find(|x| x.bundle_id == m.0) {
                Some(got) => failures.extend(check_row(file, m.0, got, m)),
                None => failures.push(format!("{file}: no row for {}", m.0)),
            }
        }
        // The same text through the convenience entry point.
        assert_eq!(kcheck::logs::kextstat::parse(&text).unwrap(), *k, "{file}");
    }
    for s in &table {
        if !files.iter().any(|p| p.ends_with(s.file)) {
            failures.push(format!("{}: expected sample is missing", s.file));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn truncated_sample_rows_are_reported_as_truncated() {
    let Some(rd) = realdata() else { return };
    let text = std::fs::read_to_string(rd.join("kextstat/excerpt-horndis-42-sierra-10.12.txt")).unwrap();
    let p = kcheck::logs::kextstat::parse_detailed(&text).unwrap();
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].line, 12);
    assert!(p.skipped[0].reason.starts_with("truncated final row"), "{:?}", p.skipped);
    assert_eq!(p.skipped[0].offset as usize, text.find("   11   27").unwrap());
}

#[test]
fn sample_json_and_text_render() {
    let Some(rd) = realdata() else { return };
    let text = std::fs::read_to_string(rd.join("kextstat/vvv-docs-bigsur-kmutil-virtualbox-6.1.16.txt")).unwrap();
    let k = kcheck::logs::kextstat::parse(&text).unwrap();
    let v = kcheck::report::loaded::to_json(&k, &[]);
    let row = &v["loaded"][0];
    assert_eq!(row["bundle_id"], "org.virtualbox.kext.VBoxDrv");
    assert_eq!(row["version"], "6.1.16");
    assert_eq!(row["uuid"], "DAF044F0-5043-3B8E-8758-5A462567BDAA");
    assert_eq!(row["address"], "0xffffff7fa2326000");
    assert_eq!(row["linked_against"], serde_json::json!([8, 6, 5, 3, 1]));
    assert_eq!(v["findings"], serde_json::json!([]));

    let mut out = Vec::new();
    kcheck::report::loaded::write_text(&mut out, kcheck::report::Style::PLAIN, &k, &[]).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(s.starts_with("4 kexts loaded, 4 third-party"), "{s}");
    assert!(s.contains("org.virtualbox.kext.VBoxNetAdp"), "{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
}

fn roots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/roots")
}

fn facts(name: &str) -> Facts {
    gather(&VerifyOptions { root: roots_dir().join(name), data_root: None, sip: Sip::Unknown, preboot: None }).unwrap()
}

const HEADER: &str = "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>";

/// A `kextstat` listing of a root's kexts as they are installed, after the
/// kernel components (which are in no cache and must not be flagged).
/// `edit` may change (bundle id, version, uuid) before the row is written.
fn listing(kernel_version: &str, edit: impl Fn(&str, &str, String) -> (String, String, String)) -> String {
    let mut s =
        format!("Executing: /usr/bin/kmutil showloaded\nNo variant specified, falling back to release\n{HEADER}\n");
    for (i, kpi) in ["bsd", "iokit", "libkern", "mach"].iter().enumerate() {
        s.push_str(&format!(
            "{:>5} {:>4} 0xffffff7f80a{i:02}000 0x9d90     0x9d90     com.apple.kpi.{kpi} ({kernel_version}) DB734CA9-F88D-458E-B84D-0783A5BAA749\n",
            i + 1,
            10
        ));
    }
    for (i, k) in base_kexts().iter().enumerate() {
        let uuid = if k.executable.is_some() { format_uuid(&k.uuid) } else { "no UUID".into() };
        let (id, version, uuid) = edit(&k.bundle_id, &k.version, uuid);
        s.push_str(&format!(
            "{:>5} {:>4} 0xffffff7f8{i:x}000000 0x3000     0x3000     {id} ({version}) {uuid} <4 3 1>\n",
            i + 20,
            0
        ));
    }
    s
}

fn same(id: &str, version: &str, uuid: String) -> (String, String, String) {
    (id.into(), version.into(), uuid)
}

fn codes(f: &[kcheck::check::finding::Finding]) -> Vec<(&'static str, String)> {
    f.iter().map(|x| (x.code.as_str(), x.subject.clone())).collect()
}

#[test]
fn healthy_root_running_what_is_installed_has_no_findings() {
    for (root, kernel) in [("healthy-10.14", "18.7.0"), ("healthy-11", "20.6.0")] {
        let f = facts(root);
        assert!(f.cache(kcheck::facts::Role::Boot).and_then(|s| s.state.info()).is_some());
        let k = kcheck::logs::kextstat::parse(&listing(kernel, same)).unwrap();
        assert_eq!(k.len(), 4 + base_kexts().len());
        let found = kcheck::check::loaded::compare_with_system(&k, &f);
        assert!(found.is_empty(), "{root}: {found:?}");
        let mut out = Vec::new();
        kcheck::report::loaded::write_text(&mut out, kcheck::report::Style::PLAIN, &k, &found).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("No findings."), "{s}");
    }
}

#[test]
fn loaded_kext_missing_from_the_boot_cache_is_ld001() {
    let f = facts("healthy-10.14");
    let mut text = listing("18.7.0", same);
    text.push_str("   40    0 0xffffff7f90000000 0x3000     0x3000     com.example.driver.Extra (2.0) 11111111-2222-3333-4444-555555555555 <4 3 1>\n");
    let k = kcheck::logs::kextstat::parse(&text).unwrap();
    let found = kcheck::check::loaded::compare_with_system(&k, &f);
    assert_eq!(codes(&found), vec![("LD001", "com.example.driver.Extra".to_string())]);
    let x = &found[0];
    assert_eq!(x.severity, kcheck::check::finding::Severity::Warning);
    assert_eq!(x.evidence["bundle_id"], "com.example.driver.Extra");
    assert_eq!(x.evidence["loaded_version"], "2.0");
    assert_eq!(x.evidence["loaded_uuid"], "11111111-2222-3333-4444-555555555555");
    assert!(x.evidence["disk_path"].is_null());
    assert!(x.remedy.contains("sudo kextcache -i /"), "{}", x.remedy);
    assert!(x.remedy.contains("sudo kmutil install --update-all"));

    // Without a cache there is nothing to compare with.
    assert!(kcheck::check::loaded::findings(&k, None, Some(&f.installed)).is_empty());

    let v = kcheck::report::loaded::to_json(&k, &found);
    assert_eq!(v["findings"][0]["code"], "LD001");
    assert_eq!(v["verdict"], "attention");
    let mut out = Vec::new();
    kcheck::report::loaded::write_text(&mut out, kcheck::report::Style::PLAIN, &k, &found).unwrap();
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("WARNINGS (1)"), "{s}");
    assert!(s.contains("  LD001  com.example.driver.Extra"), "{s}");
    assert!(s.contains("Remedy: It is loaded now"), "{s}");
    assert!(s.contains("THIRD-PARTY KEXTS"), "{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
}

#[test]
fn loaded_version_other_than_disk_is_ld002() {
    let f = facts("healthy-10.14");
    let text = listing("18.7.0", |id, v, u| {
        if id == "com.example.driver.FooNet" { (id.into(), "1.2.2".into(), u) } else { same(id, v, u) }
    });
    let k = kcheck::logs::kextstat::parse(&text).unwrap();
    let found = kcheck::check::loaded::compare_with_system(&k, &f);
    assert_eq!(codes(&found), vec![("LD002", "com.example.driver.FooNet".to_string())]);
    let x = &found[0];
    assert_eq!(x.evidence["loaded_version"], "1.2.2");
    assert_eq!(x.evidence["disk_version"], "1.2.3");
    assert_eq!(x.evidence["cache_version"], "1.2.3");
    assert_eq!(x.evidence["disk_path"], "/Library/Extensions/FooNet.kext");
    assert!(x.remedy.starts_with("Restart"), "{}", x.remedy);
}

#[test]
fn same_version_other_build_is_ld002_saying_the_build_differs() {
    let f = facts("healthy-10.14");
    let other = "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE";
    let text = listing("18.7.0", |id, v, u| {
        if id == "com.example.driver.BarStorage" { (id.into(), v.into(), other.into()) } else { same(id, v, u) }
    });
    let k = kcheck::logs::kextstat::parse(&text).unwrap();
    let found = kcheck::check::loaded::compare_with_system(&k, &f);
    assert_eq!(codes(&found), vec![("LD002", "com.example.driver.BarStorage".to_string())]);
    let x = &found[0];
    assert!(x.message.contains("build differs"), "{}", x.message);
    assert_eq!(x.evidence["loaded_uuid"], other);
    assert_ne!(x.evidence["disk_uuid"], other);
}

#[test]
fn kernel_components_and_codeless_kexts_are_not_ld001() {
    let f = facts("healthy-11");
    // FooNet is only in the auxiliary collection: merged, it is cached.
    let aux = f.cache(kcheck::facts::Role::Auxiliary).and_then(|s| s.state.info()).unwrap();
    assert!(aux.kexts.iter().any(|x| x.bundle_id == "com.example.driver.FooNet"));
    let boot = f.cache(kcheck::facts::Role::Boot).and_then(|s| s.state.info()).unwrap();
    assert!(!boot.kexts.iter().any(|x| x.bundle_id == "com.example.driver.FooNet"));
    // kmutil's kernel components: address 0, the kernel's UUID, `<>`.
    let text = format!(
        "{HEADER}\n    1  142 0                  0          0          com.apple.kpi.bsd (20.6.0) 52A1E876-863E-38E3-AC80-09BBAB13B752 <>\n    2    1 0                  0          0          com.apple.kernel.unknown (20.6.0) 52A1E876-863E-38E3-AC80-09BBAB13B752 <>\n    3    0 0                  0          0          com.example.codeless.NotCached (1.0) no UUID <>\n"
    );
    let k = kcheck::logs::kextstat::parse(&text).unwrap();
    let found = kcheck::check::loaded::compare_with_system(&k, &f);
    assert_eq!(codes(&found), vec![("LD001", "com.example.codeless.NotCached".to_string())]);
}

/// A tiny deterministic generator: the tests need no `rand`.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn truncations_and_garbage_never_panic() {
    let mut texts: Vec<String> = Vec::new();
    if let Some(rd) = realdata() {
        for p in sample_paths(&rd.join("kextstat")) {
            texts.push(std::fs::read_to_string(p).unwrap());
        }
    }
    texts.push(listing("18.7.0", same));
    let f = facts("healthy-10.14");
    let boot = f.cache(kcheck::facts::Role::Boot).and_then(|s| s.state.info());
    let mut checked = 0;
    for text in &texts {
        for (cut, _) in text.char_indices() {
            let part = &text[..cut];
            if let Ok(k) = kcheck::logs::kextstat::parse(part) {
                let found = kcheck::check::loaded::findings(&k, boot, Some(&f.installed));
                let mut out = Vec::new();
                kcheck::report::loaded::write_text_all(&mut out, kcheck::report::Style::PLAIN, &k, &found).unwrap();
                let _ = kcheck::report::loaded::to_json(&k, &found);
            }
            checked += 1;
        }
    }
    assert!(checked > 100);
    let alphabet: Vec<char> = " \t\n\r0123456789abcdefx?()<>-.ABCDEFUIDno❯é".chars().collect();
    let mut rng = Lcg(0x5eed);
    for round in 0..2000 {
        let len = (rng.next() % 300) as usize;
        let mut s: String = (0..len).map(|_| alphabet[(rng.next() as usize) % alphabet.len()]).collect();
        if round % 2 == 0 {
            s = format!("{HEADER}\n    1    0 {s}");
        }
        if let Ok(k) = kcheck::logs::kextstat::parse(&s) {
            let found = kcheck::check::loaded::findings(&k, boot, Some(&f.installed));
            let mut out = Vec::new();
            kcheck::report::loaded::write_text(&mut out, kcheck::report::Style::PLAIN, &k, &found).unwrap();
        }
    }
}
