//! Test support: give a synthetic Mach-O an embedded code signature that
//! [`kcheck::macho::codesign::read`] (and other readers) can parse.
//!
//! This is an encoder for fixtures, not a signer: the SuperBlob holds
//! CodeDirectories only (no requirements, entitlements or CMS blob), and
//! every code-page hash is **zero** (SHA-256 sized, `hashType` 2, 4 KiB
//! pages, `codeLimit` = the signature's file offset). Nothing here verifies
//! or is meant to pass verification. Layouts follow xnu's
//! `osfmk/kern/cs_blobs.h` (`CS_SuperBlob`, `CS_BlobIndex`,
//! `CS_CodeDirectory`) and `EXTERNAL_HEADERS/mach-o/loader.h`
//! (`linkedit_data_command`, `segment_command_64`, `section_64`).
//!
//! Input assumptions (checked; this module panics, with a message, when one
//! does not hold, which is fine for test support):
//! - a thin 64-bit little-endian Mach-O (`MH_MAGIC_64`) with no
//!   `LC_CODE_SIGNATURE` yet;
//! - the load commands are followed by at least 16 zero bytes before the
//!   first section or segment data (88 when there is no `__LINKEDIT`, which
//!   is then added). When that room is missing — kcheck's
//!   `synth::build_macho` puts the first section right after the load
//!   commands — one page of header padding is inserted after the load
//!   commands: file offsets and addresses of everything after them move
//!   by 0x1000. That rebuild only accepts `LC_SEGMENT_64`, `LC_UUID`,
//!   `LC_SOURCE_VERSION`, `LC_BUILD_VERSION` and `LC_VERSION_MIN_*` and
//!   sections without relocations, since other commands hold file offsets
//!   or addresses it would have to rewrite;
//! - an existing `__LINKEDIT` is the last segment in the file.
//!
//! The signature is appended at the next page boundary after the file's
//! end; `__LINKEDIT` is grown (or created) to cover it, and
//! `LC_CODE_SIGNATURE` gets `datasize` = the SuperBlob length rounded up
//! to 16 bytes.

use goblin::mach::load_command::{Section64, SegmentCommand64};
use scroll::{LE, Pread, Pwrite};

/// CodeDirectory version written by [`sign`] (`CS_SUPPORTSEXECSEG`).
pub const DEFAULT_VERSION: u32 = 0x20400;
/// `CS_ADHOC`, set by [`CdSpec::new`] when there is no team id.
pub const CS_ADHOC: u32 = 0x2;

const MH_MAGIC_64: u32 = 0xfeed_facf;
const LC_SEGMENT_64: u32 = 0x19;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const LC_UUID: u32 = 0x1b;
const LC_VERSION_MIN_MACOSX: u32 = 0x24;
const LC_VERSION_MIN_IPHONEOS: u32 = 0x25;
const LC_SOURCE_VERSION: u32 = 0x2a;
const LC_BUILD_VERSION: u32 = 0x32;
const HEADER_64: usize = 32;
const SEGMENT_64: usize = 72;
const SECTION_64: usize = 80;
const LINKEDIT_DATA: usize = 16;
const PAGE: usize = 0x1000;
const PAGE_SHIFT: u8 = 12;
const CSMAGIC_EMBEDDED_SIGNATURE: u32 = 0xfade_0cc0;
const CSMAGIC_CODEDIRECTORY: u32 = 0xfade_0c02;
const CS_HASHTYPE_SHA256: u8 = 2;
const CS_SHA256_LEN: usize = 32;

/// One CodeDirectory to write.
#[derive(Clone, Copy, Debug)]
pub struct CdSpec<'a> {
    /// SuperBlob slot: 0 (`CSSLOT_CODEDIRECTORY`) or 0x1000.. (alternates).
    pub slot: u32,
    /// CodeDirectory `version`; the fixed header written is the one of
    /// that version (no `teamOffset` field below 0x20200).
    pub version: u32,
    /// CodeDirectory `flags`.
    pub flags: u32,
    /// Signing identifier.
    pub identifier: &'a str,
    /// Team identifier; ignored (not written) for versions below 0x20200.
    pub team_id: Option<&'a str>,
}

