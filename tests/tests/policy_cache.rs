//! The response cache end to end, on workerd's Cache API (backed locally by agentc's in-memory
//! cache service): the same effective prompt is answered from the cache, replayed as a stream
//! and still stored in the session; other prompts, tool-using turns and failures are not cached.

use agentc_tests::{answer, names, Event, EventStream, Stack};
use serde_json::json;

const QUESTION: &str = "What is the answer to everything?";

async fn ask(stack: &Stack, message: &str, session: &str) -> (String, Vec<Event>) {
    let response = stack.chat("cached", message, session).await;
    assert_eq!(response.status(), 200, "{message}");
    let cache = response.headers()["x-agentc-cache"]
        .to_str()
        .unwrap()
        .to_owned();
    (cache, EventStream::new(response).collect_all().await)
}

fn deltas(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(|e| e.data["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_prompt_is_answered_from_the_cache_and_still_stored() {
    let stack = Stack::start(json!({
        "replies": [
            { "chunks": ["The answer ", "is 42."], "hold_after": 1 },
            { "text": "Something else." },
            { "text": "A follow-up." }
        ]
    }))
    .await;
    // The first answer streams from the model (held after one chunk, then released).
    let response = stack.chat("cached", QUESTION, "c1").await;
    assert_eq!(response.headers()["x-agentc-cache"], "miss");
    let mut stream = EventStream::new(response);
    assert_eq!(stream.next().await.unwrap().data["text"], "The answer ");
    stack.localai.localai().release().unwrap();
    let mut first = vec![];
    while let Some(event) = stream.next().await {
        first.push(event);
    }
    assert_eq!(answer(&first), "is 42.");

    // Another session asks the same first question: a hit, replayed piece by piece.
    let (cache, events) = ask(&stack, QUESTION, "c2").await;
    assert_eq!(cache, "hit");
    assert_eq!(deltas(&events), ["The answer ", "is 42."]);
    assert_eq!(names(&events).last(), Some(&"done"));
    let done = &events.last().unwrap().data;
    assert_eq!(done["model"], "@cf/meta/llama-3.3-70b-instruct-fp8-fast");
    assert_eq!(done["steps"], 0, "no model call");
    assert_eq!(stack.model_requests().len(), 1, "the model was asked once");
    // The hit is part of the conversation like any answer.
    assert_eq!(
        stack.history("cached", "c2").await,
        [
            ("user".to_owned(), QUESTION.to_owned()),
            ("assistant".to_owned(), "The answer is 42.".to_owned())
        ]
    );

    // Another message is another key.
    let (cache, events) = ask(&stack, "And what is six times seven?", "c3").await;
    assert_eq!(
        (cache.as_str(), answer(&events).as_str()),
        ("miss", "Something else.")
    );
    // So is the same message after a different history (the window is part of the prompt).
    let (cache, events) = ask(&stack, QUESTION, "c2").await;
    assert_eq!(
        (cache.as_str(), answer(&events).as_str()),
        ("miss", "A follow-up.")
    );
    assert_eq!(stack.model_requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_turns_and_failures_are_never_cached() {
    let stack = Stack::start(json!({
        "replies": [
            { "error": "capacity" },
            { "tool_calls": [{ "name": "calculator", "arguments": { "expression": "6*7" } }] },
            { "text": "It is 42." },
            { "tool_calls": [{ "name": "calculator", "arguments": { "expression": "6*7" } }] },
            { "text": "Still 42." }
        ]
    }))
    .await;
    // A failed turn: 502, nothing cached.
    let failed = stack.chat("cached", "What is 6 times 7?", "t1").await;
    assert_eq!(failed.status(), 502);
    // A turn that used a tool is not cached either: asking again calls the model (and the tool)
    // again.
    let (cache, events) = ask(&stack, "What is 6 times 7?", "t2").await;
    assert_eq!(cache, "miss");
    assert!(names(&events).contains(&"tool_call"));
    assert_eq!(answer(&events), "It is 42.");
    let (cache, events) = ask(&stack, "What is 6 times 7?", "t3").await;
    assert_eq!(cache, "miss");
    assert_eq!(answer(&events), "Still 42.");
    assert_eq!(stack.model_requests().len(), 5);
}
