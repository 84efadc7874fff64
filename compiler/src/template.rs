//! agentc's template language: the system prompt and HTTP tools' `url`, header values and
//! `body`. Templates are parsed here, checked (`check/template.rs`) and compiled into Rust
//! (`codegen/templates.rs`); the Worker holds no template engine.
//!
//! The language is the part of Jinja2 agents need, and nothing the generated code cannot do:
//! - `{{ expr }}` prints a value; `expr` is a variable with attributes (`args.location`) or a
//!   string literal, followed by filters (`| urlencode`, `| default("none")`);
//! - `{% if expr %}`, `{% elif expr %}`, `{% else %}`, `{% endif %}`, with `not`;
//! - `{# comment #}`.
//!
//! Anything else (`for`, `set`, macros, includes, operators) is a syntax error naming what is
//! supported. Every node keeps its byte offset in the template, for diagnostics.

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Text printed as it is.
    Text(String),
    /// `{{ expr }}`.
    Print(Expr),
    /// `{% if %}` with its `elif` branches and `else`.
    If {
        branches: Vec<(Cond, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
}

/// A condition: an expression, maybe negated with `not`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub negated: bool,
    pub expr: Expr,
}

/// A value and the filters applied to it, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub base: Base,
    pub filters: Vec<Filter>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Base {
    /// A variable and its attributes (`args.location`), each with its offset.
    Path(Vec<(String, usize)>),
    /// A string literal.
    Str(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub name: String,
    pub args: Vec<Literal>,
    /// Offset of the filter's name.
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
}

/// The filters the compiled code implements, with how many arguments each takes (min, max).
pub const FILTERS: &[(&str, usize, usize)] = &[
    ("capitalize", 0, 0),
    ("d", 1, 1),
    ("date", 0, 0),
    ("datetime", 0, 0),
    ("default", 1, 1),
    ("first", 0, 0),
    ("join", 0, 1),
    ("last", 0, 0),
    ("length", 0, 0),
    ("lower", 0, 0),
    ("replace", 2, 2),
    ("string", 0, 0),
    ("title", 0, 0),
    ("tojson", 0, 0),
    ("trim", 0, 0),
    ("upper", 0, 0),
    ("urlencode", 0, 0),
    ("urlencode_segment", 0, 0),
];

/// Whether a text is a template at all (plain text is used as it is).
pub fn is_template(source: &str) -> bool {
    source.contains("{{") || source.contains("{%") || source.contains("{#")
}

/// A syntax error at a byte offset of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, SyntaxError> {
    Err(SyntaxError {
        at,
        message: message.into(),
    })
}

/// Parses a template.
pub fn parse(source: &str) -> Result<Template, SyntaxError> {
    let mut parser = Parser {
        src: source,
        pos: 0,
    };
    let (nodes, end) = parser.nodes()?;
    match end {
        End::Eof => Ok(Template { nodes }),
        End::Tag(tag, at) => err(at, format!("unexpected `{tag}` without a matching `if`")),
    }
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
}

/// What ended a run of nodes.
enum End {
    Eof,
    /// `elif`, `else` or `endif`, and the offset of the keyword.
    Tag(&'static str, usize),
}

const SUPPORTED: &str = "agentc templates support `{{ value | filter }}`, `{% if %}`/`{% elif %}`/`{% else %}`/`{% endif %}` and `{# comments #}`";

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    /// Nodes up to the end of the template or an `elif`/`else`/`endif` tag (consumed).
    fn nodes(&mut self) -> Result<(Vec<Node>, End), SyntaxError> {
        let mut nodes = Vec::new();
        loop {
            let rest = self.rest();
            let next = ["{{", "{%", "{#"]
                .iter()
                .filter_map(|t| rest.find(t))
                .min()
                .unwrap_or(rest.len());
            if next > 0 {
                nodes.push(Node::Text(rest[..next].to_owned()));
                self.pos += next;
            }
            if self.pos >= self.src.len() {
                return Ok((nodes, End::Eof));
            }
            let open = self.pos;
            if self.eat("{#") {
                match self.rest().find("#}") {
                    Some(end) => self.pos += end + 2,
                    None => return err(open, "comment `{#` is never closed with `#}`"),
                }
            } else if self.eat("{{") {
                self.no_whitespace_control()?;
                let expr = self.expr()?;
                self.skip_ws();
                self.close("}}", "end of variable block")?;
                nodes.push(Node::Print(expr));
            } else {
                self.eat("{%");
                self.no_whitespace_control()?;
                self.skip_ws();
                let at = self.pos;
                let keyword = self.ident().unwrap_or_default();
                match keyword.as_str() {
                    "if" => {
                        let cond = self.cond()?;
                        self.close("%}", "end of block")?;
                        nodes.push(self.if_node(cond)?);
                    }
                    "elif" | "else" | "endif" => {
                        let tag = match keyword.as_str() {
                            "elif" => "elif",
                            "else" => "else",
                            _ => "endif",
                        };
                        if tag != "elif" {
                            self.skip_ws();
                            self.close("%}", "end of block")?;
                        }
                        return Ok((nodes, End::Tag(tag, at)));
                    }
                    "" => return err(at, format!("expected a statement; {SUPPORTED}")),
                    other => {
                        return err(at, format!("unknown statement `{other}`; {SUPPORTED}"));
                    }
                }
            }
        }
    }

