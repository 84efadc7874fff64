//! The keys of every mapping of the language, and the check that reports unknown ones with a
//! "did you mean" suggestion.
//!
//! Each [`Shape`] names the schema definition it mirrors; a test walks the schema and asserts
//! that both list the same keys, so the checker and the schema cannot drift apart.

use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::yaml::Node;

/// A mapping of the language: its keys and the mappings nested in them.
pub struct Shape {
    /// How messages name a mapping of this shape.
    pub what: &'static str,
    /// The JSON pointer of its definition in the schema.
    pub schema: &'static str,
    pub keys: &'static [&'static str],
    pub children: &'static [(&'static str, Nest, &'static Shape)],
}

/// Where under a key the nested mapping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nest {
    /// The key's value.
    Value,
    /// Each item of the key's list.
    Items,
    /// Each value of the key's mapping.
    Values,
}

pub static AGENT: Shape = Shape {
    what: "the agent",
    schema: "",
    keys: &[
        "name",
        "description",
        "model",
        "system",
        "history",
        "max_steps",
        "max_tool_calls",
        "stream_tool_results",
        "secrets",
        "tools",
        "routing",
        "cache",
        "rate_limit",
        "auth",
        "cors",
        "limits",
        "page",
        "ai_sdk",
        "sessions",
        "mcp",
        "approvals",
    ],
    children: &[
        ("model", Nest::Value, &MODEL),
        ("history", Nest::Value, &HISTORY),
        ("tools", Nest::Items, &TOOL),
        ("routing", Nest::Items, &ROUTE),
        ("cache", Nest::Value, &CACHE),
        ("rate_limit", Nest::Value, &RATE_LIMIT),
        ("auth", Nest::Value, &AUTH),
        ("cors", Nest::Value, &CORS),
        ("limits", Nest::Value, &LIMITS),
        ("sessions", Nest::Value, &SESSIONS),
        ("mcp", Nest::Items, &MCP_SERVER),
        ("approvals", Nest::Value, &APPROVALS),
    ],
};

pub static MODEL: Shape = Shape {
    what: "`model`",
    schema: "/$defs/model_id_or_settings/else",
    keys: &["id", "max_tokens", "temperature", "fallbacks"],
    children: &[],
};

pub static HISTORY: Shape = Shape {
    what: "`history`",
    schema: "/properties/history",
    keys: &["window", "keep", "max_tokens"],
    children: &[],
};

pub static TOOL: Shape = Shape {
    what: "a tool",
    schema: "/$defs/tool",
    keys: &[
        "name",
        "description",
        "parameters",
        "http",
        "rust",
        "builtin",
        "approval",
    ],
    children: &[
        ("parameters", Nest::Value, &PARAMETERS),
        ("http", Nest::Value, &HTTP),
    ],
};

pub static PARAMETERS: Shape = Shape {
    what: "a tool's `parameters`",
    schema: "/$defs/parameters",
    keys: &["type", "description", "properties", "required"],
    children: &[("properties", Nest::Values, &PARAMETER)],
};

pub static PARAMETER: Shape = Shape {
    what: "a tool parameter",
    schema: "/$defs/parameter",
    // One list with the runtime, which enforces each of them (or treats it as an annotation).
    keys: agentc_runtime::tools::args::PARAMETER_KEYWORDS,
    children: &[
        ("items", Nest::Value, &PARAMETER),
        ("properties", Nest::Values, &PARAMETER),
    ],
};

pub static HTTP: Shape = Shape {
    what: "a tool's `http`",
    schema: "/$defs/http",
    keys: &[
        "method",
        "url",
        "headers",
        "body",
        "timeout_ms",
        "allow_hosts",
        "max_response_bytes",
    ],
    children: &[],
};

pub static ROUTE: Shape = Shape {
    what: "a routing rule",
    schema: "/$defs/route",
    keys: &["when", "model", "tools"],
    children: &[("when", Nest::Value, &CONDITION)],
};

pub static CONDITION: Shape = Shape {
    what: "a routing rule's `when`",
    schema: "/$defs/condition",
    keys: &["max_chars", "min_chars", "matches", "needs_tools", "header"],
    children: &[("header", Nest::Value, &HEADER_MATCH)],
};

pub static HEADER_MATCH: Shape = Shape {
    what: "`when.header`",
    schema: "/$defs/header_match",
    keys: &["name", "equals", "matches"],
    children: &[],
};

pub static CACHE: Shape = Shape {
    what: "`cache`",
    schema: "/properties/cache",
    keys: &["ttl"],
    children: &[],
};

pub static RATE_LIMIT: Shape = Shape {
    what: "`rate_limit`",
    schema: "/properties/rate_limit",
    keys: &["per", "limit", "window", "token_budget"],
    children: &[],
};

pub static AUTH: Shape = Shape {
    what: "`auth`",
    schema: "/properties/auth",
    keys: &["api_keys_secret"],
    children: &[],
};

