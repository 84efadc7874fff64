//! The Workers AI surfaces, `POST /run` (the binding) and the REST API,
//! exercised over real HTTP.

mod common;

use common::{binding, chat, json_of, parse_events, rest, start, Events};
use localai::Server;
use reqwest::Response;
use serde_json::{json, Value};

/// The two Workers AI surfaces; the REST API wraps non-streamed results and
/// errors in Cloudflare's envelope.
#[derive(Debug, Clone, Copy)]
enum Surface {
    Binding,
    Rest,
}

const SURFACES: [Surface; 2] = [Surface::Binding, Surface::Rest];

impl Surface {
    async fn call(self, server: &Server, inputs: Value) -> Response {
        match self {
            Surface::Binding => binding(server, inputs).await,
            Surface::Rest => rest(server, inputs).await,
        }
    }

    fn result(self, result: Value) -> Value {
        match self {
            Surface::Binding => result,
            Surface::Rest => {
                json!({"result": result, "success": true, "errors": [], "messages": []})
            }
        }
    }
}

fn usage(prompt: u64, completion: u64, total: u64) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total})
}

/// Each case: a reply, the streamed events it must produce for a three-word
/// prompt (before `[DONE]`), and the non-streamed result.
fn reply_cases() -> Vec<(&'static str, Value, Vec<Value>, Value)> {
    let weather = json!([{"name": "get_weather", "arguments": {"location": "Paris"}}]);
    vec![
        (
            "chunks",
            json!({"chunks": ["Hel", "lo ", "there"]}),
            vec![
                json!({"response": "Hel"}),
                json!({"response": "lo "}),
                json!({"response": "there"}),
                json!({"response": "", "usage": usage(3, 3, 6)}),
            ],
            json!({"response": "Hello there", "usage": usage(3, 3, 6)}),
        ),
        (
            "text split into words",
            json!({"text": "whole text is split"}),
            vec![
                json!({"response": "whole"}),
                json!({"response": " text"}),
                json!({"response": " is"}),
                json!({"response": " split"}),
                json!({"response": "", "usage": usage(3, 4, 7)}),
            ],
            json!({"response": "whole text is split", "usage": usage(3, 4, 7)}),
        ),
        (
            "tool calls only",
            json!({"tool_calls": weather}),
            vec![
                json!({"response": "", "tool_calls": weather}),
                json!({"response": "", "usage": usage(3, 0, 3)}),
            ],
            json!({"response": "", "usage": usage(3, 0, 3), "tool_calls": weather}),
        ),
        (
            "text then tool calls",
            json!({"chunks": ["Checking."], "tool_calls": weather}),
            vec![
                json!({"response": "Checking."}),
                json!({"response": "", "tool_calls": weather}),
                json!({"response": "", "usage": usage(3, 1, 4)}),
            ],
            json!({"response": "Checking.", "usage": usage(3, 1, 4), "tool_calls": weather}),
        ),
        (
            "partial usage override",
            json!({"chunks": ["x"], "usage": {"prompt_tokens": 10, "completion_tokens": 2}}),
            vec![
                json!({"response": "x"}),
                json!({"response": "", "usage": usage(10, 2, 12)}),
            ],
            json!({"response": "x", "usage": usage(10, 2, 12)}),
        ),
        (
            "full usage override",
            json!({"chunks": ["x"], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 9}}),
            vec![
                json!({"response": "x"}),
                json!({"response": "", "usage": usage(1, 2, 9)}),
            ],
            json!({"response": "x", "usage": usage(1, 2, 9)}),
        ),
        (
            "empty reply",
            json!({}),
            vec![json!({"response": "", "usage": usage(3, 0, 3)})],
            json!({"response": "", "usage": usage(3, 0, 3)}),
        ),
    ]
}

#[tokio::test]
async fn replies_stream_and_complete_on_both_surfaces() {
    for surface in SURFACES {
        for (name, reply, events, result) in reply_cases() {
            let server = start(json!({"replies": [reply], "when_exhausted": "repeat_last"})).await;
            let context = format!("{surface:?} / {name}");

            let mut stream = Events::new(surface.call(&server, chat("say hi please", true)).await);
            let mut received = stream.rest().await;
            assert_eq!(received.pop().as_deref(), Some("[DONE]"), "{context}");
            assert_eq!(parse_events(&received), events, "{context}");

            let (status, body) =
                json_of(surface.call(&server, chat("say hi please", false)).await).await;
            assert_eq!(status, 200, "{context}");
            assert_eq!(body, surface.result(result), "{context}");
        }
    }
}

