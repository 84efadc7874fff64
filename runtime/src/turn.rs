//! One chat turn, from the model's events to the frames the client sees and the messages stored.

use crate::history::{Message, Role};
use crate::model::{ModelEvent, StreamError};
use crate::sse::{self, Done, Usage};

/// The state of a turn while the model streams its answer.
///
/// Nothing is stored until [`Turn::finish`] returns the turn's messages: a turn that fails
/// midway leaves the session's history as it was.
#[derive(Debug)]
pub struct Turn {
    model: String,
    user_message: String,
    answer: String,
    usage: Usage,
    steps: u32,
}

impl Turn {
    pub fn new(model: impl Into<String>, user_message: impl Into<String>) -> Self {
        Turn {
            model: model.into(),
            user_message: user_message.into(),
            answer: String::new(),
            usage: Usage::default(),
            steps: 1,
        }
    }

    /// Takes one model event and appends the client frame it produces, if any, to `out`.
    pub fn on_model_event(&mut self, event: ModelEvent, out: &mut String) {
        match event {
            ModelEvent::Text(text) => {
                out.push_str(&sse::delta(&text));
                self.answer.push_str(&text);
            }
            ModelEvent::Usage(usage) => self.usage = usage,
            ModelEvent::Done => {}
        }
    }

    /// The `error` frame for a model stream that went wrong.
    pub fn fail(&self, err: &StreamError) -> String {
        sse::error("model_error", &err.to_string())
    }

    /// The messages to store (the user's message and the full answer) and the `done` frame.
    pub fn finish(self) -> (Vec<Message>, String) {
        let done = sse::done(&Done {
            model: &self.model,
            steps: self.steps,
            usage: self.usage,
        });
        let messages = vec![
            Message::new(Role::User, self.user_message),
            Message::new(Role::Assistant, self.answer),
        ];
        (messages, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_streams_deltas_then_stores_both_messages() {
        let mut turn = Turn::new("@cf/m", "Count to 3");
        let mut out = String::new();
        for event in [
            ModelEvent::Text("1, ".into()),
            ModelEvent::Text("2, 3".into()),
            ModelEvent::Usage(Usage {
                prompt_tokens: 9,
                completion_tokens: 4,
            }),
            ModelEvent::Done,
        ] {
            turn.on_model_event(event, &mut out);
        }
        assert_eq!(
            out,
            "event: delta\ndata: {\"text\":\"1, \"}\n\nevent: delta\ndata: {\"text\":\"2, 3\"}\n\n"
        );
        let (messages, done) = turn.finish();
        assert_eq!(
            messages,
            vec![
                Message::new(Role::User, "Count to 3"),
                Message::new(Role::Assistant, "1, 2, 3"),
            ]
        );
        assert!(done.contains("\"prompt_tokens\":9"));
    }
}
