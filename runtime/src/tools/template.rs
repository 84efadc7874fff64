//! minijinja templates of the system prompt and of HTTP tools.
//!
//! Template sources come only from the agent file, checked at build time; request data (the
//! model's arguments, secrets, the time) is only ever the context a template is rendered with.

use minijinja::value::Serde;
use minijinja::{Environment, Value};

/// An environment with agentc's filters: `date` (`2026-11-28`) and `datetime`
/// (`2026-11-28 19:04 UTC`) over RFC 3339 strings such as `now`, and `urlencode_segment` (see
/// [`super::segment`]).
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_filter("date", |value: String| {
        value.get(..10).unwrap_or(&value).to_owned()
    });
    env.add_filter("datetime", |value: String| {
        match (value.get(..10), value.get(11..16)) {
            (Some(date), Some(time)) => format!("{date} {time} UTC"),
            _ => value,
        }
    });
    env.add_filter("urlencode_segment", |value: Value| {
        super::segment::encode(&value.to_string())
            .map_err(|err| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, err))
    });
    env
}

/// Whether a text needs rendering at all.
pub fn is_template(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// Renders a template with a context.
pub fn render(source: &str, context: &serde_json::Value) -> Result<String, String> {
    if !is_template(source) {
        return Ok(source.to_owned());
    }
    let env = environment();
    let template = env
        .template_from_str(source)
        .map_err(|err| err.to_string())?;
    template
        .render(Value::from(Serde(context)))
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_with_context_and_filters() {
        let context =
            json!({"now": "2026-11-28T19:04:05Z", "args": {"location": "São Paulo & co"}});
        assert_eq!(
            render("Today is {{ now | date }}.", &context).unwrap(),
            "Today is 2026-11-28."
        );
        assert_eq!(
            render("{{ now | datetime }}", &context).unwrap(),
            "2026-11-28 19:04 UTC"
        );
        assert_eq!(
            render(
                "https://x.test/?q={{ args.location | urlencode }}",
                &context
            )
            .unwrap(),
            "https://x.test/?q=S%C3%A3o%20Paulo%20%26%20co"
        );
        let json = render("{{ args | tojson }}", &context).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).unwrap(),
            context["args"]
        );
    }

    #[test]
    fn request_data_is_never_template_source() {
        let context =
            json!({"args": {"location": "{{ secrets.KEY }}"}, "secrets": {"KEY": "hunter2"}});
        assert_eq!(
            render("{{ args.location }}", &context).unwrap(),
            "{{ secrets.KEY }}"
        );
    }

    #[test]
    fn plain_text_is_returned_as_is() {
        assert_eq!(render("Be brief.", &json!({})).unwrap(), "Be brief.");
    }
}
