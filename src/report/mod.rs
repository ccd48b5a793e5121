//! Rendering: models in, bytes out. Text for people (aligned tables that
//! lead with what matters), JSON for scripts in the shapes of design.md.
//! No parsing and no rules here.

pub mod loaded;
pub mod panic;
pub mod sanitize;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod zones;

use std::io::{self, Write};

use anstyle::{AnsiColor, Style as Ansi};
use serde_json::{Value, json};

use crate::cache::diff::Diff;
use crate::cache::{CacheInfo, Kext};

/// Output format of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// One JSON document.
    Json,
}

/// How text output looks: the caller decides (the command line resolves
/// `--color`, `NO_COLOR` and whether standard output is a terminal) and
/// passes it to every text renderer. JSON never consults it, so it never
/// contains escapes; colour only wraps words already printed, so with it
/// off the bytes are exactly the plain layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour the verdict, severities, finding codes and diff markers.
    pub color: bool,
}

impl Style {
    /// Plain text, no escapes.
    pub const PLAIN: Style = Style { color: false };

    /// `text` in `style` when colour is on, else `text` unchanged.
    fn paint(self, style: Ansi, text: &str) -> String {
        if self.color { format!("{}{text}{}", style.render(), style.render_reset()) } else { text.to_string() }
    }

    fn severity(self, sev: crate::check::finding::Severity, text: &str) -> String {
        use crate::check::finding::Severity;
        let colour = match sev {
            Severity::Error => AnsiColor::Red,
            Severity::Warning => AnsiColor::Yellow,
            Severity::Info => AnsiColor::Cyan,
        };
        self.paint(Ansi::new().bold().fg_color(Some(colour.into())), text)
    }
}

