//! The embedded code signature of one thin Mach-O (a kext executable
//! slice): signing identifier, team identifier, CodeDirectory flags and
//! version.
//!
//! Layouts, from Apple's xnu sources:
//! - `linkedit_data_command` (`cmd`, `cmdsize`, `dataoff`, `datasize`) and
//!   `LC_CODE_SIGNATURE` (0x1d): `EXTERNAL_HEADERS/mach-o/loader.h`.
//! - `CS_SuperBlob` (`magic`, `length`, `count`, then `count` ×
//!   `CS_BlobIndex { type, offset }`), `CS_CodeDirectory`, the `CSMAGIC_*`
//!   and `CSSLOT_*` numbers and the version thresholds `CS_SUPPORTSSCATTER`
//!   (0x20100) and `CS_SUPPORTSTEAMID` (0x20200):
//!   `osfmk/kern/cs_blobs.h` (also exported as `bsd/sys/codesign.h`).
//!
//! Every signature field is big-endian whatever the Mach-O's byte order.
//! The CodeDirectory fields read here sit at fixed offsets: `version` 8,
//! `flags` 12, `identOffset` 20, and, from version 0x20200 on,
//! `teamOffset` 48 (after `scatterOffset` at 44); the version-0x20100
//! header ends at 48, the 0x20200 one at 52. String offsets are relative
//! to the start of the CodeDirectory.
//!
//! Which CodeDirectory: the one in slot `CSSLOT_CODEDIRECTORY` (0); when
//! that slot is absent, the lowest alternate slot
//! (`CSSLOT_ALTERNATE_CODEDIRECTORIES` 0x1000 ..= 0x1004). xnu itself
//! (`cs_validate_csblob` in `bsd/kern/ubc_subr.c`) picks the CD with the
//! strongest hash, but every CD of one signature carries the same
//! identifier, team id and flags, so the choice does not change the answer.
//! Only the chosen CD is validated; other blobs (requirements, entitlements,
//! the CMS signature) are not read.
//!
//! Strings: the identifier and team id must be NUL-terminated inside the
//! CodeDirectory's own `length`, at most [`MAX_IDENTIFIER_LEN`] /
//! [`MAX_TEAM_ID_LEN`] bytes before the NUL, and valid UTF-8; anything
//! else is a [`FormatError`] rather than a lossy string, because a
//! mangled team id would silently compare unequal to the real one. An
//! offset of 0 means the string is absent (`None`), as in xnu. An empty
//! string at a non-zero offset is returned as `Some("")`.
//!
//! Errors use the layer `code signature` and offsets relative to the start
//! of the Mach-O slice. Every count, offset and length from the file is
//! range-checked with checked arithmetic before use; nothing allocates in
//! proportion to a header field, and nothing panics on any input.

use goblin::container::Container;
use goblin::mach::header::Header;
use goblin::mach::load_command::{LC_CODE_SIGNATURE, LinkeditDataCommand};
use scroll::{BE, Pread};

use crate::error::{FormatError, FormatResult};

/// The layer name in errors from this module.
pub const LAYER: &str = "code signature";

/// `CSMAGIC_EMBEDDED_SIGNATURE`: the SuperBlob `LC_CODE_SIGNATURE` points at.
pub const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
/// `CSMAGIC_CODEDIRECTORY`.
pub const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
/// `CSSLOT_CODEDIRECTORY`: the primary CodeDirectory's slot.
pub const CSSLOT_CODEDIRECTORY: u32 = 0;
/// `CSSLOT_ALTERNATE_CODEDIRECTORIES`: the first alternate CodeDirectory slot.
pub const CSSLOT_ALTERNATE_CODEDIRECTORIES: u32 = 0x1000;
/// `CSSLOT_ALTERNATE_CODEDIRECTORY_MAX`: how many alternate slots exist.
pub const CSSLOT_ALTERNATE_CODEDIRECTORY_MAX: u32 = 5;
/// `CS_SUPPORTSSCATTER`: CodeDirectory version that added `scatterOffset`.
pub const CS_SUPPORTSSCATTER: u32 = 0x20100;
/// `CS_SUPPORTSTEAMID`: CodeDirectory version that added `teamOffset`.
pub const CS_SUPPORTSTEAMID: u32 = 0x20200;
/// `CS_ADHOC` CodeDirectory flag: ad-hoc signed (no certificate, no team).
pub const CS_ADHOC: u32 = 0x2;
/// Longest signing identifier accepted, in bytes before the NUL.
pub const MAX_IDENTIFIER_LEN: usize = 1024;
/// Longest team identifier accepted, in bytes before the NUL (real ones
/// are 10 characters).
pub const MAX_TEAM_ID_LEN: usize = 256;

