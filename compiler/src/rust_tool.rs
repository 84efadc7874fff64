//! Rust tools: finding the user's function and checking it against the tool's contract, with syn,
//! before anything is generated.
//!
//! # Where a Rust tool lives
//!
//! `rust: tools::orders::lookup` names the function `lookup` defined at the top level of the file
//! `tools/orders.rs` (or `tools/orders/mod.rs`) of the project root (the directory that holds
//! `agents/`). The first segment is a directory of the project root, the middle ones a module path
//! in it, the last one the function: `tools::billing::refunds::issue` is `issue` in
//! `tools/billing/refunds.rs`. The generated crate compiles these files as its modules
//! `crate::tools::orders`, ... with `#[path]`, so a tool module can use its sibling modules
//! (`crate::tools::...`), the generated argument types (`crate::agents::...`) and the crates the
//! Worker depends on (`serde`, `serde_json`, `worker`, `agentc_runtime`).
//!
//! # The contract
//!
//! ```text
//! pub async fn lookup(args: crate::agents::orders::LookupOrderArgs) -> Result<T, E>
//! ```
//! - `pub` (or `pub(crate)`), `async`, not generic, not `unsafe`;
//! - one argument, the tool's generated argument type: `crate::agents::<agent>::<Tool>Args`, the
//!   agent's name and the tool's name cased for Rust (`support-desk` → `support_desk`,
//!   `lookup_order` → `LookupOrderArgs`), named by its full path or imported with `use`;
//! - returns `Result<T, E>` (or a `Result<T>` alias) where `T: serde::Serialize` becomes the
//!   tool's JSON result and `E: std::fmt::Display` the error message the model sees.
//!
//! Several tools, in one agent or several, may share a function when their parameters are the
//! same: they then share one argument type, and the function may name it by any of their names.
//!
//! The checks are syntactic: rustc checks the bounds on `T` and `E` when the Worker compiles.
//!
//! | code | finding |
//! |---|---|
//! | E0301 | the path is not `directory::module::function`, or starts with a reserved name |
//! | E0302 | no file, or two files, for the module |
//! | E0303 | the file is not valid Rust |
//! | E0304 | no such function in the file |
//! | E0305 | the function does not have the contract's signature |
//! | E0306 | one function for tools with different parameters; a module both a file and a parent |

use crate::check::suggest;
use crate::diagnostic::Diagnostic;
use crate::ir::names::{is_keyword, split_rust_path, Plan, AGENTS_MODULE, RESERVED_ROOT_MODULES};
use crate::ir::{Agent, Project, Tool, ToolKind};
use crate::project::SourceFile;
use crate::span::Span;
use crate::yaml;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One use of a Rust function by a tool.
struct Use<'a> {
    agent: &'a Agent,
    tool: &'a Tool,
    path: &'a str,
    /// The argument type names the function may take: (agent module, type name).
    accepted: Vec<(String, String)>,
    /// The full path of the first accepted name, for help texts.
    expected: String,
}

/// A parsed tool module.
struct Module {
    /// Shown to the user: relative to the project root, `/` separators.
    shown: String,
    file: syn::File,
}

/// Checks every Rust tool of a project against its source under `root`. `files` are the agent
/// files, for the position of each tool's `rust:` value. Returns every problem found.
pub fn check(project: &Project, files: &[SourceFile], root: &Path) -> Vec<Diagnostic> {
    let plan = project.names();
    let uses = uses(project, &plan);
    let mut diagnostics = Vec::new();
    let mut modules: BTreeMap<Vec<&str>, Result<Module, Box<Diagnostic>>> = BTreeMap::new();
    // The first tool of each function, to report tools that share it with other parameters.
    let mut first: BTreeMap<&str, &Use<'_>> = BTreeMap::new();
    let all_modules: Vec<Vec<&str>> = uses
        .iter()
        .filter_map(|u| split_rust_path(u.path).map(|(m, _)| m))
        .collect();
    for u in &uses {
        let span = rust_value_span(files, u.agent, u.tool);
        let report = |diag: Diagnostic| {
            let diag = diag.in_file(&u.agent.source);
            match span {
                Some(span) => diag.at(span),
                None => diag,
            }
        };
        let tool = &u.tool.name;
        let Some((module_path, function)) = path_problem(tool, u.path, &mut diagnostics, &report)
        else {
            continue;
        };
        if let Some(first) = first.get(u.path) {
            if first.tool.parameters != u.tool.parameters {
                diagnostics.push(report(
                    Diagnostic::error(
                        "E0306",
                        format!(
                            "tool `{tool}`: `{}` is also the function of tool `{}` of agent `{}`, which has other parameters",
                            u.path, first.tool.name, first.agent.name
                        ),
                    )
                    .help("a Rust function takes one argument type: give both tools the same `parameters`, or each its own function"),
                ));
                continue;
            }
        } else {
            first.insert(u.path, u);
        }
        if let Some(parent) = all_modules
            .iter()
            .find(|m| m.len() < module_path.len() && module_path.starts_with(m))
        {
            diagnostics.push(report(
                Diagnostic::error(
                    "E0306",
                    format!(
                        "tool `{tool}`: module `{}` is inside `{}`, which holds Rust tools itself",
                        module_path.join("::"),
                        parent.join("::")
                    ),
                )
                .help("keep each tool module a file of its own, not a submodule of another tool module"),
            ));
            continue;
        }
        let module = modules
            .entry(module_path.clone())
            .or_insert_with(|| parse_module(root, &module_path));
        let module = match module {
            Ok(module) => module,
            Err(diag) => {
                diagnostics.push(report(Diagnostic {
                    message: format!("tool `{tool}`: {}", diag.message),
                    ..(**diag).clone()
                }));
                continue;
            }
        };
        for diag in check_function(module, function, u) {
            diagnostics.push(report(diag));
        }
    }
    diagnostics
}

