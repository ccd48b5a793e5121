//! Parser for the text that `kmutil inspect` (macOS 11 and later) prints:
//! the kext collections it inspected and, for each, the kexts linked into it.
//!
//! **Confidence: \[UNCONF\] as a whole.** No complete, verbatim `kmutil inspect`
//! output was found in public material; the grammar below is pieced together
//! from these sources (see `NOTES.md` §a for quotes):
//!
//! * kmutil(8) (Apple, 2020-10-22 and later pages, as mirrored in
//!   `keith/xcode-man-pages` `docs/kmutil.8.html`) \[DOC\]: `inspect` "Inspect &
//!   display the contents of a kext collection"; `--show-kext-uuids` "Include
//!   the UUIDs of each kext in the output"; `--show-kext-load-addresses` "include
//!   the load addresses of the kexts inline"; `--show-kernel-uuid` prints "the
//!   UUID (and version) of the kernel"; `--json` outputs "the section layout",
//!   not the kext list. The page does not describe the text layout.
//! * `kmutil inspect --help`, as kept in an argc completion script generated
//!   from it (search-index file 6140303433) \[3P\]: `--no-header` "Don't show
//!   the header describing the collection the data came from".
//! * Apple's own test script `test_kcinstall.sh` (apple-oss-distributions/
//!   kext_tools, tags 730.100.2 to 779) \[SRC\]: `kmutil inspect -B $1 -V ''
//!   --show-kernel-uuid-only | grep com.apple.kernel | awk '{ print $4 }' | tr -d
//!   '()'` — the kernel line starts with `com.apple.kernel` and its fourth
//!   whitespace field is the parenthesised UUID.
//! * A real, partial capture on macOS 26.6 (jprx/darwin-vm `README.md`) \[3P\]:
//!   a line `Extension Information:` followed by one line per kext,
//!   `<bundle id>  <version>  <bundle path>`, columns aligned at multiples of
//!   eight (tabs expanded by the terminal). Kept verbatim in
//!   `samples/jprx-darwin-vm-README-26.6.txt`.
//! * Scripts that parse the output on macOS 26.2 (rdmitry0911/itlwm
//!   `scripts/tahoe_auxkc_admission_preflight.sh`, analysis note
//!   `TAHOE_AUXKC_BOOT_THREAD_CALL_COMPAT_2026-07-20.md`) \[3P\]: after the exact
//!   line `Extension Information:` each row is `identity<TAB>version<TAB>path
//!   <TAB>(UUID)` with `--show-kext-uuids`; a codeless kext has an empty fourth
//!   field; the list ends at the first empty line; row order is unspecified.
//!   Their fixture's collection header, `auxiliary kext collection at <path>
//!   (<UUID>):`, is the only public hint of the header's shape \[UNCONF\].
//! * Asahi Linux and others run `kmutil inspect -V release --no-header | awk
//!   '{print " -b "$1}'` (AsahiLinux/docs `SW:Hypervisor.md`) \[3P\]: with
//!   `--no-header` every line starts with a bundle identifier.
//!
//! # What is recognised
//!
//! * A collection header: `[<kind words>] (kext|kernel) collection at <path>
//!   [(<UUID>)][:]`, any case. Kind words `boot`/`primary`, `system`/`sys`/
//!   `pageable` (xnu's name for the system collection: `pageablekc_uuid` backs
//!   `kern.systemfilesetuuid`, `bsd/kern/kern_sysctl.c`) and `auxiliary`/`aux`
//!   map to [`CollectionKind`]; anything else is [`CollectionKind::Unknown`].
//! * `Extension Information:` opens the kext list of the current collection (a
//!   collection without a header is created when needed); an empty line or
//!   another title line (`Words:`, reported as an issue) closes it.
//! * A kext row: tab-separated fields, or (pasted copies) fields separated by
//!   runs of spaces. The first field is the bundle identifier; the others are
//!   classified by shape: a UUID with or without parentheses, a `0x` load
//!   address, a path (the field in third position in tab-separated rows, or
//!   starting with `/`; in space-separated rows a path may contain spaces and
//!   runs until a UUID or address), a version (second field, or any field
//!   starting with a digit). Anything else is kept in [`InspectedKext::extra`].
//!   Inside a list a row with only a bundle identifier is accepted; outside a
//!   list (the `--no-header` form) a row needs a version, path or UUID as well.
//! * A last line without a line end is reported as
//!   [`IssueKind::TruncatedFinalLine`]; a row there is kept only if it has
//!   more than its identifier (a paste cut mid-identifier is dropped).
//! * The row whose identifier is `com.apple.kernel` goes to
//!   [`InspectedCollection::kernel`], not to the kext list.
//! * Noise that is dropped silently: empty lines, `No variant specified,
//!   falling back to release` (kmutil's stderr), `Executing: …` (the `kextstat`
//!   shim), `...`/`…` elisions, code fences, and shell prompts running kmutil.
//!
//! Everything else — Mach-O header dumps of `--show-mach-header`,
//! `--show-fileset-entries` or `--show-prelink-info`, error text — becomes a
//! [`LineIssue`] with its 1-based line number; the parse goes on.
//!
//! # API
//!
//! [`parse_inspect`] (text), [`parse_inspect_for`] (text, and the kind to give
//! rows printed without a header, e.g. `--no-header -A aux.kc`) and
//! [`parse_inspect_bytes`] (raw stdout) return an [`Inspect`]: its
//! [`collections`](Inspect::collections) with their kexts, and its
//! [`issues`](Inspect::issues). None of them fails: an empty or foreign input
//! gives no collections and, for foreign lines, issues.
//!
//! # Bounds
//!
//! The parser never panics and allocates in proportion to what it keeps (plus
//! one lossy copy of the input when [`parse_inspect_bytes`] meets invalid
//! UTF-8):
//! at most [`MAX_INPUT_BYTES`] (64 MiB) of input are read (the rest is
//! reported as [`IssueKind::InputTooLarge`]); a line longer than
//! [`MAX_LINE_BYTES`] (64 KiB) is skipped ([`IssueKind::LineTooLong`]); at most
//! [`MAX_RECORDS`] (100,000) records — collections, kernels and kexts — are
//! kept ([`IssueKind::TooManyRecords`]); at most [`MAX_ISSUES`] issues are
//! kept, the others only counted; issue excerpts are cut to
//! [`EXCERPT_CHARS`] characters.

