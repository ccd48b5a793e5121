//! `zprint` output: parse it, judge it (ZN001, ZN002), render it, watch it.
//!
//! `zprint` (system_cmds) prints the kernel's memory zones. No crate parses
//! its output, so this parser is written by hand from the layouts described in
//! `research/zones-panics.md` §1 and checked against the real samples in
//! `realdata/zprint/`. Layouts handled (the header lines decide what each
//! column means, never the macOS version):
//!
//! * `columns`: the default `-c` table (10.9 → 26): two header lines, a dashed
//!   line, one row per zone: name, `elem size`, `cur size` (K), `max size` (K or
//!   `-------` on overflow), `cur #elts`, `max #elts`, `cur inuse`, `alloc size`
//!   (K), `alloc count`, flags (`X`, `A`, `C`). `columns-w`, `columns-t` and
//!   `columns-wt` add `frag size` / `free size` (`-w`) and `total allocs`
//!   (`-t`), printed as `NNNB` or `NNNK`.
//! * `headerless`: the same rows without the header (`-H`); the extra columns
//!   are inferred from the number of values (9: `-t`, 10: `-w`, 11: both).
//! * `block`: the legacy `-C` output (`<name> zone:` then indented
//!   `cur_size: NK bytes (N elements)`-style lines).
//!
//! Every era's names are kept as printed: dotted (`vm.objects`), with spaces
//! (`vm objects`, as pasted or hand-edited copies have them), heap-prefixed
//! (`data.kalloc.1024`, `default.kalloc.48`, `kalloc.type3.128`), or cut to 24
//! characters plus `$`. The redacted view of a non-root `zprint` on 13.3+
//! (sizes zeroed, only `elem size` and `cur inuse` meaningful) is recognised
//! and its sizes become `None`. Only the first zone table is read: the wired
//! memory, maps, zone views and `ZONE TOTALS` sections after the next dashed
//! line are skipped. Rows wrapped onto two lines are joined; rows cut short
//! keep the columns they have when at least the in-use count survived.
//!
//! Not done here: running `zprint` (the CLI hands [`watch`] a sampler) and
//! the panic log's own zone table (that is the panic reader's job).

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, FormatError};
use crate::findings::{Finding, Severity};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// ZN002: the monotonic metric must grow by at least this fraction of its
/// first value over the window.
pub const GROWTH_MIN_RATIO: f64 = 0.05;
/// ZN002: … and by at least this many bytes …
pub const GROWTH_MIN_BYTES: u64 = MIB;
/// ZN002: … or by at least this many in-use elements.
pub const GROWTH_MIN_ELEMENTS: u64 = 10_000;

/// The known-issues id of the 10.15.6 (19G73) kalloc leak.
const ZONE_LEAK_ISSUE: &str = "catalina-10.15.6-zone-leak";

/// Rows with fewer values than this (and no continuation line) are not
/// zones: `elem size` … `cur inuse` are the six columns a checker needs.
const MIN_PARTIAL_VALUES: usize = 6;

/// Zones shown by the live view of [`watch`].
const LIVE_TOP: usize = 15;

/// One zone row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Zone {
    /// Zone name as printed (dots for spaces in most eras; a trailing `$`
    /// when zprint cut it to 24 characters).
    pub name: String,
    /// Element size in bytes.
    pub elem_size: Option<u64>,
    /// Bytes currently held by the zone (`cur size`); `None` where redacted.
    pub cur_bytes: Option<u64>,
    /// Elements currently allocated (`cur inuse`): the leak signal.
    pub inuse: Option<u64>,
    /// `max size` in bytes: the configured limit (≤ 10.15) or the high-water
    /// mark (11+); `None` when zprint printed dashes or redacted it.
    pub max_bytes: Option<u64>,
    /// `cur #elts`: capacity in elements.
    pub cur_elements: Option<u64>,
    /// `max #elts`.
    pub max_elements: Option<u64>,
    /// `alloc size` in bytes: the chunk the zone grows by.
    pub alloc_size: Option<u64>,
    /// `alloc count`: elements per chunk.
    pub alloc_count: Option<u64>,
    /// Flag letters (`X` exhaustible, `A` caller-accounted, `C` collectable).
    pub flags: String,
    /// `frag size` (`-w`) in bytes.
    pub frag_bytes: Option<u64>,
    /// `free size` (`-w`, collectable bytes).
    pub free_bytes: Option<u64>,
    /// `total allocs` (`-t`): bytes allocated over the zone's lifetime.
    pub total_allocated_bytes: Option<u64>,
    /// The name ends in `$`: zprint cut it.
    pub name_truncated: bool,
    /// 1-based line of the row in the input.
    pub line: usize,
}

impl Zone {
    /// Bytes the zone holds: `cur_bytes`, or in-use × element size where
    /// sizes were redacted.
    pub fn bytes(&self) -> Option<u64> {
        self.cur_bytes.or_else(|| self.used_bytes())
    }

    /// In-use elements × element size.
    pub fn used_bytes(&self) -> Option<u64> {
        self.inuse?.checked_mul(self.elem_size?)
    }

    /// Whether this is a general-purpose kalloc size-class zone of any era.
    pub fn is_kalloc(&self) -> bool {
        is_kalloc_zone(&self.name)
    }
}

/// A line the parser skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineIssue {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong with it.
    pub message: String,
}

/// The zone table of one `zprint` run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ZoneTable {
    /// Zones in input order.
    pub zones: Vec<Zone>,
    /// Sizes were zeroed by a non-root `zprint` (13.3+); only `elem_size` and
    /// `inuse` are real.
    pub redacted: bool,
    /// The layout recognised: `columns`, `columns-w`, `columns-t`,
    /// `columns-wt`, `headerless` or `block`.
    pub format: &'static str,
    /// Lines inside the table that were skipped.
    pub issues: Vec<LineIssue>,
}

impl ZoneTable {
    /// Sum of [`Zone::bytes`] over the table.
    pub fn total_bytes(&self) -> u64 {
        self.zones.iter().filter_map(Zone::bytes).fold(0, u64::saturating_add)
    }
}

/// Whether `name` is a kalloc size-class zone: `kalloc.N`, a heap-prefixed
/// one (`default.`, `data.`, `kext.`, `shared.`, `data_shared.`, `early.` …
/// `kalloc.N`), or a typed one (`kalloc.type3.128`, `kalloc.type.var1.64`).
/// A name zprint cut (trailing `$`) matches when what is left fits.
pub fn is_kalloc_zone(name: &str) -> bool {
    let (name, cut) = match name.strip_suffix('$') {
        Some(n) => (n, true),
        None => (name, false),
    };
    let rest = match name.find("kalloc.") {
        Some(0) => &name[7..],
        Some(i) => {
            let heap = &name[..i];
            let Some(heap) = heap.strip_suffix('.') else {
                return false;
            };
            if heap.is_empty() || !heap.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return false;
            }
            &name[i + 7..]
        }
        None => return false,
    };
    // rest: N | type<i>.N | type.var<i>.N
    let size = if let Some(t) = rest.strip_prefix("type") {
        let t = t.strip_prefix(".var").unwrap_or(t);
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        match t[digits..].strip_prefix('.') {
            Some(s) if digits > 0 => s,
            _ => return cut,
        }
    } else {
        rest
    };
    if size.is_empty() {
        return cut;
    }
    size.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------
