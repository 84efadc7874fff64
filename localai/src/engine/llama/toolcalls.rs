//! Finding tool calls in what a model writes, leniently: small models do not
//! always follow their own template. Accepted forms:
//!
//! - `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the closing
//!   tag may be missing at the very end), one or several;
//! - bare JSON: `{"name": ..., "arguments": {...}}`, several objects in a row
//!   or a JSON list of them;
//! - JSON in a fenced block: `` ```json ... ``` `` (also `` ``` ``,
//!   `` ```tool_call ``);
//! - `arguments` or `parameters` (or `args`, `input`), as an object or a JSON
//!   string; the OpenAI shape `{"type": "function", "function": {...}}`;
//! - a call without arguments if its name is one of the request's tools.
//!
//! [`ToolCallFilter`] applies this to a stream: text is passed on as soon as
//! it cannot be a tool call, and output that may be one is held until the
//! end.

use serde_json::{Map, Value};

use crate::wire::ToolCall;

const OPEN_TAG: &str = "<tool_call>";
const CLOSE_TAG: &str = "</tool_call>";
const FENCE: &str = "```";
/// Fence languages whose content may be a tool call.
const FENCE_LANGUAGES: &[&str] = &["", "json", "json5", "tool_call", "tool_code", "tool"];

/// Tool calls found in a whole output, and the text around them.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub calls: Vec<ToolCall>,
    /// The text outside the calls, trimmed; empty if there is none.
    pub text: String,
}

/// Finds the tool calls in `output`; `None` if there are none, in which case
/// the output is plain text. `tool_names` are the request's tools.
pub fn extract(output: &str, tool_names: &[String]) -> Option<Extracted> {
    if output.contains(OPEN_TAG) {
        return extract_tagged(output, tool_names);
    }
    if output.contains(FENCE) {
        return extract_fenced(output, tool_names);
    }
    let trimmed = output.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let (calls, rest) = parse_calls(trimmed, tool_names)?;
        return Some(Extracted {
            calls,
            text: rest.trim().to_string(),
        });
    }
    None
}

fn extract_tagged(output: &str, tool_names: &[String]) -> Option<Extracted> {
    let mut calls = Vec::new();
    let mut text = String::new();
    let mut rest = output;
    while let Some(open) = rest.find(OPEN_TAG) {
        text.push_str(&rest[..open]);
        let inside = &rest[open + OPEN_TAG.len()..];
        let (body, after) = match inside.find(CLOSE_TAG) {
            Some(close) => (&inside[..close], &inside[close + CLOSE_TAG.len()..]),
            None => (inside, ""),
        };
        match parse_calls(strip_fence(body), tool_names) {
            Some((found, leftover)) => {
                calls.extend(found);
                text.push_str(leftover);
            }
            None => text.push_str(&rest[open..rest.len() - after.len()]),
        }
        rest = after;
    }
    text.push_str(rest);
    finish(calls, &text)
}

fn extract_fenced(output: &str, tool_names: &[String]) -> Option<Extracted> {
    let mut calls = Vec::new();
    let mut text = String::new();
    let mut rest = output;
    while let Some(open) = rest.find(FENCE) {
        text.push_str(&rest[..open]);
        let inside = &rest[open + FENCE.len()..];
        let (body, after) = match inside.find(FENCE) {
            Some(close) => (&inside[..close], &inside[close + FENCE.len()..]),
            None => (inside, ""),
        };
        let block = &rest[open..rest.len() - after.len()];
        let (language, content) = body.split_once('\n').unwrap_or(("", body));
        let parsed = if FENCE_LANGUAGES.contains(&language.trim().to_lowercase().as_str()) {
            parse_calls(content, tool_names).filter(|(_, leftover)| leftover.trim().is_empty())
        } else {
            None
        };
        match parsed {
            Some((found, _)) => calls.extend(found),
            None => text.push_str(block),
        }
        rest = after;
    }
    text.push_str(rest);
    finish(calls, &text)
}

fn finish(calls: Vec<ToolCall>, text: &str) -> Option<Extracted> {
    if calls.is_empty() {
        return None;
    }
    Some(Extracted {
        calls,
        text: text.trim().to_string(),
    })
}

/// The content of a fenced block, or `text` itself if it is not fenced.
fn strip_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(inner) = trimmed.strip_prefix(FENCE) else {
        return text;
    };
    let inner = inner.strip_suffix(FENCE).unwrap_or(inner);
    inner.split_once('\n').map_or(inner, |(_, body)| body)
}

