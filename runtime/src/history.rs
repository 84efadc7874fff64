//! The messages of a conversation, as stored and as sent to the model.

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering one of the assistant's tool calls.
    Tool,
}

impl Role {
    /// The role's name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// Parses a stored role name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "tool" => Some(Role::Tool),
            _ => None,
        }
    }
}

/// A call of one tool, as the model asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Pairs the call with its result.
    pub id: String,
    pub name: String,
    pub arguments: serde_json::Value,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// The tools an assistant message calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a tool message: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }

    /// An assistant message that calls tools.
    pub fn tool_calls(content: impl Into<String>, calls: Vec<ToolCall>) -> Self {
        Message {
            tool_calls: calls,
            ..Message::new(Role::Assistant, content)
        }
    }

    /// A tool's result for one call.
    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(call.id.clone()),
            name: Some(call.name.clone()),
            ..Message::new(Role::Tool, content)
        }
    }
}

/// The most recent messages of a transcript that fit in `window`, oldest first.
///
/// A window always starts at a user message: a model reads a reply, a tool call or a tool
/// result without what led to it as a conversation that began mid-way, and a tool result must
/// never be separated from the call it answers.
pub fn window(transcript: &[Message], window: usize) -> &[Message] {
    let mut start = transcript.len().saturating_sub(window);
    while start < transcript.len() && transcript[start].role != Role::User {
        start += 1;
    }
    &transcript[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(n: usize) -> Vec<Message> {
        (0..n)
            .map(|i| {
                let role = if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                };
                Message::new(role, format!("m{i}"))
            })
            .collect()
    }

    fn contents(messages: &[Message]) -> Vec<&str> {
        messages.iter().map(|m| m.content.as_str()).collect()
    }

    #[test]
    fn window_keeps_the_latest_messages_in_order() {
        let all = transcript(6);
        assert_eq!(contents(window(&all, 4)), ["m2", "m3", "m4", "m5"]);
    }

    #[test]
    fn window_larger_than_transcript_keeps_everything() {
        let all = transcript(3);
        assert_eq!(window(&all, 10), &all[..]);
    }

    #[test]
    fn window_never_starts_with_a_reply() {
        let all = transcript(6);
        assert_eq!(contents(window(&all, 3)), ["m4", "m5"]);
    }

    #[test]
    fn window_never_orphans_a_tool_result() {
        let call = ToolCall {
            id: "c1".into(),
            name: "clock".into(),
            arguments: serde_json::json!({}),
        };
        let all = vec![
            Message::new(Role::User, "u1"),
            Message::tool_calls("", vec![call.clone()]),
            Message::tool_result(&call, "12:00"),
            Message::new(Role::Assistant, "It is noon."),
            Message::new(Role::User, "u2"),
            Message::new(Role::Assistant, "a2"),
        ];
        for size in 3..=5 {
            assert_eq!(contents(window(&all, size)), ["u2", "a2"], "window {size}");
        }
        assert_eq!(window(&all, 6).len(), 6);
    }

    #[test]
    fn zero_window_sends_no_history() {
        assert!(window(&transcript(4), 0).is_empty());
    }
}
