//! `POST /agents/{agent}/chat` end to end: the compiled weather agent on real workerd, its AI
//! binding answered by localai's scripted model, its history in Durable Object storage on disk.

use agentc_tests::{answer, messages, names, EventStream, Stack};
use serde_json::{json, Value};

const SYSTEM: &str = "You are a helpful AI agent. Be concise and accurate.\nFor weather questions, call get_weather, then answer in one sentence from its result.\n";
const MODEL: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(r, c)| (r.to_string(), c.to_string()))
        .collect()
}

/// The messages of the `n`th model request localai received.
fn sent_messages(stack: &Stack, n: usize) -> Vec<(String, String)> {
    let requests = stack.model_requests();
    messages(&requests[n].inputs["messages"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_stream_as_the_model_produces_them() {
    let stack = Stack::start(json!({
        "replies": [{ "chunks": ["One, ", "two, ", "three."], "hold_after": 1 }]
    }))
    .await;
    let response = stack.chat("weather", "Count to 3", "s1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let mut events = EventStream::new(response);

    // The model has sent only its first chunk and now waits for a release: the client must
    // already hold the first delta, or the Worker is buffering the answer.
    let first = events.next().await.expect("a first event");
    assert_eq!(first.name, "delta");
    assert_eq!(first.data, json!({ "text": "One, " }));
    stack
        .localai
        .localai()
        .release()
        .expect("release the held stream");

    let rest = events.collect_all().await;
    assert_eq!(names(&rest), ["delta", "delta", "done"]);
    assert_eq!(answer(&rest), "two, three.");
    let done = &rest[2].data;
    assert_eq!(done["model"], MODEL);
    assert_eq!(done["steps"], 1);
    assert!(
        done["usage"]["prompt_tokens"].as_u64().unwrap() > 0,
        "{done}"
    );
    assert_eq!(done["usage"]["completion_tokens"], 3);

    // What the Worker asked the model for: the agent's model, streamed, with its settings.
    let request = &stack.model_requests()[0];
    assert_eq!(request.model, MODEL);
    assert_eq!(request.inputs["stream"], true);
    assert_eq!(request.inputs["max_tokens"], 512);
    assert_eq!(
        messages(&request.inputs["messages"]),
        pairs(&[("system", SYSTEM), ("user", "Count to 3")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_turn_sends_the_stored_exchange() {
    let stack = Stack::start(json!({
        "replies": [{ "text": "Nice to meet you, Alice." }, { "text": "Your name is Alice." }]
    }))
    .await;
    let first = stack
        .chat_events("weather", "My name is Alice", "alice")
        .await;
    assert_eq!(answer(&first), "Nice to meet you, Alice.");
    let second = stack
        .chat_events("weather", "What is my name?", "alice")
        .await;
    assert_eq!(answer(&second), "Your name is Alice.");

    assert_eq!(
        sent_messages(&stack, 1),
        pairs(&[
            ("system", SYSTEM),
            ("user", "My name is Alice"),
            ("assistant", "Nice to meet you, Alice."),
            ("user", "What is my name?"),
        ])
    );
    assert_eq!(
        stack.history("weather", "alice").await,
        pairs(&[
            ("user", "My name is Alice"),
            ("assistant", "Nice to meet you, Alice."),
            ("user", "What is my name?"),
            ("assistant", "Your name is Alice."),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_restart_and_stays_in_its_session() {
    let mut stack = Stack::start(json!({
        "replies": [{ "text": "Noted: blue." }, { "text": "Blue." }, { "text": "I don't know." }],
    }))
    .await;
    stack
        .chat_events("weather", "My favourite colour is blue", "a")
        .await;
    stack.restart().await;

    let stored = pairs(&[
        ("user", "My favourite colour is blue"),
        ("assistant", "Noted: blue."),
    ]);
    assert_eq!(stack.history("weather", "a").await, stored);

    stack
        .chat_events("weather", "What is my favourite colour?", "a")
        .await;
    let mut expected = pairs(&[("system", SYSTEM)]);
    expected.extend(stored.clone());
    expected.extend(pairs(&[("user", "What is my favourite colour?")]));
    assert_eq!(sent_messages(&stack, 1), expected);

    // Another session of the same agent starts empty.
    stack
        .chat_events("weather", "What is my favourite colour?", "b")
        .await;
    assert_eq!(
        sent_messages(&stack, 2),
        pairs(&[("system", SYSTEM), ("user", "What is my favourite colour?")])
    );
    assert_eq!(
        stack.history("weather", "b").await,
        pairs(&[
            ("user", "What is my favourite colour?"),
            ("assistant", "I don't know.")
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_turn_stores_nothing() {
    let stack = Stack::start(json!({
        "replies": [
            { "error": "capacity" },
            { "chunks": ["It is ", "sunn"], "truncate": true },
            { "text": "Sunny." },
        ]
    }))
    .await;

    // The model refuses before streaming: a JSON error, no stream.
    let response = stack.chat("weather", "Weather in Paris?", "s").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Capacity"),
        "{body}"
    );

    // The model's stream breaks off: the client sees what came and an error event.
    let events = stack.chat_events("weather", "Weather in Paris?", "s").await;
    assert_eq!(names(&events), ["delta", "delta", "error"]);
    assert_eq!(events[2].data["code"], "model_error");

    assert_eq!(stack.history("weather", "s").await, vec![]);

    // The session is still usable, and the next turn sees no trace of the failed ones.
    let events = stack.chat_events("weather", "Weather in Paris?", "s").await;
    assert_eq!(names(&events), ["delta", "done"]);
    assert_eq!(
        sent_messages(&stack, 2),
        pairs(&[("system", SYSTEM), ("user", "Weather in Paris?")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgetting_a_session_deletes_its_history() {
    let stack = Stack::start(json!({ "replies": [{ "text": "Hi." }] })).await;
    stack.chat_events("weather", "Hello", "gone").await;
    assert_eq!(stack.history("weather", "gone").await.len(), 2);
    let response = stack
        .client
        .delete(format!("{}/agents/weather/sessions/gone", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    // A forgotten session no longer exists.
    let gone = stack
        .client
        .get(format!("{}/agents/weather/sessions/gone", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}
