//! CORS: which browser origins may call an agent, and the headers that say so.
//!
//! Origins match exactly (scheme, host and port, as the browser sends them). `*` allows any
//! origin, but never together with credentials: a policy with both (which `agentc check`
//! refuses) allows no origin through `*`. Every response of an agent with a CORS policy carries
//! `Vary: Origin`, errors included, so caches never serve one origin's answer to another.

use crate::policy::CorsPolicy;

/// The methods of the public API, for preflight answers.
pub const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";

/// Response headers a browser script may read besides the safelisted ones.
pub const EXPOSE_HEADERS: &str = "x-agentc-model, x-agentc-route, x-agentc-cache, \
     x-ratelimit-limit, x-ratelimit-remaining, retry-after, www-authenticate";

/// A header to add to a response.
pub type Header = (&'static str, String);

/// The `Access-Control-Allow-Origin` value for `origin`, if the policy allows it.
pub fn allow_origin(policy: &CorsPolicy, origin: &str) -> Option<String> {
    if policy.allow_origins.contains(&origin) {
        return Some(origin.to_owned());
    }
    if policy.allow_origins.contains(&"*") && !policy.allow_credentials {
        return Some("*".to_owned());
    }
    None
}

/// Whether the policy allows `origin`.
pub fn allows(policy: &CorsPolicy, origin: &str) -> bool {
    allow_origin(policy, origin).is_some()
}

/// The CORS headers of an ordinary response (success or error).
pub fn response_headers(policy: &CorsPolicy, origin: Option<&str>) -> Vec<Header> {
    let mut headers = vec![("vary", "Origin".to_owned())];
    if let Some(allowed) = origin.and_then(|o| allow_origin(policy, o)) {
        headers.push(("access-control-allow-origin", allowed));
        if policy.allow_credentials {
            headers.push(("access-control-allow-credentials", "true".to_owned()));
        }
        headers.push(("access-control-expose-headers", EXPOSE_HEADERS.to_owned()));
    }
    headers
}

/// The headers of the answer (204) to a preflight request. An origin the policy does not allow
/// gets only `Vary`, which the browser reads as a refusal.
pub fn preflight_headers(policy: &CorsPolicy, origin: Option<&str>) -> Vec<Header> {
    let mut headers = vec![("vary", "Origin".to_owned())];
    if let Some(allowed) = origin.and_then(|o| allow_origin(policy, o)) {
        headers.push(("access-control-allow-origin", allowed));
        if policy.allow_credentials {
            headers.push(("access-control-allow-credentials", "true".to_owned()));
        }
        headers.push(("access-control-allow-methods", ALLOW_METHODS.to_owned()));
        headers.push((
            "access-control-allow-headers",
            policy.allow_headers.join(", "),
        ));
        headers.push(("access-control-max-age", policy.max_age_secs.to_string()));
    }
    headers
}

/// For requests whose agent is not known (the OpenAI endpoint's preflight, unknown paths): the
/// first of the policies that allows the origin, else the first policy (for `Vary`).
pub fn pick<'a>(
    policies: impl Iterator<Item = &'a CorsPolicy> + Clone,
    origin: Option<&str>,
) -> Option<&'a CorsPolicy> {
    let allowing = origin.and_then(|o| policies.clone().find(|p| allows(p, o)));
    allowing.or_else(|| policies.clone().next())
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: CorsPolicy = CorsPolicy {
        allow_origins: &["https://app.example.com", "http://localhost:3000"],
        allow_credentials: true,
        allow_headers: &["content-type", "authorization"],
        max_age_secs: 600,
    };
    const ANY: CorsPolicy = CorsPolicy {
        allow_origins: &["*"],
        allow_credentials: false,
        allow_headers: &["content-type"],
        max_age_secs: 60,
    };

    fn get<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn listed_origins_are_echoed_exactly() {
        let h = response_headers(&APP, Some("https://app.example.com"));
        assert_eq!(
            get(&h, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(get(&h, "vary"), Some("Origin"));
        for other in [
            "https://app.example.com.evil.test",
            "http://app.example.com",
            "https://APP.example.com",
            "null",
        ] {
            let h = response_headers(&APP, Some(other));
            assert_eq!(get(&h, "access-control-allow-origin"), None, "{other}");
            assert_eq!(get(&h, "vary"), Some("Origin"));
        }
    }

    #[test]
    fn wildcard_answers_star_and_never_with_credentials() {
        let h = response_headers(&ANY, Some("https://x.test"));
        assert_eq!(get(&h, "access-control-allow-origin"), Some("*"));
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
        let both = CorsPolicy {
            allow_credentials: true,
            ..ANY
        };
        let h = response_headers(&both, Some("https://x.test"));
        assert_eq!(get(&h, "access-control-allow-origin"), None);
    }

    #[test]
    fn preflight_lists_methods_headers_and_max_age() {
        let h = preflight_headers(&APP, Some("http://localhost:3000"));
        assert_eq!(get(&h, "access-control-allow-methods"), Some(ALLOW_METHODS));
        assert_eq!(
            get(&h, "access-control-allow-headers"),
            Some("content-type, authorization")
        );
        assert_eq!(get(&h, "access-control-max-age"), Some("600"));
        let refused = preflight_headers(&APP, Some("https://evil.test"));
        assert_eq!(refused, vec![("vary", "Origin".to_owned())]);
    }

    #[test]
    fn pick_prefers_a_policy_that_allows_the_origin() {
        let policies = [APP, ANY];
        let picked = pick(policies.iter(), Some("https://other.test")).unwrap();
        assert_eq!(picked.allow_origins, &["*"]);
        let picked = pick(policies.iter(), Some("https://app.example.com")).unwrap();
        assert!(picked.allow_credentials);
        assert!(pick([].iter(), Some("https://app.example.com")).is_none());
    }
}
