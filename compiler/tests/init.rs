//! `agentc init` as a new user runs it, and what a project outside this repository gets: every
//! file the issue lists, agents that check (the full template's Rust tool included), conflicts
//! that stop it before it writes anything, a build that stops before writing when the toolchain
//! is missing, and `agentc check --format github` annotations.

use agentc::init::{self, Template};
use agentc::pipeline;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

fn agentc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agentc"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("agentc runs")
}

/// A fresh directory under the system's temp dir, outside the repository.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agentc-init-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), (Vec::new(), SystemTime::UNIX_EPOCH));
                stack.push(path);
            } else {
                let meta = std::fs::metadata(&path).expect("metadata");
                let bytes = std::fs::read(&path).expect("read");
                out.insert(path, (bytes, meta.modified().expect("mtime")));
            }
        }
    }
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_writes_a_project_that_checks() {
    let dir = scratch("basic");
    let out = agentc(&dir, &["init", "demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let demo = dir.join("demo");
    for file in [
        "agents/assistant.yaml",
        "agents/assistant.test.yaml",
        "agents/fixtures/wttr.in.json",
        "wrangler.toml",
        ".gitignore",
        ".dev.vars.example",
        "schema/agent.schema.json",
        "schema/test.schema.json",
        ".github/workflows/agents.yml",
        "README.md",
    ] {
        assert!(demo.join(file).is_file(), "init wrote no {file}");
    }
    let assistant = std::fs::read_to_string(demo.join("agents/assistant.yaml")).unwrap();
    assert!(assistant.contains("name: assistant"));
    // The modeline resolves to the schema init wrote, which is agentc's schema.
    let modeline = assistant.lines().next().unwrap();
    let target = modeline
        .strip_prefix("# yaml-language-server: $schema=")
        .expect("a schema modeline");
    let schema = std::fs::read_to_string(demo.join("agents").join(target)).expect("the schema");
    assert_eq!(schema, agentc::schema::SCHEMA);
    test_file_checks(&demo);
    assert!(std::fs::read_to_string(demo.join(".gitignore"))
        .unwrap()
        .lines()
        .any(|l| l == ".agentc/"));
    let workflow = std::fs::read_to_string(demo.join(".github/workflows/agents.yml")).unwrap();
    assert!(workflow.contains("agentc check --format github"));
    let check = agentc(&demo, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    // Running init again over its own files changes nothing.
    let before = snapshot(&demo);
    let again = agentc(&dir, &["init", "demo"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(snapshot(&demo), before);
    // `agentc schema --write` refreshes the schema where the modeline finds it.
    std::fs::remove_file(demo.join("schema/agent.schema.json")).unwrap();
    let write = agentc(&demo, &["schema", "--write", "schema/agent.schema.json"]);
    assert_eq!(write.status.code(), Some(0), "{}", stderr(&write));
    assert_eq!(
        std::fs::read_to_string(demo.join("schema/agent.schema.json")).unwrap(),
        agentc::schema::SCHEMA
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The template's test file finds its schema through its modeline, and checks against the
/// template's agents as `agentc test` checks it.
fn test_file_checks(demo: &Path) {
    let path = demo.join("agents/assistant.test.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let target = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# yaml-language-server: $schema="))
        .expect("a schema modeline");
    let schema = std::fs::read_to_string(demo.join("agents").join(target)).expect("the schema");
    assert_eq!(schema, agentc::testing::SCHEMA);
    let input = pipeline::Input::project(demo, &demo.join("agents")).unwrap();
    let output = pipeline::run(&input, None).unwrap();
    let agents = output.project().expect("the template's agents check");
    let sources = agentc::project::read_files(&[path], demo).unwrap();
    let (tests, checked) = agentc::testing::load::check_files(sources, agents);
    assert!(checked.diagnostics.is_empty(), "{}", checked.render());
    assert_eq!(tests.len(), 1);
    assert!(tests[0].cases.len() >= 3, "{:?}", tests[0].cases.len());
}

#[test]
fn the_wrangler_toml_of_init_is_what_the_first_build_writes() {
    for template in [Template::Basic, Template::Full] {
        let dir = scratch(&format!("wrangler-{template:?}"));
        init::init(&dir, template).expect("init");
        let from_init = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap();
        std::fs::remove_file(dir.join("wrangler.toml")).unwrap();
        let opts = agentc::build::BuildOptions {
            generate_only: true,
            ..agentc::build::BuildOptions::for_root(&dir)
        };
        agentc::build::build(&opts).unwrap_or_else(|err| panic!("{template:?}: {err}"));
        assert_eq!(
            std::fs::read_to_string(dir.join("wrangler.toml")).unwrap(),
            from_init
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn the_full_template_uses_every_feature_and_checks_with_its_rust_tool() {
    let dir = scratch("full");
    let out = agentc(&dir, &["init", "--template", "full", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let input = pipeline::Input::project(&dir, &dir.join("agents")).unwrap();
    let output = pipeline::run(&input, None).unwrap();
    assert!(
        output.checked.diagnostics.is_empty(),
        "{}",
        output.checked.render()
    );
    let project = output.project().expect("a project");
    let showcase = project
        .agents
        .iter()
        .find(|a| a.name == "showcase")
        .expect("the showcase agent");
    assert!(!showcase.routes.is_empty());
    assert!(!showcase.model.fallbacks.is_empty());
    assert!(showcase.cache.is_some() && showcase.rate_limit.is_some());
    assert!(showcase.auth.is_some() && showcase.cors.is_some());
    assert_ne!(showcase.limits, agentc::ir::Limits::default());
    let kinds: Vec<String> = showcase
        .tools
        .iter()
        .map(|t| format!("{:?}", t.kind))
        .collect();
    for kind in ["Rust", "Http", "Builtin"] {
        assert!(
            kinds.iter().any(|k| k.starts_with(kind)),
            "{kind}: {kinds:?}"
        );
    }
    let text = std::fs::read_to_string(dir.join("agents/showcase.yaml")).unwrap();
    for key in [
        "routing:",
        "fallbacks:",
        "cache:",
        "rate_limit:",
        "auth:",
        "cors:",
        "limits:",
    ] {
        let line = text.lines().find(|l| l.contains(key)).expect(key);
        let commented = text
            .lines()
            .take_while(|l| !l.contains(key))
            .last()
            .is_some_and(|prev| prev.trim_start().starts_with('#'))
            || line.contains('#');
        assert!(commented, "`{key}` has no comment");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn init_over_conflicting_files_names_each_and_writes_nothing() {
    let dir = scratch("conflict");
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(dir.join("agents/assistant.yaml"), "name: mine\n").unwrap();
    std::fs::write(dir.join("README.md"), "# My project\n").unwrap();
    // A file where init wants a directory conflicts too.
    std::fs::write(dir.join(".github"), "not a directory").unwrap();
    let before = snapshot(&dir);
    let out = agentc(&dir, &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    for name in ["agents/assistant.yaml", "README.md", ".github"] {
        assert!(err.contains(name), "conflict {name} not named:\n{err}");
    }
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(snapshot(&dir), before, "init wrote something");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_build_without_the_toolchain_names_the_install_command_and_writes_nothing() {
    let dir = scratch("no-toolchain");
    init::init(&dir, Template::Basic).expect("init");
    let empty_cache = dir.join("empty-cache");
    std::fs::create_dir_all(&empty_cache).unwrap();
    // rustc (with its wasm32 target) stays reachable; nothing agentc installs is.
    let rustc = agentc::toolchain::which("rustc").expect("rustc on PATH");
    let path = format!("{}:/usr/bin:/bin", rustc.parent().unwrap().display());
    let before = snapshot(&dir);
    let mut command = Command::new(env!("CARGO_BIN_EXE_agentc"));
    command
        .arg("build")
        .current_dir(&dir)
        .env("AGENTC_CACHE", &empty_cache)
        .env("PATH", path);
    for tool in agentc::toolchain::TOOLS {
        command.env_remove(tool.env_var);
    }
    let out = command.output().expect("agentc runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("worker-build not found"), "{err}");
    assert!(err.contains("install it with `agentc setup`"), "{err}");
    assert_eq!(snapshot(&dir), before, "the failed build wrote something");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_reports_github_annotations() {
    let dir = scratch("github");
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(
        dir.join("agents/bad.yaml"),
        "name: bad\nmodel: \"@cf/meta/llama-3.3-70b-instruct-fp8-fast\"\nsystem: hi\nhistroy: { window: 2 }\n",
    )
    .unwrap();
    let out = agentc(&dir, &["check", "--format", "github"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation:\n{stdout}"));
    assert!(
        line.starts_with("::error file=agents/bad.yaml,line=4,col=1,"),
        "{line}"
    );
    assert!(line.contains("histroy"), "{line}");
    std::fs::remove_dir_all(&dir).unwrap();
}
