//! The AI SDK's UI message stream protocol on `POST /agents/{agent}/chat`, so a React app's
//! `useChat` (the `ai` package's `DefaultChatTransport`) talks to an agent unchanged.
//!
//! A request is recognised by its body: `DefaultChatTransport` sends `{id, messages, trigger,
//! messageId?, ...}` where `messages` are `UIMessage`s (`{id, role, parts}`); this API's own
//! body is `{message, session_id}`. The chat `id` is the session. History stays on the server:
//! only the last message (a user message; its text parts joined) is this turn's input, and the
//! messages before it are checked against the stored history ([`check_history`]), never used as
//! history themselves.
//!
//! The answer is a server-sent event stream of JSON parts, each `data: {...}\n\n`, ending with
//! `data: [DONE]`, with the header `x-vercel-ai-ui-message-stream: v1`: `start`, `start-step`,
//! `text-start`/`text-delta`/`text-end`, `tool-input-available` and `tool-output-available` (or
//! `tool-output-error`) for each tool the server ran (`providerExecuted: true`, so the client
//! does not run them), `finish-step`, `finish` (with the model, steps and token usage as
//! `messageMetadata`), and `error` when the turn fails after the stream started. Shapes follow
//! `ui-message-chunks.ts` of the `ai` npm package (tested with 7.0.173).
//!
//! A call that waits for approval ends the stream with a `tool-approval-request` for it (its
//! `approvalId` is the call's id) and `finish`; the `UIMessage` part is then
//! `approval-requested`. After `addToolApprovalResponse`, the client sends its messages again
//! ending with that assistant message, its part now `approval-responded`: that request is the
//! decision (see [`UiDecision`]), and its answer streams the rest of the turn into the same
//! assistant message.

use crate::api::{self, ApiError};
use crate::history::{Message, Role, ToolCall};
use crate::turn::{Sink, Summary, TurnEvent};
use serde::Deserialize;
use serde_json::{json, Value};

/// The response header that marks a UI message stream.
pub const HEADER: (&str, &str) = ("x-vercel-ai-ui-message-stream", "v1");

/// The end of every stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// Whether a chat body is the AI SDK's (it has `messages`) rather than this API's own.
pub fn is_ui_request(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        messages: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Probe>(body).is_ok_and(|probe| probe.messages.is_some())
}

/// Reads a chat body of either kind: the AI SDK's (the session operation `ui`, answered with a UI
/// message stream) or this API's own (`turn`).
pub fn chat_request(body: &[u8]) -> Result<(&'static str, api::ChatRequest), ApiError> {
    if !is_ui_request(body) {
        return Ok(("turn", api::parse_chat_request(body)?));
    }
    let chat = parse(body)?;
    let request = api::ChatRequest {
        message: chat.message,
        session_id: Some(chat.session_id),
    };
    Ok(("ui", request))
}

/// The body `DefaultChatTransport` sends. Other fields (the app's own `body` option) are
/// accepted and ignored.
#[derive(Debug, Deserialize)]
struct Body {
    id: String,
    messages: Vec<UiMessage>,
    #[serde(default)]
    trigger: Option<String>,
}

/// A `UIMessage`, as far as the server reads it.
#[derive(Debug, Clone, Deserialize)]
struct UiMessage {
    #[serde(default)]
    id: Option<String>,
    role: String,
    #[serde(default)]
    parts: Vec<Value>,
}

impl UiMessage {
    /// The text parts, joined, without control characters other than newline and tab.
    fn text(&self) -> String {
        let text: String = self
            .parts
            .iter()
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect();
        crate::limits::strip_controls(&text)
    }
}

/// A chat turn asked for by the AI SDK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiChat {
    /// The chat id: the session.
    pub session_id: String,
    /// The last user message's text: this turn's message (empty for a decision).
    pub message: String,
    /// The texts of the user messages before it, oldest first, for [`check_history`].
    pub earlier_user_messages: Vec<String>,
    /// Set when the request answers a call that waits for approval instead of sending a
    /// message.
    pub decision: Option<UiDecision>,
}

/// The answer to a `tool-approval-request`: the last message is the assistant's, and a tool
/// part of its last step is `approval-responded`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiDecision {
    /// The call's id (the request's `approvalId`).
    pub call_id: String,
    pub approved: bool,
    pub reason: Option<String>,
    /// The assistant message the rest of the turn streams into.
    pub message_id: Option<String>,
}

