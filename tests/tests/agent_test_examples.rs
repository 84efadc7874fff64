//! The example agents' own test files (`agents/*.test.yaml`) pass on the default local model
//! (Qwen2.5-Coder-1.5B in localai, behind the compiled Worker on workerd), as `agentc test` runs
//! them. The report, with each case's time, is printed (`--nocapture` shows it).
//!
//! The 1.5B model used to answer "Where is my order 999999?" in words without calling
//! `lookup_order`: its greedy first token was a word, though the ways a call can start had more
//! probability together. localai now decides a call on them together (localai's `decide`).

#[path = "agent_test/support.rs"]
mod support;

use agentc::devserver::Model;
use agentc::testing::load;
use agentc::testing::report::{self, Times};
use agentc_tests::repo_root;
use support::{agents, local_target, run_file};

#[test]
fn the_example_agents_pass_their_tests_on_the_local_model() {
    let root = repo_root();
    let agents = agents();
    let files = load::test_files(&root.join("agents")).expect("list agents/");
    let examples = agentc::project::agent_files(&root.join("agents")).expect("list agents/");
    for agent in &examples {
        let test = agent.with_extension("test.yaml");
        assert!(
            files.contains(&test),
            "{} has no test file",
            agent.display()
        );
    }
    let sources = agentc::project::read_files(&files, &root).expect("read test files");
    let (tests, checked) = load::check_files(sources, &agents);
    assert!(!checked.has_errors(), "{}", checked.render());
    let mut target = local_target("examples", agents, Model::Choice("default".into()));
    let mut failed = Vec::new();
    for test in &tests {
        let report = run_file(test, &mut target);
        let text = report::human(&report, Times::Show);
        println!("{text}");
        if report.counts().failed > 0 {
            failed.push(text);
        }
    }
    assert!(
        failed.is_empty(),
        "example tests failed:\n{}",
        failed.join("\n")
    );
}
