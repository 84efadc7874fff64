//! Checks one agent file and lowers it to the IR, gathering every problem on the way.

use crate::diagnostic::Diagnostic;
use crate::ir;
use crate::yaml::{Node, Value};
use std::path::Path;

/// Defaults applied where an agent file is silent.
pub const DEFAULT_MAX_TOKENS: u32 = 512;
pub const DEFAULT_HISTORY_WINDOW: u32 = 10;

const AGENT_KEYS: &[&str] = &["name", "description", "model", "system", "history"];
const MODEL_KEYS: &[&str] = &["id", "max_tokens", "temperature"];
const HISTORY_KEYS: &[&str] = &["window"];

/// Checks a parsed agent file. Returns the agent when there is no error, and every diagnostic.
pub fn check_agent(root: &Node, source: &Path) -> (Option<ir::Agent>, Vec<Diagnostic>) {
    let mut cx = Checker { diags: Vec::new() };
    let agent = cx.agent(root, source);
    let agent = agent.filter(|_| !cx.diags.iter().any(Diagnostic::is_error));
    (agent, cx.diags)
}

struct Checker {
    diags: Vec<Diagnostic>,
}

/// The entries of a mapping, looked up by key.
struct Fields<'a> {
    node: &'a Node,
    entries: &'a [(Node, Node)],
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }
}

impl Checker {
    fn push(&mut self, diag: Diagnostic) {
        self.diags.push(diag);
    }

    /// A mapping whose keys are all known, or `None` after reporting why not.
    fn mapping<'a>(&mut self, node: &'a Node, what: &str, known: &[&str]) -> Option<Fields<'a>> {
        let Value::Map(entries) = &node.value else {
            self.push(
                Diagnostic::error("E0102", format!("`{what}` must be a mapping, found {}", node.type_name()))
                    .at(node.span),
            );
            return None;
        };
        for (key, _) in entries {
            match key.as_str() {
                Some(name) if known.contains(&name) => {}
                Some(name) => {
                    let mut diag = Diagnostic::error("E0101", format!("unknown key `{name}` in {what}")).at(key.span);
                    diag = match suggest(name, known) {
                        Some(best) => diag.help(format!("did you mean `{best}`?")),
                        None => diag.help(format!("known keys here: {}", known.join(", "))),
                    };
                    self.push(diag);
                }
                None => self.push(
                    Diagnostic::error("E0102", format!("keys of {what} must be strings, found {}", key.type_name()))
                        .at(key.span),
                ),
            }
        }
        Some(Fields { node, entries })
    }

    fn required<'a>(&mut self, fields: &Fields<'a>, key: &str, what: &str) -> Option<&'a Node> {
        let value = fields.get(key);
        if value.is_none() {
            self.push(
                Diagnostic::error("E0103", format!("{what} is missing required key `{key}`"))
                    .at(crate::span::Span::at(fields.node.span.start)),
            );
        }
        value
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match node.as_str() {
            Some(s) => Some(s.to_owned()),
            None => {
                self.push(
                    Diagnostic::error("E0104", format!("`{what}` must be a string, found {}", node.type_name()))
                        .at(node.span),
                );
                None
            }
        }
    }

    fn integer(&mut self, node: &Node, what: &str, min: i64, max: i64) -> Option<u32> {
        match node.value {
            Value::Int(i) if (min..=max).contains(&i) => Some(i as u32),
            Value::Int(i) => {
                self.push(
                    Diagnostic::error("E0105", format!("`{what}` must be between {min} and {max}, found {i}"))
                        .at(node.span),
                );
                None
            }
            _ => {
                self.push(
                    Diagnostic::error("E0104", format!("`{what}` must be an integer, found {}", node.type_name()))
                        .at(node.span),
                );
                None
            }
        }
    }

    fn agent(&mut self, root: &Node, source: &Path) -> Option<ir::Agent> {
        let fields = self.mapping(root, "the agent file", AGENT_KEYS)?;
        let name = self
            .required(&fields, "name", "the agent")
            .and_then(|n| self.string(n, "name").map(|s| (s, n)));
        let name = name.and_then(|(name, node)| {
            let valid = !name.is_empty()
                && name.len() <= 63
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            if valid {
                Some(name)
            } else {
                self.push(
                    Diagnostic::error("E0106", format!("invalid agent name `{name}`"))
                        .at(node.span)
                        .help("agent names appear in URLs: start with a lowercase letter, then lowercase letters, digits, '-' or '_' (at most 63)"),
                );
                None
            }
        });
        let description = fields.get("description").and_then(|n| self.string(n, "description"));
        let model = self
            .required(&fields, "model", "the agent")
            .and_then(|n| self.model(n));
        let system = self
            .required(&fields, "system", "the agent")
            .and_then(|n| self.string(n, "system"));
        let history = match fields.get("history") {
            Some(node) => self.history(node)?,
            None => ir::History {
                window: DEFAULT_HISTORY_WINDOW,
            },
        };
        Some(ir::Agent {
            name: name?,
            description,
            source: source.to_path_buf(),
            model: model?,
            system: system?,
            history,
        })
    }

    fn model(&mut self, node: &Node) -> Option<ir::Model> {
        // `model: "@cf/..."` is shorthand for `model: { id: "@cf/..." }`.
        if let Some(id) = node.as_str() {
            return Some(ir::Model {
                id: id.to_owned(),
                max_tokens: DEFAULT_MAX_TOKENS,
                temperature: None,
            });
        }
        let fields = self.mapping(node, "`model`", MODEL_KEYS)?;
        let id = self
            .required(&fields, "id", "`model`")
            .and_then(|n| self.string(n, "model.id"));
        let max_tokens = match fields.get("max_tokens") {
            Some(n) => self.integer(n, "model.max_tokens", 1, 131_072),
            None => Some(DEFAULT_MAX_TOKENS),
        };
        let temperature = match fields.get("temperature").map(|n| (n, &n.value)) {
            None => Some(None),
            Some((_, Value::Int(i))) if (0..=5).contains(i) => Some(Some(*i as f32)),
            Some((_, Value::Float(f))) if (0.0..=5.0).contains(f) => Some(Some(*f as f32)),
            Some((n, _)) => {
                self.push(
                    Diagnostic::error("E0105", "`model.temperature` must be a number from 0 to 5").at(n.span),
                );
                None
            }
        };
        Some(ir::Model {
            id: id?,
            max_tokens: max_tokens?,
            temperature: temperature?,
        })
    }

    fn history(&mut self, node: &Node) -> Option<ir::History> {
        let fields = self.mapping(node, "`history`", HISTORY_KEYS)?;
        let window = match fields.get("window") {
            Some(n) => self.integer(n, "history.window", 0, 1000)?,
            None => DEFAULT_HISTORY_WINDOW,
        };
        Some(ir::History { window })
    }
}

/// The known key closest to a misspelt one, if any is close enough.
pub fn suggest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(name, k), *k))
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
