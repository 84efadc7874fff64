//! Checks minijinja templates: the system prompt and the templates of HTTP tools.
//!
//! A template must parse, and may use only the variables of its place (documented in the
//! schema): `now`, `agent` and `session` in the system prompt; `args`, `secrets` and `now` in an
//! HTTP tool. `args.X` must be a parameter of the tool and `secrets.X` a secret the agent lists.
//! Filters must be minijinja's or agentc's. Every finding points at the true line and column,
//! also inside `|` blocks.

use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::yaml::{value_position, Node};
use std::collections::BTreeSet;

/// Filters a template may use: minijinja's built-ins and the ones the agentc runtime adds.
pub const FILTERS: &[&str] = &[
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "chain",
    "count",
    "d",
    "date",
    "datetime",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
    "urlencode_segment",
    "zip",
];

/// Functions minijinja provides to every template.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug"];

/// Where a template is, which decides the variables it may use.
pub enum Scope<'a> {
    /// The system prompt.
    System,
    /// A template of an HTTP tool, with the tool's parameters and the agent's secrets.
    Http {
        params: &'a [String],
        secrets: &'a [String],
    },
}

impl Scope<'_> {
    fn variables(&self) -> &'static [&'static str] {
        match self {
            Scope::System => &["now", "agent", "session"],
            Scope::Http { .. } => &["args", "secrets", "now"],
        }
    }

    /// The attributes a variable has, when they are a closed set.
    fn attributes(&self, var: &str) -> Option<Vec<&str>> {
        match (self, var) {
            (Scope::System, "agent") => Some(vec!["name", "description", "model"]),
            (Scope::System, "session") => Some(vec!["id"]),
            (Scope::Http { params, .. }, "args") => {
                Some(params.iter().map(String::as_str).collect())
            }
            (Scope::Http { secrets, .. }, "secrets") => {
                Some(secrets.iter().map(String::as_str).collect())
            }
            _ => None,
        }
    }
}

/// Checks one template. `what` names it in messages (`system`, `` `url` of tool `x` ``). Returns the
/// secrets it reads.
pub(crate) fn check(
    cx: &mut Checker<'_>,
    node: &Node,
    what: &str,
    scope: &Scope<'_>,
) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let Some(source) = node.as_str() else {
        return used;
    };
    if !source.contains("{{") && !source.contains("{%") && !source.contains("{#") {
        return used;
    }
    let env = minijinja::Environment::new();
    let template = match env.template_from_str(source) {
        Ok(template) => template,
        Err(err) => {
            let at = err.range().map_or(0, |r| r.start);
            let detail = err.detail().unwrap_or("the template does not parse");
            let help = if detail.contains("end of variable block") {
                "`{{ ... }}` prints a value and must be closed with `}}`"
            } else if detail.contains("end of block") || detail.contains("unknown statement") {
                "`{% ... %}` is a statement (`if`, `for`, `set`, ...) and must be closed with `%}`"
            } else {
                "templates use minijinja (Jinja2) syntax: `{{ value | filter }}`, `{% if ... %}...{% endif %}`"
            };
            let diag = Diagnostic::error(
                "E0205",
                format!("template syntax error in {what}: {detail}"),
            )
            .at(point(cx, node, at))
            .help(help);
            cx.report(None, diag);
            return used;
        }
    };
    let tokens = tokens(source);
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    names.sort();
    let mut reported = BTreeSet::new();
    for name in names {
        let mut parts = name.split('.');
        let var = parts.next().unwrap_or_default();
        let attr = parts.next();
        if GLOBALS.contains(&var) {
            continue;
        }
        let known = scope.variables();
        if !known.contains(&var) {
            if reported.insert(var.to_owned()) {
                let at = find_name(&tokens, var, None).unwrap_or(0);
                let diag =
                    Diagnostic::error("E0206", format!("unknown variable `{var}` in {what}"))
                        .at(point(cx, node, at))
                        .help(match suggest(var, known.iter().copied()) {
                            Some(best) => format!(
                                "did you mean `{best}`? The variables here are: {}",
                                known.join(", ")
                            ),
                            None => format!("the variables here are: {}", known.join(", ")),
                        });
                cx.report(None, diag);
            }
            continue;
        }
        let (Some(attr), Some(allowed)) = (attr, scope.attributes(var)) else {
            continue;
        };
        if var == "secrets" {
            used.insert(attr.to_owned());
        }
        if allowed.contains(&attr) || !reported.insert(name.clone()) {
            continue;
        }
        let at = find_name(&tokens, var, Some(attr)).unwrap_or(0);
        let (code, message, fallback) = match var {
            "args" => (
                "E0206",
                format!("`args.{attr}` in {what}: the tool has no parameter `{attr}`"),
                "declare it under `parameters.properties`".to_string(),
            ),
            "secrets" => (
                "E0209",
                format!(
                    "`secrets.{attr}` in {what}: `{attr}` is not listed in the agent's `secrets`"
                ),
                format!(
                    "add `{attr}` to `secrets:` (and set it with `wrangler secret put {attr}`)"
                ),
            ),
            _ => (
                "E0206",
                format!("`{var}` has no attribute `{attr}` in {what}"),
                format!("`{var}` has: {}", allowed.join(", ")),
            ),
        };
        let help = match suggest(attr, allowed.iter().copied()) {
            Some(best) => format!("did you mean `{var}.{best}`?"),
            None => fallback,
        };
        cx.report(
            None,
            Diagnostic::error(code, message)
                .at(point(cx, node, at))
                .help(help),
        );
    }
    for token in tokens.iter().filter(|t| t.kind == Kind::Filter) {
        if FILTERS.contains(&token.text.as_str()) || !reported.insert(format!("|{}", token.text)) {
            continue;
        }
        let diag = Diagnostic::error(
            "E0207",
            format!("unknown filter `{}` in {what}", token.text),
        )
        .at(point(cx, node, token.at))
        .help(match suggest(&token.text, FILTERS.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "filters are minijinja's built-ins plus `date` and `datetime`".to_string(),
        });
        cx.report(None, diag);
    }
    used
}

