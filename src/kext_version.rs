//! Kext version numbers and exclude-list version rules, as Apple's kext
//! tooling parses, orders and prints them.
//!
//! This is an independent Rust port (written from reading the C, not
//! translated line by line) of:
//!
//! - `OSKextParseVersionString`, `OSKextVersionGetString` and
//!   `OSKextParseVersionCFString` in `apple-oss-distributions/IOKitUser`,
//!   `kext.subproj/OSKextVersion.c` (tag `IOKitUser-1726.140.1`, commit
//!   `83d5689c`; the parsing and printing are unchanged up to
//!   `IOKitUser-100222.0.4`, commit `1a6b2d14`), and its kernel twin in
//!   `apple-oss-distributions/xnu`, `libkern/OSKextVersion.c` (tag
//!   `xnu-11417.101.15`, commit `e3723e1f`), which has the same grammar;
//! - `kOSKextVersionMaxLength` (20) from xnu `libkern/libkern/OSKextLibPrivate.h`;
//! - `_excludeThisVersion` and the value handling of `OSKextIsInExcludeList`
//!   in IOKitUser `kext.subproj/OSKext.c` (tag `IOKitUser-1726.140.1`, lines
//!   7305–7714; identical at `IOKitUser-100222.0.4`). `kextcache`
//!   (`apple-oss-distributions/kext_tools`, `kextcache_main.c`) calls
//!   `OSKextIsInExcludeList` when it builds a kernel cache.
//!
//! # Version grammar
//!
//! `MAJOR[.MINOR[.REVISION]][STAGE LEVEL]`, then optionally a space, tab,
//! CR or LF after which anything is ignored. Each numeric part has at most
//! four digits (leading zeros count); MINOR and REVISION may be empty
//! (`1.`, `1..`, `1..2`, `1.b1`). STAGE is `d` (1), `a` (3), `b` (5), `f` or
//! `fc` (7), lower case only, followed by a LEVEL of one to three digits not
//! above 255; `f0`/`fc0` are invalid, `d0`/`a0`/`b0` are valid. No stage is
//! "release" (9). The encoded value is
//! `major·10¹² + minor·10⁸ + revision·10⁴ + stage·10³ + level`, so plain
//! integer comparison orders versions (`1.0d1 < 1.0a1 < 1.0b1 < 1.0f1 < 1.0`).
//! A `.` directly after a four-digit REVISION is swallowed (`1.2.3456.` and
//! `1.2.3456.b1` are valid); any other third `.` is an error.
//!
//! Userland (`kextcache`, `kextutil`, IOKitUser's `OSKext`) reads
//! `CFBundleVersion` through `OSKextParseVersionCFString`, which first copies
//! the CFString into a 20-byte ASCII buffer: a string of 20 or more
//! characters, or one with a non-ASCII character anywhere (even after the
//! space), is invalid there although the kernel's parser (used on the raw
//! C string by xnu's `OSKext::setInfoDictionaryAndPath`) accepts it. Use
//! [`KextVersion::parse`] for the former and [`KextVersion::parse_kernel`]
//! for the latter.
//!
//! # Exclude list
//!
//! [`exclude_list_matches`] evaluates the string form of an
//! `OSKextExcludeList` entry (`AppleKextExcludeList.kext`) exactly as the
//! userland `_excludeThisVersion` does, quirks included (see its docs).
//! An entry can also be a dictionary: `Versions` (that same string form),
//! plus optional `Any_Match` / `All_Match` arrays of IOKit matching
//! dictionaries. A non-empty `Any_Match` requires that at least one of its
//! dictionaries matches a service in the live IORegistry, a non-empty
//! `All_Match` that every one does (non-dictionary elements are skipped),
//! and only then is `Versions` checked; a missing or non-string `Versions`
//! means "not excluded". kcheck works offline and cannot evaluate IORegistry
//! matching, so this module offers no dictionary type: the caller evaluates
//! the `Versions` string with [`exclude_list_matches`] and reports a match
//! as conditional on the hardware when either array is non-empty.
//!
//! # What this module deliberately does not do
//!
//! - It does not read plists or bundles; callers pass the strings.
//! - It does not evaluate `Any_Match` / `All_Match` (IORegistry matching).
//! - It does not port the kernel's own, different exclude check
//!   (xnu `libkern/c++/OSKext.cpp`, `OSKext::isInExcludeList`), which has no
//!   `thru` ranges, ignores dictionary entries and ignores strings longer
//!   than 31 bytes; [`exclude_list_matches`] is the userland (kernel-cache
//!   building) rule.
//! - It does not mirror `OSKextIsInExcludeList`'s guard that a kext with
//!   version value 0 (no version) is never excluded; it has no such value.
//! - It does not mirror what CoreFoundation might do with an exclude string
//!   of 256 or more UTF-8 bytes when no direct C-string pointer is available
//!   (`GET_CSTRING_PTR` falls back to a 256-byte buffer); the whole string
//!   is scanned, as on the pointer path.
//! - It never panics, uses no `unsafe`, and allocates only for formatting.

#![forbid(unsafe_code)]

use std::fmt;

/// `kOSKextVersionMaxLength`: the size of the buffer userland copies a
/// version string into, terminating NUL included. A `CFBundleVersion` of
/// this many characters or more is invalid to [`KextVersion::parse`].
pub const VERSION_MAX_LENGTH: usize = 20;

