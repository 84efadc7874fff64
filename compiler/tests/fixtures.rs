//! Data-driven tests of `agentc check`: every file of `fixtures/bad/` has a committed golden
//! `.stderr` with its rendered diagnostics, and every file of `fixtures/good/` must check clean.
//!
//! Run with `AGENTC_BLESS=1` to rewrite the goldens from the current output; review the diff like
//! source.

use agentc::project::{self, SourceFile};
use std::path::{Path, PathBuf};

fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let files = project::agent_files(&dir).expect("the fixtures directory exists");
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    files
}

/// Checks one file as `agentc check` does, with the path shown relative to the crate.
fn check(path: &Path) -> project::Checked {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).expect("fixture is readable");
    let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
    project::check_files(vec![SourceFile { path: shown, text }])
}

#[test]
fn bad_fixtures_match_their_golden_diagnostics() {
    let bless = std::env::var_os("AGENTC_BLESS").is_some();
    let mut mismatches = Vec::new();
    for path in fixtures("bad") {
        let checked = check(&path);
        assert!(
            checked.has_errors() || !checked.diagnostics.is_empty(),
            "{} checks clean",
            path.display()
        );
        assert!(checked.project.is_none() || !checked.has_errors());
        let actual = checked.render();
        let golden = path.with_extension("stderr");
        if bless {
            std::fs::write(&golden, &actual).expect("golden is writable");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!("--- {}\n{actual}", golden.display()));
        }
    }
    assert!(
        mismatches.is_empty(),
        "rendered diagnostics differ from the goldens (AGENTC_BLESS=1 rewrites them):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_golden_has_its_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    for entry in std::fs::read_dir(&dir).expect("bad fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "stderr") {
            assert!(
                path.with_extension("yaml").is_file(),
                "{} has no fixture",
                path.display()
            );
        }
    }
}

#[test]
fn good_fixtures_check_clean() {
    for path in fixtures("good") {
        let checked = check(&path);
        assert!(
            checked.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            checked.render()
        );
        let project = checked.project.expect("a valid file lowers to a project");
        assert_eq!(project.agents.len(), 1);
    }
}

#[test]
fn the_example_agents_check_clean() {
    let agents = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agents");
    let files = project::read_files(&project::agent_files(&agents).expect("agents/"), &agents)
        .expect("readable");
    let checked = project::check_files(files);
    assert!(!checked.has_errors(), "{}", checked.render());
}
