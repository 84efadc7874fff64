//! Code generation: from the IR to the files of a Worker crate and its `wrangler.toml` block.
//!
//! Output is a pure function of the IR and the [`Layout`]: same input, byte-identical files.
//! Generated Rust uses fully qualified paths (`::worker::Response`, `::std::string::String`) so
//! nothing the user's tool modules bring into scope can change its meaning, and is formatted by
//! prettyplease.
//!
//! The generated `src/lib.rs` holds, in this order:
//! - `pub mod tools` (or whatever directories the Rust tools live in): the project's own Rust
//!   modules, included with `#[path]` relative to the crate, so they compile as part of it;
//! - `pub mod agents`: one module per agent (its name in snake case) with a Rust type for each
//!   tool's arguments ([`types`]) and, for each Rust tool, a wrapper that decodes the model's
//!   arguments into that type, calls the function and encodes its result;
//! - `static AGENTS`: each agent's [`agentc_runtime::AgentSpec`] (model, prompt template, tools
//!   with their JSON Schema);
//! - the Worker's fetch handler and the session Durable Object class, both thin calls into the
//!   runtime.

pub mod manifest;
/// The naming plan is a function of the IR ([`crate::ir::names`]); codegen reads it from there.
pub use crate::ir::names;
mod spec;
mod templates;
pub mod types;

use crate::ir::{Builtin, Project, ToolKind};
use names::{ModuleNode, ModuleTree, Plan, AGENTS_MODULE};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::path::PathBuf;

pub use manifest::{merge_wrangler_toml, WranglerError};

/// The name of the generated Durable Object class that holds sessions.
pub const SESSION_CLASS: &str = "Session";
/// The workers-rs version the generated crate is built with (and worker-build must match).
pub const WORKER_VERSION: &str = "0.8.7";
/// The wasm-bindgen version, pinned exactly so the CLI and the library agree.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";
/// The compatibility date written to `wrangler.toml` and the local runtime config. It must not be
/// later than the date of the pinned workerd.
pub const COMPATIBILITY_DATE: &str = "2026-04-20";

/// A file to write, relative to the directory it is emitted into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: PathBuf,
    pub contents: String,
}

/// Where the generated files refer to, as relative paths with `/` separators.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The runtime crate, relative to the generated crate's directory.
    pub runtime_path: String,
    /// The project root (where the Rust tools' directories are), relative to the generated
    /// crate's `src/` directory.
    pub project_path: String,
    /// The compiled Worker's entry module, relative to the directory of `wrangler.toml`.
    pub main_path: String,
    /// The Worker's name in `wrangler.toml`.
    pub worker_name: String,
}

/// Everything codegen produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The files of the Worker crate, relative to its directory.
    pub crate_files: Vec<File>,
    /// agentc's block of `wrangler.toml` (see [`manifest`]); [`merge_wrangler_toml`] puts it
    /// into the file.
    pub wrangler_block: String,
}

impl Generated {
    /// `wrangler.toml` as a first build writes it.
    pub fn fresh_wrangler_toml(&self) -> String {
        manifest::fresh_wrangler_toml(&self.wrangler_block)
    }
}

/// Generates every file of the Worker.
pub fn generate(project: &Project, layout: &Layout) -> Generated {
    Generated {
        crate_files: vec![
            File {
                path: PathBuf::from("Cargo.toml"),
                contents: manifest::cargo_toml(layout, &runtime_features(project)),
            },
            File {
                path: PathBuf::from("src/lib.rs"),
                contents: lib_rs(project, layout),
            },
        ],
        wrangler_block: manifest::wrangler_block(project, layout),
    }
}

