//! The Durable Object that owns one conversation: its stored messages and its turns.
//!
//! Messages live one per row in the object's SQLite storage. Turns on one session run one at a
//! time: a Durable Object interleaves requests while one awaits the model, so the object holds
//! an async lock from the moment a turn reads history until it has stored its messages.

use super::backend::{self, WorkerBackend};
use super::http::error_response;
use crate::agent::{self, AgentSpec};
use crate::api::{self, ApiError};
use crate::history::{self, Message, Role, ToolCall};
use crate::sse;
use crate::tools::template;
use crate::turn::{self, Backend, Outcome, TurnInput};
use futures_util::lock::Mutex;
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use worker::{Env, Headers, Method, Request, Response, SqlStorage, SqlStorageValue, State};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS transcript (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT,
    name TEXT,
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
    tool_calls: Option<String>,
    tool_call_id: Option<String>,
    name: Option<String>,
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

    /// Runs one turn: reads the window, starts the model, and streams the turn while a task
    /// runs it to the end and stores its messages. A model that fails before streaming is
    /// answered with a JSON error.
    async fn turn(&self, agent: &'static AgentSpec, body: &[u8]) -> Result<Response, ApiError> {
        let chat = api::parse_chat_request(body)?;
        let guard = self.turn_lock.clone().lock_owned().await;
        let transcript = self.load_window(agent.history_window)?;
        let history = history::window(&transcript, agent.history_window as usize).to_vec();
        let context = serde_json::json!({
            "now": backend::now(),
            "agent": { "name": agent.name, "description": agent.description, "model": agent.model },
            "session": { "id": chat.session_id },
        });
        let system = template::render(agent.system, &context).map_err(|err| {
            ApiError::internal(format!("rendering the system prompt failed: {err}"))
        })?;
        let backend = WorkerBackend {
            env: self.env.clone(),
        };
        let input = TurnInput {
            agent,
            system: &system,
            history,
            user_message: chat.message,
        };
        let first = backend
            .call_model(agent.model, &input.first_inputs())
            .await
            .map_err(|err| ApiError::model_failed(format!("{}: {err}", agent.model)))?;
        let history = input.history;
        let user_message = input.user_message;
        let (frames, body) = futures_channel::mpsc::unbounded::<String>();
        let sql = self.sql.clone();
        worker::wasm_bindgen_futures::spawn_local(async move {
            // Held until the turn's messages are stored, so the next turn sees them.
            let _guard = guard;
            let input = TurnInput {
                agent,
                system: &system,
                history,
                user_message,
            };
            let mut sink = |frame: String| frames.unbounded_send(frame).is_ok();
            if let Outcome::Completed { messages, done } =
                turn::run(&backend, input, first, &mut sink).await
            {
                match store(&sql, &messages) {
                    Ok(()) => sink(done),
                    Err(err) => sink(sse::error("storage_error", &err.message)),
                };
            }
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

    /// The newest `window` stored messages, oldest first.
    fn load_window(&self, window: u32) -> Result<Vec<Message>, ApiError> {
        let rows: Vec<StoredMessage> = self
            .sql
            .exec(
                "SELECT * FROM (SELECT * FROM transcript ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                vec![SqlStorageValue::from(i64::from(window))],
            )
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        Ok(to_messages(rows))
    }

    fn history(&self, session_id: String) -> Result<Response, ApiError> {
        let rows: Vec<StoredMessage> = self
            .sql
            .exec("SELECT * FROM transcript ORDER BY seq", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        let body = serde_json::json!({ "session_id": session_id, "messages": to_messages(rows) });
        json_response(&body.to_string())
    }

    fn forget(&self) -> Result<Response, ApiError> {
        self.sql
            .exec("DELETE FROM transcript", None)
            .map_err(storage_error)?;
        let mut response = Response::empty().map_err(|err| ApiError::internal(err.to_string()))?;
        response = response.with_status(204);
        Ok(response)
    }
}

fn to_messages(rows: Vec<StoredMessage>) -> Vec<Message> {
    rows.into_iter()
        .filter_map(|row| {
            let tool_calls: Vec<ToolCall> = row
                .tool_calls
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default();
            Some(Message {
                tool_calls,
                tool_call_id: row.tool_call_id,
                name: row.name,
                ..Message::new(Role::parse(&row.role)?, row.content)
            })
        })
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

/// Appends a turn's messages. The inserts run with no `await` between them, so the Durable
/// Object commits them together or not at all.
fn store(sql: &SqlStorage, messages: &[Message]) -> Result<(), ApiError> {
    let now = worker::Date::now().as_millis() as i64;
    for message in messages {
        let tool_calls = (!message.tool_calls.is_empty())
            .then(|| serde_json::to_string(&message.tool_calls).expect("tool calls serialize"));
        let values = vec![
            SqlStorageValue::from(message.role.as_str()),
            SqlStorageValue::from(message.content.as_str()),
            SqlStorageValue::from(tool_calls),
            SqlStorageValue::from(message.tool_call_id.clone()),
            SqlStorageValue::from(message.name.clone()),
            SqlStorageValue::from(now),
        ];
        sql.exec(
            "INSERT INTO transcript (role, content, tool_calls, tool_call_id, name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            values,
        )
        .map_err(storage_error)?;
    }
    Ok(())
}