/// Parses JSON values at the start of `text` (separated by whitespace or
/// commas) as tool calls; returns them and the text from the first value
/// that is not a call. Fails if the first value is not a tool call.
fn parse_calls<'a>(text: &'a str, tool_names: &[String]) -> Option<(Vec<ToolCall>, &'a str)> {
    let mut calls = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let found = next_value(rest).and_then(|(value, after)| {
            calls_from_value(&value, tool_names).map(|found| (found, after))
        });
        let (found, after) = match found {
            Some(found) => found,
            None if calls.is_empty() => return None,
            None => break,
        };
        calls.extend(found);
        rest = after.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            break;
        }
    }
    // Small models sometimes close one brace too many.
    let rest = rest.trim_start_matches(['}', ']']);
    Some((calls, rest))
}

/// The JSON value at the start of `text` and the text after it. A value cut
/// short (its closing braces missing, as at the end of an output) is
/// completed.
fn next_value(text: &str) -> Option<(Value, &str)> {
    if !text.starts_with(['{', '[']) {
        return None;
    }
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) => Some((value, &text[values.byte_offset()..])),
        Some(Err(error)) if error.is_eof() => {
            for closing in ["}", "}}", "}}}", "]", "}]", "}}]"] {
                let completed = format!("{text}{closing}");
                if let Ok(value) = serde_json::from_str::<Value>(&completed) {
                    return Some((value, ""));
                }
            }
            None
        }
        _ => None,
    }
}

fn calls_from_value(value: &Value, tool_names: &[String]) -> Option<Vec<ToolCall>> {
    match value {
        Value::Object(object) => Some(vec![call_from_object(object, tool_names)?]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| call_from_object(item.as_object()?, tool_names))
            .collect(),
        _ => None,
    }
}

fn call_from_object(object: &Map<String, Value>, tool_names: &[String]) -> Option<ToolCall> {
    if let Some(Value::Object(function)) = object.get("function") {
        return call_from_object(function, tool_names);
    }
    let name = ["name", "function", "tool", "tool_name"]
        .iter()
        .find_map(|key| object.get(*key).and_then(Value::as_str))?
        .trim();
    if name.is_empty() {
        return None;
    }
    let arguments = ["arguments", "parameters", "args", "input"]
        .iter()
        .find_map(|key| object.get(*key));
    let arguments = match arguments {
        Some(Value::Object(arguments)) => Value::Object(arguments.clone()),
        Some(Value::Null) => Value::Object(Map::new()),
        Some(Value::String(text)) if text.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ Value::Object(_)) => parsed,
            _ => return None,
        },
        Some(_) => return None,
        // Without arguments, only a call to a known tool is believable.
        None if tool_names.iter().any(|tool| tool == name) => Value::Object(Map::new()),
        None => return None,
    };
    Some(ToolCall::new(name, arguments))
}

/// The tool calls whose results end a conversation: those of the last
/// assistant message, when only tool messages follow it. Empty when the
/// conversation does not end with tool results.
pub fn answered_calls(messages: &[Value], tool_names: &[String]) -> Vec<ToolCall> {
    let role = |message: &Value| {
        message
            .get("role")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let results = messages
        .iter()
        .rev()
        .take_while(|message| role(message).as_deref() == Some("tool"))
        .count();
    if results == 0 || results == messages.len() {
        return Vec::new();
    }
    let assistant = &messages[messages.len() - results - 1];
    if role(assistant).as_deref() != Some("assistant") {
        return Vec::new();
    }
    let calls = assistant.get("tool_calls").and_then(Value::as_array);
    calls
        .into_iter()
        .flatten()
        .filter_map(|call| call_from_object(call.as_object()?, tool_names))
        .collect()
}

/// Where a [`ToolCallFilter`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not yet known whether the output is text or a tool call.
    Start,
    /// Text, passed on as it comes, except what may start a `<tool_call>`.
    Text,
    /// A possible tool call: everything is held until the end.
    Capture,
}

/// Splits a stream of generated text into text to pass on at once and tool
/// calls found at the end.
#[derive(Debug)]
pub struct ToolCallFilter {
    tool_names: Vec<String>,
    detect: bool,
    mode: Mode,
    buffer: String,
}

impl ToolCallFilter {
    /// A filter for a request with these tools; without tools nothing is
    /// held back and no call is ever found.
    pub fn new(tool_names: Vec<String>, detect: bool) -> Self {
        ToolCallFilter {
            tool_names,
            detect,
            mode: if detect { Mode::Start } else { Mode::Text },
            buffer: String::new(),
        }
    }

