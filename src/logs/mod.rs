//! Readers of text evidence: `zprint` zone tables, panic reports, and
//! `kextstat` / `kmutil showloaded` listings. Text → records, nothing else:
//! no rules, no rendering.

pub mod kextstat;
pub mod kmutil;
pub mod panic;
pub mod zprint;
