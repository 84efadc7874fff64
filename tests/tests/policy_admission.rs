//! Admission policy end to end: API keys (the same 401 for a missing, malformed or wrong key),
//! CORS (preflight and the headers of every answer, errors included) and input limits (body
//! size, message length, control characters), on real workerd.

use agentc_tests::{answer, names, EventStream, Stack, TEST_API_KEYS};
use serde_json::{json, Value};

const ORIGIN: &str = "https://app.example.com";

fn chat_body(message: &str, session: &str) -> String {
    json!({ "message": message, "session_id": session }).to_string()
}

async fn post(
    stack: &Stack,
    path: &str,
    body: String,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = stack
        .client
        .post(format!("{}{path}", stack.base))
        .header("content-type", "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the Worker answers")
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_wrong_keys_get_the_same_401() {
    let stack =
        Stack::start(json!({ "replies": [{ "text": "Hello." }, { "text": "Hi again." }] })).await;
    let alice = format!("Bearer {}", TEST_API_KEYS[0]);
    let refused: &[&[(&str, &str)]] = &[
        &[],
        &[("authorization", "Bearer agc_not_a_key")],
        &[("authorization", "Bearer")],
        &[("authorization", "Basic YWxpY2U6c2VjcmV0")],
        &[("authorization", "Bearer agc_test key_alice")],
        &[("authorization", "agc_test_key_alice")],
        &[("x-api-key", "agc_not_a_key")],
        // A digest is not a key: the secret's own contents do not let anyone in.
        &[(
            "x-api-key",
            "1c1b3f3c3c1e4b7c0e0b9f6e2e6a6f5d0d1e9f8f7a6b5c4d3e2f1a0b9c8d7e6f",
        )],
    ];
    let mut bodies = Vec::new();
    for headers in refused {
        let response = post(
            &stack,
            "/agents/guarded/chat",
            chat_body("Hi", "s1"),
            headers,
        )
        .await;
        assert_eq!(response.status(), 401, "{headers:?}");
        assert_eq!(
            header(&response, "www-authenticate"),
            Some("Bearer"),
            "{headers:?}"
        );
        assert_eq!(header(&response, "content-type"), Some("application/json"));
        bodies.push(response.bytes().await.unwrap());
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "every 401 body is identical"
    );
    let error: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(error["error"]["code"], "unauthorized");
    let text = String::from_utf8_lossy(&bodies[0]);
    assert!(!text.contains("agc_"), "no key is echoed: {text}");

    // History is guarded too.
    let history = stack
        .client
        .get(format!("{}/agents/guarded/sessions/s1", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 401);
    assert_eq!(history.bytes().await.unwrap(), bodies[0]);
    assert!(
        stack.model_requests().is_empty(),
        "no refused request reaches the model"
    );

    // Both listed keys pass, as a bearer token or as x-api-key.
    let ok = post(
        &stack,
        "/agents/guarded/chat",
        chat_body("Hi", "s1"),
        &[("authorization", &alice)],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(answer(&EventStream::new(ok).collect_all().await), "Hello.");
    let ok = post(
        &stack,
        "/agents/guarded/chat",
        chat_body("Hi", "s1"),
        &[("x-api-key", TEST_API_KEYS[1])],
    )
    .await;
    assert_eq!(ok.status(), 200);
    let events = EventStream::new(ok).collect_all().await;
    assert_eq!(names(&events).last(), Some(&"done"));
    let history = stack
        .client
        .get(format!("{}/agents/guarded/sessions/s1", stack.base))
        .header("authorization", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), 200);
    let history: Value = history.json().await.unwrap();
    // Each key has its own `s1` (see tests/security_sessions.rs): alice sees her turn only.
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);

    // The OpenAI endpoint asks for the same key.
    let completion =
        json!({ "model": "guarded", "messages": [{ "role": "user", "content": "Hi" }] });
    let refused = post(&stack, "/v1/chat/completions", completion.to_string(), &[]).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.bytes().await.unwrap(), bodies[0]);
    // Agents without auth stay public.
    assert_eq!(stack.model_requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_headers_on_every_answer() {
    let stack =
        Stack::start(json!({ "replies": [{ "text": "Hello." }], "when_exhausted": "repeat_last" }))
            .await;
    let preflight = |path: &str, origin: &str| {
        stack
            .client
            .request(reqwest::Method::OPTIONS, format!("{}{path}", stack.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };

    let allowed = preflight("/agents/guarded/chat", ORIGIN).await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    assert_eq!(
        header(&allowed, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(header(&allowed, "access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    assert_eq!(
        header(&allowed, "access-control-allow-headers"),
        Some("content-type, authorization, x-session-id")
    );
    assert_eq!(header(&allowed, "access-control-max-age"), Some("600"));
    assert_eq!(header(&allowed, "vary"), Some("Origin"));

    // Not listed, or listed with another scheme: no allow-origin, which browsers read as no.
    for origin in [
        "https://evil.example.com",
        "http://app.example.com",
        "https://app.example.com.evil.test",
    ] {
        let refused = preflight("/agents/guarded/chat", origin).await.unwrap();
        assert_eq!(refused.status(), 204, "{origin}");
        assert_eq!(
            header(&refused, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(
            header(&refused, "access-control-allow-credentials"),
            None,
            "{origin}"
        );
        assert_eq!(header(&refused, "vary"), Some("Origin"), "{origin}");
    }

    // Errors carry CORS headers too, so the page can read why it was refused.
    let unauthorized = post(
        &stack,
        "/agents/guarded/chat",
        chat_body("Hi", "c1"),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(
        header(&unauthorized, "access-control-allow-origin"),
        Some(ORIGIN)
    );
    assert_eq!(header(&unauthorized, "vary"), Some("Origin"));
    assert!(header(&unauthorized, "access-control-expose-headers")
        .unwrap()
        .contains("www-authenticate"));

    // The stream of an allowed origin.
    let alice = format!("Bearer {}", TEST_API_KEYS[0]);
    let ok = post(
        &stack,
        "/agents/guarded/chat",
        chat_body("Hi", "c1"),
        &[
            ("origin", "http://localhost:5173"),
            ("authorization", &alice),
        ],
    )
    .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(&ok, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(
        header(&ok, "access-control-allow-credentials"),
        Some("true")
    );
    assert!(header(&ok, "access-control-expose-headers")
        .unwrap()
        .contains("x-agentc-model"));
    assert_eq!(answer(&EventStream::new(ok).collect_all().await), "Hello.");

    // A wildcard agent answers `*` and never allows credentials.
    let any = post(
        &stack,
        "/agents/routed/chat",
        chat_body("What is the capital of France?", "c2"),
        &[("origin", "https://anywhere.test")],
    )
    .await;
    assert_eq!(any.status(), 200);
    assert_eq!(header(&any, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&any, "access-control-allow-credentials"), None);
    EventStream::new(any).collect_all().await;

    // The OpenAI endpoint's preflight: allowed when some agent allows the origin.
    let openai = preflight("/v1/chat/completions", ORIGIN).await.unwrap();
    assert_eq!(openai.status(), 204);
    assert_eq!(header(&openai, "access-control-allow-origin"), Some(ORIGIN));

    // An agent without CORS sends no CORS headers, and OPTIONS is not a method of its routes.
    let plain = preflight("/agents/plain/chat", ORIGIN).await.unwrap();
    assert_eq!(plain.status(), 405);
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
    let plain = post(
        &stack,
        "/agents/plain/chat",
        chat_body("Hi", "c3"),
        &[("origin", ORIGIN)],
    )
    .await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "access-control-allow-origin"), None);
    assert_eq!(header(&plain, "vary"), None);
    EventStream::new(plain).collect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_limits_refuse_early_and_clean_the_message() {
    let stack =
        Stack::start(json!({ "replies": [{ "text": "Clean." }], "when_exhausted": "repeat_last" }))
            .await;
    let alice = format!("Bearer {}", TEST_API_KEYS[0]);
    let key = [("authorization", alice.as_str())];

    // guarded: max_body_bytes 1024, max_input_chars 200.
    let big = chat_body(&"x".repeat(2000), "l1");
    let response = post(&stack, "/agents/guarded/chat", big, &key).await;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "body_too_large");
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1024 bytes"));

    // 201 characters (of two bytes each: the limit counts characters, not bytes).
    let long = chat_body(&"é".repeat(201), "l1");
    let response = post(&stack, "/agents/guarded/chat", long, &key).await;
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "message_too_long");
    let text = error["error"]["message"].as_str().unwrap();
    assert!(
        text.contains("201 characters") && text.contains("at most 200"),
        "{text}"
    );
    let fits = chat_body(&"é".repeat(200), "l0");
    let response = post(&stack, "/agents/guarded/chat", fits, &key).await;
    assert_eq!(response.status(), 200);
    EventStream::new(response).collect_all().await;

    // Malformed JSON and bad session ids name the problem.
    let response = post(
        &stack,
        "/agents/guarded/chat",
        "{\"message\": \"hi\",".into(),
        &key,
    )
    .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_json");
    assert!(
        error["error"]["message"].as_str().unwrap().contains("EOF"),
        "{error}"
    );
    let response = post(&stack, "/agents/guarded/chat", chat_body("hi", "a b"), &key).await;
    assert_eq!(response.status(), 400);

    // Control characters are removed before anything sees the message; newlines and tabs stay.
    let dirty = "Hi\u{0}\u{7} there\u{1b}[31m\r\n\tbye\u{7f}\u{85}";
    assert_eq!(stack.model_requests().len(), 1);
    let response = post(&stack, "/agents/plain/chat", chat_body(dirty, "l2"), &[]).await;
    assert_eq!(response.status(), 200);
    EventStream::new(response).collect_all().await;
    let requests = stack.model_requests();
    let sent = requests.last().unwrap().inputs["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()["content"]
        .clone();
    assert_eq!(sent, "Hi there[31m\n\tbye");
    assert_eq!(
        stack.history("plain", "l2").await[0].1,
        "Hi there[31m\n\tbye"
    );
    // Only the two admitted messages reached the model.
    assert_eq!(requests.len(), 2);
}