// Parsing

/// One input line with its position.
#[derive(Clone, Copy)]
struct Line<'a> {
    /// 1-based number.
    no: usize,
    /// Byte offset of its first character.
    offset: u64,
    /// Text without the line ending.
    text: &'a str,
}

fn lines_of(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let t = raw.strip_suffix('\n').unwrap_or(raw);
        let t = t.strip_suffix('\r').unwrap_or(t);
        out.push(Line { no: i + 1, offset, text: t });
        offset += raw.len() as u64;
    }
    out
}

fn err(line: &Line<'_>, message: impl std::fmt::Display) -> FormatError {
    FormatError::new("zprint", line.offset, format!("line {}: {message}", line.no))
}

/// What a column holds, as decided by the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    ElemSize,
    CurSize,
    MaxSize,
    CurElts,
    MaxElts,
    Inuse,
    AllocSize,
    AllocCount,
    FragSize,
    FreeSize,
    TotalAllocs,
    /// A column this parser does not know (the ≤ 10.13 `-p` one, say): its
    /// value is consumed and dropped.
    Unknown,
}

const BASE: [Column; 8] = [
    Column::ElemSize,
    Column::CurSize,
    Column::MaxSize,
    Column::CurElts,
    Column::MaxElts,
    Column::Inuse,
    Column::AllocSize,
    Column::AllocCount,
];

impl Column {
    /// The column's header words.
    fn label(self) -> &'static str {
        match self {
            Column::ElemSize => "elem size",
            Column::CurSize => "cur size",
            Column::MaxSize => "max size",
            Column::CurElts => "cur #elts",
            Column::MaxElts => "max #elts",
            Column::Inuse => "cur inuse",
            Column::AllocSize => "alloc size",
            Column::AllocCount => "alloc count",
            Column::FragSize => "frag size",
            Column::FreeSize => "free size",
            Column::TotalAllocs => "total allocs",
            Column::Unknown => "unknown",
        }
    }

    /// From the two header words stacked above it (`cur` / `inuse`).
    fn from_words(top: &str, bottom: &str) -> Column {
        match (top, bottom) {
            ("elem", "size") => Column::ElemSize,
            ("cur", "size") => Column::CurSize,
            ("max", "size") => Column::MaxSize,
            ("cur", "#elts") => Column::CurElts,
            ("max", "#elts") => Column::MaxElts,
            ("cur", "inuse") => Column::Inuse,
            ("alloc", "size") => Column::AllocSize,
            ("alloc", "count") => Column::AllocCount,
            ("frag", "size") => Column::FragSize,
            ("free", "size") => Column::FreeSize,
            ("total", "allocs") => Column::TotalAllocs,
            _ => Column::Unknown,
        }
    }
}

/// Columns from the header: line 1 (`elem cur max …`, optional) and line 2
/// (`zone name size size …`). Words are paired when both lines have the same
/// number; otherwise the canonical order is assumed and the extra words of
/// line 2 say which of `-w` / `-t` was given.
fn columns_from_header(top: Option<&str>, names: &str) -> Vec<Column> {
    let bottom: Vec<&str> = names.trim_start().strip_prefix("zone name").unwrap_or(names).split_whitespace().collect();
    if let Some(top) = top {
        let top: Vec<&str> = top.split_whitespace().collect();
        if top.len() == bottom.len() {
            let cols: Vec<Column> = top.iter().zip(&bottom).map(|(t, b)| Column::from_words(t, b)).collect();
            if cols.iter().filter(|c| **c != Column::Unknown).count() >= 6 {
                return cols;
            }
        }
    }
    let mut cols: Vec<Column> = BASE.iter().copied().take(bottom.len()).collect();
    let extra: Vec<&str> = bottom.iter().skip(BASE.len()).copied().collect();
    match extra.as_slice() {
        [] => {}
        ["size", "size"] => cols.extend([Column::FragSize, Column::FreeSize]),
        ["allocs"] => cols.push(Column::TotalAllocs),
        ["size", "size", "allocs"] => cols.extend([Column::FragSize, Column::FreeSize, Column::TotalAllocs]),
        other => cols.extend(other.iter().map(|_| Column::Unknown)),
    }
    cols
}

/// The columns of a headerless row with `n` values.
fn headerless_columns(n: usize) -> Vec<Column> {
    let mut cols = BASE.to_vec();
    match n {
        9 => cols.push(Column::TotalAllocs),
        10 => cols.extend([Column::FragSize, Column::FreeSize]),
        _ if n >= 11 => cols.extend([Column::FragSize, Column::FreeSize, Column::TotalAllocs]),
        _ => {}
    }
    cols
}

fn format_name(cols: &[Column]) -> &'static str {
    let w = cols.contains(&Column::FragSize);
    let t = cols.contains(&Column::TotalAllocs);
    match (w, t) {
        (true, true) => "columns-wt",
        (true, false) => "columns-w",
        (false, true) => "columns-t",
        (false, false) => "columns",
    }
}

/// A value token: digits (optionally with a decimal part) and an optional
/// unit `B`/`K`/`M`/`G`/`T`, or a run of dashes (overflow or no value).
fn is_value(tok: &str) -> bool {
    if !tok.is_empty() && tok.bytes().all(|b| b == b'-') {
        return true;
    }
    let body = tok.strip_suffix(['B', 'K', 'M', 'G', 'T', 'k']).unwrap_or(tok);
    let mut parts = body.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A flags token: up to three of zprint's flag letters.
fn is_flags(tok: &str) -> bool {
    (1..=3).contains(&tok.len()) && tok.bytes().all(|b| matches!(b, b'X' | b'A' | b'C' | b'P'))
}

fn is_dashes(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 20 && t.bytes().all(|b| b == b'-')
}

fn is_header(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("zone name") && t.split_whitespace().count() >= 5
}

/// A row split into its name part and its trailing values.
#[derive(Debug, Default)]
struct RowParts<'a> {
    name: Vec<&'a str>,
    values: Vec<&'a str>,
    flags: String,
}

/// Split a row into name tokens and trailing value/flag tokens, keeping
/// `expected` values at most (extra leading numbers belong to the name).
fn split_row(line: &str, expected: Option<usize>) -> RowParts<'_> {
    let toks: Vec<&str> = line.split_whitespace().collect();
    let mut start = toks.len();
    while start > 0 && (is_value(toks[start - 1]) || is_flags(toks[start - 1])) {
        start -= 1;
    }
    // Flags never open the value run: a name may end in `C`.
    while start < toks.len() && !is_value(toks[start]) {
        start += 1;
    }
    let mut parts = RowParts { name: toks[..start].to_vec(), ..RowParts::default() };
    for t in &toks[start..] {
        if is_value(t) {
            parts.values.push(t);
        } else {
            parts.flags.push_str(t);
        }
    }
    if let Some(n) = expected
        && parts.values.len() > n
    {
        let extra = parts.values.len() - n;
        // The leading extra values are words of the name, unless there is
        // no name at all; then the first one is the name.
        let moved: Vec<&str> = parts.values.drain(..extra).collect();
        parts.name.extend(moved);
    }
    parts
}