/// The runtime features the project's agents use, in a fixed order: `tools` (any tool),
/// `http-tools`, `calculator`, `clock`, `routing` (rules or fallbacks), `cache`, `rate-limit`,
/// `auth`, `cors`, `page` (the chat page at `/`, when an agent is listed in it), `mcp` (MCP
/// servers), `approvals` (a tool, or an allowed MCP tool, whose calls wait for approval),
/// `ui-stream` (the AI SDK's protocol, `ai_sdk: true`). A feature no agent uses is left out, and
/// with it its code.
pub fn runtime_features(project: &Project) -> Vec<&'static str> {
    let mut used = std::collections::BTreeSet::new();
    for agent in &project.agents {
        if !agent.tools.is_empty() {
            used.insert(0);
        }
        for tool in &agent.tools {
            match tool.kind {
                ToolKind::Http(_) => used.insert(1),
                ToolKind::Builtin(Builtin::Calculator) => used.insert(2),
                ToolKind::Builtin(Builtin::Clock) => used.insert(3),
                ToolKind::Rust { .. } => false,
            };
        }
        if !agent.routes.is_empty() || !agent.model.fallbacks.is_empty() {
            used.insert(4);
        }
        let approval = agent.tools.iter().any(|t| t.approval)
            || agent.mcp.iter().flat_map(|m| &m.tools).any(|t| t.approval);
        for (on, feature) in [
            (agent.page, 9),
            (!agent.mcp.is_empty(), 10),
            (agent.cache.is_some(), 5),
            (agent.rate_limit.is_some(), 6),
            (agent.auth.is_some(), 7),
            (agent.cors.is_some(), 8),
            (approval, 11),
            (agent.ai_sdk, 12),
        ] {
            if on {
                used.insert(feature);
            }
        }
    }
    const FEATURES: [&str; 13] = [
        "tools",
        "http-tools",
        "calculator",
        "clock",
        "routing",
        "cache",
        "rate-limit",
        "auth",
        "cors",
        "page",
        "mcp",
        "approvals",
        "ui-stream",
    ];
    used.into_iter().map(|i| FEATURES[i]).collect()
}

/// The chat page's static and the fetch handler's call: without a listed agent, no page (and
/// the runtime's `page` feature is off).
fn fetch_call(project: &Project) -> (TokenStream, TokenStream) {
    let listed: Vec<&str> = project
        .agents
        .iter()
        .filter(|a| a.page)
        .map(|a| a.name.as_str())
        .collect();
    if listed.is_empty() {
        return (
            quote!(),
            quote!(::agentc_runtime::platform::handle(req, env, AGENTS).await),
        );
    }
    let page = quote! {
        /// The chat page at `/`: the agents it lists.
        static PAGE: ::agentc_runtime::page::Page = ::agentc_runtime::page::Page {
            agents: &[#(#listed),*],
        };
    };
    let call = quote!(::agentc_runtime::platform::handle_with_page(req, env, AGENTS, &PAGE).await);
    (page, call)
}

fn header(project: &Project) -> String {
    let sources: Vec<String> = project
        .agents
        .iter()
        .map(|a| a.source.display().to_string().replace('\\', "/"))
        .collect();
    format!(
        " Generated by agentc from {}. Do not edit: change the agent files and run `agentc build`.",
        sources.join(", ")
    )
}

/// The generated crate's `src/lib.rs`.
pub fn lib_rs(project: &Project, layout: &Layout) -> String {
    let plan = names::plan(project);
    let header = header(project);
    let tools = rust_modules(&plan.rust_modules, layout);
    let agents = agents_module(project, &plan);
    let specs = project
        .agents
        .iter()
        .zip(&plan.agents)
        .map(|(agent, agent_plan)| spec::agent_spec(agent, agent_plan));
    let class = format_ident!("{}", SESSION_CLASS);
    let (page, fetch_call) = fetch_call(project);
    let tokens: TokenStream = quote! {
        #![doc = #header]

        #tools
        #agents

        /// The agents this Worker serves, under `/agents/{name}/...`.
        static AGENTS: &[::agentc_runtime::AgentSpec] = &[#(#specs),*];
        #page

        /// Answers every HTTP request to the Worker.
        #[::worker::event(fetch)]
        pub async fn fetch(
            req: ::worker::Request,
            env: ::worker::Env,
            _ctx: ::worker::Context,
        ) -> ::worker::Result<::worker::Response> {
            #fetch_call
        }

        /// One conversation: its stored messages and its turns.
        #[::worker::durable_object]
        pub struct #class {
            inner: ::agentc_runtime::platform::SessionObject,
        }

        impl ::worker::DurableObject for #class {
            fn new(state: ::worker::State, env: ::worker::Env) -> Self {
                Self {
                    inner: ::agentc_runtime::platform::SessionObject::new(state, env, AGENTS),
                }
            }

            async fn fetch(&self, req: ::worker::Request) -> ::worker::Result<::worker::Response> {
                self.inner.fetch(req).await
            }

            async fn alarm(&self) -> ::worker::Result<::worker::Response> {
                self.inner.alarm().await
            }
        }
    };
    let file: syn::File = syn::parse2(tokens).expect("generated code is valid Rust");
    prettyplease::unparse(&file)
}

