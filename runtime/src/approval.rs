//! Tools that wait for a person: the state of a turn paused on calls that need approval, and
//! the decisions that resume it.
//!
//! When the model calls a tool declared with `approval`, the turn runs the step's other calls,
//! then stops: its messages so far and the calls that wait go into a [`PausedTurn`], which the
//! session's Durable Object stores (not in the transcript: a paused turn has not completed), and
//! the stream ends with one `approval_required` event per waiting call. A [`Decision`] on one
//! call (`POST .../approvals/{call_id}`) runs or refuses it; when no call waits any more the
//! turn goes on to the model. Each call is decided at most once: the decision removes it from
//! the stored state before the tool runs.

use crate::api::ApiError;
use crate::history::{Message, ToolCall};
use crate::sse::Usage;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A turn waiting for decisions, as stored between requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PausedTurn {
    /// The model answering the turn.
    pub model: String,
    /// The step whose calls wait (the next model call is step `step + 1`).
    pub step: u32,
    pub usage: Usage,
    /// The turn's messages so far, from the user's message to the results of the calls that
    /// have run; the assistant message that asked for the waiting calls is among them.
    pub messages: Vec<Message>,
    /// The calls that wait, in the order the model made them.
    pub pending: Vec<PendingCall>,
}

/// A call that waits for a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingCall {
    pub call: ToolCall,
    /// Milliseconds since the Unix epoch after which it can no longer be approved.
    pub expires_at_ms: f64,
}

impl PausedTurn {
    /// Whether every waiting call has expired: the turn can never go on, and is dropped.
    pub fn expired(&self, now_ms: f64) -> bool {
        self.pending.iter().all(|p| p.expires_at_ms <= now_ms)
    }

    /// The waiting calls, as `GET .../sessions/{id}` lists them and `409` answers show them.
    pub fn listed(&self) -> Value {
        Value::Array(self.pending.iter().map(PendingCall::to_json).collect())
    }

    /// Takes the call a decision is about out of the waiting ones. `Err`: 404 when no such call
    /// waits (never asked for, or already decided), 410 when it has expired.
    pub fn take(&mut self, call_id: &str, now_ms: f64) -> Result<PendingCall, ApiError> {
        let index = self
            .pending
            .iter()
            .position(|p| p.call.id == call_id)
            .ok_or_else(|| no_such_call(call_id))?;
        if self.pending[index].expires_at_ms <= now_ms {
            return Err(ApiError::new(
                410,
                "approval_expired",
                format!("the call `{call_id}` waited too long and can no longer be approved"),
            ));
        }
        Ok(self.pending.remove(index))
    }
}

impl PendingCall {
    /// `{"id", "name", "arguments", "expires_at"}`: the payload of an `approval_required` event.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.call.id,
            "name": self.call.name,
            "arguments": self.call.arguments,
            "expires_at": crate::tools::builtin::rfc3339(self.expires_at_ms),
        })
    }
}

/// The `approval_required` event that ends the stream of a paused turn, one per waiting call.
pub fn required_frame(pending: &PendingCall) -> String {
    crate::sse::frame("approval_required", &pending.to_json())
}

/// The 404 of a decision on a call that does not wait.
pub fn no_such_call(call_id: &str) -> ApiError {
    ApiError::new(
        404,
        "no_pending_approval",
        format!("no call `{call_id}` waits for approval in this session"),
    )
}

/// The 409 of a chat message while calls wait: it names them.
pub fn pending_conflict(paused: &PausedTurn) -> ApiError {
    let ids: Vec<&str> = paused.pending.iter().map(|p| p.call.id.as_str()).collect();
    ApiError::new(
        409,
        "approval_pending",
        format!(
            "this session waits for a decision on {} ({}); POST .../approvals/{{call_id}} first. Pending: {}",
            if ids.len() == 1 { "a call" } else { "calls" },
            ids.join(", "),
            paused.listed()
        ),
    )
}

/// A person's decision on one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny { reason: Option<String> },
}

