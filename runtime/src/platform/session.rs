//! The Durable Object that owns one conversation: its stored messages and its turns.
//!
//! Messages live one per row in the object's SQLite storage. Turns on one session run one at a
//! time: a Durable Object interleaves requests while one awaits the model, so the object holds
//! an async lock from the moment a turn reads history until it has stored its messages.

use super::approvals;
use super::http::error_response;
use super::limiter::{self, Limiter};
use super::respond::{self, Format};
use crate::agent::{self, AgentSpec};
use crate::api::{self, ApiError};
use crate::approval;
use crate::history::{self, Message, Role, ToolCall};
use crate::openai;
use crate::routing;
use futures_util::lock::Mutex;
use serde::Deserialize;
use std::cell::RefCell;
use std::sync::Arc;
use worker::{Env, Method, Request, Response, SqlStorage, SqlStorageValue, State};

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
    /// When this object is a caller's rate limiter: its counters, loaded on first use.
    limiter: RefCell<Option<Limiter>>,
    env: Env,
    agents: &'static [AgentSpec],
    turn_lock: Arc<Mutex<()>>,
}

/// What the Worker decided for a turn before forwarding it.
struct Admitted {
    route: Option<usize>,
    limiter: Option<String>,
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
        if let Err(err) = sql.exec(approvals::SCHEMA, None) {
            worker::console_error!("agentc: could not create the paused-turn table: {err}");
        }
        SessionObject {
            sql,
            limiter: RefCell::new(None),
            env,
            agents,
            turn_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Serves the requests the Worker forwards to this session.
    pub async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let url = req.url()?;
        if url.path().starts_with(limiter::PATH_PREFIX) {
            // No `await` from here to the answer: concurrent requests are counted exactly.
            let mut limiter = self.limiter.borrow_mut();
            let limiter = limiter.get_or_insert_with(|| Limiter::open(self.sql.clone()));
            return limiter.serve(&url);
        }
        let query = |key: &str| {
            url.query_pairs()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.into_owned())
        };
        let result = match (req.method(), url.path()) {
            (Method::Post, path @ ("/turn" | "/completions")) => {
                let body = req.bytes().await?;
                let agent = query("agent").and_then(|name| agent::find(self.agents, &name));
                let session_id = query("session_id").unwrap_or_default();
                // What the Worker decided: the routing rule and the caller's rate limiter.
                let admitted = |agent: &'static AgentSpec| Admitted {
                    route: query("route").and_then(|r| routing::parse_label(agent, &r)),
                    limiter: query("limiter"),
                };
                match agent {
                    Some(agent) if path == "/turn" => match api::parse_chat_request(&body) {
                        Ok(chat) => {
                            let admitted = admitted(agent);
                            self.turn(agent, session_id, chat.message, Format::Events, admitted)
                                .await
                        }
                        Err(err) => Err(err),
                    },
                    Some(agent) => match openai::parse(&body) {
                        Ok(ask) => {
                            let completion = respond::new_completion(agent.name);
                            let format = if ask.stream {
                                Format::CompletionChunks(completion)
                            } else {
                                Format::Completion(completion)
                            };
                            let admitted = admitted(agent);
                            self.turn(agent, session_id, ask.message, format, admitted)
                                .await
                        }
                        Err(err) => Err(err),
                    },
                    None => Err(ApiError::internal(
                        "the session was asked for an unknown agent",
                    )),
                }
            }
            (Method::Post, "/approval") => {
                let body = req.bytes().await?;
                match query("agent").and_then(|name| agent::find(self.agents, &name)) {
                    Some(agent) => {
                        let session_id = query("session_id").unwrap_or_default();
                        let call_id = query("call_id").unwrap_or_default();
                        self.decide(agent, session_id, call_id, &body).await
                    }
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

    /// Runs one turn of this session: reads the window, then answers in `format`, storing the
    /// turn's messages when it completes.
    async fn turn(
        &self,
        agent: &'static AgentSpec,
        session_id: String,
        message: String,
        format: Format,
        admitted: Admitted,
    ) -> Result<Response, ApiError> {
        let guard = self.turn_lock.clone().lock_owned().await;
        approvals::refuse_if_waiting(&self.sql)?;
        let transcript = self.load_window(agent.history_window)?;
        let history = history::window(&transcript, agent.history_window as usize).to_vec();
        let request = respond::Request {
            agent,
            session_id: Some(session_id),
            history,
            message,
            route: admitted.route,
            limiter: admitted.limiter,
        };
        let storage = respond::Storage {
            store,
            sql: self.sql.clone(),
            guard,
        };
        respond::respond(self.env.clone(), request, format, Some(storage)).await
    }

    /// A decision on a call of the paused turn: recorded (the call no longer waits) before the
    /// tool runs, then the turn goes on and streams like a chat turn.
    async fn decide(
        &self,
        agent: &'static AgentSpec,
        session_id: String,
        call_id: String,
        body: &[u8],
    ) -> Result<Response, ApiError> {
        let decision = approval::parse_decision(body)?;
        let guard = self.turn_lock.clone().lock_owned().await;
        let (route, mut paused) =
            approvals::load(&self.sql)?.ok_or_else(|| approval::no_such_call(&call_id))?;
        let call = paused.take(&call_id, approvals::now_ms())?;
        approvals::save(&self.sql, &route, &paused)?;
        let transcript = self.load_window(agent.history_window)?;
        let history = history::window(&transcript, agent.history_window as usize).to_vec();
        let request = respond::Request {
            agent,
            session_id: Some(session_id),
            history,
            message: String::new(),
            route: routing::parse_label(agent, &route),
            limiter: None,
        };
        let storage = respond::Storage {
            store,
            sql: self.sql.clone(),
            guard,
        };
        let resumed = respond::Resumed {
            paused,
            call,
            decision,
        };
        respond::resume(
            self.env.clone(),
            request,
            resumed,
            Format::Events,
            Some(storage),
        )
        .await
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
        let body = serde_json::json!({
            "session_id": session_id,
            "messages": to_messages(rows),
            "pending_approvals": approvals::listed(&self.sql)?,
        });
        respond::json_response(&body.to_string())
    }

    fn forget(&self) -> Result<Response, ApiError> {
        self.sql
            .exec("DELETE FROM transcript", None)
            .map_err(storage_error)?;
        approvals::clear(&self.sql)?;
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
    // A paused turn that has now completed waits no more.
    approvals::clear(sql)
}
