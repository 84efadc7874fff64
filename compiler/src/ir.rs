//! The intermediate representation between validation and code generation.
//!
//! Everything codegen needs is here, already checked and with defaults applied; codegen never
//! sees YAML. Collections are ordered (agents by name) so generated output is deterministic.

use std::path::PathBuf;

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
}

/// Which model an agent talks to, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub id: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

/// How much of the conversation goes back to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Stored messages sent with each new message.
    pub window: u32,
}
