//! The kcheck binary: parse arguments, run, map the outcome to an exit status.

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
    let result = kcheck::cli::run(cli, &mut out);
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
