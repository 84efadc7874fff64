//! The `AgentSpec` data of each agent: what the runtime reads at run time.

use super::names::{AgentPlan, AGENTS_MODULE};
use crate::ir::{
    Agent, Builtin, Condition, HeaderTest, HttpTool, McpServer, McpTool, RateKey, Route, Tool,
    ToolKind,
};
use agentc_runtime::mcp::headers as mcp_headers;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// An `::agentc_runtime::AgentSpec` expression.
pub fn agent_spec(agent: &Agent, plan: &AgentPlan) -> TokenStream {
    let name = &agent.name;
    let description = agent.description.as_deref().unwrap_or_default();
    let model = &agent.model.id;
    let system = super::templates::prompt(agent);
    let window = agent.history.window;
    let max_tokens = agent.model.max_tokens;
    let max_steps = agent.max_steps;
    let temperature = option(agent.model.temperature.map(|t| quote!(#t)));
    let policy = policy(agent);
    let tools = agent
        .tools
        .iter()
        .zip(&plan.tools)
        .map(|(tool, tool_plan)| tool_spec(agent, tool, plan, tool_plan.wrapper.as_deref()))
        .chain(agent.mcp.iter().flat_map(|server| {
            server
                .tools
                .iter()
                .map(move |tool| mcp_tool_spec(agent, server, tool))
        }));
    quote! {
        ::agentc_runtime::AgentSpec {
            name: #name,
            description: #description,
            model: #model,
            system: #system,
            history_window: #window,
            max_tokens: #max_tokens,
            temperature: #temperature,
            max_steps: #max_steps,
            tools: &[#(#tools),*],
            policy: #policy,
        }
    }
}

/// An `::agentc_runtime::policy::Policy` expression: routing, fallbacks, cache, rate limit, auth,
/// CORS and limits, each as the IR has it.
fn policy(agent: &Agent) -> TokenStream {
    let fallbacks = &agent.model.fallbacks;
    let routes = agent.routes.iter().map(route);
    let cache = option(agent.cache.map(|c| {
        let ttl = c.ttl_secs;
        quote!(::agentc_runtime::policy::CachePolicy { ttl_secs: #ttl })
    }));
    let rate_limit = option(agent.rate_limit.map(|r| {
        let per = format_ident!(
            "{}",
            match r.per {
                RateKey::ApiKey => "ApiKey",
                RateKey::Ip => "Ip",
                RateKey::Session => "Session",
            }
        );
        let limit = r.limit;
        let window = r.window_secs;
        let budget = option(r.token_budget.map(|b| quote!(#b)));
        quote! {
            ::agentc_runtime::policy::RateLimitPolicy {
                per: ::agentc_runtime::policy::RateKey::#per,
                limit: #limit,
                window_secs: #window,
                token_budget: #budget,
            }
        }
    }));
    let auth = option(agent.auth.as_ref().map(|a| {
        let secret = &a.api_keys_secret;
        quote!(::agentc_runtime::policy::AuthPolicy { api_keys_secret: #secret })
    }));
    let cors = option(agent.cors.as_ref().map(|c| {
        let origins = &c.allow_origins;
        let credentials = c.allow_credentials;
        let headers = &c.allow_headers;
        let max_age = c.max_age_secs;
        quote! {
            ::agentc_runtime::policy::CorsPolicy {
                allow_origins: &[#(#origins),*],
                allow_credentials: #credentials,
                allow_headers: &[#(#headers),*],
                max_age_secs: #max_age,
            }
        }
    }));
    let max_input = agent.limits.max_input_chars;
    let max_body = agent.limits.max_body_bytes;
    let client_ids = agent.client_session_ids;
    let ai_sdk = agent.ai_sdk;
    let (keep, history_tokens) = (agent.history.keep, agent.history.max_tokens);
    let (max_calls, stream_results) = (agent.max_tool_calls, agent.stream_tool_results);
    quote! {
        ::agentc_runtime::policy::Policy {
            fallbacks: &[#(#fallbacks),*],
            routes: &[#(#routes),*],
            cache: #cache,
            rate_limit: #rate_limit,
            auth: #auth,
            cors: #cors,
            limits: ::agentc_runtime::policy::Limits {
                max_input_chars: #max_input,
                max_body_bytes: #max_body,
            },
            sessions: ::agentc_runtime::policy::SessionPolicy { client_ids: #client_ids },
            history: ::agentc_runtime::policy::HistoryPolicy {
                keep: #keep,
                max_tokens: #history_tokens,
            },
            tools: ::agentc_runtime::policy::ToolPolicy {
                max_calls_per_step: #max_calls,
                stream_results: #stream_results,
            },
            ai_sdk: #ai_sdk,
        }
    }
}

fn route(route: &Route) -> TokenStream {
    let Condition {
        max_chars,
        min_chars,
        matches,
        needs_tools,
        header,
    } = &route.when;
    let max_chars = option(max_chars.map(|n| quote!(#n)));
    let min_chars = option(min_chars.map(|n| quote!(#n)));
    let matches = option(matches.as_ref().map(|m| quote!(#m)));
    let needs_tools = option(needs_tools.map(|b| quote!(#b)));
    let header = option(header.as_ref().map(|h| {
        let name = &h.name;
        let test = match &h.test {
            HeaderTest::Equals(value) => {
                quote!(::agentc_runtime::policy::HeaderTest::Equals(#value))
            }
            HeaderTest::Matches(pattern) => {
                quote!(::agentc_runtime::policy::HeaderTest::Matches(#pattern))
            }
        };
        quote!(::agentc_runtime::policy::HeaderMatch { name: #name, test: #test })
    }));
    let model = option(route.model.as_ref().map(|m| quote!(#m)));
    let tools = option(route.tools.as_ref().map(|t| quote!(&[#(#t),*])));
    quote! {
        ::agentc_runtime::policy::RouteRule {
            when: ::agentc_runtime::policy::Condition {
                max_chars: #max_chars,
                min_chars: #min_chars,
                matches: #matches,
                needs_tools: #needs_tools,
                header: #header,
            },
            model: #model,
            tools: #tools,
        }
    }
}

/// `Some(value)` or `None`, fully qualified.
fn option(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn tool_spec(agent: &Agent, tool: &Tool, plan: &AgentPlan, wrapper: Option<&str>) -> TokenStream {
    let name = &tool.name;
    // One source for what the model is told and what the argument types are made from: the
    // IR's parameters (the runtime's own for builtin tools).
    let (description, parameters, kind) = match &tool.kind {
        ToolKind::Builtin(builtin) => {
            let runtime = runtime_builtin(*builtin);
            let description = if tool.description.is_empty() {
                runtime.description().to_owned()
            } else {
                tool.description.clone()
            };
            let variant = format_ident!("{}", format!("{runtime:?}"));
            let kind = quote!(::agentc_runtime::agent::ToolKind::Builtin(
                ::agentc_runtime::agent::Builtin::#variant
            ));
            (description, runtime.parameters().to_owned(), kind)
        }
        ToolKind::Http(http) => {
            let kind = http_spec(http, &agent.secrets);
            (tool.description.clone(), tool.parameters.to_string(), kind)
        }
        ToolKind::Rust { .. } => {
            let agents = format_ident!("{AGENTS_MODULE}");
            let module = format_ident!("{}", plan.module);
            let wrapper = format_ident!("{}", wrapper.expect("every Rust tool has a wrapper"));
            let kind = quote!(::agentc_runtime::agent::ToolKind::Rust(
                ::agentc_runtime::agent::RustTool(crate::#agents::#module::#wrapper)
            ));
            (tool.description.clone(), tool.parameters.to_string(), kind)
        }
    };
    let approval = approval(agent, tool.approval);
    quote! {
        ::agentc_runtime::agent::ToolSpec {
            name: #name,
            description: #description,
            parameters: #parameters,
            kind: #kind,
            approval: #approval,
        }
    }
}

/// The `approval` of a `ToolSpec`.
fn approval(agent: &Agent, required: bool) -> TokenStream {
    let expires = agent.approval_expires_secs;
    option(required.then(|| quote!(::agentc_runtime::agent::Approval { expires_secs: #expires })))
}

/// The `ToolSpec` of an allowed MCP tool: its description and parameters from the lock file,
/// or placeholders the runtime replaces with the server's own.
fn mcp_tool_spec(agent: &Agent, server: &McpServer, tool: &McpTool) -> TokenStream {
    let name = &tool.offered;
    let (description, parameters, locked) = match &tool.locked {
        Some(locked) => (
            locked.description.clone(),
            locked.parameters.to_string(),
            true,
        ),
        None => (
            format!(
                "The tool `{}` of the MCP server `{}`.",
                tool.name, server.name
            ),
            // Unknown until the server lists it: open, so the Worker's argument check (which
            // closes every object schema) does not refuse what the server alone can judge.
            r#"{"type":"object","additionalProperties":true}"#.to_owned(),
            false,
        ),
    };
    let McpServer {
        name: server_name,
        url,
        headers,
        timeout_ms,
        allow_hosts,
        ..
    } = server;
    // The secrets the headers refer to (checked to be among the agent's).
    let mut header_secrets: Vec<String> = Vec::new();
    for (_, value) in headers {
        for part in mcp_headers::parse(value).unwrap_or_default() {
            if let mcp_headers::Part::Secret(secret) = part {
                if !header_secrets.iter().any(|s| s == secret) {
                    header_secrets.push(secret.to_owned());
                }
            }
        }
    }
    let headers = headers.iter().map(|(name, value)| quote!((#name, #value)));
    let tool_name = &tool.name;
    let approval = approval(agent, tool.approval);
    quote! {
        ::agentc_runtime::agent::ToolSpec {
            name: #name,
            description: #description,
            parameters: #parameters,
            kind: ::agentc_runtime::agent::ToolKind::Mcp(::agentc_runtime::agent::McpToolSpec {
                server: &::agentc_runtime::agent::McpServerSpec {
                    name: #server_name,
                    url: #url,
                    headers: &[#(#headers),*],
                    timeout_ms: #timeout_ms,
                    allow_hosts: &[#(#allow_hosts),*],
                    secrets: &[#(#header_secrets),*],
                },
                tool: #tool_name,
                locked: #locked,
            }),
            approval: #approval,
        }
    }
}

fn http_spec(http: &HttpTool, secrets: &[String]) -> TokenStream {
    let HttpTool {
        method,
        url,
        headers,
        body,
        timeout_ms,
        allow_hosts,
        max_response_bytes,
    } = http;
    let url = super::templates::http(url);
    let headers = headers.iter().map(|(name, value)| {
        let value = super::templates::http(value);
        quote!((#name, #value))
    });
    let body = option(body.as_deref().map(super::templates::http));
    quote! {
        ::agentc_runtime::agent::ToolKind::Http(::agentc_runtime::agent::HttpToolSpec {
            method: #method,
            url: #url,
            headers: &[#(#headers),*],
            body: #body,
            timeout_ms: #timeout_ms,
            allow_hosts: &[#(#allow_hosts),*],
            max_response_bytes: #max_response_bytes,
            secrets: &[#(#secrets),*],
        })
    }
}

fn runtime_builtin(builtin: Builtin) -> agentc_runtime::agent::Builtin {
    match builtin {
        Builtin::Clock => agentc_runtime::agent::Builtin::Clock,
        Builtin::Calculator => agentc_runtime::agent::Builtin::Calculator,
    }
}
