//! One chat turn: the tool loop from the user's message to the final answer.
//!
//! A turn calls the model up to `max_steps` times. Text streams to the client as it comes;
//! when the model asks for tools, their calls run concurrently, their results go back to the
//! model, and the next step begins. The turn produces the messages to store only when it ends
//! well: a failed turn stores nothing. The platform is reached only through [`Backend`], so the
//! loop is tested on the host.

#[cfg(feature = "tools")]
use crate::agent::ToolKind;
use crate::agent::{AgentSpec, ToolSpec};
use crate::approval::{self, Decision, PausedTurn, PendingCall};
use crate::history::{Message, Role, ToolCall};
use crate::model::{self, ModelMessage, StreamDecoder};
use crate::sse::Usage;
use crate::step::{AssembledCall, Step};
#[cfg(any(feature = "tools", feature = "approvals"))]
use crate::tools;
use futures_util::stream::{Stream, StreamExt};
use serde_json::Value;

/// How many times a refused step (see [`crate::step::Refusal`]) is asked again: once with a note
/// and the tools, then once with the note and no tools, so that the turn answers in text.
pub const REFUSAL_RETRIES: u32 = 2;

/// How long a tool other than an HTTP tool (which has its own `timeout_ms`) may run.
pub const DEFAULT_TOOL_TIMEOUT_MS: u32 = 10_000;

/// How long a model's stream may send nothing, once started, before the turn fails: a stalled
/// model must not hold the session's lock until the platform ends the request.
pub const MODEL_IDLE_TIMEOUT_MS: u32 = 30_000;

/// What a turn needs from the platform.
#[allow(async_fn_in_trait)] // Workers are single-threaded: these futures need not be `Send`.
pub trait Backend {
    /// The bytes of a streamed model answer (server-sent events).
    type Bytes: Stream<Item = Result<Vec<u8>, String>> + Unpin;
    /// Starts a streamed model call with `inputs` as JSON text.
    async fn call_model(&self, model: &str, inputs: &str) -> Result<Self::Bytes, String>;
    /// Runs one tool; its arguments have been checked against its parameters.
    async fn run_tool(&self, tool: &'static ToolSpec, arguments: Value) -> Result<Value, String>;
    /// Resolves after `ms` milliseconds.
    async fn sleep(&self, ms: u32);
    /// Writes one line to the Worker's log.
    fn log(&self, line: &str);
    /// Milliseconds since some fixed point, for latencies in the turn's trace.
    fn now_ms(&self) -> f64;
}

/// Something that happened in a turn, for the client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TurnEvent<'a> {
    /// A piece of the answer.
    Delta(&'a str),
    ToolCall(&'a ToolCall),
    ToolResult(&'a ToolCall, &'a Result<Value, String>),
    /// The turn failed; nothing of it is stored.
    Error {
        code: &'static str,
        message: &'a str,
    },
}

/// Where a turn's events go, framed for one kind of client. Returns `false` once the client
/// has gone away.
pub trait Sink {
    fn event(&mut self, event: TurnEvent<'_>) -> bool;
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn event(&mut self, event: TurnEvent<'_>) -> bool {
        (**self).event(event)
    }
}

/// The summary of a completed turn, for its `done` event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub model: &'static str,
    pub steps: u32,
    pub usage: Usage,
}

/// How a turn ended.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// The model answered. `messages` are the turn's new messages, starting with the user's,
    /// to store; the client hears that the turn is done only after they are stored.
    Completed {
        messages: Vec<Message>,
        summary: Summary,
    },
    /// The turn waits for decisions on calls that need approval; the platform stores it and
    /// then ends the stream with an `approval_required` event per waiting call.
    Paused(PausedTurn),
    /// The turn failed; the error event has been sent.
    Failed { code: &'static str },
    /// The client went away; nothing more was sent.
    Disconnected,
}

/// One turn's fixed inputs.
pub struct TurnInput<'a> {
    pub agent: &'static AgentSpec,
    /// The model that answers every step (the one whose first call started).
    pub model: &'static str,
    /// The tools offered to the model (all the agent's, or a routing rule's subset).
    pub tools: Vec<&'static ToolSpec>,
    /// The rendered system prompt.
    pub system: &'a str,
    /// The windowed history before this turn.
    pub history: Vec<Message>,
    pub user_message: String,
}

impl TurnInput<'_> {
    /// The model inputs of the first step, as JSON text.
    pub fn first_inputs(&self) -> String {
        let mut conversation = self.history.clone();
        conversation.push(Message::new(Role::User, self.user_message.clone()));
        let input = model::build_input(self.agent, self.system, &conversation, &self.tools);
        serde_json::to_string(&input).expect("model inputs serialize")
    }
}

