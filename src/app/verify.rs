//! `kcheck verify`: gather the facts, run the rules, add the live evidence.

use crate::check::finding::{self, Verdict};
use crate::check::{self, VerifyReport};
use crate::error::Error;
use crate::facts::{self, VerifyOptions};
use crate::system::Sip;

/// Run `verify`.
pub fn verify(opts: &VerifyOptions) -> Result<VerifyReport, Error> {
    verify_with(opts, None)
}

/// Run `verify`, with live probes when `probe` is given (`--live`).
pub fn verify_with(opts: &VerifyOptions, probe: Option<&dyn crate::facts::live::Probe>) -> Result<VerifyReport, Error> {
    let mut facts = facts::gather(opts)?;
    let live = probe.map(|p| crate::facts::live::gather(p, &facts));
    if let Some(l) = &live
        && opts.sip == Sip::Unknown
        && let Some(detected) = l.sip
    {
        facts.sip = detected;
    }
    let mut findings = check::verify::check(&facts);
    if let Some(l) = &live {
        findings.extend(crate::check::live::check(&facts, l));
    }
    finding::sort(&mut findings);
    let verdict = Verdict::of(&findings);
    Ok(VerifyReport { facts, findings, verdict, live })
}
