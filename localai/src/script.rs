//! The script format of the scripted engine: an ordered list of canned
//! replies, parsed from JSON and validated while parsing, so that every error
//! carries a line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::wire::ToolCall;

/// A whole script: the replies, consumed one per model request, and what to do
/// once they are used up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    #[serde(default)]
    pub replies: Vec<Reply>,
    #[serde(default)]
    pub when_exhausted: WhenExhausted,
}

impl Script {
    /// Builds a script that answers with `replies` and then fails.
    pub fn new(replies: impl IntoIterator<Item = Reply>) -> Self {
        Script {
            replies: replies.into_iter().collect(),
            when_exhausted: WhenExhausted::Error,
        }
    }

    /// Makes the script repeat its last reply once the others are used up.
    pub fn repeat_last(mut self) -> Self {
        self.when_exhausted = WhenExhausted::RepeatLast;
        self
    }

    /// Parses a script from JSON text.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Reads and parses a script file.
    pub fn load(path: &Path) -> Result<Self, ScriptError> {
        let error = |kind| ScriptError {
            path: path.to_path_buf(),
            kind,
        };
        let text = std::fs::read_to_string(path).map_err(|e| error(ScriptErrorKind::Io(e)))?;
        Script::from_json(&text).map_err(|e| error(ScriptErrorKind::Parse(e)))
    }
}

/// A script file that could not be read or parsed; it displays as
/// `FILE: reason`, with a line and column for parse errors.
#[derive(Debug)]
pub struct ScriptError {
    pub path: PathBuf,
    pub kind: ScriptErrorKind,
}

/// Why a script file was rejected.
#[derive(Debug)]
pub enum ScriptErrorKind {
    Io(std::io::Error),
    Parse(serde_json::Error),
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            ScriptErrorKind::Io(e) => write!(f, "{path}: {e}"),
            ScriptErrorKind::Parse(e) => write!(f, "{path}: {e}"),
        }
    }
}

impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ScriptErrorKind::Io(e) => Some(e),
            ScriptErrorKind::Parse(e) => Some(e),
        }
    }
}

/// What a request gets once every reply has been used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenExhausted {
    /// Answer with a 500 error that says the script is exhausted.
    #[default]
    Error,
    /// Answer with the last reply again (an empty script still fails).
    RepeatLast,
}

/// One canned reply: either model output or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawReply", into = "RawReply")]
pub enum Reply {
    Output(Output),
    Error(ErrorKind),
}

/// Model output: text chunks, then tool calls, then the usage event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// The text, one streamed event per chunk; the whole text is their
    /// concatenation.
    pub chunks: Vec<String>,
    pub tool_calls: Vec<ToolCall>,
    /// Send this many chunks, then wait for `POST /_localai/release`.
    pub hold_after: Option<usize>,
    /// End the reply early: no usage event and no `[DONE]`.
    pub truncate: bool,
    /// Usage to report instead of the computed one.
    pub usage: Option<UsageOverride>,
}

impl Output {
    /// Output streamed as exactly these chunks.
    pub fn chunks<S: Into<String>>(chunks: impl IntoIterator<Item = S>) -> Self {
        Output {
            chunks: chunks.into_iter().map(Into::into).collect(),
            ..Output::default()
        }
    }

    /// Output whose text is streamed one word (with its leading whitespace)
    /// per chunk.
    pub fn text(text: &str) -> Self {
        Output {
            chunks: split_words(text),
            ..Output::default()
        }
    }

    /// Output made only of tool calls.
    pub fn tool_calls(tool_calls: impl IntoIterator<Item = ToolCall>) -> Self {
        Output {
            tool_calls: tool_calls.into_iter().collect(),
            ..Output::default()
        }
    }

    /// Adds tool calls after the text.
    pub fn with_tool_calls(mut self, tool_calls: impl IntoIterator<Item = ToolCall>) -> Self {
        self.tool_calls.extend(tool_calls);
        self
    }

    /// Holds the stream after `n` chunks until a release.
    pub fn hold_after(mut self, n: usize) -> Self {
        self.hold_after = Some(n);
        self
    }

    /// Ends the stream without the usage event and `[DONE]`.
    pub fn truncated(mut self) -> Self {
        self.truncate = true;
        self
    }

    /// Reports this usage instead of the computed one.
    pub fn with_usage(mut self, usage: UsageOverride) -> Self {
        self.usage = Some(usage);
        self
    }

    /// The whole text of the reply.
    pub fn text_content(&self) -> String {
        self.chunks.concat()
    }
}

impl From<Output> for Reply {
    fn from(output: Output) -> Self {
        Reply::Output(output)
    }
}

/// Usage numbers set by the script; each missing one is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
}

