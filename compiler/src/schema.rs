//! The JSON Schema of an agent file, and validation against it with positions.
//!
//! The schema (`schema/agent.schema.json`, draft 2020-12) is compiled into agentc, printed by
//! `agentc schema`, and used by editors through yaml-language-server. [`validate`] converts the
//! YAML tree to JSON, validates it with the `jsonschema` crate and maps each error's instance
//! path back to the YAML node, so a schema error points into the file like every other finding.
//! Each error carries a dedupe key (see [`Finding::key`]) that lets the semantic checks, which say
//! the same thing better, take its place.

use crate::diagnostic::Diagnostic;
use crate::span::Span;
use crate::yaml::{Node, Value};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value as Json;
use std::sync::OnceLock;

/// The schema, as committed.
pub const SCHEMA: &str = include_str!("../../schema/agent.schema.json");

/// A schema error and the key it is deduplicated by.
#[derive(Debug, Clone)]
pub struct Finding {
    /// What the error is about: `value:<pointer>` (the node's value), `key:<pointer>` (a key's
    /// name), `additional:<pointer>` (a key not in the schema), `required:<pointer>` (a missing
    /// key, with the key's pointer), `oneof:<pointer>` (no or several alternatives match).
    pub key: String,
    pub diagnostic: Diagnostic,
    /// The span of the node the error is about (for a missing key, the mapping).
    pub within: Span,
}

