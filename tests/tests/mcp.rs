//! Tools from an MCP server, end to end: the `mcp_calc` and `mcp_json` test agents on real
//! workerd, a scripted model, and a real MCP server (the official TypeScript SDK's Streamable
//! HTTP transport, `tests/mcp/server.mjs`) started on loopback with a bearer token. The fixture
//! server that stands in for the network forwards the agents' declared `127.0.0.1:1893x` to it.

use agentc_tests::{answer, repo_root, Event, EventStream, Stack, MCP_TOKEN};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;

/// The MCP server, killed when dropped.
pub struct McpServer {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl Drop for McpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl McpServer {
    /// Starts `tests/mcp/server.mjs`, answering with SSE streams or, with `json`, plain JSON.
    pub async fn start(json: bool) -> McpServer {
        let mut command = std::process::Command::new("node");
        command
            .arg(repo_root().join("tests/mcp/server.mjs"))
            .args(["--token", MCP_TOKEN])
            .current_dir(repo_root())
            .stdout(std::process::Stdio::piped());
        if json {
            command.arg("--json");
        }
        let mut child = command
            .spawn()
            .expect("node runs (the MCP SDK comes from package.json: scripts/setup)");
        let stdout = child.stdout.take().expect("piped stdout");
        let read = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        });
        let line = tokio::time::timeout(agentc_tests::EVENT_TIMEOUT, read)
            .await
            .expect("the MCP server starts in time")
            .expect("join")
            .expect("read its output");
        let line = line.trim().to_owned();
        let port: u16 = line
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        McpServer {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        }
    }

    /// Every tool call that ran on the server: `{name, arguments, session}`.
    pub async fn calls(&self) -> Vec<Value> {
        self.get("calls").await
    }

    /// Every MCP POST the server received: `{method, tool, aborted}`.
    pub async fn requests(&self) -> Vec<Value> {
        self.get("requests").await
    }

    async fn get(&self, path: &str) -> Vec<Value> {
        let url = format!("http://{}/{path}", self.addr);
        let body: Value = reqwest::get(url)
            .await
            .expect("the MCP server answers")
            .json()
            .await
            .expect("JSON");
        body.as_array().expect("an array").clone()
    }
}

/// The stack with the SSE server behind `mcp_calc`'s declared address.
async fn calc_stack(script: Value) -> (Stack, McpServer) {
    let stack = Stack::start(script).await;
    let server = McpServer::start(false).await;
    stack.fixture.forward("127.0.0.1:18931", server.addr);
    (stack, server)
}

/// The event names in order, a run of `delta`s counted once (the answer streams in pieces).
fn names(events: &[Event]) -> Vec<&str> {
    let mut names = agentc_tests::names(events);
    names.dedup_by(|a, b| *a == "delta" && *b == "delta");
    names
}

fn call(name: &str, arguments: Value) -> Value {
    json!({ "tool_calls": [{ "name": name, "arguments": arguments }] })
}

fn event<'a>(events: &'a [Event], name: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
        .data
}

