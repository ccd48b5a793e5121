//! Compressed prelinked kernels (`comp`/`lzvn`, alone or in a FAT slice)
//! read without holding their image: the stream is read from the file a
//! chunk at a time and decoded through a small window
//! ([`compress::lzvn_decode_stream`]); the Adler-32 is taken as the pieces
//! go by, and only the pages the piecewise analysis needs are kept in an
//! image buffer that is otherwise never touched (zero pages the operating
//! system hands out on first write, so a 64 MB image of which 3 MB are
//! kept costs 3 MB).
//!
//! Which pages: the kernel's header and load commands (everything until
//! they are complete), its `__TEXT` and its `__PRELINK_INFO,__info`
//! (ranges known once the load commands are), and at every 4 KiB boundary
//! where a 64-bit Mach-O header starts, that header and its load commands.
//! A prelinked kext's image starts on a page boundary: xnu maps each
//! prelinked kext's segments with page protections (`OSKext::
//! setVMAttributes`, `kernel_mach_header_t` segments rounded with
//! `round_page`), and kextcache lays kexts out so; 4 KiB also divides the
//! 16 KiB pages of arm64.
//!
//! The kept image then goes through the same piecewise analysis as a raw
//! file ([`super::analyze_sparse`]); a page it asks for that was not kept
//! (a kext header off a page boundary, a `__TEXT` that does not start the
//! image) makes it give up, and so does any error of the stream or the
//! checksum: the caller then reads and decodes the whole file the ordinary
//! way, so answers, errors and their offsets are always those of the whole
//! image.
//!
//! Layer: cache (imports compress, container, input, macho).

use crate::compress::{self, STREAM_PAGE, StreamError};
use crate::container::{self, COMP_HEADER_SIZE, Slice};
use crate::input::Sparse;
use crate::macho::{self, MachView};
use sha2::{Digest, Sha256};

use super::{CacheInfo, Pieces, analyze_sparse};

/// Load commands longer than this are not kept for a sniffed header (no
/// kext has more than a few KiB); its pages are then missing and the
/// analysis gives up if it needs them.
const MAX_KEPT_CMDS: u64 = 1 << 20;

/// The image of a stream, of which some pages were kept.
pub(super) struct Kept {
    image: Vec<u8>,
    /// One bit per page: kept.
    pages: Vec<u64>,
}

impl Kept {
    fn new(size: usize, fill: u8) -> Kept {
        let pages = (size as u64).div_ceil(STREAM_PAGE).div_ceil(64) as usize;
        Kept { image: vec![fill; size], pages: vec![0; pages] }
    }

    /// Bytes kept (whole pages).
    fn kept_bytes(&self) -> u64 {
        let pages: u64 = self.pages.iter().map(|w| u64::from(w.count_ones())).sum();
        (pages * STREAM_PAGE).min(self.image.len() as u64)
    }

    fn is_kept(&self, page: u64) -> bool {
        self.pages[(page / 64) as usize] & (1 << (page % 64)) != 0
    }

    /// Copy the pages `[first, last]` from `piece`, which holds the image
    /// from `off`.
    fn keep(&mut self, first: u64, last: u64, off: u64, piece: &[u8]) {
        let size = self.image.len() as u64;
        let start = (first * STREAM_PAGE).max(off);
        let end = ((last + 1) * STREAM_PAGE).min(off + piece.len() as u64).min(size);
        if start >= end {
            return;
        }
        self.image[start as usize..end as usize].copy_from_slice(&piece[(start - off) as usize..(end - off) as usize]);
        for p in start / STREAM_PAGE..=(end - 1) / STREAM_PAGE {
            self.pages[(p / 64) as usize] |= 1 << (p % 64);
        }
    }
}

/// The "not kept" error: the analysis must give up.
fn not_kept() -> std::io::Error {
    std::io::Error::other("not kept from the stream")
}

