//! `agentc test` and `agentc schema --test` as a user runs them, for what needs no toolchain: a
//! bad test file is exit 2 with its diagnostics and nothing built or run, no test files is exit
//! 2, and the test files' schema is printed and written. (Runs on the Worker are tested in
//! `tests/tests/agent_test.rs`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ is in the repository")
        .to_path_buf()
}

fn agentc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("agentc runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_test_file_is_exit_2_with_its_line_and_nothing_runs() {
    let out = agentc(
        &repo(),
        &["test", "compiler/tests/agent_test/bad/agent.test.yaml"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("error[E0301]: there is no agent `wether`"),
        "{err}"
    );
    assert!(
        err.contains("compiler/tests/agent_test/bad/agent.test.yaml:2:8"),
        "{err}"
    );
    assert!(err.contains("nothing was run"), "{err}");
    assert!(out.stdout.is_empty(), "a report was printed");
}

#[test]
fn no_test_files_is_exit_2() {
    let dir = std::env::temp_dir().join(format!("agentc-test-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    let out = agentc(&dir, &["test"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no test files (*.test.yaml)"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn schema_test_prints_and_writes_the_test_files_schema() {
    let out = agentc(&repo(), &["schema", "--test"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        agentc::testing::SCHEMA
    );
    assert_ne!(agentc::testing::SCHEMA, agentc::schema::SCHEMA);
    let dir = std::env::temp_dir().join(format!("agentc-test-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("schema/test.schema.json");
    let out = agentc(
        &repo(),
        &["schema", "--test", "--write", path.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        agentc::testing::SCHEMA
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
