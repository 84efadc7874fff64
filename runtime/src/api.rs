//! The public HTTP contract of a compiled Worker: its routes, its request bodies and its errors.

use serde::Deserialize;
use std::fmt;

/// The longest accepted session id.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// A request the Worker understands, decoded from its method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// `POST /agents/{agent}/chat`
    Chat { agent: &'a str },
    /// `GET /agents/{agent}/sessions/{id}`
    GetSession { agent: &'a str, session_id: &'a str },
    /// `DELETE /agents/{agent}/sessions/{id}`
    DeleteSession { agent: &'a str, session_id: &'a str },
    /// `POST /agents/{agent}/sessions/{id}/approvals/{call_id}`: a decision on a call that
    /// waits for approval.
    Approve {
        agent: &'a str,
        session_id: &'a str,
        call_id: &'a str,
    },
    /// `POST /v1/chat/completions`, OpenAI-compatible; the body's `model` names the agent.
    ChatCompletions,
    /// `POST /agents/{agent}/v1/chat/completions`: the same for one agent, named by the path
    /// (an OpenAI client's base URL `…/agents/{agent}/v1`), so its API key is checked before
    /// the body is read.
    AgentCompletions { agent: &'a str },
}

/// Decodes a method and path into a [`Route`], or the error the client gets.
pub fn route<'a>(method: &str, path: &'a str) -> Result<Route<'a>, ApiError> {
    if path == "/v1/chat/completions" {
        return match method {
            "POST" => Ok(Route::ChatCompletions),
            _ => Err(ApiError::method_not_allowed(method, path, "POST")),
        };
    }
    let mut parts = path.strip_prefix('/').unwrap_or(path).split('/');
    let (Some("agents"), Some(agent)) = (parts.next(), parts.next()) else {
        return Err(ApiError::not_found(format!("no route for {path}")));
    };
    match (parts.next(), parts.next(), parts.next()) {
        (Some("chat"), None, None) => match method {
            "POST" => Ok(Route::Chat { agent }),
            _ => Err(ApiError::method_not_allowed(method, path, "POST")),
        },
        (Some("v1"), Some("chat"), Some("completions")) if parts.next().is_none() => match method {
            "POST" => Ok(Route::AgentCompletions { agent }),
            _ => Err(ApiError::method_not_allowed(method, path, "POST")),
        },
        (Some("sessions"), Some(session_id), None) => {
            validate_session_id(session_id)?;
            match method {
                "GET" => Ok(Route::GetSession { agent, session_id }),
                "DELETE" => Ok(Route::DeleteSession { agent, session_id }),
                _ => Err(ApiError::method_not_allowed(method, path, "GET, DELETE")),
            }
        }
        (Some("sessions"), Some(session_id), Some("approvals")) => {
            validate_session_id(session_id)?;
            let call_id = match (parts.next(), parts.next()) {
                (Some(call_id), None) if validate_session_id(call_id).is_ok() => call_id,
                _ => return Err(ApiError::not_found(format!("no route for {path}"))),
            };
            match method {
                "POST" => Ok(Route::Approve {
                    agent,
                    session_id,
                    call_id,
                }),
                _ => Err(ApiError::method_not_allowed(method, path, "POST")),
            }
        }
        _ => Err(ApiError::not_found(format!("no route for {path}"))),
    }
}

/// The body of `POST /agents/{agent}/chat`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatRequest {
    /// The user's message.
    pub message: String,
    /// The conversation this message belongs to; history is kept per session. Omitted: a new
    /// session, whose id the Worker issues (see [`crate::ownership`]).
    #[serde(default)]
    pub session_id: Option<String>,
}

/// Parses and validates a chat request body; control characters other than newline and tab are
/// removed from the message.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let mut request: ChatRequest = serde_json::from_slice(body).map_err(|err| {
        ApiError::bad_request("invalid_json", format!("invalid request body: {err}"))
    })?;
    request.message = crate::limits::strip_controls(&request.message);
    if request.message.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`message` must not be empty",
        ));
    }
    if let Some(session_id) = &request.session_id {
        validate_session_id(session_id)?;
    }
    Ok(request)
}

/// Session ids are 1 to 128 characters of ASCII letters, digits, `-`, `_`, `.` and `:`.
pub fn validate_session_id(id: &str) -> Result<(), ApiError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':');
    if id.is_empty() || id.len() > MAX_SESSION_ID_LEN || !id.chars().all(ok_char) {
        return Err(ApiError::bad_request(
            "invalid_session_id",
            format!(
                "`session_id` must be 1 to {MAX_SESSION_ID_LEN} characters of letters, digits, '-', '_', '.' or ':'"
            ),
        ));
    }
    Ok(())
}

