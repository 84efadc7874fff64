//! The control endpoints under `/_localai/` and the answers for unknown
//! routes.

mod common;

use common::{binding, chat, control, json_of, openai, rest, start, MODEL};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn every_model_request_is_recorded_in_order() {
    let server =
        start(json!({"replies": [{"chunks": ["a"]}], "when_exhausted": "repeat_last"})).await;
    let inputs = json!({
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        "max_tokens": 512,
        "temperature": 0.2,
        "tools": [{"name": "get_weather", "parameters": {"type": "object"}}],
    });
    let response = common::client()
        .post(format!("{}/run?version=3", server.url()))
        .header("cf-consn-model-id", MODEL)
        .json(&json!({"inputs": inputs, "options": {"returnRawResponse": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    rest(&server, json!({"prompt": "hello", "stream": true}))
        .await
        .text()
        .await
        .unwrap();
    openai(&server, json!({"model": "gpt-local", "messages": []})).await;

    let (status, recorded) = control(&server, Method::GET, "/_localai/requests", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        recorded,
        json!([
            {"endpoint": "binding", "model": MODEL, "inputs": inputs, "options": {"returnRawResponse": false}},
            {"endpoint": "rest", "model": MODEL, "inputs": {"prompt": "hello", "stream": true}, "options": {}},
            {"endpoint": "openai", "model": "gpt-local", "inputs": {"messages": []}, "options": {}},
        ])
    );

    let (status, _) = control(&server, Method::DELETE, "/_localai/requests", None).await;
    assert_eq!(status, 200);
    let (_, recorded) = control(&server, Method::GET, "/_localai/requests", None).await;
    assert_eq!(recorded, json!([]));
}

#[tokio::test]
async fn putting_a_script_restarts_it_and_clears_the_recording() {
    let server = start(json!({"replies": [{"chunks": ["old"]}]})).await;
    let (_, body) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(body["response"], "old");

    let script = json!({"replies": [{"chunks": ["new", " one"]}, {"error": "capacity"}]});
    let (status, body) = control(
        &server,
        Method::PUT,
        "/_localai/script",
        Some(script.to_string()),
    )
    .await;
    assert_eq!((status, body), (200, json!({"ok": true, "replies": 2})));
    assert!(server.localai().recorded_requests().is_empty());

    let (_, body) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(body["response"], "new one");
    let (status, _) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_malformed_script_is_rejected_and_the_old_one_kept() {
    let server = start(json!({"replies": [{"chunks": ["kept"]}]})).await;
    let cases = [
        ("{\"replies\": [", "EOF while parsing"),
        (
            "{\"replies\": [{\"chunks\": [\"a\"], \"text\": \"b\"}]}",
            "both `chunks` and `text`",
        ),
        (
            "{\"replies\": [{\"error\": \"boom\"}]}",
            "unknown variant `boom`",
        ),
        ("{\"replys\": []}", "unknown field `replys`"),
    ];
    for (script, expected) in cases {
        let (status, body) = control(
            &server,
            Method::PUT,
            "/_localai/script",
            Some(script.into()),
        )
        .await;
        assert_eq!(status, 400, "{script}");
        let error = body["error"].as_str().unwrap();
        assert!(error.starts_with("malformed script: "), "{error}");
        assert!(
            error.contains(expected) && error.contains("line 1 column"),
            "{error}"
        );
    }
    let (_, body) = json_of(binding(&server, chat("go", false)).await).await;
    assert_eq!(body["response"], "kept");
}

#[tokio::test]
async fn health_reports_the_mode() {
    let server = start(json!({})).await;
    let (status, body) = control(&server, Method::GET, "/_localai/health", None).await;
    assert_eq!(
        (status, body),
        (200, json!({"ok": true, "mode": "scripted"}))
    );
}

#[tokio::test]
async fn unknown_routes_get_json_errors() {
    let server = start(json!({})).await;
    let cases = [
        (Method::GET, "/nope", 404),
        (Method::POST, "/client/v4/accounts/a/ai/models", 404),
        (Method::GET, "/run", 405),
        (Method::POST, "/_localai/health", 405),
    ];
    for (method, path, status) in cases {
        let (got, body) = control(&server, method.clone(), path, None).await;
        assert_eq!(got, status, "{method} {path}");
        assert_eq!(body["path"], path, "{method} {path}");
    }
}

#[tokio::test]
async fn requests_for_another_host_are_refused() {
    // A page of another site that rebinds its name to 127.0.0.1 sends its own name as `Host`.
    let server =
        start(json!({"replies": [{"chunks": ["secret"]}], "when_exhausted": "repeat_last"})).await;
    let port = server.address().port();
    for path in ["/_localai/requests", "/_localai/health"] {
        let response = common::client()
            .get(format!("{}{path}", server.url()))
            .header("host", format!("rebind.example:{port}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("rebind.example"),
            "{body}"
        );
    }
    let refused = common::client()
        .post(format!("{}/run?version=3", server.url()))
        .header("host", "rebind.example")
        .header("cf-consn-model-id", MODEL)
        .json(&json!({"inputs": chat("hi", false)}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let (_, recorded) = control(&server, Method::GET, "/_localai/requests", None).await;
    assert_eq!(recorded, json!([]), "a refused request reaches no model");
    // Loopback names and the binding's own host are served.
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "workers-binding.ai".into(),
    ] {
        let response = common::client()
            .get(format!("{}/_localai/health", server.url()))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn the_recording_keeps_only_the_latest_requests() {
    let server =
        start(json!({"replies": [{"chunks": ["a"]}], "when_exhausted": "repeat_last"})).await;
    server.localai().set_record_limit(3);
    for n in 0..5 {
        json_of(binding(&server, chat(&format!("message {n}"), false)).await).await;
    }
    let recorded = server.localai().recorded_requests();
    let messages: Vec<&str> = recorded
        .iter()
        .map(|r| r.inputs["messages"][0]["content"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["message 2", "message 3", "message 4"]);
    let fresh = start(json!({"replies": []})).await;
    assert_eq!(
        fresh.localai().record_limit(),
        localai::SCRIPTED_RECORD_LIMIT
    );
}
