//! Tool calls written as text: the one reader of them, used by the runtime (models on Cloudflare
//! that answer a tool request in their text) and by localai (which turns what its model writes
//! into Workers AI's structured `tool_calls`, as a function-calling model on Workers AI answers).
//!
//! Small models do not always follow their own template, so the reading is lenient. Accepted:
//!
//! - `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (the closing tag may be missing
//!   at the very end), one or several, with text before them;
//! - bare JSON `{"name": ..., "arguments": {...}}`, several in a row or a JSON list of them;
//! - JSON in a fenced block (```` ```json ````, ```` ``` ````, ```` ```tool_call ````);
//! - doubled braces, as in a format string: `{{"name": ..., "arguments": {...}}}`;
//! - `arguments` or `parameters` (or `args`, `input`) as an object or as JSON text; the OpenAI
//!   shape `{"type": "function", "function": {...}}`; one closing brace too many or too few;
//! - a call without arguments only if its name is one of the tools on offer.
//!
//! A call is read whatever tool it names: whether that tool exists is the turn's business (see
//! `turn.rs`), so a call to an invented tool is recognised as a call, not shown as an answer.
//! [`Splitter`] applies this to a stream: text passes on as soon as it cannot be a call, output
//! that may be one is held until the end (as is an echoed `<tool_response>` block, which is
//! never an answer).

use serde_json::{Map, Value};

const OPEN_TAG: &str = "<tool_call>";
const CLOSE_TAG: &str = "</tool_call>";
const FENCE: &str = "```";
/// How Qwen's template wraps a tool's result; small models sometimes echo it as their answer.
pub const RESPONSE_TAG: &str = "<tool_response>";
/// Fence languages whose content may be a tool call.
const FENCE_LANGUAGES: &[&str] = &["", "json", "json5", "tool_call", "tool_code", "tool"];

/// One call read from text.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenCall {
    pub name: String,
    /// Always a JSON object.
    pub arguments: Value,
}

/// The calls found in an output and the text around them.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    pub calls: Vec<WrittenCall>,
    /// The text outside the calls, trimmed; empty if there is none.
    pub text: String,
}

/// Finds the tool calls in a whole `output`; `None` if there are none (the output is an answer).
/// `tools` are the names on offer, which only matter for calls written without arguments.
pub fn extract<T: AsRef<str>>(output: &str, tools: &[T]) -> Option<Extracted> {
    let tools: Vec<&str> = tools.iter().map(AsRef::as_ref).collect();
    if output.contains(OPEN_TAG) {
        return extract_tagged(output, &tools);
    }
    if output.contains(FENCE) {
        return extract_fenced(output, &tools);
    }
    let trimmed = output.trim_start();
    if trimmed.starts_with(['{', '[']) {
        let (calls, rest) = parse_calls(trimmed, &tools)?;
        return Some(Extracted {
            calls,
            text: rest.trim().to_owned(),
        });
    }
    None
}

