//! The local target: the compiled Worker served by [`DevServer`], exactly as `agentc dev`
//! serves it (localai in-process behind the AI binding, the local Cache API, secrets as text
//! bindings), with two differences for tests: HTTP tools are answered by a server that knows
//! each case's `tool_results` (falling back to `agents/fixtures/`), and each kind of model gets
//! its own server (the local model, or a scripted engine whose script is replaced before each
//! case that has `replies`). State lives in a fresh directory per run; workerd's output goes to
//! a log file there, so that standard output is the report's.

use super::client::Client;
use super::outcome::{Outcome, Request};
use super::run::Target;
use super::Case;
use crate::dev::{ClientAddress, WorkerLog};
use crate::devserver::{DevOptions, DevServer, Model, Outbound};
use crate::ir;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What a local run serves.
pub struct LocalOptions {
    /// The project root: where the toolchain may be found besides the cache.
    pub root: PathBuf,
    /// The build output (`index.js`, `index_bg.wasm`).
    pub worker_dir: PathBuf,
    /// Emptied, then holds each server's config, state and log (`<kind>/workerd.log`).
    pub work_dir: PathBuf,
    /// `agents/fixtures/`: answers for HTTP tools a case gives no result for.
    pub fixtures_dir: Option<PathBuf>,
    pub secrets: Vec<(String, String)>,
    /// The agents in the Worker, to find which requests are which tool's.
    pub agents: ir::Project,
    /// The model of cases without `replies` (loaded at the first such case).
    pub model: Model,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scripted,
    Model,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Scripted => "scripted",
            Kind::Model => "model",
        }
    }
}

struct Worker {
    kind: Kind,
    server: DevServer,
    client: Client,
}

/// The compiled Worker on local workerd.
pub struct Local {
    // Declared before the runtime, so the servers stop before it does.
    workers: Vec<Worker>,
    runtime: tokio::runtime::Runtime,
    opts: LocalOptions,
    /// The local model until its server starts (or why it could not).
    model: Result<Option<Model>, String>,
    tools: Arc<Mutex<ToolAnswers>>,
    outbound: SocketAddr,
    current: Option<usize>,
}

impl Local {
    /// Readies the run directory and the tool server; the servers start with the first case
    /// that needs them.
    pub fn new(mut opts: LocalOptions) -> Result<Local, String> {
        let _ = std::fs::remove_dir_all(&opts.work_dir);
        std::fs::create_dir_all(&opts.work_dir)
            .map_err(|err| format!("{}: {err}", opts.work_dir.display()))?;
        let tools = Arc::new(Mutex::new(ToolAnswers {
            matchers: Vec::new(),
            fixtures: opts.fixtures_dir.clone(),
        }));
        let outbound = start_outbound(tools.clone())
            .map_err(|err| format!("cannot start the tool server: {err}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|err| format!("cannot start a runtime: {err}"))?;
        let model = std::mem::replace(&mut opts.model, Model::Default);
        Ok(Local {
            workers: Vec::new(),
            runtime,
            opts,
            model: Ok(Some(model)),
            tools,
            outbound,
            current: None,
        })
    }

    /// The server for a kind of model, started on first use.
    fn worker(&mut self, kind: Kind) -> Result<usize, String> {
        if let Some(i) = self.workers.iter().position(|w| w.kind == kind) {
            return Ok(i);
        }
        let model = match kind {
            Kind::Scripted => Model::Engine(localai::Engine::scripted(localai::Script::default())),
            Kind::Model => match &mut self.model {
                Ok(model) => model.take().ok_or("the local model has no server")?,
                Err(err) => return Err(err.clone()),
            },
        };
        let dir = self.opts.work_dir.join(kind.name());
        let opts = DevOptions {
            root: self.opts.root.clone(),
            worker_dir: self.opts.worker_dir.clone(),
            state_dir: dir.join("state"),
            config_path: dir.join("workerd.capnp"),
            listen: free_addr().map_err(|err| err.to_string())?,
            model,
            outbound: Outbound::Service(self.outbound),
            secrets: self.opts.secrets.clone(),
            log: WorkerLog::File(dir.join("workerd.log")),
            client_address: ClientAddress::Connection,
        };
        if let Err(err) = std::fs::create_dir_all(&dir) {
            return Err(format!("{}: {err}", dir.display()));
        }
        let server = self
            .runtime
            .block_on(DevServer::start(opts))
            .map_err(|err| err.to_string());
        let server = match (server, kind) {
            (Ok(server), _) => server,
            (Err(err), Kind::Model) => {
                // Loading the model again would fail again: every later case says why.
                self.model = Err(err.clone());
                return Err(err);
            }
            (Err(err), Kind::Scripted) => return Err(err),
        };
        self.workers.push(Worker {
            kind,
            client: Client::new(&format!("http://{}", server.listen())),
            server,
        });
        Ok(self.workers.len() - 1)
    }
}

impl Target for Local {
    fn skip_reason(&self, _case: &Case) -> Option<String> {
        None
    }

    fn prepare(&mut self, agent: &str, case: &Case, run: u32) -> Result<(), String> {
        let kind = if case.replies.is_some() {
            Kind::Scripted
        } else {
            Kind::Model
        };
        let index = self.worker(kind)?;
        if let (Some(replies), 1) = (&case.replies, run) {
            let script = serde_json::json!({ "replies": replies, "when_exhausted": "error" });
            let script: localai::Script = serde_json::from_value(script)
                .map_err(|err| format!("localai refused the replies: {err}"))?;
            self.workers[index]
                .server
                .localai
                .localai()
                .set_script(script)
                .map_err(|err| format!("localai refused the replies: {err}"))?;
        }
        let agent = self.opts.agents.agents.iter().find(|a| a.name == agent);
        let mut matchers = Vec::new();
        for (tool, result) in &case.tool_results {
            let http = agent
                .and_then(|a| a.tools.iter().find(|t| t.name == *tool))
                .and_then(|t| match &t.kind {
                    ir::ToolKind::Http(http) => Some(http),
                    _ => None,
                })
                .ok_or_else(|| format!("`{tool}` is not an HTTP tool of the agent"))?;
            matchers.push((Matcher::of(http), result.to_string()));
        }
        self.tools
            .lock()
            .map_err(|_| "the tool server failed")?
            .matchers = matchers;
        self.current = Some(index);
        Ok(())
    }

    fn send(&mut self, request: &Request) -> Result<Outcome, String> {
        let index = self.current.ok_or("no case is prepared")?;
        self.workers[index].client.send(request)
    }
}

fn free_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Which outbound requests are one tool's: its URL's host (or its allowed hosts when the host
/// is templated) and the literal start of its path.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    hosts: Vec<String>,
    prefix: String,
}

impl Matcher {
    pub fn of(tool: &ir::HttpTool) -> Matcher {
        let literal = tool.url.split("{{").next().unwrap_or("");
        let rest = literal.split_once("://").map_or(literal, |(_, r)| r);
        match rest.find('/') {
            Some(slash) if slash > 0 => Matcher {
                hosts: vec![host_name(&rest[..slash])],
                prefix: rest[slash..].to_owned(),
            },
            _ => Matcher {
                hosts: tool.allow_hosts.iter().map(|h| host_name(h)).collect(),
                prefix: String::new(),
            },
        }
    }

    fn accepts(&self, host: &str, target: &str) -> bool {
        self.hosts.iter().any(|h| h == host) && target.starts_with(&self.prefix)
    }
}

fn host_name(host: &str) -> String {
    host.split(':').next().unwrap_or(host).to_ascii_lowercase()
}

/// The tool server's answers for the current case.
struct ToolAnswers {
    /// The case's tool results, each with its tool's matcher.
    matchers: Vec<(Matcher, String)>,
    fixtures: Option<PathBuf>,
}

impl ToolAnswers {
    /// The status and JSON body for a request to `host` for `target` (path and query).
    fn answer(&self, host: &str, target: &str) -> (&'static str, String) {
        let host = host_name(host);
        let best = self
            .matchers
            .iter()
            .filter(|(m, _)| m.accepts(&host, target))
            .max_by_key(|(m, _)| m.prefix.len());
        if let Some((_, body)) = best {
            return ("200 OK", body.clone());
        }
        let safe = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        let fixture = self
            .fixtures
            .as_ref()
            .map(|dir| dir.join(format!("{host}.json")));
        match fixture.filter(|_| safe).and_then(|f| std::fs::read_to_string(f).ok()) {
            Some(text) => ("200 OK", text),
            None => (
                "502 Bad Gateway",
                serde_json::json!({
                    "error": format!("agentc test: no `tool_results` entry or fixture answers {host}{target}")
                })
                .to_string(),
            ),
        }
    }
}

fn start_outbound(answers: Arc<Mutex<ToolAnswers>>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let answers = answers.clone();
            std::thread::spawn(move || {
                let _ = serve_outbound(stream, &answers);
            });
        }
    });
    Ok(addr)
}

