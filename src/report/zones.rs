//! Rendering of zone tables and their findings: the text table, JSON, and
//! the plain and live views of `zones --watch`.

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use crate::check::finding::Finding;
use crate::check::zones::{growing_names, keyed};
use crate::logs::zprint::{Zone, ZoneTable, human_bytes};
use crate::report::Style;

/// Zones shown in the live view.
const LIVE_TOP: usize = 15;

/// A signed byte difference, `+12.0 MiB` / `-3.0 KiB` / `+0 B`.
fn human_delta(now: u64, then: u64) -> String {
    if now >= then { format!("+{}", human_bytes(now - then)) } else { format!("-{}", human_bytes(then - now)) }
}

fn count_delta(now: u64, then: u64) -> String {
    if now >= then { format!("+{}", now - then) } else { format!("-{}", then - now) }
}

fn num(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |x| x.to_string())
}

/// Zones by bytes, biggest first (ties by name).
fn by_bytes(t: &ZoneTable) -> Vec<&Zone> {
    let mut zones: Vec<&Zone> = t.zones.iter().collect();
    zones.sort_by(|a, b| b.bytes().unwrap_or(0).cmp(&a.bytes().unwrap_or(0)).then_with(|| a.name.cmp(&b.name)));
    zones
}

/// The table (the `top` zones by bytes) and the findings, for people.
pub fn write_text(
    out: &mut dyn Write,
    style: Style,
    t: &ZoneTable,
    findings: &[Finding],
    top: usize,
) -> io::Result<()> {
    let total = t.total_bytes();
    writeln!(out, "zprint: {} zones ({} layout), {} in all", t.zones.len(), t.format, human_bytes(total))?;
    if t.redacted {
        write!(
            out,
            "{}",
            crate::report::wrap(
                "Sizes are redacted (zprint run without root on macOS 13.3 or later): bytes below \
                 are in-use elements × element size. Run `sudo zprint` for the real sizes.",
                80,
                ""
            )
        )?;
    }
    if !t.issues.is_empty() {
        writeln!(out, "{} line(s) skipped:", t.issues.len())?;
        for i in t.issues.iter().take(5) {
            writeln!(out, "  line {}: {}", i.line, i.message)?;
        }
    }
    writeln!(out)?;
    let shown = by_bytes(t);
    let rows: Vec<Vec<String>> = shown
        .iter()
        .take(top)
        .map(|z| {
            let share = match z.bytes() {
                Some(b) if total > 0 => format!("{:.1}%", b as f64 * 100.0 / total as f64),
                _ => "-".into(),
            };
            vec![
                z.name.clone(),
                num(z.elem_size),
                z.cur_bytes.map_or_else(|| "-".into(), human_bytes),
                num(z.inuse),
                z.used_bytes().map_or_else(|| "-".into(), human_bytes),
                share,
                z.flags.clone(),
            ]
        })
        .collect();
    crate::report::write_table(out, &["ZONE", "ELEM", "CUR SIZE", "IN USE", "USED", "SHARE", "FLAGS"], &rows)?;
    if shown.len() > top {
        writeln!(out, "({} more zones)", shown.len() - top)?;
    }
    if findings.is_empty() {
        writeln!(out)?;
        write!(
            out,
            "{}",
            crate::report::wrap(
                "No findings: no kalloc zone holds an outsized share of memory or an outsized \
                 number of elements.",
                80,
                ""
            )
        )?;
    } else {
        crate::report::write_findings(out, style, findings)?;
    }
    Ok(())
}

/// `zones --json`: `{"zones": [...], "findings": [...]}`.
pub fn to_json(t: &ZoneTable, findings: &[Finding]) -> Value {
    json!({"zones": t.zones, "findings": findings})
}

// ---------------------------------------------------------------------------
// Watch

