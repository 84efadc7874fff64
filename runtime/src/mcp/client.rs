//! The MCP client: sessions, tool lists and tool calls over a [`Transport`], with what one
//! Worker isolate has learnt of its servers kept in a [`Registry`].
//!
//! A server is initialised on first use (`initialize`, the protocol version negotiated, then
//! `notifications/initialized`); its `Mcp-Session-Id`, when it gives one, goes with every later
//! request, and a 404 for that session starts a new one once. `tools/list` is read once per
//! isolate and server (every page). Every failure is a message for the model that names the
//! server; header values (which hold secrets) never appear in one.

use super::headers;
use super::protocol::{self, ReplyError, ToolInfo};
use crate::agent::{McpServerSpec, McpToolSpec, ToolKind, ToolSpec};
use crate::tools::ssrf;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The most pages of `tools/list` read from one server.
const MAX_PAGES: usize = 20;

/// A server's answer to one POST.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    /// The `Mcp-Session-Id` header.
    pub session_id: Option<String>,
    pub body: Vec<u8>,
}

/// What the client needs from the platform.
#[allow(async_fn_in_trait)] // Workers are single-threaded: these futures need not be `Send`.
pub trait Transport {
    /// POSTs `body` to `url` with `headers`, without following redirects.
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: String,
    ) -> Result<Reply, String>;
    /// Resolves after `ms` milliseconds.
    async fn sleep(&self, ms: u32);
    /// A Worker secret's value.
    fn secret(&self, name: &str) -> Option<String>;
}

#[derive(Debug, Clone)]
struct Session {
    id: Option<String>,
    version: &'static str,
}

#[derive(Default)]
struct ServerState {
    session: Option<Session>,
    tools: Option<Rc<Vec<ToolInfo>>>,
    /// Tool specs made from the server's list, by the name the model calls them.
    resolved: HashMap<&'static str, &'static ToolSpec>,
    next_id: u64,
}

/// Why a request failed.
enum Failure {
    /// The server no longer knows the session (404): start a new one.
    SessionGone,
    Other(String),
}

/// The sessions, tool lists and resolved tool specs of one isolate's MCP servers. Borrows of
/// its state never span an `await`.
#[derive(Default)]
pub struct Registry {
    servers: RefCell<HashMap<String, ServerState>>,
}

/// Servers are told apart by URL and header templates: two agents declaring the same server
/// share its session and tool list.
fn key(server: &McpServerSpec) -> String {
    format!("{}\n{:?}", server.url, server.headers)
}

