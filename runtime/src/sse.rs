//! Server-sent events: the frames a chat turn streams to its client.
//!
//! Every frame is `event: <name>\ndata: <one line of JSON>\n\n`. The event names and payloads
//! are the public contract of `POST /agents/{agent}/chat`.

use crate::turn::{Sink, Summary, TurnEvent};
use serde::{Deserialize, Serialize};

/// The `content-type` of a chat stream.
pub const CONTENT_TYPE: &str = "text/event-stream";

/// Token counts of a turn, as reported by the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }
}

/// Frames one event.
pub fn frame(name: &str, data: &impl Serialize) -> String {
    // serde_json's compact output never contains a raw newline, so one data line suffices.
    let json = serde_json::to_string(data).expect("event payloads always serialize");
    let mut out = String::with_capacity(name.len() + json.len() + 16);
    out.push_str("event: ");
    out.push_str(name);
    out.push_str("\ndata: ");
    out.push_str(&json);
    out.push_str("\n\n");
    out
}

/// A `delta` event: a piece of the answer's text.
pub fn delta(text: &str) -> String {
    #[derive(Serialize)]
    struct Delta<'a> {
        text: &'a str,
    }
    frame("delta", &Delta { text })
}

/// A `done` event: the turn finished and was stored. Its payload names the model that
/// answered, how many model calls the turn took, the tokens used, and the session the turn was
/// stored in (the id to send with the next message).
pub fn done(summary: &Summary, session_id: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Done<'a> {
        model: &'a str,
        steps: u32,
        usage: Usage,
        #[serde(skip_serializing_if = "Option::is_none")]
        session_id: Option<&'a str>,
    }
    frame(
        "done",
        &Done {
            model: summary.model,
            steps: summary.steps,
            usage: summary.usage,
            session_id,
        },
    )
}

/// Frames a turn's events as this API's server-sent events for a function that sends them on.
pub struct AgentSink<F: FnMut(String) -> bool>(pub F);

impl<F: FnMut(String) -> bool> Sink for AgentSink<F> {
    fn event(&mut self, event: TurnEvent<'_>) -> bool {
        let frame = match event {
            TurnEvent::Delta(text) => delta(text),
            TurnEvent::ToolCall(call) => tool_call(call),
            TurnEvent::ToolResult(call, result) => tool_result(call, result),
            TurnEvent::Error { code, message } => error(code, message),
        };
        (self.0)(frame)
    }
}

/// A `tool_call` event: the model asked for a tool.
pub fn tool_call(call: &crate::history::ToolCall) -> String {
    frame("tool_call", call)
}

/// A `tool_result` event: what a tool returned, or why it failed.
pub fn tool_result(
    call: &crate::history::ToolCall,
    result: &Result<serde_json::Value, String>,
) -> String {
    #[derive(Serialize)]
    struct ToolResult<'a> {
        id: &'a str,
        name: &'a str,
        ok: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<&'a serde_json::Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<&'a str>,
    }
    frame(
        "tool_result",
        &ToolResult {
            id: &call.id,
            name: &call.name,
            ok: result.is_ok(),
            result: result.as_ref().ok(),
            error: result.as_ref().err().map(String::as_str),
        },
    )
}

/// An `error` event: the turn failed after its stream had started; nothing was stored.
pub fn error(code: &str, message: &str) -> String {
    #[derive(Serialize)]
    struct Error<'a> {
        code: &'a str,
        message: &'a str,
    }
    frame("error", &Error { code, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_single_data_lines() {
        assert_eq!(
            delta("line one\nline \"two\""),
            "event: delta\ndata: {\"text\":\"line one\\nline \\\"two\\\"\"}\n\n"
        );
        assert_eq!(
            error("model_error", "boom"),
            "event: error\ndata: {\"code\":\"model_error\",\"message\":\"boom\"}\n\n"
        );
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
        };
        let summary = Summary {
            model: "m",
            steps: 1,
            usage,
        };
        assert_eq!(
            done(&summary, None),
            "event: done\ndata: {\"model\":\"m\",\"steps\":1,\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n"
        );
        assert_eq!(
            done(&summary, Some("s-1")),
            "event: done\ndata: {\"model\":\"m\",\"steps\":1,\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2},\"session_id\":\"s-1\"}\n\n"
        );
    }
}