use std::borrow::Cow;
use std::fmt;

/// Largest input read, in bytes (64 MiB); the rest is ignored and reported.
pub const MAX_INPUT_BYTES: usize = 64 * 1024 * 1024;
/// Longest line parsed, in bytes (64 KiB, without the line end).
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most records (collections + kernels + kexts) kept from one input.
pub const MAX_RECORDS: usize = 100_000;
/// Most issues kept; later ones only increase [`Inspect::issues_dropped`].
pub const MAX_ISSUES: usize = 10_000;
/// Longest issue excerpt, in characters.
pub const EXCERPT_CHARS: usize = 120;

/// The identifier kmutil gives the kernel's fileset entry.
pub const KERNEL_BUNDLE_ID: &str = "com.apple.kernel";

/// Which kext collection a section describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CollectionKind {
    /// The boot kext collection (`BootKernelExtensions.kc`, or the Preboot
    /// kernelcache on Apple silicon).
    Boot,
    /// The system kext collection (`SystemKernelExtensions.kc`; xnu calls it
    /// the pageable collection). Intel only.
    System,
    /// The auxiliary kext collection (third-party kexts).
    Auxiliary,
    /// A header with other words, or rows printed without any header.
    Unknown,
}

impl CollectionKind {
    /// The kind named by the first word of a header label (`boot`, `primary`,
    /// `system`, `sys`, `pageable`, `auxiliary`, `aux`; any case).
    pub fn from_label(label: &str) -> Self {
        let first = label.split_whitespace().next().unwrap_or("");
        match first.to_ascii_lowercase().as_str() {
            "boot" | "primary" => Self::Boot,
            "system" | "sys" | "pageable" => Self::System,
            "auxiliary" | "aux" => Self::Auxiliary,
            _ => Self::Unknown,
        }
    }

    /// A short lower-case name (`boot`, `system`, `auxiliary`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Boot => "boot",
            Self::System => "system",
            Self::Auxiliary => "auxiliary",
            Self::Unknown => "unknown",
        }
    }
}

impl fmt::Display for CollectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kext (or the kernel) as a row of `kmutil inspect` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectedKext {
    /// `CFBundleIdentifier` (first field of the row).
    pub bundle_id: String,
    /// `CFBundleVersion` as printed, when the row has one.
    pub version: Option<String>,
    /// The bundle path kmutil printed (absolute in every capture seen).
    pub path: Option<String>,
    /// The executable's UUID, upper-case and dashed (`--show-kext-uuids`);
    /// `None` when absent (codeless kexts print an empty field).
    pub uuid: Option<String>,
    /// The load address (`--show-kext-load-addresses`), when a `0x…` field
    /// is present.
    pub load_address: Option<u64>,
    /// Fields the parser could not classify, in order.
    pub extra: Vec<String>,
    /// 1-based line number of the row.
    pub line: usize,
}

/// One collection section of the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InspectedCollection {
    /// Which collection, from the header's words (or the caller's default).
    pub kind: CollectionKind,
    /// The header's words before `kext collection`, as printed.
    pub label: Option<String>,
    /// The collection's file, as printed in the header.
    pub path: Option<String>,
    /// The UUID printed in the header, upper-case and dashed.
    pub uuid: Option<String>,
    /// 1-based line number of the header; `None` for rows without a header.
    pub line: Option<usize>,
    /// The `com.apple.kernel` row, when the collection lists one.
    pub kernel: Option<InspectedKext>,
    /// The kext rows, in output order (kmutil's order is unspecified).
    pub kexts: Vec<InspectedKext>,
}

impl InspectedCollection {
    fn new(kind: CollectionKind, line: Option<usize>) -> Self {
        Self { kind, label: None, path: None, uuid: None, line, kernel: None, kexts: Vec::new() }
    }

