//! MCP lock files: the tool lists of an agent's MCP servers as `agentc mcp pull` recorded them,
//! in `<agent>.mcp-lock.json` next to the agent file.
//!
//! With a lock file, `agentc check` knows which tools each server has (an allowed tool the
//! server lacks is an error, with a suggestion) and codegen offers each allowed tool with the
//! recorded description and parameters instead of reading them from the server at run time, so
//! a server that changed its tools is a visible diff of the lock file, not a silent change of
//! what the model is offered. Without one, everything is read from the server.

use crate::check::suggest;
use crate::diagnostic::Diagnostic;
use crate::ir::{self, LockedTool};
use crate::project::Checked;
use crate::yaml::{self, Node};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The lock file format's version.
pub const VERSION: u64 = 1;

/// What a lock file records: per server, its URL, the protocol version it spoke and all its
/// tools (not only the allowed ones, so a new tool on the server shows too).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lock {
    pub servers: BTreeMap<String, LockedServer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LockedServer {
    pub url: String,
    pub protocol_version: String,
    pub tools: BTreeMap<String, LockedTool>,
}

/// The lock file of an agent file: `agents/calc.yaml` → `agents/calc.mcp-lock.json`.
pub fn lock_path(agent_file: &Path) -> PathBuf {
    let stem = agent_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    agent_file.with_file_name(format!("{stem}.mcp-lock.json"))
}

impl Lock {
    /// The file's text: pretty JSON, keys sorted, so the same tools give the same bytes.
    pub fn render(&self) -> String {
        let servers: serde_json::Map<String, Value> = self
            .servers
            .iter()
            .map(|(name, server)| {
                let tools: serde_json::Map<String, Value> = server
                    .tools
                    .iter()
                    .map(|(tool, locked)| {
                        let entry = json!({
                            "description": locked.description,
                            "input_schema": locked.parameters,
                        });
                        (tool.clone(), entry)
                    })
                    .collect();
                let entry = json!({
                    "url": server.url,
                    "protocol_version": server.protocol_version,
                    "tools": tools,
                });
                (name.clone(), entry)
            })
            .collect();
        let doc = json!({
            "//": "Written by `agentc mcp pull`: the tools of this agent's MCP servers. Review changes like code.",
            "version": VERSION,
            "servers": servers,
        });
        let mut text = serde_json::to_string_pretty(&doc).expect("lock files serialize");
        text.push('\n');
        text
    }

    /// Reads a lock file's text.
    pub fn parse(text: &str) -> Result<Lock, String> {
        let doc: Value = serde_json::from_str(text).map_err(|err| err.to_string())?;
        if doc["version"].as_u64() != Some(VERSION) {
            return Err(format!("unknown lock file version (expected {VERSION})"));
        }
        let mut lock = Lock::default();
        let servers = doc["servers"].as_object().ok_or("no `servers` object")?;
        for (name, server) in servers {
            let tools = server["tools"]
                .as_object()
                .ok_or_else(|| format!("server `{name}` has no `tools` object"))?;
            let tools = tools
                .iter()
                .map(|(tool, entry)| {
                    let locked = LockedTool {
                        description: entry["description"].as_str().unwrap_or_default().to_owned(),
                        parameters: match &entry["input_schema"] {
                            Value::Object(schema) => Value::Object(schema.clone()),
                            _ => json!({ "type": "object" }),
                        },
                    };
                    (tool.clone(), locked)
                })
                .collect();
            let server = LockedServer {
                url: server["url"].as_str().unwrap_or_default().to_owned(),
                protocol_version: server["protocol_version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                tools,
            };
            lock.servers.insert(name.clone(), server);
        }
        Ok(lock)
    }
}

/// Applies each agent's lock file, when it has one, to a checked project: allowed tools get
/// their recorded description and parameters, and a tool the recorded server lacks is an error
/// (`E0221`) at its name in the agent file. `root` is what the files' paths are relative to.
pub fn apply(checked: &mut Checked, root: &Path) {
    let Some(project) = checked.project.as_mut() else {
        return;
    };
    let mut diagnostics = Vec::new();
    for agent in &mut project.agents {
        if agent.mcp.is_empty() {
            continue;
        }
        let shown = lock_path(&agent.source);
        let text = match std::fs::read_to_string(root.join(&shown)) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                diagnostics.push(
                    Diagnostic::error("E0221", format!("cannot read {}: {err}", shown.display()))
                        .in_file(&agent.source),
                );
                continue;
            }
        };
        let lock = match Lock::parse(&text) {
            Ok(lock) => lock,
            Err(err) => {
                let diag = Diagnostic::error(
                    "E0221",
                    format!("{} is not a lock file: {err}", shown.display()),
                )
                .in_file(&agent.source)
                .help("write it again with `agentc mcp pull`");
                diagnostics.push(diag);
                continue;
            }
        };
        let file = checked.files.iter().find(|f| f.path == agent.source);
        let tree = file.and_then(|f| yaml::load(&f.text).root);
        diagnostics.extend(apply_to_agent(agent, &lock, &shown, tree.as_ref()));
    }
    checked.diagnostics.extend(diagnostics);
    if checked.has_errors() {
        checked.project = None;
    }
}

fn apply_to_agent(
    agent: &mut ir::Agent,
    lock: &Lock,
    shown: &Path,
    tree: Option<&Node>,
) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let servers = tree
        .and_then(|t| t.get("mcp"))
        .map(Node::items)
        .unwrap_or_default();
    for (i, server) in agent.mcp.iter_mut().enumerate() {
        let node = servers.get(i);
        let at = |diag: Diagnostic, node: Option<&Node>| {
            match node {
                Some(node) => diag.at(node.span),
                None => diag,
            }
            .in_file(&agent.source)
        };
        let Some(locked) = lock
            .servers
            .get(&server.name)
            .filter(|l| l.url == server.url)
        else {
            let diag = Diagnostic::warning(
                "W0207",
                format!(
                    "{} has no snapshot of the MCP server `{}` at {}",
                    shown.display(),
                    server.name,
                    server.url
                ),
            )
            .help("run `agentc mcp pull` to record its tools, or its tools are read at run time");
            diagnostics.push(at(diag, node.and_then(|n| n.get("url"))));
            continue;
        };
        let tool_nodes = node
            .and_then(|n| n.get("tools"))
            .map(Node::items)
            .unwrap_or_default();
        for tool in &mut server.tools {
            match locked.tools.get(&tool.name) {
                Some(entry) => tool.locked = Some(entry.clone()),
                None => {
                    let known = locked.tools.keys().map(String::as_str);
                    let help = match suggest(&tool.name, known) {
                        Some(near) => format!("did you mean `{near}`?"),
                        None => format!(
                            "its tools are: {}; if the server has changed, run `agentc mcp pull`",
                            locked.tools.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    let diag = Diagnostic::error(
                        "E0221",
                        format!(
                            "the MCP server `{}` has no tool `{}` (per {})",
                            server.name,
                            tool.name,
                            shown.display()
                        ),
                    )
                    .help(help);
                    let node = tool_nodes
                        .iter()
                        .find(|n| n.as_str() == Some(tool.name.as_str()));
                    diagnostics.push(at(diag, node));
                }
            }
        }
    }
    diagnostics
}