/// Size of each per-item buffer in `_excludeThisVersion` (`char myBuffer[32]`).
/// An item reaching this many bytes aborts the scan.
pub const EXCLUDE_ITEM_BUFFER: usize = 32;

const PART_DIGITS: usize = 4;
const LEVEL_DIGITS: usize = 3;
const MAJOR_MAX: i64 = 9999;
const LEVEL_MAX: i64 = 255;

const MAJOR_MULT: i64 = 1_000_000_000_000;
const MINOR_MULT: i64 = 100_000_000;
const REVISION_MULT: i64 = 10_000;
const STAGE_MULT: i64 = 1_000;

const STAGE_DEVELOPMENT: i64 = 1;
const STAGE_ALPHA: i64 = 3;
const STAGE_BETA: i64 = 5;
const STAGE_CANDIDATE: i64 = 7;
const STAGE_RELEASE: i64 = 9;

/// The value `OSKextParseVersionString` returns for a string it rejects.
const INVALID: i64 = -1;

/// A valid encoded kext version (Apple's `OSKextVersion`), as produced by
/// `OSKextParseVersionString`.
///
/// The derived ordering is Apple's: plain comparison of the encoded value.
/// Every `KextVersion` is a value the parser can produce, so it is always
/// positive and its [`Display`](fmt::Display) form parses back to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KextVersion(i64);

impl KextVersion {
    /// Parses a version string as userland does (`OSKextParseVersionCFString`):
    /// `None` if `s` has [`VERSION_MAX_LENGTH`] (20) or more bytes, contains a
    /// non-ASCII character, or fails [`KextVersion::parse_kernel`].
    ///
    /// A NUL character ends the string, as it would end the C buffer.
    #[must_use]
    pub fn parse(s: &str) -> Option<KextVersion> {
        if s.len() >= VERSION_MAX_LENGTH || !s.is_ascii() {
            return None;
        }
        Self::parse_kernel(s)
    }

    /// Parses a version string as `OSKextParseVersionString` does on a C
    /// string (the kernel's path), with no length limit: `None` where the C
    /// function returns -1.
    ///
    /// Whatever follows a space, tab, CR, LF or NUL is ignored, non-ASCII
    /// text included.
    #[must_use]
    pub fn parse_kernel(s: &str) -> Option<KextVersion> {
        let value = parse_c_string(s.as_bytes());
        (value >= 0).then_some(KextVersion(value))
    }

    /// Accepts an encoded value only if the parser could have produced it:
    /// each part 0–9999, stage d/a/b with level 0–255, f with 1–255, or
    /// release with level 0.
    #[must_use]
    pub fn from_value(value: i64) -> Option<KextVersion> {
        let parts = Parts::decode(value)?;
        let level_ok = match parts.stage {
            STAGE_RELEASE => parts.level == 0,
            STAGE_CANDIDATE => parts.level >= 1,
            _ => true,
        };
        level_ok.then_some(KextVersion(value))
    }

    /// The encoded value, comparable with Apple's `OSKextVersion`.
    #[must_use]
    pub fn value(self) -> i64 {
        self.0
    }
}

/// Renders the canonical form `OSKextVersionGetString` writes: `MAJOR.MINOR`
/// always, `.REVISION` only if non-zero, then the stage letter (`f` for both
/// `f` and `fc`) and level unless it is a release. `1.00.0fc1` prints as
/// `1.0f1`.
impl fmt::Display for KextVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match Parts::decode(self.0) {
            Some(parts) => parts.write(f),
            // Unreachable for a value built by this module; mirror C anyway.
            None => f.write_str("(invalid)"),
        }
    }
}

/// `OSKextVersionGetString` for any encoded value: `(invalid)` for negative
/// values or ones that do not decode (major above 9999, level above 255, a
/// stage other than 1/3/5/7/9), `(missing)` for 0 (`kOSKextVersionUndefined`),
/// otherwise the same text as [`KextVersion`]'s `Display`. Like the C, a
/// release stage's level is not printed.
#[must_use]
pub fn format_raw(value: i64) -> String {
    if value < 0 {
        return "(invalid)".to_owned();
    }
    if value == 0 {
        return "(missing)".to_owned();
    }
    match Parts::decode(value) {
        Some(parts) => parts.to_string(),
        None => "(invalid)".to_owned(),
    }
}

/// An encoded value split as `OSKextVersionGetString` splits it.
struct Parts {
    major: i64,
    minor: i64,
    revision: i64,
    stage: i64,
    level: i64,
}

impl Parts {
    /// Splits `value`, or `None` where `OSKextVersionGetString` would print
    /// `(invalid)` (0, which it prints as `(missing)`, is also `None`).
    fn decode(value: i64) -> Option<Parts> {
        if value <= 0 {
            return None;
        }
        let major = value / MAJOR_MULT;
        if major > MAJOR_MAX {
            return None;
        }
        let rest = value % MAJOR_MULT;
        let minor = rest / MINOR_MULT;
        let rest = rest % MINOR_MULT;
        let revision = rest / REVISION_MULT;
        let rest = rest % REVISION_MULT;
        let stage = rest / STAGE_MULT;
        let level = rest % STAGE_MULT;
        if level > LEVEL_MAX || stage_suffix(stage).is_none() {
            return None;
        }
        Some(Parts { major, minor, revision, stage, level })
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.revision != 0 {
            write!(f, ".{}", self.revision)?;
        }
        f.write_str(stage_suffix(self.stage).unwrap_or(""))?;
        if self.stage < STAGE_RELEASE {
            write!(f, "{}", self.level)?;
        }
        Ok(())
    }
}

