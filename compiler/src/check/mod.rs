//! Checks one agent file and lowers it to the IR, gathering every problem on the way.
//!
//! Checking runs in stages over the YAML tree, and each stage reports everything it finds:
//! 1. the JSON Schema ([`crate::schema`]): types, ranges, required keys, allowed values;
//! 2. the semantic rules: unknown keys with suggestions ([`keys`]); tools, parameters, routing
//!    and regexes (`rules`); model ids and function calling (`catalogue`); durations and
//!    settings that depend on each other (`policy`); templates (`template`);
//! 3. lowering to the IR (`lower`), only when no stage found an error.
//!
//! A mistake is reported once. Every schema error has a dedupe key (see
//! [`crate::schema::Finding`]); a semantic rule that reports the same mistake in better words
//! claims that key, and the schema's version is dropped. So `temprature` gets "unknown key
//! `temprature`, did you mean `temperature`?" and not also "additional properties are not
//! allowed".
//!
//! Codes are stable; tests pin the rendered text of each (`tests/fixtures/bad/*.stderr`).
//!
//! | code | finding |
//! |---|---|
//! | E0000 | a file cannot be read |
//! | E0001 | invalid YAML |
//! | E0002 | more than one YAML document |
//! | E0003, E0004 | aliases expand too far; nesting too deep |
//! | E0005 | duplicate key |
//! | E0006 | alias to an unknown anchor |
//! | E0007 | tab in indentation |
//! | E0008 | bad indentation |
//! | E0101 | unknown key (with a suggestion) |
//! | E0102 | wrong type |
//! | E0103 | missing required key, parameter without `type` |
//! | E0104 | value not among the allowed ones |
//! | E0105 | number, length or count out of range |
//! | E0106 | value or name not in the expected form |
//! | E0107 | a tool without exactly one kind; a routing rule without a target |
//! | E0108 | duplicate list items |
//! | E0109 | other schema errors |
//! | E0110 | agent name used by two files |
//! | E0201 | unknown model id |
//! | E0202, E0203 | tool name is a Rust keyword; duplicate tool name |
//! | E0204 | invalid regex |
//! | E0205, E0206, E0207 | template syntax error; unknown variable or attribute; unknown filter |
//! | E0208, E0209 | unknown tool; unknown secret |
//! | E0210 | invalid or out-of-range duration |
//! | E0211, E0212 | per-key rate limit without auth; credentials with any origin |
//! | E0213 | required parameter that is not declared |
//! | E0214, E0215 | HTTP tool host not allowed or templated; body with GET |
//! | E0216, E0217, E0218 | header condition; `min_chars` over `max_chars`; builtin with parameters |
//! | E0231 | the API keys' secret listed in `secrets` |
//! | E0232 | an HTTP tool calling a cloud metadata service |
//! | E0233 | `_` as a segment of a Rust tool's path |
//! | E0219, E0220 | duplicate MCP server; `approval` names a tool the server's `tools` lacks |
//! | E0221, E0222 | an MCP tool the lock file's server lacks; an MCP header with a template |
//! | W0201 | tools offered to a model without function calling |
//! | W0202, W0203 | unreachable routing rule; unused secret |
//! | W0204, W0205, W0206 | plain-HTTP tool; `needs_tools` without tools; body limit under input limit |
//! | W0210 | an argument in a tool URL without the filter its place needs |
//! | E0999 | internal error (exit 1) |

mod catalogue;
pub mod keys;
mod lower;
mod mcp;
mod policy;
mod rules;
mod template;
mod url_args;

use crate::diagnostic::Diagnostic;
use crate::ir;
use crate::schema;
use crate::span::Span;
use crate::yaml::Node;
use std::collections::{BTreeSet, HashSet};
use std::path::Path;

/// Defaults applied where an agent file is silent (the schema documents the same values).
pub const DEFAULT_MAX_TOKENS: u32 = 512;
pub const DEFAULT_HISTORY_WINDOW: u32 = 10;
pub const DEFAULT_HISTORY_KEEP: u32 = 1000;
pub const DEFAULT_HISTORY_MAX_TOKENS: u32 = 8192;
pub const DEFAULT_MAX_TOOL_CALLS: u32 = 4;
pub const DEFAULT_MAX_STEPS: u32 = 4;
pub const DEFAULT_HTTP_TIMEOUT_MS: u32 = 5000;
pub const DEFAULT_MAX_RESPONSE_BYTES: u32 = 65536;
pub const DEFAULT_CORS_MAX_AGE_SECS: u64 = 600;
pub const DEFAULT_APPROVAL_EXPIRES_SECS: u64 = 24 * 60 * 60;

