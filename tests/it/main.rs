//! The one integration-test binary of kcheck: a module per topic.
//! `cargo test` runs them all; `cargo test golden` the golden outputs.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod auxkc;
mod bad_input;
mod bad_input_cli;
mod caches;
mod cli;
#[allow(dead_code)]
mod common;
mod completions;
mod ecosystem;
mod fleet;
mod golden;
mod hostile;
mod kmutil;
mod layers;
mod live;
mod loaded;
mod mdm;
mod panic;
mod readme;
mod readonly;
mod realdata;
mod recovery_preboot;
mod schema;
mod scripts;
mod verify;
mod zprint;