/// `sizeof(CS_SuperBlob)` without its index: magic, length, count.
const SUPERBLOB_HEADER: usize = 12;
/// `sizeof(CS_BlobIndex)`: type, offset.
const BLOB_INDEX: usize = 8;
/// `sizeof(CS_GenericBlob)`: magic, length.
const BLOB_HEADER: usize = 8;
/// CodeDirectory field offsets (`cs_blobs.h`).
const CD_VERSION: usize = 8;
const CD_FLAGS: usize = 12;
const CD_IDENT_OFFSET: usize = 20;
const CD_TEAM_OFFSET: usize = 48;
/// CodeDirectory fixed-header size before `scatterOffset` (`end_earliest`).
const CD_EARLIEST_SIZE: usize = 44;
/// CodeDirectory fixed-header size through `teamOffset` (`end_withTeam`).
const CD_WITH_TEAM_SIZE: usize = 52;

/// What the embedded signature says about the code it signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSignature {
    /// The signing identifier (`identOffset`), usually the bundle id;
    /// `None` when `identOffset` is 0.
    pub identifier: Option<String>,
    /// The team identifier (`teamOffset`); `None` for CodeDirectory
    /// versions before 0x20200 and when `teamOffset` is 0 (ad-hoc and
    /// Apple platform signatures have none).
    pub team_id: Option<String>,
    /// The CodeDirectory `flags` (`CS_ADHOC`, `CS_RUNTIME`, …).
    pub flags: u32,
    /// The CodeDirectory `version` (e.g. 0x20400).
    pub version: u32,
}

/// Read the embedded code signature of one thin Mach-O slice.
///
/// `Ok(None)` when the Mach-O has no `LC_CODE_SIGNATURE` (an unsigned
/// kext). A FAT file is an error: pass each slice on its own.
pub fn read(macho: &[u8]) -> FormatResult<Option<CodeSignature>> {
    let Some((start, end)) = signature_range(macho)? else {
        return Ok(None);
    };
    let blob = macho.get(start..end).ok_or_else(|| err(start as u64, "signature range is not inside the Mach-O"))?;
    read_superblob(blob, start as u64).map(Some)
}

fn err(offset: u64, message: impl Into<String>) -> FormatError {
    FormatError::new(LAYER, offset, message)
}

fn be32(data: &[u8], at: usize, base: u64, what: &str) -> FormatResult<u32> {
    data.pread_with::<u32>(at, BE).map_err(|_| err(base + at as u64, format!("truncated: no room for {what}")))
}

