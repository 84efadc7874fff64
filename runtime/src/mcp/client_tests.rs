//! The client against an in-memory server that speaks the protocol as the official SDK does
//! (stateful sessions, SSE or JSON replies); the end-to-end tests use the real SDK server.

use super::*;
use crate::agent::Approval;
use std::cell::{Cell, RefCell};

const TOKEN: &str = "s3cret-token";

static SERVER: McpServerSpec = McpServerSpec {
    name: "calc",
    url: "http://127.0.0.1:9/mcp",
    headers: &[("Authorization", "Bearer {{ secrets.CALC_TOKEN }}")],
    timeout_ms: 1000,
    allow_hosts: &["127.0.0.1:9"],
    secrets: &["CALC_TOKEN"],
};

const fn tool(name: &'static str, tool: &'static str, locked: bool) -> ToolSpec {
    ToolSpec {
        name,
        description: "from the file",
        parameters: r#"{"type":"object"}"#,
        kind: ToolKind::Mcp(McpToolSpec {
            server: &SERVER,
            tool,
            locked,
        }),
        approval: None,
    }
}

static ADD: ToolSpec = tool("calc_add", "add", false);
static MISSING: ToolSpec = tool("calc_sqrt", "sqrt", false);
static LOCKED: ToolSpec = ToolSpec {
    approval: Some(Approval { expires_secs: 60 }),
    ..tool("calc_multiply", "multiply", true)
};

type Post = (Vec<(String, String)>, Value);

/// An MCP server in memory. It answers as SSE unless `json`, pages its tool list, and forgets
/// its session when told to.
#[derive(Default)]
struct FakeServer {
    json: bool,
    token: Option<&'static str>,
    inits: Cell<u32>,
    sessions: Cell<u32>,
    forget: Cell<bool>,
    hang: Cell<bool>,
    /// Each POST: its headers and its JSON body.
    posts: RefCell<Vec<Post>>,
}

impl FakeServer {
    fn new() -> Self {
        FakeServer {
            token: Some(TOKEN),
            ..Default::default()
        }
    }

    fn methods(&self) -> Vec<String> {
        self.posts
            .borrow()
            .iter()
            .map(|(_, body)| body["method"].as_str().unwrap().to_owned())
            .collect()
    }

    fn reply(&self, status: u16, session: Option<String>, message: Value) -> Reply {
        let (content_type, body) = if self.json {
            ("application/json", message.to_string())
        } else {
            (
                "text/event-stream",
                format!("event: message\ndata: {message}\n\n"),
            )
        };
        Reply {
            status,
            content_type: content_type.into(),
            session_id: session,
            body: body.into_bytes(),
        }
    }
}

impl Transport for FakeServer {
    async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: String,
    ) -> Result<Reply, String> {
        assert_eq!(url, "http://127.0.0.1:9/mcp");
        let body: Value = serde_json::from_str(&body).unwrap();
        self.posts
            .borrow_mut()
            .push((headers.to_vec(), body.clone()));
        if self.hang.get() {
            std::future::pending::<()>().await;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        if header("authorization") != self.token.map(|t| format!("Bearer {t}")) {
            return Ok(Reply {
                status: 401,
                content_type: "application/json".into(),
                session_id: None,
                body: br#"{"error":"invalid_token"}"#.to_vec(),
            });
        }
        let current = format!("session-{}", self.sessions.get());
        let method = body["method"].as_str().unwrap();
        if method == "initialize" {
            self.inits.set(self.inits.get() + 1);
            self.sessions.set(self.sessions.get() + 1);
            self.forget.set(false);
            let session = format!("session-{}", self.sessions.get());
            let result = json!({"protocolVersion": "2025-06-18", "capabilities": {"tools": {}}});
            let message = json!({"jsonrpc": "2.0", "id": body["id"], "result": result});
            return Ok(self.reply(200, Some(session), message));
        }
        if header("mcp-session-id") != Some(current) || self.forget.get() {
            return Ok(Reply {
                status: 404,
                content_type: "application/json".into(),
                session_id: None,
                body: b"{}".to_vec(),
            });
        }
        assert_eq!(
            header("mcp-protocol-version").as_deref(),
            Some("2025-06-18")
        );
        let result = match method {
            "notifications/initialized" => {
                return Ok(Reply {
                    status: 202,
                    content_type: String::new(),
                    session_id: None,
                    body: vec![],
                })
            }
            "tools/list" if body["params"]["cursor"].is_null() => json!({
                "tools": [{"name": "add", "description": "Adds a and b.",
                           "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}}],
                "nextCursor": "2"
            }),
            "tools/list" => {
                json!({"tools": [{"name": "multiply", "inputSchema": {"type": "object"}}]})
            }
            "tools/call" => {
                let args = &body["params"]["arguments"];
                match body["params"]["name"].as_str().unwrap() {
                    "add" => {
                        let sum = args["a"].as_f64().unwrap() + args["b"].as_f64().unwrap();
                        json!({"content": [{"type": "text", "text": sum.to_string()}], "structuredContent": {"result": sum}})
                    }
                    _ => {
                        let error = json!({"code": -32602, "message": "Tool not found"});
                        let message = json!({"jsonrpc": "2.0", "id": body["id"], "error": error});
                        return Ok(self.reply(200, None, message));
                    }
                }
            }
            other => panic!("unexpected method {other}"),
        };
        let message = json!({"jsonrpc": "2.0", "id": body["id"], "result": result});
        Ok(self.reply(200, None, message))
    }

    async fn sleep(&self, _ms: u32) {
        // Time passes at once: only a server that never answers loses the race.
        for _ in 0..50 {
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    std::task::Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
            })
            .await;
        }
    }

    fn secret(&self, name: &str) -> Option<String> {
        (name == "CALC_TOKEN").then(|| TOKEN.to_owned())
    }
}

