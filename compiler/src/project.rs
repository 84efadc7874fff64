//! A project: the agent files of a directory, checked together and lowered to one IR.

use crate::check;
use crate::diagnostic::Diagnostic;
use crate::ir;
use crate::yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One agent file as read from disk.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown in diagnostics (relative to the project root when possible).
    pub path: PathBuf,
    pub text: String,
}

/// The outcome of checking a set of agent files.
#[derive(Debug, Default)]
pub struct Checked {
    /// The project, when no file had an error.
    pub project: Option<ir::Project>,
    /// Every diagnostic, in file order then position order.
    pub diagnostics: Vec<Diagnostic>,
    pub files: Vec<SourceFile>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The text of the file a diagnostic points into.
    pub fn source_of(&self, diag: &Diagnostic) -> Option<&str> {
        let file = diag.file.as_deref()?;
        self.files.iter().find(|f| f.path == file).map(|f| f.text.as_str())
    }
}

/// The agent files (`*.yaml`, `*.yml`) of a directory, sorted by path.
pub fn agent_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads agent files from disk; `root` is stripped from paths shown to the user.
pub fn read_files(paths: &[PathBuf], root: &Path) -> Result<Vec<SourceFile>, Diagnostic> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|err| {
                Diagnostic::error("E0000", format!("cannot read {}: {err}", path.display()))
            })?;
            let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
            Ok(SourceFile { path: shown, text })
        })
        .collect()
}

/// Checks every file and, when all are valid, lowers them to one project.
pub fn check_files(files: Vec<SourceFile>) -> Checked {
    let mut diagnostics = Vec::new();
    let mut agents = BTreeMap::new();
    let mut all_ok = true;
    for file in &files {
        let mut file_diags = match yaml::parse(&file.text) {
            Ok(root) => {
                let (agent, diags) = check::check_agent(&root, &file.path);
                match agent {
                    Some(agent) => {
                        if let Some(first) = agents.get(&agent.name).map(|a: &ir::Agent| a.source.clone()) {
                            let mut diag = Diagnostic::error(
                                "E0110",
                                format!("agent name `{}` is already used by {}", agent.name, first.display()),
                            )
                            .help("agent names must be unique across agents/: rename one of them");
                            diag.span = name_span(&root);
                            all_ok = false;
                            let mut diags = diags;
                            diags.push(diag);
                            diags
                        } else {
                            agents.insert(agent.name.clone(), agent);
                            diags
                        }
                    }
                    None => {
                        all_ok = false;
                        diags
                    }
                }
            }
            Err(diags) => {
                all_ok = false;
                diags
            }
        };
        file_diags.sort_by_key(|d| d.span.map(|s| s.start));
        diagnostics.extend(file_diags.into_iter().map(|d| d.in_file(&file.path)));
    }
    let project = all_ok.then(|| ir::Project {
        agents: agents.into_values().collect(),
    });
    Checked {
        project,
        diagnostics,
        files,
    }
}

fn name_span(root: &yaml::Node) -> Option<crate::span::Span> {
    let yaml::Value::Map(entries) = &root.value else { return None };
    entries
        .iter()
        .find(|(k, _)| k.as_str() == Some("name"))
        .map(|(_, v)| v.span)
}