/// Walk the load commands and return the byte range named by the single
/// `LC_CODE_SIGNATURE`, checked to lie inside `macho`.
pub fn signature_range(macho: &[u8]) -> FormatResult<Option<(usize, usize)>> {
    let (magic, ctx) =
        goblin::mach::parse_magic_and_ctx(macho, 0).map_err(|_| err(0, "truncated: no room for a Mach-O magic"))?;
    let ctx = ctx.ok_or_else(|| match magic {
        goblin::mach::fat::FAT_MAGIC | 0xbeba_feca | 0xcafe_babf | 0xbfba_feca => {
            err(0, format!("fat file (magic {magic:#010x}): read one slice at a time"))
        }
        _ => err(0, format!("not a thin Mach-O (magic {magic:#010x})")),
    })?;
    let header: Header = macho.pread_with(0, ctx).map_err(|_| err(0, "truncated Mach-O header"))?;
    let header_size: usize = if ctx.container == Container::Big { 32 } else { 28 };
    let len = macho.len();
    let sizeofcmds = header.sizeofcmds as usize;
    let cmds_end = header_size.checked_add(sizeofcmds).filter(|e| *e <= len).ok_or_else(|| {
        err(20, format!("sizeofcmds {sizeofcmds:#x} runs past the end of the Mach-O ({len:#x} bytes)"))
    })?;
    if header.ncmds > sizeofcmds / 8 {
        return Err(err(16, format!("ncmds {} cannot fit in sizeofcmds {sizeofcmds:#x}", header.ncmds)));
    }
    let cmds = &macho[..cmds_end];
    let mut found: Option<(usize, LinkeditDataCommand)> = None;
    let mut at = header_size;
    for index in 0..header.ncmds {
        let (cmd, cmdsize) = match (cmds.pread_with::<u32>(at, ctx.le), cmds.pread_with::<u32>(at + 4, ctx.le)) {
            (Ok(c), Ok(s)) => (c, s as usize),
            _ => return Err(err(at as u64, format!("load command #{index} runs past sizeofcmds"))),
        };
        let next = at.checked_add(cmdsize).filter(|n| cmdsize >= 8 && *n <= cmds_end).ok_or_else(|| {
            err(at as u64, format!("load command #{index} has cmdsize {cmdsize:#x}, outside 8..={:#x}", cmds_end - at))
        })?;
        if cmd == LC_CODE_SIGNATURE {
            if let Some((first, _)) = found {
                return Err(err(at as u64, format!("second LC_CODE_SIGNATURE (the first is at {first:#x})")));
            }
            if cmdsize < 16 {
                return Err(err(at as u64, format!("LC_CODE_SIGNATURE cmdsize {cmdsize:#x} is smaller than 0x10")));
            }
            let lc: LinkeditDataCommand =
                macho[..next].pread_with(at, ctx.le).map_err(|_| err(at as u64, "LC_CODE_SIGNATURE is truncated"))?;
            found = Some((at, lc));
        }
        at = next;
    }
    let Some((at, lc)) = found else {
        return Ok(None);
    };
    let start = u64::from(lc.dataoff);
    let end = start + u64::from(lc.datasize);
    if end > len as u64 {
        return Err(err(
            at as u64 + 8,
            format!(
                "LC_CODE_SIGNATURE data {:#x}+{:#x} runs past the end of the Mach-O ({len:#x} bytes)",
                lc.dataoff, lc.datasize
            ),
        ));
    }
    // Both ends are <= len, so they fit in usize.
    Ok(Some((start as usize, end as usize)))
}

/// Parse the embedded-signature SuperBlob `data` (which starts at `base`
/// in the Mach-O) and read its CodeDirectory.
fn read_superblob(data: &[u8], base: u64) -> FormatResult<CodeSignature> {
    if data.len() < SUPERBLOB_HEADER {
        return Err(err(
            base,
            format!("superblob truncated: LC_CODE_SIGNATURE gives {:#x} bytes, the header needs 0xc", data.len()),
        ));
    }
    let magic = be32(data, 0, base, "the superblob magic")?;
    if magic != CSMAGIC_EMBEDDED_SIGNATURE {
        return Err(err(base, format!("not an embedded-signature superblob (magic {magic:#010x})")));
    }
    let length = be32(data, 4, base, "the superblob length")? as usize;
    if length < SUPERBLOB_HEADER || length > data.len() {
        return Err(err(
            base + 4,
            format!("superblob length {length:#x} outside 0xc..={:#x} (the LC_CODE_SIGNATURE datasize)", data.len()),
        ));
    }
    let sb = &data[..length];
    let count = be32(sb, 8, base, "the superblob count")?;
    let index_room = (length - SUPERBLOB_HEADER) / BLOB_INDEX;
    if count as usize > index_room {
        return Err(err(
            base + 8,
            format!("superblob count {count} does not fit in its length {length:#x} (room for {index_room} entries)"),
        ));
    }
    let index_end = SUPERBLOB_HEADER + count as usize * BLOB_INDEX;

    // (slot, index position, blob offset) of the primary and of the lowest alternate.
    let mut primary: Option<(usize, u32)> = None;
    let mut alternate: Option<(u32, usize, u32)> = None;
    let alternates =
        CSSLOT_ALTERNATE_CODEDIRECTORIES..CSSLOT_ALTERNATE_CODEDIRECTORIES + CSSLOT_ALTERNATE_CODEDIRECTORY_MAX;
    for n in 0..count as usize {
        let entry = SUPERBLOB_HEADER + n * BLOB_INDEX;
        let slot = be32(sb, entry, base, "a blob index type")?;
        let offset = be32(sb, entry + 4, base, "a blob index offset")?;
        if slot == CSSLOT_CODEDIRECTORY {
            if primary.is_some() {
                return Err(err(base + entry as u64, "two CodeDirectories in slot 0"));
            }
            primary = Some((entry, offset));
        } else if alternates.contains(&slot) && alternate.is_none_or(|(s, _, _)| slot < s) {
            alternate = Some((slot, entry, offset));
        }
    }
    let (entry, offset) = match (primary, alternate) {
        (Some(p), _) => p,
        (None, Some((_, entry, offset))) => (entry, offset),
        (None, None) => return Err(err(base + 8, format!("no CodeDirectory among the superblob's {count} blobs"))),
    };
    let offset = offset as usize;
    if offset < index_end || offset.checked_add(BLOB_HEADER).is_none_or(|e| e > length) {
        return Err(err(
            base + entry as u64 + 4,
            format!("CodeDirectory offset {offset:#x} outside the superblob's blob area {index_end:#x}..{length:#x}"),
        ));
    }
    read_code_directory(sb, offset, base)
}

