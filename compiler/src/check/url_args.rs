//! Arguments in HTTP tool URLs: where each `{{ args... }}` lands (host, path, query) and
//! whether its filters keep it there.
//!
//! A model's argument printed into a URL as it is can change which resource the tool calls:
//! `../` climbs the path (WHATWG URL parsing resolves dot segments, even percent-encoded ones),
//! `/` adds segments, `&` and `#` add query parameters or cut the query. An argument in the host
//! or the path must go through `urlencode_segment`; one in the query through `urlencode` (or
//! `urlencode_segment`). The check reads the literal text of the template around each
//! expression.

/// The part of a URL an expression is printed into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Host,
    Path,
    Query,
    Fragment,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Host => "host",
            Part::Path => "path",
            Part::Query => "query",
            Part::Fragment => "fragment",
        }
    }

    /// The filter that keeps an argument inside this part.
    pub fn filter(self) -> &'static str {
        match self {
            Part::Host | Part::Path => "urlencode_segment",
            Part::Query | Part::Fragment => "urlencode",
        }
    }

    fn safe_with(self, filters: &[&str]) -> bool {
        let has = |name| filters.contains(&name);
        match self {
            Part::Host | Part::Path => has("urlencode_segment"),
            Part::Query | Part::Fragment => has("urlencode_segment") || has("urlencode"),
        }
    }
}

/// An expression that prints an argument without the filter its place needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfiltered {
    /// Byte offset of the expression's `{{` in the template.
    pub at: usize,
    /// The expression's text, trimmed, e.g. `args.id | urlencode`.
    pub expr: String,
    pub part: Part,
}

/// Every `{{ ... }}` of `url` that reads `args` and lacks the filter its part of the URL needs.
pub fn unfiltered(url: &str) -> Vec<Unfiltered> {
    let mut found = Vec::new();
    let mut part = None::<Part>;
    let mut literal_start = 0;
    let mut rest_at = 0;
    // The scheme's `://` must be passed before the host starts; `skip` steps over its slashes.
    let mut after_scheme = false;
    let mut skip = 0;
    while rest_at <= url.len() {
        let next = url[rest_at..].find("{{").map(|i| rest_at + i);
        let literal_end = next.unwrap_or(url.len());
        for (i, c) in url[literal_start..literal_end].char_indices() {
            let at = literal_start + i;
            if skip > 0 {
                skip -= 1;
                continue;
            }
            if !after_scheme {
                if url[at..].starts_with("://") {
                    after_scheme = true;
                    part = Some(Part::Host);
                    skip = 2;
                }
                continue;
            }
            part = match (part, c) {
                (Some(Part::Host), '/') => Some(Part::Path),
                (Some(Part::Host | Part::Path), '?') => Some(Part::Query),
                (Some(Part::Host | Part::Path | Part::Query), '#') => Some(Part::Fragment),
                (p, _) => p,
            };
        }
        let Some(open) = next else { break };
        let close = url[open..].find("}}").map_or(url.len(), |i| open + i);
        let expr = url[open + 2..close].trim_matches(|c: char| c.is_whitespace() || c == '-');
        if let (Some(part), true) = (part, reads_args(expr)) {
            let filters: Vec<&str> = expr
                .split('|')
                .skip(1)
                .map(|f| f.trim().split(['(', ' ']).next().unwrap_or(""))
                .collect();
            if !part.safe_with(&filters) {
                found.push(Unfiltered {
                    at: open,
                    expr: expr.to_owned(),
                    part,
                });
            }
        }
        literal_start = (close + 2).min(url.len());
        rest_at = literal_start;
        if literal_start == url.len() {
            break;
        }
    }
    found
}

/// Whether an expression mentions the `args` variable.
fn reads_args(expr: &str) -> bool {
    let bytes = expr.as_bytes();
    expr.match_indices("args").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 4).copied();
        let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        !before.is_some_and(|b| ident(b) || b == b'.') && !after.is_some_and(ident)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> Vec<(&'static str, String)> {
        unfiltered(url)
            .into_iter()
            .map(|u| (u.part.name(), u.expr))
            .collect()
    }

    #[test]
    fn each_part_needs_its_filter() {
        let ok: &[&str] = &[
            "https://wttr.in/{{ args.location | urlencode_segment }}?format=j1",
            "https://api.test/v1?q={{ args.q | urlencode }}&key={{ secrets.KEY }}",
            "https://api.test/v1?q={{ args.q | lower | urlencode_segment }}",
            "https://api.test/{{ now | date }}",
            "http://{{ args.host | urlencode_segment }}/status",
            "https://api.test/v1#{{ args.anchor | urlencode }}",
            "https://api.test/{{ margs }}",
        ];
        for url in ok {
            assert_eq!(parts(url), [], "{url}");
        }
        assert_eq!(
            parts("https://wttr.in/{{ args.location | urlencode }}?format=j1"),
            [("path", "args.location | urlencode".to_owned())]
        );
        assert_eq!(
            parts("http://{{ args.host }}/status"),
            [("host", "args.host".to_owned())]
        );
        assert_eq!(
            parts("https://api.test/v1/current?city={{ args.city }}&x={{- args['y'] -}}"),
            [
                ("query", "args.city".to_owned()),
                ("query", "args['y']".to_owned())
            ]
        );
        assert_eq!(
            parts("https://api.test/a/{{ args.id }}/b?c={{ args.c | urlencode }}"),
            [("path", "args.id".to_owned())]
        );
    }
}
