//! Observability end to end: every turn writes one JSON log line (agent, hashed session, route
//! rule, model used and models that failed, cache, steps, each tool call with status and
//! latency, tokens in and out, time to first token and total, error code), and no line holds a
//! message, an API key, a digest or a raw session id.

use agentc_tests::{EventStream, Stack, TEST_API_KEYS};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_structured_line_per_turn_without_secrets() {
    let stack = Stack::start(json!({ "replies": [
        // routed: the primary model is at capacity, the first fallback uses a tool, then answers.
        { "error": "capacity" },
        { "tool_calls": [{ "name": "calculator", "arguments": { "expression": "2+2" } }],
          "usage": { "prompt_tokens": 20, "completion_tokens": 5 } },
        { "text": "It is 4.", "usage": { "prompt_tokens": 30, "completion_tokens": 2 } },
        // guarded: a plain answer.
        { "text": "Hello." },
        // routed: every model fails.
        { "error": "internal" }, { "error": "internal" }, { "error": "internal" },
        // cached: a miss, then a hit without a model call.
        { "text": "Cached answer." }
    ]}))
    .await;
    let secret_session = "user-4711-private";
    let events = stack
        .chat_events(
            "routed",
            "What is two plus two, please compute it?",
            secret_session,
        )
        .await;
    assert_eq!(events.last().unwrap().name, "done");

    let alice = TEST_API_KEYS[0];
    let response = stack
        .client
        .post(format!("{}/agents/guarded/chat", stack.base))
        .bearer_auth(alice)
        .json(&json!({ "message": "My password is hunter2", "session_id": "g1" }))
        .send()
        .await
        .unwrap();
    EventStream::new(response).collect_all().await;

    let failed = stack
        .chat("routed", "What is two plus two, please compute it?", "fail")
        .await;
    assert_eq!(failed.status(), 502);

    stack
        .chat_events("cached", "A frequent question", "k1")
        .await;
    stack
        .chat_events("cached", "A frequent question", "k2")
        .await;

    let logs = stack.turn_logs(5).await;
    assert_eq!(logs.len(), 5, "one line per turn: {logs:#?}");

    let tool_turn = &logs[0];
    assert_eq!(tool_turn["agent"], "routed");
    assert_eq!(tool_turn["route"], "2");
    assert_eq!(
        tool_turn["model"],
        "@cf/mistralai/mistral-small-3.1-24b-instruct"
    );
    assert_eq!(
        tool_turn["failed_models"],
        json!(["@cf/meta/llama-3.3-70b-instruct-fp8-fast"])
    );
    assert_eq!(tool_turn["cache"], "off");
    assert_eq!(tool_turn["steps"], 2);
    assert_eq!(tool_turn["tools"][0]["name"], "calculator");
    assert_eq!(tool_turn["tools"][0]["ok"], true);
    assert!(tool_turn["tools"][0]["ms"].is_u64());
    assert_eq!(
        (
            tool_turn["tokens_in"].clone(),
            tool_turn["tokens_out"].clone()
        ),
        (json!(50), json!(7))
    );
    assert!(tool_turn["ttft_ms"].is_u64());
    assert!(tool_turn["total_ms"].as_u64() >= tool_turn["ttft_ms"].as_u64());
    assert_eq!(tool_turn["error"], Value::Null);
    let session = tool_turn["session"].as_str().unwrap();
    assert_eq!(session.len(), 16, "a hash, not the id");

    assert_eq!(logs[1]["agent"], "guarded");
    assert_eq!(logs[1]["steps"], 1);

    let failure = &logs[2];
    assert_eq!(failure["error"], "model_error");
    assert_eq!(failure["model"], Value::Null);
    assert_eq!(failure["failed_models"].as_array().unwrap().len(), 3);

    assert_eq!(
        (logs[3]["cache"].clone(), logs[4]["cache"].clone()),
        (json!("miss"), json!("hit"))
    );
    assert_eq!(logs[4]["steps"], 0);

    // Nothing the user typed or a key in the whole log.
    let whole = stack.worker_log().join("\n");
    let digest = agentc::keys::digest_hex(alice);
    for secret in [
        alice,
        &digest[..16],
        secret_session,
        "hunter2",
        "two plus two",
    ] {
        assert!(!whole.contains(secret), "the log holds {secret:?}");
    }
}
