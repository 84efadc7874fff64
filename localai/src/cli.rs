//! The command line of the `localai` binary and the signals that stop it.

use std::path::PathBuf;

use clap::Parser;

use crate::engine::Engine;
use crate::script::{Script, ScriptError};

/// The address localai listens on when `--listen` is not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8788";

/// Local stand-in for Cloudflare Workers AI.
#[derive(Debug, Parser)]
#[command(name = "localai", version)]
pub struct Cli {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Answer with the replies of this JSON script file.
    #[arg(long, value_name = "FILE", conflicts_with = "scripted")]
    pub script: Option<PathBuf>,

    /// Start with an empty script, to be filled with PUT /_localai/script.
    #[arg(long)]
    pub scripted: bool,
}

/// Why the command line selects no usable engine.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(
        "no model engine selected: pass --script FILE or --scripted \
         (the real model engine is not built yet)"
    )]
    NoEngine,
    #[error(transparent)]
    Script(#[from] ScriptError),
}

impl Cli {
    /// Builds the engine the command line asks for, loading its script.
    pub fn engine(&self) -> Result<Engine, CliError> {
        match (&self.script, self.scripted) {
            (Some(path), _) => Ok(Engine::scripted(Script::load(path)?)),
            (None, true) => Ok(Engine::scripted(Script::default())),
            (None, false) => Err(CliError::NoEngine),
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // Without a handler the signal can never be seen, so never resolve.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
