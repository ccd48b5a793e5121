//! kcheck reads macOS kernel caches and answers: will the next boot run
//! the kexts that are installed?
//!
//! The modules follow the data, and every import points down this list:
//!
//! 1. Base: [`error`] (errors that name file, layer and offset), [`bytes`]
//!    (the one checked byte reader), [`bounded_plist`] (plists read within
//!    depth and element budgets), [`kext_version`] (Apple's kext version
//!    numbers).
//! 2. Decoders: [`compress`] (LZSS, LZVN, LZFSE, Adler-32) and
//!    [`container`] (FAT, `comp`, IMG4/IM4P).
//! 3. Readers, bytes or text → records: [`macho`], [`prelink`] (the
//!    kernel's XML dialect), [`cache`] (a whole kernel cache, and the diff
//!    of two), [`system`] (a system root: release, era, installed kexts),
//!    [`logs`] (zprint, panic reports, kextstat / kmutil listings).
//! 4. [`facts`] — gathering: reads a root (and, live, probes the running
//!    Mac) into one [`facts::Facts`].
//! 5. [`check`] — rules: pure functions from facts to findings.
//! 6. [`report`] — renderers (text, JSON, JSONL, SQLite), taking a
//!    [`report::Style`]; no global state.
//! 7. [`app`] — one short function per command.
//! 8. `cli` (feature `cli`) — the clap definitions; `main.rs` is a thin
//!    binary over it. Nothing else sees clap.

#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::print_stdout, clippy::print_stderr))]

pub mod app;
pub mod bounded_plist;
pub mod bytes;
pub mod cache;
pub mod check;
#[cfg(feature = "cli")]
pub mod cli;
pub mod compress;
pub mod container;
pub mod error;
pub mod facts;
pub mod input;
pub mod kext_version;
pub mod logs;
pub mod macho;
pub mod prelink;
pub mod report;
pub mod system;
