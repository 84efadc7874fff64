//! The OpenAI-compatible `POST /v1/chat/completions`.

mod common;

use common::{json_of, openai, parse_events, start, Events, MODEL};
use serde_json::{json, Value};

fn request(stream: bool) -> Value {
    json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "weather in Paris"}],
        "stream": stream,
    })
}

#[tokio::test]
async fn a_completion_carries_text_and_usage() {
    let server = start(json!({"replies": [{"chunks": ["Sunny", " today"]}]})).await;
    let (status, body) = json_of(openai(&server, request(false)).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "id": "chatcmpl-localai-1",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Sunny today"},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        })
    );
}

#[tokio::test]
async fn a_completion_with_tool_calls_has_string_arguments() {
    let server = start(json!({"replies": [
        {"tool_calls": [{"name": "get_weather", "arguments": {"location": "Paris"}}]}
    ]}))
    .await;
    let (status, body) = json_of(openai(&server, request(false)).await).await;
    assert_eq!(status, 200);
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"],
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"},
            }],
        })
    );
}

#[tokio::test]
async fn a_streamed_completion_sends_chunks_then_done() {
    let server = start(json!({"replies": [{
        "chunks": ["Let me check."],
        "tool_calls": [{"name": "get_weather", "arguments": {"location": "Paris"}}],
    }]}))
    .await;
    let mut events = Events::new(openai(&server, request(true)).await)
        .rest()
        .await;
    assert_eq!(events.pop().as_deref(), Some("[DONE]"));
    let chunks = parse_events(&events);
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], "chatcmpl-localai-1");
        assert_eq!(chunk["model"], MODEL);
    }
    let deltas: Vec<(&Value, &Value)> = chunks
        .iter()
        .map(|chunk| {
            (
                &chunk["choices"][0]["delta"],
                &chunk["choices"][0]["finish_reason"],
            )
        })
        .collect();
    assert_eq!(
        deltas,
        [
            (&json!({"role": "assistant", "content": ""}), &Value::Null),
            (&json!({"content": "Let me check."}), &Value::Null),
            (
                &json!({"tool_calls": [{
                    "index": 0,
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris\"}"},
                }]}),
                &Value::Null
            ),
            (&json!({}), &json!("tool_calls")),
        ]
    );
    assert_eq!(
        chunks.last().unwrap()["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4})
    );
}

#[tokio::test]
async fn errors_have_the_openai_error_shape() {
    let server = start(json!({"replies": [{"error": "capacity"}]})).await;
    let (status, body) = json_of(openai(&server, request(true)).await).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"error": {
            "message": "Capacity temporarily exceeded, please try again.",
            "type": "CapacityError",
            "param": null,
            "code": "3040",
        }})
    );
}

#[tokio::test]
async fn the_recorded_inputs_are_the_body_without_the_model() {
    let server = start(json!({"replies": [{"chunks": ["ok"]}]})).await;
    json_of(openai(&server, request(false)).await).await;
    let recorded = server.localai().recorded_requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].model, MODEL);
    assert_eq!(
        recorded[0].inputs,
        json!({"messages": [{"role": "user", "content": "weather in Paris"}], "stream": false})
    );
}
