//! Parser for the XML in `__PRELINK_INFO,__info` of a prelinked kernel (and
//! the ordinary XML plists inside macOS 11+ kernel collections).
//!
//! This parser is hand-written on purpose: the `plist` crate rejects
//! `<integer IDREF="n"/>`, silently returns empty values for other IDREFs,
//! and does not accept the headerless, wrapper-less documents that the
//! kernel's IOCFSerialize writes. One pass over the bytes builds a flat
//! arena ([`Doc`]); strings without entity references borrow from the input,
//! and an IDREF resolves to the index of the node that carries the ID, so
//! shared values are never copied.
//!
//! Every problem in the input is a [`FormatError`] in layer `prelink-xml`
//! whose offset is the byte offset of the offending element in the input
//! (for bad entities and invalid UTF-8: of the offending bytes themselves).

use std::collections::HashMap;

use base64::Engine as _;
use memchr::{memchr, memmem};

use crate::error::{FormatError, FormatResult};

const LAYER: &str = "prelink-xml";

/// Base64 as found in plists: standard alphabet, padding optional.
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

/// The kind of value a node holds (`<set>` is an array, `<date>` a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `<dict>`: keys and values in document order.
    Dict,
    /// `<array>` or `<set>`.
    Array,
    /// `<string>` or `<date>`.
    String,
    /// `<integer>`, stored as `u64` (negative values in two's complement).
    Integer,
    /// `<true/>` or `<false/>`.
    Bool,
    /// `<data>`, base64 text decoded on demand.
    Data,
}

impl Kind {
    /// The kind with an article, for messages.
    fn noun(self) -> &'static str {
        match self {
            Kind::Dict => "a dict",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Bool => "a boolean",
            Kind::Data => "data",
        }
    }
}

/// Resource limits for [`parse_with`]; exceeding one is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest allowed nesting of dicts and arrays (the root counts as 1).
    pub max_depth: usize,
    /// Most nodes (values, not counting IDREF uses) in one document.
    pub max_nodes: usize,
    /// Most distinct `ID` attributes in one document.
    pub max_ids: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_depth: 128, max_nodes: 20_000_000, max_ids: 10_000_000 }
    }
}

/// One value in the arena.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// Byte offset of the element's `<` in the input.
    off: u64,
    /// Integer: the value; Bool: 0/1; String/Data: index into `texts`;
    /// Dict: start in `entries`; Array: start in `items`.
    a: u64,
    /// Integer: the `size` attribute (0 if absent); Dict/Array: length.
    b: u32,
    kind: Kind,
}

/// A text run: a byte range of the input, or (if `start` is [`OWNED`]) the
/// index `len` into [`Doc::owned`] for text that had entity references.
#[derive(Debug, Clone, Copy)]
struct Text {
    start: u32,
    len: u32,
}

const OWNED: u32 = u32::MAX;

/// A parsed document: an arena of nodes borrowing text from the input.
#[derive(Debug)]
pub struct Doc<'a> {
    /// The input (up to the first NUL), validated as UTF-8.
    src: &'a str,
    nodes: Vec<Node>,
    texts: Vec<Text>,
    /// Texts with entity references resolved.
    owned: Vec<String>,
    /// Dict entries: (key index into `texts`, value node).
    entries: Vec<(u32, u32)>,
    /// For every dict of more than [`INDEXED_DICT`] entries, the positions
    /// of its entries sorted by key (stable: equal keys keep document
    /// order), at the same offsets as in `entries`: lookups in a large dict
    /// are a binary search, not a scan (a hostile cache can hold a dict of
    /// 20,000 keys that every kext's IDREF names).
    sorted: Vec<u32>,
    /// Array items: node indices.
    items: Vec<u32>,
    root: u32,
}

/// Dicts larger than this get a sorted index.
const INDEXED_DICT: u32 = 16;

impl<'a> Doc<'a> {
    /// The root value (normally the top-level dict).
    pub fn root(&self) -> NodeRef<'_, 'a> {
        NodeRef { doc: self, idx: self.root }
    }

    /// How many nodes the document has (IDREF uses are not nodes).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn index_large_dicts(&mut self) {
        let mut sorted = vec![0u32; self.entries.len()];
        for n in self.nodes.iter().filter(|n| n.kind == Kind::Dict && n.b > INDEXED_DICT) {
            let (start, len) = (n.a as usize, n.b as usize);
            let Some(slot) = sorted.get_mut(start..start + len) else { continue };
            for (i, s) in slot.iter_mut().enumerate() {
                *s = (start + i) as u32;
            }
            let entries = &self.entries;
            let texts = |p: u32| entries.get(p as usize).map_or(0, |e| u64::from(e.0));
            slot.sort_by(|&x, &y| self.text(texts(x)).cmp(self.text(texts(y))).then(x.cmp(&y)));
        }
        self.sorted = sorted;
    }

    fn text(&self, idx: u64) -> &str {
        let Some(&t) = self.texts.get(idx as usize) else {
            return "";
        };
        if t.start == OWNED {
            self.owned.get(t.len as usize).map_or("", |s| s.as_str())
        } else {
            let start = t.start as usize;
            self.src.get(start..start + t.len as usize).unwrap_or("")
        }
    }
}

/// A cheap handle to one value of a [`Doc`].
#[derive(Clone, Copy)]
pub struct NodeRef<'d, 'a> {
    doc: &'d Doc<'a>,
    idx: u32,
}

impl PartialEq for NodeRef<'_, '_> {
    /// Two handles are equal if they name the same node of the same document
    /// (so an IDREF equals the node it refers to).
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.doc, other.doc) && self.idx == other.idx
    }
}

impl Eq for NodeRef<'_, '_> {}

impl std::fmt::Debug for NodeRef<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeRef")
            .field("index", &self.idx)
            .field("kind", &self.kind())
            .field("offset", &self.offset())
            .finish()
    }
}

