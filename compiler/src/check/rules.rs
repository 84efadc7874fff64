//! The semantic rules: what the schema cannot say about an agent.
//!
//! Every rule skips a value of the wrong type (the schema reports that), and claims the schema's
//! dedupe key when it reports the same mistake in better words.

use super::catalogue::{model_id, models, not_function_calling};
use super::policy::policy;
use super::template::{self, Scope};
use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::yaml::Node;
use std::collections::BTreeSet;

/// Rust keywords, which a tool name cannot be (it becomes a Rust identifier).
const RUST_KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// The longest regex program accepted, in bytes of compiled size, so a pattern cannot make the
/// Worker slow or large.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub(crate) fn check(cx: &mut Checker<'_>, root: &Node) {
    agent_name(cx, root);
    let secrets: Vec<String> = root
        .get("secrets")
        .map(|s| {
            s.items()
                .iter()
                .filter_map(Node::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let tools = root.get("tools").map(Node::items).unwrap_or_default();
    let mut tool_names = tools_(cx, tools);
    let mut used_secrets = super::mcp::check(cx, root, &secrets, &mut tool_names);
    let has_tools = !tool_names.is_empty();
    for (i, tool) in tools.iter().enumerate() {
        used_secrets.extend(tool_body(cx, tool, i, &secrets));
    }
    if let Some(system) = root.get("system") {
        template::check(cx, system, "`system`", &Scope::System);
    }
    models(cx, root, has_tools);
    routing(cx, root, &tool_names, has_tools);
    if let Some(list) = root.get("secrets") {
        for item in list.items() {
            if let Some(name) = item.as_str().filter(|n| !used_secrets.contains(*n)) {
                let diag = Diagnostic::warning("W0203", format!("secret `{name}` is listed but no tool uses it"))
                    .at(item.span)
                    .help("`secrets` lists what tool templates read as `secrets.NAME`; remove unused ones");
                cx.report(None, diag);
            }
        }
    }
    policy(cx, root);
}

fn agent_name(cx: &mut Checker<'_>, root: &Node) {
    let Some(node) = root.get("name") else { return };
    let Some(name) = node.as_str() else { return };
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        let diag = Diagnostic::error("E0106", format!("invalid agent name `{name}`"))
            .at(node.span)
            .help("agent names appear in URLs: start with a lowercase letter, then lowercase letters, digits, '-' or '_' (at most 63)");
        cx.report("value:/name".to_string(), diag);
    }
}

/// Checks tool names and kinds; returns the names, in order.
fn tools_(cx: &mut Checker<'_>, tools: &[Node]) -> Vec<String> {
    let mut names: Vec<(String, Span)> = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let ptr = format!("/tools/{i}");
        if let Some(node) = tool.get("name") {
            if let Some(name) = node.as_str() {
                if RUST_KEYWORDS.contains(&name) {
                    let diag =
                        Diagnostic::error("E0202", format!("tool name `{name}` is a Rust keyword"))
                            .at(node.span)
                            .help(format!(
                                "tools become Rust functions; rename it, e.g. `{name}_tool`"
                            ));
                    cx.report(format!("value:{ptr}/name"), diag);
                } else if let Some((_, first)) = names.iter().find(|(n, _)| n == name) {
                    let diag = Diagnostic::error("E0203", format!("duplicate tool name `{name}`"))
                        .at(node.span)
                        .help(format!("a tool named `{name}` is already defined on line {}; tool names must be unique", first.start.line));
                    cx.report(None, diag);
                }
                names.push((name.to_owned(), node.span));
            }
        }
        if !matches!(tool.value, crate::yaml::Value::Map(_)) {
            continue;
        }
        let kinds: Vec<&str> = ["http", "rust", "builtin"]
            .into_iter()
            .filter(|k| tool.get(k).is_some())
            .collect();
        if kinds.len() > 1 || (kinds.is_empty() && !cx.spans_skipped_line(tool.span)) {
            let which = tool
                .get("name")
                .and_then(Node::as_str)
                .map_or_else(|| format!("tool {}", i + 1), |n| format!("tool `{n}`"));
            let message = match kinds.as_slice() {
                [] => format!("{which} has no kind: give it `http`, `rust` or `builtin`"),
                _ => format!(
                    "{which} has more than one kind ({}); keep one",
                    kinds.join(", ")
                ),
            };
            let diag = Diagnostic::error("E0107", message)
                .at(Span::at(tool.span.start))
                .help("a tool is exactly one of: `http` (a declarative HTTP call), `rust` (a function of the project) or `builtin` (clock, calculator)");
            cx.report(format!("oneof:{ptr}"), diag);
        }
        if let Some(path) = tool.get("rust").filter(|p| {
            p.as_str()
                .is_some_and(|p| p.split("::").any(|segment| segment == "_"))
        }) {
            let diag = Diagnostic::error("E0233", "`_` cannot be a segment of a Rust tool's path")
                .at(path.span)
                .help("name the module and the function, e.g. `tools::orders::lookup`");
            cx.report(None, diag);
        }
        if let (Some(_), Some((key, _))) = (tool.get("builtin"), tool.entry("parameters")) {
            let diag = Diagnostic::error("E0218", "builtin tools have fixed parameters")
                .at(key.span)
                .help("remove `parameters` from this tool");
            cx.report(None, diag);
        }
    }
    names.into_iter().map(|(n, _)| n).collect()
}

