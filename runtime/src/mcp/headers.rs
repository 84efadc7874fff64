//! Header values of MCP servers: text in which `{{ secrets.NAME }}` stands for a Worker secret.
//! Nothing else is a template, so a header can hold a secret only by reference, and the compiler
//! checks each reference against the secrets the agent declares.

/// A piece of a header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    /// The name of a secret.
    Secret(&'a str),
}

/// Splits a header value into text and secret references.
pub fn parse(value: &str) -> Result<Vec<Part<'_>>, String> {
    let mut parts = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start..];
        if !(after.starts_with("{{") || after.starts_with("{%") || after.starts_with("{#")) {
            // A lone brace is text.
            let end = start + 1;
            parts.push(Part::Text(&rest[..end]));
            rest = &rest[end..];
            continue;
        }
        if start > 0 {
            parts.push(Part::Text(&rest[..start]));
        }
        let Some(inner_end) = after.strip_prefix("{{").and_then(|a| a.find("}}")) else {
            return Err(
                "only `{{ secrets.NAME }}` may appear between braces in an MCP header".to_owned(),
            );
        };
        let inner = after[2..2 + inner_end].trim();
        let name = inner
            .strip_prefix("secrets.")
            .filter(|n| is_secret_name(n))
            .ok_or_else(|| {
                format!(
                    "`{{{{ {inner} }}}}`: only `{{{{ secrets.NAME }}}}` may appear in an MCP header"
                )
            })?;
        parts.push(Part::Secret(name));
        rest = &after[2 + inner_end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest));
    }
    Ok(parts)
}

fn is_secret_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The value with each secret reference replaced by the secret; an error names the missing
/// secret, never a value.
pub fn render(value: &str, secret: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::new();
    for part in parse(value)? {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Secret(name) => out.push_str(&secret(name).ok_or_else(|| {
                format!("the secret `{name}` is not set (wrangler secret put {name})")
            })?),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_by_reference_only() {
        assert_eq!(
            parse("Bearer {{ secrets.CALC_TOKEN }}").unwrap(),
            [Part::Text("Bearer "), Part::Secret("CALC_TOKEN")]
        );
        assert_eq!(
            parse("{{secrets.A}}-{x}").unwrap(),
            [Part::Secret("A"), Part::Text("-{"), Part::Text("x}")]
        );
        for bad in [
            "{{ args.x }}",
            "{{ secrets.lower }}",
            "{% if x %}",
            "{{ secrets.A",
            "{{ now }}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let secret = |n: &str| (n == "T").then(|| "s3cret".to_owned());
        assert_eq!(
            render("Bearer {{ secrets.T }}", secret).unwrap(),
            "Bearer s3cret"
        );
        let err = render("{{ secrets.U }}", secret).unwrap_err();
        assert_eq!(err, "the secret `U` is not set (wrangler secret put U)");
    }
}
