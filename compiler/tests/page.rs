//! The chat page in generated Workers: compiled in (the runtime's `page` feature, a `PAGE`
//! listing) only when an agent says `page: true`, or for every agent under `agentc dev`; the
//! same for the AI SDK's protocol (`ui-stream`, `ai_sdk: true`).

use agentc::build::{self, BuildOptions};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ is in the repo")
        .to_path_buf()
}

/// Generates the example agents' Worker (`agents/`, none of which says `page: true`).
fn generate(case: &str, page_for_every_agent: bool) -> (String, String) {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("page-{case}"));
    let _ = std::fs::remove_dir_all(&out);
    let opts = BuildOptions {
        crate_dir: out.join("worker"),
        wrangler_toml: out.join("wrangler.toml"),
        generate_only: true,
        page_for_every_agent,
        ..BuildOptions::for_root(&repo_root())
    };
    build::build(&opts).unwrap_or_else(|err| panic!("build failed: {err:?}"));
    let read = |file: &str| std::fs::read_to_string(out.join("worker").join(file)).expect(file);
    (read("Cargo.toml"), read("src/lib.rs"))
}

/// The runtime features the generated manifest turns on.
fn features(manifest: &str) -> Vec<&str> {
    let line = manifest
        .lines()
        .find(|l| l.starts_with("agentc-runtime"))
        .expect("the runtime dependency");
    let list = line.split("features = [").nth(1).expect("features");
    let list = &list[..list.find(']').expect("a closed list")];
    list.split(',')
        .map(|f| f.trim().trim_matches('"'))
        .collect()
}

#[test]
fn without_a_listed_agent_the_worker_has_no_page() {
    let (manifest, lib) = generate("off", false);
    let features = features(&manifest);
    assert!(!features.contains(&"page"), "{manifest}");
    assert!(!features.contains(&"ui-stream"), "{manifest}");
    assert!(!lib.contains("ai_sdk: true"), "{lib}");
    assert!(!lib.contains("PAGE") && !lib.contains("handle_with_page"));
    assert!(lib.contains("::agentc_runtime::platform::handle(req, env, AGENTS).await"));
}

#[test]
fn under_agentc_dev_the_page_lists_every_agent() {
    let (manifest, lib) = generate("dev", true);
    let features = features(&manifest);
    assert!(features.contains(&"page"), "{manifest}");
    assert!(features.contains(&"ui-stream"), "{manifest}");
    assert!(!lib.contains("ai_sdk: false"), "{lib}");
    assert!(lib.contains(r#"agents: &["orders", "weather"]"#), "{lib}");
    assert!(lib.contains("handle_with_page(req, env, AGENTS, &PAGE)"));
}
