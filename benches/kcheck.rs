//! The Rust benchmark harness (divan): decoders, the prelink XML parser,
//! SHA-256, whole-cache analysis and `verify`, on realistic-size inputs
//! generated once per run (600 kexts, ~64 MB raw). `cargo bench`; the
//! comparison with other tools is `bench/compare.sh`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::sync::OnceLock;

use divan::Bencher;
use divan::counter::BytesCount;
use kcheck_testkit::synth;

fn main() {
    divan::main();
}

struct Data {
    raw: Vec<u8>,
    files: Vec<(String, Vec<u8>)>,
    lzvn: (Vec<u8>, usize),
    lzss: (Vec<u8>, usize),
    lzfse: Vec<u8>,
    xml: Vec<u8>,
}

const KEXTS: usize = 600;

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// The `comp` stream inside a file: (stream, uncompressed size).
fn comp_stream(file: &[u8], at: usize) -> (Vec<u8>, usize) {
    let usize_ = be32(file, at + 0xc);
    let csize = be32(file, at + 0x10);
    (file[at + 0x180..at + 0x180 + csize].to_vec(), usize_)
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let files = synth::scaled_fixtures(KEXTS, 100 * 1024);
        let get = |suffix: &str| files.iter().find(|(n, _)| n.ends_with(suffix)).unwrap().1.clone();
        let raw = get(".raw");
        let lzvn = comp_stream(&get(".fat-lzvn"), 0x1c);
        let lzss = comp_stream(&get(".comp-lzss"), 0);
        let lzfse = kcheck_testkit::encode::lzfse_encode(&raw);
        let view = kcheck::macho::MachView::parse(&raw, 0, "bench").unwrap();
        let xml = view.section_data("__PRELINK_INFO", "__info").unwrap().unwrap().1;
        let end = xml.iter().position(|b| *b == 0).unwrap_or(xml.len());
        let xml = xml[..end].to_vec();
        Data { raw, files, lzvn, lzss, lzfse, xml }
    })
}

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-root");
        if !dir.join("root/System/Library/CoreServices/SystemVersion.plist").exists() {
            kcheck_testkit::roots::write_scaled_root(&dir, KEXTS, 100 * 1024).unwrap();
        }
        dir.join("root")
    })
}

#[divan::bench(sample_count = 10)]
fn lzvn_decode(b: Bencher) {
    let (stream, size) = &data().lzvn;
    b.counter(BytesCount::new(*size)).bench(|| kcheck::compress::lzvn_decode(stream, *size, "lzvn").unwrap());
}

/// The same stream decoded through the 64 KiB window, each piece only
/// checksummed (what `kexts` does with the pages it does not keep).
#[divan::bench(sample_count = 10)]
fn lzvn_decode_stream(b: Bencher) {
    let (stream, size) = &data().lzvn;
    b.counter(BytesCount::new(*size)).bench(|| {
        let mut h = kcheck::compress::Adler32::new();
        let mut read = |off: u64, buf: &mut [u8]| {
            buf.copy_from_slice(&stream[off as usize..off as usize + buf.len()]);
            Ok(())
        };
        kcheck::compress::lzvn_decode_stream(stream.len() as u64, *size, "lzvn", &mut read, &mut |_, p| h.write(p))
            .unwrap();
        h.finish()
    });
}

#[divan::bench(sample_count = 10)]
fn lzss_decode(b: Bencher) {
    let (stream, size) = &data().lzss;
    b.counter(BytesCount::new(*size)).bench(|| {
        let mut out = vec![0u8; *size];
        kcheck::compress::lzss_decode(stream, &mut out, "lzss").unwrap();
        out
    });
}

#[divan::bench(sample_count = 10)]
fn lzfse_decode(b: Bencher) {
    let d = data();
    b.counter(BytesCount::new(d.raw.len()))
        .bench(|| kcheck::compress::lzfse_decode(&d.lzfse, 1 << 30, "lzfse").unwrap());
}

#[divan::bench(sample_count = 20)]
fn prelink_xml_parse(b: Bencher) {
    let xml = &data().xml;
    b.counter(BytesCount::new(xml.len())).bench(|| kcheck::prelink::parse(xml).unwrap().node_count());
}

#[divan::bench(sample_count = 10)]
fn sha256(b: Bencher) {
    let raw = &data().raw;
    b.counter(BytesCount::new(raw.len())).bench(|| kcheck::cache::sha256_hex(raw));
}

#[divan::bench(sample_count = 10)]
fn adler32(b: Bencher) {
    let raw = &data().raw;
    b.counter(BytesCount::new(raw.len())).bench(|| kcheck::compress::adler32(raw));
}

#[divan::bench(args = ["raw", "fat-lzvn", "comp-lzss", "im4p-lzfse", "kc"], sample_count = 10)]
fn analyze(b: Bencher, kind: &str) {
    let (_, bytes) = data().files.iter().find(|(n, _)| n.ends_with(kind)).unwrap();
    b.counter(BytesCount::new(bytes.len())).bench(|| kcheck::cache::analyze(bytes, None).unwrap().kexts.len());
}

/// `cache::open` on a file: a raw one read piecewise, a `comp`/LZVN one
/// decoded as a stream, LZSS read whole.
#[divan::bench(args = ["raw", "fat-lzvn", "comp-lzss"], sample_count = 10)]
fn open_file(b: Bencher, kind: &str) {
    let (name, bytes) = data().files.iter().find(|(n, _)| n.ends_with(kind)).unwrap();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-files");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let opts = kcheck::cache::OpenOptions::default();
    b.counter(BytesCount::new(bytes.len())).bench(|| kcheck::cache::open(&path, &opts).unwrap().kexts.len());
}

#[divan::bench(sample_count = 5)]
fn verify_big_root(b: Bencher) {
    let root = root();
    b.bench(|| {
        let opts = kcheck::facts::VerifyOptions {
            root: root.clone(),
            data_root: None,
            sip: kcheck::system::Sip::Unknown,
            preboot: None,
        };
        kcheck::app::verify::verify(&opts).unwrap().findings.len()
    });
}