/// The project's Rust tool modules: one inline module per top directory, with `#[path]` set to
/// that directory, holding the modules the tools name.
fn rust_modules(tree: &ModuleTree, layout: &Layout) -> TokenStream {
    let dirs = tree.children.iter().map(|(name, node)| {
        let ident = format_ident!("{name}");
        let path = format!("{}/{name}", layout.project_path);
        let doc = format!(" The project's Rust tools in `{name}/`, compiled into the Worker.");
        let inner = match node {
            ModuleNode::Dir(children) => module_items(children),
            // A path is at least `dir::module::function` (see `names::split_rust_path`).
            ModuleNode::File => quote!(),
        };
        quote! {
            #[doc = #doc]
            #[path = #path]
            pub mod #ident {
                #inner
            }
        }
    });
    quote!(#(#dirs)*)
}

fn module_items(tree: &ModuleTree) -> TokenStream {
    let items = tree.children.iter().map(|(name, node)| {
        let ident = format_ident!("{name}");
        match node {
            ModuleNode::File => quote!(pub mod #ident;),
            ModuleNode::Dir(children) => {
                let inner = module_items(children);
                quote!(pub mod #ident { #inner })
            }
        }
    });
    quote!(#(#items)*)
}

/// `pub mod agents`: each agent's argument types and Rust tool wrappers; nothing when no agent
/// has a tool with arguments of its own.
fn agents_module(project: &Project, plan: &Plan) -> TokenStream {
    let modules: Vec<TokenStream> = project
        .agents
        .iter()
        .zip(&plan.agents)
        .filter_map(|(agent, agent_plan)| {
            let mut type_names = agent_plan.types.clone();
            let mut gen = types::TypeGen::new(&mut type_names);
            let mut wrappers = Vec::new();
            for (tool, tool_plan) in agent.tools.iter().zip(&agent_plan.tools) {
                let Some(args) = &tool_plan.args else {
                    continue;
                };
                let ident = format_ident!("{args}");
                if let Some((module, target)) = &tool_plan.alias_of {
                    let agents = format_ident!("{AGENTS_MODULE}");
                    let module = format_ident!("{module}");
                    let target = format_ident!("{target}");
                    let doc = format!(
                        " The arguments of the tool `{}`: the same as those of `{module}::{target}`, whose Rust function it shares.",
                        tool.name
                    );
                    gen.items.push(quote! {
                        #[doc = #doc]
                        pub type #ident = crate::#agents::#module::#target;
                    });
                } else {
                    let mut docs = vec![format!("The arguments of the tool `{}`.", tool.name)];
                    let description = types::doc_lines(&tool.description);
                    if !description.is_empty() {
                        docs.push(String::new());
                        docs.extend(description);
                    }
                    let schema = tool.parameters.as_object().cloned().unwrap_or_default();
                    let prefix = args.strip_suffix("Args").unwrap_or(args);
                    gen.object(args, prefix, &docs, &schema);
                }
                if let (ToolKind::Rust { path }, Some(wrapper)) = (&tool.kind, &tool_plan.wrapper) {
                    wrappers.push(rust_tool_wrapper(&tool.name, path, wrapper, &ident));
                }
            }
            if gen.items.is_empty() {
                return None;
            }
            let items = std::mem::take(&mut gen.items);
            let module = format_ident!("{}", agent_plan.module);
            let doc = format!(
                " The agent `{}` ({}): its tools' arguments.",
                agent.name,
                agent.source.display().to_string().replace('\\', "/")
            );
            Some(quote! {
                #[doc = #doc]
                pub mod #module {
                    #(#items)*
                    #(#wrappers)*
                }
            })
        })
        .collect();
    if modules.is_empty() {
        return quote!();
    }
    let agents = format_ident!("{AGENTS_MODULE}");
    quote! {
        /// The agents' tool arguments as Rust types, and the wrappers that call their Rust tools.
        pub mod #agents {
            #(#modules)*
        }
    }
}

/// The function the runtime calls for a Rust tool: decodes the model's arguments (already
/// checked against the JSON Schema) into the tool's type, calls the user's function and encodes
/// its result. Every failure is an `Err` the runtime hands back to the model as the tool's error.
fn rust_tool_wrapper(
    tool: &str,
    path: &str,
    wrapper: &str,
    args: &proc_macro2::Ident,
) -> TokenStream {
    let function: syn::Path =
        syn::parse_str(&format!("crate::{path}")).expect("Rust tool paths are checked to be paths");
    let wrapper = format_ident!("{wrapper}");
    let doc = format!(
        " Runs the Rust tool `{tool}` (`{path}`) on the model's arguments: arguments that do not decode into [`{args}`] and errors of the function are the tool's error, for the model."
    );
    let not_json = format!("the result of `{tool}` is not JSON: {{err}}");
    quote! {
        #[doc = #doc]
        pub fn #wrapper(arguments: ::serde_json::Value) -> ::agentc_runtime::agent::ToolFuture {
            ::std::boxed::Box::pin(async move {
                let args: #args = ::serde_json::from_value(arguments)
                    .map_err(|err| ::std::format!("invalid arguments: {err}"))?;
                let output = #function(args)
                    .await
                    .map_err(|err| ::std::string::ToString::to_string(&err))?;
                ::serde_json::to_value(output).map_err(|err| ::std::format!(#not_json))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{check_files, SourceFile};

    fn project(files: &[(&str, &str)]) -> Project {
        let files = files
            .iter()
            .map(|(path, text)| SourceFile {
                path: PathBuf::from(path),
                text: (*text).to_owned(),
            })
            .collect();
        let checked = check_files(files);
        assert!(!checked.has_errors(), "{}", checked.render());
        checked.project.expect("a project")
    }

    const PLAIN: &str =
        "name: plain\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: Be brief.\n";

    #[test]
    fn features_no_agent_uses_are_left_out() {
        assert_eq!(
            runtime_features(&project(&[("plain.yaml", PLAIN)])),
            Vec::<&str>::new()
        );
        let layout = Layout {
            runtime_path: "../runtime".into(),
            project_path: "..".into(),
            main_path: "build/index.js".into(),
            worker_name: "w".into(),
        };
        let toml = manifest::cargo_toml(&layout, &[]);
        assert!(
            toml.contains(r#"default-features = false, features = ["worker"]"#),
            "{toml}"
        );
        let cached = "name: cached\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: x\n\
                      cache: { ttl: 1h }\ntools:\n  - name: calculator\n    builtin: calculator\n";
        assert_eq!(
            runtime_features(&project(&[("plain.yaml", PLAIN), ("cached.yaml", cached)])),
            ["tools", "calculator", "cache"]
        );
    }

    #[test]
    fn every_feature_of_an_agent_is_turned_on() {
        let everything = include_str!("../../../bench/projects/everything/agents/everything.yaml");
        assert_eq!(
            runtime_features(&project(&[("everything.yaml", everything)])),
            [
                "tools",
                "http-tools",
                "calculator",
                "clock",
                "routing",
                "cache",
                "rate-limit",
                "auth",
                "cors",
                "page",
                "approvals"
            ]
        );
    }

    #[test]
    fn approvals_only_when_a_tool_waits_for_one() {
        let tool = |approval: &str| {
            format!(
                "name: a\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\nsystem: x\n\
                 tools:\n  - name: calculator\n    builtin: calculator\n{approval}"
            )
        };
        assert_eq!(
            runtime_features(&project(&[("a.yaml", &tool(""))])),
            ["tools", "calculator"]
        );
        assert_eq!(
            runtime_features(&project(&[("a.yaml", &tool("    approval: required\n"))])),
            ["tools", "calculator", "approvals"]
        );
    }

    #[test]
    fn templates_compile_into_closures_and_plain_text_stays_text() {
        let templated = "name: t\nmodel: \"@cf/meta/llama-3.1-8b-instruct\"\n\
                         system: \"Hi {{ session.id | default('none') }}{% if not agent.description %}!{% endif %}\"\n";
        let layout = Layout {
            runtime_path: "../runtime".into(),
            project_path: "..".into(),
            main_path: "build/index.js".into(),
            worker_name: "w".into(),
        };
        let lib = lib_rs(&project(&[("t.yaml", templated)]), &layout);
        assert!(lib.contains("Prompt::Compiled"), "{lib}");
        assert!(lib.contains("filters::default"), "{lib}");
        assert!(lib.contains(".truthy()"), "{lib}");
        assert!(!lib.contains("{{"), "no template source is left: {lib}");
        let lib = lib_rs(&project(&[("plain.yaml", PLAIN)]), &layout);
        assert!(lib.contains("Prompt::Text(\"Be brief.\")"), "{lib}");
    }
}