/// Checks a tool's parameters and HTTP templates; returns the secrets it reads.
fn tool_body(cx: &mut Checker<'_>, tool: &Node, i: usize, secrets: &[String]) -> BTreeSet<String> {
    let name = tool
        .get("name")
        .and_then(Node::as_str)
        .unwrap_or("?")
        .to_owned();
    let ptr = format!("/tools/{i}");
    let mut params = Vec::new();
    if let Some(parameters) = tool.get("parameters") {
        if let Some(props) = parameters.get("properties") {
            for (key, value) in props.entries() {
                let Some(param) = key.as_str() else { continue };
                params.push(param.to_owned());
                parameter(
                    cx,
                    key,
                    value,
                    &format!("{ptr}/parameters/properties/{}", super::keys::escape(param)),
                    &name,
                );
            }
        }
        required_exist(cx, parameters, &name);
    }
    let mut used = BTreeSet::new();
    let Some(http) = tool.get("http") else {
        return used;
    };
    let scope = Scope::Http {
        params: &params,
        secrets,
    };
    if let Some(url) = http.get("url") {
        used.extend(template::check(
            cx,
            url,
            &format!("`url` of tool `{name}`"),
            &scope,
        ));
        hosts(cx, http, url, &name);
        url_args(cx, url, &name);
    }
    for (key, value) in http.get("headers").map(Node::entries).unwrap_or_default() {
        let header = key.as_str().unwrap_or("?");
        used.extend(template::check(
            cx,
            value,
            &format!("header `{header}` of tool `{name}`"),
            &scope,
        ));
    }
    if let Some(body) = http.get("body") {
        used.extend(template::check(
            cx,
            body,
            &format!("`body` of tool `{name}`"),
            &scope,
        ));
        let method = http.get("method").and_then(Node::as_str).unwrap_or("GET");
        if method == "GET" {
            let at = http.entry("body").map_or(body.span, |(k, _)| k.span);
            let diag = Diagnostic::error("E0215", format!("tool `{name}` sends a `body` with GET"))
                .at(at)
                .help("set `method: POST` (or PUT, PATCH), or drop the body");
            cx.report(None, diag);
        }
    }
    used
}

/// Checks one parameter schema and the ones nested in it.
fn parameter(cx: &mut Checker<'_>, key: &Node, node: &Node, ptr: &str, tool: &str) {
    if !matches!(node.value, crate::yaml::Value::Map(_)) {
        return;
    }
    let param = key.as_str().unwrap_or("?");
    if node.get("type").is_none() && !cx.spans_skipped_line(node.span) {
        let diag = Diagnostic::error(
            "E0103",
            format!("parameter `{param}` of tool `{tool}` has no `type`"),
        )
        .at(key.span)
        .help(format!(
            "give `{param}` a type: string, number, integer, boolean, array or object"
        ));
        cx.report(format!("required:{ptr}/type"), diag);
    }
    if let Some(pattern) = node.get("pattern") {
        regex(cx, pattern, &format!("{ptr}/pattern"));
    }
    required_exist(cx, node, tool);
    if let Some(items) = node.get("items") {
        parameter(cx, key, items, &format!("{ptr}/items"), tool);
    }
    for (k, v) in node
        .get("properties")
        .map(Node::entries)
        .unwrap_or_default()
    {
        if let Some(name) = k.as_str() {
            parameter(
                cx,
                k,
                v,
                &format!("{ptr}/properties/{}", super::keys::escape(name)),
                tool,
            );
        }
    }
}

