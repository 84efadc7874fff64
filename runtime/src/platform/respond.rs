//! Runs a turn on Workers and answers it in the client's format: this API's event stream, or
//! OpenAI chat completion chunks, or one OpenAI completion.
//!
//! Before anything streams, the turn either finds its answer in the response cache or starts
//! a model: the routed model first, then each fallback, until one starts answering (a model
//! that fails to start, with a capacity error, a 5xx or no answer in time, is skipped). When
//! every model fails the client gets a 502 JSON error. The model that answered and the routing
//! rule are response headers (`x-agentc-model`, `x-agentc-route`), and the model is in the
//! `done` event. Each turn ends with one JSON log line (see [`crate::observe`]).

use super::backend::{self, WorkerBackend};
use super::frames::Frames;
use super::transcript::SessionStore;
use super::{cache as cache_api, limiter};
use crate::agent::{AgentSpec, ToolSpec};
use crate::answer::{self, AfterTurn, Finish};
use crate::api::ApiError;
use crate::approval::PausedTurn;
#[cfg(feature = "approvals")]
use crate::approval::{self, Decision, PendingCall};
use crate::cache::{self, CachedAnswer};
use crate::history::Message;
use crate::observe::TurnLog;
use crate::openai::{CollectSink, Completion, StreamSink};
use crate::policy::RateLimitPolicy;
use crate::routing;
use crate::sse::{self, AgentSink};
use crate::tools::template::{Prompt, PromptContext};
use crate::turn::{self, Backend, Outcome, Sink, Summary, Trace, TurnEvent, TurnInput};
#[cfg(feature = "ui-stream")]
use crate::ui_stream::{self, UiSink};
use futures_util::lock::OwnedMutexGuard;
use std::rc::Rc;
use worker::{Env, Headers, Response, ResponseBody};

/// How the client wants the answer.
pub enum Format {
    /// `text/event-stream` with `delta`, `tool_call`, `tool_result`, `done` and `error` events.
    Events,
    /// OpenAI `chat.completion.chunk`s.
    CompletionChunks(Completion),
    /// One OpenAI `chat.completion`.
    Completion(Completion),
    /// The AI SDK's UI message stream (see `crate::ui_stream`), for the assistant message
    /// with this id.
    #[cfg(feature = "ui-stream")]
    UiStream(String),
}

/// Where a completed turn is stored, and the session's lock, held until it is.
pub struct Storage {
    pub session: Rc<SessionStore>,
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
    /// The routing rule the Worker chose, if one matched.
    pub route: Option<usize>,
    /// The caller's rate-limiter object, told the turn's token usage.
    pub limiter: Option<String>,
}

/// Where the answer comes from.
enum Source {
    Model(backend::ModelBytes),
    Cached(CachedAnswer),
    /// A paused turn, going on after a decision on one of its calls.
    Resumed(Resumed),
}

/// A paused turn and a decision on one of its calls (taken out of `paused.pending`).
#[cfg(feature = "approvals")]
pub struct Resumed {
    pub paused: PausedTurn,
    pub call: PendingCall,
    pub decision: Decision,
}

/// Without the `approvals` feature no turn pauses, so none resumes: a type with no values.
#[cfg(not(feature = "approvals"))]
pub enum Resumed {}

#[cfg(feature = "approvals")]
impl Resumed {
    /// The model that answered the turn so far (one of the chain the turn could use).
    fn model(&self, chain: &[&'static str], default: &'static str) -> &'static str {
        chain
            .iter()
            .copied()
            .find(|m| *m == self.paused.model)
            .unwrap_or(default)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        backend: &WorkerBackend,
        agent: &'static AgentSpec,
        model: &'static str,
        tools: Vec<&'static ToolSpec>,
        system: &str,
        history: Vec<Message>,
        sink: &mut impl Sink,
        trace: &mut Trace,
    ) -> Outcome {
        let Resumed {
            paused,
            call,
            decision,
        } = self;
        let resume = turn::Resume {
            agent,
            model,
            tools,
            system,
            history,
            paused,
            call,
            decision,
        };
        turn::resume(backend, resume, sink, trace).await
    }
}

#[cfg(not(feature = "approvals"))]
impl Resumed {
    fn model(&self, _: &[&'static str], _: &'static str) -> &'static str {
        match *self {}
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        self,
        _: &WorkerBackend,
        _: &'static AgentSpec,
        _: &'static str,
        _: Vec<&'static ToolSpec>,
        _: &str,
        _: Vec<Message>,
        _: &mut impl Sink,
        _: &mut Trace,
    ) -> Outcome {
        match self {}
    }
}

