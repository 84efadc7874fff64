//! Positions inside string scalars, so a finding about a template points at the true line and
//! column of the file, also inside a `|` or `>` block.

use super::{Block, Node, Value};
use crate::span::Pos;

/// The file position of the character at byte `byte` of a string scalar's value.
///
/// A literal block (`|`) keeps its lines, so the value's line `i` is the file's line `i` of the
/// block, shifted by the block's indentation. Folded blocks and flow scalars may join lines or
/// unescape characters, so their value is aligned with the file text character by character.
/// When the alignment fails the scalar's own start is returned.
pub fn value_position(source: &str, node: &Node, byte: usize) -> Pos {
    let Value::String(value, block) = &node.value else {
        return node.span.start;
    };
    let byte = floor_char_boundary(value, byte.min(value.len()));
    if *block == Block::Literal {
        return literal_position(source, node, value, byte);
    }
    aligned_position(source, node, value, byte).unwrap_or(node.span.start)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn literal_position(source: &str, node: &Node, value: &str, byte: usize) -> Pos {
    // The scalar's span starts at its first content character; leading empty lines of the value
    // lie above it.
    let leading = value.bytes().take_while(|b| *b == b'\n').count();
    let before = &value[..byte];
    let line_in_value = before.matches('\n').count();
    let col_in_line = before.rsplit('\n').next().unwrap_or("").chars().count();
    let start = node.span.start;
    let line = (start.line + line_in_value).saturating_sub(leading).max(1);
    let col = start.col + col_in_line;
    Pos {
        line,
        col,
        offset: char_offset(source, line, col),
    }
}

/// Matches the value's characters in order against the file text of the scalar. A line break
/// (with the indentation after it) in the file may stand for a space or a line break in the
/// value; any other file character that does not match (quotes, escapes) is skipped.
fn aligned_position(source: &str, node: &Node, value: &str, byte: usize) -> Option<Pos> {
    let span = node.span;
    let text: Vec<char> = source
        .chars()
        .skip(span.start.offset)
        .take(span.end.offset.saturating_sub(span.start.offset))
        .collect();
    let target = value[..byte].chars().count();
    let (mut line, mut col) = (span.start.line, span.start.col);
    let mut j = 0;
    for (k, v) in value.chars().enumerate() {
        loop {
            let c = *text.get(j)?;
            let matches = c == v || (c == '\n' && (v == ' ' || v == '\n'));
            if matches {
                break;
            }
            advance(c, &mut line, &mut col);
            j += 1;
        }
        if k == target {
            return Some(Pos {
                line,
                col,
                offset: span.start.offset + j,
            });
        }
        advance(text[j], &mut line, &mut col);
        j += 1;
    }
    // The position just after the last character.
    Some(Pos {
        line,
        col,
        offset: span.start.offset + j,
    })
}

fn advance(c: char, line: &mut usize, col: &mut usize) {
    if c == '\n' {
        *line += 1;
        *col = 1;
    } else {
        *col += 1;
    }
}

/// The 0-based character offset of a 1-based line and column.
fn char_offset(source: &str, line: usize, col: usize) -> usize {
    source
        .split('\n')
        .take(line.saturating_sub(1))
        .map(|l| l.chars().count() + 1)
        .sum::<usize>()
        + col.saturating_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn value_of<'a>(root: &'a Node, key: &str) -> &'a Node {
        root.get(key).expect("key present")
    }

    #[test]
    fn literal_blocks_map_lines_and_columns() {
        let source = "name: x\nsystem: |\n  one\n\n    two {{ x }\nnext: 1\n";
        let root = parse(source).unwrap();
        let node = value_of(&root, "system");
        let value = node.as_str().unwrap();
        let brace = value.find("{{").unwrap();
        let pos = value_position(source, node, brace);
        assert_eq!((pos.line, pos.col), (5, 9));
    }

    #[test]
    fn leading_empty_lines_of_a_literal_block_count() {
        let source = "system: |\n\n  one\n";
        let root = parse(source).unwrap();
        let node = value_of(&root, "system");
        let pos = value_position(source, node, node.as_str().unwrap().find("one").unwrap());
        assert_eq!((pos.line, pos.col), (3, 3));
    }

    #[test]
    fn quoted_and_folded_scalars_are_aligned() {
        let source = "url: \"https://x/{{ args.q }}\"\nsystem: >\n  one\n  two {{ y }}\n";
        let root = parse(source).unwrap();
        let url = value_of(&root, "url");
        let pos = value_position(source, url, url.as_str().unwrap().find("{{").unwrap());
        assert_eq!((pos.line, pos.col), (1, 17));
        let system = value_of(&root, "system");
        let pos = value_position(source, system, system.as_str().unwrap().find("{{").unwrap());
        assert_eq!((pos.line, pos.col), (4, 7));
    }
}
