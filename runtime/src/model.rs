//! Talking to a Workers AI text-generation model: the input we send and the stream we read back.

use crate::agent::AgentSpec;
use crate::history::{Message, Role};
use crate::sse::Usage;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One message as the model receives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelMessage<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

/// The `inputs` of a text-generation call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInput<'a> {
    pub messages: Vec<ModelMessage<'a>>,
    pub stream: bool,
    pub max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

/// The model call for a new user message: system prompt, windowed history, then the message.
/// `history` must already be windowed (see [`crate::history::window`]).
pub fn build_input<'a>(
    agent: &'a AgentSpec,
    history: &'a [Message],
    user_message: &'a str,
) -> ModelInput<'a> {
    let mut messages = Vec::with_capacity(history.len() + 2);
    messages.push(ModelMessage {
        role: Role::System.as_str(),
        content: agent.system,
    });
    messages.extend(history.iter().map(|m| ModelMessage {
        role: m.role.as_str(),
        content: &m.content,
    }));
    messages.push(ModelMessage {
        role: Role::User.as_str(),
        content: user_message,
    });
    ModelInput {
        messages,
        stream: true,
        max_tokens: agent.max_tokens,
        temperature: agent.temperature,
    }
}

/// What a model's stream says, one event at a time.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    /// A piece of the answer.
    Text(String),
    /// Token counts; models send them once, near the end.
    Usage(Usage),
    /// The `[DONE]` marker: the answer is complete.
    Done,
}

/// The model's stream could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamError {
    /// An event's data was not the JSON we expect.
    Malformed(String),
    /// The stream ended before `[DONE]`: the answer may be cut short.
    Truncated,
    /// Data arrived after `[DONE]`.
    AfterDone,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::Malformed(detail) => {
                write!(f, "the model sent a malformed event: {detail}")
            }
            StreamError::Truncated => f.write_str("the model's stream ended before [DONE]"),
            StreamError::AfterDone => f.write_str("the model sent data after [DONE]"),
        }
    }
}

impl std::error::Error for StreamError {}

/// Decodes the server-sent events of a streamed Workers AI call, fed in arbitrary byte chunks.
///
/// Both shapes Workers AI streams are understood: `{"response": "..."}` and the OpenAI-style
/// `{"choices": [{"delta": {"content": "..."}}]}`.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    pending: Vec<u8>,
    done: bool,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    response: Option<String>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `[DONE]` has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Feeds the next bytes of the stream, appending every complete event to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<ModelEvent>) -> Result<(), StreamError> {
        self.pending.extend_from_slice(bytes);
        let mut consumed = 0;
        while let Some((end, next)) = event_end(&self.pending[consumed..]) {
            let event = std::str::from_utf8(&self.pending[consumed..consumed + end])
                .map_err(|_| StreamError::Malformed("event is not UTF-8".into()))?;
            decode_event(event, &mut self.done, out)?;
            consumed += next;
        }
        self.pending.drain(..consumed);
        Ok(())
    }

    /// Declares the end of the byte stream.
    pub fn finish(&self) -> Result<(), StreamError> {
        if self.done {
            Ok(())
        } else {
            Err(StreamError::Truncated)
        }
    }
}

/// Decodes one complete event; `done` records whether `[DONE]` was seen.
fn decode_event(
    event: &str,
    done: &mut bool,
    out: &mut Vec<ModelEvent>,
) -> Result<(), StreamError> {
    let mut data = String::new();
    for line in event.lines() {
        if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    if data.is_empty() {
        // Comments, keep-alives and events without data carry nothing for us.
        return Ok(());
    }
    if *done {
        return Err(StreamError::AfterDone);
    }
    if data == "[DONE]" {
        *done = true;
        out.push(ModelEvent::Done);
        return Ok(());
    }
    let chunk: Chunk = serde_json::from_str(&data)
        .map_err(|err| StreamError::Malformed(format!("{err} in {data:?}")))?;
    let text = chunk.response.or_else(|| {
        chunk
            .choices
            .into_iter()
            .find_map(|choice| choice.delta.and_then(|delta| delta.content))
    });
    if let Some(text) = text.filter(|text| !text.is_empty()) {
        out.push(ModelEvent::Text(text));
    }
    if let Some(usage) = chunk.usage {
        out.push(ModelEvent::Usage(Usage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
        }));
    }
    Ok(())
}

/// Finds the end of the first complete event: (length of the event, length including the blank
/// line that ends it). Accepts `\n\n`, `\r\n\r\n` and `\r\r` separators.
fn event_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i < bytes.len() {
        for sep in [&b"\r\n\r\n"[..], b"\n\n", b"\r\r"] {
            if bytes[i..].starts_with(sep) {
                return Some((i, i + sep.len()));
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(stream: &str, piece: usize) -> (Vec<ModelEvent>, Result<(), StreamError>) {
        let mut decoder = StreamDecoder::new();
        let mut out = Vec::new();
        for chunk in stream.as_bytes().chunks(piece) {
            if let Err(err) = decoder.feed(chunk, &mut out) {
                return (out, Err(err));
            }
        }
        let end = decoder.finish();
        (out, end)
    }

    #[test]
    fn decodes_whatever_the_chunking() {
        let stream = "data: {\"response\":\"Hel\"}\n\ndata: {\"response\":\"lo\"}\r\n\r\n: keep-alive\n\n\
                      data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n\
                      data: [DONE]\n\n";
        for piece in 1..stream.len() {
            let (events, end) = decode_in_pieces(stream, piece);
            assert_eq!(end, Ok(()));
            assert_eq!(
                events,
                vec![
                    ModelEvent::Text("Hel".into()),
                    ModelEvent::Text("lo".into()),
                    ModelEvent::Usage(Usage {
                        prompt_tokens: 5,
                        completion_tokens: 2
                    }),
                    ModelEvent::Done,
                ],
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn understands_the_openai_shape() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
        let (events, end) = decode_in_pieces(stream, 7);
        assert_eq!(end, Ok(()));
        assert_eq!(
            events,
            vec![ModelEvent::Text("Hi".into()), ModelEvent::Done]
        );
    }

    #[test]
    fn a_stream_without_done_is_truncated() {
        let (events, end) = decode_in_pieces("data: {\"response\":\"cut\"}\n\n", 4);
        assert_eq!(events, vec![ModelEvent::Text("cut".into())]);
        assert_eq!(end, Err(StreamError::Truncated));
    }

    #[test]
    fn malformed_data_is_an_error() {
        let (_, end) = decode_in_pieces("data: {oops}\n\n", 100);
        assert!(matches!(end, Err(StreamError::Malformed(_))));
        let (_, end) = decode_in_pieces("data: [DONE]\n\ndata: {\"response\":\"x\"}\n\n", 100);
        assert_eq!(end, Err(StreamError::AfterDone));
    }

    #[test]
    fn input_has_system_history_then_message() {
        let agent = AgentSpec {
            name: "a",
            model: "@cf/m",
            system: "Be brief.",
            history_window: 10,
            max_tokens: 64,
            temperature: None,
        };
        let history = vec![
            Message::new(Role::User, "My name is Alice"),
            Message::new(Role::Assistant, "Hello Alice"),
        ];
        let input = build_input(&agent, &history, "What is my name?");
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            serde_json::json!({
                "messages": [
                    {"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "My name is Alice"},
                    {"role": "assistant", "content": "Hello Alice"},
                    {"role": "user", "content": "What is my name?"},
                ],
                "stream": true,
                "max_tokens": 64,
            })
        );
    }
}
