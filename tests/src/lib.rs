//! End-to-end test harness: builds the project's agents into a Worker once, then runs it with
//! `agentc dev`'s own wiring ([`agentc::devserver`]: real workerd, localai in-process as its
//! Workers AI, the local cache) and reads its answers as a client would.

use agentc::build::{self, BuildOptions};
use agentc::dev::{ClientAddress, WorkerLog};
use agentc::devserver::{DevOptions, DevServer, Model, Outbound};
use futures_util::StreamExt;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a test waits for any single event before calling the Worker hung. This is a guard
/// against hanging forever, not a performance assertion.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_path_buf()
}

pub mod fixture;

/// Builds the example agents of `agents/` together with the test agents of `tests/agents/`
/// into one Worker under `<target dir>/e2e/`, once per test process, and returns the directory
/// with the compiled Worker.
pub fn worker_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = repo_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let out = target.join("e2e");
        let agents = out.join("agents");
        let _ = std::fs::remove_dir_all(&agents);
        std::fs::create_dir_all(&agents).expect("create e2e/agents");
        for dir in [root.join("agents"), root.join("tests/agents")] {
            for file in agentc::project::agent_files(&dir).expect("list agent files") {
                let name = file.file_name().expect("file name");
                std::fs::copy(&file, agents.join(name)).expect("copy agent file");
            }
        }
        let opts = BuildOptions {
            agents_dir: agents,
            crate_dir: out.join("worker"),
            wrangler_toml: out.join("wrangler.toml"),
            ..BuildOptions::for_root(&root)
        };
        match build::build(&opts) {
            Ok(_) => opts.output_dir(),
            Err(build::BuildError::Invalid(checked)) => {
                panic!(
                    "the example agents do not check: {:#?}",
                    checked.diagnostics
                )
            }
            Err(err) => panic!("building the example agents failed: {err}"),
        }
    })
}

/// API keys the test agents with `auth` accept: the stack's `POLICY_API_KEYS` secret holds their
/// SHA-256 digests (never the keys).
pub const TEST_API_KEYS: [&str; 2] = ["agc_test_key_alice", "agc_test_key_bob"];

/// The Worker secrets of the test stack, as `.dev.vars` would give them.
pub fn test_secrets() -> Vec<(String, String)> {
    let digests: Vec<String> = TEST_API_KEYS
        .iter()
        .map(|key| agentc::keys::digest_hex(key))
        .collect();
    vec![
        ("POLICY_API_KEYS".to_owned(), digests.join("\n")),
        ("MCP_CALC_TOKEN".to_owned(), MCP_TOKEN.to_owned()),
        ("MCP_WRONG_TOKEN".to_owned(), "not-the-token".to_owned()),
    ]
}

/// The bearer token the MCP tests' server accepts (`tests/mcp/server.mjs`); the stack's
/// `MCP_CALC_TOKEN` secret holds it.
pub const MCP_TOKEN: &str = "mcp-test-token-7f3a";

/// A free port on the loopback interface.
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address")
}

/// The compiled Worker on workerd, with localai behind its AI binding: an `agentc dev` server
/// (its fields, such as `localai`, are reachable through the stack).
pub struct Stack {
    dev: DevServer,
    /// Receives the Worker's outbound requests.
    pub fixture: fixture::Fixture,
    /// Holds the Durable Object storage; removed when the stack is dropped.
    state: tempfile::TempDir,
    pub base: String,
    pub client: reqwest::Client,
}

impl std::ops::Deref for Stack {
    type Target = DevServer;
    fn deref(&self) -> &DevServer {
        &self.dev
    }
}

impl Stack {
    /// Starts localai with a script (JSON, see localai's README) and the Worker on a fresh state
    /// directory.
    pub async fn start(script: Value) -> Stack {
        let script: localai::Script =
            serde_json::from_value(script).expect("test scripts are valid");
        Stack::start_with(localai::Engine::scripted(script)).await
    }

    /// Starts the stack with the given localai engine (e.g. the real model). The tests stand in
    /// for Cloudflare's edge: a request's `CF-Connecting-IP` is the client address the Worker
    /// counts ([`ClientAddress::Header`]).
    pub async fn start_with(engine: localai::Engine) -> Stack {
        Stack::start_configured(engine, ClientAddress::Header).await
    }

    /// Starts the stack as `agentc dev` serves: the client address is the connection's, whatever
    /// header a client sends ([`ClientAddress::Connection`]).
    pub async fn start_as_dev(script: Value) -> Stack {
        let script: localai::Script =
            serde_json::from_value(script).expect("test scripts are valid");
        Stack::start_configured(localai::Engine::scripted(script), ClientAddress::Connection).await
    }

    async fn start_configured(engine: localai::Engine, client_address: ClientAddress) -> Stack {
        let worker_dir = worker_dir().to_path_buf();
        let fixture = fixture::Fixture::start().await;
        let state = tempfile::tempdir().expect("temp dir");
        let opts = DevOptions {
            root: repo_root(),
            worker_dir,
            state_dir: state.path().join("do"),
            config_path: state.path().join("workerd.capnp"),
            listen: free_addr(),
            model: Model::Engine(engine),
            outbound: Outbound::Service(fixture.addr),
            secrets: test_secrets(),
            log: WorkerLog::Copy(state.path().join("workerd.log")),
            client_address,
        };
        let dev = DevServer::start(opts)
            .await
            .unwrap_or_else(|err| panic!("the dev server starts: {err}"));
        Stack {
            base: format!("http://{}", dev.listen()),
            dev,
            fixture,
            state,
            client: reqwest::Client::new(),
        }
    }

