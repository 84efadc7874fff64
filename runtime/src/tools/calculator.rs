//! The builtin `calculator` tool: arithmetic on an expression, by a small parser, never by eval.
//!
//! The grammar, from the loosest binding to the tightest:
//!
//! ```text
//! expr    = term (("+" | "-") term)*
//! term    = unary (("*" | "/" | "%") unary)*
//! unary   = ("+" | "-") unary | power
//! power   = primary (("^" | "**") unary)?
//! primary = number | constant | function "(" expr ("," expr)* ")" | "(" expr ")"
//! ```
//!
//! So `^` is right-associative (`2^3^2` is 512) and binds tighter than a unary minus on its left
//! (`-2^2` is -4) but accepts one on its right (`2^-1` is 0.5). `**` is accepted as a synonym
//! because models often write it. `%` is the remainder with the sign of the dividend. Names are
//! case-insensitive. Every intermediate result must be a finite number.

use std::fmt;

/// The longest accepted expression, in characters.
pub const MAX_LEN: usize = 1000;

/// The deepest accepted nesting of parentheses, function calls, unary signs and exponents.
pub const MAX_DEPTH: usize = 64;

/// A function: its name, its number of arguments and how it is computed (from one or two).
type Function = (&'static str, usize, fn(f64, f64) -> f64);

/// The functions.
const FUNCTIONS: &[Function] = &[
    ("sqrt", 1, |x, _| x.sqrt()),
    ("abs", 1, |x, _| x.abs()),
    ("round", 1, |x, _| x.round()),
    ("floor", 1, |x, _| x.floor()),
    ("ceil", 1, |x, _| x.ceil()),
    ("ln", 1, |x, _| x.ln()),
    ("log10", 1, |x, _| x.log10()),
    ("log2", 1, |x, _| x.log2()),
    ("exp", 1, |x, _| x.exp()),
    ("sin", 1, |x, _| x.sin()),
    ("cos", 1, |x, _| x.cos()),
    ("tan", 1, |x, _| x.tan()),
    ("min", 2, f64::min),
    ("max", 2, f64::max),
    ("pow", 2, f64::powf),
];

/// The constants.
const CONSTANTS: &[(&str, f64)] = &[("pi", std::f64::consts::PI), ("e", std::f64::consts::E)];

/// Evaluates an arithmetic expression such as `2 * (3 + 4) ^ 2 / sqrt(16)`.
pub fn evaluate(expression: &str) -> Result<f64, CalcError> {
    let chars: Vec<char> = expression.chars().collect();
    if chars.len() > MAX_LEN {
        let len = chars.len();
        let message = format!("the expression is {len} characters long; the limit is {MAX_LEN}");
        return fail(MAX_LEN + 1, message);
    }
    let mut parser = Parser {
        chars,
        pos: 0,
        depth: 0,
    };
    if parser.peek().is_none() {
        return fail(1, "the expression is empty");
    }
    let value = parser.expr()?;
    match parser.peek() {
        // Adding zero turns -0 into 0, which reads better as a result.
        None => Ok(value + 0.0),
        Some(c) if is_token_start(c) => parser.fail(format!(
            "unexpected `{c}` after a complete expression (a missing operator?)"
        )),
        Some(c) => parser.fail(format!("unexpected character `{c}`")),
    }
}

/// Why an expression could not be evaluated, and where; displayed as "at column N: why".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalcError {
    /// The 1-based character column the problem was found at.
    pub column: usize,
    /// What is wrong, in words for the model.
    pub message: String,
}

impl fmt::Display for CalcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for CalcError {}

fn fail<T>(column: usize, message: impl Into<String>) -> Result<T, CalcError> {
    Err(CalcError {
        column,
        message: message.into(),
    })
}

fn finite(value: f64, column: usize, what: &str) -> Result<f64, CalcError> {
    if value.is_finite() {
        return Ok(value);
    }
    fail(
        column,
        format!("the result of {what} is not a finite number"),
    )
}

/// Whether `c` can begin or continue an expression, as opposed to being a stray character.
fn is_token_start(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.+-*/%^(),".contains(c)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
}

impl Parser {
    /// The next non-space character, without consuming it.
    fn peek(&mut self) -> Option<char> {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
        self.chars.get(self.pos).copied()
    }

    /// Consumes `c` if it is the next non-space character.
    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn column(&self) -> usize {
        self.pos + 1
    }

    /// An error at the current position.
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, CalcError> {
        fail(self.column(), message)
    }

    /// Runs `f` one nesting level deeper, refusing to go past [`MAX_DEPTH`]; `column` is where
    /// the level opens.
    fn nested<T>(
        &mut self,
        column: usize,
        f: impl FnOnce(&mut Self) -> Result<T, CalcError>,
    ) -> Result<T, CalcError> {
        if self.depth >= MAX_DEPTH {
            let message = format!("the expression nests more than {MAX_DEPTH} levels deep");
            return fail(column, message);
        }
        self.depth += 1;
        let value = f(self);
        self.depth -= 1;
        value
    }

