//! Smoke test on the real local model (Qwen2.5-Coder-0.5B via llama.cpp in localai, fetched by
//! scripts/setup-model) behind the compiled Worker on workerd. Greedy decoding; the assertions
//! are about structure, never wording.

use agentc_tests::{answer, names, Stack};

async fn real_stack() -> Stack {
    let options = localai::LlamaOptions::default_model().expect("a cache directory");
    let engine = localai::Engine::llama(options).unwrap_or_else(|err| {
        panic!("the real model does not load: {err} (run scripts/setup-model)")
    });
    Stack::start_with(engine).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_model_answers_and_calls_tools() {
    let stack = real_stack().await;

    let events = stack.chat_events("plain", "Say hello to Ada.", "r1").await;
    assert!(names(&events).contains(&"delta"), "{events:?}");
    assert!(!answer(&events).trim().is_empty());
    let done = events.last().unwrap();
    assert_eq!(done.name, "done", "{events:?}");
    assert!(done.data["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(done.data["usage"]["completion_tokens"].as_u64().unwrap() > 0);

    let events = stack
        .chat_events("weather", "What is the weather in Paris?", "r2")
        .await;
    let call = events
        .iter()
        .find(|e| e.name == "tool_call")
        .unwrap_or_else(|| panic!("no tool call: {events:?}"));
    assert_eq!(call.data["name"], "get_weather");
    assert!(
        call.data["arguments"]["location"].is_string(),
        "{}",
        call.data
    );
    assert!(events.iter().any(|e| e.name == "tool_result"));
}
