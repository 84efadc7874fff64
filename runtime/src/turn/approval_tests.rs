//! Turns that pause on calls needing approval, and their resumption.

use super::*;
use crate::agent::{Approval, Builtin};
use serde_json::json;
use std::cell::RefCell;
use std::collections::VecDeque;

const NUMBERS: &str = r#"{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"number"}},"required":["a","b"]}"#;
static TOOLS: [ToolSpec; 2] = [
    ToolSpec {
        name: "add",
        description: "a + b",
        parameters: NUMBERS,
        kind: ToolKind::Builtin(Builtin::Calculator),
        approval: None,
    },
    ToolSpec {
        name: "multiply",
        description: "a * b",
        parameters: NUMBERS,
        kind: ToolKind::Builtin(Builtin::Calculator),
        approval: Some(Approval { expires_secs: 60 }),
    },
];
static AGENT: AgentSpec = AgentSpec {
    name: "calc",
    description: "",
    model: "@cf/test",
    system: crate::tools::template::Prompt::Text("Be brief."),
    history_window: 10,
    max_tokens: 100,
    temperature: None,
    max_steps: 4,
    tools: &TOOLS,
    policy: crate::policy::Policy::NONE,
};

#[derive(Default)]
struct Fake {
    answers: RefCell<VecDeque<String>>,
    model_inputs: RefCell<Vec<Value>>,
    runs: RefCell<Vec<(String, Value)>>,
}

type Bytes = futures_util::stream::Iter<std::vec::IntoIter<Result<Vec<u8>, String>>>;

impl Backend for Fake {
    type Bytes = Bytes;
    async fn call_model(&self, _model: &str, inputs: &str) -> Result<Bytes, String> {
        self.model_inputs
            .borrow_mut()
            .push(serde_json::from_str(inputs).unwrap());
        let answer = self.answers.borrow_mut().pop_front().ok_or("no answer")?;
        Ok(futures_util::stream::iter(vec![Ok(answer.into_bytes())]))
    }
    async fn run_tool(&self, tool: &'static ToolSpec, arguments: Value) -> Result<Value, String> {
        self.runs
            .borrow_mut()
            .push((tool.name.to_owned(), arguments.clone()));
        let (a, b) = (
            arguments["a"].as_f64().unwrap(),
            arguments["b"].as_f64().unwrap(),
        );
        Ok(json!(if tool.name == "add" { a + b } else { a * b }))
    }
    async fn sleep(&self, _ms: u32) {
        std::future::pending::<()>().await
    }
    fn log(&self, _line: &str) {}
    fn now_ms(&self) -> f64 {
        1_000_000.0
    }
}

fn calls(calls: &[(&str, Value)]) -> String {
    let calls: Vec<Value> = calls
        .iter()
        .map(|(name, arguments)| json!({"name": name, "arguments": arguments}))
        .collect();
    format!(
        "data: {}\n\ndata: [DONE]\n\n",
        json!({"response": "", "tool_calls": calls})
    )
}

fn text(text: &str) -> String {
    format!("data: {}\n\ndata: [DONE]\n\n", json!({ "response": text }))
}

/// Collects `(event name, payload)`s.
fn sink(events: &RefCell<Vec<(String, Value)>>) -> impl Sink + '_ {
    crate::sse::AgentSink(move |frame: String| {
        let (name, data) = frame.trim_end().split_once("\ndata: ").unwrap();
        events.borrow_mut().push((
            name.trim_start_matches("event: ").to_owned(),
            serde_json::from_str(data).unwrap(),
        ));
        true
    })
}

fn start(fake: &Fake, answers: &[String]) -> (Outcome, Vec<(String, Value)>) {
    fake.answers.borrow_mut().extend(answers.iter().cloned());
    let input = TurnInput {
        agent: &AGENT,
        model: AGENT.model,
        tools: AGENT.tools.iter().collect(),
        system: "Be brief.",
        history: vec![],
        user_message: "6 times 7, and 1 plus 2?".into(),
    };
    let first = futures_executor::block_on(fake.call_model("", &input.first_inputs())).unwrap();
    let events = RefCell::new(Vec::new());
    let outcome = futures_executor::block_on(run(
        fake,
        input,
        first,
        &mut sink(&events),
        &mut Trace::default(),
    ));
    (outcome, events.into_inner())
}

fn decide(
    fake: &Fake,
    mut paused: PausedTurn,
    id: &str,
    decision: Decision,
) -> (Outcome, Vec<(String, Value)>) {
    let call = paused.take(id, 0.0).unwrap();
    let resume = Resume {
        agent: &AGENT,
        model: AGENT.model,
        tools: AGENT.tools.iter().collect(),
        system: "Be brief.",
        history: vec![],
        paused,
        call,
        decision,
    };
    let events = RefCell::new(Vec::new());
    let outcome = futures_executor::block_on(resume_turn(fake, resume, &events));
    (outcome, events.into_inner())
}

