//! The container chain around a kernel cache: FAT, Apple's `comp` header
//! (LZSS or LZVN), IMG4/IM4P (DER, LZSS or LZFSE payload), bare LZFSE
//! streams, down to the Mach-O image.
//!
//! Every step is chosen by the magic at the start of the current bytes,
//! never by file name, and any nesting is accepted up to [`MAX_LAYERS`].
//! Every length, offset and count is checked against the bytes present
//! before it is used; decompression is bounded by the size the container
//! declares, by an input ratio and by [`compress::MAX_DECOMPRESSED`].
//!
//! FAT headers are read with goblin's `fat` primitives (`FatHeader`,
//! `FatArch`); goblin's `MultiArch::get` is not used because it insists
//! that every slice is a Mach-O, and a prelinkedkernel's slice is `comp`.
//! goblin has no DER or `comp` reader, so those are small hand-written
//! readers here. Every other read (and the `fat_arch_64` entries goblin
//! 0.10 lacks) goes through [`Bytes`], checked where it happens.

use goblin::mach::constants::cputype::{
    CPU_SUBTYPE_ARM64_E, CPU_SUBTYPE_MASK, CPU_SUBTYPE_X86_64_H, CPU_TYPE_ARM, CPU_TYPE_ARM64, CPU_TYPE_ARM64_32,
    CPU_TYPE_I386, CPU_TYPE_POWERPC, CPU_TYPE_POWERPC64, CPU_TYPE_X86_64,
};
use goblin::mach::fat::{FAT_MAGIC, FatArch, FatHeader, SIZEOF_FAT_ARCH, SIZEOF_FAT_HEADER};
use goblin::mach::header::{
    MH_BUNDLE, MH_CIGAM, MH_CIGAM_64, MH_DYLIB, MH_EXECUTE, MH_FILESET, MH_KEXT_BUNDLE, MH_MAGIC, MH_MAGIC_64,
    MH_OBJECT,
};

use crate::bytes::Bytes;
use crate::compress;
use crate::error::{FormatError, FormatResult};

/// Containers nest at most this deep (real files have 2 or 3 layers).
pub const MAX_LAYERS: usize = 8;
/// FAT files with more slices than this are refused (real ones have 1-4).
pub const MAX_FAT_ARCHES: u32 = 64;
/// Size of Apple's `comp` prelinked-kernel header.
pub const COMP_HEADER_SIZE: usize = 0x180;
/// A decompressed image may be at most this many times its compressed
/// stream (LZSS cannot exceed ~8.5x; LZVN/LZFSE of real kernels ~3x).
pub const MAX_RATIO: u64 = 1024;

/// The 64-bit FAT magic (`FAT_MAGIC_64`), big-endian on disk; goblin 0.10
/// has no 64-bit FAT constants.
pub const FAT_MAGIC_64: u32 = 0xcafe_babf;
/// Size of a `fat_arch_64` entry (goblin has `SIZEOF_FAT_ARCH` only).
const SIZEOF_FAT_ARCH_64: usize = 32;

/// DER tags of the IMG4/IM4P reader.
const DER_INTEGER: u8 = 0x02;
const DER_OCTET_STRING: u8 = 0x04;
const DER_IA5_STRING: u8 = 0x16;
const DER_SEQUENCE: u8 = 0x30;

/// One FAT slice, as listed in the FAT header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Slice {
    /// Architecture name (`x86_64`, `arm64e`, …).
    pub arch: String,
    /// File offset of the slice within the FAT container.
    pub offset: u64,
    /// Size of the slice in bytes.
    pub size: u64,
    /// The slice's `LC_UUID`, read while the FAT's own bytes were at hand
    /// (a FAT inside a compressed layer is not in the file).
    pub uuid: Option<[u8; 16]>,
}

