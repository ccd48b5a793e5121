//! Kernel panic reports: read one into a [`PanicReport`] and find them in a
//! `DiagnosticReports` folder ([`find_reports`]). The rules over them
//! (PN001–PN003) are in [`crate::check::panics`], rendering in
//! [`crate::report::panic`].
//!
//! Forms handled (detected by content, never by file name; research note
//! `zones-panics.md` §2):
//! - the plain-text paniclog of Intel Macs (≤ 10.14 `.panic`, and the log
//!   quoted in forum posts): optional reporter header (`Anonymous UUID`,
//!   ctime date, `*** Panic Report ***`), `panic(cpu N caller 0x…): …`,
//!   backtrace, `Kernel Extensions in backtrace:`, process line,
//!   `Mac OS version:` / `Kernel version:` (value on the next line),
//!   `last loaded kext at …`, `loaded kexts:` with compacted ids
//!   (`>!AHDA` → `com.apple.driver.AppleHDA`, see [`expand_bundle_id`]);
//! - the Apple-silicon paniclog (`OS version: <build>` and
//!   `Kernel version: …` on one line, `Panicked task … pid N: name`,
//!   `last started kext at …`, full ids);
//! - the two-JSON-object `.panic` / `.ips` file (10.15+): a header object
//!   (`bug_type` `"210"`, `timestamp`, `os_version`) followed by a body with
//!   `macOSPanicString` (Intel, format `json-intel`) or `panicString`
//!   (Apple silicon / bridgeOS, format `json-arm`); the log inside is then
//!   read as text;
//! - excerpts that start mid-report (any one recognisable block is enough)
//!   and panic messages hard-wrapped onto several lines by mail or forum
//!   tools (joined with a space until the `@file:line` that ends them).
//!
//! Classes: `zone-exhaustion` (every generation of the zone-map message,
//! from the ≤ 10.8 `zalloc: "zone" (N elements) retry fail` to the 13+
//! `zalloc[3]: zone map exhausted … [data.kalloc.1024] (19G, N elements
//! allocated)`; the leaking zone, element count and size are extracted, a
//! size printed with a unit is converted to bytes with 1024-based units),
//! `zone-corruption` (element modified after free and friends), `watchdog`,
//! `trap` (kernel trap, page fault, data abort…) and `other`.
//!
//! `build` is the build that *panicked*: the log's own `Mac OS version:` /
//! `OS version:` line, then the JSON body's `build`, then the JSON header's
//! `os_version`. The header names the system that *wrote* the report, which
//! can differ (the real 10.15.7 `.panic` in realdata holds a 21G651 panic
//! from a multi-boot Mac); it is kept as `reporter_build`.
//!
//! Findings on history: when a report's build differs from the installed
//! one, PN003 (info) says so, and PN001 / PN002 for that report keep their
//! severity (a zone exhaustion or a third-party kext in a backtrace is still
//! worth acting on: the kext is probably still installed) but carry
//! `"current": false` in their evidence and say "from an earlier build" in
//! their message. `current` is `true` when the builds match and `null` when
//! either is unknown.
//!
//! Hand-written string scanning: no crate parses paniclogs, and the shapes
//! vary too much across 15 years of xnu for one grammar. Nothing here
//! panics on any input; text that holds no recognisable panic block and
//! broken JSON are [`FormatError`]s in layer `panic`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::FormatError;

/// Layer name used in every [`FormatError`] of this module.
const LAYER: &str = "panic";

/// How the report file was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanicFormat {
    /// A plain-text paniclog (or an excerpt of one).
    Text,
    /// Two JSON objects, the log in the body's `macOSPanicString`.
    JsonIntel,
    /// Two JSON objects, the log in the body's `panicString`.
    JsonArm,
}

impl PanicFormat {
    /// The name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            PanicFormat::Text => "text",
            PanicFormat::JsonIntel => "json-intel",
            PanicFormat::JsonArm => "json-arm",
        }
    }
}

/// What kind of panic it was, from the panic message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PanicClass {
    /// The zone map ran out: a kernel memory leak.
    ZoneExhaustion,
    /// A zone element was corrupted (modified after free, double free…).
    ZoneCorruption,
    /// A watchdog fired (kernel or userspace, e.g. WindowServer).
    Watchdog,
    /// A CPU trap in the kernel (page fault, general protection, abort).
    Trap,
    /// Anything else, or no panic message in the text.
    Other,
}

impl PanicClass {
    /// The name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            PanicClass::ZoneExhaustion => "zone-exhaustion",
            PanicClass::ZoneCorruption => "zone-corruption",
            PanicClass::Watchdog => "watchdog",
            PanicClass::Trap => "trap",
            PanicClass::Other => "other",
        }
    }
}

/// A kext named in the `Kernel Extensions in backtrace:` block, or as the
/// owner of a symbolised backtrace frame (then without version and UUID).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BacktraceKext {
    /// Full bundle id.
    pub bundle_id: String,
    /// Version as the kernel printed it.
    pub version: Option<String>,
    /// LC_UUID of the kext's executable.
    pub uuid: Option<String>,
    /// The bundle id does not start with `com.apple.`.
    pub third_party: bool,
}

/// A kext in the `last loaded kext` line or the `loaded kexts:` list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KextEntry {
    /// Full (expanded) bundle id.
    pub bundle_id: String,
    /// Version as printed (may contain a space, e.g. `14.0.1 45154`).
    pub version: Option<String>,
    /// The bundle id does not start with `com.apple.`.
    pub third_party: bool,
}

