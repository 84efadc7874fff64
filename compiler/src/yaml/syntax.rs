//! Explains YAML syntax errors in the words of the usual mistakes: a tab in the indentation, a
//! line indented too far or not far enough, a second `: ` in a plain value.

use crate::diagnostic::Diagnostic;
use crate::span::{Pos, Span};
use saphyr_parser::ScanError;

/// Invalid YAML that is not one of the cases below.
pub const SYNTAX: &str = "E0001";
/// A tab character in the indentation.
pub const TAB: &str = "E0007";
/// A line indented so that it belongs to no block.
pub const INDENT: &str = "E0008";

/// Turns a scanner error into a diagnostic that points at the mistake, not where the scanner
/// noticed it.
pub fn explain(err: &ScanError, source: &str) -> Diagnostic {
    let m = err.marker();
    let at = Pos {
        line: m.line(),
        col: m.col() + 1,
        offset: m.index(),
    };
    let lines: Vec<&str> = source.split('\n').collect();
    let line_text = |n: usize| lines.get(n.wrapping_sub(1)).copied().unwrap_or("");
    // The scanner reports a tab on the line after the one it was reading when the tab begins a
    // line, so both lines are looked at.
    for n in [at.line, at.line + 1] {
        if let Some(col) = indent_tab(line_text(n)) {
            let tab = position(source, n, col + 1);
            return Diagnostic::error(TAB, "tab character in indentation")
                .at(Span::new(
                    tab,
                    Pos {
                        col: tab.col + 1,
                        offset: tab.offset + 1,
                        ..tab
                    },
                ))
                .help("YAML indents with spaces only; replace the tab with spaces");
        }
    }
    let info = err.info();
    let text = line_text(at.line);
    let indent = text.chars().take_while(|c| *c == ' ').count();
    let first = position(source, at.line, indent + 1);
    let above = previous_content_line(&lines, at.line);
    let key = text.trim_start().split(':').next().unwrap_or("").trim();
    let key_span = Span::new(
        first,
        Pos {
            col: first.col + key.chars().count(),
            offset: first.offset + key.chars().count(),
            ..first
        },
    );
    if info.contains("mapping values are not allowed") {
        if let Some((above_line, above_indent)) =
            above.filter(|(_, i)| indent > *i && first.col < at.col)
        {
            return Diagnostic::error(INDENT, format!("bad indentation: `{key}` is indented more than the line above"))
                .at(key_span)
                .help(format!(
                    "YAML reads this line as the rest of the value on line {above_line}; to make `{key}` a key of the same mapping, start it in column {}",
                    above_indent + 1
                ));
        }
        return Diagnostic::error(SYNTAX, "`: ` inside a plain value")
            .at(Span::at(at))
            .help("quote the value when it contains `: `, e.g. `key: \"a: b\"`");
    }
    let misaligned = info.contains("did not find expected key")
        || info.contains("did not find expected '-'")
        || info.contains("block indentation");
    if misaligned && !text.trim().is_empty() {
        let hint = match above {
            Some((line, i)) => format!("; the line above (line {line}) starts in column {}", i + 1),
            None => String::new(),
        };
        return Diagnostic::error(
            INDENT,
            "bad indentation: this line lines up with no enclosing block",
        )
        .at(key_span)
        .help(format!(
            "entries of one mapping or list must start in the same column{hint}"
        ));
    }
    Diagnostic::error(SYNTAX, format!("invalid YAML: {info}"))
        .at(Span::at(at))
        .help("fix the YAML syntax at this point")
}

/// The 0-based column of a tab in a line's leading whitespace, unless the line is blank.
fn indent_tab(line: &str) -> Option<usize> {
    let lead: String = line
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect();
    if lead.len() == line.trim_end_matches('\r').len() {
        return None;
    }
    lead.chars().position(|c| c == '\t')
}

/// The nearest line above `line` with content other than a comment: its number and indentation.
fn previous_content_line(lines: &[&str], line: usize) -> Option<(usize, usize)> {
    (1..line).rev().find_map(|n| {
        let text = lines.get(n - 1)?;
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return None;
        }
        let indent = text.len() - trimmed.len();
        // A list item's entries line up after its dash.
        let indent = if trimmed.starts_with("- ") {
            indent + 2
        } else {
            indent
        };
        Some((n, indent))
    })
}

/// The position of a 1-based line and column (in characters).
fn position(source: &str, line: usize, col: usize) -> Pos {
    let offset: usize = source
        .split('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count() + 1)
        .sum::<usize>()
        + col.saturating_sub(1);
    Pos { line, col, offset }
}
