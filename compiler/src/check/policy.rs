//! Request policy: durations of the cache, the rate limit and CORS, and the settings that depend
//! on each other (a per-key rate limit needs auth, credentials need listed origins, the API
//! keys' secret is not one tools may read).

use super::{parse_duration, Checker};
use crate::diagnostic::Diagnostic;
use crate::yaml::Node;

/// Durations, and the settings that depend on each other.
pub(crate) fn policy(cx: &mut Checker<'_>, root: &Node) {
    const DAY: u64 = 86400;
    let durations = [
        ("cache", "ttl", 1, 30 * DAY),
        ("rate_limit", "window", 1, 30 * DAY),
        ("cors", "max_age", 0, DAY),
        ("approvals", "expires", 60, 30 * DAY),
    ];
    for (section, key, min, max) in durations {
        let Some(node) = root.get(section).and_then(|s| s.get(key)) else {
            continue;
        };
        let Some(text) = node.as_str() else { continue };
        let ptr = format!("value:/{section}/{key}");
        match parse_duration(text) {
            None => {
                let diag = Diagnostic::error(
                    "E0210",
                    format!("`{section}.{key}` is not a duration: \"{text}\""),
                )
                .at(node.span)
                .help("write a whole number and a unit: `30s`, `5m`, `1h` or `1d`");
                cx.report(ptr, diag);
            }
            Some(secs) if secs < min || secs > max => {
                let diag = Diagnostic::error(
                    "E0210",
                    format!(
                        "`{section}.{key}` must be between {} and {}, found {text}",
                        human(min),
                        human(max)
                    ),
                )
                .at(node.span);
                cx.report(ptr, diag);
            }
            Some(_) => {}
        }
    }
    let per = root.get("rate_limit").and_then(|r| r.get("per"));
    if let Some(per) = per.filter(|p| p.as_str() == Some("api_key")) {
        if root.get("auth").is_none() {
            let diag = Diagnostic::error("E0211", "`rate_limit.per: api_key` needs `auth`")
                .at(per.span)
                .help("add `auth: { api_keys_secret: NAME }`, or count per `ip` or `session`");
            cx.report(None, diag);
        }
    }
    // The digests of the API keys are not for tools: a template that could print them could
    // send them to any host the tool reaches.
    let keys_secret = root
        .get("auth")
        .and_then(|a| a.get("api_keys_secret"))
        .and_then(Node::as_str);
    if let (Some(keys_secret), Some(secrets)) = (keys_secret, root.get("secrets")) {
        for item in secrets.items() {
            if item.as_str() == Some(keys_secret) {
                let diag = Diagnostic::error(
                    "E0231",
                    format!(
                        "`{keys_secret}` holds the API keys of `auth`, so tools cannot read it"
                    ),
                )
                .at(item.span)
                .help(format!(
                    "remove `{keys_secret}` from `secrets`; give tools a secret of their own"
                ));
                cx.report(None, diag);
            }
        }
    }
    if let Some(cors) = root.get("cors") {
        let any = cors
            .get("allow_origins")
            .is_some_and(|o| o.items().iter().any(|i| i.as_str() == Some("*")));
        if let Some(creds) = cors
            .get("allow_credentials")
            .filter(|c| c.as_bool() == Some(true) && any)
        {
            let diag = Diagnostic::error("E0212", "`allow_credentials: true` cannot be used with `*` in `allow_origins`")
                .at(creds.span)
                .help("browsers refuse credentials for any-origin responses; list the origins instead of `*`");
            cx.report(None, diag);
        }
    }
    if let Some(limits) = root.get("limits") {
        let chars = limits
            .get("max_input_chars")
            .and_then(Node::as_i64)
            .unwrap_or(8000);
        if let Some(bytes) = limits
            .get("max_body_bytes")
            .filter(|b| b.as_i64().is_some_and(|b| b < chars))
        {
            let diag = Diagnostic::warning(
                "W0206",
                format!("`max_body_bytes` is smaller than `max_input_chars` ({chars})"),
            )
            .at(bytes.span)
            .help("a message of `max_input_chars` characters would be refused as too large a body");
            cx.report(None, diag);
        }
    }
}

fn human(secs: u64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}