/// Parse one value of `col`. `Ok(None)` for dashes, unparseable magnitudes
/// and unknown columns; `Err` when the token has the wrong shape for the
/// column (a unit where a count belongs, say).
fn column_value(tok: &str, col: Column) -> Result<Option<u64>, ()> {
    if tok.bytes().all(|b| b == b'-') {
        return Ok(None);
    }
    let (body, unit) = match tok.as_bytes().last() {
        Some(b'B') => (&tok[..tok.len() - 1], Some(1)),
        Some(b'K' | b'k') => (&tok[..tok.len() - 1], Some(KIB)),
        Some(b'M') => (&tok[..tok.len() - 1], Some(MIB)),
        Some(b'G') => (&tok[..tok.len() - 1], Some(MIB * KIB)),
        Some(b'T') => (&tok[..tok.len() - 1], Some(MIB * MIB)),
        _ => (tok, None),
    };
    let scale = match col {
        Column::Unknown => return Ok(None),
        // Counts are bare integers.
        Column::CurElts | Column::MaxElts | Column::Inuse | Column::AllocCount => {
            if unit.is_some() {
                return Err(());
            }
            1
        }
        Column::ElemSize => match unit {
            None | Some(1) => 1,
            Some(_) => return Err(()),
        },
        // zprint prints these in KiB with a `K`; a bare number is taken in
        // the column's own unit.
        Column::CurSize | Column::MaxSize | Column::AllocSize => unit.unwrap_or(KIB),
        Column::FragSize | Column::FreeSize | Column::TotalAllocs => unit.unwrap_or(1),
    };
    Ok(scaled(body, scale))
}

/// `body` × `scale`, allowing one decimal part; `None` on overflow.
fn scaled(body: &str, scale: u64) -> Option<u64> {
    if body.contains('.') {
        let v: f64 = body.parse().ok()?;
        let v = (v * scale as f64).round();
        return (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v as u64);
    }
    body.parse::<u64>().ok()?.checked_mul(scale)
}

/// Build a zone from a split row and its columns. `Err` names the token that
/// does not fit its column.
fn zone_from(parts: &RowParts<'_>, cols: &[Column], line: usize) -> Result<Zone, String> {
    let name = parts.name.join(" ");
    let mut z = Zone { name_truncated: name.ends_with('$'), name, flags: parts.flags.clone(), line, ..Zone::default() };
    for (tok, col) in parts.values.iter().zip(cols) {
        let v = column_value(tok, *col).map_err(|()| format!("`{tok}` does not fit the `{}` column", col.label()))?;
        match col {
            Column::ElemSize => z.elem_size = v,
            Column::CurSize => z.cur_bytes = v,
            Column::MaxSize => z.max_bytes = v,
            Column::CurElts => z.cur_elements = v,
            Column::MaxElts => z.max_elements = v,
            Column::Inuse => z.inuse = v,
            Column::AllocSize => z.alloc_size = v,
            Column::AllocCount => z.alloc_count = v,
            Column::FragSize => z.frag_bytes = v,
            Column::FreeSize => z.free_bytes = v,
            Column::TotalAllocs => z.total_allocated_bytes = v,
            Column::Unknown => {}
        }
    }
    Ok(z)
}

/// Parse `zprint` output (any era, any of the layouts in the module doc).
///
/// Errors only when no zone table is found (the message quotes zprint's own
/// error, e.g. `mach_memory_info: … (try running as root)`, when present) or
/// when a zone row has text where its numbers belong.
pub fn parse(text: &str) -> Result<ZoneTable, FormatError> {
    let lines = lines_of(text);
    let mut table = if let Some(h) = lines.iter().position(|l| is_header(l.text)) {
        let top =
            h.checked_sub(1).map(|i| lines[i].text).filter(|t| t.split_whitespace().any(|w| w == "elem" || w == "cur"));
        let cols = columns_from_header(top, lines[h].text);
        parse_rows(&lines[h + 1..], Some(&cols))?
    } else if let Some(b) = lines.iter().position(|l| block_name(l.text).is_some()) {
        parse_block(&lines[b..])
    } else if let Some(s) = lines.iter().position(|l| headerless_row(l.text)) {
        parse_rows(&lines[s..], None)?
    } else {
        let first = lines.first().copied().unwrap_or(Line { no: 1, offset: 0, text: "" });
        if let Some(l) = lines.iter().find(|l| l.text.contains("mach_memory_info") || l.text.contains("zprint:")) {
            return Err(err(l, format!("zprint failed: {}", l.text.trim())));
        }
        return Err(err(
            &first,
            "no zprint zone table found (no `zone name` header, `<name> zone:` block or zone rows)",
        ));
    };
    mark_redacted(&mut table);
    Ok(table)
}

/// A row good enough to start a headerless table: a name and the eight base
/// values, shaped as their columns expect.
fn headerless_row(line: &str) -> bool {
    let p = split_row(line, Some(11));
    !p.name.is_empty()
        && p.values.len() >= BASE.len()
        && p.values.iter().zip(BASE).all(|(t, c)| column_value(t, c).is_ok())
        && p.values.get(1).is_some_and(|t| t.ends_with('K'))
}

