//! One model call of a turn: its text, streamed on, and its tool calls, assembled.
//!
//! Models ask for tools in three ways: Workers AI's own shape (whole calls with an arguments
//! object), the OpenAI shape (pieces merged by `index`, arguments as JSON text), and, for
//! smaller models, the call written as JSON in the answer's text (bare, in a ```json fence or
//! in `<tool_call>` tags). While a step's text could still be such a call it is held back; as
//! soon as it cannot, it streams.

use crate::history::ToolCall;
use crate::model::{ArgumentsPart, ModelEvent, ToolCallPart};
use crate::sse::Usage;
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
    /// Tool names the model may call; text is only ever held back when there are some.
    tools: Vec<&'static str>,
    text: String,
    /// How much of `text` has been passed on.
    flushed: usize,
    /// Whether the text is known not to be a tool call written as text.
    prose: bool,
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
}

impl Step {
    pub fn new(tools: Vec<&'static str>) -> Self {
        let prose = tools.is_empty();
        Step {
            tools,
            text: String::new(),
            flushed: 0,
            prose,
            calls: Vec::new(),
            usage: Usage::default(),
        }
    }

    /// Takes one model event; returns text that can go to the client now.
    pub fn on_event(&mut self, event: ModelEvent) -> Option<String> {
        match event {
            ModelEvent::Text(text) => {
                self.text.push_str(&text);
                if !self.prose && !could_be_written_call(&self.text) {
                    self.prose = true;
                }
                if self.prose && self.flushed < self.text.len() {
                    let out = self.text[self.flushed..].to_owned();
                    self.flushed = self.text.len();
                    return Some(out);
                }
                None
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
        let held = &self.text[self.flushed..];
        let mut text = self.text.clone();
        let mut unflushed = held.to_owned();
        if !self.prose && !held.trim().is_empty() {
            if !calls.is_empty() {
                // The same calls, also written out as text: the structured form wins.
                text.truncate(self.flushed);
                unflushed.clear();
            } else if let Some(found) = extract_written_calls(held, &self.tools) {
                calls = found
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, arguments))| AssembledCall {
                        call: ToolCall {
                            id: call_id(step, i),
                            name,
                            arguments,
                        },
                        invalid_arguments: None,
                    })
                    .collect();
                text.truncate(self.flushed);
                unflushed.clear();
            }
        }
        StepResult {
            text,
            unflushed,
            calls,
        }
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

/// Whether text seen so far could still turn out to be a tool call written as text.
fn could_be_written_call(text: &str) -> bool {
    let text = text.trim_start();
    if text.is_empty() {
        return true;
    }
    ["{", "[", "```", "<tool_call>"]
        .iter()
        .any(|start| text.starts_with(start) || start.starts_with(text))
}

/// Reads tool calls written as text: JSON objects `{"name": ..., "arguments"|"parameters": ...}`
/// (or an array of them), bare, fenced or in `<tool_call>` tags. Every call must name one of
/// `tools`; otherwise the text is an answer, not a call.
pub fn extract_written_calls(text: &str, tools: &[&str]) -> Option<Vec<(String, Value)>> {
    let mut calls = Vec::new();
    let text = text.trim();
    if text.contains("<tool_call>") {
        for piece in text.split("<tool_call>").skip(1) {
            let body = piece.split("</tool_call>").next().unwrap_or(piece);
            calls.extend(parse_calls(strip_fence(body.trim()), tools)?);
        }
    } else {
        calls = parse_calls(strip_fence(text), tools)?;
    }
    (!calls.is_empty()).then_some(calls)
}

fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    rest.trim().strip_suffix("```").unwrap_or(rest).trim()
}

fn parse_calls(text: &str, tools: &[&str]) -> Option<Vec<(String, Value)>> {
    let value: Value = serde_json::from_str(text).ok()?;
    let items = match value {
        Value::Array(items) => items,
        object => vec![object],
    };
    items
        .into_iter()
        .map(|item| {
            let object = item.as_object()?;
            let function = object.get("function").and_then(Value::as_object);
            let name = object
                .get("name")
                .or_else(|| function.and_then(|f| f.get("name")))?
                .as_str()?;
            if !tools.contains(&name) {
                return None;
            }
            let arguments = object
                .get("arguments")
                .or_else(|| object.get("parameters"))
                .or_else(|| function.and_then(|f| f.get("arguments")))
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default()));
            let arguments = match arguments {
                Value::String(text) => serde_json::from_str(&text).ok()?,
                other => other,
            };
            Some((name.to_owned(), arguments))
        })
        .collect()
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
        (r#"{"name": "launch_rockets", "arguments": {}}"#, None),
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
