//! Bounded reading of untrusted property lists: XML and binary (`bplist00`)
//! plists become a [`plist::Value`] without the input ever making this
//! process build more than [`Limits`] allow. ASCII/OpenStep plists are
//! refused.
//!
//! # What is bounded, and how
//!
//! - **Input size**: more than [`Limits::max_bytes`] is refused before any
//!   parsing.
//! - **Nesting**: an array or dictionary deeper than [`Limits::max_depth`]
//!   (the top-level container is depth 1) stops the parse the moment it
//!   opens. Nothing here recurses: both formats are read as a flat stream
//!   and the `Value` is built on an explicit stack of open containers, so
//!   the parse runs on a small (256 KiB) thread stack whatever the input.
//!   The depth limit also protects *callers*: `plist::Value` drops, clones,
//!   compares and prints itself recursively, so keep `max_depth` modest.
//! - **Elements**: every value produced (each scalar, array, dictionary and
//!   dictionary key) counts one against [`Limits::max_elements`]. This is
//!   what stops a binary plist's object graph from expanding: its arrays
//!   and dictionaries hold *references* into an object table, so a file of
//!   a few hundred bytes can name one array a thousand times, each naming
//!   another a thousand times (a DAG that would expand to billions of
//!   values). Counting the values as they are produced fails such a file
//!   after `max_elements` cheap steps, with memory proportional to what was
//!   built so far.
//! - **String bytes**: the bytes of all strings, data and keys together
//!   count against [`Limits::max_string_bytes`] (in a binary plist the
//!   encoded size, checked *before* the copy is made), so a shared large
//!   string named many times cannot multiply into gigabytes.
//! - **Cycles** in a binary plist (a container that contains itself,
//!   directly or further down) are refused: the path from the top object to
//!   the current one is the explicit stack, at most `max_depth` long, and a
//!   container whose bytes are already on that path is an error.
//!
//! Errors are [`FormatError`]s in layer `"plist"` (XML, format detection,
//! input size) or `"bplist"` (binary), at the best byte offset known: in a
//! binary plist the offending object, reference or trailer field; in XML
//! the start of the offending element (for a syntax error, where quick-xml
//! places it).
//!
//! # Why this does not drive `plist`'s event stream
//!
//! Findings on `plist` 1.10.3 (the version kcheck locks; 1.10.4 differs
//! only in its ASCII reader), from its source and the tests below:
//!
//! - `plist::stream` (`Reader`, `XmlReader`, `BinaryReader`, `Event`) is
//!   **private** unless the feature
//!   `enable_unstable_features_that_may_break_with_minor_version_bumps` is
//!   on (and the crate then asks for a `~` version requirement). Only
//!   `Value`, `Dictionary`, `Date`, `Integer` and `Uid` are used here, so
//!   `plist = { version = "1.10", default-features = false }` is enough.
//! - **Recursion.** Neither reader nor the builder behind
//!   `Value::from_reader` recurses: with the feature on, `XmlReader` streams
//!   the 600,000 events of a 300,000-deep `<array>` nesting on a 256 KiB
//!   stack, and `BinaryReader` keeps an explicit stack. The stack overflow comes from the *result*: the
//!   300,000-deep `Value` overflows the stack when it is dropped (drop glue
//!   recurses; so do `Clone`, `PartialEq` and `Debug`). Limiting depth while
//!   building, as here, removes it.
//! - **XML panics.** The XML reader turns `<date>` text into a `Date` with a
//!   UTC conversion that *panics* past year 9999
//!   (`<date>9999-12-31T23:00:00-02:00</date>` aborts the parse with "local
//!   datetime out of valid range"), and returns dates before year 0000
//!   (`0000-01-01T00:00:00+01:00`) whose `Debug` and XML output then panic.
//!   So the XML plist is read here with quick-xml 0.42 (the parser `plist`
//!   uses, already in kcheck's lock) under exactly `plist`'s element rules
//!   (the fuzz test checks it against `Value::from_reader_xml` on 40,000
//!   mutated files: same value or both an error), refusing those dates.
//!   quick-xml keeps the open element names on the heap, expands only the
//!   predefined entities and character references (no DTD entities, so no
//!   "billion laughs"), and no text it returns is longer than the input.
//! - **Binary.** `BinaryReader` is iterative and refuses cycles (an "on
//!   stack" flag per object). Its allocations from trailer fields are
//!   checked against the trailer's position, so a lying object count gives
//!   an error, not a huge allocation. But before the first event it copies
//!   the whole offset table into a `Vec<u64>` plus a tag byte per object (up
//!   to 9 times the input); it copies each array's or dictionary's
//!   reference list into a fresh `Vec<u64>` on *every* visit (again each
//!   time a DAG names the container, and held for every level of the
//!   current path); it has no budget at all (the DAG expands until memory
//!   runs out); it takes any byte after an extended-length marker as the
//!   length's size; it accepts dates back to year -9999 (which then panic
//!   when printed); and its errors carry the byte offset only in their text.
//!   So binary plists are read by the small reader below: it works on the
//!   byte slice, validates the trailer and offset table up front (sizes 1
//!   to 8, at least one object, top object below the count, offset table
//!   between the header and the trailer, its entries inside the file, each
//!   object between the header and the offset table), reads references in
//!   place (no per-container allocation: memory is the output plus a path
//!   stack of at most `max_depth` small frames), and gives exact offsets.
//!   It reads what `plist` reads, plus offset and reference sizes 5 to 7
//!   and negative 128-bit integers that fit an `i64` (both valid for
//!   CoreFoundation), and is stricter where `plist` is loose: extended
//!   lengths need an integer marker, objects must lie before the offset
//!   table, dates must lie in the years 0000 to 9999, and a container whose
//!   bytes are already on the current path (even under another object
//!   number) is a cycle.

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use plist::{Date, Dictionary, Integer, Uid, Value};
use quick_xml::Reader as XmlParser;
use quick_xml::escape::resolve_xml_entity;
use quick_xml::events::Event as XmlEvent;

use crate::error::{FormatError, FormatResult};

/// Layer named in errors about XML plists, format detection and input size.
const XML_LAYER: &str = "plist";
/// Layer named in errors about binary plists.
const BIN_LAYER: &str = "bplist";

/// Budgets for [`parse`]; the first one exceeded stops the parse with an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes (default 4 MiB).
    pub max_bytes: usize,
    /// Deepest nesting of arrays and dictionaries; the top-level container is
    /// depth 1 (default 64).
    pub max_depth: usize,
    /// Most values produced: each scalar, array, dictionary and dictionary key
    /// counts one (default 200,000).
    pub max_elements: usize,
    /// Most bytes of all strings, data and dictionary keys together, counted
    /// each time a value is produced, shared or not (default 16 MiB).
    pub max_string_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 4 << 20, max_depth: 64, max_elements: 200_000, max_string_bytes: 16 << 20 }
    }
}