impl Pieces for Kept {
    fn load(&mut self, off: u64, len: u64) -> std::io::Result<()> {
        let end = off.saturating_add(len).min(self.image.len() as u64);
        if off >= end {
            return Ok(());
        }
        match (off / STREAM_PAGE..=(end - 1) / STREAM_PAGE).all(|p| self.is_kept(p)) {
            true => Ok(()),
            false => Err(not_kept()),
        }
    }
    fn bytes(&self) -> &[u8] {
        &self.image
    }
}

/// Sifts the decoded pieces: checksums them and keeps what the analysis
/// will ask for.
struct Keeper {
    kept: Kept,
    /// The checksum of the pieces, where the container has one (`comp`).
    adler: Option<compress::Adler32>,
    /// Byte ranges still to keep, as pieces arrive.
    wants: Vec<(u64, u64)>,
    /// The kernel's load commands are read and its ranges wanted.
    planned: bool,
    /// The image is not a 64-bit Mach-O this reader understands.
    failed: bool,
    /// A kernel collection's kernel entry (its `__TEXT` is wanted once
    /// its header goes by).
    kernel_at: Option<u64>,
}

impl Keeper {
    fn accept(&mut self, off: u64, piece: &[u8]) {
        if let Some(a) = &mut self.adler {
            a.write(piece);
        }
        if self.failed {
            return;
        }
        let end = off + piece.len() as u64;
        if !self.planned {
            // Until the load commands are complete: up to their end once
            // the header says where that is, everything before.
            let c = macho::SIZEOFCMDS_OFFSET;
            let sizeofcmds = match off {
                0 => piece.get(c..c + 4),
                _ => self.kept.image.get(c..c + 4),
            }
            .map(|b| u64::from(u32::from_le_bytes(b.try_into().expect("4 bytes"))));
            let upto = sizeofcmds.map_or(end, |n| end.min(macho::SIZEOF_HEADER_64 as u64 + n));
            if upto > off {
                self.kept.keep(off / STREAM_PAGE, (upto - 1) / STREAM_PAGE, off, piece);
            }
            self.plan(end);
        }
        // A 64-bit Mach-O header at a page boundary (pieces start on one).
        let mut p = off.next_multiple_of(STREAM_PAGE);
        while p + macho::SIZEOF_HEADER_64 as u64 <= end {
            let at = (p - off) as usize;
            if piece[at..at + 4] == macho::MH_MAGIC_64.to_le_bytes() {
                let c = macho::SIZEOFCMDS_OFFSET;
                let sizeofcmds = u64::from(u32::from_le_bytes(piece[at + c..at + c + 4].try_into().expect("4 bytes")));
                if sizeofcmds <= MAX_KEPT_CMDS {
                    self.wants.push((p, p + macho::SIZEOF_HEADER_64 as u64 + sizeofcmds));
                }
                // The kernel entry of a collection: its __TEXT (segment
                // offsets are the collection's), when its load commands
                // are in this piece.
                if self.kernel_at == Some(p)
                    && let Ok(view) = MachView::parse(piece, at, "mach-o")
                    && let Ok(Some(t)) = view.segment("__TEXT")
                {
                    self.wants.push((t.fileoff, t.fileoff.saturating_add(t.filesize)));
                }
            }
            p += STREAM_PAGE;
        }
        for &(s, e) in &self.wants {
            if s < end && e > off {
                self.kept.keep(s / STREAM_PAGE, (e - 1) / STREAM_PAGE, off, piece);
            }
        }
        // Done with the ranges whose last page has gone by.
        self.wants.retain(|&(_, e)| e.next_multiple_of(STREAM_PAGE) > end);
    }

