//! The local runtime's pieces: workerd's configuration for the compiled Worker, the processes
//! `agentc dev` runs, and `.dev.vars`. [`crate::devserver`] wires them together.
//!
//! The AI binding is workerd's own `cloudflare-internal:ai-api` module, wrapped with its
//! `fetcher` pointed at localai: the Worker runs the same client code as in production. Durable
//! Object storage lives on disk in a state directory, so sessions survive restarts.

use crate::codegen::{COMPATIBILITY_DATE, SESSION_CLASS};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the local runtime serves and where it keeps state.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The build output: `index.js` and `index_bg.wasm`.
    pub worker_dir: PathBuf,
    /// Durable Object storage; created if missing.
    pub state_dir: PathBuf,
    /// Where the Worker listens.
    pub listen: SocketAddr,
    /// Where localai listens.
    pub localai: SocketAddr,
    /// An HTTP service that receives every outbound `fetch` of the Worker (tool calls), in
    /// place of the internet: for offline development and tests. `None`: the internet.
    pub outbound: Option<SocketAddr>,
    /// Worker secrets, as text bindings (what `wrangler secret put` sets in production; locally
    /// read from `.dev.vars`, see [`read_dev_vars`]).
    pub secrets: Vec<(String, String)>,
    /// The service behind the Cache API (see [`crate::devcache`]). `None`: the Cache API throws.
    pub cache: Option<SocketAddr>,
    /// Where workerd's output (the Worker's `console.log` lines, among them one JSON line per
    /// turn) goes.
    pub log: WorkerLog,
    /// Where the Worker reads a client's address (`CF-Connecting-IP`, which `per: ip` rate
    /// limits count) from.
    pub client_address: ClientAddress,
}

/// The header a Worker reads its client's address from; Cloudflare's edge sets it.
pub const CLIENT_IP_HEADER: &str = "cf-connecting-ip";

/// How requests get their client address (`CF-Connecting-IP`). On Cloudflare the edge sets it
/// to the connection's address, replacing whatever the client sent; workerd alone sets nothing,
/// and passes a client's own header through, with which any client could pick its own rate-limit
/// bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClientAddress {
    /// As the edge does: the header is replaced by the connection's address. workerd cannot
    /// tell a connection's address to a Worker, but every client of a loopback socket is on
    /// this machine, so on a loopback address (the default) the header is that address; on any
    /// other address the header is removed (the Worker then refuses requests a `per: ip` limit
    /// cannot count).
    #[default]
    Connection,
    /// The header as the request brings it: for a proxy in front that sets it, as the edge
    /// does (the end-to-end tests stand in for the edge this way).
    Header,
}

impl ClientAddress {
    /// The socket's `injectRequestHeaders` for a socket listening on `listen`, if any.
    fn inject(self, listen: SocketAddr) -> Option<String> {
        match self {
            ClientAddress::Header => None,
            ClientAddress::Connection if listen.ip().is_loopback() => Some(format!(
                "(name = \"{CLIENT_IP_HEADER}\", value = \"{}\")",
                listen.ip()
            )),
            // No value: the header is removed.
            ClientAddress::Connection => Some(format!("(name = \"{CLIENT_IP_HEADER}\")")),
        }
    }
}

/// Where workerd's output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WorkerLog {
    /// To ours (`agentc dev`).
    #[default]
    Inherit,
    /// To ours, and its standard output also appended to this file (tests read it).
    Copy(PathBuf),
    /// Only into this file, standard output and error (`agentc test`, whose standard output is
    /// the report).
    File(PathBuf),
}

impl WorkerLog {
    /// The file the Worker's log lines are written to, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            WorkerLog::Inherit => None,
            WorkerLog::Copy(path) | WorkerLog::File(path) => Some(path),
        }
    }
}

/// Reads a `.dev.vars` file (wrangler's convention for local secrets): `NAME=value` lines,
/// `#` comments and blank lines ignored, values optionally in double or single quotes (double
/// quotes understand `\n`). A missing file is no secrets.
pub fn read_dev_vars(path: &Path) -> std::io::Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut vars = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            inner.replace("\\n", "\n")
        } else if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            inner.to_owned()
        } else {
            value.to_owned()
        };
        vars.push((name.trim().to_owned(), value));
    }
    Ok(vars)
}