/// The first `approval-responded` tool part of the last step of an assistant message.
fn decision_of(message: &UiMessage) -> Option<UiDecision> {
    let last_step = message
        .parts
        .iter()
        .rposition(|part| part.get("type").and_then(Value::as_str) == Some("step-start"))
        .map_or(0, |at| at + 1);
    message.parts[last_step..].iter().find_map(|part| {
        let kind = part.get("type").and_then(Value::as_str)?;
        if !(kind.starts_with("tool-") || kind == "dynamic-tool") {
            return None;
        }
        if part.get("state").and_then(Value::as_str) != Some("approval-responded") {
            return None;
        }
        let approval = part.get("approval")?;
        Some(UiDecision {
            call_id: approval.get("id").and_then(Value::as_str)?.to_owned(),
            approved: approval.get("approved").and_then(Value::as_bool)?,
            reason: approval.get("reason").and_then(Value::as_str).map(|r| {
                crate::limits::strip_controls(r)
                    .chars()
                    .take(2000)
                    .collect()
            }),
            message_id: message.id.clone(),
        })
    })
}

/// Parses and validates the AI SDK's chat body.
pub fn parse(body: &[u8]) -> Result<UiChat, ApiError> {
    let body: Body = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request("invalid_json", format!("invalid request body: {err}"))
    })?;
    api::validate_session_id(&body.id).map_err(|err| ApiError {
        message: err.message.replace("`session_id`", "the chat `id`"),
        ..err
    })?;
    if let Some(trigger) = body.trigger.as_deref().filter(|t| *t != "submit-message") {
        return Err(ApiError::bad_request(
            "unsupported_trigger",
            format!(
                "trigger `{trigger}` is not supported: the agent keeps the chat's history on the \
                 server, so an answer cannot be regenerated; send a new message instead"
            ),
        ));
    }
    let Some((last, earlier)) = body.messages.split_last() else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`messages` is empty: it must end with the user's new message",
        ));
    };
    if last.role == "assistant" {
        if let Some(decision) = decision_of(last) {
            return Ok(UiChat {
                session_id: body.id,
                message: String::new(),
                earlier_user_messages: Vec::new(),
                decision: Some(decision),
            });
        }
    }
    if last.role != "user" {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "the last of `messages` is a `{}` message; it must be the user's new message \
                 (or the assistant's, answering a tool-approval-request)",
                last.role
            ),
        ));
    }
    let message = last.text();
    if message.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "the user's new message has no text",
        ));
    }
    let earlier_user_messages = earlier
        .iter()
        .filter(|m| m.role == "user")
        .map(UiMessage::text)
        .collect();
    Ok(UiChat {
        session_id: body.id,
        message,
        earlier_user_messages,
        decision: None,
    })
}

/// Checks the client's earlier messages against the stored history (the window the turn reads):
/// a client that sends only its new message always passes; otherwise the server must hold
/// history, and its newest user messages must be the client's newest earlier user messages,
/// text for text. A mismatch is a 409: the chat id names another conversation (or one that was
/// forgotten), and answering it would mix the two.
pub fn check_history(chat: &UiChat, stored: &[Message]) -> Result<(), ApiError> {
    let client = &chat.earlier_user_messages;
    if client.is_empty() {
        return Ok(());
    }
    let server: Vec<&str> = stored
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.as_str())
        .collect();
    let mismatch = |detail: String| {
        ApiError::new(
            409,
            "history_mismatch",
            format!(
                "chat `{}`: {detail}; the server keeps the chat's history, so start a new chat \
                 (a new id) or load its history from GET /agents/{{agent}}/sessions/{}",
                chat.session_id, chat.session_id
            ),
        )
    };
    if server.is_empty() {
        return Err(mismatch(format!(
            "the request carries {} earlier user message(s) but the server holds no history for \
             this chat (it was forgotten, or never kept here)",
            client.len()
        )));
    }
    for (back, (ours, theirs)) in server.iter().rev().zip(client.iter().rev()).enumerate() {
        if ours != theirs {
            return Err(mismatch(format!(
                "the earlier user message {} back from the new one is {theirs:?} in the request \
                 but {ours:?} on the server",
                back + 1
            )));
        }
    }
    Ok(())
}