/// Answers one request, then closes the connection.
fn serve_outbound(stream: TcpStream, answers: &Mutex<ToolAnswers>) -> std::io::Result<()> {
    let crate::fixtures::Request {
        request_line,
        mut host,
    } = crate::fixtures::read_request(&stream)?;
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    // An absolute-form target (`http://host/path`) names its host itself.
    let target = match target.split_once("://") {
        Some((_, rest)) => {
            let slash = rest.find('/').unwrap_or(rest.len());
            host = rest[..slash].to_owned();
            rest[slash..].to_owned()
        }
        None => target,
    };
    let (status, answer) = match answers.lock() {
        Ok(answers) => answers.answer(&host, &target),
        Err(_) => ("500 Internal Server Error", "{}".to_owned()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
        answer.len()
    )?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str, allow: &[&str]) -> ir::HttpTool {
        ir::HttpTool {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: 1000,
            allow_hosts: allow.iter().map(|h| h.to_string()).collect(),
            max_response_bytes: 1000,
        }
    }

    #[test]
    fn tool_requests_are_told_apart_by_host_and_path() {
        let weather = Matcher::of(&http(
            "https://api.weather.test/v1/current?city={{ args.location }}",
            &["api.weather.test"],
        ));
        let slow = Matcher::of(&http(
            "https://api.weather.test/v1/slow?q={{ args.q }}",
            &["api.weather.test"],
        ));
        let status = Matcher::of(&http(
            "http://{{ args.host }}/status",
            &["status.weather.test"],
        ));
        let answers = ToolAnswers {
            matchers: vec![
                (weather, "1".into()),
                (slow, "2".into()),
                (status, "3".into()),
            ],
            fixtures: None,
        };
        assert_eq!(
            answers
                .answer("api.weather.test", "/v1/current?city=Paris")
                .1,
            "1"
        );
        assert_eq!(
            answers.answer("API.weather.test:443", "/v1/slow?q=x").1,
            "2"
        );
        assert_eq!(answers.answer("status.weather.test", "/status").1, "3");
        let (status, body) = answers.answer("wttr.in", "/Paris?format=j1");
        assert_eq!(status, "502 Bad Gateway");
        assert!(
            body.contains("no `tool_results` entry or fixture answers wttr.in/Paris"),
            "{body}"
        );
    }
}