/// Every Rust tool of the project with the argument types its function may take.
fn uses<'a>(project: &'a Project, plan: &Plan) -> Vec<Use<'a>> {
    // The names of each argument type: the type a tool defines, and the aliases other tools
    // give it.
    let mut names: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    let mut found = Vec::new();
    for (agent, agent_plan) in project.agents.iter().zip(&plan.agents) {
        for (tool, tool_plan) in agent.tools.iter().zip(&agent_plan.tools) {
            let ToolKind::Rust { path } = &tool.kind else {
                continue;
            };
            let own = (
                agent_plan.module.clone(),
                tool_plan.args.clone().unwrap_or_default(),
            );
            let canonical = tool_plan.alias_of.clone().unwrap_or_else(|| own.clone());
            names.entry(canonical.clone()).or_default().push(own);
            found.push((agent, tool, path.as_str(), canonical));
        }
    }
    found
        .into_iter()
        .map(|(agent, tool, path, canonical)| {
            let accepted = names.get(&canonical).cloned().unwrap_or_default();
            let expected = accepted
                .first()
                .map(|(module, name)| format!("crate::{AGENTS_MODULE}::{module}::{name}"))
                .unwrap_or_default();
            Use {
                agent,
                tool,
                path,
                accepted,
                expected,
            }
        })
        .collect()
}

/// The module path and function of a tool path, or `None` after reporting why it has none.
fn path_problem<'p>(
    tool: &str,
    path: &'p str,
    diagnostics: &mut Vec<Diagnostic>,
    report: &dyn Fn(Diagnostic) -> Diagnostic,
) -> Option<(Vec<&'p str>, &'p str)> {
    let help = "a Rust tool is `directory::module::function`: `tools::orders::lookup` is the function `lookup` in tools/orders.rs (or tools/orders/mod.rs) of the project root";
    let Some((module, function)) = split_rust_path(path) else {
        diagnostics.push(report(
            Diagnostic::error(
                "E0301",
                format!(
                    "tool `{tool}`: `{path}` does not name a directory, a module and a function"
                ),
            )
            .help(help),
        ));
        return None;
    };
    if let Some(keyword) = path.split("::").find(|s| is_keyword(s)) {
        diagnostics.push(report(
            Diagnostic::error(
                "E0301",
                format!("tool `{tool}`: `{path}` contains the Rust keyword `{keyword}`"),
            )
            .help(help),
        ));
        return None;
    }
    if RESERVED_ROOT_MODULES.contains(&module[0]) {
        diagnostics.push(report(
            Diagnostic::error(
                "E0301",
                format!(
                    "tool `{tool}`: `{path}` starts with `{}`, a name the generated crate uses itself",
                    module[0]
                ),
            )
            .help("keep Rust tools in another directory of the project root, such as tools/"),
        ));
        return None;
    }
    Some((module, function))
}

/// Finds and parses the file of a module.
fn parse_module(root: &Path, module: &[&str]) -> Result<Module, Box<Diagnostic>> {
    let dir: PathBuf = module.iter().collect();
    let candidates = [dir.with_extension("rs"), dir.join("mod.rs")];
    let shown = |p: &Path| p.display().to_string().replace('\\', "/");
    let existing: Vec<&PathBuf> = candidates
        .iter()
        .filter(|p| root.join(p).is_file())
        .collect();
    let relative = match existing.as_slice() {
        [one] => *one,
        [] => {
            return Err(Box::new(Diagnostic::error(
                "E0302",
                format!(
                    "no file for the module `{}`: neither {} nor {} exists",
                    module.join("::"),
                    shown(&candidates[0]),
                    shown(&candidates[1])
                ),
            )
            .help("the path is relative to the project root, the directory that holds agents/: create the file or fix the path")))
        }
        _ => {
            return Err(Box::new(Diagnostic::error(
                "E0302",
                format!(
                    "two files for the module `{}`: {} and {}",
                    module.join("::"),
                    shown(&candidates[0]),
                    shown(&candidates[1])
                ),
            )
            .help("remove one of them")))
        }
    };
    let text = std::fs::read_to_string(root.join(relative)).map_err(|err| {
        Box::new(Diagnostic::error(
            "E0302",
            format!("cannot read {}: {err}", shown(relative)),
        ))
    })?;
    let file = syn::parse_file(&text).map_err(|err| {
        let at = err.span().start();
        Box::new(
            Diagnostic::error(
                "E0303",
                format!(
                    "{}:{}:{} is not valid Rust: {err}",
                    shown(relative),
                    at.line,
                    at.column + 1
                ),
            )
            .help("fix the Rust file; `cargo check` in the generated crate shows the full error"),
        )
    })?;
    Ok(Module {
        shown: shown(relative),
        file,
    })
}

