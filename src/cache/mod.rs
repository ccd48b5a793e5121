//! A kernel cache, opened: its container layers, its kernel, and every kext
//! linked into it.
//!
//! Two Mach-O kinds carry kexts:
//! - the `MH_EXECUTE` prelinked kernel (macOS ≤ 10.15, older iOS): kext
//!   images inside `__PRELINK_TEXT`, their Info.plists in
//!   `__PRELINK_INFO,__info`; a kext's UUID is the `LC_UUID` of the Mach-O
//!   found at its `_PrelinkExecutableSourceAddr` (what Apple's `kclist`
//!   does), since the plist carries no UUID;
//! - the `MH_FILESET` kernel collection (macOS 11+, iOS 14+): one
//!   `LC_FILESET_ENTRY` per kext (its Mach-O at the entry's `fileoff`),
//!   with versions and paths from the collection's `__PRELINK_INFO`.
//!
//! A raw Mach-O is read piecewise and a `comp`/LZVN prelinked kernel
//! decoded as a stream that keeps only the pages the analysis needs
//! ([`open`]); other containers are read once and each layer decoded once
//! into one buffer.

pub mod diff;
mod stream;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::bytes::Bytes;
use crate::container::{self, Slice};
use crate::error::{Error, FormatError, FormatResult};
use crate::macho::{self, MachView, Segment};
use crate::prelink;

/// The kernel cache files kcheck reads are at most this large.
pub const MAX_FILE_SIZE: u64 = 2 << 30;
/// A cache with more kexts than this is refused (real ones have < 1,000).
pub const MAX_KEXTS: usize = 100_000;
/// Longest bundle identifier, version or path accepted from a cache.
pub const MAX_STRING: usize = 4096;
/// Most bytes of strings copied out of one cache's kext list, all kexts
/// together (a real cache of 1,000 kexts holds well under 1 MiB): IDREFs
/// can name one large dict many times, so the copies are counted.
pub const MAX_COPIED: usize = 64 << 20;

/// Count the strings a kext brings out of the cache against [`MAX_COPIED`].
fn charge(copied: &mut usize, k: &Kext, layer: &str) -> FormatResult<()> {
    let n = k.bundle_id.len()
        + k.version.as_ref().map_or(0, String::len)
        + k.bundle_path.as_ref().map_or(0, String::len)
        + k.executable_relative_path.as_ref().map_or(0, String::len)
        + k.uuid.as_ref().map_or(0, String::len);
    *copied = copied.saturating_add(n);
    if *copied > MAX_COPIED {
        return Err(FormatError::new(
            layer,
            0,
            format!("the kext list copies out more than {MAX_COPIED} bytes of strings: not a real cache"),
        ));
    }
    Ok(())
}

/// What the innermost image is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheKind {
    /// `MH_EXECUTE` with `__PRELINK_INFO`.
    PrelinkedKernel,
    /// `MH_FILESET`.
    KernelCollection,
    /// A bare kernel: `MH_EXECUTE` with a kernel version string and no
    /// prelinked kexts (`__PRELINK_INFO` absent or empty, as in a real
    /// `/System/Library/Kernels/kernel` or a KDK kernel).
    Kernel,
    /// Any other Mach-O (a kext executable, …).
    MachO,
}

impl CacheKind {
    /// The kebab-case name used in text and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::PrelinkedKernel => "prelinked-kernel",
            CacheKind::KernelCollection => "kernel-collection",
            CacheKind::Kernel => "kernel",
            CacheKind::MachO => "mach-o",
        }
    }
}

/// The kernel linked into a cache.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Kernel {
    /// `Darwin Kernel Version …`.
    pub version: Option<String>,
    /// The kernel's `LC_UUID`.
    pub uuid: Option<String>,
}

/// One kext linked into a cache.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Kext {
    /// `CFBundleIdentifier`.
    pub bundle_id: String,
    /// `CFBundleVersion`.
    pub version: Option<String>,
    /// `LC_UUID` of the kext's executable; `None` for codeless kexts.
    pub uuid: Option<String>,
    /// `_PrelinkBundlePath`.
    pub bundle_path: Option<String>,
    /// `_PrelinkExecutableRelativePath`.
    pub executable_relative_path: Option<String>,
    /// `_PrelinkExecutableLoadAddr` (or the fileset entry's vmaddr).
    #[serde(serialize_with = "hex_opt")]
    pub load_address: Option<u64>,
    /// `_PrelinkExecutableSize`.
    pub executable_size: Option<u64>,
}

fn hex_opt<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => s.serialize_str(&format!("{x:#x}")),
        None => s.serialize_none(),
    }
}

/// A FAT slice with the UUID of its Mach-O, when it is one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SliceInfo {
    /// Architecture.
    pub arch: String,
    /// Offset in the file.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// `LC_UUID` of the slice, if it is a Mach-O with one.
    pub uuid: Option<String>,
}

