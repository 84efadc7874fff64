//! The `agentc` command line: a thin shell over the library.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::run(cli::Args::parse().command)
}
