//! The runtime every agentc-generated Worker is built on.
//!
//! A generated Worker crate holds only data (its agents as [`AgentSpec`]s) and two thin entry
//! points; everything an agent does at run time lives here. The logic (routing of the public HTTP
//! API, request validation, the prompt and its history window, decoding the model's stream, SSE
//! framing, the turn's state) is plain Rust with no `worker` types, so it is tested natively on the
//! host. So is the request policy an agent declares ([`policy`]): routing and fallbacks, the
//! response cache key, the rate-limit counters, API-key auth, CORS, input limits and the turn's
//! log line. The [`platform`] module, behind the `worker` feature, is the only place that touches
//! the Workers platform: the fetch handler, the per-session and rate-limiter Durable Objects, the
//! Cache API and the AI binding.
//!
//! Browser clients: `ui_stream` (feature `ui-stream`) speaks the AI SDK's UI message stream (what
//! `useChat` reads) on the chat endpoint, and `page` (feature `page`) is the chat page served at
//! `/`.

pub mod agent;
pub mod answer;
pub mod api;
pub mod approval;
pub mod auth;
pub mod cache;
pub mod cors;
pub mod history;
pub mod limits;
pub mod mcp;
pub mod model;
pub mod object_url;
pub mod observe;
pub mod openai;
pub mod ownership;
#[cfg(any(feature = "page", test))]
pub mod page;
pub mod policy;
pub mod ratelimit;
pub mod recent;
pub mod routing;
pub mod sse;
pub mod step;
pub mod tools;
pub mod turn;
#[cfg(feature = "ui-stream")]
pub mod ui_stream;
pub mod written;

#[cfg(feature = "worker")]
pub mod platform;

pub use agent::AgentSpec;