pub static CORS: Shape = Shape {
    what: "`cors`",
    schema: "/properties/cors",
    keys: &[
        "allow_origins",
        "allow_credentials",
        "allow_headers",
        "max_age",
    ],
    children: &[],
};

pub static LIMITS: Shape = Shape {
    what: "`limits`",
    schema: "/properties/limits",
    keys: &["max_input_chars", "max_body_bytes"],
    children: &[],
};

pub static SESSIONS: Shape = Shape {
    what: "`sessions`",
    schema: "/properties/sessions",
    keys: &["client_ids"],
    children: &[],
};

pub static MCP_SERVER: Shape = Shape {
    what: "an MCP server",
    schema: "/$defs/mcp_server",
    keys: &["name", "url", "headers", "tools", "approval", "timeout_ms"],
    children: &[],
};

pub static APPROVALS: Shape = Shape {
    what: "`approvals`",
    schema: "/properties/approvals",
    keys: &["expires"],
    children: &[],
};

/// Every shape, for tests and tools.
pub static ALL: &[&Shape] = &[
    &AGENT,
    &MODEL,
    &HISTORY,
    &TOOL,
    &PARAMETERS,
    &PARAMETER,
    &HTTP,
    &ROUTE,
    &CONDITION,
    &HEADER_MATCH,
    &CACHE,
    &RATE_LIMIT,
    &AUTH,
    &CORS,
    &LIMITS,
    &SESSIONS,
    &MCP_SERVER,
    &APPROVALS,
];

/// Reports every key of `node` (and of the mappings nested in it) that its shape does not know.
/// `ptr` is the node's JSON pointer. Nodes that are not mappings are left to the schema.
pub(crate) fn unknown_keys(cx: &mut Checker<'_>, node: &Node, shape: &Shape, ptr: &str) {
    for (key, value) in node.entries() {
        let Some(name) = key.as_str() else { continue };
        let key_ptr = format!("{ptr}/{}", escape(name));
        if !shape.keys.contains(&name) {
            let message = format!("unknown key `{name}` in {}", shape.what);
            let mut claims = vec![format!("additional:{key_ptr}")];
            let diag = match suggest(name, shape.keys.iter().copied()) {
                Some(best) => {
                    claims.push(format!("required:{ptr}/{best}"));
                    Diagnostic::error("E0101", format!("{message}; did you mean `{best}`?"))
                        .at(key.span)
                        .help(format!("rename `{name}` to `{best}`"))
                }
                None => Diagnostic::error("E0101", message)
                    .at(key.span)
                    .help(format!(
                        "the keys of {} are: {}",
                        shape.what,
                        shape.keys.join(", ")
                    )),
            };
            for claim in claims {
                cx.claim(claim);
            }
            cx.report(None, diag);
            continue;
        }
        for (child_key, nest, child) in shape.children {
            if *child_key != name {
                continue;
            }
            match nest {
                Nest::Value => unknown_keys(cx, value, child, &key_ptr),
                Nest::Items => {
                    for (i, item) in value.items().iter().enumerate() {
                        unknown_keys(cx, item, child, &format!("{key_ptr}/{i}"));
                    }
                }
                Nest::Values => {
                    for (k, v) in value.entries() {
                        if let Some(k) = k.as_str() {
                            unknown_keys(cx, v, child, &format!("{key_ptr}/{}", escape(k)));
                        }
                    }
                }
            }
        }
    }
}

/// Escapes a key for a JSON pointer.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;
    use std::collections::BTreeSet;

    fn schema_keys(pointer: &str) -> BTreeSet<String> {
        let schema = crate::schema::schema().expect("schema parses");
        let def = schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("no schema at {pointer:?}"));
        assert_eq!(
            def.get("additionalProperties"),
            Some(&Json::Bool(false)),
            "{pointer} allows any key"
        );
        def["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn shapes_list_the_keys_of_the_schema() {
        for shape in ALL {
            let ours: BTreeSet<String> = shape.keys.iter().map(|k| k.to_string()).collect();
            assert_eq!(
                ours,
                schema_keys(shape.schema),
                "keys of {} differ from the schema",
                shape.what
            );
        }
    }

    #[test]
    fn every_closed_mapping_of_the_schema_has_a_shape() {
        fn closed(value: &Json, at: String, out: &mut BTreeSet<String>) {
            match value {
                Json::Object(map) => {
                    if map.get("additionalProperties") == Some(&Json::Bool(false))
                        && map.contains_key("properties")
                    {
                        out.insert(at.clone());
                    }
                    for (k, v) in map {
                        closed(v, format!("{at}/{}", escape(k)), out);
                    }
                }
                Json::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        closed(v, format!("{at}/{i}"), out);
                    }
                }
                _ => {}
            }
        }
        let mut found = BTreeSet::new();
        closed(crate::schema::schema().unwrap(), String::new(), &mut found);
        let ours: BTreeSet<String> = ALL.iter().map(|s| s.schema.to_string()).collect();
        assert_eq!(found, ours);
    }
}