/// One panic report: design.md's `panic --json` report object, plus a few
/// fields after `loaded_kexts`. Absent facts are `None` / empty.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PanicReport {
    /// The file it was read from, as given.
    pub file: String,
    /// How the file was written.
    pub format: PanicFormat,
    /// When: the JSON header's `timestamp` (or body `date`), else the
    /// reporter's ctime line (`Mon Oct 29 13:57:35 2018`), as written.
    pub timestamp: Option<String>,
    /// The bare build that panicked (`19G73`, `24F74`).
    pub build: Option<String>,
    /// Full `Darwin Kernel Version …` string.
    pub kernel_version: Option<String>,
    /// What kind of panic.
    pub panic_class: PanicClass,
    /// The panic message: one line, quotes and source location removed.
    pub panic_message: Option<String>,
    /// Zone exhaustion: the zone blamed for the leak.
    pub leak_zone: Option<String>,
    /// Zone exhaustion: elements allocated in the leak zone.
    pub leak_elements: Option<u64>,
    /// Zone exhaustion: bytes held by the leak zone (from `N total bytes`
    /// exactly, or from a size with a unit such as `19G`, 1024-based).
    pub leak_bytes: Option<u64>,
    /// The process current on the panicking CPU.
    pub process: Option<String>,
    /// Kexts in the backtrace.
    pub kexts_in_backtrace: Vec<BacktraceKext>,
    /// The `last loaded kext` (Intel ≤ 10.15) or `last started kext` (11+).
    pub last_loaded_kext: Option<KextEntry>,
    /// The `loaded kexts:` list, in log order.
    pub loaded_kexts: Vec<KextEntry>,
    /// `Kernel UUID:`.
    pub kernel_uuid: Option<String>,
    /// The CPU named in the panic line.
    pub panic_cpu: Option<u32>,
    /// `x86_64` or `arm64`, from the kernel version or the caller address.
    pub architecture: Option<String>,
    /// Model id (`MacBookPro16,3`, `J314sAP`…).
    pub model: Option<String>,
    /// xnu version, from the kernel version or the panic's source path.
    pub xnu_version: Option<String>,
    /// Source location the panic message ends with (`zalloc.c:4534`).
    pub panic_location: Option<String>,
    /// Zone exhaustion: the zone that could not allocate (the victim).
    pub allocating_zone: Option<String>,
    /// Zone exhaustion: the size exactly as printed (`19G`,
    /// `6586956000 total bytes`).
    pub leak_size: Option<String>,
    /// Zone corruption: the zone whose element was damaged.
    pub corrupted_zone: Option<String>,
    /// JSON forms: the header's `os_version` (the system that wrote the
    /// report).
    pub reporter_os_version: Option<String>,
    /// JSON forms: the bare build of `reporter_os_version`.
    pub reporter_build: Option<String>,
}

impl PanicReport {
    fn empty(file: &str, format: PanicFormat) -> PanicReport {
        PanicReport {
            file: file.to_string(),
            format,
            timestamp: None,
            build: None,
            kernel_version: None,
            panic_class: PanicClass::Other,
            panic_message: None,
            leak_zone: None,
            leak_elements: None,
            leak_bytes: None,
            process: None,
            kexts_in_backtrace: Vec::new(),
            last_loaded_kext: None,
            loaded_kexts: Vec::new(),
            kernel_uuid: None,
            panic_cpu: None,
            architecture: None,
            model: None,
            xnu_version: None,
            panic_location: None,
            allocating_zone: None,
            leak_size: None,
            corrupted_zone: None,
            reporter_os_version: None,
            reporter_build: None,
        }
    }

    /// The third-party kexts in the backtrace.
    pub fn third_party_in_backtrace(&self) -> impl Iterator<Item = &BacktraceKext> {
        self.kexts_in_backtrace.iter().filter(|k| k.third_party)
    }
}

// ---------------------------------------------------------------------------
// Bundle ids

/// Prefix codes of xnu `libkern/libkern/kext_panic_report.h`, applied at
/// position 0 only (first match wins when compacting).
const PREFIX_CODES: &[(char, &str)] =
    &[('>', "com.apple.driver."), ('|', "com.apple.iokit."), ('$', "com.apple.security."), ('@', "com.apple.")];

/// Substring codes of the same header (`AppleUSB` is tried before `Apple`
/// when compacting; expansion is unambiguous).
const SUBSTRING_CODES: &[(char, &str)] = &[
    ('U', "AppleUSB"),
    ('A', "Apple"),
    ('F', "Family"),
    ('S', "Storage"),
    ('C', "Controller"),
    ('B', "Bluetooth"),
    ('I', "Intel"),
];

/// Expand a bundle id compacted by xnu's panic kext lists
/// (`>!A!IKBLGraphics` → `com.apple.driver.AppleIntelKBLGraphics`). Full
/// ids come back unchanged; an unknown `!x` code is left as it is.
pub fn expand_bundle_id(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 24);
    let mut rest = id;
    if let Some(first) = id.chars().next()
        && let Some((_, prefix)) = PREFIX_CODES.iter().find(|(c, _)| *c == first)
    {
        out.push_str(prefix);
        rest = &id[first.len_utf8()..];
    }
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '!'
            && let Some(&code) = chars.peek()
            && let Some((_, word)) = SUBSTRING_CODES.iter().find(|(k, _)| *k == code)
        {
            out.push_str(word);
            chars.next();
            continue;
        }
        out.push(c);
    }
    out
}