/// Parse an XML or binary plist (detected by content) into a [`plist::Value`] without ever
/// building more than the limits allow; ASCII/OpenStep plists are refused.
///
/// Binary starts with `bplist` (only version `bplist00` is read); XML has
/// `<` as its first character that is not white space (after an optional
/// UTF-8 byte order mark). Anything else, an old-style ASCII/OpenStep plist
/// included, is an error.
pub fn parse(bytes: &[u8], limits: &Limits) -> FormatResult<Value> {
    if bytes.len() > limits.max_bytes {
        return Err(FormatError::new(
            XML_LAYER,
            0,
            format!("input is {} bytes, over the {} limit", bytes.len(), size(limits.max_bytes)),
        ));
    }
    if bytes.starts_with(b"bplist") {
        return parse_binary(bytes, limits);
    }
    let body = if bytes.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 };
    match bytes[body..].iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) if bytes[body + i] == b'<' => parse_xml(bytes, body, limits),
        None => Err(FormatError::new(XML_LAYER, 0, "empty input: not a plist")),
        Some(_) if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") => {
            Err(FormatError::new(XML_LAYER, 0, "UTF-16 encoded plists are not supported"))
        }
        Some(i) => Err(FormatError::new(
            XML_LAYER,
            (body + i) as u64,
            "neither an XML nor a binary (bplist00) plist; ASCII/OpenStep plists are refused",
        )),
    }
}

/// `n` bytes for a message: "16 MiB", "64 KiB" or "1000 bytes".
fn size(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

/// What has been spent of the [`Limits`] so far.
struct Budget<'a> {
    limits: &'a Limits,
    layer: &'static str,
    elements: usize,
    string_bytes: usize,
}

impl<'a> Budget<'a> {
    fn new(limits: &'a Limits, layer: &'static str) -> Self {
        Budget { limits, layer, elements: 0, string_bytes: 0 }
    }

    /// One more value, produced at `offset`.
    fn element(&mut self, offset: u64) -> FormatResult<()> {
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(FormatError::new(
                self.layer,
                offset,
                format!("more than {} elements", self.limits.max_elements),
            ));
        }
        Ok(())
    }

    /// `len` more bytes of string, data or key, at `offset`.
    fn strings(&mut self, len: usize, offset: u64) -> FormatResult<()> {
        self.string_bytes = self.string_bytes.saturating_add(len);
        if self.string_bytes > self.limits.max_string_bytes {
            return Err(FormatError::new(
                self.layer,
                offset,
                format!("strings exceed {}", size(self.limits.max_string_bytes)),
            ));
        }
        Ok(())
    }

    /// A container opening at `depth` (top level is 1), at `offset`.
    fn depth(&self, depth: usize, offset: u64) -> FormatResult<()> {
        if depth > self.limits.max_depth {
            return Err(FormatError::new(self.layer, offset, format!("nesting deeper than {}", self.limits.max_depth)));
        }
        Ok(())
    }
}

/// A container being built.
enum Open {
    Array(Vec<Value>),
    Dict { dict: Dictionary, key: Option<String> },
}

/// Builds a `Value` from a flat stream of start / value / end steps, on an
/// explicit stack (no recursion). Same rules as `plist`'s own builder: one
/// top-level value, dictionary keys are strings, a later duplicate key
/// replaces the earlier value.
#[derive(Default)]
struct Tree {
    open: Vec<Open>,
    root: Option<Value>,
}

impl Tree {
    /// How many containers are open.
    fn depth(&self) -> usize {
        self.open.len()
    }

    fn start(&mut self, open: Open) -> Result<(), &'static str> {
        if self.open.is_empty() && self.root.is_some() {
            return Err("more than one top-level value");
        }
        self.open.push(open);
        Ok(())
    }

    fn value(&mut self, value: Value) -> Result<(), &'static str> {
        match self.open.last_mut() {
            None if self.root.is_some() => return Err("more than one top-level value"),
            None => self.root = Some(value),
            Some(Open::Array(items)) => items.push(value),
            Some(Open::Dict { dict, key }) => match key.take() {
                Some(k) => {
                    dict.insert(k, value);
                }
                None => match value {
                    Value::String(k) => *key = Some(k),
                    _ => return Err("a dictionary key is not a string"),
                },
            },
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), &'static str> {
        let value = match self.open.pop() {
            None => return Err("end of a collection that was never opened"),
            Some(Open::Array(items)) => Value::Array(items),
            Some(Open::Dict { dict, key: None }) => Value::Dictionary(dict),
            Some(Open::Dict { key: Some(_), .. }) => return Err("a dictionary key has no value"),
        };
        self.value(value)
    }

    fn finish(self) -> Result<Value, &'static str> {
        if !self.open.is_empty() {
            return Err("unexpected end of input: an array or dictionary is not closed");
        }
        self.root.ok_or("no value in the plist")
    }
}

// ---------------------------------------------------------------- XML ----

fn xml_err(at: u64, message: impl Into<String>) -> FormatError {
    FormatError::new(XML_LAYER, at, message)
}

/// An XML plist starting at `start` (after any byte order mark). The element
/// rules are those of `plist`'s own XML reader (1.10.3), event for event.
fn parse_xml(bytes: &[u8], start: usize, limits: &Limits) -> FormatResult<Value> {
    let mut reader = XmlParser::from_reader(&bytes[start..]);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = true;
    let base = start as u64;
    let mut budget = Budget::new(limits, XML_LAYER);
    let mut tree = Tree::default();
    loop {
        // Where this event's markup starts.
        let at = base + reader.buffer_position();
        let event = reader.read_event();
        let value = match event.map_err(|e| xml_err(base + reader.error_position(), format!("invalid XML: {e}")))? {
            XmlEvent::Start(tag) => {
                let name = tag.local_name();
                let name: &str = name.as_ref();
                match name {
                    "plist" => continue,
                    "array" | "dict" => {
                        budget.element(at)?;
                        budget.depth(tree.depth() + 1, at)?;
                        let open = if name == "array" {
                            Open::Array(Vec::new())
                        } else {
                            Open::Dict { dict: Dictionary::new(), key: None }
                        };
                        tree.start(open).map_err(|m| xml_err(at, m))?;
                        continue;
                    }
                    "true" => Value::Boolean(true),
                    "false" => Value::Boolean(false),
                    "key" | "string" | "data" | "date" | "integer" | "real" => {
                        let text = xml_content(&mut reader, base)?;
                        let bad = |what: &str| xml_err(at, format!("<{name}> is not {what}"));
                        match name {
                            "key" | "string" => {
                                budget.strings(text.len(), at)?;
                                Value::String(text)
                            }
                            "data" => {
                                let mut encoded = text;
                                encoded.retain(|c| !c.is_ascii_whitespace());
                                let data = BASE64.decode(&encoded).map_err(|_| bad("valid base64"))?;
                                budget.strings(data.len(), at)?;
                                Value::Data(data)
                            }
                            "date" => Value::Date(xml_date(&text).ok_or_else(|| bad("a valid date"))?),
                            "integer" => Value::Integer(xml_integer(&text).ok_or_else(|| bad("a valid integer"))?),
                            _ => Value::Real(text.parse().map_err(|_| bad("a valid real"))?),
                        }
                    }
                    _ => return Err(xml_err(at, format!("unknown element <{name}>"))),
                }
            }
            XmlEvent::End(tag) => {
                if matches!(tag.local_name().as_ref(), "array" | "dict") {
                    tree.end().map_err(|m| xml_err(at, m))?;
                }
                continue;
            }
            XmlEvent::Text(text) => {
                if !text.chars().all(char::is_whitespace) {
                    return Err(xml_err(at, "text outside a value"));
                }
                continue;
            }
            XmlEvent::GeneralRef(entity) => {
                let ch = entity.resolve_char_ref().map_err(|e| xml_err(at, format!("invalid XML: {e}")))?;
                let blank = match ch {
                    Some(ch) => ch.is_whitespace(),
                    None => resolve_xml_entity(&entity).is_some_and(|s| s.chars().all(char::is_whitespace)),
                };
                if !blank {
                    return Err(xml_err(at, "text outside a value"));
                }
                continue;
            }
            XmlEvent::Eof => break,
            XmlEvent::Decl(_)
            | XmlEvent::DocType(_)
            | XmlEvent::PI(_)
            | XmlEvent::CData(_)
            | XmlEvent::Comment(_)
            | XmlEvent::Empty(_) => continue,
        };
        budget.element(at)?;
        tree.value(value).map_err(|m| xml_err(at, m))?;
    }
    tree.finish().map_err(|m| xml_err(base + reader.buffer_position(), m))
}

