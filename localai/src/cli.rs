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
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: String,

    /// Answer with the replies of this JSON script file.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scripted", "model", "threads", "ctx_size", "queue"])]
    pub script: Option<PathBuf>,

    /// Start with an empty script, to be filled with PUT /_localai/script.
    #[arg(long, conflicts_with_all = ["model", "threads", "ctx_size", "queue"])]
    pub scripted: bool,

    /// The GGUF model file to run [default: $AGENTC_CACHE/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf,
    /// with AGENTC_CACHE defaulting to ~/.cache/agentc; fetch it with scripts/setup-model]
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

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

impl Cli {
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
        let mut options = match &self.model {
            Some(path) => LlamaOptions::new(path),
            None => LlamaOptions::default_model()?,
        };
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
