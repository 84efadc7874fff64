//! A YAML loader that keeps the position of every node.
//!
//! Agent files are read into a small tree of [`Node`]s, each with its [`Span`], so every later
//! check can point into the user's file. Scalars are resolved by the YAML 1.2 core schema.
//! Duplicate keys are errors, and aliases are expanded within a fixed budget of nodes, so a file
//! built to explode ("billion laughs") is refused instead of exhausting memory.
//!
//! Loading never fails outright: [`load`] returns the tree it could build and every diagnostic.
//! After a syntax error the offending line is blanked (replaced by spaces, so every other
//! position stays true) and the file is parsed again, so one run reports a tab, a badly indented
//! line and a duplicate key together.

mod scalar;
mod syntax;

pub use scalar::value_position;

use crate::diagnostic::Diagnostic;
use crate::span::{Pos, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::{BTreeSet, HashMap};

/// The most nodes a file may expand to, aliases included.
pub const MAX_NODES: usize = 100_000;
/// The most bytes of scalar text a file may expand to, aliases included: counted before an
/// alias is copied, so a few aliases of a long string cannot exhaust memory.
pub const MAX_EXPANDED_BYTES: usize = 16 << 20;
/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// How many syntax errors one file may report before loading gives up.
pub const MAX_SYNTAX_ERRORS: usize = 20;

/// A YAML node and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A string and whether it was written as a block scalar (`|` or `>`).
    String(String, Block),
    Seq(Vec<Node>),
    /// Entries in file order.
    Map(Vec<(Node, Node)>),
}

/// How a string scalar was written; block scalars keep their text's first line for positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    No,
    Literal,
    Folded,
}

impl Node {
    /// What kind of value this is, in the words of a JSON Schema type.
    pub fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::String(..) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// A number, integer or not.
    pub fn as_f64(&self) -> Option<f64> {
        match self.value {
            Value::Int(i) => Some(i as f64),
            Value::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The entries of a mapping; empty for any other node.
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The items of a sequence; empty for any other node.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The value of a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and the value of a key of a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, v)| (k, v))
    }
}

/// What loading a file produced: the tree, when one could be built, and every diagnostic.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub root: Option<Node>,
    /// In position order.
    pub diagnostics: Vec<Diagnostic>,
    /// The lines skipped (blanked) to build `root` after syntax errors. Keys on them are missing
    /// from the tree, so a "missing key" finding about a mapping that spans one of them may only
    /// echo the syntax error.
    pub skipped_lines: BTreeSet<usize>,
}

/// Loads one YAML document, recovering from syntax errors line by line.
pub fn load(source: &str) -> Loaded {
    let mut text = source.to_owned();
    let mut diagnostics = Vec::new();
    let mut blanked = BTreeSet::new();
    loop {
        let attempt = parse_once(&text);
        let Err(fatal) = attempt.result else {
            diagnostics.extend(attempt.errors);
            diagnostics.sort_by_key(|d: &Diagnostic| d.span.map(|s| s.start));
            return Loaded {
                root: attempt.result.ok(),
                diagnostics,
                skipped_lines: blanked.clone(),
            };
        };
        let line = fatal.span.map_or(0, |s| s.start.line);
        let recoverable = [syntax::SYNTAX, syntax::TAB, syntax::INDENT].contains(&fatal.code);
        let fresh = !blanked.contains(&line);
        if fresh {
            diagnostics.push(*fatal);
        }
        let can_blank = recoverable
            && fresh
            && blanked.len() < MAX_SYNTAX_ERRORS
            && blank_line(&mut text, line);
        if !can_blank {
            diagnostics.extend(attempt.errors);
            diagnostics.sort_by_key(|d: &Diagnostic| d.span.map(|s| s.start));
            return Loaded {
                root: None,
                diagnostics,
                skipped_lines: blanked.clone(),
            };
        }
        blanked.insert(line);
    }
}

/// Parses one YAML document strictly: the tree only when there is no diagnostic at all.
pub fn parse(source: &str) -> Result<Node, Vec<Diagnostic>> {
    let loaded = load(source);
    match loaded.root {
        Some(root) if loaded.diagnostics.is_empty() => Ok(root),
        _ => Err(loaded.diagnostics),
    }
}

/// Replaces the text of a 1-based line by spaces; false when there is nothing left to blank.
fn blank_line(text: &mut String, line: usize) -> bool {
    let Some(start) = line_start(text, line) else {
        return false;
    };
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    if text[start..end].trim().is_empty() {
        return false;
    }
    // Each character becomes one space, so character columns and offsets stay the same.
    let spaces = " ".repeat(text[start..end].chars().count());
    text.replace_range(start..end, &spaces);
    true
}