/// A bundle id (expanded) that Apple did not ship.
pub fn is_third_party(bundle_id: &str) -> bool {
    !bundle_id.starts_with("com.apple.")
}

fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '!' | '+')
}

/// A plausible (possibly compacted) bundle id.
fn is_bundle_id(s: &str) -> bool {
    let body = match s.chars().next() {
        Some(c) if PREFIX_CODES.iter().any(|(p, _)| *p == c) => &s[c.len_utf8()..],
        _ => s,
    };
    !body.is_empty() && body.chars().all(is_id_char)
}

fn kext_entry(id: &str, version: Option<&str>) -> KextEntry {
    let bundle_id = expand_bundle_id(id);
    KextEntry {
        third_party: is_third_party(&bundle_id),
        bundle_id,
        version: version.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string),
    }
}

// ---------------------------------------------------------------------------
// Parsing: entry point and JSON form

/// Read one panic report. `file` is only recorded (and used as the subject
/// of findings). Plain text and the two-JSON-object form are told apart by
/// content.
pub fn parse(text: &str, file: &str) -> Result<PanicReport, FormatError> {
    let body = text.trim_start_matches('\u{feff}');
    let lead = text.len() - body.trim_start().len();
    if body.trim_start().starts_with('{') { parse_json(text, lead, file) } else { parse_text(text, file) }
}

/// The most lines a text panic report may have.
pub const MAX_LINES: usize = 1_000_000;

fn parse_text(text: &str, file: &str) -> Result<PanicReport, FormatError> {
    if text.trim().is_empty() {
        return Err(FormatError::new(LAYER, 0, "empty input: no panic report"));
    }
    // A bound keeps memory linear in a sane report (a few thousand lines),
    // not in a 256 MiB file of empty lines.
    if let Some((at, _)) = text.match_indices('\n').nth(MAX_LINES) {
        return Err(FormatError::new(LAYER, at as u64, format!("more than {MAX_LINES} lines: not a panic report")));
    }
    let mut report = PanicReport::empty(file, PanicFormat::Text);
    if !scan_log(text, &mut report) {
        return Err(FormatError::new(
            LAYER,
            0,
            "no panic report found: no panic line, backtrace, kext list or version block",
        ));
    }
    Ok(report)
}

/// Byte offset of serde_json's 1-based (line, column) within `s`.
fn offset_of(s: &str, line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match s[start..].find('\n') {
            Some(p) => start += p + 1,
            None => return s.len(),
        }
    }
    (start + column.saturating_sub(1)).min(s.len())
}

fn json_error(text: &str, base: usize, what: &str, e: &serde_json::Error) -> FormatError {
    let rest = text.get(base..).unwrap_or("");
    let at = base + offset_of(rest, e.line(), e.column());
    FormatError::new(LAYER, at as u64, format!("{what}: {e}"))
}

fn str_field<'a>(v: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `Mac OS X 10.15.7 (19H2026)` → `19H2026`; a bare build is kept.
fn bare_build(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = match (s.rfind('('), s.rfind(')')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s,
    };
    let inner = inner.trim();
    looks_like_build(inner).then(|| inner.to_string())
}

/// `19G73`, `19H2026`, `24F74`, `16G1036`, `21E258`, `12A4345d`.
fn looks_like_build(s: &str) -> bool {
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    let mut rest = s[digits..].chars();
    (1..=3).contains(&digits)
        && rest.next().is_some_and(|c| c.is_ascii_uppercase())
        && s.len() <= 12
        && rest.all(|c| c.is_ascii_alphanumeric())
}

fn parse_json(text: &str, start: usize, file: &str) -> Result<PanicReport, FormatError> {
    let src = text.get(start..).unwrap_or("");
    let mut stream = serde_json::Deserializer::from_str(src).into_iter::<Value>();
    let first = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(json_error(text, start, "bad JSON header", &e)),
        None => return Err(FormatError::new(LAYER, start as u64, "empty JSON input")),
    };
    let after_first = start + stream.byte_offset();
    let Value::Object(first) = first else {
        return Err(FormatError::new(LAYER, start as u64, "JSON header is not an object"));
    };
    let has_log = |m: &Map<String, Value>| m.contains_key("macOSPanicString") || m.contains_key("panicString");
    let (header, body, body_at) = if has_log(&first) {
        (Map::new(), first, start)
    } else {
        match stream.next() {
            Some(Ok(Value::Object(b))) => (first, b, after_first),
            Some(Ok(_)) => {
                return Err(FormatError::new(LAYER, after_first as u64, "JSON body is not an object"));
            }
            Some(Err(e)) => return Err(json_error(text, start, "bad JSON body", &e)),
            None => {
                return Err(FormatError::new(LAYER, after_first as u64, "JSON header without a report body"));
            }
        }
    };
    let mac = str_field(&body, "macOSPanicString");
    let arm = str_field(&body, "panicString");
    let (format, log) = match (mac, arm) {
        (Some(m), _) if m.contains("panic(") || m.contains("Kernel version") => (PanicFormat::JsonIntel, m),
        (_, Some(a)) => (PanicFormat::JsonArm, a),
        (Some(m), None) => (PanicFormat::JsonIntel, m),
        (None, None) => {
            return Err(FormatError::new(LAYER, body_at as u64, "JSON report has no macOSPanicString or panicString"));
        }
    };
    let mut report = PanicReport::empty(file, format);
    scan_log(log, &mut report);
    report.reporter_os_version = str_field(&header, "os_version").map(str::to_string);
    report.reporter_build = report.reporter_os_version.as_deref().and_then(bare_build);
    report.timestamp = str_field(&header, "timestamp")
        .or_else(|| str_field(&body, "date"))
        .map(str::to_string)
        .or(report.timestamp.take());
    if report.build.is_none() {
        report.build = str_field(&body, "build").and_then(bare_build).or_else(|| report.reporter_build.clone());
    }
    if report.kernel_version.is_none() {
        report.kernel_version = str_field(&body, "kernel").map(str::to_string);
    }
    if report.model.is_none() {
        report.model = str_field(&body, "product").map(str::to_string);
    }
    fill_derived(&mut report);
    Ok(report)
}