impl fmt::Display for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

/// `__OSKextVersionStringForStage`: the printed stage, `None` if invalid.
fn stage_suffix(stage: i64) -> Option<&'static str> {
    match stage {
        STAGE_DEVELOPMENT => Some("d"),
        STAGE_ALPHA => Some("a"),
        STAGE_BETA => Some("b"),
        STAGE_CANDIDATE => Some("f"),
        STAGE_RELEASE => Some(""),
        _ => None,
    }
}

/// `__vers_isspace`: exactly these four, not `\v`, `\f` or Unicode spaces.
fn is_vers_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The points where the C parser stops successfully: a space or the NUL.
fn is_end(c: u8) -> bool {
    c == 0 || is_vers_space(c)
}

/// The C string `s` denotes: everything before its first NUL.
fn until_nul(s: &[u8]) -> &[u8] {
    s.split(|&c| c == 0).next().unwrap_or(s)
}

/// A read cursor that yields NUL at and past the end, like a C string.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek_at(&self, ahead: usize) -> u8 {
        self.pos.checked_add(ahead).and_then(|i| self.bytes.get(i)).copied().unwrap_or(0)
    }

    fn peek(&self) -> u8 {
        self.peek_at(0)
    }

    fn advance(&mut self, by: usize) {
        self.pos = self.pos.saturating_add(by);
    }
}

/// Where the numeric-part scanner goes next (the C's `goto` targets).
enum Next {
    /// Scan the next numeric part (minor after major, revision after minor).
    Part,
    /// Go to `release_state:` (a stage letter or the end follows).
    Stage,
    /// Go to `finish:` as a release.
    Release,
}

/// `OSKextParseVersionString` on the C string `s` (cut at its first NUL):
/// the encoded version, or -1.
fn parse_c_string(s: &[u8]) -> i64 {
    parse_version(until_nul(s)).unwrap_or(INVALID)
}

/// The parser proper; `None` stands for every `return -1`.
fn parse_version(s: &[u8]) -> Option<i64> {
    let mut cur = Cursor { bytes: s, pos: 0 };

    // The first character must be a digit (this also rejects "").
    let first = cur.peek();
    if !first.is_ascii_digit() {
        return None;
    }
    cur.advance(1);

    let mut parts = [i64::from(first - b'0'), 0, 0];
    let mut next = Next::Stage;
    for (index, part) in parts.iter_mut().enumerate() {
        let is_revision = index == 2;
        let scanned = if index == 0 { 1 } else { 0 };
        next = scan_part(&mut cur, part, scanned, is_revision)?;
        if !matches!(next, Next::Part) {
            break;
        }
    }

    let (stage, level) = match next {
        Next::Release => (STAGE_RELEASE, 0),
        // `Part` after the revision means "fall into release_state:".
        Next::Stage | Next::Part => scan_stage(&mut cur)?,
    };

    if stage == STAGE_CANDIDATE && level == 0 {
        return None;
    }
    let [major, minor, revision] = parts;
    Some(major * MAJOR_MULT + minor * MINOR_MULT + revision * REVISION_MULT + stage * STAGE_MULT + level)
}

/// One numeric part: up to four digits accumulated into `value`, `scanned`
/// of them already consumed. Major and minor end at a `.`; the revision
/// rejects a `.` except the one directly after its fourth digit.
fn scan_part(cur: &mut Cursor<'_>, value: &mut i64, mut scanned: usize, is_revision: bool) -> Option<Next> {
    while scanned < PART_DIGITS {
        let c = cur.peek();
        if is_end(c) {
            return Some(Next::Release);
        } else if c.is_ascii_digit() {
            *value = *value * 10 + i64::from(c - b'0');
            cur.advance(1);
            scanned += 1;
        } else if matches!(c, b'd' | b'a' | b'b' | b'f') {
            return Some(Next::Stage);
        } else if c == b'.' && !is_revision {
            cur.advance(1);
            return Some(Next::Part);
        } else {
            return None;
        }
    }
    // Four digits: a fifth is an error, one `.` is consumed, anything else is
    // left for the next scanner (which treats it exactly as this one would).
    match cur.peek() {
        b'.' => cur.advance(1),
        c if c.is_ascii_digit() => return None,
        _ => {}
    }
    Some(Next::Part)
}