    /// The row for `bundle_id`, if the collection lists it (the kernel
    /// included).
    pub fn find(&self, bundle_id: &str) -> Option<&InspectedKext> {
        self.kernel.iter().chain(self.kexts.iter()).find(|k| k.bundle_id == bundle_id)
    }
}

/// Why a line was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IssueKind {
    /// The line matches nothing this parser knows.
    #[error("line not recognised as kmutil inspect output")]
    UnknownLine,
    /// A line inside a kext list that is not a row.
    #[error("row in the extension list does not parse: {0}")]
    MalformedRow(&'static str),
    /// The line holds control characters other than tab.
    #[error("line holds control characters")]
    ControlCharacters,
    /// The line is longer than [`MAX_LINE_BYTES`].
    #[error("line longer than {} bytes", MAX_LINE_BYTES)]
    LineTooLong,
    /// [`MAX_RECORDS`] was reached at this line; later records are dropped.
    #[error("record limit of {} reached; later records ignored", MAX_RECORDS)]
    TooManyRecords,
    /// The input is longer than [`MAX_INPUT_BYTES`]; reading stopped here.
    #[error("input larger than {} bytes; the rest was not read", MAX_INPUT_BYTES)]
    InputTooLarge,
    /// The input is not UTF-8; invalid bytes were replaced (line of the first).
    #[error("input is not valid UTF-8; invalid bytes were replaced")]
    InvalidUtf8,
    /// The last line has no line end: the output may have been cut short. A
    /// row there is kept as printed if it has more than an identifier.
    #[error("last line has no line end (cut-off output?)")]
    TruncatedFinalLine,
    /// A second, different `com.apple.kernel` row in one collection.
    #[error("second kernel row in the same collection")]
    DuplicateKernel,
}

/// A line that was skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct LineIssue {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub kind: IssueKind,
    /// The start of the line ([`EXCERPT_CHARS`] characters at most; control
    /// characters replaced by U+FFFD).
    pub excerpt: String,
}

/// Everything parsed from one `kmutil inspect` output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspect {
    /// Collection sections in output order.
    pub collections: Vec<InspectedCollection>,
    /// Lines that were not used (at most [`MAX_ISSUES`]).
    pub issues: Vec<LineIssue>,
    /// Issues beyond [`MAX_ISSUES`], counted only.
    pub issues_dropped: usize,
    /// Whether a bound ([`MAX_INPUT_BYTES`], [`MAX_RECORDS`]) cut the result
    /// short.
    pub truncated: bool,
}

impl Inspect {
    /// The first collection of `kind`.
    pub fn collection(&self, kind: CollectionKind) -> Option<&InspectedCollection> {
        self.collections.iter().find(|c| c.kind == kind)
    }

    /// Every kext row with its collection (kernels excluded).
    pub fn kexts(&self) -> impl Iterator<Item = (&InspectedCollection, &InspectedKext)> + '_ {
        self.collections.iter().flat_map(|c| c.kexts.iter().map(move |k| (c, k)))
    }

    /// Number of kext rows in all collections (kernels excluded).
    pub fn kext_count(&self) -> usize {
        self.collections.iter().map(|c| c.kexts.len()).sum()
    }
}

/// Parse `kmutil inspect` text; rows printed before any collection header
/// go to a collection of kind [`CollectionKind::Unknown`].
pub fn parse_inspect(text: &str) -> Inspect {
    parse_inspect_for(text, CollectionKind::Unknown)
}

/// Parse `kmutil inspect` text; rows printed before any collection header
/// (for instance with `--no-header` and a single `-A`/`-B`/`-S` path) go to
/// a collection of kind `default_kind`.
pub fn parse_inspect_for(text: &str, default_kind: CollectionKind) -> Inspect {
    let (body, too_large) = clip_str(text, MAX_INPUT_BYTES);
    let mut p = Parser::new(default_kind);
    p.run(body);
    if too_large {
        p.out.truncated = true;
        let line = p.lines_seen + 1;
        p.issue(line, IssueKind::InputTooLarge, "");
    }
    p.out
}