    fn expr(&mut self) -> Result<f64, CalcError> {
        self.binary(&['+', '-'], Self::term)
    }

    fn term(&mut self) -> Result<f64, CalcError> {
        self.binary(&['*', '/', '%'], Self::unary)
    }

    /// One level of left-associative operators: `next (op next)*`.
    fn binary(
        &mut self,
        ops: &[char],
        next: fn(&mut Self) -> Result<f64, CalcError>,
    ) -> Result<f64, CalcError> {
        let mut value = next(self)?;
        while let Some(op) = self.peek().filter(|c| ops.contains(c)) {
            let column = self.column();
            self.pos += 1;
            let rhs = next(self)?;
            if matches!(op, '/' | '%') && rhs == 0.0 {
                return fail(column, "division by zero");
            }
            value = match op {
                '+' => value + rhs,
                '-' => value - rhs,
                '*' => value * rhs,
                '/' => value / rhs,
                _ => value % rhs,
            };
            value = finite(value, column, &format!("`{op}`"))?;
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<f64, CalcError> {
        match self.peek() {
            Some(sign @ ('-' | '+')) => {
                let column = self.column();
                self.pos += 1;
                let value = self.nested(column, |p| p.unary())?;
                Ok(if sign == '-' { -value } else { value })
            }
            _ => self.power(),
        }
    }

    fn power(&mut self) -> Result<f64, CalcError> {
        let base = self.primary()?;
        let width = match self.peek() {
            Some('^') => 1,
            Some('*') if self.chars.get(self.pos + 1) == Some(&'*') => 2,
            _ => return Ok(base),
        };
        let column = self.column();
        self.pos += width;
        let exponent = self.nested(column, |p| p.unary())?;
        finite(base.powf(exponent), column, "`^`")
    }

    fn primary(&mut self) -> Result<f64, CalcError> {
        match self.peek() {
            Some('(') => {
                let open_column = self.column();
                self.pos += 1;
                let value = self.nested(open_column, |p| p.expr())?;
                self.close(open_column)?;
                Ok(value)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.name(),
            Some(c) if !is_token_start(c) => self.fail(format!("unexpected character `{c}`")),
            Some(c) => self.fail(format!("expected a number, name or `(`, found `{c}`")),
            None => self.fail("expected a number, name or `(`, but the expression ends"),
        }
    }

    /// Consumes the `)` matching the `(` at `open_column`.
    fn close(&mut self, open_column: usize) -> Result<(), CalcError> {
        if self.eat(')') {
            return Ok(());
        }
        self.fail(format!(
            "missing `)` to close the `(` at column {open_column}"
        ))
    }

    /// Digits with an optional fraction and exponent: `12`, `1.5`, `.5`, `1.5e3`, `2E-4`.
    fn number(&mut self) -> Result<f64, CalcError> {
        let start = self.pos;
        let digit_at = |p: &Self, i: usize| p.chars.get(i).is_some_and(char::is_ascii_digit);
        let skip_digits = |p: &mut Self| {
            while digit_at(p, p.pos) {
                p.pos += 1;
            }
        };
        skip_digits(self);
        if self.chars.get(self.pos) == Some(&'.') {
            self.pos += 1;
            skip_digits(self);
        }
        if !self.chars[start..self.pos].iter().any(char::is_ascii_digit) {
            return fail(start + 1, "expected a number, name or `(`, found `.`");
        }
        let sign = usize::from(matches!(self.chars.get(self.pos + 1), Some('+' | '-')));
        if matches!(self.chars.get(self.pos), Some('e' | 'E'))
            && digit_at(self, self.pos + 1 + sign)
        {
            self.pos += 1 + sign;
            skip_digits(self);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() => Ok(value),
            _ => fail(start + 1, format!("the number {text} is too large")),
        }
    }

    /// A constant, or a function and its parenthesised arguments.
    fn name(&mut self) -> Result<f64, CalcError> {
        let start = self.pos;
        let column = start + 1;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let lower = name.to_ascii_lowercase();
        let called = self.peek() == Some('(');
        if let Some(&(_, value)) = CONSTANTS.iter().find(|(n, _)| *n == lower) {
            if called {
                return fail(column, format!("`{name}` is a constant, not a function"));
            }
            return Ok(value);
        }
        let Some(&(function, arity, compute)) = FUNCTIONS.iter().find(|(n, ..)| *n == lower) else {
            let functions: Vec<&str> = FUNCTIONS.iter().map(|function| function.0).collect();
            let functions = functions.join(", ");
            let known = format!("the functions are {functions} and the constants are pi, e");
            return fail(column, format!("unknown name `{name}`; {known}"));
        };
        if !called {
            return fail(
                column,
                format!("`{name}` is a function; call it as {name}(...)"),
            );
        }
        let open_column = self.column();
        self.pos += 1;
        let args = self.nested(open_column, |p| {
            let mut args = vec![p.expr()?];
            while p.eat(',') {
                args.push(p.expr()?);
            }
            p.close(open_column)?;
            Ok(args)
        })?;
        if args.len() != arity {
            let s = if arity == 1 { "" } else { "s" };
            let found = args.len();
            return fail(
                column,
                format!("`{function}` takes {arity} argument{s}, found {found}"),
            );
        }
        let value = compute(args[0], args.get(1).copied().unwrap_or(0.0));
        finite(value, column, &format!("`{function}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What evaluating an expression should give.
    enum Want {
        Value(f64),
        /// A substring of the error's Display, column included.
        Error(&'static str),
    }
    use Want::{Error, Value};

    const PI: f64 = std::f64::consts::PI;
    const E: f64 = std::f64::consts::E;

    #[test]
    fn expressions() {
        let cases: &[(&str, Want)] = &[
            // Numbers.
            ("42", Value(42.0)),
            ("  7  ", Value(7.0)),
            ("1.5", Value(1.5)),
            (".5", Value(0.5)),
            ("2.", Value(2.0)),
            ("1.5e3", Value(1500.0)),
            ("2E-2", Value(0.02)),
            // Precedence.
            ("1 + 2 * 3", Value(7.0)),
            ("(1 + 2) * 3", Value(9.0)),
            ("2 * 3 ^ 2", Value(18.0)),
            ("10 - 4 / 2", Value(8.0)),
            ("1 + 7 % 4", Value(4.0)),
            // Associativity.
            ("10 - 4 - 3", Value(3.0)),
            ("100 / 10 / 5", Value(2.0)),
            ("2 ^ 3 ^ 2", Value(512.0)),
            ("2 ** 3 ** 2", Value(512.0)),
            ("(2 ^ 3) ^ 2", Value(64.0)),
            ("17 % 5 % 3", Value(2.0)),
            // Unary signs and powers.
            ("-2 ^ 2", Value(-4.0)),
            ("(-2) ^ 2", Value(4.0)),
            ("2 ^ -1", Value(0.5)),
            ("-2 ^ -2", Value(-0.25)),
            ("--3", Value(3.0)),
            ("3 - -3", Value(6.0)),
            ("2 * -3", Value(-6.0)),
            ("-7 % 3", Value(-1.0)),
            ("-0", Value(0.0)),
            ("5.5 % 2", Value(1.5)),
            // Functions and constants.
            ("sqrt(16)", Value(4.0)),
            ("abs(-3.5)", Value(3.5)),
            ("round(2.5)", Value(3.0)),
            ("round(-2.5)", Value(-3.0)),
            ("floor(-1.5)", Value(-2.0)),
            ("ceil(1.2)", Value(2.0)),
            ("ln(e)", Value(1.0)),
            ("log10(1000)", Value(3.0)),
            ("log2(1024)", Value(10.0)),
            ("exp(0)", Value(1.0)),
            ("sin(0) + cos(0)", Value(1.0)),
            ("min(3, -1)", Value(-1.0)),
            ("max(3, -1)", Value(3.0)),
            ("pow(2, 10)", Value(1024.0)),
            ("pi", Value(PI)),
            ("2 * PI", Value(2.0 * PI)),
            ("E", Value(E)),
            ("Sqrt(9)", Value(3.0)),
            ("sqrt(max(9, 16)) * (1 + 1)", Value(8.0)),
            ("-sqrt(4)^2", Value(-4.0)),
            ("\t2\n*\n3", Value(6.0)),
            // Empty and stray input.
            ("", Error("at column 1: the expression is empty")),
            ("2 $ 3", Error("at column 3: unexpected character `$`")),
            ("2 + 3!", Error("at column 6: unexpected character `!`")),
            ("2 3", Error("at column 3: unexpected `3` after a complete expression")),
            ("2(3)", Error("at column 2: unexpected `(` after")),
            ("(1))", Error("at column 4: unexpected `)` after")),
            ("2e", Error("at column 2: unexpected `e` after")),
            ("1.2.3", Error("at column 4: unexpected `.` after")),
            ("1 +", Error("at column 4: expected a number, name or `(`, but the expression ends")),
            ("* 2", Error("at column 1: expected a number, name or `(`, found `*`")),
            ("2 * * 3", Error("at column 5: expected a number, name or `(`, found `*`")),
            ("()", Error("at column 2: expected a number, name or `(`, found `)`")),
            (".", Error("at column 1: expected a number, name or `(`, found `.`")),
            ("max(1,)", Error("at column 7: expected a number, name or `(`, found `)`")),
            // Parentheses.
            ("(1 + 2", Error("at column 7: missing `)` to close the `(` at column 1")),
            ("sqrt(4", Error("at column 7: missing `)` to close the `(` at column 5")),
            ("min(1 2)", Error("at column 7: missing `)` to close the `(` at column 4")),
            // Names.
            ("foo + 1", Error("at column 1: unknown name `foo`; the functions are sqrt, abs, round, floor, ceil, ln, log10, log2, exp, sin, cos, tan, min, max, pow and the constants are pi, e")),
            ("2 * x", Error("at column 5: unknown name `x`")),
            ("sqrt 4", Error("at column 1: `sqrt` is a function; call it as sqrt(...)")),
            ("pi(2)", Error("at column 1: `pi` is a constant, not a function")),
            ("sqrt(1, 2)", Error("at column 1: `sqrt` takes 1 argument, found 2")),
            ("1 + max(1)", Error("at column 5: `max` takes 2 arguments, found 1")),
            ("pow(1, 2, 3)", Error("at column 1: `pow` takes 2 arguments, found 3")),
            // Arithmetic errors.
            ("1 / 0", Error("at column 3: division by zero")),
            ("1 / (2 - 2)", Error("at column 3: division by zero")),
            ("5 % 0", Error("at column 3: division by zero")),
            ("sqrt(-1)", Error("at column 1: the result of `sqrt` is not a finite number")),
            ("ln(0)", Error("the result of `ln` is not a finite number")),
            ("10 ^ 400", Error("at column 4: the result of `^` is not a finite number")),
            ("pow(10, 400)", Error("the result of `pow` is not a finite number")),
            ("exp(1000)", Error("the result of `exp` is not a finite number")),
            ("1e308 * 10", Error("at column 7: the result of `*` is not a finite number")),
            ("1e308 + 1e308", Error("at column 7: the result of `+` is not a finite number")),
            ("(-8) ^ 0.5", Error("the result of `^` is not a finite number")),
            ("2 + 1e999", Error("at column 5: the number 1e999 is too large")),
        ];
        let mut failures = Vec::new();
        for (expression, want) in cases {
            match (evaluate(expression), want) {
                (Ok(got), Value(value)) if (got - value).abs() <= 1e-12 * value.abs().max(1.0) => {}
                (Err(err), Error(text)) if err.to_string().contains(text) => {}
                (got, Value(value)) => {
                    failures.push(format!("{expression:?}: want {value}, got {got:?}"))
                }
                (got, Error(text)) => failures.push(format!(
                    "{expression:?}: want error containing {text:?}, got {:?}",
                    got.map_err(|e| e.to_string())
                )),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(evaluate("-0").unwrap().is_sign_positive());
    }

    #[test]
    fn errors_carry_the_column() {
        let err = evaluate("1 + foo").unwrap_err();
        assert_eq!(err.column, 5);
        assert!(err.message.starts_with("unknown name `foo`"), "{err}");
        // Columns count characters, not bytes.
        assert_eq!(evaluate("é").unwrap_err().column, 1);
        assert_eq!(evaluate("1 + é").unwrap_err().column, 5);
    }

    #[test]
    fn nesting_is_limited_without_overflowing_the_stack() {
        let too_deep = |expression: &str, column: usize| {
            let err = evaluate(expression).unwrap_err();
            assert_eq!(err.column, column, "{expression}");
            assert!(err.message.contains("more than 64 levels deep"), "{err}");
        };
        let nested = |depth: usize| format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
        assert_eq!(evaluate(&nested(MAX_DEPTH)), Ok(1.0));
        too_deep(&nested(MAX_DEPTH + 1), MAX_DEPTH + 1);
        too_deep(
            &format!("1 + {}1", "- ".repeat(MAX_DEPTH + 1)),
            5 + 2 * MAX_DEPTH,
        );
        // Within the length limit, each kind of nesting is cut off at the depth limit.
        too_deep(&"(".repeat(MAX_LEN), MAX_DEPTH + 1);
        too_deep(&("-".repeat(MAX_LEN - 1) + "1"), MAX_DEPTH + 1);
        too_deep(&"sqrt(".repeat(MAX_LEN / 5), 5 * MAX_DEPTH + 5);
        too_deep(&("2^".repeat(MAX_LEN / 2 - 1) + "1"), 2 * MAX_DEPTH + 2);

        // Too long to be evaluated at all, so refused before parsing.
        assert_eq!(
            evaluate(&"(".repeat(10_000)).unwrap_err().to_string(),
            "at column 1001: the expression is 10000 characters long; the limit is 1000"
        );
    }
}
