//! Rate limits end to end, on one Durable Object per caller: with a limit of 60 an hour per
//! API key, exactly 60 of 200 concurrent requests on one key pass, the others get 429 with
//! `Retry-After`, other keys are counted apart, and every admitted turn is stored; the counts
//! survive workerd restarting. A token budget counts the model's real usage.

use agentc_tests::{answer, EventStream, Stack, TEST_API_KEYS};
use futures_util::future::join_all;
use serde_json::{json, Value};

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn chat(stack: &Stack, agent: &str, key: Option<&str>, session: &str) -> reqwest::Response {
    let mut request = stack
        .client
        .post(format!("{}/agents/{agent}/chat", stack.base))
        .json(&json!({ "message": "Count me", "session_id": session }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.expect("the Worker answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_60_of_200_concurrent_requests_on_one_key_pass() {
    let stack = Stack::start(json!({
        "replies": [{ "text": "Counted." }], "when_exhausted": "repeat_last"
    }))
    .await;
    let alice = TEST_API_KEYS[0];
    let requests = (0..200).map(|i| {
        let stack = &stack;
        async move {
            let response = chat(stack, "limited", Some(alice), &format!("burst-{i}")).await;
            let status = response.status().as_u16();
            let limit = header(&response, "x-ratelimit-limit");
            let remaining = header(&response, "x-ratelimit-remaining");
            let retry_after = header(&response, "retry-after");
            let body = if status == 200 {
                let events = EventStream::new(response).collect_all().await;
                assert_eq!(answer(&events), "Counted.");
                Value::Null
            } else {
                response.json::<Value>().await.unwrap()
            };
            (i, status, limit, remaining, retry_after, body)
        }
    });
    let results = join_all(requests).await;

    let passed: Vec<_> = results.iter().filter(|r| r.1 == 200).collect();
    let limited: Vec<_> = results.iter().filter(|r| r.1 == 429).collect();
    assert_eq!(passed.len(), 60, "exactly the limit passes");
    assert_eq!(limited.len(), 140, "every other request is refused");
    // Each passed request saw a different count: remaining 59, 58, ... 0, once each.
    let mut remaining: Vec<u32> = passed
        .iter()
        .map(|r| r.3.as_deref().unwrap().parse().unwrap())
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (0..60).collect::<Vec<u32>>());
    for (_, _, limit, remaining, retry_after, body) in &limited {
        assert_eq!(limit.as_deref(), Some("60"));
        assert_eq!(remaining.as_deref(), Some("0"));
        let retry: u64 = retry_after
            .as_deref()
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=3600).contains(&retry), "{retry}");
        assert_eq!(body["error"]["code"], "rate_limited");
    }
    // Only admitted requests reached the model, and every admitted turn was stored (a turn's
    // log line is written after its messages are, and names no error).
    assert_eq!(stack.model_requests().len(), 60);
    let turns = stack.turn_logs(60).await;
    assert_eq!(turns.len(), 60);
    assert!(turns.iter().all(|t| t["error"].is_null()), "{turns:?}");
    // Reading a session counts too: alice is over her limit for that as well.
    let (i, ..) = &passed[0];
    let read = stack
        .client
        .get(format!("{}/agents/limited/sessions/burst-{i}", stack.base))
        .bearer_auth(alice)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 429);

    // Another key has its own count; the first stays refused.
    let bob = chat(&stack, "limited", Some(TEST_API_KEYS[1]), "bob").await;
    assert_eq!(bob.status(), 200);
    assert_eq!(header(&bob, "x-ratelimit-remaining").as_deref(), Some("59"));
    EventStream::new(bob).collect_all().await;
    let again = chat(&stack, "limited", Some(alice), "again").await;
    assert_eq!(again.status(), 429);
    // A request without a valid key is refused by auth before it is counted.
    let anonymous = chat(&stack, "limited", None, "anonymous").await;
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_counts_real_usage() {
    let stack = Stack::start(json!({
        "replies": [{ "text": "Some answer.", "usage": { "prompt_tokens": 60, "completion_tokens": 10 } }],
        "when_exhausted": "repeat_last"
    }))
    .await;
    // budget: 100 tokens per session and hour. 70, then 140: the third turn is refused.
    for turn in 0..2 {
        let response = chat(&stack, "budget", None, "b1").await;
        assert_eq!(response.status(), 200, "turn {turn}");
        let events = EventStream::new(response).collect_all().await;
        assert_eq!(events.last().unwrap().data["usage"]["prompt_tokens"], 60);
    }
    let refused = chat(&stack, "budget", None, "b1").await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = header(&refused, "retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    let error: Value = refused.json().await.unwrap();
    assert_eq!(error["error"]["code"], "token_budget_exceeded");
    // Another session has its own budget.
    let other = chat(&stack, "budget", None, "b2").await;
    assert_eq!(other.status(), 200);
    EventStream::new(other).collect_all().await;
    assert_eq!(stack.model_requests().len(), 3);
}

/// The limiter answers from its counts in memory and writes them just after (a write first
/// would hold each verdict until durable): those writes are made, so the counts survive workerd
/// restarting, and a caller who used 59 of 60 has one request left, not 60.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_survive_a_restart() {
    let mut stack = Stack::start(json!({
        "replies": [{ "text": "Counted." }], "when_exhausted": "repeat_last"
    }))
    .await;
    let bob = TEST_API_KEYS[1];
    let used = (0..59).map(|i| {
        let stack = &stack;
        async move {
            chat(stack, "limited", Some(bob), &format!("before-{i}"))
                .await
                .status()
                .as_u16()
        }
    });
    assert!(join_all(used).await.iter().all(|status| *status == 200));

    stack.restart().await;
    let last = chat(&stack, "limited", Some(bob), "after-0").await;
    assert_eq!(last.status().as_u16(), 200, "the 60th request passes");
    assert_eq!(header(&last, "x-ratelimit-remaining").as_deref(), Some("0"));
    let over = chat(&stack, "limited", Some(bob), "after-1").await;
    assert_eq!(
        over.status().as_u16(),
        429,
        "the 61st is refused after the restart too"
    );
}