/// The `LC_UUID` of a thin Mach-O, by a bounded walk of its load commands
/// (little-endian, 32- or 64-bit); `None` when there is none or the header
/// does not hold together.
pub fn macho_uuid(image: &[u8]) -> Option<[u8; 16]> {
    const LC_UUID: u32 = goblin::mach::load_command::LC_UUID;
    let b = Bytes::new(image, "mach-o");
    let header_size = match b.u32_le_at(0, "magic").ok()? {
        MH_MAGIC_64 => goblin::mach::header::SIZEOF_HEADER_64 as u64,
        MH_MAGIC => goblin::mach::header::SIZEOF_HEADER_32 as u64,
        _ => return None,
    };
    let ncmds = b.u32_le_at(16, "ncmds").ok()?;
    let mut at = header_size;
    for _ in 0..ncmds.min(4096) {
        let cmd = b.u32_le_at(at, "cmd").ok()?;
        let size = u64::from(b.u32_le_at(at + 4, "cmdsize").ok()?);
        if size < 8 {
            return None;
        }
        if cmd == LC_UUID {
            let raw = b.slice_at(at + 8, 16, "uuid").ok()?;
            return raw.try_into().ok();
        }
        at = at.checked_add(size)?;
    }
    None
}

/// The result of peeling every container layer off a file.
#[derive(Debug)]
pub struct Unwrapped<'a> {
    /// Layer names, outermost first, ending with the Mach-O layer
    /// (e.g. `fat[x86_64]`, `comp/lzvn`, `mach-o/execute`).
    pub layers: Vec<String>,
    /// The slices of the first FAT layer met, if any.
    pub slices: Vec<Slice>,
    /// The buffer that holds the Mach-O image: the file itself, or the
    /// output of the last decompression.
    buf: Buf<'a>,
    start: usize,
    len: usize,
    /// Offset of `buf[start]` in the file when the image was not
    /// decompressed (for error messages); `None` inside decompressed data.
    pub file_offset: Option<u64>,
}

/// The bytes of the current layer: the caller's file, or a decoder's
/// output.
#[derive(Debug)]
enum Buf<'a> {
    File(&'a [u8]),
    Decoded(Vec<u8>),
}

impl std::ops::Deref for Buf<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Buf::File(f) => f,
            Buf::Decoded(d) => d,
        }
    }
}

impl Unwrapped<'_> {
    /// The Mach-O image bytes.
    pub fn image(&self) -> &[u8] {
        // `unwrap` returns only after reading exactly this range of `buf`
        // with a checked read, and the fields are private.
        &self.buf[self.start..self.start + self.len]
    }

    /// The layer chain joined with ` > `.
    pub fn chain(&self) -> String {
        self.layers.join(" > ")
    }

    /// The chain without its last (Mach-O) layer, used as the prefix of
    /// errors found while reading the image.
    pub fn outer_chain(&self) -> String {
        self.layers[..self.layers.len().saturating_sub(1)].join(" > ")
    }
}

/// Architecture name for a Mach-O cputype/cpusubtype pair.
pub fn arch_name(cputype: u32, cpusubtype: u32) -> String {
    let sub = cpusubtype & !CPU_SUBTYPE_MASK;
    match cputype {
        CPU_TYPE_I386 => "i386".into(),
        CPU_TYPE_X86_64 => {
            if sub == CPU_SUBTYPE_X86_64_H {
                "x86_64h".into()
            } else {
                "x86_64".into()
            }
        }
        CPU_TYPE_ARM => "arm".into(),
        CPU_TYPE_ARM64 => {
            if sub == CPU_SUBTYPE_ARM64_E {
                "arm64e".into()
            } else {
                "arm64".into()
            }
        }
        CPU_TYPE_ARM64_32 => "arm64_32".into(),
        CPU_TYPE_POWERPC => "ppc".into(),
        CPU_TYPE_POWERPC64 => "ppc64".into(),
        _ => format!("cpu{cputype:#x}/{cpusubtype:#x}"),
    }
}

/// What kind of bytes start at `data`, by magic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Magic {
    Fat,
    Comp,
    Der,
    Lzfse,
    MachO,
}