    /// With the image kept up to `have`: once the kernel's load commands
    /// are complete, want its `__TEXT` and `__PRELINK_INFO,__info`.
    fn plan(&mut self, have: u64) {
        let image = &self.kept.image;
        if have < macho::SIZEOF_HEADER_64 as u64 {
            return;
        }
        if image[..4] != macho::MH_MAGIC_64.to_le_bytes() {
            self.failed = true;
            return;
        }
        let c = macho::SIZEOFCMDS_OFFSET;
        let sizeofcmds = u64::from(u32::from_le_bytes(image[c..c + 4].try_into().expect("4 bytes")));
        if have < macho::SIZEOF_HEADER_64 as u64 + sizeofcmds {
            return;
        }
        self.planned = true;
        let Ok(view) = MachView::parse(image, 0, "mach-o") else {
            self.failed = true;
            return;
        };
        if let Ok(segments) = view.segments()
            && let Some(t) = segments.iter().find(|s| s.name == "__TEXT")
        {
            self.wants.push((t.fileoff, t.fileoff.saturating_add(t.filesize)));
        }
        if let Ok(Some((s, _))) = view.section_data("__PRELINK_INFO", "__info") {
            self.wants.push((s.offset, s.offset.saturating_add(s.size)));
        }
        if view.header.filetype == macho::MH_FILESET
            && let Ok(entries) = view.fileset_entries()
        {
            self.kernel_at = entries.iter().find(|e| e.id == "com.apple.kernel").map(|e| e.fileoff);
        }
    }
}

/// Hands what an LZFSE decoder writes to a [`Keeper`] in pieces that end
/// on page boundaries, and refuses more than `limit` bytes.
struct PageWriter<'k> {
    keeper: &'k mut Keeper,
    buf: Vec<u8>,
    /// Image offset of `buf[0]` (a page boundary).
    base: u64,
    limit: u64,
}

/// Bytes gathered before a piece is handed over.
const PIECE: usize = 256 << 10;

impl std::io::Write for PageWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.base + (self.buf.len() + data.len()) as u64 > self.limit {
            return Err(std::io::Error::other("more than the declared size"));
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= PIECE {
            let k = self.buf.len() & !(STREAM_PAGE as usize - 1);
            self.keeper.accept(self.base, &self.buf[..k]);
            self.buf.drain(..k);
            self.base += k as u64;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl PageWriter<'_> {
    /// Hand over the rest; the bytes written in all.
    fn finish(self) -> u64 {
        if !self.buf.is_empty() {
            self.keeper.accept(self.base, &self.buf);
        }
        self.base + self.buf.len() as u64
    }
}

/// Reads `[at, end)` of the file with `pread`.
struct FileRange<'a> {
    sp: &'a Sparse,
    at: u64,
    end: u64,
}

impl std::io::Read for FileRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.end - self.at).min(buf.len() as u64) as usize;
        self.sp.read_at(self.at, &mut buf[..n])?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Most bytes of an IM4P's DER header before its payload, and after it
/// (compression info, an IMG4's manifest), read for the streamed path.
const MAX_IM4P_HEAD: u64 = 1 << 20;
const MAX_IM4P_TAIL: u64 = 16 << 20;

