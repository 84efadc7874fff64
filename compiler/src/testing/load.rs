//! Loading and checking test files: the YAML loader with positions, the test schema with the
//! same mapping of errors to `file:line:col`, then the checks against the agents under test.
//! Like agent files, every problem of every file is gathered before anything runs.
//!
//! | code | finding |
//! |---|---|
//! | E0000–E0008, E0101–E0109 | as for agent files (YAML, schema) |
//! | E0301 | unknown agent |
//! | E0302 | unknown tool of the agent |
//! | E0303 | tool results for a tool that is not an HTTP tool |
//! | E0304 | invalid regex in `matches` |
//! | E0305 | invalid JSON Schema in `json_schema` |
//! | E0306 | a turn without a message, or `pad_to_chars` without `user` |
//! | E0307 | a scripted reply with conflicting keys |
//! | E0308 | two cases with one name |

use super::unknown::{self, Unknown};
use super::{
    Body, Case, Expect, HeaderExpect, Latency, RequestSpec, TestFile, ToolCallExpect, Turn,
};
use crate::check::suggest;
use crate::diagnostic::Diagnostic;
use crate::ir;
use crate::project::{Checked, SourceFile};
use crate::schema::{self, to_json};
use crate::yaml::{self, Node, Value};
use serde_json::Value as Json;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The test files (`*.test.yaml`, `*.test.yml`) of a directory, sorted by path.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if is_test_file(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether a path names a test file rather than an agent file.
pub fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

/// Checks test files against the agents they test. The files are returned only when none has
/// an error; the diagnostics render like those of agent files.
pub fn check_files(sources: Vec<SourceFile>, agents: &ir::Project) -> (Vec<TestFile>, Checked) {
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    for source in &sources {
        let (file, diags) = check_file(source, agents);
        files.extend(file);
        diagnostics.extend(diags.into_iter().map(|d| d.in_file(&source.path)));
    }
    let checked = Checked {
        project: None,
        diagnostics,
        files: sources,
    };
    if checked.has_errors() {
        files.clear();
    }
    (files, checked)
}

fn schema() -> Result<&'static (Json, jsonschema::Validator), String> {
    static SCHEMA: OnceLock<Result<(Json, jsonschema::Validator), String>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let json: Json = serde_json::from_str(super::SCHEMA)
                .map_err(|err| format!("the test schema is not JSON: {err}"))?;
            let validator = jsonschema::draft202012::new(&json)
                .map_err(|err| format!("the test schema is invalid: {err}"))?;
            Ok((json, validator))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Loads and checks one test file: the file when it has no error, and every diagnostic in
/// position order.
pub fn check_file(
    source: &SourceFile,
    agents: &ir::Project,
) -> (Option<TestFile>, Vec<Diagnostic>) {
    let loaded = yaml::load(&source.text);
    let mut diags = loaded.diagnostics;
    let Some(root) = loaded.root else {
        return (None, diags);
    };
    let (schema_json, validator) = match schema() {
        Ok(schema) => schema,
        Err(err) => {
            diags.push(Diagnostic::error("E0999", format!("internal error: {err}")));
            return (None, diags);
        }
    };
    let mut unknown = Unknown::default();
    unknown::walk(&root, schema_json, schema_json, "", "", &mut unknown);
    diags.extend(unknown.diagnostics);
    let claims: HashSet<String> = unknown.claims.into_iter().collect();
    let mut seen = HashSet::new();
    for finding in schema::validate_against(&root, schema_json, validator, "the test file") {
        let missing = finding.key.starts_with("required:") || finding.key.starts_with("oneof:");
        let echo = missing && spans_skipped(&loaded.skipped_lines, finding.within);
        if !echo && !claims.contains(&finding.key) && seen.insert(finding.key) {
            diags.push(finding.diagnostic);
        }
    }
    let file = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        let mut cx = Lower {
            agents,
            agent: None,
            diags: &mut diags,
        };
        cx.file(&root, &source.path)
    };
    diags.sort_by_key(|d| d.span.map(|s| s.start));
    let file = file.filter(|_| !diags.iter().any(Diagnostic::is_error));
    (file, diags)
}

