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
