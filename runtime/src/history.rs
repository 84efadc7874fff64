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
///
/// When the last `window` messages hold no user message (one turn with many tool calls), the
/// window is the last whole turn rather than nothing, so the model still sees what it just did;
/// [`fit_tokens`] then bounds its size.
pub fn window(transcript: &[Message], window: usize) -> &[Message] {
    if window == 0 {
        return &[];
    }
    let mut start = transcript.len().saturating_sub(window);
    while start < transcript.len() && transcript[start].role != Role::User {
        start += 1;
    }
    if start == transcript.len() {
        if let Some(last_user) = transcript.iter().rposition(|m| m.role == Role::User) {
            start = last_user;
        }
    }
    &transcript[start..]
}

/// The estimated tokens of a message: 4 bytes a token, as the window budget counts them.
pub fn estimated_tokens(message: &Message) -> u64 {
    let calls: usize = message
        .tool_calls
        .iter()
        .map(|c| c.name.len() + c.arguments.to_string().len())
        .sum();
    (message.content.len() + calls).div_ceil(4) as u64 + 1
}

/// The newest whole turns of `window` whose estimated tokens fit in `max_tokens`, oldest first.
/// Whole turns are left out from the oldest, so the rest still starts at a user message; a
/// turn that alone is over the budget is left out too. So a session whose stored messages grew
/// past the model's context still answers, instead of failing every turn from then on.
pub fn fit_tokens(window: &[Message], max_tokens: u32) -> &[Message] {
    let mut total: u64 = window.iter().map(estimated_tokens).sum();
    let mut start = 0;
    while total > u64::from(max_tokens) && start < window.len() {
        total -= estimated_tokens(&window[start]);
        start += 1;
        while start < window.len() && window[start].role != Role::User {
            total -= estimated_tokens(&window[start]);
            start += 1;
        }
    }
    &window[start..]
}

/// The largest message stored, in bytes of content: a row of Durable Object SQLite holds at most
/// 2 MB, and a turn whose insert failed halfway would have to be undone. Longer contents (a huge
/// tool result) are cut, and say so.
pub const MAX_STORED_CONTENT: usize = 1 << 20;

/// The most values one SQL statement may bind in Durable Object SQLite: the platform refuses
/// the 101st ("too many SQL variables"), on Cloudflare and in workerd alike.
pub const MAX_BOUND_VALUES: usize = 100;

/// The values bound for one stored message (role, content, tool calls, tool call id, name, time).
pub const STORED_VALUES: usize = 6;

/// The most messages one INSERT stores: a turn's messages are inserted in statements of at most
/// this many rows, so a long turn (many tool calls) never binds more than [`MAX_BOUND_VALUES`].
pub const ROWS_PER_INSERT: usize = MAX_BOUND_VALUES / STORED_VALUES;

/// `content` cut to at most `max` bytes (at a character boundary), saying how much was cut.
pub fn cut(content: &str, max: usize) -> String {
    if content.len() <= max {
        return content.to_owned();
    }
    let mut end = max.saturating_sub(64);
    while !content.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [{} bytes cut]", &content[..end], content.len() - end)
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
    fn a_window_without_a_user_message_keeps_the_last_turn() {
        let call = |id: &str| ToolCall {
            id: id.into(),
            name: "clock".into(),
            arguments: serde_json::json!({}),
        };
        let (a, b, c) = (call("a"), call("b"), call("c"));
        let all = vec![
            Message::new(Role::User, "u"),
            Message::tool_calls("", vec![a.clone(), b.clone(), c.clone()]),
            Message::tool_result(&a, "1"),
            Message::tool_result(&b, "2"),
            Message::tool_result(&c, "3"),
            Message::new(Role::Assistant, "done"),
        ];
        // Before: the last 4 rows hold no user message, and the model saw nothing.
        assert_eq!(window(&all, 4).len(), 6);
        assert_eq!(window(&all, 4)[0].content, "u");
    }

    #[test]
    fn the_window_fits_the_token_budget() {
        let big = "x".repeat(8000);
        let all = vec![
            Message::new(Role::User, "u1"),
            Message::new(Role::Assistant, big.clone()),
            Message::new(Role::User, "u2"),
            Message::new(Role::Assistant, "a2"),
        ];
        assert_eq!(contents(fit_tokens(&all, 10_000)), contents(&all));
        // 2000 tokens of reply do not fit in 1000: its whole turn goes.
        assert_eq!(contents(fit_tokens(&all, 1000)), ["u2", "a2"]);
        // Nothing fits: no history rather than a prompt the model cannot take.
        assert!(fit_tokens(&all, 2).is_empty());
        assert!(fit_tokens(&[Message::new(Role::User, big)], 100).is_empty());
    }

    #[test]
    fn cut_says_how_much_it_cut() {
        assert_eq!(cut("short", 100), "short");
        let long = "é".repeat(1000);
        let out = cut(&long, 200);
        assert!(
            out.len() <= 200 + 40 && out.ends_with("bytes cut]"),
            "{out}"
        );
    }

    #[test]
    fn zero_window_sends_no_history() {
        assert!(window(&transcript(4), 0).is_empty());
    }
}
