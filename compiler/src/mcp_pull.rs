//! `agentc mcp pull`: asks each MCP server of each agent for its tools and writes the agent's
//! lock file (see [`crate::mcp_lock`]).
//!
//! The client is the runtime's own ([`agentc_runtime::mcp`]), over a blocking HTTP client here
//! instead of `fetch`. Header secrets come from the environment, then from `.dev.vars` in the
//! project root (as under `agentc dev`).

use crate::dev;
use crate::ir::{self, LockedTool};
use crate::mcp_lock::{lock_path, Lock, LockedServer};
use agentc_runtime::agent::McpServerSpec;
use agentc_runtime::mcp::{Registry, Reply, Transport};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a pull wrote.
#[derive(Debug, Default)]
pub struct Pulled {
    /// Lock files written (relative to the root), with the number of tools recorded.
    pub written: Vec<(PathBuf, usize)>,
    /// Lock files already up to date.
    pub unchanged: usize,
}

/// Pulls the tools of every server of every agent of `project`; `root` is what the agents'
/// sources are relative to. Fails on the first server that cannot be listed.
pub fn pull(project: &ir::Project, root: &Path) -> Result<Pulled, String> {
    let mut secrets: BTreeMap<String, String> = dev::read_dev_vars(&root.join(".dev.vars"))
        .map_err(|err| format!("cannot read .dev.vars: {err}"))?
        .into_iter()
        .collect();
    for (name, value) in std::env::vars() {
        secrets.insert(name, value);
    }
    let transport = Blocking { secrets };
    let mut pulled = Pulled::default();
    for agent in &project.agents {
        if agent.mcp.is_empty() {
            continue;
        }
        let mut lock = Lock::default();
        let mut count = 0;
        for server in &agent.mcp {
            let spec = spec(agent, server);
            let registry = Registry::default();
            let tools = block_on(registry.tools(&transport, spec))
                .map_err(|err| format!("agent `{}`: {err}", agent.name))?;
            let version = registry.protocol_version(spec).unwrap_or_default();
            let tools: BTreeMap<String, LockedTool> = tools
                .iter()
                .map(|tool| {
                    let locked = LockedTool {
                        description: tool.description.clone(),
                        parameters: tool.input_schema.clone(),
                    };
                    (tool.name.clone(), locked)
                })
                .collect();
            count += tools.len();
            let entry = LockedServer {
                url: server.url.clone(),
                protocol_version: version.to_owned(),
                tools,
            };
            lock.servers.insert(server.name.clone(), entry);
        }
        let shown = lock_path(&agent.source);
        let path = root.join(&shown);
        let text = lock.render();
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            pulled.unchanged += 1;
            continue;
        }
        std::fs::write(&path, text)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        pulled.written.push((shown, count));
    }
    Ok(pulled)
}

/// The runtime's view of a server, made once per pull (a CLI run can keep it for good).
fn spec(agent: &ir::Agent, server: &ir::McpServer) -> &'static McpServerSpec {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let headers: Vec<(&'static str, &'static str)> = server
        .headers
        .iter()
        .map(|(name, value)| (leak(name), leak(value)))
        .collect();
    let secrets: Vec<&'static str> = agent.secrets.iter().map(|s| leak(s)).collect();
    let allow_hosts: Vec<&'static str> = server.allow_hosts.iter().map(|h| leak(h)).collect();
    Box::leak(Box::new(McpServerSpec {
        name: leak(&server.name),
        url: leak(&server.url),
        headers: Box::leak(headers.into_boxed_slice()),
        timeout_ms: server.timeout_ms,
        allow_hosts: Box::leak(allow_hosts.into_boxed_slice()),
        secrets: Box::leak(secrets.into_boxed_slice()),
    }))
}

/// HTTP with ureq: each request completes before its future is first polled to an end, so the
/// futures of this transport are ready at once and [`block_on`] never waits.
struct Blocking {
    secrets: BTreeMap<String, String>,
}

impl Transport for Blocking {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: String,
    ) -> Result<Reply, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let mut request = agent.post(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let mut response = request.send(body).map_err(|err| err.to_string())?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let session_id = header("mcp-session-id");
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(16 << 20)
            .read_to_end(&mut body)
            .map_err(|err| format!("reading the reply failed: {err}"))?;
        Ok(Reply {
            status,
            content_type,
            session_id,
            body,
        })
    }

    async fn sleep(&self, _ms: u32) {
        // Requests time out in ureq; the race in the client never needs this to end.
        std::future::pending::<()>().await
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.secrets.get(name).cloned()
    }
}

/// Runs a future whose parts are all ready when polled (see [`Blocking`]).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::yield_now();
    }
}
