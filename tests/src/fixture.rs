//! A stand-in for the internet: the Worker's outbound requests (its HTTP tools) arrive here
//! through workerd's `globalOutbound`, are recorded, and get canned answers.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request the Worker sent out.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    pub host: String,
    /// Path and query.
    pub target: String,
    pub method: String,
    pub content_type: Option<String>,
    pub body: String,
}

/// The running fixture server.
pub struct Fixture {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Outbound>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fixture server runs");
        });
        Fixture {
            addr,
            received,
            _task: task,
        }
    }

    /// Every request received, in order.
    pub fn received(&self) -> Vec<Outbound> {
        self.received.lock().expect("lock").clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self._task.abort();
    }
}

async fn answer(
    State(received): State<Arc<Mutex<Vec<Outbound>>>>,
    method: axum::http::Method,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> Response {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let target = uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let content_type = headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    received.lock().expect("lock").push(Outbound {
        host: host.clone(),
        target: target.clone(),
        method: method.to_string(),
        content_type,
        body,
    });
    match (host.as_str(), uri.path()) {
        ("api.weather.test", "/v1/current") => {
            let city = query.get("city").cloned().unwrap_or_default();
            let temp = if city == "Oslo" { 4 } else { 21 };
            Json(json!({ "city": city, "temp_c": temp, "conditions": "sunny" })).into_response()
        }
        ("slow.weather.test", "/v1/slow") => {
            // Longer than any tool's timeout; the Worker gives up first.
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            Json(Value::Null).into_response()
        }
        ("status.weather.test", "/status") => "all systems go".into_response(),
        // The security tests' shop: every path answers, saying which one it was.
        ("api.shop.test", path) => Json(json!({ "path": path, "target": target })).into_response(),
        // An API that echoes the caller's bad key in its error, as real ones do.
        ("auth.shop.test", _) => (
            axum::http::StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "bad key sk-TEST-4f9a1c" })),
        )
            .into_response(),
        // The example agents' own fixtures, as `agentc dev` serves them.
        (host, _) => {
            let file = crate::repo_root()
                .join("agents/fixtures")
                .join(format!("{host}.json"));
            match std::fs::read_to_string(file) {
                Ok(json) if !host.contains('/') => {
                    ([("content-type", "application/json")], json).into_response()
                }
                _ => (axum::http::StatusCode::NOT_FOUND, "no such fixture").into_response(),
            }
        }
    }
}