async fn resume_turn(
    fake: &Fake,
    resume: Resume<'_>,
    events: &RefCell<Vec<(String, Value)>>,
) -> Outcome {
    super::resume(fake, resume, &mut sink(events), &mut Trace::default()).await
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn a_call_needing_approval_pauses_the_turn_and_runs_once_approved() {
    let fake = Fake::default();
    let step = calls(&[
        ("multiply", json!({"a": 6, "b": 7})),
        ("add", json!({"a": 1, "b": 2})),
    ]);
    let (outcome, events) = start(&fake, &[step]);
    assert_eq!(names(&events), ["tool_call", "tool_call", "tool_result"]);
    // Only `add` ran; `multiply` waits under an id of its own.
    assert_eq!(fake.runs.borrow().len(), 1);
    assert_eq!(fake.runs.borrow()[0].0, "add");
    let Outcome::Paused(paused) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(paused.pending.len(), 1);
    let id = paused.pending[0].call.id.clone();
    assert_eq!(id, format!("approval_1_0_{:x}", 1_000_000));
    assert_eq!(events[0].1["id"], id.as_str());
    assert_eq!(paused.pending[0].expires_at_ms, 1_060_000.0);
    let roles: Vec<&str> = paused.messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);

    fake.answers.borrow_mut().push_back(text("42 and 3."));
    let (outcome, events) = decide(&fake, paused, &id, Decision::Approve);
    assert_eq!(names(&events), ["tool_result", "delta"]);
    assert_eq!(events[0].1["result"], 42.0);
    assert_eq!(fake.runs.borrow().len(), 2);
    let Outcome::Completed { messages, summary } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(summary.steps, 2);
    let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "assistant"]);
    // The model's second call has both results, paired with their calls.
    let second = &fake.model_inputs.borrow()[1]["messages"];
    assert_eq!(second[4]["tool_call_id"], id.as_str());
    // Marked as data for the model, as every tool result is.
    assert_eq!(second[4]["content"], "<tool_output>\n42.0\n</tool_output>");
}

#[test]
fn a_refused_call_never_runs_and_the_model_hears_why() {
    let fake = Fake::default();
    let (outcome, _) = start(&fake, &[calls(&[("multiply", json!({"a": 2, "b": 3}))])]);
    let Outcome::Paused(paused) = outcome else {
        panic!("{outcome:?}")
    };
    let id = paused.pending[0].call.id.clone();
    fake.answers.borrow_mut().push_back(text("Understood."));
    let reason = Some("not today".to_owned());
    let (outcome, events) = decide(&fake, paused, &id, Decision::Deny { reason });
    assert!(fake.runs.borrow().is_empty());
    assert_eq!(events[0].1["ok"], false);
    assert_eq!(
        events[0].1["error"],
        "a person declined to run this call: not today"
    );
    assert!(matches!(outcome, Outcome::Completed { .. }));
    let second = &fake.model_inputs.borrow()[1]["messages"];
    assert!(second[3]["content"].as_str().unwrap().contains("declined"));
}

#[test]
fn each_waiting_call_is_decided_before_the_model_goes_on() {
    let fake = Fake::default();
    let step = calls(&[
        ("multiply", json!({"a": 1, "b": 1})),
        ("multiply", json!({"a": 2, "b": 2})),
    ]);
    let (outcome, _) = start(&fake, &[step]);
    let Outcome::Paused(paused) = outcome else {
        panic!("{outcome:?}")
    };
    let ids: Vec<String> = paused.pending.iter().map(|p| p.call.id.clone()).collect();
    assert_ne!(ids[0], ids[1]);
    let (outcome, events) = decide(&fake, paused, &ids[1], Decision::Approve);
    assert_eq!(names(&events), ["tool_result"]);
    let Outcome::Paused(paused) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(paused.pending.len(), 1);
    assert_eq!(fake.model_inputs.borrow().len(), 1, "the model waits");
    fake.answers.borrow_mut().push_back(text("1 and 4."));
    let (outcome, _) = decide(&fake, paused, &ids[0], Decision::Approve);
    assert!(matches!(outcome, Outcome::Completed { .. }));
    assert_eq!(fake.runs.borrow().len(), 2);
}

#[test]
fn a_call_with_bad_arguments_is_answered_without_asking() {
    let fake = Fake::default();
    let step = calls(&[("multiply", json!({"a": 6}))]);
    let (outcome, events) = start(&fake, &[step, text("Which numbers?")]);
    assert_eq!(names(&events), ["tool_call", "tool_result", "delta"]);
    assert_eq!(events[1].1["ok"], false);
    assert!(matches!(outcome, Outcome::Completed { .. }));
    assert!(fake.runs.borrow().is_empty());
}