/// The platform side of what follows a turn (see [`answer::Finish`] for the order).
struct After {
    env: Env,
    storage: Option<Storage>,
    /// The cache entry's URL and TTL, on a miss of an agent with a cache.
    cache_put: Option<(String, u64)>,
    /// The caller's rate-limiter object and its policy.
    limiter: Option<(String, RateLimitPolicy)>,
}

impl AfterTurn for After {
    fn store(&mut self, messages: &[Message]) -> Result<(), ApiError> {
        match &self.storage {
            Some(storage) => storage.session.store(messages),
            None => Ok(()),
        }
    }

    fn save_paused(&mut self, route: &str, paused: &PausedTurn) -> Result<(), ApiError> {
        #[cfg(feature = "approvals")]
        if let Some(storage) = &self.storage {
            return super::approvals::save(&storage.session, route, paused);
        }
        // A stateless request has nowhere to keep it: its client only hears of the calls.
        let _ = (route, paused);
        Ok(())
    }

    async fn cache(&mut self, answer: CachedAnswer) {
        if let Some((url, ttl)) = &self.cache_put {
            cache_api::put(url, &answer, *ttl).await;
        }
    }

    async fn report_usage(&mut self, tokens: u64) {
        if let Some((name, policy)) = &self.limiter {
            limiter::report_usage(&self.env, name, policy, tokens).await;
        }
    }

    fn log(&mut self, log: &TurnLog) {
        emit(&self.env, log);
    }

    fn now_ms(&self) -> f64 {
        backend::now_ms()
    }
}

/// Starts the turn (a failure there is a JSON error), then answers.
pub async fn respond(
    env: Env,
    request: Request,
    format: Format,
    storage: Option<Storage>,
) -> Result<Response, ApiError> {
    answer(env, request, None, format, storage).await
}

/// Goes on with a paused turn after a decision on one of its calls, and answers like a turn.
#[cfg(feature = "approvals")]
pub async fn resume(
    env: Env,
    request: Request,
    resumed: Resumed,
    format: Format,
    storage: Option<Storage>,
) -> Result<Response, ApiError> {
    answer(env, request, Some(resumed), format, storage).await
}

