//! The policy around one turn's tool loop, host-tested: which model starts answering (the
//! fallback chain, each model given [`MODEL_START_TIMEOUT_MS`] to start), the replay of a cached
//! answer, and what a completed turn does afterwards, in this order: store its messages, cache
//! its answer (when it may be), report its token usage, write its log line. The client hears
//! `done` only after all of it. `platform/respond.rs` supplies the platform side of each step.

use crate::api::ApiError;
use crate::approval::PausedTurn;
use crate::cache::{self, CachedAnswer};
use crate::history::{Message, Role};
use crate::observe::TurnLog;
use crate::sse::Usage;
use crate::turn::{Backend, Outcome, Sink, Summary, Trace, TurnEvent};
use futures_util::future::{select, Either};

/// How long a model may take to start answering before the next model of the chain is tried.
pub const MODEL_START_TIMEOUT_MS: u32 = 60_000;

/// Starts the first model of `chain` that starts answering: a model whose call fails (a
/// capacity error, a 5xx) or that does not answer within the timeout is skipped, and noted in
/// `log.failed_models`. When every model fails: a 502 `model_error` naming each failure.
pub async fn start<B: Backend>(
    backend: &B,
    chain: &[&'static str],
    inputs: &str,
    log: &mut TurnLog,
) -> Result<(&'static str, B::Bytes), ApiError> {
    let mut errors = Vec::new();
    for &model in chain {
        match call_started(backend, model, inputs).await {
            Ok(bytes) => return Ok((model, bytes)),
            Err(error) => {
                log.failed_models.push(model);
                errors.push(error);
            }
        }
    }
    Err(ApiError::model_failed(errors.join("; ")))
}

/// Calls `model`, giving it [`MODEL_START_TIMEOUT_MS`] to start answering: its stream, or why
/// not (prefixed with the model). Every model call of a turn goes through here.
pub async fn call_started<B: Backend>(
    backend: &B,
    model: &str,
    inputs: &str,
) -> Result<B::Bytes, String> {
    let call = std::pin::pin!(backend.call_model(model, inputs));
    let timeout = std::pin::pin!(backend.sleep(MODEL_START_TIMEOUT_MS));
    match select(call, timeout).await {
        Either::Left((Ok(bytes), _)) => Ok(bytes),
        Either::Left((Err(err), _)) => Err(format!("{model}: {err}")),
        Either::Right(((), _)) => Err(format!(
            "{model}: no answer within {} s",
            MODEL_START_TIMEOUT_MS / 1000
        )),
    }
}

/// A cached answer replayed as the turn: its pieces go to the client as they were streamed, and
/// the turn completes with the user's message and the answer, in zero model steps.
pub fn replay<B: Backend>(
    backend: &B,
    answer: &CachedAnswer,
    model: &'static str,
    message: String,
    sink: &mut impl Sink,
    trace: &mut Trace,
) -> Outcome {
    for delta in &answer.deltas {
        if trace.first_delta_ms.is_none() {
            trace.first_delta_ms = Some(backend.now_ms());
        }
        if !sink.event(TurnEvent::Delta(delta)) {
            return Outcome::Disconnected;
        }
    }
    Outcome::Completed {
        messages: vec![
            Message::new(Role::User, message),
            Message::new(Role::Assistant, answer.text()),
        ],
        summary: Summary {
            model,
            steps: 0,
            usage: Usage::default(),
        },
    }
}

/// The platform side of what follows a turn.
#[allow(async_fn_in_trait)] // Workers are single-threaded: these futures need not be `Send`.
pub trait AfterTurn {
    /// Stores the turn's messages (with no `await` between them), when the turn has a session.
    fn store(&mut self, messages: &[Message]) -> Result<(), ApiError>;
    /// Keeps a turn that waits for approval (under the routing label it ran with), when the
    /// turn has a session.
    fn save_paused(&mut self, route: &str, paused: &PausedTurn) -> Result<(), ApiError>;
    /// Puts an answer into the response cache, when the agent has one and this turn missed.
    async fn cache(&mut self, answer: CachedAnswer);
    /// Tells the caller's rate limiter the tokens the turn used, when it has a token budget.
    async fn report_usage(&mut self, tokens: u64);
    /// Writes the turn's log line.
    fn log(&mut self, log: &TurnLog);
    /// Milliseconds, on the clock the turn's start was read from.
    fn now_ms(&self) -> f64;
}

/// What one turn does afterwards, and what it knows for its log line.
pub struct Finish {
    pub log: TurnLog,
    pub started_ms: f64,
    /// Whether to cache a cacheable answer (the agent has a cache and this turn missed it).
    pub cache: bool,
    /// Whether the turn's usage goes to a rate limiter with a token budget.
    pub report_usage: bool,
}

impl Finish {
    /// After a completed turn: store, then cache, then report usage, then log. A failed store
    /// fails the turn (logged as `storage_error`) and nothing after it happens.
    pub async fn complete(
        mut self,
        after: &mut impl AfterTurn,
        messages: &[Message],
        summary: &Summary,
        deltas: Option<Vec<String>>,
        trace: &Trace,
    ) -> Result<(), ApiError> {
        if let Err(err) = after.store(messages) {
            self.log.error = Some("storage_error");
            self.write(after, trace);
            return Err(err);
        }
        if let (true, Some(deltas)) = (self.cache, deltas) {
            if summary.steps == 1 && cache::cacheable(messages) {
                let answer = CachedAnswer {
                    model: summary.model.to_owned(),
                    deltas,
                };
                after.cache(answer).await;
            }
        }
        if self.report_usage {
            let tokens = summary.usage.prompt_tokens + summary.usage.completion_tokens;
            after.report_usage(tokens).await;
        }
        self.write(after, trace);
        Ok(())
    }

    /// After a turn paused for approval: keep it, then report its usage so far, then log. The
    /// summary is what the client hears with the waiting calls.
    pub async fn pause(
        mut self,
        after: &mut impl AfterTurn,
        paused: &PausedTurn,
        route: &str,
        model: &'static str,
        trace: &Trace,
    ) -> Result<Summary, ApiError> {
        if let Err(err) = after.save_paused(route, paused) {
            self.log.error = Some("storage_error");
            self.write(after, trace);
            return Err(err);
        }
        if self.report_usage {
            let tokens = trace.usage.prompt_tokens + trace.usage.completion_tokens;
            after.report_usage(tokens).await;
        }
        self.write(after, trace);
        Ok(Summary {
            model,
            steps: paused.step,
            usage: paused.usage,
        })
    }

    /// After a failed or abandoned turn: nothing is stored or cached, but the tokens it used
    /// still count against the caller's token budget; then the log line, with the error's code.
    pub async fn fail(mut self, after: &mut impl AfterTurn, outcome: &Outcome, trace: &Trace) {
        self.log.error = Some(match outcome {
            Outcome::Failed { code } => *code,
            Outcome::Disconnected => "disconnected",
            Outcome::Completed { .. } | Outcome::Paused(_) => "none",
        });
        if self.report_usage {
            let tokens = trace.usage.prompt_tokens + trace.usage.completion_tokens;
            after.report_usage(tokens).await;
        }
        self.write(after, trace);
    }

    fn write(&mut self, after: &mut impl AfterTurn, trace: &Trace) {
        self.log.record(trace, self.started_ms);
        self.log.total_ms = (after.now_ms() - self.started_ms).max(0.0).round() as u64;
        after.log(&self.log);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ToolSpec;
    use futures_executor::block_on;
    use serde_json::Value;
    use std::cell::RefCell;

    type Bytes = futures_util::stream::Iter<std::vec::IntoIter<Result<Vec<u8>, String>>>;

    /// Models by name: `down` fails at once, `slow` never answers, anything else answers.
    #[derive(Default)]
    struct Models {
        calls: RefCell<Vec<String>>,
    }

    impl Backend for Models {
        type Bytes = Bytes;
        async fn call_model(&self, model: &str, _inputs: &str) -> Result<Bytes, String> {
            self.calls.borrow_mut().push(model.to_owned());
            match model {
                "down" => Err("capacity exceeded".into()),
                "slow" => std::future::pending().await,
                _ => Ok(futures_util::stream::iter(vec![])),
            }
        }
        async fn run_tool(&self, _: &'static ToolSpec, _: Value) -> Result<Value, String> {
            unreachable!()
        }
        async fn sleep(&self, _ms: u32) {
            // The timeout fires as soon as the model's call has had a chance to answer.
            futures_util::future::ready(()).await
        }
        fn log(&self, _line: &str) {}
        fn now_ms(&self) -> f64 {
            1000.0
        }
    }

    fn log() -> TurnLog {
        TurnLog::new("a", Some("s"), "default".into())
    }

    #[test]
    fn the_first_model_that_starts_answers_and_the_others_are_logged() {
        let models = Models::default();
        let mut log = log();
        let (model, _) = block_on(start(
            &models,
            &["down", "slow", "up", "later"],
            "{}",
            &mut log,
        ))
        .unwrap_or_else(|err| panic!("{err:?}"));
        assert_eq!(model, "up");
        assert_eq!(log.failed_models, ["down", "slow"]);
        assert_eq!(*models.calls.borrow(), ["down", "slow", "up"]);
    }

    #[test]
    fn when_every_model_fails_the_error_names_each() {
        let models = Models::default();
        let mut log = log();
        let err = block_on(start(&models, &["down", "slow"], "{}", &mut log))
            .err()
            .unwrap();
        assert_eq!((err.status, err.code), (502, "model_error"));
        assert!(
            err.message.contains("down: capacity exceeded"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("slow: no answer within 60 s"),
            "{}",
            err.message
        );
    }

    struct Deltas(Vec<String>, usize);
    impl Sink for Deltas {
        fn event(&mut self, event: TurnEvent<'_>) -> bool {
            if let TurnEvent::Delta(text) = event {
                self.0.push(text.to_owned());
            }
            self.0.len() < self.1
        }
    }

    #[test]
    fn a_cached_answer_replays_as_a_turn_without_steps() {
        let answer = CachedAnswer {
            model: "m".into(),
            deltas: vec!["It is ".into(), "sunny.".into()],
        };
        let mut sink = Deltas(Vec::new(), usize::MAX);
        let mut trace = Trace::default();
        let outcome = replay(
            &Models::default(),
            &answer,
            "m",
            "Weather?".into(),
            &mut sink,
            &mut trace,
        );
        assert_eq!(sink.0, ["It is ", "sunny."]);
        assert_eq!(trace.first_delta_ms, Some(1000.0));
        let Outcome::Completed { messages, summary } = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(messages[1].content, "It is sunny.");
        assert_eq!((summary.model, summary.steps), ("m", 0));
        let mut gone = Deltas(Vec::new(), 1);
        let outcome = replay(
            &Models::default(),
            &answer,
            "m",
            "x".into(),
            &mut gone,
            &mut trace,
        );
        assert_eq!(outcome, Outcome::Disconnected);
    }

    /// Records what happens after a turn, in order.
    #[derive(Default)]
    struct Recorder {
        done: Vec<String>,
        store_fails: bool,
    }

    impl AfterTurn for Recorder {
        fn store(&mut self, messages: &[Message]) -> Result<(), ApiError> {
            self.done.push(format!("store {}", messages.len()));
            if self.store_fails {
                return Err(ApiError::internal("disk full"));
            }
            Ok(())
        }
        fn save_paused(&mut self, route: &str, paused: &PausedTurn) -> Result<(), ApiError> {
            self.done
                .push(format!("pause {route} {}", paused.pending.len()));
            if self.store_fails {
                return Err(ApiError::internal("disk full"));
            }
            Ok(())
        }
        async fn cache(&mut self, answer: CachedAnswer) {
            self.done.push(format!("cache {}", answer.text()));
        }
        async fn report_usage(&mut self, tokens: u64) {
            self.done.push(format!("usage {tokens}"));
        }
        fn log(&mut self, log: &TurnLog) {
            self.done
                .push(format!("log {:?} {}", log.error, log.total_ms));
        }
        fn now_ms(&self) -> f64 {
            1250.0
        }
    }

    fn turn() -> (Vec<Message>, Summary) {
        let messages = vec![
            Message::new(Role::User, "Hi"),
            Message::new(Role::Assistant, "Hello."),
        ];
        let summary = Summary {
            model: "m",
            steps: 1,
            usage: Usage {
                prompt_tokens: 30,
                completion_tokens: 5,
            },
        };
        (messages, summary)
    }

    fn finish(cache: bool, report_usage: bool) -> Finish {
        Finish {
            log: log(),
            started_ms: 1000.0,
            cache,
            report_usage,
        }
    }

    #[test]
    fn a_completed_turn_is_stored_then_cached_then_counted_then_logged() {
        let (messages, summary) = turn();
        let mut after = Recorder::default();
        let deltas = Some(vec!["Hello.".to_owned()]);
        block_on(finish(true, true).complete(
            &mut after,
            &messages,
            &summary,
            deltas,
            &Trace::default(),
        ))
        .unwrap();
        assert_eq!(
            after.done,
            ["store 2", "cache Hello.", "usage 35", "log None 250"]
        );
    }

    #[test]
    fn only_what_the_agent_has_happens() {
        let (messages, summary) = turn();
        let mut after = Recorder::default();
        block_on(finish(false, false).complete(
            &mut after,
            &messages,
            &summary,
            None,
            &Trace::default(),
        ))
        .unwrap();
        assert_eq!(after.done, ["store 2", "log None 250"]);
        // A turn that used tools (two steps) is not cached.
        let mut after = Recorder::default();
        let two_steps = Summary {
            steps: 2,
            ..summary
        };
        let deltas = Some(vec!["Hello.".to_owned()]);
        block_on(finish(true, false).complete(
            &mut after,
            &messages,
            &two_steps,
            deltas,
            &Trace::default(),
        ))
        .unwrap();
        assert_eq!(after.done, ["store 2", "log None 250"]);
    }

    #[test]
    fn a_failed_store_fails_the_turn_and_nothing_follows() {
        let (messages, summary) = turn();
        let mut after = Recorder {
            store_fails: true,
            ..Recorder::default()
        };
        let deltas = Some(vec!["Hello.".to_owned()]);
        let err = block_on(finish(true, true).complete(
            &mut after,
            &messages,
            &summary,
            deltas,
            &Trace::default(),
        ))
        .unwrap_err();
        assert_eq!(err.message, "disk full");
        assert_eq!(after.done, ["store 2", "log Some(\"storage_error\") 250"]);
    }

    #[test]
    fn a_failed_turn_stores_nothing_but_its_tokens_still_count() {
        let mut after = Recorder::default();
        let trace = Trace {
            usage: Usage {
                prompt_tokens: 40,
                completion_tokens: 2,
            },
            ..Trace::default()
        };
        block_on(finish(true, true).fail(&mut after, &Outcome::Disconnected, &trace));
        assert_eq!(after.done, ["usage 42", "log Some(\"disconnected\") 250"]);
        let mut after = Recorder::default();
        block_on(finish(true, false).fail(&mut after, &Outcome::Disconnected, &trace));
        assert_eq!(after.done, ["log Some(\"disconnected\") 250"]);
    }

    #[test]
    fn a_paused_turn_is_kept_then_counted_then_logged() {
        let paused = PausedTurn {
            model: "m".into(),
            step: 1,
            usage: Usage {
                prompt_tokens: 30,
                completion_tokens: 5,
            },
            messages: vec![Message::new(Role::User, "Refund order 7")],
            pending: Vec::new(),
        };
        let trace = Trace {
            usage: paused.usage,
            ..Trace::default()
        };
        let mut after = Recorder::default();
        let summary =
            block_on(finish(true, true).pause(&mut after, &paused, "default", "m", &trace))
                .unwrap();
        assert_eq!((summary.steps, summary.usage), (1, paused.usage));
        assert_eq!(after.done, ["pause default 0", "usage 35", "log None 250"]);
        let mut after = Recorder {
            store_fails: true,
            ..Recorder::default()
        };
        block_on(finish(true, true).pause(&mut after, &paused, "default", "m", &trace))
            .unwrap_err();
        assert_eq!(
            after.done,
            ["pause default 0", "log Some(\"storage_error\") 250"]
        );
    }
}
