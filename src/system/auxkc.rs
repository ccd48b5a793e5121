//! The Intel AuxKC build list,
//! `/private/var/db/KernelExtensionManagement/AuxKC/CurrentAuxKC/com.apple.kcgen.instructions.plist`:
//! the third-party kexts kernelmanagerd puts in the auxiliary kernel
//! collection.
//!
//! # Structure (kernelmanagerd is closed source; from third-party code)
//!
//! ```text
//! <dict>
//!   <key>kextsToBuild</key>
//!   <dict>
//!     <key>com.example.driver</key>          <!-- bundle identifier -->
//!     <dict>
//!       <key>bundlePathMainOS</key> <string>/Library/Extensions/Example.kext</string>
//!       <key>cdHash</key>           <string>40 hex digits</string>
//!       <key>teamID</key>           <string>ABCDE12345 or empty</string>
//!     </dict>
//!   </dict>
//!   …other top-level keys, not read here…
//! </dict>
//! ```
//!
//! Sources:
//! - dortania/OpenCore-Legacy-Patcher,
//!   `opencore_legacy_patcher/sys_patch/kernelcache/kernel_collection/support.py`,
//!   `check_kexts_needs_authentication`. Its docstring names the entry keys:
//!   `bundlePathMainOS` ("/Library/Extensions/Test.kext"), `cdHash` (the
//!   bundle's CDHash, "random on ad-hoc signed, static on dev signed") and
//!   `teamID` ("blank on ad-hoc signed"). The docstring writes
//!   `…/KernelManagement/…`, but the code reads
//!   `/private/var/db/KernelExtensionManagement/AuxKC/CurrentAuxKC/…`. The code
//!   runs `for kext in data["kextsToBuild"]` and then indexes
//!   `data["kextsToBuild"][kext]["bundlePathMainOS"]`. That only works if
//!   `kextsToBuild` is a **dictionary**, even though the docstring writes
//!   `["kextsToBuild"][i]`.
//! - PIKACHUIM/vGPU-macOS, `tools/guest-patch-kcinstructions.py`. It treats
//!   `kextsToBuild` as a dictionary keyed by **bundle identifier**
//!   (`kexts[args.bundle_id] = {"bundlePathMainOS": …, "cdHash": …,
//!   "teamID": …}`), with a 40-hex-digit string `cdHash` and an empty `teamID`
//!   for an unsigned kext. Its notes say kernelmanagerd writes the file as XML.
//!   The same notes name a sibling `com.apple.kcgen.uakl.plist`
//!   (`SignedKernelExtensions`, `UnsignedKernelExtensions`), which is not read
//!   here.
//! - Another diagnostic script in the search index accepts either shape:
//!   `vals = e.values() if isinstance(e, dict) else e`.
//!
//! # What this parser accepts
//!
//! - The root must be a dictionary, and it must have `kextsToBuild`. A file
//!   without the key is an error, not an empty list: an unrecognised file must
//!   not read as "builds nothing".
//! - `kextsToBuild` as a dictionary: each key is taken as the bundle id. An
//!   empty key gives `bundle_id: None`.
//! - `kextsToBuild` as an array (the shape the OCLP docstring suggests): no
//!   source names a bundle-id key inside an entry, so `bundle_id` is `None`.
//! - Each entry must be a dictionary with a non-empty string
//!   `bundlePathMainOS`. A `teamID` of `""` or one that is absent gives `None`.
//!   `cdHash` may be a string, or data (read as lower-case hex); empty or
//!   absent gives `None`. Other keys are ignored. A `teamID` or `cdHash` of
//!   any other type is an error.
//! - The parser reads XML and binary plists. OpenStep ("ASCII") plists are
//!   refused: kernelmanagerd does not write them, and the check below does not
//!   cover them.
//!
//! # Bounds
//!
//! Input over [`MAX_INPUT_BYTES`] (16 MiB) is refused before anything is
//! parsed. A pre-pass then refuses what `plist::Value::from_reader` would turn
//! into a dangerous tree. This matters for two reasons. Dropping a deeply
//! nested `Value` recurses, so it can overflow the stack; that is an abort,
//! not a panic, and it happens even when parsing fails later in the file. And
//! the binary reader copies shared objects at every reference, so a file of a
//! few hundred bytes can expand into billions of values.
//! - XML: the nesting of `<array>`/`<dict>` may be at most [`MAX_DEPTH`]. The
//!   pre-pass skips comments, CDATA, processing instructions and declarations,
//!   and respects quoted attribute values.
//! - Binary: the object graph is walked as the crate expands it. Cycles are
//!   refused. The nesting may be at most [`MAX_DEPTH`], and the file may
//!   declare at most 2,000,000 objects. Expanded, it may hold at most
//!   4,000,000 values and 64 MiB of string and data.
//!
//! After parsing:
//! - there may be at most [`MAX_ENTRIES`] entries;
//! - each key and string may be at most [`MAX_STRING_BYTES`].
//!
//! Errors are one-line strings starting with `kcgen instructions:`. The caller
//! adds the path.
//!
//! Unconfirmed:
//! - whether Apple-silicon systems have this file (the facts sheet places it
//!   on Intel);
//! - whether kernelmanagerd ever writes the array form;
//! - the other top-level keys.

