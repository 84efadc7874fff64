//! The two Workers AI surfaces: the binding's internal `POST /run` and the
//! public REST API. Both return the same result, streamed or not; the REST
//! API wraps a non-streamed result in Cloudflare's envelope.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::{stream, Stream, StreamExt};
use serde_json::{json, Map, Value};

use super::errors::ApiError;
use super::{json_response, parse_object, truncated_json_response};
use crate::engine::{Event, Generation};
use crate::sse;
use crate::wire::{AiResult, AiStreamEvent, Endpoint, RecordedRequest, Usage};
use crate::LocalAi;

/// The header in which the binding names the model.
const MODEL_HEADER: &str = "cf-consn-model-id";

/// Which of the two surfaces is answering.
#[derive(Clone, Copy)]
enum Surface {
    Binding,
    Rest,
}

impl Surface {
    fn error(self, error: &ApiError) -> Response {
        match self {
            Surface::Binding => error.binding(),
            Surface::Rest => error.rest(),
        }
    }

    fn wrap(self, result: AiResult) -> Value {
        let result = serde_json::to_value(result).expect("results always serialize");
        match self {
            Surface::Binding => result,
            Surface::Rest => json!({
                "result": result,
                "success": true,
                "errors": [],
                "messages": [],
            }),
        }
    }
}

/// `POST /run?version=3` with the model in the `cf-consn-model-id` header and
/// a body of `{"inputs": {...}, "options": {...}}`.
pub(super) async fn binding(
    State(ai): State<LocalAi>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match binding_request(&headers, &body) {
        Ok(request) => answer(&ai, request, Surface::Binding).await,
        Err(error) => error.binding(),
    }
}

fn binding_request(headers: &HeaderMap, body: &[u8]) -> Result<RecordedRequest, ApiError> {
    let model = headers
        .get(MODEL_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| ApiError::bad_request(format!("missing the {MODEL_HEADER} header")))?;
    let mut body = parse_object(body)?;
    let inputs = match body.remove("inputs") {
        Some(inputs @ Value::Object(_)) => inputs,
        _ => return Err(ApiError::bad_request("`inputs` must be a JSON object")),
    };
    let options = body
        .remove("options")
        .unwrap_or_else(|| Value::Object(Map::new()));
    Ok(RecordedRequest {
        endpoint: Endpoint::Binding,
        model: model.to_string(),
        inputs,
        options,
    })
}

/// `POST /client/v4/accounts/{account}/ai/run/{model}` with the inputs as
/// the body.
pub(super) async fn rest(
    State(ai): State<LocalAi>,
    Path((_account, model)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let inputs = match parse_object(&body) {
        Ok(inputs) => inputs,
        Err(error) => return error.rest(),
    };
    let request = RecordedRequest {
        endpoint: Endpoint::Rest,
        model,
        inputs: Value::Object(inputs),
        options: Value::Object(Map::new()),
    };
    answer(&ai, request, Surface::Rest).await
}

/// How long a streamed answer stays silent before a keep-alive comment: well within the
/// Worker's idle bound on a model's stream (`agentc_runtime::turn::MODEL_IDLE_TIMEOUT_MS`).
const KEEP_ALIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

async fn answer(ai: &LocalAi, request: RecordedRequest, surface: Surface) -> Response {
    let stream = request.stream();
    let generation = match ai.run(request) {
        Ok(generation) => generation,
        Err(error) => return surface.error(&error.into()),
    };
    if stream {
        return sse::response(sse::with_keep_alive(frames(generation), KEEP_ALIVE_EVERY));
    }
    let collected = generation.collect().await;
    let result = AiResult {
        response: collected.text,
        usage: collected.usage.unwrap_or(Usage::new(0, 0)),
        tool_calls: collected.tool_calls,
    };
    let body = surface.wrap(result);
    match collected.usage {
        Some(_) => json_response(StatusCode::OK, &body),
        None => truncated_json_response(&body),
    }
}

/// Frames a generation as Workers AI events: one per text chunk, one for the
/// tool calls, then the usage event and `[DONE]`.
fn frames(generation: Generation) -> impl Stream<Item = Bytes> {
    generation.into_stream().flat_map(|event| {
        let frames = match event {
            Event::Text(text) => vec![sse::data(&AiStreamEvent {
                response: &text,
                tool_calls: None,
                usage: None,
            })],
            Event::ToolCalls(calls) => vec![sse::data(&AiStreamEvent {
                response: "",
                tool_calls: Some(&calls),
                usage: None,
            })],
            Event::Done(usage) => vec![
                sse::data(&AiStreamEvent {
                    response: "",
                    tool_calls: None,
                    usage: Some(usage),
                }),
                sse::done(),
            ],
        };
        stream::iter(frames)
    })
}