/// The text of a scalar element, up to its end tag: text and entity
/// references; comments, CDATA and processing instructions are dropped, an
/// unknown entity is dropped (as `plist` does), a nested element is an error.
fn xml_content(reader: &mut XmlParser<&[u8]>, base: u64) -> FormatResult<String> {
    let mut content = String::new();
    loop {
        let at = base + reader.buffer_position();
        let event = reader.read_event();
        match event.map_err(|e| xml_err(base + reader.error_position(), format!("invalid XML: {e}")))? {
            XmlEvent::Text(text) => content.push_str(&text),
            XmlEvent::GeneralRef(entity) => {
                match entity.resolve_char_ref().map_err(|e| xml_err(at, format!("invalid XML: {e}")))? {
                    Some(ch) => content.push(ch),
                    None => content.push_str(resolve_xml_entity(&entity).unwrap_or_default()),
                }
            }
            XmlEvent::End(_) => return Ok(content),
            XmlEvent::Eof => return Err(xml_err(at, "unexpected end of input inside an element")),
            XmlEvent::Start(_) => return Err(xml_err(at, "an element inside a scalar value")),
            XmlEvent::Decl(_)
            | XmlEvent::DocType(_)
            | XmlEvent::PI(_)
            | XmlEvent::CData(_)
            | XmlEvent::Comment(_)
            | XmlEvent::Empty(_) => {}
        }
    }
}

/// An `<integer>`: hexadecimal after `0x` (unsigned), else an `i64` or a `u64`.
fn xml_integer(text: &str) -> Option<Integer> {
    if text.starts_with("0x") {
        u64::from_str_radix(text.trim_start_matches("0x"), 16).ok().map(Integer::from)
    } else {
        text.parse::<i64>().map(Integer::from).or_else(|_| text.parse::<u64>().map(Integer::from)).ok()
    }
}

/// A `<date>` (RFC 3339), refused where `plist` would panic: its parser
/// converts to UTC with a conversion that panics past year 9999, and a date
/// before year 0000 panics when printed. Only years 0000 and 9999 with an
/// offset towards the edge can get there; those are refused.
fn xml_date(text: &str) -> Option<Date> {
    let sign = text.len().checked_sub(6).and_then(|i| text.as_bytes().get(i)).copied();
    let towards_edge = matches!((text.get(..4), sign), (Some("0000"), Some(b'+')) | (Some("9999"), Some(b'-')));
    if towards_edge && !text.ends_with("00:00") {
        return None;
    }
    Date::from_xml_format(text).ok()
}

// ------------------------------------------------------------- binary ----

/// Size of the `bplist00` trailer.
const TRAILER_LEN: usize = 32;
/// Seconds from the Unix epoch to the plist epoch, 2001-01-01T00:00:00Z.
const PLIST_EPOCH: Duration = Duration::from_secs(978_307_200);
/// Latest date `plist` can format (9999-12-31T23:59:59.999999999Z), after the Unix epoch.
const LATEST_DATE: Duration = Duration::new(253_402_300_799, 999_999_999);
/// Earliest date `plist` can format (0000-01-01T00:00:00Z), before the Unix epoch.
/// (`plist` itself accepts binary dates back to -9999, whose `Debug` and XML
/// output then panic: RFC 3339 has no negative years.)
const EARLIEST_DATE: Duration = Duration::from_secs(62_167_219_200);

/// A big-endian unsigned integer of at most 8 bytes.
fn be(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b))
}

fn bin_err(offset: usize, message: impl Into<String>) -> FormatError {
    FormatError::new(BIN_LAYER, offset as u64, message)
}

/// An array or dictionary on the path from the top object to the current one.
struct Frame {
    /// Where its object starts (cycle detection).
    at: usize,
    /// Where its reference list starts.
    refs: usize,
    /// Arrays: 0; dictionaries: number of entries (keys come first, then values).
    dict_len: usize,
    /// Children in all: entries of an array, twice the entries of a dictionary.
    count: usize,
    /// Children visited so far.
    next: usize,
}

/// A validated `bplist00` file: trailer checked, offset table inside the file.
struct Binary<'a> {
    data: &'a [u8],
    offset_size: usize,
    ref_size: usize,
    num_objects: u64,
    top: u64,
    /// Offset table start: objects lie in `8..table`.
    table: usize,
}

impl<'a> Binary<'a> {
    fn open(data: &'a [u8]) -> FormatResult<Self> {
        if !data.starts_with(b"bplist00") {
            let magic = String::from_utf8_lossy(&data[..data.len().min(8)]).into_owned();
            return Err(bin_err(0, format!("unsupported binary plist version {magic:?} (only bplist00)")));
        }
        if data.len() < 8 + TRAILER_LEN + 2 {
            return Err(bin_err(0, format!("{} bytes is too short for a binary plist", data.len())));
        }
        let t = data.len() - TRAILER_LEN;
        let trailer = &data[t..];
        let offset_size = trailer[6];
        let ref_size = trailer[7];
        let num_objects = be(&trailer[8..16]);
        let top = be(&trailer[16..24]);
        let table = be(&trailer[24..32]);
        if !(1..=8).contains(&offset_size) {
            return Err(bin_err(t + 6, format!("trailer offset size {offset_size} is not 1 to 8")));
        }
        if !(1..=8).contains(&ref_size) {
            return Err(bin_err(t + 7, format!("trailer object reference size {ref_size} is not 1 to 8")));
        }
        if num_objects == 0 {
            return Err(bin_err(t + 8, "trailer says there are no objects"));
        }
        if top >= num_objects {
            return Err(bin_err(t + 16, format!("top object {top} is not below the object count {num_objects}")));
        }
        if table < 9 || table >= t as u64 {
            return Err(bin_err(
                t + 24,
                format!("offset table offset {table:#x} is outside the file body (0x9..{t:#x})"),
            ));
        }
        let fits = num_objects.checked_mul(u64::from(offset_size)).and_then(|n| n.checked_add(table));
        if fits.is_none_or(|end| end > t as u64) {
            return Err(bin_err(
                t + 8,
                format!(
                    "an offset table of {num_objects} {offset_size}-byte entries at {table:#x} runs past the trailer at {t:#x}"
                ),
            ));
        }
        Ok(Binary {
            data,
            offset_size: offset_size.into(),
            ref_size: ref_size.into(),
            num_objects,
            top,
            // Below `t`, so it fits a usize.
            table: table as usize,
        })
    }

    /// Where object `obj` (< `num_objects`) starts.
    fn object_at(&self, obj: u64) -> FormatResult<usize> {
        // In bounds: `open` checked the table, and `obj < num_objects`.
        let entry = self.table + obj as usize * self.offset_size;
        let at = be(&self.data[entry..entry + self.offset_size]);
        if at < 8 || at >= self.table as u64 {
            return Err(bin_err(
                entry,
                format!("object {obj} is at {at:#x}, outside the object area 0x8..{:#x}", self.table),
            ));
        }
        Ok(at as usize)
    }