/// What a turn did, for its log line: filled in as the turn runs, whatever its outcome.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Model calls made.
    pub steps: u32,
    pub usage: Usage,
    /// When the first piece of the answer went to the client ([`Backend::now_ms`] time).
    pub first_delta_ms: Option<f64>,
    pub tools: Vec<ToolTrace>,
}

/// One tool call of a turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTrace {
    pub name: String,
    pub ok: bool,
    pub ms: f64,
}

/// Notes when the first delta passes, then hands every event on.
struct Timed<'s, 't, S: Sink, B: Backend> {
    sink: &'s mut S,
    trace: &'t mut Trace,
    backend: &'t B,
}

impl<S: Sink, B: Backend> Sink for Timed<'_, '_, S, B> {
    fn event(&mut self, event: TurnEvent<'_>) -> bool {
        if matches!(event, TurnEvent::Delta(_)) && self.trace.first_delta_ms.is_none() {
            self.trace.first_delta_ms = Some(self.backend.now_ms());
        }
        self.sink.event(event)
    }
}

/// Runs a turn whose first model call has already started (its failure is answered before
/// any stream begins, with a JSON error).
pub async fn run<B: Backend>(
    backend: &B,
    input: TurnInput<'_>,
    first: B::Bytes,
    sink: &mut impl Sink,
    trace: &mut Trace,
) -> Outcome {
    let mut conversation = input.history;
    let history_len = conversation.len();
    conversation.push(Message::new(Role::User, input.user_message));
    let state = State {
        agent: input.agent,
        model: input.model,
        tools: input.tools,
        system: input.system,
        conversation,
        history_len,
        usage: Usage::default(),
        step: 1,
    };
    let sink = &mut Timed {
        sink,
        trace,
        backend,
    };
    drive(backend, state, Some(first), sink).await
}

/// A turn paused for approval, and a decision on one of its waiting calls.
pub struct Resume<'a> {
    pub agent: &'static AgentSpec,
    pub model: &'static str,
    /// The tools offered in the turn.
    pub tools: Vec<&'static ToolSpec>,
    pub system: &'a str,
    /// The windowed history before the turn.
    pub history: Vec<Message>,
    pub paused: PausedTurn,
    /// The call decided on, already taken out of `paused.pending`.
    pub call: PendingCall,
    pub decision: Decision,
}

/// Goes on with a paused turn: runs the decided call (or gives the model the refusal), then
/// pauses again while other calls wait, or calls the model with the results.
pub async fn resume<B: Backend>(
    backend: &B,
    resume: Resume<'_>,
    sink: &mut impl Sink,
    trace: &mut Trace,
) -> Outcome {
    let Resume {
        agent,
        model,
        tools,
        system,
        history,
        paused,
        call,
        decision,
    } = resume;
    let sink = &mut Timed {
        sink,
        trace,
        backend,
    };
    let outcome = match decision {
        Decision::Approve => {
            let assembled = AssembledCall {
                call: call.call.clone(),
                invalid_arguments: None,
            };
            let started = backend.now_ms();
            let outcome = run_tool(backend, &tools, &assembled).await;
            sink.trace.tools.push(ToolTrace {
                name: call.call.name.clone(),
                ok: outcome.is_ok(),
                ms: backend.now_ms() - started,
            });
            outcome
        }
        Decision::Deny { reason } => Err(Decision::refusal(reason.as_deref())),
    };
    let history_len = history.len();
    let mut conversation = history;
    conversation.extend(paused.messages);
    if !report(
        backend,
        agent.policy.tools.stream_results,
        sink,
        &mut conversation,
        &call.call,
        outcome,
    ) {
        return Outcome::Disconnected;
    }
    let state = State {
        agent,
        model,
        tools,
        system,
        conversation,
        history_len,
        usage: paused.usage,
        step: paused.step,
    };
    if !paused.pending.is_empty() {
        return state.pause(paused.pending);
    }
    let state = State {
        step: state.step + 1,
        ..state
    };
    drive(backend, state, None, sink).await
}

/// Where a turn is: what it has said and done so far.
struct State<'a> {
    agent: &'static AgentSpec,
    model: &'static str,
    tools: Vec<&'static ToolSpec>,
    system: &'a str,
    /// The history, then the turn's messages.
    conversation: Vec<Message>,
    history_len: usize,
    usage: Usage,
    /// The step about to run.
    step: u32,
}

