//! What compiled templates are made of. agentc compiles each template of an agent (the system
//! prompt, HTTP tools' `url`, header values and `body`) into a Rust function at build time; this
//! module has the values those functions work on and the filters they call. No template is
//! parsed in the Worker.
//!
//! Template sources come only from the agent file, checked at build time; request data (the
//! model's arguments, secrets, the time) is only ever the context a compiled template reads.

use serde_json::Value;
use std::borrow::Cow;

/// What the system prompt's template reads (`agent.*` is compiled in as text).
#[derive(Debug, Clone, Copy)]
pub struct PromptContext<'a> {
    /// The turn's start, RFC 3339 UTC.
    pub now: &'a str,
    pub session_id: Option<&'a str>,
}

/// The system prompt: fixed text, or a compiled template.
#[derive(Clone, Copy)]
pub enum Prompt {
    Text(&'static str),
    Compiled(fn(&PromptContext<'_>) -> String),
}

impl Prompt {
    pub fn render(&self, cx: &PromptContext<'_>) -> String {
        match self {
            Prompt::Text(text) => (*text).to_owned(),
            Prompt::Compiled(render) => render(cx),
        }
    }
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Prompt::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Prompt::Compiled(_) => f.write_str("Compiled"),
        }
    }
}

/// A template of an HTTP tool: fixed text, or compiled, reading `{"args", "secrets", "now"}`.
#[derive(Clone, Copy)]
pub enum Template {
    Text(&'static str),
    /// A compiled template fails only where a filter refuses its value (`urlencode_segment`).
    Compiled(fn(&Value) -> Result<String, String>),
}

impl Template {
    pub fn render(&self, context: &Value) -> Result<String, String> {
        match self {
            Template::Text(text) => Ok((*text).to_owned()),
            Template::Compiled(render) => render(context),
        }
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Template::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Template::Compiled(_) => f.write_str("Compiled"),
        }
    }
}

/// Renders an HTTP tool's template with its context (`args`, `secrets`, `now`).
pub fn render(template: &Template, context: &Value) -> Result<String, String> {
    template.render(context)
}

/// A value inside a compiled template.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    /// A missing variable or attribute (an optional argument the model left out): prints as
    /// nothing, is false.
    Undefined,
    Str(Cow<'a, str>),
    Json(Cow<'a, Value>),
}

impl<'a> Val<'a> {
    pub fn str(text: &'a str) -> Self {
        Val::Str(Cow::Borrowed(text))
    }

    pub fn opt(text: Option<&'a str>) -> Self {
        text.map_or(Val::Undefined, Val::str)
    }

    pub fn json(value: Option<&'a Value>) -> Self {
        match value {
            None => Val::Undefined,
            Some(Value::String(text)) => Val::str(text),
            Some(value) => Val::Json(Cow::Borrowed(value)),
        }
    }

    pub fn int(n: i64) -> Self {
        Val::Json(Cow::Owned(Value::from(n)))
    }

    fn owned(value: Value) -> Val<'static> {
        match value {
            Value::String(text) => Val::Str(Cow::Owned(text)),
            value => Val::Json(Cow::Owned(value)),
        }
    }

    /// The attribute `name` of an object; undefined otherwise.
    pub fn attr(self, name: &str) -> Val<'a> {
        match self {
            Val::Json(Cow::Borrowed(value)) => Val::json(value.get(name)),
            Val::Json(Cow::Owned(value)) => match value.get(name) {
                Some(found) => Val::owned(found.clone()),
                None => Val::Undefined,
            },
            _ => Val::Undefined,
        }
    }

    /// Jinja's truth: false, none, undefined, zero, empty strings and empty collections are false.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Undefined => false,
            Val::Str(text) => !text.is_empty(),
            Val::Json(value) => match value.as_ref() {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(items) => !items.is_empty(),
                Value::Object(map) => !map.is_empty(),
            },
        }
    }

    /// The value as text: strings as they are, none and undefined as nothing, other values as
    /// JSON.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Undefined => Cow::Borrowed(""),
            Val::Str(text) => Cow::Borrowed(text),
            Val::Json(value) => match value.as_ref() {
                Value::Null => Cow::Borrowed(""),
                Value::String(s) => Cow::Borrowed(s),
                other => Cow::Owned(other.to_string()),
            },
        }
    }

    /// Appends the value as text.
    pub fn write(&self, out: &mut String) {
        out.push_str(&self.text());
    }
}

/// The filters a template may use; the compiler accepts exactly these (with these arities).
pub mod filters {
    use super::{Val, Value};
    use std::borrow::Cow;
    use std::fmt::Write;