#[tokio::test]
async fn streamed_body_is_exactly_the_framed_events() {
    let server = start(json!({"replies": [{"chunks": ["Hi", " there"]}]})).await;
    let response = binding(&server, chat("hello", true)).await;
    assert_eq!(common::content_type(&response), "text/event-stream");
    let body = response.text().await.unwrap();
    assert_eq!(
        body,
        concat!(
            "data: {\"response\":\"Hi\"}\n\n",
            "data: {\"response\":\" there\"}\n\n",
            "data: {\"response\":\"\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n",
            "data: [DONE]\n\n",
        )
    );
}

#[tokio::test]
async fn prompt_tokens_count_the_words_of_every_prompt_shape() {
    let cases = [
        (json!({"prompt": "one two  three\nfour"}), 4),
        (
            json!({"messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "what is rust"},
            ]}),
            5,
        ),
        (
            json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "two words"},
                {"type": "image_url", "image_url": {"url": "x"}},
                {"type": "text", "text": "three more words"},
            ]}]}),
            5,
        ),
        (
            json!({"messages": [{"role": "assistant", "content": null}]}),
            0,
        ),
    ];
    for (inputs, prompt_tokens) in cases {
        let server = start(json!({"replies": [{"chunks": ["a"]}]})).await;
        let (_, body) = json_of(binding(&server, inputs.clone()).await).await;
        assert_eq!(body["usage"]["prompt_tokens"], prompt_tokens, "{inputs}");
    }
}

