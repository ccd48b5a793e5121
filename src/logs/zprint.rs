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
//! Not done here: running `zprint` (`kcheck zones --watch` hands [`crate::app::zones::watch`] a sampler) and
//! the panic log's own zone table (that is the panic reader's job).

use serde::Serialize;

use crate::error::FormatError;

/// One KiB.
pub const KIB: u64 = 1024;
/// One MiB.
pub const MIB: u64 = 1024 * 1024;

/// Rows with fewer values than this (and no continuation line) are not
/// zones: `elem size` … `cur inuse` are the six columns a checker needs.
const MIN_PARTIAL_VALUES: usize = 6;

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

/// The most lines read: real zprint output has a few hundred to a few
/// thousand. A bound keeps memory linear in a sane input, not in a 256 MiB
/// file of empty lines.
pub const MAX_LINES: usize = 1_000_000;
/// The longest line read; longer lines are not zprint output.
pub const MAX_LINE_BYTES: usize = 64 << 10;

fn lines_of(text: &str) -> Result<Vec<Line<'_>>, FormatError> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let t = raw.strip_suffix('\n').unwrap_or(raw);
        let t = t.strip_suffix('\r').unwrap_or(t);
        let line = Line { no: i + 1, offset, text: t };
        if i >= MAX_LINES {
            return Err(err(&line, format!("more than {MAX_LINES} lines: not zprint output")));
        }
        if t.len() > MAX_LINE_BYTES {
            return Err(err(&line, format!("longer than {MAX_LINE_BYTES} bytes: not zprint output")));
        }
        out.push(line);
        offset += raw.len() as u64;
    }
    Ok(out)
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
    let lines = lines_of(text)?;
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
        // zprint's own error, e.g. `zprint: mach_memory_info: …`; not any line that mentions zprint.
        if let Some(l) = lines.iter().find(|l| l.text.contains("mach_memory_info") || is_zprint_error(l.text)) {
            return Err(err(l, format!("zprint failed: {}", l.text.trim())));
        }
        return Err(err(
            &first,
            "not zprint output: no zone table found (no `zone name` header, `<name> zone:` block or zone rows)",
        ));
    };
    mark_redacted(&mut table);
    Ok(table)
}

/// A line zprint writes when it fails: `zprint: <call>: <reason>`.
fn is_zprint_error(line: &str) -> bool {
    line.trim_start()
        .strip_prefix("zprint: ")
        .and_then(|rest| rest.split_whitespace().next())
        .is_some_and(|call| call.len() > 1 && call.ends_with(':'))
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

/// Round to one decimal.
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

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
        assert!(e.message.contains("not zprint output: no zone table found"), "{e}");
        let e = parse("zprint: 25 zones (columns layout), 230.2 MiB in all\n").unwrap_err();
        assert!(e.message.contains("not zprint output"), "{e}");
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
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(512 * MIB), "512.0 MiB");
        assert_eq!(human_bytes(1288490189), "1.2 GiB");
    }
}