impl State<'_> {
    fn pause(mut self, pending: Vec<PendingCall>) -> Outcome {
        Outcome::Paused(PausedTurn {
            model: self.model.to_owned(),
            step: self.step,
            usage: self.usage,
            messages: self.conversation.split_off(self.history_len),
            pending,
        })
    }
}

/// The tool loop, from step `state.step` on; `source` is that step's model stream when it has
/// already started.
async fn drive<B: Backend, S: Sink>(
    backend: &B,
    mut state: State<'_>,
    mut source: Option<B::Bytes>,
    sink: &mut Timed<'_, '_, S, B>,
) -> Outcome {
    let (agent, model) = (state.agent, state.model);
    let mut retries = 0;
    let mut note: Option<String> = None;
    loop {
        let step_number = state.step;
        sink.trace.steps += 1;
        let offered: &[&'static ToolSpec] = if retries < REFUSAL_RETRIES {
            &state.tools
        } else {
            &[]
        };
        let bytes = match source.take() {
            Some(bytes) => bytes,
            None => {
                let mut inputs =
                    model::build_input(agent, state.system, &state.conversation, offered);
                if let Some(note) = &note {
                    inputs.messages.push(ModelMessage {
                        role: Role::System.as_str(),
                        content: note.as_str().into(),
                        tool_calls: Vec::new(),
                        tool_call_id: None,
                        name: None,
                    });
                }
                let inputs = serde_json::to_string(&inputs).expect("model inputs serialize");
                // A later step's call gets the first call's time to start; once started, the
                // step's idle timer covers it.
                match crate::answer::call_started(backend, model, &inputs).await {
                    Ok(bytes) => bytes,
                    Err(err) => return fail(sink, "model_error", &err),
                }
            }
        };
        let tool_names = state.tools.iter().map(|t| t.name).collect();
        let result = match read_step(backend, bytes, Step::new(tool_names), sink).await {
            Ok(Some(step)) => step,
            Ok(None) => return Outcome::Disconnected,
            Err(err) => return fail(sink, "model_error", &err),
        };
        state.usage += result.1;
        sink.trace.usage += result.1;
        let mut result = result.0.finish(step_number);
        let offered: Vec<&str> = offered.iter().map(|t| t.name).collect();
        if let Some(refusal) = result.refusal(&offered) {
            // Nothing of the step runs or is shown; the model is asked again.
            if retries == REFUSAL_RETRIES {
                return fail(sink, "model_error", &format!("{model}: {}", refusal.reason));
            }
            backend.log(&format!(
                "agentc: {}; asking the model again",
                refusal.reason
            ));
            retries += 1;
            note = Some(refusal.note);
            state.step += 1;
            continue;
        }
        note = None;
        if !result.unflushed.is_empty() && !sink.event(TurnEvent::Delta(&result.unflushed)) {
            return Outcome::Disconnected;
        }
        if result.calls.is_empty() {
            state
                .conversation
                .push(Message::new(Role::Assistant, result.text));
            return Outcome::Completed {
                messages: state.conversation.split_off(state.history_len),
                summary: Summary {
                    model,
                    steps: step_number,
                    usage: state.usage,
                },
            };
        }
        if step_number - retries >= agent.max_steps {
            let message = format!(
                "the model still wanted tools after {} steps (max_steps)",
                agent.max_steps
            );
            return fail(sink, "max_steps_exceeded", &message);
        }
        // Calls that wait for a person get ids of their own; the others run now.
        let mut waiting = Vec::new();
        for (index, call) in result.calls.iter_mut().enumerate() {
            if let Some(approval) = needs_approval(&state.tools, call) {
                let now = backend.now_ms();
                call.call.id = approval::call_id(step_number, index, now);
                waiting.push(PendingCall {
                    call: call.call.clone(),
                    expires_at_ms: now + approval.expires_secs as f64 * 1000.0,
                });
            }
        }
        for call in &result.calls {
            if !sink.event(TurnEvent::ToolCall(&call.call)) {
                return Outcome::Disconnected;
            }
        }
        let now: Vec<&AssembledCall> = result
            .calls
            .iter()
            .filter(|c| !waiting.iter().any(|w| w.call.id == c.call.id))
            .collect();
        // At most `max_calls_per_step` calls run; the others come back to the model as errors.
        let max_calls = agent.policy.tools.max_calls_per_step as usize;
        let tools = &state.tools;
        let runs = now.iter().enumerate().map(|(i, call)| async move {
            if i >= max_calls {
                let refused = format!(
                    "not run: at most {max_calls} tool calls are run in one step; call fewer tools at once"
                );
                return (Err(refused), 0.0);
            }
            let started = backend.now_ms();
            let outcome = run_tool(backend, tools, call).await;
            (outcome, backend.now_ms() - started)
        });
        let outcomes = futures_util::future::join_all(runs).await;
        let outcomes: Vec<Result<Value, String>> = outcomes
            .into_iter()
            .zip(&now)
            .map(|((outcome, ms), call)| {
                sink.trace.tools.push(ToolTrace {
                    name: call.call.name.clone(),
                    ok: outcome.is_ok(),
                    ms,
                });
                outcome
            })
            .collect();
        let ran: Vec<ToolCall> = now.iter().map(|c| c.call.clone()).collect();
        let calls: Vec<ToolCall> = result.calls.into_iter().map(|c| c.call).collect();
        state
            .conversation
            .push(Message::tool_calls(result.text, calls));
        for (call, outcome) in ran.iter().zip(outcomes) {
            if !report(
                backend,
                agent.policy.tools.stream_results,
                sink,
                &mut state.conversation,
                call,
                outcome,
            ) {
                return Outcome::Disconnected;
            }
        }
        if cfg!(feature = "approvals") && !waiting.is_empty() {
            return state.pause(waiting);
        }
        state.step += 1;
    }
}

