//! A bounded loopback load test of the rate limiter: rounds of concurrent bursts on the
//! `limited` test agent (60 messages per hour per API key), each burst of `BURST` requests on
//! one key, two keys at once. Prints per round how many passed and were refused (exactly 60 per
//! key must pass), latencies of admitted turns and of refusals, throughput, and whether every
//! admitted turn is in its session's history. Exits non-zero if the limiter let more or fewer
//! through than the limit or a turn was lost; timings are printed, never asserted.
//!
//! Run: `bench/ratelimit.sh [BURST] [ROUNDS]` (defaults 200 and 3).

use agentc_tests::{Stack, TEST_API_KEYS};
use futures_util::{future::join_all, StreamExt};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LIMIT: usize = 60;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

struct Outcome {
    key: usize,
    session: String,
    status: u16,
    elapsed: Duration,
}

async fn request(stack: &Stack, key: usize, session: String) -> Outcome {
    let started = Instant::now();
    let response = stack
        .client
        .post(format!("{}/agents/limited/chat", stack.base))
        .bearer_auth(TEST_API_KEYS[key])
        .json(&json!({ "message": "Count me", "session_id": session }))
        .send()
        .await
        .expect("the Worker answers");
    let status = response.status().as_u16();
    // Read the whole answer (the stream of an admitted turn, the JSON of a refusal).
    let mut body = response.bytes_stream();
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        text.extend_from_slice(&chunk.expect("the body streams"));
    }
    if status == 200 {
        assert!(String::from_utf8_lossy(&text).contains("event: done"));
    }
    Outcome {
        key,
        session,
        status,
        elapsed: started.elapsed(),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let burst: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    println!(
        "rate limit: {LIMIT}/h per key; {rounds} round(s) of {burst} concurrent requests on each of {} keys (fresh workerd and storage per round)",
        TEST_API_KEYS.len()
    );
    println!(
        "{:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9}",
        "round",
        "sent",
        "passed",
        "429",
        "ok p50",
        "ok p99",
        "429 p50",
        "429 p99",
        "req/s",
        "history"
    );
    let mut failures = 0;
    for round in 1..=rounds {
        let stack = Stack::start(json!({
            "replies": [{ "text": "Counted." }], "when_exhausted": "repeat_last"
        }))
        .await;
        let started = Instant::now();
        let requests = (0..burst)
            .flat_map(|i| (0..TEST_API_KEYS.len()).map(move |key| (i, key)))
            .map(|(i, key)| request(&stack, key, format!("k{key}-s{i}")));
        let outcomes = join_all(requests).await;
        let wall = started.elapsed();

        let mut ok: Vec<Duration> = Vec::new();
        let mut refused: Vec<Duration> = Vec::new();
        let mut passed_per_key = vec![0usize; TEST_API_KEYS.len()];
        for outcome in &outcomes {
            match outcome.status {
                200 => {
                    ok.push(outcome.elapsed);
                    passed_per_key[outcome.key] += 1;
                }
                429 => refused.push(outcome.elapsed),
                other => panic!("unexpected status {other}"),
            }
        }
        ok.sort();
        refused.sort();
        // No history loss: every admitted turn is stored, exactly once.
        let mut stored = 0;
        for outcome in outcomes.iter().filter(|o| o.status == 200) {
            let history: Value = stack
                .client
                .get(format!(
                    "{}/agents/limited/sessions/{}",
                    stack.base, outcome.session
                ))
                .bearer_auth(TEST_API_KEYS[outcome.key])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if history["messages"].as_array().map(Vec::len) == Some(2) {
                stored += 1;
            }
        }
        let exact = passed_per_key.iter().all(|&n| n == LIMIT.min(burst));
        let complete = stored == ok.len() && stack.model_requests().len() == ok.len();
        if !exact || !complete {
            failures += 1;
        }
        println!(
            "{:>5} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>8.0} {:>9}",
            round,
            outcomes.len(),
            format!(
                "{}",
                passed_per_key
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            ),
            refused.len(),
            ms(percentile(&ok, 0.5)),
            ms(percentile(&ok, 0.99)),
            ms(percentile(&refused, 0.5)),
            ms(percentile(&refused, 0.99)),
            outcomes.len() as f64 / wall.as_secs_f64(),
            format!("{stored}/{}", ok.len()),
        );
    }
    println!(
        "(latencies in ms, per request, end to end over loopback; req/s over the whole burst)"
    );
    if failures > 0 {
        eprintln!("error: {failures} round(s) were not exact or lost turns");
        std::process::exit(1);
    }
}
