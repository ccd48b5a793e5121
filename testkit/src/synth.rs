//! Synthetic fixtures: kext executables, prelinked kernels, kernel
//! collections and every container kcheck reads, written from scratch by
//! this module (no Apple binaries are copied). The tests, the README demo
//! and `cargo run --example gen_fixtures` (which refreshes `testdata/`)
//! all build their inputs here, so the fixtures are reproducible
//! byte-for-byte.
//!
//! The layouts follow the public formats (see `docs/formats.md`): Mach-O
//! headers and load commands as in `<mach-o/loader.h>`, the prelink XML in
//! the kernel's own dialect (via [`crate::xml`]), Apple's 0x180-byte
//! `comp` header, FAT with kextcache's `align = 0` packing, and IM4P DER.

use std::io;
use std::path::{Path, PathBuf};

use crate::xml::Value;

/// CPU types used by the fixtures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// `CPU_TYPE_X86_64`.
    X86_64,
    /// `CPU_TYPE_ARM64`, subtype `CPU_SUBTYPE_ARM64E`.
    Arm64e,
    /// `CPU_TYPE_ARM64`, subtype `CPU_SUBTYPE_ARM64_ALL` (plain arm64,
    /// which a kext on Apple silicon may not be).
    Arm64,
}

impl Arch {
    fn cpu(self) -> (u32, u32) {
        match self {
            Arch::X86_64 => (0x0100_0007, 3),
            Arch::Arm64e => (0x0100_000c, 2),
            Arch::Arm64 => (0x0100_000c, 0),
        }
    }
}

/// The architectures of an installed kext's executable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExeArchs {
    /// A thin x86_64 Mach-O (the default).
    #[default]
    X86_64,
    /// A thin arm64e Mach-O.
    Arm64e,
    /// A thin plain-arm64 Mach-O.
    Arm64,
    /// A FAT file with an x86_64 and an arm64e slice (lipo's alignment).
    FatX86_64Arm64e,
}

impl ExeArchs {
    /// The slices, in file order.
    pub fn slices(self) -> &'static [Arch] {
        match self {
            ExeArchs::X86_64 => &[Arch::X86_64],
            ExeArchs::Arm64e => &[Arch::Arm64e],
            ExeArchs::Arm64 => &[Arch::Arm64],
            ExeArchs::FatX86_64Arm64e => &[Arch::X86_64, Arch::Arm64e],
        }
    }
}

/// A kext to synthesise.
#[derive(Clone, Debug, Default)]
pub struct SynthKext {
    /// `CFBundleIdentifier`.
    pub bundle_id: String,
    /// `CFBundleVersion`.
    pub version: String,
    /// Bundle path on the volume.
    pub bundle_path: String,
    /// Executable name (`None`: a codeless kext).
    pub executable: Option<String>,
    /// `LC_UUID` of the executable.
    pub uuid: [u8; 16],
    /// Bytes of code to generate.
    pub code_size: usize,
    /// `OSBundleLibraries`.
    pub libraries: Vec<(String, String)>,
    /// A ready-made executable to link instead of a generated one (e.g. a
    /// real kext executable a test reads from `../shared/realdata`).
    pub image: Option<Vec<u8>>,
    /// Number of `IOKitPersonalities` entries to write into its plist
    /// (real caches keep them for boot-time kexts; they dominate the XML).
    pub personalities: usize,
    /// `OSBundleRequired` (`Root`, `Local-Root`, `Console`, …), written into
    /// the installed Info.plist and the prelink info; `None` omits the key.
    pub required: Option<String>,
    /// `CFBundlePackageType` of the installed Info.plist: `None` writes
    /// `KEXT`, `Some(None)` omits the key, `Some(Some(t))` writes `t`.
    pub package_type: Option<Option<String>>,
    /// `CFBundleVersion` of the installed Info.plist, raw (e.g. the invalid
    /// `1.2.3.4`): `None` writes [`SynthKext::version`], `Some(None)` omits
    /// the key. Caches always record [`SynthKext::version`].
    pub raw_version: Option<Option<String>>,
    /// Team identifier to sign the installed executable with
    /// ([`crate::codesign::sign`], identifier = the bundle id); `None`
    /// leaves it unsigned. Caches link the unsigned image (same `LC_UUID`).
    pub team_id: Option<String>,
    /// Architectures of the installed executable. Caches link the slice of
    /// the cache's own architecture.
    pub archs: ExeArchs,
    /// Further Info.plist keys, written last (e.g. `OSKextExcludeList`).
    pub extra_info: Vec<(String, Value)>,
}

impl SynthKext {
    /// With `OSBundleRequired` = `value`.
    pub fn required(mut self, value: &str) -> Self {
        self.required = Some(value.into());
        self
    }

    /// Without `OSBundleRequired`.
    pub fn not_required(mut self) -> Self {
        self.required = None;
        self
    }

    /// Signed with team identifier `team`.
    pub fn signed(mut self, team: &str) -> Self {
        self.team_id = Some(team.into());
        self
    }

    /// With an executable of these architectures.
    pub fn archs(mut self, archs: ExeArchs) -> Self {
        self.archs = archs;
        self
    }

    /// Codeless (no `CFBundleExecutable`).
    pub fn codeless(mut self) -> Self {
        self.executable = None;
        self
    }

    /// The same kext at another bundle path.
    pub fn at(mut self, path: &str) -> Self {
        self.bundle_path = path.into();
        self
    }
}

/// The kernel to synthesise.
#[derive(Clone, Debug)]
pub struct SynthKernel {
    /// `Darwin Kernel Version …`.
    pub version: String,
    /// `LC_UUID`.
    pub uuid: [u8; 16],
    /// The Darwin release (`19.0.0`), used for the kpi pseudo-kexts.
    pub darwin: String,
    /// Bytes of fake code in the kernel's `__TEXT,__text`.
    pub text_size: usize,
}