use std::collections::{HashMap, HashSet};

use plist::Value;

/// Where the build list lives on an Intel Mac running macOS 11 or later.
pub const DEFAULT_PATH: &str =
    "/private/var/db/KernelExtensionManagement/AuxKC/CurrentAuxKC/com.apple.kcgen.instructions.plist";

/// Largest input accepted, in bytes (16 MiB).
pub const MAX_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Deepest nesting of arrays and dictionaries accepted.
pub const MAX_DEPTH: usize = 32;

/// Most `kextsToBuild` entries accepted.
pub const MAX_ENTRIES: usize = 100_000;

/// Longest string (key or value) accepted, in bytes.
pub const MAX_STRING_BYTES: usize = 4096;

/// One kext that kernelmanagerd will build into the AuxKC.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuxKcEntry {
    /// `bundlePathMainOS`: the kext's path on the main OS volume.
    pub bundle_path: String,
    /// `teamID`; `None` when absent or empty (ad-hoc or unsigned).
    pub team_id: Option<String>,
    /// `cdHash` as hex text; `None` when absent or empty.
    pub cd_hash: Option<String>,
    /// The `kextsToBuild` dictionary key (the bundle identifier); `None` in
    /// the array form or for an empty key.
    pub bundle_id: Option<String>,
}

const PREFIX: &str = "kcgen instructions";

/// Parse the build list from the file's bytes.
pub fn parse(bytes: &[u8]) -> Result<Vec<AuxKcEntry>, String> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(format!("{PREFIX}: file too large ({} bytes, limit {MAX_INPUT_BYTES})", bytes.len()));
    }
    check_shape(bytes)?;
    // Each entry is a dict of a few keys: room for MAX_ENTRIES of them, so the
    // entry bound below is what speaks.
    let limits = crate::bounded_plist::Limits {
        max_bytes: MAX_INPUT_BYTES,
        max_elements: MAX_ENTRIES * 12,
        ..crate::bounded_plist::Limits::default()
    };
    let root = crate::bounded_plist::parse(bytes, &limits)
        .map_err(|e| format!("{PREFIX}: not a property list: {}", one_line(&e.to_string())))?;
    let Value::Dictionary(root) = root else {
        return Err(format!("{PREFIX}: top level is not a dictionary"));
    };
    let Some(kexts) = root.get("kextsToBuild") else {
        return Err(format!("{PREFIX}: no kextsToBuild key"));
    };
    let mut out = Vec::new();
    match kexts {
        Value::Dictionary(d) => {
            check_count(d.len())?;
            for (key, v) in d.iter() {
                check_len(key, "a kextsToBuild key")?;
                let bundle_id = (!key.is_empty()).then(|| key.clone());
                out.push(entry(v, &format!("kextsToBuild[{}]", quote(key)), bundle_id)?);
            }
        }
        Value::Array(a) => {
            check_count(a.len())?;
            for (i, v) in a.iter().enumerate() {
                out.push(entry(v, &format!("kextsToBuild[{i}]"), None)?);
            }
        }
        other => return Err(format!("{PREFIX}: kextsToBuild is {}, not a dictionary or array", kind(other))),
    }
    Ok(out)
}

