//! The live checks: ST006 (the deferred-install script older than the
//! boot), KN002 (the running kernel or cache differs from the boot cache),
//! and the loaded-kext, zone and panic rules over live evidence.

use crate::check::finding::Code;
use crate::facts::Role;
use crate::facts::live::LiveFacts;

/// The live checks: ST006, KN002, and the loaded-kext, zone and panic
/// findings of the other readers.
pub fn check(facts: &crate::facts::Facts, live: &LiveFacts) -> Vec<crate::check::finding::Finding> {
    use crate::check::finding::Finding;
    let mut out = Vec::new();
    let boot = facts.cache(Role::Boot).and_then(|s| s.state.info());
    if let (Some(shove), Some(boot_t)) = (live.shove_mtime, live.boottime)
        && facts.shove_kernels
        && shove < boot_t
    {
        // The premise of ST006 holds both ways only loosely: a panic, a
        // power loss or a forced shutdown also skip the script, and kcditto
        // can delete it without copying (kext_tools `rosp_staging.m`
        // `copyKernelWithCopier` returns EX_OK on an unreadable or empty
        // staging folder). So: a warning with "restart normally, then
        // check again" — except on 10.15.0 with SIP on, where the copy is
        // known to fail (an error, with the Recovery remedy).
        let version = facts.system.version;
        let known_bad =
            crate::check::known_issues::shove_copy_fails(version, &facts.system.build) && facts.sip.assumed_on();
        let volume = if facts.system.root == std::path::Path::new("/") {
            "/Volumes/<system volume>".to_string()
        } else {
            facts.system.root.display().to_string()
        };
        let finding = Finding::new(
            Code::ST006,
            crate::system::SHOVE_KERNELS,
            "The deferred-install script is older than the current boot: at the last shutdown the script did not run or its copy failed (a panic, a power loss or a forced shutdown also skips it), so the Mac booted the old cache.",
        )
        .with("shove_kernels_mtime", shove)
        .with("boot_time", boot_t);
        out.push(if known_bad {
            finding.severity(crate::check::finding::Severity::Error).remedy(format!(
                "On macOS 10.15.0 with SIP on the shutdown copy fails. Update to macOS 10.15.1 (19B88) or later; or boot to Recovery and run `kextcache -i \"{volume}\"`, which copies the new cache at once, then restart."
            ))
        } else {
            finding.remedy("Restart normally (not a forced power-off), then run kcheck again; if the script is still older than the boot, the copy is failing: rebuild with `sudo kextcache -i /` and restart.")
        });
    }
    if let Some(b) = boot {
        if let (Some(running), Some(cached)) = (&live.kern_version, &b.kernel.version)
            && running != cached
        {
            out.push(
                Finding::new(Code::KN002, "kern.version", "The running kernel is not the one in the boot cache: the next boot will run a different kernel.")
                    .with("running_kernel_version", running.clone())
                    .with("boot_cache_kernel_version", cached.clone())
                    .remedy("Nothing is wrong by itself (an update is waiting for a restart); restart when convenient and run kcheck again."),
            );
        }
        if let (Some(running), Some(cached)) = (&live.kernelcache_uuid, &b.kc_id)
            && running != cached
        {
            out.push(
                Finding::new(Code::KN002, "kern.kernelcacheuuid", "The running kernel cache is not the boot cache on disk: the next boot will use a different set of kexts.")
                    .with("running_kernelcache_uuid", running.clone())
                    .with("boot_cache_kc_id", cached.clone())
                    .remedy("Expected after installing or updating kexts; restart to boot the new cache, then run kcheck again."),
            );
        }
    }
    if let (Some(running), Some(aux)) =
        (&live.aux_uuid, facts.cache(Role::Auxiliary).and_then(|s| s.state.info()).and_then(|a| a.kc_id.as_ref()))
        && running != aux
    {
        out.push(
            Finding::new(Code::KN002, "kern.auxiliaryfilesetuuid", "The running auxiliary kernel collection is not the one on disk: a rebuilt collection waits for a restart.")
                .with("running_aux_uuid", running.clone())
                .with("aux_kc_id", aux.clone())
                .remedy("Restart to load the rebuilt auxiliary collection."),
        );
    }
    if !live.loaded.is_empty() {
        out.extend(crate::check::loaded::compare_with_system(&live.loaded, facts));
    }
    if let Some(z) = &live.zones {
        out.extend(crate::check::zones::sample_findings(
            z,
            &crate::check::zones::Thresholds::default(),
            Some(&facts.system.build),
        ));
    }
    out.extend(crate::check::panics::findings(&live.panics, Some(&facts.system.build)));
    out
}

/// Apple silicon with `--live`: the third-party kexts installed (Apple's
/// winner per bundle id, outside `/System`) against the auxiliary
/// collection `kmutil inspect` listed: AX001 (not in it), AX002 (another
/// version). The caller drops AX001/AX002 for kexts that already have a
/// more specific cause (KX007, KX008).
pub fn apple_silicon_aux(facts: &crate::facts::Facts, live: &LiveFacts) -> Vec<crate::check::finding::Finding> {
    use crate::check::finding::Finding;
    use crate::kext_version::{KextVersion, same_version};
    let Some(aux) = &live.aux_kexts else { return Vec::new() };
    let mut winners: std::collections::BTreeMap<&str, &crate::system::bundle::InstalledKext> = Default::default();
    // Apple's own kexts in /Library/Apple are left out: whether
    // kernelmanagerd puts them in the auxiliary collection is not public.
    for k in facts
        .installed
        .kexts
        .iter()
        .filter(|k| !k.path.starts_with("/System/") && !k.bundle_id.starts_with("com.apple."))
    {
        let v = k.version.as_deref().and_then(KextVersion::parse);
        let better = match winners.get(k.bundle_id.as_str()) {
            None => true,
            Some(w) => v > w.version.as_deref().and_then(KextVersion::parse),
        };
        if better {
            winners.insert(k.bundle_id.as_str(), k);
        }
    }
    let mut out = Vec::new();
    for (id, k) in winners {
        match aux.iter().find(|(a, _)| a == id) {
            None => out.push(
                Finding::new(Code::AX001, id, format!("{id} {} is installed at {} but is not in the auxiliary kernel collection the running Mac reports (kmutil inspect): it does not load.", k.version.as_deref().unwrap_or(""), k.path))
                    .with("path", k.path.clone())
                    .with("disk_version", k.version.clone())
                    .with("source", "kmutil inspect")
                    .remedy("On Apple silicon: if kexts are not yet allowed, shut down, hold the power button to start recoveryOS, open Startup Security Utility and choose Reduced Security with \"Allow user management of kernel extensions from identified developers\"; approve the kext in System Settings > Privacy & Security; then restart so the rebuilt auxiliary collection loads."),
            ),
            Some((_, v)) if !same_version(k.version.as_deref(), v.as_deref()) => out.push(
                Finding::new(Code::AX002, id, format!("{id} is {} on disk but {} in the auxiliary kernel collection the running Mac reports (kmutil inspect).", k.version.as_deref().unwrap_or("unversioned"), v.as_deref().unwrap_or("unversioned")))
                    .with("path", k.path.clone())
                    .with("disk_version", k.version.clone())
                    .with("aux_version", v.clone())
                    .with("source", "kmutil inspect")
                    .remedy("Restart so kernelmanagerd's rebuilt auxiliary collection loads; if the version stays old, approve the new version in System Settings > Privacy & Security and restart."),
            ),
            Some(_) => {}
        }
    }
    out
}
