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

/// Every finding kcheck can emit. A code's meaning never changes once
/// shipped (design.md); a retired code keeps its number. The variants are
/// named by their ids so that a grep for `KX001` finds both the docs and
/// the code that emits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// boot kernel cache missing, unreadable or corrupt
    KC001,
    /// staged kernel cache or auxiliary collection present but unreadable or corrupt
    KC002,
    /// staged cache differs from the boot cache and a working shutdown copy will install it at the next restart
    ST001,
    /// /private/var/install/shove_kernels present (deferred install scheduled)
    ST002,
    /// pending install on macOS 10.15.0 with SIP on: the shutdown copy fails
    ST003,
    /// shove_kernels present although staged and boot caches are byte-identical (normal right after a rebuild)
    ST004,
    /// staged cache differs from the boot cache but nothing will copy it
    ST005,
    /// shove_kernels is older than the current boot: the script did not run at the last shutdown, or its copy failed
    ST006,
    /// a kext that Apple puts in the boot cache is installed but in no boot cache
    KX001,
    /// the version Apple would use differs from the boot cache
    KX002,
    /// same version, but the executable on disk is a different build (UUID)
    KX003,
    /// a cached third-party kext is no longer on disk
    KX004,
    /// an installed kext bundle cannot be read
    KX005,
    /// a kext Apple does not prelink by design is not in the boot cache: kextd loads it from disk when needed
    KX006,
    /// a kext is not approved by the user (KextPolicy), so it is left out of the cache and does not load
    KX007,
    /// a kext Apple will never put in a cache: wrong architecture, exclude list, invalid, or unresolved dependency
    KX008,
    /// the same bundle id is installed more than once; Apple uses the highest version and ignores the others
    KX009,
    /// the boot cache was linked against a different kernel than /System/Library/Kernels/kernel
    KN001,
    /// the running kernel or cache differs from the boot cache
    KN002,
    /// /System/Library/Kernels/kernel exists but cannot be read: the kernel check did not run
    KN003,
    /// the installed build has a known kext-cache or kernel problem
    KB001,
    /// a third-party kext is not in the auxiliary collection
    AX001,
    /// the auxiliary collection holds a different version than disk
    AX002,
    /// the auxiliary collection was linked against another boot or system collection
    AX003,
    /// a kalloc zone holds an outsized share of memory
    ZN001,
    /// a zone's in-use count grows monotonically
    ZN002,
    /// panic report: zone map exhausted
    PN001,
    /// panic report: a third-party kext is in the backtrace
    PN002,
    /// panic report from a build other than the installed one
    PN003,
    /// a loaded kext is not in the boot kernel cache (it was loaded from disk after boot, or the cache changed since boot)
    LD001,
    /// the loaded version of a kext differs from the version installed on disk: a restart will change what runs
    LD002,
}

