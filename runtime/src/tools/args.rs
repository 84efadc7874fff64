//! Checking a tool call's arguments against the tool's JSON Schema before the tool runs, so that a
//! model's mistake comes back to it as a precise error instead of reaching the tool.
//!
//! The checked keywords are the subset tool schemas use: `type` (one name or a list; `integer`
//! accepts a float with no fraction), `enum`, `const`, `properties`, `required`,
//! `additionalProperties` (`false` or a schema), `items` (a schema for every item, or a list for
//! the leading ones), `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers, or
//! the booleans of draft 4), `minLength`/`maxLength` (in characters), `minItems`/`maxItems`,
//! `allOf`, `anyOf` (at least one branch matches) and `oneOf` (exactly one does), and `pattern`
//! (a regex-lite expression that must find a match). `true` and `false` are schemas that accept
//! everything and nothing. Other keywords, `$ref` among them, are ignored by [`validate`]; an
//! agent file cannot use them for a tool's parameters: [`PARAMETER_KEYWORDS`] is the one list of
//! what a parameter may say, read by `agentc check` and pinned to the agent schema by a test.
//!
//! A tool's arguments are checked with [`validate_arguments`], which closes every object: a
//! property the schema does not declare is an error, not something passed on to the tool.

use serde_json::{Map, Number, Value};
use std::fmt;

/// Every keyword a tool parameter may use in an agent file. `agentc check` knows a parameter's
/// keys from this list (and refuses any other), and [`validate`] enforces each of them except the
/// [`ANNOTATIONS`]; so a parameter never says something that is not enforced. A test pins the list
/// to `schema/agent.schema.json`.
pub const PARAMETER_KEYWORDS: &[&str] = &[
    "type",
    "description",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
];

/// The keywords of [`PARAMETER_KEYWORDS`] that only inform the model.
pub const ANNOTATIONS: &[&str] = &["description", "default"];

/// Checks a tool call's arguments against the tool's parameters, with every object schema
/// closed: properties it does not declare are refused unless it says `additionalProperties`.
pub fn validate_arguments(schema: &Value, value: &Value) -> Result<(), Vec<ArgError>> {
    let mut schema = schema.clone();
    close_objects(&mut schema);
    validate(&schema, value)
}

/// Adds `"additionalProperties": false` to every object schema that does not say otherwise.
fn close_objects(schema: &mut Value) {
    let Value::Object(map) = schema else { return };
    let is_object = match map.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
        None => map.contains_key("properties"),
        _ => false,
    };
    if is_object && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(close_objects);
    }
    match map.get_mut("items") {
        Some(Value::Array(items)) => items.iter_mut().for_each(close_objects),
        Some(items) => close_objects(items),
        None => {}
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = map.get_mut(keyword) {
            branches.iter_mut().for_each(close_objects);
        }
    }
}

/// One way the arguments do not match the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// A JSON pointer to the value, such as `/items/0/name`; empty for the arguments as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "arguments: {}", self.message)
        } else {
            write!(f, "`{}`: {}", self.path, self.message)
        }
    }
}