/// A Cap'n Proto text literal.
fn capnp_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A workerd configuration (Cap'n Proto text) for the compiled Worker, to be written into
/// `config_dir`. Paths in `cfg` must be absolute; they are written relative to `config_dir`, so
/// the file names no absolute path: workerd resolves `embed` paths relative to the config file,
/// and the disk path relative to its working directory, which [`start_workerd`] makes
/// `config_dir`.
pub fn workerd_config(cfg: &RuntimeConfig, config_dir: &Path) -> String {
    let dir = crate::build::relative_path(config_dir, &cfg.worker_dir);
    let state = crate::build::relative_path(config_dir, &cfg.state_dir);
    let (outbound_service, global_outbound) = match cfg.outbound {
        Some(addr) => (
            format!("    (name = \"outbound\", external = (address = \"{addr}\", http = ())),\n"),
            "  globalOutbound = \"outbound\",\n",
        ),
        None => (String::new(), ""),
    };
    let (cache_service, cache_outbound) = match cfg.cache {
        Some(addr) => (
            format!("    (name = \"cache\", external = (address = \"{addr}\", http = ())),\n"),
            "  cacheApiOutbound = \"cache\",\n",
        ),
        None => (String::new(), ""),
    };
    let http = match cfg.client_address.inject(cfg.listen) {
        Some(header) => format!("(injectRequestHeaders = [{header}])"),
        None => "()".to_owned(),
    };
    let secrets: String = cfg
        .secrets
        .iter()
        .map(|(name, value)| {
            format!(
                "    (name = {}, text = {}),\n",
                capnp_string(name),
                capnp_string(value)
            )
        })
        .collect();
    format!(
        r#"# Written by `agentc dev`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "agents", worker = .agents),
    (name = "localai", external = (address = "{localai}", http = ())),
    (name = "state", disk = (path = "{state}", writable = true)),
{outbound_service}{cache_service}  ],
  sockets = [
    (name = "http", address = "{listen}", http = {http}, service = "agents"),
  ],
);

const agents :Workerd.Worker = (
  modules = [
    (name = "index.js", esModule = embed "{dir}/index.js"),
    (name = "index_bg.wasm", wasm = embed "{dir}/index_bg.wasm"),
  ],
  compatibilityDate = "{date}",
  bindings = [
    (name = "AI", wrapped = (
      moduleName = "cloudflare-internal:ai-api",
      innerBindings = [(name = "fetcher", service = "localai")],
    )),
    (name = "SESSIONS", durableObjectNamespace = "{class}"),
{secrets}  ],
  durableObjectNamespaces = [
    (className = "{class}", uniqueKey = "agentc-{class}", enableSql = true),
  ],
  durableObjectStorage = (localDisk = "state"),
{global_outbound}{cache_outbound});
"#,
        localai = cfg.localai,
        state = state,
        listen = cfg.listen,
        date = COMPATIBILITY_DATE,
        class = SESSION_CLASS,
    )
}

/// A child process that is killed when dropped.
#[derive(Debug)]
pub struct Service {
    pub name: &'static str,
    pub child: Child,
    pub addr: SocketAddr,
}

impl Service {
    /// Stops the process and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("cannot start {what}: {detail}")]
    Start { what: String, detail: String },
}

fn start_error(what: &str, detail: impl ToString) -> DevError {
    DevError::Start {
        what: what.to_owned(),
        detail: detail.to_string(),
    }
}

/// Writes the workerd config next to the state directory and starts workerd on it, returning
/// once it accepts connections.
pub fn start_workerd(
    bin: &Path,
    cfg: &RuntimeConfig,
    config_path: &Path,
) -> Result<Service, DevError> {
    std::fs::create_dir_all(&cfg.state_dir).map_err(|err| start_error("workerd", err))?;
    let config_dir = config_path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(config_dir).map_err(|err| start_error("workerd", err))?;
    let config_dir =
        std::fs::canonicalize(config_dir).map_err(|err| start_error("workerd", err))?;
    let config_path = config_dir.join(config_path.file_name().unwrap_or("workerd.capnp".as_ref()));
    let mut absolute = cfg.clone();
    absolute.state_dir =
        std::fs::canonicalize(&cfg.state_dir).map_err(|err| start_error("workerd", err))?;
    std::fs::write(&config_path, workerd_config(&absolute, &config_dir))
        .map_err(|err| start_error("workerd", err))?;
    let (stdout, stderr) = match &cfg.log {
        WorkerLog::Inherit => (Stdio::inherit(), Stdio::inherit()),
        WorkerLog::Copy(_) => (Stdio::piped(), Stdio::inherit()),
        WorkerLog::File(path) => {
            let file = std::fs::File::create(path)
                .map_err(|err| start_error("workerd", format!("{}: {err}", path.display())))?;
            let copy = file
                .try_clone()
                .map_err(|err| start_error("workerd", err))?;
            (Stdio::from(file), Stdio::from(copy))
        }
    };
    let mut child = Command::new(bin)
        .arg("serve")
        .arg(&config_path)
        .arg("--experimental")
        .current_dir(&config_dir)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|err| start_error("workerd", format!("{}: {err}", bin.display())))?;
    if let (WorkerLog::Copy(path), Some(stdout)) = (&cfg.log, child.stdout.take()) {
        let mut copy = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|err| start_error("workerd", format!("{}: {err}", path.display())))?;
        std::thread::spawn(move || {
            use std::io::Write;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("{line}");
                let _ = writeln!(copy, "{line}");
            }
        });
    }
    let mut service = Service {
        name: "workerd",
        child,
        addr: cfg.listen,
    };
    wait_listening(&mut service, Duration::from_secs(30)).map_err(|err| match (&cfg.log, err) {
        // Its own words are in the file.
        (WorkerLog::File(path), DevError::Start { what, detail }) => DevError::Start {
            what,
            detail: format!("{detail}; see {}", path.display()),
        },
        (_, err) => err,
    })?;
    Ok(service)
}

