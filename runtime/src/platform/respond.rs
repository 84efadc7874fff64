//! Runs a turn on Workers and answers it in the client's format: this API's event stream, or
//! OpenAI chat completion chunks, or one OpenAI completion.

use super::backend::{self, WorkerBackend};
use crate::agent::AgentSpec;
use crate::api::ApiError;
use crate::history::Message;
use crate::openai::{CollectSink, Completion, StreamSink};
use crate::sse::{self, AgentSink};
use crate::tools::template;
use crate::turn::{self, Backend, Outcome, Sink, TurnInput};
use futures_util::lock::OwnedMutexGuard;
use futures_util::StreamExt;
use worker::{Env, Headers, Response, SqlStorage};

/// How the client wants the answer.
pub enum Format {
    /// `text/event-stream` with `delta`, `tool_call`, `tool_result`, `done` and `error` events.
    Events,
    /// OpenAI `chat.completion.chunk`s.
    CompletionChunks(Completion),
    /// One OpenAI `chat.completion`.
    Completion(Completion),
}

/// Where a completed turn is stored, and the session's lock, held until it is.
pub struct Storage {
    pub store: fn(&SqlStorage, &[Message]) -> Result<(), ApiError>,
    pub sql: SqlStorage,
    /// Never read: holding it keeps the session's next turn waiting until this one is stored.
    #[allow(dead_code)]
    pub guard: OwnedMutexGuard<()>,
}

/// One turn to answer.
pub struct Request {
    pub agent: &'static AgentSpec,
    pub session_id: Option<String>,
    /// Windowed history before this turn.
    pub history: Vec<Message>,
    pub message: String,
}

/// Starts the turn's first model call (a failure there is a JSON error), then answers.
pub async fn respond(
    env: Env,
    request: Request,
    format: Format,
    storage: Option<Storage>,
) -> Result<Response, ApiError> {
    let agent = request.agent;
    let context = serde_json::json!({
        "now": backend::now(),
        "agent": { "name": agent.name, "description": agent.description, "model": agent.model },
        "session": { "id": request.session_id },
    });
    let system = template::render(agent.system, &context)
        .map_err(|err| ApiError::internal(format!("rendering the system prompt failed: {err}")))?;
    let backend = WorkerBackend { env };
    let input = TurnInput {
        agent,
        system: &system,
        history: request.history,
        user_message: request.message,
    };
    let first = backend
        .call_model(agent.model, &input.first_inputs())
        .await
        .map_err(|err| ApiError::model_failed(format!("{}: {err}", agent.model)))?;
    let (history, message) = (input.history, input.user_message);

    if let Format::Completion(completion) = &format {
        let input = TurnInput {
            agent,
            system: &system,
            history,
            user_message: message,
        };
        let mut sink = CollectSink::default();
        return match turn::run(&backend, input, first, &mut sink).await {
            Outcome::Completed { messages, summary } => {
                if let Some(storage) = &storage {
                    (storage.store)(&storage.sql, &messages)?;
                }
                json_response(&completion.whole(&sink.answer, &summary))
            }
            _ => {
                let (code, message) = sink
                    .error
                    .unwrap_or(("model_error", "the turn failed".into()));
                Err(ApiError::new(502, code, message))
            }
        };
    }

    let (frames, body) = futures_channel::mpsc::unbounded::<String>();
    worker::wasm_bindgen_futures::spawn_local(async move {
        // The session's lock is held until the turn's messages are stored.
        let storage = storage;
        let input = TurnInput {
            agent,
            system: &system,
            history,
            user_message: message,
        };
        let send = |frame: String| frames.unbounded_send(frame).is_ok();
        let (outcome, mut send) = match &format {
            Format::CompletionChunks(completion) => {
                if !send(completion.start()) {
                    return;
                }
                let mut sink = StreamSink { completion, send };
                let outcome = turn::run(&backend, input, first, &mut sink).await;
                (outcome, sink.send)
            }
            _ => {
                let mut sink = AgentSink(send);
                let outcome = turn::run(&backend, input, first, &mut sink).await;
                (outcome, sink.0)
            }
        };
        let Outcome::Completed { messages, summary } = outcome else {
            return;
        };
        if let Some(storage) = &storage {
            if let Err(err) = (storage.store)(&storage.sql, &messages) {
                let error = turn::TurnEvent::Error {
                    code: "storage_error",
                    message: &err.message,
                };
                match &format {
                    Format::CompletionChunks(completion) => StreamSink {
                        completion,
                        send: &mut send,
                    }
                    .event(error),
                    _ => AgentSink(&mut send).event(error),
                };
                return;
            }
        }
        match &format {
            Format::CompletionChunks(completion) => send(completion.finish(&summary)),
            _ => send(sse::done(&summary)),
        };
    });
    let body = body.map(|frame| Ok::<Vec<u8>, worker::Error>(frame.into_bytes()));
    let headers = Headers::new();
    let set = |k: &str, v: &str| {
        headers
            .set(k, v)
            .map_err(|err| ApiError::internal(err.to_string()))
    };
    set("content-type", sse::CONTENT_TYPE)?;
    set("cache-control", "no-cache")?;
    Ok(Response::from_stream(body)
        .map_err(|err| ApiError::internal(err.to_string()))?
        .with_headers(headers))
}

/// A JSON response with status 200.
pub fn json_response(body: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(|err| ApiError::internal(err.to_string()))?;
    Ok(Response::ok(body)
        .map_err(|err| ApiError::internal(err.to_string()))?
        .with_headers(headers))
}

/// A fresh completion id and the time, for OpenAI responses.
pub fn new_completion(agent: &str) -> Completion {
    let random = (worker::js_sys::Math::random() * 1e16) as u64;
    Completion {
        id: format!("chatcmpl-{random:x}"),
        created: (worker::Date::now().as_millis() / 1000),
        agent: agent.to_owned(),
    }
}