fn sniff(data: &[u8]) -> Option<Magic> {
    let be = Bytes::new(data, "file").u32_be_at(0, "magic").ok()?;
    let head = be.to_be_bytes();
    match be {
        FAT_MAGIC | FAT_MAGIC_64 => Some(Magic::Fat),
        MH_MAGIC | MH_MAGIC_64 | MH_CIGAM | MH_CIGAM_64 => Some(Magic::MachO),
        _ if &head == b"comp" => Some(Magic::Comp),
        _ if head.starts_with(b"bvx") => Some(Magic::Lzfse),
        _ if head[0] == DER_SEQUENCE => Some(Magic::Der),
        _ => None,
    }
}

/// Peel all container layers off `file`. `arch` picks a FAT slice by
/// name; without it x86_64 is preferred, then arm64e/arm64, then the first
/// slice.
pub fn unwrap<'a>(file: &'a [u8], arch: Option<&str>) -> FormatResult<Unwrapped<'a>> {
    let mut out = Unwrapped {
        layers: Vec::new(),
        slices: Vec::new(),
        buf: Buf::File(file),
        start: 0,
        len: file.len(),
        file_offset: Some(0),
    };
    // One budget of decoded bytes for the whole file, across every layer:
    // nested compressed layers must not multiply the per-layer cap.
    let mut budget = compress::MAX_DECOMPRESSED;
    loop {
        let chain = out.layers.join(" > ");
        let base = out.file_offset.unwrap_or(0);
        let name = if chain.is_empty() { "file" } else { chain.as_str() };
        // This layer's bytes: the whole buffer, a FAT slice or an IM4P
        // payload of it (each checked below when it was chosen).
        let cur = Bytes::new(&out.buf, name).slice_at(out.start as u64, out.len as u64, "container layer")?;
        if out.layers.len() >= MAX_LAYERS {
            return Err(FormatError::new(&chain, base, format!("more than {MAX_LAYERS} nested container layers")));
        }
        let magic = match sniff(cur) {
            Some(m) => m,
            None => {
                let what = match Bytes::new(cur, name).u32_be_at(0, "magic") {
                    Ok(m) => {
                        let [a, b, c, d] = m.to_be_bytes();
                        format!(
                            "unrecognised magic {a:02x} {b:02x} {c:02x} {d:02x} (not Mach-O, FAT, comp, IM4P or LZFSE)"
                        )
                    }
                    Err(_) => format!("only {} bytes, too short for any magic", cur.len()),
                };
                return Err(FormatError::new(name, base, what));
            }
        };
        let here = |name: &str| {
            if chain.is_empty() { name.to_string() } else { format!("{chain} > {name}") }
        };
        match magic {
            Magic::MachO => {
                let filetype = macho_filetype(cur);
                out.layers.push(format!("mach-o/{filetype}"));
                return Ok(out);
            }
            Magic::Fat => {
                let (slices, chosen) = read_fat(cur, arch).map_err(|e| e.within(&chain).rebase(base))?;
                let pick = &slices[chosen];
                Bytes::new(cur, "fat")
                    .slice_at(pick.offset, pick.size, "fat slice")
                    .map_err(|e| e.within(&chain).rebase(base))?;
                out.layers.push(format!("fat[{}]", pick.arch));
                // The slice lies inside `cur`, so both fit in usize.
                let (s, len) = (pick.offset as usize, pick.size as usize);
                if out.slices.is_empty() {
                    out.slices = slices
                        .iter()
                        .map(|sl| {
                            let bytes = Bytes::new(cur, "fat").slice_at(sl.offset, sl.size, "fat slice").ok();
                            Slice { uuid: bytes.and_then(macho_uuid), ..sl.clone() }
                        })
                        .collect();
                }
                out.start += s;
                out.len = len;
                out.file_offset = out.file_offset.map(|o| o + s as u64);
            }
            Magic::Comp => {
                let (kind, image) = read_comp_within(cur, budget).map_err(|e| e.within(&chain).rebase(base))?;
                budget = budget.saturating_sub(image.len() as u64);
                out.layers.push(format!("comp/{kind}"));
                out.len = image.len();
                out.start = 0;
                out.buf = Buf::Decoded(image);
                out.file_offset = None;
            }
            Magic::Lzfse => {
                let image = decode_lzfse(cur, None, &here("lzfse"), budget).map_err(|e| e.rebase(base))?;
                budget = budget.saturating_sub(image.len() as u64);
                out.layers.push("lzfse".into());
                out.len = image.len();
                out.start = 0;
                out.buf = Buf::Decoded(image);
                out.file_offset = None;
            }
            Magic::Der => {
                let im4p = read_img4(cur).map_err(|e| e.within(&chain).rebase(base))?;
                if im4p.in_img4 {
                    out.layers.push("img4".into());
                }
                out.layers.push(format!("im4p[{}]", im4p.fourcc));
                let (s, len) = (im4p.payload_offset, im4p.payload_len);
                let payload = Bytes::new(cur, "im4p")
                    .slice_at(s as u64, len as u64, "IM4P payload")
                    .map_err(|e| e.within(&chain).rebase(base))?;
                if payload.starts_with(b"bvx") {
                    let layer = format!("{} > lzfse", out.layers.join(" > "));
                    let image = decode_lzfse(payload, im4p.uncompressed_size, &layer, budget)
                        .map_err(|e| e.rebase(base + s as u64))?;
                    budget = budget.saturating_sub(image.len() as u64);
                    out.layers.push("lzfse".into());
                    out.len = image.len();
                    out.start = 0;
                    out.buf = Buf::Decoded(image);
                    out.file_offset = None;
                } else {
                    out.start += s;
                    out.len = len;
                    out.file_offset = out.file_offset.map(|o| o + s as u64);
                }
            }
        }
    }
}

