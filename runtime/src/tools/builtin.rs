//! The tools built into the runtime: what they tell the model, and the parts of them that do
//! not need the platform.

use super::calculator;
use crate::agent::Builtin;
use serde_json::{json, Value};

impl Builtin {
    /// The tool's description, for the model.
    pub fn description(self) -> &'static str {
        match self {
            Builtin::Clock => "The current date and time, in UTC and optionally in an IANA time zone.",
            Builtin::Calculator => {
                "Evaluates an arithmetic expression exactly as written: + - * / % ^, parentheses, \
                 sqrt, abs, round, floor, ceil, ln, log10, log2, exp, sin, cos, tan, min, max, pow, pi, e."
            }
        }
    }

    /// The tool's parameters, as JSON Schema text.
    pub fn parameters(self) -> &'static str {
        match self {
            Builtin::Clock => {
                r#"{"type":"object","properties":{"timezone":{"type":"string","description":"An IANA time zone such as Europe/Paris; UTC when omitted"}}}"#
            }
            Builtin::Calculator => {
                r#"{"type":"object","properties":{"expression":{"type":"string","description":"The expression, e.g. (2 + 3) * 4"}},"required":["expression"]}"#
            }
        }
    }

    /// The name a builtin has in agent files.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Clock => "clock",
            Builtin::Calculator => "calculator",
        }
    }
}

/// Runs the calculator on checked arguments.
pub fn calculate(arguments: &Value) -> Result<Value, String> {
    let expression = arguments["expression"].as_str().unwrap_or_default();
    let result = calculator::evaluate(expression).map_err(|err| err.to_string())?;
    Ok(json!({ "expression": expression, "result": result }))
}

/// A Unix time in milliseconds as RFC 3339 UTC, e.g. `2026-11-28T19:04:05Z`.
pub fn rfc3339(unix_ms: f64) -> String {
    let secs = (unix_ms / 1000.0).floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000.0), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_892_645_123.0), "2026-11-28T19:04:05Z");
        assert_eq!(rfc3339(-1000.0), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn builtin_parameters_are_json_schemas() {
        for builtin in [Builtin::Clock, Builtin::Calculator] {
            let schema: Value = serde_json::from_str(builtin.parameters()).unwrap();
            assert_eq!(schema["type"], "object", "{}", builtin.name());
        }
    }

    #[test]
    fn calculates() {
        let result = calculate(&json!({"expression": "(2 + 3) * 4"})).unwrap();
        assert_eq!(result["result"], 20.0);
        assert!(calculate(&json!({"expression": "1 / 0"})).is_err());
    }
}