/// The parsed schema, or why it cannot be used.
pub fn schema() -> Result<&'static Json, String> {
    static SCHEMA_JSON: OnceLock<Result<Json, String>> = OnceLock::new();
    SCHEMA_JSON
        .get_or_init(|| {
            serde_json::from_str(SCHEMA)
                .map_err(|err| format!("the agent schema is not JSON: {err}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn validator() -> Result<&'static Validator, String> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema = schema()?;
            jsonschema::draft202012::new(schema)
                .map_err(|err| format!("the agent schema is invalid: {err}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The JSON value of a YAML node. Non-string keys become their text; numbers JSON cannot hold
/// (NaN, infinities) become null.
pub fn to_json(node: &Node) -> Json {
    match &node.value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s, _) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => Json::Object(
            entries
                .iter()
                .map(|(k, v)| (key_text(k), to_json(v)))
                .collect(),
        ),
    }
}

fn key_text(key: &Node) -> String {
    match &key.value {
        Value::String(s, _) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Seq(_) | Value::Map(_) => "<collection>".into(),
    }
}

/// Validates an agent file's tree against the schema.
pub fn validate(root: &Node) -> Result<Vec<Finding>, Box<Diagnostic>> {
    let validator =
        validator().map_err(|err| Diagnostic::error("E0999", format!("internal error: {err}")))?;
    let schema =
        schema().map_err(|err| Diagnostic::error("E0999", format!("internal error: {err}")))?;
    Ok(validate_against(root, schema, validator, "the agent"))
}

/// Validates a tree against another schema of agentc's (e.g. that of test files), with the same
/// positions, messages and dedupe keys; `whole` names the document in messages ("the agent").
pub fn validate_against(
    root: &Node,
    schema: &Json,
    validator: &Validator,
    whole: &str,
) -> Vec<Finding> {
    let instance = to_json(root);
    let mut findings = Vec::new();
    for error in validator.iter_errors(&instance) {
        explain(root, schema, &error, whole, &mut findings);
    }
    findings
}

/// A path of the instance: JSON pointer segments, numbers for sequence indices.
fn segments(error: &ValidationError<'_>) -> Vec<String> {
    error
        .instance_path()
        .segments()
        .map(|s| s.to_string())
        .collect()
}

fn pointer(segments: &[String]) -> String {
    segments
        .iter()
        .map(|s| format!("/{}", s.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// `tools[0].http.url`, the way a person names a place in the file; `whole` for the root.
pub fn display_path(segments: &[String], node_at: impl Fn(usize) -> bool, whole: &str) -> String {
    let mut out = String::new();
    for (i, seg) in segments.iter().enumerate() {
        if node_at(i) {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    if out.is_empty() {
        whole.into()
    } else {
        format!("`{out}`")
    }
}

/// The node at a path and the span of the key it is the value of (none for list items and the
/// root).
fn lookup<'a>(root: &'a Node, segments: &[String]) -> Option<(&'a Node, Option<Span>)> {
    let mut node = root;
    let mut key = None;
    for seg in segments {
        match &node.value {
            Value::Map(entries) => {
                let (k, v) = entries.iter().find(|(k, _)| key_text(k) == *seg)?;
                key = Some(k.span);
                node = v;
            }
            Value::Seq(items) => {
                node = items.get(seg.parse::<usize>().ok()?)?;
                key = None;
            }
            _ => return None,
        }
    }
    Some((node, key))
}

fn explain(
    root: &Node,
    schema: &Json,
    error: &ValidationError<'_>,
    whole: &str,
    out: &mut Vec<Finding>,
) {
    let segs = segments(error);
    let Some((node, key_span)) = lookup(root, &segs) else {
        return;
    };
    let is_index = |i: usize| matches!(lookup(root, &segs[..i]), Some((n, _)) if matches!(n.value, Value::Seq(_)));
    let here = display_path(&segs, is_index, whole);
    let ptr = pointer(&segs);
    let help = describe(schema, error.evaluation_path().as_str());
    let within = node.span;
    let value_finding = |code: &'static str, message: String| Finding {
        within,
        key: format!("value:{ptr}"),
        diagnostic: with_help(Diagnostic::error(code, message).at(node.span), help.clone()),
    };
    let finding = match error.kind() {
        ValidationErrorKind::Type { .. } => {
            let expected = schema
                .pointer(error.schema_path().as_str())
                .map(expected_types)
                .unwrap_or_else(|| "another type".into());
            value_finding(
                "E0102",
                format!("{here} must be {expected}, found {}", found(node)),
            )
        }
        ValidationErrorKind::Enum { options } => {
            let list: Vec<String> = options.as_array().into_iter().flatten().map(show).collect();
            let message = if list.len() <= 8 {
                format!(
                    "{here} must be one of {}, found {}",
                    list.join(", "),
                    found(node)
                )
            } else {
                format!("{here} has a value that is not allowed: {}", found(node))
            };
            value_finding("E0104", message)
        }
        ValidationErrorKind::Constant { expected_value } => value_finding(
            "E0104",
            format!(
                "{here} must be {}, found {}",
                show(expected_value),
                found(node)
            ),
        ),
        ValidationErrorKind::Minimum { limit }
        | ValidationErrorKind::ExclusiveMinimum { limit } => value_finding(
            "E0105",
            format!("{here} must be at least {limit}, found {}", found(node)),
        ),
        ValidationErrorKind::Maximum { limit }
        | ValidationErrorKind::ExclusiveMaximum { limit } => value_finding(
            "E0105",
            format!("{here} must be at most {limit}, found {}", found(node)),
        ),
        ValidationErrorKind::MinLength { limit } => value_finding(
            "E0105",
            format!("{here} must be at least {limit} character(s) long"),
        ),
        ValidationErrorKind::MaxLength { limit } => value_finding(
            "E0105",
            format!("{here} must be at most {limit} characters long"),
        ),
        ValidationErrorKind::MinItems { limit } => value_finding(
            "E0105",
            format!("{here} must have at least {limit} item(s)"),
        ),
        ValidationErrorKind::MaxItems { limit } => {
            value_finding("E0105", format!("{here} must have at most {limit} item(s)"))
        }
        ValidationErrorKind::UniqueItems => {
            value_finding("E0108", format!("{here} lists the same item twice"))
        }
        ValidationErrorKind::Pattern { .. } => value_finding(
            "E0106",
            format!("{here} is not in the expected form: {}", found(node)),
        ),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let where_ = if segs.is_empty() {
                whole.to_string()
            } else {
                here.clone()
            };
            // A missing key is reported at the key that opens the mapping, or at the mapping.
            let span = key_span.unwrap_or(Span::at(node.span.start));
            let help = schema
                .pointer(error.schema_path().as_str().trim_end_matches("/required"))
                .and_then(|s| s.pointer(&format!("/properties/{name}/description")))
                .and_then(Json::as_str)
                .map(first_sentences);
            Finding {
                within,
                key: format!("required:{ptr}/{name}"),
                diagnostic: with_help(
                    Diagnostic::error(
                        "E0103",
                        format!("{where_} is missing the required key `{name}`"),
                    )
                    .at(span),
                    help,
                ),
            }
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                let span = node
                    .entries()
                    .iter()
                    .find(|(k, _)| key_text(k) == *name)
                    .map_or(node.span, |(k, _)| k.span);
                out.push(Finding {
                    within,
                    key: format!("additional:{ptr}/{name}"),
                    diagnostic: Diagnostic::error(
                        "E0101",
                        format!("unknown key `{name}` in {here}"),
                    )
                    .at(span),
                });
            }
            return;
        }
        ValidationErrorKind::PropertyNames { error: inner } => {
            let name = inner.instance().as_str().unwrap_or_default().to_owned();
            let span = node
                .entries()
                .iter()
                .find(|(k, _)| key_text(k) == name)
                .map_or(node.span, |(k, _)| k.span);
            Finding {
                within,
                key: format!("key:{ptr}/{name}"),
                diagnostic: with_help(
                    Diagnostic::error("E0106", format!("`{name}` is not a valid name in {here}"))
                        .at(span),
                    help,
                ),
            }
        }
        ValidationErrorKind::OneOfNotValid { .. }
        | ValidationErrorKind::OneOfMultipleValid { .. }
        | ValidationErrorKind::AnyOf { .. } => Finding {
            within,
            key: format!("oneof:{ptr}"),
            diagnostic: with_help(
                Diagnostic::error(
                    "E0107",
                    format!("{here} does not match any of its allowed forms"),
                )
                .at(node.span),
                help,
            ),
        },
        _ => value_finding("E0109", format!("{here}: {error}")),
    };
    out.push(finding);
}

fn with_help(diag: Diagnostic, help: Option<String>) -> Diagnostic {
    match help {
        Some(help) => diag.help(help),
        None => diag,
    }
}

/// "an integer", "a string or a mapping": the types a schema's `type` keyword allows.
fn expected_types(types: &Json) -> String {
    let names: Vec<&str> = match types {
        Json::String(t) => vec![type_words(t)],
        Json::Array(ts) => ts.iter().filter_map(Json::as_str).map(type_words).collect(),
        _ => vec!["another type"],
    };
    names.join(" or ")
}

fn type_words(t: &str) -> &'static str {
    match t {
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "object" => "a mapping",
        "array" => "a list",
        "null" => "null",
        _ => "another type",
    }
}

/// What a node holds, for "found ..." in messages.
pub fn found(node: &Node) -> String {
    match &node.value {
        Value::Null => "nothing (null)".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Int(i) => format!("`{i}`"),
        Value::Float(f) => format!("`{f}`"),
        Value::String(s, _) if s.chars().count() <= 40 && !s.contains('\n') => {
            format!("the string \"{s}\"")
        }
        Value::String(..) => "a string".into(),
        Value::Seq(_) => "a list".into(),
        Value::Map(_) => "a mapping".into(),
    }
}

fn show(value: &Json) -> String {
    match value {
        Json::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

/// The description of the innermost schema on an evaluation path (a keyword location that may
/// pass through `$ref`), for the help line. The description at a `$ref` is preferred over the
/// referenced definition's, since it says what the value means in this place.
fn describe(schema: &Json, evaluation_path: &str) -> Option<String> {
    let segs: Vec<String> = evaluation_path
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut node = schema;
    let mut best: Option<&str> = None;
    // The last segment is the failing keyword itself.
    for seg in segs.iter().take(segs.len().saturating_sub(1)) {
        let next = if seg == "$ref" {
            let target = node.get("$ref").and_then(Json::as_str)?;
            schema.pointer(target.strip_prefix('#')?)?
        } else {
            match node {
                Json::Object(map) => map.get(seg)?,
                Json::Array(items) => items.get(seg.parse::<usize>().ok()?)?,
                _ => return best.map(first_sentences),
            }
        };
        if let Some(desc) = next.get("description").and_then(Json::as_str) {
            let own_description = seg == "$ref" && node.get("description").is_some();
            if !own_description {
                best = Some(desc);
            }
        }
        node = next;
    }
    best.map(first_sentences)
}

/// A description cut to its first sentence when it is long, for a help line.
fn first_sentences(text: &str) -> String {
    const LONG: usize = 160;
    if text.len() <= LONG {
        return text.to_owned();
    }
    match text.find(". ") {
        Some(end) => text[..=end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_parses_and_compiles() {
        assert!(schema().is_ok());
        assert!(validator().is_ok());
    }

    #[test]
    fn errors_point_at_the_yaml_node() {
        let source = "name: weather\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: hi\nmax_steps: \"four\"\n";
        let root = crate::yaml::parse(source).unwrap();
        let findings = validate(&root).unwrap();
        assert_eq!(findings.len(), 1, "{findings:?}");
        let diag = &findings[0].diagnostic;
        assert_eq!(findings[0].key, "value:/max_steps");
        assert_eq!(
            diag.message,
            "`max_steps` must be an integer, found the string \"four\""
        );
        let span = diag.span.unwrap();
        assert_eq!((span.start.line, span.start.col), (4, 12));
        assert!(diag
            .help
            .as_deref()
            .unwrap_or("")
            .contains("bound of the tool loop"));
    }
}
