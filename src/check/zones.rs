//! Rules over zone tables: ZN001 (a kalloc zone holding an outsized share
//! of memory, or more elements than any healthy kalloc zone) and ZN002 (a
//! zone growing sample after sample). Pure functions of parsed tables.

use crate::check::finding::Code;
use std::collections::HashMap;

use serde_json::{Value, json};

use crate::check::finding::{Finding, Severity};
use crate::logs::zprint::{MIB, Zone, ZoneTable, human_bytes, is_kalloc_zone, round1};

/// ZN002: the monotonic metric must grow by at least this fraction of its
/// first value over the window.
pub const GROWTH_MIN_RATIO: f64 = 0.05;
/// ZN002: … and by at least this many bytes …
pub const GROWTH_MIN_BYTES: u64 = MIB;
/// ZN002: … or by at least this many in-use elements.
pub const GROWTH_MIN_ELEMENTS: u64 = 10_000;

/// The known-issues id of the 10.15.6 (19G73) kalloc leak.
const ZONE_LEAK_ISSUE: &str = "catalina-10.15.6-zone-leak";

/// Limits for ZN001 and ZN002.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// ZN001 warning: a kalloc zone's share of the table's bytes.
    pub share_warn: f64,
    /// ZN001 error: share of the table's bytes.
    pub share_error: f64,
    /// ZN001 error: in-use elements of one kalloc zone (the 10.15.6 leak
    /// showed tens of millions).
    pub elements_error: u64,
    /// ZN001: a share rule only fires on zones at least this big, so a
    /// filtered table (`zprint kalloc`) of a healthy Mac stays quiet.
    pub min_bytes: u64,
    /// ZN002: samples needed before a zone can be called growing.
    pub growth_samples: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            share_warn: 0.10,
            share_error: 0.25,
            elements_error: 10_000_000,
            min_bytes: 64 * MIB,
            growth_samples: 3,
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// ZN001 for one sample: a kalloc-family zone whose bytes are at least
/// `share_warn` of the table's total and at least `min_bytes` (warning;
/// error from `share_error`), or whose in-use count exceeds `elements_error`
/// (error). In a redacted table bytes are in-use × element size; without
/// an element size only the count rule applies. `build` ties the finding to
/// the 10.15.6 (19G73) leak when it is that build.
pub fn sample_findings(t: &ZoneTable, th: &Thresholds, build: Option<&str>) -> Vec<Finding> {
    let total = t.total_bytes();
    let leak = build.and_then(crate::check::known_issues::zone_leak);
    let mut out = Vec::new();
    for z in t.zones.iter().filter(|z| z.is_kalloc()) {
        let bytes = z.bytes();
        let share = bytes.filter(|_| total > 0).map(|b| b as f64 / total as f64);
        let big = bytes.is_some_and(|b| b >= th.min_bytes);
        let by_share = big && share.is_some_and(|s| s >= th.share_warn);
        let by_share_error = big && share.is_some_and(|s| s >= th.share_error);
        let by_count = z.inuse.is_some_and(|n| n > th.elements_error);
        if !(by_share || by_count) {
            continue;
        }
        let severity = if by_share_error || by_count { Severity::Error } else { Severity::Warning };
        let mut msg = format!("{} holds", z.name);
        if let Some(b) = bytes {
            msg.push_str(&format!(" {}", human_bytes(b)));
            if let Some(s) = share {
                msg.push_str(&format!(" ({:.1}% of the {} in the table)", s * 100.0, human_bytes(total)));
            }
            msg.push_str(" in");
        }
        match (z.inuse, z.elem_size) {
            (Some(n), Some(e)) => msg.push_str(&format!(" {n} in-use elements of {e} bytes")),
            (Some(n), None) => msg.push_str(&format!(" {n} in-use elements")),
            _ => msg.push_str(" its elements"),
        }
        if by_count {
            msg.push_str(&format!(
                "; more than {} elements in one kalloc zone is a kernel memory leak",
                th.elements_error
            ));
        } else {
            msg.push_str("; one kalloc size class holding this much of the zone memory is a sign of a leak");
        }
        msg.push('.');
        if t.redacted {
            if bytes.is_some() {
                msg.push_str(
                    " Sizes were redacted (zprint run without root on macOS 13.3 or later): bytes are \
                     estimated as in-use elements × element size; run `sudo zprint` for the real sizes.",
                );
            } else {
                msg.push_str(
                    " Sizes were redacted (zprint run without root on macOS 13.3 or later): only the \
                     element count was checked; run `sudo zprint` for sizes.",
                );
            }
        }
        let remedy = if let Some(k) = leak {
            let fixed = k.fixed_in.unwrap_or("a later macOS update");
            msg.push_str(&format!(" This is build {}, which has the known leak: {}.", build.unwrap_or(""), k.summary));
            format!(
                "Install the {fixed} from Software Update; it fixes this leak. Until then, restart \
                 before the zone map fills (the leak is fastest with virtual machines running) and \
                 save work often."
            )
        } else {
            "Find what is leaking: run `sudo zprint -t` a few times and watch this zone's in-use \
             count and lifetime allocations; unload third-party kexts one at a time (`sudo kextunload \
             -b <bundle id>`, or `sudo kmutil unload -b <bundle id>` on macOS 11 and later) until it \
             stops growing; check /Library/Logs/DiagnosticReports for panics that blame this zone. A \
             restart returns the memory."
                .to_string()
        };
        let mut f = Finding::new(Code::ZN001, z.name.clone(), msg)
            .severity(severity)
            .with("zone", z.name.clone())
            .with("elem_size", opt(z.elem_size))
            .with("inuse", opt(z.inuse))
            .with("cur_bytes", opt(z.cur_bytes))
            .with("share", share.map_or(Value::Null, |s| json!(round3(s))))
            .with("total_bytes", total)
            .with("build", build.map_or(Value::Null, Value::from))
            .with("redacted", t.redacted);
        if t.redacted {
            f = f.with("estimated_bytes", opt(bytes));
        }
        if let Some(k) = leak {
            f = f.with("known_issue", k.id);
        }
        out.push(f.remedy(remedy));
    }
    crate::check::finding::sort(&mut out);
    out
}