// ---------------------------------------------------------------------------
// Parsing: the text log

/// A line with markdown bold (`**…**`) and trailing blanks removed.
fn clean_line(line: &str) -> &str {
    let mut l = line.trim_end();
    if let Some(s) = l.strip_prefix("**") {
        l = s;
    }
    if let Some(s) = l.strip_suffix("**") {
        l = s;
    }
    l
}

/// Lines that start a block of their own: a panic message never continues
/// onto them.
const BLOCK_STARTS: &[&str] = &[
    "Backtrace",
    "Debugger message",
    "Debugger synchronization",
    "Panicked task",
    "Panicked thread",
    "Memory ID",
    "OS release type",
    "OS version",
    "Mac OS version",
    "Kernel version",
    "Kernel UUID",
    "Kernel Extensions in backtrace",
    "BSD process name",
    "Process name corresponding",
    "Boot args",
    "System model name",
    "System uptime",
    "Fault CR2",
    "Attempting to",
    "Epoch Time",
    "Zone info",
    "Compressor Info",
    "loaded kexts",
    "last loaded kext",
    "last started kext",
    "panic(",
    "Panic(",
    "*** Panic Report",
    "Anonymous UUID",
];

fn starts_block(t: &str) -> bool {
    if t.is_empty() || t.starts_with("0x") {
        return true;
    }
    if BLOCK_STARTS.iter().any(|b| t.starts_with(b)) {
        return true;
    }
    // Register dumps: `CR0: 0x…`, `RAX: 0x…`, `R8:  0x…`.
    match t.split_once(':') {
        Some((name, value)) => {
            name.len() <= 4
                && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
                && value.trim_start().starts_with("0x")
        }
        None => false,
    }
}

/// Whether a panic message already ends with its source location
/// (`…"@/path/zalloc.c:3627`, `… @zalloc.c:4534`).
fn has_location_end(msg: &str) -> bool {
    let Some(at) = msg.rfind('@') else {
        return false;
    };
    let loc = &msg[at + 1..];
    match loc.rsplit_once(':') {
        Some((path, line)) => {
            !path.is_empty() && !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) && !loc.contains(' ')
        }
        None => false,
    }
}

/// `panic(cpu 8 caller 0x…): msg` → (cpu, caller, msg); also the
/// `Panic(CPU n, time t): msg` variant.
fn panic_line(t: &str) -> Option<(Option<u32>, Option<&str>, &str)> {
    let rest = t.strip_prefix("panic(cpu ").or_else(|| t.strip_prefix("Panic(CPU "))?;
    let close = rest.find("):")?;
    let head = &rest[..close];
    let msg = rest[close + 2..].trim();
    let cpu_text: String = head.chars().take_while(char::is_ascii_digit).collect();
    let cpu = cpu_text.parse().ok();
    let caller = head.split_once("caller ").map(|(_, c)| c.trim()).filter(|c| c.starts_with("0x"));
    Some((cpu, caller, msg))
}

/// `Www Mmm dd HH:MM:SS YYYY` (ctime), as the reporter header writes it.
fn is_ctime(t: &str) -> bool {
    const DAYS: &[&str] = &["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: &[&str] = &["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let w: Vec<&str> = t.split_whitespace().collect();
    w.len() == 5
        && DAYS.contains(&w[0])
        && MONTHS.contains(&w[1])
        && w[2].len() <= 2
        && w[2].chars().all(|c| c.is_ascii_digit())
        && w[3].matches(':').count() == 2
        && w[4].len() == 4
        && w[4].chars().all(|c| c.is_ascii_digit())
}

/// The value of `Key:` on the same line, or else on the next non-empty
/// line (Intel logs put `Mac OS version:` and `Kernel version:` values on
/// their own line). Returns the value and the index of the line it was on.
fn value_after<'a>(lines: &[&'a str], i: usize, rest: &'a str) -> Option<(&'a str, usize)> {
    let same = rest.trim();
    if !same.is_empty() {
        return Some((same, i));
    }
    let mut j = i + 1;
    while j < lines.len() && j <= i + 2 {
        let v = lines[j].trim();
        if !v.is_empty() {
            return (!starts_block(v) || v.starts_with("Darwin")).then_some((v, j));
        }
        j += 1;
    }
    None
}

/// `id(ver)[UUID]@0xstart->0xend` (UUID may be empty or cut off).
fn backtrace_kext(t: &str) -> Option<BacktraceKext> {
    let open = t.find('(')?;
    let id = &t[..open];
    if !is_bundle_id(id) {
        return None;
    }
    let close = open + t[open..].find(')')?;
    let version = t[open + 1..close].trim();
    let after = &t[close + 1..];
    if !(after.is_empty() || after.starts_with('[')) {
        return None;
    }
    let uuid = after
        .strip_prefix('[')
        .and_then(|u| u.split_once(']'))
        .map(|(u, _)| u.trim())
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let bundle_id = expand_bundle_id(id);
    Some(BacktraceKext {
        third_party: is_third_party(&bundle_id),
        bundle_id,
        version: (!version.is_empty()).then(|| version.to_string()),
        uuid,
    })
}