impl FormatError {
    /// Shift the offset by `base` (the layer's position in the file).
    fn rebase(mut self, base: u64) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

/// Human name of a Mach-O filetype (`execute`, `fileset`, `kext`, …).
pub fn filetype_name(filetype: u32) -> String {
    match filetype {
        MH_OBJECT => "object".into(),
        MH_EXECUTE => "execute".into(),
        MH_DYLIB => "dylib".into(),
        MH_BUNDLE => "bundle".into(),
        MH_KEXT_BUNDLE => "kext".into(),
        MH_FILESET => "fileset".into(),
        other => format!("filetype{other:#x}"),
    }
}

/// The filetype name of the Mach-O header at the start of `data` (whose
/// magic [`sniff`] recognised), or `truncated`.
fn macho_filetype(data: &[u8]) -> String {
    let b = Bytes::new(data, "mach-o");
    let big_endian = matches!(b.u32_be_at(0, "magic"), Ok(MH_MAGIC | MH_MAGIC_64));
    let filetype = if big_endian { b.u32_be_at(12, "filetype") } else { b.u32_le_at(12, "filetype") };
    filetype.map_or_else(|_| "truncated".into(), filetype_name)
}

/// Parse a FAT header; returns the slices and the index of the chosen one.
pub fn read_fat(data: &[u8], arch: Option<&str>) -> FormatResult<(Vec<Slice>, usize)> {
    const L: &str = "fat";
    let b = Bytes::new(data, L);
    let head = b
        .slice_at(0, SIZEOF_FAT_HEADER as u64, "fat header")
        .map_err(|_| FormatError::new(L, 0, format!("truncated: fat header needs 8 bytes, {} present", data.len())))?;
    let header = FatHeader::parse(head).map_err(|e| FormatError::new(L, 0, format!("bad fat header: {e}")))?;
    let is64 = header.magic == FAT_MAGIC_64;
    let arch_size = if is64 { SIZEOF_FAT_ARCH_64 } else { SIZEOF_FAT_ARCH };
    let n = header.nfat_arch;
    if n == 0 || n > MAX_FAT_ARCHES {
        return Err(FormatError::new(L, 4, format!("implausible slice count {n} (expected 1..={MAX_FAT_ARCHES})")));
    }
    let table_end = SIZEOF_FAT_HEADER + n as usize * arch_size;
    b.slice_at(SIZEOF_FAT_HEADER as u64, (n as usize * arch_size) as u64, "fat_arch table").map_err(|_| {
        FormatError::new(
            L,
            SIZEOF_FAT_HEADER as u64,
            format!("truncated: {n} slice entries need {table_end:#x} bytes, file has {:#x}", data.len()),
        )
    })?;
    let mut slices = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let at = SIZEOF_FAT_HEADER + i * arch_size;
        let (cputype, cpusubtype, offset, size) = if is64 {
            let a = at as u64;
            let cputype = b.u32_be_at(a, "cputype")?;
            let cpusubtype = b.u32_be_at(a + 4, "cpusubtype")?;
            let offset = b.u64_be_at(a + 8, "offset")?;
            let size = b.u64_be_at(a + 16, "size")?;
            (cputype, cpusubtype, offset, size)
        } else {
            let fa =
                FatArch::parse(data, at).map_err(|e| FormatError::new(L, at as u64, format!("bad fat_arch: {e}")))?;
            (fa.cputype, fa.cpusubtype, u64::from(fa.offset), u64::from(fa.size))
        };
        let end = offset.saturating_add(size);
        if offset < table_end as u64 || end > data.len() as u64 || size == 0 {
            return Err(FormatError::new(
                L,
                at as u64,
                format!(
                    "slice {i} ({}) claims bytes {offset:#x}..{end:#x}, outside the file ({:#x} bytes, header included)",
                    arch_name(cputype, cpusubtype),
                    data.len()
                ),
            ));
        }
        slices.push(Slice { arch: arch_name(cputype, cpusubtype), offset, size, uuid: None });
    }
    let chosen = match arch {
        Some(want) => slices.iter().position(|s| s.arch == want).ok_or_else(|| {
            let have: Vec<&str> = slices.iter().map(|s| s.arch.as_str()).collect();
            FormatError::new(L, 0, format!("no {want} slice (slices: {})", have.join(", ")))
        })?,
        None => ["x86_64", "x86_64h", "arm64e", "arm64"]
            .iter()
            .find_map(|a| slices.iter().position(|s| s.arch == *a))
            .unwrap_or(0),
    };
    Ok((slices, chosen))
}

