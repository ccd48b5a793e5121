//! Writer for synthetic `__PRELINK_INFO` XML, used by the test-fixture
//! generator: the kernel's IOCFSerialize dialect (with ID/IDREF sharing) and
//! the ordinary XML plist found in kernel collections.

use std::collections::HashMap;
use std::fmt::Write as _;

use base64::Engine as _;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A plist value to serialize.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A dict; entries are written in this order.
    Dict(Vec<(String, Value)>),
    /// An array.
    Array(Vec<Value>),
    /// A string.
    String(String),
    /// An integer with its `size` attribute (8, 16, 32 or 64).
    Integer {
        /// The value (negative numbers in two's complement).
        value: u64,
        /// The `size` attribute written in the kernel dialect.
        size: u8,
    },
    /// A boolean.
    Bool(bool),
    /// Raw bytes, written as base64.
    Data(Vec<u8>),
}

/// Serialize in the kernel dialect: root value, no header/wrapper/whitespace, lowercase 0x hex integers with size="N",
/// base64 data without line breaks, escapes only < > &, terminating NUL byte.
/// Shares like IOCFSerialize: any String/Integer/Data/Dict/Array value that occurs 2+ times in the tree (compare by value; for
/// Integer compare value and size) gets ID="n" (counter from 0, global, in emission order) at its first emission and
/// is written as `<tag IDREF="n"/>` afterwards. Booleans and dict keys are never shared.
///
/// Occurrences are counted in the tree as written: the contents of a
/// shared container's later uses are not counted, since those uses are
/// written as IDREFs.
pub fn serialize_kernel(v: &Value) -> Vec<u8> {
    let mut counts = HashMap::new();
    count(v, &mut counts);
    let mut w = KernelWriter { out: String::new(), counts, ids: HashMap::new(), next_id: 0 };
    w.write(v);
    let mut out = w.out.into_bytes();
    out.push(0);
    out
}

/// Count how often each shareable value is written (later uses of an
/// already-seen value are not descended into).
fn count<'v>(v: &'v Value, counts: &mut HashMap<&'v Value, u32>) {
    if let Value::Bool(_) = v {
        return;
    }
    let c = counts.entry(v).or_insert(0);
    *c += 1;
    if *c > 1 {
        return;
    }
    match v {
        Value::Dict(entries) => entries.iter().for_each(|(_, x)| count(x, counts)),
        Value::Array(items) => items.iter().for_each(|x| count(x, counts)),
        _ => {}
    }
}

fn tag(v: &Value) -> &'static str {
    match v {
        Value::Dict(_) => "dict",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Integer { .. } => "integer",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        Value::Data(_) => "data",
    }
}

/// Append `s` with `<`, `>` and `&` escaped.
fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(c),
        }
    }
}

struct KernelWriter<'v> {
    out: String,
    counts: HashMap<&'v Value, u32>,
    ids: HashMap<&'v Value, u32>,
    next_id: u32,
}

impl<'v> KernelWriter<'v> {
    fn write(&mut self, v: &'v Value) {
        let name = tag(v);
        if let Value::Bool(_) = v {
            let _ = write!(self.out, "<{name}/>");
            return;
        }
        if let Some(id) = self.ids.get(v) {
            let _ = write!(self.out, "<{name} IDREF=\"{id}\"/>");
            return;
        }
        let mut open = format!("<{name}");
        if self.counts.get(v).copied().unwrap_or(0) >= 2 {
            let id = self.next_id;
            self.next_id += 1;
            self.ids.insert(v, id);
            let _ = write!(open, " ID=\"{id}\"");
        }
        match v {
            Value::Dict(entries) if entries.is_empty() => {
                let _ = write!(self.out, "{open}/>");
            }
            Value::Dict(entries) => {
                let _ = write!(self.out, "{open}>");
                for (k, x) in entries {
                    self.out.push_str("<key>");
                    escape(&mut self.out, k);
                    self.out.push_str("</key>");
                    self.write(x);
                }
                self.out.push_str("</dict>");
            }
            Value::Array(items) if items.is_empty() => {
                let _ = write!(self.out, "{open}/>");
            }
            Value::Array(items) => {
                let _ = write!(self.out, "{open}>");
                for x in items {
                    self.write(x);
                }
                self.out.push_str("</array>");
            }
            Value::String(s) => {
                let _ = write!(self.out, "{open}>");
                escape(&mut self.out, s);
                self.out.push_str("</string>");
            }
            Value::Integer { value, size } => {
                let _ = write!(self.out, "{open} size=\"{size}\">0x{value:x}</integer>");
            }
            Value::Data(d) if d.is_empty() => {
                let _ = write!(self.out, "{open}/>");
            }
            Value::Data(d) => {
                let _ = write!(self.out, "{open}>{}</data>", B64.encode(d));
            }
            Value::Bool(_) => {}
        }
    }
}

