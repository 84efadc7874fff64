//! Bad requests get the right status and a JSON error naming the problem, and never reach the
//! model. The cases are a table: method, path, body, expected status, code and message part.

use agentc_tests::Stack;
use serde_json::{json, Value};

const CASES: &[(&str, &str, &str, u16, &str, &str)] = &[
    (
        "POST",
        "/agents/nope/chat",
        r#"{"message":"hi","session_id":"s"}"#,
        404,
        "unknown_agent",
        "no agent named `nope`",
    ),
    (
        "POST",
        "/elsewhere",
        "",
        404,
        "not_found",
        "no route for /elsewhere",
    ),
    (
        "GET",
        "/agents/weather/chat",
        "",
        405,
        "method_not_allowed",
        "use POST",
    ),
    (
        "POST",
        "/agents/weather/chat",
        "{not json",
        400,
        "invalid_json",
        "invalid request body",
    ),
    (
        "POST",
        "/agents/weather/chat",
        r#"{"session_id":"s"}"#,
        400,
        "invalid_json",
        "missing field `message`",
    ),
    (
        "POST",
        "/agents/weather/chat",
        r#"{"message":"hi","session":"s"}"#,
        400,
        "invalid_json",
        "unknown field `session`",
    ),
    (
        "POST",
        "/agents/weather/chat",
        r#"{"message":"","session_id":"s"}"#,
        400,
        "invalid_request",
        "`message` must not be empty",
    ),
    (
        "POST",
        "/agents/weather/chat",
        r#"{"message":"hi","session_id":"a/b"}"#,
        400,
        "invalid_session_id",
        "`session_id` must be",
    ),
    (
        "GET",
        "/agents/nope/sessions/s",
        "",
        404,
        "unknown_agent",
        "no agent named `nope`",
    ),
    (
        "PUT",
        "/agents/weather/sessions/s",
        "",
        405,
        "method_not_allowed",
        "use GET, DELETE",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_json_errors() {
    let stack = Stack::start(json!({ "replies": [] })).await;
    for &(method, path, body, status, code, message) in CASES {
        let response = stack
            .client
            .request(method.parse().unwrap(), format!("{}{path}", stack.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let case = format!("{method} {path} {body}");
        assert_eq!(response.status(), status, "{case}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{case}"
        );
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{case}");
        let text = error["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{case}: {text}");
    }
    assert!(
        stack.model_requests().is_empty(),
        "no bad request reaches the model"
    );
}