/// Rows after the header (or from the first headerless row) to the end of
/// the first table.
fn parse_rows(lines: &[Line<'_>], cols: Option<&[Column]>) -> Result<ZoneTable, FormatError> {
    let mut zones = Vec::new();
    let mut issues = Vec::new();
    let format = cols.map_or("headerless", format_name);
    let mut i = 0;
    // The dashed line under the header.
    while i < lines.len() && lines[i].text.trim().is_empty() {
        i += 1;
    }
    if cols.is_some() && i < lines.len() && is_dashes(lines[i].text) {
        i += 1;
    }
    while i < lines.len() {
        let line = &lines[i];
        let t = line.text.trim();
        i += 1;
        if t.is_empty() {
            continue;
        }
        if is_dashes(t) || t.starts_with("ZONE TOTALS") || is_header(t) {
            break;
        }
        let row_cols: Vec<Column> = match cols {
            Some(c) => c.to_vec(),
            None => {
                let p = split_row(t, Some(11));
                headerless_columns(p.values.len())
            }
        };
        let n = row_cols.len();
        let mut parts = split_row(t, Some(n));
        let mut joined = String::new();
        if parts.values.len() < n && !parts.name.is_empty() {
            // Wrapped row: the rest is on the next non-blank line.
            let mut j = i;
            while j < lines.len() && lines[j].text.trim().is_empty() {
                j += 1;
            }
            if let Some(next) = lines.get(j).map(|l| l.text.trim())
                && !next.is_empty()
                && !is_dashes(next)
                && next.split_whitespace().all(|w| is_value(w) || is_flags(w))
                && let Some(whole) = join_wrapped(t, next, n)
            {
                joined = whole;
                i = j + 1;
            }
        }
        if !joined.is_empty() {
            parts = split_row(&joined, Some(n));
        }
        if parts.name.is_empty() {
            issues.push(LineIssue { line: line.no, message: "values without a zone name".into() });
            continue;
        }
        if parts.values.len() < n {
            // Text inside the numbers: a damaged row, not a section title.
            if let Some(bad) = intruder(&parts.name) {
                return Err(err(line, format!("zone row has `{bad}` where a number belongs")));
            }
            if parts.values.len() < MIN_PARTIAL_VALUES.min(n) {
                issues.push(LineIssue {
                    line: line.no,
                    message: format!("not a zone row ({} of {n} values): {}", parts.values.len(), shorten(t)),
                });
                continue;
            }
            issues.push(LineIssue {
                line: line.no,
                message: format!("row cut short: {} of {n} values, missing columns left empty", parts.values.len()),
            });
        }
        zones.push(zone_from(&parts, &row_cols, line.no).map_err(|m| err(line, m))?);
    }
    Ok(ZoneTable { zones, redacted: false, format, issues })
}

/// Join a row wrapped onto two lines: with a space (the terminal broke at a
/// gap) or without (it broke inside a number), whichever yields exactly `n`
/// values; `None` when neither does.
fn join_wrapped(first: &str, next: &str, n: usize) -> Option<String> {
    let spaced = format!("{first} {next}");
    if split_row(&spaced, None).values.len() == n {
        return Some(spaced);
    }
    let glued = format!("{first}{next}");
    (split_row(&glued, None).values.len() == n).then_some(glued)
}

/// The non-number that interrupts a row's numbers, if the name part holds a
/// number followed by more text (`kalloc.48 48 10868K xyz …`).
/// At least two numbers must come first, so that a stray line such as
/// `zone tags 100 of 200` is skipped rather than fatal.
fn intruder<'a>(name: &[&'a str]) -> Option<&'a str> {
    let first_value = name.iter().skip(1).position(|t| is_value(t))? + 1;
    let rest = &name[first_value..];
    let bad = rest.iter().position(|t| !is_value(t))?;
    (bad >= 2).then(|| rest[bad])
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// `kalloc.16 zone:` → `kalloc.16`.
fn block_name(line: &str) -> Option<&str> {
    let t = line.trim_end();
    if t.starts_with(char::is_whitespace) {
        return None;
    }
    let name = t.strip_suffix(" zone:")?.trim();
    (!name.is_empty()).then_some(name)
}

/// The legacy `-C` layout: `<name> zone:` then indented `key: value` lines.
fn parse_block(lines: &[Line<'_>]) -> ZoneTable {
    let mut zones: Vec<Zone> = Vec::new();
    let mut issues = Vec::new();
    for line in lines {
        let t = line.text.trim();
        if t.is_empty() {
            continue;
        }
        if let Some(name) = block_name(line.text) {
            zones.push(Zone {
                name: name.to_string(),
                name_truncated: name.ends_with('$'),
                line: line.no,
                ..Zone::default()
            });
            continue;
        }
        if is_dashes(t) || t.starts_with("ZONE TOTALS") {
            break;
        }
        let Some(z) = zones.last_mut() else { continue };
        let lower = t.to_ascii_lowercase();
        if lower == "exhaustible" {
            z.flags.push('X');
            continue;
        }
        if lower == "collectable" {
            z.flags.push('C');
            continue;
        }
        let Some((key, value)) = t.split_once(':') else {
            issues.push(LineIssue { line: line.no, message: format!("not a zone attribute: {}", shorten(t)) });
            continue;
        };
        // `17320K bytes (1108480 elements)` → (17320 KiB, 1108480)
        let words: Vec<&str> = value.split_whitespace().collect();
        let first = words.first().copied().unwrap_or("");
        let elements = words.iter().find_map(|w| w.strip_prefix('(')).and_then(|w| w.parse::<u64>().ok());
        let size = |col| column_value(first, col).ok().flatten();
        match key.trim() {
            "cur_size" => {
                z.cur_bytes = size(Column::CurSize);
                z.cur_elements = elements;
            }
            "max_size" => {
                z.max_bytes = size(Column::MaxSize);
                z.max_elements = elements;
            }
            "elem_size" => z.elem_size = size(Column::ElemSize),
            "# of elems" | "inuse" | "cur_inuse" => z.inuse = size(Column::Inuse),
            "alloc_size" => {
                z.alloc_size = size(Column::AllocSize);
                z.alloc_count = elements;
            }
            _ => {}
        }
    }
    ZoneTable { zones, redacted: false, format: "block", issues }
}

/// A non-root `zprint` on 13.3+ zeroes every size but keeps the in-use
/// counts: a zone with elements in use and no bytes cannot happen otherwise.
fn mark_redacted(t: &mut ZoneTable) {
    let all_zero = t.zones.iter().all(|z| z.cur_bytes.is_none_or(|c| c == 0));
    let any_used = t.zones.iter().any(|z| z.cur_bytes == Some(0) && z.inuse.is_some_and(|n| n > 0));
    if !(all_zero && any_used) {
        return;
    }
    t.redacted = true;
    for z in &mut t.zones {
        z.cur_bytes = None;
        z.max_bytes = None;
        z.cur_elements = None;
        z.max_elements = None;
        z.alloc_size = None;
        z.alloc_count = None;
        z.frag_bytes = None;
        z.free_bytes = None;
        z.total_allocated_bytes = None;
    }
}

// ---------------------------------------------------------------------------
// Findings

/// Limits for ZN001 and ZN002.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// ZN001 warning: a kalloc zone's share of the table's bytes.
    pub share_warn: f64,
    /// ZN001 error: share of the table's bytes.
    pub share_error: f64,
    /// ZN001 error: in-use elements of one kalloc zone (the 10.15.6 leak
    /// showed tens of millions).
    pub elements_error: u64,
    /// ZN001: a share rule only fires on zones at least this big, so a
    /// filtered table (`zprint kalloc`) of a healthy Mac stays quiet.
    pub min_bytes: u64,
    /// ZN002: samples needed before a zone can be called growing.
    pub growth_samples: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            share_warn: 0.10,
            share_error: 0.25,
            elements_error: 10_000_000,
            min_bytes: 64 * MIB,
            growth_samples: 3,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// ZN001 for one sample: a kalloc-family zone whose bytes are at least
/// `share_warn` of the table's total and at least `min_bytes` (warning;
/// error from `share_error`), or whose in-use count exceeds `elements_error`
/// (error). In a redacted table bytes are in-use × element size; without
/// an element size only the count rule applies. `build` ties the finding to
/// the 10.15.6 (19G73) leak when it is that build.
pub fn sample_findings(t: &ZoneTable, th: &Thresholds, build: Option<&str>) -> Vec<Finding> {
    let total = t.total_bytes();
    let leak = build.and_then(crate::known_issues::zone_leak);
    let mut out = Vec::new();
    for z in t.zones.iter().filter(|z| z.is_kalloc()) {
        let bytes = z.bytes();
        let share = bytes.filter(|_| total > 0).map(|b| b as f64 / total as f64);
        let big = bytes.is_some_and(|b| b >= th.min_bytes);
        let by_share = big && share.is_some_and(|s| s >= th.share_warn);
        let by_share_error = big && share.is_some_and(|s| s >= th.share_error);
        let by_count = z.inuse.is_some_and(|n| n > th.elements_error);
        if !(by_share || by_count) {
            continue;
        }
        let severity = if by_share_error || by_count { Severity::Error } else { Severity::Warning };
        let mut msg = format!("{} holds", z.name);
        if let Some(b) = bytes {
            msg.push_str(&format!(" {}", human_bytes(b)));
            if let Some(s) = share {
                msg.push_str(&format!(" ({:.1}% of the {} in the table)", s * 100.0, human_bytes(total)));
            }
            msg.push_str(" in");
        }
        match (z.inuse, z.elem_size) {
            (Some(n), Some(e)) => msg.push_str(&format!(" {n} in-use elements of {e} bytes")),
            (Some(n), None) => msg.push_str(&format!(" {n} in-use elements")),
            _ => msg.push_str(" its elements"),
        }
        if by_count {
            msg.push_str(&format!(
                "; more than {} elements in one kalloc zone is a kernel memory leak",
                th.elements_error
            ));
        } else {
            msg.push_str("; one kalloc size class holding this much of the zone memory is a sign of a leak");
        }
        msg.push('.');
        if t.redacted {
            if bytes.is_some() {
                msg.push_str(
                    " Sizes were redacted (zprint run without root on macOS 13.3 or later): bytes are \
                     estimated as in-use elements × element size; run `sudo zprint` for the real sizes.",
                );
            } else {
                msg.push_str(
                    " Sizes were redacted (zprint run without root on macOS 13.3 or later): only the \
                     element count was checked; run `sudo zprint` for sizes.",
                );
            }
        }
        let remedy = if let Some(k) = leak {
            let fixed = k.fixed_in.unwrap_or("a later macOS update");
            msg.push_str(&format!(" This is build {}, which has the known leak: {}.", build.unwrap_or(""), k.summary));
            format!(
                "Install the {fixed} from Software Update; it fixes this leak. Until then, restart \
                 before the zone map fills (the leak is fastest with virtual machines running) and \
                 save work often."
            )
        } else {
            "Find what is leaking: run `sudo zprint -t` a few times and watch this zone's in-use \
             count and lifetime allocations; unload third-party kexts one at a time (`sudo kextunload \
             -b <bundle id>`, or `sudo kmutil unload -b <bundle id>` on macOS 11 and later) until it \
             stops growing; check /Library/Logs/DiagnosticReports for panics that blame this zone. A \
             restart returns the memory."
                .to_string()
        };
        let mut f = Finding::new("ZN001", z.name.clone(), msg)
            .severity(severity)
            .with("zone", z.name.clone())
            .with("elem_size", opt(z.elem_size))
            .with("inuse", opt(z.inuse))
            .with("cur_bytes", opt(z.cur_bytes))
            .with("share", share.map_or(Value::Null, |s| json!(round3(s))))
            .with("total_bytes", total)
            .with("build", build.map_or(Value::Null, Value::from))
            .with("redacted", t.redacted);
        if t.redacted {
            f = f.with("estimated_bytes", opt(bytes));
        }
        if let Some(k) = leak {
            f = f.with("known_issue", k.id);
        }
        out.push(f.remedy(remedy));
    }
    crate::findings::sort(&mut out);
    out
}

/// Zones keyed by name; a repeated name (two zones cut to the same 24
/// characters) gets its occurrence number so that samples still line up.
fn keyed(t: &ZoneTable) -> HashMap<(String, usize), &Zone> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = HashMap::new();
    for z in &t.zones {
        let n = seen.entry(z.name.as_str()).or_insert(0);
        out.insert((z.name.clone(), *n), z);
        *n += 1;
    }
    out
}