#[tokio::test]
async fn a_held_stream_waits_for_a_release() {
    let server = start(json!({"replies": [{"chunks": ["a", "b", "c"], "hold_after": 1}]})).await;
    // A release made before the request arrives must not count for it.
    let (status, _) =
        common::control(&server, reqwest::Method::POST, "/_localai/release", None).await;
    assert_eq!(status, 200);

    let mut stream = Events::new(binding(&server, chat("go", true)).await);
    assert_eq!(stream.next().await.as_deref(), Some(r#"{"response":"a"}"#));
    assert!(
        stream.nothing_ready(),
        "the stream went on before the release"
    );

    let (status, body) =
        common::control(&server, reqwest::Method::POST, "/_localai/release", None).await;
    assert_eq!((status, &body["ok"]), (200, &json!(true)));
    assert_eq!(
        stream.rest().await,
        [
            r#"{"response":"b"}"#,
            r#"{"response":"c"}"#,
            r#"{"response":"","usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}}"#,
            "[DONE]",
        ]
    );
}

#[tokio::test]
async fn a_release_before_the_hold_point_is_not_lost() {
    for hold_after in [0, 1, 2] {
        let server =
            start(json!({"replies": [{"chunks": ["a", "b"], "hold_after": hold_after}]})).await;
        // The response head means the request has arrived; the stream may or
        // may not have reached its hold point yet.
        let response = binding(&server, chat("go", true)).await;
        server.localai().release().unwrap();
        let events = Events::new(response).rest().await;
        assert_eq!(events.len(), 4, "hold_after {hold_after}: {events:?}");
    }
}

#[tokio::test]
async fn a_held_non_streamed_reply_answers_after_the_release() {
    let server = start(json!({"replies": [{"chunks": ["a", "b"], "hold_after": 1}]})).await;
    let request = tokio::spawn({
        let url = server.url();
        async move {
            common::client()
                .post(format!("{url}/run"))
                .header("cf-consn-model-id", common::MODEL)
                .json(&json!({"inputs": chat("go", false)}))
                .send()
                .await
                .unwrap()
        }
    });
    // Release only once the request has been recorded, so the release
    // counts for it.
    while server.localai().recorded_requests().is_empty() {
        tokio::task::yield_now().await;
    }
    server.localai().release().unwrap();
    let (status, body) = json_of(request.await.unwrap()).await;
    assert_eq!((status, &body["response"]), (200, &json!("ab")));
}

#[tokio::test]
async fn a_truncated_reply_stops_early() {
    for surface in SURFACES {
        let server = start(json!({
            "replies": [{"chunks": ["cut", "short"], "truncate": true}],
            "when_exhausted": "repeat_last",
        }))
        .await;
        let events = Events::new(surface.call(&server, chat("go", true)).await)
            .rest()
            .await;
        assert_eq!(
            events,
            [r#"{"response":"cut"}"#, r#"{"response":"short"}"#],
            "{surface:?}"
        );

        let response = surface.call(&server, chat("go", false)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(common::content_type(&response), "application/json");
        let body = response.text().await.unwrap();
        assert!(!body.is_empty(), "{surface:?}");
        assert!(
            serde_json::from_str::<Value>(&body).is_err(),
            "{surface:?}: {body}"
        );
    }
}

/// Each case: a scripted error, the status, internal code, name and
/// description it must produce.
const ERROR_CASES: [(&str, u16, u32, &str, &str); 2] = [
    (
        "capacity",
        429,
        3040,
        "CapacityError",
        "Capacity temporarily exceeded, please try again.",
    ),
    (
        "internal",
        500,
        5000,
        "InferenceUpstreamError",
        "Scripted internal error from localai.",
    ),
];

#[tokio::test]
async fn scripted_errors_have_the_binding_error_shape() {
    for (error, status, code, name, description) in ERROR_CASES {
        for stream in [false, true] {
            let server = start(json!({"replies": [{"error": error}]})).await;
            let (got_status, body) = json_of(binding(&server, chat("go", stream)).await).await;
            assert_eq!(got_status, status, "{error}");
            assert_eq!(
                body,
                json!({
                    "internalCode": code,
                    "message": format!("AiError: {description}"),
                    "name": name,
                    "description": description,
                }),
                "{error}, stream: {stream}"
            );
        }
    }
}

#[tokio::test]
async fn scripted_errors_have_the_rest_error_shape() {
    for (error, status, code, _, description) in ERROR_CASES {
        let server = start(json!({"replies": [{"error": error}]})).await;
        let (got_status, body) = json_of(rest(&server, chat("go", false)).await).await;
        assert_eq!(got_status, status, "{error}");
        assert_eq!(
            body,
            json!({
                "result": null,
                "success": false,
                "errors": [{"code": code, "message": format!("AiError: {description}")}],
                "messages": [],
            }),
            "{error}"
        );
    }
}

#[tokio::test]
async fn an_exhausted_script_fails_or_repeats() {
    let server = start(json!({"replies": [{"chunks": ["only"]}]})).await;
    let (status, _) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(status, 200);
    let (status, body) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(
        (status, &body["internalCode"], &body["name"]),
        (500, &json!(5000), &json!("InferenceUpstreamError"))
    );
    let description = body["description"].as_str().unwrap();
    assert!(
        description.contains("script exhausted: it has 1 replies and this is request 2"),
        "{description}"
    );

    let server = start(json!({
        "replies": [{"chunks": ["first"]}, {"chunks": ["last"]}],
        "when_exhausted": "repeat_last",
    }))
    .await;
    let mut responses = Vec::new();
    for _ in 0..4 {
        let (_, body) = json_of(binding(&server, chat("go", false)).await).await;
        responses.push(body["response"].as_str().unwrap().to_string());
    }
    assert_eq!(responses, ["first", "last", "last", "last"]);

    let server = start(json!({"replies": [], "when_exhausted": "repeat_last"})).await;
    let (status, _) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn malformed_binding_requests_are_rejected_without_using_a_reply() {
    let server = start(json!({"replies": [{"chunks": ["kept"]}]})).await;
    let url = format!("{}/run?version=3", server.url());
    let client = common::client();
    let cases = [
        (
            client.post(&url).json(&json!({"inputs": {}})),
            "missing the cf-consn-model-id header",
        ),
        (
            client
                .post(&url)
                .header("cf-consn-model-id", "m")
                .body("{not json"),
            "not valid JSON",
        ),
        (
            client
                .post(&url)
                .header("cf-consn-model-id", "m")
                .json(&json!([1])),
            "must be a JSON object",
        ),
        (
            client
                .post(&url)
                .header("cf-consn-model-id", "m")
                .json(&json!({"inputs": "hi"})),
            "`inputs` must be",
        ),
    ];
    for (request, expected) in cases {
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(
            (status, &body["internalCode"]),
            (400, &json!(5006)),
            "{expected}"
        );
        let description = body["description"].as_str().unwrap();
        assert!(description.contains(expected), "{description}");
    }
    assert!(server.localai().recorded_requests().is_empty());
    let (_, body) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(body["response"], "kept");
}

#[tokio::test]
async fn shutdown_ends_a_held_stream() {
    let server = start(json!({"replies": [{"chunks": ["a", "b"], "hold_after": 1}]})).await;
    let mut stream = Events::new(binding(&server, chat("go", true)).await);
    assert_eq!(stream.next().await.as_deref(), Some(r#"{"response":"a"}"#));
    server.shutdown().await.unwrap();
    assert_eq!(stream.rest().await, Vec::<String>::new());
}
