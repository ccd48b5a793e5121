//! `kcheck loaded`: the kexts a Mac is running, read from the text of
//! classic `kextstat` (kext_tools `kextstat_main.c`, ≤ 10.15) or of
//! `kmutil showloaded` (11+, also what the `kextstat` shim runs), and
//! compared with the boot kernel cache and the kexts installed on disk.
//!
//! Both tools print one header (`Index Refs Address Size Wired
//! [Architecture] Name (Version) UUID <Linked Against>`) and one row per
//! kext. The parser splits rows on whitespace, not on columns, because
//! pasted copies (issues, docs, chat) lose the alignment, gain markdown
//! indentation and tabs, and are often cut off mid-row. Lines before the
//! header (`Executing: /usr/bin/kmutil showloaded`, `No variant specified,
//! falling back to release`, shell prompts) are ignored, as are lines that
//! do not start like a row (`...`, code fences). A listing without a header
//! (`kextstat -l`, or `kextstat | grep …`) is read row by row.
//!
//! Malformed rows are skipped, not fatal: a line that starts like a row
//! (an index and a refs count) but does not parse is recorded in
//! [`Parsed::skipped`] (the last one is marked as a truncated final row).
//! [`parse`] fails only when nothing parses: no row at all and either no
//! header or only malformed rows.
//!
//! The rules over these rows (`LD001`, `LD002`) live in
//! [`crate::check::loaded`]; rendering in [`crate::report::loaded`].
//! Nothing here runs `kextstat`: the live probe is the caller's business.

use crate::error::FormatError;

/// The layer name used in parse errors.
const LAYER: &str = "kextstat";

/// One row of a `kextstat` / `kmutil showloaded` listing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LoadedKext {
    /// Load index (`Index`); `None` where the tool printed `??`.
    pub index: Option<u32>,
    /// Number of kexts linked against this one (`Refs`); `None` for `??`.
    pub refs: Option<u32>,
    /// Load address; `None` for `????`. kmutil prints `0` for kernel
    /// components, kept as `Some(0)`.
    #[serde(serialize_with = "hex_opt")]
    pub address: Option<u64>,
    /// Size of the loaded image in bytes; `None` for `????`.
    pub size: Option<u64>,
    /// Wired memory in bytes; `None` for `????`.
    pub wired: Option<u64>,
    /// The `Architecture` column of `kextstat -a` / `kmutil showloaded
    /// --arch-info`, when the listing has one.
    pub arch: Option<String>,
    /// `CFBundleIdentifier`.
    pub bundle_id: String,
    /// `CFBundleVersion`, as printed between the parentheses.
    pub version: String,
    /// The executable's `LC_UUID`, upper-case and dashed; `None` for
    /// `no UUID` or when the column is absent.
    pub uuid: Option<String>,
    /// Load indexes of the kexts this one links against, as printed
    /// (descending); empty for `<>` or no list.
    pub linked_against: Vec<u32>,
}

impl LoadedKext {
    /// Whether the bundle id is not Apple's (`com.apple.` prefix).
    pub fn is_third_party(&self) -> bool {
        !self.bundle_id.starts_with("com.apple.")
    }

    /// Whether this row is a kernel component rather than a kext: a
    /// `com.apple.kpi.*` interface, `__kernel__`, or one of kmutil's
    /// address-0 rows carrying the kernel's UUID and an empty `<>` (a
    /// codeless kext also has address 0, but no UUID).
    pub fn is_kernel_component(&self) -> bool {
        self.bundle_id.starts_with("com.apple.kpi.")
            || self.bundle_id == "__kernel__"
            || (self.address == Some(0)
                && self.size.unwrap_or(0) == 0
                && self.uuid.is_some()
                && self.linked_against.is_empty())
    }
}

fn hex_opt<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => s.serialize_str(&format!("{x:#x}")),
        None => s.serialize_none(),
    }
}

/// A line that looked like a row but was skipped.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SkippedLine {
    /// 1-based line number.
    pub line: usize,
    /// Byte offset of the line's start in the input.
    pub offset: u64,
    /// Why it was skipped, lower case.
    pub reason: String,
}

