//! Rendering of loaded-kext listings and their findings (text and JSON).

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::check::finding::{Finding, Verdict};
use crate::logs::kextstat::LoadedKext;
use crate::report::Style;
use crate::report::write_table;

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

fn rows(kexts: &[&LoadedKext]) -> Vec<Vec<String>> {
    kexts
        .iter()
        .map(|k| {
            vec![
                dash(k.index),
                dash(k.refs),
                k.bundle_id.clone(),
                k.version.clone(),
                dash(k.address.map(|a| format!("{a:#x}"))),
            ]
        })
        .collect()
}

const TABLE_HEADER: [&str; 5] = ["INDEX", "REFS", "BUNDLE ID", "VERSION", "ADDRESS"];

fn summary(out: &mut dyn Write, loaded: &[LoadedKext]) -> io::Result<usize> {
    let third = loaded.iter().filter(|k| k.is_third_party()).count();
    writeln!(out, "{} kexts loaded, {third} third-party (bundle id not starting with com.apple.)", loaded.len())?;
    Ok(third)
}

/// Text for people: a summary line, the third-party kexts as a table, a
/// count of Apple's, then the findings with their remedies.
pub fn write_text(out: &mut dyn Write, style: Style, loaded: &[LoadedKext], findings: &[Finding]) -> io::Result<()> {
    let third = summary(out, loaded)?;
    let third_party: Vec<&LoadedKext> = loaded.iter().filter(|k| k.is_third_party()).collect();
    if !third_party.is_empty() {
        writeln!(out, "\nTHIRD-PARTY KEXTS")?;
        write_table(out, &TABLE_HEADER, &rows(&third_party))?;
    }
    let apple = loaded.len() - third;
    if apple > 0 {
        let kernel = loaded.iter().filter(|k| k.is_kernel_component()).count();
        writeln!(out, "\n{apple} Apple kexts not listed ({kernel} of them kernel components).")?;
    }
    crate::report::write_findings(out, style, findings)
}

/// Like [`write_text`], with every loaded kext in the table.
pub fn write_text_all(
    out: &mut dyn Write,
    style: Style,
    loaded: &[LoadedKext],
    findings: &[Finding],
) -> io::Result<()> {
    summary(out, loaded)?;
    if !loaded.is_empty() {
        writeln!(out)?;
        write_table(out, &TABLE_HEADER, &rows(&loaded.iter().collect::<Vec<_>>()))?;
    }
    crate::report::write_findings(out, style, findings)
}

/// `loaded --json`: `{"loaded": [{"bundle_id", "version", "uuid",
/// "address", …}], "findings": [...], "verdict"}`.
pub fn to_json(loaded: &[LoadedKext], findings: &[Finding]) -> Value {
    let rows: Vec<Value> = loaded
        .iter()
        .map(|k| {
            json!({
                "bundle_id": k.bundle_id,
                "version": k.version,
                "uuid": k.uuid,
                "address": k.address.map(|a| format!("{a:#x}")),
                "index": k.index,
                "refs": k.refs,
                "size": k.size,
                "wired": k.wired,
                "arch": k.arch,
                "linked_against": k.linked_against,
                "third_party": k.is_third_party(),
            })
        })
        .collect();
    json!({
        "loaded": rows,
        "findings": findings,
        "verdict": Verdict::of(findings).as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_address_is_hex_or_null() {
        let text = "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n    1    0 0x10 0x1 0x1 a.b (1)\n";
        let k = crate::logs::kextstat::parse(text).unwrap();
        let j = to_json(&k, &[]);
        assert_eq!(j["loaded"][0]["address"], "0x10");
        assert_eq!(j["verdict"], "healthy");
    }

    /// The count of Apple kexts not listed appears only when there are some.
    #[test]
    fn apple_count_line_only_with_apple_kexts() {
        let head = "Index Refs Address            Size       Wired      Name (Version) UUID <Linked Against>\n";
        let text = |rows: &str| {
            let k = crate::logs::kextstat::parse(&format!("{head}{rows}")).unwrap();
            let mut out = Vec::new();
            write_text(&mut out, Style::default(), &k, &[]).unwrap();
            String::from_utf8(out).unwrap()
        };
        let third = text("    1    0 0x10 0x1 0x1 com.example.a (1)\n");
        assert!(!third.contains("Apple kexts not listed"), "{third}");
        let both = text("    1    0 0x10 0x1 0x1 com.example.a (1)\n    2    0 0x20 0x1 0x1 com.apple.b (1)\n");
        assert!(both.contains("1 Apple kexts not listed (0 of them kernel components)."), "{both}");
    }
}
