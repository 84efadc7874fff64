//! The OpenAI-compatible `POST /v1/chat/completions`, backed by the same
//! engine as the Workers AI endpoints. Responses are deterministic: ids count
//! up from `chatcmpl-localai-1` and `created` is always 0.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use futures_util::{stream, Stream, StreamExt};
use serde_json::{json, Map, Value};

use super::{json_response, parse_object, truncated_json_response};
use crate::engine::{Event, Generation};
use crate::sse;
use crate::wire::{Endpoint, RecordedRequest, ToolCall, Usage};
use crate::LocalAi;

/// Answers a chat completion. The recorded inputs are the request body
/// without its `model` field.
pub(super) async fn chat_completions(State(ai): State<LocalAi>, body: Bytes) -> Response {
    let mut inputs = match parse_object(&body) {
        Ok(inputs) => inputs,
        Err(error) => return error.openai(),
    };
    let model = match inputs.remove("model") {
        Some(Value::String(model)) => model,
        _ => String::new(),
    };
    let request = RecordedRequest {
        endpoint: Endpoint::Openai,
        model,
        inputs: Value::Object(inputs),
        options: Value::Object(Map::new()),
    };
    let stream = request.stream();
    let header = Header {
        id: format!("chatcmpl-localai-{}", ai.next_id()),
        model: request.model.clone(),
    };
    let generation = match ai.run(request) {
        Ok(generation) => generation,
        Err(error) => return super::errors::ApiError::from(error).openai(),
    };
    if stream {
        return sse::response(chunks(header, generation));
    }
    let collected = generation.collect().await;
    let finish_reason = finish_reason(&collected.tool_calls);
    let content = if collected.text.is_empty() && !collected.tool_calls.is_empty() {
        Value::Null
    } else {
        Value::String(collected.text)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !collected.tool_calls.is_empty() {
        message["tool_calls"] = tool_calls(&collected.tool_calls, false);
    }
    let body = json!({
        "id": header.id,
        "object": "chat.completion",
        "created": 0,
        "model": header.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": collected.usage.unwrap_or(Usage::new(0, 0)),
    });
    match collected.usage {
        Some(_) => json_response(StatusCode::OK, &body),
        None => truncated_json_response(&body),
    }
}

/// What every chunk of one completion repeats.
struct Header {
    id: String,
    model: String,
}

impl Header {
    fn chunk(&self, delta: Value, finish_reason: Value, usage: Option<Usage>) -> Bytes {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        if let Some(usage) = usage {
            chunk["usage"] = json!(usage);
        }
        sse::data(&chunk)
    }
}

/// Frames a generation as `chat.completion.chunk` events: the role first,
/// then the content deltas and tool calls, then a chunk with the finish
/// reason and usage, then `[DONE]`.
fn chunks(header: Header, generation: Generation) -> impl Stream<Item = Bytes> {
    let first = header.chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
        None,
    );
    let mut made_tool_calls = false;
    let rest = generation.into_stream().flat_map(move |event| {
        let frames = match event {
            Event::Text(text) => vec![header.chunk(json!({"content": text}), Value::Null, None)],
            Event::ToolCalls(calls) => {
                made_tool_calls = true;
                let delta = json!({"tool_calls": tool_calls(&calls, true)});
                vec![header.chunk(delta, Value::Null, None)]
            }
            Event::Done(usage) => {
                let reason = if made_tool_calls {
                    "tool_calls"
                } else {
                    "stop"
                };
                vec![
                    header.chunk(json!({}), json!(reason), Some(usage)),
                    sse::done(),
                ]
            }
        };
        stream::iter(frames)
    });
    stream::once(async { first }).chain(rest)
}

fn finish_reason(tool_calls: &[ToolCall]) -> &'static str {
    if tool_calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

/// Tool calls in the OpenAI shape, with the arguments as a JSON string.
/// Streamed deltas also carry each call's index.
fn tool_calls(calls: &[ToolCall], with_index: bool) -> Value {
    let calls = calls.iter().enumerate().map(|(index, call)| {
        let mut value = json!({
            "id": format!("call_{index}"),
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": call.arguments.to_string(),
            },
        });
        if with_index {
            value["index"] = json!(index);
        }
        value
    });
    Value::Array(calls.collect())
}
