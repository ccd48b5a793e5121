//! The kcheck binary: parse arguments, run, map the outcome to an exit status.
//! The only place that prints a fatal error.

#![forbid(unsafe_code)]
#![allow(clippy::print_stderr)]

use std::io::Write;
use std::process::ExitCode;

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
        (Ok(_), Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        (Ok(_), Err(e)) => {
            eprintln!("kcheck: cannot write output: {e}");
            ExitCode::from(74)
        }
        (Err(err), _) => {
            eprintln!("kcheck: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}
