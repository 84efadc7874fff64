//! The Workers platform adapter: the fetch handler, the Durable Objects of sessions and of rate
//! limiters, the Cache API and the AI binding. Everything here is glue between `worker` types and
//! the host-tested logic.

#[cfg(any(feature = "http-tools", feature = "mcp"))]
mod abort;
mod ai;
mod analytics;
#[cfg(feature = "approvals")]
mod approvals;
mod backend;
mod cache;
mod completions;
#[cfg(feature = "http-tools")]
mod fetch_tool;
mod frames;
mod http;
mod limiter;
#[cfg(feature = "mcp")]
mod mcp;
#[cfg(feature = "page")]
mod page;
mod respond;
mod session;
mod transcript;

pub use http::handle;
#[cfg(feature = "page")]
pub use page::handle_with_page;
pub use session::SessionObject;

/// The whole body of a small response from one of the Worker's own parts (a rate limiter's
/// verdict, a cached answer) as text, read by the platform in one step. `worker::Response::text`
/// reads a streamed body chunk by chunk through a reader it then releases, several crossings
/// between JS and wasm for a body of a hundred bytes.
async fn body_text(response: worker::Response) -> worker::Result<String> {
    let response: worker::web_sys::Response = response.into();
    let text = worker::wasm_bindgen_futures::JsFuture::from(response.text()?).await?;
    text.as_string()
        .ok_or_else(|| worker::Error::RustError("the body is not text".into()))
}

/// Sends a request to the object `name` of the sessions namespace (a session or a rate
/// limiter) with the stub's own `fetch(url, init)`. worker's `Env::durable_object` checks the
/// binding's constructor by name and `Request::new_with_init` makes a `Request` only to convert
/// it back (its `cf` included): platform calls on every turn that this path does not make.
async fn object_fetch(
    env: &worker::Env,
    name: &str,
    method: &str,
    url: &str,
    body: Option<&[u8]>,
) -> worker::Result<worker::Response> {
    use wasm_bindgen::{JsCast, JsValue};
    #[wasm_bindgen::prelude::wasm_bindgen]
    extern "C" {
        type Namespace;
        #[wasm_bindgen(method, catch, js_name = getByName)]
        fn get_by_name(this: &Namespace, name: &str) -> Result<ObjectStub, JsValue>;
        type ObjectStub;
        #[wasm_bindgen(method, catch)]
        fn fetch(
            this: &ObjectStub,
            url: &str,
            init: &worker::web_sys::RequestInit,
        ) -> Result<worker::js_sys::Promise, JsValue>;
    }
    let env: &JsValue = env.as_ref();
    let namespace = worker::js_sys::Reflect::get(env, &JsValue::from_str(SESSIONS_BINDING))?;
    if namespace.is_undefined() {
        return Err(worker::Error::RustError(format!(
            "the Worker has no binding {SESSIONS_BINDING}"
        )));
    }
    let stub = namespace.unchecked_into::<Namespace>().get_by_name(name)?;
    let init = worker::web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = body {
        init.set_body(&worker::js_sys::Uint8Array::from(body));
    }
    let response = worker::wasm_bindgen_futures::JsFuture::from(stub.fetch(url, &init)?).await?;
    Ok(response
        .unchecked_into::<worker::web_sys::Response>()
        .into())
}

/// The Durable Object namespace binding that holds sessions, and the callers' rate limiters
/// (see `wrangler.toml`).
pub const SESSIONS_BINDING: &str = "SESSIONS";
/// The Workers AI binding.
pub const AI_BINDING: &str = "AI";
/// An optional Workers Analytics Engine dataset binding that receives one data point per turn.
pub const ANALYTICS_BINDING: &str = "AGENTC_ANALYTICS";
