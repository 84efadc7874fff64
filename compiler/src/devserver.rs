//! `agentc dev`'s wiring, as a library: localai in-process as the Workers AI binding, the
//! offline fixtures for HTTP tools, the local cache, the project's secrets, and workerd serving
//! the compiled Worker with all of them. The `agentc dev` command and the end-to-end test harness
//! (`tests/src/lib.rs`) both start a [`DevServer`], so tests run exactly what users run.

use crate::dev::{self, ClientAddress, DevError, RuntimeConfig, Service, WorkerLog};
use crate::toolchain;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which model answers the Worker's AI binding.
#[derive(Debug)]
pub enum Model {
    /// The default model in the per-user cache (`agentc setup` fetches it).
    Default,
    /// A catalogue model by name (`default`, `small`) or the path of a GGUF file.
    Choice(String),
    /// A localai script of model replies (JSON, see localai's README).
    Script(PathBuf),
    /// An engine made by the caller.
    Engine(localai::Engine),
}

impl Model {
    /// The localai engine; loading a model blocks while it loads.
    pub fn engine(self) -> Result<localai::Engine, DevError> {
        let fail = |detail: String| DevError::Start {
            what: "localai".into(),
            detail,
        };
        match self {
            Model::Default => localai::LlamaOptions::default_model()
                .and_then(localai::Engine::llama)
                .map_err(|err| fail(err.to_string())),
            Model::Choice(choice) => localai::LlamaOptions::choose(Some(&choice))
                .and_then(localai::Engine::llama)
                .map_err(|err| fail(err.to_string())),
            Model::Script(path) => localai::Script::load(&path)
                .map(localai::Engine::scripted)
                .map_err(|err| fail(err.to_string())),
            Model::Engine(engine) => Ok(engine),
        }
    }
}

/// Where the Worker's outbound requests (its HTTP tools) go.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// The internet.
    Online,
    /// Answered from `<dir>/<host>.json` ([`crate::fixtures`]).
    Fixtures(PathBuf),
    /// An HTTP service of the caller's.
    Service(SocketAddr),
}

/// What to serve and how.
#[derive(Debug)]
pub struct DevOptions {
    /// The project root: where the npm tools may be (`node_modules/.bin`) besides the cache.
    pub root: PathBuf,
    /// The build output: `index.js` and `index_bg.wasm`.
    pub worker_dir: PathBuf,
    /// Durable Object storage; created if missing.
    pub state_dir: PathBuf,
    /// Where workerd's configuration is written.
    pub config_path: PathBuf,
    pub listen: SocketAddr,
    pub model: Model,
    pub outbound: Outbound,
    /// Worker secrets as text bindings; see [`project_secrets`].
    pub secrets: Vec<(String, String)>,
    /// Where workerd's output goes.
    pub log: WorkerLog,
    /// Where a request's client address comes from (see [`ClientAddress`]).
    pub client_address: ClientAddress,
}

impl DevOptions {
    /// `agentc dev`'s defaults for a project root: the build in `.agentc/worker/build`, state in
    /// `.agentc/state`, config in `.agentc/dev`, the default model, the fixtures of
    /// `agents/fixtures/` when that directory exists, secrets from `.dev.vars`.
    pub fn for_root(root: &Path, listen: SocketAddr) -> Result<DevOptions, DevError> {
        let root = std::fs::canonicalize(root).map_err(|err| DevError::Start {
            what: "agentc dev".into(),
            detail: format!("{}: {err}", root.display()),
        })?;
        let fixtures = root.join("agents/fixtures");
        Ok(DevOptions {
            worker_dir: root.join(".agentc/worker/build"),
            state_dir: root.join(".agentc/state"),
            config_path: root.join(".agentc/dev/workerd.capnp"),
            listen,
            model: Model::Default,
            outbound: if fixtures.is_dir() {
                Outbound::Fixtures(fixtures)
            } else {
                Outbound::Online
            },
            secrets: project_secrets(&root)?,
            log: WorkerLog::Inherit,
            client_address: ClientAddress::Connection,
            root,
        })
    }
}

/// The project's local secrets, as `wrangler dev` reads them: `.dev.vars` in the project root.
pub fn project_secrets(root: &Path) -> Result<Vec<(String, String)>, DevError> {
    let path = root.join(".dev.vars");
    dev::read_dev_vars(&path).map_err(|err| DevError::Start {
        what: "agentc dev".into(),
        detail: format!("{}: {err}", path.display()),
    })
}