/// Read the CodeDirectory at `offset` in the SuperBlob `sb` (which starts
/// at `base` in the Mach-O). `offset + 8 <= sb.len()` is checked already.
fn read_code_directory(sb: &[u8], offset: usize, base: u64) -> FormatResult<CodeSignature> {
    let cd_base = base + offset as u64;
    let magic = be32(sb, offset, base, "the CodeDirectory magic")?;
    if magic != CSMAGIC_CODEDIRECTORY {
        return Err(err(cd_base, format!("blob in the CodeDirectory slot has magic {magic:#010x}, not 0xfade0c02")));
    }
    let cd_len = be32(sb, offset + 4, base, "the CodeDirectory length")? as usize;
    let room = sb.len() - offset;
    if cd_len < CD_EARLIEST_SIZE || cd_len > room {
        return Err(err(
            cd_base + 4,
            format!("CodeDirectory length {cd_len:#x} outside {CD_EARLIEST_SIZE:#x}..={room:#x}"),
        ));
    }
    let cd = &sb[offset..offset + cd_len];
    let version = be32(cd, CD_VERSION, cd_base, "the CodeDirectory version")?;
    let flags = be32(cd, CD_FLAGS, cd_base, "the CodeDirectory flags")?;
    let ident_offset = be32(cd, CD_IDENT_OFFSET, cd_base, "the CodeDirectory identOffset")?;
    let team_offset = if version >= CS_SUPPORTSTEAMID {
        if cd_len < CD_WITH_TEAM_SIZE {
            return Err(err(
                cd_base + 4,
                format!(
                    "CodeDirectory length {cd_len:#x} is too short for version {version:#x} (teamOffset ends at 0x34)"
                ),
            ));
        }
        be32(cd, CD_TEAM_OFFSET, cd_base, "the CodeDirectory teamOffset")?
    } else {
        0
    };
    let identifier =
        c_string(cd, cd_base, CD_IDENT_OFFSET, ident_offset, MAX_IDENTIFIER_LEN, "identifier (identOffset)")?;
    let team_id = c_string(cd, cd_base, CD_TEAM_OFFSET, team_offset, MAX_TEAM_ID_LEN, "team id (teamOffset)")?;
    Ok(CodeSignature { identifier, team_id, flags, version })
}

