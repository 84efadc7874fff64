//! The one compiler pipeline: load → check → IR → generate. `agentc check`, `agentc build` (and
//! so `agentc dev`), the end-to-end harness and the golden tests all run [`run`]; nothing else
//! sequences the stages.
//!
//! 1. load: read the agent files ([`project::read_files`]);
//! 2. check: each file against the language, then the files together, lowered to one
//!    [`ir::Project`] ([`project::check_files`]);
//!    and each agent's MCP lock file applied ([`crate::mcp_lock::apply`]);
//! 3. the project's Rust tools against their source ([`rust_tool::check`]);
//! 4. generate the Worker crate and the `wrangler.toml` block ([`codegen::generate`]), when a
//!    [`Layout`] is given and every earlier stage passed.
//!
//! Nothing here writes: [`crate::build`] writes what [`Output::generated`] holds.

use crate::codegen::{self, Generated, Layout};
use crate::diagnostic::Diagnostic;
use crate::ir;
use crate::project::{self, Checked};
use crate::rust_tool;
use std::path::{Path, PathBuf};

/// What the pipeline reads.
#[derive(Debug, Clone)]
pub struct Input {
    /// The agent files, in the order given.
    pub files: Vec<PathBuf>,
    /// The project root: the Rust tools' directories are under it.
    pub root: PathBuf,
    /// Stripped from the paths shown in diagnostics.
    pub display_root: PathBuf,
    /// List every agent in the chat page at `/`, whatever its `page` says, and let every agent
    /// speak the AI SDK's protocol, whatever its `ai_sdk` says (`agentc dev`).
    pub page_for_every_agent: bool,
}

impl Input {
    /// The agent files of `agents_dir`, for the project at `root` (paths shown relative to it).
    pub fn project(root: &Path, agents_dir: &Path) -> std::io::Result<Input> {
        Ok(Input {
            files: project::agent_files(agents_dir)?,
            root: root.to_path_buf(),
            display_root: root.to_path_buf(),
            page_for_every_agent: false,
        })
    }
}

/// What the pipeline produced.
#[derive(Debug)]
pub struct Output {
    /// Every diagnostic; the project only when there is no error (Rust tools included).
    pub checked: Checked,
    /// The generated files, when a layout was given and everything checked.
    pub generated: Option<Generated>,
}

impl Output {
    /// The checked project, when there is no error.
    pub fn project(&self) -> Option<&ir::Project> {
        self.checked.project.as_ref()
    }
}

/// Runs the pipeline. An unreadable file is the one failure that stops it early.
pub fn run(input: &Input, layout: Option<&Layout>) -> Result<Output, Box<Diagnostic>> {
    let files = project::read_files(&input.files, &input.display_root)?;
    let mut checked = project::check_files(files);
    crate::mcp_lock::apply(&mut checked, &input.display_root);
    if checked.has_errors() {
        checked.project = None;
    }
    if let Some(project) = &checked.project {
        let problems = rust_tool::check(project, &checked.files, &input.root);
        if !problems.is_empty() {
            checked.diagnostics.extend(problems);
            checked.project = None;
        }
    }
    if input.page_for_every_agent {
        if let Some(project) = &mut checked.project {
            project.agents.iter_mut().for_each(|agent| {
                agent.page = true;
                agent.ai_sdk = true;
            });
        }
    }
    let generated = match (&checked.project, layout) {
        (Some(project), Some(layout)) => Some(codegen::generate(project, layout)),
        _ => None,
    };
    Ok(Output { checked, generated })
}

/// The project root an agent file or directory belongs to: the directory above `agents/` when
/// it is in one, else its own directory. `agentc check` checks the files of each root together.
pub fn root_of(path: &Path) -> PathBuf {
    let dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    if dir.file_name().is_some_and(|n| n == "agents") {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else {
        dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_above_agents_directories() {
        assert_eq!(root_of(Path::new("agents/a.yaml")), Path::new("."));
        assert_eq!(root_of(Path::new("x/agents/a.yaml")), Path::new("x"));
        assert_eq!(root_of(Path::new("good/a.yaml")), Path::new("good"));
        assert_eq!(root_of(Path::new("a.yaml")), Path::new("."));
    }
}