/// Sends a call's result to the client and adds it to the conversation; `false` once the
/// client has gone away.
fn report<B: Backend>(
    backend: &B,
    stream_results: bool,
    sink: &mut impl Sink,
    conversation: &mut Vec<Message>,
    call: &ToolCall,
    outcome: Result<Value, String>,
) -> bool {
    // The error itself stays out of the log: it can quote an upstream's answer or the
    // arguments, which may hold secrets or personal data.
    if outcome.is_err() {
        backend.log(&format!("agentc: tool {} failed", call.name));
    }
    let shown = match &outcome {
        _ if stream_results => None,
        Ok(_) => Some(Ok(Value::Null)),
        Err(_) => Some(Err("the tool failed".to_owned())),
    };
    if !sink.event(TurnEvent::ToolResult(
        call,
        shown.as_ref().unwrap_or(&outcome),
    )) {
        return false;
    }
    let content = match outcome {
        Ok(value) => value.to_string(),
        Err(err) => serde_json::json!({ "error": err }).to_string(),
    };
    conversation.push(Message::tool_result(call, content));
    true
}

/// The approval a call waits for: its tool requires one and its arguments are valid (a call
/// that cannot run is answered with its error at once).
fn needs_approval(
    tools: &[&'static ToolSpec],
    call: &AssembledCall,
) -> Option<crate::agent::Approval> {
    // Without the `approvals` feature no tool of the Worker has approval: no turn pauses, and
    // none of the paused-turn code is compiled in.
    #[cfg(not(feature = "approvals"))]
    {
        let _ = (tools, call);
        None
    }
    #[cfg(feature = "approvals")]
    needs_approval_of(tools, call)
}

#[cfg(feature = "approvals")]
fn needs_approval_of(
    tools: &[&'static ToolSpec],
    call: &AssembledCall,
) -> Option<crate::agent::Approval> {
    let tool = tools.iter().find(|t| t.name == call.call.name)?;
    let approval = tool.approval?;
    if call.invalid_arguments.is_some() {
        return None;
    }
    let schema: Value = serde_json::from_str(tool.parameters).unwrap_or(Value::Null);
    tools::args::validate_arguments(&schema, &call.call.arguments).ok()?;
    Some(approval)
}

/// Streams one step's text to the client. `Ok(None)`: the client went away. A stream that
/// sends nothing for [`MODEL_IDLE_TIMEOUT_MS`] fails the step (seen within twice that time:
/// one timer serves the whole step, armed again each time it runs out after bytes came, rather
/// than a timer per chunk).
async fn read_step<B: Backend, S: Stream<Item = Result<Vec<u8>, String>> + Unpin>(
    backend: &B,
    mut bytes: S,
    mut step: Step,
    sink: &mut impl Sink,
) -> Result<Option<(Step, Usage)>, String> {
    use futures_util::future::{select, Either};
    let mut decoder = StreamDecoder::new();
    let mut events = Vec::new();
    let mut idle = Box::pin(backend.sleep(MODEL_IDLE_TIMEOUT_MS));
    // Whether bytes came since the timer was armed.
    let mut came = false;
    loop {
        let chunk = match select(bytes.next(), idle.as_mut()).await {
            Either::Left((Some(chunk), _)) => chunk,
            Either::Left((None, _)) => break,
            Either::Right(((), _)) if came => {
                came = false;
                idle = Box::pin(backend.sleep(MODEL_IDLE_TIMEOUT_MS));
                continue;
            }
            Either::Right(((), _)) => {
                return Err(format!(
                    "the model's stream stalled: nothing for {} s",
                    MODEL_IDLE_TIMEOUT_MS / 1000
                ))
            }
        };
        came = true;
        let chunk = chunk.map_err(|err| format!("the model's stream failed: {err}"))?;
        decoder
            .feed(&chunk, &mut events)
            .map_err(|err| err.to_string())?;
        let mut out = String::new();
        for event in events.drain(..) {
            if let Some(text) = step.on_event(event) {
                out.push_str(&text);
            }
        }
        if !out.is_empty() && !sink.event(TurnEvent::Delta(&out)) {
            return Ok(None);
        }
        if decoder.is_done() {
            break;
        }
    }
    decoder.finish().map_err(|err| err.to_string())?;
    let usage = step.usage;
    Ok(Some((step, usage)))
}

fn fail(sink: &mut impl Sink, code: &'static str, message: &str) -> Outcome {
    sink.event(TurnEvent::Error { code, message });
    Outcome::Failed { code }
}

/// Checks a call and runs it within its time limit. Every failure is a message for the model.
async fn run_tool<B: Backend>(
    backend: &B,
    tools: &[&'static ToolSpec],
    call: &AssembledCall,
) -> Result<Value, String> {
    let name = &call.call.name;
    // Without the `tools` feature no agent of the Worker has tools: none of this is compiled in
    // (`#[cfg]`: a constant `cfg!` condition still left it in).
    #[cfg(feature = "tools")]
    if let Some(tool) = tools.iter().copied().find(|t| t.name == name) {
        return run_found_tool(backend, tool, call).await;
    }
    #[cfg(not(feature = "tools"))]
    let _ = backend;
    let known: Vec<&str> = tools.iter().map(|t| t.name).collect();
    Err(format!(
        "there is no tool named `{name}`; the tools are: {}",
        known.join(", ")
    ))
}

#[cfg(feature = "tools")]
async fn run_found_tool<B: Backend>(
    backend: &B,
    tool: &'static ToolSpec,
    call: &AssembledCall,
) -> Result<Value, String> {
    let name = &call.call.name;
    if let Some(err) = &call.invalid_arguments {
        return Err(err.clone());
    }
    let schema: Value = serde_json::from_str(tool.parameters).unwrap_or(Value::Null);
    tools::args::validate_arguments(&schema, &call.call.arguments)
        .map_err(|errors| tools::args::describe(&errors))?;
    let timeout = match tool.kind {
        ToolKind::Http(http) => http.timeout_ms,
        _ => DEFAULT_TOOL_TIMEOUT_MS,
    };
    let run = std::pin::pin!(backend.run_tool(tool, call.call.arguments.clone()));
    let sleep = std::pin::pin!(backend.sleep(timeout));
    match futures_util::future::select(run, sleep).await {
        futures_util::future::Either::Left((result, _)) => result,
        futures_util::future::Either::Right(((), _)) => {
            let unsafe_method = match tool.kind {
                ToolKind::Http(http) if http.method != "GET" => Some(http.method),
                _ => None,
            };
            Err(match unsafe_method {
                // The request was cancelled, but it may have reached the server.
                Some(method) => format!(
                    "the tool `{name}` timed out after {timeout} ms; its {method} request may have taken effect, so do not call it again without checking"
                ),
                None => format!("the tool `{name}` timed out after {timeout} ms"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Builtin, ToolKind};
    use serde_json::json;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    const WEATHER: ToolSpec = ToolSpec {
        name: "get_weather",
        description: "Weather in a city",
        parameters: r#"{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}"#,
        kind: ToolKind::Builtin(Builtin::Clock),
        approval: None,
    };
    static TOOLS: [ToolSpec; 1] = [WEATHER];
    static AGENT: AgentSpec = AgentSpec {
        name: "weather",
        description: "",
        model: "@cf/test",
        system: crate::tools::template::Prompt::Text("Be brief."),
        history_window: 10,
        max_tokens: 100,
        temperature: None,
        max_steps: 3,
        tools: &TOOLS,
        policy: crate::policy::Policy::NONE,
    };

    /// A model answer that never starts.
    const NEVER_STARTS: &str = "(never starts)";

    /// A platform double: model answers are given as server-sent event text, one per call
    /// ([`NEVER_STARTS`]: a call that never answers);
    /// `get_weather` answers from the table below, or never for "Atlantis".
    #[derive(Default)]
    struct Fake {
        answers: RefCell<VecDeque<String>>,
        model_inputs: RefCell<Vec<Value>>,
        tool_runs: RefCell<Vec<Value>>,
    }

    type Bytes = futures_util::stream::Iter<std::vec::IntoIter<Result<Vec<u8>, String>>>;

    impl Backend for Fake {
        type Bytes = Bytes;
        async fn call_model(&self, _model: &str, inputs: &str) -> Result<Bytes, String> {
            self.model_inputs
                .borrow_mut()
                .push(serde_json::from_str(inputs).unwrap());
            let answer = self
                .answers
                .borrow_mut()
                .pop_front()
                .ok_or("no answer left")?;
            if answer == NEVER_STARTS {
                return std::future::pending().await;
            }
            Ok(bytes(&answer))
        }
        async fn run_tool(
            &self,
            _tool: &'static ToolSpec,
            arguments: Value,
        ) -> Result<Value, String> {
            self.tool_runs.borrow_mut().push(arguments.clone());
            match arguments["location"].as_str() {
                Some("Atlantis") => std::future::pending().await,
                Some("Nowhere") => Err("no such place".into()),
                Some(city) => Ok(json!({ "city": city, "temp_c": 21 })),
                None => unreachable!("arguments are checked first"),
            }
        }
        async fn sleep(&self, _ms: u32) {
            // Time passes at once: only a tool that never answers loses the race.
            for _ in 0..100 {
                yield_now().await;
            }
        }
        fn log(&self, _line: &str) {}
        fn now_ms(&self) -> f64 {
            0.0
        }
    }

    /// Gives other futures a turn, waking itself so the executor polls again.
    async fn yield_now() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                std::task::Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        })
        .await
    }

    fn bytes(sse: &str) -> Bytes {
        // Cut the stream into small pieces, as a network would.
        let chunks: Vec<Result<Vec<u8>, String>> =
            sse.as_bytes().chunks(7).map(|c| Ok(c.to_vec())).collect();
        futures_util::stream::iter(chunks)
    }

    fn text(text: &str) -> String {
        format!("data: {}\n\ndata: [DONE]\n\n", json!({ "response": text }))
    }

    fn calls(cities: &[&str]) -> String {
        let calls: Vec<Value> = cities
            .iter()
            .map(|c| json!({"name": "get_weather", "arguments": {"location": c}}))
            .collect();
        format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({ "response": "", "tool_calls": calls })
        )
    }

    /// Runs a turn for "Weather?" over the given model answers.
    fn turn(fake: &Fake, answers: &[String]) -> (Outcome, Vec<(String, Value)>) {
        fake.answers.borrow_mut().extend(answers.iter().cloned());
        let input = TurnInput {
            agent: &AGENT,
            model: AGENT.model,
            tools: AGENT.tools.iter().collect(),
            system: "Be brief.",
            history: vec![],
            user_message: "Weather?".into(),
        };
        let first = futures_executor::block_on(fake.call_model(AGENT.model, &input.first_inputs()))
            .unwrap();
        let mut frames = Vec::new();
        let mut sink = crate::sse::AgentSink(|frame: String| {
            frames.push(frame);
            true
        });
        let mut trace = Trace::default();
        let outcome = futures_executor::block_on(run(fake, input, first, &mut sink, &mut trace));
        assert_eq!(trace.steps, fake.model_inputs.borrow().len() as u32);
        // The platform sends `done` once the messages are stored.
        if let Outcome::Completed { summary, .. } = &outcome {
            frames.push(crate::sse::done(summary, None));
        }
        let events = frames
            .concat()
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (name, data) = f.split_once("\ndata: ").unwrap();
                (
                    name.trim_start_matches("event: ").to_owned(),
                    serde_json::from_str(data).unwrap(),
                )
            })
            .collect();
        (outcome, events)
    }

    fn names(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn a_two_step_tool_turn() {
        let fake = Fake::default();
        let (outcome, events) = turn(&fake, &[calls(&["Paris"]), text("Sunny, 21°C.")]);
        assert_eq!(
            names(&events),
            ["tool_call", "tool_result", "delta", "done"]
        );
        assert_eq!(
            events[0].1,
            json!({"id": "call_1_0", "name": "get_weather", "arguments": {"location": "Paris"}})
        );
        assert_eq!(
            events[1].1["result"],
            json!({"city": "Paris", "temp_c": 21})
        );
        assert_eq!(events[3].1["steps"], 2);
        let Outcome::Completed { messages, .. } = outcome else {
            panic!("{outcome:?}")
        };
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
        // The second model call carries the call and its result.
        let second = &fake.model_inputs.borrow()[1]["messages"];
        assert_eq!(
            second[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"location":"Paris"}"#
        );
        assert_eq!(second[3]["role"], "tool");
        assert_eq!(second[3]["tool_call_id"], "call_1_0");
        // Marked as data for the model (OWASP LLM01); stored as it came.
        assert_eq!(
            second[3]["content"],
            "<tool_output>\n{\"city\":\"Paris\",\"temp_c\":21}\n</tool_output>"
        );
        assert_eq!(messages[2].content, r#"{"city":"Paris","temp_c":21}"#);
    }

    #[test]
    fn parallel_calls_all_run_and_answer_in_order() {
        let fake = Fake::default();
        let (outcome, events) = turn(&fake, &[calls(&["Oslo", "Nowhere", "Rome"]), text("Done.")]);
        assert_eq!(
            names(&events),
            [
                "tool_call",
                "tool_call",
                "tool_call",
                "tool_result",
                "tool_result",
                "tool_result",
                "delta",
                "done"
            ]
        );
        assert_eq!(fake.tool_runs.borrow().len(), 3);
        let oks: Vec<&Value> = events[3..6].iter().map(|(_, d)| &d["ok"]).collect();
        assert_eq!(oks, [true, false, true]);
        assert_eq!(events[4].1["error"], "no such place");
        assert!(matches!(outcome, Outcome::Completed { .. }));
    }

    #[test]
    fn bad_arguments_go_back_to_the_model_and_the_tool_does_not_run() {
        let fake = Fake::default();
        let bad = format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]})
        );
        let (_, events) = turn(&fake, &[bad, text("Which city?")]);
        assert_eq!(events[1].1["ok"], false);
        let error = events[1].1["error"].as_str().unwrap();
        assert!(error.contains("location"), "{error}");
        assert!(fake.tool_runs.borrow().is_empty());
        let second = &fake.model_inputs.borrow()[1]["messages"];
        assert!(second[3]["content"].as_str().unwrap().contains("location"));
    }

    #[test]
    fn a_tool_that_never_answers_times_out() {
        let fake = Fake::default();
        let (_, events) = turn(&fake, &[calls(&["Atlantis"]), text("Sorry.")]);
        assert_eq!(
            names(&events),
            ["tool_call", "tool_result", "delta", "done"]
        );
        assert!(events[1].1["error"]
            .as_str()
            .unwrap()
            .contains("timed out after 10000 ms"));
    }

    #[test]
    fn a_later_step_whose_model_never_starts_fails_the_turn() {
        let fake = Fake::default();
        let (outcome, events) = turn(&fake, &[calls(&["Paris"]), NEVER_STARTS.into()]);
        assert_eq!(
            outcome,
            Outcome::Failed {
                code: "model_error"
            }
        );
        assert_eq!(names(&events), ["tool_call", "tool_result", "error"]);
        assert!(events[2].1["message"]
            .as_str()
            .unwrap()
            .contains("no answer within 60 s"));
        assert_eq!(fake.tool_runs.borrow().len(), 1);
    }

    #[test]
    fn exceeding_max_steps_fails_the_turn() {
        let fake = Fake::default();
        let (outcome, events) = turn(&fake, &[calls(&["A"]), calls(&["B"]), calls(&["C"])]);
        assert_eq!(
            outcome,
            Outcome::Failed {
                code: "max_steps_exceeded"
            }
        );
        assert_eq!(names(&events).last(), Some(&"error"));
        assert_eq!(fake.model_inputs.borrow().len(), 3);
    }

    #[test]
    fn a_truncated_stream_fails_the_turn() {
        let fake = Fake::default();
        let cut = format!("data: {}\n\n", json!({"response": "It is"}));
        let (outcome, events) = turn(&fake, &[cut]);
        assert_eq!(
            outcome,
            Outcome::Failed {
                code: "model_error"
            }
        );
        assert_eq!(names(&events), ["delta", "error"]);
    }

    fn call_of(name: &str) -> String {
        format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"tool_calls": [{"name": name, "arguments": {"location": "Paris"}}]})
        )
    }

    /// The system note at the end of a model call's messages, if there is one after the user's.
    fn note(inputs: &Value) -> Option<String> {
        let last = inputs["messages"].as_array()?.last()?;
        (last["role"] == "system").then(|| last["content"].as_str().unwrap().to_owned())
    }

    #[test]
    fn a_call_of_a_missing_tool_is_not_run_nor_shown_and_the_model_is_asked_again() {
        let fake = Fake::default();
        let written = text(r#"{"name": "count_to_10", "arguments": {"location": "Paris"}}"#);
        let (outcome, events) = turn(&fake, &[written, text("1, 2, 3.")]);
        assert_eq!(names(&events), ["delta", "done"]);
        assert_eq!(events[0].1["text"], "1, 2, 3.");
        assert!(fake.tool_runs.borrow().is_empty());
        let inputs = fake.model_inputs.borrow();
        let note = note(&inputs[1]).expect("the second call carries a note");
        assert!(note.contains("no tool named `count_to_10`"), "{note}");
        assert!(note.contains("get_weather"), "{note}");
        assert_eq!(inputs[1]["tools"][0]["function"]["name"], "get_weather");
        let Outcome::Completed { messages, summary } = outcome else {
            panic!("{outcome:?}")
        };
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(
            roles,
            ["user", "assistant"],
            "the refused call is not stored"
        );
        assert_eq!(summary.steps, 2);
    }

    #[test]
    fn after_a_second_missing_tool_the_model_answers_without_tools() {
        let fake = Fake::default();
        let (outcome, events) = turn(
            &fake,
            &[
                call_of("set_name"),
                call_of("set_name"),
                text("Hello, Alice."),
            ],
        );
        assert_eq!(names(&events), ["delta", "done"]);
        let inputs = fake.model_inputs.borrow();
        assert_eq!(inputs.len(), 3);
        assert!(inputs[2].get("tools").is_none(), "{}", inputs[2]);
        assert!(note(&inputs[2]).unwrap().contains("set_name"));
        assert!(matches!(outcome, Outcome::Completed { .. }));
    }

    #[test]
    fn a_model_that_keeps_calling_missing_tools_fails_the_turn() {
        let fake = Fake::default();
        let (outcome, events) = turn(
            &fake,
            &[
                call_of("a"),
                call_of("b"),
                text(r#"{"name": "get_weather", "arguments": {}}"#),
            ],
        );
        assert_eq!(
            outcome,
            Outcome::Failed {
                code: "model_error"
            }
        );
        assert_eq!(names(&events), ["error"]);
        let message = events[0].1["message"].as_str().unwrap();
        assert!(
            message.contains("tools that are not available (`get_weather`)"),
            "{message}"
        );
        assert!(fake.tool_runs.borrow().is_empty());
    }

    #[test]
    fn a_repeated_tool_error_is_never_the_answer() {
        let fake = Fake::default();
        let echo = text(r#"{"error": "no such place"}"#);
        let (outcome, events) = turn(
            &fake,
            &[
                calls(&["Nowhere"]),
                echo,
                text("I could not find that place."),
            ],
        );
        assert_eq!(
            names(&events),
            ["tool_call", "tool_result", "delta", "done"]
        );
        assert_eq!(events[2].1["text"], "I could not find that place.");
        let inputs = fake.model_inputs.borrow();
        assert!(note(&inputs[2]).unwrap().contains("plain words"));
        let Outcome::Completed { messages, .. } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(
            messages.last().unwrap().content,
            "I could not find that place."
        );
    }

    #[test]
    fn a_stalled_model_stream_fails_the_step() {
        let fake = Fake::default();
        let first = format!("data: {}\n\n", json!({ "response": "Hi" }));
        let stalled = futures_util::stream::iter(vec![Ok(first.into_bytes())])
            .chain(futures_util::stream::pending());
        let mut frames = Vec::new();
        let mut sink = crate::sse::AgentSink(|frame: String| {
            frames.push(frame);
            true
        });
        let result = futures_executor::block_on(read_step(
            &fake,
            Box::pin(stalled),
            Step::new(Vec::new()),
            &mut sink,
        ));
        let err = result.expect_err("the stalled stream fails");
        assert!(err.contains("stalled"), "{err}");
        assert_eq!(frames.len(), 1, "the text before the stall was streamed");
    }
}

#[cfg(all(test, feature = "approvals"))]
#[path = "turn/approval_tests.rs"]
mod approval_tests;