    /// Adds generated text; returns the text that can be passed on now.
    pub fn push(&mut self, text: &str) -> String {
        if !self.detect {
            return text.to_string();
        }
        self.buffer.push_str(text);
        if self.mode == Mode::Start {
            match decide(&self.buffer) {
                Some(mode) => self.mode = mode,
                None => return String::new(),
            }
        }
        match self.mode {
            Mode::Start | Mode::Capture => String::new(),
            Mode::Text => {
                if let Some(open) = self.buffer.find(OPEN_TAG) {
                    let out = self.buffer[..open].to_string();
                    self.buffer.drain(..open);
                    self.mode = Mode::Capture;
                    return out;
                }
                let keep = super::text::held_back(&self.buffer, &[OPEN_TAG.to_string()]);
                let cut = self.buffer.len() - keep;
                let out = self.buffer[..cut].to_string();
                self.buffer.drain(..cut);
                out
            }
        }
    }

    /// Reports whether output is being held as a possible tool call.
    pub fn is_capturing(&self) -> bool {
        self.mode == Mode::Capture
    }

    /// Ends the stream: the remaining text and the tool calls.
    pub fn finish(self) -> (String, Vec<ToolCall>) {
        if self.mode == Mode::Capture {
            if let Some(extracted) = extract(&self.buffer, &self.tool_names) {
                return (extracted.text, extracted.calls);
            }
        }
        (self.buffer, Vec::new())
    }
}