/// The span of one character of a template, in the file.
fn point(cx: &Checker<'_>, node: &Node, byte: usize) -> Span {
    let start = value_position(cx.text, node, byte);
    let end = crate::span::Pos {
        col: start.col + 1,
        offset: start.offset + 1,
        ..start
    };
    Span::new(start, end)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A name on its own.
    Name,
    /// A name after `.`.
    Attr,
    /// A name after `|`.
    Filter,
}

struct Token {
    kind: Kind,
    text: String,
    /// Byte offset in the template.
    at: usize,
}

/// The names inside a template's `{{ }}` and `{% %}` tags (strings and comments skipped), for
/// finding where a variable or filter is used.
fn tokens(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_tag = false;
    let mut last = b' ';
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        if !in_tag {
            if b == b'{' && next == b'#' {
                i = source[i..].find("#}").map_or(bytes.len(), |j| i + j + 2);
                continue;
            }
            if b == b'{' && (next == b'{' || next == b'%') {
                in_tag = true;
                last = b' ';
                i += 2;
                continue;
            }
            i += 1;
            continue;
        }
        if next == b'}' && (b == b'}' || b == b'%') {
            in_tag = false;
            i += 2;
            continue;
        }
        if b == b'"' || b == b'\'' {
            i = source[i + 1..]
                .find(b as char)
                .map_or(bytes.len(), |j| i + j + 2);
            last = b'"';
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let kind = match last {
                b'.' => Kind::Attr,
                b'|' => Kind::Filter,
                _ => Kind::Name,
            };
            out.push(Token {
                kind,
                text: source[start..i].to_owned(),
                at: start,
            });
            last = b'a';
            continue;
        }
        if !b.is_ascii_whitespace() {
            last = b;
        }
        i += 1;
    }
    out
}

/// Where `var` (or `var.attr`) is first used.
fn find_name(tokens: &[Token], var: &str, attr: Option<&str>) -> Option<usize> {
    tokens.iter().enumerate().find_map(|(i, t)| {
        if t.kind != Kind::Name || t.text != var {
            return None;
        }
        match attr {
            None => Some(t.at),
            Some(attr) => match tokens.get(i + 1) {
                Some(next) if next.kind == Kind::Attr && next.text == attr => Some(next.at),
                _ => None,
            },
        }
    })
}