impl<'d, 'a> NodeRef<'d, 'a> {
    fn node(&self) -> &'d Node {
        &self.doc.nodes[self.idx as usize]
    }

    /// The node's kind.
    pub fn kind(&self) -> Kind {
        self.node().kind
    }

    /// The node's index in its document (equal for an ID and its IDREFs).
    pub fn index(&self) -> usize {
        self.idx as usize
    }

    /// The value for `key` if this is a dict that has it (first match).
    pub fn get(&self, key: &str) -> Option<NodeRef<'d, 'a>> {
        let n = self.node();
        if n.kind != Kind::Dict || n.b <= INDEXED_DICT {
            return self.entries().find(|(k, _)| *k == key).map(|(_, v)| v);
        }
        let doc = self.doc;
        let start = n.a as usize;
        let order = doc.sorted.get(start..start + n.b as usize)?;
        let key_of = |p: u32| doc.entries.get(p as usize).map_or("", |e| doc.text(u64::from(e.0)));
        let first = order.partition_point(|&p| key_of(p) < key);
        let p = *order.get(first)?;
        (key_of(p) == key).then(|| NodeRef { doc, idx: doc.entries[p as usize].1 })
    }

    /// A dict's entries in document order (nothing if not a dict).
    pub fn entries(&self) -> impl Iterator<Item = (&'d str, NodeRef<'d, 'a>)> + use<'d, 'a> {
        let doc = self.doc;
        let n = self.node();
        let slice: &'d [(u32, u32)] = if n.kind == Kind::Dict {
            let start = n.a as usize;
            &doc.entries[start..start + n.b as usize]
        } else {
            &[]
        };
        slice.iter().map(move |&(k, v)| (doc.text(u64::from(k)), NodeRef { doc, idx: v }))
    }

    /// An array's (or set's) items in document order (nothing if not an array).
    pub fn items(&self) -> impl Iterator<Item = NodeRef<'d, 'a>> + use<'d, 'a> {
        let doc = self.doc;
        let n = self.node();
        let slice: &'d [u32] = if n.kind == Kind::Array {
            let start = n.a as usize;
            &doc.items[start..start + n.b as usize]
        } else {
            &[]
        };
        slice.iter().map(move |&idx| NodeRef { doc, idx })
    }

    /// Number of entries of a dict or items of an array; 0 for other kinds.
    pub fn len(&self) -> usize {
        let n = self.node();
        match n.kind {
            Kind::Dict | Kind::Array => n.b as usize,
            _ => 0,
        }
    }

    /// True if [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The text of a string (or date).
    pub fn as_str(&self) -> Option<&'d str> {
        let n = self.node();
        (n.kind == Kind::String).then(|| self.doc.text(n.a))
    }

    /// The value of an integer.
    pub fn as_u64(&self) -> Option<u64> {
        let n = self.node();
        (n.kind == Kind::Integer).then_some(n.a)
    }

    /// The `size` attribute of an integer (8, 16, 32 or 64), if it had one.
    pub fn int_size(&self) -> Option<u8> {
        let n = self.node();
        (n.kind == Kind::Integer && n.b != 0).then_some(n.b as u8)
    }

    /// The value of a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        let n = self.node();
        (n.kind == Kind::Bool).then_some(n.a != 0)
    }

    /// The decoded bytes of data; `None` if not data or not valid base64.
    pub fn as_data(&self) -> Option<Vec<u8>> {
        let n = self.node();
        if n.kind != Kind::Data {
            return None;
        }
        let text = self.doc.text(n.a).as_bytes();
        if text.iter().any(|c| c.is_ascii_whitespace()) {
            let compact: Vec<u8> = text.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
            B64.decode(compact).ok()
        } else {
            B64.decode(text).ok()
        }
    }

    /// Byte offset of the element in the input (of the ID-carrying element
    /// for an IDREF), for messages.
    pub fn offset(&self) -> u64 {
        self.node().off
    }
}

/// Parse with [`Limits::default`].
pub fn parse(xml: &[u8]) -> FormatResult<Doc<'_>> {
    parse_with(xml, &Limits::default())
}

/// Parse `xml` (cut at the first NUL byte) under `limits`.
pub fn parse_with<'a>(xml: &'a [u8], limits: &Limits) -> FormatResult<Doc<'a>> {
    let end = memchr(0, xml).unwrap_or(xml.len());
    let buf = &xml[..end];
    // Validating once is much faster than per text run; every text run is
    // then a char-boundary slice of `src`.
    let src = match std::str::from_utf8(buf) {
        Ok(s) => s,
        Err(e) => return err(e.valid_up_to(), "invalid utf-8"),
    };
    if u32::try_from(buf.len()).is_err() || buf.len() == OWNED as usize {
        return err(0, "document too large");
    }
    let parser = Parser {
        buf,
        src,
        comment_end: memmem::Finder::new(b"-->"),
        pos: 0,
        limits,
        // Generous guesses: untouched capacity costs no memory, growing
        // (copying) does.
        nodes: Vec::with_capacity(buf.len() / 24),
        texts: Vec::with_capacity(buf.len() / 24),
        owned: Vec::new(),
        entries: Vec::with_capacity(buf.len() / 48),
        items: Vec::new(),
        pend_entries: Vec::new(),
        pend_items: Vec::new(),
        stack: Vec::new(),
        ids: HashMap::new(),
        id_count: 0,
        root: None,
    };
    parser.run()
}

fn err<T>(off: usize, message: impl Into<String>) -> FormatResult<T> {
    Err(FormatError::new(LAYER, off as u64, message))
}

/// `memchr`, but scanning short distances inline (most text runs are short,
/// and a call into the vectorized search costs more than it saves there).
#[inline]
fn find_byte(c: u8, hay: &[u8]) -> Option<usize> {
    const HEAD: usize = 32;
    if let Some(i) = hay.iter().take(HEAD).position(|&b| b == c) {
        return Some(i);
    }
    if hay.len() <= HEAD {
        return None;
    }
    memchr(c, &hay[HEAD..]).map(|i| i + HEAD)
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// Input bytes for a message: lossy UTF-8, at most 40 characters.
fn show(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.chars().count() > 40 {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    } else {
        s.into_owned()
    }
}

fn idx32(n: usize, off: usize) -> FormatResult<u32> {
    u32::try_from(n).or_else(|_| err(off, "document too large"))
}

/// The kind and canonical name of a value element.
fn classify(name: &[u8]) -> Option<(Kind, &'static str)> {
    Some(match name {
        b"dict" => (Kind::Dict, "dict"),
        b"array" => (Kind::Array, "array"),
        b"set" => (Kind::Array, "set"),
        b"string" => (Kind::String, "string"),
        b"date" => (Kind::String, "date"),
        b"integer" => (Kind::Integer, "integer"),
        b"data" => (Kind::Data, "data"),
        b"true" => (Kind::Bool, "true"),
        b"false" => (Kind::Bool, "false"),
        _ => return None,
    })
}

/// Integer text: optional `-`, then `0x` hex or decimal; error message on failure.
fn parse_int(raw: &[u8]) -> Result<u64, String> {
    let t = raw.trim_ascii();
    if t.is_empty() {
        return Err("empty integer".into());
    }
    let (neg, digits) = match t.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let bad = || format!("bad integer \"{}\"", show(t));
    let mag = if let Some(hex) = digits.strip_prefix(b"0x").or_else(|| digits.strip_prefix(b"0X")) {
        if hex.is_empty() {
            return Err(bad());
        }
        let mut v: u64 = 0;
        for &c in hex {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(bad()),
            };
            if v >> 60 != 0 {
                return Err("integer out of range".into());
            }
            v = (v << 4) | u64::from(d);
        }
        v
    } else {
        if digits.is_empty() {
            return Err(bad());
        }
        let mut v: u64 = 0;
        for &c in digits {
            if !c.is_ascii_digit() {
                return Err(bad());
            }
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| "integer out of range".to_string())?;
        }
        v
    };
    Ok(if neg { mag.wrapping_neg() } else { mag })
}