/// Waits until a service accepts TCP connections, failing early if it exits.
fn wait_listening(service: &mut Service, limit: Duration) -> Result<(), DevError> {
    let started = Instant::now();
    loop {
        if TcpStream::connect_timeout(&service.addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = service.exited() {
            return Err(start_error(service.name, format!("it exited ({status})")));
        }
        if started.elapsed() > limit {
            return Err(start_error(
                service.name,
                format!("nothing listens on {} after {limit:?}", service.addr),
            ));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(secrets: Vec<(String, String)>, cache: Option<SocketAddr>) -> String {
        let cfg = RuntimeConfig {
            worker_dir: PathBuf::from("/p/build"),
            state_dir: PathBuf::from("/p/state"),
            listen: "127.0.0.1:8787".parse().unwrap(),
            localai: "127.0.0.1:8788".parse().unwrap(),
            outbound: None,
            secrets,
            cache,
            log: WorkerLog::Inherit,
            client_address: ClientAddress::Header,
        };
        workerd_config(&cfg, Path::new("/p/dev"))
    }

    #[test]
    fn the_client_address_header_is_the_connections() {
        let socket = |listen: &str, client_address| {
            let cfg = RuntimeConfig {
                worker_dir: PathBuf::from("/p/build"),
                state_dir: PathBuf::from("/p/state"),
                listen: listen.parse().unwrap(),
                localai: "127.0.0.1:8788".parse().unwrap(),
                outbound: None,
                secrets: Vec::new(),
                cache: None,
                log: WorkerLog::Inherit,
                client_address,
            };
            let text = workerd_config(&cfg, Path::new("/p/dev"));
            let line = text
                .lines()
                .find(|l| l.contains("name = \"http\""))
                .unwrap();
            line.trim().to_owned()
        };
        assert_eq!(
            socket("127.0.0.1:8787", ClientAddress::Connection),
            r#"(name = "http", address = "127.0.0.1:8787", http = (injectRequestHeaders = [(name = "cf-connecting-ip", value = "127.0.0.1")]), service = "agents"),"#
        );
        assert!(socket("[::1]:8787", ClientAddress::Connection)
            .contains(r#"(name = "cf-connecting-ip", value = "::1")"#));
        // Another interface's clients cannot be told apart: the header is removed.
        assert!(socket("0.0.0.0:8787", ClientAddress::Connection)
            .contains(r#"[(name = "cf-connecting-ip")]"#));
        assert!(socket("127.0.0.1:8787", ClientAddress::Header).contains("http = (),"));
    }

    #[test]
    fn secrets_are_text_bindings_and_the_cache_a_service() {
        let text = config(
            vec![("KEYS".into(), "a\"b\\c\nd".into())],
            Some("127.0.0.1:9000".parse().unwrap()),
        );
        assert!(
            text.contains(r#"(name = "KEYS", text = "a\"b\\c\nd"),"#),
            "{text}"
        );
        assert!(text.contains(r#"(name = "cache", external = (address = "127.0.0.1:9000""#));
        assert!(text.contains(r#"cacheApiOutbound = "cache","#));
        let bare = config(Vec::new(), None);
        assert!(!bare.contains("cacheApiOutbound") && !bare.contains("text ="));
    }

    #[test]
    fn dev_vars_are_read_like_wrangler() {
        let dir = std::env::temp_dir().join(format!("agentc-devvars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(".dev.vars");
        std::fs::write(
            &path,
            "# keys\nAGENT_API_KEYS=abc,def\n\nQUOTED=\"x y\\nz\"\nSINGLE='a=b'\nnot a var\n",
        )
        .unwrap();
        let vars = read_dev_vars(&path).unwrap();
        assert_eq!(
            vars,
            [
                ("AGENT_API_KEYS".to_owned(), "abc,def".to_owned()),
                ("QUOTED".to_owned(), "x y\nz".to_owned()),
                ("SINGLE".to_owned(), "a=b".to_owned()),
            ]
        );
        assert!(read_dev_vars(&dir.join("missing")).unwrap().is_empty());
    }
}