impl<'a> CdSpec<'a> {
    /// Slot 0, version 0x20400, flags `CS_ADHOC` without a team id, else 0.
    pub fn new(identifier: &'a str, team_id: Option<&'a str>) -> Self {
        CdSpec {
            slot: 0,
            version: DEFAULT_VERSION,
            flags: if team_id.is_none() { CS_ADHOC } else { 0 },
            identifier,
            team_id,
        }
    }
}

/// Sign `macho` with one CodeDirectory (slot 0, version 0x20400, SHA-256
/// sized zero hashes) naming `identifier` and `team_id`. See the module
/// documentation for what `macho` must look like.
pub fn sign(macho: &[u8], identifier: &str, team_id: Option<&str>) -> Vec<u8> {
    sign_with(macho, &[CdSpec::new(identifier, team_id)])
}

/// Sign `macho` with one CodeDirectory per entry of `cds`, in that index
/// order.
pub fn sign_with(macho: &[u8], cds: &[CdSpec]) -> Vec<u8> {
    let mut layout = Layout::parse(macho);
    let need = |l: &Layout| LINKEDIT_DATA + if l.linkedit().is_none() { SEGMENT_64 } else { 0 };
    let mut out = if layout.room < need(&layout) {
        let padded = insert_headerpad(macho, &layout, PAGE);
        layout = Layout::parse(&padded);
        assert!(layout.room >= need(&layout), "sign: header padding did not make room");
        padded
    } else {
        macho.to_vec()
    };

    let old_len = out.len();
    let sig_off = align(old_len, PAGE);
    let exec_seg = layout.segment("__TEXT").map_or((0, 0), |s| (s.cmd.fileoff, s.cmd.filesize));
    let blob = superblob(cds, sig_off as u64, exec_seg);
    let datasize = align(blob.len(), 16);
    out.resize(sig_off, 0);
    out.extend_from_slice(&blob);
    out.resize(sig_off + datasize, 0);

    let mut ncmds = layout.ncmds;
    let mut cmds_end = layout.cmds_end;
    match layout.linkedit() {
        Some(le) => {
            let mut cmd = le.cmd;
            assert!(
                layout.segments.iter().all(|s| s.cmd.fileoff <= cmd.fileoff),
                "sign: __LINKEDIT must be the last segment in the file"
            );
            cmd.filesize = (out.len() - cmd.fileoff as usize) as u64;
            cmd.vmsize = align(cmd.filesize as usize, PAGE) as u64;
            out.pwrite_with(cmd, le.at, LE).expect("rewrite __LINKEDIT");
        }
        None => {
            let vm_end = layout.segments.iter().map(|s| s.cmd.vmaddr + s.cmd.vmsize).max().unwrap_or(0);
            let filesize = (out.len() - sig_off) as u64;
            let mut segname = [0u8; 16];
            segname[..10].copy_from_slice(b"__LINKEDIT");
            let cmd = SegmentCommand64 {
                cmd: LC_SEGMENT_64,
                cmdsize: SEGMENT_64 as u32,
                segname,
                vmaddr: align(vm_end as usize, PAGE) as u64,
                vmsize: align(filesize as usize, PAGE) as u64,
                fileoff: sig_off as u64,
                filesize,
                maxprot: 1,
                initprot: 1,
                nsects: 0,
                flags: 0,
            };
            out.pwrite_with(cmd, cmds_end, LE).expect("write __LINKEDIT");
            cmds_end += SEGMENT_64;
            ncmds += 1;
        }
    }
    let dataoff = u32::try_from(sig_off).expect("sign: signature offset must fit in 32 bits");
    for (i, field) in [LC_CODE_SIGNATURE, LINKEDIT_DATA as u32, dataoff, datasize as u32].into_iter().enumerate() {
        out.pwrite_with(field, cmds_end + 4 * i, LE).expect("write LC_CODE_SIGNATURE");
    }
    cmds_end += LINKEDIT_DATA;
    ncmds += 1;
    out.pwrite_with(ncmds, 16, LE).expect("write ncmds");
    out.pwrite_with((cmds_end - HEADER_64) as u32, 20, LE).expect("write sizeofcmds");
    out
}