/// The keys of `first` in table order.
fn keys_in_order(first: &ZoneTable) -> Vec<(String, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    first
        .zones
        .iter()
        .map(|z| {
            let n = seen.entry(z.name.as_str()).or_insert(0);
            let k = (z.name.clone(), *n);
            *n += 1;
            k
        })
        .collect()
}

/// How one zone moved over a window of samples.
#[derive(Debug)]
struct Growth {
    /// `inuse` or `cur_bytes`: the series tested for monotonic growth.
    metric: &'static str,
    first_inuse: Option<u64>,
    last_inuse: Option<u64>,
    first_bytes: Option<u64>,
    last_bytes: Option<u64>,
    /// In-use growth over the window.
    elements: u64,
    /// Byte growth: the larger of the `cur size` growth and the in-use growth
    /// × element size.
    bytes: u64,
    samples: usize,
    series: Vec<u64>,
}

/// The growth of `zones` (one per sample, oldest first) if its in-use count
/// (or, without counts, its bytes) strictly rises at every step and the rise
/// is meaningful: at least [`GROWTH_MIN_RATIO`] of the first value, and at
/// least [`GROWTH_MIN_BYTES`] or [`GROWTH_MIN_ELEMENTS`].
fn growth(zones: &[&Zone]) -> Option<Growth> {
    let (first, last) = (zones.first()?, zones.last()?);
    if zones.len() < 2 {
        return None;
    }
    let (metric, series): (&'static str, Vec<u64>) =
        if let Some(s) = zones.iter().map(|z| z.inuse).collect::<Option<Vec<u64>>>() {
            ("inuse", s)
        } else {
            ("cur_bytes", zones.iter().map(|z| z.cur_bytes).collect::<Option<Vec<u64>>>()?)
        };
    if !series.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let (s0, s1) = (*series.first()?, *series.last()?);
    let rise = s1 - s0;
    if s0 > 0 && (rise as f64) < GROWTH_MIN_RATIO * s0 as f64 {
        return None;
    }
    let elements = match (first.inuse, last.inuse) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let by_cur = match (first.cur_bytes, last.cur_bytes) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let by_used = elements.saturating_mul(last.elem_size.unwrap_or(0));
    let bytes = by_cur.max(by_used);
    if bytes < GROWTH_MIN_BYTES && elements < GROWTH_MIN_ELEMENTS {
        return None;
    }
    Some(Growth {
        metric,
        first_inuse: first.inuse,
        last_inuse: last.inuse,
        first_bytes: first.bytes(),
        last_bytes: last.bytes(),
        elements,
        bytes,
        samples: zones.len(),
        series,
    })
}

/// The zones of `samples` that grow (see [`growth`]), with their growth, in
/// the first sample's order. Zones missing from any sample are left out.
fn growing(samples: &[ZoneTable]) -> Vec<(String, Growth, Option<u64>)> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    let maps: Vec<_> = samples.iter().map(keyed).collect();
    let mut out = Vec::new();
    for key in keys_in_order(first) {
        let Some(zones) = maps.iter().map(|m| m.get(&key).copied()).collect::<Option<Vec<&Zone>>>() else {
            continue;
        };
        if let Some(g) = growth(&zones) {
            let elem = zones.last().and_then(|z| z.elem_size);
            out.push((key.0, g, elem));
        }
    }
    out
}

