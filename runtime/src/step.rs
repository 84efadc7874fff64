//! One model call of a turn: its text, streamed on, and its tool calls, assembled.
//!
//! Models ask for tools in three ways: Workers AI's own shape (whole calls with an arguments
//! object), the OpenAI shape (pieces merged by `index`, arguments as JSON text), and, for
//! smaller models, the call written as text (read by [`crate::written`]: bare JSON, fenced,
//! in `<tool_call>` tags, with doubled braces). While a step's text could still be such a call
//! it is held back; as soon as it cannot, it streams.

use crate::history::ToolCall;
use crate::model::{ArgumentsPart, ModelEvent, ToolCallPart};
use crate::sse::Usage;
use crate::written::Splitter;
use serde_json::Value;

/// A tool call whose arguments may not have been valid JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AssembledCall {
    pub call: ToolCall,
    /// Why the arguments could not be read, if they could not.
    pub invalid_arguments: Option<String>,
}

#[derive(Debug, Default)]
struct PartialCall {
    index: Option<usize>,
    id: Option<String>,
    name: Option<String>,
    object: Option<Value>,
    text: String,
}

/// The state of one step while the model streams.
#[derive(Debug)]
pub struct Step {
    splitter: Splitter,
    /// The text passed on to the client so far.
    flushed: String,
    calls: Vec<PartialCall>,
    pub usage: Usage,
}

/// What a finished step produced.
#[derive(Debug, PartialEq)]
pub struct StepResult {
    /// The step's whole text, as the client saw it.
    pub text: String,
    /// Text still to pass on to the client.
    pub unflushed: String,
    pub calls: Vec<AssembledCall>,
    /// The whole text repeats a tool's output instead of answering: a JSON object with an
    /// `error` member, or a `<tool_response>` block. Nothing of it has been passed on (it is in
    /// `unflushed`).
    pub echo: bool,
}

impl Step {
    /// A step of a turn whose tools are `tools`; text is only ever held back when there are
    /// some.
    pub fn new(tools: Vec<&'static str>) -> Self {
        let detect = !tools.is_empty();
        Step {
            splitter: Splitter::new(&tools, detect),
            flushed: String::new(),
            calls: Vec::new(),
            usage: Usage::default(),
        }
    }

    /// Takes one model event; returns text that can go to the client now.
    pub fn on_event(&mut self, event: ModelEvent) -> Option<String> {
        match event {
            ModelEvent::Text(text) => {
                let out = self.splitter.push(&text);
                self.flushed.push_str(&out);
                (!out.is_empty()).then_some(out)
            }
            ModelEvent::Usage(usage) => {
                self.usage = usage;
                None
            }
            ModelEvent::ToolCall(part) => {
                self.merge(part);
                None
            }
            ModelEvent::Done => None,
        }
    }

