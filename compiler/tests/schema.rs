//! The committed JSON Schema: it is what `agentc schema` prints, it is a valid draft 2020-12
//! schema, every property is described for editor hovers, and it agrees with the checker's
//! model catalogue.

use agentc::{models, schema};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn committed() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/agent.schema.json");
    std::fs::read_to_string(path).expect("schema/agent.schema.json is committed")
}

#[test]
fn agentc_schema_prints_the_committed_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_agentc"))
        .arg("schema")
        .output()
        .expect("agentc runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).expect("utf-8"), committed());
    assert_eq!(schema::SCHEMA, committed());
}

#[test]
fn the_schema_is_valid_draft_2020_12() {
    let schema = schema::schema().expect("the schema parses");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    if let Err(err) = jsonschema::meta::validate(schema) {
        panic!("the schema is not a valid JSON Schema: {err}");
    }
}

#[test]
fn every_property_has_a_description() {
    /// Visits every subschema, by the keywords that hold subschemas.
    fn walk(schema: &Value, at: &str, missing: &mut Vec<String>) {
        let Value::Object(map) = schema else { return };
        for (keyword, value) in map {
            let at = format!("{at}/{keyword}");
            match (keyword.as_str(), value) {
                ("properties", Value::Object(props)) => {
                    for (name, prop) in props {
                        if prop
                            .get("description")
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                        {
                            missing.push(format!("{at}/{name}"));
                        }
                        walk(prop, &format!("{at}/{name}"), missing);
                    }
                }
                ("$defs", Value::Object(defs)) => {
                    for (name, def) in defs {
                        walk(def, &format!("{at}/{name}"), missing);
                    }
                }
                ("allOf" | "anyOf" | "oneOf", Value::Array(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{at}/{i}"), missing);
                    }
                }
                (
                    "items"
                    | "additionalProperties"
                    | "if"
                    | "then"
                    | "else"
                    | "not"
                    | "propertyNames",
                    sub,
                ) => {
                    walk(sub, &at, missing);
                }
                _ => {}
            }
        }
    }
    let mut missing = Vec::new();
    walk(schema::schema().expect("parses"), "", &mut missing);
    assert!(
        missing.is_empty(),
        "properties without a description: {missing:?}"
    );
}

#[test]
fn the_model_enum_is_the_catalogue() {
    let schema = schema::schema().expect("parses");
    let listed: Vec<&str> = schema["$defs"]["model_id"]["enum"]
        .as_array()
        .expect("an enum of model ids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let catalogue: Vec<&str> = models::ids().collect();
    assert_eq!(listed, catalogue);
    let described = schema["$defs"]["model_id"]["description"]
        .as_str()
        .expect("described");
    for model in models::MODELS.iter().filter(|m| m.function_calling) {
        assert!(
            described.contains(model.id),
            "{} is not named as function-calling",
            model.id
        );
    }
}

#[test]
fn documented_defaults_match_the_checker() {
    let schema = schema::schema().expect("parses");
    let defaults = [
        (
            "/properties/max_steps/default",
            u64::from(agentc::check::DEFAULT_MAX_STEPS),
        ),
        (
            "/properties/history/properties/window/default",
            u64::from(agentc::check::DEFAULT_HISTORY_WINDOW),
        ),
        (
            "/$defs/model_id_or_settings/else/properties/max_tokens/default",
            u64::from(agentc::check::DEFAULT_MAX_TOKENS),
        ),
        (
            "/$defs/http/properties/timeout_ms/default",
            u64::from(agentc::check::DEFAULT_HTTP_TIMEOUT_MS),
        ),
        (
            "/$defs/http/properties/max_response_bytes/default",
            u64::from(agentc::check::DEFAULT_MAX_RESPONSE_BYTES),
        ),
        (
            "/properties/limits/properties/max_input_chars/default",
            u64::from(agentc::ir::Limits::default().max_input_chars),
        ),
        (
            "/properties/limits/properties/max_body_bytes/default",
            u64::from(agentc::ir::Limits::default().max_body_bytes),
        ),
    ];
    for (pointer, ours) in defaults {
        assert_eq!(
            schema.pointer(pointer).and_then(Value::as_u64),
            Some(ours),
            "{pointer}"
        );
    }
    let max_age = schema
        .pointer("/properties/cors/properties/max_age/default")
        .and_then(Value::as_str);
    assert_eq!(
        max_age.and_then(agentc::check::parse_duration),
        Some(agentc::check::DEFAULT_CORS_MAX_AGE_SECS)
    );
    let keys: BTreeSet<&str> = agentc::check::keys::AGENT.keys.iter().copied().collect();
    assert!(keys.contains("routing") && keys.contains("rate_limit"));
}