/// `HH:MM:SS UTC` now (no time-zone database needed).
fn clock() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) % 86_400;
    format!("{:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `sample 3/10: total 1.2 GiB; top kalloc.48 512.0 MiB (+12.0 MiB); growing: kalloc.48`
pub fn write_plain(out: &mut dyn Write, tables: &[ZoneTable], n: usize) -> io::Result<()> {
    let (Some(first), Some(t)) = (tables.first(), tables.last()) else {
        return Ok(());
    };
    let mut line = format!("sample {}/{n}: total {}", tables.len(), human_bytes(t.total_bytes()));
    if t.redacted {
        line.push_str(" (redacted: in use × element size)");
    }
    if let Some(z) = by_bytes(t).first() {
        let now = z.bytes().unwrap_or(0);
        let then = first.zones.iter().find(|f| f.name == z.name).and_then(Zone::bytes).unwrap_or(0);
        line.push_str(&format!("; top {} {} ({})", z.name, human_bytes(now), human_delta(now, then)));
    }
    let growing = growing_names(tables);
    let list = if growing.is_empty() {
        "none".to_string()
    } else if growing.len() > 5 {
        format!("{} and {} more", growing[..5].join(", "), growing.len() - 5)
    } else {
        growing.join(", ")
    };
    line.push_str(&format!("; growing: {list}"));
    writeln!(out, "{line}")
}

/// The live view: clear the screen, a header, the top zones with their
/// change since the first sample, growing zones marked.
pub fn write_live(out: &mut dyn Write, tables: &[ZoneTable], n: usize, elapsed: Duration) -> io::Result<()> {
    let (Some(first), Some(t)) = (tables.first(), tables.last()) else {
        return Ok(());
    };
    write!(out, "\x1b[H\x1b[2J")?;
    writeln!(
        out,
        "zprint watch: sample {}/{n}, t+{}s, {}; total {}{}",
        tables.len(),
        elapsed.as_secs(),
        clock(),
        human_bytes(t.total_bytes()),
        if t.redacted { " (redacted: in use × element size; run as root for sizes)" } else { "" }
    )?;
    writeln!(out)?;
    let growing = growing_names(tables);
    let before = keyed(first);
    let rows: Vec<Vec<String>> = by_bytes(t)
        .into_iter()
        .take(LIVE_TOP)
        .map(|z| {
            let then = before.get(&(z.name.clone(), 0));
            let bytes = z.bytes().unwrap_or(0);
            let (d_inuse, d_bytes) = match then {
                Some(f) => (
                    match (z.inuse, f.inuse) {
                        (Some(a), Some(b)) => count_delta(a, b),
                        _ => "-".into(),
                    },
                    human_delta(bytes, f.bytes().unwrap_or(0)),
                ),
                None => ("new".into(), "new".into()),
            };
            let mark = if growing.contains(&z.name) { "<< growing" } else { "" };
            vec![z.name.clone(), num(z.elem_size), num(z.inuse), d_inuse, human_bytes(bytes), d_bytes, mark.to_string()]
        })
        .collect();
    crate::report::write_table(out, &["ZONE", "ELEM", "IN USE", "Δ IN USE", "BYTES", "Δ BYTES", ""], &rows)?;
    if !growing.is_empty() {
        writeln!(out, "\ngrowing at every sample so far: {}", growing.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::zones::{Thresholds, growth_findings, sample_findings};
    use crate::logs::zprint::{KIB, parse};

    const HEADER: &str = "                            elem         cur         max        cur         max         cur  alloc  alloc    \n\
zone name                   size        size        size      #elts       #elts       inuse   size  count    \n\
-------------------------------------------------------------------------------------------------------------\n";

    #[test]
    fn deltas() {
        assert_eq!(human_delta(5, 5), "+0 B");
        assert_eq!(human_delta(0, 3 * KIB), "-3.0 KiB");
    }

    /// Tiny deterministic generator for the no-panic test.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
            v[(self.next() % v.len() as u64) as usize]
        }
    }

    #[test]
    fn never_panics_on_garbled_input() {
        let vocab = [
            "kalloc.48",
            "data.kalloc.1024",
            "vm",
            "objects",
            "48",
            "0",
            "10868K",
            "0K",
            "-------",
            "-",
            "C",
            "XC",
            "1.5M",
            "99999999999999999999999K",
            "zone",
            "name",
            "size",
            "#elts",
            "inuse",
            "allocs",
            "elem",
            "cur",
            "zone:",
            "cur_size:",
            "(12",
            "elements)",
            "ZONE",
            "TOTALS",
            "------------------------------------",
            "é",
            "\t",
            "$",
            "12B",
            "18446744073709551615",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let base = format!(
            "{HEADER}kalloc.48   48   10868K   13301K   231850   283754   223454   4K   85  C\nkalloc.16 zone:\n\tcur_size: 1K bytes (64 elements)\n"
        );
        for round in 0..3000u32 {
            let mut text = String::new();
            if round.is_multiple_of(3) {
                text.push_str(&base);
            }
            let nlines = rng.next() % 12;
            for _ in 0..nlines {
                let nt = rng.next() % 14;
                for _ in 0..nt {
                    text.push_str(rng.pick(&vocab));
                    text.push_str(if rng.next().is_multiple_of(4) { "" } else { " " });
                }
                text.push('\n');
            }
            if round.is_multiple_of(5) {
                // Cut at a random char boundary.
                let cut = (rng.next() as usize) % (text.len() + 1);
                let cut = (0..=cut).rev().find(|c| text.is_char_boundary(*c)).unwrap_or(0);
                text.truncate(cut);
            }
            if let Ok(t) = parse(&text) {
                let th = Thresholds::default();
                let f = sample_findings(&t, &th, Some("19G73"));
                let _ = growth_findings(&[t.clone(), t.clone(), t.clone()], &th);
                let mut sink = Vec::new();
                write_text(&mut sink, Style::PLAIN, &t, &f, 10).unwrap();
                let _ = to_json(&t, &f);
            }
        }
    }

    fn z(name: &str, inuse: u64) -> Zone {
        Zone {
            name: name.into(),
            elem_size: Some(64),
            inuse: Some(inuse),
            cur_bytes: Some(inuse * 64),
            ..Zone::default()
        }
    }

    fn t(zones: Vec<Zone>) -> ZoneTable {
        ZoneTable { zones, redacted: false, format: "columns", issues: Vec::new() }
    }

    fn text_of(table: &ZoneTable, top: usize) -> String {
        let mut out = Vec::new();
        write_text(&mut out, Style::default(), table, &[], top).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// "(N more zones)" only when zones were left out; no share of an empty
    /// table.
    #[test]
    fn table_footer_and_shares() {
        let two = t(vec![z("a", 10), z("b", 20)]);
        assert!(!text_of(&two, 2).contains("more zones"), "{}", text_of(&two, 2));
        assert!(text_of(&two, 1).contains("(1 more zones)"));
        let empty = t(vec![z("a", 0)]);
        let out = text_of(&empty, 5);
        assert!(!out.contains("NaN") && !out.contains("inf"), "{out}");
        assert!(out.lines().any(|l| l.starts_with("a ") && l.contains(" -")), "{out}");
    }

    /// The watch clock is the time of day in UTC.
    #[test]
    fn clock_is_utc_time_of_day() {
        let c = clock();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() % 86_400;
        let (h, rest) = c.split_once(':').unwrap();
        let (m, rest) = rest.split_once(':').unwrap();
        let sec: u64 = rest.trim_end_matches(" UTC").parse().unwrap();
        assert!(c.ends_with(" UTC"), "{c}");
        let got = h.parse::<u64>().unwrap() * 3600 + m.parse::<u64>().unwrap() * 60 + sec;
        // Within a few seconds (the day may roll over between the two reads).
        assert!(got.abs_diff(now) <= 5 || got.abs_diff(now) >= 86_395, "{c} vs {now}");
    }

    /// The plain watch line lists up to five growing zones, then "and N
    /// more"; the live view names growing zones only when there are some.
    #[test]
    fn watch_lists_growing_zones() {
        let samples = |names: &[&str]| -> Vec<ZoneTable> {
            [100_000u64, 120_000, 140_000]
                .iter()
                .map(|&n| t(names.iter().map(|name| z(name, n)).chain([z("flat", 5)]).collect()))
                .collect()
        };
        let plain = |tables: &[ZoneTable]| {
            let mut out = Vec::new();
            write_plain(&mut out, tables, 10).unwrap();
            String::from_utf8(out).unwrap()
        };
        let five = plain(&samples(&["a", "b", "c", "d", "e"]));
        assert!(five.contains("growing: a, b, c, d, e\n"), "{five}");
        let six = plain(&samples(&["a", "b", "c", "d", "e", "f"]));
        assert!(six.contains("growing: a, b, c, d, e and 1 more"), "{six}");
        let live = |tables: &[ZoneTable]| {
            let mut out = Vec::new();
            write_live(&mut out, tables, 10, Duration::from_secs(3)).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(live(&samples(&["a"])).contains("growing at every sample so far: a"));
        let none: Vec<ZoneTable> = [5u64, 5, 5].iter().map(|&n| t(vec![z("flat", n)])).collect();
        assert!(!live(&none).contains("growing at every sample"));
    }
}