/// `release_state:` and the stage level: `(stage, level)`, or `None`.
fn scan_stage(cur: &mut Cursor<'_>) -> Option<(i64, i64)> {
    let c = cur.peek();
    if is_end(c) {
        return Some((STAGE_RELEASE, 0));
    }
    // `__OSKextVersionStageForString`: a stage needs a digit right after it.
    let next_is_digit = cur.peek_at(1).is_ascii_digit();
    let (stage, letters) = match c {
        b'd' if next_is_digit => (STAGE_DEVELOPMENT, 1),
        b'a' if next_is_digit => (STAGE_ALPHA, 1),
        b'b' if next_is_digit => (STAGE_BETA, 1),
        b'f' if next_is_digit => (STAGE_CANDIDATE, 1),
        b'f' if cur.peek_at(1) == b'c' && cur.peek_at(2).is_ascii_digit() => (STAGE_CANDIDATE, 2),
        _ => return None,
    };
    cur.advance(letters);

    let mut level: i64 = 0;
    let mut scanned = 0;
    while scanned < LEVEL_DIGITS {
        let c = cur.peek();
        if is_end(c) {
            // `scanned` is never 0 here (a digit follows the stage); the C
            // checks anyway, and a level of fewer than three digits skips
            // the 255 test below, harmlessly (at most 99).
            return (scanned > 0).then_some((stage, level));
        } else if c.is_ascii_digit() {
            level = level * 10 + i64::from(c - b'0');
            cur.advance(1);
            scanned += 1;
        } else {
            return None;
        }
    }
    if !is_end(cur.peek()) || level > LEVEL_MAX {
        return None;
    }
    Some((stage, level))
}

/// A fixed `char[32]` item buffer of `_excludeThisVersion`.
struct ItemBuffer {
    bytes: [u8; EXCLUDE_ITEM_BUFFER],
    len: usize,
}

impl ItemBuffer {
    fn new() -> ItemBuffer {
        ItemBuffer { bytes: [0; EXCLUDE_ITEM_BUFFER], len: 0 }
    }

    /// Stores `c`; `false` once the buffer is full, which in C is the
    /// "bogus version string" `break` after the 32nd byte.
    fn push(&mut self, c: u8) -> bool {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = c;
            self.len += 1;
        }
        self.len < EXCLUDE_ITEM_BUFFER
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// `OSKextParseVersionString` of the buffer's contents.
    fn parse(&self) -> i64 {
        parse_c_string(self.bytes.get(..self.len).unwrap_or_default())
    }
}

/// Whether an `OSKextExcludeList` version string excludes `version`
/// (userland `_excludeThisVersion`, used by `kextcache` when it builds a
/// kernel cache).
///
/// The rule is a list of comma-separated items; each is a version (match if
/// equal) or `LOW thru HIGH` (match if `LOW <= v <= HIGH`). A leading `LT` or
/// `LE`, recognised only as the first two bytes of the whole string (no
/// whitespace before it, upper case), turns the first item into `v < X` or
/// `v <= X`; the flags reset after each comma, so `LE` after a comma makes
/// that item unparseable. Exact behaviour, quirks included:
///
/// - Space, tab, CR and LF are removed everywhere, so `1. 0` is `1.0` and
///   `1.0 beta` becomes the invalid `1.0beta`.
/// - `thru` is recognised wherever the case-sensitive four bytes occur
///   (`1.0thru2.0` works). A second `thru` inside a range ends that item as
///   a comma would, and its `hru` then starts the next item.
/// - An item that does not parse has the value -1: it never matches by
///   equality, `LT`/`LE` or as a range's upper end, but as a range's lower
///   end it removes the lower bound (`thru 2.0` is "at most 2.0").
/// - A range ignores `LT`/`LE`.
/// - An item reaching 32 non-whitespace bytes aborts the whole scan with
///   "not excluded", even if a later item would match (earlier items have
///   already been checked).
/// - The string ends at its first NUL; an empty string excludes nothing.
///
/// Items are parsed as [`KextVersion::parse_kernel`] does (no 20-byte limit,
/// which makes no difference since whitespace is stripped and every valid
/// version is under 20 bytes).
#[must_use]
pub fn exclude_list_matches(rule: &str, version: KextVersion) -> bool {
    exclude_list_matches_raw(rule, version.0)
}

