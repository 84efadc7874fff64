//! The URLs the Worker sends its Durable Objects (`https://session/turn?agent=...`), and the
//! query of a request's URL, read without `url::Url`: parsing a URL's host brings the IDNA and
//! Unicode normalization tables into the Worker (tens of KiB of the tutorial's wasm), and these
//! URLs never need it. Pairs are `application/x-www-form-urlencoded`, as `URLSearchParams`
//! reads and writes them.

use url::form_urlencoded;

/// The host of every URL a Worker sends its own objects (never resolved).
pub const HOST: &str = "https://session";

/// `https://session{path}?k=v&...`, the values encoded.
pub fn build(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        query.append_pair(key, value);
    }
    format!("{HOST}{path}?{}", query.finish())
}

/// The query pairs of a URL, decoded, in order (none without a `?`); a fragment is not part
/// of the query.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn of(url: &str) -> Query {
        let url = url.split('#').next().unwrap_or_default();
        let Some((_, query)) = url.split_once('?') else {
            return Query::default();
        };
        Query(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key`, as a number.
    pub fn number(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_built_reads_back() {
        let url = build(
            "/turn",
            &[
                ("agent", "weather"),
                ("owner", "key:ab/c d&e=f"),
                ("route", "default"),
            ],
        );
        assert_eq!(
            url,
            "https://session/turn?agent=weather&owner=key%3Aab%2Fc+d%26e%3Df&route=default"
        );
        let query = Query::of(&url);
        assert_eq!(query.get("owner"), Some("key:ab/c d&e=f"));
        assert_eq!(query.get("route"), Some("default"));
        assert_eq!(query.get("limiter"), None);
    }

    #[test]
    fn reads_queries_as_url_search_params_do() {
        let query = Query::of("https://w.example/agents/a/sessions/s?format=ui&n=42&n=7#x=1");
        assert_eq!(query.get("format"), Some("ui"));
        assert_eq!(query.number("n"), Some(42), "the first value counts");
        assert_eq!(query.get("x"), None, "the fragment is not the query");
        assert_eq!(Query::of("https://w.example/a"), Query::default());
        assert_eq!(
            Query::of("https://w.example/a?q=%E2%9C%93").get("q"),
            Some("✓")
        );
    }
}
