//! `agentc test`: conversation and contract tests of agents, declared in `*.test.yaml` files.
//!
//! A test file names an agent and lists cases; each case is a conversation of turns, each turn a
//! request (usually a user message) and what must hold of the answer: its text, its tool calls,
//! the model and route that answered, its status and headers. The parts, one direction:
//! - [`load`]: a test file → [`TestFile`], through the same YAML loader, JSON Schema mapping
//!   (`schema/test.schema.json`) and diagnostics as agent files, then checks against the
//!   agents it tests (known agent and tools, valid regexes and schemas);
//! - [`run`]: the runner, over a [`run::Target`] (where requests go): fresh sessions per case,
//!   `repeat` and `pass_rate`, the [`report::Report`];
//! - [`assert`]: the assertions, evaluated on one [`outcome::Outcome`] (an answer as read);
//! - [`report`]: the report rendered for people, as JSON, or as JUnit XML;
//! - [`client`] (HTTP) and [`local`] (the compiled Worker on workerd with localai, as
//!   `agentc dev` runs it): the targets; [`cli`]: the subcommand.
//!
//! Everything but `client`, `local` and `cli` is plain logic, tested on the host.

pub mod assert;
pub mod cli;
pub mod client;
pub mod load;
pub mod local;
pub mod outcome;
pub mod report;
pub mod run;
mod unknown;

use serde_json::Value as Json;
use std::path::PathBuf;

/// The JSON Schema of test files, as committed (printed by `agentc schema --test`).
pub const SCHEMA: &str = include_str!("../../../schema/test.schema.json");

/// One checked test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// As shown to the user.
    pub path: PathBuf,
    pub agent: String,
    pub cases: Vec<Case>,
}

/// One case: a conversation on fresh sessions, run `repeat` times.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    /// The line of the case in its file.
    pub line: usize,
    pub repeat: u32,
    /// The share of runs that must pass.
    pub pass_rate: f64,
    /// Scripted model replies (localai's script format); `None`: the target's own model.
    pub replies: Option<Vec<Json>>,
    /// JSON bodies that HTTP tools' requests are answered with, by tool name.
    pub tool_results: Vec<(String, Json)>,
    pub turns: Vec<Turn>,
}

impl Case {
    /// Whether the case needs a target it can control (a scripted model, tool results).
    pub fn needs_local(&self) -> bool {
        self.replies.is_some() || !self.tool_results.is_empty()
    }
}

/// One request of a case and what must hold of its answer.
#[derive(Debug, Clone)]
pub struct Turn {
    /// The line of the turn in its file.
    pub line: usize,
    /// The user's message, padded as the file says.
    pub user: Option<String>,
    pub new_session: bool,
    /// The file's, the case's and the turn's request settings, merged.
    pub request: RequestSpec,
    pub expect: Expect,
}

/// How a turn's request is made.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSpec {
    pub method: String,
    /// With `{agent}` and `{session}` placeholders.
    pub path: String,
    /// Lowercase names in file order; `None` leaves the header out.
    pub headers: Vec<(String, Option<String>)>,
    pub body: Option<Body>,
}

impl Default for RequestSpec {
    fn default() -> Self {
        RequestSpec {
            method: "POST".into(),
            path: "/agents/{agent}/chat".into(),
            headers: Vec::new(),
            body: None,
        }
    }
}

/// A raw request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Text(String),
    Json(Json),
}

/// What must hold of one answer. Empty fields assert nothing.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub status: Option<u16>,
    /// Lowercase names.
    pub headers: Vec<(String, HeaderExpect)>,
    pub contains: Vec<String>,
    pub not_contains: Vec<String>,
    pub ignore_case: bool,
    pub matches: Option<regex_lite::Regex>,
    pub tool_called: Vec<ToolCallExpect>,
    pub tool_sequence: Option<Vec<String>>,
    pub no_tool_calls: bool,
    pub steps_at_most: Option<u64>,
    pub model: Option<String>,
    pub route: Option<String>,
    pub cache: Option<String>,
    pub error: Option<String>,
    pub max_latency: Option<Latency>,
    /// Known to compile.
    pub json_schema: Option<Json>,
}

/// What a response header must be.
#[derive(Debug, Clone)]
pub enum HeaderExpect {
    Equals(String),
    Matches(regex_lite::Regex),
    Absent,
}

/// A tool call a turn must contain.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCallExpect {
    pub name: String,
    /// A JSON object the call's arguments must include.
    pub arguments: Option<Json>,
}

/// `max_latency_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub limit_ms: u64,
    /// Fail the turn when exceeded, rather than only report it.
    pub fail: bool,
}