/// Parse and decompress a `comp` container; returns the compression kind
/// (`lzss` or `lzvn`) and the decompressed image.
pub fn read_comp(data: &[u8]) -> FormatResult<(&'static str, Vec<u8>)> {
    read_comp_within(data, compress::MAX_DECOMPRESSED)
}

/// The header of a `comp` layer, checked: its compression, checksum and
/// sizes, the stream within the layer's bytes and the declared size within
/// the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompHeader {
    /// `lzss` or `lzvn`.
    pub kind: &'static str,
    /// The layer's name in errors (`comp/lzss`, `comp/lzvn`).
    pub layer: &'static str,
    /// The Adler-32 of the decompressed image.
    pub adler: u32,
    /// The decompressed size.
    pub uncompressed: u64,
    /// The stream's size; the stream follows the header.
    pub compressed: u64,
}

/// Read and check the header of the `comp` layer `data` (the layer's
/// bytes, of which only the header is read: a caller may pass a buffer
/// the length of the layer whose stream is not read yet), with at most
/// `budget` bytes to decode into.
pub fn comp_header(data: &[u8], budget: u64) -> FormatResult<CompHeader> {
    let b = Bytes::new(data, "comp");
    let header = b.slice_at(0, COMP_HEADER_SIZE as u64, "comp header").map_err(|_| {
        FormatError::new(
            "comp",
            0,
            format!("truncated: comp header needs {COMP_HEADER_SIZE:#x} bytes, {:#x} present", data.len()),
        )
    })?;
    let kind = match Bytes::new(header, "comp").slice_at(4, 4, "compression type")? {
        b"lzss" => "lzss",
        b"lzvn" => "lzvn",
        other => {
            return Err(FormatError::new(
                "comp",
                4,
                format!("unknown compression type {:?}", String::from_utf8_lossy(other)),
            ));
        }
    };
    let layer = if kind == "lzss" { "comp/lzss" } else { "comp/lzvn" };
    let h = Bytes::new(header, layer);
    let adler = h.u32_be_at(8, "adler32")?;
    let usize_ = u64::from(h.u32_be_at(12, "uncompressedSize")?);
    let csize = u64::from(h.u32_be_at(16, "compressedSize")?);
    b.slice_at(COMP_HEADER_SIZE as u64, csize, "compressed stream").map_err(|_| {
        let avail = data.len() - COMP_HEADER_SIZE;
        FormatError::new(
            layer,
            16,
            format!("compressedSize {csize:#x} runs past the end ({avail:#x} bytes follow the header)"),
        )
    })?;
    check_declared_size(usize_, csize, layer, 12, budget)?;
    Ok(CompHeader { kind, layer, adler, uncompressed: usize_, compressed: csize })
}

