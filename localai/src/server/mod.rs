//! The HTTP router: the model endpoints, the control endpoints and JSON
//! answers for everything else.

mod control;
mod errors;
mod openai;
mod workers_ai;

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::LocalAi;
use errors::ApiError;

/// The largest request body accepted; long conversations can be big.
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Builds the router that serves `ai`.
pub fn router(ai: LocalAi) -> Router {
    Router::new()
        .route("/run", post(workers_ai::binding))
        .route(
            "/client/v4/accounts/{account}/ai/run/{*model}",
            post(workers_ai::rest),
        )
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route(
            "/_localai/requests",
            get(control::requests).delete(control::clear_requests),
        )
        .route("/_localai/script", put(control::put_script))
        .route("/_localai/release", post(control::release))
        .route("/_localai/health", get(control::health))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(ai)
}

/// A JSON answer whose content type is exactly `application/json`: the
/// binding's JS client compares the header as a plain string.
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    let body = serde_json::to_vec(body).expect("JSON values always serialize");
    (status, [(CONTENT_TYPE, "application/json")], body).into_response()
}

/// A 200 JSON answer cut off halfway, as a model that dies mid-reply would
/// leave it.
pub(crate) fn truncated_json_response(body: &impl Serialize) -> Response {
    let mut body = serde_json::to_vec(body).expect("JSON values always serialize");
    body.truncate(body.len() / 2);
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        Bytes::from(body),
    )
        .into_response()
}

/// Parses a request body that must be a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!(
            "the request body is not valid JSON: {e}"
        ))),
    }
}

async fn not_found(method: Method, uri: Uri) -> Response {
    let body = json!({
        "error": "not found",
        "method": method.as_str(),
        "path": uri.path(),
    });
    json_response(StatusCode::NOT_FOUND, &body)
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let body = json!({
        "error": "method not allowed",
        "method": method.as_str(),
        "path": uri.path(),
    });
    json_response(StatusCode::METHOD_NOT_ALLOWED, &body)
}
