//! Rendering: models in, bytes out. Text for people (aligned tables that
//! lead with what matters), JSON for scripts in the shapes of design.md.
//! No parsing and no rules here.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::cache::{CacheInfo, Kext};
use crate::diff::Diff;

/// Output format of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// One JSON document.
    Json,
}

/// Write `rows` as a table with a header row; every column but the last is
/// padded to its widest cell, columns are separated by two spaces.
pub fn write_table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
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
    writeln!(out, "{key:<13}{value}")
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
    kv(
        out,
        "kexts",
        &format!("{} ({} codeless)", c.kexts.len(), c.codeless_count()),
    )?;
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
    write_table(
        out,
        &[
            "BUNDLE ID",
            "VERSION",
            "UUID",
            "LOAD ADDRESS",
            "SIZE",
            "BUNDLE PATH",
        ],
        &rows,
    )
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
        let uuid = s
            .uuid
            .as_deref()
            .map(|u| format!(", uuid {u}"))
            .unwrap_or_default();
        kv(
            out,
            "slice",
            &format!("{} at {:#x}, {} bytes{uuid}", s.arch, s.offset, s.size),
        )?;
    }
    kv(
        out,
        "kind",
        &format!("{} (mach-o/{}, {})", c.kind.as_str(), c.filetype, c.arch),
    )?;
    kv(out, "image size", &format!("{} bytes", c.image_size))?;
    kv(out, "uuid", &dash(&c.uuid))?;
    if c.kind != crate::cache::CacheKind::MachO {
        kv(out, "kernel", &dash(&c.kernel.version))?;
        kv(out, "kernel uuid", &dash(&c.kernel.uuid))?;
        kv(out, "kc id", &dash(&c.kc_id))?;
        if c.boot_kc_id.is_some() {
            kv(out, "boot kc id", &dash(&c.boot_kc_id))?;
        }
        kv(
            out,
            "kexts",
            &format!("{} ({} codeless)", c.kexts.len(), c.codeless_count()),
        )?;
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
    kv(
        out,
        "a",
        &format!("{} ({} kexts)", a.file.display(), a.kexts.len()),
    )?;
    kv(
        out,
        "b",
        &format!("{} ({} kexts)", b.file.display(), b.kexts.len()),
    )?;
    if d.kernel_changed {
        kv(
            out,
            "kernel a",
            &format!("{} {}", dash(&a.kernel.version), dash(&a.kernel.uuid)),
        )?;
        kv(
            out,
            "kernel b",
            &format!("{} {}", dash(&b.kernel.version), dash(&b.kernel.uuid)),
        )?;
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
        rows.push(vec![
            "+".into(),
            k.bundle_id.clone(),
            "-".into(),
            dash(&k.version),
            "added".into(),
        ]);
    }
    for k in &d.removed {
        rows.push(vec![
            "-".into(),
            k.bundle_id.clone(),
            dash(&k.version),
            "-".into(),
            "removed".into(),
        ]);
    }
    for c in &d.changed {
        let what = if c.changes == ["uuid"] {
            format!("uuid {} -> {}", dash(&c.uuid_a), dash(&c.uuid_b))
        } else {
            c.changes.join(", ")
        };
        rows.push(vec![
            "~".into(),
            c.bundle_id.clone(),
            dash(&c.version_a),
            dash(&c.version_b),
            what,
        ]);
    }
    writeln!(out)?;
    write_table(
        out,
        &["", "BUNDLE ID", "VERSION A", "VERSION B", "CHANGE"],
        &rows,
    )
}
