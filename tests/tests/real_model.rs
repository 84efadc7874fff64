//! The tutorial's own checks, on the default real model (Qwen2.5-Coder-1.5B-Instruct via
//! llama.cpp in localai, fetched by `scripts/setup-model`) behind the compiled Worker on workerd.
//! Decoding is greedy, so the answers are the same on every run; the assertions are about
//! structure and key words, never wording or speed. One test, one model load: the conversations
//! run one after the other on the same stack.

use agentc_tests::{answer, names, Event, Stack};
use serde_json::Value;

async fn real_stack() -> Stack {
    let options = localai::LlamaOptions::default_model().expect("a cache directory");
    let engine = tokio::task::spawn_blocking(move || localai::Engine::llama(options))
        .await
        .expect("join")
        .unwrap_or_else(|err| {
            panic!("the default model does not load: {err} (run scripts/setup-model)")
        });
    Stack::start_with(engine).await
}

/// The numbers in `text`, in order.
fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter(|word| !word.is_empty())
        .filter_map(|word| word.parse().ok())
        .collect()
}

fn calls(events: &[Event]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e.name == "tool_call")
        .map(|e| &e.data)
        .collect()
}

/// Asserts the turn completed: its last event is `done`.
fn completed(what: &str, events: &[Event]) {
    assert_eq!(
        events.last().map(|e| e.name.as_str()),
        Some("done"),
        "{what}: {:?}",
        names(events)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorials_checks_pass_on_the_default_model() {
    let stack = real_stack().await;

    // Small talk needs no tool: the weather agent counts, streaming as it goes.
    let events = stack.chat_events("weather", "Count to 10", "count").await;
    completed("count to 10", &events);
    assert!(calls(&events).is_empty(), "count to 10: {events:?}");
    let text = answer(&events);
    let counted = numbers(&text);
    assert!(
        counted
            .windows(10)
            .any(|w| w == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
        "count to 10: {text:?}"
    );
    let deltas = events.iter().filter(|e| e.name == "delta").count();
    assert!(deltas > 1, "count to 10 arrives in pieces: {events:?}");

    // Memory, without tools.
    let events = stack
        .chat_events("weather", "My name is Alice", "alice")
        .await;
    completed("my name is Alice", &events);
    assert!(calls(&events).is_empty(), "my name is Alice: {events:?}");
    let events = stack
        .chat_events("weather", "What is my name?", "alice")
        .await;
    completed("what is my name", &events);
    assert!(calls(&events).is_empty(), "what is my name: {events:?}");
    let text = answer(&events);
    assert!(text.contains("Alice"), "what is my name: {text:?}");

    // A real tool call, answered from the fixture (agents/fixtures/wttr.in.json: 18 °C).
    let events = stack
        .chat_events("weather", "What is the weather in Paris?", "paris")
        .await;
    completed("weather in Paris", &events);
    let called = calls(&events);
    assert_eq!(called.len(), 1, "weather in Paris: {events:?}");
    assert_eq!(called[0]["name"], "get_weather");
    let location = called[0]["arguments"]["location"]
        .as_str()
        .unwrap_or_default();
    assert!(location.contains("Paris"), "{}", called[0]);
    let result = events.iter().find(|e| e.name == "tool_result").unwrap();
    assert_eq!(result.data["ok"], true, "{}", result.data);
    let text = answer(&events);
    assert!(numbers(&text).contains(&18), "weather in Paris: {text:?}");

    // The calculator builtin.
    let events = stack
        .chat_events("toolbox", "What is 17 times 23?", "maths")
        .await;
    completed("17 times 23", &events);
    let called = calls(&events);
    assert!(
        called.iter().any(|c| c["name"] == "calculator"),
        "17 times 23: {events:?}"
    );
    let text = answer(&events);
    assert!(numbers(&text).contains(&391), "17 times 23: {text:?}");
}
