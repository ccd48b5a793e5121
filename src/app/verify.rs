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
    // Live on macOS 13+, the kernel names the boot objects it booted from
    // (xnu `kern.bootobjectspath`: `<UUID>/boot/<hash>` below Preboot).
    // On 11-12 `kern.apfsprebootuuid` names the volume group's folder.
    let mut opts = opts.clone();
    if let Some(p) = probe
        && opts.preboot.is_none()
        && opts.root == std::path::Path::new("/")
    {
        let safe = |v: String| {
            let v = v.trim().trim_start_matches('/').to_string();
            (!v.is_empty() && !v.contains("..") && !v.contains('\0')).then_some(v)
        };
        let objects = p.sysctl("kern.bootobjectspath").ok().and_then(safe);
        let group = p.sysctl("kern.apfsprebootuuid").ok().and_then(safe);
        if let Some(rel) = objects.or(group) {
            opts.preboot = Some(std::path::Path::new(crate::system::PREBOOT).join(rel));
        }
    }
    let opts = &opts;
    let mut facts = facts::gather(opts)?;
    let live = probe.map(|p| crate::facts::live::gather(p, &facts));
    if let Some(l) = &live
        && opts.sip == Sip::Unknown
        && let Some(detected) = l.sip
    {
        facts.sip = detected;
    }
    let check::verify::Outcome { mut findings, mut not_checked } = check::verify::check(&facts);
    if let Some(l) = &live {
        findings.extend(crate::check::live::check(&facts, l));
        if l.aux_kexts.is_some() {
            // Apple silicon: the running Mac listed its auxiliary collection,
            // so AX001/AX002 are checked after all (not for kexts that
            // already have a more specific cause); AX003 still is not.
            let specific: std::collections::HashSet<String> =
                findings.iter().filter(|f| f.code == "KX007" || f.code == "KX008").map(|f| f.subject.clone()).collect();
            let aux = crate::check::live::apple_silicon_aux(&facts, l);
            findings.extend(aux.into_iter().filter(|f| !specific.contains(&f.subject)));
            for n in not_checked.iter_mut().filter(|n| n.check == "AX001, AX002, AX003") {
                n.check = "AX003".into();
                n.reason = "on Apple silicon the auxiliary collection's links (_BootKCID) cannot be read from kmutil inspect's listing".into();
            }
        }
    }
    finding::sort(&mut findings);
    let verdict = Verdict::of(&findings);
    Ok(VerifyReport { facts, findings, not_checked, verdict, live })
}

/// Where the live facts of `verify --live` come from.
pub enum LiveSource {
    /// No live probes.
    None,
    /// The running Mac (macOS only).
    System,
    /// Recorded probe outputs in a folder.
    Recorded(std::path::PathBuf),
}

/// Options of the `verify` command beyond the facts: output and fleet.
pub struct VerifyCommand {
    /// What to gather.
    pub options: VerifyOptions,
    /// Live probes.
    pub live: LiveSource,
    /// Also write the report into this SQLite database.
    pub sqlite: Option<std::path::PathBuf>,
    /// The host name of the SQLite rows (default: this machine's).
    pub host: Option<String>,
    /// Output format.
    pub format: crate::report::VerifyFormat,
    /// Print only the verdict line (text output).
    pub quiet: bool,
}

/// `kcheck verify`: the report, rendered; the exit status is the verdict's.
pub fn run(cmd: &VerifyCommand, style: crate::report::Style, out: &mut dyn std::io::Write) -> Result<u8, Error> {
    use crate::facts::live::{RecordedProbe, SystemProbe};
    let report = match &cmd.live {
        LiveSource::None => verify(&cmd.options)?,
        LiveSource::Recorded(dir) => verify_with(&cmd.options, Some(&RecordedProbe::new(dir)))?,
        LiveSource::System if cfg!(target_os = "macos") => verify_with(&cmd.options, Some(&SystemProbe))?,
        LiveSource::System => return Err(crate::app::verify_live_only()),
    };
    #[cfg(feature = "sqlite")]
    if let Some(db) = &cmd.sqlite {
        use crate::report::sqlite;
        let host = cmd.host.clone().unwrap_or_else(sqlite::hostname);
        sqlite::write_sqlite(db, &host, &report, sqlite::now())?;
    }
    #[cfg(not(feature = "sqlite"))]
    if cmd.sqlite.is_some() {
        return Err(Error::Unsupported("this kcheck was built without SQLite support (feature `sqlite`)".into()));
    }
    if cmd.quiet {
        writeln!(out, "{}", crate::report::verdict_line(report.verdict, &report.findings, report.not_checked.len()))
            .map_err(Error::Output)?;
    } else {
        crate::report::verify(out, style, &report, cmd.format).map_err(Error::Output)?;
    }
    Ok(report.verdict.exit_code())
}
