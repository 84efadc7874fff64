//! `agentc init [DIR] [--template basic|full]`: a new project that checks, builds, serves and
//! deploys at once.
//!
//! `basic` writes `agents/assistant.yaml` (the tutorial's weather assistant) with its offline
//! fixture and its tests (`agents/assistant.test.yaml`, for `agentc test`), `wrangler.toml`
//! (agentc's block, as the first build would write it), `.gitignore`, `.dev.vars.example`, the
//! JSON Schemas at `schema/agent.schema.json` and `schema/test.schema.json` (where the files'
//! `# yaml-language-server: $schema=../schema/….schema.json` modelines find them), a CI
//! workflow running `agentc check --format github`, and a README. `full` adds
//! `agents/showcase.yaml`, an agent that uses every feature of the language, each commented, and
//! the Rust tool it names. The templates live in `compiler/templates/` and are embedded.
//!
//! A file that exists with other contents is a conflict: then nothing is written and every
//! conflict is named. Files that exist with the same contents are left alone, so `init` may run
//! again.

use crate::codegen::Layout;
use crate::pipeline;
use crate::schema::SCHEMA;
use crate::testing;
use std::path::{Path, PathBuf};

/// Which project to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Basic,
    Full,
}

const BASIC: &[(&str, &str)] = &[
    (
        "agents/assistant.yaml",
        include_str!("../templates/basic/agents/assistant.yaml"),
    ),
    (
        "agents/assistant.test.yaml",
        include_str!("../templates/basic/agents/assistant.test.yaml"),
    ),
    (
        "agents/fixtures/wttr.in.json",
        include_str!("../templates/basic/agents/fixtures/wttr.in.json"),
    ),
    (".gitignore", include_str!("../templates/basic/gitignore")),
    (
        ".dev.vars.example",
        include_str!("../templates/basic/dev.vars.example"),
    ),
    (
        ".github/workflows/agents.yml",
        include_str!("../templates/basic/.github/workflows/agents.yml"),
    ),
    ("README.md", include_str!("../templates/basic/README.md")),
];

const FULL: &[(&str, &str)] = &[
    (
        "agents/showcase.yaml",
        include_str!("../templates/full/agents/showcase.yaml"),
    ),
    (
        "tools/orders.rs",
        include_str!("../templates/full/tools/orders.rs"),
    ),
];

/// Where the schema goes: the agent files' modeline points here.
pub const SCHEMA_PATH: &str = "schema/agent.schema.json";
/// Where the schema of test files goes, for the test files' modeline.
pub const TEST_SCHEMA_PATH: &str = "schema/test.schema.json";

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// Files exist with other contents; nothing was written.
    #[error("{} file(s) already exist with other contents; nothing was written:\n{}", .0.len(),
        .0.iter().map(|p| format!("  {}", p.display())).collect::<Vec<_>>().join("\n"))]
    Conflicts(Vec<PathBuf>),
    #[error("{0}")]
    Io(String),
}

/// Every file of a template, relative to the project directory.
pub fn files(template: Template) -> Vec<(PathBuf, String)> {
    let mut files: Vec<(PathBuf, String)> = BASIC
        .iter()
        .chain(if template == Template::Full {
            FULL
        } else {
            &[]
        })
        .map(|(path, text)| (PathBuf::from(path), (*text).to_owned()))
        .collect();
    files.push((PathBuf::from(SCHEMA_PATH), SCHEMA.to_owned()));
    files.push((PathBuf::from(TEST_SCHEMA_PATH), testing::SCHEMA.to_owned()));
    files.push((PathBuf::from("wrangler.toml"), wrangler_toml(&files)));
    files.sort();
    files
}

/// The `wrangler.toml` the first `agentc build` of the template's agents would write.
fn wrangler_toml(files: &[(PathBuf, String)]) -> String {
    let dir = std::env::temp_dir().join(format!("agentc-init-{}", std::process::id()));
    // The pipeline reads files: check the template's agents from a scratch copy.
    let _ = std::fs::remove_dir_all(&dir);
    let mut agents = Vec::new();
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&target, text);
        let agent_file =
            path.extension().is_some_and(|e| e == "yaml") && !testing::load::is_test_file(path);
        if path.starts_with("agents") && agent_file {
            agents.push(target);
        }
    }
    agents.sort();
    let input = pipeline::Input {
        files: agents,
        root: dir.clone(),
        display_root: dir.clone(),
        page_for_every_agent: false,
    };
    let layout = Layout {
        runtime_path: String::new(),
        project_path: "../../..".into(),
        main_path: ".agentc/worker/build/index.js".into(),
        worker_name: "agentc-agents".into(),
    };
    let output = pipeline::run(&input, Some(&layout));
    let _ = std::fs::remove_dir_all(&dir);
    match output {
        Ok(crate::pipeline::Output {
            generated: Some(generated),
            ..
        }) => generated.fresh_wrangler_toml(),
        Ok(output) => panic!(
            "agentc's own templates do not check (a bug in agentc):\n{}",
            output.checked.render()
        ),
        Err(diag) => panic!("agentc's own templates cannot be read: {}", diag.message),
    }
}

/// What `init` did.
#[derive(Debug, Default)]
pub struct Written {
    pub written: Vec<PathBuf>,
    /// Files that were there already with the same contents.
    pub unchanged: Vec<PathBuf>,
}

/// Writes a new project into `dir` (created if missing), or nothing when a file conflicts.
pub fn init(dir: &Path, template: Template) -> Result<Written, InitError> {
    let files = files(template);
    let mut conflicts = Vec::new();
    let mut report = Written::default();
    for (path, text) in &files {
        let target = dir.join(path);
        // A parent that is a file is a conflict too.
        let blocked = path
            .ancestors()
            .skip(1)
            .filter(|a| !a.as_os_str().is_empty())
            .find(|a| dir.join(a).is_file());
        if let Some(parent) = blocked {
            conflicts.push(parent.to_path_buf());
            continue;
        }
        match std::fs::read(&target) {
            Ok(bytes) if bytes == text.as_bytes() => report.unchanged.push(path.clone()),
            Ok(_) => conflicts.push(path.clone()),
            Err(_) if target.is_dir() => conflicts.push(path.clone()),
            Err(_) => {}
        }
    }
    if !conflicts.is_empty() {
        conflicts.sort();
        conflicts.dedup();
        return Err(InitError::Conflicts(conflicts));
    }
    for (path, text) in &files {
        if report.unchanged.contains(path) {
            continue;
        }
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|err| {
                InitError::Io(format!("cannot create {}: {err}", parent.display()))
            })?;
        }
        std::fs::write(&target, text)
            .map_err(|err| InitError::Io(format!("cannot write {}: {err}", target.display())))?;
        report.written.push(path.clone());
    }
    Ok(report)
}

/// Writes a JSON Schema (of agent files, or of test files) to `path` (`agentc schema --write
/// PATH`), creating its directory.
pub fn write_schema(path: &Path, schema: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, schema)
}