/// A small deterministic PRNG (splitmix64).
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A UUID derived from the stream.
    pub fn uuid(&mut self) -> [u8; 16] {
        let mut u = [0u8; 16];
        u[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        u[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        u
    }
}

/// UUID for a name (stable across runs).
pub fn uuid_for(name: &str) -> [u8; 16] {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(h).uuid()
}

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn put_name(v: &mut Vec<u8>, name: &str) {
    let mut b = [0u8; 16];
    b[..name.len()].copy_from_slice(name.as_bytes());
    v.extend_from_slice(&b);
}

fn u32le(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn u64le(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// A section to place in a segment: name and contents.
struct SectSpec {
    name: &'static str,
    data: Vec<u8>,
}

/// A segment to place in an image. A segment whose sections are all
/// empty (and which does not cover the header) is written empty, as the
/// `__PRELINK_*` segments of a real kernel: vmsize and filesize 0, its
/// file offset the end of the contents laid out before it, its sections
/// of size 0 at that offset.
struct SegSpec {
    name: &'static str,
    vmaddr: u64,
    sections: Vec<SectSpec>,
    /// Extra bytes at the start of the segment (before the sections),
    /// e.g. the Mach-O header for `__TEXT`.
    covers_header: bool,
}

/// Build a 64-bit little-endian Mach-O. Segment file offsets are
/// `file_base +` their position in the returned bytes (a fileset entry
/// lives at `file_base` of its collection and uses absolute offsets).
fn build_macho(
    arch: Arch,
    filetype: u32,
    segments: &[SegSpec],
    uuid: Option<[u8; 16]>,
    extra_cmds: &[Vec<u8>],
    file_base: u64,
) -> Vec<u8> {
    let (cputype, cpusubtype) = arch.cpu();
    let mut cmds_size: usize = segments.iter().map(|s| 72 + 80 * s.sections.len()).sum();
    cmds_size += if uuid.is_some() { 24 } else { 0 };
    cmds_size += extra_cmds.iter().map(Vec::len).sum::<usize>();
    let ncmds = segments.len() + usize::from(uuid.is_some()) + extra_cmds.len();
    let header_end = 32 + cmds_size;
    // Lay out segment contents.
    let mut layout = Vec::new(); // (fileoff, filesize, section offsets)
    let mut pos = 0usize;
    for seg in segments {
        if !seg.covers_header && seg.sections.iter().all(|s| s.data.is_empty()) {
            layout.push((pos, 0, vec![pos; seg.sections.len()]));
            continue;
        }
        let start = if seg.covers_header { 0 } else { align(pos.max(header_end), 0x1000) };
        let mut p = if seg.covers_header { align(header_end, 16) } else { start };
        let mut offs = Vec::new();
        for s in &seg.sections {
            p = align(p, 16);
            offs.push(p);
            p += s.data.len();
        }
        let end = align(p.max(start + 1), 0x1000);
        layout.push((start, end - start, offs));
        pos = end;
    }
    let total = pos.max(align(header_end, 0x1000));
    let mut out = Vec::with_capacity(total);
    u32le(&mut out, 0xfeed_facf);
    u32le(&mut out, cputype);
    u32le(&mut out, cpusubtype);
    u32le(&mut out, filetype);
    u32le(&mut out, ncmds as u32);
    u32le(&mut out, cmds_size as u32);
    u32le(&mut out, if filetype == 12 { 0x8000_0000 } else { 0x0020_0001 });
    u32le(&mut out, 0);
    for (seg, (fileoff, filesize, offs)) in segments.iter().zip(&layout) {
        u32le(&mut out, 0x19);
        u32le(&mut out, (72 + 80 * seg.sections.len()) as u32);
        put_name(&mut out, seg.name);
        u64le(&mut out, seg.vmaddr);
        u64le(&mut out, *filesize as u64);
        u64le(&mut out, file_base + *fileoff as u64);
        u64le(&mut out, *filesize as u64);
        u32le(&mut out, 7);
        u32le(&mut out, 5);
        u32le(&mut out, seg.sections.len() as u32);
        u32le(&mut out, 0);
        for (s, off) in seg.sections.iter().zip(offs) {
            put_name(&mut out, s.name);
            put_name(&mut out, seg.name);
            u64le(&mut out, seg.vmaddr + (off - fileoff) as u64);
            u64le(&mut out, s.data.len() as u64);
            u32le(&mut out, (file_base + *off as u64) as u32);
            u32le(&mut out, 4);
            for _ in 0..6 {
                u32le(&mut out, 0);
            }
        }
    }
    if let Some(u) = uuid {
        u32le(&mut out, 0x1b);
        u32le(&mut out, 24);
        out.extend_from_slice(&u);
    }
    for c in extra_cmds {
        out.extend_from_slice(c);
    }
    out.resize(total, 0);
    for (seg, (_, _, offs)) in segments.iter().zip(&layout) {
        for (s, off) in seg.sections.iter().zip(offs) {
            out[*off..*off + s.data.len()].copy_from_slice(&s.data);
        }
    }
    out
}

/// Plausible, compressible "machine code" for a kext: repeated instruction
/// patterns, some random bytes, and the kext's own strings.
fn fake_code(seed: &str, size: usize) -> Vec<u8> {
    let mut rng = Rng::new(u64::from_le_bytes(uuid_for(seed)[..8].try_into().expect("8 bytes")));
    let mut v = Vec::with_capacity(size);
    let prologue = [0x55u8, 0x48, 0x89, 0xe5, 0x41, 0x57, 0x41, 0x56, 0x53, 0x50];
    while v.len() < size {
        v.extend_from_slice(&prologue);
        let r = rng.next_u64();
        v.extend_from_slice(&r.to_le_bytes()[..(r % 7) as usize]);
        v.extend_from_slice(&[0x48, 0x8b, 0x05, (r >> 8) as u8, (r >> 16) as u8, 0, 0, 0xc3]);
        if r.is_multiple_of(5) {
            v.extend_from_slice(seed.as_bytes());
            v.push(0);
        }
    }
    v.truncate(size);
    v
}

/// A kext executable (`MH_KEXT_BUNDLE`) with `__TEXT,__text` and `LC_UUID`
/// (or the kext's ready-made [`SynthKext::image`]).
pub fn kext_macho(k: &SynthKext, arch: Arch, vmaddr: u64, file_base: u64) -> Vec<u8> {
    if let Some(image) = &k.image {
        return image.clone();
    }
    let mut cstrings = format!("{}\0{}\0", k.bundle_id, k.version).into_bytes();
    cstrings.extend_from_slice(b"IOService\0start\0stop\0");
    build_macho(
        arch,
        11,
        &[SegSpec {
            name: "__TEXT",
            vmaddr,
            covers_header: true,
            sections: vec![
                SectSpec { name: "__text", data: fake_code(&k.bundle_id, k.code_size) },
                SectSpec { name: "__cstring", data: cstrings },
            ],
        }],
        Some(k.uuid),
        &[],
        file_base,
    )
}

/// A bare kernel (`/System/Library/Kernels/kernel`) in the layout of a
/// real one: `MH_EXECUTE` with the kernel's `__TEXT` (version strings),
/// `__DATA` and `LC_UUID`, and the `__PRELINK_TEXT`, `__PRELINK_INFO`
/// (with an empty `__info` section) and `__PRELINK_DATA` segments that
/// kextcache fills when it links a prelinkedkernel, present but empty
/// (vmsize and filesize 0). `__PRELINK_TEXT` sits below `__TEXT` in the
/// address space, where the prelinked kexts go.
pub fn prelinked_kernel_without_kexts(kernel: &SynthKernel, arch: Arch) -> Vec<u8> {
    let text_base: u64 = 0xffff_ff80_0020_0000;
    let empty = |name: &'static str| vec![SectSpec { name, data: Vec::new() }];
    let segs = [
        SegSpec { name: "__TEXT", vmaddr: text_base, covers_header: true, sections: kernel_text(kernel) },
        SegSpec {
            name: "__DATA",
            vmaddr: text_base + 0x10_0000,
            covers_header: false,
            sections: vec![SectSpec { name: "__data", data: vec![0x11; 0x200] }],
        },
        SegSpec {
            name: "__PRELINK_TEXT",
            vmaddr: 0xffff_ff7f_8000_0000,
            covers_header: false,
            sections: empty("__text"),
        },
        SegSpec {
            name: "__PRELINK_INFO",
            vmaddr: text_base + 0x80_0000,
            covers_header: false,
            sections: empty("__info"),
        },
        SegSpec {
            name: "__PRELINK_DATA",
            vmaddr: text_base + 0x90_0000,
            covers_header: false,
            sections: empty("__data"),
        },
    ];
    build_macho(arch, 2, &segs, Some(kernel.uuid), &[], 0)
}

/// The executable of an installed kext: one [`kext_macho`] per slice of
/// [`SynthKext::archs`] (the first slice has [`SynthKext::uuid`], later
/// ones a UUID derived from it and their architecture), each signed with
/// [`SynthKext::team_id`] when set, in a FAT file when there are several.
/// A ready-made [`SynthKext::image`] is returned as it is.
pub fn installed_executable(k: &SynthKext) -> Vec<u8> {
    if let Some(image) = &k.image {
        return image.clone();
    }
    let slices: Vec<(Arch, Vec<u8>)> = k
        .archs
        .slices()
        .iter()
        .enumerate()
        .map(|(i, &arch)| {
            let mut slice = k.clone();
            if i > 0 {
                slice.uuid = uuid_for(&format!("{}-{}-{arch:?}", k.bundle_id, k.version));
            }
            let image = kext_macho(&slice, arch, 0, 0);
            let image = match &k.team_id {
                Some(team) => crate::codesign::sign(&image, &k.bundle_id, Some(team)),
                None => image,
            };
            (arch, image)
        })
        .collect();
    match slices.as_slice() {
        [(_, one)] => one.clone(),
        _ => fat(&slices.iter().map(|(a, b)| (*a, b.as_slice())).collect::<Vec<_>>(), false),
    }
}

fn kernel_text(kernel: &SynthKernel) -> Vec<SectSpec> {
    let mut cs = Vec::new();
    cs.extend_from_slice(format!("@(#)VERSION: {}\0", kernel.version).as_bytes());
    cs.extend_from_slice(b"kernel\0mach_kernel\0");
    cs.extend_from_slice(format!("{}\0", kernel.version).as_bytes());
    vec![
        SectSpec { name: "__text", data: fake_code(&kernel.version, kernel.text_size) },
        SectSpec { name: "__const", data: cs },
    ]
}

fn s(x: &str) -> Value {
    Value::String(x.to_string())
}

fn int64(x: u64) -> Value {
    Value::Integer { value: x, size: 64 }
}

/// The Info.plist dict of a kext as it appears in the prelink info.
fn kext_dict(k: &SynthKext, load: Option<(u64, u64)>) -> Value {
    let mut d = vec![
        ("CFBundleIdentifier".to_string(), s(&k.bundle_id)),
        ("CFBundleName".to_string(), s(k.bundle_id.rsplit('.').next().unwrap_or(&k.bundle_id))),
        ("CFBundlePackageType".to_string(), s("KEXT")),
        ("CFBundleInfoDictionaryVersion".to_string(), s("6.0")),
        ("CFBundleVersion".to_string(), s(&k.version)),
        ("CFBundleShortVersionString".to_string(), s(&k.version)),
    ];
    if let Some(r) = &k.required {
        d.push(("OSBundleRequired".to_string(), s(r)));
    }
    if let Some(exe) = &k.executable {
        d.push(("CFBundleExecutable".to_string(), s(exe)));
    }
    if k.personalities > 0 {
        let p = (0..k.personalities)
            .map(|i| {
                let name = format!("{}Personality{i}", k.bundle_id.rsplit('.').next().unwrap_or("Kext"));
                let body = vec![
                    ("CFBundleIdentifier".to_string(), s(&k.bundle_id)),
                    ("IOClass".to_string(), s(&name)),
                    ("IOProviderClass".to_string(), s("IOPCIDevice")),
                    ("IOPCIMatch".to_string(), s(&format!("0x{:04x}8086&0xffffffff", 0x1000 + i))),
                    ("IOProbeScore".to_string(), Value::Integer { value: 1000 + i as u64, size: 32 }),
                    ("IOMatchCategory".to_string(), s("IODefaultMatchCategory")),
                    ("Physical Interconnect Location".to_string(), s("Internal")),
                ];
                (name, Value::Dict(body))
            })
            .collect();
        d.push(("IOKitPersonalities".to_string(), Value::Dict(p)));
    }
    if !k.libraries.is_empty() {
        let libs = k.libraries.iter().map(|(id, v)| (id.clone(), s(v))).collect();
        d.push(("OSBundleLibraries".to_string(), Value::Dict(libs)));
    }
    d.extend(k.extra_info.iter().cloned());
    d.push(("_PrelinkBundlePath".to_string(), s(&k.bundle_path)));
    if let (Some(exe), Some((addr, size))) = (&k.executable, load) {
        d.push(("_PrelinkExecutableRelativePath".to_string(), s(&format!("Contents/MacOS/{exe}"))));
        d.push(("_PrelinkExecutableLoadAddr".to_string(), int64(addr)));
        d.push(("_PrelinkExecutableSourceAddr".to_string(), int64(addr)));
        d.push(("_PrelinkExecutableSize".to_string(), int64(size)));
        d.push(("_PrelinkKmodInfo".to_string(), int64(addr + 0x40)));
    }
    Value::Dict(d)
}

/// Interface pseudo-kexts (`com.apple.kpi.*`), codeless, version = Darwin.
fn kpi_kexts(kernel: &SynthKernel) -> Vec<SynthKext> {
    ["bsd", "iokit", "libkern", "mach"]
        .iter()
        .map(|n| SynthKext {
            bundle_id: format!("com.apple.kpi.{n}"),
            version: kernel.darwin.clone(),
            bundle_path: format!("/System/Library/Extensions/System.kext/PlugIns/{n}.kext"),
            executable: None,
            uuid: [0; 16],
            code_size: 0,
            libraries: vec![],
            image: None,
            personalities: 0,
            required: Some("Root".into()),
            ..SynthKext::default()
        })
        .collect()
}

/// An `MH_EXECUTE` prelinked kernel: the kernel's `__TEXT`, the kexts'
/// images in `__PRELINK_TEXT`, their Info.plists in `__PRELINK_INFO,__info`.
pub fn prelinked_kernel(kernel: &SynthKernel, kexts: &[SynthKext], arch: Arch, kcid: [u8; 16]) -> Vec<u8> {
    let text_base: u64 = 0xffff_ff80_0020_0000;
    let prelink_base: u64 = 0xffff_ff7f_8000_0000;
    // Kext images back to back, page aligned, at known vmaddrs.
    let mut ptext = Vec::new();
    let mut dicts = Vec::new();
    for k in kpi_kexts(kernel).iter().chain(kexts) {
        if k.executable.is_some() {
            let addr = prelink_base + ptext.len() as u64;
            let image = kext_macho(k, arch, addr, 0);
            dicts.push(kext_dict(k, Some((addr, image.len() as u64))));
            ptext.extend_from_slice(&image);
            ptext.resize(align(ptext.len(), 0x1000), 0);
        } else {
            let mut d = kext_dict(k, None);
            if let Value::Dict(entries) = &mut d {
                entries.push(("_PrelinkInterfaceUUID".into(), Value::Data(uuid_for(&k.bundle_id).to_vec())));
            }
            dicts.push(d);
        }
    }
    if ptext.is_empty() {
        ptext.resize(0x1000, 0);
    }
    let info = Value::Dict(vec![
        ("_PrelinkInfoDictionary".into(), Value::Array(dicts)),
        ("_PrelinkKCID".into(), Value::Data(kcid.to_vec())),
    ]);
    let xml = crate::xml::serialize_kernel(&info);
    // __PRELINK_TEXT must start at file offset == its placement; build_macho
    // places segments in order, each page aligned.
    let segs = [
        SegSpec { name: "__TEXT", vmaddr: text_base, covers_header: true, sections: kernel_text(kernel) },
        SegSpec {
            name: "__DATA",
            vmaddr: text_base + 0x10_0000,
            covers_header: false,
            sections: vec![SectSpec { name: "__data", data: vec![0x11; 0x200] }],
        },
        SegSpec {
            name: "__PRELINK_TEXT",
            vmaddr: prelink_base,
            covers_header: false,
            sections: vec![SectSpec { name: "__text", data: ptext }],
        },
        SegSpec {
            name: "__PRELINK_INFO",
            vmaddr: text_base + 0x80_0000,
            covers_header: false,
            sections: vec![SectSpec { name: "__info", data: xml }],
        },
    ];
    build_macho(arch, 2, &segs, Some(kernel.uuid), &[], 0)
}

fn fileset_entry_cmd(id: &str, vmaddr: u64, fileoff: u64) -> Vec<u8> {
    let size = align(32 + id.len() + 1, 8);
    let mut c = Vec::with_capacity(size);
    u32le(&mut c, 0x8000_0035);
    u32le(&mut c, size as u32);
    u64le(&mut c, vmaddr);
    u64le(&mut c, fileoff);
    u32le(&mut c, 32);
    u32le(&mut c, 0);
    c.extend_from_slice(id.as_bytes());
    c.resize(size, 0);
    c
}

/// An `MH_FILESET` kernel collection. With `kernel`, a boot collection
/// (kernel entry `com.apple.kernel`); without, an auxiliary collection
/// whose info names the boot collection it was linked against.
pub fn kernel_collection(
    kernel: Option<&SynthKernel>,
    kexts: &[SynthKext],
    arch: Arch,
    kcid: [u8; 16],
    boot_kcid: Option<[u8; 16]>,
) -> Vec<u8> {
    kernel_collection_linked(kernel, kexts, arch, kcid, boot_kcid, None)
}

/// [`kernel_collection`], and with `pageable_kcid` an Intel auxiliary
/// collection's `_PageableKCID` (the `_PrelinkKCID` of the system
/// collection it was linked against; xnu `OSKext.cpp`
/// `validateKCFileSetUUID`), written after `_BootKCID`.
pub fn kernel_collection_linked(
    kernel: Option<&SynthKernel>,
    kexts: &[SynthKext],
    arch: Arch,
    kcid: [u8; 16],
    boot_kcid: Option<[u8; 16]>,
    pageable_kcid: Option<[u8; 16]>,
) -> Vec<u8> {
    let base_vm: u64 = 0xffff_fe00_0700_0000;
    let mut all: Vec<SynthKext> = Vec::new();
    if let Some(k) = kernel {
        all.extend(kpi_kexts(k));
    }
    all.extend_from_slice(kexts);
    let coded: Vec<&SynthKext> = all.iter().filter(|k| k.executable.is_some()).collect();
    let mut ids: Vec<String> = Vec::new();
    if kernel.is_some() {
        ids.push("com.apple.kernel".into());
    }
    ids.extend(coded.iter().map(|k| k.bundle_id.clone()));
    // Header size: __PRELINK_INFO segment (1 section) + fileset entries + LC_UUID.
    let entry_cmds: usize = ids.iter().map(|id| align(32 + id.len() + 1, 8)).sum();
    let header_size = 32 + (72 + 80) + entry_cmds + 24;
    // Entry images are placed first, each page-aligned, then the info.
    let mut pos = align(header_size, 0x1000);
    let mut images: Vec<(String, u64, u64, Vec<u8>)> = Vec::new();
    if let Some(k) = kernel {
        let vm = base_vm + pos as u64;
        let img = build_macho(
            arch,
            2,
            &[SegSpec { name: "__TEXT", vmaddr: vm, covers_header: true, sections: kernel_text(k) }],
            Some(k.uuid),
            &[],
            pos as u64,
        );
        images.push(("com.apple.kernel".into(), vm, pos as u64, img));
        pos = align(pos + images.last().map_or(0, |i| i.3.len()), 0x1000);
    }
    let mut dicts = Vec::new();
    for k in &all {
        if k.executable.is_some() {
            let vm = base_vm + pos as u64;
            let img = kext_macho(k, arch, vm, pos as u64);
            dicts.push(kext_dict(k, Some((vm, img.len() as u64))));
            images.push((k.bundle_id.clone(), vm, pos as u64, img));
            pos = align(pos + images.last().map_or(0, |i| i.3.len()), 0x1000);
        } else {
            dicts.push(kext_dict(k, None));
        }
    }
    let mut top = vec![
        ("_PrelinkInfoDictionary".to_string(), Value::Array(dicts)),
        ("_PrelinkKCID".to_string(), Value::Data(kcid.to_vec())),
    ];
    if let Some(b) = boot_kcid {
        top.push(("_BootKCID".to_string(), Value::Data(b.to_vec())));
    }
    if let Some(p) = pageable_kcid {
        top.push(("_PageableKCID".to_string(), Value::Data(p.to_vec())));
    }
    let xml = crate::xml::serialize_plist(&Value::Dict(top));
    let info_off = pos;
    let info_vm = base_vm + info_off as u64;
    let total = align(info_off + xml.len(), 0x1000);
    let mut out = Vec::with_capacity(total);
    let (cputype, cpusubtype) = arch.cpu();
    u32le(&mut out, 0xfeed_facf);
    u32le(&mut out, cputype);
    u32le(&mut out, cpusubtype);
    u32le(&mut out, 12);
    u32le(&mut out, (1 + ids.len() + 1) as u32);
    u32le(&mut out, (header_size - 32) as u32);
    u32le(&mut out, 0x8000_0000);
    u32le(&mut out, 0);
    // __PRELINK_INFO segment with __info.
    u32le(&mut out, 0x19);
    u32le(&mut out, 152);
    put_name(&mut out, "__PRELINK_INFO");
    u64le(&mut out, info_vm);
    u64le(&mut out, (total - info_off) as u64);
    u64le(&mut out, info_off as u64);
    u64le(&mut out, (total - info_off) as u64);
    u32le(&mut out, 3);
    u32le(&mut out, 3);
    u32le(&mut out, 1);
    u32le(&mut out, 0);
    put_name(&mut out, "__info");
    put_name(&mut out, "__PRELINK_INFO");
    u64le(&mut out, info_vm);
    u64le(&mut out, xml.len() as u64);
    u32le(&mut out, info_off as u32);
    for _ in 0..7 {
        u32le(&mut out, 0);
    }
    for (id, vm, off, _) in &images {
        out.extend_from_slice(&fileset_entry_cmd(id, *vm, *off));
    }
    u32le(&mut out, 0x1b);
    u32le(&mut out, 24);
    out.extend_from_slice(&uuid_for(&format!("fileset-{}", kcheck::macho::format_uuid(&kcid))));
    out.resize(total, 0);
    for (_, _, off, img) in &images {
        out[*off as usize..*off as usize + img.len()].copy_from_slice(img);
    }
    out[info_off..info_off + xml.len()].copy_from_slice(&xml);
    out
}

/// Compression used inside a `comp` container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comp {
    /// `lzss`.
    Lzss,
    /// `lzvn`.
    Lzvn,
}

/// Wrap `image` in Apple's 0x180-byte `comp` header.
pub fn comp(kind: Comp, image: &[u8]) -> Vec<u8> {
    let stream = match kind {
        Comp::Lzss => crate::encode::lzss_encode(image),
        Comp::Lzvn => crate::encode::lzvn_encode(image),
    };
    let mut out = Vec::with_capacity(0x180 + stream.len());
    out.extend_from_slice(b"comp");
    out.extend_from_slice(if kind == Comp::Lzss { b"lzss" } else { b"lzvn" });
    out.extend_from_slice(&kcheck::compress::adler32(image).to_be_bytes());
    out.extend_from_slice(&(image.len() as u32).to_be_bytes());
    out.extend_from_slice(&(stream.len() as u32).to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.resize(0x180, 0);
    out.extend_from_slice(&stream);
    out
}

/// A FAT file. With `pack`, slices follow the header directly and
/// `align` is 0, as kextcache writes prelinkedkernels; otherwise slices
/// are 16 KiB aligned as lipo writes them.
pub fn fat(slices: &[(Arch, &[u8])], pack: bool) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xcafe_babeu32.to_be_bytes());
    out.extend_from_slice(&(slices.len() as u32).to_be_bytes());
    let mut pos = 8 + 20 * slices.len();
    let mut placed = Vec::new();
    for (arch, data) in slices {
        if !pack {
            pos = align(pos, 0x4000);
        }
        let (t, st) = arch.cpu();
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&st.to_be_bytes());
        out.extend_from_slice(&(pos as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&(if pack { 0u32 } else { 14 }).to_be_bytes());
        placed.push(pos);
        pos += data.len();
    }
    for ((_, data), at) in slices.iter().zip(placed) {
        out.resize(at, 0);
        out.extend_from_slice(data);
    }
    out
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        let bytes = (n as u32).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        v.push(0x80 | (4 - skip) as u8);
        v.extend_from_slice(&bytes[skip..]);
    }
    v.extend_from_slice(content);
    v
}