/// Parse raw bytes (a captured stdout): at most [`MAX_INPUT_BYTES`] are
/// read; invalid UTF-8 is replaced and reported once
/// ([`IssueKind::InvalidUtf8`], at the line of the first bad byte).
pub fn parse_inspect_bytes(bytes: &[u8], default_kind: CollectionKind) -> Inspect {
    let too_large = bytes.len() > MAX_INPUT_BYTES;
    let clipped = bytes.get(..MAX_INPUT_BYTES).unwrap_or(bytes);
    let (text, bad_line): (Cow<'_, str>, Option<usize>) = match std::str::from_utf8(clipped) {
        Ok(s) => (Cow::Borrowed(s), None),
        // A multi-byte character cut by the clip: drop its start.
        Err(e) if too_large && e.error_len().is_none() => {
            let valid = clipped.get(..e.valid_up_to()).unwrap_or(&[]);
            (Cow::Owned(String::from_utf8_lossy(valid).into_owned()), None)
        }
        Err(e) => {
            let before = clipped.get(..e.valid_up_to()).unwrap_or(&[]);
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            (String::from_utf8_lossy(clipped), Some(line))
        }
    };
    let mut p = Parser::new(default_kind);
    if let Some(line) = bad_line {
        let excerpt = text.split('\n').nth(line - 1).unwrap_or("");
        p.issue(line, IssueKind::InvalidUtf8, excerpt);
    }
    p.run(&text);
    if too_large {
        p.out.truncated = true;
        let line = p.lines_seen + 1;
        p.issue(line, IssueKind::InputTooLarge, "");
    }
    p.out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary, and whether anything was cut.
fn clip_str(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    (s.get(..end).unwrap_or(""), true)
}

struct Parser {
    out: Inspect,
    default_kind: CollectionKind,
    /// Index in `out.collections` of the section rows go to.
    current: Option<usize>,
    /// Inside an `Extension Information:` list.
    in_list: bool,
    records: usize,
    lines_seen: usize,
}

impl Parser {
    fn new(default_kind: CollectionKind) -> Self {
        Self { out: Inspect::default(), default_kind, current: None, in_list: false, records: 0, lines_seen: 0 }
    }

    fn run(&mut self, text: &str) {
        let mut pieces = text.split_inclusive('\n').peekable();
        let mut n = 0usize;
        while let Some(raw) = pieces.next() {
            n += 1;
            let terminated = raw.ends_with('\n');
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            let cut_last = !terminated && pieces.peek().is_none();
            self.line(n, line, cut_last);
        }
        self.lines_seen = n;
    }

    fn issue(&mut self, line: usize, kind: IssueKind, text: &str) {
        if self.out.issues.len() >= MAX_ISSUES {
            self.out.issues_dropped = self.out.issues_dropped.saturating_add(1);
            return;
        }
        self.out.issues.push(LineIssue { line, kind, excerpt: excerpt(text) });
    }

    /// Count one record; false (and one issue) once the limit is reached.
    fn take_record(&mut self, line: usize, text: &str) -> bool {
        if self.records >= MAX_RECORDS {
            if !self.out.truncated {
                self.out.truncated = true;
                self.issue(line, IssueKind::TooManyRecords, text);
            }
            return false;
        }
        self.records += 1;
        true
    }

    fn line(&mut self, n: usize, line: &str, cut_last: bool) {
        if line.len() > MAX_LINE_BYTES {
            self.issue(n, IssueKind::LineTooLong, line);
            return;
        }
        if line.chars().any(|c| c.is_control() && c != '\t') {
            self.issue(n, IssueKind::ControlCharacters, line);
            return;
        }
        let t = line.trim();
        if t.is_empty() {
            self.in_list = false;
            return;
        }
        if is_noise(t) {
            return;
        }
        if let Some(h) = parse_header(t) {
            self.in_list = false;
            if self.take_record(n, line) {
                let mut c = InspectedCollection::new(CollectionKind::from_label(h.label), Some(n));
                c.label = (!h.label.is_empty()).then(|| h.label.to_string());
                c.path = h.path.map(str::to_string);
                c.uuid = h.uuid;
                self.out.collections.push(c);
                self.current = Some(self.out.collections.len() - 1);
            } else {
                // Rows after a dropped header must not land in the previous
                // collection.
                self.current = None;
            }
            return;
        }
        if t.eq_ignore_ascii_case("Extension Information:") {
            self.in_list = true;
            return;
        }
        // Another section title (`Something Else:`) closes the list.
        if let Some(title) = t.strip_suffix(':')
            && !title.is_empty()
            && title.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        {
            self.in_list = false;
            self.issue(n, IssueKind::UnknownLine, line);
            return;
        }
        match parse_row(line) {
            // A cut-off last row is kept only if it got past its identifier,
            // and is reported either way.
            Ok(row) if row.has_detail() || (self.in_list && !cut_last) => {
                self.add_row(n, line, row);
                if cut_last {
                    self.issue(n, IssueKind::TruncatedFinalLine, line);
                }
            }
            Ok(_) | Err(_) if cut_last => self.issue(n, IssueKind::TruncatedFinalLine, line),
            Err(why) if self.in_list => self.issue(n, IssueKind::MalformedRow(why), line),
            Ok(_) | Err(_) => self.issue(n, IssueKind::UnknownLine, line),
        }
    }

    fn add_row(&mut self, n: usize, line: &str, row: Row<'_>) {
        if self.out.truncated && self.records >= MAX_RECORDS {
            return;
        }
        let idx = match self.current {
            Some(i) => i,
            None => {
                if !self.take_record(n, line) {
                    return;
                }
                self.out.collections.push(InspectedCollection::new(self.default_kind, None));
                let i = self.out.collections.len() - 1;
                self.current = Some(i);
                i
            }
        };
        if !self.take_record(n, line) {
            return;
        }
        let kext = row.into_kext(n);
        let Some(coll) = self.out.collections.get_mut(idx) else { return };
        if kext.bundle_id == KERNEL_BUNDLE_ID {
            match &coll.kernel {
                None => coll.kernel = Some(kext),
                Some(k) if k.version == kext.version && k.uuid == kext.uuid && k.path == kext.path => {}
                Some(_) => self.issue(n, IssueKind::DuplicateKernel, line),
            }
        } else {
            coll.kexts.push(kext);
        }
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT_CHARS).map(|c| if c.is_control() && c != '\t' { '\u{FFFD}' } else { c }).collect()
}

/// Lines that carry no data and are dropped without an issue.
fn is_noise(t: &str) -> bool {
    t.starts_with("No variant specified")
        || t.starts_with("Executing: ")
        || t == "..."
        || t == "\u{2026}"
        || t.starts_with("```")
        || (["$ ", "% ", "# "].iter().any(|p| t.starts_with(p)) && t.contains("kmutil"))
}

struct Header<'a> {
    label: &'a str,
    path: Option<&'a str>,
    uuid: Option<String>,
}