/// Every name in an object schema's `required` must be one of its `properties`.
fn required_exist(cx: &mut Checker<'_>, schema: &Node, tool: &str) {
    let Some(required) = schema.get("required") else {
        return;
    };
    let props: Vec<&str> = schema
        .get("properties")
        .map(|p| p.entries().iter().filter_map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    for item in required.items() {
        let Some(name) = item.as_str() else { continue };
        if props.contains(&name) {
            continue;
        }
        let help = match suggest(name, props.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("declare `{name}` under `properties`, or remove it from `required`"),
        };
        let diag = Diagnostic::error(
            "E0213",
            format!("tool `{tool}` requires `{name}`, which is not among its parameters"),
        )
        .at(item.span)
        .help(help);
        cx.report(None, diag);
    }
}

/// An argument printed into the URL's host or path without `urlencode_segment` (or into its
/// query without `urlencode`) can make the tool call another resource of the host.
fn url_args(cx: &mut Checker<'_>, url: &Node, tool: &str) {
    let Some(text) = url.as_str() else { return };
    for found in super::url_args::unfiltered(text) {
        let part = found.part.name();
        let diag = Diagnostic::warning(
            "W0210",
            format!(
                "`{{{{ {} }}}}` prints an argument into the {part} of the `url` of tool `{tool}` without `{}`",
                found.expr,
                found.part.filter()
            ),
        )
        .at(url.span)
        .help(format!(
            "write `| {}`: otherwise the model can pass `../`, `/`, `?` or `&` and call another resource with this tool's headers",
            found.part.filter()
        ));
        cx.report(None, diag);
    }
}

/// Cloud metadata services, which no tool may call.
const METADATA_HOSTS: &[&str] = &[
    "169.254.169.254",
    "169.254.170.2",
    "metadata.google.internal",
    "metadata",
    "[fd00:ec2::254]",
    "100.100.100.200",
];

/// The URL's host must be known: written in the URL or listed in `allow_hosts`.
fn hosts(cx: &mut Checker<'_>, http: &Node, url: &Node, tool: &str) {
    let Some(text) = url.as_str() else { return };
    let Some((scheme, rest)) = text.split_once("://") else {
        return;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let allowed: Vec<&str> = http
        .get("allow_hosts")
        .map(|h| h.items().iter().filter_map(Node::as_str).collect())
        .unwrap_or_default();
    if host.contains("{{") || host.contains("{%") {
        if allowed.is_empty() {
            let diag = Diagnostic::error("E0214", format!("the host in the `url` of tool `{tool}` is a template"))
                .at(url.span)
                .help("list the hosts it may reach in `allow_hosts`, so the model cannot send requests anywhere");
            cx.report(None, diag);
        }
        return;
    }
    if !allowed.is_empty() && !allowed.contains(&host) {
        let diag = Diagnostic::error(
            "E0214",
            format!("the `url` of tool `{tool}` calls `{host}`, which `allow_hosts` does not list"),
        )
        .at(url.span)
        .help(format!("add `{host}` to `allow_hosts`"));
        cx.report(None, diag);
    }
    let bare = host.split(':').next().unwrap_or(host).trim_end_matches('.');
    if METADATA_HOSTS.contains(&bare.to_ascii_lowercase().as_str()) {
        let diag = Diagnostic::error(
            "E0232",
            format!("tool `{tool}` calls `{host}`, a cloud metadata service"),
        )
        .at(url.span)
        .help("metadata services hand out the machine's credentials; a tool must never reach them");
        cx.report(None, diag);
    }
    let local = host.starts_with("localhost") || host.starts_with("127.0.0.1");
    if scheme == "http" && !local {
        let diag = Diagnostic::warning(
            "W0204",
            format!("tool `{tool}` calls `{host}` over plain HTTP"),
        )
        .at(url.span)
        .help("use `https://`: arguments and secrets would travel unencrypted");
        cx.report(None, diag);
    }
}

fn routing(cx: &mut Checker<'_>, root: &Node, tool_names: &[String], has_tools: bool) {
    let Some(rules) = root.get("routing") else {
        return;
    };
    let mut catch_all: Option<usize> = None;
    for (i, rule) in rules.items().iter().enumerate() {
        let ptr = format!("/routing/{i}");
        if !matches!(rule.value, crate::yaml::Value::Map(_)) {
            continue;
        }
        if let Some(first) = catch_all {
            let diag =
                Diagnostic::warning("W0202", format!("routing rule {} is never used", i + 1))
                    .at(Span::at(rule.span.start))
                    .help(format!(
                        "rule {} has no conditions and matches every message; move it last",
                        first + 1
                    ));
            cx.report(None, diag);
        }
        if rule.get("model").is_none()
            && rule.get("tools").is_none()
            && !cx.spans_skipped_line(rule.span)
        {
            let diag = Diagnostic::error("E0107", format!("routing rule {} names neither `model` nor `tools`", i + 1))
                .at(Span::at(rule.span.start))
                .help("say where matching messages go: `model: <model id>`, `tools: [<tool names>]`, or both");
            cx.report(format!("oneof:{ptr}"), diag);
        }
        if let Some(model) = rule.get("model") {
            if model_id(cx, model, &format!("{ptr}/model")) && has_tools {
                let offers_tools = rule.get("tools").is_none_or(|t| !t.items().is_empty());
                let needs = rule
                    .get("when")
                    .and_then(|w| w.get("needs_tools"))
                    .and_then(Node::as_bool);
                if offers_tools && needs != Some(false) {
                    not_function_calling(cx, model, "this rule offers it tools");
                }
            }
        }
        for item in rule.get("tools").map(Node::items).unwrap_or_default() {
            let Some(name) = item.as_str() else { continue };
            if tool_names.iter().any(|t| t == name) {
                continue;
            }
            let help = match suggest(name, tool_names.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None if tool_names.is_empty() => "the agent declares no tools".to_string(),
                None => format!("the agent's tools are: {}", tool_names.join(", ")),
            };
            let diag = Diagnostic::error(
                "E0208",
                format!("routing rule {} offers unknown tool `{name}`", i + 1),
            )
            .at(item.span)
            .help(help);
            cx.report(None, diag);
        }
        let when = rule.get("when");
        if when.is_none_or(|w| w.entries().is_empty()) && catch_all.is_none() {
            catch_all = Some(i);
        }
        if let Some(when) = when {
            condition(cx, when, &format!("{ptr}/when"), has_tools);
        }
    }
}

fn condition(cx: &mut Checker<'_>, when: &Node, ptr: &str, has_tools: bool) {
    if let Some(pattern) = when.get("matches") {
        regex(cx, pattern, &format!("{ptr}/matches"));
    }
    if let (Some(min), Some(max)) = (
        when.get("min_chars").and_then(Node::as_i64),
        when.get("max_chars").and_then(Node::as_i64),
    ) {
        if min > max {
            let at = when.get("min_chars").map_or(when.span, |n| n.span);
            let diag = Diagnostic::error(
                "E0217",
                format!("`min_chars` ({min}) is greater than `max_chars` ({max})"),
            )
            .at(at)
            .help("no message can match this rule; swap the two");
            cx.report(None, diag);
        }
    }
    if let Some(needs) = when
        .get("needs_tools")
        .filter(|n| n.as_bool() == Some(true) && !has_tools)
    {
        let diag = Diagnostic::warning(
            "W0205",
            "`needs_tools: true` never matches: the agent declares no tools",
        )
        .at(needs.span)
        .help("declare tools, or remove this condition");
        cx.report(None, diag);
    }
    if let Some(header) = when
        .get("header")
        .filter(|h| matches!(h.value, crate::yaml::Value::Map(_)))
    {
        let tests = [header.get("equals"), header.get("matches")];
        if tests.iter().filter(|t| t.is_some()).count() != 1 {
            let diag = Diagnostic::error(
                "E0216",
                "a header condition needs exactly one of `equals` and `matches`",
            )
            .at(Span::at(header.span.start))
            .help("e.g. `header: { name: x-plan, equals: pro }`");
            cx.report(None, diag);
        }
        if let Some(pattern) = header.get("matches") {
            regex(cx, pattern, &format!("{ptr}/header/matches"));
        }
    }
}

/// A regex must compile with regex-lite, the engine the Worker runs.
fn regex(cx: &mut Checker<'_>, node: &Node, ptr: &str) {
    let Some(pattern) = node.as_str() else { return };
    let Err(err) = regex_lite::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
    else {
        return;
    };
    let detail = err.to_string();
    let detail = detail
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .trim_start_matches("error: ");
    let diag = Diagnostic::error("E0204", format!("invalid regex `{pattern}`: {detail}"))
        .at(node.span)
        .help("patterns use regex-lite syntax (Rust `regex` without Unicode classes); escape literal `( ) [ ] { } . * + ? |` with `\\`");
    cx.report(format!("value:{ptr}"), diag);
}
