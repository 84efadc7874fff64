//! The rules of `mcp:` servers and approvals: unique server names, offered tool names that do
//! not clash with the agent's own tools, an `approval` list that names allowed tools, and header
//! templates that read only declared secrets. (Server tool names are checked against the lock
//! file, when there is one, by [`crate::mcp_lock`].)

use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::ir::McpServer;
use crate::yaml::Node;
use agentc_runtime::mcp::headers::{self, Part};
use std::collections::BTreeSet;

/// Checks the servers; adds the names their tools are offered by to `tool_names` (reporting a
/// clash with a name already there) and returns the secrets their headers read.
pub(crate) fn check(
    cx: &mut Checker<'_>,
    root: &Node,
    secrets: &[String],
    tool_names: &mut Vec<String>,
) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut servers: Vec<&str> = Vec::new();
    for server in root.get("mcp").map(Node::items).unwrap_or_default() {
        let Some(name_node) = server.get("name") else {
            continue;
        };
        let Some(name) = name_node.as_str() else {
            continue;
        };
        if servers.contains(&name) {
            let diag = Diagnostic::error("E0219", format!("duplicate MCP server name `{name}`"))
                .at(name_node.span)
                .help(
                    "server names prefix their tools' names (`<server>_<tool>`): make them unique",
                );
            cx.report(None, diag);
        }
        servers.push(name);
        let tools: Vec<&Node> = server
            .get("tools")
            .map(|t| t.items().iter().collect())
            .unwrap_or_default();
        let allowed: Vec<&str> = tools.iter().filter_map(|t| t.as_str()).collect();
        for tool in &tools {
            let Some(tool_name) = tool.as_str() else {
                continue;
            };
            let offered = McpServer::offered_name(name, tool_name);
            if tool_names.contains(&offered) {
                let diag = Diagnostic::error(
                    "E0203",
                    format!("duplicate tool name `{offered}`"),
                )
                .at(tool.span)
                .help(format!(
                    "the MCP tool `{tool_name}` of `{name}` is offered as `{offered}`, which another tool is already called; rename one of them"
                ));
                cx.report(None, diag);
            }
            tool_names.push(offered);
        }
        for item in server.get("approval").map(Node::items).unwrap_or_default() {
            let Some(tool) = item.as_str() else { continue };
            if !allowed.contains(&tool) {
                let help = match suggest(tool, allowed.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!(
                        "`approval` names tools of `tools`; add `{tool}` there, or remove it here"
                    ),
                };
                let diag = Diagnostic::error(
                    "E0220",
                    format!("`approval` names `{tool}`, which is not among the tools of `{name}`"),
                )
                .at(item.span)
                .help(help);
                cx.report(None, diag);
            }
        }
        for (key, value) in server.get("headers").map(Node::entries).unwrap_or_default() {
            let header = key.as_str().unwrap_or("?");
            let Some(text) = value.as_str() else { continue };
            match headers::parse(text) {
                Err(err) => {
                    let diag = Diagnostic::error(
                        "E0222",
                        format!("header `{header}` of MCP server `{name}`: {err}"),
                    )
                    .at(value.span)
                    .help("write the secret's value nowhere but in the secret: `Bearer {{ secrets.NAME }}`");
                    cx.report(None, diag);
                }
                Ok(parts) => {
                    for part in parts {
                        let Part::Secret(secret) = part else { continue };
                        if secrets.iter().any(|s| s == secret) {
                            used.insert(secret.to_owned());
                        } else {
                            let diag = Diagnostic::error(
                                "E0209",
                                format!("unknown secret `{secret}` in header `{header}` of MCP server `{name}`"),
                            )
                            .at(value.span)
                            .help(format!("list it in the agent's `secrets`: `secrets: [{secret}]`"));
                            cx.report(None, diag);
                        }
                    }
                }
            }
        }
    }
    used
}