/// An IM4P (or IMG4) whose payload is LZFSE, decoded
/// as a stream into a [`Keeper`] (`lzfse_rust`'s ring decoder: bounded
/// rings, its output handed over as it goes). The DER header and what
/// follows the payload are read piecewise and parsed by the same reader
/// as a whole file; the block headers are walked first by the same walk
/// as the whole decode (bound, trailing bytes), which gives the size; a
/// size the IM4P declares must be that one. Anything else: `Ok(None)`.
fn analyze_im4p(sp: &mut Sparse, arch: Option<&str>, fill: u8) -> std::io::Result<Option<(CacheInfo, u64)>> {
    let file_len = sp.bytes().len() as u64;
    let Ok((po, pl)) = container::img4_payload(sp.bytes()) else { return Ok(None) };
    let (po, pl) = (po as u64, pl as u64);
    let pay_end = po + pl;
    if po > MAX_IM4P_HEAD || file_len - pay_end > MAX_IM4P_TAIL {
        return Ok(None);
    }
    // The header, the payload's first page, and everything after it; then
    // the same parse as the whole file's.
    sp.load(0, po + STREAM_PAGE)?;
    sp.load(pay_end, file_len - pay_end)?;
    let Ok(im4p) = container::read_img4(sp.bytes()) else { return Ok(None) };
    if (im4p.payload_offset as u64, im4p.payload_len as u64) != (po, pl) {
        return Ok(None);
    }
    let payload_head = &sp.bytes()[po as usize..pay_end as usize];
    if !payload_head.starts_with(b"bvx") {
        return Ok(None);
    }
    let mut layers = Vec::new();
    if im4p.in_img4 {
        layers.push("img4".to_string());
    }
    layers.push(format!("im4p[{}]", im4p.fourcc));
    let layer = format!("{} > lzfse", layers.join(" > "));
    layers.push("lzfse".to_string());
    // The whole decode's bound (container::decode_lzfse) and block walk.
    let cap = compress::MAX_DECOMPRESSED.min(pl.saturating_mul(container::MAX_RATIO).max(1 << 20));
    let sp_ref: &Sparse = sp;
    let walked = compress::lzfse_decoded_size_by_headers(pl, cap, &layer, &mut |pos, buf| {
        let n = (pl - pos).min(buf.len() as u64) as usize;
        sp_ref.read_at(po + pos, &mut buf[..n])?;
        Ok(n)
    })?;
    // The size is the blocks' total, which the IM4P must match when it
    // declares one (as container::decode_lzfse requires).
    let Ok(size) = walked else { return Ok(None) };
    if im4p.uncompressed_size.is_some_and(|n| n != size) {
        return Ok(None);
    }
    // size <= cap <= 1 GiB.
    let mut keeper = Keeper {
        kept: Kept::new(size as usize, fill),
        adler: None,
        wants: Vec::new(),
        planned: false,
        failed: false,
        kernel_at: None,
    };
    let mut writer =
        PageWriter { keeper: &mut keeper, buf: Vec::with_capacity(PIECE + (64 << 10)), base: 0, limit: size };
    let mut reader = FileRange { sp: sp_ref, at: po, end: pay_end };
    let decoded = lzfse_rust::LzfseRingDecoder::default().decode(&mut reader, &mut writer);
    let written = writer.finish();
    if decoded.is_err() || written != size || keeper.failed {
        return Ok(None);
    }
    let mut kept = keeper.kept;
    let Ok(Some(mut info)) = analyze_sparse(&mut kept, arch) else { return Ok(None) };
    layers.append(&mut info.layers);
    info.layers = layers;
    info.file_size = file_len;
    Ok(Some((info, kept.kept_bytes())))
}

/// Load the header and load commands of a FAT slice at `off` when it is a
/// little-endian Mach-O (32- or 64-bit: what [`container::macho_uuid`]
/// reads); of anything else (a `comp` slice), its first bytes only.
fn load_slice_header(sp: &mut Sparse, off: u64) -> std::io::Result<()> {
    sp.load(off, macho::SIZEOF_HEADER_64 as u64)?;
    let magic = usize::try_from(off).ok().and_then(|o| sp.bytes().get(o..)).and_then(|b| b.first_chunk::<4>());
    if magic.is_some_and(|m| matches!(u32::from_le_bytes(*m), goblin::mach::header::MH_MAGIC | macho::MH_MAGIC_64)) {
        // sizeofcmds is at the same offset in both headers.
        super::load_header(sp, off)?;
    }
    Ok(())
}

/// Read the `comp`/`lzvn` prelinked kernel in `sp` (the file, alone or as
/// the chosen slice of a FAT file) as a stream (see the module).
/// `Ok(None)` when the file is anything else or the stream's pieces cannot
/// stand for the whole image; `Err` only for I/O.
pub(super) fn analyze_streamed(sp: &mut Sparse, arch: Option<&str>) -> std::io::Result<Option<CacheInfo>> {
    analyze_streamed_with(sp, arch, 0)
}

