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

/// The Durable Object namespace binding that holds sessions, and the callers' rate limiters
/// (see `wrangler.toml`).
pub const SESSIONS_BINDING: &str = "SESSIONS";
/// The Workers AI binding.
pub const AI_BINDING: &str = "AI";
/// An optional Workers Analytics Engine dataset binding that receives one data point per turn.
pub const ANALYTICS_BINDING: &str = "AGENTC_ANALYTICS";