    /// `len` bytes at `at`, which must end within the object area.
    fn take(&self, at: usize, len: u64, what: &str) -> FormatResult<&'a [u8]> {
        match usize::try_from(len).ok().and_then(|len| at.checked_add(len)) {
            Some(end) if end <= self.table => Ok(&self.data[at..end]),
            _ => Err(bin_err(
                at,
                format!("{what} of {len} bytes runs past the end of the object area at {:#x}", self.table),
            )),
        }
    }

    /// The length in the low nibble of the marker at `at`, or the integer that
    /// follows it when the nibble is 0xF; and where the content starts.
    fn length(&self, at: usize, low: u8) -> FormatResult<(u64, usize)> {
        if low != 0xF {
            return Ok((low.into(), at + 1));
        }
        let marker = self.take(at + 1, 1, "length marker")?[0];
        if !(0x10..=0x13).contains(&marker) {
            return Err(bin_err(at + 1, format!("length marker {marker:#04x} is not a 1, 2, 4 or 8-byte integer")));
        }
        let n = 1usize << (marker & 0x3);
        let len = be(self.take(at + 2, n as u64, "length")?);
        Ok((len, at + 2 + n))
    }

    /// The object that child `i` of `frame` refers to.
    fn child(&self, frame: &Frame, i: usize) -> FormatResult<u64> {
        let slot = if frame.dict_len == 0 {
            i
        } else if i.is_multiple_of(2) {
            i / 2
        } else {
            frame.dict_len + i / 2
        };
        // In bounds: the whole list was checked when the frame was made.
        let at = frame.refs + slot * self.ref_size;
        let obj = be(&self.data[at..at + self.ref_size]);
        if obj >= self.num_objects {
            return Err(bin_err(at, format!("object reference {obj} is out of range ({} objects)", self.num_objects)));
        }
        Ok(obj)
    }

    /// Produce object `obj`: a scalar goes into `tree`; an array or dictionary
    /// is opened in `tree` and pushed on `path` for its children to follow.
    fn visit(&self, obj: u64, path: &mut Vec<Frame>, tree: &mut Tree, budget: &mut Budget) -> FormatResult<()> {
        let at = self.object_at(obj)?;
        budget.element(at as u64)?;
        let marker = self.data[at];
        let low = marker & 0xF;
        let value = match marker >> 4 {
            0x0 => match low {
                0x8 => Value::Boolean(false),
                0x9 => Value::Boolean(true),
                0x0 => return Err(bin_err(at, "null objects are not supported")),
                0xF => return Err(bin_err(at, "fill objects are not supported")),
                _ => return Err(bin_err(at, format!("unknown object type {marker:#04x}"))),
            },
            0x1 if low <= 4 => {
                let bytes = self.take(at + 1, 1 << low, "integer")?;
                Value::Integer(match low {
                    0..=2 => Integer::from(be(bytes)),
                    3 => Integer::from(be(bytes) as i64),
                    _ => {
                        let wide = i128::from_be_bytes(bytes.try_into().expect("16 bytes"));
                        match (u64::try_from(wide), i64::try_from(wide)) {
                            (Ok(u), _) => Integer::from(u),
                            (_, Ok(i)) => Integer::from(i),
                            _ => return Err(bin_err(at, "128-bit integer out of the 64-bit range")),
                        }
                    }
                })
            }
            0x2 if low == 2 => Value::Real(f32::from_bits(be(self.take(at + 1, 4, "real")?) as u32).into()),
            0x2 if low == 3 => Value::Real(f64::from_bits(be(self.take(at + 1, 8, "real")?))),
            0x3 if low == 3 => {
                let secs = f64::from_bits(be(self.take(at + 1, 8, "date")?));
                Value::Date(date(secs).ok_or_else(|| bin_err(at, format!("date {secs} s is out of range")))?)
            }
            0x4 => {
                let (len, start) = self.length(at, low)?;
                let bytes = self.take(start, len, "data")?;
                budget.strings(bytes.len(), at as u64)?;
                Value::Data(bytes.to_vec())
            }
            0x5 => {
                let (len, start) = self.length(at, low)?;
                let bytes = self.take(start, len, "string")?;
                budget.strings(bytes.len(), at as u64)?;
                let s = std::str::from_utf8(bytes).map_err(|_| bin_err(at, "string is not valid UTF-8"))?;
                Value::String(s.to_owned())
            }
            0x6 => {
                let (units, start) = self.length(at, low)?;
                let len = units.saturating_mul(2);
                let bytes = self.take(start, len, "UTF-16 string")?;
                budget.strings(bytes.len(), at as u64)?;
                let units = bytes.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                let s = char::decode_utf16(units)
                    .collect::<Result<String, _>>()
                    .map_err(|_| bin_err(at, "UTF-16 string is not valid UTF-16"))?;
                Value::String(s)
            }
            0x8 if low < 8 => Value::Uid(Uid::new(be(self.take(at + 1, u64::from(low) + 1, "uid")?))),
            kind @ (0xA | 0xD) => {
                let (len, start) = self.length(at, low)?;
                let dict = kind == 0xD;
                let count = if dict { len.checked_mul(2) } else { Some(len) };
                let list_len = count.and_then(|c| c.checked_mul(self.ref_size as u64)).unwrap_or(u64::MAX);
                let what = if dict { "dictionary reference list" } else { "array reference list" };
                self.take(start, list_len, what)?;
                if path.iter().any(|f| f.at == at) {
                    return Err(bin_err(at, format!("reference cycle: object {obj} contains itself")));
                }
                budget.depth(path.len() + 1, at as u64)?;
                let open =
                    if dict { Open::Dict { dict: Dictionary::new(), key: None } } else { Open::Array(Vec::new()) };
                tree.start(open).map_err(|m| bin_err(at, m))?;
                // Both fit a usize: the list is inside the data.
                let count = count.unwrap_or(0) as usize;
                path.push(Frame { at, refs: start, dict_len: if dict { count / 2 } else { 0 }, count, next: 0 });
                return Ok(());
            }
            _ => return Err(bin_err(at, format!("unsupported object type {marker:#04x}"))),
        };
        tree.value(value).map_err(|m| bin_err(at, m))
    }
}

/// A plist date: `secs` seconds after 2001-01-01T00:00:00Z, if it lies in
/// the years 0000 to 9999, which `plist` can print and write as XML.
fn date(secs: f64) -> Option<Date> {
    let span = Duration::try_from_secs_f64(secs.abs()).ok()?;
    let epoch = UNIX_EPOCH + PLIST_EPOCH;
    let time = if secs < 0.0 { epoch.checked_sub(span)? } else { epoch.checked_add(span)? };
    let in_range = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after <= LATEST_DATE,
        Err(before) => before.duration() <= EARLIEST_DATE,
    };
    in_range.then(|| Date::from(time))
}

