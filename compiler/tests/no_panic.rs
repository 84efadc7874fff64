//! The loader and the checker never panic: a bounded, deterministic fuzz run over mutations of
//! every fixture, so CI exercises it without cargo-fuzz. `compiler/fuzz/` holds the cargo-fuzz
//! target for longer runs.

use agentc::project::{check_file, SourceFile};
use std::path::{Path, PathBuf};

/// Pieces of YAML, templates and regexes that tend to reach unusual paths.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "\n",
    "\n  ",
    "\n    - ",
    "\t",
    "{",
    "}",
    "[",
    "]",
    ",",
    "&a ",
    "*a",
    "&b [*a, *a]",
    "|",
    "|-\n  ",
    ">\n  ",
    "'",
    "\"",
    "\\",
    "#",
    "---\n",
    "...\n",
    "? ",
    "!!str ",
    "~",
    "null",
    "1e999",
    "-0x1",
    "0o7",
    ".nan",
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "{{ now | date }}",
    "{{ args.",
    "{{ secrets.X }}",
    "{% for x in y %}",
    "(",
    ")",
    "(?",
    "\\p{L}",
    "[^",
    "a{99999}",
    "é",
    "🦀",
    "\u{0}",
    "\r\n",
    "tools:\n  - name: x\n    builtin: clock\n",
    "routing:\n  - when: { matches: \"(\" }\n    model: x\n",
    "model: {id: \"@cf/meta/llama-3.1-8b-instruct\"}\n",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs: Vec<PathBuf> = vec![
        root.join("tests/fixtures/good"),
        root.join("tests/fixtures/bad"),
        root.join("../agents"),
    ];
    let mut texts = Vec::new();
    for dir in dirs.drain(..) {
        for path in agentc::project::agent_files(&dir).expect("fixture dir") {
            texts.push(std::fs::read_to_string(path).expect("readable"));
        }
    }
    texts
}

/// One random edit of `text`, always at character boundaries.
fn mutate(rng: &mut Rng, text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = rng.below(chars.len() + 1);
    let (before, after) = chars.split_at(at);
    let before: String = before.iter().collect();
    let after: String = after.iter().collect();
    match rng.below(6) {
        0 => format!("{before}{}{after}", TOKENS[rng.below(TOKENS.len())]),
        1 => {
            let cut = rng.below(after.chars().count().min(40) + 1);
            format!("{before}{}", after.chars().skip(cut).collect::<String>())
        }
        2 => {
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = rng.below(lines.len());
                let j = rng.below(lines.len());
                lines.swap(i, j);
                let k = rng.below(lines.len());
                lines.insert(k, lines[i]);
            }
            lines.join("\n")
        }
        3 => {
            let c = char::from(32 + rng.below(95) as u8);
            format!("{before}{c}{after}")
        }
        4 => {
            // Indent or dedent the line the cursor is on.
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let (head, tail) = before.split_at(line_start);
            let pad = " ".repeat(rng.below(5));
            format!("{head}{pad}{}{after}", tail.trim_start_matches(' '))
        }
        _ => format!(
            "{before}{}{after}",
            TOKENS[rng.below(TOKENS.len())].repeat(1 + rng.below(50))
        ),
    }
}

fn check(text: String) {
    let file = SourceFile {
        path: PathBuf::from("fuzz.yaml"),
        text,
    };
    // Rendering is part of what a user runs, so it must not panic either.
    let (_, diagnostics, _) = check_file(&file);
    for diag in &diagnostics {
        let _ = diag.render(Some(&file.text));
        let _ = diag.to_json();
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..3000 {
        let mut text = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rng.below(4) {
            text = mutate(&mut rng, &text);
        }
        check(text);
    }
}

#[test]
fn hostile_inputs_never_panic() {
    let deep_flow = format!("a: {}{}", "[".repeat(500), "]".repeat(500));
    let deep_block: String = (0..200)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
            p = i - 1
        ));
    }
    let template = format!(
        "name: t\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: \"{}\"\n",
        "{{ (".repeat(300)
    );
    let regex = "name: r\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: s\nrouting:\n  - when: { matches: \"((((((((((a*)*)*)*)*)*)*)*)*)*){1000}{1000}\" }\n    tools: []\n";
    let inputs = [
        String::new(),
        "\u{feff}".into(),
        "---\n---\n".into(),
        "*unknown".into(),
        "[1, 2".into(),
        "\t".into(),
        "a: |\n\tb\n".into(),
        "system: |2\n  x\n".into(),
        deep_flow,
        deep_block,
        bomb,
        template,
        regex.into(),
        "name: x\nmodel: 99999999999999999999999\nmax_steps: 1e400\n".into(),
        "? [a, b]\n: c\n1: 2\ntrue: false\n".into(),
        "x".repeat(100_000),
    ];
    for input in inputs {
        check(input);
    }
}