impl Code {
    /// Every code, in catalogue order.
    pub const ALL: &'static [Code] = &[
        Code::KC001,
        Code::KC002,
        Code::ST001,
        Code::ST002,
        Code::ST003,
        Code::ST004,
        Code::ST005,
        Code::ST006,
        Code::KX001,
        Code::KX002,
        Code::KX003,
        Code::KX004,
        Code::KX005,
        Code::KX006,
        Code::KX007,
        Code::KX008,
        Code::KX009,
        Code::KN001,
        Code::KN002,
        Code::KN003,
        Code::KB001,
        Code::AX001,
        Code::AX002,
        Code::AX003,
        Code::ZN001,
        Code::ZN002,
        Code::PN001,
        Code::PN002,
        Code::PN003,
        Code::LD001,
        Code::LD002,
    ];

    /// The stable id, e.g. `KX001`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::KC001 => "KC001",
            Code::KC002 => "KC002",
            Code::ST001 => "ST001",
            Code::ST002 => "ST002",
            Code::ST003 => "ST003",
            Code::ST004 => "ST004",
            Code::ST005 => "ST005",
            Code::ST006 => "ST006",
            Code::KX001 => "KX001",
            Code::KX002 => "KX002",
            Code::KX003 => "KX003",
            Code::KX004 => "KX004",
            Code::KX005 => "KX005",
            Code::KX006 => "KX006",
            Code::KX007 => "KX007",
            Code::KX008 => "KX008",
            Code::KX009 => "KX009",
            Code::KN001 => "KN001",
            Code::KN002 => "KN002",
            Code::KN003 => "KN003",
            Code::KB001 => "KB001",
            Code::AX001 => "AX001",
            Code::AX002 => "AX002",
            Code::AX003 => "AX003",
            Code::ZN001 => "ZN001",
            Code::ZN002 => "ZN002",
            Code::PN001 => "PN001",
            Code::PN002 => "PN002",
            Code::PN003 => "PN003",
            Code::LD001 => "LD001",
            Code::LD002 => "LD002",
        }
    }

    /// The default severity and one-line summary. The match is exhaustive,
    /// so a new code does not compile until it has both.
    pub fn info(self) -> (Severity, &'static str) {
        match self {
            Code::KC001 => (Severity::Error, "boot kernel cache missing, unreadable or corrupt"),
            Code::KC002 => {
                (Severity::Error, "staged kernel cache or auxiliary collection present but unreadable or corrupt")
            }
            Code::ST001 => (
                Severity::Info,
                "staged cache differs from the boot cache and a working shutdown copy will install it at the next restart",
            ),
            Code::ST002 => (Severity::Info, "/private/var/install/shove_kernels present (deferred install scheduled)"),
            Code::ST003 => (Severity::Error, "pending install on macOS 10.15.0 with SIP on: the shutdown copy fails"),
            Code::ST004 => (
                Severity::Info,
                "shove_kernels present although staged and boot caches are byte-identical (normal right after a rebuild)",
            ),
            Code::ST005 => (Severity::Warning, "staged cache differs from the boot cache but nothing will copy it"),
            Code::ST006 => (
                Severity::Warning,
                "shove_kernels is older than the current boot: the script did not run at the last shutdown, or its copy failed",
            ),
            Code::KX001 => {
                (Severity::Warning, "a kext that Apple puts in the boot cache is installed but in no boot cache")
            }
            Code::KX002 => (Severity::Warning, "the version Apple would use differs from the boot cache"),
            Code::KX003 => (Severity::Warning, "same version, but the executable on disk is a different build (UUID)"),
            Code::KX004 => (Severity::Warning, "a cached third-party kext is no longer on disk"),
            Code::KX005 => (Severity::Warning, "an installed kext bundle cannot be read"),
            Code::KX006 => (
                Severity::Info,
                "a kext Apple does not prelink by design is not in the boot cache: kextd loads it from disk when needed",
            ),
            Code::KX007 => (
                Severity::Warning,
                "a kext is not approved by the user (KextPolicy), so it is left out of the cache and does not load",
            ),
            Code::KX008 => (
                Severity::Warning,
                "a kext Apple will never put in a cache: wrong architecture, exclude list, invalid, or unresolved dependency",
            ),
            Code::KX009 => (
                Severity::Info,
                "the same bundle id is installed more than once; Apple uses the highest version and ignores the others",
            ),
            Code::KN001 => (
                Severity::Error,
                "the boot cache was linked against a different kernel than /System/Library/Kernels/kernel",
            ),
            Code::KN002 => (Severity::Info, "the running kernel or cache differs from the boot cache"),
            Code::KN003 => (
                Severity::Warning,
                "/System/Library/Kernels/kernel exists but cannot be read: the kernel check did not run",
            ),
            Code::KB001 => (Severity::Warning, "the installed build has a known kext-cache or kernel problem"),
            Code::AX001 => (Severity::Warning, "a third-party kext is not in the auxiliary collection"),
            Code::AX002 => (Severity::Warning, "the auxiliary collection holds a different version than disk"),
            Code::AX003 => {
                (Severity::Error, "the auxiliary collection was linked against another boot or system collection")
            }
            Code::ZN001 => (Severity::Warning, "a kalloc zone holds an outsized share of memory"),
            Code::ZN002 => (Severity::Warning, "a zone's in-use count grows monotonically"),
            Code::PN001 => (Severity::Error, "panic report: zone map exhausted"),
            Code::PN002 => (Severity::Warning, "panic report: a third-party kext is in the backtrace"),
            Code::PN003 => (Severity::Info, "panic report from a build other than the installed one"),
            Code::LD001 => (
                Severity::Warning,
                "a loaded kext is not in the boot kernel cache (it was loaded from disk after boot, or the cache changed since boot)",
            ),
            Code::LD002 => (
                Severity::Warning,
                "the loaded version of a kext differs from the version installed on disk: a restart will change what runs",
            ),
        }
    }

    /// The default severity.
    pub fn severity(self) -> Severity {
        self.info().0
    }

    /// The code with id `id`, if there is one.
    pub fn from_id(id: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == id)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Lets tests and scripts compare a code with its id: `f.code == "KX001"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code, e.g. `ST003`.
    pub code: Code,
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
    pub fn new(code: Code, subject: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            code,
            severity: code.severity(),
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
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.code.as_str().cmp(b.code.as_str()))
            .then_with(|| a.subject.cmp(&b.subject))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_by_id_display_and_compare_with_their_id() {
        for c in Code::ALL.iter().copied() {
            assert_eq!(Code::from_id(c.as_str()), Some(c));
            assert_eq!(c.to_string(), c.as_str());
            assert!(c == c.as_str());
        }
        assert_eq!(Code::from_id("KX000"), None);
        assert_eq!(Code::from_id(""), None);
        assert_eq!(format!("[{:<7}]", Code::KX001), "[KX001  ]");
        assert!(Code::KX001 != "KX002");
        assert!(Code::KX001 != "kx001");
    }
}