fn extract_tagged(output: &str, tools: &[&str]) -> Option<Extracted> {
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
        match parse_calls(strip_fence(body), tools) {
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

fn extract_fenced(output: &str, tools: &[&str]) -> Option<Extracted> {
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
            parse_calls(content, tools).filter(|(_, leftover)| leftover.trim().is_empty())
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

fn finish(calls: Vec<WrittenCall>, text: &str) -> Option<Extracted> {
    if calls.is_empty() {
        return None;
    }
    Some(Extracted {
        calls,
        text: text.trim().to_owned(),
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

/// Parses JSON values at the start of `text` (separated by whitespace or commas) as tool calls;
/// returns them and the text from the first value that is not a call. Fails if the first value
/// is not a tool call.
fn parse_calls<'a>(text: &'a str, tools: &[&str]) -> Option<(Vec<WrittenCall>, &'a str)> {
    let mut calls = Vec::new();
    let mut rest = text.trim_start();
    loop {
        let found = next_value(rest)
            .and_then(|(value, after)| calls_from_value(&value, tools).map(|found| (found, after)));
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
    // Small models sometimes close one brace too many (always so with doubled braces).
    let rest = rest.trim_start_matches(['}', ']']);
    Some((calls, rest))
}

/// The JSON value at the start of `text` and the text after it. A value cut short (its closing
/// braces missing, as at the end of an output) is completed; a doubled opening brace is read as
/// one.
fn next_value(text: &str) -> Option<(Value, &str)> {
    if text.starts_with("{{") {
        if let Some(found) = next_value(&text[1..]) {
            return Some(found);
        }
    }
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

fn calls_from_value(value: &Value, tools: &[&str]) -> Option<Vec<WrittenCall>> {
    match value {
        Value::Object(object) => Some(vec![call_from_object(object, tools)?]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| call_from_object(item.as_object()?, tools))
            .collect(),
        _ => None,
    }
}

/// Reads one call object in any of the accepted shapes.
pub fn call_from_object(object: &Map<String, Value>, tools: &[&str]) -> Option<WrittenCall> {
    if let Some(Value::Object(function)) = object.get("function") {
        return call_from_object(function, tools);
    }
    let name = ["name", "function", "tool", "tool_name"]
        .iter()
        .find_map(|key| object.get(*key).and_then(Value::as_str))?
        .trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
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
        // Without arguments, only a call to a tool on offer is believable.
        None if tools.contains(&name) => Value::Object(Map::new()),
        None => return None,
    };
    Some(WrittenCall {
        name: name.to_owned(),
        arguments,
    })
}

/// Where a [`Splitter`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Not yet known whether the output is text or a tool call.
    Start,
    /// Text, passed on as it comes, except what may start a `<tool_call>`.
    Text,
    /// A possible tool call: everything is held until the end.
    Capture,
}

/// Splits streamed output into text to pass on at once and tool calls found at the end.
#[derive(Debug)]
pub struct Splitter {
    tools: Vec<String>,
    detect: bool,
    mode: Mode,
    buffer: String,
}

impl Splitter {
    /// A splitter for output answering a request with these tools. Without `detect` nothing is
    /// held back and no call is ever found.
    pub fn new<T: AsRef<str>>(tools: &[T], detect: bool) -> Self {
        Splitter {
            tools: tools.iter().map(|t| t.as_ref().to_owned()).collect(),
            detect,
            mode: if detect { Mode::Start } else { Mode::Text },
            buffer: String::new(),
        }
    }

    /// Adds output; returns the text that can be passed on now.
    pub fn push(&mut self, text: &str) -> String {
        if !self.detect {
            return text.to_owned();
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
                    let out = self.buffer[..open].to_owned();
                    self.buffer.drain(..open);
                    self.mode = Mode::Capture;
                    return out;
                }
                let keep = held_back(&self.buffer, OPEN_TAG);
                let cut = self.buffer.len() - keep;
                self.buffer.drain(..cut).collect()
            }
        }
    }

    /// Whether output is being held as a possible tool call.
    pub fn is_capturing(&self) -> bool {
        self.mode == Mode::Capture
    }

    /// Ends the stream: the text not passed on yet and the tool calls.
    pub fn finish(self) -> (String, Vec<WrittenCall>) {
        if self.mode == Mode::Capture {
            if let Some(extracted) = extract(&self.buffer, &self.tools) {
                return (extracted.text, extracted.calls);
            }
        }
        (self.buffer, Vec::new())
    }
}

/// Decides from the start of the output whether it may be a tool call; `None` while it cannot
/// be told yet.
fn decide(output: &str) -> Option<Mode> {
    let start = output.trim_start();
    if start.is_empty() {
        return None;
    }
    if start.starts_with('{') || start.starts_with(OPEN_TAG) || start.starts_with(RESPONSE_TAG) {
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
    if OPEN_TAG.starts_with(start) || RESPONSE_TAG.starts_with(start) || FENCE.starts_with(start) {
        return None;
    }
    Some(Mode::Text)
}

/// The length of the longest suffix of `text` that is a proper prefix of `pattern`.
fn held_back(text: &str, pattern: &str) -> usize {
    text.char_indices()
        .rev()
        .map(|(start, _)| &text[start..])
        .take_while(|suffix| suffix.len() < pattern.len())
        .filter(|suffix| pattern.starts_with(suffix))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
#[path = "written_tests.rs"]
mod tests;
