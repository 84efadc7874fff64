//! Tests of argument checking, and of the parameter keyword list against the agent schema.
use super::*;
use serde_json::json;

fn errors(schema: &Value, value: &Value) -> Vec<String> {
    match validate(schema, value) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ArgError::to_string).collect(),
    }
}

#[test]
fn schemas() {
    let weather = json!({
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City", "minLength": 1},
            "units": {"enum": ["celsius", "fahrenheit"]}
        },
        "required": ["location"],
        "additionalProperties": false
    });
    let cases: Vec<(Value, Value, &[&str])> = vec![
        // Types.
        (json!({"type": "string"}), json!("x"), &[]),
        (json!({"type": "string"}), json!(1), &["arguments: expected string, found number"]),
        (json!({"type": "number"}), json!(1.5), &[]),
        (json!({"type": "number"}), json!(-3), &[]),
        (json!({"type": "number"}), json!("1"), &["arguments: expected number, found string"]),
        (json!({"type": "integer"}), json!(3), &[]),
        (json!({"type": "integer"}), json!(3.0), &[]),
        (json!({"type": "integer"}), json!(-7.0), &[]),
        (json!({"type": "integer"}), json!(18446744073709551615u64), &[]),
        (json!({"type": "integer"}), json!(3.5), &["arguments: expected integer, found number 3.5"]),
        (json!({"type": "integer"}), json!(true), &["arguments: expected integer, found boolean"]),
        (json!({"type": "boolean"}), json!(false), &[]),
        (json!({"type": "boolean"}), json!("true"), &["arguments: expected boolean, found string"]),
        (json!({"type": "null"}), json!(null), &[]),
        (json!({"type": "array"}), json!({}), &["arguments: expected array, found object"]),
        (json!({"type": "object"}), json!([]), &["arguments: expected object, found array"]),
        (json!({"type": ["string", "null"]}), json!(null), &[]),
        (json!({"type": ["string", "null"]}), json!(2), &["arguments: expected string or null, found number"]),
        (json!({"type": ["number", "integer"]}), json!(2.5), &[]),
        (json!({"type": ["integer", "string"]}), json!(2.5), &["arguments: expected integer or string, found number 2.5"]),
        // A type mismatch hides the other keywords.
        (json!({"type": "string", "enum": ["a"], "minimum": 1}), json!(0), &["arguments: expected string, found number"]),
        // Unknown keywords and non-object schemas accept anything.
        (json!({"format": "email", "$ref": "#/x", "description": "d"}), json!(1), &[]),
        (json!({}), json!([1, "a"]), &[]),
        (json!(true), json!("x"), &[]),
        (json!(false), json!("x"), &["arguments: no value is allowed here"]),
        // enum and const, with numbers equal by value.
        (json!({"enum": ["a", 1, null]}), json!(null), &[]),
        (json!({"enum": [1, 2]}), json!(2.0), &[]),
        (json!({"enum": [[1, {"a": 1}]]}), json!([1.0, {"a": 1}]), &[]),
        (json!({"enum": ["a", "b"]}), json!("c"), &["arguments: expected one of \"a\", \"b\", found \"c\""]),
        (json!({"const": "x"}), json!("x"), &[]),
        (json!({"const": 5}), json!(4), &["arguments: expected 5, found 4"]),
        (json!({"const": "x"}), json!("y".repeat(70)), &["arguments: expected \"x\", found \"yyyy"]),
        // Numbers.
        (json!({"minimum": 1, "maximum": 10}), json!(1), &[]),
        (json!({"minimum": 1, "maximum": 10}), json!(10.0), &[]),
        (json!({"minimum": 1}), json!(0.5), &["arguments: must be at least 1, found 0.5"]),
        (json!({"maximum": 10}), json!(11), &["arguments: must be at most 10, found 11"]),
        (json!({"exclusiveMinimum": 0}), json!(0), &["arguments: must be greater than 0, found 0"]),
        (json!({"exclusiveMaximum": 1.5}), json!(1.5), &["arguments: must be less than 1.5, found 1.5"]),
        (json!({"exclusiveMinimum": 0, "exclusiveMaximum": 1}), json!(0.5), &[]),
        (json!({"minimum": 0, "exclusiveMinimum": true}), json!(0), &["arguments: must be greater than 0, found 0"]),
        (json!({"maximum": 0, "exclusiveMaximum": true}), json!(-1), &[]),
        (json!({"minimum": 5}), json!("3"), &[]),
        // Strings, measured in characters.
        (json!({"minLength": 2, "maxLength": 3}), json!("éé"), &[]),
        (json!({"maxLength": 3}), json!("héllo"), &["arguments: must have at most 3 characters, found 5"]),
        (json!({"minLength": 1}), json!(""), &["arguments: must have at least 1 character, found 0"]),
        // `pattern` must find a match.
        (json!({"pattern": "^[A-Z]{3}$"}), json!("euro"), &["arguments: must match the pattern \"^[A-Z]{3}$\", found \"euro\""]),
        (json!({"pattern": "^[A-Z]{3}$"}), json!("EUR"), &[]),
        // Arrays.
        (json!({"items": {"type": "integer"}}), json!([1, 2, 3]), &[]),
        (json!({"items": {"type": "integer"}}), json!([1, "2", 3, null]), &["`/1`: expected integer, found string", "`/3`: expected integer, found null"]),
        (json!({"items": [{"type": "string"}, {"type": "number"}]}), json!(["a", "b", true]), &["`/1`: expected number, found string"]),
        (json!({"minItems": 1, "maxItems": 2}), json!([]), &["arguments: must have at least 1 item, found 0"]),
        (json!({"maxItems": 2}), json!([1, 2, 3]), &["arguments: must have at most 2 items, found 3"]),
        // Objects.
        (weather.clone(), json!({"location": "Paris"}), &[]),
        (weather.clone(), json!({"location": "Paris", "units": "celsius"}), &[]),
        (weather.clone(), json!({"location": 42}), &["`/location`: expected string, found number"]),
        (weather.clone(), json!({}), &["`/location`: missing required property"]),
        (weather.clone(), json!({"location": "", "units": "kelvin", "zip": 1, "days": 3}), &[
            "`/location`: must have at least 1 character, found 0",
            "`/units`: expected one of \"celsius\", \"fahrenheit\", found \"kelvin\"",
            "`/days`: unexpected property; the known ones are location, units",
            "`/zip`: unexpected property; the known ones are location, units",
        ]),
        (weather.clone(), json!("Paris"), &["arguments: expected object, found string"]),
        (json!({"type": "object", "additionalProperties": false}), json!({"a": 1}), &["`/a`: unexpected property; this tool takes none"]),
        (json!({"properties": {"a": {}}, "additionalProperties": {"type": "string"}}), json!({"a": 1, "b": "x", "c": 2}), &["`/c`: expected string, found number"]),
        (json!({"properties": {"a": {"type": "string"}}}), json!({"a": "x", "b": 2}), &[]),
        (json!({"required": ["a/b", "c~d"]}), json!({}), &["`/a~1b`: missing required property", "`/c~0d`: missing required property"]),
        (json!({"required": ["a"]}), json!({"a": null}), &[]),
        // Nesting.
        (
            json!({"type": "object", "properties": {"items": {"type": "array", "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["name", "qty"]
            }}}}),
            json!({"items": [{"name": "a", "qty": 1}, {"name": 2, "qty": 0}, {}]}),
            &[
                "`/items/1/name`: expected string, found number",
                "`/items/1/qty`: must be at least 1, found 0",
                "`/items/2/name`: missing required property",
                "`/items/2/qty`: missing required property",
            ],
        ),
        // Combinators.
        (json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}), json!(3), &[]),
        (json!({"anyOf": [{"type": "string"}, {"type": "integer"}]}), json!(3.5), &[
            "arguments: matches none of the 2 alternatives of `anyOf` (1: expected string, found number; 2: expected integer, found number 3.5)",
        ]),
        (json!({"oneOf": [{"minimum": 0}, {"maximum": 10}]}), json!(-1), &[]),
        (
            json!({"anyOf": [{"required": ["id"]}, {"properties": {"name": {"type": "string"}}, "required": ["name"]}]}),
            json!({"name": 1}),
            &["arguments: matches none of the 2 alternatives of `anyOf` (1: `/id`: missing required property; 2: `/name`: expected string, found number)"],
        ),
        (json!({"oneOf": [{"minimum": 0}, {"maximum": 10}]}), json!(5), &["arguments: matches alternatives 1 and 2 of `oneOf`, but must match exactly one"]),
        (json!({"oneOf": [{"type": "string"}, {"type": "null"}]}), json!(1), &["arguments: matches none of the 2 alternatives of `oneOf`"]),
        (json!({"allOf": [{"minimum": 0}, {"maximum": 10}]}), json!(11), &["arguments: must be at most 10, found 11"]),
        (
            json!({"properties": {"when": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 3}]}}}),
            json!({"when": "x"}),
            &["`/when`: matches none of the 2 alternatives of `anyOf` (1: expected null, found string; 2: must have at least 3 characters, found 1)"],
        ),
    ];
    let mut failures = Vec::new();
    for (schema, value, want) in &cases {
        let got = errors(schema, value);
        let matches = got.len() == want.len()
            && got
                .iter()
                .zip(want.iter())
                .all(|(got, want)| got.starts_with(want));
        if !matches {
            failures.push(format!(
                "schema {schema}, value {value}:\n  want {want:?}\n  got  {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn errors_have_paths_and_describe_joins_them() {
    let schema = json!({
        "type": "object",
        "properties": {"location": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["location", "days"]
    });
    let errors = validate(&schema, &json!({"location": 1})).unwrap_err();
    assert_eq!(
        errors,
        vec![
            ArgError {
                path: "/days".into(),
                message: "missing required property".into()
            },
            ArgError {
                path: "/location".into(),
                message: "expected string, found number".into()
            },
        ]
    );
    assert_eq!(
        describe(&errors),
        "invalid arguments: `/days`: missing required property; `/location`: expected string, found number"
    );
    assert_eq!(
        validate(&schema, &json!({"location": "x", "days": 2})),
        Ok(())
    );
}

#[test]
fn pattern_is_enforced() {
    let order = json!({"type": "string", "pattern": "^[0-9]{6}$"});
    assert_eq!(validate(&order, &json!("100587")), Ok(()));
    assert_eq!(
        errors(&order, &json!("../../admin")),
        ["arguments: must match the pattern \"^[0-9]{6}$\", found \"../../admin\""]
    );
    // Unanchored: a match anywhere will do.
    assert_eq!(validate(&json!({"pattern": "b"}), &json!("abc")), Ok(()));
    // A pattern that does not compile matches nothing.
    assert!(validate(&json!({"pattern": "("}), &json!("x")).is_err());
}

#[test]
fn tool_arguments_are_closed_objects() {
    let schema = json!({
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "line": {"type": "object", "properties": {"sku": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "object", "properties": {"k": {"type": "string"}}}}
        },
        "required": ["title"]
    });
    let forged = json!({"title": "hi", "role": "admin", "line": {"sku": "a", "price": 0},
                        "tags": [{"k": "x", "is_admin": true}]});
    // Plain JSON Schema lets them through; tool arguments do not.
    assert_eq!(validate(&schema, &forged), Ok(()));
    let found: Vec<String> = validate_arguments(&schema, &forged)
        .unwrap_err()
        .iter()
        .map(ArgError::to_string)
        .collect();
    assert_eq!(
        found,
        [
            "`/line/price`: unexpected property; the known ones are sku",
            "`/tags/0/is_admin`: unexpected property; the known ones are k",
            "`/role`: unexpected property; the known ones are line, tags, title",
        ]
    );
    assert_eq!(validate_arguments(&schema, &json!({"title": "hi"})), Ok(()));
    let none = json!({"type": "object", "properties": {}});
    assert_eq!(
        errors(
            &json!({"type": "object", "properties": {}, "additionalProperties": false}),
            &json!({"x": 1})
        ),
        ["`/x`: unexpected property; this tool takes none"]
    );
    assert!(validate_arguments(&none, &json!({"x": 1})).is_err());
}

/// The keywords a parameter may use are exactly those the agent schema allows, and each is
/// either enforced by `validate` or an annotation.
#[test]
fn parameter_keywords_match_the_agent_schema() {
    let schema: Value =
        serde_json::from_str(include_str!("../../../../schema/agent.schema.json")).unwrap();
    let mut allowed: Vec<&str> = schema["$defs"]["parameter"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut listed: Vec<&str> = PARAMETER_KEYWORDS.to_vec();
    allowed.sort_unstable();
    listed.sort_unstable();
    assert_eq!(
        allowed, listed,
        "schema/agent.schema.json and PARAMETER_KEYWORDS differ"
    );
    // Each enforced keyword refuses some value: a keyword listed as enforced but ignored by
    // `validate` fails here.
    let refused: &[(&str, Value, Value)] = &[
        ("type", json!({"type": "string"}), json!(1)),
        ("enum", json!({"enum": ["a"]}), json!("b")),
        ("minimum", json!({"minimum": 1}), json!(0)),
        ("maximum", json!({"maximum": 1}), json!(2)),
        ("minLength", json!({"minLength": 2}), json!("a")),
        ("maxLength", json!({"maxLength": 1}), json!("ab")),
        ("pattern", json!({"pattern": "^a$"}), json!("b")),
        ("items", json!({"items": {"type": "string"}}), json!([1])),
        ("minItems", json!({"minItems": 1}), json!([])),
        ("maxItems", json!({"maxItems": 0}), json!([1])),
        (
            "properties",
            json!({"properties": {"a": {"type": "string"}}}),
            json!({"a": 1}),
        ),
        ("required", json!({"required": ["a"]}), json!({})),
    ];
    for keyword in PARAMETER_KEYWORDS
        .iter()
        .filter(|k| !ANNOTATIONS.contains(k))
    {
        let Some((_, schema, value)) = refused.iter().find(|(k, _, _)| k == keyword) else {
            panic!("no case shows that `{keyword}` is enforced");
        };
        assert!(
            validate(schema, value).is_err(),
            "`{keyword}` is not enforced"
        );
    }
}
