//! Rules: pure functions from facts and parsed evidence to findings. No
//! I/O, no printing. Each area has its module; [`finding`] holds the
//! finding type and the catalogue of codes.
//!
//! Layer: rules. Imports facts and readers; never a report.

pub mod finding;
pub mod known_issues;
pub mod live;
pub mod loaded;
pub mod panics;
pub mod verify;
pub mod zones;

use crate::check::finding::{Finding, Verdict};
use crate::facts::Facts;

/// The outcome of `verify`.
#[derive(Debug)]
pub struct VerifyReport {
    /// The facts.
    pub facts: Facts,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// The checks that could not run, and why.
    pub not_checked: Vec<crate::facts::NotChecked>,
    /// The verdict.
    pub verdict: Verdict,
    /// What the live probes found (`--live`).
    pub live: Option<crate::facts::live::LiveFacts>,
}
