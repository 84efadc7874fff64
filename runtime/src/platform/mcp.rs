//! MCP on Workers: the client's [`Transport`] over `fetch`, and the isolate's [`Registry`].

use super::abort::AbortOnDrop;
use crate::agent::{McpToolSpec, ToolSpec};
use crate::mcp::{Registry, Reply, Transport};
use futures_util::StreamExt;
use serde_json::Value;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

/// The most bytes read of one reply.
const MAX_REPLY_BYTES: usize = 4 << 20;

thread_local! {
    /// Sessions and tool lists live as long as the isolate: Workers are single-threaded.
    static REGISTRY: &'static Registry = Box::leak(Box::default());
}

fn registry() -> &'static Registry {
    REGISTRY.with(|r| *r)
}

struct FetchTransport<'a> {
    env: &'a Env,
}

impl Transport for FetchTransport<'_> {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: String,
    ) -> Result<Reply, String> {
        let request_headers = Headers::new();
        for (name, value) in headers {
            request_headers
                .set(name, value)
                .map_err(|err| format!("invalid header {name}: {err}"))?;
        }
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(request_headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(body.into()));
        let request = Request::new_with_init(url, &init).map_err(|err| err.to_string())?;
        // Dropped by the call's timeout before the reply is read, the request is aborted.
        let abort = AbortOnDrop::new();
        let mut response = Fetch::Request(request)
            .send_with_signal(&abort.signal())
            .await
            .map_err(|err| format!("the request failed: {err}"))?;
        let header = |name: &str| response.headers().get(name).ok().flatten();
        let content_type = header("content-type").unwrap_or_default();
        let session_id = header("mcp-session-id");
        let status = response.status_code();
        let mut body = Vec::new();
        if let Ok(mut stream) = response.stream() {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|err| format!("reading the reply failed: {err}"))?;
                body.extend_from_slice(&chunk);
                if body.len() > MAX_REPLY_BYTES {
                    return Err(format!("the reply is longer than {MAX_REPLY_BYTES} bytes"));
                }
            }
        }
        Ok(Reply {
            status,
            content_type,
            session_id,
            body,
        })
    }

    async fn sleep(&self, ms: u32) {
        worker::Delay::from(std::time::Duration::from_millis(u64::from(ms))).await;
    }

    fn secret(&self, name: &str) -> Option<String> {
        self.env.secret(name).ok().map(|s| s.to_string())
    }
}

/// The tools to offer the model, MCP tools resolved against their servers' lists.
pub async fn offered(env: &Env, tools: Vec<&'static ToolSpec>) -> Vec<&'static ToolSpec> {
    let log = |line: &str| worker::console_log!("{line}");
    registry()
        .offered(&FetchTransport { env }, tools, &log)
        .await
}

/// Calls one MCP tool with checked arguments.
pub async fn call(env: &Env, tool: &McpToolSpec, arguments: Value) -> Result<Value, String> {
    registry()
        .call(&FetchTransport { env }, tool, arguments)
        .await
}
