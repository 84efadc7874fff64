//! What a generated Worker tells the runtime about each of its agents.

use crate::tools::template::Template;
use std::future::Future;
use std::pin::Pin;

/// One agent, as compiled from its `agents/*.yaml` file. Generated code holds a `static` slice of
/// these; the runtime never reads YAML.
#[derive(Debug, Clone, Copy)]
pub struct AgentSpec {
    /// The agent's name, the `{agent}` of `/agents/{agent}/...`.
    pub name: &'static str,
    /// What the agent does, in the user's words.
    pub description: &'static str,
    /// The Workers AI model id the agent talks to.
    pub model: &'static str,
    /// The system prompt sent first in every model call: text, or a template over `now`,
    /// `agent` and `session` compiled into Rust.
    pub system: crate::tools::template::Prompt,
    /// How many stored messages are sent to the model with a new message.
    pub history_window: u32,
    /// The most tokens the model may produce in one reply.
    pub max_tokens: u32,
    /// Sampling temperature, or the model's default when `None`.
    pub temperature: Option<f32>,
    /// The most model calls in one turn: each round of tool calls takes one more.
    pub max_steps: u32,
    /// The tools the model may call.
    pub tools: &'static [ToolSpec],
    /// Routing, fallbacks, cache, rate limit, auth, CORS and input limits.
    pub policy: crate::policy::Policy,
}

/// Finds an agent by name.
pub fn find<'a>(agents: &'a [AgentSpec], name: &str) -> Option<&'a AgentSpec> {
    agents.iter().find(|agent| agent.name == name)
}

impl AgentSpec {
    /// Finds one of the agent's tools by name.
    pub fn tool(&self, name: &str) -> Option<&'static ToolSpec> {
        self.tools.iter().find(|tool| tool.name == name)
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, Copy)]
pub struct ToolSpec {
    /// A function identifier, unique within its agent.
    pub name: &'static str,
    /// What the tool does, for the model.
    pub description: &'static str,
    /// The arguments' JSON Schema, as JSON text. It is sent to the model and checked against
    /// the model's arguments before the tool runs.
    pub parameters: &'static str,
    pub kind: ToolKind,
    /// When set, a call waits for a person's approval before it runs (see [`crate::approval`]).
    pub approval: Option<Approval>,
}

/// How a tool's calls wait for approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    /// How long a pending call may wait; after that it can no longer be approved.
    pub expires_secs: u64,
}

impl Approval {
    /// A day, unless the agent declares otherwise.
    pub const DEFAULT_EXPIRES_SECS: u64 = 24 * 60 * 60;
}

/// How a tool runs.
#[derive(Debug, Clone, Copy)]
pub enum ToolKind {
    /// A declarative HTTP request.
    Http(HttpToolSpec),
    /// A tool built into the runtime.
    Builtin(Builtin),
    /// A Rust function of the project, wrapped by generated code that decodes its typed
    /// arguments.
    Rust(RustTool),
    /// A tool of a Model Context Protocol server.
    Mcp(McpToolSpec),
}

/// A tool of an MCP server, as the agent file allows it.
#[derive(Debug, Clone, Copy)]
pub struct McpToolSpec {
    pub server: &'static McpServerSpec,
    /// The tool's name on its server (the model calls it `<server>_<tool>`).
    pub tool: &'static str,
    /// Whether `description` and `parameters` come from the lock file (`agentc mcp pull`);
    /// otherwise they are taken from the server's `tools/list` at run time.
    pub locked: bool,
}

/// An MCP server reached over Streamable HTTP. Header values are minijinja templates over
/// `secrets` (the secrets the agent declares).
#[derive(Debug, Clone, Copy)]
pub struct McpServerSpec {
    pub name: &'static str,
    pub url: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    /// How long one request to the server may take.
    pub timeout_ms: u32,
    /// The URL's host, which may be loopback or private because the file names it.
    pub allow_hosts: &'static [&'static str],
    /// The Worker secrets the header templates may read.
    pub secrets: &'static [&'static str],
}

/// The tools built into the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// The current time, in UTC or a given time zone.
    Clock,
    /// Arithmetic on an expression, without eval.
    Calculator,
}

/// A declarative HTTP tool. `url`, header values and `body` are templates compiled into Rust,
/// whose context is `args` (the model's arguments), `secrets` (the secrets the agent declares)
/// and `now`.
#[derive(Debug, Clone, Copy)]
pub struct HttpToolSpec {
    pub method: &'static str,
    pub url: Template,
    pub headers: &'static [(&'static str, Template)],
    pub body: Option<Template>,
    pub timeout_ms: u32,
    /// Hosts the request may reach even though they are private or loopback.
    pub allow_hosts: &'static [&'static str],
    /// Responses longer than this are cut off and marked as truncated.
    pub max_response_bytes: u32,
    /// The Worker secrets this tool's templates may read.
    pub secrets: &'static [&'static str],
}

/// The future a Rust tool returns: its result as JSON, or an error message for the model.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, String>>>>;

/// A Rust tool: takes the model's arguments (already checked against the parameters).
#[derive(Clone, Copy)]
pub struct RustTool(pub fn(serde_json::Value) -> ToolFuture);

impl std::fmt::Debug for RustTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RustTool")
    }
}