/// Refuse, before any tree is built, what the plist crate would turn into a
/// tree too deep to drop safely or too large to hold: see the module docs.
fn check_shape(bytes: &[u8]) -> Result<(), String> {
    if bytes.starts_with(b"bplist00") {
        return check_binary(bytes);
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => check_xml(text),
        _ => Err(format!("{PREFIX}: not an XML or binary property list")),
    }
}

/// Position of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

/// XML: the deepest nesting of `<array>` and `<dict>` elements. Comments,
/// CDATA sections, processing instructions and declarations are skipped, and
/// quoted attribute values are respected, so the count never falls below
/// what the parser sees. Scanning stops where the markup becomes
/// unterminated, which is where the parser stops too.
fn check_xml(text: &[u8]) -> Result<(), String> {
    let too_deep = || Err(format!("{PREFIX}: nested deeper than {MAX_DEPTH} levels"));
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(lt) = text.get(i..).and_then(|t| t.iter().position(|&b| b == b'<')).map(|p| p + i) {
        let rest = &text[lt..];
        let skip_to = |open: usize, close: &[u8]| find(text, lt + open, close).map(|p| p + close.len());
        let next = if rest.starts_with(b"<!--") {
            skip_to(4, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(9, b"]]>")
        } else if rest.starts_with(b"<?") {
            skip_to(2, b"?>")
        } else if rest.starts_with(b"<!") {
            skip_declaration(text, lt + 2)
        } else {
            let closing = rest.get(1) == Some(&b'/');
            let name_start = lt + if closing { 2 } else { 1 };
            let name_len = text[name_start..]
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'))
                .count();
            let name = &text[name_start..name_start + name_len];
            let Some(gt) = tag_end(text, name_start + name_len) else { break };
            if name == b"array" || name == b"dict" {
                if closing {
                    depth = depth.saturating_sub(1);
                } else if text[gt - 1] != b'/' {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return too_deep();
                    }
                }
            }
            Some(gt + 1)
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
    Ok(())
}

/// The `>` that ends a tag whose attributes start at `from`, outside quotes.
fn tag_end(text: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &b) in text.get(from..)?.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return Some(from + k),
            _ => {}
        }
    }
    None
}

/// Skip `<!DOCTYPE …>` (with an internal subset in brackets) or another
/// `<!…>` declaration; returns the index after its `>`.
fn skip_declaration(text: &[u8], from: usize) -> Option<usize> {
    let mut brackets = 0usize;
    let mut quote = None;
    for (k, &b) in text.get(from..)?.iter().enumerate() {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'[') => brackets += 1,
            (None, b']') => brackets = brackets.saturating_sub(1),
            (None, b'>') if brackets == 0 => return Some(from + k + 1),
            _ => {}
        }
    }
    None
}

/// Most objects a binary plist may declare.
const MAX_BINARY_OBJECTS: u64 = 2_000_000;
/// Most values a binary plist may expand to (shared references count once
/// per use, as the plist crate expands them).
const MAX_EXPANDED_VALUES: u64 = 4_000_000;
/// Most string and data bytes a binary plist may expand to.
const MAX_EXPANDED_BYTES: u64 = 64 * 1024 * 1024;

/// What one object expands to.
#[derive(Clone, Copy, Default)]
struct Expansion {
    depth: usize,
    values: u64,
    bytes: u64,
}

/// An array or dictionary being walked.
struct Frame {
    object: u64,
    refs_at: usize,
    refs: usize,
    next: usize,
    sum: Expansion,
}

