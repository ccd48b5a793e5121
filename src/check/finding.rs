//! Findings: stable codes, severities, subjects, evidence and remedies, and
//! the verdict they add up to. The meaning of a code never changes once
//! shipped (design.md); the catalogue below is the one place codes live.

use serde::Serialize;
use serde_json::{Map, Value};

/// How much a finding matters. Ordered so that `Error > Warning > Info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to do.
    Info,
    /// Something is off; the Mac still boots as expected in the main.
    Warning,
    /// The next boot is likely not what the user expects.
    Error,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// The overall answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// No warning or error.
    Healthy,
    /// Warnings only.
    Attention,
    /// At least one error.
    Broken,
}

impl Verdict {
    /// The verdict of a set of findings.
    pub fn of(findings: &[Finding]) -> Verdict {
        match findings.iter().map(|f| f.severity).max() {
            Some(Severity::Error) => Verdict::Broken,
            Some(Severity::Warning) => Verdict::Attention,
            _ => Verdict::Healthy,
        }
    }

    /// Exit status: 0 healthy, 1 attention, 2 broken.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Healthy => 0,
            Verdict::Attention => 1,
            Verdict::Broken => 2,
        }
    }

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Healthy => "healthy",
            Verdict::Attention => "attention",
            Verdict::Broken => "broken",
        }
    }
}

/// Every code kcheck can emit, with its default severity and summary.
pub const CATALOGUE: &[(&str, Severity, &str)] = &[
    ("KC001", Severity::Error, "boot kernel cache missing, unreadable or corrupt"),
    ("KC002", Severity::Error, "staged kernel cache or auxiliary collection present but unreadable or corrupt"),
    ("ST001", Severity::Warning, "staged cache differs from the boot cache: an install is pending at next shutdown"),
    ("ST002", Severity::Info, "/private/var/install/shove_kernels present (deferred install scheduled)"),
    ("ST003", Severity::Error, "pending install on a build whose shutdown copy fails with SIP on"),
    ("ST004", Severity::Warning, "shove_kernels left behind although staged and boot caches are identical"),
    ("ST005", Severity::Warning, "staged cache differs from the boot cache but nothing will copy it"),
    ("ST006", Severity::Error, "shove_kernels is older than the current boot: the last shutdown copy failed"),
    ("KX001", Severity::Warning, "kext installed on disk is in no boot cache"),
    ("KX002", Severity::Warning, "kext version on disk differs from the boot cache"),
    ("KX003", Severity::Warning, "same version, but the executable on disk is a different build (UUID)"),
    ("KX004", Severity::Warning, "a cached kext from /Library/Extensions is no longer on disk"),
    ("KX005", Severity::Warning, "an installed kext bundle cannot be read"),
    (
        "KN001",
        Severity::Error,
        "the boot cache was linked against a different kernel than /System/Library/Kernels/kernel",
    ),
    ("KN002", Severity::Info, "the running kernel or cache differs from the boot cache"),
    ("KB001", Severity::Warning, "the installed build has a known kext-cache or kernel problem"),
    ("AX001", Severity::Warning, "kext in /Library/Extensions is not in the auxiliary collection"),
    ("AX002", Severity::Warning, "the auxiliary collection holds a different version than disk"),
    ("AX003", Severity::Error, "the auxiliary collection was linked against another boot collection"),
    ("ZN001", Severity::Warning, "a kalloc zone holds an outsized share of memory"),
    ("ZN002", Severity::Warning, "a zone's in-use count grows monotonically"),
    ("PN001", Severity::Error, "panic report: zone map exhausted"),
    ("PN002", Severity::Warning, "panic report: a third-party kext is in the backtrace"),
    ("PN003", Severity::Info, "panic report from a build other than the installed one"),
    (
        "LD001",
        Severity::Warning,
        "a loaded kext is not in the boot kernel cache (it was loaded from disk after boot, or the cache changed since boot)",
    ),
    (
        "LD002",
        Severity::Warning,
        "the loaded version of a kext differs from the version installed on disk: a restart will change what runs",
    ),
];

/// The default severity of `code`.
pub fn default_severity(code: &str) -> Severity {
    CATALOGUE.iter().find(|(c, _, _)| *c == code).map_or(Severity::Warning, |(_, s, _)| *s)
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `ST003`.
    pub code: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What it is about: a path or a bundle id.
    pub subject: String,
    /// One or two sentences for people.
    pub message: String,
    /// Facts behind it (versions, UUIDs, paths, hashes).
    pub evidence: Map<String, Value>,
    /// What to do, for this era and build.
    pub remedy: String,
}

impl Finding {
    /// A finding with `code`'s default severity.
    pub fn new(code: &'static str, subject: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: default_severity(code),
            subject: subject.into(),
            message: message.into(),
            evidence: Map::new(),
            remedy: String::new(),
        }
    }

    /// Override the severity.
    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    /// Add one piece of evidence (`null` for `None`).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.evidence.insert(key.to_string(), value.into());
        self
    }

    /// Set the remedy.
    pub fn remedy(mut self, r: impl Into<String>) -> Self {
        self.remedy = r.into();
        self
    }
}

/// Sort findings: most severe first, then by code, then by subject.
pub fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.code.cmp(b.code)).then_with(|| a.subject.cmp(&b.subject))
    });
}