/// [`analyze_streamed`] with the image's bytes that are not kept set to
/// `fill` (tests set a non-zero fill to prove the analysis never looks
/// outside what was kept).
fn analyze_streamed_with(sp: &mut Sparse, arch: Option<&str>, fill: u8) -> std::io::Result<Option<CacheInfo>> {
    Ok(analyze_streamed_kept(sp, arch, fill, false)?.map(|(info, _)| info))
}

/// [`analyze_streamed`] that also takes the SHA-256 of the whole file in
/// the same pass (the bytes around the stream read for it, the stream as
/// the decoder reads it): `sha256` is set. `Ok(None)` as there, with no
/// hash.
pub(super) fn analyze_streamed_hashed(sp: &mut Sparse, arch: Option<&str>) -> std::io::Result<Option<CacheInfo>> {
    Ok(analyze_streamed_kept(sp, arch, 0, true)?.map(|(info, _)| info))
}

/// [`analyze_streamed_with`], also giving the bytes of the image kept.
fn analyze_streamed_kept(
    sp: &mut Sparse,
    arch: Option<&str>,
    fill: u8,
    hash: bool,
) -> std::io::Result<Option<(CacheInfo, u64)>> {
    let file_len = sp.bytes().len() as u64;
    sp.load(0, STREAM_PAGE)?;
    let Some(magic) = sp.bytes().first_chunk::<4>().copied() else { return Ok(None) };
    let mut layers = Vec::new();
    let mut slices = Vec::new();
    let (comp_off, comp_len) = match u32::from_be_bytes(magic) {
        goblin::mach::fat::FAT_MAGIC | container::FAT_MAGIC_64 => {
            let Ok((all, chosen)) = container::read_fat(sp.bytes(), arch) else { return Ok(None) };
            // Each slice's UUID, from its header and load commands (what
            // the whole-file reading records).
            for s in &all {
                load_slice_header(sp, s.offset)?;
            }
            let bytes = sp.bytes();
            slices = all
                .iter()
                .map(|s| {
                    let b = bytes.get(s.offset as usize..s.offset.saturating_add(s.size) as usize);
                    Slice { uuid: b.and_then(container::macho_uuid), ..s.clone() }
                })
                .collect();
            let pick = &all[chosen];
            layers.push(format!("fat[{}]", pick.arch));
            (pick.offset, pick.size)
        }
        _ if &magic == b"comp" => (0, file_len),
        // IM4P/LZFSE: hashed on a second thread by the caller, not here.
        _ if magic[0] == 0x30 && !hash => return analyze_im4p(sp, arch, fill),
        _ => return Ok(None),
    };
    sp.load(comp_off, COMP_HEADER_SIZE as u64)?;
    // read_fat checked the slice lies in the file.
    let layer = &sp.bytes()[comp_off as usize..(comp_off + comp_len) as usize];
    // A slice is a comp layer by its magic, as the whole reading sniffs it
    // (comp_header itself reads only what follows).
    if !layer.starts_with(b"comp") {
        return Ok(None);
    }
    let Ok(h) = container::comp_header(layer, compress::MAX_DECOMPRESSED) else { return Ok(None) };
    if h.kind != "lzvn" {
        return Ok(None);
    }
    layers.push(h.layer.to_string());
    // comp_header checked the declared size against the 1 GiB cap.
    let size = h.uncompressed as usize;
    let mut keeper = Keeper {
        kept: Kept::new(size, fill),
        adler: Some(compress::Adler32::new()),
        wants: Vec::new(),
        planned: false,
        failed: false,
        kernel_at: None,
    };
    let start = comp_off + COMP_HEADER_SIZE as u64;
    let end = start + h.compressed;
    let sp_ref: &Sparse = sp;
    let read = |at: u64, buf: &mut [u8]| sp_ref.read_at(at, buf);
    // The hash: the bytes before the stream, the stream as it is read
    // (in order, each byte once), the bytes after it.
    let mut sha = hash.then(Sha256::new);
    if let Some(sha) = &mut sha {
        super::hash_range(sha, 0, start, &read)?;
    }
    let mut next = 0u64;
    let decoded = compress::lzvn_decode_stream(
        h.compressed,
        size,
        h.layer,
        &mut |off, buf| {
            read(start + off, buf)?;
            // Any other order leaves `next` short of the end: no hash.
            if let Some(sha) = &mut sha
                && off == next
            {
                sha.update(&*buf);
                next = off + buf.len() as u64;
            }
            Ok(())
        },
        &mut |off, piece| keeper.accept(off, piece),
    );
    match decoded {
        Ok(()) => {}
        Err(StreamError::Read(e)) => return Err(e),
        Err(StreamError::Format(_)) => return Ok(None),
    }
    if keeper.failed || keeper.adler.as_ref().map(compress::Adler32::finish) != Some(h.adler) {
        return Ok(None);
    }
    let sha256 = match sha {
        Some(mut sha) => {
            // The decoder read the whole stream in order (it does: its end
            // marker must be the stream's last bytes).
            if next != h.compressed {
                return Ok(None);
            }
            super::hash_range(&mut sha, end, file_len, &read)?;
            Some(super::hex(&sha.finalize()))
        }
        None => None,
    };
    let mut kept = keeper.kept;
    let Ok(Some(mut info)) = analyze_sparse(&mut kept, arch) else { return Ok(None) };
    layers.append(&mut info.layers);
    info.layers = layers;
    info.slices = super::slice_infos(&slices);
    info.file_size = file_len;
    info.sha256 = sha256;
    Ok(Some((info, kept.kept_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::analyze;

    fn streamed(bytes: &[u8], fill: u8) -> Option<CacheInfo> {
        streamed_kept(bytes, fill).map(|(info, _)| info)
    }

    fn streamed_kept(bytes: &[u8], fill: u8) -> Option<(CacheInfo, u64)> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        std::fs::write(&p, bytes).unwrap();
        let (file, len) = crate::input::open_regular(&p).unwrap();
        analyze_streamed_kept(&mut Sparse::new(file, len as usize), None, fill, false).unwrap()
    }

    fn json(i: &CacheInfo) -> String {
        serde_json::to_string(i).unwrap()
    }

    #[test]
    fn streamed_reading_gives_what_the_whole_file_gives() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches");
        let mut names = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            if let Some(s) = streamed(&bytes, 0xA5) {
                assert_eq!(json(&s), json(&analyze(&bytes, None).unwrap()), "{}", p.display());
                names.push(p.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        names.sort();
        // Every comp/lzvn cache, alone or in a FAT file (fat2's chosen
        // x86_64 slice is comp/lzvn), and the IM4P/LZFSE kernel collection
        // alone and in an IMG4; not LZSS, raw files or IM4P/LZSS.
        let want = [
            "kernelcache-ios.im4p-lzfse",
            "kernelcache-ios.img4",
            "prelinkedkernel-a.comp-lzvn",
            "prelinkedkernel-a.fat-lzvn",
            "prelinkedkernel-a.fat2",
            "prelinkedkernel-b.fat-lzvn",
        ];
        assert_eq!(names, want);
    }

    #[test]
    fn a_large_streamed_cache_keeps_a_small_part_of_its_image() {
        for (name, bytes) in kcheck_testkit::synth::scaled_fixtures(60, 64 << 10) {
            if !(name.ends_with(".fat-lzvn") || name.ends_with(".im4p-lzfse")) {
                continue;
            }
            let (s, kept) = streamed_kept(&bytes, 0xA5).unwrap_or_else(|| panic!("{name} not streamed"));
            assert!(s.kexts.len() >= 60, "{name}: {} kexts", s.kexts.len());
            assert_eq!(json(&s), json(&analyze(&bytes, None).unwrap()), "{name}");
            assert!(kept * 5 < s.image_size, "{name}: kept {kept} of {} bytes", s.image_size);
        }
    }

    /// Damage anywhere (the FAT and comp headers, the stream): either the
    /// stream gives up or it gives exactly what the whole file gives.
    #[test]
    fn damaged_compressed_caches_streamed_agree_with_the_whole_file_or_give_up() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches");
        let (mut agreed, mut gave_up) = (0, 0);
        for name in [
            "prelinkedkernel-a.fat-lzvn",
            "prelinkedkernel-a.comp-lzvn",
            "prelinkedkernel-a.fat2",
            "kernelcache-ios.im4p-lzfse",
            "kernelcache-ios.img4",
        ] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            for round in 0..120 {
                let mut b = bytes.clone();
                for _ in 0..1 + next() % 3 {
                    let at = if next() % 2 == 0 { next() % 0x400 } else { next() % b.len() as u64 } as usize;
                    b[at] = next() as u8;
                }
                if next() % 8 == 0 {
                    b.truncate((next() % b.len() as u64) as usize);
                }
                match streamed(&b, 0xA5) {
                    Some(s) => {
                        let whole = analyze(&b, None)
                            .unwrap_or_else(|e| panic!("{name} round {round}: streamed, whole fails: {e}"));
                        assert_eq!(json(&s), json(&whole), "{name} round {round}");
                        agreed += 1;
                    }
                    None => gave_up += 1,
                }
            }
        }
        assert!(agreed > 40 && gave_up > 40, "agreed {agreed}, gave up {gave_up}");
    }

    /// A FAT slice that is not `comp` by its magic (found by the
    /// differential `container` fuzz target: a slice starting with a DER
    /// header whose bytes 4..8 read "lzvn" was streamed as comp/LZVN while
    /// the whole reading, sniffing the magic, reads it as an IM4P and
    /// fails).
    #[test]
    fn a_fat_slice_without_the_comp_magic_is_not_streamed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches");
        let mut b = std::fs::read(dir.join("prelinkedkernel-a.fat-lzvn")).unwrap();
        let at = b.windows(8).position(|w| w == b"complzvn").unwrap();
        b[at..at + 4].copy_from_slice(&[0x30, 0x82, 0x53, 0xba]);
        assert!(streamed(&b, 0xA5).is_none());
        let e = analyze(&b, None).unwrap_err();
        assert!(e.layer.contains("im4p"), "{e}");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c");
        std::fs::write(&p, &b).unwrap();
        let o = crate::cache::open(&p, &crate::cache::OpenOptions::default()).unwrap_err();
        assert!(o.to_string().ends_with(&e.to_string()), "{o} / {e}");
    }

    /// A kext whose image does not start on a page boundary is not kept:
    /// the stream gives up rather than answer from pages it did not keep.
    #[test]
    fn a_kext_off_a_page_boundary_makes_the_stream_give_up() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches");
        let plk = std::fs::read(dir.join("prelinkedkernel-a.raw")).unwrap();
        let info = analyze(&plk, None).unwrap();
        let k = info.kexts.iter().find(|k| k.uuid.is_some()).unwrap();
        let view = MachView::parse(&plk, 0, "t").unwrap();
        let segs = view.segments().unwrap();
        let addr = k.load_address.unwrap();
        let seg = segs.iter().find(|s| addr >= s.vmaddr && addr - s.vmaddr < s.filesize).unwrap();
        let off = (seg.fileoff + addr - seg.vmaddr) as usize;
        assert_eq!(off % STREAM_PAGE as usize, 0, "the generator lays kexts on page boundaries");
        // Spoil the page-start magic; the analysis needs that header.
        let mut b = plk.clone();
        b[off] ^= 0xFF;
        let whole = analyze(&b, None);
        let c = kcheck_testkit::synth::comp(kcheck_testkit::synth::Comp::Lzvn, &b);
        assert!(streamed(&c, 0xA5).is_none(), "whole: {:?}", whole.map(|i| i.kexts.len()));
        // The untouched cache streams.
        let c = kcheck_testkit::synth::comp(kcheck_testkit::synth::Comp::Lzvn, &plk);
        assert!(streamed(&c, 0xA5).is_some());
    }

    /// DER TLV (short or 4-byte long length form).
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        match content.len() {
            n if n < 0x80 => v.push(n as u8),
            n => {
                v.push(0x84);
                v.extend_from_slice(&(n as u32).to_be_bytes());
            }
        }
        v.extend_from_slice(content);
        v
    }

    /// IM4P/LZFSE variants built by hand: without the declared size, with
    /// a declared size that is wrong (not streamed), with a long description (the header past the first
    /// page), in an IMG4 with a manifest after the payload, and with
    /// bytes after the LZFSE end marker: `cache::open` always gives what
    /// the whole file gives, streamed or not.
    #[test]
    fn im4p_variants_stream_or_fall_back_and_agree_with_the_whole_file() {
        let kc = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/caches/BootKernelExtensions.kc"),
        )
        .unwrap();
        let stream = kcheck_testkit::encode::lzfse_encode(&kc);
        let size = {
            let mut i = der(0x02, &[1]);
            i.extend(der(0x02, &(kc.len() as u32).to_be_bytes()));
            der(0x30, &i)
        };
        let im4p = |desc: &[u8], payload: &[u8], info: bool| {
            let mut b = der(0x16, b"IM4P");
            b.extend(der(0x16, b"krnl"));
            b.extend(der(0x16, desc));
            b.extend(der(0x04, payload));
            if info {
                b.extend(size.clone());
            }
            der(0x30, &b)
        };
        let mut trailing = stream.clone();
        trailing.extend_from_slice(b"junk");
        let with_manifest = {
            let mut b = der(0x16, b"IMG4");
            b.extend(im4p(b"d", &stream, true));
            b.extend(der(0xA1, &[0x55; 5000]));
            der(0x30, &b)
        };
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            ("plain", im4p(b"d", &stream, true), true),
            ("no size", im4p(b"d", &stream, false), true),
            (
                "wrong size",
                {
                    let mut b = im4p(b"d", &stream, true);
                    let n = b.len();
                    b[n - 1] ^= 1;
                    b
                },
                false,
            ),
            ("long description", im4p(&[b'x'; 10_000], &stream, true), false),
            ("img4 with manifest", with_manifest, true),
            ("bytes after the end marker", im4p(b"d", &trailing, true), false),
        ];
        for (name, bytes, streams) in cases {
            assert_eq!(streamed(&bytes, 0xA5).is_some(), streams, "{name}");
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("kc");
            std::fs::write(&p, &bytes).unwrap();
            let opened = crate::cache::open(&p, &crate::cache::OpenOptions::default())
                .map(|i| json(&CacheInfo { file: Default::default(), ..i }));
            let whole = analyze(&bytes, None).map(|i| json(&i));
            match (opened, whole) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{name}"),
                (Err(a), Err(b)) => assert!(a.to_string().ends_with(&b.to_string()), "{name}: {a} / {b}"),
                (a, b) => panic!("{name}: {:?} / {:?}", a.is_ok(), b.is_ok()),
            }
        }
        // The payload range from the header alone is read_img4's.
        for (_, bytes) in kcheck_testkit::synth::cache_fixtures() {
            if bytes.first() == Some(&0x30) {
                let full = container::read_img4(&bytes).unwrap();
                assert_eq!(container::img4_payload(&bytes).unwrap(), (full.payload_offset, full.payload_len));
            }
        }
    }
}
