//! Rules over the kexts loaded now: LD001 (loaded but in no boot cache),
//! LD002 (loaded version other than the one installed).

use crate::check::finding::Code;
use std::collections::HashMap;

use serde_json::Value;

use crate::cache::{CacheInfo, Kext};
use crate::check::finding::Finding;
use crate::facts::Facts;
use crate::facts::Role;
use crate::logs::kextstat::LoadedKext;
use crate::system::bundle::{InstalledKext, Inventory};

const LD001_REMEDY: &str = "It is loaded now but will not be at next boot unless it is in the cache: rebuild the cache (`sudo kextcache -i /` on 10.15 and earlier, `sudo kmutil install --update-all` on 11 and later).";
const LD002_REMEDY: &str =
    "Restart to load the installed version (after the cache has been rebuilt; see `kcheck verify`).";

/// Compare the running kexts with the boot cache (`LD001`) and with the
/// kexts installed on disk (`LD002`). Either side may be absent; then its
/// check is not run. Findings come out sorted.
pub fn findings(loaded: &[LoadedKext], boot: Option<&CacheInfo>, installed: Option<&Inventory>) -> Vec<Finding> {
    let cached: Option<HashMap<&str, &Kext>> = boot.map(|b| {
        let mut m = HashMap::new();
        for k in &b.kexts {
            m.entry(k.bundle_id.as_str()).or_insert(k);
        }
        m
    });
    let mut on_disk: HashMap<&str, Vec<&InstalledKext>> = HashMap::new();
    for k in installed.map_or(&[][..], |i| i.kexts.as_slice()) {
        on_disk.entry(k.bundle_id.as_str()).or_default().push(k);
    }
    let cache_arch = boot.map_or("x86_64", |b| b.arch.as_str());
    let mut out = Vec::new();
    for k in loaded {
        let disk = on_disk.get(k.bundle_id.as_str()).map(Vec::as_slice);
        let in_cache = cached.as_ref().map(|c| c.get(k.bundle_id.as_str()));
        if let Some(None) = in_cache
            && !k.is_kernel_component()
        {
            out.push(ld001(k, boot, disk.and_then(|d| d.first().copied())));
        }
        if let Some(disk) = disk {
            let arch = k.arch.as_deref().unwrap_or(cache_arch);
            let cache_version = in_cache.flatten().and_then(|c| c.version.clone());
            if let Some(f) = ld002(k, disk, arch, cache_version) {
                out.push(f);
            }
        }
    }
    crate::check::finding::sort(&mut out);
    out
}

fn ld001(k: &LoadedKext, boot: Option<&CacheInfo>, disk: Option<&InstalledKext>) -> Finding {
    Finding::new(Code::LD001,
        k.bundle_id.clone(),
        format!(
            "{} {} is loaded but is not in the boot kernel cache: it was loaded from disk after boot, or the cache changed since boot.",
            k.bundle_id, k.version
        ),
    )
    .with("bundle_id", k.bundle_id.clone())
    .with("loaded_version", k.version.clone())
    .with("loaded_uuid", k.uuid.clone())
    .with("cache_version", Value::Null)
    .with("cache_file", boot.map(|b| b.file.display().to_string()))
    .with("disk_version", disk.and_then(|d| d.version.clone()))
    .with("disk_path", disk.map(|d| d.path.clone()))
    .remedy(LD001_REMEDY)
}

/// `LD002` when no installed copy of the kext has the loaded version (and,
/// where both are known, the loaded UUID).
fn ld002(k: &LoadedKext, disk: &[&InstalledKext], arch: &str, cache_version: Option<String>) -> Option<Finding> {
    // Kernel components report the kernel's UUID, not their stub's.
    let compare_uuid = !k.is_kernel_component();
    let uuid_differs = |d: &InstalledKext| match (k.uuid.as_deref(), d.uuid_for(arch)) {
        (Some(l), Some(u)) => compare_uuid && !l.eq_ignore_ascii_case(u),
        _ => false,
    };
    let same_version =
        |d: &&&InstalledKext| crate::kext_version::same_version(d.version.as_deref(), Some(k.version.as_str()));
    if disk.iter().any(|d| same_version(&d) && !uuid_differs(d)) {
        return None;
    }
    let (d, message) = match disk.iter().find(same_version) {
        Some(d) => (
            *d,
            format!(
                "{} {} is loaded, and the same version is installed at {}, but the build differs (executable UUID {} loaded, {} on disk): a restart will change what runs.",
                k.bundle_id,
                k.version,
                d.path,
                k.uuid.as_deref().unwrap_or("-"),
                d.uuid_for(arch).unwrap_or("-")
            ),
        ),
        None => {
            let d = *disk.first()?;
            (
                d,
                format!(
                    "{} {} is loaded but {} is installed at {}: a restart will change what runs.",
                    k.bundle_id,
                    k.version,
                    d.version.as_deref().unwrap_or("an unversioned copy"),
                    d.path
                ),
            )
        }
    };
    Some(
        Finding::new(Code::LD002, k.bundle_id.clone(), message)
            .with("bundle_id", k.bundle_id.clone())
            .with("loaded_version", k.version.clone())
            .with("loaded_uuid", k.uuid.clone())
            .with("cache_version", cache_version)
            .with("disk_version", d.version.clone())
            .with("disk_uuid", d.uuid_for(arch).map(str::to_string))
            .with("disk_path", d.path.clone())
            .remedy(LD002_REMEDY),
    )
}

/// [`findings()`] against a gathered system: the boot cache, merged on 11+
/// with the system and auxiliary collections (a listing does not say which
/// collection a kext came from, so being in any of them counts), and the
/// installed kexts. The staged cache of 10.15 does not count: it is not
/// what booted.
pub fn compare_with_system(loaded: &[LoadedKext], facts: &Facts) -> Vec<Finding> {
    let boot = facts.cache(Role::Boot).and_then(|s| s.state.info());
    let merged = boot.map(|b| {
        let mut all = b.clone();
        for role in [Role::System, Role::Auxiliary] {
            if let Some(c) = facts.cache(role).and_then(|s| s.state.info()) {
                all.kexts.extend(c.kexts.iter().cloned());
            }
        }
        all
    });
    findings(loaded, merged.as_ref(), Some(&facts.installed))
}