/// Zones keyed by name; a repeated name (two zones cut to the same 24
/// characters) gets its occurrence number so that samples still line up.
pub fn keyed(t: &ZoneTable) -> HashMap<(String, usize), &Zone> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut out = HashMap::new();
    for z in &t.zones {
        let n = seen.entry(z.name.as_str()).or_insert(0);
        out.insert((z.name.clone(), *n), z);
        *n += 1;
    }
    out
}

/// The keys of `first` in table order.
fn keys_in_order(first: &ZoneTable) -> Vec<(String, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    first
        .zones
        .iter()
        .map(|z| {
            let n = seen.entry(z.name.as_str()).or_insert(0);
            let k = (z.name.clone(), *n);
            *n += 1;
            k
        })
        .collect()
}

/// How one zone moved over a window of samples.
#[derive(Debug)]
struct Growth {
    /// `inuse` or `cur_bytes`: the series tested for monotonic growth.
    metric: &'static str,
    first_inuse: Option<u64>,
    last_inuse: Option<u64>,
    first_bytes: Option<u64>,
    last_bytes: Option<u64>,
    /// In-use growth over the window.
    elements: u64,
    /// Byte growth: the larger of the `cur size` growth and the in-use growth
    /// × element size.
    bytes: u64,
    samples: usize,
    series: Vec<u64>,
}