fn der_int(x: u64) -> Vec<u8> {
    let bytes = x.to_be_bytes();
    let mut skip = bytes.iter().take_while(|b| **b == 0).count().min(7);
    if bytes[skip] & 0x80 != 0 {
        skip -= 1; // keep it positive
    }
    der(0x02, &bytes[skip..])
}

/// IM4P payload compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Im4pComp {
    /// No compression: the payload is the image itself.
    Raw,
    /// `comp`/`lzss` header + LZSS stream (`complzss`).
    Lzss,
    /// LZFSE stream, with the compression info sequence.
    Lzfse,
}

/// An IM4P with fourcc `krnl`.
pub fn im4p(image: &[u8], kind: Im4pComp, description: &str) -> Vec<u8> {
    let mut body = der(0x16, b"IM4P");
    body.extend(der(0x16, b"krnl"));
    body.extend(der(0x16, description.as_bytes()));
    match kind {
        Im4pComp::Raw => body.extend(der(0x04, image)),
        Im4pComp::Lzss => body.extend(der(0x04, &comp(Comp::Lzss, image))),
        Im4pComp::Lzfse => {
            body.extend(der(0x04, &crate::encode::lzfse_encode(image)));
            let mut info = der_int(1);
            info.extend(der_int(image.len() as u64));
            body.extend(der(0x30, &info));
        }
    }
    der(0x30, &body)
}