/// Resolve entity references in `s`, which starts at byte `off` of the input.
fn unescape(s: &str, off: usize) -> FormatResult<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut base = off;
    while let Some(amp) = memchr(b'&', rest.as_bytes()) {
        out.push_str(&rest[..amp]);
        let at = base + amp;
        let tail = &rest[amp + 1..];
        let Some(semi) = memchr(b';', &tail.as_bytes()[..tail.len().min(12)]) else {
            return err(at, "bad entity");
        };
        let name = &tail[..semi];
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                    (!hex.is_empty() && hex.bytes().all(|c| c.is_ascii_hexdigit()))
                        .then(|| u32::from_str_radix(hex, 16).ok())
                        .flatten()
                } else if let Some(dec) = name.strip_prefix('#') {
                    (!dec.is_empty() && dec.bytes().all(|c| c.is_ascii_digit()))
                        .then(|| dec.parse::<u32>().ok())
                        .flatten()
                } else {
                    None
                };
                match code.filter(|&c| c != 0).and_then(char::from_u32) {
                    Some(c) => c,
                    None => return err(at, "bad entity"),
                }
            }
        };
        out.push(c);
        rest = &tail[semi + 1..];
        base = at + 1 + semi + 1;
    }
    out.push_str(rest);
    Ok(out)
}

/// An open tag.
struct Tag<'a> {
    name: &'a [u8],
    id: Option<&'a [u8]>,
    idref: Option<&'a [u8]>,
    size: u32,
    /// `<name .../>`
    empty: bool,
    /// Offset just past the `>`.
    end: usize,
}

/// An open dict or array.
struct Frame<'a> {
    node: u32,
    off: usize,
    name: &'static str,
    is_dict: bool,
    /// Where this container's children start in `pend_entries`/`pend_items`.
    pend_start: usize,
    /// A key waiting for its value: (index into texts, offset of `<key>`).
    key: Option<(u32, usize)>,
    id: Option<&'a [u8]>,
}

struct Parser<'a, 'l> {
    buf: &'a [u8],
    /// `buf` as text (validated up front).
    src: &'a str,
    comment_end: memmem::Finder<'static>,
    pos: usize,
    limits: &'l Limits,
    nodes: Vec<Node>,
    texts: Vec<Text>,
    owned: Vec<String>,
    entries: Vec<(u32, u32)>,
    items: Vec<u32>,
    pend_entries: Vec<(u32, u32)>,
    pend_items: Vec<u32>,
    stack: Vec<Frame<'a>>,
    ids: HashMap<&'a [u8], u32>,
    /// IDs seen so far, including those of still-open containers.
    id_count: usize,
    root: Option<u32>,
}