/// The result of [`parse_detailed`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The rows that parsed, in listing order.
    pub kexts: Vec<LoadedKext>,
    /// Lines that started like a row but did not parse.
    pub skipped: Vec<SkippedLine>,
    /// Whether a header line was found.
    pub has_header: bool,
    /// Whether the header has the `Architecture` column.
    pub has_arch_column: bool,
}

/// Parse a `kextstat` or `kmutil showloaded` listing; malformed rows are
/// dropped (see [`parse_detailed`] to get them).
pub fn parse(text: &str) -> Result<Vec<LoadedKext>, FormatError> {
    parse_detailed(text).map(|p| p.kexts)
}

/// Parse a listing and say which lines were skipped. Fails when no row
/// parses and there is no header, or when every row-like line is malformed.
pub fn parse_detailed(text: &str) -> Result<Parsed, FormatError> {
    let lines = split_lines(text)?;
    let header = lines.iter().position(|(_, l)| is_header(l));
    let (start, arch) = match header {
        Some(i) => (i + 1, Some(lines[i].1.contains("Architecture"))),
        None => (0, None),
    };
    let mut out = Parsed { has_header: header.is_some(), has_arch_column: arch == Some(true), ..Parsed::default() };
    for (n, (offset, raw)) in lines.iter().enumerate().skip(start) {
        let line = strip_decoration(raw);
        if !looks_like_row(line) {
            continue;
        }
        let parsed = if line.len() > MAX_LINE_BYTES {
            Err(format!("longer than {MAX_LINE_BYTES} bytes"))
        } else {
            parse_row(line, arch)
        };
        match parsed {
            Ok(k) => out.kexts.push(k),
            Err(reason) if out.skipped.len() < MAX_SKIPPED => {
                out.skipped.push(SkippedLine { line: n + 1, offset: *offset as u64, reason })
            }
            Err(_) => {}
        }
    }
    // A listing cut off mid-row (pasted, `head -c`) ends in a partial row.
    let last_row_like = lines
        .iter()
        .enumerate()
        .skip(start)
        .rev()
        .find(|(_, (_, l))| looks_like_row(strip_decoration(l)))
        .map(|(n, _)| n + 1);
    if let Some(last) = out.skipped.last_mut()
        && Some(last.line) == last_row_like
    {
        last.reason = format!("truncated final row ({})", last.reason);
    }
    if out.kexts.is_empty() {
        if let Some(first) = out.skipped.first() {
            return Err(FormatError::new(
                LAYER,
                first.offset,
                format!("line {}: no row parses: {}", first.line, first.reason),
            ));
        }
        if header.is_none() {
            let (offset, n) = lines
                .iter()
                .enumerate()
                .find(|(_, (_, l))| !l.trim().is_empty())
                .map_or((0, 1), |(n, (o, _))| (*o as u64, n + 1));
            return Err(FormatError::new(LAYER, offset, format!("line {n}: no kextstat header and no kext rows")));
        }
    }
    Ok(out)
}

/// Lines with the byte offset of their first byte; `\r\n` endings are
/// accepted.
/// The most lines read (real listings have a few hundred).
pub const MAX_LINES: usize = 1_000_000;
/// Lines longer than this are not rows.
pub const MAX_LINE_BYTES: usize = 64 << 10;
/// The most skipped lines recorded (the rest are only counted out).
pub const MAX_SKIPPED: usize = 1000;

fn split_lines(text: &str) -> Result<Vec<(usize, &str)>, FormatError> {
    let mut offset = 0;
    let mut out = Vec::new();
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i >= MAX_LINES {
            return Err(FormatError::new(
                LAYER,
                offset as u64,
                format!("more than {MAX_LINES} lines: not a kext listing"),
            ));
        }
        let start = offset;
        offset += l.len();
        out.push((start, l.trim_end_matches(['\n', '\r'])));
    }
    Ok(out)
}

/// Leading whitespace (spaces, tabs from markdown indentation) and
/// markdown quote markers.
fn strip_decoration(line: &str) -> &str {
    let mut l = line.trim_start();
    while let Some(rest) = l.strip_prefix('>') {
        l = rest.trim_start();
    }
    l.trim_end()
}

