//! Unknown keys of a test file, with a "did you mean" suggestion.
//!
//! The known keys are read from the test schema itself as the tree is walked beside it
//! (`properties`, `items`, `$ref`, and the `oneOf` alternative of the node's type), so this check
//! and the schema cannot drift. Each finding claims the schema's own error for the same key
//! (see [`crate::schema::Finding::key`]), which is then not reported twice.

use crate::check::keys::escape;
use crate::check::suggest;
use crate::diagnostic::Diagnostic;
use crate::yaml::{Node, Value};
use serde_json::Value as Json;

/// Unknown keys found, each with the schema dedupe keys it takes the place of.
#[derive(Default)]
pub(super) struct Unknown {
    pub diagnostics: Vec<Diagnostic>,
    pub claims: Vec<String>,
}

/// Walks `node` beside its schema `at` (within the whole schema `root`). `ptr` is the node's
/// JSON pointer and `place` how messages name it.
pub(super) fn walk(node: &Node, root: &Json, at: &Json, ptr: &str, place: &str, out: &mut Unknown) {
    let Some((at, chosen)) = resolve(root, at, node) else {
        return;
    };
    let before = out.diagnostics.len();
    match &node.value {
        Value::Map(entries) => {
            let properties = at.get("properties").and_then(Json::as_object);
            let closed = at.get("additionalProperties") == Some(&Json::Bool(false));
            for (key, value) in entries {
                let Some(name) = key.as_str() else { continue };
                let key_ptr = format!("{ptr}/{}", escape(name));
                let key_place = if place.is_empty() {
                    name.to_owned()
                } else {
                    format!("{place}.{name}")
                };
                if let Some(schema) = properties.and_then(|p| p.get(name)) {
                    walk(value, root, schema, &key_ptr, &key_place, out);
                } else if closed {
                    report(name, key, properties, ptr, place, out);
                } else if let Some(schema) = at.get("additionalProperties") {
                    walk(value, root, schema, &key_ptr, &key_place, out);
                }
            }
        }
        Value::Seq(items) => {
            if let Some(schema) = at.get("items") {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        item,
                        root,
                        schema,
                        &format!("{ptr}/{i}"),
                        &format!("{place}[{i}]"),
                        out,
                    );
                }
            }
        }
        _ => {}
    }
    // An unknown key in a chosen `oneOf` alternative is also why no alternative matched: that
    // finding says it better.
    if chosen && out.diagnostics.len() > before {
        out.claims.push(format!("oneof:{ptr}"));
    }
}

fn report(
    name: &str,
    key: &Node,
    properties: Option<&serde_json::Map<String, Json>>,
    ptr: &str,
    place: &str,
    out: &mut Unknown,
) {
    let known: Vec<&str> = properties
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let what = if place.is_empty() {
        "the test file".to_owned()
    } else {
        format!("`{place}`")
    };
    let message = format!("unknown key `{name}` in {what}");
    out.claims
        .push(format!("additional:{ptr}/{}", escape(name)));
    let diag = match suggest(name, known.iter().copied()) {
        Some(best) => {
            out.claims.push(format!("required:{ptr}/{best}"));
            Diagnostic::error("E0101", format!("{message}; did you mean `{best}`?"))
                .at(key.span)
                .help(format!("rename `{name}` to `{best}`"))
        }
        None => Diagnostic::error("E0101", message)
            .at(key.span)
            .help(format!("the keys of {what} are: {}", known.join(", "))),
    };
    out.diagnostics.push(diag);
}

/// The schema that applies to `node`: `$ref`s followed, and of `oneOf` / `anyOf` the first
/// alternative that allows the node's type; and whether an alternative was chosen.
fn resolve<'a>(root: &'a Json, mut at: &'a Json, node: &Node) -> Option<(&'a Json, bool)> {
    let mut chosen = false;
    for _ in 0..16 {
        if let Some(target) = at.get("$ref").and_then(Json::as_str) {
            at = root.pointer(target.strip_prefix('#')?)?;
            continue;
        }
        let alternatives = at
            .get("oneOf")
            .or_else(|| at.get("anyOf"))
            .and_then(Json::as_array);
        if let Some(alternatives) = alternatives {
            at = alternatives.iter().find(|alt| allows(root, alt, node))?;
            chosen = true;
            continue;
        }
        return Some((at, chosen));
    }
    None
}

/// Whether a schema's `type` (after `$ref`s) admits the node's type; no `type`: anything.
fn allows<'a>(root: &'a Json, mut schema: &'a Json, node: &Node) -> bool {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Json::as_str) {
            Some(target) => match target.strip_prefix('#').and_then(|p| root.pointer(p)) {
                Some(next) => schema = next,
                None => return false,
            },
            None => break,
        }
    }
    let kind = node.type_name();
    let matches = |t: &str| t == kind || (t == "number" && kind == "integer");
    match schema.get("type") {
        Some(Json::String(t)) => matches(t),
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).any(matches),
        _ => true,
    }
}