/// An ordinary XML plist (header, DOCTYPE, `<plist version="1.0">`, tab indentation, decimal integers, no IDs) – the form in kernel collections.
pub fn serialize_plist(v: &Value) -> Vec<u8> {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n",
    );
    write_plist(&mut out, v, 0);
    out.push_str("</plist>\n");
    out.into_bytes()
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push('\t');
    }
}

fn write_plist(out: &mut String, v: &Value, depth: usize) {
    indent(out, depth);
    match v {
        Value::Dict(entries) if entries.is_empty() => out.push_str("<dict/>\n"),
        Value::Dict(entries) => {
            out.push_str("<dict>\n");
            for (k, x) in entries {
                indent(out, depth + 1);
                out.push_str("<key>");
                escape(out, k);
                out.push_str("</key>\n");
                write_plist(out, x, depth + 1);
            }
            indent(out, depth);
            out.push_str("</dict>\n");
        }
        Value::Array(items) if items.is_empty() => out.push_str("<array/>\n"),
        Value::Array(items) => {
            out.push_str("<array>\n");
            for x in items {
                write_plist(out, x, depth + 1);
            }
            indent(out, depth);
            out.push_str("</array>\n");
        }
        Value::String(s) => {
            out.push_str("<string>");
            escape(out, s);
            out.push_str("</string>\n");
        }
        Value::Integer { value, .. } => {
            let _ = writeln!(out, "<integer>{value}</integer>");
        }
        Value::Bool(true) => out.push_str("<true/>\n"),
        Value::Bool(false) => out.push_str("<false/>\n"),
        Value::Data(d) if d.is_empty() => out.push_str("<data>\n</data>\n"),
        Value::Data(d) => {
            // Like Apple's writer: base64 in lines, indented like the tag.
            out.push_str("<data>\n");
            let text = B64.encode(d);
            for line in text.as_bytes().chunks(68) {
                indent(out, depth);
                // base64 output is ASCII, so every chunk is valid UTF-8.
                out.push_str(std::str::from_utf8(line).unwrap_or_default());
                out.push('\n');
            }
            indent(out, depth);
            out.push_str("</data>\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kcheck::prelink::{Kind, NodeRef, parse};

    fn s(x: &str) -> Value {
        Value::String(x.to_string())
    }

    fn int(value: u64, size: u8) -> Value {
        Value::Integer { value, size }
    }

    /// Convert back; integers without a size attribute get `default_size`.
    fn to_value(n: NodeRef<'_, '_>, default_size: u8) -> Value {
        match n.kind() {
            Kind::Dict => Value::Dict(n.entries().map(|(k, v)| (k.to_string(), to_value(v, default_size))).collect()),
            Kind::Array => Value::Array(n.items().map(|v| to_value(v, default_size)).collect()),
            Kind::String => s(n.as_str().unwrap()),
            Kind::Integer => int(n.as_u64().unwrap(), n.int_size().unwrap_or(default_size)),
            Kind::Bool => Value::Bool(n.as_bool().unwrap()),
            Kind::Data => Value::Data(n.as_data().unwrap()),
        }
    }

    fn sample() -> Value {
        let libs =
            Value::Dict(vec![("com.apple.kpi.bsd".into(), s("8.0.0")), ("com.apple.kpi.iokit".into(), s("8.0.0"))]);
        let kext = |i: u64, name: &str| {
            Value::Dict(vec![
                ("CFBundleIdentifier".into(), s(name)),
                ("CFBundleName".into(), s("A <weird> & name")),
                ("_PrelinkExecutableLoadAddr".into(), int(0xffffff7f80a2e000 + i * 0x1000, 64)),
                ("_PrelinkExecutableSourceAddr".into(), int(0xffffff7f80a2e000 + i * 0x1000, 64)),
                ("_PrelinkExecutableSize".into(), int(0x1000, 64)),
                ("Small".into(), int(0x1000, 32)),
                ("OSBundleLibraries".into(), libs.clone()),
                ("Empty".into(), Value::Dict(vec![])),
                ("EmptyArray".into(), Value::Array(vec![])),
                ("EmptyData".into(), Value::Data(vec![])),
                ("EmptyString".into(), s("")),
                ("Flag".into(), Value::Bool(i.is_multiple_of(2))),
                ("Other".into(), Value::Bool(true)),
                ("Blob".into(), Value::Data((0u8..=255).collect())),
                ("Neg".into(), int(u64::MAX, 64)),
                ("Unicode 🤦".into(), s("ünïcödé")),
            ])
        };
        Value::Dict(vec![
            (
                "_PrelinkInfoDictionary".into(),
                Value::Array(vec![
                    kext(0, "com.apple.a"),
                    kext(1, "com.apple.b"),
                    kext(2, "com.apple.a"),
                    Value::Array(vec![libs.clone(), s("8.0.0")]),
                ]),
            ),
            ("_PrelinkKCID".into(), Value::Data((0u8..16).collect())),
        ])
    }

    #[test]
    fn kernel_round_trip() {
        let v = sample();
        let xml = serialize_kernel(&v);
        assert_eq!(xml.last(), Some(&0));
        let text = std::str::from_utf8(&xml[..xml.len() - 1]).unwrap();
        assert!(text.starts_with("<dict><key>_PrelinkInfoDictionary</key><array>"));
        assert!(!text.contains('\n') && !text.contains("<?xml") && !text.contains("plist"));
        assert!(text.contains("<integer ID=\"2\" size=\"64\">0xffffff7f80a2e000</integer>"));
        assert!(text.contains("A &lt;weird&gt; &amp; name"));
        assert!(text.contains("<true/>") && text.contains("<false/>"));
        assert!(!text.contains("<true ID") && !text.contains("<true IDREF"));
        let idrefs = text.matches("IDREF=").count();
        let ids = text.matches(" ID=").count();
        assert!(idrefs >= 10, "{idrefs} idrefs in {text}");
        assert!(ids >= 5, "{ids} ids in {text}");
        // IDs are numbered 0.. in emission order.
        let mut n = 0;
        let mut rest = text;
        while let Some(i) = rest.find(" ID=\"") {
            rest = &rest[i + 5..];
            assert!(rest.starts_with(&format!("{n}\"")), "id {n} out of order");
            n += 1;
        }

        let doc = parse(&xml).unwrap();
        assert_eq!(to_value(doc.root(), 0), v);
        let kexts: Vec<_> = doc.root().get("_PrelinkInfoDictionary").unwrap().items().collect();
        // Equal values share one node.
        let (a, b) = (kexts[0], kexts[1]);
        assert_eq!(a.get("OSBundleLibraries"), b.get("OSBundleLibraries"));
        assert_eq!(a.get("_PrelinkExecutableLoadAddr"), a.get("_PrelinkExecutableSourceAddr"));
        assert_ne!(a.get("_PrelinkExecutableSize"), a.get("Small"));
        assert_eq!(a.get("Blob"), b.get("Blob"));
        assert_eq!(a.get("CFBundleName"), b.get("CFBundleName"));
        // A whole kext dict repeated? No: kexts 0 and 2 differ in addresses.
        assert_ne!(kexts[0], kexts[2]);
        // Strings only seen inside a shared dict's later uses are not shared:
        // "com.apple.kpi.bsd" appears only as a key, so nothing refers to it.
        assert!(!text.contains("com.apple.kpi.bsd</string>"));
        // Bools are never shared, so each is its own node.
        assert_ne!(a.get("Other"), b.get("Other"));
    }

    #[test]
    fn kernel_shares_whole_dicts() {
        let d = Value::Dict(vec![("k".into(), s("only-here"))]);
        let v = Value::Array(vec![d.clone(), d.clone(), d]);
        let xml = serialize_kernel(&v);
        assert_eq!(
            xml,
            b"<array><dict ID=\"0\"><key>k</key><string>only-here</string></dict><dict IDREF=\"0\"/><dict IDREF=\"0\"/></array>\0"
        );
        let doc = parse(&xml).unwrap();
        assert_eq!(doc.node_count(), 3);
        assert_eq!(to_value(doc.root(), 0), v);
    }

    #[test]
    fn plist_round_trip() {
        let v = sample();
        let xml = serialize_plist(&v);
        let text = std::str::from_utf8(&xml).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist"));
        assert!(text.contains(
            "\n<plist version=\"1.0\">\n<dict>\n\t<key>_PrelinkInfoDictionary</key>\n\t<array>\n\t\t<dict>\n"
        ));
        assert!(text.ends_with("</dict>\n</plist>\n"));
        assert!(!text.contains("ID="));
        assert!(text.contains("<integer>18446744073709551615</integer>"));
        let doc = parse(&xml).unwrap();
        // Sizes are not written in plists; compare with every size set to 64.
        fn sized64(v: &Value) -> Value {
            match v {
                Value::Dict(e) => Value::Dict(e.iter().map(|(k, x)| (k.clone(), sized64(x))).collect()),
                Value::Array(a) => Value::Array(a.iter().map(sized64).collect()),
                Value::Integer { value, .. } => int(*value, 64),
                other => other.clone(),
            }
        }
        assert_eq!(to_value(doc.root(), 64), sized64(&v));
    }

    #[test]
    fn plist_accepted_by_python() {
        let ok = std::process::Command::new("python3")
            .args(["-c", "import plistlib"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            println!("skipped: python3 with plistlib not available");
            return;
        }
        let path = std::env::temp_dir().join(format!("synth_xml_{}.plist", std::process::id()));
        std::fs::write(&path, serialize_plist(&sample())).unwrap();
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import plistlib,sys\n\
d = plistlib.load(open(sys.argv[1], 'rb'))\n\
k = d['_PrelinkInfoDictionary'][1]\n\
print(len(d['_PrelinkInfoDictionary']), k['CFBundleIdentifier'], k['CFBundleName'], hex(k['_PrelinkExecutableLoadAddr']), len(k['Blob']), k['Neg'])",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "4 com.apple.b A <weird> & name 0xffffff7f80a2f000 256 18446744073709551615"
        );
    }
}
