//! Model engines. An engine turns a recorded request into a [`Generation`]: a
//! channel of output events that the HTTP layer frames for each endpoint.
//!
//! There are two: the scripted engine ([`scripted`]) replays canned replies
//! for exact tests, and the llama engine ([`llama`]) runs a real GGUF model
//! in-process with llama.cpp.

pub mod llama;
pub mod scripted;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::script::Script;
use crate::wire::{RecordedRequest, ToolCall, Usage};

pub use llama::{LlamaEngine, LlamaOptions, LoadError};
pub use scripted::ScriptedEngine;

/// The model engine that answers requests.
#[derive(Debug)]
pub enum Engine {
    /// Deterministic canned replies, for exact tests.
    Scripted(ScriptedEngine),
    /// A real model, run by llama.cpp.
    Llama(LlamaEngine),
}

impl Engine {
    /// A scripted engine that starts with `script`.
    pub fn scripted(script: Script) -> Self {
        Engine::Scripted(ScriptedEngine::new(script))
    }

    /// Loads a model for the llama engine (blocking while it loads).
    pub fn llama(options: LlamaOptions) -> Result<Self, LoadError> {
        LlamaEngine::load(options).map(Engine::Llama)
    }

    /// The name of the engine, as reported by the health endpoint.
    pub fn mode(&self) -> &'static str {
        match self {
            Engine::Scripted(_) => "scripted",
            Engine::Llama(_) => "llama",
        }
    }

    /// Starts answering a request. Errors known before the first token (such
    /// as a capacity error) are returned here; the output itself arrives
    /// through the returned generation.
    pub fn generate(&self, request: &RecordedRequest) -> Result<Generation, EngineError> {
        match self {
            Engine::Scripted(engine) => engine.generate(request),
            Engine::Llama(engine) => engine.generate(request),
        }
    }

    /// Ends every generation that is waiting, so a graceful shutdown never
    /// hangs on a held stream.
    pub fn shutdown(&self) {
        match self {
            Engine::Scripted(engine) => engine.shutdown(),
            Engine::Llama(engine) => engine.shutdown(),
        }
    }

    /// The scripted engine, if this is one.
    pub fn as_scripted(&self) -> Option<&ScriptedEngine> {
        match self {
            Engine::Scripted(engine) => Some(engine),
            Engine::Llama(_) => None,
        }
    }

    /// The llama engine, if this is one.
    pub fn as_llama(&self) -> Option<&LlamaEngine> {
        match self {
            Engine::Llama(engine) => Some(engine),
            Engine::Scripted(_) => None,
        }
    }
}

/// An error that prevents a generation from starting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// The model has no capacity for the request (HTTP 429).
    #[error("Capacity temporarily exceeded, please try again.")]
    Capacity,
    /// The request's inputs cannot be used (HTTP 400).
    #[error("{0}")]
    InvalidInput(String),
    /// Anything else (HTTP 500).
    #[error("{0}")]
    Internal(String),
}

/// One piece of model output.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A chunk of text.
    Text(String),
    /// The tool calls the model makes.
    ToolCalls(Vec<ToolCall>),
    /// The generation finished normally; nothing follows this event. A
    /// generation that ends without it was truncated.
    Done(Usage),
}

/// The output of one request, delivered as it is produced.
#[derive(Debug)]
pub struct Generation {
    events: mpsc::Receiver<Event>,
}

/// The whole output of a generation, gathered for a non-streamed reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    /// `None` when the generation was truncated.
    pub usage: Option<Usage>,
}

impl Generation {
    /// Creates a generation and the sender an engine feeds it through. A
    /// sender fails once the client has gone away, which tells the engine
    /// to stop.
    pub fn channel() -> (mpsc::Sender<Event>, Generation) {
        let (sender, events) = mpsc::channel(16);
        (sender, Generation { events })
    }

    /// Waits for the next event; `None` once the generation has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The events as a stream.
    pub fn into_stream(self) -> ReceiverStream<Event> {
        ReceiverStream::new(self.events)
    }

    /// Waits for the whole output.
    pub async fn collect(mut self) -> Collected {
        let mut collected = Collected::default();
        while let Some(event) = self.next().await {
            match event {
                Event::Text(text) => collected.text.push_str(&text),
                Event::ToolCalls(calls) => collected.tool_calls.extend(calls),
                Event::Done(usage) => collected.usage = Some(usage),
            }
        }
        collected
    }
}