/// A `bplist00` file, walked depth first from the top object.
fn parse_binary(data: &[u8], limits: &Limits) -> FormatResult<Value> {
    let bin = Binary::open(data)?;
    let mut budget = Budget::new(limits, BIN_LAYER);
    let mut tree = Tree::default();
    let mut path: Vec<Frame> = Vec::new();
    let mut next = Some(bin.top);
    loop {
        if let Some(obj) = next.take() {
            bin.visit(obj, &mut path, &mut tree, &mut budget)?;
        }
        let Some(frame) = path.last_mut() else { break };
        if frame.next < frame.count {
            let i = frame.next;
            frame.next += 1;
            next = Some(bin.child(frame, i)?);
        } else {
            let at = frame.at;
            path.pop();
            tree.end().map_err(|m| bin_err(at, m))?;
        }
    }
    tree.finish().map_err(|m| bin_err(0, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::time::Instant;

    // ------------------------------------------------------------ helpers

    /// Run `f` on a thread with a 256 KiB stack: proves no recursion.
    fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(256 << 10).spawn(f).unwrap().join().unwrap()
    }

    fn crate_parse(bytes: &[u8]) -> Result<Value, plist::Error> {
        Value::from_reader(Cursor::new(bytes))
    }

    fn binary(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        v.to_writer_binary(&mut out).unwrap();
        out
    }

    fn xml(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        v.to_writer_xml(&mut out).unwrap();
        out
    }

    fn err(bytes: &[u8]) -> FormatError {
        parse(bytes, &Limits::default()).expect_err("should be refused")
    }

    /// Marker byte(s) for an object of `kind` (high nibble) and `len`.
    fn marker(kind: u8, len: usize) -> Vec<u8> {
        let k = kind << 4;
        match len {
            0..=14 => vec![k | len as u8],
            15..=0xFF => vec![k | 0xF, 0x10, len as u8],
            0x100..=0xFFFF => [vec![k | 0xF, 0x11], (len as u16).to_be_bytes().to_vec()].concat(),
            _ => [vec![k | 0xF, 0x12], (len as u32).to_be_bytes().to_vec()].concat(),
        }
    }

    fn refs(list: &[u64], ref_size: u8) -> Vec<u8> {
        list.iter().flat_map(|r| r.to_be_bytes()[8 - ref_size as usize..].to_vec()).collect()
    }

    fn array(list: &[u64], ref_size: u8) -> Vec<u8> {
        [marker(0xA, list.len()), refs(list, ref_size)].concat()
    }

    fn dict(keys: &[u64], values: &[u64], ref_size: u8) -> Vec<u8> {
        [marker(0xD, keys.len()), refs(keys, ref_size), refs(values, ref_size)].concat()
    }

    fn ascii(s: &str) -> Vec<u8> {
        [marker(0x5, s.len()), s.as_bytes().to_vec()].concat()
    }

    fn trailer(offset_size: u8, ref_size: u8, num_objects: u64, top: u64, table: u64) -> Vec<u8> {
        let mut t = vec![0; 6];
        t.extend([offset_size, ref_size]);
        t.extend(num_objects.to_be_bytes());
        t.extend(top.to_be_bytes());
        t.extend(table.to_be_bytes());
        t
    }

    /// A hand-assembled bplist00 of raw `objects`, object 0 on top; `share`
    /// lists (object, other) pairs whose table entry repeats `other`'s offset.
    fn assemble_shared(objects: &[Vec<u8>], ref_size: u8, share: &[(usize, usize)]) -> Vec<u8> {
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for o in objects {
            offsets.push(out.len() as u64);
            out.extend(o);
        }
        for &(obj, other) in share {
            offsets[obj] = offsets[other];
        }
        let offset_size: u8 = if out.len() < 0x100 {
            1
        } else if out.len() < 0x1_0000 {
            2
        } else {
            4
        };
        let table = out.len() as u64;
        out.extend(refs(&offsets, offset_size));
        out.extend(trailer(offset_size, ref_size, objects.len() as u64, 0, table));
        out
    }

    fn assemble(objects: &[Vec<u8>], ref_size: u8) -> Vec<u8> {
        assemble_shared(objects, ref_size, &[])
    }

    /// `bytes` with the trailer field at `field` (6 = offset size … 24 = table offset) overwritten.
    fn patch(bytes: &[u8], field: usize, value: &[u8]) -> Vec<u8> {
        let mut b = bytes.to_vec();
        let at = b.len() - TRAILER_LEN + field;
        b[at..at + value.len()].copy_from_slice(value);
        b
    }

    fn nested_xml(depth: usize, closed: bool) -> Vec<u8> {
        let mut s = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\">");
        s.push_str(&"<array>".repeat(depth));
        if closed {
            s.push_str(&"</array>".repeat(depth));
            s.push_str("</plist>");
        }
        s.into_bytes()
    }

    /// `depth` arrays, each holding the next; the last is empty.
    fn nested_binary(depth: usize) -> Vec<u8> {
        let objects: Vec<Vec<u8>> =
            (0..depth).map(|i| if i + 1 < depth { array(&[i as u64 + 1], 4) } else { array(&[], 4) }).collect();
        assemble(&objects, 4)
    }

    /// XML with entities, comments, CDATA, a DOCTYPE and every scalar element.
    const RICH_XML: &[u8] = b"<?xml version=\"1.0\"?><!DOCTYPE plist><plist><dict><key>a&amp;b</key>\
        <string>&#x41;&lt;&unknown;</string><key>c</key><array><string>a<!-- c -->b<![CDATA[d]]>c</string>\
        <integer>0x1F</integer><data> AAEC\n Aw== </data><date>2020-02-29T12:34:56Z</date><real>1.5</real>\
        <true/><false></false></array></dict></plist>";

    fn sample() -> Value {
        let mut d = Dictionary::new();
        d.insert("CFBundleIdentifier".into(), Value::String("com.example.driver".into()));
        d.insert("utf16".into(), Value::String("héllo ☃ 𝄞 ünïcødé".into()));
        d.insert("empty".into(), Value::String(String::new()));
        d.insert("date".into(), Value::Date(Date::from(UNIX_EPOCH + Duration::from_secs(1_700_000_000))));
        d.insert("old date".into(), Value::Date(Date::from(UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 100))));
        d.insert("data".into(), Value::Data((0..=255).collect()));
        d.insert("small data".into(), Value::Data(vec![1, 2, 3]));
        d.insert("real".into(), Value::Real(3.5));
        d.insert("negative real".into(), Value::Real(-1e300));
        let ints = [0i64, 1, -1, 255, 256, 65_535, 65_536, i64::from(u32::MAX) + 1, i64::MIN, i64::MAX];
        let mut list: Vec<Value> = ints.iter().map(|&i| Value::Integer(i.into())).collect();
        list.push(Value::Integer(u64::MAX.into()));
        d.insert("ints".into(), Value::Array(list));
        d.insert("yes".into(), Value::Boolean(true));
        d.insert("no".into(), Value::Boolean(false));
        d.insert("nested".into(), Value::Array(vec![Value::Array(vec![]), Value::Dictionary(Dictionary::new())]));
        let strings: Vec<Value> = (0..40).map(|i| Value::String(format!("s{i}"))).collect();
        d.insert("long array".into(), Value::Array(strings));
        Value::Dictionary(d)
    }

    fn sample_with_uids() -> Value {
        let mut v = sample();
        let d = v.as_dictionary_mut().unwrap();
        d.insert("uid".into(), Value::Uid(Uid::new(42)));
        d.insert("big uid".into(), Value::Uid(Uid::new(u64::MAX)));
        v
    }

    // -------------------------------------------------------- round trips

    #[test]
    fn binary_round_trips_like_the_plist_crate() {
        let v = sample_with_uids();
        let bytes = binary(&v);
        let ours = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!(ours, crate_parse(&bytes).unwrap());
        assert_eq!(ours, v);
    }

    #[test]
    fn xml_round_trips_like_the_plist_crate() {
        let v = sample();
        let bytes = xml(&v);
        let ours = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!(ours, Value::from_reader_xml(Cursor::new(&bytes)).unwrap());
        assert_eq!(ours, v);
        // With a byte order mark, and as a bare value with no <plist> element.
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), &bytes].concat();
        assert_eq!(parse(&with_bom, &Limits::default()).unwrap(), v);
        let bare = b"  <array><string>a</string><integer>-7</integer></array>";
        let expect = Value::Array(vec![Value::String("a".into()), Value::Integer((-7).into())]);
        assert_eq!(parse(bare, &Limits::default()).unwrap(), expect);
    }

    #[test]
    fn scalars_at_top_level() {
        for v in [Value::Boolean(true), Value::String("x".into()), Value::Integer(5.into())] {
            assert_eq!(parse(&binary(&v), &Limits::default()).unwrap(), v);
            assert_eq!(parse(&xml(&v), &Limits::default()).unwrap(), v);
        }
    }

    #[test]
    fn hand_built_types_are_preserved() {
        let date_secs = -123_456.5f64;
        let objects = vec![
            array(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 1),
            // UTF-16 with a surrogate pair: "é𝄞"
            [vec![0x63], vec![0x00, 0xE9, 0xD8, 0x34, 0xDD, 0x1E]].concat(),
            [vec![0x22], 1.25f32.to_bits().to_be_bytes().to_vec()].concat(),
            [vec![0x23], (-2.5f64).to_bits().to_be_bytes().to_vec()].concat(),
            [vec![0x33], date_secs.to_bits().to_be_bytes().to_vec()].concat(),
            // 128-bit integer: high 8 bytes zero, low 8 bytes u64::MAX.
            [vec![0x14], vec![0; 8], u64::MAX.to_be_bytes().to_vec()].concat(),
            [vec![0x13], (-42i64).to_be_bytes().to_vec()].concat(),
            vec![0x82, 1, 2, 3],
            vec![0x43, 9, 8, 7],
            vec![0x09],
            vec![0x08],
            vec![0x11, 0x12, 0x34],
        ];
        let bytes = assemble(&objects, 1);
        let ours = parse(&bytes, &Limits::default()).unwrap();
        assert_eq!(ours, crate_parse(&bytes).unwrap());
        let list = ours.as_array().unwrap();
        assert_eq!(list[0], Value::String("é𝄞".into()));
        assert_eq!(list[1], Value::Real(1.25));
        assert_eq!(list[2], Value::Real(-2.5));
        let expect_date = UNIX_EPOCH + PLIST_EPOCH - Duration::from_secs_f64(-date_secs);
        assert_eq!(list[3], Value::Date(Date::from(expect_date)));
        assert_eq!(list[4], Value::Integer(u64::MAX.into()));
        assert_eq!(list[5], Value::Integer((-42).into()));
        assert_eq!(list[6], Value::Uid(Uid::new(0x010203)));
        assert_eq!(list[7], Value::Data(vec![9, 8, 7]));
        assert_eq!(list[8], Value::Boolean(true));
        assert_eq!(list[9], Value::Boolean(false));
        assert_eq!(list[10], Value::Integer(0x1234.into()));
    }

    #[test]
    fn dates_are_kept_to_the_printable_years() {
        let epoch = PLIST_EPOCH.as_secs() as f64;
        let latest = LATEST_DATE.as_secs() as f64 - epoch;
        let earliest = -(EARLIEST_DATE.as_secs() as f64) - epoch;
        let date_plist =
            |secs: f64| assemble(&[array(&[1], 1), [vec![0x33], secs.to_bits().to_be_bytes().to_vec()].concat()], 1);
        for secs in [latest, earliest, 0.0, -1.5] {
            let bytes = date_plist(secs);
            let ours = parse(&bytes, &Limits::default()).unwrap();
            assert_eq!(ours, crate_parse(&bytes).unwrap());
            // Printing and writing as XML must not panic.
            let _ = format!("{ours:?}");
            assert_eq!(parse(&xml(&ours), &Limits::default()).unwrap(), ours);
        }
        for secs in [latest + 1.0, earliest - 1.0, -1e11, f64::NAN, f64::INFINITY, 1e300, -1e300] {
            let e = err(&date_plist(secs));
            assert!(e.message.contains("out of range"), "{secs}: {e}");
        }
        // The plist crate takes a date in year -1000, whose Debug then panics.
        let theirs = crate_parse(&date_plist(-94_700_000_000.0)).unwrap();
        let printed = std::panic::catch_unwind(|| format!("{theirs:?}"));
        assert!(printed.is_err());
    }

    #[test]
    fn dags_that_stay_small_are_fine() {
        // The plist writer shares equal objects: a list naming one string 100 times.
        let v = Value::Array(vec![Value::String("same".into()); 100]);
        let bytes = binary(&v);
        assert_eq!(parse(&bytes, &Limits::default()).unwrap(), v);
    }

    #[test]
    fn xml_details_match_the_plist_crate() {
        let cases: [&[u8]; 8] = [
            b"<?xml version=\"1.0\"?><!DOCTYPE plist><plist><dict><key>a&amp;b</key><string>&#x41;&lt;&unknown;</string></dict></plist>",
            b"<plist><array><string>a<!-- c -->b<![CDATA[dropped]]><?pi x?>c</string></array></plist>",
            b"<plist>\r\n<array>&#32;<integer>0x0xFF</integer><integer>18446744073709551615</integer></array></plist>",
            b"<plist><data>\n  AAEC\n  Aw==\n</data></plist>",
            b"<plist><x:array xmlns:x=\"u\"><true></true><false/><real>-0.5e3</real></x:array></plist>",
            b"<plist><date>2020-02-29T12:34:56.789+05:30</date></plist>",
            b"<plist><dict><key>k</key><string>1</string><key>k</key><string>2</string></dict></plist>",
            b"<string>line\r\nbreak</string>",
        ];
        for text in cases.into_iter().chain([RICH_XML]) {
            let ours = parse(text, &Limits::default()).unwrap();
            assert_eq!(ours, Value::from_reader_xml(Cursor::new(text)).unwrap(), "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn xml_dates_that_panic_the_plist_crate_are_refused() {
        // plist 1.10.3 panics inside its XML reader on this date ("local
        // datetime out of valid range"), and returns a date in year -1 for
        // the second one, which panics when printed.
        for text in [
            &b"<plist><date>9999-12-31T23:00:00-02:00</date></plist>"[..],
            b"<plist><date>0000-01-01T00:00:00+01:00</date></plist>",
        ] {
            assert_eq!(err(text).message, "<date> is not a valid date");
        }
        assert!(
            std::panic::catch_unwind(|| Value::from_reader_xml(Cursor::new(
                b"<plist><date>9999-12-31T23:00:00-02:00</date></plist>"
            )))
            .is_err()
        );
        // The edges themselves, in UTC or towards the middle, are fine.
        for date in
            ["9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "9999-12-31T23:00:00+02:00", "0000-06-01T00:00:00-00:00"]
        {
            let text = format!("<date>{date}</date>");
            let v = parse(text.as_bytes(), &Limits::default()).unwrap();
            let _ = format!("{v:?}");
            assert_eq!(v, Value::from_reader_xml(Cursor::new(text.as_bytes())).unwrap());
        }
    }

    // ------------------------------------------------------------ refusals

    #[test]
    fn ascii_plists_are_refused() {
        for text in [&b"{ a = b; }"[..], b"( a, b )", b"\"str\"", b"a", b"\n\t{ CFBundleIdentifier = x; }"] {
            let e = err(text);
            assert_eq!(e.layer, "plist");
            assert!(e.message.contains("ASCII/OpenStep plists are refused"), "{e}");
        }
        // ... which the plist crate would have read.
        assert!(crate_parse(b"{ a = b; }").is_ok());
        assert!(err(b"").message.contains("empty"));
        assert!(err(b"   \n").message.contains("empty"));
        assert!(err(b"\xFF\xFE<\0?\0").message.contains("UTF-16"));
        assert!(err(b"bplist15xxxxxxxx").message.contains("unsupported binary plist version"));
    }

    #[test]
    fn oversized_input_is_refused() {
        let bytes = xml(&sample());
        let limits = Limits { max_bytes: 100, ..Limits::default() };
        let e = parse(&bytes, &limits).unwrap_err();
        assert!(e.message.contains("over the 100 bytes limit"), "{e}");
    }

    #[test]
    fn xml_structure_errors() {
        let cases: [(&[u8], &str); 5] = [
            (b"<plist><true/><false/></plist>", "more than one top-level value"),
            (b"<plist></plist>", "no value"),
            (b"<plist><dict><integer>1</integer><true/></dict></plist>", "key is not a string"),
            (b"<plist><dict><key>a</key></dict></plist>", "key has no value"),
            (b"<plist><array><true/>", "not closed"),
        ];
        for (text, want) in cases {
            let e = err(text);
            assert!(e.message.contains(want), "{e}");
            assert!(Value::from_reader_xml(Cursor::new(text)).is_err());
        }
        let e = err(b"<plist><bogus/></plist>");
        assert_eq!((e.offset, e.message.as_str()), (7, "unknown element <bogus>"));
        let e = err(b"<plist><array></dict></plist>");
        assert!(e.message.starts_with("invalid XML: "), "{e}");
        let e = err(b"<plist>x<true/></plist>");
        assert_eq!(e.message, "text outside a value");
        for (text, want) in [
            (&b"<integer>12x</integer>"[..], "<integer> is not a valid integer"),
            (b"<real>1.5.5</real>", "<real> is not a valid real"),
            (b"<data>!!!</data>", "<data> is not valid base64"),
            (b"<date>yesterday</date>", "<date> is not a valid date"),
            (b"<string>a<true/></string>", "an element inside a scalar value"),
            (b"<string>abc", "unexpected end of input inside an element"),
        ] {
            assert_eq!(err(text).message, want);
            assert!(Value::from_reader_xml(Cursor::new(text)).is_err());
        }
    }

    #[test]
    fn binary_dictionary_keys_must_be_strings() {
        let objects = vec![dict(&[1], &[2], 1), vec![0x10, 5], vec![0x09]];
        let e = err(&assemble(&objects, 1));
        assert_eq!(e.layer, "bplist");
        assert!(e.message.contains("key is not a string"), "{e}");
    }

    // ------------------------------------------------------------- budgets

    #[test]
    fn depth_limit_is_exact() {
        let limits = Limits::default();
        assert!(parse(&nested_xml(64, true), &limits).is_ok());
        assert!(parse(&nested_binary(64), &limits).is_ok());
        let e = parse(&nested_xml(65, true), &limits).unwrap_err();
        assert_eq!((e.layer.as_str(), e.message.as_str()), ("plist", "nesting deeper than 64"));
        let e = parse(&nested_binary(65), &limits).unwrap_err();
        assert_eq!((e.layer.as_str(), e.message.as_str()), ("bplist", "nesting deeper than 64"));
        assert!(e.offset >= 8);
    }

    #[test]
    fn element_limit_is_exact() {
        let v = Value::Array((0..10).map(|i| Value::Integer(i.into())).collect());
        for bytes in [binary(&v), xml(&v)] {
            assert!(parse(&bytes, &Limits { max_elements: 11, ..Limits::default() }).is_ok());
            let e = parse(&bytes, &Limits { max_elements: 10, ..Limits::default() }).unwrap_err();
            assert_eq!(e.message, "more than 10 elements");
        }
    }

    #[test]
    fn string_budget_counts_strings_data_and_keys() {
        let mut d = Dictionary::new();
        d.insert("keyy".into(), Value::Data(vec![0; 3])); // 4 + 3
        d.insert("k".into(), Value::String("abc".into())); // 1 + 3
        let v = Value::Dictionary(d);
        for bytes in [binary(&v), xml(&v)] {
            assert!(parse(&bytes, &Limits { max_string_bytes: 11, ..Limits::default() }).is_ok());
            let e = parse(&bytes, &Limits { max_string_bytes: 10, ..Limits::default() }).unwrap_err();
            assert_eq!(e.message, "strings exceed 10 bytes");
        }
        assert_eq!(Limits::default().max_string_bytes, 16 << 20);
        assert_eq!(size(16 << 20), "16 MiB");
    }

    #[test]
    fn shared_big_string_cannot_multiply() {
        // One 100 KiB string named 250 times: 25 MB of copies.
        let big = "x".repeat(100 << 10);
        let objects = vec![array(&[1; 250], 1), ascii(&big)];
        let bytes = assemble(&objects, 1);
        assert!(bytes.len() < 110 << 10);
        let e = err(&bytes);
        assert_eq!(e.message, "strings exceed 16 MiB");
    }

    // --------------------------------------------------- hostile nesting

    #[test]
    fn deep_xml_is_refused_on_a_small_stack() {
        let e = small_stack(|| {
            let limits = Limits { max_bytes: 8 << 20, ..Limits::default() };
            parse(&nested_xml(300_000, true), &limits).unwrap_err()
        });
        assert_eq!(e.message, "nesting deeper than 64");
        let e = small_stack(|| err(&nested_xml(300_000, false)));
        assert_eq!(e.message, "nesting deeper than 64");
        // Even with no depth limit to speak of, only the element budget stops it.
        let e = small_stack(|| {
            let limits = Limits { max_bytes: 8 << 20, max_depth: usize::MAX, ..Limits::default() };
            parse(&nested_xml(300_000, false), &limits).unwrap_err()
        });
        assert_eq!(e.message, "more than 200000 elements");
    }

    #[test]
    fn deep_binary_is_refused_on_a_small_stack() {
        let bytes = nested_binary(100_000);
        assert!(bytes.len() < 1 << 20);
        let e = small_stack(move || err(&bytes));
        assert_eq!((e.layer.as_str(), e.message.as_str()), ("bplist", "nesting deeper than 64"));
    }

    #[test]
    fn dag_fan_out_under_1_kib_is_stopped_by_the_element_budget() {
        // top -> 200 x A -> 200 x B -> 200 x C -> 200 x "hello": 1.6e9 strings.
        let objects =
            vec![array(&[1; 200], 1), array(&[2; 200], 1), array(&[3; 200], 1), array(&[4; 200], 1), ascii("hello")];
        let bytes = assemble(&objects, 1);
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        let start = Instant::now();
        let e = small_stack(move || err(&bytes));
        assert_eq!(e.message, "more than 200000 elements");
        assert!(start.elapsed().as_secs() < 10);
    }

    #[test]
    fn dag_fan_out_1000_cubed_is_stopped_by_the_element_budget() {
        // top -> 1000 x A -> 1000 x B -> 1000 x "hello": 1e9 strings from ~3 KB.
        let objects = vec![array(&[1; 1000], 1), array(&[2; 1000], 1), array(&[3; 1000], 1), ascii("hello")];
        let bytes = assemble(&objects, 1);
        assert!(bytes.len() < 4096);
        let start = Instant::now();
        let e = err(&bytes);
        assert_eq!((e.layer.as_str(), e.message.as_str()), ("bplist", "more than 200000 elements"));
        assert!(start.elapsed().as_secs() < 10);
        // A smaller budget stops it sooner: the budget is the bound.
        let limits = Limits { max_elements: 1000, ..Limits::default() };
        assert_eq!(parse(&assemble(&objects, 1), &limits).unwrap_err().message, "more than 1000 elements");
    }

    #[test]
    fn reference_cycles_are_refused() {
        let cases = [
            assemble(&[array(&[0], 1)], 1),
            assemble(&[array(&[1], 1), array(&[2], 1), array(&[0], 1)], 1),
            assemble(&[dict(&[1], &[0], 1), ascii("k")], 1),
            // Two objects sharing one array's bytes: 0 -> 1 -> 1 ...
            assemble_shared(&[array(&[1], 1), array(&[1], 1)], 1, &[(1, 0)]),
        ];
        for bytes in cases {
            let e = small_stack(move || err(&bytes));
            assert!(e.message.starts_with("reference cycle"), "{e}");
        }
    }

    // ------------------------------------------------------ lying trailers

    #[test]
    fn lying_trailers_are_refused() {
        let good = binary(&sample());
        let n = good.len() as u64;
        let num_objects = good[good.len() - 24..good.len() - 16].to_vec();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (patch(&good, 8, &(1u64 << 60).to_be_bytes()), "runs past the trailer"),
            (patch(&good, 8, &u64::MAX.to_be_bytes()), "runs past the trailer"),
            (patch(&good, 8, &0u64.to_be_bytes()), "no objects"),
            (patch(&good, 24, &n.to_be_bytes()), "outside the file body"),
            (patch(&good, 24, &u64::MAX.to_be_bytes()), "outside the file body"),
            (patch(&good, 24, &0u64.to_be_bytes()), "outside the file body"),
            (patch(&good, 7, &[0]), "reference size 0"),
            (patch(&good, 7, &[9]), "reference size 9"),
            (patch(&good, 6, &[0]), "offset size 0"),
            (patch(&good, 6, &[9]), "offset size 9"),
            (patch(&good, 16, &u64::MAX.to_be_bytes()), "top object"),
            (patch(&good, 16, &num_objects), "top object"),
        ];
        for (bytes, want) in cases {
            let e = err(&bytes);
            assert_eq!(e.layer, "bplist");
            assert!(e.message.contains(want), "{want}: {e}");
            assert!(e.offset >= n - TRAILER_LEN as u64, "{e}");
        }
    }

    #[test]
    fn lying_objects_are_refused() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            // An array claiming 2^32 - 1 references.
            (assemble(&[vec![0xAF, 0x12, 0xFF, 0xFF, 0xFF, 0xFF]], 1), "runs past the end of the object area"),
            // Data claiming 2^63 bytes.
            (assemble(&[[vec![0x4F, 0x13], (1u64 << 63).to_be_bytes().to_vec()].concat()], 1), "runs past the end"),
            // A length whose marker is not an integer marker.
            (assemble(&[vec![0x5F, 0x55, 1, b'a']], 1), "length marker"),
            // A reference past the object count.
            (assemble(&[array(&[7], 1)], 1), "out of range"),
            (assemble(&[vec![0x00]], 1), "null"),
            (assemble(&[vec![0x0F]], 1), "fill"),
            (assemble(&[vec![0x74, b'a', b'b', b'c', b'd']], 1), "unsupported object type 0x74"),
            (assemble(&[vec![0xC1, 0]], 1), "unsupported object type 0xc1"),
            (assemble(&[vec![0x52, 0xFF, 0xFE]], 1), "not valid UTF-8"),
            (assemble(&[vec![0x61, 0xD8, 0x00]], 1), "not valid UTF-16"),
            (assemble(&[[vec![0x14, 0x80], vec![0; 15]].concat()], 1), "128-bit"),
        ];
        for (bytes, want) in cases {
            let e = err(&bytes);
            assert!(e.message.contains(want), "{want}: {e}");
        }
        // An offset table entry pointing into the table itself.
        let mut bytes = assemble(&[vec![0x09]], 1);
        let table = bytes.len() - TRAILER_LEN - 1;
        bytes[table] = table as u8;
        assert!(err(&bytes).message.contains("outside the object area"));
    }

    // ----------------------------------------------- truncation & fuzzing

    #[test]
    fn every_truncation_is_an_error_or_ok_never_a_panic() {
        for bytes in [binary(&sample_with_uids()), xml(&sample())] {
            for n in 0..bytes.len() {
                let _ = parse(&bytes[..n], &Limits::default());
            }
        }
        // A truncated binary plist has lost its trailer.
        let bytes = binary(&sample());
        assert!(parse(&bytes[..bytes.len() - 1], &Limits::default()).is_err());
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn mutate(rng: &mut XorShift, base: &[u8]) -> Vec<u8> {
        const INTERESTING: [u8; 12] = [0x00, 0x01, 0x08, 0x0F, 0x10, 0x13, 0x7F, 0x80, 0xAF, 0xDF, 0xFF, b'<'];
        let mut b = base.to_vec();
        for _ in 0..1 + rng.below(4) {
            if b.is_empty() {
                break;
            }
            let at = rng.below(b.len());
            match rng.below(6) {
                0 => b[at] = rng.next() as u8,
                1 => b[at] ^= 1 << rng.below(8),
                2 => b[at] = INTERESTING[rng.below(INTERESTING.len())],
                3 => b.truncate(at),
                4 => b.insert(at, rng.next() as u8),
                _ => {
                    b.remove(at);
                }
            }
        }
        b
    }

    #[test]
    fn fuzz_mutations_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let bases = [(binary(&sample_with_uids()), true), (xml(&sample()), false), (RICH_XML.to_vec(), false)];
        let mut agreed = 0;
        for _ in 0..20_000 {
            for (base, is_binary) in &bases {
                let bytes = mutate(&mut rng, base);
                let ours = parse(&bytes, &Limits::default());
                if *is_binary {
                    // Where both accept a binary plist they agree (Debug, so
                    // that NaN equals NaN); this reader may be stricter.
                    // The plist crate only runs where ours succeeded: the
                    // budget then bounds what it builds too.
                    if let Ok(ours) = ours
                        && let Ok(theirs) = crate_parse(&bytes)
                    {
                        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
                        agreed += 1;
                    }
                } else {
                    // XML follows the plist crate's rules exactly: same value
                    // or both an error (or the crate panics and we refuse).
                    match std::panic::catch_unwind(|| Value::from_reader_xml(Cursor::new(&bytes))) {
                        Ok(Ok(theirs)) => {
                            let ours = ours.unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
                            assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
                            agreed += 1;
                        }
                        _ => assert!(ours.is_err(), "{}", String::from_utf8_lossy(&bytes)),
                    }
                }
            }
        }
        assert!(agreed > 1000, "only {agreed} mutants parsed");
    }
}
