//! Helpers shared by the integration tests: an in-process server started
//! from a JSON script, request builders for each endpoint, and an SSE reader.

#![allow(dead_code)]

use std::pin::Pin;

use futures_util::{FutureExt, Stream, StreamExt};
use localai::{Engine, Script, Server};
use reqwest::header::CONTENT_TYPE;
use reqwest::Response;
use serde_json::{json, Value};

pub const MODEL: &str = "@cf/meta/llama-3.1-8b-instruct";

/// Starts localai on a free port with the script given as JSON.
pub async fn start(script: Value) -> Server {
    let script: Script = serde_json::from_value(script).expect("test scripts are valid");
    localai::spawn(Engine::scripted(script))
        .await
        .expect("localai starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Inputs with one user message of `text` and the given `stream` flag.
pub fn chat(text: &str, stream: bool) -> Value {
    json!({
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    })
}

/// Calls the binding's endpoint as workerd's AI client does.
pub async fn binding(server: &Server, inputs: Value) -> Response {
    client()
        .post(format!("{}/run?version=3", server.url()))
        .header("content-type", "application/json")
        .header("cf-consn-model-id", MODEL)
        .json(&json!({"inputs": inputs, "options": {}}))
        .send()
        .await
        .expect("request is sent")
}

/// Calls the REST API for `MODEL`.
pub async fn rest(server: &Server, inputs: Value) -> Response {
    client()
        .post(format!(
            "{}/client/v4/accounts/test-account/ai/run/{MODEL}",
            server.url()
        ))
        .json(&inputs)
        .send()
        .await
        .expect("request is sent")
}

/// Calls the OpenAI-compatible chat completions endpoint.
pub async fn openai(server: &Server, body: Value) -> Response {
    client()
        .post(format!("{}/v1/chat/completions", server.url()))
        .json(&body)
        .send()
        .await
        .expect("request is sent")
}

/// Sends a control request and returns its status and JSON body.
pub async fn control(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> (u16, Value) {
    let mut request = client().request(method, format!("{}{path}", server.url()));
    if let Some(body) = body {
        request = request.body(body);
    }
    let response = request.send().await.expect("request is sent");
    json_of(response).await
}

/// The status and JSON body of a response whose content type must be
/// exactly `application/json`.
pub async fn json_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(content_type(&response), "application/json");
    let body = response.text().await.expect("body is read");
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, value)
}

pub fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .expect("response has a content type")
        .to_str()
        .expect("content type is text")
        .to_string()
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>;

/// Reads server-sent events one at a time from a streamed response.
pub struct Events {
    stream: ByteStream,
    buffer: Vec<u8>,
}

impl Events {
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(content_type(&response), "text/event-stream");
        Events {
            stream: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
        }
    }

    /// The payload of the next `data: ...\n\n` event, or `None` at the end of
    /// the body. Anything else in the body fails the test.
    pub async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(event) = self.take_event() {
                return Some(event);
            }
            match self.stream.next().await {
                Some(chunk) => self.buffer.extend_from_slice(&chunk.expect("body is read")),
                None => {
                    assert!(
                        self.buffer.is_empty(),
                        "the body ends inside an event: {:?}",
                        String::from_utf8_lossy(&self.buffer)
                    );
                    return None;
                }
            }
        }
    }

    /// The payloads of all remaining events.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }

    /// True if no further event or end of body is available right now: the
    /// server has sent nothing more yet.
    pub fn nothing_ready(&mut self) -> bool {
        if !self.buffer.is_empty() {
            return false;
        }
        self.stream.next().now_or_never().is_none()
    }

    fn take_event(&mut self) -> Option<String> {
        let end = self.buffer.windows(2).position(|w| w == b"\n\n")?;
        let event: Vec<u8> = self.buffer.drain(..end + 2).collect();
        let event = String::from_utf8(event).expect("events are UTF-8");
        let payload = event
            .strip_prefix("data: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .unwrap_or_else(|| panic!("not a `data: ...\\n\\n` event: {event:?}"));
        assert!(!payload.contains('\n'), "one line per event: {event:?}");
        Some(payload.to_string())
    }
}

/// Parses every event except a final `[DONE]` as JSON.
pub fn parse_events(events: &[String]) -> Vec<Value> {
    events
        .iter()
        .map(|event| serde_json::from_str(event).unwrap_or_else(|e| panic!("{e}: {event}")))
        .collect()
}