/// An IMG4 holding `im4p` (no manifest).
pub fn img4(im4p: &[u8]) -> Vec<u8> {
    let mut body = der(0x16, b"IMG4");
    body.extend_from_slice(im4p);
    der(0x30, &body)
}

/// An IMG4 holding `im4p` and, as on a personalised Preboot kernelcache,
/// an IM4M manifest in the context-specific `[0]` element: `SEQUENCE {
/// "IM4M", INTEGER 0, SET { <body> }, OCTET STRING <signature>, SEQUENCE {
/// <certificates> } }`. Nothing in it is a real signature: `seed` fills
/// the body and signature with stand-in bytes.
pub fn img4_with_manifest(im4p: &[u8], seed: &str) -> Vec<u8> {
    let mut rng = Rng::new(u64::from_le_bytes(uuid_for(seed)[..8].try_into().unwrap_or([7; 8])));
    let mut filler = |n: usize| (0..n).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>();
    let mut manifest = der(0x16, b"IM4M");
    manifest.extend(der_int(0));
    manifest.extend(der(0x31, &der(0x04, &filler(0x40))));
    manifest.extend(der(0x04, &filler(0x100)));
    manifest.extend(der(0x30, &der(0x04, &filler(0x80))));
    let mut body = der(0x16, b"IMG4");
    body.extend_from_slice(im4p);
    body.extend(der(0xa0, &der(0x30, &manifest)));
    der(0x30, &body)
}

