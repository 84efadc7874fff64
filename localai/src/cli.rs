//! The command line of the `localai` binary and the signals that stop it.

use std::path::PathBuf;

use clap::Parser;

use crate::engine::llama::{DEFAULT_CTX_SIZE, DEFAULT_QUEUE};
use crate::engine::{Engine, LlamaOptions, LoadError};
use crate::script::{Script, ScriptError};

/// The address localai listens on when `--listen` is not given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8788";

/// Local stand-in for Cloudflare Workers AI.
///
/// Without --script or --scripted it runs a real model with llama.cpp: the
/// file given with --model, or the default model that scripts/setup-model
/// fetches into ~/.cache/agentc/models/.
#[derive(Debug, Parser)]
#[command(name = "localai", version)]
pub struct Cli {
    /// Loopback address to listen on (127.0.0.1, [::1] or localhost, with a
    /// port); port 0 picks a free port. Other interfaces are refused:
    /// localai has no authentication.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Answer with the replies of this JSON script file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scripted", "model", "threads", "ctx_size", "queue"])]
    pub script: Option<PathBuf>,

    /// Start with an empty script, to be filled with PUT /_localai/script.
    #[arg(long, conflicts_with_all = ["model", "threads", "ctx_size", "queue"])]
    pub scripted: bool,

    /// The model to run: `default` (Qwen2.5-Coder-1.5B-Instruct), `small` (Qwen2.5-Coder-0.5B-
    /// Instruct, faster), both fetched by scripts/setup-model into
    /// $AGENTC_CACHE/models/ (AGENTC_CACHE defaults to ~/.cache/agentc), or the path of a GGUF
    /// file [default: default]
    #[arg(long, value_name = "default|small|PATH")]
    pub model: Option<String>,

    /// CPU threads for the model [default: one per core]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,

    /// Context size in tokens: the longest prompt plus output.
    #[arg(long, value_name = "TOKENS", default_value_t = DEFAULT_CTX_SIZE)]
    pub ctx_size: u32,

    /// How many requests may wait while one generates; more get a capacity
    /// error (429).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_QUEUE)]
    pub queue: usize,
}

/// Why the command line selects no usable engine.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error(transparent)]
    Model(#[from] LoadError),
}

/// A `--listen` address that is not a loopback address.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {0}: localai listens only on the loopback interface \
     (127.0.0.1, [::1] or localhost with a port), because it has no authentication"
)]
pub struct NotLoopback(pub String);

impl Cli {
    /// The address to listen on, if it is a loopback address.
    pub fn listen_address(&self) -> Result<std::net::SocketAddr, NotLoopback> {
        let refused = || NotLoopback(self.listen.clone());
        let address = match self.listen.strip_prefix("localhost:") {
            Some(port) => format!("127.0.0.1:{port}"),
            None => self.listen.clone(),
        };
        let address: std::net::SocketAddr = address.parse().map_err(|_| refused())?;
        if address.ip().is_loopback() {
            Ok(address)
        } else {
            Err(refused())
        }
    }

    /// Builds the engine the command line asks for: loads its script, or
    /// loads the model (which blocks while the model loads).
    pub fn engine(&self) -> Result<Engine, CliError> {
        match (&self.script, self.scripted) {
            (Some(path), _) => Ok(Engine::scripted(Script::load(path)?)),
            (None, true) => Ok(Engine::scripted(Script::default())),
            (None, false) => Ok(Engine::llama(self.llama_options()?)?),
        }
    }

    /// The model options the command line asks for.
    pub fn llama_options(&self) -> Result<LlamaOptions, LoadError> {
        let mut options = LlamaOptions::choose(self.model.as_deref())?;
        if let Some(threads) = self.threads {
            options.threads = usize::from(threads);
        }
        options.ctx_size = self.ctx_size;
        options.queue = self.queue;
        Ok(options)
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
