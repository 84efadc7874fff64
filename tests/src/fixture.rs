//! A stand-in for the internet: the Worker's outbound requests (its HTTP tools) arrive here
//! through workerd's `globalOutbound`, are recorded, and get canned answers. Requests for a host
//! registered with [`Fixture::forward`] are passed on to a real server instead (the MCP tests'
//! server), streaming its answer back, as the network would. The slow hosts (`slow.*.test`)
//! never answer in time; [`Fixture::slow`] says how many of their requests were in flight at
//! once and how many the Worker abandoned (closed the connection before the answer).

use axum::body::Body;
use axum::extract::{Query, Request, State};
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

/// What happened to the requests for the slow hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slow {
    /// Requests received.
    pub started: usize,
    /// Requests whose connection the Worker closed before the (late) answer.
    pub aborted: usize,
    /// The most requests in flight at once.
    pub peak: usize,
    in_flight: usize,
}

/// Counts a slow request while it is in flight; dropped unfinished (the client went away, so
/// the server dropped the handler), it counts as aborted.
struct InFlight {
    slow: Arc<Mutex<Slow>>,
    finished: bool,
}

impl InFlight {
    fn enter(slow: &Arc<Mutex<Slow>>) -> InFlight {
        let mut s = slow.lock().expect("lock");
        s.started += 1;
        s.in_flight += 1;
        s.peak = s.peak.max(s.in_flight);
        InFlight {
            slow: slow.clone(),
            finished: false,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.slow.lock().expect("lock");
        s.in_flight -= 1;
        if !self.finished {
            s.aborted += 1;
        }
    }
}

/// The running fixture server.
pub struct Fixture {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Outbound>>>,
    slow: Arc<Mutex<Slow>>,
    forwards: Forwards,
    _task: tokio::task::JoinHandle<()>,
}

/// Hosts (`name:port`, as in the `Host` header) whose requests go to a real server.
type Forwards = Arc<Mutex<HashMap<String, SocketAddr>>>;

#[derive(Clone)]
struct Shared {
    received: Arc<Mutex<Vec<Outbound>>>,
    slow: Arc<Mutex<Slow>>,
    forwards: Forwards,
    client: reqwest::Client,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let received = Arc::new(Mutex::new(Vec::new()));
        let slow = Arc::new(Mutex::new(Slow::default()));
        let forwards = Forwards::default();
        let shared = Shared {
            received: received.clone(),
            slow: slow.clone(),
            forwards: forwards.clone(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new().fallback(dispatch).with_state(shared);
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
            slow,
            forwards,
            _task: task,
        }
    }

    /// Passes requests for `host` (as the Worker's URL names it, e.g. `127.0.0.1:18931`) on
    /// to the server at `to`.
    pub fn forward(&self, host: &str, to: SocketAddr) {
        self.forwards
            .lock()
            .expect("lock")
            .insert(host.to_owned(), to);
    }

    /// The slow hosts' requests so far.
    pub fn slow(&self) -> Slow {
        *self.slow.lock().expect("lock")
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

/// Forwards a request for a registered host, or answers it from the canned fixtures.
async fn dispatch(State(shared): State<Shared>, request: Request) -> Response {
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let to = shared.forwards.lock().expect("lock").get(&host).copied();
    let Some(to) = to else {
        let (parts, body) = request.into_parts();
        let query = Query::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        let body = match axum::body::to_bytes(body, 1 << 24).await {
            Ok(body) => String::from_utf8_lossy(&body).into_owned(),
            Err(err) => {
                return (axum::http::StatusCode::BAD_REQUEST, err.to_string()).into_response()
            }
        };
        return answer(
            State(shared),
            parts.method,
            parts.headers,
            parts.uri,
            Query(query),
            body,
        )
        .await;
    };
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let method = parts.method.to_string();
    let body = match axum::body::to_bytes(body, 1 << 24).await {
        Ok(body) => body,
        Err(err) => return (axum::http::StatusCode::BAD_REQUEST, err.to_string()).into_response(),
    };
    shared.received.lock().expect("lock").push(Outbound {
        host: host.clone(),
        target: target.clone(),
        method,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut outgoing = shared
        .client
        .request(parts.method, format!("http://{to}{target}"))
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            outgoing = outgoing.header(name, value);
        }
    }
    match outgoing.send().await {
        Ok(reply) => {
            let mut response = Response::builder().status(reply.status());
            for (name, value) in reply.headers() {
                if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                    response = response.header(name, value);
                }
            }
            response
                .body(Body::from_stream(reply.bytes_stream()))
                .expect("a valid response")
        }
        Err(err) => (axum::http::StatusCode::BAD_GATEWAY, err.to_string()).into_response(),
    }
}

async fn answer(
    State(shared): State<Shared>,
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
    shared.received.lock().expect("lock").push(Outbound {
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
        ("slow.weather.test", "/v1/slow") | ("slow.shop.test", _) => {
            // Longer than any tool's timeout; the Worker gives up first.
            let mut in_flight = InFlight::enter(&shared.slow);
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            in_flight.finished = true;
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