/// The NUL-terminated UTF-8 string at `at` inside the CodeDirectory `cd`
/// (which starts at `cd_base`); `field` is where the offset was read.
/// `None` when `at` is 0.
fn c_string(cd: &[u8], cd_base: u64, field: usize, at: u32, max: usize, what: &str) -> FormatResult<Option<String>> {
    if at == 0 {
        return Ok(None);
    }
    let start = at as usize;
    if start >= cd.len() {
        return Err(err(
            cd_base + field as u64,
            format!("{what} offset {at:#x} is past the end of the CodeDirectory ({:#x} bytes)", cd.len()),
        ));
    }
    let window_end = cd.len().min(start.saturating_add(max).saturating_add(1));
    let window = &cd[start..window_end];
    let Some(nul) = window.iter().position(|b| *b == 0) else {
        let message = if window_end == cd.len() {
            format!("{what} is not NUL-terminated before the end of the CodeDirectory")
        } else {
            format!("{what} is longer than {max} bytes")
        };
        return Err(err(cd_base + start as u64, message));
    };
    let text = std::str::from_utf8(&window[..nul])
        .map_err(|e| err(cd_base + (start + e.valid_up_to()) as u64, format!("{what} is not valid UTF-8")))?;
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcheck_testkit::codesign::{self as writer, CdSpec};

    const TEAM: &str = "ABCDE12345";
    const IDENT: &str = "com.example.driver";

    fn fixture() -> Vec<u8> {
        writer::unsigned_kext64(&[0x90; 0x1800], 64, true)
    }

    fn signed(cds: &[CdSpec]) -> Vec<u8> {
        writer::sign_with(&fixture(), cds)
    }

    /// `(offset of LC_CODE_SIGNATURE, dataoff, datasize)` in a 64-bit
    /// little-endian Mach-O.
    fn lc(macho: &[u8]) -> (usize, usize, usize) {
        let ncmds: u32 = macho.pread_with(16, scroll::LE).unwrap();
        let mut at = 32;
        for _ in 0..ncmds {
            let cmd: u32 = macho.pread_with(at, scroll::LE).unwrap();
            let size: u32 = macho.pread_with(at + 4, scroll::LE).unwrap();
            if cmd == LC_CODE_SIGNATURE {
                let off: u32 = macho.pread_with(at + 8, scroll::LE).unwrap();
                let len: u32 = macho.pread_with(at + 12, scroll::LE).unwrap();
                return (at, off as usize, len as usize);
            }
            at += size as usize;
        }
        panic!("no LC_CODE_SIGNATURE");
    }

    /// File offset of the first CodeDirectory of a writer-made signature
    /// (the first blob after the index).
    fn first_cd(macho: &[u8]) -> usize {
        let (_, off, _) = lc(macho);
        let blob_off: u32 = macho.pread_with(off + 16, BE).unwrap();
        off + blob_off as usize
    }

    fn put_be(macho: &mut [u8], at: usize, value: u32) {
        macho[at..at + 4].copy_from_slice(&value.to_be_bytes());
    }

    fn put_le(macho: &mut [u8], at: usize, value: u32) {
        macho[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    fn error(macho: &[u8]) -> FormatError {
        let e = read(macho).expect_err("expected a format error");
        assert_eq!(e.layer, LAYER);
        e
    }

    /// A thin Mach-O of any width and byte order holding `LC_UUID` and an
    /// `LC_CODE_SIGNATURE` pointing at `sig`.
    fn thin_with_signature(bits64: bool, big_endian: bool, sig: &[u8]) -> Vec<u8> {
        let word = |v: &mut Vec<u8>, x: u32| {
            v.extend_from_slice(&if big_endian { x.to_be_bytes() } else { x.to_le_bytes() });
        };
        let header_size: usize = if bits64 { 32 } else { 28 };
        let dataoff = (header_size + 24 + 16).next_multiple_of(16);
        let mut v = Vec::new();
        word(&mut v, if bits64 { 0xfeed_facf } else { 0xfeed_face });
        word(&mut v, if bits64 { 0x0100_0012 } else { 18 }); // ppc64 / ppc
        word(&mut v, 0);
        word(&mut v, 11); // MH_KEXT_BUNDLE
        word(&mut v, 2);
        word(&mut v, 24 + 16);
        word(&mut v, 0);
        if bits64 {
            word(&mut v, 0);
        }
        word(&mut v, 0x1b); // LC_UUID
        word(&mut v, 24);
        v.extend_from_slice(&[7; 16]);
        word(&mut v, LC_CODE_SIGNATURE);
        word(&mut v, 16);
        word(&mut v, dataoff as u32);
        word(&mut v, sig.len() as u32);
        v.resize(dataoff, 0);
        v.extend_from_slice(sig);
        v
    }

    #[test]
    fn team_id_present() {
        let sig = read(&writer::sign(&fixture(), IDENT, Some(TEAM))).unwrap().unwrap();
        assert_eq!(
            sig,
            CodeSignature { identifier: Some(IDENT.into()), team_id: Some(TEAM.into()), flags: 0, version: 0x20400 }
        );
    }

    #[test]
    fn ad_hoc_has_no_team_id() {
        let sig = read(&writer::sign(&fixture(), IDENT, None)).unwrap().unwrap();
        assert_eq!(sig.identifier.as_deref(), Some(IDENT));
        assert_eq!(sig.team_id, None);
        assert_eq!(sig.flags, CS_ADHOC);
    }

    #[test]
    fn team_id_absent_before_version_0x20200() {
        let cd = CdSpec { version: 0x20100, ..CdSpec::new(IDENT, Some(TEAM)) };
        let sig = read(&signed(&[cd])).unwrap().unwrap();
        assert_eq!(sig.version, 0x20100);
        assert_eq!(sig.identifier.as_deref(), Some(IDENT));
        assert_eq!(sig.team_id, None);
    }

    #[test]
    fn team_id_read_at_version_0x20200_and_later_layouts() {
        for version in [0x20200, 0x20300, 0x20500, 0x20600] {
            let cd = CdSpec { version, ..CdSpec::new(IDENT, Some(TEAM)) };
            let sig = read(&signed(&[cd])).unwrap().unwrap();
            assert_eq!((sig.version, sig.team_id.as_deref()), (version, Some(TEAM)));
        }
    }

    #[test]
    fn unsigned_is_none() {
        assert_eq!(read(&fixture()).unwrap(), None);
        assert_eq!(read(&writer::unsigned_kext64(b"code", 0, false)).unwrap(), None);
    }

    #[test]
    fn prefers_slot_zero_over_alternates() {
        let alt = CdSpec { slot: 0x1000, ..CdSpec::new("alternate", Some("ALTTEAM000")) };
        let primary = CdSpec::new(IDENT, Some(TEAM));
        let sig = read(&signed(&[alt, primary])).unwrap().unwrap();
        assert_eq!(sig.identifier.as_deref(), Some(IDENT));
        assert_eq!(sig.team_id.as_deref(), Some(TEAM));
    }

    #[test]
    fn falls_back_to_lowest_alternate() {
        let alt1 = CdSpec { slot: 0x1001, ..CdSpec::new("alt1", None) };
        let alt0 = CdSpec { slot: 0x1000, ..CdSpec::new("alt0", Some(TEAM)) };
        let beyond = CdSpec { slot: 0x1005, ..CdSpec::new("not a CD slot", None) };
        let sig = read(&signed(&[beyond, alt1, alt0])).unwrap().unwrap();
        assert_eq!(sig.identifier.as_deref(), Some("alt0"));
        assert_eq!(sig.team_id.as_deref(), Some(TEAM));
    }

    #[test]
    fn no_code_directory_slot() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (_, off, _) = lc(&m);
        put_be(&mut m, off + 12, 2); // CSSLOT_REQUIREMENTS
        let e = error(&m);
        assert_eq!(e.offset, off as u64 + 8);
        assert!(e.message.contains("no CodeDirectory"), "{e}");
    }

    #[test]
    fn two_primary_code_directories() {
        let m = signed(&[CdSpec::new("a", None), CdSpec::new("b", None)]);
        let (_, off, _) = lc(&m);
        let e = error(&m);
        assert_eq!(e.offset, off as u64 + 20);
        assert!(e.message.contains("two CodeDirectories"), "{e}");
    }

    #[test]
    fn truncated_superblob() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (at, off, _) = lc(&m);
        put_le(&mut m, at + 12, 8);
        let e = error(&m);
        assert_eq!(e.offset, off as u64);
        assert!(e.message.contains("superblob truncated"), "{e}");
        // The header fits but the blob's own length does not.
        put_le(&mut m, at + 12, 0x40);
        let e = error(&m);
        assert_eq!(e.offset, off as u64 + 4);
        assert!(e.message.contains("superblob length"), "{e}");
    }

    #[test]
    fn superblob_length_below_header() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (_, off, _) = lc(&m);
        put_be(&mut m, off + 4, 4);
        assert_eq!(error(&m).offset, off as u64 + 4);
    }

    #[test]
    fn wrong_superblob_magic() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (_, off, _) = lc(&m);
        put_be(&mut m, off, 0xfade_0b02); // CSMAGIC_EMBEDDED_SIGNATURE_OLD
        let e = error(&m);
        assert_eq!(e.offset, off as u64);
        assert!(e.message.contains("0xfade0b02"), "{e}");
    }

    #[test]
    fn count_lying() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (_, off, _) = lc(&m);
        for count in [u32::MAX, 0x2000_0000, 0x1000] {
            put_be(&mut m, off + 8, count);
            let e = error(&m);
            assert_eq!(e.offset, off as u64 + 8);
            assert!(e.message.contains("does not fit"), "{e}");
        }
    }

    #[test]
    fn code_directory_offset_out_of_range() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (_, off, _) = lc(&m);
        let length: u32 = m.pread_with(off + 4, BE).unwrap();
        for bad in [0, 12, length - 4, length, u32::MAX] {
            put_be(&mut m, off + 16, bad);
            let e = error(&m);
            assert_eq!(e.offset, off as u64 + 16, "{e}");
        }
    }

    #[test]
    fn wrong_code_directory_magic() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        put_be(&mut m, cd, 0xfade_0c01);
        assert_eq!(error(&m).offset, cd as u64);
    }

    #[test]
    fn code_directory_length_out_of_range() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        for bad in [0, 43, 0x10_0000, u32::MAX] {
            put_be(&mut m, cd + 4, bad);
            assert_eq!(error(&m).offset, cd as u64 + 4);
        }
        // Long enough for version 0x20100 but not for teamOffset.
        put_be(&mut m, cd + 4, 48);
        let e = error(&m);
        assert!(e.message.contains("too short for version 0x20400"), "{e}");
    }

    #[test]
    fn team_offset_past_the_end() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        let cd_len: u32 = m.pread_with(cd + 4, BE).unwrap();
        for bad in [cd_len, cd_len + 5, u32::MAX] {
            put_be(&mut m, cd + 48, bad);
            let e = error(&m);
            assert_eq!(e.offset, cd as u64 + 48);
            assert!(e.message.contains("team id (teamOffset) offset"), "{e}");
        }
    }

    #[test]
    fn ident_offset_past_the_end() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        put_be(&mut m, cd + 20, 0x7fff_ffff);
        assert_eq!(error(&m).offset, cd as u64 + 20);
    }

    #[test]
    fn zero_ident_offset_means_no_identifier() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        put_be(&mut m, cd + 20, 0);
        let sig = read(&m).unwrap().unwrap();
        assert_eq!((sig.identifier, sig.team_id.as_deref()), (None, Some(TEAM)));
    }

    #[test]
    fn unterminated_string() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        let cd_len: u32 = m.pread_with(cd + 4, BE).unwrap();
        let team_off: u32 = m.pread_with(cd + 48, BE).unwrap();
        let team_at = cd + team_off as usize;
        // Point teamOffset 8 bytes before the end and fill them.
        put_be(&mut m, cd + 48, cd_len - 8);
        m[cd + cd_len as usize - 8..cd + cd_len as usize].fill(b'A');
        let e = error(&m);
        assert_eq!(e.offset, (cd + cd_len as usize - 8) as u64);
        assert!(e.message.contains("not NUL-terminated"), "{e}");
        // The identifier's NUL overwritten: it runs into the team id's
        // NUL, which then ends it.
        put_be(&mut m, cd + 48, team_off);
        m[team_at - 1] = b'.';
        let sig = read(&m).unwrap().unwrap();
        assert_eq!(sig.identifier, Some(format!("{IDENT}.{TEAM}")));
    }

    #[test]
    fn overlong_strings() {
        let long = "A".repeat(MAX_TEAM_ID_LEN + 1);
        let m = signed(&[CdSpec::new(IDENT, Some(&long))]);
        let cd = first_cd(&m);
        let team_off: u32 = m.pread_with(cd + 48, BE).unwrap();
        let e = error(&m);
        assert_eq!(e.offset, (cd + team_off as usize) as u64);
        assert!(e.message.contains("team id (teamOffset) is longer than 256 bytes"), "{e}");
        let at_cap = "A".repeat(MAX_TEAM_ID_LEN);
        let sig = read(&signed(&[CdSpec::new(IDENT, Some(&at_cap))])).unwrap().unwrap();
        assert_eq!(sig.team_id, Some(at_cap));
        let long = "b".repeat(MAX_IDENTIFIER_LEN + 1);
        let e = error(&signed(&[CdSpec::new(&long, None)]));
        assert!(e.message.contains("identifier (identOffset) is longer than 1024 bytes"), "{e}");
    }

    #[test]
    fn invalid_utf8_team_id() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let cd = first_cd(&m);
        let team_off: u32 = m.pread_with(cd + 48, BE).unwrap();
        let at = cd + team_off as usize + 3;
        m[at] = 0xff;
        let e = error(&m);
        assert_eq!(e.offset, at as u64);
        assert!(e.message.contains("not valid UTF-8"), "{e}");
    }

    #[test]
    fn empty_team_id_string() {
        let sig = read(&signed(&[CdSpec::new(IDENT, Some(""))])).unwrap().unwrap();
        assert_eq!(sig.team_id.as_deref(), Some(""));
    }

    #[test]
    fn datasize_past_eof() {
        let mut m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let (at, off, size) = lc(&m);
        put_le(&mut m, at + 12, (size + 1) as u32);
        let e = error(&m);
        assert_eq!(e.offset, at as u64 + 8);
        assert!(e.message.contains("past the end of the Mach-O"), "{e}");
        put_le(&mut m, at + 12, u32::MAX);
        assert_eq!(error(&m).offset, at as u64 + 8);
        put_le(&mut m, at + 12, size as u32);
        put_le(&mut m, at + 8, u32::MAX);
        assert_eq!(error(&m).offset, at as u64 + 8);
        // Cut the file inside the signature.
        put_le(&mut m, at + 8, off as u32);
        assert_eq!(error(&m[..off + 100]).offset, at as u64 + 8);
    }

    #[test]
    fn macho_32_bit() {
        let sig = writer::superblob(&[CdSpec::new(IDENT, Some(TEAM))], 0x1000, (0, 0x1000));
        let m = thin_with_signature(false, false, &sig);
        let got = read(&m).unwrap().unwrap();
        assert_eq!((got.identifier.as_deref(), got.team_id.as_deref()), (Some(IDENT), Some(TEAM)));
    }

    #[test]
    fn macho_big_endian() {
        let sig = writer::superblob(&[CdSpec::new(IDENT, Some(TEAM))], 0x1000, (0, 0x1000));
        for bits64 in [false, true] {
            let m = thin_with_signature(bits64, true, &sig);
            assert_eq!(&m[..3], &[0xfe, 0xed, 0xfa]);
            let got = read(&m).unwrap().unwrap();
            assert_eq!((got.identifier.as_deref(), got.team_id.as_deref()), (Some(IDENT), Some(TEAM)), "{bits64}");
        }
        // Same bytes read as little-endian would be garbage: check the
        // big-endian load commands really are what was parsed.
        let m = thin_with_signature(true, true, &sig);
        assert_eq!(m[32..36], 0x1bu32.to_be_bytes());
    }

    #[test]
    fn second_code_signature_command() {
        let sig = writer::superblob(&[CdSpec::new(IDENT, None)], 0x1000, (0, 0));
        let mut m = thin_with_signature(false, false, &sig);
        // Turn LC_UUID (24 bytes at 28) into a second LC_CODE_SIGNATURE.
        put_le(&mut m, 28, LC_CODE_SIGNATURE);
        put_le(&mut m, 36, 0);
        put_le(&mut m, 40, 0);
        let e = error(&m);
        assert_eq!(e.offset, 52);
        assert!(e.message.contains("second LC_CODE_SIGNATURE"), "{e}");
    }

    #[test]
    fn short_code_signature_command() {
        let sig = writer::superblob(&[CdSpec::new(IDENT, None)], 0x1000, (0, 0));
        let mut m = thin_with_signature(false, false, &sig);
        put_le(&mut m, 28, LC_CODE_SIGNATURE);
        put_le(&mut m, 32, 8);
        // The second command now starts at 36 and is inside sizeofcmds junk.
        let e = error(&m);
        assert_eq!(e.offset, 28);
    }

    #[test]
    fn bad_load_command_table() {
        let m = writer::sign(&fixture(), IDENT, Some(TEAM));
        let mut bad = m.clone();
        put_le(&mut bad, 20, u32::MAX); // sizeofcmds
        assert_eq!(error(&bad).offset, 20);
        let mut bad = m.clone();
        put_le(&mut bad, 16, 1000); // ncmds
        assert_eq!(error(&bad).offset, 16);
        let mut bad = m.clone();
        put_le(&mut bad, 36, 0); // first cmdsize
        assert_eq!(error(&bad).offset, 32);
        let mut bad = m;
        put_le(&mut bad, 36, 0x7fff_fff0);
        assert_eq!(error(&bad).offset, 32);
    }

    #[test]
    fn not_a_thin_macho() {
        assert!(error(&[]).message.contains("truncated"));
        assert!(error(&[0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1]).message.contains("truncated Mach-O header"));
        assert!(error(b"not a mach-o file at all, no sir").message.contains("not a thin Mach-O"));
        let mut fat = vec![0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1];
        fat.resize(64, 0);
        assert!(error(&fat).message.contains("fat file"));
    }

    /// Truncations and byte corruptions anywhere in the load commands and
    /// signature headers give a result or an error, never a panic.
    #[test]
    fn corruption_never_panics() {
        let m = signed(&[CdSpec::new(IDENT, Some(TEAM)), CdSpec { slot: 0x1000, ..CdSpec::new(IDENT, Some(TEAM)) }]);
        let (_, off, _) = lc(&m);
        let cd = first_cd(&m);
        for cut in (0..m.len()).step_by(97).chain(off..off + 200) {
            let _ = read(&m[..cut]);
        }
        let header_end = 32 + m.pread_with::<u32>(20, scroll::LE).unwrap() as usize;
        let spots = (0..header_end).chain(off..off + 40).chain(cd..cd + 140);
        for at in spots {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                let mut bad = m.clone();
                bad[at] = value;
                let _ = read(&bad);
            }
        }
    }
}
