//! The messages of a conversation, as stored and as sent to the model.

use serde::{Deserialize, Serialize};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role's name on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    /// Parses a stored role name.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// The most recent `window` messages of a transcript, oldest first.
///
/// A window never starts with an assistant message: a model reads a reply without the message it
/// answers as a conversation that began mid-way, so such a leading reply is dropped.
pub fn window(transcript: &[Message], window: usize) -> &[Message] {
    let mut start = transcript.len().saturating_sub(window);
    while start < transcript.len() && transcript[start].role == Role::Assistant {
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

    #[test]
    fn window_keeps_the_latest_messages_in_order() {
        let all = transcript(6);
        let contents: Vec<_> = window(&all, 4).iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["m2", "m3", "m4", "m5"]);
    }

    #[test]
    fn window_larger_than_transcript_keeps_everything() {
        let all = transcript(3);
        assert_eq!(window(&all, 10), &all[..]);
    }

    #[test]
    fn window_never_starts_with_a_reply() {
        let all = transcript(6);
        let kept = window(&all, 3);
        assert_eq!(kept[0].content, "m4");
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn zero_window_sends_no_history() {
        assert!(window(&transcript(4), 0).is_empty());
    }
}
