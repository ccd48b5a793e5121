//! kcheck reads macOS kernel caches and answers: will the next boot run
//! the kexts that are installed?
//!
//! Pipeline: bytes → [`container`] (FAT, `comp`, IM4P, LZFSE layers, via
//! [`compress`]) → [`macho`] views → [`prelink`] XML → [`cache::CacheInfo`]
//! → [`diff`] → [`report`] (text or JSON). [`cli`] is the only module that
//! knows about the command line; [`synth`] writes the synthetic fixtures
//! the tests and the demo use.

pub mod bundle;
pub mod cache;
pub mod cli;
pub mod compress;
pub mod container;
pub mod diff;
pub mod error;
pub mod findings;
pub mod fleet;
pub mod known_issues;
pub mod live;
pub mod loaded;
pub mod macho;
pub mod panic;
pub mod prelink;
pub mod report;
pub mod synth;
pub mod synth_roots;
pub mod synth_xml;
pub mod system;
pub mod verify;
pub mod zprint;