/// The errors a script can make the engine return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 429, internalCode 3040, `CapacityError`.
    Capacity,
    /// 500, internalCode 5000, `InferenceUpstreamError`.
    Internal,
}

/// Splits text into words, each carrying the whitespace that precedes it, so
/// that the chunks concatenate back to the exact text.
pub fn split_words(text: &str) -> Vec<String> {
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut previous_was_word = false;
    for c in text.chars() {
        let is_space = c.is_whitespace();
        // Whitespace after a word starts the next chunk.
        if is_space && previous_was_word {
            chunks.push(std::mem::take(&mut current));
        }
        current.push(c);
        previous_was_word = !is_space;
    }
    match chunks.last_mut() {
        // Trailing whitespace stays with the last word.
        Some(last) if !previous_was_word => last.push_str(&current),
        _ if !current.is_empty() => chunks.push(current),
        _ => {}
    }
    chunks
}

/// The reply exactly as written in JSON, before validation.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReply {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chunks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hold_after: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    truncate: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorKind>,
}

impl TryFrom<RawReply> for Reply {
    type Error = String;

    fn try_from(raw: RawReply) -> Result<Self, String> {
        if let Some(kind) = raw.error {
            let has_output = raw.chunks.is_some()
                || raw.text.is_some()
                || !raw.tool_calls.is_empty()
                || raw.hold_after.is_some()
                || raw.truncate
                || raw.usage.is_some();
            if has_output {
                return Err("a reply with `error` cannot have any other field".into());
            }
            return Ok(Reply::Error(kind));
        }
        let chunks = match (raw.chunks, raw.text) {
            (Some(_), Some(_)) => {
                return Err("a reply cannot have both `chunks` and `text`".into());
            }
            (Some(chunks), None) => chunks,
            (None, Some(text)) => split_words(&text),
            (None, None) => Vec::new(),
        };
        if let Some(n) = raw.hold_after {
            if n > chunks.len() {
                return Err(format!(
                    "`hold_after` is {n} but the reply has only {} chunks",
                    chunks.len()
                ));
            }
        }
        Ok(Reply::Output(Output {
            chunks,
            tool_calls: raw.tool_calls,
            hold_after: raw.hold_after,
            truncate: raw.truncate,
            usage: raw.usage,
        }))
    }
}

impl From<Reply> for RawReply {
    fn from(reply: Reply) -> Self {
        match reply {
            Reply::Error(kind) => RawReply {
                error: Some(kind),
                ..RawReply::default()
            },
            Reply::Output(output) => RawReply {
                chunks: Some(output.chunks),
                tool_calls: output.tool_calls,
                hold_after: output.hold_after,
                truncate: output.truncate,
                usage: output.usage,
                ..RawReply::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_words_keeps_leading_whitespace_and_round_trips() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("one", &["one"]),
            ("Hello big world", &["Hello", " big", " world"]),
            ("  lead and trail  ", &["  lead", " and", " trail  "]),
            ("a\n\nb", &["a", "\n\nb"]),
        ];
        for (text, expected) in cases {
            let chunks = split_words(text);
            assert_eq!(chunks, *expected, "splitting {text:?}");
            assert_eq!(chunks.concat(), *text);
        }
    }

    #[test]
    fn invalid_replies_name_the_problem_with_a_position() {
        let cases = [
            (
                r#"{"replies":[{"chunks":["a"],"text":"b"}]}"#,
                "both `chunks` and `text`",
            ),
            (
                r#"{"replies":[{"error":"capacity","text":"b"}]}"#,
                "cannot have any other field",
            ),
            (
                r#"{"replies":[{"chunks":["a"],"hold_after":2}]}"#,
                "`hold_after` is 2",
            ),
            (
                r#"{"replies":[{"error":"nope"}]}"#,
                "unknown variant `nope`",
            ),
            (r#"{"replies":[{"chunk":["a"]}]}"#, "unknown field `chunk`"),
            (
                r#"{"replies":[], "when_exhausted":"loop"}"#,
                "unknown variant `loop`",
            ),
        ];
        for (json, expected) in cases {
            let error = Script::from_json(json).unwrap_err().to_string();
            assert!(error.contains(expected), "{json}: {error}");
            assert!(error.contains("line 1 column"), "{json}: {error}");
        }
    }

    #[test]
    fn script_round_trips_through_json() {
        let script = Script::new([
            Output::text("Hello there").hold_after(1).into(),
            Output::tool_calls([ToolCall::new("f", serde_json::json!({"x": 1}))])
                .truncated()
                .into(),
            Reply::Error(ErrorKind::Capacity),
        ])
        .repeat_last();
        let json = serde_json::to_string(&script).unwrap();
        assert_eq!(Script::from_json(&json).unwrap(), script);
    }
}
