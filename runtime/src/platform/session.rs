//! The Durable Object that owns one conversation: its stored messages and its turns.
//!
//! Messages live one per row in the object's SQLite storage. Turns on one session run one at a
//! time: a Durable Object interleaves requests while one awaits the model, so the object holds
//! an async lock from the moment a turn reads history until it has stored its messages. At most
//! [`MAX_WAITING_TURNS`] turns wait for the lock; more are refused with 429 `session_busy`.
//!
//! The object stores its owner (see [`crate::ownership`]) when the session is created, and
//! answers 404 to every request of another owner and to reads of a session never created.
//! Deleting a session takes the turn lock, so it never lands in the middle of a turn.

#[cfg(feature = "approvals")]
use super::approvals;
use super::http::error_response;
use super::limiter::{self, Limiter};
use super::respond::{self, Format};
use super::transcript::SessionStore;
use crate::agent::{self, AgentSpec};
use crate::api::{self, ApiError};
#[cfg(feature = "approvals")]
use crate::approval;
use crate::history::{self, Role};
use crate::object_url::Query;
use crate::openai;
use crate::ownership::{self, Admission};
use crate::routing;
#[cfg(feature = "ui-stream")]
use crate::ui_stream::{self, UiChat};

/// Without the `ui-stream` feature no turn is the AI SDK's: a type with no values.
#[cfg(not(feature = "ui-stream"))]
enum UiChat {}
use futures_util::lock::Mutex;
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use worker::{Env, Method, Request, Response, State};

/// The most turns that may wait for a session's lock behind the running one.
pub const MAX_WAITING_TURNS: u32 = 8;

/// The state behind one session's Durable Object.
pub struct SessionObject {
    /// The transcript, the owner row and what is known of them.
    store: Rc<SessionStore>,
    storage: worker::Storage,
    /// When this object is a caller's rate limiter: its counters, loaded on first use.
    limiter: RefCell<Option<Limiter>>,
    env: Env,
    agents: &'static [AgentSpec],
    turn_lock: Arc<Mutex<()>>,
    /// Turns waiting for the lock.
    waiting: std::cell::Cell<u32>,
    /// Whether this instance has scheduled its limiter's cleanup alarm.
    alarm_set: std::cell::Cell<bool>,
}

/// What the Worker decided for a turn before forwarding it.
struct Admitted {
    /// Who the turn acts for ([`crate::ownership::Owner::label`]).
    owner: String,
    /// Whether the turn may create the session.
    create: bool,
    route: Option<usize>,
    limiter: Option<String>,
}

impl SessionObject {
    pub fn new(state: State, env: Env, agents: &'static [AgentSpec]) -> Self {
        let storage = state.storage();
        SessionObject {
            store: Rc::new(SessionStore::open(storage.sql())),
            storage,
            limiter: RefCell::new(None),
            env,
            agents,
            turn_lock: Arc::new(Mutex::new(())),
            waiting: std::cell::Cell::new(0),
            alarm_set: std::cell::Cell::new(false),
        }
    }

