//! Lowering a checked agent file to the IR, with every default applied.
//!
//! Runs only after the schema and the semantic rules found no error, so types and references are
//! known to be right; a value that is still not as expected yields `None` instead of a panic.

use super::DEFAULT_APPROVAL_EXPIRES_SECS;
use super::{
    parse_duration, DEFAULT_CORS_MAX_AGE_SECS, DEFAULT_HISTORY_WINDOW, DEFAULT_HTTP_TIMEOUT_MS,
};
use super::{DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_STEPS, DEFAULT_MAX_TOKENS};
use crate::ir;
use crate::schema::to_json;
use crate::yaml::Node;
use std::path::Path;

pub(crate) fn agent(root: &Node, source: &Path) -> Option<ir::Agent> {
    let tools = root
        .get("tools")
        .map(|t| t.items().iter().map(tool).collect::<Option<Vec<_>>>())
        .unwrap_or(Some(Vec::new()))?;
    let routes = root
        .get("routing")
        .map(|r| r.items().iter().map(route).collect::<Option<Vec<_>>>())
        .unwrap_or(Some(Vec::new()))?;
    let limits = root.get("limits");
    let defaults = ir::Limits::default();
    Some(ir::Agent {
        name: str_of(root, "name")?,
        description: str_of(root, "description"),
        source: source.to_path_buf(),
        model: model(root.get("model")?)?,
        system: str_of(root, "system")?,
        history: ir::History {
            window: u32_of(root.get("history"), "window").unwrap_or(DEFAULT_HISTORY_WINDOW),
            keep: u32_of(root.get("history"), "keep").unwrap_or(super::DEFAULT_HISTORY_KEEP),
            max_tokens: u32_of(root.get("history"), "max_tokens")
                .unwrap_or(super::DEFAULT_HISTORY_MAX_TOKENS),
        },
        max_steps: u32_of(Some(root), "max_steps").unwrap_or(DEFAULT_MAX_STEPS),
        secrets: strings(root.get("secrets")),
        tools,
        routes,
        cache: match root.get("cache") {
            Some(c) => Some(ir::Cache {
                ttl_secs: duration_of(c, "ttl")?,
            }),
            None => None,
        },
        rate_limit: match root.get("rate_limit") {
            Some(r) => Some(rate_limit(r)?),
            None => None,
        },
        auth: match root.get("auth") {
            Some(a) => Some(ir::Auth {
                api_keys_secret: str_of(a, "api_keys_secret")?,
            }),
            None => None,
        },
        cors: root.get("cors").map(cors),
        limits: ir::Limits {
            max_input_chars: u32_of(limits, "max_input_chars").unwrap_or(defaults.max_input_chars),
            max_body_bytes: u32_of(limits, "max_body_bytes").unwrap_or(defaults.max_body_bytes),
        },
        page: root.get("page").and_then(Node::as_bool).unwrap_or(false),
        ai_sdk: root.get("ai_sdk").and_then(Node::as_bool).unwrap_or(false),
        max_tool_calls: u32_of(Some(root), "max_tool_calls")
            .unwrap_or(super::DEFAULT_MAX_TOOL_CALLS),
        stream_tool_results: root
            .get("stream_tool_results")
            .and_then(Node::as_bool)
            .unwrap_or(true),
        client_session_ids: root
            .get("sessions")
            .and_then(|s| s.get("client_ids"))
            .and_then(Node::as_bool)
            .unwrap_or(false),
        mcp: root
            .get("mcp")
            .map(|m| m.items().iter().map(mcp_server).collect::<Option<Vec<_>>>())
            .unwrap_or(Some(Vec::new()))?,
        approval_expires_secs: root
            .get("approvals")
            .and_then(|a| duration_of(a, "expires"))
            .unwrap_or(DEFAULT_APPROVAL_EXPIRES_SECS),
    })
}

fn mcp_server(node: &Node) -> Option<ir::McpServer> {
    let name = str_of(node, "name")?;
    let url = str_of(node, "url")?;
    let approval = strings(node.get("approval"));
    let tools = strings(node.get("tools"))
        .into_iter()
        .map(|tool| ir::McpTool {
            offered: ir::McpServer::offered_name(&name, &tool),
            approval: approval.contains(&tool),
            name: tool,
            locked: None,
        })
        .collect();
    Some(ir::McpServer {
        headers: headers(node.get("headers")),
        timeout_ms: u32_of(Some(node), "timeout_ms").unwrap_or(DEFAULT_HTTP_TIMEOUT_MS),
        allow_hosts: vec![url_host(&url)?.to_owned()],
        tools,
        name,
        url,
    })
}

/// The host (and port) written in a URL.
fn url_host(url: &str) -> Option<&str> {
    url.split_once("://")?.1.split(['/', '?', '#']).next()
}

fn headers(node: Option<&Node>) -> Vec<(String, String)> {
    node.map(|h| {
        h.entries()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
            .collect()
    })
    .unwrap_or_default()
}

fn str_of(node: &Node, key: &str) -> Option<String> {
    node.get(key).and_then(Node::as_str).map(str::to_owned)
}

fn u32_of(node: Option<&Node>, key: &str) -> Option<u32> {
    node?.get(key)?.as_i64().and_then(|i| u32::try_from(i).ok())
}