/// One part of the stream, framed.
pub fn frame(part: &Value) -> String {
    format!("data: {part}\n\n")
}

/// Frames a turn's events as UI message stream parts for a function that sends them on.
/// [`UiSink::start`] opens the stream, [`UiSink::finish`] ends a completed one; an error event
/// ends a failed one.
pub struct UiSink<F: FnMut(String) -> bool> {
    send: F,
    /// The id of the text part being streamed, if one is open.
    text: Option<String>,
    /// Text parts opened so far, for their ids.
    texts: u32,
    /// A tool result was the last thing sent: the next text or call begins a new step.
    after_tools: bool,
}

impl<F: FnMut(String) -> bool> UiSink<F> {
    pub fn new(send: F) -> Self {
        UiSink {
            send,
            text: None,
            texts: 0,
            after_tools: false,
        }
    }

    fn send(&mut self, part: Value) -> bool {
        (self.send)(frame(&part))
    }

    /// The first parts: `start` with the assistant message's id, and the first step's start.
    pub fn start(&mut self, message_id: &str) -> bool {
        self.send(json!({ "type": "start", "messageId": message_id }))
            && self.send(json!({ "type": "start-step" }))
    }

    fn close_text(&mut self) -> bool {
        match self.text.take() {
            Some(id) => self.send(json!({ "type": "text-end", "id": id })),
            None => true,
        }
    }

    fn next_step(&mut self) -> bool {
        if !std::mem::take(&mut self.after_tools) {
            return true;
        }
        self.send(json!({ "type": "finish-step" })) && self.send(json!({ "type": "start-step" }))
    }

    /// The last parts of a completed turn, as one frame string: `finish` names the model, the
    /// steps and the token usage, then `[DONE]`.
    pub fn finish(&mut self, summary: &Summary) -> String {
        let mut out = String::new();
        if let Some(id) = self.text.take() {
            out.push_str(&frame(&json!({ "type": "text-end", "id": id })));
        }
        out.push_str(&frame(&json!({ "type": "finish-step" })));
        out.push_str(&frame(&json!({
            "type": "finish",
            "finishReason": "stop",
            "messageMetadata": {
                "model": summary.model,
                "steps": summary.steps,
                "usage": summary.usage,
            },
        })));
        out.push_str(DONE);
        out
    }
}

impl<F: FnMut(String) -> bool> UiSink<F> {
    /// The last parts of a turn that waits for approval of the calls `call_ids` (already sent
    /// as `tool-input-available`): a `tool-approval-request` for each, whose `approvalId` is
    /// the call's id, then `finish` and `[DONE]`.
    pub fn paused<'a>(&mut self, call_ids: impl IntoIterator<Item = &'a str>) -> String {
        let mut out = String::new();
        if let Some(id) = self.text.take() {
            out.push_str(&frame(&json!({ "type": "text-end", "id": id })));
        }
        for id in call_ids {
            out.push_str(&frame(&json!({
                "type": "tool-approval-request",
                "approvalId": id,
                "toolCallId": id,
            })));
        }
        out.push_str(&frame(&json!({ "type": "finish-step" })));
        out.push_str(&frame(
            &json!({ "type": "finish", "finishReason": "tool-calls" }),
        ));
        out.push_str(DONE);
        out
    }
}

impl<F: FnMut(String) -> bool> Sink for UiSink<F> {
    fn event(&mut self, event: TurnEvent<'_>) -> bool {
        match event {
            TurnEvent::Delta(text) => {
                if !self.next_step() {
                    return false;
                }
                let id = match &self.text {
                    Some(id) => id.clone(),
                    None => {
                        self.texts += 1;
                        let id = format!("text-{}", self.texts);
                        if !self.send(json!({ "type": "text-start", "id": id })) {
                            return false;
                        }
                        self.text = Some(id.clone());
                        id
                    }
                };
                self.send(json!({ "type": "text-delta", "id": id, "delta": text }))
            }
            TurnEvent::ToolCall(call) => {
                self.close_text() && self.next_step() && self.send(tool_input(call))
            }
            TurnEvent::ToolResult(call, result) => {
                self.after_tools = true;
                self.send(tool_output(call, result))
            }
            TurnEvent::Error { code, message } => {
                let error = json!({ "type": "error", "errorText": format!("{message} ({code})") });
                (self.send)(frame(&error) + DONE)
            }
        }
    }
}

