//! The chat page at `GET /`: one HTML document (its CSS and JavaScript inline, nothing fetched
//! from elsewhere) from which a person picks an agent and talks to it through the public API.
//!
//! The page is compiled into the Worker only with the `page` feature, which codegen turns on
//! when an agent file says `page: true`, and for every agent under `agentc dev`. It holds no
//! data: the agents it lists are written into it when it is served, and every conversation goes
//! through `POST /agents/{agent}/chat`, `GET` and `DELETE /agents/{agent}/sessions/{id}`, behind
//! the agent's own API keys and limits (the page asks for a key when it gets a 401). Its
//! requests are same-origin, so CORS does not apply to them.

use crate::agent::{self, AgentSpec};
use serde::Serialize;

/// What generated code declares about the page.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// The names of the agents the page lists, in order.
    pub agents: &'static [&'static str],
}

const HTML: &str = include_str!("../assets/page/index.html");
const CSS: &str = include_str!("../assets/page/page.css");
const JS: &str = include_str!("../assets/page/page.js");

/// The `content-type` of the page.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

/// The page's `content-security-policy`: nothing but its own inline style and script, and
/// requests to its own origin.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
     connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether a request is for the page.
pub fn is_page_request(method: &str, path: &str) -> bool {
    matches!(method, "GET" | "HEAD") && matches!(path, "/" | "/index.html")
}

/// One agent, as the page shows it.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    name: &'a str,
    description: &'a str,
    model: &'a str,
    /// Whether its requests need an API key.
    auth: bool,
    tools: Vec<&'a str>,
}

/// The page, with the agents it lists written in.
pub fn render(page: &Page, agents: &[AgentSpec]) -> String {
    let listed: Vec<Listed> = page
        .agents
        .iter()
        .filter_map(|name| agent::find(agents, name))
        .map(|a| Listed {
            name: a.name,
            description: a.description,
            model: a.model,
            auth: a.policy.auth.is_some(),
            tools: a.tools.iter().map(|t| t.name).collect(),
        })
        .collect();
    let json = serde_json::to_string(&listed).expect("the agent list serializes");
    // Inside <script>, `<` could close the element: JSON allows it escaped.
    let json = json.replace('<', "\\u003c");
    // The agents last: their text must not be searched for the other placeholders.
    HTML.replacen("/*STYLE*/", CSS, 1)
        .replacen("/*SCRIPT*/", JS, 1)
        .replacen("/*AGENTS*/", &json, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{AuthPolicy, Policy};
    use std::io::Write;

    const PLAIN: AgentSpec = AgentSpec {
        name: "weather",
        description: "Says </script><b>the weather</b> /*SCRIPT*/",
        model: "@cf/m",
        system: crate::tools::template::Prompt::Text(""),
        history_window: 4,
        max_tokens: 10,
        temperature: None,
        max_steps: 2,
        tools: &[],
        policy: Policy::NONE,
    };

    #[test]
    fn lists_the_declared_agents_and_escapes_their_text() {
        let guarded = AgentSpec {
            name: "guarded",
            policy: Policy {
                auth: Some(AuthPolicy {
                    api_keys_secret: "KEYS",
                }),
                ..Policy::NONE
            },
            ..PLAIN
        };
        let hidden = AgentSpec {
            name: "hidden",
            ..PLAIN
        };
        let page = Page {
            agents: &["guarded", "weather"],
        };
        let html = render(&page, &[PLAIN, guarded, hidden]);
        let start = html
            .find(r#"<script type="application/json" id="agents">"#)
            .unwrap();
        let rest = &html[start..];
        let json = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
        let listed: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(listed[0]["name"], "guarded");
        assert_eq!(listed[0]["auth"], true);
        assert_eq!(listed[1]["name"], "weather");
        assert_eq!(listed[1]["auth"], false);
        assert_eq!(listed[1]["description"], PLAIN.description);
        assert_eq!(listed.as_array().unwrap().len(), 2, "hidden is not listed");
        assert!(html.contains(CSS) && html.contains(JS));
        assert!(!html.contains("<style>/*STYLE*/") && !html.contains("<script>/*SCRIPT*/"));
        assert!(!json.contains('<'));
    }

    #[test]
    fn serves_only_get_of_the_root() {
        assert!(is_page_request("GET", "/"));
        assert!(is_page_request("HEAD", "/index.html"));
        assert!(!is_page_request("POST", "/"));
        assert!(!is_page_request("GET", "/agents/weather/chat"));
    }

    /// The page is at most 30 KiB gzipped (the issue's budget), printed for the record.
    #[test]
    fn the_page_fits_its_size_budget() {
        let html = render(
            &Page {
                agents: &["weather"],
            },
            &[PLAIN],
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(html.as_bytes()).unwrap();
        let gzipped = gz.finish().unwrap().len();
        println!("chat page: {} bytes, {gzipped} bytes gzipped", html.len());
        assert!(gzipped <= 30 * 1024, "{gzipped} bytes gzipped");
        // Nothing is loaded from another origin.
        for needle in ["http://", "https://", "//cdn", "@import"] {
            assert!(!html.contains(needle), "the page refers to {needle}");
        }
    }
}
