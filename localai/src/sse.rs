//! Server-sent event framing and the streaming HTTP response that carries it.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Serialize;

/// The content type of every streamed reply.
pub const CONTENT_TYPE_SSE: &str = "text/event-stream";

/// The event that ends a complete stream.
pub const DONE: &str = "data: [DONE]\n\n";

/// Frames one JSON value as a `data: ...` event followed by a blank line.
pub fn data(value: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(value).expect("wire types always serialize");
    Bytes::from(format!("data: {json}\n\n"))
}

/// Frames the closing `data: [DONE]` event.
pub fn done() -> Bytes {
    Bytes::from_static(DONE.as_bytes())
}

/// Builds a 200 response whose body sends each frame to the client as soon as
/// the stream yields it.
pub fn response<S>(frames: S) -> Response
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let body = Body::from_stream(frames.map(Ok::<_, Infallible>));
    (
        [
            (CONTENT_TYPE, CONTENT_TYPE_SSE),
            (CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
