//! The Workers platform adapter: the fetch handler, the per-session Durable Object and the AI
//! binding. Everything here is glue between `worker` types and the host-tested logic.

mod ai;
mod backend;
mod fetch_tool;
mod http;
mod respond;
mod session;

pub use http::handle;
pub use session::SessionObject;

/// The Durable Object namespace binding that holds sessions (see `wrangler.toml`).
pub const SESSIONS_BINDING: &str = "SESSIONS";
/// The Workers AI binding.
pub const AI_BINDING: &str = "AI";
