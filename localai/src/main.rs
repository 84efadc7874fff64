//! The `localai` binary: parses the command line, binds, announces the
//! address on stdout and serves until SIGINT or SIGTERM.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use localai::cli::{shutdown_signal, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let listen = match cli.listen_address() {
        Ok(address) => address,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let engine = match cli.engine() {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", cli.listen);
            return ExitCode::FAILURE;
        }
    };
    let address = listener
        .local_addr()
        .expect("a bound listener has an address");
    let mut stdout = std::io::stdout().lock();
    // A parent process reads this one line to learn the port.
    let announced =
        writeln!(stdout, "localai listening on http://{address}").and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = announced {
        eprintln!("error: cannot write to stdout: {e}");
        return ExitCode::FAILURE;
    }
    match localai::serve(listener, engine, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