/// Decides from the start of the output whether it may be a tool call;
/// `None` while it cannot be told yet.
fn decide(output: &str) -> Option<Mode> {
    let start = output.trim_start();
    if start.is_empty() {
        return None;
    }
    if start.starts_with('{') || start.starts_with(OPEN_TAG) {
        return Some(Mode::Capture);
    }
    if let Some(after) = start.strip_prefix('[') {
        return match after.trim_start().chars().next() {
            None => None,
            Some('{') => Some(Mode::Capture),
            Some(_) => Some(Mode::Text),
        };
    }
    if let Some(after) = start.strip_prefix(FENCE) {
        let (language, _) = after.split_once('\n')?;
        let language = language.trim().to_lowercase();
        return Some(if FENCE_LANGUAGES.contains(&language.as_str()) {
            Mode::Capture
        } else {
            Mode::Text
        });
    }
    if OPEN_TAG.starts_with(start) || FENCE.starts_with(start) {
        return None;
    }
    Some(Mode::Text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall::new(name, arguments)
    }

    /// What must be found in an output: the calls and the remaining text,
    /// or `None` for plain text.
    type Expected = Option<(Vec<ToolCall>, &'static str)>;

    /// Model outputs and what must be found in them.
    fn cases() -> Vec<(&'static str, Expected)> {
        let paris = || call("get_weather", json!({"location": "Paris"}));
        vec![
            // Qwen's own format.
            (
                "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
                Some((vec![paris()], "")),
            ),
            // Two tagged calls, the closing tag of the last one missing.
            (
                "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}</tool_call>\n\
                 <tool_call>{\"name\": \"get_time\", \"arguments\": {}}",
                Some((vec![paris(), call("get_time", json!({}))], "")),
            ),
            // Text before a tagged call is kept.
            (
                "Let me check.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}</tool_call>",
                Some((vec![paris()], "Let me check.")),
            ),
            // Bare JSON, as Qwen2.5-Coder-0.5B writes it.
            (
                "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}",
                Some((vec![paris()], "")),
            ),
            // `parameters` instead of `arguments`, with leading whitespace.
            (
                "\n {\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}\n",
                Some((vec![paris()], "")),
            ),
            // Arguments as a JSON string.
            (
                "{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Paris\\\"}\"}",
                Some((vec![paris()], "")),
            ),
            // Fenced JSON, as Qwen2.5-Coder-1.5B writes it.
            (
                "```json\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n```",
                Some((vec![paris()], "")),
            ),
            // A fence without a language, inside tool_call tags.
            (
                "<tool_call>\n```\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n```\n</tool_call>",
                Some((vec![paris()], "")),
            ),
            // The OpenAI shape.
            (
                "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}",
                Some((vec![paris()], "")),
            ),
            // A list of calls.
            (
                "[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}, {\"name\": \"get_time\"}]",
                Some((vec![paris(), call("get_time", json!({}))], "")),
            ),
            // Several objects in a row.
            (
                "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n{\"name\": \"get_time\", \"arguments\": {}}",
                Some((vec![paris(), call("get_time", json!({}))], "")),
            ),
            // One closing brace missing at the end of the output.
            (
                "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}",
                Some((vec![paris()], "")),
            ),
            // One closing brace too many.
            (
                "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}",
                Some((vec![paris()], "")),
            ),
            // JSON after a call that is not a call is text (here the model
            // echoes a tool result after repeating the call).
            (
                "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n{\"temperature_c\":18}",
                Some((vec![paris()], "{\"temperature_c\":18}")),
            ),
            // Text after a bare call is kept.
            (
                "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\nI will check the weather.",
                Some((vec![paris()], "I will check the weather.")),
            ),
            // A known tool without arguments.
            ("{\"name\": \"get_time\"}", Some((vec![call("get_time", json!({}))], ""))),
            // Plain text.
            ("The weather in Paris is sunny.", None),
            // JSON that is not a call: a name that is no tool, no arguments.
            ("{\"name\": \"Bob\", \"age\": 3}", None),
            ("[1, 2, 3]", None),
            // A fenced block of another language.
            ("```python\nprint({\"name\": \"x\", \"arguments\": {}})\n```", None),
            // Fenced JSON that is not a call.
            ("```json\n{\"a\": 1}\n```", None),
            // Broken JSON.
            ("{\"name\": \"get_weather\", \"arguments\": {\"location\": Paris}}", None),
            // A tag with garbage inside.
            ("<tool_call>not json</tool_call>", None),
            // Arguments that are not an object.
            ("{\"name\": \"get_weather\", \"arguments\": [\"Paris\"]}", None),
        ]
    }

    #[test]
    fn extracts_calls_from_whole_outputs() {
        for (output, expected) in cases() {
            let found = extract(output, &tools()).map(|e| (e.calls, e.text));
            let expected = expected.map(|(calls, text)| (calls, text.to_string()));
            assert_eq!(found, expected, "output: {output:?}");
        }
    }

    /// Streams `output` through a filter in pieces of `size` bytes (at char
    /// boundaries) and returns the text passed on while streaming, the text
    /// at the end and the calls.
    fn stream(output: &str, size: usize, detect: bool) -> (String, String, Vec<ToolCall>) {
        let mut filter = ToolCallFilter::new(tools(), detect);
        let mut streamed = String::new();
        let chars: Vec<char> = output.chars().collect();
        for piece in chars.chunks(size) {
            streamed.push_str(&filter.push(&piece.iter().collect::<String>()));
        }
        let (text, calls) = filter.finish();
        (streamed, text, calls)
    }

    #[test]
    fn streaming_finds_the_same_calls_in_any_split() {
        for (output, expected) in cases() {
            for size in [1, 2, 3, 7, 1000] {
                let (streamed, text, calls) = stream(output, size, true);
                match &expected {
                    Some((expected_calls, expected_text)) => {
                        assert_eq!(&calls, expected_calls, "output {output:?}, size {size}");
                        assert_eq!(
                            format!("{streamed}{text}").trim(),
                            *expected_text,
                            "output {output:?}, size {size}"
                        );
                    }
                    None => {
                        assert!(calls.is_empty(), "output {output:?}");
                        assert_eq!(format!("{streamed}{text}"), output, "size {size}");
                    }
                }
            }
        }
    }

    #[test]
    fn plain_text_is_streamed_at_once() {
        let (streamed, text, calls) = stream("Hello there, friend", 1, true);
        assert_eq!(
            (streamed.as_str(), text.as_str()),
            ("Hello there, friend", "")
        );
        assert!(calls.is_empty());
        // Code in another language is streamed as well.
        let (streamed, _, _) = stream("```rust\nfn main() {}\n```", 2, true);
        assert_eq!(streamed, "```rust\nfn main() {}\n```");
    }

    #[test]
    fn possible_calls_are_held_back() {
        let mut filter = ToolCallFilter::new(tools(), true);
        assert_eq!(filter.push("  "), "");
        assert_eq!(filter.push("<tool"), "");
        assert!(!filter.is_capturing());
        assert_eq!(filter.push("_call>"), "");
        assert!(filter.is_capturing());
        let mut filter = ToolCallFilter::new(tools(), true);
        assert_eq!(filter.push("Sure. <tool"), "Sure. ");
        assert_eq!(filter.push("_call>{\"name\""), "");
        assert!(filter.is_capturing());
    }

    #[test]
    fn answered_calls_are_those_before_the_final_tool_results() {
        let paris = call("get_weather", json!({"location": "Paris"}));
        let time = call("get_time", json!({}));
        let messages = vec![
            json!({"role": "user", "content": "Weather and time in Paris?"}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
                {"name": "get_time"}
            ]}),
            json!({"role": "tool", "content": "sunny"}),
            json!({"role": "tool", "content": "noon"}),
        ];
        assert_eq!(answered_calls(&messages, &tools()), vec![paris, time]);
        assert!(answered_calls(&messages[..2], &tools()).is_empty());
        assert!(answered_calls(&messages[2..], &tools()).is_empty());
        let after_user = [messages[0].clone(), messages[2].clone()];
        assert!(answered_calls(&after_user, &tools()).is_empty());
    }

    #[test]
    fn without_tools_nothing_is_detected() {
        let output = "{\"name\": \"get_weather\", \"arguments\": {}}";
        let (streamed, text, calls) = stream(output, 3, false);
        assert_eq!((streamed.as_str(), text.as_str()), (output, ""));
        assert!(calls.is_empty());
    }
}