/// The names of the tools offered in a recorded model request.
fn offered(request: &localai::RecordedRequest) -> Vec<String> {
    request.inputs["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn approve(stack: &Stack, session: &str, id: &str, body: Value) -> reqwest::Response {
    stack
        .client
        .post(format!(
            "{}/agents/mcp_calc/sessions/{session}/approvals/{id}",
            stack.base
        ))
        .json(&body)
        .send()
        .await
        .expect("the Worker answers")
}

async fn session(stack: &Stack, session: &str) -> Value {
    let response = stack
        .client
        .get(format!("{}/agents/mcp_calc/sessions/{session}", stack.base))
        .send()
        .await
        .expect("the Worker answers");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_calls_an_mcp_tool_and_its_result_reaches_model_and_client() {
    let (stack, server) = calc_stack(json!({ "replies": [
        call("calc_add", json!({ "a": 2, "b": 3 })),
        { "text": "2 + 3 = 5." },
    ]}))
    .await;
    let events = stack.chat_events("mcp_calc", "What is 2 + 3?", "add").await;
    assert_eq!(
        names(&events),
        ["tool_call", "tool_result", "delta", "done"]
    );
    let result = event(&events, "tool_result");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["result"], json!({ "result": 5 }));
    assert_eq!(answer(&events), "2 + 3 = 5.");

    // The tool ran once on the server, in the session the Worker opened.
    let calls = server.calls().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["name"], "add");
    assert_eq!(calls[0]["arguments"], json!({ "a": 2, "b": 3 }));
    assert!(calls[0]["session"].is_string());

    // The model was offered the allowed tools with the server's own descriptions and schemas,
    // and got the result back.
    let requests = stack.model_requests();
    assert_eq!(
        offered(&requests[0]),
        ["calc_add", "calc_multiply", "calc_divide"]
    );
    let add = &requests[0].inputs["tools"][0]["function"];
    assert_eq!(add["description"], "Adds two numbers.");
    assert_eq!(add["parameters"]["required"], json!(["a", "b"]));
    let messages = requests[1].inputs["messages"].as_array().unwrap();
    let tool = messages.iter().find(|m| m["role"] == "tool").unwrap();
    // Marked as data for the model, as every tool result is.
    assert_eq!(
        tool["content"],
        "<tool_output>\n{\"result\":5}\n</tool_output>"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_the_allow_list_omits_is_never_offered_and_cannot_be_called() {
    let (stack, server) = calc_stack(json!({ "replies": [
        call("calc_wipe", json!({})),
        { "text": "I cannot do that." },
    ]}))
    .await;
    let events = stack
        .chat_events("mcp_calc", "Delete everything.", "wipe")
        .await;
    // The call is neither run nor shown: the model is asked again, told the tool is not there.
    assert_eq!(names(&events), ["delta", "done"]);
    assert!(server.calls().await.is_empty());
    let requests = stack.model_requests();
    assert_eq!(requests.len(), 2);
    let messages = requests[1].inputs["messages"].as_array().unwrap();
    let note = messages.last().unwrap();
    assert_eq!(note["role"], "system");
    assert!(
        note["content"].as_str().unwrap().contains("calc_wipe"),
        "{note}"
    );
    for request in &requests {
        assert!(!offered(request).iter().any(|t| t.contains("wipe")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_replies_work_and_a_wrong_token_or_an_error_result_is_a_tool_error() {
    let stack = Stack::start(json!({ "replies": [
        { "tool_calls": [
            { "name": "calc_add", "arguments": { "a": 1, "b": 1 } },
            { "name": "wrong_add", "arguments": { "a": 1, "b": 1 } },
        ]},
        { "text": "Done." },
        call("calc_divide", json!({ "a": 1, "b": 0 })),
        { "text": "It cannot be divided." },
    ]}))
    .await;
    let json_server = McpServer::start(true).await;
    stack.fixture.forward("127.0.0.1:18932", json_server.addr);
    let sse_server = McpServer::start(false).await;
    stack.fixture.forward("127.0.0.1:18931", sse_server.addr);

    let events = stack.chat_events("mcp_json", "1 + 1, twice", "json").await;
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e.name == "tool_result")
        .map(|e| &e.data)
        .collect();
    assert_eq!(results[0]["ok"], true, "{:?}", results[0]);
    assert_eq!(results[0]["result"], json!({ "result": 2 }));
    assert_eq!(results[1]["ok"], false);
    let error = results[1]["error"].as_str().unwrap();
    assert!(
        error.contains("MCP server `wrong`") && error.contains("HTTP 401"),
        "{error}"
    );
    assert!(!error.contains(MCP_TOKEN));
    assert_eq!(json_server.calls().await.len(), 1);

    // `calc_divide` is not `mcp_json`'s: the same call on `mcp_calc` gets the server's
    // `isError` result as a tool error.
    let events = stack.chat_events("mcp_calc", "1 / 0?", "div").await;
    let result = event(&events, "tool_result");
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["error"], "cannot divide by zero");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_needs_approval_waits_survives_a_restart_and_runs_once_approved() {
    let (mut stack, server) = calc_stack(json!({ "replies": [
        call("calc_multiply", json!({ "a": 6, "b": 7 })),
        { "text": "6 × 7 = 42." },
    ]}))
    .await;
    let events = stack.chat_events("mcp_calc", "What is 6 × 7?", "mul").await;
    assert_eq!(names(&events), ["tool_call", "approval_required"]);
    let pending = event(&events, "approval_required").clone();
    let id = pending["id"].as_str().unwrap().to_owned();
    assert_eq!(pending["name"], "calc_multiply");
    assert_eq!(pending["arguments"], json!({ "a": 6, "b": 7 }));
    assert_eq!(event(&events, "tool_call")["id"], id.as_str());
    assert!(server.calls().await.is_empty(), "nothing ran yet");

    // The session lists the waiting call; a new message is refused with it.
    let listed = session(&stack, "mul").await;
    assert_eq!(listed["pending_approvals"][0]["id"], id.as_str());
    assert_eq!(
        listed["messages"],
        json!([]),
        "a paused turn is not stored yet"
    );
    let refused = stack.chat("mcp_calc", "Hello?", "mul").await;
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "approval_pending");
    assert!(body["error"]["message"].as_str().unwrap().contains(&id));

    // workerd restarts: the paused turn is on disk.
    stack.restart().await;
    stack.fixture.forward("127.0.0.1:18931", server.addr);
    let listed = session(&stack, "mul").await;
    assert_eq!(listed["pending_approvals"][0]["id"], id.as_str());

    let response = approve(&stack, "mul", &id, json!({ "approve": true })).await;
    assert_eq!(response.status(), 200);
    let events = EventStream::new(response).collect_all().await;
    assert_eq!(names(&events), ["tool_result", "delta", "done"]);
    assert_eq!(
        event(&events, "tool_result")["result"],
        json!({ "result": 42 })
    );
    assert_eq!(answer(&events), "6 × 7 = 42.");
    let calls = server.calls().await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["name"], "multiply");

    // Approving again finds nothing to approve, and nothing runs again.
    let again = approve(&stack, "mul", &id, json!({ "approve": true })).await;
    assert_eq!(again.status(), 404);
    assert_eq!(server.calls().await.len(), 1);

    // The whole turn is stored now, and nothing waits.
    let listed = session(&stack, "mul").await;
    assert_eq!(listed["pending_approvals"], json!([]));
    let roles: Vec<&str> = listed["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_call_does_not_run_and_the_model_hears_why() {
    let (stack, server) = calc_stack(json!({ "replies": [
        call("calc_multiply", json!({ "a": 2, "b": 21 })),
        { "text": "Understood, I did not multiply." },
    ]}))
    .await;
    let events = stack.chat_events("mcp_calc", "2 × 21?", "deny").await;
    let id = event(&events, "approval_required")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({ "approve": false, "reason": "not now" });
    let response = approve(&stack, "deny", &id, body).await;
    assert_eq!(response.status(), 200);
    let events = EventStream::new(response).collect_all().await;
    assert_eq!(names(&events), ["tool_result", "delta", "done"]);
    let result = event(&events, "tool_result");
    assert_eq!(result["ok"], false);
    assert_eq!(
        result["error"],
        "a person declined to run this call: not now"
    );
    assert!(server.calls().await.is_empty());
    let requests = stack.model_requests();
    let tool = requests[1].inputs["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()
        .clone();
    assert!(tool["content"].as_str().unwrap().contains("declined"));
    let again = approve(&stack, "deny", &id, json!({ "approve": true })).await;
    assert_eq!(again.status(), 404);
    assert!(server.calls().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_endpoint_reports_a_waiting_call_as_a_tool_call_finish() {
    let (stack, server) = calc_stack(json!({ "replies": [
        call("calc_multiply", json!({ "a": 3, "b": 3 })),
        { "text": "9." },
    ]}))
    .await;
    let body = json!({
        "model": "mcp_calc",
        "messages": [{ "role": "user", "content": "3 × 3?" }],
    });
    let response = stack
        .client
        .post(format!("{}/v1/chat/completions", stack.base))
        .header("x-session-id", "oa")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let completion: Value = response.json().await.unwrap();
    let choice = &completion["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{completion}");
    let tool_call = &choice["message"]["tool_calls"][0];
    assert_eq!(tool_call["function"]["name"], "calc_multiply");
    assert_eq!(tool_call["function"]["arguments"], r#"{"a":3,"b":3}"#);
    assert!(server.calls().await.is_empty());
    let id = tool_call["id"].as_str().unwrap();
    let response = approve(&stack, "oa", id, json!({ "approve": true })).await;
    let events = EventStream::new(response).collect_all().await;
    assert_eq!(names(&events).last(), Some(&"done"));
    assert_eq!(server.calls().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agentc_mcp_pull_records_the_servers_tools_and_check_then_knows_them() {
    let server = McpServer::start(false).await;
    let root = tempfile::tempdir().expect("temp dir");
    let root = root.path().to_path_buf();
    std::fs::create_dir_all(root.join("agents")).unwrap();
    let agent = |tools: &str| {
        format!(
            "name: calc\nmodel: \"@cf/meta/llama-3.3-70b-instruct-fp8-fast\"\nsystem: Arithmetic.\n\
             secrets: [MCP_CALC_TOKEN]\nmcp:\n  - name: calc\n    url: http://{}/mcp\n    \
             headers: {{ Authorization: \"Bearer {{{{ secrets.MCP_CALC_TOKEN }}}}\" }}\n    tools: [{tools}]\n",
            server.addr
        )
    };
    std::fs::write(root.join("agents/calc.yaml"), agent("add, multiply")).unwrap();
    std::fs::write(
        root.join(".dev.vars"),
        format!("MCP_CALC_TOKEN={MCP_TOKEN}\n"),
    )
    .unwrap();
    let check = |root: &std::path::Path| {
        let paths = agentc::project::agent_files(&root.join("agents")).unwrap();
        let files = agentc::project::read_files(&paths, root).unwrap();
        let mut checked = agentc::project::check_files(files);
        agentc::mcp_lock::apply(&mut checked, root);
        checked
    };
    let checked = check(&root);
    let project = checked.project.clone().expect("the agent checks");
    let at = root.clone();
    let pulled = tokio::task::spawn_blocking(move || agentc::mcp_pull::pull(&project, &at))
        .await
        .unwrap()
        .expect("the pull succeeds");
    assert_eq!(pulled.written.len(), 1);
    assert_eq!(
        pulled.written[0].1, 5,
        "every tool of the server is recorded"
    );
    let lock = std::fs::read_to_string(root.join("agents/calc.mcp-lock.json")).unwrap();
    let lock: Value = serde_json::from_str(&lock).unwrap();
    let tools = &lock["servers"]["calc"]["tools"];
    assert_eq!(tools["add"]["description"], "Adds two numbers.");
    assert_eq!(
        tools["multiply"]["input_schema"]["required"],
        json!(["a", "b"])
    );
    assert!(tools["wipe"].is_object());
    assert_eq!(lock["servers"]["calc"]["protocol_version"], "2025-11-25");

    // Now `agentc check` knows the server's tools: a misspelt one is an error.
    std::fs::write(root.join("agents/calc.yaml"), agent("add, mutiply")).unwrap();
    let rendered = check(&root).render();
    assert!(
        rendered.contains("the MCP server `calc` has no tool `mutiply`")
            && rendered.contains("did you mean `multiply`?"),
        "{rendered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_past_the_servers_timeout_is_aborted_and_not_retried() {
    // The model's answer after the failed call holds after its first piece, so the turn is
    // still running while the server is asked what became of the call.
    let stack = Stack::start(json!({ "replies": [
        call("calc_slow", json!({})),
        { "chunks": ["The tool ", "did not answer in time."], "hold_after": 1 },
    ]}))
    .await;
    // A server that answers in plain JSON sends nothing before its answer: only aborting the
    // request closes it (a streamed reply is also closed by cancelling its body).
    let server = McpServer::start(true).await;
    stack.fixture.forward("127.0.0.1:18933", server.addr);
    let response = stack.chat("mcp_slow", "Run the slow tool", "slow").await;
    assert_eq!(response.status(), 200);
    let mut stream = EventStream::new(response);
    let mut events = Vec::new();
    while events.last().is_none_or(|e: &Event| e.name != "delta") {
        events.push(
            stream
                .next()
                .await
                .expect("the turn goes on after the call"),
        );
    }
    let result = event(&events, "tool_result");
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("no answer within 1000 ms"),
        "{result}"
    );
    // The call was sent once, and the Worker closed its request when it gave up, not when the
    // turn ended: the turn still waits on the model (the server would answer after 20 s).
    let asked = std::time::Instant::now();
    let call = loop {
        let requests = server.requests().await;
        let calls: Vec<&Value> = requests
            .iter()
            .filter(|r| r["method"] == "tools/call")
            .collect();
        assert_eq!(calls.len(), 1, "sent once: {requests:?}");
        if calls[0]["aborted"] == true {
            break calls[0].clone();
        }
        // The harness's patience for any event, not a speed asserted.
        assert!(
            asked.elapsed() < agentc_tests::EVENT_TIMEOUT,
            "the timed-out call's request is still open while the turn goes on: {calls:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(call["tool"], "slow");
    stack
        .localai
        .localai()
        .release()
        .expect("release the held stream");
    events.extend(stream.collect_all().await);
    assert_eq!(
        names(&events),
        ["tool_call", "tool_result", "delta", "done"]
    );
    assert_eq!(answer(&events), "The tool did not answer in time.");
    assert_eq!(server.calls().await.len(), 1);
}
