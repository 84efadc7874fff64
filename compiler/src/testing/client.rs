//! The HTTP side of `agentc test`: requests sent as a client would (any status is an answer,
//! redirects are not followed), answers read to their end; and the target that is a deployed
//! Worker (`--url`).

use super::outcome::{Outcome, Request};
use super::run::Target;
use super::Case;
use std::time::{Duration, Instant};

/// The longest a single answer may take (a guard against a hung server, not a test).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest answer read.
const MAX_BODY_BYTES: u64 = 64 << 20;

/// An HTTP client for one base URL.
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    /// A client for `base` (`https://agents.example.com`, `http://127.0.0.1:8787`).
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(ANSWER_TIMEOUT))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request and reads the whole answer.
    pub fn send(&self, request: &Request) -> Result<Outcome, String> {
        let url = format!("{}{}", self.base, request.path);
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(&url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let started = Instant::now();
        let sent = match &request.body {
            Some(body) => builder
                .body(body.clone())
                .map_err(|err| err.to_string())
                .and_then(|r| self.agent.run(r).map_err(|err| err.to_string())),
            None => builder
                .body(())
                .map_err(|err| err.to_string())
                .and_then(|r| self.agent.run(r).map_err(|err| err.to_string())),
        };
        let mut response = sent.map_err(|err| format!("{} {url}: {err}", request.method))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|err| format!("reading the answer of {} {url}: {err}", request.method))?;
        Ok(Outcome::new(status, headers, &body, started.elapsed()))
    }
}

/// A deployed Worker (or any running one): only cases that need no local control run.
pub struct Remote {
    pub client: Client,
}

impl Target for Remote {
    fn skip_reason(&self, case: &Case) -> Option<String> {
        case.needs_local().then(|| {
            let what = if case.replies.is_some() {
                "scripted `replies`"
            } else {
                "`tool_results`"
            };
            format!("it declares {what}, which only the local Worker can honour (not --url)")
        })
    }

    fn prepare(&mut self, _agent: &str, _case: &Case, _run: u32) -> Result<(), String> {
        Ok(())
    }

    fn send(&mut self, request: &Request) -> Result<Outcome, String> {
        self.client.send(request)
    }
}