/// Write `rows` as a table with a header row; every column but the last is
/// padded to its widest cell, columns are separated by two spaces.
pub fn write_table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let escaped: Vec<Vec<String>> =
        rows.iter().map(|r| r.iter().map(|c| sanitize::escape(c).into_owned()).collect()).collect();
    let rows = &escaped;
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let n = cells.len();
        let mut s = String::new();
        for (i, (cell, w)) in cells.into_iter().zip(&widths).enumerate() {
            s.push_str(cell);
            if i + 1 < n {
                let pad = w - cell.chars().count() + 2;
                s.extend(std::iter::repeat_n(' ', pad));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn hex(v: Option<u64>) -> String {
    v.map(|x| format!("{x:#x}")).unwrap_or_else(|| "-".into())
}

fn num(v: Option<u64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_else(|| "-".into())
}

fn kext_json(k: &Kext) -> Value {
    serde_json::to_value(k).expect("Kext serialises")
}

fn kernel_json(c: &CacheInfo) -> Value {
    json!({"version": c.kernel.version, "uuid": c.kernel.uuid})
}

fn write_json(out: &mut dyn Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(io::Error::other)?;
    writeln!(out)
}

fn kv(out: &mut dyn Write, key: &str, value: &str) -> io::Result<()> {
    writeln!(out, "{key:<13}{}", sanitize::escape(value))
}

/// `kcheck kexts`.
pub fn kexts(out: &mut dyn Write, c: &CacheInfo, format: Format) -> io::Result<()> {
    if format == Format::Json {
        let v = json!({
            "file": c.file,
            "layers": c.layers,
            "kind": c.kind.as_str(),
            "kernel": kernel_json(c),
            "kc_id": c.kc_id,
            "kexts": c.kexts.iter().map(kext_json).collect::<Vec<_>>(),
        });
        return write_json(out, &v);
    }
    kv(out, "file", &c.file.display().to_string())?;
    kv(out, "layers", &c.layers.join(" > "))?;
    kv(out, "kernel", &dash(&c.kernel.version))?;
    kv(out, "kernel uuid", &dash(&c.kernel.uuid))?;
    kv(out, "kexts", &format!("{} ({} codeless)", c.kexts.len(), c.codeless_count()))?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = c
        .kexts
        .iter()
        .map(|k| {
            vec![
                k.bundle_id.clone(),
                dash(&k.version),
                dash(&k.uuid),
                hex(k.load_address),
                num(k.executable_size),
                dash(&k.bundle_path),
            ]
        })
        .collect();
    write_table(out, &["BUNDLE ID", "VERSION", "UUID", "LOAD ADDRESS", "SIZE", "BUNDLE PATH"], &rows)
}

/// `kcheck info`.
pub fn info(out: &mut dyn Write, c: &CacheInfo, format: Format) -> io::Result<()> {
    if format == Format::Json {
        let v = json!({
            "file": c.file,
            "file_size": c.file_size,
            "sha256": c.sha256,
            "layers": c.layers,
            "slices": c.slices,
            "kind": c.kind.as_str(),
            "filetype": c.filetype,
            "arch": c.arch,
            "uuid": c.uuid,
            "image_size": c.image_size,
            "kernel": kernel_json(c),
            "kc_id": c.kc_id,
            "boot_kc_id": c.boot_kc_id,
            "prelink_info_size": c.prelink_info_size,
            "kext_count": c.kexts.len(),
            "codeless_kext_count": c.codeless_count(),
        });
        return write_json(out, &v);
    }
    kv(out, "file", &c.file.display().to_string())?;
    kv(out, "size", &format!("{} bytes", c.file_size))?;
    if let Some(h) = &c.sha256 {
        kv(out, "sha256", h)?;
    }
    kv(out, "layers", &c.layers.join(" > "))?;
    for s in &c.slices {
        let uuid = s.uuid.as_deref().map(|u| format!(", uuid {u}")).unwrap_or_default();
        kv(out, "slice", &format!("{} at {:#x}, {} bytes{uuid}", s.arch, s.offset, s.size))?;
    }
    kv(out, "kind", &format!("{} (mach-o/{}, {})", c.kind.as_str(), c.filetype, c.arch))?;
    kv(out, "image size", &format!("{} bytes", c.image_size))?;
    kv(out, "uuid", &dash(&c.uuid))?;
    if c.kind != crate::cache::CacheKind::MachO {
        kv(out, "kernel", &dash(&c.kernel.version))?;
        kv(out, "kernel uuid", &dash(&c.kernel.uuid))?;
        kv(out, "kc id", &dash(&c.kc_id))?;
        if c.boot_kc_id.is_some() {
            kv(out, "boot kc id", &dash(&c.boot_kc_id))?;
        }
        kv(out, "kexts", &format!("{} ({} codeless)", c.kexts.len(), c.codeless_count()))?;
        if let Some(n) = c.prelink_info_size {
            kv(out, "prelink info", &format!("{n} bytes of XML"))?;
        }
    }
    Ok(())
}

fn side_json(c: &CacheInfo) -> Value {
    json!({"file": c.file, "layers": c.layers, "kernel": kernel_json(c), "kc_id": c.kc_id, "kext_count": c.kexts.len()})
}

/// `kcheck diff`.
pub fn diff(
    out: &mut dyn Write,
    style: Style,
    a: &CacheInfo,
    b: &CacheInfo,
    d: &Diff,
    format: Format,
) -> io::Result<()> {
    if format == Format::Json {
        let v = json!({
            "a": side_json(a),
            "b": side_json(b),
            "identical": d.is_empty(),
            "kernel_changed": d.kernel_changed,
            "added": d.added.iter().map(kext_json).collect::<Vec<_>>(),
            "removed": d.removed.iter().map(kext_json).collect::<Vec<_>>(),
            "changed": d.changed,
            "unchanged_count": d.unchanged,
        });
        return write_json(out, &v);
    }
    kv(out, "a", &format!("{} ({} kexts)", a.file.display(), a.kexts.len()))?;
    kv(out, "b", &format!("{} ({} kexts)", b.file.display(), b.kexts.len()))?;
    if d.kernel_changed {
        kv(out, "kernel a", &format!("{} {}", dash(&a.kernel.version), dash(&a.kernel.uuid)))?;
        kv(out, "kernel b", &format!("{} {}", dash(&b.kernel.version), dash(&b.kernel.uuid)))?;
    } else {
        kv(out, "kernel", "same in both")?;
    }
    kv(
        out,
        "summary",
        &format!(
            "{} added, {} removed, {} changed, {} unchanged",
            d.added.len(),
            d.removed.len(),
            d.changed.len(),
            d.unchanged
        ),
    )?;
    if d.is_empty() {
        writeln!(out, "\nThe two caches hold the same kexts.")?;
        return Ok(());
    }
    let mut rows = Vec::new();
    for k in &d.added {
        rows.push(vec!["+".into(), k.bundle_id.clone(), "-".into(), dash(&k.version), "added".into()]);
    }
    for k in &d.removed {
        rows.push(vec!["-".into(), k.bundle_id.clone(), dash(&k.version), "-".into(), "removed".into()]);
    }
    for c in &d.changed {
        let what = if c.changes == ["uuid"] {
            format!("uuid {} -> {}", dash(&c.uuid_a), dash(&c.uuid_b))
        } else {
            c.changes.join(", ")
        };
        rows.push(vec!["~".into(), c.bundle_id.clone(), dash(&c.version_a), dash(&c.version_b), what]);
    }
    writeln!(out)?;
    let palette = style;
    if !palette.color {
        return write_table(out, &["", "BUNDLE ID", "VERSION A", "VERSION B", "CHANGE"], &rows);
    }
    // Lay the table out plain, then colour the one-character marker that
    // starts every row, so padding is computed on the visible text.
    let mut plain = Vec::new();
    write_table(&mut plain, &["", "BUNDLE ID", "VERSION A", "VERSION B", "CHANGE"], &rows)?;
    let plain = String::from_utf8_lossy(&plain);
    for (i, line) in plain.lines().enumerate() {
        let colour = match line.chars().next() {
            _ if i == 0 => None,
            Some('+') => Some(AnsiColor::Green),
            Some('-') => Some(AnsiColor::Red),
            Some('~') => Some(AnsiColor::Yellow),
            _ => None,
        };
        match colour {
            Some(c) => {
                writeln!(out, "{}{}", palette.paint(Ansi::new().fg_color(Some(c.into())), &line[..1]), &line[1..])?
            }
            None => writeln!(out, "{line}")?,
        }
    }
    Ok(())
}

/// Wrap `text` to `width` columns, every line prefixed with `indent`.
/// A `backticked command` is kept on one line when it fits; a word longer
/// than a line is broken.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    // Data may hold control characters: make them visible first (a newline
    // in a bundle id must not start a forged line).
    let text = sanitize::escape(text);
    let text = text.as_ref();
    let room = width.saturating_sub(indent.chars().count()).max(10);
    // Tokens: words, with backticked spans glued together when they fit.
    let mut tokens: Vec<String> = Vec::new();
    let mut span: Option<String> = None;
    // Split on single spaces so runs of spaces (as in `Jul  6` of a kernel
    // version) survive: an empty word stands for an extra space.
    for word in text.split(' ') {
        match span.as_mut() {
            Some(open) => {
                open.push(' ');
                open.push_str(word);
                if word.ends_with('`') || word.ends_with("`,") || word.ends_with("`.") || word.ends_with("`)") {
                    let done = span.take().unwrap_or_default();
                    if done.chars().count() <= room {
                        tokens.push(done);
                    } else {
                        tokens.extend(done.split(' ').map(str::to_string));
                    }
                }
            }
            None if word.starts_with('`') && word[1..].find('`').is_none() => span = Some(word.to_string()),
            None => tokens.push(word.to_string()),
        }
    }
    if let Some(open) = span {
        tokens.extend(open.split(' ').map(str::to_string));
    }
    // Linear in the text: each token's length is counted once, and a line's
    // length is kept, not recounted.
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_len = 0usize;
    for token in tokens {
        let mut token = token.as_str();
        let mut token_len = token.chars().count();
        loop {
            let need = token_len + usize::from(line_len > 0);
            if line_len + need <= room {
                if line_len > 0 {
                    line.push(' ');
                }
                line.push_str(token);
                line_len += need;
                break;
            }
            if line_len > 0 {
                lines.push(std::mem::take(&mut line));
                line_len = 0;
                continue;
            }
            // A token longer than a whole line: break it.
            let cut = token.char_indices().nth(room).map_or(token.len(), |(i, _)| i);
            lines.push(token[..cut].to_string());
            token = &token[cut..];
            token_len = token_len.saturating_sub(room);
            if token.is_empty() {
                break;
            }
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.iter().map(|l| format!("{indent}{l}\n")).collect()
}

fn cache_json(slot: &crate::facts::CacheSlot) -> Value {
    match &slot.state {
        crate::facts::CacheState::Ok(c) => json!({
            "role": slot.role,
            "path": slot.mac_path,
            "sha256": c.sha256,
            "layers": c.layers,
            "kernel_version": c.kernel.version,
            "kernel_uuid": c.kernel.uuid,
            "kc_id": c.kc_id,
            "boot_kc_id": c.boot_kc_id,
            "pageable_kc_id": c.pageable_kc_id,
            "kext_count": c.kexts.len(),
            "status": "ok",
            "error": null,
        }),
        crate::facts::CacheState::Missing => json!({
            "role": slot.role, "path": slot.mac_path, "sha256": null, "layers": [], "kernel_version": null,
            "kernel_uuid": null, "kc_id": null, "boot_kc_id": null, "kext_count": 0, "status": "missing", "error": null,
        }),
        crate::facts::CacheState::Broken(e) => json!({
            "role": slot.role, "path": slot.mac_path, "sha256": null, "layers": [], "kernel_version": null,
            "kernel_uuid": null, "kc_id": null, "boot_kc_id": null, "kext_count": 0, "status": "unreadable", "error": e,
        }),
        crate::facts::CacheState::Unlocated(e) => json!({
            "role": slot.role, "path": slot.mac_path, "sha256": null, "layers": [], "kernel_version": null,
            "kernel_uuid": null, "kc_id": null, "boot_kc_id": null, "kext_count": 0, "status": "not-located", "error": e,
        }),
    }
}

fn live_json(l: &crate::facts::live::LiveFacts) -> Value {
    json!({
        "kern_version": l.kern_version,
        "kernelcache_uuid": l.kernelcache_uuid,
        "auxiliary_fileset_uuid": l.aux_uuid,
        "arm64": l.arm64,
        "boot_time": l.boottime,
        "sip": l.sip.map(|s| s.as_str()),
        "shove_kernels_mtime": l.shove_mtime,
        "loaded_kexts": l.loaded.len(),
        "zone_sample": l.zones.is_some(),
        "panic_reports": l.panics.iter().map(|p| p.file.clone()).collect::<Vec<_>>(),
        "unavailable": l.unavailable,
    })
}

/// `verify` as one JSON document (design.md's shape, plus a few fields).
pub fn verify_json(r: &crate::check::VerifyReport) -> Value {
    let f = &r.facts;
    let s = &f.system;
    json!({
        "tool": {"name": "kcheck", "version": env!("CARGO_PKG_VERSION")},
        "root": s.root,
        "data_root": s.data_root,
        "system": {
            "product_name": s.product_name,
            "product_version": s.product_version,
            "build": s.build,
            "era": s.era.as_str(),
            "sip": f.sip.as_str(),
            "sip_assumed": if f.sip.assumed_on() { "enabled" } else { "disabled" },
            "kernel": f.kernel.info().map(|k| json!({"path": f.kernel_path, "version": k.kernel.version, "uuid": k.kernel.uuid})),
        },
        "caches": f.caches.iter().map(cache_json).collect::<Vec<_>>(),
        "installed": {
            "kexts": f.installed.kexts.len(),
            "unreadable": f.installed.bad.len(),
            "dirs": f.installed.dirs_scanned,
        },
        "live": r.live.as_ref().map(live_json),
        "findings": r.findings,
        "not_checked": r.not_checked,
        "verdict": r.verdict.as_str(),
    })
}

/// The last JSONL record of `verify --format jsonl`: the run itself, so a
/// log shipper can tell "healthy" from "did not run".
pub fn run_record(r: &crate::check::VerifyReport) -> Value {
    use crate::check::finding::Severity;
    let s = &r.facts.system;
    let count = |sev| r.findings.iter().filter(|f| f.severity == sev).count();
    json!({
        "record": "run",
        "tool": {"name": "kcheck", "version": env!("CARGO_PKG_VERSION")},
        "root": s.root,
        "system": {"product_version": s.product_version, "build": s.build, "era": s.era.as_str()},
        "verdict": r.verdict.as_str(),
        "counts": {"error": count(Severity::Error), "warning": count(Severity::Warning), "info": count(Severity::Info)},
        "not_checked": r.not_checked,
    })
}

/// The one-line verdict of `verify --quiet`: the verdict and the counts
/// that are not zero, e.g. `broken: 1 error, 2 warnings, 1 info`, or
/// `healthy: no findings`. Never coloured.
pub fn verdict_line(
    verdict: crate::check::finding::Verdict,
    findings: &[crate::check::finding::Finding],
    not_checked: usize,
) -> String {
    use crate::check::finding::Severity;
    let count = |sev| findings.iter().filter(|f| f.severity == sev).count();
    let counts: Vec<String> = [
        (Severity::Error, "error", "errors"),
        (Severity::Warning, "warning", "warnings"),
        (Severity::Info, "info", "info"),
    ]
    .into_iter()
    .filter_map(|(sev, one, many)| match count(sev) {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    })
    .collect();
    let counts = if counts.is_empty() { "no findings".to_string() } else { counts.join(", ") };
    let skipped = match not_checked {
        0 => String::new(),
        1 => "; 1 check not run".to_string(),
        n => format!("; {n} checks not run"),
    };
    format!("{}: {counts}{skipped}", verdict.as_str())
}

/// `verify`, in the chosen format.
pub fn verify(
    out: &mut dyn Write,
    style: Style,
    r: &crate::check::VerifyReport,
    format: VerifyFormat,
) -> io::Result<()> {
    use crate::check::finding::Verdict;
    match format {
        VerifyFormat::Json => return write_json(out, &verify_json(r)),
        VerifyFormat::Jsonl => {
            for f in &r.findings {
                let mut v = serde_json::to_value(f).map_err(io::Error::other)?;
                if let Value::Object(m) = &mut v {
                    m.insert("record".into(), "finding".into());
                }
                serde_json::to_writer(&mut *out, &v).map_err(io::Error::other)?;
                writeln!(out)?;
            }
            serde_json::to_writer(&mut *out, &run_record(r)).map_err(io::Error::other)?;
            writeln!(out)?;
            return Ok(());
        }
        VerifyFormat::Text => {}
    }
    let f = &r.facts;
    let s = &f.system;
    let sip = match f.sip {
        crate::system::Sip::Unknown => "unknown (assumed enabled, the default)".to_string(),
        other => other.as_str().to_string(),
    };
    writeln!(out, "kcheck verify: {}", s.root.display())?;
    if s.data_root != s.root {
        writeln!(out, "data volume:   {}", s.data_root.display())?;
    }
    writeln!(out, "system:        {} {} ({}), era {}", s.product_name, s.product_version, s.build, s.era.as_str())?;
    writeln!(out, "SIP:           {sip}")?;
    writeln!(out)?;
    let (word, colour, rest) = match r.verdict {
        Verdict::Healthy => ("HEALTHY", AnsiColor::Green, "the next boot will run the kexts installed on disk."),
        Verdict::Attention => {
            ("ATTENTION", AnsiColor::Yellow, "the next boot will mostly run what is installed; see the warnings.")
        }
        Verdict::Broken => ("BROKEN", AnsiColor::Red, "the next boot will not run the kexts you think are installed."),
    };
    let painted = style.paint(Ansi::new().bold().fg_color(Some(colour.into())), word);
    let fewer = match r.not_checked.len() {
        0 => String::new(),
        1 => " (1 check could not run; see NOT CHECKED)".to_string(),
        n => format!(" ({n} checks could not run; see NOT CHECKED)"),
    };
    // Wrapped as plain text, then the verdict word coloured: colour never
    // moves a line break.
    let line = wrap(&format!("{word}: {rest}{fewer}"), 80, "");
    write!(out, "{}", line.replacen(word, &painted, 1))?;
    if !r.findings.is_empty() {
        write_findings(out, style, &r.findings)?;
    }
    if !r.not_checked.is_empty() {
        writeln!(out, "\nNOT CHECKED ({})", r.not_checked.len())?;
        for n in &r.not_checked {
            write!(out, "\n{}", wrap(&format!("{}: {}", n.check, n.reason), 80, "  "))?;
        }
    }
    writeln!(out, "\nCACHES")?;
    for slot in &f.caches {
        let line = match &slot.state {
            crate::facts::CacheState::Ok(c) => {
                format!("{} kexts, {}, kc id {}", c.kexts.len(), c.layers.join(" > "), dash(&c.kc_id))
            }
            crate::facts::CacheState::Missing => "not present".into(),
            crate::facts::CacheState::Broken(_) => "unreadable (see above)".into(),
            crate::facts::CacheState::Unlocated(_) => "not located (see NOT CHECKED)".into(),
        };
        writeln!(out, "  {:<9} {}", slot.role, slot.mac_path)?;
        write!(out, "{}", wrap(&line, 80, "            "))?;
    }
    if let Some(k) = f.kernel.info() {
        writeln!(out, "  {:<9} {}", "kernel", f.kernel_path)?;
        write!(out, "{}", wrap(&dash(&k.kernel.version), 80, "            "))?;
    }
    if let Some(l) = &r.live {
        writeln!(out, "\nLIVE")?;
        let line = |k: &str, v: String| wrap(&format!("{k}: {v}"), 80, "  ");
        write!(out, "{}", line("running kernel", dash(&l.kern_version)))?;
        write!(out, "{}", line("running kernel cache", dash(&l.kernelcache_uuid)))?;
        if let Some(t) = l.boottime {
            write!(out, "{}", line("booted at", format!("{t} (seconds since 1970)")))?;
        }
        if let Some(s) = l.sip {
            write!(out, "{}", line("SIP (csrutil)", s.as_str().to_string()))?;
        }
        write!(out, "{}", line("loaded kexts", l.loaded.len().to_string()))?;
        write!(out, "{}", line("zone sample", if l.zones.is_some() { "taken" } else { "not taken" }.to_string()))?;
        write!(out, "{}", line("panic reports read", l.panics.len().to_string()))?;
        for u in &l.unavailable {
            write!(out, "{}", wrap(&format!("unavailable: {u}"), 80, "  "))?;
        }
    }
    // Three folders on 10.15+ (/Library/Apple/System/Library/Extensions)
    // make this line longer than 80 columns: wrapped like the others.
    let installed = format!(
        "{} kexts in {}{}",
        f.installed.kexts.len(),
        f.installed.dirs_scanned.join(", "),
        if f.installed.bad.is_empty() { String::new() } else { format!(" ({} unreadable)", f.installed.bad.len()) }
    );
    write!(out, "\nINSTALLED\n{}", wrap(&installed, 80, "  "))?;
    Ok(())
}

/// Findings grouped by severity (errors first), each with its evidence
/// and remedy, in 80 columns; "No findings." when there are none. Shared
/// by every command that reports findings.
pub fn write_findings(
    out: &mut dyn Write,
    style: Style,
    findings: &[crate::check::finding::Finding],
) -> io::Result<()> {
    use crate::check::finding::Severity;
    if findings.is_empty() {
        return writeln!(out, "\nNo findings.");
    }
    let palette = style;
    for (sev, title) in [(Severity::Error, "ERRORS"), (Severity::Warning, "WARNINGS"), (Severity::Info, "INFO")] {
        let group: Vec<_> = findings.iter().filter(|x| x.severity == sev).collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out, "\n{} ({})", palette.severity(sev, title), group.len())?;
        for x in group {
            // Long subjects (paths) are broken, not left running past 80 columns.
            let subject = wrap(&x.subject, 80, "         ");
            let subject = subject.strip_prefix("         ").unwrap_or(&subject);
            write!(out, "\n  {}  {subject}", palette.severity(x.severity, x.code.as_str()))?;
            write!(out, "{}", wrap(&x.message, 80, "       "))?;
            for (k, v) in &x.evidence {
                if v.is_null() || *v == json!([]) {
                    continue;
                }
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            // {"bundle_id": …, "version": …, "uuid": …} → "id version uuid"
                            Value::Object(o) => o
                                .values()
                                .filter(|v| !v.is_null())
                                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                                .collect::<Vec<_>>()
                                .join(" "),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                write!(out, "{}", wrap(&format!("{k}: {text}"), 80, "       | "))?;
            }
            if !x.remedy.is_empty() {
                write!(out, "{}", wrap(&format!("Remedy: {}", x.remedy), 80, "       "))?;
            }
        }
    }
    Ok(())
}

/// Output formats of `verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyFormat {
    /// Text for people.
    Text,
    /// One JSON document.
    Json,
    /// One finding per line.
    Jsonl,
}

#[cfg(test)]
mod wrap_tests {
    use super::wrap;

    /// A backticked command followed by `,` `.` or `)` is kept whole on
    /// one line when it fits.
    #[test]
    fn backticked_spans_end_at_punctuation() {
        // Word by word, "`sudo" would still fit on the first line.
        for end in ["`,", "`.", "`)", "`"] {
            let text =
                format!("first some words to fill it then `sudo kextcache -i /Volumes/Mac{end} and restart now please");
            let out = wrap(&text, 40, "");
            let want = format!("`sudo kextcache -i /Volumes/Mac{end}");
            assert!(out.lines().any(|l| l.contains(&want)), "{end}: {out}");
        }
    }
}
