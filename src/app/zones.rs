//! `kcheck zones --watch`: sample the live `zprint` repeatedly, show each
//! sample as it comes, and judge growth over all of them.

use std::io::{self, Write};
use std::time::Duration;

use crate::check::finding::Finding;
use crate::check::zones::{Thresholds, growth_findings, sample_findings};
use crate::error::Error;
use crate::logs::zprint::{ZoneTable, parse};
use crate::report::zones::{write_live, write_plain};

/// Sample `zprint` `samples` times, `interval` apart (`sleep` does the
/// waiting, so tests need not), report each sample as it comes — a live view
/// redrawn in place (`live_view`) or one plain line per sample — and return
/// ZN002 over all samples plus ZN001 of the last one.
///
/// `sample` returns zprint's standard output, or a message when zprint could
/// not be run; that message ends the watch as an I/O error on `zprint`.
pub fn watch(
    sample: &mut dyn FnMut() -> Result<String, String>,
    interval: Duration,
    samples: usize,
    th: &Thresholds,
    out: &mut dyn Write,
    live_view: bool,
    sleep: &mut dyn FnMut(Duration),
) -> Result<Vec<Finding>, Error> {
    if samples == 0 {
        return Err(Error::Unsupported("zones watch needs at least one sample".into()));
    }
    let mut tables: Vec<ZoneTable> = Vec::new();
    for i in 0..samples {
        if i > 0 {
            sleep(interval);
        }
        let text = sample().map_err(|msg| Error::Io { path: "zprint".into(), source: io::Error::other(msg) })?;
        let t = parse(&text).map_err(|e| Error::Format { path: "zprint".into(), source: e })?;
        tables.push(t);
        let elapsed = interval.saturating_mul(u32::try_from(i).unwrap_or(u32::MAX));
        let r = if live_view { write_live(out, &tables, samples, elapsed) } else { write_plain(out, &tables, samples) };
        r.map_err(Error::Output)?;
        out.flush().map_err(Error::Output)?;
    }
    let mut findings = growth_findings(&tables, th);
    if let Some(last) = tables.last() {
        findings.extend(sample_findings(last, th, None));
    }
    crate::check::finding::sort(&mut findings);
    Ok(findings)
}

/// `kcheck zones --watch`: sample the live zprint (macOS only), then print
/// the findings over all samples.
pub fn run_watch(
    interval: f64,
    samples: usize,
    th: &Thresholds,
    format: crate::report::Format,
    style: crate::report::Style,
    quiet: bool,
    out: &mut dyn Write,
) -> Result<u8, Error> {
    use crate::facts::live::{Probe, SystemProbe};
    use std::io::IsTerminal;
    if !cfg!(target_os = "macos") {
        return Err(Error::Unsupported(
            "kcheck zones --watch samples the running kernel with zprint and works only on macOS; to read a saved zprint output, give it as FILE without --watch".into(),
        ));
    }
    if !(interval.is_finite() && interval >= 0.0) {
        return Err(Error::Unsupported("--interval takes a number of seconds".into()));
    }
    let mut sample = || SystemProbe.run("/usr/bin/zprint", &[]);
    let mut sleep = std::thread::sleep;
    let live_view = format == crate::report::Format::Text && !quiet && std::io::stdout().is_terminal();
    let findings = watch(&mut sample, Duration::from_secs_f64(interval), samples, th, out, live_view, &mut sleep)?;
    if format == crate::report::Format::Json {
        let v = serde_json::json!({"samples": samples, "interval": interval, "findings": findings});
        serde_json::to_writer_pretty(&mut *out, &v).map_err(|e| Error::Output(io::Error::other(e)))?;
        writeln!(out).map_err(Error::Output)?;
    } else {
        crate::report::write_findings(out, style, &findings).map_err(Error::Output)?;
    }
    Ok(crate::check::finding::Verdict::of(&findings).exit_code())
}