/// `[<words>] (kext|kernel) collection at <path> [(<UUID>)][:]`.
fn parse_header(t: &str) -> Option<Header<'_>> {
    const AT: &str = "collection at ";
    let lower = t.to_ascii_lowercase();
    let pos = lower.find(AT)?;
    let before = t.get(..pos)?.trim_end();
    let label = ["kext", "kernel"].iter().find_map(|w| strip_suffix_ci(before, w)).map(str::trim_end).unwrap_or(before);
    // A header starts with at most three plain words; anything else is prose.
    if label.len() > 40
        || label.split_whitespace().count() > 3
        || !label.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
    {
        return None;
    }
    let rest = t.get(pos + AT.len()..)?.trim();
    let rest = rest.strip_suffix(':').unwrap_or(rest).trim_end();
    let (path, uuid) = split_trailing_uuid(rest);
    let path = (!path.is_empty()).then_some(path);
    Some(Header { label, path, uuid })
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let cut = s.len().checked_sub(suffix.len())?;
    let tail = s.get(cut..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| s.get(..cut)).flatten()
}

/// `<text> (<UUID>)` → (`<text>`, UUID); otherwise the text unchanged.
fn split_trailing_uuid(s: &str) -> (&str, Option<String>) {
    if s.ends_with(')')
        && let Some(open) = s.rfind('(')
        && let Some(uuid) = s.get(open..).and_then(normalize_uuid)
    {
        return (s.get(..open).unwrap_or("").trim_end(), Some(uuid));
    }
    (s, None)
}

/// `XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`, optionally in parentheses, any
/// case → upper case.
fn normalize_uuid(s: &str) -> Option<String> {
    let s = s.strip_prefix('(').and_then(|x| x.strip_suffix(')')).unwrap_or(s);
    if s.len() != 36 {
        return None;
    }
    let ok = s.bytes().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_hexdigit(),
    });
    ok.then(|| s.to_ascii_uppercase())
}