/// A kext with an executable, its UUID derived from its id and version.
pub fn kext(id: &str, version: &str, path: &str, code: usize) -> SynthKext {
    let exe = path.rsplit('/').next().unwrap_or(id).trim_end_matches(".kext").to_string();
    SynthKext {
        bundle_id: id.into(),
        version: version.into(),
        bundle_path: path.into(),
        executable: Some(exe),
        uuid: uuid_for(&format!("{id}-{version}")),
        code_size: code,
        libraries: vec![("com.apple.kpi.iokit".into(), "19.0".into()), ("com.apple.kpi.libkern".into(), "19.0".into())],
        image: None,
        personalities: 0,
        required: Some("Root".into()),
        ..SynthKext::default()
    }
}

/// The kernel of the Catalina (10.15.0, 19A583) fixtures.
pub fn catalina_kernel() -> SynthKernel {
    SynthKernel {
        version: "Darwin Kernel Version 19.0.0: Thu Oct 17 16:17:15 PDT 2019; root:xnu-6153.41.3~29/RELEASE_X86_64"
            .into(),
        uuid: uuid_for("kernel-19A583"),
        darwin: "19.0.0".into(),
        text_size: 0x3000,
    }
}

/// The kernel of the Big Sur (11.0, 20A2411) fixtures.
pub fn big_sur_kernel() -> SynthKernel {
    SynthKernel {
        version: "Darwin Kernel Version 20.1.0: Sat Oct 31 00:07:11 PDT 2020; root:xnu-7195.50.7~2/RELEASE_X86_64"
            .into(),
        uuid: uuid_for("kernel-20B29"),
        darwin: "20.1.0".into(),
        text_size: 0x3000,
    }
}

