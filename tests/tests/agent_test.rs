//! `agentc test` tested on itself, data-driven: the test files of `compiler/tests/agent_test/`
//! with their golden reports. `bad/` holds broken test files (`*.stderr`: the diagnostics);
//! `run/` cases on scripted models covering every assertion passing and failing, `repeat` with
//! `pass_rate`, and the HTTP contract (401, 413, 429, CORS), run on the compiled Worker on real
//! workerd (`*.report`); `url/` is run with `--url` against a second workerd standing in for a
//! deployment. Times are left out of the goldens. `AGENTC_BLESS=1` rewrites the goldens.

#[path = "agent_test/support.rs"]
mod support;

use agentc::devserver::Model;
use agentc::ir;
use agentc::project::{self, Checked};
use agentc::testing::client::{Client, Remote};
use agentc::testing::report::{self, Times};
use agentc::testing::run::Target;
use agentc::testing::{load, TestFile};
use agentc_tests::{repo_root, Stack};
use std::path::{Path, PathBuf};
use support::{agents, local_target, run_file};

fn cases_dir(name: &str) -> PathBuf {
    repo_root().join("compiler/tests/agent_test").join(name)
}

fn load(files: &[PathBuf], agents: &ir::Project) -> (Vec<TestFile>, Checked) {
    let sources = project::read_files(files, &repo_root()).expect("read test files");
    load::check_files(sources, agents)
}

/// Compares `actual` with the golden file, or rewrites it under `AGENTC_BLESS`; returns a
/// description of the difference.
fn golden(path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("AGENTC_BLESS").is_some() {
        std::fs::write(path, actual).expect("write golden");
        return None;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected == actual {
        return None;
    }
    let mut diff = format!("--- {} (golden)\n+++ actual\n", path.display());
    let (old, new): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    for i in 0..old.len().max(new.len()) {
        match (old.get(i), new.get(i)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => {
                if let Some(a) = a {
                    diff.push_str(&format!("-{:>4} {a}\n", i + 1));
                }
                if let Some(b) = b {
                    diff.push_str(&format!("+{:>4} {b}\n", i + 1));
                }
            }
        }
    }
    Some(diff)
}

fn assert_goldens(differences: Vec<String>) {
    assert!(
        differences.is_empty(),
        "reports differ from the goldens (AGENTC_BLESS=1 rewrites them):\n{}",
        differences.join("\n")
    );
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let files = load::test_files(dir).expect("list test files");
    assert!(!files.is_empty(), "no test files in {}", dir.display());
    files
}

#[test]
fn bad_test_files_are_reported_at_their_lines() {
    let agents = agents();
    let mut differences = Vec::new();
    for file in files_in(&cases_dir("bad")) {
        let (tests, checked) = load(std::slice::from_ref(&file), &agents);
        assert!(
            tests.is_empty() && checked.has_errors(),
            "{} checks",
            file.display()
        );
        let golden_path = file.with_extension("").with_extension("stderr");
        differences.extend(golden(&golden_path, &checked.render()));
    }
    assert_goldens(differences);
}

/// Runs each file's cases and compares the human report with `<file>.report` (and, for
/// `guarded`, the JUnit XML with `guarded.junit.xml`).
fn run_goldens(dir: &str, target: &mut dyn Target, agents: &ir::Project) -> Vec<String> {
    let files = files_in(&cases_dir(dir));
    let (tests, checked) = load(&files, agents);
    assert!(!checked.has_errors(), "{}", checked.render());
    let mut differences = Vec::new();
    for (test, path) in tests.iter().zip(&files) {
        let report = run_file(test, target);
        let golden_path = path.with_extension("").with_extension("report");
        differences.extend(golden(&golden_path, &report::human(&report, Times::Hide)));
        if test.agent == "guarded" {
            let junit = path.with_file_name("guarded.junit.xml");
            differences.extend(golden(&junit, &report::junit(&report, Times::Hide)));
        }
    }
    differences
}

#[test]
fn scripted_cases_report_as_their_goldens() {
    let agents = agents();
    let mut target = local_target("run", agents.clone(), Model::Default);
    assert_goldens(run_goldens("run", &mut target, &agents));
}

#[test]
fn url_runs_the_cases_against_a_deployment() {
    // The stand-in deployment: the same Worker on its own workerd, whose model always answers
    // the same.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let script = serde_json::json!({
        "replies": [{ "text": "Hello from the deployment." }],
        "when_exhausted": "repeat_last",
    });
    let deployment = runtime.block_on(Stack::start(script));
    let mut target = Remote {
        client: Client::new(&deployment.base),
    };
    let agents = agents();
    let differences = run_goldens("url", &mut target, &agents);
    // The deployment really answered: one model call per turn that reached the model.
    let calls = deployment.model_requests().len();
    drop(deployment);
    assert_goldens(differences);
    assert_eq!(calls, 3, "model calls of the deployment");
}
