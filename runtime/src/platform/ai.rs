//! The Workers AI binding, called with JSON text.
//!
//! `worker::Ai::run` converts its input with serde-wasm-bindgen, which turns maps into JS `Map`s
//! that the binding sends as `{}`. Parsing our own JSON with `JSON.parse` gives plain objects.

use wasm_bindgen::JsCast;
use worker::js_sys::{Function, Promise, Reflect, JSON};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{ByteStream, Env};

/// Starts a streamed model call and returns the model's server-sent events as bytes.
pub async fn run_streaming(
    env: &Env,
    model: &str,
    inputs_json: &str,
) -> Result<ByteStream, String> {
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
    let stream: worker::web_sys::ReadableStream = output
        .dyn_into()
        .map_err(|_| "the model did not return a stream".to_string())?;
    Ok(ByteStream::from(stream))
}

/// The message of a thrown JS value.
fn js_message(value: wasm_bindgen::JsValue) -> String {
    if let Some(err) = value.dyn_ref::<worker::js_sys::Error>() {
        return String::from(err.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