/// The owner of a symbolised frame, `0x… : 0x… <owner> : <symbol>`, when
/// it is a kext (not `mach_kernel`).
fn frame_owner(t: &str) -> Option<&str> {
    if !t.starts_with("0x") {
        return None;
    }
    let w: Vec<&str> = t.split_whitespace().collect();
    if w.len() >= 5 && w[1] == ":" && w[2].starts_with("0x") && w[4] == ":" {
        let owner = w[3];
        if owner.contains('.') && is_bundle_id(owner) {
            return Some(owner);
        }
    }
    None
}

/// `last loaded kext at T: id<TAB>ver (addr 0x…, size N)`.
fn last_kext(rest: &str) -> Option<KextEntry> {
    let (_, entry) = rest.split_once(": ")?;
    let entry = entry.find(" (addr").map_or(entry, |p| &entry[..p]).trim();
    let (id, version) = match entry.split_once(|c: char| c.is_whitespace()) {
        Some((id, v)) => (id, Some(v)),
        None => (entry, None),
    };
    is_bundle_id(id).then(|| kext_entry(id, version))
}

/// Fill `report` from the log text; true if anything panic-shaped was seen.
///
/// Each line is read by [`Scan::line`]; a line that opens a block (the
/// panic message, `Kernel Extensions in backtrace:`, `loaded kexts:`, a
/// version whose value is on the next line) consumes the lines of its
/// block too.
fn scan_log(text: &str, report: &mut PanicReport) -> bool {
    let lines: Vec<&str> = text.lines().map(clean_line).collect();
    let mut scan = Scan { lines: &lines, report, caller: None, in_backtrace: Default::default(), synced: 0 };
    let mut recognised = false;
    let mut i = 0;
    while i < lines.len() {
        let (seen, next) = scan.line(i);
        recognised |= seen;
        i = next.max(i + 1);
    }
    let caller = scan.caller;
    guess_architecture(report, caller.as_deref());
    fill_derived(report);
    recognised
}

/// One pass of [`scan_log`] over the cleaned lines of a log.
struct Scan<'l, 'r> {
    /// The lines, cleaned by [`clean_line`].
    lines: &'l [&'l str],
    /// What has been found so far.
    report: &'r mut PanicReport,
    /// The `caller` address of the panic line that gave the message.
    caller: Option<String>,
    /// Bundle ids already in `report.kexts_in_backtrace` (an index, so a
    /// backtrace of many frames stays linear).
    in_backtrace: std::collections::HashSet<String>,
    /// How many of `report.kexts_in_backtrace` are in `in_backtrace`.
    synced: usize,
}

