//! Seed corpora for the fuzz targets in `fuzz/`:
//! `cargo run --example fuzz_seeds -- fuzz/corpus` writes one folder per
//! target, from the synthetic fixtures (and `../shared/realdata` when it
//! exists). Used by `fuzz/run.sh`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use kcheck_testkit::synth::{self, Arch};

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(name), bytes)
}

fn sized(size: usize, stream: &[u8]) -> Vec<u8> {
    // The lzss/lzvn targets read the declared size (in 4-byte units) first.
    let mut v = ((size.div_ceil(4)).min(u16::MAX as usize) as u16).to_le_bytes().to_vec();
    v.extend_from_slice(stream);
    v
}

fn copy_dir(dir: &Path, target: &str, from: &Path) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(()) };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_file() && !p.to_string_lossy().contains("SOURCES") {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            put(dir, target, &name, &std::fs::read(&p)?)?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into()));
    for (name, bytes) in synth::cache_fixtures().into_iter().chain(synth::kext_fixtures()) {
        put(&dir, "container", name, &bytes)?;
        if bytes.starts_with(&[0xcf, 0xfa, 0xed, 0xfe]) {
            put(&dir, "macho_prelink", name, &bytes)?;
        }
    }
    // Small images keep the decoders' seeds fast.
    let small = synth::prelinked_kernel(&synth::catalina_kernel(), &synth::kexts_a()[..2], Arch::X86_64, [1; 16]);
    let small = &small[..small.len().min(0x4000)];
    put(&dir, "lzss", "plk-head", &sized(small.len(), &kcheck_testkit::encode::lzss_encode(small)))?;
    put(
        &dir,
        "lzss",
        "text",
        &sized(64, &kcheck_testkit::encode::lzss_encode(b"hello hello hello hello, kernel cache")),
    )?;
    put(&dir, "lzvn", "plk-head", &sized(small.len(), &kcheck_testkit::encode::lzvn_encode(small)))?;
    put(
        &dir,
        "lzvn",
        "text",
        &sized(40, &kcheck_testkit::encode::lzvn_encode(b"hello hello hello hello, kernel cache")),
    )?;
    put(&dir, "lzfse", "plk-head", &kcheck_testkit::encode::lzfse_encode(small))?;
    put(&dir, "lzfse", "tiny", &kcheck_testkit::encode::lzfse_encode(b"kernel"))?;
    put(&dir, "lzfse", "small", &kcheck_testkit::encode::lzfse_encode(&small[..3000]))?;
    // Prelink XML: both dialects, from the fixtures' own info sections.
    let plk = synth::prelinked_kernel(&synth::catalina_kernel(), &synth::kexts_a(), Arch::X86_64, [2; 16]);
    let kc =
        synth::kernel_collection(Some(&synth::big_sur_kernel()), &synth::kexts_a()[..3], Arch::X86_64, [3; 16], None);
    for (name, image) in [("kernel-dialect", &plk), ("kc-plist", &kc)] {
        let view = kcheck::macho::MachView::parse(image, 0, "seed").expect("fixture parses");
        if let Ok(Some((_, xml))) = view.section_data("__PRELINK_INFO", "__info") {
            put(&dir, "prelink_xml", name, xml)?;
        }
    }
    for k in kcheck_testkit::roots::base_kexts() {
        put(&dir, "info_plist", &k.bundle_id, &kcheck_testkit::roots::info_plist(&k))?;
    }
    put(&dir, "info_plist", "exe", &synth::kext_macho(&synth::kexts_a()[6], Arch::X86_64, 0, 0))?;
    // Shapes the hostile-input review found (issue 14): an LZFSE stream
    // wrapping a FAT file, deeply nested plists, IDREF fan-out.
    if let Some((_, fat)) = synth::cache_fixtures().into_iter().find(|(n, _)| n.ends_with("fat-raw")) {
        put(&dir, "container", "lzfse-wrapped-fat", &kcheck_testkit::encode::lzfse_encode(&fat))?;
    }
    let deep = format!("<plist><dict><key>a</key>{}</dict></plist>", "<array>".repeat(200));
    put(&dir, "info_plist", "deep-xml", deep.as_bytes())?;
    put(&dir, "plist", "deep-xml", deep.as_bytes())?;
    for k in kcheck_testkit::roots::base_kexts().iter().take(2) {
        put(&dir, "plist", &k.bundle_id, &kcheck_testkit::roots::info_plist(k))?;
    }
    let mut fan = String::from("<array><dict ID=\"0\"><key>CFBundleIdentifier</key><string>x</string></dict>");
    fan.push_str(&"<dict IDREF=\"0\"/>".repeat(64));
    fan.push_str("</array>");
    put(&dir, "prelink_xml", "idref-fan-out", fan.as_bytes())?;
    put(&dir, "versions", "rule", b"LE 1.5.0, 2.0.0 thru 3.1.4, 4.2.2\x001.6")?;
    put(&dir, "versions", "plain", b"1.0b255\x001.0fc1")?;
    let realdata = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/realdata");
    copy_dir(&dir, "codesign", &realdata.join("kext_bundles"))?;
    for sub in ["IOKitTest-x86_64.kext", "IOKitTest-arm64e.kext", "IOKitTest-fat-arm64-x86_64.kext"] {
        copy_dir(&dir, "codesign", &realdata.join("kext_bundles").join(sub).join("Contents/MacOS"))?;
    }
    copy_dir(&dir, "plist", &realdata.join("kext_plists/binary-bplist"))?;
    copy_dir(&dir, "panic_report", &realdata.join("panics"))?;
    copy_dir(&dir, "panic_report", &realdata.join("panic"))?;
    copy_dir(&dir, "zprint", &realdata.join("zprint"))?;
    copy_dir(&dir, "kextstat", &realdata.join("kextstat"))?;
    copy_dir(&dir, "container", &realdata.join("img4"))?;
    put(&dir, "zprint", "minimal", b"zone name   elem size  cur size  max size  cur #elts  max #elts  cur inuse  alloc size  alloc count\n---\nkalloc.48  48  1024K  2048K  21845  43690  20000  4K  85  C\n")?;
    put(&dir, "kextstat", "minimal", b"Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n    1   90 0xffffff8000200000 0x1000     0x1000     com.apple.kpi.bsd (19.0.0) 2B5F1D8C-0E3A-3E2B-9C6C-6B2A4C0D3E1F\n   10    0 0xffffff7f80000000 0x1000     0x1000     com.example.driver.FooNet (1.2.3) A7590331-DFF5-DEA8-960E-22B16AB8632F <1>\n")?;
    put(&dir, "panic_report", "minimal", b"panic(cpu 0 caller 0xffffff80002c9b5a): \"zalloc: zone map exhausted while allocating from zone kalloc.48, likely due to memory leak in zone kalloc.48 (6676135520 total bytes, 139085865 elements allocated)\"@/x/zalloc.c:3117\nMac OS version:\n19G73\n")?;
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let n = std::fs::read_dir(entry.path())?.count();
        println!("{n:>4} seeds  {}", entry.path().display());
    }
    Ok(())
}