/// The byte offset where a 1-based line starts.
fn line_start(text: &str, line: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    if line == 1 {
        return Some(0);
    }
    text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)
}

struct Attempt {
    result: Result<Node, Box<Diagnostic>>,
    /// Errors that did not stop the parse (duplicate keys).
    errors: Vec<Diagnostic>,
}

/// One parse of `text`, the file with the lines of earlier syntax errors blanked.
fn parse_once(text: &str) -> Attempt {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
        bytes: 0,
        errors: Vec::new(),
        source: text,
    };
    let result = loader.document();
    Attempt {
        result,
        errors: loader.errors,
    }
}

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// Bytes of scalar text so far, aliases expanded.
    bytes: usize,
    errors: Vec<Diagnostic>,
    source: &'a str,
}

fn pos(marker: &saphyr_parser::Marker) -> Pos {
    Pos {
        line: marker.line(),
        col: marker.col() + 1,
        offset: marker.index(),
    }
}

fn span(s: &saphyr_parser::Span) -> Span {
    Span::new(pos(&s.start), pos(&s.end))
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), Box<Diagnostic>> {
        match self.parser.next_event() {
            Some(Ok((event, s))) => Ok((event, span(&s))),
            Some(Err(err)) => Err(Box::new(syntax::explain(&err, self.source))),
            None => Err(Box::new(Diagnostic::error(
                "E0001",
                "unexpected end of YAML input",
            ))),
        }
    }

    fn document(&mut self) -> Result<Node, Box<Diagnostic>> {
        let mut root = None;
        loop {
            let (event, s) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(Box::new(
                            Diagnostic::error(
                                "E0002",
                                "an agent file holds one YAML document; found a second `---`",
                            )
                            .at(s),
                        ));
                    }
                    let (event, s) = self.next()?;
                    root = Some(self.node(event, s, 0)?);
                }
                _ => {
                    root = Some(self.node(event, s, 0)?);
                }
            }
        }
        let start = Pos {
            line: 1,
            col: 1,
            offset: 0,
        };
        Ok(root.unwrap_or(Node {
            value: Value::Map(Vec::new()),
            span: Span::at(start),
        }))
    }

    fn count_text(&mut self, n: usize, s: Span) -> Result<(), Box<Diagnostic>> {
        self.bytes += n;
        if self.bytes > MAX_EXPANDED_BYTES {
            return Err(Box::new(
                Diagnostic::error(
                    "E0003",
                    format!(
                        "the file expands to more than {} MB of text",
                        MAX_EXPANDED_BYTES >> 20
                    ),
                )
                .at(s)
                .help("aliases (`*name`) are expanded in place; an alias of a long string copies all of it"),
            ));
        }
        Ok(())
    }

    fn count(&mut self, n: usize, s: Span) -> Result<(), Box<Diagnostic>> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(Box::new(
                Diagnostic::error(
                    "E0003",
                    format!("the file expands to more than {MAX_NODES} YAML nodes"),
                )
                .at(s)
                .help("aliases (`*name`) are expanded in place; deeply nested aliases multiply"),
            ));
        }
        Ok(())
    }

    fn node(&mut self, event: Event<'a>, s: Span, depth: usize) -> Result<Node, Box<Diagnostic>> {
        if depth > MAX_DEPTH {
            return Err(Box::new(
                Diagnostic::error("E0004", format!("nesting deeper than {MAX_DEPTH} levels")).at(s),
            ));
        }
        self.count(1, s)?;
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                self.count_text(text.len(), s)?;
                let block = match style {
                    ScalarStyle::Literal => Block::Literal,
                    ScalarStyle::Folded => Block::Folded,
                    _ => Block::No,
                };
                let value = if tag.is_some() || style != ScalarStyle::Plain {
                    Value::String(text.into_owned(), block)
                } else {
                    resolve_plain(&text)
                };
                (Node { value, span: s }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                let end = loop {
                    let (event, s) = self.next()?;
                    if let Event::SequenceEnd = event {
                        break s;
                    }
                    items.push(self.node(event, s, depth + 1)?);
                };
                let node = Node {
                    value: Value::Seq(items),
                    span: Span::new(s.start, end.end),
                };
                (node, anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                // Scalar keys seen so far, for a duplicate check that is not quadratic.
                let mut seen: HashMap<String, usize> = HashMap::new();
                let end = loop {
                    let (event, ks) = self.next()?;
                    if let Event::MappingEnd = event {
                        break ks;
                    }
                    let key = self.node(event, ks, depth + 1)?;
                    let (event, vs) = self.next()?;
                    let value = self.node(event, vs, depth + 1)?;
                    let scalar_key = match &key.value {
                        Value::Seq(_) | Value::Map(_) => None,
                        value => Some(format!("{value:?}")),
                    };
                    let first = match &scalar_key {
                        Some(k) => seen.get(k).map(|&i| &entries[i].0),
                        None => entries
                            .iter()
                            .map(|(k, _)| k)
                            .find(|k| k.value == key.value),
                    };
                    if let Some(first) = first {
                        let name = key
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{:?}", key.value));
                        self.errors.push(
                            Diagnostic::error("E0005", format!("duplicate key `{name}`"))
                                .at(key.span)
                                .help(format!(
                                    "`{name}` is already set on line {}; keep one of them",
                                    first.span.start.line
                                )),
                        );
                        continue;
                    }
                    if let Some(k) = scalar_key {
                        seen.insert(k, entries.len());
                    }
                    entries.push((key, value));
                };
                let node = Node {
                    value: Value::Map(entries),
                    span: Span::new(s.start, end.end),
                };
                (node, anchor)
            }
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Box::new(
                        Diagnostic::error("E0006", "alias to an unknown anchor").at(s),
                    ));
                };
                // Counted before the copy is made.
                let (nodes, bytes) = (count_nodes(target), count_bytes(target));
                self.count(nodes, s)?;
                self.count_text(bytes, s)?;
                let target = self.anchors[&id].clone();
                return Ok(Node { span: s, ..target });
            }
            other => {
                return Err(Box::new(
                    Diagnostic::error("E0001", format!("unexpected YAML event {other:?}")).at(s),
                ));
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

fn count_nodes(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(count_nodes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_nodes(k) + count_nodes(v))
            .sum(),
        _ => 0,
    }
}

