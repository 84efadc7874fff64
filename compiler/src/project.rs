//! A project: the agent files of a directory, checked together and lowered to one IR.

use crate::check;
use crate::diagnostic::Diagnostic;
use crate::ir;
use crate::span::Span;
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

    /// Every diagnostic rendered for a terminal, each followed by a blank line, then a count.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for diag in &self.diagnostics {
            out.push_str(&diag.render(self.source_of(diag)));
            out.push('\n');
        }
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = self.diagnostics.len() - errors;
        if errors + warnings > 0 {
            out.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
        }
        out
    }

    /// The text of the file a diagnostic points into.
    pub fn source_of(&self, diag: &Diagnostic) -> Option<&str> {
        let file = diag.file.as_deref()?;
        self.files
            .iter()
            .find(|f| f.path == file)
            .map(|f| f.text.as_str())
    }
}

/// The agent files (`*.yaml`, `*.yml`) of a directory, sorted by path; test files
/// (`*.test.yaml`, see [`crate::testing`]) are not agent files.
pub fn agent_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        if is_yaml && !crate::testing::load::is_test_file(&path) && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads agent files from disk; `root` is stripped from paths shown to the user.
pub fn read_files(paths: &[PathBuf], root: &Path) -> Result<Vec<SourceFile>, Box<Diagnostic>> {
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|err| {
                Box::new(Diagnostic::error(
                    "E0000",
                    format!("cannot read {}: {err}", path.display()),
                ))
            })?;
            let shown = path.strip_prefix(root).unwrap_or(path).to_path_buf();
            Ok(SourceFile { path: shown, text })
        })
        .collect()
}

/// Checks every file and, when all are valid, lowers them to one project. Never panics: a
/// failure inside the checker becomes an internal-error diagnostic (`E0999`).
pub fn check_files(files: Vec<SourceFile>) -> Checked {
    let mut diagnostics = Vec::new();
    let mut agents = BTreeMap::new();
    // The first file that used each agent name, whether or not that file is otherwise valid.
    let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut all_ok = true;
    for file in &files {
        let outcome = std::panic::catch_unwind(|| check_file(file));
        let (agent, mut file_diags, name) = outcome.unwrap_or_else(|_| {
            let diag =
                Diagnostic::error("E0999", "internal error: the checker failed on this file")
                    .help("this is a bug in agentc; please report it with the file");
            (None, vec![diag], None)
        });
        if let Some((name, span)) = name {
            if let Some(first) = names.get(&name) {
                let mut diag = Diagnostic::error(
                    "E0110",
                    format!("agent name `{name}` is already used by {}", first.display()),
                )
                .help("agent names must be unique across agents/: rename one of them");
                diag.span = Some(span);
                file_diags.push(diag);
            } else {
                names.insert(name, file.path.clone());
            }
        }
        if file_diags.iter().any(Diagnostic::is_error) {
            all_ok = false;
        } else if let Some(agent) = agent {
            agents.insert(agent.name.clone(), agent);
        } else {
            all_ok = false;
        }
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

/// Loads and checks one file: its agent when valid, its diagnostics, and its name.
pub fn check_file(
    file: &SourceFile,
) -> (Option<ir::Agent>, Vec<Diagnostic>, Option<(String, Span)>) {
    let loaded = yaml::load(&file.text);
    let mut diagnostics = loaded.diagnostics;
    let Some(root) = loaded.root else {
        return (None, diagnostics, None);
    };
    let (agent, diags) =
        check::check_agent_skipping(&root, &file.text, &file.path, &loaded.skipped_lines);
    diagnostics.extend(diags);
    let name = root
        .get("name")
        .and_then(|n| n.as_str().map(|s| (s.to_owned(), n.span)));
    let agent = agent.filter(|_| !diagnostics.iter().any(Diagnostic::is_error));
    (agent, diagnostics, name)
}