async fn answer(
    env: Env,
    request: Request,
    resumed: Option<Resumed>,
    format: Format,
    storage: Option<Storage>,
) -> Result<Response, ApiError> {
    let backend = WorkerBackend { env: env.clone() };
    let started = backend.now_ms();
    let agent = request.agent;
    let decision = routing::decision(agent, request.route);
    // MCP tools get their servers' descriptions and parameters.
    #[cfg(feature = "mcp")]
    let decision = routing::Decision {
        tools: super::mcp::offered(&env, decision.tools).await,
        ..decision
    };
    let mut log = TurnLog::new(agent.name, request.session_id.as_deref(), decision.label());
    let system = match agent.system {
        Prompt::Text(text) => text.to_owned(),
        compiled => compiled.render(&PromptContext {
            now: &backend::now(),
            session_id: request.session_id.as_deref(),
        }),
    };

    let cache_url = agent
        .policy
        .cache()
        .filter(|_| resumed.is_none())
        .map(|policy| {
            let url = cache::key_url(
                agent,
                decision.model,
                &system,
                &request.history,
                &request.message,
                &decision.tools,
            );
            (url, policy.ttl_secs)
        });
    let hit = match &cache_url {
        Some((url, _)) => cache_api::get(url)
            .await
            .and_then(|answer| Some((answer.known_model(agent)?, answer))),
        None => None,
    };
    log.cache = match (&cache_url, &hit) {
        (None, _) => "off",
        (Some(_), Some(_)) => "hit",
        (Some(_), None) => "miss",
    };
    let limiter = request
        .limiter
        .zip(agent.policy.rate_limit())
        .filter(|(_, policy)| policy.token_budget.is_some());
    let (model, source) = match (hit, resumed) {
        (_, Some(resumed)) => {
            let model = resumed.model(&decision.chain(agent), decision.model);
            (model, Source::Resumed(resumed))
        }
        (Some((model, answer)), None) => (model, Source::Cached(answer)),
        (None, None) => {
            let input = TurnInput {
                agent,
                model: decision.model,
                tools: decision.tools.clone(),
                system: &system,
                history: request.history.clone(),
                user_message: request.message.clone(),
            };
            let chain = decision.chain(agent);
            match answer::start(&backend, &chain, &input.first_inputs(), &mut log).await {
                Ok((model, bytes)) => (model, Source::Model(bytes)),
                Err(err) => {
                    // No model answered: the turn's token reservation is released.
                    if let Some((name, policy)) = &limiter {
                        limiter::report_usage(&env, name, policy, 0).await;
                    }
                    log.error = Some(err.code);
                    log.total_ms = (backend.now_ms() - started).max(0.0) as u64;
                    emit(&env, &log);
                    return Err(err);
                }
            }
        }
    };
    log.model = Some(model);
    let headers = Headers::new();
    let set = |k: &str, v: &str| {
        headers
            .set(k, v)
            .map_err(|err| ApiError::internal(err.to_string()))
    };
    set("x-agentc-model", model)?;
    set("x-agentc-route", &decision.label())?;
    if cache_url.is_some() {
        set("x-agentc-cache", log.cache)?;
    }
    let cache_put = match (&source, cache_url) {
        (Source::Model(_), Some(entry)) => Some(entry),
        _ => None,
    };
    let finish = Finish {
        log,
        started_ms: started,
        cache: cache_put.is_some(),
        report_usage: limiter.is_some(),
    };
    let mut after = After {
        env,
        storage,
        cache_put,
        limiter,
    };
    #[cfg(feature = "approvals")]
    let label = decision.label();
    let tools = decision.tools;
    let (history, message) = (request.history, request.message);

    if let Format::Completion(completion) = &format {
        let mut sink = Recorder::new(CollectSink::default(), finish.cache);
        let outcome = run(
            &backend, agent, model, tools, &system, history, message, source, &mut sink,
        )
        .await;
        let (outcome, trace) = outcome;
        let deltas = sink.deltas.take();
        let collected = sink.inner;
        return match outcome {
            Outcome::Completed { messages, summary } => {
                finish
                    .complete(&mut after, &messages, &summary, deltas, &trace)
                    .await?;
                let response = json_response(&completion.whole(&collected.answer, &summary))?;
                let merged = merge(&headers, &response);
                Ok(response.with_headers(merged))
            }
            #[cfg(feature = "approvals")]
            Outcome::Paused(paused) => {
                let summary = finish
                    .pause(&mut after, &paused, &label, model, &trace)
                    .await?;
                let body =
                    completion.whole_tool_calls(&collected.answer, &paused.pending, &summary);
                let response = json_response(&body)?;
                let merged = merge(&headers, &response);
                Ok(response.with_headers(merged))
            }
            outcome => {
                let (code, message) = collected
                    .error
                    .unwrap_or(("model_error", "the turn failed".into()));
                finish.fail(&mut after, &outcome, &trace).await;
                Err(ApiError::new(502, code, message))
            }
        };
    }

    #[cfg(feature = "ui-stream")]
    let ui = matches!(format, Format::UiStream(_));
    let (frames, body) = Frames::new().map_err(ApiError::internal)?;
    let session_id = request.session_id;
    worker::wasm_bindgen_futures::spawn_local(async move {
        let mut after = after;
        let send = {
            let frames = frames.clone();
            move |frame: String| frames.send(frame.as_bytes())
        };
        let mut sink: Box<dyn Framing> = match &format {
            Format::CompletionChunks(completion) => {
                if !send(completion.start()) {
                    return;
                }
                Box::new(StreamSink { completion, send })
            }
            #[cfg(feature = "ui-stream")]
            Format::UiStream(message_id) => {
                let mut sink = UiSink::new(send);
                if !sink.start(message_id) {
                    return;
                }
                Box::new(sink)
            }
            _ => Box::new(AgentSink(send)),
        };
        let mut recorder = Recorder::new(&mut *sink, finish.cache);
        let (outcome, trace) = run(
            &backend,
            agent,
            model,
            tools,
            &system,
            history,
            message,
            source,
            &mut recorder,
        )
        .await;
        let deltas = recorder.deltas.take();
        // The answer is queued in the body, but storing the turn closes the Durable Object's
        // output gate until the write is durable (under workerd, a commit and an fsync of the
        // object's SQLite file), which would hold those frames back with it. One trip through
        // the event loop lets the platform send them first: the text reaches the client before
        // the commit, and `done` still only after it.
        backend.sleep(0).await;
        let (messages, summary) = match outcome {
            Outcome::Completed { messages, summary } => (messages, summary),
            #[cfg(feature = "approvals")]
            Outcome::Paused(paused) => {
                // The stream ends with the waiting calls, once they are stored.
                let end = match finish
                    .pause(&mut after, &paused, &label, model, &trace)
                    .await
                {
                    Ok(summary) => sink.paused(&paused.pending, &summary),
                    Err(err) => {
                        sink.event(TurnEvent::Error {
                            code: "storage_error",
                            message: &err.message,
                        });
                        return;
                    }
                };
                frames.send(end.as_bytes());
                return;
            }
            outcome => {
                finish.fail(&mut after, &outcome, &trace).await;
                return;
            }
        };
        if let Err(err) = finish
            .complete(&mut after, &messages, &summary, deltas, &trace)
            .await
        {
            sink.event(TurnEvent::Error {
                code: "storage_error",
                message: &err.message,
            });
            return;
        }
        frames.send(sink.done(&summary, session_id.as_deref()).as_bytes());
    });
    set("content-type", sse::CONTENT_TYPE)?;
    set("cache-control", "no-cache")?;
    #[cfg(feature = "ui-stream")]
    if ui {
        set(ui_stream::HEADER.0, ui_stream::HEADER.1)?;
    }
    Ok(Response::from_body(ResponseBody::Stream(body))
        .map_err(|err| ApiError::internal(err.to_string()))?
        .with_headers(headers))
}