/// The error of a decompressed image whose Adler-32 is `got`, not the
/// header's.
pub fn adler_mismatch(h: &CompHeader, got: u32) -> FormatError {
    FormatError::new(
        h.layer,
        8,
        format!("adler32 mismatch: header says {:#010x}, decompressed data gives {got:#010x}", h.adler),
    )
}

/// As [`read_comp`], with at most `budget` bytes to decode into.
fn read_comp_within(data: &[u8], budget: u64) -> FormatResult<(&'static str, Vec<u8>)> {
    let h = comp_header(data, budget)?;
    let CompHeader { kind, layer, adler, uncompressed: usize_, compressed: csize } = h;
    let stream = &data[COMP_HEADER_SIZE..COMP_HEADER_SIZE + csize as usize];
    let image = if kind == "lzss" {
        let mut out = vec![0u8; usize_ as usize];
        let n = compress::lzss_decode(stream, &mut out, layer).map_err(|e| e.rebase(COMP_HEADER_SIZE as u64))?;
        if n != out.len() {
            return Err(FormatError::new(
                layer,
                COMP_HEADER_SIZE as u64 + csize,
                format!("stream ends after {n:#x} bytes, uncompressedSize says {usize_:#x}"),
            ));
        }
        out
    } else {
        compress::lzvn_decode(stream, usize_ as usize, layer).map_err(|e| e.rebase(COMP_HEADER_SIZE as u64))?
    };
    let got = compress::adler32(&image);
    if got != adler {
        return Err(adler_mismatch(&h, got));
    }
    Ok((kind, image))
}

fn check_declared_size(size: u64, compressed: u64, layer: &str, at: u64, budget: u64) -> FormatResult<()> {
    if size > compress::MAX_DECOMPRESSED {
        return Err(FormatError::new(
            layer,
            at,
            format!("declared uncompressed size {size:#x} exceeds the {:#x}-byte cap", compress::MAX_DECOMPRESSED),
        ));
    }
    if size > budget {
        return Err(FormatError::new(
            layer,
            at,
            format!(
                "declared uncompressed size {size:#x} exceeds what is left of the file's {:#x}-byte decoding budget ({budget:#x})",
                compress::MAX_DECOMPRESSED
            ),
        ));
    }
    if size > compressed.saturating_mul(MAX_RATIO).max(1 << 20) {
        return Err(FormatError::new(
            layer,
            at,
            format!("declared uncompressed size {size:#x} is implausible for {compressed:#x} compressed bytes"),
        ));
    }
    Ok(())
}

fn decode_lzfse(stream: &[u8], declared: Option<u64>, layer: &str, budget: u64) -> FormatResult<Vec<u8>> {
    let cap = budget.min(compress::MAX_DECOMPRESSED).min((stream.len() as u64).saturating_mul(MAX_RATIO).max(1 << 20));
    let image = compress::lzfse_decode(stream, cap, layer)?;
    if let Some(want) = declared
        && want != image.len() as u64
    {
        return Err(FormatError::new(
            layer,
            0,
            format!("decompressed {:#x} bytes, the IM4P says {want:#x}", image.len()),
        ));
    }
    Ok(image)
}