/// The kernel of the iOS 14 / Apple-silicon fixtures.
pub fn arm_kernel() -> SynthKernel {
    SynthKernel {
        version: "Darwin Kernel Version 20.1.0: Sat Oct 31 00:07:11 PDT 2020; root:xnu-7195.50.7~2/RELEASE_ARM64_T8101"
            .into(),
        uuid: uuid_for("kernel-20B29-t8101"),
        darwin: "20.1.0".into(),
        text_size: 0x3000,
    }
}

/// The kexts of the "A" (boot) fixture caches: Apple and third-party
/// kexts, a nested plug-in, and a codeless kext.
pub fn kexts_a() -> Vec<SynthKext> {
    let mut v = vec![
        kext("com.apple.iokit.IOACPIFamily", "1.4", "/System/Library/Extensions/IOACPIFamily.kext", 0x900),
        kext("com.apple.iokit.IOPCIFamily", "2.9", "/System/Library/Extensions/IOPCIFamily.kext", 0x1200),
        kext("com.apple.driver.AppleACPIPlatform", "6.1", "/System/Library/Extensions/AppleACPIPlatform.kext", 0x1000),
        kext("com.apple.iokit.IOAudioFamily", "300.2", "/System/Library/Extensions/IOAudioFamily.kext", 0xc00),
        kext(
            "com.apple.driver.AppleHDAController",
            "283.15",
            "/System/Library/Extensions/AppleHDA.kext/Contents/PlugIns/AppleHDAController.kext",
            0x800,
        ),
        kext("com.apple.driver.AppleHDA", "283.15", "/System/Library/Extensions/AppleHDA.kext", 0x1400),
        kext("com.example.driver.FooNet", "1.2.3", "/Library/Extensions/FooNet.kext", 0xa00),
        kext("com.example.driver.BarStorage", "4.0.1", "/Library/Extensions/BarStorage.kext", 0x700),
        kext("as.vit9696.Lilu", "1.4.0", "/Library/Extensions/Lilu.kext", 0x600),
    ];
    v.push(SynthKext {
        bundle_id: "com.example.injector.BazUSBMap".into(),
        version: "1.0".into(),
        bundle_path: "/Library/Extensions/BazUSBMap.kext".into(),
        executable: None,
        uuid: [0; 16],
        code_size: 0,
        libraries: vec![],
        image: None,
        personalities: 0,
        required: Some("Root".into()),
        ..SynthKext::default()
    });
    v
}

