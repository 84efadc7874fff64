//! The Workers AI binding, called with JSON text, and its answer read as a stream of bytes.
//!
//! `worker::Ai::run` converts its input with serde-wasm-bindgen, which turns maps into JS `Map`s
//! that the binding sends as `{}`. Parsing our own JSON with `JSON.parse` gives plain objects.
//! The answer is read with the stream's own reader, one `read()` per chunk ([`ModelStream`]);
//! `worker::ByteStream` (wasm-streams) also released the reader's lock and cancelled the stream
//! when a turn stopped reading at `[DONE]`, two more calls into JS per model call.

use futures_util::Stream;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use wasm_bindgen::JsCast;
use worker::js_sys::{Function, Promise, Reflect, Uint8Array, JSON};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// A model's answer, chunk by chunk. Dropped before its end (the client went away, the stream
/// stalled), it cancels the stream, so the platform stops receiving it; dropped after the
/// event stream's last event (`data: [DONE]`), there is nothing left to stop.
pub struct ModelStream {
    reader: wasm_bindgen::JsValue,
    read: Function,
    pending: Option<JsFuture>,
    /// The stream ended (or failed).
    ended: bool,
    /// The last chunk ended with `[DONE]`: nothing to cancel when dropped.
    complete: bool,
}

impl ModelStream {
    fn new(stream: &wasm_bindgen::JsValue) -> Result<Self, String> {
        let get_reader: Function = Reflect::get(stream, &"getReader".into())
            .map_err(js_message)?
            .dyn_into()
            .map_err(|_| "the model did not return a stream".to_string())?;
        let reader = get_reader.call0(stream).map_err(js_message)?;
        let read: Function = Reflect::get(&reader, &"read".into())
            .map_err(js_message)?
            .dyn_into()
            .map_err(|_| "the model's stream has no reader".to_string())?;
        Ok(ModelStream {
            reader,
            read,
            pending: None,
            ended: false,
            complete: false,
        })
    }
}

impl Stream for ModelStream {
    type Item = Result<Vec<u8>, String>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        let pending = match &mut this.pending {
            Some(pending) => pending,
            None => match this.read.call0(&this.reader) {
                Ok(promise) => this.pending.insert(JsFuture::from(Promise::from(promise))),
                Err(err) => {
                    this.ended = true;
                    return Poll::Ready(Some(Err(js_message(err))));
                }
            },
        };
        let result = match Pin::new(pending).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        this.pending = None;
        let result = match result {
            Ok(result) => result,
            Err(err) => {
                this.ended = true;
                return Poll::Ready(Some(Err(js_message(err))));
            }
        };
        let done = Reflect::get(&result, &"done".into()).is_ok_and(|d| d.is_truthy());
        if done {
            this.ended = true;
            return Poll::Ready(None);
        }
        let chunk = Reflect::get(&result, &"value".into())
            .ok()
            .and_then(|value| value.dyn_into::<Uint8Array>().ok());
        Poll::Ready(Some(match chunk {
            Some(chunk) => {
                let chunk = chunk.to_vec();
                // Read on, the stream ends here; dropped now, it needs no cancelling.
                this.complete = crate::model::ends_with_done(&chunk);
                Ok(chunk)
            }
            None => Err("the model's stream sent something other than bytes".into()),
        }))
    }
}

impl Drop for ModelStream {
    fn drop(&mut self) {
        if self.ended || (self.complete && self.pending.is_none()) {
            return;
        }
        if let Ok(cancel) = Reflect::get(&self.reader, &"cancel".into()) {
            if let Ok(cancel) = cancel.dyn_into::<Function>() {
                // The promise it returns is of no interest: nothing more is read.
                let _ = cancel.call0(&self.reader);
            }
        }
    }
}

/// Starts a streamed model call and returns the model's server-sent events as bytes.
pub async fn run_streaming(
    env: &Env,
    model: &str,
    inputs_json: &str,
) -> Result<ModelStream, String> {
    let ai = env
        .ai(super::AI_BINDING)
        .map_err(|err| format!("the {} binding is missing: {err}", super::AI_BINDING))?;
    let ai: &wasm_bindgen::JsValue = ai.as_ref();
    let inputs = JSON::parse(inputs_json).map_err(js_message)?;
    let run: Function = Reflect::get(ai, &"run".into())
        .map_err(js_message)?
        .dyn_into()
        .map_err(|_| "the AI binding has no run method".to_string())?;
    let promise: Promise = run
        .call2(ai, &model.into(), &inputs)
        .map_err(js_message)?
        .dyn_into()
        .map_err(|_| "AI.run did not return a promise".to_string())?;
    let output = JsFuture::from(promise).await.map_err(js_message)?;
    ModelStream::new(&output)
}

/// The message of a thrown JS value.
fn js_message(value: wasm_bindgen::JsValue) -> String {
    if let Some(err) = value.dyn_ref::<worker::js_sys::Error>() {
        return String::from(err.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