/// Binary (`bplist00`): walk the object graph the way the plist crate
/// expands it (each reference is a copy) and refuse cycles, nesting deeper
/// than [`MAX_DEPTH`], and expansions past the bounds above, so a small file
/// cannot unfold into a huge tree.
fn check_binary(b: &[u8]) -> Result<(), String> {
    let bad = |what: &str| Err(format!("{PREFIX}: not a property list: binary {what}"));
    if b.len() < 8 + 32 {
        return bad("file too short");
    }
    let trailer_at = b.len() - 32;
    let t = &b[trailer_at..];
    let (offset_size, ref_size) = (usize::from(t[6]), usize::from(t[7]));
    if ![1, 2, 3, 4, 8].contains(&offset_size) || ![1, 2, 3, 4, 8].contains(&ref_size) {
        return bad("trailer has a bad integer size");
    }
    let be = |at: usize, n: usize| -> Option<u64> {
        let s = b.get(at..at.checked_add(n)?)?;
        Some(s.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    let (Some(objects), Some(root), Some(table)) =
        (be(trailer_at + 8, 8), be(trailer_at + 16, 8), be(trailer_at + 24, 8))
    else {
        return bad("trailer is truncated");
    };
    if objects > MAX_BINARY_OBJECTS {
        return Err(format!(
            "{PREFIX}: binary plist declares too many objects ({objects}, limit {MAX_BINARY_OBJECTS})"
        ));
    }
    let table = usize::try_from(table)
        .ok()
        .filter(|&t| t.checked_add(objects as usize * offset_size).is_some_and(|end| end <= trailer_at));
    let Some(table) = table else {
        return bad("offset table is out of range");
    };
    let offset_of = |obj: u64| -> Option<usize> {
        if obj >= objects {
            return None;
        }
        let off = be(table + obj as usize * offset_size, offset_size)?;
        usize::try_from(off).ok().filter(|&o| o < trailer_at)
    };
    // (marker, count, where the count's payload starts)
    let header = |obj: u64| -> Option<(u8, u64, usize)> {
        let at = offset_of(obj)?;
        let marker = *b.get(at)?;
        let low = marker & 0x0f;
        if low != 0x0f || matches!(marker >> 4, 0x0 | 0x1 | 0x2 | 0x3 | 0x8) {
            return Some((marker, u64::from(low), at + 1));
        }
        let n = 1usize << (b.get(at + 1)? & 0x03);
        Some((marker, be(at + 2, n)?, at + 2 + n))
    };
    let leaf = |marker: u8, count: u64| -> Expansion {
        let bytes = match marker >> 4 {
            0x4 | 0x5 => count,
            0x6 => count.saturating_mul(3),
            _ => 16,
        };
        Expansion { depth: 0, values: 1, bytes }
    };

    let too_deep = || Err(format!("{PREFIX}: nested deeper than {MAX_DEPTH} levels"));
    let mut memo: HashMap<u64, Expansion> = HashMap::new();
    let mut on_stack: HashSet<u64> = HashSet::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut step = Step::Visit(root);
    loop {
        let finished = match step {
            Step::Finished(e) => Some(e),
            Step::Visit(obj) => {
                if let Some(e) = memo.get(&obj) {
                    Some(*e)
                } else {
                    let Some((marker, count, payload)) = header(obj) else {
                        return bad("object reference or offset is out of range");
                    };
                    let per = match marker >> 4 {
                        0xa => 1u64,
                        0xd => 2,
                        _ => 0,
                    };
                    if per == 0 {
                        Some(leaf(marker, count))
                    } else {
                        if !on_stack.insert(obj) {
                            return bad("object contains itself");
                        }
                        let refs = count.checked_mul(per).and_then(|r| usize::try_from(r).ok());
                        let end = refs.and_then(|r| r.checked_mul(ref_size)).and_then(|len| payload.checked_add(len));
                        let (Some(refs), Some(end)) = (refs, end) else {
                            return bad("collection runs past the end of the object data");
                        };
                        if end > trailer_at {
                            return bad("collection runs past the end of the object data");
                        }
                        if stack.len() >= MAX_DEPTH {
                            return too_deep();
                        }
                        stack.push(Frame { object: obj, refs_at: payload, refs, next: 0, sum: Expansion::default() });
                        None
                    }
                }
            }
        };
        if let Some(e) = finished {
            let Some(top) = stack.last_mut() else {
                return Ok(()); // the root is done
            };
            top.sum.depth = top.sum.depth.max(e.depth);
            top.sum.values = top.sum.values.saturating_add(e.values);
            top.sum.bytes = top.sum.bytes.saturating_add(e.bytes);
            if top.sum.values > MAX_EXPANDED_VALUES || top.sum.bytes > MAX_EXPANDED_BYTES {
                return Err(format!("{PREFIX}: binary plist expands too far (shared references)"));
            }
            if stack.len() + e.depth > MAX_DEPTH {
                return too_deep();
            }
        }
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        if top.next < top.refs {
            let at = top.refs_at + top.next * ref_size;
            top.next += 1;
            let Some(child) = be(at, ref_size) else {
                return bad("reference is truncated");
            };
            step = Step::Visit(child);
        } else if let Some(f) = stack.pop() {
            on_stack.remove(&f.object);
            let e = Expansion { depth: f.sum.depth + 1, values: f.sum.values.saturating_add(1), bytes: f.sum.bytes };
            memo.insert(f.object, e);
            step = Step::Finished(e);
        }
    }
}

/// The next move of the walk in [`check_binary`].
enum Step {
    /// Look at this object.
    Visit(u64),
    /// A value is complete; fold it into its parent.
    Finished(Expansion),
}

fn check_count(n: usize) -> Result<(), String> {
    if n > MAX_ENTRIES {
        return Err(format!("{PREFIX}: kextsToBuild has too many entries ({n}, limit {MAX_ENTRIES})"));
    }
    Ok(())
}

fn check_len(s: &str, what: &str) -> Result<(), String> {
    if s.len() > MAX_STRING_BYTES {
        return Err(format!("{PREFIX}: {what} is longer than {MAX_STRING_BYTES} bytes"));
    }
    Ok(())
}

/// One `kextsToBuild` entry; `at` names it in errors.
fn entry(v: &Value, at: &str, bundle_id: Option<String>) -> Result<AuxKcEntry, String> {
    let Value::Dictionary(d) = v else {
        return Err(format!("{PREFIX}: {at} is {}, not a dictionary", kind(v)));
    };
    let bundle_path = match d.get("bundlePathMainOS") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(format!("{PREFIX}: {at}: bundlePathMainOS is empty")),
        Some(other) => return Err(format!("{PREFIX}: {at}: bundlePathMainOS is {}, not a string", kind(other))),
        None => return Err(format!("{PREFIX}: {at}: no bundlePathMainOS")),
    };
    check_len(&bundle_path, &format!("{at}: bundlePathMainOS"))?;
    let team_id = match d.get("teamID") {
        None => None,
        Some(Value::String(s)) => {
            check_len(s, &format!("{at}: teamID"))?;
            (!s.is_empty()).then(|| s.clone())
        }
        Some(other) => return Err(format!("{PREFIX}: {at}: teamID is {}, not a string", kind(other))),
    };
    let cd_hash = match d.get("cdHash") {
        None => None,
        Some(Value::String(s)) => {
            check_len(s, &format!("{at}: cdHash"))?;
            (!s.is_empty()).then(|| s.clone())
        }
        Some(Value::Data(b)) => {
            if b.len() * 2 > MAX_STRING_BYTES {
                return Err(format!("{PREFIX}: {at}: cdHash is longer than {MAX_STRING_BYTES} bytes"));
            }
            (!b.is_empty()).then(|| b.iter().map(|x| format!("{x:02x}")).collect())
        }
        Some(other) => return Err(format!("{PREFIX}: {at}: cdHash is {}, not a string or data", kind(other))),
    };
    Ok(AuxKcEntry { bundle_path, team_id, cd_hash, bundle_id })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "an array",
        Value::Dictionary(_) => "a dictionary",
        Value::Boolean(_) => "a boolean",
        Value::Data(_) => "data",
        Value::Date(_) => "a date",
        Value::Real(_) => "a real",
        Value::Integer(_) => "an integer",
        Value::String(_) => "a string",
        Value::Uid(_) => "a UID",
        _ => "an unknown value",
    }
}

/// A key for an error message: quoted, one line, at most 80 characters.
fn quote(key: &str) -> String {
    let mut s: String = one_line(key).chars().take(80).collect();
    if key.chars().count() > 80 {
        s.push('…');
    }
    format!("{s:?}")
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}