    /// Where the Durable Object storage and the Worker's log are.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// The lines the Worker has logged so far (`console.log`), oldest first.
    pub fn worker_log(&self) -> Vec<String> {
        let path = self.dev.config().log.path().expect("the stack keeps a log");
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The Worker's per-turn log lines, as JSON, once there are at least `count` of them
    /// (waiting at most [`EVENT_TIMEOUT`] for them to be written).
    pub async fn turn_logs(&self, count: usize) -> Vec<Value> {
        let started = std::time::Instant::now();
        loop {
            let turns: Vec<Value> = self
                .worker_log()
                .iter()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|value| value["event"] == "agentc.turn")
                .collect();
            if turns.len() >= count || started.elapsed() > EVENT_TIMEOUT {
                return turns;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops workerd and starts it again on the same storage, as after a crash or redeploy.
    pub async fn restart(&mut self) {
        self.dev
            .restart_workerd()
            .await
            .unwrap_or_else(|err| panic!("workerd restarts: {err}"));
    }

    /// Sends a chat message and returns the response.
    pub async fn chat(&self, agent: &str, message: &str, session_id: &str) -> reqwest::Response {
        let body = serde_json::json!({ "message": message, "session_id": session_id });
        self.client
            .post(format!("{}/agents/{agent}/chat", self.base))
            .json(&body)
            .send()
            .await
            .expect("the Worker answers")
    }

    /// Sends a chat message and reads the whole event stream.
    pub async fn chat_events(&self, agent: &str, message: &str, session_id: &str) -> Vec<Event> {
        let response = self.chat(agent, message, session_id).await;
        assert_eq!(response.status(), 200, "chat status");
        EventStream::new(response).collect_all().await
    }

    /// A session's stored messages as `(role, content)` pairs.
    pub async fn history(&self, agent: &str, session_id: &str) -> Vec<(String, String)> {
        let response = self
            .client
            .get(format!(
                "{}/agents/{agent}/sessions/{session_id}",
                self.base
            ))
            .send()
            .await
            .expect("the Worker answers");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("history is JSON");
        messages(&body["messages"])
    }

    /// The model requests localai received, in order.
    pub fn model_requests(&self) -> Vec<localai::RecordedRequest> {
        self.dev.localai.localai().recorded_requests()
    }
}

/// `(role, content)` pairs of a JSON array of messages.
pub fn messages(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .expect("messages is an array")
        .iter()
        .map(|m| {
            (
                m["role"].as_str().expect("role").to_owned(),
                m["content"].as_str().expect("content").to_owned(),
            )
        })
        .collect()
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
}

/// Reads server-sent events from a response as they arrive, checking each frame's shape.
pub struct EventStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    pending: Vec<u8>,
}

impl EventStream {
    /// Checks that the response is an event stream and starts reading it.
    pub fn new(response: reqwest::Response) -> Self {
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            content_type, "text/event-stream",
            "content type of a chat stream"
        );
        EventStream {
            body: response.bytes_stream().boxed(),
            pending: Vec::new(),
        }
    }

    /// The next event, or `None` at the end of the stream. Panics if nothing arrives within
    /// [`EVENT_TIMEOUT`] or a frame is not `event: NAME` followed by one JSON `data:` line.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.pending.drain(..end + 2).collect();
                return Some(parse_frame(&frame[..end]));
            }
            match tokio::time::timeout(EVENT_TIMEOUT, self.body.next()).await {
                Err(_) => {
                    panic!("no event within {EVENT_TIMEOUT:?}: the Worker is buffering or hung")
                }
                Ok(Some(chunk)) => self
                    .pending
                    .extend_from_slice(&chunk.expect("the body streams")),
                Ok(None) => {
                    assert!(
                        self.pending.is_empty(),
                        "stream ended mid-frame: {:?}",
                        String::from_utf8_lossy(&self.pending)
                    );
                    return None;
                }
            }
        }
    }

    /// Every remaining event, until the stream ends.
    pub async fn collect_all(mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        events
    }
}

fn parse_frame(frame: &[u8]) -> Event {
    let text = std::str::from_utf8(frame).expect("events are UTF-8");
    let mut lines = text.lines();
    let name = lines
        .next()
        .and_then(|l| l.strip_prefix("event: "))
        .unwrap_or_else(|| panic!("frame does not start with `event: `: {text:?}"));
    let data = lines
        .next()
        .and_then(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("frame has no `data: ` line: {text:?}"));
    assert!(lines.next().is_none(), "frame has extra lines: {text:?}");
    let data = serde_json::from_str(data)
        .unwrap_or_else(|err| panic!("data is not JSON ({err}): {text:?}"));
    Event {
        name: name.to_owned(),
        data,
    }
}

/// The concatenated text of the `delta` events.
pub fn answer(events: &[Event]) -> String {
    events
        .iter()
        .filter(|e| e.name == "delta")
        .map(|e| e.data["text"].as_str().expect("delta text"))
        .collect()
}

/// The event names, in order.
pub fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}