/// ZN002 (warning) over `samples` (oldest first, at least
/// `th.growth_samples` of them): a zone whose in-use count — or, where there
/// are no counts, its `cur size` — strictly increases from every sample to
/// the next over the whole window, by at least 5 % of its first value and by
/// at least 1 MiB or 10 000 elements ([`GROWTH_MIN_RATIO`],
/// [`GROWTH_MIN_BYTES`], [`GROWTH_MIN_ELEMENTS`]). Any zone, not only kalloc.
pub fn growth_findings(samples: &[ZoneTable], th: &Thresholds) -> Vec<Finding> {
    if samples.len() < th.growth_samples.max(2) {
        return Vec::new();
    }
    let leak = crate::known_issues::KNOWN_ISSUES.iter().find(|k| k.id == ZONE_LEAK_ISSUE);
    let mut out = Vec::new();
    for (name, g, elem) in growing(samples) {
        let steps = (g.samples - 1) as f64;
        let per_elements = g.elements as f64 / steps;
        let per_bytes = g.bytes as f64 / steps;
        let what = if g.metric == "inuse" {
            format!(
                "in-use count rose at each of {} samples, {} → {} (+{} elements, +{})",
                g.samples,
                num(g.first_inuse),
                num(g.last_inuse),
                g.elements,
                human_bytes(g.bytes)
            )
        } else {
            format!(
                "size rose at each of {} samples, {} → {} (+{})",
                g.samples,
                g.first_bytes.map_or("-".into(), human_bytes),
                g.last_bytes.map_or("-".into(), human_bytes),
                human_bytes(g.bytes)
            )
        };
        let msg = format!("Zone {name}'s {what}: memory that is allocated and never freed is a leak in progress.");
        let mut remedy = "Keep sampling (`sudo zprint` a few minutes apart) to confirm it never falls; \
             then find the kext responsible: unload third-party kexts one at a time until the count \
             stops rising, and check /Library/Logs/DiagnosticReports for zone-map panics that name \
             this zone. A restart returns the memory."
            .to_string();
        if is_kalloc_zone(&name)
            && let Some(k) = leak
        {
            remedy.push_str(&format!(
                " On macOS 10.15.6 (19G73) this is the known kalloc leak, fixed by the {}.",
                k.fixed_in.unwrap_or("next update")
            ));
        }
        let f = Finding::new("ZN002", name.clone(), msg)
            .with("zone", name.clone())
            .with("elem_size", opt(elem))
            .with("metric", g.metric)
            .with("samples", g.samples)
            .with("first_inuse", opt(g.first_inuse))
            .with("last_inuse", opt(g.last_inuse))
            .with("first_bytes", opt(g.first_bytes))
            .with("last_bytes", opt(g.last_bytes))
            .with("growth_per_sample_elements", json!(round1(per_elements)))
            .with("growth_per_sample_bytes", json!(round1(per_bytes)))
            .with("series", g.series.clone())
            .remedy(remedy);
        out.push(f);
    }
    crate::findings::sort(&mut out);
    out
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

// ---------------------------------------------------------------------------
// Rendering

/// `1536` → `1.5 KiB`; bytes below 1 KiB are exact.
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if b < KIB {
        return format!("{b} B");
    }
    let mut v = b as f64 / KIB as f64;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A signed byte difference, `+12.0 MiB` / `-3.0 KiB` / `+0 B`.
fn human_delta(now: u64, then: u64) -> String {
    if now >= then { format!("+{}", human_bytes(now - then)) } else { format!("-{}", human_bytes(then - now)) }
}

fn count_delta(now: u64, then: u64) -> String {
    if now >= then { format!("+{}", now - then) } else { format!("-{}", then - now) }
}

fn num(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

/// Zones by bytes, biggest first (ties by name).
fn by_bytes(t: &ZoneTable) -> Vec<&Zone> {
    let mut zones: Vec<&Zone> = t.zones.iter().collect();
    zones.sort_by(|a, b| b.bytes().unwrap_or(0).cmp(&a.bytes().unwrap_or(0)).then_with(|| a.name.cmp(&b.name)));
    zones
}

/// Findings grouped by severity, in the style of `kcheck verify`.
fn write_findings(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    crate::report::write_findings(out, findings)
}

/// The table (the `top` zones by bytes) and the findings, for people.
pub fn write_text(out: &mut dyn Write, t: &ZoneTable, findings: &[Finding], top: usize) -> io::Result<()> {
    let total = t.total_bytes();
    writeln!(out, "zprint: {} zones ({} layout), {} in all", t.zones.len(), t.format, human_bytes(total))?;
    if t.redacted {
        write!(
            out,
            "{}",
            crate::report::wrap(
                "Sizes are redacted (zprint run without root on macOS 13.3 or later): bytes below \
                 are in-use elements × element size. Run `sudo zprint` for the real sizes.",
                80,
                ""
            )
        )?;
    }
    if !t.issues.is_empty() {
        writeln!(out, "{} line(s) skipped:", t.issues.len())?;
        for i in t.issues.iter().take(5) {
            writeln!(out, "  line {}: {}", i.line, i.message)?;
        }
    }
    writeln!(out)?;
    let shown = by_bytes(t);
    let rows: Vec<Vec<String>> = shown
        .iter()
        .take(top)
        .map(|z| {
            let share = match z.bytes() {
                Some(b) if total > 0 => format!("{:.1}%", b as f64 * 100.0 / total as f64),
                _ => "-".into(),
            };
            vec![
                z.name.clone(),
                num(z.elem_size),
                z.cur_bytes.map_or_else(|| "-".into(), human_bytes),
                num(z.inuse),
                z.used_bytes().map_or_else(|| "-".into(), human_bytes),
                share,
                z.flags.clone(),
            ]
        })
        .collect();
    crate::report::write_table(out, &["ZONE", "ELEM", "CUR SIZE", "IN USE", "USED", "SHARE", "FLAGS"], &rows)?;
    if shown.len() > top {
        writeln!(out, "({} more zones)", shown.len() - top)?;
    }
    if findings.is_empty() {
        writeln!(out)?;
        write!(
            out,
            "{}",
            crate::report::wrap(
                "No findings: no kalloc zone holds an outsized share of memory or an outsized \
                 number of elements.",
                80,
                ""
            )
        )?;
    } else {
        write_findings(out, findings)?;
    }
    Ok(())
}

/// `zones --json`: `{"zones": [...], "findings": [...]}`.
pub fn to_json(t: &ZoneTable, findings: &[Finding]) -> Value {
    json!({"zones": t.zones, "findings": findings})
}

// ---------------------------------------------------------------------------
// Watch

/// `HH:MM:SS UTC` now (no time-zone database needed).
fn clock() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Sample `zprint` `samples` times, `interval` apart (`sleep` does the
/// waiting, so tests need not), report each sample as it comes — a live view
/// redrawn in place (`live_view`) or one plain line per sample — and return
/// ZN002 over all samples plus ZN001 of the last one.
///
/// `sample` returns zprint's standard output, or a message when zprint could
/// not be run; that message ends the watch as an I/O error on `zprint`.
pub fn watch(
    sample: &mut dyn FnMut() -> Result<String, String>,
    interval: Duration,
    samples: usize,
    th: &Thresholds,
    out: &mut dyn Write,
    live_view: bool,
    sleep: &mut dyn FnMut(Duration),
) -> Result<Vec<Finding>, Error> {
    if samples == 0 {
        return Err(Error::Unsupported("zones watch needs at least one sample".into()));
    }
    let mut tables: Vec<ZoneTable> = Vec::new();
    for i in 0..samples {
        if i > 0 {
            sleep(interval);
        }
        let text = sample().map_err(|msg| Error::Io { path: "zprint".into(), source: io::Error::other(msg) })?;
        let t = parse(&text).map_err(|e| Error::Format { path: "zprint".into(), source: e })?;
        tables.push(t);
        let elapsed = interval.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        let r = if live_view { write_live(out, &tables, samples, elapsed) } else { write_plain(out, &tables, samples) };
        r.map_err(Error::Output)?;
        out.flush().map_err(Error::Output)?;
    }
    let mut findings = growth_findings(&tables, th);
    if let Some(last) = tables.last() {
        findings.extend(sample_findings(last, th, None));
    }
    crate::findings::sort(&mut findings);
    Ok(findings)
}

/// Names of the zones growing so far (monotonic and meaningful, over every
/// sample yet; at least two).
fn growing_names(tables: &[ZoneTable]) -> Vec<String> {
    if tables.len() < 2 {
        return Vec::new();
    }
    growing(tables).into_iter().map(|(n, _, _)| n).collect()
}

/// `sample 3/10: total 1.2 GiB; top kalloc.48 512.0 MiB (+12.0 MiB); growing: kalloc.48`
fn write_plain(out: &mut dyn Write, tables: &[ZoneTable], n: usize) -> io::Result<()> {
    let (Some(first), Some(t)) = (tables.first(), tables.last()) else {
        return Ok(());
    };
    let mut line = format!("sample {}/{n}: total {}", tables.len(), human_bytes(t.total_bytes()));
    if t.redacted {
        line.push_str(" (redacted: in use × element size)");
    }
    if let Some(z) = by_bytes(t).first() {
        let now = z.bytes().unwrap_or(0);
        let then = first.zones.iter().find(|f| f.name == z.name).and_then(Zone::bytes).unwrap_or(0);
        line.push_str(&format!("; top {} {} ({})", z.name, human_bytes(now), human_delta(now, then)));
    }
    let growing = growing_names(tables);
    let list = if growing.is_empty() {
        "none".to_string()
    } else if growing.len() > 5 {
        format!("{} and {} more", growing[..5].join(", "), growing.len() - 5)
    } else {
        growing.join(", ")
    };
    line.push_str(&format!("; growing: {list}"));
    writeln!(out, "{line}")
}

/// The live view: clear the screen, a header, the top zones with their
/// change since the first sample, growing zones marked.
fn write_live(out: &mut dyn Write, tables: &[ZoneTable], n: usize, elapsed: Duration) -> io::Result<()> {
    let (Some(first), Some(t)) = (tables.first(), tables.last()) else {
        return Ok(());
    };
    write!(out, "\x1b[H\x1b[2J")?;
    writeln!(
        out,
        "zprint watch: sample {}/{n}, t+{}s, {}; total {}{}",
        tables.len(),
        elapsed.as_secs(),
        clock(),
        human_bytes(t.total_bytes()),
        if t.redacted { " (redacted: in use × element size; run as root for sizes)" } else { "" }
    )?;
    writeln!(out)?;
    let growing = growing_names(tables);
    let before = keyed(first);
    let rows: Vec<Vec<String>> = by_bytes(t)
        .into_iter()
        .take(LIVE_TOP)
        .map(|z| {
            let then = before.get(&(z.name.clone(), 0));
            let bytes = z.bytes().unwrap_or(0);
            let (d_inuse, d_bytes) = match then {
                Some(f) => (
                    match (z.inuse, f.inuse) {
                        (Some(a), Some(b)) => count_delta(a, b),
                        _ => "-".into(),
                    },
                    human_delta(bytes, f.bytes().unwrap_or(0)),
                ),
                None => ("new".into(), "new".into()),
            };
            let mark = if growing.contains(&z.name) { "<< growing" } else { "" };
            vec![z.name.clone(), num(z.elem_size), num(z.inuse), d_inuse, human_bytes(bytes), d_bytes, mark.to_string()]
        })
        .collect();
    crate::report::write_table(out, &["ZONE", "ELEM", "IN USE", "Δ IN USE", "BYTES", "Δ BYTES", ""], &rows)?;
    if !growing.is_empty() {
        writeln!(out, "\ngrowing at every sample so far: {}", growing.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "                            elem         cur         max        cur         max         cur  alloc  alloc    \n\
zone name                   size        size        size      #elts       #elts       inuse   size  count    \n\
-------------------------------------------------------------------------------------------------------------\n";

    #[test]
    fn kalloc_names_of_every_era() {
        for n in [
            "kalloc.16",
            "kalloc.48",
            "default.kalloc.48",
            "data.kalloc.1024",
            "kext.kalloc.64",
            "shared.kalloc.32",
            "data_shared.kalloc.128",
            "early.kalloc.16",
            "kalloc.type3.128",
            "kalloc.type.var1.64",
            "kalloc.type.var12.$",
            "data.kalloc.16$",
        ] {
            assert!(is_kalloc_zone(n), "{n}");
        }
        for n in [
            "vm.objects",
            "kalloc",
            "kalloc.large",
            "Kalloc.Large",
            "ipc.ports",
            "data.kalloc.16[raw]",
            "x.y.kalloc.16",
            "kalloc.type3",
            "",
        ] {
            assert!(!is_kalloc_zone(n), "{n}");
        }
    }

    #[test]
    fn values_and_flags() {
        for v in ["0", "48", "10868K", "1.5M", "-------", "-", "12B", "3G"] {
            assert!(is_value(v), "{v}");
        }
        for v in ["K", "abc", "1.", ".5", "1.2.3", "kalloc.48", "C", "12KB"] {
            assert!(!is_value(v), "{v}");
        }
        assert!(is_flags("C") && is_flags("XC") && is_flags("XAC"));
        assert!(!is_flags("XACX") && !is_flags("c") && !is_flags(""));
        assert_eq!(column_value("10868K", Column::CurSize), Ok(Some(10868 * 1024)));
        assert_eq!(column_value("10868", Column::CurSize), Ok(Some(10868 * 1024)));
        assert_eq!(column_value("1.5M", Column::CurSize), Ok(Some(3 * MIB / 2)));
        assert_eq!(column_value("-------", Column::MaxSize), Ok(None));
        assert_eq!(column_value("512B", Column::FragSize), Ok(Some(512)));
        assert_eq!(column_value("12K", Column::Inuse), Err(()));
        assert_eq!(column_value("48K", Column::ElemSize), Err(()));
        assert_eq!(column_value("99999999999999999999K", Column::CurSize), Ok(None));
        assert_eq!(column_value("99999999999999999K", Column::CurSize), Ok(None));
    }

    #[test]
    fn default_layout_row() {
        let text = format!(
            "{HEADER}kalloc.48                     48      10868K      13301K     231850      283754      223454     4K     85  C\n"
        );
        let t = parse(&text).unwrap();
        assert_eq!(t.format, "columns");
        assert!(!t.redacted);
        let z = &t.zones[0];
        assert_eq!(z.name, "kalloc.48");
        assert_eq!(z.elem_size, Some(48));
        assert_eq!(z.cur_bytes, Some(10868 * 1024));
        assert_eq!(z.max_bytes, Some(13301 * 1024));
        assert_eq!(z.cur_elements, Some(231850));
        assert_eq!(z.max_elements, Some(283754));
        assert_eq!(z.inuse, Some(223454));
        assert_eq!(z.alloc_size, Some(4096));
        assert_eq!(z.alloc_count, Some(85));
        assert_eq!(z.flags, "C");
        assert_eq!(z.line, 4);
    }

    #[test]
    fn name_ending_in_flag_letter_and_numeric_words() {
        let text = format!(
            "{HEADER}zone C                        48      10868K      13301K     231850      283754      223454     4K     85\n\
             mbuf 256                     256        100K        200K        400         800         390     4K     16  XC\n"
        );
        let t = parse(&text).unwrap();
        assert_eq!(t.zones[0].name, "zone C");
        assert_eq!(t.zones[0].flags, "");
        assert_eq!(t.zones[1].name, "mbuf 256");
        assert_eq!(t.zones[1].flags, "XC");
        assert_eq!(t.zones[1].elem_size, Some(256));
    }

    #[test]
    fn wrapped_row_is_joined_both_ways() {
        // Broken at a gap.
        let text = format!(
            "{HEADER}kalloc.48                     48      10868K      13301K\n     231850      283754      223454     4K     85  C\nkalloc.64   64   100K   200K   160\n0   3200   1500   4K   64  C\n"
        );
        let t = parse(&text).unwrap();
        assert_eq!(t.zones.len(), 2, "{t:?}");
        assert_eq!(t.zones[0].inuse, Some(223454));
        // Broken inside `1600`.
        assert_eq!(t.zones[1].cur_elements, Some(1600));
        assert_eq!(t.zones[1].inuse, Some(1500));
        assert!(t.issues.is_empty());
    }

    #[test]
    fn garbage_inside_a_row_is_an_error_with_line_and_offset() {
        let text = format!(
            "{HEADER}kalloc.16   16   17320K   19951K   1108480   1276896   1060838   4K   256  C\nkalloc.48   48   10868K   xyz   231850   283754   223454   4K   85  C\n"
        );
        let e = parse(&text).unwrap_err();
        assert_eq!(e.layer, "zprint");
        assert!(e.message.starts_with("line 5:"), "{e}");
        assert!(e.message.contains("xyz"), "{e}");
        let line5 = text.split_inclusive('\n').take(4).map(str::len).sum::<usize>();
        assert_eq!(e.offset, line5 as u64);
    }

    #[test]
    fn nothing_recognisable() {
        let e = parse("hello\nworld\n").unwrap_err();
        assert!(e.message.contains("no zprint zone table"), "{e}");
        assert_eq!(parse("").unwrap_err().offset, 0);
        let e = parse("zprint: mach_memory_info: (os/kern) protection failure (try running as root)\n").unwrap_err();
        assert!(e.message.contains("try running as root"), "{e}");
    }

    #[test]
    fn header_only_is_an_empty_table() {
        let t = parse(HEADER).unwrap();
        assert!(t.zones.is_empty());
    }

    #[test]
    fn growth_rule() {
        let z = |inuse: u64| Zone {
            name: "kalloc.48".into(),
            elem_size: Some(48),
            cur_bytes: Some(inuse * 48),
            inuse: Some(inuse),
            ..Zone::default()
        };
        let grow: Vec<Zone> = [100_000, 120_000, 140_000].map(z).to_vec();
        let refs: Vec<&Zone> = grow.iter().collect();
        let g = growth(&refs).unwrap();
        assert_eq!(g.elements, 40_000);
        assert_eq!(g.bytes, 40_000 * 48);
        // Flat step: not monotonic.
        let flat: Vec<Zone> = [100_000, 120_000, 120_000].map(z).to_vec();
        assert!(growth(&flat.iter().collect::<Vec<_>>()).is_none());
        // Under 5 %.
        let small: Vec<Zone> = [10_000_000, 10_100_000, 10_200_000].map(z).to_vec();
        assert!(growth(&small.iter().collect::<Vec<_>>()).is_none());
        // Too little in absolute terms.
        let tiny: Vec<Zone> = [100, 200, 300].map(z).to_vec();
        assert!(growth(&tiny.iter().collect::<Vec<_>>()).is_none());
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(512 * MIB), "512.0 MiB");
        assert_eq!(human_bytes(1288490189), "1.2 GiB");
        assert_eq!(human_delta(5, 5), "+0 B");
        assert_eq!(human_delta(0, 3 * KIB), "-3.0 KiB");
    }

    /// Tiny deterministic generator for the no-panic test.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
            v[(self.next() % v.len() as u64) as usize]
        }
    }

    #[test]
    fn never_panics_on_garbled_input() {
        let vocab = [
            "kalloc.48",
            "data.kalloc.1024",
            "vm",
            "objects",
            "48",
            "0",
            "10868K",
            "0K",
            "-------",
            "-",
            "C",
            "XC",
            "1.5M",
            "99999999999999999999999K",
            "zone",
            "name",
            "size",
            "#elts",
            "inuse",
            "allocs",
            "elem",
            "cur",
            "zone:",
            "cur_size:",
            "(12",
            "elements)",
            "ZONE",
            "TOTALS",
            "------------------------------------",
            "é",
            "\t",
            "$",
            "12B",
            "18446744073709551615",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let base = format!(
            "{HEADER}kalloc.48   48   10868K   13301K   231850   283754   223454   4K   85  C\nkalloc.16 zone:\n\tcur_size: 1K bytes (64 elements)\n"
        );
        for round in 0..3000u32 {
            let mut text = String::new();
            if round.is_multiple_of(3) {
                text.push_str(&base);
            }
            let nlines = rng.next() % 12;
            for _ in 0..nlines {
                let nt = rng.next() % 14;
                for _ in 0..nt {
                    text.push_str(rng.pick(&vocab));
                    text.push_str(if rng.next().is_multiple_of(4) { "" } else { " " });
                }
                text.push('\n');
            }
            if round.is_multiple_of(5) {
                // Cut at a random char boundary.
                let cut = (rng.next() as usize) % (text.len() + 1);
                let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
                text.truncate(cut);
            }
            if let Ok(t) = parse(&text) {
                let th = Thresholds::default();
                let f = sample_findings(&t, &th, Some("19G73"));
                let _ = growth_findings(&[t.clone(), t.clone(), t.clone()], &th);
                let mut sink = Vec::new();
                write_text(&mut sink, &t, &f, 10).unwrap();
                let _ = to_json(&t, &f);
            }
        }
    }
}