fn block<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

fn mcp(spec: &'static ToolSpec) -> McpToolSpec {
    match spec.kind {
        ToolKind::Mcp(mcp) => mcp,
        _ => unreachable!(),
    }
}

#[test]
fn one_session_and_one_tool_list_per_isolate() {
    for json in [false, true] {
        let server = FakeServer {
            json,
            ..FakeServer::new()
        };
        let registry = Registry::default();
        let logged = RefCell::new(Vec::new());
        let log = |line: &str| logged.borrow_mut().push(line.to_owned());
        let offered = block(registry.offered(&server, vec![&ADD, &MISSING, &LOCKED], &log));
        let names: Vec<&str> = offered.iter().map(|t| t.name).collect();
        assert_eq!(names, ["calc_add", "calc_sqrt", "calc_multiply"]);
        // The one the server lacks is offered as declared, and its calls are tool errors.
        assert!(std::ptr::eq(offered[1], &MISSING));
        // The unlocked tool now has the server's description and schema.
        assert_eq!(offered[0].description, "Adds a and b.");
        assert!(offered[0].parameters.contains(r#""required":["a","b"]"#));
        // The locked one is as the lock file has it.
        assert!(std::ptr::eq(offered[2], &LOCKED));
        assert_eq!(offered[2].approval, Some(Approval { expires_secs: 60 }));
        let logged = logged.borrow();
        assert_eq!(logged.len(), 1);
        assert!(
            logged[0].contains("calc_sqrt")
                && logged[0].contains("has no tool `sqrt` (it has: add, multiply)"),
            "{logged:?}"
        );

        let result = block(registry.call(&server, &mcp(&ADD), json!({"a": 2, "b": 3})));
        assert_eq!(result, Ok(json!({"result": 5.0})));
        let again = block(registry.offered(&server, vec![&ADD], &|_| {}));
        assert!(std::ptr::eq(again[0], offered[0]), "the spec is made once");
        assert_eq!(
            server.methods(),
            [
                "initialize",
                "notifications/initialized",
                "tools/list",
                "tools/list",
                "tools/call"
            ]
        );
        assert_eq!(server.inits.get(), 1);
        // The token went in the declared header, rendered from the secret.
        let (headers, _) = &server.posts.borrow()[4];
        assert!(headers.contains(&("Authorization".into(), format!("Bearer {TOKEN}"))));
        assert!(headers.contains(&("mcp-session-id".into(), "session-1".into())));
    }
}

#[test]
fn a_forgotten_session_is_started_again_once() {
    let server = FakeServer::new();
    let registry = Registry::default();
    block(registry.call(&server, &mcp(&ADD), json!({"a": 1, "b": 1}))).unwrap();
    server.forget.set(true);
    let result = block(registry.call(&server, &mcp(&ADD), json!({"a": 1, "b": 2})));
    assert_eq!(result, Ok(json!({"result": 3.0})));
    assert_eq!(server.inits.get(), 2);
}

#[test]
fn failures_are_tool_errors_that_name_the_server() {
    // A wrong token: HTTP 401, and the token is not in the message.
    let server = FakeServer {
        token: Some("another"),
        ..FakeServer::new()
    };
    let registry = Registry::default();
    let err = block(registry.call(&server, &mcp(&ADD), json!({}))).unwrap_err();
    assert!(
        err.starts_with(
            "MCP server `calc`: initialize answered HTTP 401 (its credentials were refused)"
        ),
        "{err}"
    );
    assert!(!err.contains(TOKEN));

    // A JSON-RPC error.
    let server = FakeServer::new();
    let err = block(registry.call(&server, &mcp(&LOCKED), json!({}))).unwrap_err();
    assert_eq!(
        err,
        "MCP server `calc`: tools/call failed: Tool not found (JSON-RPC error -32602)"
    );

    // Once the list is known, a tool it lacks is not called at all.
    block(registry.tools(&server, &SERVER)).unwrap();
    let posts = server.posts.borrow().len();
    let err = block(registry.call(&server, &mcp(&MISSING), json!({}))).unwrap_err();
    assert!(err.contains("has no tool `sqrt`"), "{err}");
    assert_eq!(server.posts.borrow().len(), posts);

    // No answer in time.
    let server = FakeServer::new();
    server.hang.set(true);
    let err = block(Registry::default().call(&server, &mcp(&ADD), json!({}))).unwrap_err();
    assert_eq!(err, "MCP server `calc`: no answer within 1000 ms");
}

#[test]
fn the_url_is_checked_like_an_http_tool() {
    static PRIVATE: McpServerSpec = McpServerSpec {
        allow_hosts: &[],
        ..SERVER
    };
    static TOOL: ToolSpec = ToolSpec {
        kind: ToolKind::Mcp(McpToolSpec {
            server: &PRIVATE,
            tool: "add",
            locked: false,
        }),
        ..tool("calc_add", "add", false)
    };
    let server = FakeServer::new();
    let err = block(Registry::default().call(&server, &mcp(&TOOL), json!({}))).unwrap_err();
    assert!(
        err.contains("MCP server `calc`") && err.contains("127.0.0.1"),
        "{err}"
    );
    assert!(server.posts.borrow().is_empty());
}