/// Checks `value` against `schema`, returning every error found.
///
/// The order is stable: depth first; at each value `type`, `enum` and `const`, then the keywords
/// of its kind (for an object: missing `required` properties, `properties`, then additional
/// properties, each in `serde_json::Map` order), then `allOf`, `anyOf` and `oneOf`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<ArgError>> {
    let mut errors = Vec::new();
    check(schema, value, &mut String::new(), &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Joins errors into one message for the model, such as
/// "invalid arguments: `/location`: expected string, found number".
pub fn describe(errors: &[ArgError]) -> String {
    let errors: Vec<String> = errors.iter().map(ArgError::to_string).collect();
    format!("invalid arguments: {}", errors.join("; "))
}

/// Checks one value; `path` is its JSON pointer, extended and restored around children.
fn check(schema: &Value, value: &Value, path: &mut String, errors: &mut Vec<ArgError>) {
    let schema = match schema {
        Value::Bool(true) => return,
        Value::Bool(false) => return push(errors, path, "no value is allowed here".to_string()),
        Value::Object(schema) => schema,
        _ => return,
    };
    if let Some(types) = schema.get("type") {
        if let Err(message) = check_type(types, value) {
            // The other keywords would only repeat the mismatch.
            return push(errors, path, message);
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.iter().any(|option| json_eq(option, value)) {
            let list: Vec<String> = options.iter().map(show).collect();
            let message = format!("expected one of {}, found {}", list.join(", "), show(value));
            push(errors, path, message);
        }
    }
    if let Some(expected) = schema.get("const") {
        if !json_eq(expected, value) {
            let message = format!("expected {}, found {}", show(expected), show(value));
            push(errors, path, message);
        }
    }
    match value {
        Value::Number(n) => check_number(schema, n, path, errors),
        Value::String(s) => {
            let bounds = ["minLength", "maxLength"];
            check_count(
                schema,
                bounds,
                (s.chars().count(), "character"),
                path,
                errors,
            );
            check_pattern(schema, s, path, errors);
        }
        Value::Array(items) => check_array(schema, items, path, errors),
        Value::Object(object) => check_object(schema, object, path, errors),
        _ => {}
    }
    check_combinators(schema, value, path, errors);
}

fn check_type(types: &Value, value: &Value) -> Result<(), String> {
    let names: Vec<&str> = match types {
        Value::String(name) => vec![name],
        Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    if names.iter().any(|name| has_type(value, name)) {
        return Ok(());
    }
    let found = match value {
        Value::Number(n) if names.contains(&"integer") => format!("number {n}"),
        _ => kind(value).to_string(),
    };
    Err(format!("expected {}, found {found}", names.join(" or ")))
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "integer" => value
            .as_f64()
            .is_some_and(|n| value.is_i64() || value.is_u64() || n.fract() == 0.0),
        "number" => value.is_number(),
        _ => kind(value) == name,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_number(schema: &Map<String, Value>, n: &Number, path: &str, errors: &mut Vec<ArgError>) {
    let Some(x) = n.as_f64() else { return };
    // Draft 4 spells an exclusive bound as `"exclusiveMinimum": true` next to `minimum`.
    let strict = |key: &str| schema.get(key) == Some(&Value::Bool(true));
    let bounds = [
        ("minimum", true, strict("exclusiveMinimum")),
        ("maximum", false, strict("exclusiveMaximum")),
        ("exclusiveMinimum", true, true),
        ("exclusiveMaximum", false, true),
    ];
    for (key, lower, strict) in bounds {
        let Some(bound) = schema.get(key).filter(|b| b.is_number()) else {
            continue;
        };
        let limit = bound.as_f64().unwrap_or(f64::NAN);
        let (ok, relation) = match (lower, strict) {
            (true, false) => (x >= limit, "at least"),
            (true, true) => (x > limit, "greater than"),
            (false, false) => (x <= limit, "at most"),
            (false, true) => (x < limit, "less than"),
        };
        if !ok {
            let message = format!("must be {relation} {bound}, found {n}");
            push(errors, path, message);
        }
    }
}

/// Checks a string against `pattern`, a regex-lite expression that must find a match. A pattern
/// that does not compile matches nothing (`agentc check` refuses such a file).
fn check_pattern(schema: &Map<String, Value>, s: &str, path: &str, errors: &mut Vec<ArgError>) {
    let Some(pattern) = schema.get("pattern").and_then(Value::as_str) else {
        return;
    };
    let matched = regex_lite::Regex::new(pattern).is_ok_and(|re| re.is_match(s));
    if !matched {
        let message = format!(
            "must match the pattern {}, found {}",
            show(&Value::from(pattern)),
            show(&Value::from(s))
        );
        push(errors, path, message);
    }
}

/// Checks a count (of characters or items) against the `min` and `max` keywords.
fn check_count(
    schema: &Map<String, Value>,
    [min, max]: [&str; 2],
    (count, unit): (usize, &str),
    path: &str,
    errors: &mut Vec<ArgError>,
) {
    let count = count as u64;
    let limit = |key| schema.get(key).and_then(Value::as_u64);
    if let Some(min) = limit(min).filter(|min| count < *min) {
        let message = format!("must have at least {}, found {count}", plural(min, unit));
        push(errors, path, message);
    }
    if let Some(max) = limit(max).filter(|max| count > *max) {
        let message = format!("must have at most {}, found {count}", plural(max, unit));
        push(errors, path, message);
    }
}

fn check_array(
    schema: &Map<String, Value>,
    items: &[Value],
    path: &mut String,
    errors: &mut Vec<ArgError>,
) {
    let bounds = ["minItems", "maxItems"];
    check_count(schema, bounds, (items.len(), "item"), path, errors);
    for (i, item) in items.iter().enumerate() {
        let item_schema = match schema.get("items") {
            Some(Value::Array(tuple)) => tuple.get(i),
            other => other,
        };
        if let Some(item_schema) = item_schema {
            descend(path, &i.to_string(), |path| {
                check(item_schema, item, path, errors)
            });
        }
    }
}

fn check_object(
    schema: &Map<String, Value>,
    object: &Map<String, Value>,
    path: &mut String,
    errors: &mut Vec<ArgError>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                descend(path, name, |path| {
                    push(errors, path, "missing required property".to_string())
                });
            }
        }
    }
    for (name, property_schema) in properties.into_iter().flatten() {
        if let Some(property) = object.get(name) {
            descend(path, name, |path| {
                check(property_schema, property, path, errors)
            });
        }
    }
    let additional = schema.get("additionalProperties");
    if matches!(additional, None | Some(Value::Bool(true))) {
        return;
    }
    let known: Vec<&str> = properties
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for (name, property) in object {
        if known.contains(&name.as_str()) {
            continue;
        }
        descend(path, name, |path| match additional {
            Some(Value::Bool(false)) if known.is_empty() => push(
                errors,
                path,
                "unexpected property; this tool takes none".to_string(),
            ),
            Some(Value::Bool(false)) => {
                let message = format!(
                    "unexpected property; the known ones are {}",
                    known.join(", ")
                );
                push(errors, path, message)
            }
            Some(additional) => check(additional, property, path, errors),
            None => {}
        });
    }
}

fn check_combinators(
    schema: &Map<String, Value>,
    value: &Value,
    path: &mut String,
    errors: &mut Vec<ArgError>,
) {
    if let Some(Value::Array(branches)) = schema.get("allOf") {
        for branch in branches {
            check(branch, value, path, errors);
        }
    }
    for (keyword, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        let Some(Value::Array(branches)) = schema.get(keyword) else {
            continue;
        };
        let mut failures = Vec::new();
        let mut matched = Vec::new();
        for (i, branch) in branches.iter().enumerate() {
            let mut branch_errors = Vec::new();
            check(branch, value, path, &mut branch_errors);
            if branch_errors.is_empty() {
                matched.push((i + 1).to_string());
            } else {
                // Errors about the value itself need no path: the message already has it.
                let reasons: Vec<String> = branch_errors
                    .iter()
                    .map(|e| {
                        if e.path == *path {
                            e.message.clone()
                        } else {
                            e.to_string()
                        }
                    })
                    .collect();
                failures.push(format!("{}: {}", i + 1, reasons.join(", ")));
            }
        }
        if matched.is_empty() {
            let message = format!(
                "matches none of the {} alternatives of `{keyword}` ({})",
                branches.len(),
                failures.join("; ")
            );
            push(errors, path, message);
        } else if exactly_one && matched.len() > 1 {
            let message = format!(
                "matches alternatives {} of `oneOf`, but must match exactly one",
                matched.join(" and ")
            );
            push(errors, path, message);
        }
    }
}

fn push(errors: &mut Vec<ArgError>, path: &str, message: String) {
    errors.push(ArgError {
        path: path.to_string(),
        message,
    });
}

/// Runs `f` with `path` extended by one JSON pointer segment, escaping `~` and `/`.
fn descend(path: &mut String, segment: &str, f: impl FnOnce(&mut String)) {
    let len = path.len();
    path.push('/');
    path.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    f(path);
    path.truncate(len);
}

/// JSON equality in which numbers are equal by value, so that `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(key, x)| y.get(key).is_some_and(|y| json_eq(x, y)))
        }
        _ => a == b,
    }
}

/// "1 item", "2 items".
fn plural(n: u64, word: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {word}{s}")
}

/// A value as JSON for a message, cut short if long.
fn show(value: &Value) -> String {
    const MAX: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

#[cfg(test)]
mod tests;