    fn map_text<'a>(v: &Val<'a>, f: impl FnOnce(&str) -> String) -> Val<'a> {
        Val::Str(Cow::Owned(f(&v.text())))
    }

    /// `2026-11-28T19:04:05Z` → `2026-11-28`.
    pub fn date(v: Val<'_>) -> Val<'_> {
        map_text(&v, |t| t.get(..10).unwrap_or(t).to_owned())
    }

    /// `2026-11-28T19:04:05Z` → `2026-11-28 19:04 UTC`.
    pub fn datetime(v: Val<'_>) -> Val<'_> {
        map_text(&v, |t| match (t.get(..10), t.get(11..16)) {
            (Some(date), Some(time)) => format!("{date} {time} UTC"),
            _ => t.to_owned(),
        })
    }

    pub fn lower(v: Val<'_>) -> Val<'_> {
        map_text(&v, str::to_lowercase)
    }

    pub fn upper(v: Val<'_>) -> Val<'_> {
        map_text(&v, str::to_uppercase)
    }

    pub fn trim(v: Val<'_>) -> Val<'_> {
        map_text(&v, |t| t.trim().to_owned())
    }

    /// The first character upper case, the rest lower case.
    pub fn capitalize(v: Val<'_>) -> Val<'_> {
        map_text(&v, |t| {
            let mut chars = t.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
    }

    /// Each word capitalized.
    pub fn title(v: Val<'_>) -> Val<'_> {
        map_text(&v, |t| {
            let mut out = String::with_capacity(t.len());
            let mut start = true;
            for c in t.chars() {
                if start {
                    out.extend(c.to_uppercase());
                } else {
                    out.extend(c.to_lowercase());
                }
                start = !c.is_alphanumeric();
            }
            out
        })
    }

    pub fn string(v: Val<'_>) -> Val<'_> {
        map_text(&v, str::to_owned)
    }

    /// The value, or `fallback` when it is undefined or none.
    pub fn default<'a>(v: Val<'a>, fallback: Val<'a>) -> Val<'a> {
        match &v {
            Val::Undefined => fallback,
            Val::Json(value) if value.is_null() => fallback,
            _ => v,
        }
    }

    /// Characters of a string, items of a list or object.
    pub fn length(v: Val<'_>) -> Val<'static> {
        let n = match &v {
            Val::Undefined => 0,
            Val::Str(text) => text.chars().count(),
            Val::Json(value) => match value.as_ref() {
                Value::Array(items) => items.len(),
                Value::Object(map) => map.len(),
                Value::String(s) => s.chars().count(),
                _ => 0,
            },
        };
        Val::int(n as i64)
    }

    pub fn first(v: Val<'_>) -> Val<'_> {
        pick(v, true)
    }

    pub fn last(v: Val<'_>) -> Val<'_> {
        pick(v, false)
    }

    fn pick(v: Val<'_>, first: bool) -> Val<'_> {
        match v {
            Val::Str(text) => {
                let c = if first {
                    text.chars().next()
                } else {
                    text.chars().last()
                };
                c.map_or(Val::Undefined, |c| Val::Str(Cow::Owned(c.to_string())))
            }
            Val::Json(value) => match value.as_ref() {
                Value::Array(items) => {
                    let item = if first { items.first() } else { items.last() };
                    item.map_or(Val::Undefined, |item| Val::owned(item.clone()))
                }
                _ => Val::Undefined,
            },
            Val::Undefined => Val::Undefined,
        }
    }

    /// Every `from` replaced by `to`.
    pub fn replace<'a>(v: Val<'a>, from: Val<'_>, to: Val<'_>) -> Val<'a> {
        let (from, to) = (from.text().into_owned(), to.text().into_owned());
        map_text(&v, |t| t.replace(&from, &to))
    }

    /// The items of a list as text, joined by `separator` (nothing by default).
    pub fn join<'a>(v: Val<'a>, separator: Option<Val<'_>>) -> Val<'a> {
        let separator = separator.map(|s| s.text().into_owned()).unwrap_or_default();
        match &v {
            Val::Json(value) => match value.as_ref() {
                Value::Array(items) => {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|item| Val::json(Some(item)).text().into_owned())
                        .collect();
                    Val::Str(Cow::Owned(parts.join(&separator)))
                }
                _ => v,
            },
            Val::Str(text) => {
                let chars: Vec<String> = text.chars().map(String::from).collect();
                Val::Str(Cow::Owned(chars.join(&separator)))
            }
            Val::Undefined => v,
        }
    }

    /// The value as JSON text.
    pub fn tojson(v: Val<'_>) -> Val<'static> {
        let json = match &v {
            Val::Undefined => "null".to_owned(),
            Val::Str(text) => Value::String(text.to_string()).to_string(),
            Val::Json(value) => value.to_string(),
        };
        Val::Str(Cow::Owned(json))
    }

    /// One URL path segment (or host label), or why the value cannot be one (see
    /// [`crate::tools::segment`]).
    pub fn urlencode_segment(v: Val<'_>) -> Result<Val<'static>, String> {
        crate::tools::segment::encode(&v.text()).map(|text| Val::Str(Cow::Owned(text)))
    }

    /// Percent-encoding for URLs: a string with everything but letters, digits and `/._-`
    /// encoded; an object as a query string (`k=v&...`, none values left out).
    pub fn urlencode(v: Val<'_>) -> Val<'static> {
        let out = match &v {
            Val::Json(value) => match value.as_ref() {
                Value::Object(map) => {
                    let mut out = String::new();
                    for (key, item) in map {
                        if item.is_null() {
                            continue;
                        }
                        if !out.is_empty() {
                            out.push('&');
                        }
                        encode(&mut out, key);
                        out.push('=');
                        encode(&mut out, &Val::json(Some(item)).text());
                    }
                    out
                }
                _ => encoded(&v.text()),
            },
            _ => encoded(&v.text()),
        };
        Val::Str(Cow::Owned(out))
    }

    fn encoded(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        encode(&mut out, text);
        out
    }

    fn encode(out: &mut String, text: &str) {
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'.' | b'-' | b'_') {
                out.push(byte as char);
            } else {
                let _ = write!(out, "%{byte:02X}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::filters::*;
    use super::*;
    use serde_json::json;

    /// What codegen emits for `https://x.test/?q={{ args.location | urlencode }}`.
    fn url(cx: &Value) -> Result<String, String> {
        let mut out = String::from("https://x.test/?q=");
        urlencode(Val::json(cx.get("args")).attr("location")).write(&mut out);
        Ok(out)
    }

    fn path(cx: &Value) -> Result<String, String> {
        let mut out = String::from("https://x.test/");
        urlencode_segment(Val::json(cx.get("args")).attr("id"))?.write(&mut out);
        Ok(out)
    }

    #[test]
    fn a_segment_filter_refuses_what_would_climb_out() {
        let ok = json!({"args": {"id": "../../admin"}});
        assert_eq!(
            render(&Template::Compiled(path), &ok).unwrap(),
            "https://x.test/..%2F..%2Fadmin"
        );
        for bad in [json!(".."), json!("")] {
            let err = render(&Template::Compiled(path), &json!({"args": {"id": bad}})).unwrap_err();
            assert!(err.contains("cannot be a URL path segment"), "{err}");
        }
    }

    #[test]
    fn compiled_templates_read_their_context() {
        let context =
            json!({"now": "2026-11-28T19:04:05Z", "args": {"location": "São Paulo & co"}});
        assert_eq!(
            render(&Template::Compiled(url), &context).unwrap(),
            "https://x.test/?q=S%C3%A3o%20Paulo%20%26%20co"
        );
        let now = Val::json(context.get("now"));
        assert_eq!(date(now.clone()).text(), "2026-11-28");
        assert_eq!(datetime(now).text(), "2026-11-28 19:04 UTC");
        let args = tojson(Val::json(context.get("args")));
        assert_eq!(
            serde_json::from_str::<Value>(&args.text()).unwrap(),
            context["args"]
        );
        assert_eq!(render(&Template::Text("plain"), &context).unwrap(), "plain");
    }

    #[test]
    fn request_data_is_never_template_source() {
        let context =
            json!({"args": {"location": "{{ secrets.KEY }}"}, "secrets": {"KEY": "hunter2"}});
        let location = Val::json(context.get("args")).attr("location");
        assert_eq!(location.text(), "{{ secrets.KEY }}");
    }

    #[test]
    fn values_print_and_test_like_jinja() {
        let cx = json!({"n": 0, "list": ["a", "b"], "flag": true, "none": null, "obj": {"a": 1, "b": null}});
        let get = |k: &str| Val::json(cx.get(k));
        assert!(!get("n").truthy() && get("list").truthy() && get("flag").truthy());
        assert!(!get("none").truthy() && !get("missing").truthy() && !Val::str("").truthy());
        assert_eq!(get("missing").text(), "");
        assert_eq!(get("none").text(), "");
        assert_eq!(get("flag").text(), "true");
        assert_eq!(get("list").text(), r#"["a","b"]"#);
        assert_eq!(join(get("list"), Some(Val::str(", "))).text(), "a, b");
        assert_eq!(length(get("list")).text(), "2");
        assert_eq!(first(get("list")).text(), "a");
        assert_eq!(last(Val::str("xyz")).text(), "z");
        assert_eq!(default(get("missing"), Val::str("d")).text(), "d");
        assert_eq!(default(get("n"), Val::str("d")).text(), "0");
        assert_eq!(urlencode(get("obj")).text(), "a=1");
        assert_eq!(tojson(Val::str("a\"b")).text(), r#""a\"b""#);
        assert_eq!(
            title(Val::str("hello wide world")).text(),
            "Hello Wide World"
        );
        assert_eq!(capitalize(Val::str("hELLO")).text(), "Hello");
        assert_eq!(
            replace(Val::str("a-b-c"), Val::str("-"), Val::str("+")).text(),
            "a+b+c"
        );
        assert_eq!(upper(Val::str("ab")).text(), "AB");
        assert_eq!(lower(trim(Val::str("  AB "))).text(), "ab");
        assert_eq!(string(Val::int(3)).text(), "3");
        let prompt = Prompt::Compiled(|cx| format!("now {}", cx.now));
        let cx = PromptContext {
            now: "t",
            session_id: None,
        };
        assert_eq!(prompt.render(&cx), "now t");
        assert_eq!(Prompt::Text("x").render(&cx), "x");
    }
}