impl<'l> Scan<'l, '_> {
    /// Read line `i`, and the lines of the block it opens, if any. Returns
    /// whether the line is panic-shaped (`Kernel UUID:`, `System model
    /// name:` and a ctime date alone are not) and the index of the next
    /// line to read.
    fn line(&mut self, i: usize) -> (bool, usize) {
        let t = self.lines[i].trim_start();
        let after = i + 1;
        if let Some((cpu, call, msg)) = panic_line(t) {
            (true, self.panic_message(i, cpu, call, msg))
        } else if let Some(msg) = t.strip_prefix("Debugger called: ") {
            if self.report.panic_message.is_none() {
                set_message(self.report, msg);
            }
            (true, after)
        } else if is_marker_line(t) {
            (true, after)
        } else if t.starts_with("Kernel Extensions in backtrace") {
            (true, self.backtrace_block(i))
        } else if let Some(owner) = frame_owner(t) {
            self.frame_owner(owner);
            (true, after)
        } else if let Some(rest) = t
            .strip_prefix("BSD process name corresponding to current thread")
            .or_else(|| t.strip_prefix("Process name corresponding to current thread"))
        {
            self.process_name(rest);
            (true, after)
        } else if let Some(rest) = t.strip_prefix("Panicked task ") {
            self.panicked_task(rest);
            (true, after)
        } else if let Some(rest) = t.strip_prefix("Mac OS version:").or_else(|| t.strip_prefix("OS version:")) {
            (true, self.os_version(i, rest))
        } else if let Some(rest) = t.strip_prefix("Kernel version:") {
            (true, self.kernel_version(i, rest))
        } else if let Some(rest) = t.strip_prefix("Kernel UUID:") {
            let u = rest.trim();
            if !u.is_empty() && self.report.kernel_uuid.is_none() {
                self.report.kernel_uuid = Some(u.to_string());
            }
            (false, after)
        } else if let Some(rest) = t.strip_prefix("System model name:") {
            if let Some(m) = rest.split_whitespace().next() {
                self.report.model = Some(m.to_string());
            }
            (false, after)
        } else if let Some(rest) =
            t.strip_prefix("last loaded kext at ").or_else(|| t.strip_prefix("last started kext at "))
        {
            if self.report.last_loaded_kext.is_none() {
                self.report.last_loaded_kext = last_kext(rest);
            }
            (true, after)
        } else if t.starts_with("loaded kexts:") {
            (true, self.loaded_kexts_block(i))
        } else {
            if self.report.timestamp.is_none() && is_ctime(t) {
                self.report.timestamp = Some(t.to_string());
            }
            (false, after)
        }
    }

    /// `panic(cpu N caller 0x…): message` at line `i`: the first one gives
    /// the message, the CPU and the caller. A message hard-wrapped onto
    /// the following lines is joined with spaces until it ends with its
    /// `@file:line` or a block starts (at most 8 more lines). Returns the
    /// next line to read.
    fn panic_message(&mut self, i: usize, cpu: Option<u32>, call: Option<&str>, msg: &str) -> usize {
        if self.report.panic_message.is_some() {
            return i + 1;
        }
        let mut joined = msg.to_string();
        let mut j = i + 1;
        while j < self.lines.len() && j <= i + 8 && !has_location_end(&joined) {
            let l = self.lines[j];
            if l.starts_with([' ', '\t']) || starts_block(l.trim()) {
                break;
            }
            joined.push(' ');
            joined.push_str(l.trim());
            j += 1;
        }
        self.report.panic_cpu = cpu;
        self.caller = call.map(str::to_string);
        set_message(self.report, &joined);
        j
    }

    /// The `Kernel Extensions in backtrace:` block opened at line `i`: one
    /// `id(version)[UUID]@0x…->0x…` per line (dependency lines skipped),
    /// up to the first line that is not one. Returns the next line to read.
    fn backtrace_block(&mut self, i: usize) -> usize {
        let mut j = i + 1;
        while j < self.lines.len() {
            let k = self.lines[j].trim();
            if k.starts_with("dependency:") || k.starts_with("kmod dependency") || k.starts_with("can't perform kext") {
                j += 1;
                continue;
            }
            let Some(kext) = backtrace_kext(k) else {
                break;
            };
            // A symbolised frame may have named it first, without version
            // and UUID: the block's line wins.
            match self.report.kexts_in_backtrace.iter_mut().find(|x| x.bundle_id == kext.bundle_id) {
                Some(seen) if seen.version.is_none() => *seen = kext,
                Some(_) => {}
                None => self.report.kexts_in_backtrace.push(kext),
            }
            j += 1;
        }
        j
    }

    /// A symbolised backtrace frame owned by a kext: the kext is in the
    /// backtrace (without version and UUID) unless already listed.
    fn frame_owner(&mut self, owner: &str) {
        let id = expand_bundle_id(owner);
        // Catch up with entries other blocks pushed since the last call.
        while let Some(x) = self.report.kexts_in_backtrace.get(self.synced) {
            self.in_backtrace.insert(x.bundle_id.clone());
            self.synced += 1;
        }
        if self.in_backtrace.insert(id.clone()) {
            self.report.kexts_in_backtrace.push(BacktraceKext {
                third_party: is_third_party(&id),
                bundle_id: id,
                version: None,
                uuid: None,
            });
        }
    }

    /// `[BSD ]Process name corresponding to current thread: name` (`rest`
    /// is what follows the prefix); the last such line wins.
    fn process_name(&mut self, rest: &str) {
        if let Some((_, name)) = rest.split_once(':') {
            let name = name.trim().trim_end_matches('*').trim();
            if !name.is_empty() {
                self.report.process = Some(name.to_string());
            }
        }
    }

    /// Apple silicon's `Panicked task …: pid P: name` (`rest` follows
    /// `Panicked task `); only if no process is known yet.
    fn panicked_task(&mut self, rest: &str) {
        if self.report.process.is_none()
            && let Some((_, after_pid)) = rest.split_once("pid ")
            && let Some((_, name)) = after_pid.split_once(':')
        {
            let name = name.trim();
            if !name.is_empty() {
                self.report.process = Some(name.to_string());
            }
        }
    }

    /// `Mac OS version:` / `OS version:` at line `i`, the value on the same
    /// line or the next; the first build found wins. Returns the next line
    /// to read (after the value).
    fn os_version(&mut self, i: usize, rest: &'l str) -> usize {
        let Some((v, at)) = value_after(self.lines, i, rest) else {
            return i + 1;
        };
        if self.report.build.is_none() {
            self.report.build = bare_build(v);
        }
        at + 1
    }

    /// `Kernel version:` at line `i`, the value on the same line or the
    /// next; the first `Darwin …` value wins. Returns the next line to read
    /// (after the value).
    fn kernel_version(&mut self, i: usize, rest: &'l str) -> usize {
        let Some((v, at)) = value_after(self.lines, i, rest) else {
            return i + 1;
        };
        if self.report.kernel_version.is_none() && v.starts_with("Darwin") {
            self.report.kernel_version = Some(v.to_string());
        }
        at + 1
    }

    /// The `loaded kexts:` block opened at line `i`: `id<TAB>version` per
    /// line, up to a blank line, `(none)` or a line that does not start
    /// with a bundle id. Returns the next line to read.
    fn loaded_kexts_block(&mut self, i: usize) -> usize {
        let mut j = i + 1;
        while j < self.lines.len() {
            let k = self.lines[j].trim();
            if k.is_empty() || k == "(none)" {
                break;
            }
            let (id, version) = match k.split_once(['\t', ' ']) {
                Some((id, v)) => (id, v.trim()),
                None => (k, ""),
            };
            if !is_bundle_id(id) {
                break;
            }
            // A line cut off before its version (a truncated paste) is not
            // an entry: xnu always prints one.
            if !version.is_empty() {
                self.report.loaded_kexts.push(kext_entry(id, Some(version)));
            }
            j += 1;
        }
        j
    }
}

