//! The assertions of a turn, evaluated on its [`Outcome`]: each that fails says what was
//! expected and what happened.
//!
//! Without `status`, an answer must be a success (2xx), and a chat stream must end with `done`
//! (not with an `error` event) unless `error` is expected.

use super::outcome::Outcome;
use super::{Expect, HeaderExpect};
use serde_json::Value as Json;
use std::time::Duration;

/// One assertion that did not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// The assertion, as in the file (`contains`, `headers.retry-after`, ...).
    pub check: String,
    pub expected: String,
    pub actual: String,
    /// For `max_latency_ms`: how long the turn took (reports may leave the figure out).
    pub took: Option<Duration>,
}

/// What evaluating a turn's expectations found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    pub failures: Vec<Failure>,
    /// Exceeded latencies that are only reported: `(limit in ms, how long the turn took)`.
    pub slow: Option<(u64, Duration)>,
}

fn fail(
    check: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Failure {
    Failure {
        check: check.into(),
        expected: expected.into(),
        actual: actual.into(),
        took: None,
    }
}

/// Evaluates every assertion of `expect` on `outcome`.
pub fn evaluate(expect: &Expect, outcome: &Outcome) -> Verdict {
    let mut out = Vec::new();
    let status = describe_status(outcome);
    match expect.status {
        Some(want) if want != outcome.status => out.push(fail("status", want.to_string(), status)),
        None if !(200..300).contains(&outcome.status) => {
            out.push(fail("status", "a success (2xx)", status))
        }
        _ => {}
    }
    let error = outcome.error();
    if (200..300).contains(&outcome.status) && outcome.is_stream() && expect.error.is_none() {
        if let Some((code, message)) = &error {
            out.push(fail(
                "stream",
                "a `done` event",
                format!("an `error` event: {code}: {message}"),
            ));
        } else if outcome.done().is_none() {
            out.push(fail(
                "stream",
                "a `done` event",
                "the stream ended without one",
            ));
        }
    }
    for (name, want) in &expect.headers {
        let got = outcome.header(name);
        let (holds, expected) = match want {
            HeaderExpect::Equals(value) => (got == Some(value.as_str()), format!("{value:?}")),
            HeaderExpect::Matches(regex) => (
                got.is_some_and(|v| regex.is_match(v)),
                format!("a value matching /{}/", regex.as_str()),
            ),
            HeaderExpect::Absent => (got.is_none(), "no such header".into()),
        };
        if !holds {
            out.push(fail(
                format!("headers.{name}"),
                expected,
                got.map_or("no such header".into(), |v| format!("{v:?}")),
            ));
        }
    }
    let answer = outcome.answer();
    let fold = |s: &str| {
        if expect.ignore_case {
            s.to_lowercase()
        } else {
            s.to_owned()
        }
    };
    let folded = fold(&answer);
    let case_note = if expect.ignore_case {
        " (ignoring case)"
    } else {
        ""
    };
    for text in &expect.contains {
        if !folded.contains(&fold(text)) {
            out.push(fail(
                "contains",
                format!("the answer to contain {text:?}{case_note}"),
                "it does not",
            ));
        }
    }
    for text in &expect.not_contains {
        if folded.contains(&fold(text)) {
            out.push(fail(
                "not_contains",
                format!("the answer not to contain {text:?}{case_note}"),
                "it does",
            ));
        }
    }
    if let Some(regex) = &expect.matches {
        if !regex.is_match(&answer) {
            out.push(fail(
                "matches",
                format!("the answer to match /{}/", regex.as_str()),
                "it does not",
            ));
        }
    }
    let calls = outcome.tool_calls();
    let listed = || {
        if calls.is_empty() {
            "no tool calls".to_owned()
        } else {
            calls
                .iter()
                .map(|(name, args)| format!("{name} {args}"))
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    for want in &expect.tool_called {
        let found = calls.iter().any(|(name, args)| {
            *name == want.name && want.arguments.as_ref().is_none_or(|w| includes(args, w))
        });
        if !found {
            let expected = match &want.arguments {
                Some(args) => format!("a call of {} with arguments including {args}", want.name),
                None => format!("a call of {}", want.name),
            };
            out.push(fail("tool_called", expected, listed()));
        }
    }
    if let Some(sequence) = &expect.tool_sequence {
        let names: Vec<&str> = calls.iter().map(|(n, _)| *n).collect();
        if names != *sequence {
            out.push(fail(
                "tool_sequence",
                format!("[{}]", sequence.join(", ")),
                format!("[{}]", names.join(", ")),
            ));
        }
    }
    if expect.no_tool_calls && !calls.is_empty() {
        out.push(fail("no_tool_calls", "no tool calls", listed()));
    }
    let done = outcome.done();
    if let Some(most) = expect.steps_at_most {
        match done.and_then(|d| d.get("steps")).and_then(Json::as_u64) {
            Some(steps) if steps <= most => {}
            Some(steps) => out.push(fail(
                "steps_at_most",
                format!("at most {most} model call(s)"),
                format!("{steps}"),
            )),
            None => out.push(fail(
                "steps_at_most",
                format!("at most {most} model call(s)"),
                "no `done` event with `steps`",
            )),
        }
    }
    if let Some(want) = &expect.model {
        let got = done
            .and_then(|d| d.get("model"))
            .and_then(Json::as_str)
            .or_else(|| outcome.header("x-agentc-model"));
        if got != Some(want.as_str()) {
            out.push(fail(
                "model",
                format!("{want:?}"),
                got.map_or(
                    "no model named (no `done` event or `x-agentc-model`)".into(),
                    |m| format!("{m:?}"),
                ),
            ));
        }
    }
    for (check, header, want) in [
        ("route", "x-agentc-route", &expect.route),
        ("cache", "x-agentc-cache", &expect.cache),
    ] {
        if let Some(want) = want {
            let got = outcome.header(header);
            if got != Some(want.as_str()) {
                out.push(fail(
                    check,
                    format!("{want:?}"),
                    got.map_or(format!("no `{header}` header"), |v| format!("{v:?}")),
                ));
            }
        }
    }
    if let Some(want) = &expect.error {
        let got = error.as_ref().map(|(code, _)| code.as_str());
        if got != Some(want.as_str()) {
            out.push(fail(
                "error",
                format!("the error code {want:?}"),
                error.map_or("no error".into(), |(code, message)| {
                    format!("{code}: {message}")
                }),
            ));
        }
    }
    if let Some(schema) = &expect.json_schema {
        if let Err(problem) = check_json(schema, &answer) {
            out.push(fail(
                "json_schema",
                "an answer that is JSON matching the schema",
                problem,
            ));
        }
    }
    let mut slow = None;
    if let Some(latency) = expect.max_latency {
        if outcome.latency.as_secs_f64() * 1000.0 > latency.limit_ms as f64 {
            if latency.fail {
                out.push(Failure {
                    check: "max_latency_ms".into(),
                    expected: format!("at most {} ms", latency.limit_ms),
                    actual: String::new(),
                    took: Some(outcome.latency),
                });
            } else {
                slow = Some((latency.limit_ms, outcome.latency));
            }
        }
    }
    Verdict {
        failures: out,
        slow,
    }
}

/// `401 (unauthorized: missing API key)`: the status with the error it carries.
fn describe_status(outcome: &Outcome) -> String {
    match outcome.error() {
        Some((code, message)) if !outcome.is_stream() => {
            format!("{} ({code}: {message})", outcome.status)
        }
        _ => outcome.status.to_string(),
    }
}

/// Whether `actual` includes `expected`: objects key by key (recursively), numbers by value,
/// anything else equal.
pub fn includes(actual: &Json, expected: &Json) -> bool {
    match (actual, expected) {
        (Json::Object(a), Json::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| includes(av, v))),
        (Json::Array(a), Json::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| includes(x, y))
        }
        (Json::Number(a), Json::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}

/// Parses the answer as JSON (inside a ```` ``` ```` fence if it has one) and validates it.
fn check_json(schema: &Json, answer: &str) -> Result<(), String> {
    let mut text = answer.trim();
    if let Some(inner) = text.strip_prefix("```") {
        let inner = inner.strip_prefix("json").unwrap_or(inner);
        text = inner.strip_suffix("```").unwrap_or(inner).trim();
    }
    let value: Json =
        serde_json::from_str(text).map_err(|err| format!("the answer is not JSON: {err}"))?;
    let validator = jsonschema::validator_for(schema)
        .map_err(|err| format!("the schema does not compile: {err}"))?;
    let first = validator.iter_errors(&value).next().map(|error| {
        let at = error.instance_path().to_string();
        let at = if at.is_empty() {
            "the answer".to_owned()
        } else {
            at
        };
        format!("{at}: {error}")
    });
    match first {
        None => Ok(()),
        Some(problem) => Err(problem),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_compared_as_a_subset() {
        let args = json!({"location": "Paris", "units": {"temp": "C", "wind": "kmh"}, "days": 3});
        assert!(includes(&args, &json!({"location": "Paris"})));
        assert!(includes(
            &args,
            &json!({"units": {"temp": "C"}, "days": 3.0})
        ));
        assert!(!includes(&args, &json!({"location": "paris"})));
        assert!(!includes(&args, &json!({"country": "FR"})));
        assert!(includes(
            &json!([1, {"a": 1, "b": 2}]),
            &json!([1, {"a": 1}])
        ));
        assert!(!includes(&json!([1, 2]), &json!([1])));
    }

    #[test]
    fn json_answers_are_checked_inside_fences_too() {
        let schema = json!({"type": "object", "required": ["city"]});
        assert_eq!(
            check_json(&schema, "```json\n{\"city\": \"Paris\"}\n```"),
            Ok(())
        );
        assert!(check_json(&schema, "{}").unwrap_err().contains("city"));
        assert!(check_json(&schema, "Paris")
            .unwrap_err()
            .starts_with("the answer is not JSON"));
    }
}
