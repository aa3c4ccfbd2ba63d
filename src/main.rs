//! The `hutong` binary: parses arguments, runs a command, maps the outcome
//! to an exit code (0 pass, 1 failing findings, 2 usage / rulebook / input error).

use std::process::ExitCode;

use clap::Parser;
use hutong::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Inspect(args) => hutong::inspect::run_cli(&args),
        Command::Audit(args) => hutong::audit::run_cli(&args),
        Command::Rules(cmd) => hutong::rules_cmd::run_cli(&cmd),
        Command::Convert(args) => hutong::convert::run_cli(&args),
        Command::Generate(args) => hutong::generate::run_cli(&args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
