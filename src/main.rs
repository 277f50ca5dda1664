use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    let started = std::time::Instant::now();
    let args = cli::Cli::parse();
    match cli::run(args, started) {
        Ok(code) => code,
        Err(e) => {
            cli::term::err_line(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