/// A client's framing of a turn: its events, and the last frames of a completed one.
trait Framing: Sink {
    /// The frame that ends a completed turn; `session_id` is the session it was stored in.
    fn done(&mut self, summary: &Summary, session_id: Option<&str>) -> String;

    /// The frames that end a turn waiting for approval of the `pending` calls (stored):
    /// this API's `approval_required` event for each.
    #[cfg(feature = "approvals")]
    fn paused(&mut self, pending: &[PendingCall], _summary: &Summary) -> String {
        pending.iter().map(approval::required_frame).collect()
    }
}

impl<F: FnMut(String) -> bool> Framing for AgentSink<F> {
    fn done(&mut self, summary: &Summary, session_id: Option<&str>) -> String {
        sse::done(summary, session_id)
    }
}

impl<F: FnMut(String) -> bool> Framing for StreamSink<'_, F> {
    fn done(&mut self, summary: &Summary, _session_id: Option<&str>) -> String {
        self.completion.finish(summary)
    }

    #[cfg(feature = "approvals")]
    fn paused(&mut self, pending: &[PendingCall], summary: &Summary) -> String {
        self.completion.finish_tool_calls(pending, summary)
    }
}

#[cfg(feature = "ui-stream")]
impl<F: FnMut(String) -> bool> Framing for UiSink<F> {
    fn done(&mut self, summary: &Summary, _session_id: Option<&str>) -> String {
        self.finish(summary)
    }

    /// A `tool-approval-request` per waiting call (see [`crate::ui_stream`]).
    #[cfg(feature = "approvals")]
    fn paused(&mut self, pending: &[PendingCall], _summary: &Summary) -> String {
        UiSink::paused(self, pending.iter().map(|p| p.call.id.as_str()))
    }
}

/// Runs the turn from the model's stream, or replays a cached answer.
#[allow(clippy::too_many_arguments)]
async fn run(
    backend: &WorkerBackend,
    agent: &'static AgentSpec,
    model: &'static str,
    tools: Vec<&'static ToolSpec>,
    system: &str,
    history: Vec<Message>,
    message: String,
    source: Source,
    sink: &mut impl Sink,
) -> (Outcome, Trace) {
    let mut trace = Trace::default();
    let outcome = match source {
        Source::Model(first) => {
            let input = TurnInput {
                agent,
                model,
                tools,
                system,
                history,
                user_message: message,
            };
            turn::run(backend, input, first, sink, &mut trace).await
        }
        Source::Resumed(resumed) => {
            resumed
                .run(
                    backend, agent, model, tools, system, history, sink, &mut trace,
                )
                .await
        }
        Source::Cached(cached) => {
            answer::replay(backend, &cached, model, message, sink, &mut trace)
        }
    };
    (outcome, trace)
}

/// Writes the turn's log line, and its data point when the Worker has an Analytics Engine
/// binding named [`super::ANALYTICS_BINDING`].
fn emit(env: &Env, log: &TurnLog) {
    worker::console_log!("{}", log.to_line());
    super::analytics::write(env, log);
}

/// Passes events on, keeping the deltas when asked to (for the cache).
struct Recorder<S> {
    inner: S,
    deltas: Option<Vec<String>>,
}

impl<S> Recorder<S> {
    fn new(inner: S, record: bool) -> Self {
        Recorder {
            inner,
            deltas: record.then(Vec::new),
        }
    }
}

impl<S: Sink> Sink for Recorder<S> {
    fn event(&mut self, event: TurnEvent<'_>) -> bool {
        if let (TurnEvent::Delta(text), Some(deltas)) = (&event, &mut self.deltas) {
            deltas.push((*text).to_owned());
        }
        self.inner.event(event)
    }
}

/// The headers of `response` with `extra` added.
fn merge(extra: &Headers, response: &Response) -> Headers {
    let headers = Headers::new();
    for (name, value) in response.headers().entries().chain(extra.entries()) {
        let _ = headers.set(&name, &value);
    }
    headers
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
