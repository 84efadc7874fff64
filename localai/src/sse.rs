//! Server-sent event framing and the streaming HTTP response that carries it.

use std::convert::Infallible;
use std::time::Duration;

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

/// The comment sent while a stream has nothing else to say.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// `frames`, with a [`KEEP_ALIVE`] comment whenever `every` passes without a frame. A model on
/// a slow CPU can take longer to read a long prompt (or to decide between a tool call and text)
/// than a client waits for a silent stream; SSE readers ignore comments.
pub fn with_keep_alive<S>(frames: S, every: Duration) -> impl Stream<Item = Bytes> + Send
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    futures_util::stream::unfold(Box::pin(frames), move |mut frames| async move {
        // Waiting on `next` is cancel-safe: a frame not yet ready stays in the stream.
        match tokio::time::timeout(every, frames.next()).await {
            Ok(Some(frame)) => Some((frame, frames)),
            Ok(None) => None,
            Err(_) => Some((Bytes::from_static(KEEP_ALIVE.as_bytes()), frames)),
        }
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_silent_stream_sends_keep_alives_until_its_frames_come() {
        let (send, receive) = tokio::sync::mpsc::channel::<Bytes>(1);
        let frames = tokio_stream::wrappers::ReceiverStream::new(receive);
        let out = with_keep_alive(frames, Duration::from_millis(10));
        let producer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            send.send(done()).await.unwrap();
        });
        let got: Vec<Bytes> = out.collect().await;
        producer.await.unwrap();
        let (last, before) = got.split_last().unwrap();
        assert_eq!(last, &done());
        assert!(!before.is_empty(), "{got:?}");
        assert!(before.iter().all(|b| b == KEEP_ALIVE.as_bytes()), "{got:?}");
    }
}
