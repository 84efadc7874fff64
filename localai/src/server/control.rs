//! The control endpoints under `/_localai/` that tests use to script the
//! engine, inspect what it received and release held streams.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::json_response;
use crate::script::Script;
use crate::LocalAi;

/// `GET /_localai/requests`: every model request, in arrival order.
pub(super) async fn requests(State(ai): State<LocalAi>) -> Response {
    json_response(StatusCode::OK, &ai.recorded_requests())
}

/// `DELETE /_localai/requests`: forgets the recorded requests.
pub(super) async fn clear_requests(State(ai): State<LocalAi>) -> Response {
    ai.clear_requests();
    json_response(StatusCode::OK, &json!({"ok": true}))
}

/// `PUT /_localai/script`: replaces the script, restarts it and clears the
/// recorded requests.
pub(super) async fn put_script(State(ai): State<LocalAi>, body: Bytes) -> Response {
    let script = match serde_json::from_slice::<Script>(&body) {
        Ok(script) => script,
        Err(e) => {
            let error = format!("malformed script: {e}");
            return json_response(StatusCode::BAD_REQUEST, &json!({"error": error}));
        }
    };
    let replies = script.replies.len();
    match ai.set_script(script) {
        Ok(()) => json_response(StatusCode::OK, &json!({"ok": true, "replies": replies})),
        Err(e) => json_response(StatusCode::CONFLICT, &json!({"error": e.to_string()})),
    }
}

/// `POST /_localai/release`: releases held streams.
pub(super) async fn release(State(ai): State<LocalAi>) -> Response {
    match ai.release() {
        Ok(releases) => json_response(StatusCode::OK, &json!({"ok": true, "releases": releases})),
        Err(e) => json_response(StatusCode::CONFLICT, &json!({"error": e.to_string()})),
    }
}

/// `GET /_localai/health`: liveness and the engine in use.
pub(super) async fn health(State(ai): State<LocalAi>) -> Response {
    let mut body = json!({"ok": true, "mode": ai.engine().mode()});
    if let Some(engine) = ai.engine().as_llama() {
        if let (Some(body), serde_json::Value::Object(health)) =
            (body.as_object_mut(), engine.health())
        {
            body.extend(health);
        }
    }
    json_response(StatusCode::OK, &body)
}
