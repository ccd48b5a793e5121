//! Live probes of the running Mac for `verify --live`: the running kernel
//! and kernel cache (`sysctl`), the boot time, SIP (`csrutil status`), the
//! loaded kexts (`kextstat` / `kmutil showloaded`), a zone sample
//! (`zprint`, as root) and the newest panic reports.
//!
//! Every probe is a subprocess behind the small [`Probe`] trait, and its
//! output goes through the same parsers the tests feed recorded outputs
//! to: [`SystemProbe`] runs the real commands (macOS only),
//! [`RecordedProbe`] replays a directory of recorded outputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A source of live facts.
pub trait Probe {
    /// `sysctl -n NAME`.
    fn sysctl(&self, name: &str) -> Result<String, String>;
    /// Run a tool and return its standard output (`csrutil status`,
    /// `kextstat`, `kmutil showloaded`, `zprint`).
    fn run(&self, program: &str, args: &[&str]) -> Result<String, String>;
    /// Whether kcheck runs as root (zprint needs it).
    fn is_root(&self) -> bool;
}

/// The running Mac.
pub struct SystemProbe;

impl Probe for SystemProbe {
    fn sysctl(&self, name: &str) -> Result<String, String> {
        self.run("/usr/sbin/sysctl", &["-n", name]).map(|s| s.trim_end().to_string())
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new(program)
            .args(args)
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| format!("cannot run {program}: {e}"))?;
        if !out.status.success() && out.stdout.is_empty() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{program} {} failed: {}", args.join(" "), err.trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn is_root(&self) -> bool {
        nix::unistd::geteuid().is_root()
    }
}

/// Recorded outputs, for tests and for replaying a Mac's state elsewhere.
/// A directory with `sysctl/<name>` files (e.g. `sysctl/kern.version`),
/// and `<program basename> <args joined by spaces>.txt` files for tools
/// (e.g. `csrutil status.txt`, `kmutil showloaded.txt`, `zprint.txt`,
/// `kextstat.txt`); a file `root` makes [`Probe::is_root`] true.
pub struct RecordedProbe {
    dir: PathBuf,
    cache: HashMap<String, Result<String, String>>,
}

impl RecordedProbe {
    /// Replay `dir`.
    pub fn new(dir: &Path) -> RecordedProbe {
        RecordedProbe { dir: dir.to_path_buf(), cache: HashMap::new() }
    }

    fn read(&self, rel: &str) -> Result<String, String> {
        if let Some(v) = self.cache.get(rel) {
            return v.clone();
        }
        std::fs::read_to_string(self.dir.join(rel)).map_err(|e| format!("no recorded {rel}: {e}"))
    }
}

impl Probe for RecordedProbe {
    fn sysctl(&self, name: &str) -> Result<String, String> {
        self.read(&format!("sysctl/{name}")).map(|s| s.trim_end().to_string())
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let base = program.rsplit('/').next().unwrap_or(program);
        let mut name = base.to_string();
        for a in args {
            name.push(' ');
            name.push_str(a);
        }
        self.read(&format!("{name}.txt"))
    }

    fn is_root(&self) -> bool {
        self.dir.join("root").exists()
    }
}

