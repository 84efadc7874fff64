//! MCP lock files: what `agentc check` and codegen make of `<agent>.mcp-lock.json`.

use agentc::codegen::{self, Layout};
use agentc::ir::LockedTool;
use agentc::mcp_lock::{self, Lock, LockedServer};
use agentc::project::{self, Checked};
use serde_json::json;
use std::path::{Path, PathBuf};

const AGENT: &str = r#"name: calc
model: "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
system: You do arithmetic.
secrets: [CALC_TOKEN]
mcp:
  - name: calc
    url: http://127.0.0.1:8931/mcp
    headers: { Authorization: "Bearer {{ secrets.CALC_TOKEN }}" }
    tools: [add, TOOL]
    approval: [add]
"#;

/// A fresh project directory with `agents/calc.yaml` allowing `add` and `tool`.
fn project_dir(name: &str, tool: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("agentc-mcp-lock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("agents")).unwrap();
    std::fs::write(root.join("agents/calc.yaml"), AGENT.replace("TOOL", tool)).unwrap();
    root
}

fn lock(url: &str) -> Lock {
    let tool = |description: &str| LockedTool {
        description: description.into(),
        parameters: json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}),
    };
    let mut lock = Lock::default();
    lock.servers.insert(
        "calc".into(),
        LockedServer {
            url: url.into(),
            protocol_version: "2025-06-18".into(),
            tools: [("add", "Adds."), ("multiply", "Multiplies.")]
                .into_iter()
                .map(|(name, description)| (name.to_owned(), tool(description)))
                .collect(),
        },
    );
    lock
}

fn check(root: &Path) -> Checked {
    let paths = project::agent_files(&root.join("agents")).unwrap();
    let files = project::read_files(&paths, root).unwrap();
    let mut checked = project::check_files(files);
    mcp_lock::apply(&mut checked, root);
    checked
}

fn lib_rs(checked: &Checked) -> (String, String) {
    let layout = Layout {
        runtime_path: "../runtime".into(),
        project_path: "../..".into(),
        main_path: "build/index.js".into(),
        worker_name: "w".into(),
    };
    let generated = codegen::generate(checked.project.as_ref().unwrap(), &layout);
    let file = |name: &str| {
        generated
            .crate_files
            .iter()
            .find(|f| f.path == Path::new(name))
            .unwrap()
            .contents
            .clone()
    };
    (file("src/lib.rs"), file("Cargo.toml"))
}

#[test]
fn a_lock_file_names_the_server_tools_and_gives_their_schemas() {
    let root = project_dir("named", "mutliply");
    let path = root.join("agents/calc.mcp-lock.json");
    std::fs::write(&path, lock("http://127.0.0.1:8931/mcp").render()).unwrap();
    let checked = check(&root);
    assert!(checked.project.is_none());
    let rendered = checked.render();
    assert!(
        rendered.contains("error[E0221]: the MCP server `calc` has no tool `mutliply` (per agents/calc.mcp-lock.json)"),
        "{rendered}"
    );
    assert!(rendered.contains("agents/calc.yaml:9:"), "{rendered}");
    assert!(rendered.contains("did you mean `multiply`?"), "{rendered}");

    std::fs::write(
        root.join("agents/calc.yaml"),
        AGENT.replace("TOOL", "multiply"),
    )
    .unwrap();
    let checked = check(&root);
    assert!(checked.diagnostics.is_empty(), "{}", checked.render());
    let agent = &checked.project.as_ref().unwrap().agents[0];
    let locked = agent.mcp[0].tools[1].locked.as_ref().unwrap();
    assert_eq!(locked.description, "Multiplies.");
    let (lib, cargo) = lib_rs(&checked);
    assert!(lib.contains("description: \"Multiplies.\""), "{lib}");
    assert!(lib.contains("locked: true"), "{lib}");
    assert!(lib.contains(r#"\"required\":[\"a\",\"b\"]"#), "{lib}");
    // `add` waits for approval: the Worker has paused turns.
    assert!(
        cargo.contains(r#"features = ["worker", "mcp", "approvals"]"#),
        "{cargo}"
    );
    // The lock file's text is stable: rendering what was read gives the same bytes.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(Lock::parse(&text).unwrap().render(), text);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn without_a_lock_file_the_tools_come_from_the_server_at_run_time() {
    let root = project_dir("none", "multiply");
    let checked = check(&root);
    assert!(checked.diagnostics.is_empty(), "{}", checked.render());
    let (lib, _) = lib_rs(&checked);
    assert!(lib.contains("name: \"calc_add\""), "{lib}");
    assert!(lib.contains("locked: false"), "{lib}");
    // `add` waits for approval, for the agent's expiry (24 h by default); `multiply` does not.
    assert_eq!(lib.matches("expires_secs: 86400").count(), 1, "{lib}");

    // A lock file of another URL is stale: a warning, and the tools are not taken from it.
    let path = root.join("agents/calc.mcp-lock.json");
    std::fs::write(&path, lock("https://elsewhere.example/mcp").render()).unwrap();
    let checked = check(&root);
    let rendered = checked.render();
    assert!(rendered.contains("warning[W0207]"), "{rendered}");
    assert!(checked.project.as_ref().unwrap().agents[0].mcp[0].tools[0]
        .locked
        .is_none());
    std::fs::remove_dir_all(&root).unwrap();
}
