//! The kcheck binary: parse arguments, run, map the outcome to an exit status.
//! The only place that prints a fatal error.

#![forbid(unsafe_code)]
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::process::ExitCode;

use kcheck::report::sanitize::escape;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match kcheck::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            // --help and --version are not errors; everything else is EX_USAGE.
            return if err.use_stderr() { ExitCode::from(64) } else { ExitCode::SUCCESS };
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A panic is a bug: the default hook has printed it; exit EX_SOFTWARE
    // (70, as documented) rather than Rust's 101.
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kcheck::cli::run(cli, &mut out))) {
        Ok(result) => result,
        Err(_) => {
            let _ = out.flush();
            return ExitCode::from(70);
        }
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(code), Ok(())) => ExitCode::from(code),
        // A reader that went away (`kcheck verify -q | true`) does not turn
        // a verdict into success: the verdict's status stands.
        (Ok(code), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::from(code),
        (Ok(_), Err(e)) => {
            eprintln!("kcheck: cannot write output: {}", escape(&e.to_string()));
            ExitCode::from(74)
        }
        (Err(err), _) => {
            // One line, whatever the input held: a newline or an escape in
            // a file name or bundle id must not forge a second line.
            eprintln!("kcheck: {}", escape(&err.to_string()));
            ExitCode::from(err.exit_code())
        }
    }
}