/// `sysctl kern.boottime` → seconds since the epoch.
/// The value looks like `{ sec = 1599730912, usec = 427463 } Thu Sep 10 …`.
pub fn parse_boottime(s: &str) -> Option<i64> {
    let at = s.find("sec =")?;
    let rest = s[at + 5..].trim_start();
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `csrutil status` → the SIP state. "enabled", "disabled"; a custom
/// configuration ("unknown (Custom Configuration)" or "enabled (Custom
/// Configuration)" with some protections off) counts as what it says
/// first, unknown as unknown.
pub fn parse_csrutil(s: &str) -> Option<crate::system::Sip> {
    let line = s.lines().find(|l| l.contains("System Integrity Protection status:"))?;
    let value = line.split(':').nth(1)?.trim().to_ascii_lowercase();
    if value.starts_with("enabled") {
        Some(crate::system::Sip::Enabled)
    } else if value.starts_with("disabled") {
        Some(crate::system::Sip::Disabled)
    } else {
        Some(crate::system::Sip::Unknown)
    }
}

/// What the live probes found.
#[derive(Debug, Default)]
pub struct LiveFacts {
    /// `kern.version`.
    pub kern_version: Option<String>,
    /// `kern.kernelcacheuuid` (the booted boot cache's `_PrelinkKCID`).
    pub kernelcache_uuid: Option<String>,
    /// `kern.auxiliaryfilesetuuid` (11+).
    pub aux_uuid: Option<String>,
    /// `hw.optional.arm64` (present only in arm64 kernels: an Apple-silicon
    /// Mac, even under Rosetta).
    pub arm64: Option<bool>,
    /// Apple silicon: the auxiliary collection's kexts as `kmutil inspect
    /// --show-kext-uuids` lists them (bundle id, version), when its output
    /// has an auxiliary-collection section with kexts. The collection's
    /// file is not documented, so this is the only way to read it.
    pub aux_kexts: Option<Vec<(String, Option<String>)>>,
    /// `kern.boottime`, seconds since the epoch.
    pub boottime: Option<i64>,
    /// `csrutil status`.
    pub sip: Option<crate::system::Sip>,
    /// Modification time of `shove_kernels`, seconds since the epoch.
    pub shove_mtime: Option<i64>,
    /// Loaded kexts.
    pub loaded: Vec<crate::logs::kextstat::LoadedKext>,
    /// The zone table, when run as root.
    pub zones: Option<crate::logs::zprint::ZoneTable>,
    /// The newest panic reports.
    pub panics: Vec<crate::logs::panic::PanicReport>,
    /// Probes that could not run, with why.
    pub unavailable: Vec<String>,
}

/// How many of the newest panic reports `--live` reads.
pub const LIVE_PANIC_REPORTS: usize = 5;

/// Run every probe. Failures are recorded, never fatal.
pub fn gather(probe: &dyn Probe, facts: &crate::facts::Facts) -> LiveFacts {
    use crate::system::{SHOVE_KERNELS, Vol};
    let mut live = LiveFacts::default();
    let mut unavailable = Vec::new();
    let mut get = |name: &str| match probe.sysctl(name) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        Ok(_) => None,
        Err(e) => {
            unavailable.push(live_note(name, e));
            None
        }
    };
    live.kern_version = get("kern.version");
    live.kernelcache_uuid = get("kern.kernelcacheuuid").map(|u| u.to_ascii_uppercase());
    live.boottime = get("kern.boottime").as_deref().and_then(parse_boottime);
    if facts.system.era == crate::system::Era::KernelCollections {
        live.aux_uuid = get("kern.auxiliaryfilesetuuid").map(|u| u.to_ascii_uppercase());
        live.arm64 = match probe.sysctl("hw.optional.arm64") {
            Ok(v) => Some(v.trim() == "1"),
            // Intel kernels have no such sysctl.
            Err(_) => Some(false),
        };
    }
    match probe.run("/usr/bin/csrutil", &["status"]) {
        Ok(s) => live.sip = parse_csrutil(&s),
        Err(e) => unavailable.push(live_note("csrutil status", e)),
    }
    if let Ok(p) = facts.system.resolve(Vol::Data, SHOVE_KERNELS)
        && let Ok(m) = std::fs::metadata(&p)
        && let Ok(t) = m.modified()
    {
        live.shove_mtime = t.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64);
    }
    if facts.system.platform == crate::system::Platform::AppleSilicon {
        match probe.run("/usr/bin/kmutil", &["inspect", "--show-kext-uuids"]) {
            Ok(text) => {
                let parsed = crate::logs::kmutil::parse_inspect(&text);
                let aux: Vec<(String, Option<String>)> = parsed
                    .collections
                    .iter()
                    .filter(|c| c.kind == crate::logs::kmutil::CollectionKind::Auxiliary)
                    .flat_map(|c| c.kexts.iter().map(|k| (k.bundle_id.clone(), k.version.clone())))
                    .collect();
                if aux.is_empty() {
                    unavailable.push("kmutil inspect: no auxiliary collection section with kexts in its output".into());
                } else {
                    live.aux_kexts = Some(aux);
                }
            }
            Err(e) => unavailable.push(live_note("kmutil inspect", e)),
        }
    }
    let listing = if facts.system.era == crate::system::Era::KernelCollections {
        probe.run("/usr/bin/kmutil", &["showloaded"])
    } else {
        probe.run("/usr/sbin/kextstat", &[])
    };
    match listing.map(|s| crate::logs::kextstat::parse(&s)) {
        Ok(Ok(rows)) => live.loaded = rows,
        Ok(Err(e)) => unavailable.push(live_note("loaded kexts", e.to_string())),
        Err(e) => unavailable.push(live_note("loaded kexts", e)),
    }
    if probe.is_root() {
        match probe.run("/usr/bin/zprint", &[]).map(|s| crate::logs::zprint::parse(&s)) {
            Ok(Ok(t)) => live.zones = Some(t),
            Ok(Err(e)) => unavailable.push(live_note("zprint", e.to_string())),
            Err(e) => unavailable.push(live_note("zprint", e)),
        }
    } else {
        unavailable.push("zprint: needs root (run with sudo for a zone sample)".into());
    }
    let reports = facts.system.join(Vol::Data, "/Library/Logs/DiagnosticReports");
    for path in crate::logs::panic::find_reports(&reports, LIVE_PANIC_REPORTS) {
        match std::fs::read(&path) {
            Ok(bytes) => match crate::logs::panic::parse(&String::from_utf8_lossy(&bytes), &path.display().to_string())
            {
                Ok(r) => live.panics.push(r),
                Err(e) => unavailable.push(format!("{}: {e}", path.display())),
            },
            Err(e) => unavailable.push(format!("{}: {e}", path.display())),
        }
    }
    live.unavailable = unavailable;
    live
}

fn live_note(what: &str, e: String) -> String {
    format!("{what}: {}", e.lines().next().unwrap_or("").trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::Sip;

    #[test]
    fn boottime() {
        assert_eq!(parse_boottime("{ sec = 1599730912, usec = 427463 } Thu Sep 10 11:41:52 2020"), Some(1599730912));
        assert_eq!(parse_boottime("garbage"), None);
    }

    #[test]
    fn csrutil() {
        assert_eq!(parse_csrutil("System Integrity Protection status: enabled.\n"), Some(Sip::Enabled));
        assert_eq!(parse_csrutil("System Integrity Protection status: disabled.\n"), Some(Sip::Disabled));
        assert_eq!(
            parse_csrutil("System Integrity Protection status: unknown (Custom Configuration).\n"),
            Some(Sip::Unknown)
        );
        assert_eq!(parse_csrutil("csrutil: command not found"), None);
    }
}
