//! Many turns at once: 50 concurrent turns over 10 sessions. Turns on one session run one at
//! a time, each sees every earlier turn of its session, and nothing is lost or duplicated.

use agentc_tests::{messages, names, Stack};
use serde_json::json;
use std::collections::BTreeMap;

const SESSIONS: usize = 10;
const TURNS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_turns_keep_every_session_whole() {
    let stack =
        Stack::start(json!({ "replies": [{ "text": "Noted." }], "when_exhausted": "repeat_last" }))
            .await;
    let turns = (0..SESSIONS).flat_map(|s| (0..TURNS).map(move |t| (s, t)));
    let runs = turns.map(|(s, t)| {
        let stack = &stack;
        async move {
            let events = stack
                .chat_events(
                    "weather",
                    &format!("session {s} message {t}"),
                    &format!("c{s}"),
                )
                .await;
            assert_eq!(
                names(&events).last(),
                Some(&"done"),
                "turn {s}/{t}: {events:?}"
            );
        }
    });
    futures_util::future::join_all(runs).await;

    // What each model call saw: the session's earlier exchanges, as many as came before it.
    let mut seen: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for request in stack.model_requests() {
        let sent = messages(&request.inputs["messages"]);
        let (_, last) = sent.last().unwrap();
        let session = last.split(" message").next().unwrap().to_owned();
        let earlier = &sent[1..sent.len() - 1];
        for (user, _) in earlier.iter().step_by(2) {
            assert_eq!(user, "user", "{session}: history alternates");
        }
        for (_, content) in earlier.iter().filter(|(role, _)| role == "user") {
            assert!(
                content.starts_with(&format!("{session} ")),
                "{session} saw {content}"
            );
        }
        seen.entry(session).or_default().push(earlier.len());
    }
    assert_eq!(seen.len(), SESSIONS);
    for (session, mut counts) in seen {
        counts.sort();
        assert_eq!(
            counts,
            [0, 2, 4, 6, 8],
            "{session}: each turn saw all earlier ones"
        );
    }

    // What each session stored: every message once, in pairs, in the order the turns ran.
    for s in 0..SESSIONS {
        let history = stack.history("weather", &format!("c{s}")).await;
        assert_eq!(history.len(), 2 * TURNS, "c{s}");
        let mut users: Vec<&str> = Vec::new();
        for pair in history.chunks(2) {
            assert_eq!(
                (pair[0].0.as_str(), pair[1].0.as_str()),
                ("user", "assistant"),
                "c{s}"
            );
            assert_eq!(pair[1].1, "Noted.");
            users.push(&pair[0].1);
        }
        users.sort();
        let expected: Vec<String> = (0..TURNS)
            .map(|t| format!("session {s} message {t}"))
            .collect();
        assert_eq!(users, expected, "c{s}: no message lost or duplicated");
    }
}
