//! The acceptance load-and-fault test of issue 11: 1,000 turns over 50 sessions, 16 at a time,
//! with workerd killed and restarted once in the middle. Turns of one session are sent one after
//! another (so their order is defined); a turn cut off by the restart is not retried.
//!
//! Asserted: every completed turn (its `done` arrived) is stored exactly once, in order, as a
//! whole user/assistant pair; a cut-off turn is stored whole or not at all; and every session's
//! rate-limiter count is exact: the requests it answered, plus at most the cut-off ones (whose
//! count the client cannot know). Figures are printed; the time bound is a hang guard.

use agentc_tests::messages;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSIONS: usize = 50;
const TURNS_PER_SESSION: usize = 20;
const CONCURRENCY: usize = 16;
const LIMIT: u64 = 1000;
/// The whole run must end within this (a guard against hanging, not a performance claim).
const BOUND: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct SessionRun {
    /// Messages whose turn completed.
    completed: Vec<String>,
    /// Messages whose turn was cut off (connection error, 5xx, or a stream without `done`).
    cut: Vec<String>,
    /// Requests that got an HTTP answer (each was counted by the limiter).
    answered: u64,
}

/// Sends one turn; `(answered, completed)`: whether an HTTP answer came, and its `done`.
async fn one_turn(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    message: &str,
) -> (bool, bool) {
    let body = json!({ "message": message, "session_id": session });
    let response = loop {
        match client
            .post(format!("{base}/agents/load/chat"))
            .json(&body)
            .send()
            .await
        {
            Ok(response) => break response,
            // workerd is down: the request never left, so sending it again is safe.
            Err(err) if err.is_connect() => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(_) => return (false, false),
        }
    };
    if response.status() != 200 {
        return (true, false);
    }
    // Read the stream by hand: a restart may cut it, which is not a test failure.
    let mut body = response.bytes_stream();
    let mut text = Vec::new();
    use futures_util::StreamExt;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => text.extend_from_slice(&chunk),
            Err(_) => return (true, false),
        }
    }
    let done = String::from_utf8_lossy(&text).contains("event: done");
    (true, done)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_turns_survive_a_restart() {
    let mut stack = agentc_tests::Stack::start(
        json!({ "replies": [{ "text": "ok" }], "when_exhausted": "repeat_last" }),
    )
    .await;
    let started = Instant::now();
    let done_turns = Arc::new(AtomicUsize::new(0));
    let runs: Arc<Vec<std::sync::Mutex<SessionRun>>> =
        Arc::new((0..SESSIONS).map(|_| Default::default()).collect());
    let next_session = Arc::new(AtomicUsize::new(0));
    let (client, base) = (stack.client.clone(), stack.base.clone());
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            let (runs, next_session, done_turns) =
                (runs.clone(), next_session.clone(), done_turns.clone());
            tokio::spawn(async move {
                // Each worker takes whole sessions, so a session's turns go one after another.
                loop {
                    let s = next_session.fetch_add(1, Ordering::SeqCst);
                    if s >= SESSIONS {
                        return;
                    }
                    for t in 0..TURNS_PER_SESSION {
                        let message = format!("s{s} t{t}");
                        let (answered, completed) =
                            one_turn(&client, &base, &format!("load-{s}"), &message).await;
                        let mut run = runs[s].lock().unwrap();
                        run.answered += u64::from(answered);
                        if completed {
                            run.completed.push(message);
                        } else {
                            run.cut.push(message);
                        }
                        done_turns.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();

    // Kill and restart workerd once, in the middle.
    while done_turns.load(Ordering::SeqCst) < SESSIONS * TURNS_PER_SESSION / 2 {
        assert!(
            started.elapsed() < BOUND,
            "the load hung before the restart"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let restart_at = done_turns.load(Ordering::SeqCst);
    let restart = Instant::now();
    stack.restart().await;
    let restart_ms = restart.elapsed().as_millis();
    for worker in workers {
        tokio::time::timeout(BOUND.saturating_sub(started.elapsed()), worker)
            .await
            .expect("the load finishes in time")
            .unwrap();
    }
    let load_secs = started.elapsed().as_secs_f64();

    let (mut completed, mut cut, mut cut_stored) = (0, 0, 0);
    for (s, run) in runs.iter().enumerate() {
        let run = std::mem::take(&mut *run.lock().unwrap());
        let session = format!("load-{s}");
        // Reading the history is counted too: its `x-ratelimit-remaining` gives the count.
        let response = stack
            .client
            .get(format!("{}/agents/load/sessions/{session}", stack.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{session}");
        let remaining: u64 = response.headers()["x-ratelimit-remaining"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let body: Value = response.json().await.unwrap();
        let history = messages(&body["messages"]);

        // Whole pairs only: no half-stored turn.
        assert_eq!(history.len() % 2, 0, "{session}: {history:?}");
        let mut stored = Vec::new();
        for pair in history.chunks(2) {
            assert_eq!(
                (pair[0].0.as_str(), pair[1].0.as_str(), pair[1].1.as_str()),
                ("user", "assistant", "ok"),
                "{session}"
            );
            stored.push(pair[0].1.clone());
        }
        // Stored: the completed turns and perhaps some cut-off ones, each once, in the order sent.
        let sent: Vec<String> = (0..TURNS_PER_SESSION)
            .map(|t| format!("s{s} t{t}"))
            .collect();
        let order = |m: &String| sent.iter().position(|x| x == m).unwrap();
        let positions: Vec<usize> = stored.iter().map(order).collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{session}: reordered or duplicated: {stored:?}"
        );
        for message in &run.completed {
            assert!(
                stored.contains(message),
                "{session}: completed turn `{message}` was lost"
            );
        }
        cut_stored += run.cut.iter().filter(|m| stored.contains(m)).count();
        for message in &stored {
            assert!(
                run.completed.contains(message) || run.cut.contains(message),
                "{session}: `{message}` was never sent"
            );
        }

        // The limiter: every answered request counted, and at most the cut-off ones besides.
        let counted = LIMIT - remaining - 1;
        let unanswered = TURNS_PER_SESSION as u64 - run.answered;
        assert!(
            counted >= run.answered && counted <= run.answered + unanswered,
            "{session}: the limiter counted {counted}; {} requests were answered and {unanswered} cut off before an answer",
            run.answered
        );
        if unanswered == 0 {
            assert_eq!(
                counted, run.answered,
                "{session}: the limiter count is exact"
            );
        }
        completed += run.completed.len();
        cut += run.cut.len();
    }
    println!(
        "load: {} turns over {SESSIONS} sessions at concurrency {CONCURRENCY} in {load_secs:.1} s \
         ({:.0} turns/s); workerd restarted after {restart_at} turns, in {restart_ms} ms; \
         {completed} completed, {cut} cut off by the restart ({cut_stored} of them stored whole)",
        SESSIONS * TURNS_PER_SESSION,
        (SESSIONS * TURNS_PER_SESSION) as f64 / load_secs,
    );
    assert_eq!(completed + cut, SESSIONS * TURNS_PER_SESSION);
    assert!(
        completed >= SESSIONS * TURNS_PER_SESSION - 4 * CONCURRENCY,
        "too many turns lost to one restart: {cut}"
    );
}