fn duration_of(node: &Node, key: &str) -> Option<u64> {
    parse_duration(node.get(key)?.as_str()?)
}

fn strings(node: Option<&Node>) -> Vec<String> {
    node.map(|n| {
        n.items()
            .iter()
            .filter_map(Node::as_str)
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

fn model(node: &Node) -> Option<ir::Model> {
    // `model: "@cf/..."` is shorthand for `model: { id: "@cf/..." }`.
    if let Some(id) = node.as_str() {
        return Some(ir::Model {
            id: id.to_owned(),
            max_tokens: DEFAULT_MAX_TOKENS,
            temperature: None,
            fallbacks: Vec::new(),
        });
    }
    Some(ir::Model {
        id: str_of(node, "id")?,
        max_tokens: u32_of(Some(node), "max_tokens").unwrap_or(DEFAULT_MAX_TOKENS),
        temperature: node
            .get("temperature")
            .and_then(Node::as_f64)
            .map(|t| t as f32),
        fallbacks: strings(node.get("fallbacks")),
    })
}

fn tool(node: &Node) -> Option<ir::Tool> {
    let kind = if let Some(http) = node.get("http") {
        ir::ToolKind::Http(http_tool(http)?)
    } else if let Some(path) = node.get("rust") {
        ir::ToolKind::Rust {
            path: path.as_str()?.to_owned(),
        }
    } else {
        ir::ToolKind::Builtin(match node.get("builtin")?.as_str()? {
            "clock" => ir::Builtin::Clock,
            "calculator" => ir::Builtin::Calculator,
            _ => return None,
        })
    };
    let mut parameters = node
        .get("parameters")
        .map(to_json)
        .unwrap_or_else(|| serde_json::json!({}));
    if let Some(map) = parameters.as_object_mut() {
        map.insert("type".into(), "object".into());
        map.entry("properties")
            .or_insert_with(|| serde_json::json!({}));
    }
    Some(ir::Tool {
        name: str_of(node, "name")?,
        description: str_of(node, "description").unwrap_or_default(),
        parameters,
        kind,
        approval: node.get("approval").and_then(Node::as_str) == Some("required"),
    })
}

fn http_tool(node: &Node) -> Option<ir::HttpTool> {
    let url = str_of(node, "url")?;
    let mut allow_hosts = strings(node.get("allow_hosts"));
    if allow_hosts.is_empty() {
        let host = url.split_once("://")?.1.split(['/', '?', '#']).next()?;
        allow_hosts.push(host.to_owned());
    }
    Some(ir::HttpTool {
        method: str_of(node, "method").unwrap_or_else(|| "GET".into()),
        headers: node
            .get("headers")
            .map(|h| {
                h.entries()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
        body: str_of(node, "body"),
        timeout_ms: u32_of(Some(node), "timeout_ms").unwrap_or(DEFAULT_HTTP_TIMEOUT_MS),
        max_response_bytes: u32_of(Some(node), "max_response_bytes")
            .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
        allow_hosts,
        url,
    })
}

fn route(node: &Node) -> Option<ir::Route> {
    let when = match node.get("when") {
        Some(w) => ir::Condition {
            max_chars: u32_of(Some(w), "max_chars"),
            min_chars: u32_of(Some(w), "min_chars"),
            matches: str_of(w, "matches"),
            needs_tools: w.get("needs_tools").and_then(Node::as_bool),
            header: match w.get("header") {
                Some(h) => Some(ir::HeaderMatch {
                    name: str_of(h, "name")?.to_ascii_lowercase(),
                    test: match (str_of(h, "equals"), str_of(h, "matches")) {
                        (Some(value), None) => ir::HeaderTest::Equals(value),
                        (None, Some(pattern)) => ir::HeaderTest::Matches(pattern),
                        _ => return None,
                    },
                }),
                None => None,
            },
        },
        None => ir::Condition::default(),
    };
    Some(ir::Route {
        when,
        model: str_of(node, "model"),
        tools: node.get("tools").map(|t| strings(Some(t))),
    })
}

fn rate_limit(node: &Node) -> Option<ir::RateLimit> {
    Some(ir::RateLimit {
        per: match node.get("per").and_then(Node::as_str).unwrap_or("ip") {
            "api_key" => ir::RateKey::ApiKey,
            "ip" => ir::RateKey::Ip,
            "session" => ir::RateKey::Session,
            _ => return None,
        },
        limit: u32_of(Some(node), "limit")?,
        window_secs: duration_of(node, "window")?,
        token_budget: node
            .get("token_budget")
            .and_then(Node::as_i64)
            .and_then(|t| u64::try_from(t).ok()),
    })
}

fn cors(node: &Node) -> ir::Cors {
    let headers = strings(node.get("allow_headers"));
    ir::Cors {
        allow_origins: strings(node.get("allow_origins")),
        allow_credentials: node
            .get("allow_credentials")
            .and_then(Node::as_bool)
            .unwrap_or(false),
        allow_headers: if node.get("allow_headers").is_some() {
            headers
        } else {
            vec!["content-type".into(), "authorization".into()]
        },
        max_age_secs: duration_of(node, "max_age").unwrap_or(DEFAULT_CORS_MAX_AGE_SECS),
    }
}