fn tool_input(call: &ToolCall) -> Value {
    json!({
        "type": "tool-input-available",
        "toolCallId": call.id,
        "toolName": call.name,
        "input": call.arguments,
        "providerExecuted": true,
    })
}

fn tool_output(call: &ToolCall, result: &Result<Value, String>) -> Value {
    match result {
        Ok(output) => json!({
            "type": "tool-output-available",
            "toolCallId": call.id,
            "output": output,
            "providerExecuted": true,
        }),
        Err(error) => json!({
            "type": "tool-output-error",
            "toolCallId": call.id,
            "errorText": error,
            "providerExecuted": true,
        }),
    }
}

/// A session's stored messages as the AI SDK's `UIMessage`s, for `useChat({ messages })` after a
/// reload: each user message is one message with a text part; each assistant turn (its tool
/// calls, their results, its answer) is one assistant message whose steps begin with a
/// `step-start` part, with a `tool-{name}` part (`output-available`) per call. Ids are the
/// session id and the index of the first stored message.
/// Calls in `waiting` (the ids of calls that wait for approval) are `approval-requested` parts
/// whose approval id is the call's.
pub fn ui_messages(session_id: &str, stored: &[Message], waiting: &[String]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    // The assistant message being built, and whether its last step ended with tool results.
    let mut turn: Option<(Value, bool)> = None;
    let flush = |turn: &mut Option<(Value, bool)>, out: &mut Vec<Value>| {
        if let Some((message, _)) = turn.take() {
            out.push(message);
        }
    };
    for (index, message) in stored.iter().enumerate() {
        match message.role {
            Role::User => {
                flush(&mut turn, &mut out);
                out.push(json!({
                    "id": format!("{session_id}-{index}"),
                    "role": "user",
                    "parts": [{ "type": "text", "text": message.content }],
                }));
            }
            Role::Assistant => {
                let (ui, new_step) = turn.get_or_insert_with(|| {
                    let id = format!("{session_id}-{index}");
                    (json!({ "id": id, "role": "assistant", "parts": [] }), true)
                });
                let parts = ui["parts"].as_array_mut().expect("parts is a list");
                if std::mem::take(new_step) {
                    parts.push(json!({ "type": "step-start" }));
                }
                if !message.content.is_empty() {
                    parts.push(json!({ "type": "text", "text": message.content, "state": "done" }));
                }
                for call in &message.tool_calls {
                    let mut part = json!({
                        "type": format!("tool-{}", call.name),
                        "toolCallId": call.id,
                        "state": "input-available",
                        "input": call.arguments,
                        "providerExecuted": true,
                    });
                    if waiting.contains(&call.id) {
                        part["state"] = Value::from("approval-requested");
                        part["approval"] = json!({ "id": call.id });
                    }
                    parts.push(part);
                }
                if message.tool_calls.is_empty() {
                    flush(&mut turn, &mut out);
                }
            }
            Role::Tool => {
                let Some((ui, new_step)) = &mut turn else {
                    continue;
                };
                *new_step = true;
                let id = message.tool_call_id.as_deref().unwrap_or_default();
                let output = serde_json::from_str::<Value>(&message.content)
                    .unwrap_or_else(|_| Value::from(message.content.as_str()));
                let parts = ui["parts"].as_array_mut().expect("parts is a list");
                if let Some(part) = parts.iter_mut().find(|p| p["toolCallId"] == id) {
                    part["state"] = Value::from("output-available");
                    part["output"] = output;
                }
            }
            Role::System => {}
        }
    }
    flush(&mut turn, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Usage;

    fn body(messages: Value) -> Vec<u8> {
        json!({ "id": "chat-1", "messages": messages, "trigger": "submit-message" })
            .to_string()
            .into_bytes()
    }

    fn user(text: &str) -> Value {
        json!({ "id": "u", "role": "user", "parts": [{ "type": "text", "text": text }] })
    }

    fn assistant(text: &str) -> Value {
        json!({ "id": "a", "role": "assistant", "parts": [
            { "type": "step-start" },
            { "type": "tool-get_weather", "toolCallId": "c1", "state": "output-available", "input": {}, "output": {} },
            { "type": "text", "text": text, "state": "done" },
        ] })
    }

    #[test]
    fn recognises_the_ai_sdk_body_and_not_this_apis_own() {
        assert!(is_ui_request(&body(json!([user("hi")]))));
        assert!(!is_ui_request(br#"{"message":"hi","session_id":"s"}"#));
        assert!(!is_ui_request(b"not json"));
        let (operation, chat) = chat_request(&body(json!([user("hi")]))).unwrap();
        assert_eq!((operation, chat.message.as_str()), ("ui", "hi"));
        let (operation, chat) = chat_request(br#"{"message":"yo","session_id":"s"}"#).unwrap();
        assert_eq!((operation, chat.session_id.as_deref()), ("turn", Some("s")));
        // This API's own errors are unchanged.
        let err = chat_request(br#"{"session_id":"s"}"#).unwrap_err();
        assert!(err.message.contains("missing field `message`"));
    }

    #[test]
    fn takes_the_last_user_message_and_keeps_earlier_ones_for_the_check() {
        let chat = parse(&body(json!([
            user("My name is Alice"),
            assistant("Hi Alice"),
            { "id": "u2", "role": "user", "parts": [
                { "type": "text", "text": "What is " },
                { "type": "file", "mediaType": "image/png", "url": "data:," },
                { "type": "text", "text": "my\u{0007} name?" },
            ], "metadata": { "x": 1 } },
        ])))
        .unwrap();
        assert_eq!(chat.session_id, "chat-1");
        assert_eq!(chat.message, "What is my name?");
        assert_eq!(chat.earlier_user_messages, ["My name is Alice"]);
        // The app's own `body` fields and a missing trigger are fine.
        let extra =
            json!({ "id": "c", "messages": [user("x")], "temperature": 1, "messageId": null });
        assert!(parse(extra.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn refuses_what_it_cannot_answer_and_says_why() {
        let cases: &[(Value, &str)] = &[
            (json!({ "id": "c", "messages": [] }), "`messages` is empty"),
            (
                json!({ "id": "c", "messages": [user("hi"), assistant("x")] }),
                "is a `assistant` message",
            ),
            (
                json!({ "id": "c", "messages": [{ "role": "user", "parts": [] }] }),
                "has no text",
            ),
            (
                json!({ "id": "a b", "messages": [user("hi")] }),
                "the chat `id` must be",
            ),
            (
                json!({ "id": "c", "messages": [user("hi")], "trigger": "regenerate-message" }),
                "cannot be regenerated",
            ),
            (json!({ "messages": [user("hi")] }), "missing field `id`"),
        ];
        for (body, expected) in cases {
            let err = parse(body.to_string().as_bytes()).unwrap_err();
            assert_eq!(err.status, 400, "{body}");
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
    }

    #[test]
    fn earlier_messages_must_agree_with_the_stored_history() {
        let chat = |earlier: &[&str]| UiChat {
            decision: None,
            session_id: "c".into(),
            message: "new".into(),
            earlier_user_messages: earlier.iter().map(|s| s.to_string()).collect(),
        };
        let stored = vec![
            Message::new(Role::User, "one"),
            Message::new(Role::Assistant, "1"),
            Message::new(Role::User, "two"),
            Message::new(Role::Assistant, "2"),
        ];
        assert_eq!(check_history(&chat(&[]), &stored), Ok(()));
        assert_eq!(check_history(&chat(&[]), &[]), Ok(()));
        assert_eq!(check_history(&chat(&["one", "two"]), &stored), Ok(()));
        // A client that kept only the recent messages, or more than the window holds.
        assert_eq!(check_history(&chat(&["two"]), &stored), Ok(()));
        assert_eq!(
            check_history(&chat(&["zero", "one", "two"]), &stored),
            Ok(())
        );
        let err = check_history(&chat(&["one", "TWO"]), &stored).unwrap_err();
        assert_eq!((err.status, err.code), (409, "history_mismatch"));
        assert!(err
            .message
            .contains(r#"is "TWO" in the request but "two" on the server"#));
        let err = check_history(&chat(&["one"]), &[]).unwrap_err();
        assert!(err.message.contains("holds no history"), "{}", err.message);
    }

    fn parts(frames: &str) -> Vec<Value> {
        frames
            .split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let data = f.strip_prefix("data: ").expect("one data line per frame");
                if data == "[DONE]" {
                    Value::from("[DONE]")
                } else {
                    serde_json::from_str(data).expect("JSON part")
                }
            })
            .collect()
    }

    fn types(parts: &[Value]) -> Vec<&str> {
        parts
            .iter()
            .map(|p| p["type"].as_str().unwrap_or("[DONE]"))
            .collect()
    }

    #[test]
    fn a_tool_turn_streams_in_the_sdks_part_shapes() {
        let mut out = String::new();
        let call = ToolCall {
            id: "call-1".into(),
            name: "get_weather".into(),
            arguments: json!({ "location": "Paris" }),
        };
        let summary = Summary {
            model: "@cf/m",
            steps: 2,
            usage: Usage {
                prompt_tokens: 5,
                completion_tokens: 3,
            },
        };
        let mut sink = UiSink::new(|f: String| {
            out.push_str(&f);
            true
        });
        assert!(sink.start("msg-1"));
        assert!(sink.event(TurnEvent::Delta("Let me look.")));
        assert!(sink.event(TurnEvent::ToolCall(&call)));
        assert!(sink.event(TurnEvent::ToolResult(&call, &Ok(json!({ "temp_c": 21 })))));
        assert!(sink.event(TurnEvent::Delta("Sunny, ")));
        assert!(sink.event(TurnEvent::Delta("21°C.")));
        let end = sink.finish(&summary);
        out.push_str(&end);
        let parts = parts(&out);
        assert_eq!(
            types(&parts),
            [
                "start",
                "start-step",
                "text-start",
                "text-delta",
                "text-end",
                "tool-input-available",
                "tool-output-available",
                "finish-step",
                "start-step",
                "text-start",
                "text-delta",
                "text-delta",
                "text-end",
                "finish-step",
                "finish",
                "[DONE]"
            ]
        );
        assert_eq!(parts[0]["messageId"], "msg-1");
        assert_eq!(parts[2]["id"], "text-1");
        assert_eq!(parts[9]["id"], "text-2");
        assert_eq!(
            parts[11],
            json!({ "type": "text-delta", "id": "text-2", "delta": "21°C." })
        );
        assert_eq!(
            parts[5],
            json!({ "type": "tool-input-available", "toolCallId": "call-1", "toolName": "get_weather",
                    "input": { "location": "Paris" }, "providerExecuted": true })
        );
        assert_eq!(parts[6]["output"], json!({ "temp_c": 21 }));
        assert_eq!(parts[14]["messageMetadata"]["model"], "@cf/m");
        assert_eq!(parts[14]["messageMetadata"]["usage"]["prompt_tokens"], 5);
    }

    #[test]
    fn failures_are_error_parts_and_the_stream_still_ends() {
        let mut out = String::new();
        let call = ToolCall {
            id: "c".into(),
            name: "t".into(),
            arguments: json!({}),
        };
        let mut sink = UiSink::new(|f: String| {
            out.push_str(&f);
            true
        });
        sink.start("m");
        sink.event(TurnEvent::ToolCall(&call));
        sink.event(TurnEvent::ToolResult(&call, &Err("timed out".into())));
        sink.event(TurnEvent::Error {
            code: "model_error",
            message: "the model stream broke",
        });
        let parts = parts(&out);
        assert_eq!(
            types(&parts),
            [
                "start",
                "start-step",
                "tool-input-available",
                "tool-output-error",
                "error",
                "[DONE]"
            ]
        );
        assert_eq!(parts[3]["errorText"], "timed out");
        assert_eq!(
            parts[4]["errorText"],
            "the model stream broke (model_error)"
        );
    }

    #[test]
    fn an_approval_response_is_a_decision_on_that_call() {
        let answered = |state: &str, approval: Value| {
            json!({ "id": "a-7", "role": "assistant", "parts": [
                { "type": "step-start" },
                { "type": "tool-book_table", "toolCallId": "call-1", "state": state,
                  "input": { "at": "8pm" }, "approval": approval },
            ] })
        };
        let chat = parse(&body(json!([
            user("Book a table"),
            answered(
                "approval-responded",
                json!({ "id": "call-1", "approved": true })
            ),
        ])))
        .unwrap();
        assert_eq!(chat.message, "");
        assert_eq!(
            chat.decision,
            Some(UiDecision {
                call_id: "call-1".into(),
                approved: true,
                reason: None,
                message_id: Some("a-7".into()),
            })
        );
        let denied = parse(&body(json!([
            user("Book a table"),
            answered(
                "approval-responded",
                json!({ "id": "call-1", "approved": false, "reason": "not\u{7}tonight" }),
            ),
        ])))
        .unwrap()
        .decision
        .unwrap();
        assert!(!denied.approved);
        assert_eq!(denied.reason.as_deref(), Some("nottonight"));
        // Still waiting, or answered in an earlier step: not a decision, and not a message.
        let waiting = body(json!([
            user("Book a table"),
            answered("approval-requested", json!({ "id": "call-1" })),
        ]));
        assert!(parse(&waiting)
            .unwrap_err()
            .message
            .contains("answering a tool-approval-request"));
        let mut earlier = answered(
            "approval-responded",
            json!({ "id": "call-1", "approved": true }),
        );
        earlier["parts"].as_array_mut().unwrap().extend([
            json!({ "type": "step-start" }),
            json!({ "type": "text", "text": "Done." }),
        ]);
        assert!(parse(&body(json!([user("Book a table"), earlier]))).is_err());
    }

    #[test]
    fn a_turn_waiting_for_approval_ends_with_an_approval_request() {
        let mut out = String::new();
        let call = ToolCall {
            id: "call-1".into(),
            name: "book_table".into(),
            arguments: json!({ "at": "8pm" }),
        };
        let mut sink = UiSink::new(|f: String| {
            out.push_str(&f);
            true
        });
        sink.start("m");
        sink.event(TurnEvent::Delta("Let me book it."));
        sink.event(TurnEvent::ToolCall(&call));
        let end = sink.paused(["call-1"]);
        out.push_str(&end);
        let parts = parts(&out);
        assert_eq!(
            types(&parts),
            [
                "start",
                "start-step",
                "text-start",
                "text-delta",
                "text-end",
                "tool-input-available",
                "tool-approval-request",
                "finish-step",
                "finish",
                "[DONE]"
            ]
        );
        assert_eq!(parts[6]["approvalId"], "call-1");
        assert_eq!(parts[6]["toolCallId"], "call-1");
        assert_eq!(parts[8]["finishReason"], "tool-calls");
    }

    #[test]
    fn stored_history_becomes_ui_messages() {
        let call = ToolCall {
            id: "c1".into(),
            name: "get_weather".into(),
            arguments: json!({ "location": "Paris" }),
        };
        let stored = vec![
            Message::new(Role::User, "Weather in Paris?"),
            Message::tool_calls("", vec![call.clone()]),
            Message::tool_result(&call, r#"{"temp_c":21}"#),
            Message::new(Role::Assistant, "Sunny."),
            Message::new(Role::User, "Thanks"),
            Message::new(Role::Assistant, "You're welcome."),
        ];
        let ui = ui_messages("s", &stored, &[]);
        assert_eq!(ui.len(), 4);
        assert_eq!(
            ui[0],
            json!({ "id": "s-0", "role": "user", "parts": [{ "type": "text", "text": "Weather in Paris?" }] })
        );
        assert_eq!(
            ui[1],
            json!({ "id": "s-1", "role": "assistant", "parts": [
                { "type": "step-start" },
                { "type": "tool-get_weather", "toolCallId": "c1", "state": "output-available",
                  "input": { "location": "Paris" }, "output": { "temp_c": 21 }, "providerExecuted": true },
                { "type": "step-start" },
                { "type": "text", "text": "Sunny.", "state": "done" },
            ] })
        );
        assert_eq!(ui[3]["id"], "s-5");
        assert_eq!(ui[3]["parts"][1]["text"], "You're welcome.");
        assert!(ui_messages("s", &[], &[]).is_empty());
        // A call that waits for approval (a paused turn's messages) is asked for again.
        let asking = [
            Message::new(Role::User, "Weather in Paris?"),
            Message::tool_calls("", vec![call]),
        ];
        let ui = ui_messages("s", &asking, &["c1".to_owned()]);
        assert_eq!(ui[1]["parts"][1]["state"], "approval-requested");
        assert_eq!(ui[1]["parts"][1]["approval"], json!({ "id": "c1" }));
    }

    #[test]
    fn a_gone_client_stops_the_sink() {
        let mut sink = UiSink::new(|_: String| false);
        assert!(!sink.start("m"));
        assert!(!sink.event(TurnEvent::Delta("x")));
    }
}
