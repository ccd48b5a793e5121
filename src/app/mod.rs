//! One short function per command: read the inputs, run the rules, render.
//! The command line (clap) stays in `cli`; these take plain options.

pub mod verify;
pub mod zones;