/// The "B" (staged) variant of [`kexts_a`]: FooNet updated to 1.3.0,
/// BarStorage rebuilt (same version, new UUID), Lilu removed, QuxAudio
/// added.
pub fn kexts_b() -> Vec<SynthKext> {
    let mut v: Vec<SynthKext> = kexts_a().into_iter().filter(|k| k.bundle_id != "as.vit9696.Lilu").collect();
    for k in &mut v {
        if k.bundle_id == "com.example.driver.FooNet" {
            *k = kext(&k.bundle_id.clone(), "1.3.0", &k.bundle_path.clone(), 0xa40);
        }
        if k.bundle_id == "com.example.driver.BarStorage" {
            k.uuid = uuid_for("BarStorage-rebuilt");
        }
    }
    v.push(kext("com.example.driver.QuxAudio", "2.0", "/Library/Extensions/QuxAudio.kext", 0x500));
    v
}

/// Third-party kexts of the auxiliary collection fixture.
pub fn aux_kexts() -> Vec<SynthKext> {
    kexts_a().into_iter().filter(|k| k.bundle_path.starts_with("/Library/")).collect()
}

/// `n` kexts of about `code_size` bytes of code each (and a few
/// personalities), for realistic-size inputs: 600 kexts of 100 KiB make a
/// ~60 MB prelinked kernel with a few MB of prelink XML.
pub fn scaled_kexts(n: usize, code_size: usize) -> Vec<SynthKext> {
    (0..n)
        .map(|i| {
            let vendor = if i % 10 == 0 { "com.example" } else { "com.apple" };
            let dir = if i % 10 == 0 { "/Library/Extensions" } else { "/System/Library/Extensions" };
            let name = format!("Driver{i:04}");
            let mut k = kext(
                &format!("{vendor}.driver.{name}"),
                &format!("{}.{}.{}", 1 + i % 7, i % 13, i % 5),
                &format!("{dir}/{name}.kext"),
                code_size / 2 + (i * 7919) % code_size,
            );
            k.personalities = 1 + i % 6;
            k
        })
        .collect()
}

