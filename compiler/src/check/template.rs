//! Checks templates (agentc's template language, [`crate::template`]): the system prompt and
//! the templates of HTTP tools.
//!
//! A template must parse, and may use only the variables of its place (documented in the
//! schema): `now`, `agent` and `session` in the system prompt; `args`, `secrets` and `now` in an
//! HTTP tool. `args.X` must be a parameter of the tool and `secrets.X` a secret the agent lists.
//! Filters must be ones the compiled code implements, with their number of arguments. What
//! passes here is exactly what codegen compiles into Rust. Every finding points at the true line
//! and column, also inside `|` blocks.

use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::template::{self, Base, FILTERS};
use crate::yaml::{value_position, Node};
use std::collections::BTreeSet;

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

    /// Whether a variable is only usable through its attributes (the compiled prompt has no
    /// object value for `agent` or `session`).
    fn needs_attribute(&self, var: &str) -> bool {
        matches!((self, var), (Scope::System, "agent" | "session"))
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
    if !template::is_template(source) {
        return used;
    }
    let template = match template::parse(source) {
        Ok(template) => template,
        Err(err) => {
            let detail = &err.message;
            let help = if detail.contains("end of variable block") {
                "`{{ ... }}` prints a value and must be closed with `}}`"
            } else if detail.contains("end of block") || detail.contains("statement") {
                "`{% ... %}` is `if`, `elif`, `else` or `endif`, and must be closed with `%}`"
            } else {
                "templates are `{{ value | filter }}`, `{% if value %}...{% endif %}` and `{# comments #}`"
            };
            let diag = Diagnostic::error(
                "E0205",
                format!("template syntax error in {what}: {detail}"),
            )
            .at(point(cx, node, err.at))
            .help(help);
            cx.report(None, diag);
            return used;
        }
    };
    let exprs = template.exprs();
    // Each variable (with its first attribute) once, by name, at its first use.
    let mut names: Vec<Use> = Vec::new();
    for expr in &exprs {
        let Base::Path(path) = &expr.base else {
            continue;
        };
        let (var, at) = &path[0];
        let attr = path.get(1).cloned();
        if !names
            .iter()
            .any(|(v, a, _)| v == var && a.as_ref().map(|a| &a.0) == attr.as_ref().map(|a| &a.0))
        {
            names.push((var.clone(), attr, *at));
        }
    }
    names.sort_by(|a, b| {
        (&a.0, a.1.as_ref().map(|x| &x.0)).cmp(&(&b.0, b.1.as_ref().map(|x| &x.0)))
    });
    let mut reported = BTreeSet::new();
    for (var, attr, var_at) in names {
        let known = scope.variables();
        if !known.contains(&var.as_str()) {
            if reported.insert(var.clone()) {
                let diag =
                    Diagnostic::error("E0206", format!("unknown variable `{var}` in {what}"))
                        .at(point(cx, node, var_at))
                        .help(match suggest(&var, known.iter().copied()) {
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
        let Some(allowed) = scope.attributes(&var) else {
            continue;
        };
        let Some((attr, at)) = attr else {
            if scope.needs_attribute(&var) && reported.insert(var.clone()) {
                let diag = Diagnostic::error(
                    "E0206",
                    format!("`{var}` is used without an attribute in {what}"),
                )
                .at(point(cx, node, var_at))
                .help(format!(
                    "use one of: {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{var}.{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                cx.report(None, diag);
            }
            continue;
        };
        if var == "secrets" {
            used.insert(attr.clone());
        }
        let name = format!("{var}.{attr}");
        if allowed.contains(&attr.as_str()) || !reported.insert(name) {
            continue;
        }
        let (code, message, fallback) = match var.as_str() {
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
        let help = match suggest(&attr, allowed.iter().copied()) {
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
    let names: Vec<&str> = FILTERS.iter().map(|f| f.0).collect();
    for filter in exprs.iter().flat_map(|e| &e.filters) {
        let arity = FILTERS.iter().find(|f| f.0 == filter.name);
        let problem = match arity {
            None => Some((
                format!("unknown filter `{}` in {what}", filter.name),
                match suggest(&filter.name, names.iter().copied()) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => format!("the filters are: {}", names.join(", ")),
                },
            )),
            Some((name, min, max)) if !(*min..=*max).contains(&filter.args.len()) => Some((
                format!(
                    "the filter `{name}` takes {} in {what}, not {}",
                    match (min, max) {
                        (0, 0) => "no arguments".to_string(),
                        (a, b) if a == b => format!("{a} argument(s)"),
                        (a, b) => format!("{a} to {b} arguments"),
                    },
                    filter.args.len()
                ),
                "filter arguments are string literals or whole numbers, in parentheses".to_string(),
            )),
            Some(_) => None,
        };
        let Some((message, help)) = problem else {
            continue;
        };
        if !reported.insert(format!("|{}", filter.name)) {
            continue;
        }
        let diag = Diagnostic::error("E0207", message)
            .at(point(cx, node, filter.at))
            .help(help);
        cx.report(None, diag);
    }
    used
}

/// A variable, its first attribute (with its offset) if any, and the variable's offset.
type Use = (String, Option<(String, usize)>, usize);

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
