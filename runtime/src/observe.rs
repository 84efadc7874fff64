//! Observability: one structured JSON log line per turn.
//!
//! The line names the agent, the session (a keyed hash), the routing rule, the model that answered
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

/// The key of session hashes in this isolate (see [`set_hash_key`]).
static HASH_KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();

/// Sets the key session hashes are made with; the first call of an isolate wins. The platform
/// derives it from the `AGENTC_LOG_KEY` secret (stable across isolates and deploys), or else
/// picks a random one per isolate.
pub fn set_hash_key(key: [u8; 32]) {
    let _ = HASH_KEY.set(key);
}

/// Whether [`set_hash_key`] has been called in this isolate.
pub fn hash_key_is_set() -> bool {
    HASH_KEY.get().is_some()
}

/// A name for a session in logs that cannot be turned back into the session id: 16 hex digits
/// of HMAC-SHA-256 with the isolate's key over the agent and the session id. (A plain hash of a
/// guessable id such as `user-4242` is reversed by trying candidates.)
pub fn session_hash(agent: &str, session: &str) -> String {
    keyed_hash(HASH_KEY.get().unwrap_or(&[0; 32]), agent, session)
}

/// [`session_hash`] with a given key.
pub fn keyed_hash(key: &[u8; 32], agent: &str, session: &str) -> String {
    hex(&hmac(key, format!("{agent}/{session}").as_bytes())[..8])
}

/// HMAC-SHA-256 (RFC 2104) with a 32-byte key.
fn hmac(key: &[u8; 32], data: &[u8]) -> [u8; 32] {
    let mut pad = [0u8; 64];
    pad[..32].copy_from_slice(key);
    let inner = Sha256::new()
        .chain_update(pad.map(|b| b ^ 0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(pad.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::Usage;
    use crate::turn::ToolTrace;

    #[test]
    fn session_hashes_need_the_key() {
        // Before: 16 hex digits of SHA-256("agent/session"), which anyone can recompute.
        let plain = hex(&Sha256::digest(b"weather/user-4242")[..8]);
        let (a, b) = ([1; 32], [2; 32]);
        let hashed = keyed_hash(&a, "weather", "user-4242");
        assert_ne!(hashed, plain);
        assert_ne!(hashed, keyed_hash(&b, "weather", "user-4242"));
        assert_eq!(hashed, keyed_hash(&a, "weather", "user-4242"));
        assert_eq!(hashed.len(), 16);
        // RFC 4231, test case 2 (a key shorter than the block is padded with zeros).
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            hex(&hmac(&key, b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

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