/// [`exclude_list_matches`] for any encoded value, as `_excludeThisVersion`
/// receives it from `OSKextIsInExcludeList`: a kext whose `CFBundleVersion`
/// did not parse is recorded with -1, which equals every unparseable item
/// and is below every `LT`/`LE` bound, so such a kext *is* excluded by e.g.
/// `LE 1.0`. (`OSKextIsInExcludeList` itself skips the value 0.)
#[must_use]
pub fn exclude_list_matches_raw(rule: &str, version: i64) -> bool {
    let mut s = until_nul(rule.as_bytes());
    if s.is_empty() {
        return false;
    }
    let mut less_than = false;
    let mut less_or_equal = false;
    if let Some(rest) = s.strip_prefix(b"LT") {
        less_than = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix(b"LE") {
        less_or_equal = true;
        s = rest;
    }

    let mut lower = ItemBuffer::new();
    let mut upper = ItemBuffer::new();
    let mut in_upper = false;
    let mut i = 0;
    // `i == s.len()` is the terminating NUL, which ends the last item.
    while i <= s.len() {
        let c = s.get(i).copied().unwrap_or(0);
        if is_vers_space(c) {
            i += 1;
            continue;
        }
        let at_thru = s.get(i..).is_some_and(|rest| rest.starts_with(b"thru"));
        if c == b',' || c == 0 || at_thru {
            if at_thru && !in_upper {
                in_upper = true;
                upper.clear();
                i += 4;
                continue;
            }
            let low = lower.parse();
            let excluded = if in_upper {
                version >= low && version <= upper.parse()
            } else if less_or_equal {
                version <= low
            } else if less_than {
                version < low
            } else {
                version == low
            };
            if excluded {
                return true;
            }
            lower.clear();
            upper.clear();
            less_than = false;
            less_or_equal = false;
            in_upper = false;
        } else {
            let buffer = if in_upper { &mut upper } else { &mut lower };
            if !buffer.push(c) {
                return false;
            }
        }
        i += 1;
    }
    false
}

/// Whether two `CFBundleVersion` strings name the same version as Apple
/// compares them (`OSKextParseVersionString` values: `1.0` = `1.00` =
/// `1.0.0`); strings that do not parse are compared as strings.
pub fn same_version(a: Option<&str>, b: Option<&str>) -> bool {
    match (a.and_then(KextVersion::parse), b.and_then(KextVersion::parse)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> KextVersion {
        match KextVersion::parse(s) {
            Some(version) => version,
            None => panic!("{s:?} should parse"),
        }
    }

    fn kernel(s: &str) -> i64 {
        parse_c_string(s.as_bytes())
    }

    #[test]
    fn equal_spellings() {
        for s in ["1.0", "1.00", "1.0.0", "1.", "1..", "1.0.", "0001", "1.0000", "1.0.0000"] {
            assert_eq!(v(s), v("1"), "{s}");
        }
        assert_eq!(v("1.01"), v("1.1"));
        assert_eq!(v("1.0001"), v("1.1"));
        assert_eq!(v("1..2"), v("1.0.2"));
        assert_eq!(v("1.0fc1"), v("1.0f1"));
        assert_eq!(v("1.0b001"), v("1.0b1"));
        assert_eq!(v("1b1"), v("1.0b1"));
        assert_eq!(v("1.b1"), v("1.0b1"));
        assert_eq!(v("1..b1"), v("1.0b1"));
        assert_eq!(v("1.2.b1"), v("1.2b1"));
    }

    #[test]
    fn ordering_chain() {
        let chain = ["1.0d1", "1.0a1", "1.0b1", "1.0b255", "1.0f1", "1.0fc2", "1.0", "1.0.1d1", "1.9", "1.10"];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
        assert_eq!(v("1.0f1"), v("1.0fc1"));
        assert!(v("1.0d0") < v("1.0d1"));
        assert!(v("1.0d255") < v("1.0a0"));
        assert!(v("1.0b0") < v("1.0b1"));
        assert!(v("1.0.9999") < v("1.1d0"));
        assert!(v("1.9999.9999") < v("2.0d0"));
    }

    #[test]
    fn trailing_text_after_whitespace() {
        for s in ["1.0 beta", "1.0\tx", "1.0\r\n", "1.0\n", "1.0 ", "1 .5", "1.0b1 x", "1.0b123 z", "1.2.3456 x"] {
            assert!(KextVersion::parse(s).is_some(), "{s:?}");
        }
        assert_eq!(v("1.0 beta"), v("1.0"));
        assert_eq!(v("1 .5"), v("1"));
        assert_eq!(v("1.0b1 x"), v("1.0b1"));
    }

    #[test]
    fn exact_values() {
        assert_eq!(v("0").value(), 9000);
        assert_eq!(v("0.0d0").value(), 1000);
        assert_eq!(v("9999.9999.9999").value(), 9_999_999_999_999_000);
        assert_eq!(v("9999.9999.9999fc255").value(), 9_999_999_999_997_255);
        assert_eq!(v("1.2.3b4").value(), 1_000_000_000_000 + 200_000_000 + 30_000 + 5_000 + 4);
        assert_eq!(v("1.0d1").value(), 1_000_000_001_001);
        assert_eq!(v("1.0a2").value(), 1_000_000_003_002);
        assert_eq!(v("1.0f3").value(), 1_000_000_007_003);
    }

    #[test]
    fn required_invalid() {
        for s in ["1.2.3.4", "10000", "1.0b256", "1.0fc0", "1.0b", "1.0B1", "1.0rc1", "1.0.0-beta", "v1.0", " 1.0", ""]
        {
            assert_eq!(KextVersion::parse(s), None, "{s:?}");
            assert_eq!(KextVersion::parse_kernel(s), None, "{s:?}");
        }
    }

    // One group per `return -1` of OSKextParseVersionString.
    #[test]
    fn every_error_branch() {
        let groups: [&[&str]; 13] = [
            // empty / NUL at the start
            &["", "\0", "\u{0}1.0"],
            // first character not a digit
            &["v1.0", " 1.0", "\t1", ".1", "-1", "+1", "b1", "\u{a0}1", "é"],
            // major: other character
            &["1x", "1,0", "1-0", "1_0", "1B1", "1c1", "1e1", "1\u{b}", "1\u{c}", "1é"],
            // major: fifth digit
            &["10000", "00001", "12345.1"],
            // minor: other character
            &["1.x", "1.0-1", "1.0x", "1.0c1", "1.0\u{b}", "1234x", "1234,"],
            // minor: fifth digit
            &["1.10000", "1.00000"],
            // revision: other character, including any `.`
            &["1.2.3.4", "1.0.0-beta", "1...", "1.2.3.", "1..2.", "1.2.x", "1.2345..", "1.2345x", "1.2.3\u{a0}"],
            // revision: fifth digit
            &["1.2.10000", "1..00000"],
            // release_state: unknown or incomplete stage
            &[
                "1.0rc1",
                "1.0B1",
                "1.0b",
                "1.0d",
                "1.0a",
                "1.0f",
                "1.0fc",
                "1.0fx1",
                "1.0fC1",
                "1.0b 1",
                "1.0b\t1",
                "1.2.3456.7",
                "1.2.3456..",
                "1.2.3456.x",
                "1.2.3456x",
                "1.2.3456B1",
            ],
            // stage level: other character
            &["1.0b1x", "1.0b1.1", "1.0b1-", "1.0fc1a", "1.0b1\u{b}", "1.0b1b1"],
            // stage level: a fourth digit
            &["1.0b1234", "1.0b0001", "1.0fc0010"],
            // stage level above 255
            &["1.0b256", "1.0b999", "1.0d300", "1.0fc256"],
            // candidate with level 0
            &["1.0f0", "1.0fc0", "1.0fc000", "1.0f00", "1f0", "1.0fc0 x"],
        ];
        for group in groups {
            for s in group {
                assert_eq!(kernel(s), INVALID, "{s:?}");
                assert_eq!(KextVersion::parse(s), None, "{s:?}");
            }
        }
    }

    #[test]
    fn valid_edge_cases() {
        let cases: [(&str, i64); 16] = [
            ("1.0d0", 1_000_000_001_000),
            ("1.0a0", 1_000_000_003_000),
            ("1.0b0", 1_000_000_005_000),
            ("1.0b000", 1_000_000_005_000),
            ("1.0b255", 1_000_000_005_255),
            ("1.0fc255", 1_000_000_007_255),
            ("1234", 1_234_000_000_009_000),
            ("1234.", 1_234_000_000_009_000),
            ("1234b1", 1_234_000_000_005_001),
            ("1234.5678.", 1_234_567_800_009_000),
            ("1.2345b1", 1_234_500_005_001),
            ("1.2.3456.", 1_000_234_569_000),
            ("1.2.3456.b1", 1_000_234_565_001),
            ("1.2.3456 .", 1_000_234_569_000),
            ("1.2.3456b1", 1_000_234_565_001),
            ("0.0.0", 9_000),
        ];
        for (s, value) in cases {
            assert_eq!(kernel(s), value, "{s:?}");
        }
    }

    #[test]
    fn userland_length_limit() {
        // 19 characters: accepted by both.
        let nineteen = "1.0 beta build 1234";
        assert_eq!(nineteen.len(), 19);
        assert_eq!(KextVersion::parse(nineteen), KextVersion::parse_kernel(nineteen));
        assert!(KextVersion::parse("9999.9999.9999fc255").is_some());
        // 20 characters: the kernel parser accepts, userland does not.
        let twenty = "1.0 beta build 12345";
        assert_eq!(twenty.len(), 20);
        assert_eq!(KextVersion::parse_kernel(twenty), Some(v("1.0")));
        assert_eq!(KextVersion::parse(twenty), None);
        let long = "1.0                                                   ";
        assert!(KextVersion::parse_kernel(long).is_some());
        assert!(KextVersion::parse(long).is_none());
    }

    #[test]
    fn userland_rejects_non_ascii() {
        assert_eq!(KextVersion::parse_kernel("1.0 é"), Some(v("1.0")));
        assert_eq!(KextVersion::parse("1.0 é"), None);
        assert_eq!(KextVersion::parse("1.0 \u{7f}"), Some(v("1.0")));
    }

    #[test]
    fn nul_ends_the_string() {
        assert_eq!(KextVersion::parse("1.0\0garbage"), Some(v("1.0")));
        assert_eq!(KextVersion::parse_kernel("1.0b\x001"), None);
        assert_eq!(KextVersion::parse_kernel("1.0f\0c1"), None);
        assert_eq!(KextVersion::parse_kernel("1.0b12\x003"), Some(v("1.0b12")));
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            ("1", "1.0"),
            ("1.0.0", "1.0"),
            ("01.01.01", "1.1.1"),
            ("1..2", "1.0.2"),
            ("0", "0.0"),
            ("1.0fc1", "1.0f1"),
            ("1.0b0", "1.0b0"),
            ("0.0d0", "0.0d0"),
            ("1.2.3a004", "1.2.3a4"),
            ("1.0 beta", "1.0"),
            ("9999.9999.9999fc255", "9999.9999.9999f255"),
            ("1.0.0d1", "1.0d1"),
        ];
        for (input, shown) in cases {
            assert_eq!(v(input).to_string(), shown, "{input:?}");
            assert_eq!(format_raw(v(input).value()), shown, "{input:?}");
        }
    }

    #[test]
    fn format_raw_special_values() {
        assert_eq!(format_raw(-1), "(invalid)");
        assert_eq!(format_raw(i64::MIN), "(invalid)");
        assert_eq!(format_raw(0), "(missing)");
        assert_eq!(format_raw(10_000 * MAJOR_MULT), "(invalid)");
        assert_eq!(format_raw(i64::MAX), "(invalid)");
        assert_eq!(format_raw(MAJOR_MULT), "(invalid)"); // stage 0
        assert_eq!(format_raw(MAJOR_MULT + 2_000), "(invalid)"); // stage 2
        assert_eq!(format_raw(MAJOR_MULT + 8_000), "(invalid)"); // stage 8
        assert_eq!(format_raw(MAJOR_MULT + 5_256), "(invalid)"); // level 256
        assert_eq!(format_raw(MAJOR_MULT + 9_001), "1.0"); // release level not shown
        assert_eq!(format_raw(MAJOR_MULT + 7_000), "1.0f0"); // printable, unparseable
    }

    #[test]
    fn from_value_accepts_only_parser_outputs() {
        assert_eq!(KextVersion::from_value(9_000), Some(v("0")));
        assert_eq!(KextVersion::from_value(v("1.2.3fc4").value()), Some(v("1.2.3f4")));
        for bad in [-1, 0, 1, 999, MAJOR_MULT, MAJOR_MULT + 9_001, MAJOR_MULT + 7_000, MAJOR_MULT + 5_256, i64::MAX] {
            assert_eq!(KextVersion::from_value(bad), None, "{bad}");
        }
        assert_eq!(KextVersion::from_value(MAJOR_MULT + 5_000), Some(v("1.0b0")));
    }

    /// Every string over a small alphabet up to length 5: no panic, the
    /// canonical form parses back to the same value, `from_value` agrees,
    /// and userland agrees with the kernel on short ASCII strings.
    #[test]
    fn exhaustive_small_strings() {
        let alphabet = b"019.bfcdax ";
        let mut buf = Vec::with_capacity(5);
        let mut valid = 0usize;
        fn walk(buf: &mut Vec<u8>, alphabet: &[u8], depth: usize, valid: &mut usize) {
            let s = std::str::from_utf8(buf).unwrap_or("");
            let kernel = KextVersion::parse_kernel(s);
            assert_eq!(KextVersion::parse(s), kernel, "{s:?}");
            if let Some(version) = kernel {
                *valid += 1;
                assert_eq!(KextVersion::parse_kernel(&version.to_string()), Some(version), "{s:?}");
                assert_eq!(KextVersion::from_value(version.value()), Some(version), "{s:?}");
            }
            if depth == 0 {
                return;
            }
            for &c in alphabet {
                buf.push(c);
                walk(buf, alphabet, depth - 1, valid);
                buf.pop();
            }
        }
        walk(&mut buf, alphabet, 5, &mut valid);
        assert!(valid > 1_000);
    }

    #[test]
    fn from_value_matches_format_roundtrip() {
        for stage in 0..10 {
            for level in [0, 1, 99, 100, 255, 256, 999] {
                let value = 12 * MAJOR_MULT + 34 * MINOR_MULT + 56 * REVISION_MULT + stage * STAGE_MULT + level;
                let reparsed = KextVersion::parse_kernel(&format_raw(value)).map(KextVersion::value);
                assert_eq!(KextVersion::from_value(value).map(KextVersion::value), reparsed.filter(|&r| r == value));
            }
        }
    }

    const RULE: &str = "LE 1.5.0, 2.0.0 thru 3.1.4, 4.2.2";

    #[test]
    fn exclude_example_rule() {
        let cases = [
            ("1.0", true),
            ("1.5.0", true),
            ("1.6", false),
            ("2.0.0", true),
            ("2.5", true),
            ("3.1.4", true),
            ("3.1.5", false),
            ("4.2.2", true),
            ("4.2.3", false),
            ("1.5.0d1", true),
            ("2.0.0b1", false),
            ("3.1.4f1", true),
        ];
        for (version, expected) in cases {
            assert_eq!(exclude_list_matches(RULE, v(version)), expected, "{version}");
        }
    }

    #[test]
    fn exclude_less_than() {
        assert!(exclude_list_matches("LT 2.0", v("1.9")));
        assert!(!exclude_list_matches("LT 2.0", v("2.0")));
        assert!(exclude_list_matches("LT2.0", v("1.9")));
        assert!(exclude_list_matches("LE 2.0", v("2.0")));
        assert!(!exclude_list_matches("LE 2.0", v("2.0.1")));
    }

    #[test]
    fn exclude_prefix_only_at_start() {
        // A second LE after a comma makes that item "LE2.0": never matches.
        assert!(!exclude_list_matches("1.0, LE 2.0", v("1.5")));
        assert!(exclude_list_matches("1.0, LE 2.0", v("1.0")));
        assert!(!exclude_list_matches("1.0, LE 2.0", v("2.0")));
        // The prefix covers only the first item.
        assert!(exclude_list_matches("LE 2.0, 3.0", v("1.0")));
        assert!(!exclude_list_matches("LE 2.0, 3.0", v("2.5")));
        assert!(exclude_list_matches("LE 2.0, 3.0", v("3.0")));
        // Leading whitespace or lower case defeats the prefix.
        assert!(!exclude_list_matches(" LE 2.0", v("1.0")));
        assert!(!exclude_list_matches("le 2.0", v("1.0")));
        // A range ignores the prefix.
        assert!(!exclude_list_matches("LE 1.0 thru 2.0", v("0.5")));
        assert!(exclude_list_matches("LE 1.0 thru 2.0", v("1.5")));
        // Bare prefixes exclude nothing.
        for rule in ["LE", "LT", "L", "LE ,", "LT,"] {
            assert!(!exclude_list_matches(rule, v("1.0")), "{rule:?}");
        }
    }

    #[test]
    fn exclude_long_item_aborts_scan() {
        let forty = "1234567890".repeat(4);
        let rule = format!("1.0, {forty}, 2.0");
        assert!(exclude_list_matches(&rule, v("1.0")), "earlier item already matched");
        assert!(!exclude_list_matches(&rule, v("2.0")), "scan aborted before 2.0");
        // 31 bytes is still an (unparseable) item; 32 aborts.
        let x31 = "x".repeat(31);
        let x32 = "x".repeat(32);
        assert!(exclude_list_matches(&format!("{x31}, 2.0"), v("2.0")));
        assert!(!exclude_list_matches(&format!("{x32}, 2.0"), v("2.0")));
        // Whitespace does not count towards the 32 bytes.
        let spaced = format!("{}, 2.0", "x ".repeat(31));
        assert!(exclude_list_matches(&spaced, v("2.0")));
        // The upper buffer has the same limit.
        assert!(exclude_list_matches(&format!("1.0 thru {x31}, 2.0"), v("2.0")));
        assert!(!exclude_list_matches(&format!("1.0 thru {x32}, 2.0"), v("2.0")));
        // Invalid lower bound of 31 bytes: open below. 32 bytes: aborted.
        assert!(exclude_list_matches(&format!("{x31} thru 2.0"), v("1.0")));
        assert!(!exclude_list_matches(&format!("{x32} thru 2.0"), v("1.0")));
    }

    #[test]
    fn exclude_whitespace_and_separators() {
        assert!(exclude_list_matches("1. 0", v("1.0")));
        assert!(!exclude_list_matches("1.0 beta", v("1.0")));
        assert!(exclude_list_matches("1.0,\n\t2.0\r", v("2.0")));
        assert!(exclude_list_matches("1.0,,2.0", v("2.0")));
        assert!(exclude_list_matches(",1.0", v("1.0")));
        assert!(exclude_list_matches("1.0,", v("1.0")));
        assert!(!exclude_list_matches("", v("1.0")));
        assert!(!exclude_list_matches(" , ", v("1.0")));
        assert!(exclude_list_matches("1.0fc1", v("1.0f1")));
        assert!(exclude_list_matches("1.00.0", v("1")));
        // The string ends at its first NUL.
        assert!(!exclude_list_matches("1.0\0, 2.0", v("2.0")));
        assert!(exclude_list_matches("1.0\0, 2.0", v("1.0")));
    }

    #[test]
    fn exclude_thru_quirks() {
        assert!(exclude_list_matches("1.0thru2.0", v("1.5")));
        assert!(!exclude_list_matches("2.0 THRU 3.0", v("2.5")));
        assert!(!exclude_list_matches("2.0 th ru 3.0", v("2.5")));
        // Missing upper bound: -1, never matches.
        assert!(!exclude_list_matches("2.0 thru", v("2.0")));
        assert!(!exclude_list_matches("2.0 thru , 3.0", v("2.0")));
        assert!(exclude_list_matches("2.0 thru , 3.0", v("3.0")));
        // Missing or invalid lower bound: no lower bound.
        assert!(exclude_list_matches("thru 2.0", v("0.1")));
        assert!(exclude_list_matches("bogus thru 2.0", v("1.0")));
        assert!(!exclude_list_matches("bogus thru 2.0", v("2.1")));
        // Reversed range matches nothing.
        assert!(!exclude_list_matches("3.0 thru 2.0", v("2.5")));
        // A second thru closes the range; "hru3.0" is the next item.
        let rule = "1.0 thru 2.0 thru 3.0";
        assert!(exclude_list_matches(rule, v("1.5")));
        assert!(!exclude_list_matches(rule, v("2.5")));
        assert!(!exclude_list_matches(rule, v("3.0")));
        // ... which a comma would not do.
        assert!(exclude_list_matches("1.0 thru 2.0, 3.0", v("3.0")));
    }

    #[test]
    fn exclude_raw_invalid_kext_version() {
        assert!(exclude_list_matches_raw("bogus", -1));
        assert!(exclude_list_matches_raw("LE 1.0", -1));
        assert!(exclude_list_matches_raw("LT 1.0", -1));
        assert!(!exclude_list_matches_raw("1.0", -1));
        assert!(!exclude_list_matches_raw("", -1));
        assert!(exclude_list_matches_raw("thru 2.0", -1));
    }

    #[test]
    fn exclude_never_panics_on_odd_input() {
        let samples = [
            "thru",
            "thruthruthru",
            "t",
            "th",
            "LTthru",
            "LE thru thru",
            ",,,,",
            "é, ü thru ö",
            "\u{0}",
            "1.0 thru 2.0 thru 3.0 thru 4.0 thru",
        ];
        for rule in samples {
            for version in ["0", "1.0", "9999.9999.9999"] {
                let _ = exclude_list_matches(rule, v(version));
            }
        }
        let huge = "1.0, ".repeat(10_000);
        assert!(exclude_list_matches(&huge, v("1.0")));
        assert!(!exclude_list_matches(&huge, v("2.0")));
    }
}