/// The running pieces; dropping it stops workerd and localai.
pub struct DevServer {
    /// The model service behind the AI binding.
    pub localai: localai::Server,
    workerd: Option<Service>,
    workerd_bin: PathBuf,
    cfg: RuntimeConfig,
    config_path: PathBuf,
}

fn start_error(what: &str, detail: impl ToString) -> DevError {
    DevError::Start {
        what: what.into(),
        detail: detail.to_string(),
    }
}

impl DevServer {
    /// Starts localai (on the current tokio runtime), the fixtures and the cache, then workerd,
    /// and returns once the Worker accepts connections.
    pub async fn start(opts: DevOptions) -> Result<DevServer, DevError> {
        let workerd_bin =
            toolchain::workerd(&opts.root).map_err(|err| start_error("workerd", err))?;
        let worker_dir = std::fs::canonicalize(&opts.worker_dir).map_err(|err| {
            start_error(
                "workerd",
                format!(
                    "no build output in {} ({err}): run `agentc build`",
                    opts.worker_dir.display()
                ),
            )
        })?;
        let model = opts.model;
        let engine = tokio::task::spawn_blocking(move || model.engine())
            .await
            .map_err(|err| start_error("localai", err))??;
        let localai = localai::spawn(engine)
            .await
            .map_err(|err| start_error("localai", err))?;
        let outbound = match &opts.outbound {
            Outbound::Online => None,
            Outbound::Service(addr) => Some(*addr),
            Outbound::Fixtures(dir) => {
                let addr = crate::fixtures::start(dir)
                    .map_err(|err| start_error("the fixture server", err))?;
                eprintln!(
                    "HTTP tools are offline: answered from {} (--online to reach the internet)",
                    dir.display()
                );
                Some(addr)
            }
        };
        if opts.client_address == ClientAddress::Connection && !opts.listen.ip().is_loopback() {
            eprintln!(
                "agentc dev: on {}, workerd cannot tell clients' addresses apart, so agents with a \
                 `per: ip` rate limit refuse requests (400 client_address_required); on a loopback \
                 address they all count as this machine",
                opts.listen
            );
        }
        let cache = crate::devcache::start().map_err(|err| start_error("the local cache", err))?;
        let cfg = RuntimeConfig {
            worker_dir,
            state_dir: opts.state_dir,
            listen: opts.listen,
            localai: localai.address(),
            outbound,
            secrets: opts.secrets,
            cache: Some(cache),
            log: opts.log,
            client_address: opts.client_address,
        };
        let mut server = DevServer {
            localai,
            workerd: None,
            workerd_bin,
            cfg,
            config_path: opts.config_path,
        };
        server.start_workerd().await?;
        Ok(server)
    }

    async fn start_workerd(&mut self) -> Result<(), DevError> {
        let (bin, cfg, path) = (
            self.workerd_bin.clone(),
            self.cfg.clone(),
            self.config_path.clone(),
        );
        let service = tokio::task::spawn_blocking(move || dev::start_workerd(&bin, &cfg, &path))
            .await
            .map_err(|err| start_error("workerd", err))??;
        self.workerd = Some(service);
        Ok(())
    }

    /// Stops workerd and starts it again on the same storage, as after a crash or redeploy.
    pub async fn restart_workerd(&mut self) -> Result<(), DevError> {
        if let Some(mut workerd) = self.workerd.take() {
            tokio::task::spawn_blocking(move || workerd.stop())
                .await
                .map_err(|err| start_error("workerd", err))?;
        }
        self.start_workerd().await
    }

    /// Where the Worker listens.
    pub fn listen(&self) -> SocketAddr {
        self.cfg.listen
    }

    /// The runtime configuration workerd was started with.
    pub fn config(&self) -> &RuntimeConfig {
        &self.cfg
    }

    /// The process id of workerd, for measurements.
    pub fn workerd_pid(&self) -> Option<u32> {
        self.workerd.as_ref().map(|w| w.child.id())
    }

    /// Whether workerd has exited, and how.
    pub fn workerd_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.workerd.as_mut().and_then(Service::exited)
    }
}