/// An embedded-signature SuperBlob holding one CodeDirectory per entry of
/// `cds` (index in that order, blobs in the same order after the index).
/// `code_limit` sets `codeLimit` and the number of (zero) code hashes;
/// `exec_seg` is `(execSegBase, execSegLimit)` for versions >= 0x20400.
pub fn superblob(cds: &[CdSpec], code_limit: u64, exec_seg: (u64, u64)) -> Vec<u8> {
    assert!(!cds.is_empty(), "superblob: at least one CodeDirectory");
    let blobs: Vec<Vec<u8>> = cds.iter().map(|cd| code_directory(cd, code_limit, exec_seg)).collect();
    let index_end = 12 + 8 * cds.len();
    let length = index_end + blobs.iter().map(Vec::len).sum::<usize>();
    let mut out = Vec::with_capacity(length);
    put32(&mut out, CSMAGIC_EMBEDDED_SIGNATURE);
    put32(&mut out, length as u32);
    put32(&mut out, cds.len() as u32);
    let mut offset = index_end;
    for (cd, blob) in cds.iter().zip(&blobs) {
        put32(&mut out, cd.slot);
        put32(&mut out, offset as u32);
        offset += blob.len();
    }
    for blob in &blobs {
        out.extend_from_slice(blob);
    }
    out
}

/// The fixed CodeDirectory header size of `version` (`end_*` markers in
/// `cs_blobs.h`).
pub fn fixed_header_size(version: u32) -> usize {
    match version {
        0x20600.. => 108,
        0x20500.. => 96,
        0x20400.. => 88,
        0x20300.. => 64,
        0x20200.. => 52,
        0x20100.. => 48,
        _ => 44,
    }
}

/// One CodeDirectory blob: fixed header, identifier, team id, zero hashes.
fn code_directory(spec: &CdSpec, code_limit: u64, exec_seg: (u64, u64)) -> Vec<u8> {
    let v = spec.version;
    let fixed = fixed_header_size(v);
    let ident_off = fixed;
    let mut strings = spec.identifier.as_bytes().to_vec();
    strings.push(0);
    let team_off = match spec.team_id {
        Some(team) if v >= 0x20200 => {
            let at = fixed + strings.len();
            strings.extend_from_slice(team.as_bytes());
            strings.push(0);
            at
        }
        _ => 0,
    };
    let hash_off = fixed + strings.len();
    let n_code = code_limit.div_ceil(PAGE as u64) as usize;
    let length = hash_off + n_code * CS_SHA256_LEN;
    let code_limit32 = u32::try_from(code_limit).expect("code_directory: codeLimit must fit in 32 bits");

    let mut cd = Vec::with_capacity(length);
    for field in [CSMAGIC_CODEDIRECTORY, length as u32, v, spec.flags, hash_off as u32, ident_off as u32, 0] {
        put32(&mut cd, field);
    }
    put32(&mut cd, n_code as u32);
    put32(&mut cd, code_limit32);
    cd.extend_from_slice(&[CS_SHA256_LEN as u8, CS_HASHTYPE_SHA256, 0, PAGE_SHIFT]);
    put32(&mut cd, 0); // spare2
    if v >= 0x20100 {
        put32(&mut cd, 0); // scatterOffset
    }
    if v >= 0x20200 {
        put32(&mut cd, team_off as u32);
    }
    if v >= 0x20300 {
        put32(&mut cd, 0); // spare3
        cd.extend_from_slice(&0u64.to_be_bytes()); // codeLimit64 (codeLimit is enough)
    }
    if v >= 0x20400 {
        cd.extend_from_slice(&exec_seg.0.to_be_bytes());
        cd.extend_from_slice(&exec_seg.1.to_be_bytes());
        cd.extend_from_slice(&0u64.to_be_bytes()); // execSegFlags
    }
    cd.resize(fixed, 0); // runtime, preEncryptOffset, linkage fields: zero
    cd.extend_from_slice(&strings);
    cd.resize(length, 0);
    cd
}

