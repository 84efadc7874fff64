//! Rust tools as `agentc build` checks them: every mistake is a diagnostic at the tool's `rust:`
//! line that names the Rust file and line, all of them in one run, and nothing is written.
//!
//! `tests/fixtures/rust_tools/bad/` is a project whose agent file is valid YAML but whose Rust
//! tools have each mistake once; `bad.stderr` pins the rendered diagnostics (`AGENTC_BLESS=1`
//! rewrites it).

use agentc::build::{self, BuildError, BuildOptions};
use agentc::pipeline;
use std::path::{Path, PathBuf};

fn bad_project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rust_tools/bad")
}

fn render_bad() -> String {
    let root = bad_project();
    let input = pipeline::Input::project(&root, &root.join("agents")).expect("agents");
    let output = pipeline::run(&input, None).expect("readable");
    assert!(
        output
            .checked
            .diagnostics
            .iter()
            .all(|d| d.code.starts_with("E03")),
        "the agent file itself checks clean:\n{}",
        output.checked.render()
    );
    assert!(output.project().is_none() && output.generated.is_none());
    output.checked.render()
}

#[test]
fn each_mistake_is_reported_at_its_tool_with_the_rust_location() {
    let actual = render_bad();
    let golden = bad_project().with_extension("stderr");
    if std::env::var_os("AGENTC_BLESS").is_some() {
        std::fs::write(&golden, &actual).expect("golden is writable");
        return;
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        expected,
        actual,
        "rendered diagnostics differ from {} (AGENTC_BLESS=1 rewrites it)",
        golden.display()
    );
}

#[test]
fn every_code_is_exercised_and_every_tool_is_reported() {
    let rendered = render_bad();
    for code in ["E0301", "E0302", "E0303", "E0304", "E0305", "E0306"] {
        assert!(
            rendered.contains(&format!("error[{code}]")),
            "{code} missing"
        );
    }
    // One line of the agent file per tool, each with its `rust:` value underlined.
    for tool in [
        "too_short",
        "reserved",
        "no_file",
        "two_files",
        "broken",
        "misspelt",
        "sync_fn",
        "wrong_arg",
        "shared_b",
        "nested",
    ] {
        assert!(
            rendered.contains(&format!("]: tool `{tool}`: ")),
            "{tool} missing"
        );
    }
    assert!(!rendered.contains("]: tool `shared_a`"), "shared_a is fine");
    assert!(
        rendered.contains("tools/orders.rs:7"),
        "names the Rust line of sync_fn"
    );
    assert!(rendered.contains("did you mean `lookup`?"));
}

#[test]
fn a_build_with_bad_rust_tools_writes_nothing() {
    let root = bad_project();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust-tools-bad-build");
    let _ = std::fs::remove_dir_all(&out);
    let opts = BuildOptions {
        crate_dir: out.join("worker"),
        wrangler_toml: out.join("wrangler.toml"),
        generate_only: true,
        ..BuildOptions::for_root(&root)
    };
    match build::build(&opts) {
        Err(BuildError::Invalid(checked)) => {
            assert!(checked
                .diagnostics
                .iter()
                .all(|d| d.code.starts_with("E03")));
        }
        other => panic!("expected the Rust tools to be rejected, got {other:?}"),
    }
    assert!(!out.exists(), "nothing is written");
}
