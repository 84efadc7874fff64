//! What the data-driven tests of `agentc test` and the example agents' tests share: the test
//! Worker's agents and the local target (`agentc dev`'s `DevServer`, as `agentc test` runs it).

use agentc::devserver::Model;
use agentc::testing::local::{Local, LocalOptions};
use agentc::testing::report::{self, Report, Times};
use agentc::testing::run::{self, Options, Target};
use agentc::testing::TestFile;
use agentc::{ir, pipeline, project};
use agentc_tests::{repo_root, test_secrets, worker_dir};

/// The agents of the test Worker: the examples and the test agents.
pub fn agents() -> ir::Project {
    let root = repo_root();
    let mut files = project::agent_files(&root.join("agents")).expect("list agents/");
    files.extend(project::agent_files(&root.join("tests/agents")).expect("list tests/agents/"));
    let input = pipeline::Input {
        files,
        root: root.clone(),
        display_root: root,
        page_for_every_agent: false,
    };
    pipeline::run(&input, None)
        .expect("read agent files")
        .checked
        .project
        .expect("the agents check")
}

/// The test Worker served as `agentc test` serves it; cases without `replies` get `model`.
pub fn local_target(name: &str, agents: ir::Project, model: Model) -> Local {
    let work_dir =
        std::env::temp_dir().join(format!("agentc-agent-test-{name}-{}", std::process::id()));
    Local::new(LocalOptions {
        root: repo_root(),
        worker_dir: worker_dir().to_path_buf(),
        work_dir,
        fixtures_dir: Some(repo_root().join("agents/fixtures")),
        secrets: test_secrets(),
        agents,
        model,
    })
    .unwrap_or_else(|err| panic!("the local target starts: {err}"))
}

/// Runs one file's cases.
pub fn run_file(file: &TestFile, target: &mut dyn Target) -> Report {
    let env = |_: &str| None;
    let options = Options {
        filter: None,
        env: &env,
    };
    run::run(
        std::slice::from_ref(file),
        target,
        &options,
        &mut |_, case| {
            eprintln!("  {}", report::case_line(case, Times::Show));
        },
    )
}
