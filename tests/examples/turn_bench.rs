//! Measures a chat turn on local workerd with a model that answers at once: workerd CPU per
//! turn, time to first byte and to the whole answer, and the first request after a cold start.
//! Prints a table; asserts nothing (this machine is shared and noisy).
//!
//! Run: `bench/turn.sh` (or `cargo run --release -p agentc-tests --example turn_bench -- [TURNS]`).

use agentc_tests::Stack;
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};

const SESSIONS: usize = 50;

/// CPU time (user + system) a process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = 100; // USER_HZ on Linux
    Duration::from_micros(ticks * 1_000_000 / hz)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One turn: (time to the first body bytes, time to the end).
async fn turn(stack: &Stack, session: usize, n: usize) -> (Duration, Duration) {
    let started = Instant::now();
    let response = stack
        .chat(
            "weather",
            &format!("Question {n}"),
            &format!("bench-{session}"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut first = None;
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        first.get_or_insert_with(|| started.elapsed());
        text.extend_from_slice(&chunk.unwrap());
    }
    assert!(text.ends_with(b"\n\n") && String::from_utf8_lossy(&text).contains("event: done"));
    (first.unwrap(), started.elapsed())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let turns: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    // 20 tokens, all at once.
    let words: Vec<String> = (0..20).map(|i| format!("w{i} ")).collect();
    let script = json!({ "replies": [{ "chunks": words }], "when_exhausted": "repeat_last" });
    let stack = Stack::start(script).await;
    let pid = stack.workerd_pid().expect("workerd runs");

    let (cold_first, cold_total) = turn(&stack, 0, 0).await;
    for n in 0..SESSIONS * 2 {
        turn(&stack, n % SESSIONS, n).await;
    }
    stack.localai.localai().clear_requests();

    let cpu_before = cpu_time(pid);
    let started = Instant::now();
    let mut firsts = Vec::with_capacity(turns);
    let mut totals = Vec::with_capacity(turns);
    for n in 0..turns {
        let (first, total) = turn(&stack, n % SESSIONS, n).await;
        firsts.push(first);
        totals.push(total);
    }
    let wall = started.elapsed();
    let cpu = cpu_time(pid) - cpu_before;
    firsts.sort();
    totals.sort();

    let wasm = agentc_tests::worker_dir().join("index_bg.wasm");
    let raw = std::fs::read(&wasm).expect("wasm");
    let gzip = {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&raw).unwrap();
        encoder.finish().unwrap().len()
    };

    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    println!("turn bench: {turns} turns, {SESSIONS} sessions round robin, 20-token scripted model");
    println!("| measure | value |");
    println!("|---|---|");
    println!("| workerd CPU per turn | {} |", ms(cpu / turns as u32));
    println!(
        "| first byte p50 / p95 | {} / {} |",
        ms(percentile(&firsts, 0.5)),
        ms(percentile(&firsts, 0.95))
    );
    println!(
        "| whole turn p50 / p95 | {} / {} |",
        ms(percentile(&totals, 0.5)),
        ms(percentile(&totals, 0.95))
    );
    println!(
        "| turns per second (one client) | {:.0} |",
        turns as f64 / wall.as_secs_f64()
    );
    println!(
        "| first request after cold start: first byte / whole | {} / {} |",
        ms(cold_first),
        ms(cold_total)
    );
    println!(
        "| Worker wasm raw / gzip | {} KiB / {} KiB |",
        raw.len() / 1024,
        gzip / 1024
    );
}