/// Everything kcheck knows about one cache file.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CacheInfo {
    /// The path as given.
    pub file: PathBuf,
    /// File size in bytes.
    pub file_size: u64,
    /// SHA-256 of the file, lower-case hex (when asked for).
    pub sha256: Option<String>,
    /// Container layers, outermost first.
    pub layers: Vec<String>,
    /// FAT slices of the outermost FAT layer.
    pub slices: Vec<SliceInfo>,
    /// What the innermost image is.
    pub kind: CacheKind,
    /// Mach-O filetype name.
    pub filetype: String,
    /// Mach-O architecture.
    pub arch: String,
    /// `LC_UUID` of the top-level image.
    pub uuid: Option<String>,
    /// Size of the decoded Mach-O image.
    pub image_size: u64,
    /// The kernel.
    pub kernel: Kernel,
    /// `_PrelinkKCID`, as an upper-case UUID.
    pub kc_id: Option<String>,
    /// `_BootKCID` (auxiliary/system collections), as an upper-case UUID.
    pub boot_kc_id: Option<String>,
    /// `_PageableKCID` (the auxiliary collection's link to the system
    /// collection on Intel), as an upper-case UUID.
    pub pageable_kc_id: Option<String>,
    /// Size of the `__PRELINK_INFO,__info` XML in bytes.
    pub prelink_info_size: Option<u64>,
    /// The kexts, in cache order.
    pub kexts: Vec<Kext>,
}

impl CacheInfo {
    /// Kexts without an executable.
    pub fn codeless_count(&self) -> usize {
        self.kexts.iter().filter(|k| k.load_address.is_none() && k.uuid.is_none()).count()
    }
}

/// Options for [`open`].
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// FAT slice to read (`x86_64`, `arm64e`, …).
    pub arch: Option<String>,
    /// Compute the file's SHA-256.
    pub hash: bool,
}

/// Read and analyse the cache at `path`.
///
/// A raw 64-bit Mach-O (a kernel collection, an uncompressed prelinked
/// kernel, a kernel) is read in place, piecewise ([`crate::input::Sparse`]):
/// only its load commands, its `__TEXT`, `__PRELINK_INFO,__info` and the
/// headers of the kexts it lists are read, a few MB of a 200 MB
/// collection. A `comp`/LZVN prelinked kernel (alone or in a FAT slice) is
/// decoded as a stream that keeps only those pages of its image
/// (`cache::stream`). Everything else (LZSS, IM4P/LZFSE) is read whole. The
/// piecewise and streamed paths give exactly what reading the whole file
/// gives: when they cannot (the kernel version is not in `__TEXT`, a page
/// not kept, anything fails to parse or decode) the rest of the file is
/// read and analysed the ordinary way, so errors and their offsets are the
/// same too.
///
/// With `opts.hash` the file's SHA-256 is taken without a buffer of the
/// file's size: for a `comp`/LZVN cache in the same pass as its streamed
/// decode, for anything else on a second thread, in 1 MiB reads of the
/// same open file, while the first analyses it.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<CacheInfo, Error> {
    let (file, len) = open_cache_file(path)?;
    let arch = opts.arch.as_deref();
    if !opts.hash {
        // len <= MAX_FILE_SIZE (2 GiB) fits in usize.
        return open_file(path, crate::input::Sparse::new(file, len as usize), arch);
    }
    // The same open file (one inode), read by both threads with pread.
    let hashed = file.try_clone().map_err(|e| Error::io(path, e))?;
    let mut sparse = crate::input::Sparse::new(file, len as usize);
    // A comp/LZVN cache is hashed as its stream is read: one pass.
    if let Some(mut info) = stream::analyze_streamed_hashed(&mut sparse, arch).map_err(|e| Error::io(path, e))? {
        info.file = path.to_path_buf();
        return Ok(info);
    }
    std::thread::scope(|s| {
        let sha = s.spawn(move || sha256_file(&hashed, len));
        let info = open_file(path, sparse, arch);
        let sha = sha.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let mut info = info?;
        info.sha256 = Some(sha.map_err(|e| Error::io(path, e))?);
        Ok(info)
    })
}

/// The analysis of [`open`], on the open file `sparse`.
fn open_file(path: &Path, mut sparse: crate::input::Sparse, arch: Option<&str>) -> Result<CacheInfo, Error> {
    let quick = match analyze_sparse(&mut sparse, arch).map_err(|e| Error::io(path, e))? {
        Some(info) => Some(info),
        None => stream::analyze_streamed(&mut sparse, arch).map_err(|e| Error::io(path, e))?,
    };
    let mut info = match quick {
        Some(info) => info,
        None => {
            let data = sparse.into_full().map_err(|e| Error::io(path, e))?;
            analyze(&data, arch).map_err(|e| Error::format(path, e))?
        }
    };
    info.file = path.to_path_buf();
    Ok(info)
}

/// SHA-256 of the `len` bytes of `file`, read in 1 MiB pieces; an error
/// when the file became shorter.
fn sha256_file(file: &std::fs::File, len: u64) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    let mut h = Sha256::new();
    hash_range(&mut h, 0, len, &|at, buf| {
        file.read_exact_at(buf, at).map_err(|e| crate::input::shorter(e, at, at + buf.len() as u64))
    })?;
    Ok(hex(&h.finalize()))
}

