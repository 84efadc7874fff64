//! Tools from Model Context Protocol servers: the client side of MCP over Streamable HTTP.
//!
//! An agent file lists servers (`mcp:`) and the tools of each that its model may use; each
//! becomes a [`ToolSpec`](crate::agent::ToolSpec) of kind `Mcp` named `<server>_<tool>`.
//! [`protocol`] is the wire format (JSON-RPC 2.0, replies as JSON or as SSE, version
//! negotiation, what a tool result means for the model); [`client`] holds sessions and tool
//! lists per isolate and calls tools over a [`client::Transport`], which the platform
//! implements with `fetch` (and `agentc mcp pull` with a native client); [`headers`] fills the
//! secrets into header values. This module is plain Rust; the platform's part is behind the
//! runtime's `mcp` feature. Not supported yet: server-to-client requests (sampling,
//! elicitation, roots), the standalone GET stream and resumption, resources and prompts,
//! OAuth (tokens are static headers), and the retired HTTP+SSE transport.

pub mod client;
pub mod headers;
pub mod protocol;

pub use client::{Registry, Reply, Transport};
