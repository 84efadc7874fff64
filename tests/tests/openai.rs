//! `POST /v1/chat/completions` end to end, driven by the official `openai` Python package
//! (installed by scripts/setup), unchanged: only its base URL points at the local Worker (the
//! shared `/v1`, or one agent's `/agents/{agent}/v1`).

use agentc_tests::{messages, Stack};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The Python interpreter that has the `openai` package.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("AGENTC_OPENAI_PYTHON") {
        return PathBuf::from(path);
    }
    let path = agentc::toolchain::cache_dir().join("python-openai-3.57.0/bin/python");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup to install the openai Python package",
        path.display()
    );
    path
}

/// Runs a Python snippet with `client` bound to an OpenAI client for the stack; the snippet
/// prints one JSON value, which is returned.
async fn run_client(stack: &Stack, snippet: &str) -> Value {
    run_client_at(stack, "/v1", "unused", snippet).await
}

/// [`run_client`] with the client's base URL at `path` of the stack and its API key `key`.
async fn run_client_at(stack: &Stack, path: &str, key: &str, snippet: &str) -> Value {
    let program = format!(
        "import json, openai\nclient = openai.OpenAI(base_url={base:?}, api_key={key:?}, max_retries=0)\n{snippet}\n",
        base = format!("{}{path}", stack.base),
    );
    let output = tokio::process::Command::new(python())
        .arg("-c")
        .arg(program)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "the openai client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the snippet prints JSON")
}

fn weather_then(answer: &str) -> Value {
    json!({ "replies": [
        { "tool_calls": [{ "name": "get_weather", "arguments": { "location": "Paris" } }] },
        { "text": answer },
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_client_gets_a_completion_with_tools_run_on_the_server() {
    let stack = Stack::start(weather_then("Sunny in Paris.")).await;
    let result = run_client(
        &stack,
        r#"r = client.chat.completions.create(model="toolbox", messages=[{"role": "user", "content": "Weather in Paris?"}])
print(json.dumps({"content": r.choices[0].message.content, "object": r.object, "finish": r.choices[0].finish_reason, "total": r.usage.total_tokens, "model": r.model}))"#,
    )
    .await;
    assert_eq!(result["content"], "Sunny in Paris.");
    assert_eq!(result["object"], "chat.completion");
    assert_eq!(result["finish"], "stop");
    assert_eq!(result["model"], "toolbox");
    assert!(result["total"].as_u64().unwrap() > 0);
    assert_eq!(
        stack.fixture.received().len(),
        1,
        "the tool ran on the server"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_client_streams() {
    let stack = Stack::start(weather_then("Sunny in Paris, 21 degrees.")).await;
    let result = run_client(
        &stack,
        r#"chunks = list(client.chat.completions.create(model="toolbox", stream=True, messages=[{"role": "user", "content": "Weather in Paris?"}]))
print(json.dumps({"text": "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), "pieces": sum(1 for c in chunks if c.choices and c.choices[0].delta.content), "last": chunks[-1].choices[0].finish_reason}))"#,
    )
    .await;
    assert_eq!(result["text"], "Sunny in Paris, 21 degrees.");
    assert!(result["pieces"].as_u64().unwrap() > 1, "{result}");
    assert_eq!(result["last"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_header_keeps_history_and_none_is_stateless() {
    let stack = Stack::start(json!({ "replies": [
        { "text": "Nice to meet you, Alice." },
        { "text": "You are Alice." },
        { "text": "You said Bob." },
    ]}))
    .await;
    let result = run_client(
        &stack,
        r#"s = {"x-session-id": "oa-1"}
a = client.chat.completions.create(model="weather", extra_headers=s, messages=[{"role": "user", "content": "My name is Alice"}])
b = client.chat.completions.create(model="weather", extra_headers=s, messages=[{"role": "user", "content": "What is my name?"}])
c = client.chat.completions.create(model="weather", messages=[{"role": "user", "content": "I am Bob"}, {"role": "assistant", "content": "Hi Bob"}, {"role": "user", "content": "Who am I?"}])
print(json.dumps([a.choices[0].message.content, b.choices[0].message.content, c.choices[0].message.content]))"#,
    )
    .await;
    assert_eq!(
        result,
        json!([
            "Nice to meet you, Alice.",
            "You are Alice.",
            "You said Bob."
        ])
    );
    let requests = stack.model_requests();
    let sent = |n: usize| -> Vec<(String, String)> {
        messages(&requests[n].inputs["messages"])
            .into_iter()
            .skip(1)
            .collect()
    };
    let pair = |r: &str, c: &str| (r.to_owned(), c.to_owned());
    assert_eq!(
        sent(1),
        [
            pair("user", "My name is Alice"),
            pair("assistant", "Nice to meet you, Alice."),
            pair("user", "What is my name?")
        ]
    );
    assert_eq!(
        sent(2),
        [
            pair("user", "I am Bob"),
            pair("assistant", "Hi Bob"),
            pair("user", "Who am I?")
        ]
    );
    assert_eq!(stack.history("weather", "oa-1").await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_errors_reach_the_client_as_api_errors() {
    let stack = Stack::start(json!({ "replies": [{ "error": "capacity" }] })).await;
    let result = run_client(
        &stack,
        r#"out = []
for model in ["nope", "weather"]:
    try:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        out.append(None)
    except openai.APIStatusError as e:
        out.append([e.status_code, e.body.get("code") if isinstance(e.body, dict) else None])
print(json.dumps(out))"#,
    )
    .await;
    assert_eq!(
        result,
        json!([[404, "model_not_found"], [502, "model_error"]])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_own_base_url_takes_its_api_key() {
    let stack = Stack::start(json!({ "replies": [{ "text": "Hello, key holder." }] })).await;
    let snippet = r#"out = []
for key in ["agc_not_a_key", None]:
    c = client if key is None else client.with_options(api_key=key)
    try:
        r = c.chat.completions.create(model="guarded", messages=[{"role": "user", "content": "hi"}])
        out.append(r.choices[0].message.content)
    except openai.APIStatusError as e:
        out.append(e.status_code)
print(json.dumps(out))"#;
    let key = agentc_tests::TEST_API_KEYS[0];
    let result = run_client_at(&stack, "/agents/guarded/v1", key, snippet).await;
    assert_eq!(result, json!([401, "Hello, key holder."]));
}