/// The parts of an IM4P that matter here.
#[derive(Debug)]
pub struct Im4p {
    /// Whether it was wrapped in an IMG4 sequence.
    pub in_img4: bool,
    /// Payload type, e.g. `krnl`.
    pub fourcc: String,
    /// Description string.
    pub description: String,
    /// Payload position within the bytes given to [`read_img4`].
    pub payload_offset: usize,
    /// Payload length.
    pub payload_len: usize,
    /// Uncompressed size from the optional compression info.
    pub uncompressed_size: Option<u64>,
}

/// One DER TLV: tag, content start and bytes, total end.
struct Tlv<'d> {
    tag: u8,
    start: usize,
    content: &'d [u8],
    end: usize,
}

fn der_tlv<'d>(data: &'d [u8], at: usize, layer: &'d str) -> FormatResult<Tlv<'d>> {
    let b = Bytes::new(data, layer);
    let short = |what: &str| b.error(at as u64, format!("truncated DER {what}"));
    let tag = b.u8_at(at as u64, "DER tag").map_err(|_| short("tag"))?;
    let first = b.u8_at(at as u64 + 1, "DER length").map_err(|_| short("length"))?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(b.error(
                at as u64 + 1,
                format!("unsupported DER length form {first:#04x} (indefinite or over 4 bytes)"),
            ));
        }
        let bytes = b.slice_at(at as u64 + 2, n as u64, "DER length").map_err(|_| short("length"))?;
        (bytes.iter().fold(0usize, |acc, b| acc << 8 | *b as usize), 2 + n)
    };
    let start = at + hdr;
    let content = b.slice_at(start as u64, len as u64, "DER element").map_err(|_| {
        b.error(
            at as u64,
            format!(
                "DER element (tag {tag:#04x}) length {len:#x} runs past the end ({:#x} bytes left)",
                data.len().saturating_sub(start)
            ),
        )
    })?;
    Ok(Tlv { tag, start, content, end: start + len })
}

fn der_ia5<'d>(data: &'d [u8], at: usize, layer: &'d str) -> FormatResult<(&'d str, usize)> {
    let t = der_tlv(data, at, layer)?;
    if t.tag != DER_IA5_STRING {
        return Err(FormatError::new(layer, at as u64, format!("expected IA5String, found DER tag {:#04x}", t.tag)));
    }
    let s = std::str::from_utf8(t.content)
        .map_err(|_| FormatError::new(layer, t.start as u64, "IA5String is not ASCII"))?;
    Ok((s, t.end))
}

fn der_uint(t: &Tlv<'_>, layer: &str) -> FormatResult<u64> {
    if t.tag != DER_INTEGER || t.content.is_empty() || t.content.len() > 9 {
        return Err(FormatError::new(layer, t.start as u64, "expected a small DER INTEGER"));
    }
    Ok(t.content.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
}

/// The DER header of an IMG4 or IM4P, up to its payload.
struct Img4Head<'d> {
    in_img4: bool,
    layer: &'static str,
    fourcc: &'d str,
    description: &'d str,
    payload: Tlv<'d>,
    seq_end: usize,
}

/// Where the payload of the IMG4 or IM4P `data` lies (start, length),
/// read from the DER header alone (none of the payload's bytes, nothing
/// after it): a caller that has only the header at hand learns which bytes
/// [`read_img4`] also reads.
pub fn img4_payload(data: &[u8]) -> FormatResult<(usize, usize)> {
    let h = img4_head(data)?;
    Ok((h.payload.start, h.payload.content.len()))
}