/// Checks a parsed agent file. `text` is the file's text, for positions inside strings. Returns
/// the agent when there is no error, and every diagnostic in position order.
pub fn check_agent(root: &Node, text: &str, source: &Path) -> (Option<ir::Agent>, Vec<Diagnostic>) {
    check_agent_skipping(root, text, source, &BTreeSet::new())
}

/// Checks an agent file whose tree was built with `skipped` lines blanked after syntax errors
/// (see [`crate::yaml::Loaded`]). A key missing from a mapping that spans a skipped line is not
/// reported: it may sit on that line, and the syntax error already said what is wrong there.
pub fn check_agent_skipping(
    root: &Node,
    text: &str,
    source: &Path,
    skipped: &BTreeSet<usize>,
) -> (Option<ir::Agent>, Vec<Diagnostic>) {
    let mut cx = Checker {
        text,
        skipped,
        diags: Vec::new(),
        claims: HashSet::new(),
    };
    keys::unknown_keys(&mut cx, root, &keys::AGENT, "");
    rules::check(&mut cx, root);
    match schema::validate(root) {
        Ok(findings) => {
            let mut seen = HashSet::new();
            for finding in findings {
                let missing =
                    finding.key.starts_with("required:") || finding.key.starts_with("oneof:");
                let echo = missing && cx.spans_skipped_line(finding.within);
                if !echo && !cx.claims.contains(&finding.key) && seen.insert(finding.key) {
                    cx.diags.push(finding.diagnostic);
                }
            }
        }
        Err(internal) => cx.diags.push(*internal),
    }
    let mut diags = cx.diags;
    diags.sort_by_key(|d| d.span.map(|s| s.start));
    let agent = if diags.iter().any(Diagnostic::is_error) {
        None
    } else {
        lower::agent(root, source)
    };
    (agent, diags)
}

/// The state of one file's semantic checks.
pub(crate) struct Checker<'a> {
    /// The file's text.
    text: &'a str,
    /// Lines blanked after syntax errors.
    skipped: &'a BTreeSet<usize>,
    diags: Vec<Diagnostic>,
    /// Schema dedupe keys of mistakes already reported in better words.
    claims: HashSet<String>,
}

impl Checker<'_> {
    /// Reports a finding that takes the place of the schema's error with key `claim`.
    fn report(&mut self, claim: impl Into<Option<String>>, diag: Diagnostic) {
        if let Some(claim) = claim.into() {
            self.claims.insert(claim);
        }
        self.diags.push(diag);
    }

    fn claim(&mut self, key: String) {
        self.claims.insert(key);
    }

    /// Whether a skipped line lies within a span: a key may be missing from it for that reason.
    fn spans_skipped_line(&self, span: Span) -> bool {
        self.skipped
            .range(span.start.line..=span.end.line)
            .next()
            .is_some()
    }
}

/// The known name closest to a misspelt one, if any is close enough.
pub fn suggest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (edit_distance(&name.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= (k.chars().count().max(name.chars().count()) / 3).max(1))
        .min()
        .map(|(_, k)| k)
}

/// The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// two neighbouring characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// A duration in seconds: a whole number and a unit (`30s`, `5m`, `1h`, `1d`).
pub fn parse_duration(text: &str) -> Option<u64> {
    let unit = text.chars().last()?;
    let number: u64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    number.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Some(30));
        assert_eq!(parse_duration("5m"), Some(300));
        assert_eq!(parse_duration("1h"), Some(3600));
        assert_eq!(parse_duration("1d"), Some(86400));
        assert_eq!(parse_duration("1 h"), None);
        assert_eq!(parse_duration("h"), None);
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }

    #[test]
    fn suggestions_are_close_names_only() {
        assert_eq!(
            suggest("temprature", ["id", "temperature", "max_tokens"]),
            Some("temperature")
        );
        assert_eq!(suggest("colour", ["id", "temperature"]), None);
        assert_eq!(suggest("agnet", ["now", "agent", "session"]), Some("agent"));
    }
}