/// Lines that only say "this is a panic report" and carry nothing kcheck
/// keeps.
fn is_marker_line(t: &str) -> bool {
    t.starts_with("Backtrace (CPU")
        || t.starts_with("Debugger message:")
        || t.starts_with("Paniclog version:")
        || t.starts_with("Panicked thread:")
        || t.starts_with("*** Panic Report ***")
}

/// Without an architecture yet, guess it from the panic's caller address:
/// arm64 kernels live at `0xfffffe…` / `0xfffffff0…`, x86_64 ones at
/// `0xffffff8…` / `0xffffff7f…` (kexts).
fn guess_architecture(report: &mut PanicReport, caller: Option<&str>) {
    if report.architecture.is_none()
        && let Some(c) = caller
    {
        if c.starts_with("0xfffffe") || c.starts_with("0xfffffff0") {
            report.architecture = Some("arm64".into());
        } else if c.starts_with("0xffffff8") || c.starts_with("0xffffff7f") {
            report.architecture = Some("x86_64".into());
        }
    }
}

/// Facts that follow from others: architecture and xnu version from the
/// kernel version (which wins over the caller-address guess).
fn fill_derived(report: &mut PanicReport) {
    if let Some(k) = &report.kernel_version {
        if k.contains("X86_64") {
            report.architecture = Some("x86_64".into());
        } else if k.contains("ARM64") {
            report.architecture = Some("arm64".into());
        }
    }
    let xnu =
        report.kernel_version.as_deref().and_then(xnu_in).or_else(|| report.panic_location.as_deref().and_then(xnu_in));
    if xnu.is_some() {
        report.xnu_version = xnu;
    }
}

/// `…xnu-6153.141.1~9/…` or `…/xnu-2422.90.20/osfmk/…` → `6153.141.1`.
fn xnu_in(s: &str) -> Option<String> {
    let at = s.find("xnu-")?;
    let v: String = s[at + 4..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    let v = v.trim_end_matches('.');
    (!v.is_empty()).then(|| v.to_string())
}

/// Split `"text"@/path/file.c:123` / `text @file.c:123` into the text and
/// the location, remove quotes and literal `\n`, classify.
fn set_message(report: &mut PanicReport, raw: &str) {
    let raw = raw.replace("\\n", " ");
    let raw = raw.trim();
    let (mut msg, loc) = match raw.rfind('@') {
        Some(at) if has_location_end(raw) => (raw[..at].trim_end(), Some(&raw[at + 1..])),
        _ => (raw, None),
    };
    if let Some(inner) = msg.strip_prefix('"').and_then(|m| m.strip_suffix('"')) {
        msg = inner;
    }
    let msg = msg.trim().replace("\\\"", "\"");
    // A quoted message with a prefix (`nvme: "… \n"`) keeps its quotes;
    // drop the space the removed `\n` left before the closing one.
    let msg = match msg.strip_suffix('"') {
        Some(m) => format!("{}\"", m.trim_end()),
        None => msg,
    };
    report.panic_location = loc.map(str::to_string);
    let (class, zone) = classify(&msg);
    report.panic_class = class;
    if let Some(z) = zone {
        report.leak_zone = z.leak_zone;
        report.leak_elements = z.elements;
        report.leak_bytes = z.bytes;
        report.leak_size = z.size_text;
        report.allocating_zone = z.allocating_zone;
    }
    if class == PanicClass::ZoneCorruption {
        report.corrupted_zone = corrupted_zone(&msg);
    }
    report.panic_message = (!msg.is_empty()).then_some(msg);
}

// ---------------------------------------------------------------------------
// Classification

/// What a zone-exhaustion message says.
#[derive(Debug, Default)]
struct ZoneExhaustion {
    allocating_zone: Option<String>,
    leak_zone: Option<String>,
    elements: Option<u64>,
    bytes: Option<u64>,
    size_text: Option<String>,
}

const CORRUPTION: &[&str] = &[
    "modified after free",
    "freed zone element has been modified",
    "was possibly modified",
    "zone_require failed",
    "double free",
    "zone bound checks",
    "freeing to zone",
    "zone poison",
];

const TRAP: &[&str] = &[
    "kernel trap",
    "general protection",
    "page fault",
    "data abort",
    "instruction abort",
    "prefetch abort",
    "instruction fetch abort",
    "double fault",
    "machine check",
    "unexpected kernel trap",
    "invalid opcode",
];

fn classify(msg: &str) -> (PanicClass, Option<ZoneExhaustion>) {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("zone map exhausted")
        || lower.contains("likely due to memory leak in zone")
        || (lower.contains("zalloc") && lower.contains("retry fail"))
    {
        return (PanicClass::ZoneExhaustion, Some(zone_exhaustion(msg)));
    }
    if CORRUPTION.iter().any(|k| lower.contains(k)) {
        return (PanicClass::ZoneCorruption, None);
    }
    if lower.contains("watchdog") {
        return (PanicClass::Watchdog, None);
    }
    if TRAP.iter().any(|k| lower.contains(k)) {
        return (PanicClass::Trap, None);
    }
    (PanicClass::Other, None)
}

/// A zone name at the start of `s`: `[heap.zone]` or bare up to ` (`/`,`.
fn take_zone(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']')?;
        let zone = inner[..end].trim();
        return (!zone.is_empty()).then_some((zone, &inner[end + 1..]));
    }
    let end = [s.find(" ("), s.find(", "), s.find(',')].into_iter().flatten().min().unwrap_or(s.len());
    let zone = s[..end].trim();
    (!zone.is_empty()).then_some((zone, &s[end..]))
}