impl Registry {
    /// The tools offered to the model: MCP tools without a lock-file schema are replaced by
    /// specs made from their server's `tools/list`. One that cannot be resolved (the server is
    /// unreachable, refuses the client, or lacks the tool) is `log`ged and offered as declared,
    /// so that calling it gives the model and the client the server's error as a tool error.
    /// Locked tools are offered as locked, without asking the server.
    pub async fn offered<T: Transport>(
        &self,
        transport: &T,
        tools: Vec<&'static ToolSpec>,
        log: &dyn Fn(&str),
    ) -> Vec<&'static ToolSpec> {
        let mut offered = Vec::with_capacity(tools.len());
        for tool in tools {
            let ToolKind::Mcp(mcp) = tool.kind else {
                offered.push(tool);
                continue;
            };
            if mcp.locked {
                offered.push(tool);
                continue;
            }
            match self.resolve(transport, tool, &mcp).await {
                Ok(resolved) => offered.push(resolved),
                Err(err) => {
                    log(&format!("agentc: tool {}: {err}", tool.name));
                    offered.push(tool);
                }
            }
        }
        offered
    }

    async fn resolve<T: Transport>(
        &self,
        transport: &T,
        tool: &'static ToolSpec,
        mcp: &McpToolSpec,
    ) -> Result<&'static ToolSpec, String> {
        let cached = |servers: &HashMap<String, ServerState>| {
            servers
                .get(&key(mcp.server))
                .and_then(|s| s.resolved.get(tool.name).copied())
        };
        if let Some(spec) = cached(&self.servers.borrow()) {
            return Ok(spec);
        }
        let list = self.tools(transport, mcp.server).await?;
        let info = find(&list, mcp)?;
        let description = if info.description.is_empty() {
            tool.description.to_owned()
        } else {
            info.description.clone()
        };
        // Made once per isolate and tool, and kept for the isolate's life like the agents' own
        // static specs.
        let spec: &'static ToolSpec = Box::leak(Box::new(ToolSpec {
            description: Box::leak(description.into_boxed_str()),
            parameters: Box::leak(info.input_schema.to_string().into_boxed_str()),
            ..*tool
        }));
        let mut servers = self.servers.borrow_mut();
        let state = servers.entry(key(mcp.server)).or_default();
        Ok(*state.resolved.entry(tool.name).or_insert(spec))
    }

    /// The protocol version negotiated with the server, once a session is open.
    pub fn protocol_version(&self, server: &McpServerSpec) -> Option<&'static str> {
        self.servers
            .borrow()
            .get(&key(server))
            .and_then(|s| s.session.as_ref())
            .map(|s| s.version)
    }

    /// The server's tools, listed once per isolate.
    pub async fn tools<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
    ) -> Result<Rc<Vec<ToolInfo>>, String> {
        let cached = self
            .servers
            .borrow()
            .get(&key(server))
            .and_then(|s| s.tools.clone());
        if let Some(tools) = cached {
            return Ok(tools);
        }
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(cursor) => json!({ "cursor": cursor }),
                None => json!({}),
            };
            let result = self.rpc(transport, server, "tools/list", params).await?;
            let (page, next) = protocol::parse_tools(&result).map_err(|e| named(server, &e))?;
            tools.extend(page);
            cursor = next;
            if cursor.is_none() {
                break;
            }
        }
        let tools = Rc::new(tools);
        self.state(server, |s| s.tools = Some(tools.clone()));
        Ok(tools)
    }

    /// Calls one tool with checked arguments. A tool the server's (cached) list lacks is not
    /// called at all.
    pub async fn call<T: Transport>(
        &self,
        transport: &T,
        mcp: &McpToolSpec,
        arguments: Value,
    ) -> Result<Value, String> {
        let listed = self
            .servers
            .borrow()
            .get(&key(mcp.server))
            .and_then(|s| s.tools.clone());
        if let Some(list) = listed {
            find(&list, mcp)?;
        }
        let params = json!({ "name": mcp.tool, "arguments": arguments });
        let result = self
            .rpc(transport, mcp.server, "tools/call", params)
            .await?;
        protocol::tool_outcome(&result)
    }

    /// One request in the server's session, starting a session first when there is none, and
    /// once more when the server has forgotten it.
    async fn rpc<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        for _ in 0..2 {
            let session = match self.state(server, |s| s.session.clone()) {
                Some(session) => session,
                None => self.initialize(transport, server).await?,
            };
            match self
                .send(transport, server, Some(&session), method, params.clone())
                .await
            {
                Ok(result) => return Ok(result),
                Err(Failure::SessionGone) => self.state(server, |s| s.session = None),
                Err(Failure::Other(err)) => return Err(err),
            }
        }
        Err(named(server, "the server keeps forgetting its session"))
    }

    async fn initialize<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
    ) -> Result<Session, String> {
        let params = protocol::initialize_params();
        let (result, session_id) = match self
            .exchange(transport, server, None, "initialize", params)
            .await
        {
            Ok(reply) => reply,
            Err(Failure::SessionGone) => return Err(named(server, "initialize answered 404")),
            Err(Failure::Other(err)) => return Err(err),
        };
        let version = protocol::negotiated_version(&result).map_err(|e| named(server, &e))?;
        let session = Session {
            id: session_id,
            version,
        };
        let headers = self.headers(transport, server, Some(&session))?;
        let body = protocol::notification("notifications/initialized");
        let reply = self.post(transport, server, &headers, body).await?;
        if !(200..300).contains(&reply.status) {
            return Err(named(
                server,
                &format!("notifications/initialized answered HTTP {}", reply.status),
            ));
        }
        self.state(server, |s| s.session = Some(session.clone()));
        Ok(session)
    }

    async fn send<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
        session: Option<&Session>,
        method: &str,
        params: Value,
    ) -> Result<Value, Failure> {
        self.exchange(transport, server, session, method, params)
            .await
            .map(|(result, _)| result)
    }

    /// A request and its result, with the session id the reply carried.
    async fn exchange<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
        session: Option<&Session>,
        method: &str,
        params: Value,
    ) -> Result<(Value, Option<String>), Failure> {
        let id = self.state(server, |s| {
            s.next_id += 1;
            s.next_id
        });
        let headers = self
            .headers(transport, server, session)
            .map_err(Failure::Other)?;
        let body = protocol::request(id, method, params);
        let reply = self
            .post(transport, server, &headers, body)
            .await
            .map_err(Failure::Other)?;
        if reply.status == 404 && session.is_some_and(|s| s.id.is_some()) {
            return Err(Failure::SessionGone);
        }
        if !(200..300).contains(&reply.status) {
            let hint = match reply.status {
                401 | 403 => " (its credentials were refused)",
                300..=399 => " (a redirect, which is not followed)",
                _ => "",
            };
            let body = protocol::snippet(&String::from_utf8_lossy(&reply.body));
            return Err(Failure::Other(named(
                server,
                &format!("{method} answered HTTP {}{hint}: {body}", reply.status),
            )));
        }
        match protocol::parse_reply(&reply.content_type, &reply.body, id) {
            Ok(result) => Ok((result, reply.session_id)),
            Err(ReplyError::Rpc { code, message }) => Err(Failure::Other(named(
                server,
                &format!("{method} failed: {message} (JSON-RPC error {code})"),
            ))),
            Err(ReplyError::Malformed(err)) => {
                Err(Failure::Other(named(server, &format!("{method}: {err}"))))
            }
        }
    }

    /// One POST within the server's time limit.
    async fn post<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
        headers: &[(String, String)],
        body: String,
    ) -> Result<Reply, String> {
        let url = ssrf::check_listed_url(server.url, server.allow_hosts)
            .map_err(|err| named(server, &err.to_string()))?;
        let post = std::pin::pin!(transport.post(url.as_str(), headers, body));
        let sleep = std::pin::pin!(transport.sleep(server.timeout_ms));
        match futures_util::future::select(post, sleep).await {
            futures_util::future::Either::Left((reply, _)) => {
                reply.map_err(|err| named(server, &err))
            }
            futures_util::future::Either::Right(((), _)) => Err(named(
                server,
                &format!("no answer within {} ms", server.timeout_ms),
            )),
        }
    }

    /// The request headers: the declared ones with their secrets filled in, then the
    /// protocol's. Only the secrets the agent declares are read.
    fn headers<T: Transport>(
        &self,
        transport: &T,
        server: &'static McpServerSpec,
        session: Option<&Session>,
    ) -> Result<Vec<(String, String)>, String> {
        let secret = |name: &str| {
            server
                .secrets
                .contains(&name)
                .then(|| transport.secret(name))
                .flatten()
        };
        let mut headers = Vec::with_capacity(server.headers.len() + 4);
        for (name, value) in server.headers {
            // The error names the header and the secret, never a value.
            let value = headers::render(value, secret)
                .map_err(|err| named(server, &format!("header {name}: {err}")))?;
            headers.push(((*name).to_owned(), value));
        }
        headers.push(("content-type".into(), "application/json".into()));
        headers.push(("accept".into(), protocol::ACCEPT.into()));
        if let Some(session) = session {
            headers.push(("mcp-protocol-version".into(), session.version.into()));
            if let Some(id) = &session.id {
                headers.push(("mcp-session-id".into(), id.clone()));
            }
        }
        Ok(headers)
    }

    fn state<R>(&self, server: &McpServerSpec, f: impl FnOnce(&mut ServerState) -> R) -> R {
        f(self.servers.borrow_mut().entry(key(server)).or_default())
    }
}

/// The server's entry for a declared tool, or why there is none.
fn find<'a>(list: &'a [ToolInfo], mcp: &McpToolSpec) -> Result<&'a ToolInfo, String> {
    list.iter().find(|t| t.name == mcp.tool).ok_or_else(|| {
        let names: Vec<&str> = list.iter().map(|t| t.name.as_str()).collect();
        named(
            mcp.server,
            &format!(
                "the server has no tool `{}` (it has: {})",
                mcp.tool,
                names.join(", ")
            ),
        )
    })
}

fn named(server: &McpServerSpec, message: &str) -> String {
    format!("MCP server `{}`: {message}", server.name)
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