/// The bytes of scalar text in a node (strings by length, other scalars as a few bytes).
fn count_bytes(node: &Node) -> usize {
    match &node.value {
        Value::String(text, _) => text.len(),
        Value::Seq(items) => items.iter().map(count_bytes).sum(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| count_bytes(k) + count_bytes(v))
            .sum(),
        _ => 8,
    }
}

/// Resolves a plain scalar by the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Value::Int(i);
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Value::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Value::Int(i);
        }
    }
    let looks_numeric = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(text.to_owned(), Block::No)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let node = parse("a: 1\nb: 2.5\nc: true\nd: ~\ne: hello\nf: '1'\ng: -3\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!()
        };
        let values: Vec<_> = entries.into_iter().map(|(_, v)| v.value).collect();
        assert_eq!(
            values,
            vec![
                Value::Int(1),
                Value::Float(2.5),
                Value::Bool(true),
                Value::Null,
                Value::String("hello".into(), Block::No),
                Value::String("1".into(), Block::No),
                Value::Int(-3),
            ]
        );
    }

    #[test]
    fn nodes_know_their_position() {
        let node = parse("name: weather\nmodel:\n  id: x\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!()
        };
        let (_, model) = &entries[1];
        let Value::Map(inner) = &model.value else {
            panic!()
        };
        assert_eq!(
            (inner[0].0.span.start.line, inner[0].0.span.start.col),
            (3, 3)
        );
        assert_eq!(
            (inner[0].1.span.start.line, inner[0].1.span.start.col),
            (3, 7)
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let errors = parse("name: a\nname: b\n").unwrap_err();
        assert_eq!(errors[0].code, "E0005");
        assert_eq!(errors[0].span.unwrap().start.line, 2);
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut doc = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let errors = parse(&doc).unwrap_err();
        assert_eq!(errors[0].code, "E0003");
    }

    #[test]
    fn aliases_of_long_strings_are_counted_in_bytes() {
        // 300 KB of file: a 100 KB string and 2000 aliases of it would expand to 200 MB (the
        // audit's 49 990 aliases to 5 GB), with only 2001 nodes.
        let doc = format!(
            "description: &a \"{}\"\nx: [{}]\n",
            "A".repeat(100_000),
            vec!["*a"; 2000].join(", ")
        );
        let errors = parse(&doc).unwrap_err();
        assert_eq!(errors[0].code, "E0003");
        assert!(
            errors[0].message.contains("MB of text"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn duplicate_keys_are_found_among_many() {
        let mut doc: String = (0..20_000).map(|i| format!("k{i}: {i}\n")).collect();
        doc.push_str("k7: again\n1: a\n\"1\": b\n1: c\n");
        let errors = parse(&doc).unwrap_err();
        let dupes: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        // `1` and `"1"` are different keys; the second `1` is a duplicate.
        assert_eq!(dupes, ["duplicate key `k7`", "duplicate key `Int(1)`"]);
    }

    #[test]
    fn tabs_in_indentation_are_named() {
        let errors = parse("model:\n\tid: x\n").unwrap_err();
        assert_eq!(errors[0].code, "E0007");
        assert_eq!(errors[0].span.unwrap().start.line, 2);
    }
}
