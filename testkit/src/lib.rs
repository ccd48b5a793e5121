//! kcheck's test support, a dev-only workspace member: the synthetic
//! fixture generator ([`synth`] caches and kext executables, [`roots`] fake
//! system roots, [`xml`] the kernel's XML dialect) and the compression
//! encoders ([`encode`]). The product crate never depends on it; its tests,
//! benches, examples and fuzz seeds do.

pub mod codesign;
pub mod encode;
pub mod policy;
pub mod roots;
pub mod synth;
pub mod xml;
/// The `lzvn` crate, for cross-checks of kcheck's own decoder.
pub use lzvn;