/// Digits with thousands separators (`6,676,135,520`, `1.234.567`).
fn parse_count(s: &str) -> Option<u64> {
    let digits: String =
        s.trim().chars().filter(|c| !matches!(c, ',' | '.' | '\'' | '_' | '\u{a0}' | '\u{202f}')).collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `19G`, `512M`, `1.5G`, `300K`, `12B` → bytes (1024-based).
fn parse_sized(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let shift = match unit.to_ascii_uppercase() {
        'B' => 0u32,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        'P' => 50,
        _ => return None,
    };
    let num = s[..s.len() - unit.len_utf8()].trim().trim_end_matches(['i', 'I']);
    let num = num.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(1u64 << shift);
    }
    let f: f64 = num.parse().ok()?;
    let v = f * (1u64 << shift) as f64;
    (v.is_finite() && v >= 0.0 && v < u64::MAX as f64).then_some(v.round() as u64)
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.to_ascii_lowercase().find(needle)
}

fn zone_exhaustion(msg: &str) -> ZoneExhaustion {
    let mut z = ZoneExhaustion::default();
    const ALLOC: &str = "while allocating from zone ";
    const LEAK: &str = "likely due to memory leak in zone ";
    if let Some(p) = find_ci(msg, ALLOC)
        && let Some((zone, _)) = take_zone(&msg[p + ALLOC.len()..])
    {
        z.allocating_zone = Some(zone.to_string());
    }
    if let Some(p) = find_ci(msg, LEAK) {
        if let Some((zone, after)) = take_zone(&msg[p + LEAK.len()..]) {
            z.leak_zone = Some(zone.to_string());
            if let Some(open) = after.trim_start().strip_prefix('(') {
                let inner = open.split(')').next().unwrap_or("");
                for part in inner.split(", ") {
                    let part = part.trim();
                    if let Some(n) = part.strip_suffix("elements allocated") {
                        z.elements = parse_count(n);
                    } else if let Some(n) = part.strip_suffix("total bytes") {
                        z.bytes = parse_count(n);
                        z.size_text = Some(part.to_string());
                    } else if z.bytes.is_none()
                        && let Some(b) = parse_sized(part)
                    {
                        z.bytes = Some(b);
                        z.size_text = Some(part.to_string());
                    }
                }
            }
        }
        return z;
    }
    // ≤ 10.8: `zalloc: "kalloc.1024" (100535 elements) retry fail 3`.
    if let Some(p) = msg.find("zalloc: \"") {
        let rest = &msg[p + "zalloc: \"".len()..];
        if let Some(end) = rest.find('"') {
            let zone = rest[..end].trim();
            if !zone.is_empty() {
                z.leak_zone = Some(zone.to_string());
            }
            let after = &rest[end + 1..];
            if let Some(open) = after.trim_start().strip_prefix('(')
                && let Some(n) = open.split(')').next()
                && let Some(n) = n.trim().strip_suffix("elements")
            {
                z.elements = parse_count(n);
            }
        }
    }
    z
}

/// `[default.kalloc.4096]: element modified after free` or
/// `a freed zone element has been modified in zone kalloc.64: expected…`.
fn corrupted_zone(msg: &str) -> Option<String> {
    if let Some(inner) = msg.strip_prefix('[')
        && let Some(end) = inner.find(']')
    {
        return Some(inner[..end].to_string());
    }
    const IN_ZONE: &str = "modified in zone ";
    let p = msg.find(IN_ZONE)?;
    let rest = &msg[p + IN_ZONE.len()..];
    let zone = rest.split(':').next().unwrap_or("").trim();
    let zone = zone.trim_start_matches('[').trim_end_matches(']');
    (!zone.is_empty()).then(|| zone.to_string())
}

/// A file name panic reports are written under (§2.1 of the research
/// note): `Kernel_<date>[_<host>].panic`, `panic-full-<date>.panic`,
/// `Kernel-<date>.ips`, `panic-full-<date>.ips`, `panic-base-<date>.ips`,
/// and `*.panic.txt` copies.
fn is_report_name(name: &str) -> bool {
    name.ends_with(".panic")
        || name.ends_with(".panic.txt")
        || (name.ends_with(".ips")
            && (name.starts_with("Kernel") || name.starts_with("panic-full") || name.starts_with("panic-base")))
}

/// The panic reports in a `DiagnosticReports` folder (and its `Retired`
/// subfolder, used by older systems): newest first by modification time,
/// ties by name descending (names embed the date), at most `limit`.
/// Symlinks are followed only when they stay inside `dir`; entries whose
/// metadata cannot be read, or that cannot be opened, are skipped.
pub fn find_reports(dir: &Path, limit: usize) -> Vec<PathBuf> {
    let Ok(root) = std::fs::canonicalize(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(std::time::SystemTime, String, PathBuf)> = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    let retired = dir.join("Retired");
    if std::fs::symlink_metadata(&retired).is_ok_and(|m| m.is_dir()) {
        dirs.push(retired);
    }
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_report_name(&name) {
                continue;
            }
            let path = entry.path();
            let Ok(lmeta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if lmeta.file_type().is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(target) if target.starts_with(&root) => {}
                    _ => continue,
                }
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || std::fs::File::open(&path).is_err() {
                continue;
            }
            let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((mtime, name, path));
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    found.into_iter().take(limit).map(|(_, _, p)| p).collect()
}