    /// Serves the requests the Worker forwards to this session.
    pub async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        super::http::ensure_log_key(&self.env);
        // Read without `url::Url` (see `crate::object_url`).
        let path = req.path();
        let query = Query::of(&req.inner().url());
        // Without the `rate-limit` feature no object of the Worker is a rate limiter.
        #[cfg(feature = "rate-limit")]
        if path.starts_with(limiter::PATH_PREFIX) {
            // No `await` from reading the counters to updating them: concurrent requests are
            // counted exactly.
            let (response, writes) = {
                let mut limiter = self.limiter.borrow_mut();
                let limiter =
                    limiter.get_or_insert_with(|| Limiter::open(self.store.raw().clone()));
                (limiter.serve(&path, &query), limiter.writes())
            };
            // Written once the verdict is out: a write made now would hold it until durable.
            if !writes.is_empty() {
                worker::wasm_bindgen_futures::spawn_local(async move {
                    worker::Delay::from(std::time::Duration::ZERO).await;
                    writes.make();
                });
            }
            // Once a whole window passes without a request, nothing counts any more: the alarm
            // then deletes the object's storage (see `alarm`).
            // Scheduled once per instance; the alarm reschedules itself while counts are live.
            if let Some(window_ms) =
                limiter::window_ms(&path, &query).filter(|_| !self.alarm_set.get())
            {
                self.alarm_set.set(true);
                let after = i64::try_from(window_ms).unwrap_or(i64::MAX / 2) + 1000;
                if let Err(err) = self.storage.set_alarm(after).await {
                    worker::console_error!(
                        "agentc: could not schedule the limiter's cleanup: {err}"
                    );
                }
            }
            return response;
        }
        let query = |key: &str| query.get(key).map(str::to_owned);
        let result = match (req.method(), path.as_str()) {
            (Method::Post, path @ ("/turn" | "/completions" | "/ui")) => {
                let body = req.bytes().await?;
                let agent = query("agent").and_then(|name| agent::find(self.agents, &name));
                let session_id = query("session_id").unwrap_or_default();
                // What the Worker decided: the owner, the routing rule and the rate limiter.
                let admitted = |agent: &'static AgentSpec| Admitted {
                    owner: query("owner").unwrap_or_default(),
                    create: query("create").as_deref() == Some("1"),
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
                    #[cfg(feature = "ui-stream")]
                    Some(agent) if path == "/ui" => match ui_stream::parse(&body) {
                        Ok(chat) => self.ui_turn(agent, chat, admitted(agent)).await,
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
            #[cfg(feature = "approvals")]
            (Method::Post, "/approval") => {
                let body = req.bytes().await?;
                match query("agent").and_then(|name| agent::find(self.agents, &name)) {
                    Some(agent) => {
                        let session_id = query("session_id").unwrap_or_default();
                        let call_id = query("call_id").unwrap_or_default();
                        let owner = query("owner").unwrap_or_default();
                        match approval::parse_decision(&body) {
                            Ok(decision) => {
                                self.decide(
                                    agent,
                                    session_id,
                                    &owner,
                                    call_id,
                                    decision,
                                    Format::Events,
                                )
                                .await
                            }
                            Err(err) => Err(err),
                        }
                    }
                    None => Err(ApiError::internal(
                        "the session was asked for an unknown agent",
                    )),
                }
            }
            (Method::Get, "/history") => {
                // Tool results stay hidden from clients when the agent says so.
                let hide_tools = query("agent")
                    .and_then(|name| agent::find(self.agents, &name))
                    .is_some_and(|agent| !agent.policy.tools.stream_results);
                self.history(
                    query("session_id").unwrap_or_default(),
                    &query("owner").unwrap_or_default(),
                    hide_tools,
                    query("format").as_deref() == Some("ui"),
                )
            }
            (Method::Delete, "/history") => {
                self.forget(
                    &query("session_id").unwrap_or_default(),
                    &query("owner").unwrap_or_default(),
                )
                .await
            }
            _ => Err(ApiError::not_found("no such session operation")),
        };
        let mut response = match result {
            Ok(response) => response,
            Err(err) => error_response(&err)?,
        };
        // A turn's answer names its session (the Worker may have issued the id).
        if matches!(path.as_str(), "/turn" | "/completions" | "/ui") {
            if let Some(session_id) = query("session_id") {
                response
                    .headers_mut()
                    .set(ownership::SESSION_HEADER, &session_id)?;
            }
        }
        Ok(response)
    }

    /// Runs when a rate limiter's last window has passed without a request (limiters reset the
    /// alarm with every request; sessions never set one): its counts have all aged out, so its
    /// storage is deleted and an idle caller costs nothing.
    pub async fn alarm(&self) -> worker::Result<Response> {
        // The expiry read below must include the requests already answered.
        #[cfg(feature = "rate-limit")]
        if let Some(limiter) = self.limiter.borrow().as_ref() {
            limiter.writes().make();
        }
        let now = worker::Date::now().as_millis() as i64;
        if let Some(at) = limiter::expiry(self.store.raw()).filter(|at| *at > now) {
            self.storage.set_alarm(at - now + 1000).await?;
            return Response::empty();
        }
        // Defensive: an object that holds a session is never wiped.
        if !self.holds_session()? {
            *self.limiter.borrow_mut() = None;
            self.alarm_set.set(false);
            self.store.reset();
            self.storage.delete_all().await?;
        }
        Response::empty()
    }

    /// Whether this object holds a session: an owner or messages. The tables need not exist: a
    /// limiter wiped by its alarm creates only its own tables again when its caller comes back.
    fn holds_session(&self) -> worker::Result<bool> {
        #[derive(Deserialize)]
        struct Table {
            name: String,
        }
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let tables: Vec<Table> = self
            .store
            .raw()
            .exec(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('session', 'transcript')",
                None,
            )?
            .to_array()?;
        for table in tables {
            let count = format!("SELECT COUNT(*) AS n FROM {}", table.name);
            let rows: Vec<Count> = self.store.raw().exec(&count, None)?.to_array()?;
            if rows.first().is_some_and(|c| c.n > 0) {
                return Ok(true);
            }
        }
        Ok(false)
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
        self.checked_turn(agent, session_id, message, format, admitted, None)
            .await
    }

    /// A turn asked for by the AI SDK: its earlier messages are checked against the history
    /// the turn reads, and it is answered as a UI message stream.
    #[cfg(feature = "ui-stream")]
    async fn ui_turn(
        &self,
        agent: &'static AgentSpec,
        chat: UiChat,
        admitted: Admitted,
    ) -> Result<Response, ApiError> {
        let random = (worker::js_sys::Math::random() * 1e16) as u64;
        let fresh = || format!("msg-{random:x}");
        // An answer to a `tool-approval-request`: the turn goes on in the same assistant message.
        if let Some(answer) = &chat.decision {
            #[cfg(feature = "approvals")]
            {
                let decision = if answer.approved {
                    approval::Decision::Approve
                } else {
                    approval::Decision::Deny {
                        reason: answer.reason.clone(),
                    }
                };
                let format = Format::UiStream(answer.message_id.clone().unwrap_or_else(fresh));
                return self
                    .decide(
                        agent,
                        chat.session_id.clone(),
                        &admitted.owner,
                        answer.call_id.clone(),
                        decision,
                        format,
                    )
                    .await;
            }
            #[cfg(not(feature = "approvals"))]
            return Err(ApiError::bad_request(
                "no_pending_approval",
                format!(
                    "no call `{}` waits for approval: this agent's tools never wait",
                    answer.call_id
                ),
            ));
        }
        let format = Format::UiStream(fresh());
        let (session_id, message) = (chat.session_id.clone(), chat.message.clone());
        self.checked_turn(agent, session_id, message, format, admitted, Some(&chat))
            .await
    }

    async fn checked_turn(
        &self,
        agent: &'static AgentSpec,
        session_id: String,
        message: String,
        format: Format,
        admitted: Admitted,
        ui_chat: Option<&UiChat>,
    ) -> Result<Response, ApiError> {
        if self.waiting.get() >= MAX_WAITING_TURNS {
            return Err(ApiError::new(
                429,
                "session_busy",
                format!(
                    "{MAX_WAITING_TURNS} turns of this session are already waiting; retry when they are done"
                ),
            ));
        }
        self.waiting.set(self.waiting.get() + 1);
        let guard = self.turn_lock.clone().lock_owned().await;
        self.waiting.set(self.waiting.get() - 1);
        // Decided under the lock: a session deleted while this turn waited is gone.
        let keep = agent.policy.history.keep;
        match self.store.admit(&admitted.owner, admitted.create)? {
            Admission::NotFound => return Err(ownership::not_found(&session_id)),
            Admission::Create => self.store.create(&admitted.owner, keep)?,
            Admission::Allowed => self.store.set_keep(keep)?,
        }
        #[cfg(feature = "approvals")]
        approvals::refuse_if_waiting(&self.store)?;
        let transcript = self.store.window(agent.history_window)?;
        let window = history::window(&transcript, agent.history_window as usize);
        let history = history::fit_tokens(window, agent.policy.history.max_tokens).to_vec();
        if let Some(chat) = ui_chat {
            #[cfg(feature = "ui-stream")]
            ui_stream::check_history(chat, &history)?;
            #[cfg(not(feature = "ui-stream"))]
            match *chat {}
        }
        let request = respond::Request {
            agent,
            session_id: Some(session_id),
            history,
            message,
            route: admitted.route,
            limiter: admitted.limiter,
        };
        let storage = respond::Storage {
            session: self.store.clone(),
            guard,
        };
        respond::respond(self.env.clone(), request, format, Some(storage)).await
    }

    /// A decision on a call of the paused turn: recorded (the call no longer waits) before the
    /// tool runs, then the turn goes on and streams like a chat turn.
    #[cfg(feature = "approvals")]
    async fn decide(
        &self,
        agent: &'static AgentSpec,
        session_id: String,
        owner: &str,
        call_id: String,
        decision: approval::Decision,
        format: Format,
    ) -> Result<Response, ApiError> {
        let guard = self.turn_lock.clone().lock_owned().await;
        if self.store.admit(owner, false)? == Admission::NotFound {
            return Err(ownership::not_found(&session_id));
        }
        let (route, mut paused) =
            approvals::load(&self.store)?.ok_or_else(|| approval::no_such_call(&call_id))?;
        let call = paused.take(&call_id, approvals::now_ms())?;
        approvals::save(&self.store, &route, &paused)?;
        let transcript = self.store.window(agent.history_window)?;
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
            session: self.store.clone(),
            guard,
        };
        let resumed = respond::Resumed {
            paused,
            call,
            decision,
        };
        respond::resume(self.env.clone(), request, resumed, format, Some(storage)).await
    }