impl Decision {
    /// The result the model gets for a refused call.
    pub fn refusal(reason: Option<&str>) -> String {
        match reason {
            Some(reason) if !reason.trim().is_empty() => {
                format!("a person declined to run this call: {}", reason.trim())
            }
            _ => "a person declined to run this call".to_owned(),
        }
    }
}

/// The body of `POST .../approvals/{call_id}`: `{"approve": true}` or `{"approve": false,
/// "reason": "..."}`.
pub fn parse_decision(body: &[u8]) -> Result<Decision, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        approve: bool,
        #[serde(default)]
        reason: Option<String>,
    }
    let body: Body = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request("invalid_json", format!("invalid request body: {err}"))
    })?;
    let reason = body.reason.map(|r| {
        crate::limits::strip_controls(&r)
            .chars()
            .take(2000)
            .collect()
    });
    Ok(if body.approve {
        Decision::Approve
    } else {
        Decision::Deny { reason }
    })
}

/// The id a waiting call goes by: unique across the session's turns (it carries the time the
/// call was made), so a decision meant for one call can never reach a later one.
pub fn call_id(step: u32, index: usize, now_ms: f64) -> String {
    format!("approval_{step}_{index}_{:x}", now_ms.max(0.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paused() -> PausedTurn {
        let call = |id: &str| PendingCall {
            call: ToolCall {
                id: id.into(),
                name: "calc_multiply".into(),
                arguments: json!({"a": 6, "b": 7}),
            },
            expires_at_ms: 1000.0,
        };
        PausedTurn {
            model: "@cf/m".into(),
            step: 1,
            usage: Usage::default(),
            messages: vec![],
            pending: vec![call("a"), call("b")],
        }
    }

    #[test]
    fn a_call_is_taken_once_and_not_after_expiry() {
        let mut turn = paused();
        assert_eq!(turn.take("a", 10.0).unwrap().call.id, "a");
        let err = turn.take("a", 10.0).unwrap_err();
        assert_eq!((err.status, err.code), (404, "no_pending_approval"));
        let err = turn.take("b", 1000.0).unwrap_err();
        assert_eq!((err.status, err.code), (410, "approval_expired"));
        assert!(turn.expired(1000.0) && !turn.expired(999.0));
    }

    #[test]
    fn listings_and_conflicts_show_the_calls() {
        let turn = paused();
        assert_eq!(
            turn.listed()[0],
            json!({"id": "a", "name": "calc_multiply", "arguments": {"a": 6, "b": 7},
                   "expires_at": "1970-01-01T00:00:01Z"})
        );
        let err = pending_conflict(&turn);
        assert_eq!((err.status, err.code), (409, "approval_pending"));
        assert!(err.message.contains("(a, b)"), "{}", err.message);
        // The paused turn survives storage as JSON.
        let text = serde_json::to_string(&turn).unwrap();
        assert_eq!(serde_json::from_str::<PausedTurn>(&text).unwrap(), turn);
    }

    #[test]
    fn decisions() {
        assert_eq!(
            parse_decision(br#"{"approve":true}"#),
            Ok(Decision::Approve)
        );
        assert_eq!(
            parse_decision(br#"{"approve":false,"reason":"too\u0007 costly"}"#),
            Ok(Decision::Deny {
                reason: Some("too costly".into())
            })
        );
        for bad in [
            &br#"{}"#[..],
            br#"{"approve":"yes"}"#,
            br#"{"approve":true,"x":1}"#,
        ] {
            assert_eq!(parse_decision(bad).unwrap_err().status, 400);
        }
        assert_eq!(
            Decision::refusal(Some(" no ")),
            "a person declined to run this call: no"
        );
        assert_eq!(call_id(2, 1, 255.0), "approval_2_1_ff");
        assert!(required_frame(&paused().pending[0])
            .starts_with("event: approval_required\ndata: {\"arguments\":{\"a\":6,\"b\":7},"));
    }
}