/// An unsigned `MH_KEXT_BUNDLE` x86_64 Mach-O for fixtures: `__TEXT` (from
/// file offset 0, holding `__TEXT,__text` = `code`), `LC_UUID`, and, when
/// `linkedit`, a one-page `__LINKEDIT` with a few bytes in it.
/// `headerpad` zero bytes separate the load commands from `__text`
/// (0 gives the tight layout of kcheck's `synth::build_macho`).
pub fn unsigned_kext64(code: &[u8], headerpad: usize, linkedit: bool) -> Vec<u8> {
    let ncmds = 2 + usize::from(linkedit);
    let sizeofcmds = SEGMENT_64 + SECTION_64 + 24 + if linkedit { SEGMENT_64 } else { 0 };
    let text_off = align(HEADER_64 + sizeofcmds + headerpad, 16);
    let text_size = align(text_off + code.len(), PAGE);
    let linkedit_data = b"fixture linkedit";
    let total = text_size + if linkedit { linkedit_data.len() } else { 0 };

    let mut out = vec![0u8; total];
    for (i, field) in
        [MH_MAGIC_64, 0x0100_0007, 3, 11, ncmds as u32, sizeofcmds as u32, 0x0020_0001, 0].into_iter().enumerate()
    {
        out.pwrite_with(field, 4 * i, LE).expect("header");
    }
    let mut at = HEADER_64;
    let text = SegmentCommand64 {
        cmd: LC_SEGMENT_64,
        cmdsize: (SEGMENT_64 + SECTION_64) as u32,
        segname: name16("__TEXT"),
        vmaddr: 0,
        vmsize: text_size as u64,
        fileoff: 0,
        filesize: text_size as u64,
        maxprot: 5,
        initprot: 5,
        nsects: 1,
        flags: 0,
    };
    at += out.pwrite_with(text, at, LE).expect("__TEXT");
    let section = Section64 {
        sectname: name16("__text"),
        segname: name16("__TEXT"),
        addr: text_off as u64,
        size: code.len() as u64,
        offset: text_off as u32,
        align: 4,
        reloff: 0,
        nreloc: 0,
        flags: 0x8000_0400,
        reserved1: 0,
        reserved2: 0,
        reserved3: 0,
    };
    at += out.pwrite_with(section, at, LE).expect("__text");
    out.pwrite_with(LC_UUID, at, LE).expect("LC_UUID");
    out.pwrite_with(24u32, at + 4, LE).expect("LC_UUID");
    out[at + 8..at + 24].copy_from_slice(b"kcheck-fixture!!");
    at += 24;
    if linkedit {
        let le = SegmentCommand64 {
            cmd: LC_SEGMENT_64,
            cmdsize: SEGMENT_64 as u32,
            segname: name16("__LINKEDIT"),
            vmaddr: text_size as u64,
            vmsize: PAGE as u64,
            fileoff: text_size as u64,
            filesize: linkedit_data.len() as u64,
            maxprot: 1,
            initprot: 1,
            nsects: 0,
            flags: 0,
        };
        out.pwrite_with(le, at, LE).expect("__LINKEDIT");
        out[text_size..].copy_from_slice(linkedit_data);
    }
    out[text_off..text_off + code.len()].copy_from_slice(code);
    out
}

fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

fn align(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

fn name16(name: &str) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..name.len()].copy_from_slice(name.as_bytes());
    b
}

fn seg_name(raw: &[u8; 16]) -> &str {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(16);
    std::str::from_utf8(&raw[..end]).unwrap_or("")
}

/// A segment load command and where it is.
struct Seg {
    at: usize,
    cmd: SegmentCommand64,
}

/// What [`sign_with`] needs to know about its input.
struct Layout {
    ncmds: u32,
    cmds_end: usize,
    /// Zero bytes available after the load commands.
    room: usize,
    segments: Vec<Seg>,
    /// `(cmd, offset)` of every load command.
    cmds: Vec<(u32, usize)>,
}

