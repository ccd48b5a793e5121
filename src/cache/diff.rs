//! Compare the kexts of two caches: added, removed, version changed, UUID
//! changed (same version, rebuilt executable). Pure: no I/O.

use std::collections::BTreeMap;

use crate::cache::{CacheInfo, Kext};

/// A kext present in both caches whose version or UUID differs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Changed {
    /// `CFBundleIdentifier`.
    pub bundle_id: String,
    /// What changed: `version`, `uuid` (or both).
    pub changes: Vec<&'static str>,
    /// Version in A.
    pub version_a: Option<String>,
    /// Version in B.
    pub version_b: Option<String>,
    /// UUID in A.
    pub uuid_a: Option<String>,
    /// UUID in B.
    pub uuid_b: Option<String>,
}

/// The difference between cache A and cache B.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Diff {
    /// In B, not in A.
    pub added: Vec<Kext>,
    /// In A, not in B.
    pub removed: Vec<Kext>,
    /// In both, version or UUID changed.
    pub changed: Vec<Changed>,
    /// Kexts identical in both.
    pub unchanged: usize,
    /// Whether the kernel version string or UUID differs.
    pub kernel_changed: bool,
}

impl Diff {
    /// True when the two caches hold the same kexts and kernel.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty() && !self.kernel_changed
    }
}

/// Compare the kexts of `a` and `b`, keyed by bundle id. Results are sorted
/// by bundle id.
pub fn diff(a: &CacheInfo, b: &CacheInfo) -> Diff {
    let index = |c: &CacheInfo| -> BTreeMap<String, Kext> {
        let mut m = BTreeMap::new();
        for k in &c.kexts {
            m.entry(k.bundle_id.clone()).or_insert_with(|| k.clone());
        }
        m
    };
    let (ma, mb) = (index(a), index(b));
    let mut out = Diff { kernel_changed: a.kernel != b.kernel, ..Diff::default() };
    for (id, ka) in &ma {
        match mb.get(id) {
            None => out.removed.push(ka.clone()),
            Some(kb) => {
                let mut changes = Vec::new();
                // Versions as Apple compares them: `1.0` and `1.00` are one.
                if !crate::kext_version::same_version(ka.version.as_deref(), kb.version.as_deref()) {
                    changes.push("version");
                }
                if ka.uuid != kb.uuid {
                    changes.push("uuid");
                }
                if changes.is_empty() {
                    out.unchanged += 1;
                } else {
                    out.changed.push(Changed {
                        bundle_id: id.clone(),
                        changes,
                        version_a: ka.version.clone(),
                        version_b: kb.version.clone(),
                        uuid_a: ka.uuid.clone(),
                        uuid_b: kb.uuid.clone(),
                    });
                }
            }
        }
    }
    out.added = mb.iter().filter(|(id, _)| !ma.contains_key(*id)).map(|(_, k)| k.clone()).collect();
    out
}