    /// The rest of an `if` whose condition has been read.
    fn if_node(&mut self, first: Cond) -> Result<Node, SyntaxError> {
        let mut branches = Vec::new();
        let mut cond = first;
        loop {
            let (body, end) = self.nodes()?;
            branches.push((cond, body));
            match end {
                End::Tag("elif", _) => {
                    cond = self.cond()?;
                    self.close("%}", "end of block")?;
                }
                End::Tag("else", _) => {
                    let (otherwise, end) = self.nodes()?;
                    return match end {
                        End::Tag("endif", _) => Ok(Node::If {
                            branches,
                            otherwise,
                        }),
                        End::Tag(tag, at) => err(at, format!("unexpected `{tag}` after `else`")),
                        End::Eof => err(
                            self.src.len(),
                            "`{% if %}` is never closed with `{% endif %}`",
                        ),
                    };
                }
                End::Tag(_, _) => {
                    return Ok(Node::If {
                        branches,
                        otherwise: Vec::new(),
                    })
                }
                End::Eof => {
                    return err(
                        self.src.len(),
                        "`{% if %}` is never closed with `{% endif %}`",
                    )
                }
            }
        }
    }

    fn no_whitespace_control(&mut self) -> Result<(), SyntaxError> {
        if self.rest().starts_with('-') || self.rest().starts_with('+') {
            return err(
                self.pos,
                "whitespace control (`{{-`, `-}}`) is not supported",
            );
        }
        Ok(())
    }

    fn close(&mut self, token: &str, what: &str) -> Result<(), SyntaxError> {
        self.skip_ws();
        if self.eat(token) {
            return Ok(());
        }
        let found = match self.rest().chars().next() {
            Some(c) => format!("unexpected `{c}`"),
            None => "unexpected end of template".to_owned(),
        };
        let hint = if self.rest().starts_with('-') {
            " (whitespace control is not supported)"
        } else {
            ""
        };
        err(self.pos, format!("{found}, expected {what}{hint}"))
    }

    fn ident(&mut self) -> Option<String> {
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return None;
        }
        let ident = rest[..len].to_owned();
        self.pos += len;
        Some(ident)
    }

    fn cond(&mut self) -> Result<Cond, SyntaxError> {
        self.skip_ws();
        let start = self.pos;
        let negated = match self.ident() {
            Some(word) if word == "not" => true,
            _ => {
                self.pos = start;
                false
            }
        };
        let expr = self.expr()?;
        Ok(Cond { negated, expr })
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.skip_ws();
        let at = self.pos;
        let base = if self.rest().starts_with(['"', '\'']) {
            Base::Str(self.string()?)
        } else if let Some(first) = self.ident() {
            if matches!(first.as_str(), "not" | "and" | "or" | "in" | "is") {
                return err(at, format!("`{first}` is not supported here; {SUPPORTED}"));
            }
            let mut path = vec![(first, at)];
            loop {
                let dot = self.pos;
                if !self.eat(".") {
                    break;
                }
                let at = self.pos;
                match self.ident() {
                    Some(attr) => path.push((attr, at)),
                    None => return err(dot, "expected an attribute name after `.`"),
                }
            }
            Base::Path(path)
        } else {
            return match self.rest().chars().next() {
                Some(c) => err(
                    at,
                    format!("unexpected `{c}`, expected a variable or a string"),
                ),
                None => err(at, "unexpected end of template, expected a variable"),
            };
        };
        let mut filters = Vec::new();
        loop {
            self.skip_ws();
            if !self.eat("|") {
                break;
            }
            self.skip_ws();
            let at = self.pos;
            let Some(name) = self.ident() else {
                return err(at, "expected a filter name after `|`");
            };
            let mut args = Vec::new();
            if self.eat("(") {
                loop {
                    self.skip_ws();
                    if self.eat(")") {
                        break;
                    }
                    if !args.is_empty() {
                        if !self.eat(",") {
                            return err(self.pos, "expected `,` or `)` in the filter's arguments");
                        }
                        self.skip_ws();
                    }
                    args.push(self.literal()?);
                }
            }
            filters.push(Filter { name, args, at });
        }
        let next = self.rest().trim_start();
        if !(next.starts_with("}}") || next.starts_with("%}") || next.is_empty()) {
            let at = self.src.len() - next.len();
            if let Some(op) = ["[", "(", "+", "-", "*", "/", "~", "==", "!=", "<", ">"]
                .iter()
                .find(|op| next.starts_with(**op))
            {
                return err(at, format!("`{op}` is not supported; {SUPPORTED}"));
            }
        }
        Ok(Expr { base, filters })
    }

    fn literal(&mut self) -> Result<Literal, SyntaxError> {
        if self.rest().starts_with(['"', '\'']) {
            return Ok(Literal::Str(self.string()?));
        }
        let at = self.pos;
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        match rest[..len].parse::<i64>() {
            Ok(n) => {
                self.pos += len;
                Ok(Literal::Int(n))
            }
            Err(_) => err(at, "filter arguments are string literals or whole numbers"),
        }
    }

    /// A string literal in `"` or `'`, with `\` escapes of the quote, `\`, `n` and `t`.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let at = self.pos;
        let quote = self.rest().chars().next().expect("at a quote");
        self.pos += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        err(at, "string literal is never closed")
    }
}

