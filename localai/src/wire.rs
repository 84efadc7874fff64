//! Wire-format types shared by the endpoints: token usage, tool calls, the
//! recorded form of a model request, and the Workers AI result and error
//! bodies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Token accounting, as Workers AI reports it in `usage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    /// Builds a usage record whose total is the sum of the two parts.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// One tool call in the Workers AI shape: a function name and its arguments
/// as a JSON value (usually an object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    pub name: String,
    #[serde(default = "empty_object")]
    pub arguments: Value,
}

impl ToolCall {
    /// Builds a tool call from a name and its arguments.
    pub fn new(name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            name: name.into(),
            arguments,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Which HTTP surface a model request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Endpoint {
    /// `POST /run`: the internal protocol of the Workers AI binding (`env.AI`).
    Binding,
    /// `POST /client/v4/accounts/{account}/ai/run/{model}`: the public REST API.
    Rest,
    /// `POST /v1/chat/completions`: the OpenAI-compatible API.
    Openai,
}

impl Endpoint {
    /// The name used in recordings: `binding`, `rest` or `openai`.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Binding => "binding",
            Endpoint::Rest => "rest",
            Endpoint::Openai => "openai",
        }
    }
}

/// A model request as localai received and recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub endpoint: Endpoint,
    /// The model id, e.g. `@cf/meta/llama-3.1-8b-instruct`.
    pub model: String,
    /// The model inputs (`messages` or `prompt`, `stream`, `tools`, ...).
    pub inputs: Value,
    /// The binding's `options` object; empty for the other endpoints.
    pub options: Value,
}

impl RecordedRequest {
    /// Reports whether the client asked for a streamed reply.
    pub fn stream(&self) -> bool {
        self.inputs.get("stream").and_then(Value::as_bool) == Some(true)
    }

    /// Counts the whitespace-separated words of the prompt: the `prompt`
    /// string plus the text of every message's content.
    pub fn prompt_words(&self) -> u64 {
        let mut words = 0;
        if let Some(prompt) = self.inputs.get("prompt").and_then(Value::as_str) {
            words += count_words(prompt);
        }
        let messages = self.inputs.get("messages").and_then(Value::as_array);
        for message in messages.into_iter().flatten() {
            match message.get("content") {
                Some(Value::String(text)) => words += count_words(text),
                // Content may also be a list of parts such as
                // `{"type": "text", "text": "..."}`.
                Some(Value::Array(parts)) => {
                    for part in parts {
                        if let Some(text) = part.get("text").and_then(Value::as_str) {
                            words += count_words(text);
                        }
                    }
                }
                _ => {}
            }
        }
        words
    }
}

fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The result of a non-streamed Workers AI run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiResult {
    pub response: String,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

/// One server-sent event of a streamed Workers AI run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AiStreamEvent<'a> {
    pub response: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<&'a [ToolCall]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// The error body the binding's JS client parses into
/// `InferenceUpstreamError("<internalCode>: <description>")`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AiErrorBody {
    pub internal_code: u32,
    pub message: String,
    pub name: String,
    pub description: String,
}
