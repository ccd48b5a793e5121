//! Bad input at every layer: each case must give one clear error naming
//! the layer and the byte offset, quickly, without a panic.

use kcheck::cache;
use kcheck::error::FormatError;
use kcheck_testkit::synth::{self, Arch, Comp};

fn plk() -> Vec<u8> {
    synth::prelinked_kernel(&synth::catalina_kernel(), &synth::kexts_a(), Arch::X86_64, [7; 16])
}

fn boot_kc() -> Vec<u8> {
    synth::kernel_collection(Some(&synth::big_sur_kernel()), &synth::kexts_a()[..3], Arch::X86_64, [3; 16], None)
}

/// Replace the first occurrence of `from` by `to` (same length).
fn patch(mut data: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len(), "patch must keep the length");
    let at = find(&data, from);
    data[at..at + to.len()].copy_from_slice(to);
    data
}

fn find(data: &[u8], what: &[u8]) -> usize {
    data.windows(what.len())
        .position(|w| w == what)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(what)))
}

fn put_be32(mut data: Vec<u8>, at: usize, v: u32) -> Vec<u8> {
    data[at..at + 4].copy_from_slice(&v.to_be_bytes());
    data
}

fn put_le32(mut data: Vec<u8>, at: usize, v: u32) -> Vec<u8> {
    data[at..at + 4].copy_from_slice(&v.to_le_bytes());
    data
}

fn put_le64(mut data: Vec<u8>, at: usize, v: u64) -> Vec<u8> {
    data[at..at + 8].copy_from_slice(&v.to_le_bytes());
    data
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    if content.len() < 0x80 {
        v.push(content.len() as u8);
    } else {
        v.push(0x84);
        v.extend_from_slice(&(content.len() as u32).to_be_bytes());
    }
    v.extend_from_slice(content);
    v
}

/// An uncompressed IM4P around `payload`, with optional extra elements.
fn raw_im4p(payload: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut body = der(0x16, b"IM4P");
    body.extend(der(0x16, b"krnl"));
    body.extend(der(0x16, b"test"));
    body.extend(der(0x04, payload));
    body.extend_from_slice(extra);
    der(0x30, &body)
}

/// Offset of the first load command of `name` kind in a 64-bit Mach-O.
fn segment_cmd(data: &[u8], segname: &str) -> usize {
    let ncmds = u32::from_le_bytes(data[16..20].try_into().unwrap()) as usize;
    let mut at = 32;
    for _ in 0..ncmds {
        let cmd = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        let size = u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
        if cmd == 0x19 && data[at + 8..at + 24].starts_with(segname.as_bytes()) && data[at + 8 + segname.len()] == 0 {
            return at;
        }
        at += size;
    }
    panic!("no segment {segname}");
}