fn spans_skipped(skipped: &BTreeSet<usize>, span: crate::span::Span) -> bool {
    skipped
        .range(span.start.line..=span.end.line)
        .next()
        .is_some()
}

/// Lowering a schema-valid tree, with the checks that need the agents.
struct Lower<'a> {
    agents: &'a ir::Project,
    /// The agent under test, once found.
    agent: Option<&'a ir::Agent>,
    diags: &'a mut Vec<Diagnostic>,
}

impl<'a> Lower<'a> {
    fn error(&mut self, code: &'static str, node: &Node, message: String, help: Option<String>) {
        let mut diag = Diagnostic::error(code, message).at(node.span);
        diag.help = help;
        self.diags.push(diag);
    }

    fn file(&mut self, root: &Node, path: &Path) -> Option<TestFile> {
        let agent_node = root.get("agent")?;
        let agent = agent_node.as_str()?.to_owned();
        self.agent = self.agents.agents.iter().find(|a| a.name == agent);
        if self.agent.is_none() {
            let names = self.agents.agents.iter().map(|a| a.name.as_str());
            let help = match suggest(&agent, names) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!(
                    "the agents are: {}",
                    self.agents
                        .agents
                        .iter()
                        .map(|a| a.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            self.error(
                "E0301",
                agent_node,
                format!("there is no agent `{agent}`"),
                Some(help),
            );
        }
        let defaults = root
            .get("request")
            .map(|r| request(r, RequestSpec::default()))
            .unwrap_or_default();
        let mut names: Vec<(String, usize)> = Vec::new();
        let mut cases = Vec::new();
        for node in root.get("cases").map(Node::items).unwrap_or_default() {
            let case = self.case(node, &defaults)?;
            let name_node = node.get("name")?;
            if let Some((_, line)) = names.iter().find(|(n, _)| *n == case.name) {
                let line = *line;
                self.error(
                    "E0308",
                    name_node,
                    format!(
                        "the case name `{}` is already used on line {line}",
                        case.name
                    ),
                    Some("case names identify cases in reports and `--filter`".into()),
                );
            }
            names.push((case.name.clone(), case.line));
            cases.push(case);
        }
        Some(TestFile {
            path: path.to_path_buf(),
            agent,
            cases,
        })
    }

    fn case(&mut self, node: &Node, defaults: &RequestSpec) -> Option<Case> {
        let name = node.get("name")?.as_str()?.to_owned();
        let request_spec = match node.get("request") {
            Some(r) => request(r, defaults.clone()),
            None => defaults.clone(),
        };
        let replies = node.get("replies").map(|list| {
            for reply in list.items() {
                self.reply(reply);
            }
            list.items().iter().map(to_json).collect()
        });
        let mut tool_results = Vec::new();
        for (key, value) in node
            .get("tool_results")
            .map(Node::entries)
            .unwrap_or_default()
        {
            let tool = key.as_str()?.to_owned();
            if let Some(found) = self.tool(key, &tool) {
                if !matches!(found.kind, ir::ToolKind::Http(_)) {
                    let kind = match found.kind {
                        ir::ToolKind::Rust { .. } => "a Rust tool",
                        _ => "a builtin tool",
                    };
                    self.error(
                        "E0303",
                        key,
                        format!("`{tool}` is {kind}: it runs inside the Worker, so its results cannot be declared"),
                        Some("only HTTP tools' answers can be given in `tool_results`".into()),
                    );
                }
            }
            tool_results.push((tool, to_json(value)));
        }
        let mut turns = Vec::new();
        for turn in node.get("turns").map(Node::items).unwrap_or_default() {
            turns.push(self.turn(turn, &request_spec)?);
        }
        Some(Case {
            name,
            line: node.span.start.line,
            repeat: node
                .get("repeat")
                .and_then(Node::as_i64)
                .map_or(1, |r| r as u32),
            pass_rate: node.get("pass_rate").and_then(Node::as_f64).unwrap_or(1.0),
            replies,
            tool_results,
            turns,
        })
    }

    /// Checks what localai's script format allows together.
    fn reply(&mut self, node: &Node) {
        if node.get("error").is_some() && node.entries().len() > 1 {
            self.error(
                "E0307",
                node,
                "a reply with `error` can have no other key".into(),
                Some("an error reply is the model failing; split the other keys into a reply of their own".into()),
            );
        }
        if node.get("text").is_some() && node.get("chunks").is_some() {
            self.error(
                "E0307",
                node,
                "a reply has either `text` or `chunks`, not both".into(),
                None,
            );
        }
    }

    /// The agent's tool of this name, or a diagnostic at `node`.
    fn tool(&mut self, node: &Node, name: &str) -> Option<&'a ir::Tool> {
        let agent = self.agent?;
        if let Some(tool) = agent.tools.iter().find(|t| t.name == name) {
            return Some(tool);
        }
        let names = agent.tools.iter().map(|t| t.name.as_str());
        let help = match suggest(name, names) {
            Some(best) => format!("did you mean `{best}`?"),
            None if agent.tools.is_empty() => format!("agent `{}` has no tools", agent.name),
            None => format!(
                "the tools of `{}` are: {}",
                agent.name,
                agent
                    .tools
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.error(
            "E0302",
            node,
            format!("agent `{}` has no tool `{name}`", agent.name),
            Some(help),
        );
        None
    }

    fn turn(&mut self, node: &Node, defaults: &RequestSpec) -> Option<Turn> {
        let spec = match node.get("request") {
            Some(r) => request(r, defaults.clone()),
            None => defaults.clone(),
        };
        let user_node = node.get("user");
        let mut user = user_node.and_then(Node::as_str).map(str::to_owned);
        if let Some(pad) = node.get("pad_to_chars") {
            let target = pad.as_i64().unwrap_or(1) as usize;
            match &user {
                Some(text) if !text.is_empty() => {
                    let padded: String = text.chars().cycle().take(target).collect();
                    user = Some(padded);
                }
                _ => self.error(
                    "E0306",
                    pad,
                    "`pad_to_chars` repeats `user`, which is missing or empty".into(),
                    Some("add `user: x` to send a message of x's".into()),
                ),
            }
        }
        if user.is_none() && spec.body.is_none() && spec.method == "POST" {
            self.error(
                "E0306",
                node,
                "this turn sends nothing: it has no `user` message and no `request.body`".into(),
                Some("add `user: <message>`".into()),
            );
        }
        let expect = match node.get("expect") {
            Some(e) => self.expect(e)?,
            None => Expect::default(),
        };
        Some(Turn {
            line: node.span.start.line,
            user,
            new_session: node.get("new_session").and_then(Node::as_bool) == Some(true),
            request: spec,
            expect,
        })
    }

    fn expect(&mut self, node: &Node) -> Option<Expect> {
        let mut expect = Expect {
            status: node.get("status").and_then(Node::as_i64).map(|s| s as u16),
            contains: strings(node.get("contains")),
            not_contains: strings(node.get("not_contains")),
            ignore_case: node.get("ignore_case").and_then(Node::as_bool) == Some(true),
            no_tool_calls: node.get("no_tool_calls").and_then(Node::as_bool) == Some(true),
            steps_at_most: node
                .get("steps_at_most")
                .and_then(Node::as_i64)
                .map(|s| s as u64),
            model: node.get("model").and_then(Node::as_str).map(str::to_owned),
            route: node.get("route").map(|r| match &r.value {
                Value::Int(i) => i.to_string(),
                _ => r.as_str().unwrap_or_default().to_owned(),
            }),
            cache: node.get("cache").and_then(Node::as_str).map(str::to_owned),
            error: node.get("error").and_then(Node::as_str).map(str::to_owned),
            ..Expect::default()
        };
        if let Some(regex) = node.get("matches") {
            expect.matches = self.regex(regex);
        }
        for (name, value) in node.get("headers").map(Node::entries).unwrap_or_default() {
            let name = name.as_str()?.to_ascii_lowercase();
            let want = match (&value.value, value.get("matches")) {
                (Value::Null, _) => HeaderExpect::Absent,
                (_, Some(regex)) => match self.regex(regex) {
                    Some(regex) => HeaderExpect::Matches(regex),
                    None => continue,
                },
                _ => HeaderExpect::Equals(value.as_str()?.to_owned()),
            };
            expect.headers.push((name, want));
        }
        if let Some(calls) = node.get("tool_called") {
            let list: Vec<&Node> = match &calls.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![calls],
            };
            for call in list {
                let name_node = call.get("name")?;
                let name = name_node.as_str()?.to_owned();
                self.tool(name_node, &name);
                expect.tool_called.push(ToolCallExpect {
                    name,
                    arguments: call.get("arguments").map(to_json),
                });
            }
        }
        if let Some(sequence) = node.get("tool_sequence") {
            let mut names = Vec::new();
            for item in sequence.items() {
                let name = item.as_str()?.to_owned();
                self.tool(item, &name);
                names.push(name);
            }
            expect.tool_sequence = Some(names);
        }
        if let Some(latency) = node.get("max_latency_ms") {
            expect.max_latency = Some(match latency.as_i64() {
                Some(ms) => Latency {
                    limit_ms: ms as u64,
                    fail: false,
                },
                None => Latency {
                    limit_ms: latency.get("limit").and_then(Node::as_i64)? as u64,
                    fail: latency.get("fail").and_then(Node::as_bool) == Some(true),
                },
            });
        }
        if let Some(schema_node) = node.get("json_schema") {
            let schema = to_json(schema_node);
            match jsonschema::validator_for(&schema) {
                Ok(_) => expect.json_schema = Some(schema),
                Err(err) => self.error(
                    "E0305",
                    schema_node,
                    format!("`json_schema` is not a valid JSON Schema: {err}"),
                    None,
                ),
            }
        }
        Some(expect)
    }
}

impl Lower<'_> {
    /// A regex of the file, or a diagnostic at it.
    fn regex(&mut self, node: &Node) -> Option<regex_lite::Regex> {
        match regex_lite::Regex::new(node.as_str()?) {
            Ok(compiled) => Some(compiled),
            Err(err) => {
                self.error(
                    "E0304",
                    node,
                    format!("`matches` is not a valid regex: {err}"),
                    Some("the syntax is regex-lite's (Rust regex without Unicode classes)".into()),
                );
                None
            }
        }
    }
}

/// Request settings over `base`: what the node sets replaces it, headers name by name.
fn request(node: &Node, mut base: RequestSpec) -> RequestSpec {
    if let Some(method) = node.get("method").and_then(Node::as_str) {
        base.method = method.to_owned();
    }
    if let Some(path) = node.get("path").and_then(Node::as_str) {
        base.path = path.to_owned();
    }
    for (name, value) in header_map(node.get("headers")) {
        base.headers.retain(|(n, _)| *n != name);
        base.headers.push((name, value));
    }
    if let Some(body) = node.get("body") {
        base.body = Some(match body.as_str() {
            Some(text) => Body::Text(text.to_owned()),
            None => Body::Json(to_json(body)),
        });
    }
    base
}

/// A mapping of header names (lowercased) to a string or null.
fn header_map(node: Option<&Node>) -> Vec<(String, Option<String>)> {
    node.map(Node::entries)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| {
            let name = k.as_str()?.to_ascii_lowercase();
            Some((name, v.as_str().map(str::to_owned)))
        })
        .collect()
}

/// One string or a list of them.
fn strings(node: Option<&Node>) -> Vec<String> {
    match node.map(|n| &n.value) {
        Some(Value::String(s, _)) => vec![s.clone()],
        Some(Value::Seq(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
