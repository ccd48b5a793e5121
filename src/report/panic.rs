//! Rendering of panic reports and their findings (text and JSON).

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::check::finding::Finding;
use crate::logs::panic::PanicReport;
use crate::report::Style;
use crate::report::wrap;

/// `{"reports": [...], "findings": [...]}` (design.md's `panic --json`).
pub fn to_json(reports: &[PanicReport], findings: &[Finding]) -> Value {
    json!({
        "reports": reports
            .iter()
            .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
            .collect::<Vec<_>>(),
        "findings": findings
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or(Value::Null))
            .collect::<Vec<_>>(),
    })
}

const WIDTH: usize = 80;
const KEY_INDENT: &str = "               ";

fn field(out: &mut dyn Write, key: &str, value: &str) -> io::Result<()> {
    let text = wrap(value, WIDTH, KEY_INDENT);
    let text = text.strip_prefix(KEY_INDENT).unwrap_or(&text);
    if text.is_empty() {
        return writeln!(out, "  {key}");
    }
    write!(out, "  {key:<13}{text}")
}

/// Cut `s` to `room` characters, marking the cut with `…`.
fn truncate(s: &str, room: usize) -> String {
    if s.chars().count() <= room {
        return s.to_string();
    }
    let mut t: String = s.chars().take(room.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

/// Text for people: one block per report, then the findings grouped by
/// severity with their evidence and remedies, in 80 columns.
pub fn write_text(out: &mut dyn Write, style: Style, reports: &[PanicReport], findings: &[Finding]) -> io::Result<()> {
    for (n, r) in reports.iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        writeln!(out, "{}", truncate(&r.file, WIDTH))?;
        let arch = r.architecture.as_deref().map(|a| format!(" ({a})")).unwrap_or_default();
        field(out, "format", &format!("{}{arch}", r.format.as_str()))?;
        field(out, "date", or_dash(r.timestamp.as_deref()))?;
        field(out, "build", or_dash(r.build.as_deref()))?;
        field(out, "kernel", or_dash(r.kernel_version.as_deref()))?;
        field(out, "class", r.panic_class.as_str())?;
        let msg = r.panic_message.as_deref().unwrap_or("-");
        let msg: String = msg.split_whitespace().collect::<Vec<_>>().join(" ");
        writeln!(out, "  {:<13}{}", "message", truncate(&msg, WIDTH - KEY_INDENT.len()))?;
        if r.leak_zone.is_some() || r.leak_elements.is_some() {
            let mut parts = Vec::new();
            if let Some(e) = r.leak_elements {
                parts.push(format!("{e} elements"));
            }
            if let Some(b) = r.leak_bytes {
                parts.push(format!("{b} bytes"));
            }
            let zone = or_dash(r.leak_zone.as_deref());
            let leak = if parts.is_empty() { zone.to_string() } else { format!("{zone}: {}", parts.join(", ")) };
            field(out, "leak", &leak)?;
        }
        field(out, "process", or_dash(r.process.as_deref()))?;
        if r.kexts_in_backtrace.is_empty() {
            field(out, "backtrace", "no kexts")?;
        }
        for (i, k) in r.kexts_in_backtrace.iter().enumerate() {
            let mut line = k.bundle_id.clone();
            if let Some(v) = &k.version {
                line.push_str(&format!(" {v}"));
            }
            if k.third_party {
                line.push_str("  third-party");
            }
            field(out, if i == 0 { "backtrace" } else { "" }, &line)?;
        }
        if let Some(k) = &r.last_loaded_kext {
            field(out, "last kext", &format!("{} {}", k.bundle_id, or_dash(k.version.as_deref())))?;
        }
        if !r.loaded_kexts.is_empty() {
            let third = r.loaded_kexts.iter().filter(|k| k.third_party).count();
            field(out, "loaded", &format!("{} kexts, {third} third-party", r.loaded_kexts.len()))?;
        }
    }
    crate::report::write_findings(out, style, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PanicReport {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/logs/panic-zone-leak-19G73.txt"))
                .unwrap();
        crate::logs::panic::parse(&text, "a.panic").unwrap()
    }

    fn text(reports: &[PanicReport]) -> String {
        let mut out = Vec::new();
        write_text(&mut out, Style::default(), reports, &[]).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Reports are separated by a blank line, and a leak with a zone but
    /// no element count still gets its line.
    #[test]
    fn reports_are_separated_and_a_zone_alone_is_shown() {
        let a = sample();
        let mut b = a.clone();
        b.file = "b.panic".into();
        b.leak_elements = None;
        b.leak_bytes = None;
        assert!(b.leak_zone.is_some());
        let t = text(&[a, b]);
        assert!(t.contains("\n\nb.panic\n"), "{t}");
        let second = &t[t.find("b.panic").unwrap()..];
        assert!(second.contains("\n  leak "), "{second}");
        assert!(!text(&[sample()]).starts_with('\n'));
    }
}