    /// The stored messages, when `owner` may read them; `ui`: as the AI SDK's `UIMessage`s.
    fn history(
        &self,
        session_id: String,
        owner: &str,
        hide_tools: bool,
        ui: bool,
    ) -> Result<Response, ApiError> {
        if self.store.admit(owner, false)? == Admission::NotFound {
            return Err(ownership::not_found(&session_id));
        }
        let mut messages = self.store.all()?;
        if hide_tools {
            for message in messages.iter_mut().filter(|m| m.role == Role::Tool) {
                message.content.clear();
            }
        }
        #[cfg(feature = "ui-stream")]
        let body = if ui {
            // A turn that waits for approval is part of what the app shows after a reload: its
            // messages, the waiting calls `approval-requested`.
            #[cfg(feature = "approvals")]
            let (messages, waiting) = match approvals::waiting(&self.store)? {
                Some((_, paused)) => {
                    let waiting: Vec<String> =
                        paused.pending.iter().map(|p| p.call.id.clone()).collect();
                    let mut messages = messages;
                    messages.extend(paused.messages);
                    (messages, waiting)
                }
                None => (messages, Vec::new()),
            };
            #[cfg(not(feature = "approvals"))]
            let waiting: Vec<String> = Vec::new();
            let messages = ui_stream::ui_messages(&session_id, &messages, &waiting);
            serde_json::json!({ "id": session_id, "messages": messages })
        } else {
            serde_json::json!({
                "session_id": session_id,
                "messages": messages,
                "pending_approvals": pending_approvals(&self.store)?,
            })
        };
        #[cfg(not(feature = "ui-stream"))]
        let body = {
            let _ = ui;
            serde_json::json!({
                "session_id": session_id,
                "messages": messages,
                "pending_approvals": pending_approvals(&self.store)?,
            })
        };
        respond::json_response(&body.to_string())
    }

    /// Deletes the session, after the running turn (if any) has stored its messages.
    async fn forget(&self, session_id: &str, owner: &str) -> Result<Response, ApiError> {
        let _guard = self.turn_lock.lock().await;
        if self.store.admit(owner, false)? == Admission::NotFound {
            return Err(ownership::not_found(session_id));
        }
        self.store.forget()?;
        let mut response = Response::empty().map_err(|err| ApiError::internal(err.to_string()))?;
        response = response.with_status(204);
        Ok(response)
    }
}

/// The calls that wait for approval, for `GET .../sessions/{id}`: none without the feature.
fn pending_approvals(store: &SessionStore) -> Result<serde_json::Value, ApiError> {
    #[cfg(feature = "approvals")]
    return approvals::listed(store);
    #[cfg(not(feature = "approvals"))]
    {
        let _ = store;
        Ok(serde_json::Value::Array(Vec::new()))
    }
}
