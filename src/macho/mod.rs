//! Mach-O views over a decoded image, built from goblin's primitives.
//!
//! goblin's `MachO::parse` eagerly parses symbols, dyld info and exports,
//! silently returns empty data for sections past the end of the file, and
//! does not resolve `LC_FILESET_ENTRY` id strings. kcheck needs less and
//! must check more, so this module reads the header and load commands
//! with goblin's `Header` and `LoadCommand::parse`, and sections with
//! goblin's `Section32`/`Section64` layouts, validating every count,
//! size and offset against the bytes present and reporting the offset of
//! the load command at fault.

pub mod codesign;

use std::mem::{offset_of, size_of};

use goblin::container::{Container, Ctx};
use goblin::mach::header::{Header, Header64, SIZEOF_HEADER_32};
use goblin::mach::load_command::{
    CommandVariant, FilesetEntryCommand, LoadCommand, SIZEOF_LOAD_COMMAND, SIZEOF_SECTION_32, SIZEOF_SECTION_64,
    SIZEOF_SEGMENT_COMMAND_32, SIZEOF_SEGMENT_COMMAND_64, Section32, Section64,
};
use scroll::Pread;

use crate::bytes::Bytes;
use crate::container::{arch_name, filetype_name};
use crate::error::{FormatError, FormatResult};

/// The Mach-O filetypes kcheck tells apart (goblin's constants).
pub use goblin::mach::header::{MH_EXECUTE, MH_FILESET, MH_KEXT_BUNDLE};
/// The 64-bit Mach-O magic and header size (goblin's constants).
pub use goblin::mach::header::{MH_MAGIC_64, SIZEOF_HEADER_64};

/// Offset of `ncmds` in a Mach-O header (the same in 32 and 64 bits).
const NCMDS_OFFSET: usize = offset_of!(Header64, ncmds);
/// Offset of `sizeofcmds` in a Mach-O header.
pub const SIZEOFCMDS_OFFSET: usize = offset_of!(Header64, sizeofcmds);
/// Size of an `LC_FILESET_ENTRY` before its `entry_id` string.
const SIZEOF_FILESET_ENTRY_COMMAND: usize = size_of::<FilesetEntryCommand>();
const _: () = assert!(SIZEOF_FILESET_ENTRY_COMMAND == 32 && SIZEOFCMDS_OFFSET == 20 && NCMDS_OFFSET == 16);

/// A segment load command, normalised over 32 and 64 bits.
#[derive(Clone, Debug)]
pub struct Segment {
    /// `segname`.
    pub name: String,
    /// `vmaddr`.
    pub vmaddr: u64,
    /// `vmsize`.
    pub vmsize: u64,
    /// `fileoff`, relative to the start of the image buffer.
    pub fileoff: u64,
    /// `filesize`.
    pub filesize: u64,
    /// Number of sections.
    pub nsects: u32,
    /// Offset of the load command in the image.
    pub cmd_offset: usize,
}

/// A section header, normalised over 32 and 64 bits.
#[derive(Clone, Debug)]
pub struct Section {
    /// `sectname`.
    pub name: String,
    /// `addr`.
    pub addr: u64,
    /// `size`.
    pub size: u64,
    /// `offset` (file offset).
    pub offset: u64,
}

/// An `LC_FILESET_ENTRY`.
#[derive(Clone, Debug)]
pub struct FilesetEntry {
    /// `entry_id`: the bundle identifier (`com.apple.kernel` for the kernel).
    pub id: String,
    /// `vmaddr`.
    pub vmaddr: u64,
    /// `fileoff`: where the entry's Mach-O header is in the image.
    pub fileoff: u64,
    /// Offset of the load command in the image.
    pub cmd_offset: usize,
}

/// A validated view of one Mach-O header and its load commands.
pub struct MachView<'a> {
    data: &'a [u8],
    /// Where the header starts in `data`.
    pub base: usize,
    /// The header.
    pub header: Header,
    ctx: Ctx,
    cmds: Vec<LoadCommand>,
    layer: &'a str,
}

