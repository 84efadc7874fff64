//! HTTP errors and their three renderings: the binding's error body, the
//! Cloudflare REST envelope and the OpenAI error object.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::json_response;
use crate::engine::EngineError;
use crate::wire::AiErrorBody;

/// An error answer, before it is shaped for an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub internal_code: u32,
    pub name: &'static str,
    pub description: String,
}

impl ApiError {
    /// A malformed request (400).
    pub fn bad_request(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            internal_code: 5006,
            name: "InvalidInput",
            description: description.into(),
        }
    }

    /// The body the binding's JS client expects.
    pub fn binding(&self) -> Response {
        let body = AiErrorBody {
            internal_code: self.internal_code,
            message: format!("AiError: {}", self.description),
            name: self.name.to_string(),
            description: self.description.clone(),
        };
        json_response(self.status, &body)
    }

    /// The envelope of the Cloudflare REST API.
    pub fn rest(&self) -> Response {
        let body = json!({
            "result": null,
            "success": false,
            "errors": [{
                "code": self.internal_code,
                "message": format!("AiError: {}", self.description),
            }],
            "messages": [],
        });
        json_response(self.status, &body)
    }

    /// The error object of the OpenAI API.
    pub fn openai(&self) -> Response {
        let body = json!({
            "error": {
                "message": self.description,
                "type": self.name,
                "param": null,
                "code": self.internal_code.to_string(),
            }
        });
        json_response(self.status, &body)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let description = error.to_string();
        match error {
            EngineError::Capacity => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                internal_code: 3040,
                name: "CapacityError",
                description,
            },
            EngineError::InvalidInput(description) => ApiError::bad_request(description),
            EngineError::Internal(_) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                internal_code: 5000,
                name: "InferenceUpstreamError",
                description,
            },
        }
    }
}
