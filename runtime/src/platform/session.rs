//! The Durable Object that owns one conversation: its stored messages and its turns.
//!
//! Messages live one per row in the object's SQLite storage. Turns on one session run one at a
//! time: a Durable Object interleaves requests while one awaits the model, so the object holds
//! an async lock from the moment a turn reads history until it has stored its messages.

use super::ai;
use super::http::error_response;
use crate::agent::{self, AgentSpec};
use crate::api::{self, ApiError};
use crate::history::{self, Message, Role};
use crate::model::{self, StreamDecoder, StreamError};
use crate::sse;
use crate::turn::Turn;
use futures_util::lock::{Mutex, OwnedMutexGuard};
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use worker::{
    ByteStream, Env, Headers, Method, Request, Response, SqlStorage, SqlStorageValue, State,
};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    created_at INTEGER NOT NULL
)";

/// The state behind one session's Durable Object.
pub struct SessionObject {
    sql: SqlStorage,
    env: Env,
    agents: &'static [AgentSpec],
    turn_lock: Arc<Mutex<()>>,
}

#[derive(Deserialize)]
struct StoredMessage {
    role: String,
    content: String,
}

impl SessionObject {
    pub fn new(state: State, env: Env, agents: &'static [AgentSpec]) -> Self {
        let sql = state.storage().sql();
        if let Err(err) = sql.exec(SCHEMA, None) {
            worker::console_error!("agentc: could not create the messages table: {err}");
        }
        SessionObject {
            sql,
            env,
            agents,
            turn_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Serves the requests the Worker forwards to this session.
    pub async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = req.url()?;
        let query = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let result = match (req.method(), url.path()) {
            (Method::Post, "/turn") => {
                let body = req.bytes().await?;
                let agent = query("agent").and_then(|name| agent::find(self.agents, &name));
                match agent {
                    Some(agent) => self.turn(agent, &body).await,
                    None => Err(ApiError::internal(
                        "the session was asked for an unknown agent",
                    )),
                }
            }
            (Method::Get, "/history") => self.history(query("session_id").unwrap_or_default()),
            (Method::Delete, "/history") => self.forget(),
            _ => Err(ApiError::not_found("no such session operation")),
        };
        match result {
            Ok(response) => Ok(response),
            Err(err) => error_response(&err),
        }
    }

    /// Runs one turn: reads the window, calls the model, streams its answer and stores the
    /// exchange once the model has finished.
    async fn turn(&self, agent: &'static AgentSpec, body: &[u8]) -> Result<Response, ApiError> {
        let chat = api::parse_chat_request(body)?;
        let guard = self.turn_lock.clone().lock_owned().await;
        let transcript = self.load_window(agent.history_window)?;
        let window = history::window(&transcript, agent.history_window as usize);
        let input = model::build_input(agent, window, &chat.message);
        let input =
            serde_json::to_string(&input).map_err(|err| ApiError::internal(err.to_string()))?;
        let stream = ai::run_streaming(&self.env, agent.model, &input)
            .await
            .map_err(|err| ApiError::model_failed(format!("{}: {err}", agent.model)))?;
        let state = StreamState {
            source: stream,
            decoder: StreamDecoder::new(),
            turn: Some(Turn::new(agent.model, chat.message)),
            sql: self.sql.clone(),
            _guard: guard,
        };
        let body = futures_util::stream::unfold(state, |mut state| async move {
            let chunk = state.next_chunk().await?;
            Some((Ok::<Vec<u8>, worker::Error>(chunk.into_bytes()), state))
        });
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

    /// The newest `window` stored messages, oldest first.
    fn load_window(&self, window: u32) -> Result<Vec<Message>, ApiError> {
        let rows: Vec<StoredMessage> = self
            .sql
            .exec(
                "SELECT role, content FROM (SELECT seq, role, content FROM messages ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                vec![SqlStorageValue::from(i64::from(window))],
            )
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        Ok(to_messages(rows))
    }

    fn history(&self, session_id: String) -> Result<Response, ApiError> {
        let rows: Vec<StoredMessage> = self
            .sql
            .exec("SELECT role, content FROM messages ORDER BY seq", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        let body = serde_json::json!({ "session_id": session_id, "messages": to_messages(rows) });
        json_response(&body.to_string())
    }

    fn forget(&self) -> Result<Response, ApiError> {
        self.sql
            .exec("DELETE FROM messages", None)
            .map_err(storage_error)?;
        let mut response = Response::empty().map_err(|err| ApiError::internal(err.to_string()))?;
        response = response.with_status(204);
        Ok(response)
    }
}

fn to_messages(rows: Vec<StoredMessage>) -> Vec<Message> {
    rows.into_iter()
        .filter_map(|row| Some(Message::new(Role::parse(&row.role)?, row.content)))
        .collect()
}

fn storage_error(err: worker::Error) -> ApiError {
    ApiError::internal(format!("session storage failed: {err}"))
}

fn json_response(body: &str) -> Result<Response, ApiError> {
    let headers = Headers::new();
    headers
        .set("content-type", "application/json")
        .map_err(|err| ApiError::internal(err.to_string()))?;
    Ok(Response::ok(body)
        .map_err(|err| ApiError::internal(err.to_string()))?
        .with_headers(headers))
}

/// A turn in flight: the model's byte stream on one side, the client's SSE frames on the other.
struct StreamState {
    source: ByteStream,
    decoder: StreamDecoder,
    /// `None` once the turn has ended (stored or failed): the stream then ends.
    turn: Option<Turn>,
    sql: SqlStorage,
    /// Held until the turn ends, so the session's next turn sees this one's messages.
    _guard: OwnedMutexGuard<()>,
}

impl StreamState {
    /// The next frames for the client, or `None` when the turn is over.
    async fn next_chunk(&mut self) -> Option<String> {
        let mut events = Vec::new();
        loop {
            let turn = self.turn.as_mut()?;
            let mut out = String::new();
            let result = match self.source.next().await {
                Some(Ok(bytes)) => self.decoder.feed(&bytes, &mut events),
                Some(Err(err)) => Err(StreamError::Malformed(err.to_string())),
                None => self.decoder.finish(),
            };
            for event in events.drain(..) {
                turn.on_model_event(event, &mut out);
            }
            if let Err(err) = result {
                out.push_str(&turn.fail(&err));
                self.turn = None;
                return Some(out);
            }
            if self.decoder.is_done() {
                let turn = self.turn.take()?;
                let (messages, done) = turn.finish();
                match store(&self.sql, &messages) {
                    Ok(()) => out.push_str(&done),
                    Err(err) => out.push_str(&sse::error("storage_error", &err.message)),
                }
                return Some(out);
            }
            if !out.is_empty() {
                return Some(out);
            }
        }
    }
}

/// Appends a turn's messages in one statement, so they are stored together or not at all.
fn store(sql: &SqlStorage, messages: &[Message]) -> Result<(), ApiError> {
    if messages.is_empty() {
        return Ok(());
    }
    let now = worker::Date::now().as_millis() as i64;
    let mut statement = String::from("INSERT INTO messages (role, content, created_at) VALUES ");
    let mut values = Vec::with_capacity(messages.len() * 3);
    for (i, message) in messages.iter().enumerate() {
        statement.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
        values.push(SqlStorageValue::from(message.role.as_str()));
        values.push(SqlStorageValue::from(message.content.as_str()));
        values.push(SqlStorageValue::from(now));
    }
    sql.exec(&statement, values).map_err(storage_error)?;
    Ok(())
}
