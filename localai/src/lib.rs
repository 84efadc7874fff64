//! localai is the local stand-in for Cloudflare Workers AI.
//!
//! A Worker compiled by agentc and run on `workerd` calls Workers AI through
//! its `env.AI` binding. Locally, that binding's `fetcher` points at localai,
//! which answers the binding's internal protocol (`POST /run`), the public
//! REST API and an OpenAI-compatible chat completions API, all backed by one
//! [`Engine`]:
//!
//! - [`Engine::llama`] runs a real GGUF model in-process with llama.cpp (by
//!   default Qwen2.5-Coder-1.5B-Instruct, `small` is Qwen2.5-Coder-0.5B-Instruct; both
//!   are fetched by `scripts/setup-model` into `~/.cache/agentc/models/`, see [`models`]). Prompts come from the model's own chat
//!   template, tools included; tool calls are extracted leniently from the
//!   output; tokens stream as they are generated; one request generates at a
//!   time and a bounded queue answers the Workers AI capacity error when
//!   full. See [`engine::llama`].
//! - [`Engine::scripted`] replays canned replies deterministically so tests
//!   can assert exact output.
//!
//! # Endpoints
//!
//! | Request | Answer |
//! | --- | --- |
//! | `POST /run?version=3`, model in `cf-consn-model-id`, body `{"inputs": {...}, "options": {...}}` | `{"response", "usage", "tool_calls"?}` or SSE |
//! | `POST /client/v4/accounts/{account}/ai/run/{model}`, body = inputs | `{"result": ..., "success": true, "errors": [], "messages": []}` or SSE |
//! | `POST /v1/chat/completions` | `chat.completion` or `chat.completion.chunk` SSE |
//! | `GET /_localai/requests` | every model request, in arrival order |
//! | `DELETE /_localai/requests` | clears the recording |
//! | `PUT /_localai/script` | replaces the script, restarts it, clears the recording |
//! | `POST /_localai/release` | releases held streams |
//! | `GET /_localai/health` | `{"ok": true, "mode": "scripted"}`, or `"mode": "llama"` with the model and counters |
//!
//! A request asks for a stream with `"stream": true` in its inputs. A
//! streamed Workers AI reply sends `data: {"response":"chunk"}` per chunk, a
//! `data: {"response":"","tool_calls":[...]}` event if there are tool calls,
//! `data: {"response":"","usage":{...}}` and `data: [DONE]`. Non-streamed
//! replies have the content type `application/json` exactly. Errors are
//! `{"internalCode", "message", "name", "description"}` with status 429
//! (`CapacityError`, 3040) or 500 (`InferenceUpstreamError`, 5000); the REST
//! and OpenAI endpoints wrap them in their own error shapes. Unknown paths
//! get a 404 JSON body.
//!
//! # Script format
//!
//! ```json
//! { "replies": [
//!     { "chunks": ["Hel", "lo ", "there"] },
//!     { "text": "split into one chunk per word when streamed" },
//!     { "tool_calls": [{"name": "get_weather", "arguments": {"location": "Paris"}}] },
//!     { "chunks": ["a", "b"], "hold_after": 1 },
//!     { "error": "capacity" },
//!     { "chunks": ["cut"], "truncate": true },
//!     { "chunks": ["x"], "usage": {"prompt_tokens": 3, "completion_tokens": 1} }
//!   ],
//!   "when_exhausted": "error" }
//! ```
//!
//! Each model request, on any endpoint, takes the next reply.
//!
//! - `chunks` or `text` (not both) give the text; `text` is split into words,
//!   each with its leading whitespace. `tool_calls` come after the text.
//! - `hold_after: N` sends N chunks, then waits for `POST /_localai/release`.
//!   Any release made after the request arrived counts, even one made before
//!   the stream reached its hold point.
//! - `truncate: true` ends the reply early: a stream stops without the usage
//!   event and `[DONE]`; a non-streamed body stops halfway through its JSON.
//! - `error` is `"capacity"` or `"internal"` and excludes every other field.
//! - `usage` overrides any of `prompt_tokens`, `completion_tokens` and
//!   `total_tokens`. Otherwise prompt tokens are the whitespace-separated
//!   words of the prompt and message contents, completion tokens the number of
//!   chunks, and the total their sum.
//! - `when_exhausted` is `"error"` (the default: a 500 error saying the script
//!   is exhausted) or `"repeat_last"`.
//!
//! Unknown fields are rejected, and every error names its line and column.
//!
//! # Starting it from Rust
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use localai::{Engine, Output, Script};
//!
//! let script = Script::new([Output::text("Hello there").into()]);
//! let server = localai::spawn(Engine::scripted(script)).await?;
//! let base_url = server.url(); // "http://127.0.0.1:PORT"
//! // ... point the Worker's AI binding at base_url, run the test ...
//! assert_eq!(server.localai().recorded_requests().len(), 1);
//! server.shutdown().await
//! # }
//! ```
//!
//! The real model, which takes about a second to load:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use localai::{Engine, LlamaOptions};
//!
//! let options = LlamaOptions::default_model()?; // or LlamaOptions::new("model.gguf")
//! let server = localai::spawn(Engine::llama(options)?).await?;
//! # server.shutdown().await?;
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod engine;
pub mod models;
pub mod script;
mod server;
pub mod sse;
mod state;
pub mod wire;

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use engine::{Engine, EngineError, LlamaEngine, LlamaOptions, LoadError, ScriptedEngine};
pub use script::{ErrorKind, Output, Reply, Script, UsageOverride, WhenExhausted};
pub use state::{LocalAi, NotScripted, LLAMA_RECORD_LIMIT, SCRIPTED_RECORD_LIMIT};
pub use wire::{Endpoint, RecordedRequest, ToolCall, Usage};

impl LocalAi {
    /// The HTTP router serving this instance, for embedding in another
    /// server.
    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then ends held
    /// streams and finishes the requests in flight.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let ai = self.clone();
        let shutdown = async move {
            shutdown.await;
            ai.engine().shutdown();
        };
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Serves `engine` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    LocalAi::new(engine).serve(listener, shutdown).await
}

/// Starts localai in the background on a free port of 127.0.0.1.
pub async fn spawn(engine: Engine) -> io::Result<Server> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    Ok(Server::start(listener, LocalAi::new(engine)))
}

/// A localai running in the background; dropping it stops the server.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    localai: LocalAi,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Server {
    /// Serves `localai` on `listener` in a background task.
    pub fn start(listener: TcpListener, localai: LocalAi) -> Self {
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async {
            // A dropped sender stops the server just like a sent value.
            let _ = stopped.await;
        };
        let task = tokio::spawn(localai.clone().serve(listener, shutdown));
        Server {
            address,
            localai,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The address the server listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The base URL, `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The instance being served, to script or inspect it directly.
    pub fn localai(&self) -> &LocalAi {
        &self.localai
    }

    /// Stops the server and waits until it has finished.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
