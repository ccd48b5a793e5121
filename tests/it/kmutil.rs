//! `kmutil inspect` output: the parser against synthetic samples in
//! testdata/logs/kmutil, written to the shapes documented in the module doc
//! of `kcheck::logs::kmutil` (no complete real capture is public).

use kcheck::logs::kmutil::{CollectionKind, KERNEL_BUNDLE_ID, parse_inspect, parse_inspect_for};

const AUX: &str = include_str!("../../testdata/logs/kmutil/aux-show-kext-uuids.txt");
const NO_HEADER: &str = include_str!("../../testdata/logs/kmutil/release-no-header.txt");
const KERNEL_ONLY: &str = include_str!("../../testdata/logs/kmutil/kernel-uuid-only.txt");
const INTEL: &str = include_str!("../../testdata/logs/kmutil/intel-three-collections.txt");

#[test]
fn synthetic_aux_with_uuids_and_codeless_kext() {
    let r = parse_inspect(AUX);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let c = r.collection(CollectionKind::Auxiliary).unwrap();
    assert_eq!(c.label.as_deref(), Some("auxiliary"));
    assert_eq!(c.uuid.as_deref(), Some("0B6E3C1A-7D52-4F0E-9B21-5C8A1D3E7F90"));
    assert_eq!(c.kexts.len(), 3);
    let mobile = c.find("com.apple.driver.AppleMobileDevice").unwrap();
    assert_eq!((mobile.version.as_deref(), mobile.uuid.as_deref()), (Some("4.0"), None));
    let filter = c.find("com.example.net.filter").unwrap();
    assert_eq!(filter.version.as_deref(), Some("1.4.0b2"));
    assert_eq!(filter.uuid.as_deref(), Some("D0C1B2A3-9485-3766-A5B4-C3D2E1F00112"));
}

#[test]
fn synthetic_no_header_takes_callers_kind() {
    let r = parse_inspect_for(NO_HEADER, CollectionKind::Boot);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let c = r.collection(CollectionKind::Boot).unwrap();
    assert_eq!(c.kexts.len(), 3);
    assert!(c.find("com.apple.driver.AppleSerialShim").is_some());
}

#[test]
fn synthetic_kernel_uuid_only() {
    let r = parse_inspect_for(KERNEL_ONLY, CollectionKind::Boot);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let k = r.collections[0].kernel.as_ref().unwrap();
    assert_eq!(k.bundle_id, KERNEL_BUNDLE_ID);
    assert_eq!(k.uuid.as_deref(), Some("5C6D7E8F-9A0B-3C1D-8E2F-A1B2C3D4E5F6"));
    assert_eq!(r.kext_count(), 0);
}

#[test]
fn synthetic_intel_three_collections() {
    let r = parse_inspect(INTEL);
    assert!(r.issues.is_empty(), "{:?}", r.issues);
    let kinds: Vec<_> = r.collections.iter().map(|c| (c.kind, c.kexts.len(), c.line)).collect();
    assert_eq!(
        kinds,
        vec![
            (CollectionKind::Boot, 2, Some(1)),
            (CollectionKind::System, 1, Some(7)),
            (CollectionKind::Auxiliary, 1, Some(11)),
        ]
    );
    let boot = r.collection(CollectionKind::Boot).unwrap();
    assert_eq!(boot.kernel.as_ref().unwrap().version.as_deref(), Some("24.6.0"));
    let all: Vec<_> = r.kexts().map(|(c, k)| (c.kind, k.bundle_id.as_str())).collect();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3], (CollectionKind::Auxiliary, "com.example.usb.serial"));
}