impl Layout {
    fn parse(macho: &[u8]) -> Layout {
        let magic: u32 = macho.pread_with(0, LE).expect("sign: input shorter than a Mach-O magic");
        assert_eq!(magic, MH_MAGIC_64, "sign: input must be a thin 64-bit little-endian Mach-O");
        assert!(macho.len() >= HEADER_64, "sign: truncated Mach-O header");
        let ncmds: u32 = macho.pread_with(16, LE).expect("ncmds");
        let sizeofcmds: u32 = macho.pread_with(20, LE).expect("sizeofcmds");
        let cmds_end = HEADER_64 + sizeofcmds as usize;
        assert!(cmds_end <= macho.len(), "sign: sizeofcmds runs past the end of the input");
        let mut segments = Vec::new();
        let mut cmds = Vec::new();
        let mut first_data = macho.len();
        let mut at = HEADER_64;
        for _ in 0..ncmds {
            let cmd: u32 = macho.pread_with(at, LE).expect("load command");
            let size: u32 = macho.pread_with(at + 4, LE).expect("load command");
            assert!(size >= 8 && at + size as usize <= cmds_end, "sign: bad cmdsize at {at:#x}");
            assert_ne!(cmd, LC_CODE_SIGNATURE, "sign: the input is already signed");
            cmds.push((cmd, at));
            if cmd == LC_SEGMENT_64 {
                let seg: SegmentCommand64 = macho.pread_with(at, LE).expect("segment");
                if seg.fileoff > 0 && seg.filesize > 0 {
                    first_data = first_data.min(seg.fileoff as usize);
                }
                for i in 0..seg.nsects as usize {
                    let sect: Section64 = macho.pread_with(at + SEGMENT_64 + SECTION_64 * i, LE).expect("section");
                    if sect.offset != 0 && sect.size != 0 {
                        first_data = first_data.min(sect.offset as usize);
                    }
                }
                segments.push(Seg { at, cmd: seg });
            }
            at += size as usize;
        }
        assert!(first_data >= cmds_end, "sign: section or segment data overlaps the load commands");
        let room = macho[cmds_end..first_data].iter().take_while(|b| **b == 0).count();
        Layout { ncmds, cmds_end, room, segments, cmds }
    }

    fn segment(&self, name: &str) -> Option<&Seg> {
        self.segments.iter().find(|s| seg_name(&s.cmd.segname) == name)
    }

    fn linkedit(&self) -> Option<&Seg> {
        self.segment("__LINKEDIT")
    }
}

