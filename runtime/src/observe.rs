//! Observability: one structured JSON log line per turn.
//!
//! The line names the agent, the session (hashed), the routing rule, the model that answered
//! (and those that failed before it), whether the cache answered, the steps, each tool call with
//! its status and latency, the tokens in and out, the time to the first piece of the answer and
//! the whole turn's time, and the error code of a failed turn. It never holds a message, a
//! key, a secret or a tool's arguments: only names, counts and times.

use crate::auth::hex;
use crate::turn::Trace;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The log line of one turn.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TurnLog {
    /// Always `agentc.turn`, to find these lines among others.
    pub event: &'static str,
    pub agent: &'static str,
    /// A hash of the session id; absent for stateless OpenAI requests.
    pub session: Option<String>,
    /// The routing rule's index, or `default`.
    pub route: String,
    /// The model that answered, if one did.
    pub model: Option<&'static str>,
    /// Models that failed to start before `model` (the fallbacks used).
    pub failed_models: Vec<&'static str>,
    /// `hit`, `miss`, or `off` when the agent has no cache.
    pub cache: &'static str,
    pub steps: u32,
    pub tools: Vec<ToolLog>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// From the request reaching the runtime to the first piece of the answer.
    pub ttft_ms: Option<u64>,
    pub total_ms: u64,
    /// The failed turn's error code (`model_error`, `max_steps_exceeded`, `disconnected`, ...).
    pub error: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ToolLog {
    pub name: String,
    pub ok: bool,
    pub ms: u64,
}

impl TurnLog {
    pub fn new(agent: &'static str, session: Option<&str>, route: String) -> Self {
        TurnLog {
            event: "agentc.turn",
            agent,
            session: session.map(|s| session_hash(agent, s)),
            route,
            model: None,
            failed_models: Vec::new(),
            cache: "off",
            steps: 0,
            tools: Vec::new(),
            tokens_in: 0,
            tokens_out: 0,
            ttft_ms: None,
            total_ms: 0,
            error: None,
        }
    }

    /// Takes in what the turn's trace recorded; times are relative to `started_ms`.
    pub fn record(&mut self, trace: &Trace, started_ms: f64) {
        self.steps = trace.steps;
        self.tokens_in = trace.usage.prompt_tokens;
        self.tokens_out = trace.usage.completion_tokens;
        self.ttft_ms = trace.first_delta_ms.map(|t| millis(t - started_ms));
        self.tools = trace
            .tools
            .iter()
            .map(|t| ToolLog {
                name: t.name.clone(),
                ok: t.ok,
                ms: millis(t.ms),
            })
            .collect();
    }

    /// The line, as JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("log lines serialize")
    }
}

fn millis(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        ms.round() as u64
    } else {
        0
    }
}

/// A stable, non-reversible name for a session in logs: 16 hex digits of SHA-256 over the agent
/// and the session id.
pub fn session_hash(agent: &str, session: &str) -> String {
    let digest = Sha256::digest(format!("{agent}/{session}").as_bytes());
    hex(&digest[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Usage;
    use crate::turn::ToolTrace;

    #[test]
    fn a_line_has_every_field_and_no_raw_session() {
        let mut log = TurnLog::new("weather", Some("user-42"), "default".into());
        log.model = Some("@cf/b");
        log.failed_models = vec!["@cf/a"];
        log.cache = "miss";
        let trace = Trace {
            steps: 2,
            usage: Usage {
                prompt_tokens: 30,
                completion_tokens: 7,
            },
            first_delta_ms: Some(1250.4),
            tools: vec![ToolTrace {
                name: "get_weather".into(),
                ok: true,
                ms: 12.6,
            }],
        };
        log.record(&trace, 1000.0);
        log.total_ms = 1500;
        let line = log.to_line();
        assert!(!line.contains("user-42"), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["event"], "agentc.turn");
        assert_eq!(value["session"], session_hash("weather", "user-42"));
        assert_eq!(value["model"], "@cf/b");
        assert_eq!(value["failed_models"][0], "@cf/a");
        assert_eq!(value["tools"][0]["ms"], 13);
        assert_eq!(value["ttft_ms"], 250);
        assert_eq!(
            (value["tokens_in"].clone(), value["tokens_out"].clone()),
            (30.into(), 7.into())
        );
        assert_eq!(value["error"], serde_json::Value::Null);
    }
}
