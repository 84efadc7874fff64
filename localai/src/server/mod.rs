//! The HTTP router: the model endpoints, the control endpoints and JSON
//! answers for everything else. Every request must name a loopback host (or
//! the AI binding's own host) in its `Host` header, so a web page cannot
//! reach localai through DNS rebinding.

mod control;
mod errors;
mod openai;
mod workers_ai;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
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
        .layer(middleware::from_fn(check_host))
        .with_state(ai)
}

/// The host the Workers AI binding's client puts in its requests.
const BINDING_HOST: &str = "workers-binding.ai";

/// Whether a `Host` header names this machine's loopback interface or the
/// binding's host (which no web page can resolve to here), with any port.
pub(crate) fn allowed_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name == BINDING_HOST
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses requests whose `Host` is some other name (403): a page of another
/// site that rebinds its name to 127.0.0.1 sends its own name.
async fn check_host(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}"));
    match host {
        Some(host) if !allowed_host(host) => {
            let body = json!({
                "error": format!(
                    "localai answers only requests for localhost, 127.0.0.1 or [::1], not {host:?}"
                ),
            });
            json_response(StatusCode::FORBIDDEN, &body)
        }
        _ => next.run(request).await,
    }
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

#[cfg(test)]
mod tests {
    use super::allowed_host;

    #[test]
    fn only_loopback_hosts_are_allowed() {
        for host in [
            "127.0.0.1:8788",
            "127.0.0.1",
            "127.1.2.3:80",
            "localhost:8788",
            "LOCALHOST",
            "dev.localhost:1",
            "[::1]:8788",
            "[::1]",
            "workers-binding.ai",
        ] {
            assert!(allowed_host(host), "{host}");
        }
        for host in [
            "evil.example:8788",
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1:8788",
            "0.0.0.0:8788",
            "[::]:8788",
            "[2001:db8::1]",
            "",
        ] {
            assert!(!allowed_host(host), "{host}");
        }
    }
}
