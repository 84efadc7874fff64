//! Names in generated code: Rust identifiers made from the user's names, and the plan that fixes
//! which module, type and function every agent and tool gets ([`Project::names`]). The plan is a
//! function of the IR, so the checks that need it ([`crate::rust_tool`]) and codegen share it
//! without the checks depending on codegen.
//!
//! The plan is a pure function of the IR, computed in one fixed order (agents by name, tools in
//! file order), so the same project always gets the same names. The Rust tool checker
//! ([`crate::rust_tool`]) asks the plan which argument type a function must take.

use crate::ir::{Project, ToolKind};
use std::collections::{BTreeMap, BTreeSet};

/// The generated module that holds each agent's tool argument types and Rust tool wrappers.
pub const AGENTS_MODULE: &str = "agents";

/// Names a Rust tool path cannot start with: they are items of the generated crate's root.
pub const RESERVED_ROOT_MODULES: &[&str] = &[AGENTS_MODULE, crate::codegen::SESSION_CLASS];

/// Rust keywords and reserved words: never identifiers of generated code.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield", "union",
];

/// Whether a word is a Rust keyword or reserved word.
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// The words of a name: split at anything that is not an ASCII letter or digit, and at case
/// changes (`orderId` → `order`, `Id`; `HTTPServer` → `HTTP`, `Server`).
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let boundary = c.is_ascii_uppercase()
            && match prev {
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `snake_case` of a name, a valid identifier that is not a keyword (`type` → `type_`), or
/// `fallback` when the name has no ASCII letters or digits.
pub fn snake_case(name: &str, fallback: &str) -> String {
    let mut out = words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_");
    if out.is_empty() {
        out = fallback.to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out = format!("{fallback}_{out}");
    }
    if is_keyword(&out) {
        out.push('_');
    }
    out
}

/// `UpperCamelCase` of a name (`lookup_order` → `LookupOrder`, `HTTP_get` → `HttpGet`); empty
/// when the name has no ASCII letters or digits.
pub fn camel_case(name: &str) -> String {
    let mut out = String::new();
    for word in words(name) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    out
}

/// A set of identifiers in one namespace; each claim gets a name no earlier claim has, by adding
/// a number when needed (`lookup_order`, `lookup_order_2`).
#[derive(Debug, Default, Clone)]
pub struct Namespace {
    taken: BTreeSet<String>,
}

impl Namespace {
    /// A namespace where `reserved` names are already taken.
    pub fn with_reserved(reserved: &[&str]) -> Self {
        Namespace {
            taken: reserved.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Claims `wanted`, or the first free `wanted{sep}N` for N = 2, 3, ...
    pub fn claim(&mut self, wanted: &str, sep: &str) -> String {
        let mut name = wanted.to_owned();
        let mut n = 2;
        while is_keyword(&name) || !self.taken.insert(name.clone()) {
            name = format!("{wanted}{sep}{n}");
            n += 1;
        }
        name
    }
}

/// The names of everything generated for a project, parallel to its agents and tools.
#[derive(Debug, Clone)]
pub struct Plan {
    pub agents: Vec<AgentPlan>,
    /// The modules of the project's Rust tools, from the tools' paths.
    pub rust_modules: ModuleTree,
}

/// The names generated for one agent.
#[derive(Debug, Clone)]
pub struct AgentPlan {
    /// The agent's module under [`AGENTS_MODULE`].
    pub module: String,
    /// Every type name of the module taken so far (argument types first, in tool order).
    pub types: Namespace,
    /// Parallel to the agent's tools.
    pub tools: Vec<ToolPlan>,
}

/// The names generated for one tool.
#[derive(Debug, Clone, Default)]
pub struct ToolPlan {
    /// The tool's argument type in its agent's module; none for builtin tools, whose arguments
    /// the runtime defines.
    pub args: Option<String>,
    /// When the tool's argument type is another tool's (same Rust function, same parameters):
    /// that type's agent module and name; `args` is then a type alias of it.
    pub alias_of: Option<(String, String)>,
    /// The function in the agent's module that runs a Rust tool.
    pub wrapper: Option<String>,
}

/// A tree of Rust modules: inline modules that hold further modules, or modules read from a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleTree {
    pub children: BTreeMap<String, ModuleNode>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleNode {
    /// A module compiled from its own file (`name.rs` or `name/mod.rs`).
    File,
    /// A module that only holds other modules (a directory).
    Dir(ModuleTree),
}

impl ModuleTree {
    /// Adds the module path of a Rust tool (`tools::orders` for `tools::orders::lookup`).
    pub fn add(&mut self, module: &[&str]) {
        let Some((first, rest)) = module.split_first() else {
            return;
        };
        let node = self.children.entry((*first).to_owned()).or_insert_with(|| {
            if rest.is_empty() {
                ModuleNode::File
            } else {
                ModuleNode::Dir(ModuleTree::default())
            }
        });
        match node {
            // A module that is both a file and a directory of tool modules is reported by the
            // Rust tool checker; the first use decides what is generated.
            ModuleNode::File => {}
            ModuleNode::Dir(_) if rest.is_empty() => {}
            ModuleNode::Dir(tree) => tree.add(rest),
        }
    }
}

/// The segments of a Rust tool path split into its module and its function, when it has a
/// directory, at least one module and a function (`tools::orders::lookup`).
pub fn split_rust_path(path: &str) -> Option<(Vec<&str>, &str)> {
    let segments: Vec<&str> = path.split("::").collect();
    let (function, module) = segments.split_last()?;
    (module.len() >= 2).then(|| (module.to_vec(), *function))
}

impl Project {
    /// The names of the project's generated code.
    pub fn names(&self) -> Plan {
        plan(self)
    }
}

/// Plans the names of a project's generated code.
pub fn plan(project: &Project) -> Plan {
    let mut modules = Namespace::with_reserved(&[AGENTS_MODULE]);
    let mut agents: Vec<AgentPlan> = Vec::new();
    let mut rust_modules = ModuleTree::default();
    // The first tool of each Rust function: its parameters and its argument type.
    let mut first_of_function: BTreeMap<&str, (&serde_json::Value, (String, String))> =
        BTreeMap::new();
    for agent in &project.agents {
        let module = modules.claim(&snake_case(&agent.name, "agent"), "_");
        let mut types = Namespace::default();
        let mut functions = Namespace::default();
        let mut tools = Vec::new();
        for tool in &agent.tools {
            let mut tool_plan = ToolPlan::default();
            if !matches!(tool.kind, ToolKind::Builtin(_)) {
                let base = camel_case(&tool.name);
                let base = if base.is_empty() { "Tool".into() } else { base };
                tool_plan.args = Some(types.claim(&format!("{base}Args"), ""));
            }
            if let ToolKind::Rust { path } = &tool.kind {
                tool_plan.wrapper = Some(functions.claim(&snake_case(&tool.name, "tool"), "_"));
                if let Some((module_path, _)) = split_rust_path(path) {
                    rust_modules.add(&module_path);
                }
                match first_of_function.get(path.as_str()) {
                    Some((parameters, target)) if **parameters == tool.parameters => {
                        tool_plan.alias_of = Some(target.clone());
                    }
                    Some(_) => {}
                    None => {
                        let args = tool_plan.args.clone().unwrap_or_default();
                        first_of_function.insert(path, (&tool.parameters, (module.clone(), args)));
                    }
                }
            }
            tools.push(tool_plan);
        }
        agents.push(AgentPlan {
            module,
            types,
            tools,
        });
    }
    Plan {
        agents,
        rust_modules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(snake_case("orderId", "f"), "order_id");
        assert_eq!(snake_case("HTTPServer", "f"), "http_server");
        assert_eq!(snake_case("support-desk", "f"), "support_desk");
        assert_eq!(snake_case("type", "f"), "type_");
        assert_eq!(snake_case("1st place", "field"), "field_1st_place");
        assert_eq!(snake_case("名前", "field"), "field");
        assert_eq!(camel_case("lookup_order"), "LookupOrder");
        assert_eq!(camel_case("HTTP_get"), "HttpGet");
        assert_eq!(camel_case("in-progress"), "InProgress");
        assert_eq!(camel_case("v2beta"), "V2beta");
        assert_eq!(camel_case("--"), "");
    }

    #[test]
    fn namespaces_number_repeats_and_skip_keywords() {
        let mut ns = Namespace::with_reserved(&["agents"]);
        assert_eq!(ns.claim("agents", "_"), "agents_2");
        assert_eq!(ns.claim("a", "_"), "a");
        assert_eq!(ns.claim("a", "_"), "a_2");
        assert_eq!(ns.claim("Self", ""), "Self2");
    }

    #[test]
    fn rust_paths_need_a_directory_a_module_and_a_function() {
        assert_eq!(
            split_rust_path("tools::orders::lookup"),
            Some((vec!["tools", "orders"], "lookup"))
        );
        assert_eq!(split_rust_path("orders::lookup"), None);
        assert_eq!(split_rust_path("lookup"), None);
    }

    #[test]
    fn module_trees_keep_files_as_files() {
        let mut tree = ModuleTree::default();
        tree.add(&["tools", "orders"]);
        tree.add(&["tools", "billing", "refunds"]);
        tree.add(&["tools", "orders", "util"]);
        let ModuleNode::Dir(tools) = &tree.children["tools"] else {
            panic!("tools is a directory")
        };
        assert_eq!(tools.children["orders"], ModuleNode::File);
        assert!(matches!(tools.children["billing"], ModuleNode::Dir(_)));
    }
}