impl<'a> Parser<'a, '_> {
    fn run(mut self) -> FormatResult<Doc<'a>> {
        let b = self.buf;
        let len = b.len();
        // Offset of an open <plist>, and whether it has been closed.
        let mut plist: Option<usize> = None;
        let mut plist_closed = false;
        if b.starts_with(&[0xEF, 0xBB, 0xBF]) {
            self.pos = 3;
        }
        loop {
            let mut pos = self.pos;
            while pos < len && is_ws(b[pos]) {
                pos += 1;
            }
            if pos >= len {
                break;
            }
            if b[pos] != b'<' {
                return err(pos, "text outside elements");
            }
            let off = pos;
            let in_prolog = self.root.is_none() && self.stack.is_empty() && plist.is_none();
            match b.get(pos + 1) {
                Some(b'!') => {
                    if b[pos..].starts_with(b"<!--") {
                        match self.comment_end.find(&b[pos + 4..]) {
                            Some(r) => self.pos = pos + 4 + r + 3,
                            None => return err(off, "unterminated comment"),
                        }
                    } else if b[pos..].starts_with(b"<!DOCTYPE") {
                        if !in_prolog {
                            return err(off, "unexpected doctype");
                        }
                        match memchr(b'>', &b[pos..]) {
                            Some(r) => self.pos = pos + r + 1,
                            None => return err(off, "unterminated doctype"),
                        }
                    } else {
                        return err(off, "malformed tag");
                    }
                }
                Some(b'?') => {
                    if !in_prolog {
                        return err(off, "unexpected processing instruction");
                    }
                    match memmem::find(&b[pos + 2..], b"?>") {
                        Some(r) => self.pos = pos + 2 + r + 2,
                        None => return err(off, "unterminated processing instruction"),
                    }
                }
                Some(b'/') => {
                    let (name, end) = self.close_tag(off)?;
                    self.pos = end;
                    if name == b"plist" && self.stack.is_empty() {
                        if plist.is_none() || plist_closed {
                            return err(off, "unexpected close tag </plist>");
                        }
                        if self.root.is_none() {
                            return err(off, "no root element in <plist>");
                        }
                        plist_closed = true;
                    } else {
                        self.close_container(name, off)?;
                    }
                }
                _ => {
                    let tag = self.open_tag(off)?;
                    self.pos = tag.end;
                    match tag.name {
                        b"plist" => {
                            if !in_prolog {
                                return err(off, "unexpected <plist>");
                            }
                            if tag.empty {
                                return err(off, "no root element in <plist>");
                            }
                            plist = Some(off);
                        }
                        b"key" => self.key(&tag, off)?,
                        _ => self.value(&tag, off)?,
                    }
                }
            }
        }
        if let Some(f) = self.stack.last() {
            return err(f.off, format!("unexpected end of input: <{}> not closed", f.name));
        }
        if let (Some(p), false) = (plist, plist_closed) {
            if self.root.is_none() {
                return err(p, "no root element in <plist>");
            }
            return err(p, "unexpected end of input: <plist> not closed");
        }
        let Some(root) = self.root else {
            return err(len, "no root element");
        };
        let mut doc = Doc {
            nodes: self.nodes,
            src: self.src,
            texts: self.texts,
            owned: self.owned,
            entries: self.entries,
            sorted: Vec::new(),
            items: self.items,
            root,
        };
        doc.index_large_dicts();
        Ok(doc)
    }

    /// Parse `<name attr="v" ...>` or `<name .../>` starting at `start`.
    fn open_tag(&self, start: usize) -> FormatResult<Tag<'a>> {
        let b = self.buf;
        let len = b.len();
        let mut i = start + 1;
        while i < len && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>' | b'<') {
            i += 1;
        }
        if i >= len {
            return err(start, "truncated tag");
        }
        let name = &b[start + 1..i];
        if name.is_empty() {
            return err(start, "malformed tag");
        }
        let mut tag = Tag { name, id: None, idref: None, size: 0, empty: false, end: 0 };
        loop {
            while i < len && is_ws(b[i]) {
                i += 1;
            }
            if i >= len {
                return err(start, "truncated tag");
            }
            match b[i] {
                b'>' => {
                    tag.end = i + 1;
                    return Ok(tag);
                }
                b'/' => {
                    return match b.get(i + 1) {
                        Some(b'>') => {
                            tag.empty = true;
                            tag.end = i + 2;
                            Ok(tag)
                        }
                        Some(_) => err(start, "malformed tag"),
                        None => err(start, "truncated tag"),
                    };
                }
                _ => {
                    let a0 = i;
                    while i < len && !matches!(b[i], b'=' | b' ' | b'\t' | b'\n' | b'\r' | b'/' | b'>' | b'<') {
                        i += 1;
                    }
                    let attr = &b[a0..i];
                    while i < len && is_ws(b[i]) {
                        i += 1;
                    }
                    if i >= len {
                        return err(start, "truncated tag");
                    }
                    if attr.is_empty() || b[i] != b'=' {
                        return err(start, "malformed tag");
                    }
                    i += 1;
                    while i < len && is_ws(b[i]) {
                        i += 1;
                    }
                    if i >= len {
                        return err(start, "truncated tag");
                    }
                    let quote = b[i];
                    if quote != b'"' && quote != b'\'' {
                        return err(start, "malformed tag");
                    }
                    let Some(r) = find_byte(quote, &b[i + 1..]) else {
                        return err(start, "truncated tag");
                    };
                    let value = &b[i + 1..i + 1 + r];
                    if value.contains(&b'<') {
                        return err(start, "malformed tag");
                    }
                    i += r + 2;
                    match attr {
                        b"ID" => tag.id = Some(value),
                        b"IDREF" => tag.idref = Some(value),
                        b"size" => {
                            tag.size = match value {
                                b"8" => 8,
                                b"16" => 16,
                                b"32" => 32,
                                b"64" => 64,
                                _ => 0,
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Parse `</name>` starting at `start`; returns the name and the end.
    fn close_tag(&self, start: usize) -> FormatResult<(&'a [u8], usize)> {
        let b = self.buf;
        let len = b.len();
        let mut i = start + 2;
        while i < len && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'<' | b'/') {
            i += 1;
        }
        let name = &b[start + 2..i];
        while i < len && is_ws(b[i]) {
            i += 1;
        }
        if i >= len {
            return err(start, "truncated tag");
        }
        if name.is_empty() || b[i] != b'>' {
            return err(start, "malformed tag");
        }
        Ok((name, i + 1))
    }

    /// Read the text of a leaf element `<name>` (at `off`) whose open tag
    /// ends at `self.pos`, and its close tag. Returns the raw text and its
    /// offset; leaves `self.pos` after the close tag.
    fn leaf(&mut self, off: usize, name: &'static str) -> FormatResult<(&'a [u8], usize)> {
        let b = self.buf;
        let start = self.pos;
        let truncated = || err(off, format!("unexpected end of input in <{name}>"));
        let Some(r) = find_byte(b'<', &b[start..]) else {
            return truncated();
        };
        let lt = start + r;
        let rest = &b[lt..];
        let mut i = 2 + name.len();
        if rest.len() >= i && rest[1] == b'/' && rest[2..i].iter().eq(name.as_bytes()) {
            while i < rest.len() && is_ws(rest[i]) {
                i += 1;
            }
            if i < rest.len() && rest[i] == b'>' {
                self.pos = lt + i + 1;
                return Ok((&b[start..lt], start));
            }
            if i >= rest.len() {
                return truncated();
            }
        } else if rest.len() < i && format!("</{name}").as_bytes().starts_with(rest) {
            return truncated();
        }
        err(lt, format!("expected </{name}>"))
    }

    /// Store the text run `raw` at `off` (resolving entities); returns its
    /// index.
    fn text(&mut self, raw: &'a [u8], off: usize) -> FormatResult<u32> {
        let idx = idx32(self.texts.len(), off)?;
        // `buf` is shorter than u32::MAX (checked in `parse_with`).
        let t = if find_byte(b'&', raw).is_none() {
            Text { start: off as u32, len: raw.len() as u32 }
        } else {
            let Some(s) = self.src.get(off..off + raw.len()) else {
                return err(off, "invalid utf-8");
            };
            let text = unescape(s, off)?;
            let t = Text { start: OWNED, len: idx32(self.owned.len(), off)? };
            self.owned.push(text);
            t
        };
        self.texts.push(t);
        Ok(idx)
    }

    fn push_node(&mut self, node: Node, off: usize) -> FormatResult<u32> {
        if self.nodes.len() >= self.limits.max_nodes {
            return err(off, format!("more than {} nodes", self.limits.max_nodes));
        }
        let idx = idx32(self.nodes.len(), off)?;
        self.nodes.push(node);
        Ok(idx)
    }

    /// Check that `id` (on the element at `off`) may be declared, and count it.
    fn claim_id(&mut self, id: &'a [u8], off: usize) -> FormatResult<()> {
        if id.is_empty() {
            return err(off, "empty id");
        }
        if self.ids.contains_key(id) || self.stack.iter().any(|f| f.id == Some(id)) {
            return err(off, format!("duplicate id {}", show(id)));
        }
        if self.id_count >= self.limits.max_ids {
            return err(off, format!("more than {} ids", self.limits.max_ids));
        }
        self.id_count += 1;
        Ok(())
    }

    /// The node an IDREF on the element at `off` refers to.
    fn resolve(&self, r: &[u8], off: usize) -> FormatResult<u32> {
        if let Some(&idx) = self.ids.get(r) {
            return Ok(idx);
        }
        if self.stack.iter().any(|f| f.id == Some(r)) {
            return err(off, format!("idref {} refers to an enclosing element", show(r)));
        }
        let rest = &self.buf[self.pos..];
        let later = [b'"', b'\''].iter().any(|&q| {
            let mut pat = b"ID=".to_vec();
            pat.push(q);
            pat.extend_from_slice(r);
            pat.push(q);
            memmem::find_iter(rest, &pat).any(|hit| hit > 0 && is_ws(rest[hit - 1]))
        });
        if later {
            err(off, format!("idref {} refers to a later id", show(r)))
        } else {
            err(off, format!("idref {} refers to an unknown id", show(r)))
        }
    }

    /// Put a finished (or just opened) value into its parent.
    fn attach(&mut self, idx: u32, off: usize) -> FormatResult<()> {
        match self.stack.last_mut() {
            None => {
                if self.root.is_some() {
                    return err(off, "unexpected element after root");
                }
                self.root = Some(idx);
            }
            Some(f) if f.is_dict => match f.key.take() {
                Some((k, _)) => self.pend_entries.push((k, idx)),
                None => return err(off, "value without key in dict"),
            },
            Some(_) => self.pend_items.push(idx),
        }
        Ok(())
    }

    fn key(&mut self, tag: &Tag<'a>, off: usize) -> FormatResult<()> {
        if tag.id.is_some() || tag.idref.is_some() {
            return err(off, "id or idref on <key>");
        }
        match self.stack.last() {
            Some(f) if f.is_dict => {
                if let Some((_, koff)) = f.key {
                    return err(koff, "key without value");
                }
            }
            _ => return err(off, "key outside dict"),
        }
        let k = if tag.empty {
            self.text(&[], off)?
        } else {
            let (raw, t) = self.leaf(off, "key")?;
            self.text(raw, t)?
        };
        if let Some(f) = self.stack.last_mut() {
            f.key = Some((k, off));
        }
        Ok(())
    }

    fn value(&mut self, tag: &Tag<'a>, off: usize) -> FormatResult<()> {
        let Some((kind, name)) = classify(tag.name) else {
            return err(off, format!("unknown element <{}>", show(tag.name)));
        };
        if self.stack.is_empty() && self.root.is_some() {
            return err(off, "unexpected element after root");
        }
        if let Some(r) = tag.idref {
            if tag.id.is_some() {
                return err(off, "element has both id and idref");
            }
            if !tag.empty {
                return err(off, format!("<{name}> with idref must be empty"));
            }
            let idx = self.resolve(r, off)?;
            let target = self.nodes[idx as usize].kind;
            if target != kind {
                return err(off, format!("kind mismatch: idref {} on <{name}> refers to {}", show(r), target.noun()));
            }
            return self.attach(idx, off);
        }
        match kind {
            Kind::Dict | Kind::Array => {
                let is_dict = kind == Kind::Dict;
                if self.stack.len() >= self.limits.max_depth {
                    return err(off, format!("nesting deeper than {} levels", self.limits.max_depth));
                }
                if tag.empty {
                    let start = if is_dict { self.entries.len() } else { self.items.len() };
                    let node = Node { off: off as u64, a: start as u64, b: 0, kind };
                    let idx = self.push_node(node, off)?;
                    if let Some(id) = tag.id {
                        self.claim_id(id, off)?;
                        self.ids.insert(id, idx);
                    }
                    return self.attach(idx, off);
                }
                if let Some(id) = tag.id {
                    self.claim_id(id, off)?;
                }
                let node = Node { off: off as u64, a: 0, b: 0, kind };
                let idx = self.push_node(node, off)?;
                self.attach(idx, off)?;
                let pend_start = if is_dict { self.pend_entries.len() } else { self.pend_items.len() };
                self.stack.push(Frame { node: idx, off, name, is_dict, pend_start, key: None, id: tag.id });
                Ok(())
            }
            Kind::String | Kind::Data | Kind::Integer | Kind::Bool => {
                let (a, b) = match kind {
                    Kind::Integer => {
                        if tag.empty {
                            return err(off, "empty integer");
                        }
                        let (raw, _) = self.leaf(off, name)?;
                        let v = parse_int(raw).or_else(|m| err(off, m))?;
                        (v, tag.size)
                    }
                    Kind::Bool => {
                        if !tag.empty {
                            let (raw, t) = self.leaf(off, name)?;
                            if !raw.iter().all(|&c| is_ws(c)) {
                                return err(t, format!("unexpected text in <{name}>"));
                            }
                        }
                        (u64::from(name == "true"), 0)
                    }
                    _ => {
                        let t = if tag.empty {
                            self.text(&[], off)?
                        } else {
                            let (raw, t) = self.leaf(off, name)?;
                            self.text(raw, t)?
                        };
                        (u64::from(t), 0)
                    }
                };
                let idx = self.push_node(Node { off: off as u64, a, b, kind }, off)?;
                if let Some(id) = tag.id {
                    self.claim_id(id, off)?;
                    self.ids.insert(id, idx);
                }
                self.attach(idx, off)
            }
        }
    }

    fn close_container(&mut self, name: &[u8], off: usize) -> FormatResult<()> {
        let Some(f) = self.stack.last() else {
            return err(off, format!("unexpected close tag </{}>", show(name)));
        };
        if name != f.name.as_bytes() {
            return err(off, format!("mismatched close tag </{}>, expected </{}>", show(name), f.name));
        }
        if let Some((_, koff)) = f.key {
            return err(koff, "key without value");
        }
        let Some(f) = self.stack.pop() else {
            return err(off, "unexpected close tag");
        };
        let (start, count) = if f.is_dict {
            let start = self.entries.len();
            self.entries.extend(self.pend_entries.drain(f.pend_start..));
            (start, self.entries.len() - start)
        } else {
            let start = self.items.len();
            self.items.extend(self.pend_items.drain(f.pend_start..));
            (start, self.items.len() - start)
        };
        let count = idx32(count, off)?;
        let node = &mut self.nodes[f.node as usize];
        node.a = start as u64;
        node.b = count;
        if let Some(id) = f.id {
            self.ids.insert(id, f.node);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(xml: &[u8]) -> FormatError {
        match parse(xml) {
            Ok(_) => panic!("parsed: {}", String::from_utf8_lossy(xml)),
            Err(e) => e,
        }
    }

    fn fail_with(xml: &[u8], limits: &Limits) -> FormatError {
        match parse_with(xml, limits) {
            Ok(_) => panic!("parsed: {}", String::from_utf8_lossy(xml)),
            Err(e) => e,
        }
    }

    /// Assert that `xml` fails with `message` at the offset of `at` (the
    /// first occurrence of that substring in `xml`).
    fn check(xml: &str, at: &str, message: &str) {
        let e = fail(xml.as_bytes());
        let off = xml.find(at).expect("marker in test input") as u64;
        assert_eq!((e.layer.as_str(), e.message.as_str(), e.offset), ("prelink-xml", message, off), "input: {xml}");
    }

    const KERNEL: &[u8] = b"<dict><key>_PrelinkInfoDictionary</key><array>\
<dict><key>CFBundleIdentifier</key><string ID=\"0\">com.apple.kpi.bsd</string>\
<key>_PrelinkExecutableLoadAddr</key><integer size=\"64\" ID=\"1\">0xffffff7f80a2e000</integer>\
<key>_PrelinkExecutableSourceAddr</key><integer IDREF=\"1\"/>\
<key>_PrelinkExecutableSize</key><integer size=\"32\">0x1000</integer>\
<key>OSBundleLibraries</key><dict ID=\"2\"><key>com.apple.kpi.bsd</key><string IDREF=\"0\"/></dict>\
<key>Blob</key><data ID=\"3\">AAECAw==</data>\
<key>OSKernelResource</key><true/></dict>\
<dict><key>CFBundleIdentifier</key><string>com.apple.driver.X</string>\
<key>OSBundleLibraries</key><dict IDREF=\"2\"/>\
<key>Blob</key><data IDREF=\"3\"/>\
<key>Dep</key><string IDREF=\"0\"/>\
<key>OSKernelResource</key><false/></dict>\
</array><key>_PrelinkKCID</key><data>AAECAwQFBgcICQoLDA0ODw==</data></dict>\0\0\0\0";

    #[test]
    fn kernel_doc_with_idrefs() {
        let doc = parse(KERNEL).unwrap();
        let root = doc.root();
        assert_eq!(root.kind(), Kind::Dict);
        assert_eq!(root.len(), 2);
        let kexts: Vec<_> = root.get("_PrelinkInfoDictionary").unwrap().items().collect();
        assert_eq!(kexts.len(), 2);
        let (a, b) = (kexts[0], kexts[1]);
        assert_eq!(a.get("CFBundleIdentifier").unwrap().as_str(), Some("com.apple.kpi.bsd"));
        let load = a.get("_PrelinkExecutableLoadAddr").unwrap();
        assert_eq!(load.as_u64(), Some(0xffffff7f80a2e000));
        assert_eq!(load.int_size(), Some(64));
        let src = a.get("_PrelinkExecutableSourceAddr").unwrap();
        assert_eq!(src, load);
        assert_eq!(src.as_u64(), Some(0xffffff7f80a2e000));
        assert_eq!(a.get("_PrelinkExecutableSize").unwrap().int_size(), Some(32));
        let libs = a.get("OSBundleLibraries").unwrap();
        assert_eq!(libs.get("com.apple.kpi.bsd").unwrap().as_str(), Some("com.apple.kpi.bsd"));
        assert_eq!(b.get("OSBundleLibraries"), Some(libs));
        assert_eq!(b.get("OSBundleLibraries").unwrap().len(), 1);
        assert_eq!(b.get("Blob").unwrap().as_data(), Some(vec![0, 1, 2, 3]));
        assert_eq!(b.get("Dep").unwrap().as_str(), Some("com.apple.kpi.bsd"));
        assert_eq!(a.get("OSKernelResource").unwrap().as_bool(), Some(true));
        assert_eq!(b.get("OSKernelResource").unwrap().as_bool(), Some(false));
        assert_eq!(root.get("_PrelinkKCID").unwrap().as_data(), Some((0u8..16).collect::<Vec<_>>()));
        let keys: Vec<_> = a.entries().map(|(k, _)| k).collect();
        assert_eq!(keys[0], "CFBundleIdentifier");
        assert_eq!(keys[6], "OSKernelResource");
        assert!(root.get("missing").is_none());
        assert!(load.get("x").is_none());
        assert_eq!(load.items().count(), 0);
        assert_eq!(load.as_str(), None);
        assert_eq!(load.as_data(), None);
        assert_eq!(root.offset(), 0);
        assert_eq!(b.get("Dep").unwrap().offset(), KERNEL.windows(8).position(|w| w == b"<string ").unwrap() as u64);
    }

    #[test]
    fn full_plist_with_header() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<!-- a comment -->\n<plist version=\"1.0\">\n<dict>\n\t<key>Name</key>\n\t<string>kernel</string>\n\
\t<key>Size</key>\n\t<integer>4096</integer>\n\t<key>Blob</key>\n\t<data>\n\tAAEC\n\tAw==\n\t</data>\n\
\t<key>List</key>\n\t<array>\n\t\t<true/>\n\t\t<date>2020-01-01T00:00:00Z</date>\n\t</array>\n\
</dict>\n</plist>\n<!-- end -->\n";
        let doc = parse(xml.as_bytes()).unwrap();
        let root = doc.root();
        assert_eq!(root.get("Name").unwrap().as_str(), Some("kernel"));
        assert_eq!(root.get("Size").unwrap().as_u64(), Some(4096));
        assert_eq!(root.get("Size").unwrap().int_size(), None);
        assert_eq!(root.get("Blob").unwrap().as_data(), Some(vec![0, 1, 2, 3]));
        let list: Vec<_> = root.get("List").unwrap().items().collect();
        assert_eq!(list[0].as_bool(), Some(true));
        assert_eq!(list[1].as_str(), Some("2020-01-01T00:00:00Z"));
        assert_eq!(list[1].kind(), Kind::String);
    }

    #[test]
    fn comments_after_keys() {
        let xml =
            "<dict><key>a</key><!-- 🤦 --><string>x</string><!----><key>b</key><!-- 🤦 --><integer>1</integer></dict>";
        let doc = parse(xml.as_bytes()).unwrap();
        assert_eq!(doc.root().get("a").unwrap().as_str(), Some("x"));
        assert_eq!(doc.root().get("b").unwrap().as_u64(), Some(1));
    }

    #[test]
    fn entities() {
        let xml = b"<dict><key>a&amp;b</key><string>&lt;x&gt; &quot;&apos; &#65;&#x42;&#X43; &#x1F926;</string></dict>";
        let doc = parse(xml).unwrap();
        let (k, v) = doc.root().entries().next().unwrap();
        assert_eq!(k, "a&b");
        assert_eq!(v.as_str(), Some("<x> \"' ABC \u{1F926}"));
    }

    #[test]
    fn integers() {
        let xml = b"<array><integer>0x0</integer><integer>0XABCdef</integer><integer> 42 </integer>\
<integer>-1</integer><integer>-0x10</integer><integer>18446744073709551615</integer>\
<integer>0xFFFFFFFFFFFFFFFF</integer><integer>0x00000000000000000001</integer></array>";
        let doc = parse(xml).unwrap();
        let v: Vec<_> = doc.root().items().map(|n| n.as_u64().unwrap()).collect();
        assert_eq!(v, [0, 0xabcdef, 42, u64::MAX, 0u64.wrapping_sub(16), u64::MAX, u64::MAX, 1]);
    }

    #[test]
    fn empty_elements_and_set() {
        let xml = b"<dict><key>s</key><string/><key>d</key><dict/><key>a</key><array/>\
<key>b</key><data/><key>e</key><string></string><key>t</key><set><integer>1</integer><string>x</string></set>\
<key></key><true></true><key/><false/><key>ed</key><dict ID=\"0\"/><key>r</key><dict IDREF=\"0\"/></dict>";
        let doc = parse(xml).unwrap();
        let r = doc.root();
        assert_eq!(r.get("s").unwrap().as_str(), Some(""));
        assert_eq!(r.get("d").unwrap().kind(), Kind::Dict);
        assert!(r.get("d").unwrap().is_empty());
        assert_eq!(r.get("a").unwrap().kind(), Kind::Array);
        assert_eq!(r.get("a").unwrap().len(), 0);
        assert_eq!(r.get("b").unwrap().as_data(), Some(vec![]));
        assert_eq!(r.get("e").unwrap().as_str(), Some(""));
        let t = r.get("t").unwrap();
        assert_eq!(t.kind(), Kind::Array);
        assert_eq!(t.len(), 2);
        assert_eq!(r.get("").unwrap().as_bool(), Some(true));
        assert_eq!(r.get("r").unwrap(), r.get("ed").unwrap());
        let keys: Vec<_> = r.entries().map(|(k, _)| k).collect();
        assert_eq!(keys[7], "");
    }

    #[test]
    fn nul_padding_and_single_quotes() {
        let mut xml =
            b"<dict><key>k</key><integer size='64' ID='7'>0x5</integer><key>j</key><integer IDREF='7'/></dict>"
                .to_vec();
        xml.extend_from_slice(&[0; 64]);
        xml.extend_from_slice(b"garbage after the nul <<<");
        let doc = parse(&xml).unwrap();
        assert_eq!(doc.root().get("j").unwrap().as_u64(), Some(5));
        assert_eq!(doc.node_count(), 2);
    }

    #[test]
    fn huge_id_values() {
        let xml = b"<array><string ID=\"999999999999999999999999999999\">x</string><string IDREF=\"999999999999999999999999999999\"/></array>";
        let doc = parse(xml).unwrap();
        let v: Vec<_> = doc.root().items().collect();
        assert_eq!(v[0], v[1]);
    }

    #[test]
    fn invalid_base64_is_none() {
        let doc = parse(b"<data>!!!</data>").unwrap();
        assert_eq!(doc.root().as_data(), None);
    }

    #[test]
    fn malformed_tags() {
        check("<dict><key>a</key><string x></string></dict>", "<string", "malformed tag");
        check("<dict><></dict>", "<>", "malformed tag");
        check("<dict><key>a</key><string x=y></string></dict>", "<string", "malformed tag");
        check("<dict/ >", "<dict", "malformed tag");
        check("<dict></ dict>", "</", "malformed tag");
        check("<dict><!DOCTYPE x></dict>", "<!D", "unexpected doctype");
        check("<dict><!x></dict>", "<!x", "malformed tag");
        check("<dict><!-- x </dict>", "<!--", "unterminated comment");
        check("<dict><?pi?></dict>", "<?", "unexpected processing instruction");
    }

    #[test]
    fn unknown_element() {
        check("<dict><key>a</key><real>1.5</real></dict>", "<real", "unknown element <real>");
        check("<plist><foo/></plist>", "<foo", "unknown element <foo>");
    }

    #[test]
    fn mismatched_and_missing_close_tags() {
        check("<dict><key>a</key><array></dict></array>", "</dict>", "mismatched close tag </dict>, expected </array>");
        let e = fail(b"<dict></dict></dict>");
        assert_eq!((e.message.as_str(), e.offset), ("unexpected close tag </dict>", 13));
        check("<dict><key>a</key><string>x</dict>", "</dict>", "expected </string>");
        check("<dict><key>a</key><string>x<b/></string></dict>", "<b/>", "expected </string>");
        check("<dict><key>a</key><array>", "<array>", "unexpected end of input: <array> not closed");
        check("<plist><dict/>", "<plist>", "unexpected end of input: <plist> not closed");
        check("<dict/></plist>", "</plist>", "unexpected close tag </plist>");
        check("<plist></plist>", "</plist>", "no root element in <plist>");
        check("<plist/>", "<plist/>", "no root element in <plist>");
        let e = fail(b"<dict/><string>x</string>");
        assert_eq!((e.message.as_str(), e.offset), ("unexpected element after root", 7));
        let e = fail(b"  \0<dict/>");
        assert_eq!((e.message.as_str(), e.offset), ("no root element", 2));
    }

    #[test]
    fn text_outside_elements() {
        check("<dict>hello</dict>", "hello", "text outside elements");
        check("<dict/>x", "x", "text outside elements");
        check("x<dict/>", "x", "text outside elements");
    }

    #[test]
    fn truncated_input() {
        check("<dict><key>a</ke", "<key>", "unexpected end of input in <key>");
        check("<dict><key>a</key><string>abc", "<string>", "unexpected end of input in <string>");
        check("<dict><key>a</key><inte", "<inte", "truncated tag");
        check("<dict><key>a</key><integer size=\"6", "<integer", "truncated tag");
        check("<dict><key>a</key><integer>1</integer", "<integer>", "unexpected end of input in <integer>");
        check("<dict><key>a</key><integer/", "<integer/", "truncated tag");
        check("<dict></dic", "</dic", "truncated tag");
        check("<dict><?xml", "<?xml", "unexpected processing instruction");
        check("<?xml", "<?xml", "unterminated processing instruction");
        check("<!DOCTYPE", "<!DOCTYPE", "unterminated doctype");
    }

    #[test]
    fn keys_and_values_in_dicts() {
        check("<dict><key>a</key></dict>", "<key>", "key without value");
        check("<dict><key>a</key><key>b</key><true/></dict>", "<key>a", "key without value");
        check("<dict><string>x</string></dict>", "<string>", "value without key in dict");
        check("<dict><key>a</key><true/><array/></dict>", "<array/>", "value without key in dict");
        check("<array><key>a</key></array>", "<key>", "key outside dict");
        check("<key>a</key>", "<key>", "key outside dict");
    }

    #[test]
    fn idref_errors() {
        check("<array><string IDREF=\"5\"/></array>", "<string", "idref 5 refers to an unknown id");
        check(
            "<array><string IDREF=\"5\"/><string ID=\"5\">x</string></array>",
            "<string IDREF",
            "idref 5 refers to a later id",
        );
        check("<array ID=\"1\"><array IDREF=\"1\"/></array>", "<array IDREF", "idref 1 refers to an enclosing element");
        check(
            "<array><string ID=\"1\">x</string><string ID=\"1\">y</string></array>",
            "<string ID=\"1\">y",
            "duplicate id 1",
        );
        check("<array ID=\"1\"><string ID=\"1\">y</string></array>", "<string", "duplicate id 1");
        check("<array><string ID=\"\">y</string></array>", "<string", "empty id");
        check(
            "<array><string ID=\"1\">x</string><string IDREF=\"1\">x</string></array>",
            "<string IDREF",
            "<string> with idref must be empty",
        );
        check(
            "<array><string ID=\"1\">x</string><string ID=\"2\" IDREF=\"1\"/></array>",
            "<string ID=\"2\"",
            "element has both id and idref",
        );
        check(
            "<array><string ID=\"1\">x</string><integer IDREF=\"1\"/></array>",
            "<integer",
            "kind mismatch: idref 1 on <integer> refers to a string",
        );
        check(
            "<array><array ID=\"1\"/><dict IDREF=\"1\"/></array>",
            "<dict",
            "kind mismatch: idref 1 on <dict> refers to an array",
        );
        // <set> and <array>, <date> and <string> are the same kinds.
        let doc =
            parse(b"<array><set ID=\"1\"/><array IDREF=\"1\"/><date ID=\"2\">d</date><string IDREF=\"2\"/></array>")
                .unwrap();
        assert_eq!(doc.root().len(), 4);
    }

    #[test]
    fn bad_integers() {
        check("<array><integer></integer></array>", "<integer", "empty integer");
        check("<array><integer/></array>", "<integer", "empty integer");
        check("<array><integer>0x</integer></array>", "<integer", "bad integer \"0x\"");
        check("<array><integer>0xfg</integer></array>", "<integer", "bad integer \"0xfg\"");
        check("<array><integer>12a</integer></array>", "<integer", "bad integer \"12a\"");
        check("<array><integer>-</integer></array>", "<integer", "bad integer \"-\"");
        check("<array><integer>1 2</integer></array>", "<integer", "bad integer \"1 2\"");
        check("<array><integer>0x10000000000000000</integer></array>", "<integer", "integer out of range");
        check("<array><integer>18446744073709551616</integer></array>", "<integer", "integer out of range");
        check("<array><true>x</true></array>", "x<", "unexpected text in <true>");
    }

    #[test]
    fn bad_entities_and_utf8() {
        check("<array><string>a&foo;b</string></array>", "&", "bad entity");
        check("<array><string>a&lt b</string></array>", "&", "bad entity");
        check("<array><string>a&#0;b</string></array>", "&", "bad entity");
        check("<array><string>a&#xD800;b</string></array>", "&", "bad entity");
        check("<array><string>a&#x;b</string></array>", "&", "bad entity");
        check("<array><string>ok &amp; a&</string></array>", "&<", "bad entity");
        let e = fail(b"<array><string>ab\xff</string></array>");
        assert_eq!((e.message.as_str(), e.offset), ("invalid utf-8", 17));
        let e = fail(b"<dict><key>\xc3</key><true/></dict>");
        assert_eq!((e.message.as_str(), e.offset), ("invalid utf-8", 11));
    }

    #[test]
    fn limits() {
        let strict = Limits { max_depth: 3, max_nodes: 5, max_ids: 1 };
        assert!(parse_with(b"<array><array><array/></array></array>", &strict).is_ok());
        let e = fail_with(b"<array><array><array><array/></array></array></array>", &strict);
        assert_eq!((e.message.as_str(), e.offset), ("nesting deeper than 3 levels", 21));
        let e = fail_with(b"<array><true/><true/><true/><true/><true/></array>", &strict);
        assert_eq!((e.message.as_str(), e.offset), ("more than 5 nodes", 35));
        let e = fail_with(b"<array><true ID=\"1\"/><true ID=\"2\"/></array>", &strict);
        assert_eq!((e.message.as_str(), e.offset), ("more than 1 ids", 21));
    }

    #[test]
    fn depth_bomb() {
        let xml = "<array>".repeat(100_000);
        let e = fail(xml.as_bytes());
        assert_eq!(e.message, "nesting deeper than 128 levels");
        assert_eq!(e.offset, 128 * 7);
        // A wide bomb of IDREFs: many uses, one node, no blow-up.
        let mut xml = String::from("<array><dict ID=\"0\"><key>k</key><true/></dict>");
        xml.push_str(&"<dict IDREF=\"0\"/>".repeat(100_000));
        xml.push_str("</array>");
        let doc = parse(xml.as_bytes()).unwrap();
        assert_eq!(doc.node_count(), 3);
        assert_eq!(doc.root().len(), 100_001);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let end = KERNEL.len() - 4;
        for cut in 0..end {
            assert!(parse(&KERNEL[..cut]).is_err(), "cut at {cut}");
        }
        assert!(parse(&KERNEL[..end]).is_ok());
    }

    /// Visit every node reachable from `n` (IDREFs cannot form cycles).
    fn walk(n: NodeRef<'_, '_>) -> usize {
        let _ = (n.as_str(), n.as_u64(), n.as_bool(), n.as_data(), n.offset());
        1 + n.entries().map(|(_, v)| walk(v)).sum::<usize>() + n.items().map(walk).sum::<usize>()
    }

    #[test]
    fn mutations_never_panic() {
        let alphabet = b"<>/=\"' &;#x0-!?aAzIDREF\x80\xff\n";
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut ok, mut bad) = (0, 0);
        for _ in 0..20_000 {
            let mut xml = KERNEL.to_vec();
            for _ in 0..1 + next() % 3 {
                let at = (next() % xml.len() as u64) as usize;
                let c = alphabet[(next() % alphabet.len() as u64) as usize];
                match next() % 3 {
                    0 => xml[at] = c,
                    1 => xml.insert(at, c),
                    _ => {
                        xml.remove(at);
                    }
                }
            }
            match parse(&xml) {
                Ok(doc) => {
                    walk(doc.root());
                    ok += 1;
                }
                Err(e) => {
                    assert!(e.offset <= xml.len() as u64);
                    assert!(!e.message.is_empty() && !e.message.ends_with('.'));
                    assert!(!e.message.starts_with(char::is_uppercase), "{}", e.message);
                    bad += 1;
                }
            }
        }
        assert!(ok > 0 && bad > 0, "{ok} {bad}");
    }

    /// A kernel-style document of about `kexts` * 10 KB.
    fn big_doc(kexts: usize) -> Vec<u8> {
        let mut s = String::from("<dict><key>_PrelinkInfoDictionary</key><array>");
        let mut id = 0;
        for i in 0..kexts {
            let load = id;
            let name = id + 1;
            id += 2;
            s.push_str(&format!(
                "<dict><key>CFBundleIdentifier</key><string ID=\"{name}\">com.example.kext{i}</string>\
<key>CFBundleName</key><string>Kext &amp; friends {i}</string>\
<key>_PrelinkBundlePath</key><string>/System/Library/Extensions/Kext{i}.kext</string>\
<key>_PrelinkExecutableRelativePath</key><string>Contents/MacOS/Kext{i}</string>\
<key>_PrelinkExecutableLoadAddr</key><integer size=\"64\" ID=\"{load}\">0xffffff7f8{i:07x}</integer>\
<key>_PrelinkExecutableSourceAddr</key><integer IDREF=\"{load}\"/>\
<key>_PrelinkExecutableSize</key><integer size=\"64\">0x{:x}</integer>\
<key>_PrelinkKmodInfo</key><integer size=\"64\">0xffffff7f8{i:07x}</integer>\
<key>OSBundleRequired</key><string>Root</string><key>Self</key><string IDREF=\"{name}\"/>\
<key>IOKitPersonalities</key><dict>",
                i * 4096
            ));
            for p in 0..40 {
                s.push_str(&format!(
                    "<key>Personality{p}</key><dict><key>IOClass</key><string>Class{p}</string>\
<key>IOProviderClass</key><string>IOPCIDevice</string><key>IOProbeScore</key><integer size=\"32\">0x{p:x}</integer>\
<key>IOMatchCategory</key><string>Cat</string><key>Flag</key><true/></dict><!-- 🤦 -->"
                ));
            }
            s.push_str("</dict><key>Blob</key><data>AAECAwQFBgcICQoLDA0ODw==</data></dict>");
        }
        s.push_str("</array><key>_PrelinkKCID</key><data>AAECAwQFBgcICQoLDA0ODw==</data></dict>");
        let mut v = s.into_bytes();
        v.extend_from_slice(&[0; 100]);
        v
    }

    #[test]
    fn big_generated_doc() {
        let xml = big_doc(600);
        assert!(xml.len() > 6_000_000, "{}", xml.len());
        let doc = parse(&xml).unwrap();
        let kexts: Vec<_> = doc.root().get("_PrelinkInfoDictionary").unwrap().items().collect();
        assert_eq!(kexts.len(), 600);
        let k = kexts[599];
        assert_eq!(k.get("Self").unwrap().as_str(), Some("com.example.kext599"));
        assert_eq!(k.get("_PrelinkExecutableSourceAddr").unwrap().as_u64(), Some(0xffff_ff7f_8000_0000 + 599));
        assert_eq!(k.get("CFBundleName").unwrap().as_str(), Some("Kext & friends 599"));
        assert_eq!(k.get("IOKitPersonalities").unwrap().len(), 40);
    }

    /// `cargo test --release -- --ignored --nocapture throughput`
    #[test]
    #[ignore]
    fn throughput() {
        let xml = big_doc(600);
        let mut best = f64::MAX;
        let mut total = 0.0;
        let rounds = 40;
        let mut nodes = 0;
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            nodes = parse(&xml).unwrap().node_count();
            let secs = t.elapsed().as_secs_f64();
            best = best.min(secs);
            total += secs;
        }
        let mb = xml.len() as f64 / 1e6;
        println!(
            "{mb:.1} MB doc, {nodes} nodes: best {:.0} MB/s, mean {:.0} MB/s",
            mb / best,
            mb * rounds as f64 / total
        );
    }

    #[test]
    fn large_dicts_are_indexed_and_keep_first_match() {
        let mut xml = String::from("<dict>");
        for i in (0..500).rev() {
            xml.push_str(&format!("<key>k{i}</key><integer>{i}</integer>"));
        }
        xml.push_str("<key>k7</key><integer>9999</integer><key></key><true/></dict>");
        let doc = parse(xml.as_bytes()).unwrap();
        let root = doc.root();
        for i in [0u64, 7, 250, 499] {
            assert_eq!(root.get(&format!("k{i}")).and_then(|n| n.as_u64()), Some(i), "k{i}");
        }
        assert!(root.get("k500").is_none());
        assert!(root.get("").is_some_and(|n| n.as_bool() == Some(true)));
        // The same answers as a scan, for every key.
        for (k, v) in root.entries() {
            let first = root.entries().find(|(k2, _)| *k2 == k).map(|(_, v)| v).unwrap();
            assert_eq!(root.get(k), Some(first), "{k}");
            let _ = v;
        }
    }
}
