//! The `hutong` binary: parses arguments, runs a command, maps the outcome
//! to an exit code (0 pass, 1 failing findings, 2 usage / rulebook / input error).

use std::process::ExitCode;

use clap::Parser;
use hutong::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = hutong::commands::run(&cli.command);
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