/// Realistic-size caches for measurements (not committed): the same
/// prelinked kernel raw, as `comp`/LZVN in FAT, as `comp`/LZSS, as an
/// IM4P/LZFSE, and a kernel collection, each with `n` kexts.
pub fn scaled_fixtures(n: usize, code_size: usize) -> Vec<(String, Vec<u8>)> {
    let kexts = scaled_kexts(n, code_size);
    let plk = prelinked_kernel(&catalina_kernel(), &kexts, Arch::X86_64, uuid_for("scaled"));
    let kc = kernel_collection(Some(&big_sur_kernel()), &kexts, Arch::X86_64, uuid_for("scaled-kc"), None);
    vec![
        (format!("plk-{n}.raw"), plk.clone()),
        (format!("plk-{n}.fat-lzvn"), fat(&[(Arch::X86_64, &comp(Comp::Lzvn, &plk))], true)),
        (format!("plk-{n}.comp-lzss"), comp(Comp::Lzss, &plk)),
        (format!("plk-{n}.im4p-lzfse"), im4p(&plk, Im4pComp::Lzfse, "scaled")),
        (format!("kc-{n}.kc"), kc),
    ]
}

/// Every fixture file under `testdata/caches`, by name.
pub fn cache_fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let cat = catalina_kernel();
    let bs = big_sur_kernel();
    let kcid_a = uuid_for("kcid-a");
    let kcid_b = uuid_for("kcid-b");
    let plk_a = prelinked_kernel(&cat, &kexts_a(), Arch::X86_64, kcid_a);
    let plk_b = prelinked_kernel(&cat, &kexts_b(), Arch::X86_64, kcid_b);
    let arm = arm_kernel();
    let plk_arm = prelinked_kernel(&arm, &kexts_a(), Arch::Arm64e, kcid_a);
    let boot_kc = kernel_collection(Some(&bs), &kexts_a()[..6], Arch::X86_64, uuid_for("boot-kc"), None);
    let aux_kc = kernel_collection(None, &aux_kexts(), Arch::X86_64, uuid_for("aux-kc"), Some(uuid_for("boot-kc")));
    let ios_kc = kernel_collection(Some(&arm), &kexts_a()[..6], Arch::Arm64e, uuid_for("ios-kc"), None);
    let lzvn_a = comp(Comp::Lzvn, &plk_a);
    let lzvn_b = comp(Comp::Lzvn, &plk_b);
    vec![
        ("prelinkedkernel-a.raw", plk_a.clone()),
        ("prelinkedkernel-a.fat-lzvn", fat(&[(Arch::X86_64, &lzvn_a)], true)),
        ("prelinkedkernel-b.fat-lzvn", fat(&[(Arch::X86_64, &lzvn_b)], true)),
        ("prelinkedkernel-a.fat-lzss", fat(&[(Arch::X86_64, &comp(Comp::Lzss, &plk_a))], true)),
        ("prelinkedkernel-a.comp-lzvn", lzvn_a.clone()),
        ("prelinkedkernel-a.fat-raw", fat(&[(Arch::X86_64, &plk_a)], true)),
        ("prelinkedkernel-a.fat2", fat(&[(Arch::X86_64, &lzvn_a), (Arch::Arm64e, &plk_arm)], false)),
        ("kernelcache-a.im4p-lzss", im4p(&plk_arm, Im4pComp::Lzss, "xnu-6153.41.3")),
        ("kernelcache-ios.im4p-lzfse", im4p(&ios_kc, Im4pComp::Lzfse, "xnu-7195.50.7")),
        ("kernelcache-ios.img4", img4(&im4p(&ios_kc, Im4pComp::Lzfse, "xnu-7195.50.7"))),
        ("BootKernelExtensions.kc", boot_kc),
        ("AuxiliaryKernelExtensions.kc", aux_kc),
    ]
}

/// Standalone kext executables under `testdata/kexts`.
pub fn kext_fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let k = kext("com.example.driver.FooNet", "1.2.3", "/Library/Extensions/FooNet.kext", 0x400);
    let x = kext_macho(&k, Arch::X86_64, 0, 0);
    let mut ka = k.clone();
    ka.uuid = uuid_for("FooNet-arm64e");
    let a = kext_macho(&ka, Arch::Arm64e, 0, 0);
    vec![("FooNet-x86_64", x.clone()), ("FooNet-fat", fat(&[(Arch::X86_64, &x), (Arch::Arm64e, &a)], false))]
}

/// Write every fixture below `dir` (`caches/`, `kexts/`, `roots/`);
/// returns the cache and kext paths written.
pub fn write_fixtures(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let roots = dir.join("roots");
    if roots.exists() {
        std::fs::remove_dir_all(&roots)?;
    }
    crate::roots::write_roots(&roots)?;
    let mut written = Vec::new();
    for (sub, files) in [("caches", cache_fixtures()), ("kexts", kext_fixtures())] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d)?;
        for (name, bytes) in files {
            let p = d.join(name);
            std::fs::write(&p, bytes)?;
            written.push(p);
        }
    }
    Ok(written)
}
