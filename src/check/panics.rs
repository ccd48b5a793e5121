//! Rules over panic reports: PN001 (zone map exhausted), PN002 (a
//! third-party kext in the backtrace), PN003 (a report from another build).

use crate::check::finding::Code;
use serde_json::{Value, json};

use crate::check::finding::Finding;
use crate::logs::panic::{BacktraceKext, PanicClass, PanicReport};

/// PN001 (zone exhaustion), PN002 (third-party kext in the backtrace) and
/// PN003 (report from another build than `installed_build`), sorted most
/// severe first. See the module doc of [`crate::logs::panic`] for how history is treated.
pub fn findings(reports: &[PanicReport], installed_build: Option<&str>) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in reports {
        let current = match (r.build.as_deref(), installed_build) {
            (Some(a), Some(b)) => Some(a == b),
            _ => None,
        };
        let history = current == Some(false);
        let earlier = match (&r.build, history) {
            (Some(b), true) => {
                format!(" (from an earlier build, {b}, not the installed {})", installed_build.unwrap_or("-"))
            }
            _ => String::new(),
        };
        if r.panic_class == PanicClass::ZoneExhaustion {
            out.push(pn001(r, current, &earlier));
        }
        let third: Vec<&BacktraceKext> = r.third_party_in_backtrace().collect();
        if !third.is_empty() {
            let names: Vec<String> = third
                .iter()
                .map(|k| match &k.version {
                    Some(v) => format!("{} {v}", k.bundle_id),
                    None => k.bundle_id.clone(),
                })
                .collect();
            let kexts: Vec<Value> =
                third.iter().map(|k| json!({"bundle_id": k.bundle_id, "version": k.version, "uuid": k.uuid})).collect();
            let (what, it, them) = if third.len() == 1 {
                ("A third-party kext is", "it", "it")
            } else {
                ("Third-party kexts are", "they", "them")
            };
            out.push(
                Finding::new(
                    Code::PN002,
                    r.file.clone(),
                    format!(
                        "{what} in the backtrace of this panic ({}){earlier}: {}; {it} \
                         probably caused or took part in it.",
                        r.panic_class.as_str(),
                        names.join(", "),
                    ),
                )
                .with("kexts", kexts)
                .with("panic_class", r.panic_class.as_str())
                .with("build", r.build.clone())
                .with("timestamp", r.timestamp.clone())
                .with("current", current)
                .remedy(format!(
                    "Update {them} to the vendor's latest version for this macOS release, or \
                     remove {them} if no longer needed; if the panics continue, send this report \
                     to the vendor."
                )),
            );
        }
        if let (Some(b), Some(inst), true) = (&r.build, installed_build, history) {
            out.push(
                Finding::new(
                    Code::PN003,
                    r.file.clone(),
                    format!(
                        "This panic happened on build {b}; the installed build is {inst}, so it \
                         is history, not necessarily a current problem."
                    ),
                )
                .with("report_build", b.clone())
                .with("installed_build", inst)
                .with("timestamp", r.timestamp.clone())
                .remedy(
                    "Nothing to do unless panics with the same signature recur on the installed \
                     build.",
                ),
            );
        }
    }
    crate::check::finding::sort(&mut out);
    out
}

fn pn001(r: &PanicReport, current: Option<bool>, earlier: &str) -> Finding {
    let zone = r.leak_zone.as_deref().unwrap_or("an unnamed zone");
    let mut size = Vec::new();
    if let Some(n) = r.leak_elements {
        size.push(format!("{n} elements"));
    }
    if let Some(b) = r.leak_bytes {
        size.push(format!("{b} bytes"));
    }
    let size = if size.is_empty() { String::new() } else { format!(" ({})", size.join(", ")) };
    let mut message = format!(
        "The kernel zone map was exhausted{earlier}: zone {zone}{size} was most likely \
         leaking."
    );
    let known: Vec<_> = r.build.as_deref().and_then(crate::check::known_issues::zone_leak).into_iter().collect();
    let mut finding = Finding::new(Code::PN001, r.file.clone(), String::new())
        .with("leak_zone", r.leak_zone.clone())
        .with("leak_elements", r.leak_elements)
        .with("leak_bytes", r.leak_bytes)
        .with("build", r.build.clone())
        .with("timestamp", r.timestamp.clone())
        .with("current", current);
    let generic = "Find the leaking kext: look at the third-party kexts in the backtrace and \
                   the loaded-kext list, update or remove them, and watch the zone with \
                   `sudo zprint kalloc` (or `kcheck zones`); if no third-party kext is \
                   involved, report the panic to Apple (Feedback Assistant) and to the vendor.";
    let remedy = match known.first() {
        Some(k) => {
            message.push_str(&format!(
                " Build {} has a known kernel zone leak ({}): {}.",
                r.build.as_deref().unwrap_or(""),
                k.id,
                k.summary
            ));
            finding = finding.with("known_issue", k.id).with("fixed_in", k.fixed_in);
            let fix = k.fixed_in.unwrap_or("a later build");
            if current == Some(false) {
                format!(
                    "This panic is from a build with a known leak that {fix} fixes; the Mac now \
                     runs another build. If zone-map panics continue there: {generic}"
                )
            } else {
                format!(
                    "Install {fix}, which fixes this leak; until then, restart before the zone \
                     fills (long-running virtual machines make it fill faster)."
                )
            }
        }
        None => generic.to_string(),
    };
    finding.message = message;
    finding.remedy(remedy)
}
