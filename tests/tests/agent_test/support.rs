//! What the data-driven tests of `agentc test` and the example agents' tests share: the test
//! Worker's agents and the local target over an in-process localai.

use agentc::ir;
use agentc::project;
use agentc::testing::local::{Local, LocalOptions, Models};
use agentc::testing::report::{self, Report, Times};
use agentc::testing::run::{self, Options, Target};
use agentc::testing::TestFile;
use agentc_tests::{repo_root, test_secrets, worker_dir};
use std::net::SocketAddr;

/// The agents of the test Worker: the examples and the test agents.
pub fn agents() -> ir::Project {
    let root = repo_root();
    let mut files = project::agent_files(&root.join("agents")).expect("list agents/");
    files.extend(project::agent_files(&root.join("tests/agents")).expect("list tests/agents/"));
    let sources = project::read_files(&files, &root).expect("read agent files");
    project::check_files(sources)
        .project
        .expect("the agents check")
}

/// localai in this process: a scripted engine whose script each case replaces, and the local
/// model when a case needs it.
struct InProcess {
    scripted: Option<localai::Server>,
    local: Option<localai::Server>,
    runtime: tokio::runtime::Runtime,
}

impl InProcess {
    fn new() -> Self {
        InProcess {
            scripted: None,
            local: None,
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime"),
        }
    }
}

impl Models for InProcess {
    fn scripted(&mut self) -> Result<SocketAddr, String> {
        if self.scripted.is_none() {
            let engine = localai::Engine::scripted(localai::Script::default());
            let server = self
                .runtime
                .block_on(localai::spawn(engine))
                .map_err(|err| err.to_string())?;
            self.scripted = Some(server);
        }
        Ok(self.scripted.as_ref().expect("started").address())
    }

    fn local(&mut self) -> Result<SocketAddr, String> {
        if self.local.is_none() {
            let options = localai::LlamaOptions::default_model().map_err(|err| err.to_string())?;
            let engine = localai::Engine::llama(options)
                .map_err(|err| format!("{err} (run scripts/setup-model)"))?;
            let server = self
                .runtime
                .block_on(localai::spawn(engine))
                .map_err(|err| err.to_string())?;
            self.local = Some(server);
        }
        Ok(self.local.as_ref().expect("started").address())
    }
}

/// The test Worker on local workerd, as `agentc test` runs it.
pub fn local_target(name: &str, agents: ir::Project) -> Local {
    let work_dir =
        std::env::temp_dir().join(format!("agentc-agent-test-{name}-{}", std::process::id()));
    Local::new(
        LocalOptions {
            worker_dir: worker_dir().to_path_buf(),
            workerd: agentc::toolchain::workerd(&repo_root()).expect("workerd (scripts/setup)"),
            work_dir,
            fixtures_dir: Some(repo_root().join("agents/fixtures")),
            secrets: test_secrets(),
            agents,
        },
        Box::new(InProcess::new()),
    )
    .expect("the local target starts")
}

/// Runs one file's cases.
pub fn run_file(file: &TestFile, target: &mut dyn Target) -> Report {
    let env = |_: &str| None;
    let mut next = 0u32;
    let mut session_id = || {
        next += 1;
        format!("{}-{next}", agentc::testing::cli::new_session_id())
    };
    let mut options = Options {
        filter: None,
        env: &env,
        session_id: &mut session_id,
        client_ids: false,
    };
    run::run(
        std::slice::from_ref(file),
        target,
        &mut options,
        &mut |_, case| {
            eprintln!("  {}", report::case_line(case, Times::Show));
        },
    )
}
