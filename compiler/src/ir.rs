//! The intermediate representation between validation and code generation.
//!
//! Everything codegen needs is here, already checked and with defaults applied; codegen never
//! sees YAML. Collections are ordered (agents by name) so generated output is deterministic.

use std::path::PathBuf;

pub mod names;

/// All agents of a project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Sorted by name; names are unique.
    pub agents: Vec<Agent>,
}

/// One agent, ready to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub name: String,
    pub description: Option<String>,
    /// The agent file, relative to the project root, with `/` separators.
    pub source: PathBuf,
    pub model: Model,
    pub system: String,
    pub history: History,
    /// The most model calls in one turn (the tool-loop bound).
    pub max_steps: u32,
    /// Worker secrets that tool templates may read as `secrets.NAME`.
    pub secrets: Vec<String>,
    pub tools: Vec<Tool>,
    /// Tried in order; the first that matches wins.
    pub routes: Vec<Route>,
    pub cache: Option<Cache>,
    pub rate_limit: Option<RateLimit>,
    pub auth: Option<Auth>,
    pub cors: Option<Cors>,
    pub limits: Limits,
    /// Whether the chat page at `/` of the deployed Worker lists the agent (under `agentc dev`
    /// the page lists every agent).
    pub page: bool,
    /// Whether the chat endpoint also speaks the AI SDK's UI message stream (`ai_sdk: true`;
    /// every agent under `agentc dev`).
    pub ai_sdk: bool,
    /// The most tool calls run in one step.
    pub max_tool_calls: u32,
    /// Whether `tool_result` events carry results to the client.
    pub stream_tool_results: bool,
    /// Clients name sessions themselves (`sessions: { client_ids: true }`).
    pub client_session_ids: bool,
    /// MCP servers whose allowed tools the model may call, in file order.
    pub mcp: Vec<McpServer>,
    /// How long a call that waits for approval may wait, in seconds.
    pub approval_expires_secs: u64,
}

/// An MCP server reached over Streamable HTTP.
#[derive(Debug, Clone, PartialEq)]
pub struct McpServer {
    /// Unique within the agent; its tools are offered as `<name>_<tool>`.
    pub name: String,
    pub url: String,
    /// Header name and value template (over `secrets`), in file order.
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u32,
    /// The URL's host (with its port, if the URL has one).
    pub allow_hosts: Vec<String>,
    /// The allowed tools, in file order.
    pub tools: Vec<McpTool>,
}

/// One allowed tool of an MCP server.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// Its name on the server.
    pub name: String,
    /// The name the model calls it by: `<server>_<tool>`, any `-` or `.` made `_`.
    pub offered: String,
    pub approval: bool,
    /// Its description and parameters from the agent's lock file, when there is one.
    pub locked: Option<LockedTool>,
}

/// A tool as `agentc mcp pull` recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct LockedTool {
    pub description: String,
    /// The tool's `inputSchema`.
    pub parameters: serde_json::Value,
}

impl McpServer {
    /// The name the model calls a tool of the server by.
    pub fn offered_name(server: &str, tool: &str) -> String {
        format!("{server}_{tool}").replace(['-', '.'], "_")
    }
}

/// Which model an agent talks to, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub id: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    /// Models tried in order when this one fails or is overloaded.
    pub fallbacks: Vec<String>,
}

/// How much of the conversation goes back to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Stored messages sent with each new message.
    pub window: u32,
    /// The most messages a session stores.
    pub keep: u32,
    /// The most (estimated) tokens of history sent with a new message.
    pub max_tokens: u32,
}

// The parts of an agent beyond its model, prompt and history. Codegen may ignore any of them
// until the runtime implements it; every value here is checked and has its defaults applied.

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// A valid identifier, unique within the agent.
    pub name: String,
    /// Empty for builtin tools, which describe themselves.
    pub description: String,
    /// The arguments as a JSON Schema object (`{"type": "object", "properties": ..., "required":
    /// ...}`), keys sorted.
    pub parameters: serde_json::Value,
    pub kind: ToolKind,
    /// Whether calls wait for a person's approval (`approval: required`).
    pub approval: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolKind {
    Http(HttpTool),
    /// A Rust function of the project, by path (`tools::orders::lookup`).
    Rust {
        path: String,
    },
    Builtin(Builtin),
}

/// A declarative HTTP call. `url`, header values and `body` are templates over `args`,
/// `secrets` and `now`, already checked to parse and to use only known names.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTool {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    pub url: String,
    /// Header name and value template, in file order.
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub timeout_ms: u32,
    /// The hosts the rendered URL may reach (the URL's own host when the file gives none).
    pub allow_hosts: Vec<String>,
    pub max_response_bytes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    Clock,
    Calculator,
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    pub when: Condition,
    /// The model for matching messages; `None` keeps the agent's.
    pub model: Option<String>,
    /// The tools offered for matching messages; `None` offers all of the agent's.
    pub tools: Option<Vec<String>>,
}

/// Conditions that must all hold; an empty condition always matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Condition {
    pub max_chars: Option<u32>,
    pub min_chars: Option<u32>,
    /// A regex in regex-lite syntax, known to compile.
    pub matches: Option<String>,
    pub needs_tools: Option<bool>,
    pub header: Option<HeaderMatch>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeaderMatch {
    /// Lowercase.
    pub name: String,
    pub test: HeaderTest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeaderTest {
    Equals(String),
    /// A regex in regex-lite syntax, known to compile.
    Matches(String),
}

/// Exact-match caching of first answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cache {
    pub ttl_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    ApiKey,
    Ip,
    Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per: RateKey,
    /// Messages per window.
    pub limit: u32,
    pub window_secs: u64,
    /// Model tokens per window, when limited.
    pub token_budget: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// The secret holding SHA-256 hex digests of the accepted keys, one per line.
    pub api_keys_secret: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_credentials: bool,
    pub allow_headers: Vec<String>,
    pub max_age_secs: u64,
}

/// Bounds on each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_input_chars: u32,
    pub max_body_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_chars: 8000,
            max_body_bytes: 65536,
        }
    }
}
