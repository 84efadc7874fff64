//! Diagnostics: what is wrong, where, and what to do about it.

use crate::span::Span;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about an agent file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code, e.g. `E0101`.
    pub code: &'static str,
    pub message: String,
    /// The file it is about, once known.
    pub file: Option<PathBuf>,
    pub span: Option<Span>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: None,
            span: None,
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic for machines (`agentc check --format json`): lines and columns are
    /// 1-based, columns count characters, and the end is exclusive.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::json!({
            "severity": match self.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            "code": self.code,
            "message": self.message,
            "file": self.file.as_deref().map(|f| f.display().to_string().replace('\\', "/")),
            "help": self.help,
        });
        if let (Some(span), Some(map)) = (self.span, out.as_object_mut()) {
            map.insert("line".into(), span.start.line.into());
            map.insert("column".into(), span.start.col.into());
            map.insert("end_line".into(), span.end.line.into());
            map.insert("end_column".into(), span.end.col.into());
        }
        out
    }

    /// The diagnostic as a GitHub Actions workflow command (`::error file=F,line=L,col=C,...::`),
    /// which GitHub shows as an annotation on that line of the pull request. Properties and the
    /// message are escaped as the workflow-command syntax requires.
    pub fn to_github(&self) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let property = |v: &str| {
            v.replace('%', "%25")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
                .replace(':', "%3A")
                .replace(',', "%2C")
        };
        let mut props = Vec::new();
        if let Some(file) = &self.file {
            props.push(format!(
                "file={}",
                property(&file.display().to_string().replace('\\', "/"))
            ));
        }
        if let Some(span) = self.span {
            props.push(format!("line={}", span.start.line));
            props.push(format!("col={}", span.start.col));
            props.push(format!("endLine={}", span.end.line));
            if span.end.line == span.start.line {
                props.push(format!("endColumn={}", span.end.col));
            }
        }
        props.push(format!(
            "title={}",
            property(&format!("agentc {}", self.code))
        ));
        let mut message = self.message.clone();
        if let Some(help) = &self.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let message = message
            .replace('%', "%25")
            .replace('\r', "%0D")
            .replace('\n', "%0A");
        format!("::{kind} {}::{message}", props.join(","))
    }

    /// Renders the diagnostic for a terminal: header, location, excerpt with the span underlined,
    /// and help. `source` is the text of the diagnostic's file.
    pub fn render(&self, source: Option<&str>) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}[{}]: {}", self.code, self.message);
        let file = self.file.as_deref().map(|f| f.display().to_string());
        match (file, self.span) {
            (Some(file), Some(span)) => {
                let _ = writeln!(out, "  --> {file}:{}:{}", span.start.line, span.start.col);
                if let Some(line) =
                    source.and_then(|s| s.lines().nth(span.start.line.saturating_sub(1)))
                {
                    let number = span.start.line.to_string();
                    let pad = " ".repeat(number.len());
                    let line = line.replace('\t', " ");
                    let width = if span.end.line == span.start.line && span.end.col > span.start.col
                    {
                        span.end.col - span.start.col
                    } else {
                        1
                    };
                    let width = width.min(
                        line.chars()
                            .count()
                            .saturating_sub(span.start.col.saturating_sub(1))
                            .max(1),
                    );
                    let _ = writeln!(out, "{pad} |");
                    let _ = writeln!(out, "{number} | {line}");
                    let _ = writeln!(
                        out,
                        "{pad} | {}{}",
                        " ".repeat(span.start.col.saturating_sub(1)),
                        "^".repeat(width)
                    );
                }
            }
            (Some(file), None) => {
                let _ = writeln!(out, "  --> {file}");
            }
            _ => {}
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Pos;

    #[test]
    fn renders_location_excerpt_and_help() {
        let source = "name: weather\nmodel:\n  temprature: 0.2\n";
        let span = Span::new(
            Pos {
                line: 3,
                col: 3,
                offset: 0,
            },
            Pos {
                line: 3,
                col: 13,
                offset: 0,
            },
        );
        let text = Diagnostic::error("E0101", "unknown key `temprature` in `model`")
            .in_file(Path::new("agents/weather.yaml"))
            .at(span)
            .help("did you mean `temperature`?")
            .render(Some(source));
        assert_eq!(
            text,
            "error[E0101]: unknown key `temprature` in `model`\n  --> agents/weather.yaml:3:3\n  |\n3 |   temprature: 0.2\n  |   ^^^^^^^^^^\n  = help: did you mean `temperature`?\n"
        );
    }
}