    fn merge(&mut self, part: ToolCallPart) {
        let slot = match part.index {
            Some(index) => match self.calls.iter().position(|c| c.index == Some(index)) {
                Some(i) => i,
                None => {
                    self.calls.push(PartialCall {
                        index: Some(index),
                        ..PartialCall::default()
                    });
                    self.calls.len() - 1
                }
            },
            None => {
                self.calls.push(PartialCall::default());
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[slot];
        call.id = call.id.take().or(part.id);
        call.name = call.name.take().or(part.name);
        match part.arguments {
            ArgumentsPart::None => {}
            ArgumentsPart::Object(value) => call.object = Some(value),
            ArgumentsPart::Text(text) => call.text.push_str(&text),
        }
    }

    /// Ends the step. `step` numbers the ids of calls the model gave none.
    pub fn finish(self, step: u32) -> StepResult {
        let mut calls: Vec<AssembledCall> = self
            .calls
            .into_iter()
            .filter(|c| c.name.is_some())
            .enumerate()
            .map(|(i, c)| assemble(c, step, i))
            .collect();
        let (unflushed, written) = self.splitter.finish();
        // Calls both sent whole and written out as text: the structured form wins.
        if calls.is_empty() {
            calls = written
                .into_iter()
                .enumerate()
                .map(|(i, written)| AssembledCall {
                    call: ToolCall {
                        id: call_id(step, i),
                        name: written.name,
                        arguments: written.arguments,
                    },
                    invalid_arguments: None,
                })
                .collect();
        }
        let held = unflushed.trim();
        let echo = calls.is_empty()
            && self.flushed.trim().is_empty()
            && (held.starts_with(crate::written::RESPONSE_TAG)
                || serde_json::from_str::<Value>(held)
                    .is_ok_and(|value| value.get("error").is_some()));
        StepResult {
            text: format!("{}{unflushed}", self.flushed),
            unflushed,
            calls,
            echo,
        }
    }
}

/// Why a step is not used as it is: the model called tools that are not on offer, or repeated a
/// tool's error instead of answering. Such a step runs nothing and shows nothing; the model is
/// asked again with `note` (see `turn.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// For the log and, when the model does not recover, the turn's error.
    pub reason: String,
    /// What the model is told on its next try.
    pub note: String,
}

impl StepResult {
    /// Whether this step must be asked again, and what to tell the model. `offered` are the
    /// tools of the call that produced it.
    pub fn refusal(&self, offered: &[&str]) -> Option<Refusal> {
        let missing: Vec<&str> = self
            .calls
            .iter()
            .map(|c| c.call.name.as_str())
            .filter(|name| !offered.contains(name))
            .collect();
        if !missing.is_empty() {
            let names = missing
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let tools = if offered.is_empty() {
                "No tools are available.".to_owned()
            } else {
                format!("The only tools are: {}.", offered.join(", "))
            };
            return Some(Refusal {
                reason: format!("the model called tools that are not available ({names})"),
                note: format!(
                    "There is no tool named {names}. {tools} Do not call a tool unless the \
                     user's last message needs one of these; otherwise answer it directly, in \
                     plain text."
                ),
            });
        }
        self.echo.then(|| Refusal {
            reason: "the model repeated a tool's output instead of answering".to_owned(),
            note: "Do not repeat a tool's output as JSON. Answer the user's last message in \
                   plain words, using what the tools returned."
                .to_owned(),
        })
    }
}

fn call_id(step: u32, i: usize) -> String {
    format!("call_{step}_{i}")
}

fn assemble(call: PartialCall, step: u32, i: usize) -> AssembledCall {
    let (arguments, invalid_arguments) = match (call.object, call.text.trim()) {
        (Some(object), _) => (object, None),
        (None, "") => (Value::Object(Default::default()), None),
        (None, text) => match serde_json::from_str::<Value>(text) {
            Ok(value) => (value, None),
            Err(err) => (
                Value::String(text.to_owned()),
                Some(format!("the arguments are not valid JSON ({err})")),
            ),
        },
    };
    AssembledCall {
        call: ToolCall {
            id: call.id.unwrap_or_else(|| call_id(step, i)),
            name: call.name.unwrap_or_default(),
            arguments,
        },
        invalid_arguments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(tools: &[&'static str], events: Vec<ModelEvent>) -> (String, StepResult) {
        let mut step = Step::new(tools.to_vec());
        let mut streamed = String::new();
        for event in events {
            if let Some(text) = step.on_event(event) {
                streamed.push_str(&text);
            }
        }
        (streamed, step.finish(1))
    }

    fn texts(pieces: &[&str]) -> Vec<ModelEvent> {
        pieces
            .iter()
            .map(|p| ModelEvent::Text(p.to_string()))
            .collect()
    }

    #[test]
    fn prose_streams_at_once() {
        let (streamed, result) = run(&["get_weather"], texts(&["It is", " sunny."]));
        assert_eq!(streamed, "It is sunny.");
        assert_eq!(result.unflushed, "");
        assert!(result.calls.is_empty());
    }

    /// Model outputs written as text, and the calls read from them (`None`: an answer).
    const WRITTEN: &[(&str, Option<&str>)] = &[
        (r#"{"name": "get_weather", "arguments": {"location": "Paris"}}"#, Some(r#"[["get_weather",{"location":"Paris"}]]"#)),
        (r#"{"name": "get_weather", "parameters": {"location": "Paris"}}"#, Some(r#"[["get_weather",{"location":"Paris"}]]"#)),
        ("```json\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Oslo\"}}\n```", Some(r#"[["get_weather",{"location":"Oslo"}]]"#)),
        ("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Rome\\\"}\"}\n</tool_call>", Some(r#"[["get_weather",{"location":"Rome"}]]"#)),
        (r#"[{"name": "get_weather", "arguments": {"location": "A"}}, {"name": "clock", "arguments": {}}]"#, Some(r#"[["get_weather",{"location":"A"}],["clock",{}]]"#)),
        ("{{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Nice\"}}}", Some(r#"[["get_weather",{"location":"Nice"}]]"#)),
        // A call of a tool the agent does not have is still a call: the turn refuses it.
        (r#"{"name": "launch_rockets", "arguments": {}}"#, Some(r#"[["launch_rockets",{}]]"#)),
        (r#"{"temperature": 21}"#, None),
        ("{not json", None),
    ];

    #[test]
    fn calls_written_as_text_are_read() {
        for (text, expected) in WRITTEN {
            let pieces: Vec<String> = text.chars().map(String::from).collect();
            let events = pieces.into_iter().map(ModelEvent::Text).collect();
            let (streamed, result) = run(&["get_weather", "clock"], events);
            match expected {
                Some(expected) => {
                    let expected: Vec<(String, Value)> = serde_json::from_str(expected).unwrap();
                    let got: Vec<(String, Value)> = result
                        .calls
                        .iter()
                        .map(|c| (c.call.name.clone(), c.call.arguments.clone()))
                        .collect();
                    assert_eq!(got, expected, "{text}");
                    assert_eq!(streamed, "", "{text}: a call is not shown as text");
                    assert_eq!(result.text, "", "{text}");
                }
                None => {
                    assert!(result.calls.is_empty(), "{text}");
                    assert_eq!(format!("{streamed}{}", result.unflushed), *text);
                }
            }
        }
    }

    #[test]
    fn a_repeated_tool_output_is_held_and_flagged() {
        let echo = r#"{"error":"there is no tool named `count_to_10`"}"#;
        let (streamed, result) = run(&["get_weather"], texts(&[&echo[..5], &echo[5..]]));
        assert_eq!(streamed, "");
        assert!(result.echo);
        assert_eq!(result.unflushed, echo);
        let response = "<tool_response>\n{\"result\": 391}\n</tool_response>";
        let (streamed, result) = run(&["get_weather"], texts(&["<tool", &response[5..]]));
        assert_eq!(streamed, "");
        assert!(result.echo);
        let (_, result) = run(&["get_weather"], texts(&[r#"{"temperature": 21}"#]));
        assert!(!result.echo);
        let (_, result) = run(&["get_weather"], texts(&["The error was: none."]));
        assert!(!result.echo);
    }

    #[test]
    fn structured_calls_win_over_the_same_calls_written_out() {
        let written = r#"{"name": "get_weather", "arguments": {"location": "Paris"}}"#;
        let mut events = texts(&[written]);
        events.push(ModelEvent::ToolCall(ToolCallPart {
            index: None,
            id: Some("w".into()),
            name: Some("get_weather".into()),
            arguments: ArgumentsPart::Object(json!({"location": "Paris"})),
        }));
        let (streamed, result) = run(&["get_weather"], events);
        assert_eq!(streamed, "");
        assert_eq!(result.calls.len(), 1);
        assert_eq!(result.calls[0].call.id, "w");
        assert_eq!(result.unflushed, "");
    }

    #[test]
    fn without_tools_json_text_is_just_text() {
        let (streamed, result) = run(&[], texts(&[r#"{"name": "x", "arguments": {}}"#]));
        assert_eq!(streamed, r#"{"name": "x", "arguments": {}}"#);
        assert!(result.calls.is_empty());
    }

    #[test]
    fn streamed_pieces_merge_by_index() {
        let part = |index, id: Option<&str>, name: Option<&str>, args: &str| {
            ModelEvent::ToolCall(ToolCallPart {
                index: Some(index),
                id: id.map(String::from),
                name: name.map(String::from),
                arguments: ArgumentsPart::Text(args.into()),
            })
        };
        let (_, result) = run(
            &["get_weather"],
            vec![
                part(0, Some("a"), Some("get_weather"), "{\"loc"),
                part(1, Some("b"), Some("get_weather"), ""),
                part(0, None, None, "ation\": \"Paris\"}"),
                part(1, None, None, "{\"location\": 3"),
            ],
        );
        assert_eq!(result.calls.len(), 2);
        assert_eq!(result.calls[0].call.id, "a");
        assert_eq!(result.calls[0].call.arguments, json!({"location": "Paris"}));
        assert_eq!(result.calls[0].invalid_arguments, None);
        assert!(result.calls[1]
            .invalid_arguments
            .as_deref()
            .unwrap()
            .contains("not valid JSON"));
    }

    #[test]
    fn whole_calls_get_ids() {
        let whole = |name: &str| {
            ModelEvent::ToolCall(ToolCallPart {
                index: None,
                id: None,
                name: Some(name.into()),
                arguments: ArgumentsPart::Object(json!({"location": name})),
            })
        };
        let (_, result) = run(
            &["get_weather"],
            vec![whole("get_weather"), whole("get_weather")],
        );
        let ids: Vec<&str> = result.calls.iter().map(|c| c.call.id.as_str()).collect();
        assert_eq!(ids, ["call_1_0", "call_1_1"]);
    }
}