fn fixed_name(raw: &[u8; 16]) -> String {
    let end = raw.iter().position(|b| *b == 0).unwrap_or(16);
    String::from_utf8_lossy(&raw[..end]).into_owned()
}

/// Format 16 bytes as an upper-case dashed UUID, the form `kextstat`,
/// `kmutil` and `sysctl kern.kernelcacheuuid` print.
pub fn format_uuid(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

impl<'a> MachView<'a> {
    /// Read the header at `base` and walk its load commands. `layer` names
    /// the layer in errors; offsets are relative to `data`.
    pub fn parse(data: &'a [u8], base: usize, layer: &'a str) -> FormatResult<Self> {
        let err = |off: usize, msg: String| FormatError::new(layer, off as u64, msg);
        let (magic, ctx) = goblin::mach::parse_magic_and_ctx(data, base)
            .map_err(|_| err(base, "truncated: no room for a Mach-O magic".into()))?;
        let ctx = ctx.ok_or_else(|| err(base, format!("not a Mach-O header (magic {magic:#010x})")))?;
        let header: Header = data.pread_with(base, ctx).map_err(|_| err(base, "truncated Mach-O header".into()))?;
        let hsize = if ctx.container == Container::Big { SIZEOF_HEADER_64 } else { SIZEOF_HEADER_32 };
        let cmds_start = base + hsize;
        let sizeofcmds = header.sizeofcmds as usize;
        // Everything up to the end of the load commands (offsets stay
        // relative to `data`).
        let cmd_bytes = Bytes::new(data, layer)
            .slice_at(0, cmds_start as u64 + sizeofcmds as u64, "load commands")
            .map_err(|_| {
                err(
                    base + SIZEOFCMDS_OFFSET,
                    format!("sizeofcmds {sizeofcmds:#x} runs past the end of the image ({:#x} bytes)", data.len()),
                )
            })?;
        let cmds_end = cmd_bytes.len();
        if header.ncmds > sizeofcmds / SIZEOF_LOAD_COMMAND {
            return Err(err(
                base + NCMDS_OFFSET,
                format!("ncmds {} cannot fit in sizeofcmds {sizeofcmds:#x}", header.ncmds),
            ));
        }
        let cmd_bytes = Bytes::new(cmd_bytes, layer);
        let mut cmds = Vec::with_capacity(header.ncmds);
        let mut off = cmds_start;
        for index in 0..header.ncmds {
            let at = off;
            let size: u32 = cmd_bytes
                .data()
                .pread_with(at + 4, ctx.le)
                .map_err(|_| err(at, format!("load command #{index} runs past sizeofcmds")))?;
            let size = size as usize;
            // The bytes up to the end of this command.
            let upto = Some(at as u64 + size as u64)
                .filter(|_| size >= SIZEOF_LOAD_COMMAND)
                .and_then(|end| cmd_bytes.slice_at(0, end, "load command").ok())
                .ok_or_else(|| {
                    err(at, format!("load command #{index} has cmdsize {size:#x}, outside 8..={:#x}", cmds_end - at))
                })?;
            let lc = LoadCommand::parse(upto, &mut off, ctx.le)
                .map_err(|e| err(at, format!("load command #{index} is malformed: {e}")))?;
            cmds.push(lc);
        }
        Ok(MachView { data, base, header, ctx, cmds, layer })
    }

    /// Filetype name (`execute`, `fileset`, `kext`, …).
    pub fn filetype(&self) -> String {
        filetype_name(self.header.filetype)
    }

    /// Architecture name.
    pub fn arch(&self) -> String {
        arch_name(self.header.cputype, self.header.cpusubtype)
    }

    /// `LC_UUID`, if any.
    pub fn uuid(&self) -> Option<[u8; 16]> {
        self.cmds.iter().find_map(|c| match &c.command {
            CommandVariant::Uuid(u) => Some(u.uuid),
            _ => None,
        })
    }

    /// Number of load commands.
    pub fn ncmds(&self) -> usize {
        self.cmds.len()
    }

    /// The segment load commands, checked to lie inside the image.
    pub fn segments(&self) -> FormatResult<Vec<Segment>> {
        let mut out = Vec::new();
        for c in &self.cmds {
            let seg = match &c.command {
                CommandVariant::Segment64(s) => Segment {
                    name: fixed_name(&s.segname),
                    vmaddr: s.vmaddr,
                    vmsize: s.vmsize,
                    fileoff: s.fileoff,
                    filesize: s.filesize,
                    nsects: s.nsects,
                    cmd_offset: c.offset,
                },
                CommandVariant::Segment32(s) => Segment {
                    name: fixed_name(&s.segname),
                    vmaddr: u64::from(s.vmaddr),
                    vmsize: u64::from(s.vmsize),
                    fileoff: u64::from(s.fileoff),
                    filesize: u64::from(s.filesize),
                    nsects: s.nsects,
                    cmd_offset: c.offset,
                },
                _ => continue,
            };
            self.segment_data(&seg)?;
            out.push(seg);
        }
        Ok(out)
    }

    /// The segment named `name`, if present.
    pub fn segment(&self, name: &str) -> FormatResult<Option<Segment>> {
        Ok(self.segments()?.into_iter().find(|s| s.name == name))
    }

    /// The bytes of a segment, checked to lie inside the image.
    pub fn segment_data(&self, seg: &Segment) -> FormatResult<&'a [u8]> {
        self.bytes().slice_at(seg.fileoff, seg.filesize, "segment").map_err(|_| {
            FormatError::new(
                self.layer,
                seg.cmd_offset as u64,
                format!(
                    "segment {} claims file bytes {:#x}+{:#x}, past the end of the image ({:#x} bytes)",
                    seg.name,
                    seg.fileoff,
                    seg.filesize,
                    self.data.len()
                ),
            )
        })
    }

    /// The image, as a checked reader.
    fn bytes(&self) -> Bytes<'a> {
        Bytes::new(self.data, self.layer)
    }

    /// The section headers of `seg`, bounded by its cmdsize.
    pub fn sections(&self, seg: &Segment) -> FormatResult<Vec<Section>> {
        let is64 = self.ctx.container == Container::Big;
        let (hdr, each) = if is64 {
            (SIZEOF_SEGMENT_COMMAND_64, SIZEOF_SECTION_64)
        } else {
            (SIZEOF_SEGMENT_COMMAND_32, SIZEOF_SECTION_32)
        };
        let cmdsize = self.cmds.iter().find(|c| c.offset == seg.cmd_offset).map(|c| c.command.cmdsize()).unwrap_or(0);
        let need = (seg.nsects as usize).checked_mul(each).and_then(|n| n.checked_add(hdr));
        if need.is_none_or(|n| n > cmdsize) {
            return Err(FormatError::new(
                self.layer,
                seg.cmd_offset as u64,
                format!(
                    "segment {} declares {} sections, more than its cmdsize {cmdsize:#x} holds",
                    seg.name, seg.nsects
                ),
            ));
        }
        let mut out = Vec::with_capacity(seg.nsects as usize);
        for i in 0..seg.nsects as usize {
            let at = seg.cmd_offset + hdr + i * each;
            let bad = |_| FormatError::new(self.layer, at as u64, "truncated section header");
            let s = if is64 {
                let s: Section64 = self.data.pread_with(at, self.ctx.le).map_err(bad)?;
                Section { name: fixed_name(&s.sectname), addr: s.addr, size: s.size, offset: u64::from(s.offset) }
            } else {
                let s: Section32 = self.data.pread_with(at, self.ctx.le).map_err(bad)?;
                Section {
                    name: fixed_name(&s.sectname),
                    addr: u64::from(s.addr),
                    size: u64::from(s.size),
                    offset: u64::from(s.offset),
                }
            };
            out.push(s);
        }
        Ok(out)
    }

    /// The bytes of section `sect` in segment `seg`, checked to lie in the
    /// image (goblin would silently return an empty slice).
    pub fn section_data(&self, seg: &str, sect: &str) -> FormatResult<Option<(Section, &'a [u8])>> {
        let Some(segment) = self.segment(seg)? else {
            return Ok(None);
        };
        let Some(s) = self.sections(&segment)?.into_iter().find(|s| s.name == sect) else {
            return Ok(None);
        };
        let bytes = self.bytes().slice_at(s.offset, s.size, "section").map_err(|_| {
            FormatError::new(
                self.layer,
                segment.cmd_offset as u64,
                format!(
                    "section {seg},{sect} claims file bytes {:#x}+{:#x}, past the end of the image ({:#x} bytes)",
                    s.offset,
                    s.size,
                    self.data.len()
                ),
            )
        })?;
        Ok(Some((s, bytes)))
    }

    /// The `LC_FILESET_ENTRY` commands, with their id strings resolved
    /// (goblin leaves `entry_id` as an offset).
    pub fn fileset_entries(&self) -> FormatResult<Vec<FilesetEntry>> {
        let mut out = Vec::new();
        for c in &self.cmds {
            let CommandVariant::FilesetEntry(fe) = &c.command else {
                continue;
            };
            let cmd = self.bytes().slice_at(c.offset as u64, u64::from(fe.cmdsize), "LC_FILESET_ENTRY")?;
            let at = fe.entry_id as usize;
            let raw = Bytes::new(cmd, self.layer)
                .rest_at(at as u64, "LC_FILESET_ENTRY entry_id")
                .ok()
                .filter(|_| at >= SIZEOF_FILESET_ENTRY_COMMAND)
                .ok_or_else(|| {
                    FormatError::new(
                        self.layer,
                        c.offset as u64,
                        format!("LC_FILESET_ENTRY entry_id offset {at:#x} is outside its cmdsize {:#x}", fe.cmdsize),
                    )
                })?;
            let end = raw.iter().position(|b| *b == 0).ok_or_else(|| {
                FormatError::new(self.layer, c.offset as u64, "LC_FILESET_ENTRY entry_id is not NUL-terminated")
            })?;
            let id = std::str::from_utf8(&raw[..end]).map_err(|_| {
                FormatError::new(self.layer, (c.offset + at) as u64, "LC_FILESET_ENTRY entry_id is not UTF-8")
            })?;
            out.push(FilesetEntry { id: id.to_string(), vmaddr: fe.vmaddr, fileoff: fe.fileoff, cmd_offset: c.offset });
        }
        Ok(out)
    }
}

/// Find the kernel's `Darwin Kernel Version …` string in `data`, skipping
/// its `@(#)VERSION: ` twin. The string ends at a NUL (at most 512 bytes).
pub fn find_kernel_version(data: &[u8]) -> Option<String> {
    const NEEDLE: &[u8] = b"Darwin Kernel Version ";
    const TWIN: &[u8] = b"@(#)VERSION: ";
    // At most a thousand candidates: a hostile image full of near-misses
    // must not turn one linear scan into a long series of 512-byte checks.
    for at in memchr::memmem::find_iter(data, NEEDLE).take(1000) {
        if at >= TWIN.len() && &data[at - TWIN.len()..at] == TWIN {
            continue;
        }
        let rest = &data[at..data.len().min(at + 512)];
        let end = rest.iter().position(|b| *b == 0 || *b == b'\n').unwrap_or(rest.len());
        if let Ok(s) = std::str::from_utf8(&rest[..end])
            && s.chars().all(|c| !c.is_control())
        {
            return Some(s.to_string());
        }
    }
    None
}