fn img4_head(data: &[u8]) -> FormatResult<Img4Head<'_>> {
    let mut layer = "im4p";
    let outer = der_tlv(data, 0, layer)?;
    if outer.tag != DER_SEQUENCE {
        return Err(FormatError::new(layer, 0, "expected a DER SEQUENCE"));
    }
    let (name, mut at) = der_ia5(data, outer.start, layer)?;
    let mut in_img4 = false;
    let seq_end;
    if name == "IMG4" {
        in_img4 = true;
        layer = "img4";
        let inner = der_tlv(data, at, layer)?;
        if inner.tag != DER_SEQUENCE || inner.end > outer.end {
            return Err(FormatError::new(layer, at as u64, "IMG4 does not hold an IM4P sequence"));
        }
        layer = "img4 > im4p";
        let (n2, a2) = der_ia5(data, inner.start, layer)?;
        if n2 != "IM4P" {
            return Err(FormatError::new(layer, inner.start as u64, format!("expected \"IM4P\", found {n2:?}")));
        }
        at = a2;
        seq_end = inner.end;
    } else if name == "IM4P" {
        seq_end = outer.end;
    } else {
        return Err(FormatError::new(
            layer,
            outer.start as u64,
            format!("DER sequence named {name:?}, not IM4P or IMG4"),
        ));
    }
    let (fourcc, at2) = der_ia5(data, at, layer)?;
    let (description, at3) = der_ia5(data, at2, layer)?;
    let payload = der_tlv(data, at3, layer)?;
    if payload.tag != DER_OCTET_STRING || payload.end > seq_end {
        return Err(FormatError::new(layer, at3 as u64, "expected the payload OCTET STRING"));
    }
    Ok(Img4Head { in_img4, layer, fourcc, description, payload, seq_end })
}

/// Parse an IMG4 or IM4P DER structure.
pub fn read_img4(data: &[u8]) -> FormatResult<Im4p> {
    let Img4Head { in_img4, layer, fourcc, description, payload, seq_end } = img4_head(data)?;
    let mut uncompressed_size = None;
    let mut next = payload.end;
    while next < seq_end {
        let t = der_tlv(data, next, layer)?;
        if t.end > seq_end {
            return Err(FormatError::new(layer, next as u64, "element runs past the IM4P sequence"));
        }
        match t.tag {
            DER_OCTET_STRING => {
                return Err(FormatError::new(
                    layer,
                    next as u64,
                    "encrypted payload (keybag present): kcheck cannot read encrypted kernelcaches",
                ));
            }
            DER_SEQUENCE => {
                let alg = der_tlv(data, t.start, layer)?;
                let size = der_tlv(data, alg.end, layer)?;
                let algorithm = der_uint(&alg, layer)?;
                if algorithm != 1 {
                    return Err(FormatError::new(
                        layer,
                        t.start as u64,
                        format!("unknown IM4P compression algorithm {algorithm}"),
                    ));
                }
                uncompressed_size = Some(der_uint(&size, layer)?);
            }
            _ => {}
        }
        next = t.end;
    }
    Ok(Im4p {
        in_img4,
        fourcc: fourcc.to_string(),
        description: description.to_string(),
        payload_offset: payload.start,
        payload_len: payload.content.len(),
        uncompressed_size,
    })
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn one_decoding_budget_for_the_whole_file() {
        // A comp/lzvn layer of 2 MiB, decoded with 1 MiB of budget left.
        let image = vec![0u8; 2 << 20];
        let stream = kcheck_testkit::encode::lzvn_encode(&image);
        let mut comp = vec![0u8; COMP_HEADER_SIZE];
        comp[..4].copy_from_slice(b"comp");
        comp[4..8].copy_from_slice(b"lzvn");
        comp[8..12].copy_from_slice(&compress::adler32(&image).to_be_bytes());
        comp[12..16].copy_from_slice(&(image.len() as u32).to_be_bytes());
        comp[16..20].copy_from_slice(&(stream.len() as u32).to_be_bytes());
        comp.extend_from_slice(&stream);
        assert_eq!(read_comp_within(&comp, 4 << 20).unwrap().1.len(), image.len());
        let e = read_comp_within(&comp, 1 << 20).unwrap_err();
        assert!(e.message.contains("decoding budget"), "{e}");
    }
}
