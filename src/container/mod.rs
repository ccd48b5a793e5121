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
//! readers here.

use std::borrow::Cow;

use goblin::mach::fat::{FAT_MAGIC, FatArch, FatHeader, SIZEOF_FAT_ARCH, SIZEOF_FAT_HEADER};

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

/// The 64-bit FAT magic (`FAT_MAGIC_64`), big-endian on disk.
const FAT_MAGIC_64: u32 = 0xcafe_babf;

/// One FAT slice, as listed in the FAT header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Slice {
    /// Architecture name (`x86_64`, `arm64e`, …).
    pub arch: String,
    /// File offset of the slice within the FAT container.
    pub offset: u64,
    /// Size of the slice in bytes.
    pub size: u64,
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
    buf: Cow<'a, [u8]>,
    start: usize,
    end: usize,
    /// Offset of `buf[start]` in the file when the image was not
    /// decompressed (for error messages); `None` inside decompressed data.
    pub file_offset: Option<u64>,
}

impl Unwrapped<'_> {
    /// The Mach-O image bytes.
    pub fn image(&self) -> &[u8] {
        &self.buf[self.start..self.end]
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
    const ABI64: u32 = 0x0100_0000;
    const ABI64_32: u32 = 0x0200_0000;
    let sub = cpusubtype & 0x00ff_ffff;
    match cputype {
        7 => "i386".into(),
        t if t == 7 | ABI64 => {
            if sub == 8 {
                "x86_64h".into()
            } else {
                "x86_64".into()
            }
        }
        12 => "arm".into(),
        t if t == 12 | ABI64 => {
            if sub == 2 {
                "arm64e".into()
            } else {
                "arm64".into()
            }
        }
        t if t == 12 | ABI64_32 => "arm64_32".into(),
        18 => "ppc".into(),
        t if t == 18 | ABI64 => "ppc64".into(),
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
    let head: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let be = u32::from_be_bytes(head);
    match be {
        FAT_MAGIC | FAT_MAGIC_64 => Some(Magic::Fat),
        0xfeed_face | 0xfeed_facf | 0xcefa_edfe | 0xcffa_edfe => Some(Magic::MachO),
        _ if &head == b"comp" => Some(Magic::Comp),
        _ if &head[..3] == b"bvx" => Some(Magic::Lzfse),
        _ if head[0] == 0x30 => Some(Magic::Der),
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
        buf: Cow::Borrowed(file),
        start: 0,
        end: file.len(),
        file_offset: Some(0),
    };
    loop {
        let chain = out.layers.join(" > ");
        let base = out.file_offset.unwrap_or(0);
        let cur = &out.buf[out.start..out.end];
        if out.layers.len() >= MAX_LAYERS {
            return Err(FormatError::new(chain, base, format!("more than {MAX_LAYERS} nested container layers")));
        }
        let magic = match sniff(cur) {
            Some(m) => m,
            None => {
                let what = if cur.len() < 4 {
                    format!("only {} bytes, too short for any magic", cur.len())
                } else {
                    format!(
                        "unrecognised magic {:02x} {:02x} {:02x} {:02x} (not Mach-O, FAT, comp, IM4P or LZFSE)",
                        cur[0], cur[1], cur[2], cur[3]
                    )
                };
                let layer = if chain.is_empty() { "file".to_string() } else { chain };
                return Err(FormatError::new(layer, base, what));
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
                out.layers.push(format!("fat[{}]", pick.arch));
                let (s, len) = (pick.offset as usize, pick.size as usize);
                if out.slices.is_empty() {
                    out.slices = slices.clone();
                }
                out.start += s;
                out.end = out.start + len;
                out.file_offset = out.file_offset.map(|o| o + s as u64);
            }
            Magic::Comp => {
                let (kind, image) = read_comp(cur).map_err(|e| e.within(&chain).rebase(base))?;
                out.layers.push(format!("comp/{kind}"));
                out.end = image.len();
                out.start = 0;
                out.buf = Cow::Owned(image);
                out.file_offset = None;
            }
            Magic::Lzfse => {
                let image = decode_lzfse(cur, None, &here("lzfse")).map_err(|e| e.rebase(base))?;
                out.layers.push("lzfse".into());
                out.end = image.len();
                out.start = 0;
                out.buf = Cow::Owned(image);
                out.file_offset = None;
            }
            Magic::Der => {
                let im4p = read_img4(cur).map_err(|e| e.within(&chain).rebase(base))?;
                if im4p.in_img4 {
                    out.layers.push("img4".into());
                }
                out.layers.push(format!("im4p[{}]", im4p.fourcc));
                let (s, len) = (im4p.payload_offset, im4p.payload_len);
                let payload = &cur[s..s + len];
                if payload.starts_with(b"bvx") {
                    let layer = format!("{} > lzfse", out.layers.join(" > "));
                    let image =
                        decode_lzfse(payload, im4p.uncompressed_size, &layer).map_err(|e| e.rebase(base + s as u64))?;
                    out.layers.push("lzfse".into());
                    out.end = image.len();
                    out.start = 0;
                    out.buf = Cow::Owned(image);
                    out.file_offset = None;
                } else {
                    out.start += s;
                    out.end = out.start + len;
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
        1 => "object".into(),
        2 => "execute".into(),
        6 => "dylib".into(),
        8 => "bundle".into(),
        11 => "kext".into(),
        12 => "fileset".into(),
        other => format!("filetype{other:#x}"),
    }
}

fn macho_filetype(data: &[u8]) -> String {
    let Some(raw) = data.get(12..16) else {
        return "truncated".into();
    };
    let raw: [u8; 4] = raw.try_into().expect("4-byte slice");
    let ft = if data[0] == 0xfe { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) };
    filetype_name(ft)
}

fn be32(data: &[u8], off: usize, layer: &str, what: &str) -> FormatResult<u32> {
    data.get(off..off + 4).map(|b| u32::from_be_bytes(b.try_into().expect("4-byte slice"))).ok_or_else(|| {
        FormatError::new(
            layer,
            off as u64,
            format!("truncated: {what} needs 4 bytes, {} present", data.len().saturating_sub(off)),
        )
    })
}

/// Parse a FAT header; returns the slices and the index of the chosen one.
pub fn read_fat(data: &[u8], arch: Option<&str>) -> FormatResult<(Vec<Slice>, usize)> {
    const L: &str = "fat";
    if data.len() < SIZEOF_FAT_HEADER {
        return Err(FormatError::new(L, 0, format!("truncated: fat header needs 8 bytes, {} present", data.len())));
    }
    let header = FatHeader::parse(data).map_err(|e| FormatError::new(L, 0, format!("bad fat header: {e}")))?;
    let is64 = header.magic == FAT_MAGIC_64;
    let arch_size = if is64 { 32 } else { SIZEOF_FAT_ARCH };
    let n = header.nfat_arch;
    if n == 0 || n > MAX_FAT_ARCHES {
        return Err(FormatError::new(L, 4, format!("implausible slice count {n} (expected 1..={MAX_FAT_ARCHES})")));
    }
    let table_end = SIZEOF_FAT_HEADER + n as usize * arch_size;
    if table_end > data.len() {
        return Err(FormatError::new(
            L,
            SIZEOF_FAT_HEADER as u64,
            format!("truncated: {n} slice entries need {table_end:#x} bytes, file has {:#x}", data.len()),
        ));
    }
    let mut slices = Vec::with_capacity(n as usize);
    for i in 0..n as usize {
        let at = SIZEOF_FAT_HEADER + i * arch_size;
        let (cputype, cpusubtype, offset, size) = if is64 {
            let cputype = be32(data, at, L, "cputype")?;
            let cpusubtype = be32(data, at + 4, L, "cpusubtype")?;
            let off = u64::from(be32(data, at + 8, L, "offset")?) << 32 | u64::from(be32(data, at + 12, L, "offset")?);
            let size = u64::from(be32(data, at + 16, L, "size")?) << 32 | u64::from(be32(data, at + 20, L, "size")?);
            (cputype, cpusubtype, off, size)
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
        slices.push(Slice { arch: arch_name(cputype, cpusubtype), offset, size });
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
    let mut layer = "comp";
    if data.len() < COMP_HEADER_SIZE {
        return Err(FormatError::new(
            layer,
            0,
            format!("truncated: comp header needs {COMP_HEADER_SIZE:#x} bytes, {:#x} present", data.len()),
        ));
    }
    let kind = match &data[4..8] {
        b"lzss" => "lzss",
        b"lzvn" => "lzvn",
        other => {
            return Err(FormatError::new(
                layer,
                4,
                format!("unknown compression type {:?}", String::from_utf8_lossy(other)),
            ));
        }
    };
    layer = if kind == "lzss" { "comp/lzss" } else { "comp/lzvn" };
    let adler = be32(data, 8, layer, "adler32")?;
    let usize_ = u64::from(be32(data, 12, layer, "uncompressedSize")?);
    let csize = u64::from(be32(data, 16, layer, "compressedSize")?);
    let avail = (data.len() - COMP_HEADER_SIZE) as u64;
    if csize > avail {
        return Err(FormatError::new(
            layer,
            16,
            format!("compressedSize {csize:#x} runs past the end ({avail:#x} bytes follow the header)"),
        ));
    }
    check_declared_size(usize_, csize, layer, 12)?;
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
        return Err(FormatError::new(
            layer,
            8,
            format!("adler32 mismatch: header says {adler:#010x}, decompressed data gives {got:#010x}"),
        ));
    }
    Ok((kind, image))
}

fn check_declared_size(size: u64, compressed: u64, layer: &str, at: u64) -> FormatResult<()> {
    if size > compress::MAX_DECOMPRESSED {
        return Err(FormatError::new(
            layer,
            at,
            format!("declared uncompressed size {size:#x} exceeds the {:#x}-byte cap", compress::MAX_DECOMPRESSED),
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

fn decode_lzfse(stream: &[u8], declared: Option<u64>, layer: &str) -> FormatResult<Vec<u8>> {
    let cap = compress::MAX_DECOMPRESSED.min((stream.len() as u64).saturating_mul(MAX_RATIO).max(1 << 20));
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

/// One DER TLV: tag, content start, content length, total end.
struct Tlv {
    tag: u8,
    start: usize,
    len: usize,
    end: usize,
}

fn der_tlv(data: &[u8], at: usize, layer: &str) -> FormatResult<Tlv> {
    let short = |what: &str| FormatError::new(layer, at as u64, format!("truncated DER {what}"));
    let tag = *data.get(at).ok_or_else(|| short("tag"))?;
    let first = *data.get(at + 1).ok_or_else(|| short("length"))?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return Err(FormatError::new(
                layer,
                at as u64 + 1,
                format!("unsupported DER length form {first:#04x} (indefinite or over 4 bytes)"),
            ));
        }
        let bytes = data.get(at + 2..at + 2 + n).ok_or_else(|| short("length"))?;
        (bytes.iter().fold(0usize, |acc, b| acc << 8 | *b as usize), 2 + n)
    };
    let start = at + hdr;
    let end = start.checked_add(len).filter(|e| *e <= data.len()).ok_or_else(|| {
        FormatError::new(
            layer,
            at as u64,
            format!(
                "DER element (tag {tag:#04x}) length {len:#x} runs past the end ({:#x} bytes left)",
                data.len().saturating_sub(start)
            ),
        )
    })?;
    Ok(Tlv { tag, start, len, end })
}

fn der_ia5<'d>(data: &'d [u8], at: usize, layer: &str) -> FormatResult<(&'d str, usize)> {
    let t = der_tlv(data, at, layer)?;
    if t.tag != 0x16 {
        return Err(FormatError::new(layer, at as u64, format!("expected IA5String, found DER tag {:#04x}", t.tag)));
    }
    let s = std::str::from_utf8(&data[t.start..t.end])
        .map_err(|_| FormatError::new(layer, t.start as u64, "IA5String is not ASCII"))?;
    Ok((s, t.end))
}

fn der_uint(data: &[u8], t: &Tlv, layer: &str) -> FormatResult<u64> {
    if t.tag != 0x02 || t.len == 0 || t.len > 9 {
        return Err(FormatError::new(layer, t.start as u64, "expected a small DER INTEGER"));
    }
    Ok(data[t.start..t.end].iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
}

/// Parse an IMG4 or IM4P DER structure.
pub fn read_img4(data: &[u8]) -> FormatResult<Im4p> {
    let mut layer = "im4p";
    let outer = der_tlv(data, 0, layer)?;
    if outer.tag != 0x30 {
        return Err(FormatError::new(layer, 0, "expected a DER SEQUENCE"));
    }
    let (name, mut at) = der_ia5(data, outer.start, layer)?;
    let mut in_img4 = false;
    let seq_end;
    if name == "IMG4" {
        in_img4 = true;
        layer = "img4";
        let inner = der_tlv(data, at, layer)?;
        if inner.tag != 0x30 || inner.end > outer.end {
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
    if payload.tag != 0x04 || payload.end > seq_end {
        return Err(FormatError::new(layer, at3 as u64, "expected the payload OCTET STRING"));
    }
    let mut uncompressed_size = None;
    let mut next = payload.end;
    while next < seq_end {
        let t = der_tlv(data, next, layer)?;
        if t.end > seq_end {
            return Err(FormatError::new(layer, next as u64, "element runs past the IM4P sequence"));
        }
        match t.tag {
            0x04 => {
                return Err(FormatError::new(
                    layer,
                    next as u64,
                    "encrypted payload (keybag present): kcheck cannot read encrypted kernelcaches",
                ));
            }
            0x30 => {
                let alg = der_tlv(data, t.start, layer)?;
                let size = der_tlv(data, alg.end, layer)?;
                let algorithm = der_uint(data, &alg, layer)?;
                if algorithm != 1 {
                    return Err(FormatError::new(
                        layer,
                        t.start as u64,
                        format!("unknown IM4P compression algorithm {algorithm}"),
                    ));
                }
                uncompressed_size = Some(der_uint(data, &size, layer)?);
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
        payload_len: payload.len,
        uncompressed_size,
    })
}