/// Add bytes `from..to` to `h`, read with `read(offset, buf)` in 1 MiB
/// pieces.
fn hash_range(
    h: &mut Sha256,
    from: u64,
    to: u64,
    read: &dyn Fn(u64, &mut [u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; (1u64 << 20).min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(buf.len() as u64) as usize;
        read(at, &mut buf[..n])?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}

/// Lower-case hex of a digest.
fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the regular files `a` and `b` hold the same bytes, compared
/// in 1 MiB reads (no buffer of the files' size). Errors are I/O errors
/// or the refusals of [`open`] (not a regular file, too large).
pub fn same_bytes(a: &Path, b: &Path) -> Result<bool, Error> {
    use std::os::unix::fs::FileExt;
    let ((fa, la), (fb, lb)) = (open_cache_file(a)?, open_cache_file(b)?);
    if la != lb {
        return Ok(false);
    }
    let chunk = (1usize << 20).min(la as usize);
    let (mut ba, mut bb) = (vec![0u8; chunk], vec![0u8; chunk]);
    let mut at = 0u64;
    while at < la {
        let n = (la - at).min(chunk as u64) as usize;
        // A file that changed length under us reads short: not the same.
        if fa.read_exact_at(&mut ba[..n], at).is_err() || fb.read_exact_at(&mut bb[..n], at).is_err() {
            return Ok(false);
        }
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
        at += n as u64;
    }
    Ok(true)
}

/// Open the cache file `path`: a regular file (opened without blocking: a
/// FIFO or a device at a cache path must never hang kcheck or feed it
/// endless bytes) of at most [`MAX_FILE_SIZE`] bytes; with its length.
fn open_cache_file(path: &Path) -> Result<(std::fs::File, u64), Error> {
    let (file, len) = crate::input::open_regular(path).map_err(|e| input_error(path, e))?;
    if len > MAX_FILE_SIZE {
        return Err(input_error(path, crate::input::InputError::TooLarge { size: len, max: MAX_FILE_SIZE }));
    }
    Ok((file, len))
}

fn input_error(path: &Path, e: crate::input::InputError) -> Error {
    match e {
        crate::input::InputError::Io(e) => Error::io(path, e),
        crate::input::InputError::NotRegular("a directory") => {
            Error::format(path, FormatError::new("file", 0, "is a directory, not a file"))
        }
        crate::input::InputError::TooLarge { size, .. } => Error::format(
            path,
            FormatError::new("file", 0, format!("{size} bytes is larger than any kernel cache ({MAX_FILE_SIZE} max)")),
        ),
        other => Error::format(path, FormatError::new("file", 0, other.to_string())),
    }
}

/// What the piecewise analysis reads from: a file read in pages on demand
/// ([`crate::input::Sparse`]), or an image decoded as a stream of which
/// only some pages were kept ([`stream::Kept`], where asking for a page
/// not kept is an error that sends the caller back to the whole image).
trait Pieces {
    /// Make `len` bytes at `off` (clamped to the image) readable.
    fn load(&mut self, off: u64, len: u64) -> std::io::Result<()>;
    /// The image; only the ranges loaded hold its bytes.
    fn bytes(&self) -> &[u8];
}

impl Pieces for crate::input::Sparse {
    fn load(&mut self, off: u64, len: u64) -> std::io::Result<()> {
        crate::input::Sparse::load(self, off, len)
    }
    fn bytes(&self) -> &[u8] {
        crate::input::Sparse::bytes(self)
    }
}

/// Load the header and load commands of the Mach-O at `off`.
fn load_header<P: Pieces>(sp: &mut P, off: u64) -> std::io::Result<()> {
    sp.load(off, macho::SIZEOF_HEADER_64 as u64)?;
    // `off` comes from the file (a fileset entry's fileoff, a kext's
    // address): past the end it simply reads nothing.
    let at = usize::try_from(off).ok().and_then(|o| o.checked_add(macho::SIZEOFCMDS_OFFSET));
    if let Some(b) = at.and_then(|at| sp.bytes().get(at..)).and_then(|b| b.get(..4)) {
        let sizeofcmds = u32::from_le_bytes(b.try_into().expect("4 bytes"));
        sp.load(off, macho::SIZEOF_HEADER_64 as u64 + u64::from(sizeofcmds))?;
    }
    Ok(())
}

/// The piecewise analysis of a raw 64-bit little-endian Mach-O (see
/// [`open`]): `Ok(None)` when the file is anything else or the piecewise
/// reading cannot stand for the whole; `Err` only for I/O.
fn analyze_sparse<P: Pieces>(sp: &mut P, arch: Option<&str>) -> std::io::Result<Option<CacheInfo>> {
    const LAYER: &str = "mach-o";
    sp.load(0, crate::input::SPARSE_PAGE)?;
    if sp.bytes().get(..4) != Some(&macho::MH_MAGIC_64.to_le_bytes()[..]) {
        return Ok(None);
    }
    load_header(sp, 0)?;
    // Step 1: the top-level __TEXT and __PRELINK_INFO,__info.
    let (filetype, segments, info_range) = {
        let Ok(view) = MachView::parse(sp.bytes(), 0, LAYER) else { return Ok(None) };
        let Ok(segments) = view.segments() else { return Ok(None) };
        let Ok(sect) = view.section_data("__PRELINK_INFO", "__info") else { return Ok(None) };
        (view.header.filetype, segments, sect.map(|(s, _)| (s.offset, s.size)))
    };
    if let Some(t) = segments.iter().find(|s| s.name == "__TEXT") {
        sp.load(t.fileoff, t.filesize)?;
    }
    if let Some((off, size)) = info_range {
        sp.load(off, size)?;
    }
    // Step 2: the headers of the kexts (and the fileset kernel's __TEXT).
    let mut headers: Vec<u64> = Vec::new();
    let mut kernel_entry: Option<u64> = None;
    if filetype == macho::MH_FILESET {
        let Ok(view) = MachView::parse(sp.bytes(), 0, LAYER) else { return Ok(None) };
        let Ok(entries) = view.fileset_entries() else { return Ok(None) };
        kernel_entry = entries.iter().find(|e| e.id == "com.apple.kernel").map(|e| e.fileoff);
        headers.extend(entries.iter().map(|e| e.fileoff));
    } else if let Some((off, size)) = info_range {
        let Some(xml) = sp.bytes().get(off as usize..off.saturating_add(size) as usize) else { return Ok(None) };
        if xml.iter().any(|b| *b != 0) {
            let Ok(doc) = prelink::parse(xml) else { return Ok(None) };
            let Ok(dicts) = the_kext_list(&doc, LAYER) else { return Ok(None) };
            for dict in dicts {
                let Some(addr) = dict.get("_PrelinkExecutableSourceAddr").and_then(|n| n.as_u64()) else {
                    continue;
                };
                if let Some(seg) =
                    segments.iter().find(|s| s.filesize > 0 && addr >= s.vmaddr && addr - s.vmaddr < s.filesize)
                {
                    headers.push(seg.fileoff.saturating_add(addr - seg.vmaddr));
                }
            }
        }
    }
    headers.sort_unstable();
    headers.dedup();
    for off in headers {
        load_header(sp, off)?;
    }
    // The kernel version must be in the __TEXT read: the whole-file
    // analysis would otherwise search the whole image for it.
    let text_of = |sp: &P, base: usize| -> Option<(u64, u64)> {
        let v = MachView::parse(sp.bytes(), base, LAYER).ok()?;
        let t = v.segment("__TEXT").ok()??;
        Some((t.fileoff, t.filesize))
    };
    let text = match (filetype, kernel_entry) {
        (macho::MH_FILESET, Some(k)) => usize::try_from(k).ok().and_then(|k| text_of(sp, k)),
        (macho::MH_FILESET, None) => None,
        _ => text_of(sp, 0),
    };
    // A collection with a kernel entry, and a prelinked kernel, look for
    // the version in the whole image when it is not in __TEXT.
    let needs_version = match filetype {
        macho::MH_FILESET => kernel_entry.is_some(),
        _ => info_range.is_some(),
    };
    match text {
        Some((off, size)) => {
            sp.load(off, size)?;
            let bytes = sp.bytes().get(off as usize..off.saturating_add(size) as usize).unwrap_or_default();
            if needs_version && macho::find_kernel_version(bytes).is_none() {
                return Ok(None);
            }
        }
        None if needs_version => return Ok(None),
        None => {}
    }
    Ok(analyze(sp.bytes(), arch).ok())
}

/// SHA-256 of `data` as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// Analyse a cache held in memory.
pub fn analyze(data: &[u8], arch: Option<&str>) -> FormatResult<CacheInfo> {
    let un = container::unwrap(data, arch)?;
    let chain = un.chain();
    let image = un.image();
    let view = MachView::parse(image, 0, &chain).map_err(|e| rebase(e, un.file_offset))?;
    let slices = slice_infos(&un.slices);
    let mut info = CacheInfo {
        file: PathBuf::new(),
        file_size: data.len() as u64,
        sha256: None,
        layers: un.layers.clone(),
        slices,
        kind: CacheKind::MachO,
        filetype: view.filetype(),
        arch: view.arch(),
        uuid: view.uuid().map(|u| macho::format_uuid(&u)),
        image_size: image.len() as u64,
        kernel: Kernel::default(),
        kc_id: None,
        boot_kc_id: None,
        pageable_kc_id: None,
        prelink_info_size: None,
        kexts: Vec::new(),
    };
    let segments = view.segments().map_err(|e| rebase(e, un.file_offset))?;
    let text = segments
        .iter()
        .find(|s| s.name == "__TEXT")
        .map(|s| view.segment_data(s))
        .transpose()
        .map_err(|e| rebase(e, un.file_offset))?;
    let prelink = view.section_data("__PRELINK_INFO", "__info").map_err(|e| rebase(e, un.file_offset))?;
    let xml_layer = format!("{chain} > __PRELINK_INFO,__info");
    // A real kernel (and every KDK kernel) carries the `__PRELINK_TEXT`,
    // `__PRELINK_INFO` and `__PRELINK_DATA` segments empty: kextcache fills
    // them when it links a prelinkedkernel. An empty (or all-NUL) info
    // section is a kernel with no prelinked kexts, not a broken cache.
    let prelink = prelink.filter(|(_, bytes)| bytes.iter().any(|b| *b != 0));
    let doc = match &prelink {
        Some((_, bytes)) => {
            info.prelink_info_size = Some(bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len()) as u64);
            Some(prelink::parse(bytes).map_err(|e| FormatError { layer: xml_layer.clone(), ..e })?)
        }
        None => None,
    };
    if let Some(doc) = &doc {
        let root = doc.root();
        info.kc_id = kcid(root.get("_PrelinkKCID"));
        info.boot_kc_id = kcid(root.get("_BootKCID"));
        info.pageable_kc_id = kcid(root.get("_PageableKCID"));
    }
    match view.header.filetype {
        macho::MH_FILESET => {
            info.kind = CacheKind::KernelCollection;
            read_fileset(&view, image, doc.as_ref(), &chain, &xml_layer, &mut info)?;
        }
        _ if doc.is_some() => {
            info.kind = CacheKind::PrelinkedKernel;
            info.kernel.uuid = info.uuid.clone();
            info.kernel.version =
                text.and_then(macho::find_kernel_version).or_else(|| macho::find_kernel_version(image));
            let doc = doc.as_ref().expect("checked is_some");
            info.kexts = read_prelinked(doc, &view, &segments, image, &chain, &xml_layer)?;
        }
        macho::MH_EXECUTE => {
            // A bare kernel (e.g. /System/Library/Kernels/kernel).
            if let Some(v) = text.and_then(macho::find_kernel_version) {
                info.kernel.version = Some(v);
                info.kernel.uuid = info.uuid.clone();
                info.kind = CacheKind::Kernel;
            }
        }
        _ => {}
    }
    Ok(info)
}

fn rebase(mut e: FormatError, base: Option<u64>) -> FormatError {
    if let Some(b) = base {
        e.offset = e.offset.saturating_add(b);
    }
    e
}

fn slice_infos(slices: &[Slice]) -> Vec<SliceInfo> {
    slices
        .iter()
        .map(|s| SliceInfo {
            arch: s.arch.clone(),
            offset: s.offset,
            size: s.size,
            uuid: s.uuid.map(|u| macho::format_uuid(&u)),
        })
        .collect()
}

fn kcid(node: Option<prelink::NodeRef<'_, '_>>) -> Option<String> {
    let bytes = node?.as_data()?;
    let arr: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
    Some(macho::format_uuid(&arr))
}

fn string_key(dict: prelink::NodeRef<'_, '_>, key: &str) -> Option<String> {
    dict.get(key).and_then(|n| n.as_str()).map(str::to_string)
}

fn the_kext_list<'d, 'a>(doc: &'d prelink::Doc<'a>, layer: &str) -> FormatResult<Vec<prelink::NodeRef<'d, 'a>>> {
    let root = doc.root();
    // Apple's kclist also accepts a bare array at the root.
    let list = match root.kind() {
        prelink::Kind::Array => root,
        _ => root
            .get("_PrelinkInfoDictionary")
            .ok_or_else(|| FormatError::new(layer, root.offset(), "the prelink info has no _PrelinkInfoDictionary"))?,
    };
    if !matches!(list.kind(), prelink::Kind::Array) {
        return Err(FormatError::new(layer, list.offset(), "_PrelinkInfoDictionary is not an array"));
    }
    if list.len() > MAX_KEXTS {
        return Err(FormatError::new(
            layer,
            list.offset(),
            format!("_PrelinkInfoDictionary lists {} kexts, more than the {MAX_KEXTS} any cache holds", list.len()),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for item in list.items() {
        if !matches!(item.kind(), prelink::Kind::Dict) {
            return Err(FormatError::new(layer, item.offset(), "an entry of _PrelinkInfoDictionary is not a dict"));
        }
        out.push(item);
    }
    Ok(out)
}

fn kext_from_dict(dict: prelink::NodeRef<'_, '_>, layer: &str) -> FormatResult<Kext> {
    for key in ["CFBundleIdentifier", "CFBundleVersion", "_PrelinkBundlePath", "_PrelinkExecutableRelativePath"] {
        if let Some(n) = dict.get(key)
            && let Some(v) = n.as_str()
            && v.len() > MAX_STRING
        {
            return Err(FormatError::new(
                layer,
                n.offset(),
                format!("{key} is {} bytes long, over the {MAX_STRING}-byte limit", v.len()),
            ));
        }
    }
    let bundle_id = string_key(dict, "CFBundleIdentifier")
        .ok_or_else(|| FormatError::new(layer, dict.offset(), "a kext entry has no CFBundleIdentifier string"))?;
    let int = |key: &str| -> FormatResult<Option<u64>> {
        match dict.get(key) {
            None => Ok(None),
            Some(n) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| FormatError::new(layer, n.offset(), format!("{bundle_id}: {key} is not an integer"))),
        }
    };
    Ok(Kext {
        version: string_key(dict, "CFBundleVersion"),
        uuid: None,
        bundle_path: string_key(dict, "_PrelinkBundlePath"),
        executable_relative_path: string_key(dict, "_PrelinkExecutableRelativePath"),
        load_address: int("_PrelinkExecutableLoadAddr")?,
        executable_size: int("_PrelinkExecutableSize")?,
        bundle_id,
    })
}

fn read_prelinked(
    doc: &prelink::Doc<'_>,
    view: &MachView<'_>,
    segments: &[Segment],
    image: &[u8],
    chain: &str,
    xml_layer: &str,
) -> FormatResult<Vec<Kext>> {
    let dicts = the_kext_list(doc, xml_layer)?;
    let mut kexts = Vec::with_capacity(dicts.len());
    // Each kext header is parsed once, however many kexts name its address
    // (a hostile cache can point 20,000 kexts at one large header).
    let mut by_addr: std::collections::HashMap<u64, Option<String>> = std::collections::HashMap::new();
    let mut copied = 0usize;
    for dict in dicts {
        let mut kext = kext_from_dict(dict, xml_layer)?;
        let source = match dict.get("_PrelinkExecutableSourceAddr") {
            Some(n) => Some(n.as_u64().ok_or_else(|| {
                FormatError::new(
                    xml_layer,
                    n.offset(),
                    format!("{}: _PrelinkExecutableSourceAddr is not an integer", kext.bundle_id),
                )
            })?),
            None => None,
        };
        if let Some(addr) = source {
            kext.uuid = match by_addr.get(&addr) {
                Some(u) => u.clone(),
                None => {
                    let layer = format!("{chain} > kext {}", kext.bundle_id);
                    let u = uuid_at_address(view, segments, image, addr, &layer)?;
                    by_addr.insert(addr, u.clone());
                    u
                }
            };
        }
        charge(&mut copied, &kext, xml_layer)?;
        kexts.push(kext);
    }
    Ok(kexts)
}

/// The `LC_UUID` of the Mach-O whose header is at virtual address `addr`.
fn uuid_at_address(
    _view: &MachView<'_>,
    segments: &[Segment],
    image: &[u8],
    addr: u64,
    layer: &str,
) -> FormatResult<Option<String>> {
    let seg = segments
        .iter()
        .filter(|s| s.filesize > 0)
        .find(|s| addr >= s.vmaddr && addr - s.vmaddr < s.filesize)
        .ok_or_else(|| {
            let text = segments.iter().find(|s| s.name == "__PRELINK_TEXT");
            let range = text
                .map(|s| format!("__PRELINK_TEXT is {:#x}..{:#x}", s.vmaddr, s.vmaddr.saturating_add(s.filesize)))
                .unwrap_or_else(|| "there is no __PRELINK_TEXT".into());
            FormatError::new(
                layer,
                0,
                format!("_PrelinkExecutableSourceAddr {addr:#x} is not inside any segment's file data ({range})"),
            )
        })?;
    // The image up to the end of that segment, so the kext's header must
    // lie inside it; offsets stay relative to the image.
    let upto = Bytes::new(image, layer).slice_at(0, seg.fileoff.saturating_add(seg.filesize), "segment")?;
    // `upto` holds fileoff + filesize bytes, and addr - vmaddr < filesize.
    let off = seg.fileoff.saturating_add(addr - seg.vmaddr) as usize;
    let kext = MachView::parse(upto, off, layer)?;
    Ok(kext.uuid().map(|u| macho::format_uuid(&u)))
}

/// The Mach-O of a fileset entry, its `fileoff` checked against the image.
fn entry_view<'a>(image: &'a [u8], e: &macho::FilesetEntry, chain: &str, layer: &'a str) -> FormatResult<MachView<'a>> {
    let off = usize::try_from(e.fileoff).unwrap_or(usize::MAX);
    if off >= image.len() {
        return Err(FormatError::new(
            chain,
            e.cmd_offset as u64,
            format!(
                "fileset entry {} fileoff {:#x} is past the end of the image ({:#x} bytes)",
                e.id,
                e.fileoff,
                image.len()
            ),
        ));
    }
    MachView::parse(image, off, layer)
}

fn read_fileset(
    view: &MachView<'_>,
    image: &[u8],
    doc: Option<&prelink::Doc<'_>>,
    chain: &str,
    xml_layer: &str,
    info: &mut CacheInfo,
) -> FormatResult<()> {
    let entries = view.fileset_entries()?;
    let by_id: std::collections::HashMap<&str, usize> =
        entries.iter().enumerate().rev().map(|(i, e)| (e.id.as_str(), i)).collect();
    let mut seen = vec![false; entries.len()];
    // Each entry's Mach-O header is parsed once per file offset.
    let by_off: std::cell::RefCell<std::collections::HashMap<u64, Option<String>>> = Default::default();
    let entry_uuid = |i: usize| -> FormatResult<Option<String>> {
        if let Some(u) = by_off.borrow().get(&entries[i].fileoff) {
            return Ok(u.clone());
        }
        let layer = format!("{chain} > fileset entry {}", entries[i].id);
        let v = entry_view(image, &entries[i], chain, &layer)?;
        let u = v.uuid().map(|u| macho::format_uuid(&u));
        by_off.borrow_mut().insert(entries[i].fileoff, u.clone());
        Ok(u)
    };
    if let Some(&k) = by_id.get("com.apple.kernel") {
        seen[k] = true;
        let layer = format!("{chain} > fileset entry {}", entries[k].id);
        let kv = entry_view(image, &entries[k], chain, &layer)?;
        info.kernel.uuid = kv.uuid().map(|u| macho::format_uuid(&u));
        let text = kv.segment("__TEXT")?.map(|s| kv.segment_data(&s)).transpose()?;
        info.kernel.version = text.and_then(macho::find_kernel_version).or_else(|| macho::find_kernel_version(image));
    }
    let mut kexts = Vec::new();
    let mut copied = 0usize;
    if let Some(doc) = doc {
        for dict in the_kext_list(doc, xml_layer)? {
            let mut kext = kext_from_dict(dict, xml_layer)?;
            if let Some(&i) = by_id.get(kext.bundle_id.as_str()) {
                seen[i] = true;
                kext.uuid = entry_uuid(i)?;
                if kext.load_address.is_none() {
                    kext.load_address = Some(entries[i].vmaddr);
                }
            }
            charge(&mut copied, &kext, xml_layer)?;
            kexts.push(kext);
        }
    }
    for (i, e) in entries.iter().enumerate() {
        if !seen[i] {
            kexts.push(Kext {
                bundle_id: e.id.clone(),
                version: None,
                uuid: entry_uuid(i)?,
                bundle_path: None,
                executable_relative_path: None,
                load_address: Some(e.vmaddr),
                executable_size: None,
            });
        }
    }
    info.kexts = kexts;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Sparse;

    /// The piecewise analysis of `bytes` with every unread byte set to
    /// 0xA5, so a look outside what was loaded changes the answer.
    fn sparse_poisoned(bytes: &[u8]) -> (Option<CacheInfo>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        std::fs::write(&p, bytes).unwrap();
        let (file, len) = crate::input::open_regular(&p).unwrap();
        let mut sp = Sparse::with_fill(file, len as usize, 0xA5);
        let info = analyze_sparse(&mut sp, None).unwrap();
        (info, sp.loaded_bytes())
    }

    fn json(i: &CacheInfo) -> String {
        serde_json::to_string(i).unwrap()
    }

    fn caches() -> Vec<(String, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches");
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        out.sort();
        out
    }

    /// The hash taken beside the analysis is the file's, and the analysis
    /// is the one without the hash.
    #[test]
    fn open_with_hash_hashes_the_file_and_analyses_it_alike() {
        for (name, bytes) in caches() {
            let path = Path::new(&name);
            let plain = open(path, &OpenOptions { arch: None, hash: false }).unwrap();
            let hashed = open(path, &OpenOptions { arch: None, hash: true }).unwrap();
            assert_eq!(hashed.sha256.as_deref(), Some(sha256_hex(&bytes).as_str()), "{name}");
            assert_eq!(json(&CacheInfo { sha256: None, ..hashed }), json(&plain), "{name}");
        }
        // Empty and over-1-MiB files hash right too.
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, (1 << 20) + 17] {
            let data: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let p = dir.path().join(format!("f{len}"));
            std::fs::write(&p, &data).unwrap();
            let f = std::fs::File::open(&p).unwrap();
            assert_eq!(sha256_file(&f, len as u64).unwrap(), sha256_hex(&data));
            // A file cut short after it was measured is an error.
            if len > 0 {
                std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len as u64 - 1).unwrap();
                let e = sha256_file(&f, len as u64).unwrap_err();
                assert!(e.to_string().contains("shorter"), "{e}");
            }
        }
    }

    #[test]
    fn same_bytes_compares_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 5).map(|i| (i % 251) as u8).collect();
        let w = |n: &str, d: &[u8]| {
            let p = dir.path().join(n);
            std::fs::write(&p, d).unwrap();
            p
        };
        let a = w("a", &data);
        let b = w("b", &data);
        assert!(same_bytes(&a, &b).unwrap());
        let mut last = data.clone();
        *last.last_mut().unwrap() ^= 1;
        assert!(!same_bytes(&a, &w("c", &last)).unwrap());
        let mut first = data.clone();
        first[0] ^= 1;
        assert!(!same_bytes(&a, &w("d", &first)).unwrap());
        assert!(!same_bytes(&a, &w("e", &data[..data.len() - 1])).unwrap());
        assert!(same_bytes(&w("f", b""), &w("g", b"")).unwrap());
        // Not a regular file: the refusal of `open`.
        let e = same_bytes(&a, dir.path()).unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
    }

    #[test]
    fn piecewise_reading_gives_what_the_whole_file_gives() {
        let mut piecewise = Vec::new();
        for (name, bytes) in caches() {
            let (sparse, _) = sparse_poisoned(&bytes);
            if let Some(s) = sparse {
                assert_eq!(json(&s), json(&analyze(&bytes, None).unwrap()), "{name}");
                piecewise.push(name);
            }
        }
        // The raw prelinked kernel and both collections take the
        // piecewise path; the compressed and FAT containers do not.
        for want in ["prelinkedkernel-a.raw", "BootKernelExtensions.kc", "AuxiliaryKernelExtensions.kc"] {
            assert!(piecewise.iter().any(|n| n.ends_with(want)), "{want} not read piecewise: {piecewise:?}");
        }
        assert!(!piecewise.iter().any(|n| n.contains("lzvn") || n.contains("fat")), "{piecewise:?}");
    }

    #[test]
    fn piecewise_reading_of_a_large_cache_reads_a_small_part() {
        for (name, bytes) in kcheck_testkit::synth::scaled_fixtures(60, 64 << 10) {
            if !(name.ends_with(".raw") || name.ends_with(".kc")) {
                continue;
            }
            let (sparse, loaded) = sparse_poisoned(&bytes);
            let s = sparse.unwrap_or_else(|| panic!("{name} not read piecewise"));
            assert!(s.kexts.len() >= 60, "{name}: {} kexts", s.kexts.len());
            assert_eq!(json(&s), json(&analyze(&bytes, None).unwrap()), "{name}");
            assert!(loaded * 5 < bytes.len() as u64, "{name}: read {loaded} of {} bytes", bytes.len());
        }
    }

    /// Fileset entries pointing past the end (or at the very top of the
    /// address space) neither panic nor read anything.
    #[test]
    fn hostile_fileset_offsets_are_harmless() {
        let kc = caches().into_iter().find(|(n, _)| n.ends_with("BootKernelExtensions.kc")).unwrap().1;
        let ncmds = u32::from_le_bytes(kc[16..20].try_into().unwrap()) as usize;
        let mut at = 32;
        let mut entries = Vec::new();
        for _ in 0..ncmds {
            let cmd = u32::from_le_bytes(kc[at..at + 4].try_into().unwrap());
            if cmd == 0x8000_0035 {
                entries.push(at);
            }
            at += u32::from_le_bytes(kc[at + 4..at + 8].try_into().unwrap()) as usize;
        }
        assert!(entries.len() > 2);
        for bad in [u64::MAX, u64::MAX - 3, u64::MAX - 19, kc.len() as u64 + 100, kc.len() as u64 - 2] {
            for &e in &entries {
                let mut b = kc.clone();
                b[e + 16..e + 24].copy_from_slice(&bad.to_le_bytes());
                let (sparse, _) = sparse_poisoned(&b);
                if let Some(s) = sparse {
                    assert_eq!(json(&s), json(&analyze(&b, None).unwrap()));
                }
            }
        }
    }

    /// A kernel entry without a __TEXT segment: the whole-file analysis
    /// finds the version anywhere in the image, so the piecewise one must
    /// fall back (found by the differential fuzz target).
    #[test]
    fn kernel_version_outside_text_falls_back_to_the_whole_file() {
        let mut kc = caches().into_iter().find(|(n, _)| n.ends_with("BootKernelExtensions.kc")).unwrap().1;
        let layer = "t";
        let entries = MachView::parse(&kc, 0, layer).unwrap().fileset_entries().unwrap();
        let k = entries.iter().find(|e| e.id == "com.apple.kernel").unwrap().fileoff as usize;
        let at = MachView::parse(&kc, k, layer).unwrap().segment("__TEXT").unwrap().unwrap().cmd_offset;
        // segname follows cmd and cmdsize.
        kc[at + 8 + 5] = b'X';
        let whole = analyze(&kc, None).unwrap();
        assert!(whole.kernel.version.is_some());
        let (sparse, _) = sparse_poisoned(&kc);
        assert!(sparse.is_none(), "the piecewise reading must not stand for this file");
    }

    #[test]
    fn damaged_raw_caches_read_piecewise_agree_with_the_whole_file_or_fall_back() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut agreed = 0;
        for (name, bytes) in caches() {
            if !(name.ends_with(".raw") || name.ends_with(".kc")) {
                continue;
            }
            for round in 0..150 {
                let mut b = bytes.clone();
                // Damage the parts the reader looks at most: the load
                // commands (first 4 KiB) and a few random places.
                for _ in 0..1 + next() % 4 {
                    let at = if next() % 2 == 0 { next() % 4096 } else { next() % b.len() as u64 } as usize;
                    b[at] = next() as u8;
                }
                let full = analyze(&b, None);
                if let (Some(s), _) = sparse_poisoned(&b) {
                    let full =
                        full.unwrap_or_else(|e| panic!("{name} round {round}: piecewise read, whole fails: {e}"));
                    assert_eq!(json(&s), json(&full), "{name} round {round}");
                    agreed += 1;
                }
            }
        }
        assert!(agreed > 50, "only {agreed} damaged caches took the piecewise path");
    }
}