/// `Index Refs Address Size Wired [Architecture] Name (Version) UUID <Linked Against>`.
fn is_header(line: &str) -> bool {
    let mut words = strip_decoration(line).split_whitespace();
    words.next() == Some("Index") && words.next() == Some("Refs") && words.next() == Some("Address")
}

/// A number or `??` placeholder.
fn is_count(token: &str) -> bool {
    token == "??" || (!token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a line starts like a row: an index and a refs count.
fn looks_like_row(line: &str) -> bool {
    let mut t = line.split_whitespace();
    matches!((t.next(), t.next()), (Some(a), Some(b)) if is_count(a) && is_count(b))
}

fn count(token: &str, what: &str) -> Result<Option<u32>, String> {
    if token == "??" {
        return Ok(None);
    }
    token.parse().map(Some).map_err(|_| format!("bad {what} {token:?}"))
}

/// `0x…`, `0`, or the `????` placeholder (`??` accepted too).
fn hex_field(token: Option<&str>, what: &str) -> Result<Option<u64>, String> {
    let token = token.ok_or_else(|| format!("missing {what}"))?;
    if token == "????" || token == "??" {
        return Ok(None);
    }
    let digits = token.strip_prefix("0x").or_else(|| token.strip_prefix("0X"));
    let value = match digits {
        Some(d) => u64::from_str_radix(d, 16),
        None => token.parse::<u64>(),
    };
    value.map(Some).map_err(|_| format!("bad {what} {token:?}"))
}

/// Parse one row. `arch` is what the header says about the architecture
/// column (`None`: no header, infer it from the row).
fn parse_row(line: &str, arch: Option<bool>) -> Result<LoadedKext, String> {
    let mut tokens = line.split_whitespace();
    let index = count(tokens.next().unwrap_or(""), "index")?;
    let refs = count(tokens.next().unwrap_or(""), "refs")?;
    let address = hex_field(tokens.next(), "address")?;
    let size = hex_field(tokens.next(), "size")?;
    let wired = hex_field(tokens.next(), "wired")?;
    let rest: Vec<&str> = tokens.collect();
    // The bundle id is the token before the first `(`; bundle ids and
    // architecture names contain no spaces.
    let Some(open) = rest.iter().position(|t| t.starts_with('(')) else {
        return Err("no (version)".into());
    };
    let (arch, id) = match (open, arch) {
        (1, Some(false)) | (2, Some(true)) | (1, None) | (2, None) => {
            let arch = (open == 2).then(|| rest[0].to_string());
            (arch, rest[open - 1])
        }
        _ => return Err("unexpected columns before the bundle id".into()),
    };
    if id.is_empty() || id.contains(['<', '>', ')']) {
        return Err(format!("bad bundle id {id:?}"));
    }
    let tail = rest[open..].join(" ");
    let tail = tail.strip_prefix('(').unwrap_or(&tail);
    let Some(close) = tail.find(')') else {
        return Err("unterminated (version)".into());
    };
    let version = tail[..close].to_string();
    let (uuid, linked_against) = parse_uuid_and_links(tail[close + 1..].trim())?;
    Ok(LoadedKext { index, refs, address, size, wired, arch, bundle_id: id.to_string(), version, uuid, linked_against })
}

/// `[UUID | no UUID] [<i j k>]`.
fn parse_uuid_and_links(tail: &str) -> Result<(Option<String>, Vec<u32>), String> {
    let (uuid, rest) = if let Some(rest) = tail.strip_prefix("no UUID") {
        (None, rest.trim_start())
    } else if tail.is_empty() || tail.starts_with('<') {
        (None, tail)
    } else {
        let (word, rest) = tail.split_once(' ').unwrap_or((tail, ""));
        let uuid = normalise_uuid(word).ok_or_else(|| format!("bad UUID {word:?}"))?;
        (Some(uuid), rest.trim_start())
    };
    if rest.is_empty() {
        return Ok((uuid, Vec::new()));
    }
    let inner = rest
        .strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .ok_or_else(|| format!("bad linked-against list {rest:?}"))?;
    let links = inner
        .split_whitespace()
        .map(|n| n.parse::<u32>().map_err(|_| format!("bad load index {n:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((uuid, links))
}

/// `8-4-4-4-12` hex digits, returned upper-case.
fn normalise_uuid(word: &str) -> Option<String> {
    let groups: Vec<&str> = word.split('-').collect();
    let ok = groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| word.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n";

    #[test]
    fn placeholders_no_uuid_and_empty_links() {
        let text = format!(
            "{HEADER}   ??   ?? ????               ????       ????       com.example.A (1.0) no UUID\n    2    0 0                  0          0          com.example.B (2 beta) <>\n"
        );
        let k = parse(&text).unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!((k[0].index, k[0].refs, k[0].address, k[0].size, k[0].wired), (None, None, None, None, None));
        assert_eq!(k[0].uuid, None);
        assert_eq!(k[1].version, "2 beta");
        assert_eq!(k[1].address, Some(0));
        assert!(k[1].linked_against.is_empty());
    }

    #[test]
    fn arch_column_from_header() {
        let text = "Index Refs Address            Size       Wired      Architecture       Name (Version) UUID <Linked Against>\r\n   12    0 0xffffff7f80a00000 0x3000     0x3000     x86_64             com.example.C (3.1) 3aabeb96-18b4-378e-b3ee-a0f6eb91dde7 <5 4 1>\r\n";
        let p = parse_detailed(text).unwrap();
        assert!(p.has_arch_column);
        let k = &p.kexts[0];
        assert_eq!(k.arch.as_deref(), Some("x86_64"));
        assert_eq!(k.bundle_id, "com.example.C");
        assert_eq!(k.uuid.as_deref(), Some("3AABEB96-18B4-378E-B3EE-A0F6EB91DDE7"));
        assert_eq!(k.linked_against, vec![5, 4, 1]);
    }

    #[test]
    fn arch_token_without_arch_header_is_malformed() {
        let text = format!(
            "{HEADER}    1    0 0x1 0x1 0x1 x86_64 com.example.A (1)\n    2    0 0x1 0x1 0x1 com.example.B (1)\n"
        );
        let p = parse_detailed(&text).unwrap();
        assert_eq!(p.kexts.len(), 1);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].line, 2);
    }

    #[test]
    fn malformed_middle_row_is_skipped_and_final_partial_row_marked() {
        let text = format!(
            "{HEADER}    1    0 0x1 0x1 0x1 com.example.A (1) ZZZ\n    2    0 0x1 0x1 0x1 com.example.B (1)\n    3    0 0xfff"
        );
        let p = parse_detailed(&text).unwrap();
        assert_eq!(p.kexts.len(), 1);
        assert_eq!(p.skipped.len(), 2);
        assert!(p.skipped[0].reason.starts_with("bad UUID"));
        assert!(p.skipped[1].reason.starts_with("truncated final row"));
        assert_eq!(p.skipped[1].offset as usize, text.rfind("    3").unwrap());
    }

    #[test]
    fn header_only_is_empty_not_an_error() {
        assert_eq!(parse(HEADER).unwrap(), vec![]);
    }

    #[test]
    fn nothing_parsable_is_an_error_with_offset() {
        let e = parse("\n\nhello world\n").unwrap_err();
        assert_eq!(e.layer, "kextstat");
        assert_eq!(e.offset, 2);
        assert!(e.message.starts_with("line 3:"), "{e}");
        let e = parse("").unwrap_err();
        assert_eq!(e.offset, 0);
        let bad = format!("{HEADER}    1    0 0x1 0x1 0x1 com.example.A (1");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.offset as usize, HEADER.len());
        assert!(e.message.starts_with("line 2: no row parses"), "{e}");
    }

    #[test]
    fn json_address_is_hex_or_null() {
        let text = format!("{HEADER}    1    0 0x10 0x1 0x1 a.b (1)\n   ??    0 ???? 0x1 0x1 c.d (1)\n");
        let k = parse(&text).unwrap();
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v[0]["address"], "0x10");
        assert!(v[1]["address"].is_null());
    }
}