/// An error answered as JSON `{"error": {"code", "message"}}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(400, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(404, "not_found", message)
    }

    pub fn unknown_agent(agent: &str) -> Self {
        ApiError::new(404, "unknown_agent", format!("no agent named `{agent}`"))
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &str) -> Self {
        ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed on {path}; use {allowed}"),
        )
    }

    /// Every model the turn could use failed before producing an answer.
    pub fn model_failed(message: impl Into<String>) -> Self {
        ApiError::new(502, "model_error", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "internal", message)
    }

    /// The JSON body of the error response: `{"error": {"code", "message", "type"}}`. `type`
    /// is the OpenAI error type, so OpenAI clients read these errors too.
    pub fn to_json(&self) -> String {
        let kind = match self.status {
            401 => "authentication_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "api_error",
        };
        serde_json::json!({ "error": { "code": self.code, "message": self.message, "type": kind } })
            .to_string()
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route("POST", "/agents/weather/chat"),
            Ok(Route::Chat { agent: "weather" })
        );
        assert_eq!(
            route("GET", "/agents/weather/sessions/s1"),
            Ok(Route::GetSession {
                agent: "weather",
                session_id: "s1"
            })
        );
        assert_eq!(
            route("DELETE", "/agents/weather/sessions/s1"),
            Ok(Route::DeleteSession {
                agent: "weather",
                session_id: "s1"
            })
        );
        assert_eq!(
            route("GET", "/agents/weather/chat").unwrap_err().status,
            405
        );
        assert_eq!(
            route("POST", "/agents/weather/v1/chat/completions"),
            Ok(Route::AgentCompletions { agent: "weather" })
        );
        assert_eq!(
            route("GET", "/agents/weather/v1/chat/completions")
                .unwrap_err()
                .status,
            405
        );
        for path in [
            "/agents/weather/v1/chat",
            "/agents/weather/v1/chat/completions/x",
        ] {
            assert_eq!(route("POST", path).unwrap_err().status, 404, "{path}");
        }
        assert_eq!(
            route("POST", "/agents/calc/sessions/s1/approvals/approval_1_0_ff"),
            Ok(Route::Approve {
                agent: "calc",
                session_id: "s1",
                call_id: "approval_1_0_ff"
            })
        );
        assert_eq!(
            route("GET", "/agents/calc/sessions/s1/approvals/c")
                .unwrap_err()
                .status,
            405
        );
        for path in [
            "/agents/calc/sessions/s1/approvals",
            "/agents/calc/sessions/s1/approvals/a/b",
            "/agents/calc/sessions/s1/approvals/a%20b",
        ] {
            assert_eq!(route("POST", path).unwrap_err().status, 404, "{path}");
        }
        for path in [
            "/",
            "/agents",
            "/agents/weather",
            "/agents/weather/chat/x",
            "/x/y/chat",
        ] {
            assert_eq!(route("POST", path).unwrap_err().status, 404, "{path}");
        }
        assert_eq!(
            route("GET", "/agents/weather/sessions/a%2Fb")
                .unwrap_err()
                .code,
            "invalid_session_id"
        );
    }

    #[test]
    fn chat_request_errors_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("not json", "invalid request body: expected ident"),
            (r#"{"session_id":"s"}"#, "missing field `message`"),
            (
                r#"{"message":"hi","session_id":"s","x":1}"#,
                "unknown field `x`",
            ),
            (
                r#"{"message":"  ","session_id":"s"}"#,
                "`message` must not be empty",
            ),
            (
                r#"{"message":"hi","session_id":""}"#,
                "`session_id` must be",
            ),
            (
                r#"{"message":"hi","session_id":"a b"}"#,
                "`session_id` must be",
            ),
        ];
        for (body, expected) in cases {
            let err = parse_chat_request(body.as_bytes()).unwrap_err();
            assert_eq!(err.status, 400);
            assert!(err.message.contains(expected), "{body}: {}", err.message);
        }
        let ok = parse_chat_request(br#"{"message":"hi","session_id":"user-1:a"}"#).unwrap();
        assert_eq!(ok.message, "hi");
        // No session: the Worker starts a new one.
        let new = parse_chat_request(br#"{"message":"hi"}"#).unwrap();
        assert_eq!(new.session_id, None);
        let ok =
            parse_chat_request(br#"{"message":"a\u0000b\u001b\nc","session_id":"s"}"#).unwrap();
        assert_eq!(ok.message, "ab\nc");
        let err =
            parse_chat_request(br#"{"message":"\u0007\u0000","session_id":"s"}"#).unwrap_err();
        assert_eq!(err.code, "invalid_request");
    }

    #[test]
    fn error_body_is_the_contract_shape() {
        let body = ApiError::unknown_agent("nope").to_json();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(value["error"]["code"], "unknown_agent");
        assert_eq!(value["error"]["message"], "no agent named `nope`");
    }
}