/// Checks the function a tool names against the contract.
fn check_function(module: &Module, function: &str, u: &Use<'_>) -> Vec<Diagnostic> {
    let tool = &u.tool.name;
    let functions: Vec<&syn::ItemFn> = module
        .file
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Fn(f) => Some(f),
            _ => None,
        })
        .collect();
    let expected_signature = format!(
        "expected `pub async fn {function}(args: {}) -> Result<T, E>` where T: serde::Serialize and E: std::fmt::Display",
        u.expected
    );
    let Some(item) = functions.iter().find(|f| f.sig.ident == function) else {
        let names = functions
            .iter()
            .map(|f| f.sig.ident.to_string())
            .collect::<Vec<_>>();
        let help = match suggest(function, names.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `{close}`? {expected_signature}"),
            None => format!(
                "define it at the top level of {}: {expected_signature}",
                module.shown
            ),
        };
        return vec![Diagnostic::error(
            "E0304",
            format!(
                "tool `{tool}`: there is no function `{function}` in {}",
                module.shown
            ),
        )
        .help(help)];
    };
    let sig = &item.sig;
    let line = sig.ident.span().start().line;
    let at = format!("`{function}` ({}:{line})", module.shown);
    let mut problems = Vec::new();
    let public = match &item.vis {
        syn::Visibility::Public(_) => true,
        syn::Visibility::Restricted(r) => r.path.is_ident("crate"),
        syn::Visibility::Inherited => false,
    };
    if !public {
        problems.push(format!("{at} is private: make it `pub`"));
    }
    if sig.asyncness.is_none() {
        problems.push(format!("{at} is not `async`"));
    }
    if matches!(sig.safety, syn::Safety::Unsafe(_)) || sig.abi.is_some() || sig.constness.is_some()
    {
        problems.push(format!("{at} is `unsafe`, `const` or `extern`"));
    }
    if !sig.generics.params.is_empty() || sig.variadic.is_some() {
        problems.push(format!("{at} is generic"));
    }
    let inputs: Vec<&syn::FnArg> = sig.inputs.iter().collect();
    match inputs.as_slice() {
        [syn::FnArg::Typed(arg)] if takes(&arg.ty, &u.accepted) => {}
        [syn::FnArg::Typed(arg)] => problems.push(format!(
            "{at} takes `{}`, not the tool's arguments `{}`",
            type_text(&arg.ty),
            u.expected
        )),
        _ => problems.push(format!(
            "{at} takes {} argument(s); it must take one, the tool's arguments `{}`",
            inputs.len(),
            u.expected
        )),
    }
    if !returns_result(&sig.output) {
        let found = match &sig.output {
            syn::ReturnType::Default => "nothing".to_owned(),
            syn::ReturnType::Type(_, ty) => format!("`{}`", type_text(ty)),
        };
        problems.push(format!("{at} returns {found}, not `Result<T, E>`"));
    }
    problems
        .into_iter()
        .map(|problem| {
            Diagnostic::error("E0305", format!("tool `{tool}`: {problem}"))
                .help(expected_signature.clone())
        })
        .collect()
}

/// Whether an argument type names one of the accepted types: by its name (imported), or by a
/// path that ends in the agent's module and the name.
fn takes(ty: &syn::Type, accepted: &[(String, String)]) -> bool {
    let syn::Type::Path(path) = ty else {
        return false;
    };
    if path.qself.is_some() {
        return false;
    }
    let segments: Vec<&syn::PathSegment> = path.path.segments.iter().collect();
    let Some((last, before)) = segments.split_last() else {
        return false;
    };
    if !last.arguments.is_none() {
        return false;
    }
    accepted
        .iter()
        .any(|(module, name)| last.ident == name && before.last().is_none_or(|m| m.ident == module))
}

/// Whether a return type is `Result<T, E>` or a `Result<T>` alias.
fn returns_result(output: &syn::ReturnType) -> bool {
    let syn::ReturnType::Type(_, ty) = output else {
        return false;
    };
    let syn::Type::Path(path) = &**ty else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Result" && (1..=2).contains(&args.args.len())
}

fn type_text(ty: &syn::Type) -> String {
    quote::ToTokens::to_token_stream(ty)
        .to_string()
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("& ", "&")
}

/// The span of a tool's `rust:` value in its agent file.
fn rust_value_span(files: &[SourceFile], agent: &Agent, tool: &Tool) -> Option<Span> {
    let file = files.iter().find(|f| f.path == agent.source)?;
    let root = yaml::load(&file.text).root?;
    let tool = root
        .get("tools")?
        .items()
        .iter()
        .find(|t| t.get("name").and_then(yaml::Node::as_str) == Some(tool.name.as_str()))?;
    Some(tool.get("rust")?.span)
}