fn parse_address(s: &str) -> Option<u64> {
    let hex = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    if hex.is_empty() || hex.len() > 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn is_bundle_id(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.contains('.')
        && !s.ends_with('.')
        && !s.contains("..")
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Starts with a digit, no whitespace, not an address; parentheses around it
/// are tolerated.
fn version_of(s: &str) -> Option<&str> {
    let v = s.strip_prefix('(').and_then(|x| x.strip_suffix(')')).unwrap_or(s);
    let ok = v.len() <= 64
        && v.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && !v.chars().any(char::is_whitespace)
        && parse_address(v).is_none();
    ok.then_some(v)
}

/// A parsed row, borrowing from the line.
#[derive(Default)]
struct Row<'a> {
    bundle_id: &'a str,
    version: Option<&'a str>,
    path: Option<&'a str>,
    uuid: Option<String>,
    load_address: Option<u64>,
    extra: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn has_detail(&self) -> bool {
        self.version.is_some() || self.path.is_some() || self.uuid.is_some()
    }

    /// Classify one field by its shape.
    fn classify(&mut self, f: &'a str) {
        if let Some(u) = normalize_uuid(f) {
            if self.uuid.is_none() {
                self.uuid = Some(u);
                return;
            }
        } else if let Some(a) = parse_address(f) {
            if self.load_address.is_none() {
                self.load_address = Some(a);
                return;
            }
        } else if f.starts_with('/') {
            if self.path.is_none() {
                self.path = Some(f);
                return;
            }
        } else if let Some(v) = version_of(f)
            && self.version.is_none()
        {
            self.version = Some(v);
            return;
        }
        self.extra.push(f);
    }

    fn into_kext(self, line: usize) -> InspectedKext {
        InspectedKext {
            bundle_id: self.bundle_id.to_string(),
            version: self.version.map(str::to_string),
            path: self.path.map(str::to_string),
            uuid: self.uuid,
            load_address: self.load_address,
            extra: self.extra.into_iter().map(str::to_string).collect(),
            line,
        }
    }
}

fn is_special(f: &str) -> bool {
    normalize_uuid(f).is_some() || parse_address(f).is_some()
}

fn parse_row(line: &str) -> Result<Row<'_>, &'static str> {
    if line.contains('\t') { parse_tab_row(line) } else { parse_space_row(line) }
}

/// `id<TAB>version<TAB>path[<TAB>(UUID)]…`: position decides for the second
/// and third fields unless their shape says otherwise.
fn parse_tab_row(line: &str) -> Result<Row<'_>, &'static str> {
    let mut fields = line.split('\t').map(str::trim);
    let id = fields.next().unwrap_or("");
    if !is_bundle_id(id) {
        return Err("first field is not a bundle identifier");
    }
    let mut row = Row { bundle_id: id, ..Row::default() };
    for (i, f) in fields.enumerate() {
        if f.is_empty() {
            continue;
        }
        match i {
            0 if !is_special(f) && !f.starts_with('/') => row.version = Some(version_of(f).unwrap_or(f)),
            1 if !is_special(f) => row.path = Some(f),
            _ => row.classify(f),
        }
    }
    Ok(row)
}

/// Whitespace-separated copy (tabs expanded): `id version path [(UUID)]`.
/// A path runs from its first `/` token to the token before a UUID or
/// address, spaces included.
fn parse_space_row(line: &str) -> Result<Row<'_>, &'static str> {
    let tokens = token_spans(line);
    let Some(&(s0, e0)) = tokens.first() else { return Err("empty row") };
    let id = line.get(s0..e0).unwrap_or("");
    if !is_bundle_id(id) {
        return Err("first field is not a bundle identifier");
    }
    let mut row = Row { bundle_id: id, ..Row::default() };
    let mut i = 1;
    while let Some(&(s, e)) = tokens.get(i) {
        let tok = line.get(s..e).unwrap_or("");
        if tok.starts_with('/') && row.path.is_none() {
            // Extend over following tokens until a UUID/address token.
            let mut end = e;
            let mut j = i + 1;
            while let Some(&(s2, e2)) = tokens.get(j) {
                if is_special(line.get(s2..e2).unwrap_or("")) {
                    break;
                }
                end = e2;
                j += 1;
            }
            row.path = line.get(s..end);
            i = j;
            continue;
        }
        row.classify(tok);
        i += 1;
    }
    Ok(row)
}

/// Byte spans of the whitespace-separated tokens of `line`.
fn token_spans(line: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, line.len()));
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    const U1: &str = "8E2B2F41-3C1A-3B5D-9A77-0D1C2B3A4F50";
    const U2: &str = "1F0A7C9E-5D24-3E61-B8C3-7A6B5C4D3E2F";

    #[test]
    fn tab_rows_with_header_and_codeless_kext() {
        let text = format!(
            "auxiliary kext collection at /Library/KernelCollections/AuxiliaryKernelExtensions.kc ({U1}):\n\
             Extension Information:\n\
             com.example.driver\t1.2.3\t/Library/Extensions/Example.kext\t({U2})\n\
             com.apple.driver.AppleMobileDevice\t4.0\t/Library/Apple/System/Library/Extensions/AppleMobileDevice.kext\t\n\
             \n"
        );
        let r = parse_inspect(&text);
        assert!(r.issues.is_empty(), "{:?}", r.issues);
        let c = r.collection(CollectionKind::Auxiliary).unwrap();
        assert_eq!(c.path.as_deref(), Some("/Library/KernelCollections/AuxiliaryKernelExtensions.kc"));
        assert_eq!(c.uuid.as_deref(), Some(U1));
        assert_eq!(c.line, Some(1));
        assert_eq!(c.kexts.len(), 2);
        let k = &c.kexts[0];
        assert_eq!((k.bundle_id.as_str(), k.version.as_deref()), ("com.example.driver", Some("1.2.3")));
        assert_eq!(k.path.as_deref(), Some("/Library/Extensions/Example.kext"));
        assert_eq!(k.uuid.as_deref(), Some(U2));
        assert_eq!(k.line, 3);
        assert_eq!(c.kexts[1].uuid, None);
        assert!(c.kexts[1].extra.is_empty());
    }

    #[test]
    fn header_variants() {
        let line = format!("Boot kernel collection at /x y/z.kc ({})", U1.to_lowercase());
        let h = parse_header(&line).unwrap();
        assert_eq!(CollectionKind::from_label(h.label), CollectionKind::Boot);
        assert_eq!(h.path, Some("/x y/z.kc"));
        assert_eq!(h.uuid.as_deref(), Some(U1));
        let h = parse_header("System kext collection at /S/L/KC/SystemKernelExtensions.kc:").unwrap();
        assert_eq!(CollectionKind::from_label(h.label), CollectionKind::System);
        assert_eq!(h.uuid, None);
        let h = parse_header("kext collection at /a.kc").unwrap();
        assert_eq!(CollectionKind::from_label(h.label), CollectionKind::Unknown);
        assert!(parse_header("the tool printed a long sentence about a kext collection at /x").is_none());
        assert_eq!(CollectionKind::from_label("pageable"), CollectionKind::System);
    }

    #[test]
    fn rows_without_header_use_default_kind() {
        let text = format!("com.example.a\t1.0\t/Library/Extensions/A.kext\t({U1})\n");
        let r = parse_inspect_for(&text, CollectionKind::Boot);
        assert_eq!(r.collections.len(), 1);
        assert_eq!(r.collections[0].kind, CollectionKind::Boot);
        assert_eq!(r.collections[0].line, None);
        assert_eq!(r.kext_count(), 1);
    }

    #[test]
    fn kernel_row_is_kept_apart() {
        let text = format!("com.apple.kernel\t25.6.0\t/System/Library/Kernels/kernel\t({U1})\n");
        let r = parse_inspect(&text);
        let c = &r.collections[0];
        assert_eq!(c.kexts.len(), 0);
        let k = c.kernel.as_ref().unwrap();
        assert_eq!(k.uuid.as_deref(), Some(U1));
        assert_eq!(c.find(KERNEL_BUNDLE_ID).unwrap().version.as_deref(), Some("25.6.0"));
        // A different second kernel row is an issue, an identical one is not.
        let twice = format!("{text}{text}com.apple.kernel\t1.0\t/k\t({U2})\n");
        let r = parse_inspect(&twice);
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].kind, IssueKind::DuplicateKernel);
        assert_eq!(r.issues[0].line, 3);
    }

    #[test]
    fn space_rows_path_with_spaces_and_address() {
        let line = format!(
            "com.example.b   2.0b3   /Volumes/Macintosh HD/Library/Extensions/B.kext   0xfffffe0007004000   ({U1})"
        );
        let row = parse_row(&line).unwrap();
        assert_eq!(row.version, Some("2.0b3"));
        assert_eq!(row.path, Some("/Volumes/Macintosh HD/Library/Extensions/B.kext"));
        assert_eq!(row.load_address, Some(0xfffffe0007004000));
        assert_eq!(row.uuid.as_deref(), Some(U1));
    }

    #[test]
    fn tab_rows_any_column_order_for_extras() {
        let line = format!("com.example.c\t3\t/L/E/C.kext\t0x1000\t({U1})\tsomething");
        let row = parse_row(&line).unwrap();
        assert_eq!((row.version, row.load_address), (Some("3"), Some(0x1000)));
        assert_eq!(row.extra, vec!["something"]);
        // Second column that looks like a path goes to the path.
        let row = parse_row("com.example.d\t/L/E/D.kext").unwrap();
        assert_eq!((row.version, row.path), (None, Some("/L/E/D.kext")));
    }

    #[test]
    fn crlf_and_noise() {
        let text = "No variant specified, falling back to release\r\n$ kmutil inspect -B x.kc\r\n...\r\n\
                    Extension Information:\r\ncom.example.e\t1.0\t/L/E/E.kext\r\n...\r\n";
        let r = parse_inspect(text);
        assert!(r.issues.is_empty(), "{:?}", r.issues);
        assert_eq!(r.collections[0].kexts[0].path.as_deref(), Some("/L/E/E.kext"));
    }

    #[test]
    fn unknown_and_malformed_lines_are_issues_with_line_numbers() {
        let text = "Extension Information:\nnot-a-bundle-id 1.0\ncom.example.f\t1.0\t/x\n\nmagic: 0xfeedfacf\n";
        let r = parse_inspect(text);
        assert_eq!(r.kext_count(), 1);
        let lines: Vec<_> = r.issues.iter().map(|i| (i.line, i.kind.clone())).collect();
        assert_eq!(
            lines,
            vec![(2, IssueKind::MalformedRow("first field is not a bundle identifier")), (5, IssueKind::UnknownLine)]
        );
        assert_eq!(r.issues[1].to_string(), "line 5: line not recognised as kmutil inspect output");
    }

    #[test]
    fn other_section_title_closes_the_list() {
        let r = parse_inspect("Extension Information:\ncom.example.t\t1\t/t\nMach Header:\ncom.example.u\n");
        assert_eq!(r.kext_count(), 1);
        let kinds: Vec<_> = r.issues.iter().map(|i| (i.line, i.kind.clone())).collect();
        assert_eq!(kinds, vec![(3, IssueKind::UnknownLine), (4, IssueKind::UnknownLine)]);
    }

    #[test]
    fn id_only_rows_only_inside_a_list() {
        let r = parse_inspect("com.example.g\nExtension Information:\ncom.example.h\n");
        assert_eq!(r.kext_count(), 1);
        assert_eq!(r.kexts().next().unwrap().1.bundle_id, "com.example.h");
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].line, 1);
    }

    #[test]
    fn truncated_final_line() {
        let r = parse_inspect("Extension Information:\ncom.example.i\t1.0\t/L/E/I.kext\ncom.exa");
        assert_eq!(r.kext_count(), 1);
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].kind, IssueKind::TruncatedFinalLine);
        assert_eq!(r.issues[0].line, 3);
        // An unterminated final row with more than an identifier is kept,
        // and reported.
        let r = parse_inspect("Extension Information:\ncom.example.j\t1.0\t/L/E/J.kext");
        assert_eq!(r.kext_count(), 1);
        assert_eq!((r.issues[0].line, r.issues[0].kind.clone()), (2, IssueKind::TruncatedFinalLine));
    }

    #[test]
    fn control_characters() {
        let r = parse_inspect(
            "Extension Information:\ncom.example.k\t1.0\u{0}\t/x\ncom.example.l\t\u{1b}[31m1.0\n\u{7f}\n",
        );
        assert_eq!(r.kext_count(), 0);
        assert_eq!(r.issues.len(), 3);
        assert!(r.issues.iter().all(|i| i.kind == IssueKind::ControlCharacters));
        assert!(!r.issues[1].excerpt.contains('\u{1b}'));
        // A CR inside a line is a control character too.
        let r = parse_inspect("com.example.m\t1.0\r\t/x\n");
        assert_eq!(r.issues[0].kind, IssueKind::ControlCharacters);
    }

    #[test]
    fn huge_line_is_skipped_and_excerpt_bounded() {
        let big = format!("com.example.n\t1.0\t/{}\n", "a".repeat(MAX_LINE_BYTES));
        let text = format!("Extension Information:\n{big}com.example.o\t1.0\t/ok\n");
        let r = parse_inspect(&text);
        assert_eq!(r.kext_count(), 1);
        assert_eq!(r.issues[0].kind, IssueKind::LineTooLong);
        assert_eq!(r.issues[0].line, 2);
        assert_eq!(r.issues[0].excerpt.chars().count(), EXCERPT_CHARS);
        // Exactly at the limit is fine.
        let edge = format!("com.example.p\t1.0\t/{}", "b".repeat(MAX_LINE_BYTES - 19));
        assert_eq!(edge.len(), MAX_LINE_BYTES);
        assert_eq!(parse_inspect(&edge).kext_count(), 1);
    }

    #[test]
    fn record_limit() {
        let mut text = String::from("Extension Information:\n");
        for i in 0..MAX_RECORDS + 5 {
            text.push_str(&format!("com.example.k{i}\t1\t/k\n"));
        }
        let r = parse_inspect(&text);
        // One record is the implicit collection.
        assert_eq!(r.kext_count(), MAX_RECORDS - 1);
        assert!(r.truncated);
        assert_eq!(r.issues.len(), 1);
        assert_eq!(r.issues[0].kind, IssueKind::TooManyRecords);
        assert_eq!(r.issues[0].line, MAX_RECORDS + 1);
    }

    #[test]
    fn issue_limit() {
        let text = "?\n".repeat(MAX_ISSUES + 7);
        let r = parse_inspect(&text);
        assert_eq!(r.issues.len(), MAX_ISSUES);
        assert_eq!(r.issues_dropped, 7);
    }

    #[test]
    fn input_limit_cuts_on_a_char_boundary() {
        // 'é' is two bytes: the clip must not split it.
        let s = "é".repeat(3);
        assert_eq!(clip_str(&s, 3), ("é", true));
        assert_eq!(clip_str(&s, 6), (s.as_str(), false));
        let mut text = String::from("Extension Information:\ncom.example.q\t1\t/q\n");
        text.push_str(&"x".repeat(MAX_INPUT_BYTES));
        let r = parse_inspect(&text);
        assert!(r.truncated);
        assert_eq!(r.kext_count(), 1);
        assert_eq!(r.issues.last().unwrap().kind, IssueKind::InputTooLarge);
    }

    #[test]
    fn bytes_with_invalid_utf8() {
        let mut bytes = b"Extension Information:\ncom.example.r\t1\t/r\ncom.example.s\t1\t/\xff\n".to_vec();
        let r = parse_inspect_bytes(&bytes, CollectionKind::Auxiliary);
        assert_eq!(r.issues[0].kind, IssueKind::InvalidUtf8);
        assert_eq!(r.issues[0].line, 3);
        assert_eq!(r.kext_count(), 2);
        assert_eq!(r.collections[0].kind, CollectionKind::Auxiliary);
        bytes.truncate(3);
        assert_eq!(parse_inspect_bytes(&bytes, CollectionKind::Unknown).issues[0].kind, IssueKind::TruncatedFinalLine);
    }

    #[test]
    fn odd_inputs_never_panic() {
        let cases = [
            "",
            "\n",
            "\r\n",
            "\t",
            "\t\t\t",
            "(",
            ")",
            "()",
            ":",
            "collection at ",
            " collection at (",
            "kext collection at ()",
            "kext collection at (:",
            "Extension Information:",
            "a.b\t",
            "a.b\t\t\t\t",
            "a.b (",
            "a.b 0x",
            "a.b 0xzz",
            "a.b 0x11112222333344445",
            "é.b é",
            "ü",
            "a.b /",
            "/",
            "0x1",
        ];
        for c in cases {
            let _ = parse_inspect(c);
            let _ = parse_inspect_bytes(c.as_bytes(), CollectionKind::Boot);
        }
        // Every split point of a realistic input.
        let text = format!("boot kext collection at /b.kc ({U1}):\nExtension Information:\ncom.a.b\t1\t/p\t({U2})\n");
        for i in 0..=text.len() {
            if let Some(s) = text.get(..i) {
                let _ = parse_inspect(s);
            }
            let _ = parse_inspect_bytes(&text.as_bytes()[..i], CollectionKind::Unknown);
        }
    }
}