impl Template {
    /// Every expression of the template (printed ones and conditions), in source order.
    pub fn exprs(&self) -> Vec<&Expr> {
        fn walk<'t>(nodes: &'t [Node], out: &mut Vec<&'t Expr>) {
            for node in nodes {
                match node {
                    Node::Text(_) => {}
                    Node::Print(expr) => out.push(expr),
                    Node::If {
                        branches,
                        otherwise,
                    } => {
                        for (cond, body) in branches {
                            out.push(&cond.expr);
                            walk(body, out);
                        }
                        walk(otherwise, out);
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(parts: &[(&str, usize)]) -> Base {
        Base::Path(parts.iter().map(|(p, at)| (p.to_string(), *at)).collect())
    }

    #[test]
    fn prints_conditions_and_comments() {
        let t = parse(
            "Hi {{ agent.name | lower }}{# no #}{% if not session.id %}!{% else %}?{% endif %}",
        )
        .unwrap();
        assert_eq!(t.nodes.len(), 3);
        assert_eq!(
            t.nodes[1],
            Node::Print(Expr {
                base: path(&[("agent", 6), ("name", 12)]),
                filters: vec![Filter {
                    name: "lower".into(),
                    args: vec![],
                    at: 19
                }],
            })
        );
        let Node::If {
            branches,
            otherwise,
        } = &t.nodes[2]
        else {
            panic!("{:?}", t.nodes[2]);
        };
        assert!(branches[0].0.negated);
        assert_eq!(branches[0].1, vec![Node::Text("!".into())]);
        assert_eq!(otherwise, &vec![Node::Text("?".into())]);
    }

    #[test]
    fn filter_arguments_are_literals() {
        let t =
            parse(r#"{{ args.q | default("a \"b\"") | replace('x', "y") | join(0) }}"#).unwrap();
        let Node::Print(expr) = &t.nodes[0] else {
            panic!()
        };
        assert_eq!(expr.filters[0].args, vec![Literal::Str("a \"b\"".into())]);
        assert_eq!(
            expr.filters[1].args,
            vec![Literal::Str("x".into()), Literal::Str("y".into())]
        );
        assert_eq!(expr.filters[2].args, vec![Literal::Int(0)]);
    }

    #[test]
    fn elif_chains() {
        let t = parse("{% if a %}1{% elif b %}2{% elif c %}3{% endif %}").unwrap();
        let Node::If {
            branches,
            otherwise,
        } = &t.nodes[0]
        else {
            panic!()
        };
        assert_eq!(branches.len(), 3);
        assert!(otherwise.is_empty());
    }

    /// Sources and (offset, start of message) of their first error.
    const BAD: &[(&str, usize, &str)] = &[
        (
            "Today is {{ now | date }.",
            23,
            "unexpected `}`, expected end of variable block",
        ),
        (
            "{{ now ",
            7,
            "unexpected end of template, expected end of variable block",
        ),
        (
            "{% for m in messages %}x{% endfor %}",
            3,
            "unknown statement `for`",
        ),
        ("{% set x = 1 %}", 3, "unknown statement `set`"),
        ("{% if a %}x", 11, "`{% if %}` is never closed"),
        (
            "x{% endif %}",
            4,
            "unexpected `endif` without a matching `if`",
        ),
        ("{{ a + b }}", 5, "`+` is not supported"),
        ("{{ a[0] }}", 4, "`[` is not supported"),
        ("{{ a | }}", 7, "expected a filter name"),
        ("{{- a }}", 2, "whitespace control"),
        ("{# open", 0, "comment `{#` is never closed"),
        ("{{ 'open }}", 3, "string literal is never closed"),
        ("{{ a and b }}", 5, "unexpected `a`"),
    ];

    #[test]
    fn unsupported_syntax_is_an_error_with_its_offset() {
        for (source, at, message) in BAD {
            let error = parse(source).unwrap_err();
            assert_eq!(error.at, *at, "{source}: {error:?}");
            assert!(error.message.starts_with(message), "{source}: {error:?}");
        }
    }
}