/// The growth of `zones` (one per sample, oldest first) if its in-use count
/// (or, without counts, its bytes) strictly rises at every step and the rise
/// is meaningful: at least [`GROWTH_MIN_RATIO`] of the first value, and at
/// least [`GROWTH_MIN_BYTES`] or [`GROWTH_MIN_ELEMENTS`].
fn growth(zones: &[&Zone]) -> Option<Growth> {
    let (first, last) = (zones.first()?, zones.last()?);
    if zones.len() < 2 {
        return None;
    }
    let (metric, series): (&'static str, Vec<u64>) =
        if let Some(s) = zones.iter().map(|z| z.inuse).collect::<Option<Vec<u64>>>() {
            ("inuse", s)
        } else {
            ("cur_bytes", zones.iter().map(|z| z.cur_bytes).collect::<Option<Vec<u64>>>()?)
        };
    if !series.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let (s0, s1) = (*series.first()?, *series.last()?);
    let rise = s1 - s0;
    if s0 > 0 && (rise as f64) < GROWTH_MIN_RATIO * s0 as f64 {
        return None;
    }
    let elements = match (first.inuse, last.inuse) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let by_cur = match (first.cur_bytes, last.cur_bytes) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    let by_used = elements.saturating_mul(last.elem_size.unwrap_or(0));
    let bytes = by_cur.max(by_used);
    if bytes < GROWTH_MIN_BYTES && elements < GROWTH_MIN_ELEMENTS {
        return None;
    }
    Some(Growth {
        metric,
        first_inuse: first.inuse,
        last_inuse: last.inuse,
        first_bytes: first.bytes(),
        last_bytes: last.bytes(),
        elements,
        bytes,
        samples: zones.len(),
        series,
    })
}

/// The zones of `samples` that grow (see [`growth`]), with their growth, in
/// the first sample's order. Zones missing from any sample are left out.
fn growing(samples: &[ZoneTable]) -> Vec<(String, Growth, Option<u64>)> {
    let Some(first) = samples.first() else {
        return Vec::new();
    };
    let maps: Vec<_> = samples.iter().map(keyed).collect();
    let mut out = Vec::new();
    for key in keys_in_order(first) {
        let Some(zones) = maps.iter().map(|m| m.get(&key).copied()).collect::<Option<Vec<&Zone>>>() else {
            continue;
        };
        if let Some(g) = growth(&zones) {
            let elem = zones.last().and_then(|z| z.elem_size);
            out.push((key.0, g, elem));
        }
    }
    out
}

/// ZN002 (warning) over `samples` (oldest first, at least
/// `th.growth_samples` of them): a zone whose in-use count — or, where there
/// are no counts, its `cur size` — strictly increases from every sample to
/// the next over the whole window, by at least 5 % of its first value and by
/// at least 1 MiB or 10 000 elements ([`GROWTH_MIN_RATIO`],
/// [`GROWTH_MIN_BYTES`], [`GROWTH_MIN_ELEMENTS`]). Any zone, not only kalloc.
pub fn growth_findings(samples: &[ZoneTable], th: &Thresholds) -> Vec<Finding> {
    if samples.len() < th.growth_samples.max(2) {
        return Vec::new();
    }
    let leak = crate::check::known_issues::KNOWN_ISSUES.iter().find(|k| k.id == ZONE_LEAK_ISSUE);
    let mut out = Vec::new();
    for (name, g, elem) in growing(samples) {
        let steps = (g.samples - 1) as f64;
        let per_elements = g.elements as f64 / steps;
        let per_bytes = g.bytes as f64 / steps;
        let what = if g.metric == "inuse" {
            format!(
                "in-use count rose at each of {} samples, {} → {} (+{} elements, +{})",
                g.samples,
                g.first_inuse.map_or_else(|| "-".into(), |x| x.to_string()),
                g.last_inuse.map_or_else(|| "-".into(), |x| x.to_string()),
                g.elements,
                human_bytes(g.bytes)
            )
        } else {
            format!(
                "size rose at each of {} samples, {} → {} (+{})",
                g.samples,
                g.first_bytes.map_or("-".into(), human_bytes),
                g.last_bytes.map_or("-".into(), human_bytes),
                human_bytes(g.bytes)
            )
        };
        let msg = format!("Zone {name}'s {what}: memory that is allocated and never freed is a leak in progress.");
        let mut remedy = "Keep sampling (`sudo zprint` a few minutes apart) to confirm it never falls; \
             then find the kext responsible: unload third-party kexts one at a time until the count \
             stops rising, and check /Library/Logs/DiagnosticReports for zone-map panics that name \
             this zone. A restart returns the memory."
            .to_string();
        if is_kalloc_zone(&name)
            && let Some(k) = leak
        {
            remedy.push_str(&format!(
                " On macOS 10.15.6 (19G73) this is the known kalloc leak, fixed by the {}.",
                k.fixed_in.unwrap_or("next update")
            ));
        }
        let f = Finding::new(Code::ZN002, name.clone(), msg)
            .with("zone", name.clone())
            .with("elem_size", opt(elem))
            .with("metric", g.metric)
            .with("samples", g.samples)
            .with("first_inuse", opt(g.first_inuse))
            .with("last_inuse", opt(g.last_inuse))
            .with("first_bytes", opt(g.first_bytes))
            .with("last_bytes", opt(g.last_bytes))
            .with("growth_per_sample_elements", json!(round1(per_elements)))
            .with("growth_per_sample_bytes", json!(round1(per_bytes)))
            .with("series", g.series.clone())
            .remedy(remedy);
        out.push(f);
    }
    crate::check::finding::sort(&mut out);
    out
}

/// Names of the zones growing so far (monotonic and meaningful, over every
/// sample yet; at least two).
pub fn growing_names(tables: &[ZoneTable]) -> Vec<String> {
    if tables.len() < 2 {
        return Vec::new();
    }
    growing(tables).into_iter().map(|(n, _, _)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_rule() {
        let z = |inuse: u64| Zone {
            name: "kalloc.48".into(),
            elem_size: Some(48),
            cur_bytes: Some(inuse * 48),
            inuse: Some(inuse),
            ..Zone::default()
        };
        let grow: Vec<Zone> = [100_000, 120_000, 140_000].map(z).to_vec();
        let refs: Vec<&Zone> = grow.iter().collect();
        let g = growth(&refs).unwrap();
        assert_eq!(g.elements, 40_000);
        assert_eq!(g.bytes, 40_000 * 48);
        // Flat step: not monotonic.
        let flat: Vec<Zone> = [100_000, 120_000, 120_000].map(z).to_vec();
        assert!(growth(&flat.iter().collect::<Vec<_>>()).is_none());
        // Under 5 %.
        let small: Vec<Zone> = [10_000_000, 10_100_000, 10_200_000].map(z).to_vec();
        assert!(growth(&small.iter().collect::<Vec<_>>()).is_none());
        // Too little in absolute terms.
        let tiny: Vec<Zone> = [100, 200, 300].map(z).to_vec();
        assert!(growth(&tiny.iter().collect::<Vec<_>>()).is_none());
    }

    fn zone(name: &str, elem: Option<u64>, inuse: Option<u64>, cur: Option<u64>) -> Zone {
        Zone { name: name.into(), elem_size: elem, inuse, cur_bytes: cur, ..Zone::default() }
    }

    fn table(zones: Vec<Zone>) -> ZoneTable {
        ZoneTable { zones, redacted: false, format: "columns", issues: Vec::new() }
    }

    fn grows(series: &[u64], elem: u64) -> bool {
        let zs: Vec<Zone> = series.iter().map(|&n| zone("kalloc.x", Some(elem), Some(n), Some(n * elem))).collect();
        growth(&zs.iter().collect::<Vec<_>>()).is_some()
    }

    /// The edges of the ZN002 rule: a rise of exactly 5 % counts, exactly
    /// 10,000 elements counts (even under 1 MiB), exactly 1 MiB counts
    /// (even under 10,000 elements).
    #[test]
    fn growth_thresholds_are_inclusive() {
        assert!(grows(&[200_000, 205_000, 210_000], 8), "exactly 5 % and 10,000 elements of 8 bytes");
        assert!(!grows(&[200_000, 205_000, 209_999], 8), "just under 5 % and 10,000 elements");
        assert!(grows(&[10_000, 10_512, 11_024], 1024), "exactly 1 MiB in 1,024 elements");
        assert!(!grows(&[10_000, 10_511, 11_023], 1024), "just under 1 MiB and 10,000 elements");
    }

    /// ZN001 by count: more than `elements_error`, not exactly that many; a
    /// table without element sizes says how many elements are in use.
    #[test]
    fn zn001_count_rule_and_message_without_element_sizes() {
        let th = Thresholds::default();
        let at = table(vec![zone("kalloc.48", None, Some(th.elements_error), None)]);
        assert!(sample_findings(&at, &th, None).is_empty());
        let over = table(vec![zone("kalloc.48", None, Some(th.elements_error + 1), None)]);
        let f = sample_findings(&over, &th, None);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].message.contains(&format!("{} in-use elements", th.elements_error + 1)), "{}", f[0].message);
    }

    /// Zones cut to the same name are told apart by their order in each
    /// sample: only the growing one of two `kalloc.48` is reported, once.
    #[test]
    fn repeated_zone_names_line_up_by_occurrence() {
        let samples: Vec<ZoneTable> = [100_000u64, 120_000, 140_000]
            .iter()
            .map(|&n| {
                table(vec![
                    zone("kalloc.48", Some(48), Some(n), Some(n * 48)),
                    zone("kalloc.48", Some(48), Some(5), Some(240)),
                ])
            })
            .collect();
        let f = growth_findings(&samples, &Thresholds::default());
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].evidence.get("series"), Some(&json!([100_000, 120_000, 140_000])));
    }

    /// ZN002's wording follows the series it tested (in-use counts, or
    /// sizes when a table has no counts); a kalloc zone's remedy names the
    /// 10.15.6 leak's fix.
    #[test]
    fn zn002_message_follows_the_metric_and_names_the_known_fix() {
        let th = Thresholds::default();
        let by_count: Vec<ZoneTable> = [100_000u64, 120_000, 140_000]
            .iter()
            .map(|&n| table(vec![zone("kalloc.48", Some(48), Some(n), Some(n * 48))]))
            .collect();
        let f = growth_findings(&by_count, &th);
        assert!(f[0].message.contains("in-use count rose"), "{}", f[0].message);
        assert!(f[0].remedy.contains("fixed by the 10.15.6 Supplemental Update (19G2021)"), "{}", f[0].remedy);
        let by_size: Vec<ZoneTable> = [10u64 << 20, 12 << 20, 14 << 20]
            .iter()
            .map(|&b| table(vec![zone("kalloc.48", Some(48), None, Some(b))]))
            .collect();
        let f = growth_findings(&by_size, &th);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("size rose"), "{}", f[0].message);
        assert_eq!(f[0].evidence.get("metric"), Some(&json!("cur_bytes")));
    }
}
