//! The local target: the compiled Worker on workerd, wired as `agentc dev` wires it (the
//! workerd config of [`crate::dev`], localai behind the AI binding, the local Cache API,
//! secrets as text bindings), with two differences for tests: HTTP tools are answered by a
//! server that knows each case's `tool_results` (falling back to `agents/fixtures/`), and each
//! kind of model gets its own workerd (the local model, or a scripted localai whose script is
//! replaced before each case that has `replies`). State lives in a fresh directory per run.

use super::client::Client;
use super::outcome::{Outcome, Request};
use super::run::Target;
use super::Case;
use crate::dev::{self, RuntimeConfig, Service};
use crate::ir;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The model services of a local run, started when first needed.
pub trait Models {
    /// A localai with the scripted engine.
    fn scripted(&mut self) -> Result<SocketAddr, String>;
    /// A localai with the local model.
    fn local(&mut self) -> Result<SocketAddr, String>;
}

/// localai as child processes of agentc.
pub struct LocalaiProcesses {
    pub bin: PathBuf,
    /// Arguments choosing the local model (e.g. `--model FILE`); none: localai's default.
    pub model_args: Vec<String>,
    scripted: Option<Service>,
    local: Option<Service>,
}

impl LocalaiProcesses {
    pub fn new(bin: PathBuf, model_args: Vec<String>) -> Self {
        LocalaiProcesses {
            bin,
            model_args,
            scripted: None,
            local: None,
        }
    }
}

impl Models for LocalaiProcesses {
    fn scripted(&mut self) -> Result<SocketAddr, String> {
        if self.scripted.is_none() {
            let service = dev::start_localai(&self.bin, &["--scripted".to_owned()])
                .map_err(|err| err.to_string())?;
            self.scripted = Some(service);
        }
        Ok(self.scripted.as_ref().map(|s| s.addr).expect("started"))
    }

    fn local(&mut self) -> Result<SocketAddr, String> {
        if self.local.is_none() {
            let service =
                dev::start_localai(&self.bin, &self.model_args).map_err(|err| err.to_string())?;
            self.local = Some(service);
        }
        Ok(self.local.as_ref().map(|s| s.addr).expect("started"))
    }
}

/// What a local run serves.
pub struct LocalOptions {
    /// The build output (`index.js`, `index_bg.wasm`).
    pub worker_dir: PathBuf,
    /// The workerd binary.
    pub workerd: PathBuf,
    /// Emptied, then holds each workerd's config, state and log (`workerd-<model>.log`).
    pub work_dir: PathBuf,
    /// `agents/fixtures/`: answers for HTTP tools a case gives no result for.
    pub fixtures_dir: Option<PathBuf>,
    pub secrets: Vec<(String, String)>,
    /// The agents in the Worker, to find which requests are which tool's.
    pub agents: ir::Project,
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
    localai: SocketAddr,
    client: Client,
    _workerd: Service,
}

/// The compiled Worker on local workerd.
pub struct Local {
    opts: LocalOptions,
    models: Box<dyn Models>,
    tools: Arc<Mutex<ToolAnswers>>,
    outbound: SocketAddr,
    cache: SocketAddr,
    workers: Vec<Worker>,
    current: Option<usize>,
}

impl Local {
    /// Readies the run directory and the helper services; workerd starts with the first case.
    pub fn new(opts: LocalOptions, models: Box<dyn Models>) -> Result<Local, String> {
        let _ = std::fs::remove_dir_all(&opts.work_dir);
        std::fs::create_dir_all(&opts.work_dir)
            .map_err(|err| format!("{}: {err}", opts.work_dir.display()))?;
        let tools = Arc::new(Mutex::new(ToolAnswers {
            matchers: Vec::new(),
            fixtures: opts.fixtures_dir.clone(),
        }));
        let outbound = start_outbound(tools.clone())
            .map_err(|err| format!("cannot start the tool server: {err}"))?;
        let cache = crate::devcache::start()
            .map_err(|err| format!("cannot start the local cache: {err}"))?;
        Ok(Local {
            opts,
            models,
            tools,
            outbound,
            cache,
            workers: Vec::new(),
            current: None,
        })
    }

    /// The workerd for a kind of model, started on first use.
    fn worker(&mut self, kind: Kind) -> Result<usize, String> {
        if let Some(i) = self.workers.iter().position(|w| w.kind == kind) {
            return Ok(i);
        }
        let localai = match kind {
            Kind::Scripted => self.models.scripted()?,
            Kind::Model => self.models.local()?,
        };
        let dir = self.opts.work_dir.join(kind.name());
        let cfg = RuntimeConfig {
            worker_dir: std::fs::canonicalize(&self.opts.worker_dir).map_err(|err| {
                format!(
                    "no built Worker at {}: {err}",
                    self.opts.worker_dir.display()
                )
            })?,
            state_dir: dir.join("state"),
            listen: free_addr().map_err(|err| err.to_string())?,
            localai,
            outbound: Some(self.outbound),
            secrets: self.opts.secrets.clone(),
            cache: Some(self.cache),
            log_copy: None,
        };
        let log = self
            .opts
            .work_dir
            .join(format!("workerd-{}.log", kind.name()));
        let workerd = start_workerd(&self.opts.workerd, &cfg, &dir, &log)?;
        self.workers.push(Worker {
            kind,
            localai,
            client: Client::new(&format!("http://{}", cfg.listen)),
            _workerd: workerd,
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
            put_script(&format!("http://{}", self.workers[index].localai), &script)?;
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

/// Replaces the script of a scripted localai.
fn put_script(base: &str, script: &serde_json::Value) -> Result<(), String> {
    let client = Client::new(base);
    let answer = client.send(&Request {
        method: "PUT".into(),
        path: "/_localai/script".into(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Some(script.to_string().into_bytes()),
    })?;
    if answer.status == 200 {
        Ok(())
    } else {
        Err(format!(
            "localai refused the replies ({}): {}",
            answer.status, answer.body
        ))
    }
}

fn free_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// Writes the workerd config of `cfg` into `dir` and starts workerd on it, its output going to
/// `log`; returns once it accepts connections.
fn start_workerd(
    bin: &Path,
    cfg: &RuntimeConfig,
    dir: &Path,
    log: &Path,
) -> Result<Service, String> {
    let fail = |err: &dyn std::fmt::Display| format!("cannot start workerd: {err}");
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| fail(&e))?;
    let dir = std::fs::canonicalize(dir).map_err(|e| fail(&e))?;
    let config = dir.join("workerd.capnp");
    std::fs::write(&config, dev::workerd_config(cfg, &dir)).map_err(|e| fail(&e))?;
    let out = std::fs::File::create(log).map_err(|e| fail(&e))?;
    let err = out.try_clone().map_err(|e| fail(&e))?;
    let child = Command::new(bin)
        .arg("serve")
        .arg(&config)
        .arg("--experimental")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| fail(&format!("{}: {e}", bin.display())))?;
    let mut service = Service {
        name: "workerd",
        child,
        addr: cfg.listen,
    };
    let started = Instant::now();
    while TcpStream::connect_timeout(&service.addr, Duration::from_millis(200)).is_err() {
        if let Some(status) = service.exited() {
            return Err(fail(&format!(
                "it exited ({status}); see {}",
                log.display()
            )));
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err(fail(&format!(
                "nothing listens on {} after 30 s",
                service.addr
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(service)
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
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let target = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let (mut host, mut length) = (String::new(), 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "host" => host = value.trim().to_owned(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
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