/// `macho` with `shift` zero bytes inserted after the load commands, and
/// every file offset and address past that point moved by `shift`.
fn insert_headerpad(macho: &[u8], layout: &Layout, shift: usize) -> Vec<u8> {
    for (cmd, at) in &layout.cmds {
        let movable = matches!(
            *cmd,
            LC_SEGMENT_64
                | LC_UUID
                | LC_SOURCE_VERSION
                | LC_BUILD_VERSION
                | LC_VERSION_MIN_MACOSX
                | LC_VERSION_MIN_IPHONEOS
        );
        assert!(
            movable,
            "sign: no room after the load commands, and load command {cmd:#x} at {at:#x} holds offsets this \
             encoder cannot move; build the fixture with header padding"
        );
    }
    let header_seg = layout
        .segments
        .iter()
        .find(|s| s.cmd.fileoff == 0 && s.cmd.filesize > 0)
        .expect("sign: no segment covers the Mach-O header, cannot insert header padding");
    let header_vm = header_seg.cmd.vmaddr;
    let mut out = Vec::with_capacity(macho.len() + shift);
    out.extend_from_slice(&macho[..layout.cmds_end]);
    out.resize(layout.cmds_end + shift, 0);
    out.extend_from_slice(&macho[layout.cmds_end..]);
    let delta = shift as u64;
    for seg in &layout.segments {
        let mut cmd = seg.cmd;
        let covers_header = seg.at == header_seg.at;
        let after = cmd.vmaddr > header_vm;
        // File data at or past the end of the load commands moves by
        // `shift`; the header segment grows, and so do the addresses of
        // its sections and of every segment above it.
        if covers_header {
            cmd.filesize += delta;
            cmd.vmsize += delta;
        } else if after {
            cmd.vmaddr += delta;
        }
        if cmd.fileoff >= layout.cmds_end as u64 {
            cmd.fileoff += delta;
        }
        out.pwrite_with(cmd, seg.at, LE).expect("rewrite segment");
        for i in 0..cmd.nsects as usize {
            let at = seg.at + SEGMENT_64 + SECTION_64 * i;
            let mut sect: Section64 = out.pread_with(at, LE).expect("section");
            assert!(sect.nreloc == 0, "sign: cannot move sections with relocations");
            if covers_header || after {
                sect.addr += delta;
            }
            if sect.offset as usize >= layout.cmds_end {
                sect.offset += shift as u32;
            }
            out.pwrite_with(sect, at, LE).expect("rewrite section");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::mach::MachO;
    use goblin::mach::load_command::CommandVariant;
    use kcheck::macho::codesign;

    const CODE: &[u8] = &[0xc3; 0x2345];

    fn be(v: &[u8], at: usize) -> u32 {
        v.pread_with(at, scroll::BE).unwrap()
    }

    /// (LC_CODE_SIGNATURE dataoff, datasize, __TEXT,__text offset, __LINKEDIT (fileoff, filesize, vmaddr, vmsize))
    fn inspect(m: &[u8]) -> (usize, usize, u32, (u64, u64, u64, u64)) {
        let macho = MachO::parse(m, 0).expect("goblin parses the signed Mach-O");
        let mut sig = None;
        for lc in &macho.load_commands {
            if let CommandVariant::CodeSignature(c) = lc.command {
                sig = Some((c.dataoff as usize, c.datasize as usize));
            }
        }
        let (dataoff, datasize) = sig.expect("LC_CODE_SIGNATURE");
        let mut text_off = 0;
        let mut linkedit = None;
        for seg in macho.segments.iter() {
            let name = seg.name().unwrap();
            if name == "__TEXT" {
                text_off = seg.sections().unwrap()[0].0.offset;
            }
            if name == "__LINKEDIT" {
                linkedit = Some((seg.fileoff, seg.filesize, seg.vmaddr, seg.vmsize));
            }
        }
        (dataoff, datasize, text_off, linkedit.expect("__LINKEDIT"))
    }

    fn check_signed(unsigned: &[u8], signed: &[u8], extra_cmds: u32, extra_size: u32) {
        let (dataoff, datasize, _, (le_off, le_size, _, le_vmsize)) = inspect(signed);
        assert_eq!(dataoff % PAGE, 0);
        assert_eq!(datasize % 16, 0);
        assert_eq!(dataoff + datasize, signed.len());
        assert!(dataoff >= unsigned.len());
        assert_eq!(le_off + le_size, signed.len() as u64, "__LINKEDIT ends at the end of the file");
        assert_eq!(le_vmsize, align(le_size as usize, PAGE) as u64);
        let n = |m: &[u8], at| m.pread_with::<u32>(at, LE).unwrap();
        assert_eq!(n(signed, 16), n(unsigned, 16) + extra_cmds);
        assert_eq!(n(signed, 20), n(unsigned, 20) + extra_size);
        let length = be(signed, dataoff + 4) as usize;
        assert!(length <= datasize && datasize - length < 16);
    }

    #[test]
    fn round_trip_with_room() {
        let unsigned = unsigned_kext64(CODE, 16, true);
        let signed = sign(&unsigned, "com.example.driver", Some("ABCDE12345"));
        check_signed(&unsigned, &signed, 1, 16);
        // No rebuild: everything before the signature is unchanged but the header.
        let cmds_end = 32 + unsigned.pread_with::<u32>(20, LE).unwrap() as usize;
        assert_eq!(signed[cmds_end + 16..unsigned.len()], unsigned[cmds_end + 16..]);
        let sig = codesign::read(&signed).unwrap().unwrap();
        assert_eq!(sig.identifier.as_deref(), Some("com.example.driver"));
        assert_eq!(sig.team_id.as_deref(), Some("ABCDE12345"));
        assert_eq!((sig.flags, sig.version), (0, 0x20400));
    }

    #[test]
    fn tight_layout_gets_header_padding() {
        for linkedit in [false, true] {
            let unsigned = unsigned_kext64(CODE, 0, linkedit);
            let before = inspect_text(&unsigned);
            let signed = sign(&unsigned, "com.example.tight", None);
            let extra = if linkedit { (1, 16) } else { (2, 16 + SEGMENT_64 as u32) };
            check_signed(&unsigned, &signed, extra.0, extra.1);
            let (_, _, text_off, (_, _, le_vm, _)) = inspect(&signed);
            assert_eq!(text_off, before + PAGE as u32, "__text moved by one page");
            assert_eq!(&signed[text_off as usize..text_off as usize + CODE.len()], CODE);
            let macho = MachO::parse(&signed, 0).unwrap();
            let text = macho.segments.iter().find(|s| s.name().unwrap() == "__TEXT").unwrap();
            let (section, _) = &text.sections().unwrap()[0];
            assert_eq!(section.addr, u64::from(text_off), "__text address follows its file offset");
            assert!(le_vm >= text.vmaddr + text.vmsize, "__LINKEDIT above __TEXT");
            let sig = codesign::read(&signed).unwrap().unwrap();
            assert_eq!(sig.identifier.as_deref(), Some("com.example.tight"));
            assert_eq!((sig.team_id, sig.flags), (None, CS_ADHOC));
        }
    }

    fn inspect_text(m: &[u8]) -> u32 {
        let macho = MachO::parse(m, 0).unwrap();
        let text = macho.segments.iter().find(|s| s.name().unwrap() == "__TEXT").unwrap();
        text.sections().unwrap()[0].0.offset
    }

    #[test]
    fn code_directory_fields() {
        let unsigned = unsigned_kext64(CODE, 64, true);
        let signed = sign(&unsigned, "id", Some("TEAM123456"));
        let (dataoff, ..) = inspect(&signed);
        assert_eq!(be(&signed, dataoff), 0xfade_0cc0);
        assert_eq!(be(&signed, dataoff + 8), 1, "one blob");
        assert_eq!(be(&signed, dataoff + 12), 0, "slot 0");
        assert_eq!(be(&signed, dataoff + 16), 20, "CD right after the index");
        let cd = dataoff + 20;
        assert_eq!(be(&signed, cd), 0xfade_0c02);
        assert_eq!(be(&signed, cd + 8), 0x20400);
        assert_eq!(be(&signed, cd + 20), 88, "identOffset right after the 0x20400 header");
        assert_eq!(be(&signed, cd + 48), 88 + 3, "teamOffset after \"id\\0\"");
        assert_eq!(be(&signed, cd + 16), 88 + 3 + 11, "hashOffset after the strings");
        assert_eq!(be(&signed, cd + 28) as usize, dataoff / PAGE, "one hash per page below the signature");
        assert_eq!(be(&signed, cd + 32) as usize, dataoff, "codeLimit");
        assert_eq!(signed[cd + 36..cd + 40], [32, 2, 0, 12], "hashSize, hashType, platform, pageSize");
        let text_size = inspect_text_segment_size(&signed);
        assert_eq!(signed.pread_with::<u64>(cd + 72, scroll::BE).unwrap(), text_size, "execSegLimit");
        assert_eq!(be(&signed, cd + 4) as usize, 88 + 14 + 32 * (dataoff / PAGE));
        assert!(signed[cd + 102..cd + be(&signed, cd + 4) as usize].iter().all(|b| *b == 0), "zero hashes");
    }

    fn inspect_text_segment_size(m: &[u8]) -> u64 {
        let macho = MachO::parse(m, 0).unwrap();
        macho.segments.iter().find(|s| s.name().unwrap() == "__TEXT").unwrap().filesize
    }

    #[test]
    fn header_sizes_per_version() {
        for (version, size) in
            [(0x20001, 44), (0x20100, 48), (0x20200, 52), (0x20300, 64), (0x20400, 88), (0x20500, 96), (0x20600, 108)]
        {
            assert_eq!(fixed_header_size(version), size);
            let blob = superblob(&[CdSpec { version, ..CdSpec::new("x", Some("T")) }], 0x2000, (0, 0));
            assert_eq!(be(&blob, 20 + 20) as usize, size, "identOffset of version {version:#x}");
            let length = be(&blob, 20 + 4) as usize;
            let strings = if version >= 0x20200 { 4 } else { 2 };
            assert_eq!(length, size + strings + 2 * 32);
        }
    }

    #[test]
    #[should_panic(expected = "already signed")]
    fn refuses_signed_input() {
        let signed = sign(&unsigned_kext64(CODE, 64, true), "a", None);
        sign(&signed, "b", None);
    }

    #[test]
    #[should_panic(expected = "thin 64-bit little-endian")]
    fn refuses_32_bit_input() {
        let mut m = unsigned_kext64(CODE, 64, true);
        m[..4].copy_from_slice(&0xfeed_faceu32.to_le_bytes());
        sign(&m, "a", None);
    }

    #[test]
    #[should_panic(expected = "holds offsets this encoder cannot move")]
    fn refuses_to_rebuild_with_offset_commands() {
        let mut m = unsigned_kext64(CODE, 0, true);
        // LC_UUID (24 bytes, after the __TEXT command) becomes LC_SYMTAB (also 24).
        m[32 + 152..32 + 156].copy_from_slice(&2u32.to_le_bytes());
        sign(&m, "a", None);
    }

    #[test]
    fn fixtures_parse_with_goblin() {
        for (pad, linkedit) in [(0, false), (0, true), (100, true), (100, false)] {
            let signed = sign(&unsigned_kext64(CODE, pad, linkedit), "com.example.x", Some("ABCDE12345"));
            MachO::parse(&signed, 0).expect("goblin parses");
        }
    }
}