fn first_cmd_of(data: &[u8], want: u32) -> usize {
    let ncmds = u32::from_le_bytes(data[16..20].try_into().unwrap()) as usize;
    let mut at = 32;
    for _ in 0..ncmds {
        let cmd = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        if cmd == want {
            return at;
        }
        at += u32::from_le_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    panic!("no load command {want:#x}");
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    layer: &'static str,
    offset: Option<u64>,
    message: &'static str,
}

fn case(name: &'static str, input: Vec<u8>, layer: &'static str, offset: Option<u64>, message: &'static str) -> Case {
    Case { name, input, layer, offset, message }
}

fn cases() -> Vec<Case> {
    let plk = plk();
    let lzvn = synth::comp(Comp::Lzvn, &plk);
    let lzss = synth::comp(Comp::Lzss, &plk);
    let fat = synth::fat(&[(Arch::X86_64, &lzvn)], true);
    let kc = boot_kc();
    let im4p_lzfse = synth::im4p(&kc, synth::Im4pComp::Lzfse, "t");
    let info_seg = segment_cmd(&plk, "__PRELINK_INFO");
    let xml_at = find(&plk, b"<dict><key>_PrelinkInfoDictionary</key>");
    let mut v = vec![
        case("empty file", vec![], "file", Some(0), "too short"),
        case("wrong magic", b"hello, world".to_vec(), "file", Some(0), "unrecognised magic"),
        case("fat header cut", fat[..6].to_vec(), "fat", Some(0), "truncated"),
        case("fat slice count absurd", put_be32(fat.clone(), 4, 100_000), "fat", Some(4), "implausible slice count"),
        case("fat table cut", put_be32(fat[..30].to_vec(), 4, 2), "fat", Some(8), "truncated"),
        case("fat slice past end", put_be32(fat.clone(), 8 + 12, 0x7fff_0000), "fat", Some(8), "outside the file"),
        case("fat slice offset inside header", put_be32(fat.clone(), 8 + 8, 4), "fat", Some(8), "outside the file"),
        case("comp header cut", lzvn[..0x100].to_vec(), "comp", Some(0), "truncated"),
        case("fat cut inside its slice", fat[..0x1c + 0x100].to_vec(), "fat", Some(8), "outside the file"),
        case(
            "comp unknown type",
            patch(lzvn.clone(), b"complzvn", b"compzzzz"),
            "comp",
            Some(4),
            "unknown compression",
        ),
        case(
            "comp lying compressedSize",
            put_be32(lzvn.clone(), 16, 0x00ff_ffff),
            "comp/lzvn",
            Some(16),
            "runs past the end",
        ),
        case(
            "comp lying compressedSize inside fat",
            put_be32(fat.clone(), 0x1c + 16, 0x00ff_ffff),
            "fat[x86_64] > comp/lzvn",
            Some(0x1c + 16),
            "runs past the end",
        ),
        case("comp huge uncompressedSize", put_be32(lzvn.clone(), 12, 0xffff_fff0), "comp/lzvn", Some(12), "exceeds"),
        case(
            "lzvn stream longer than declared",
            put_be32(lzvn.clone(), 12, plk.len() as u32 - 0x1000),
            "comp/lzvn",
            None,
            "",
        ),
        case(
            "lzvn stream shorter than declared",
            put_be32(lzvn.clone(), 12, plk.len() as u32 + 0x1000),
            "comp/lzvn",
            None,
            "",
        ),
        case(
            "lzss stream longer than declared",
            put_be32(lzss.clone(), 12, plk.len() as u32 - 0x1000),
            "comp/lzss",
            None,
            "exceeds",
        ),
        case(
            "lzss stream shorter than declared",
            put_be32(lzss.clone(), 12, plk.len() as u32 + 0x1000),
            "comp/lzss",
            None,
            "",
        ),
        case("adler32 mismatch", put_be32(lzvn.clone(), 8, 0x1234_5678), "comp/lzvn", Some(8), "adler32 mismatch"),
        case("adler32 mismatch lzss", put_be32(lzss.clone(), 8, 0x1234_5678), "comp/lzss", Some(8), "adler32 mismatch"),
        case(
            "lzvn stream corrupt",
            {
                let mut d = lzvn.clone();
                let end = d.len();
                for b in &mut d[0x180 + 40..end - 8] {
                    *b = 0xff;
                }
                d
            },
            "comp/lzvn",
            None,
            "",
        ),
        case("im4p cut short", im4p_lzfse[..im4p_lzfse.len() / 2].to_vec(), "im4p", Some(0), "runs past the end"),
        case("im4p wrong name", patch(im4p_lzfse.clone(), b"IM4P", b"IM4X"), "im4p", None, "not IM4P"),
        case(
            "im4p indefinite length",
            vec![0x30, 0x80, 0x16, 0x04, b'I', b'M', b'4', b'P', 0, 0],
            "im4p",
            Some(1),
            "indefinite",
        ),
        case("im4p encrypted", raw_im4p(&plk[..64], &der(0x04, b"keybag")), "im4p", None, "encrypted"),
        case(
            "im4p declared size differs",
            {
                let mut extra = der(0x02, &[1]);
                extra.extend(der(0x02, &[0x10, 0, 0]));
                let mut body = der(0x16, b"IM4P");
                body.extend(der(0x16, b"krnl"));
                body.extend(der(0x16, b"t"));
                body.extend(der(0x04, &kcheck_testkit::encode::lzfse_encode(&kc)));
                body.extend(der(0x30, &extra));
                der(0x30, &body)
            },
            "lzfse",
            None,
            "the IM4P says",
        ),
        case(
            "lzfse block lying raw size",
            {
                let stream = kcheck_testkit::encode::lzfse_encode(&kc);
                let mut s = stream.clone();
                let raw = u32::from_le_bytes(s[4..8].try_into().unwrap());
                s[4..8].copy_from_slice(&(raw + 100).to_le_bytes());
                raw_im4p(&s, &[])
            },
            "lzfse",
            None,
            "",
        ),
        case(
            "lzfse truncated",
            {
                let stream = kcheck_testkit::encode::lzfse_encode(&kc);
                raw_im4p(&stream[..stream.len() - 10], &[])
            },
            "lzfse",
            None,
            "",
        ),
        case(
            "nested containers too deep",
            {
                let mut d = plk[..4096].to_vec();
                for _ in 0..10 {
                    d = raw_im4p(&d, &[]);
                }
                d
            },
            "im4p[krnl]",
            None,
            "nested container layers",
        ),
        case("mach-o header cut", plk[..20].to_vec(), "mach-o/execute", Some(0), "truncated Mach-O header"),
        case(
            "mach-o sizeofcmds past end",
            put_le32(plk.clone(), 20, 0x7fff_0000),
            "mach-o/execute",
            Some(20),
            "sizeofcmds",
        ),
        case("mach-o ncmds too many", put_le32(plk.clone(), 16, 100_000), "mach-o/execute", Some(16), "ncmds"),
        case("load command cmdsize zero", put_le32(plk.clone(), 32 + 4, 0), "mach-o/execute", Some(32), "cmdsize"),
        case(
            "load command cmdsize past sizeofcmds",
            put_le32(plk.clone(), 32 + 4, 0x10_0000),
            "mach-o/execute",
            Some(32),
            "cmdsize",
        ),
        case(
            "segment past end of file",
            put_le64(plk.clone(), info_seg + 40, 0x10_0000_0000),
            "mach-o/execute",
            Some(info_seg as u64),
            "past the end of the image",
        ),
        case(
            "section past end of file",
            put_le32(plk.clone(), info_seg + 72 + 48, 0x7fff_0000),
            "mach-o/execute",
            Some(info_seg as u64),
            "past the end of the image",
        ),
        case(
            "nsects larger than cmdsize",
            put_le32(plk.clone(), info_seg + 64, 0xffff_ffff),
            "mach-o/execute",
            Some(info_seg as u64),
            "sections",
        ),
        case(
            "prelink xml malformed tag",
            patch(plk.clone(), b"<dict><key>_PrelinkInfoDictionary", b"<dikt><key>_PrelinkInfoDictionary"),
            "__PRELINK_INFO,__info",
            Some(0),
            "",
        ),
        case(
            "prelink xml idref before its id",
            patch(plk.clone(), b"<string IDREF=\"2\"/>", b"<string IDREF=\"8\"/>"),
            "__PRELINK_INFO,__info",
            None,
            "",
        ),
        case(
            "prelink xml dangling idref",
            {
                // The last two-digit IDREF, pointed at an ID that never exists.
                let mut d = plk.clone();
                let at = d
                    .windows(9)
                    .rposition(|w| w.starts_with(b"IDREF=\"") && w[7].is_ascii_digit() && w[8].is_ascii_digit())
                    .unwrap();
                d[at + 7..at + 9].copy_from_slice(b"99");
                d
            },
            "__PRELINK_INFO,__info",
            None,
            "",
        ),
        case(
            "prelink xml truncated",
            {
                let mut d = plk.clone();
                let end = find(&d, b"</array><key>_PrelinkKCID");
                for b in &mut d[end..end + 200] {
                    *b = 0;
                }
                d
            },
            "__PRELINK_INFO,__info",
            None,
            "",
        ),
        case(
            "prelink xml bad hex integer",
            patch(plk.clone(), b">0xffffff7f80000000<", b">0xfffgff7f80000000<"),
            "__PRELINK_INFO,__info",
            None,
            "",
        ),
        case(
            "prelink xml not utf-8",
            patch(plk.clone(), b"<string>bsd</string>", b"<string>\xff\xfed</string>"),
            "__PRELINK_INFO,__info",
            None,
            "",
        ),
        case(
            "prelink info without kext list",
            patch(plk.clone(), b"_PrelinkInfoDictionary", b"_PrelinkInfoDictionarX"),
            "__PRELINK_INFO,__info",
            Some(0),
            "no _PrelinkInfoDictionary",
        ),
        case(
            "kext source address outside every segment",
            patch(plk.clone(), b">0xffffff7f80000000<", b">0x0000007f80000000<"),
            "kext com.apple.iokit.IOACPIFamily",
            None,
            "not inside any segment",
        ),
        case(
            "kext header at source address is not mach-o",
            {
                let mut d = plk.clone();
                let seg = segment_cmd(&d, "__PRELINK_TEXT");
                let fileoff = u64::from_le_bytes(d[seg + 40..seg + 48].try_into().unwrap()) as usize;
                d[fileoff..fileoff + 4].copy_from_slice(b"junk");
                d
            },
            "kext com.apple.iokit.IOACPIFamily",
            None,
            "not a Mach-O header",
        ),
        case(
            "fileset entry past end",
            {
                let at = first_cmd_of(&kc, 0x8000_0035);
                put_le64(kc.clone(), at + 16, 0x7fff_0000)
            },
            "mach-o/fileset",
            None,
            "past the end",
        ),
        case(
            "fileset entry id offset outside the command",
            {
                let at = first_cmd_of(&kc, 0x8000_0035);
                put_le32(kc.clone(), at + 24, 0x1000)
            },
            "mach-o/fileset",
            None,
            "entry_id",
        ),
    ];
    // An XML depth bomb inside a real-looking cache: rebuild the kernel with
    // a huge nested value in place of the info.
    let mut bomb = plk.clone();
    let xml_len = find(&bomb[xml_at..], b"\0");
    let depth = (xml_len / 7).min(100_000);
    let mut nested = b"<array>".repeat(depth);
    nested.truncate(xml_len);
    bomb[xml_at..xml_at + nested.len()].copy_from_slice(&nested);
    v.push(case("prelink xml depth bomb", bomb, "__PRELINK_INFO,__info", None, "deeper than"));
    v
}

#[test]
fn bad_input_table() {
    let all = cases();
    assert!(all.len() >= 40, "{} cases", all.len());
    let mut failures = Vec::new();
    for c in all {
        let result = std::panic::catch_unwind(|| cache::analyze(&c.input, None));
        let err: FormatError = match result {
            Err(_) => {
                failures.push(format!("{}: panicked", c.name));
                continue;
            }
            Ok(Ok(_)) => {
                failures.push(format!("{}: was accepted", c.name));
                continue;
            }
            Ok(Err(e)) => e,
        };
        let text = err.to_string();
        if !err.layer.contains(c.layer) {
            failures.push(format!("{}: layer {:?} does not name {:?} ({text})", c.name, err.layer, c.layer));
        }
        if let Some(off) = c.offset
            && err.offset != off
        {
            failures.push(format!("{}: offset {:#x}, expected {off:#x} ({text})", c.name, err.offset));
        }
        if !text.contains(c.message) {
            failures.push(format!("{}: message lacks {:?}: {text}", c.name, c.message));
        }
        if !text.contains("at offset 0x") {
            failures.push(format!("{}: message names no offset: {text}", c.name));
        }
        if text.contains('\n') {
            failures.push(format!("{}: message is not one line: {text}", c.name));
        }
        eprintln!("{:<45} {text}", c.name);
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
