//! `agentc check` as CI and editors run it: exit codes, `--format json`, `--deny-warnings`.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn agentc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentc"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("agentc runs")
}

/// A file in a fresh directory of the system's temp dir.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentc-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file");
    path
}

#[test]
fn valid_agents_exit_0() {
    let out = agentc(&["check", "tests/fixtures/good", "../agents"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ok: "));
}

#[test]
fn invalid_agents_exit_2_with_every_error() {
    let out = agentc(&["check", "tests/fixtures/bad/all_together.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for code in [
        "E0007", "E0008", "E0005", "E0101", "E0102", "E0103", "E0201", "E0204", "E0205", "E0208",
    ] {
        assert!(
            stderr.contains(&format!("error[{code}]")),
            "{code} missing from:\n{stderr}"
        );
    }
}

#[test]
fn an_unreadable_file_is_an_internal_failure() {
    let out = agentc(&["check", "tests/fixtures/no-such-agent.yaml"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn json_format_reports_positions_for_machines() {
    let path = fixture("bad/template_syntax.yaml");
    let out = agentc(&[
        "check",
        "--format",
        "json",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["errors"], 1);
    let diag = &report["diagnostics"][0];
    assert_eq!(diag["code"], "E0205");
    assert_eq!(diag["severity"], "error");
    assert_eq!(
        (diag["line"].as_u64(), diag["column"].as_u64()),
        (Some(6), Some(26))
    );
    assert!(diag["file"]
        .as_str()
        .is_some_and(|f| f.ends_with("template_syntax.yaml")));
    assert!(diag["help"].is_string());
}

#[test]
fn warnings_fail_only_when_denied() {
    let text = "name: tooled\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: hi\ntools:\n  - name: clock\n    builtin: clock\n";
    let path = temp_file("tooled.yaml", text);
    let path = path.to_str().expect("utf-8 path");
    let out = agentc(&["check", path]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning[W0201]"));
    let out = agentc(&["check", "--deny-warnings", path]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn duplicate_agent_names_across_files_are_errors() {
    let text = "name: twin\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: hi\n";
    let first = temp_file("a.yaml", text);
    let dir = first.parent().expect("temp dir");
    std::fs::write(dir.join("b.yaml"), text).expect("second file");
    let out = agentc(&["check", dir.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("error[E0110]: agent name `twin` is already used"));
}
