//! Templates compiled into Rust: each template of an agent becomes a closure (coerced to a
//! function pointer in the `static` spec) that writes the text, calls the runtime's filters
//! (`agentc_runtime::tools::template::filters`) and tests conditions, so the Worker parses no
//! template. The check (`check/template.rs`) has already accepted exactly what is compiled here.

use crate::ir::Agent;
use crate::template::{self, Base, Expr, Literal, Node};
use proc_macro2::TokenStream;
use quote::quote;

/// Where a template is, which decides what its variables read.
enum Scope<'a> {
    /// The system prompt: `now` and `session.id` from the turn, `agent.*` known at build time.
    System(&'a Agent),
    /// An HTTP tool's template: every variable from its JSON context.
    Http,
}

/// The `Prompt` of an agent's system prompt.
pub fn prompt(agent: &Agent) -> TokenStream {
    let source = &agent.system;
    if !template::is_template(source) {
        return quote!(::agentc_runtime::tools::template::Prompt::Text(#source));
    }
    let body = body(source, &Scope::System(agent));
    quote! {
        ::agentc_runtime::tools::template::Prompt::Compiled(
            |cx: &::agentc_runtime::tools::template::PromptContext<'_>| -> ::std::string::String {
                #body
            }
        )
    }
}

/// The `Template` of an HTTP tool's `url`, header value or `body`.
pub fn http(source: &str) -> TokenStream {
    if !template::is_template(source) {
        return quote!(::agentc_runtime::tools::template::Template::Text(#source));
    }
    let body = body(source, &Scope::Http);
    quote! {
        ::agentc_runtime::tools::template::Template::Compiled(
            |cx: &::serde_json::Value| -> ::core::result::Result<::std::string::String, ::std::string::String> {
                #body
            }
        )
    }
}

fn body(source: &str, scope: &Scope<'_>) -> TokenStream {
    let parsed = template::parse(source).expect("templates are checked before codegen");
    let capacity = source.len();
    let nodes = nodes(&parsed.nodes, scope);
    let out = match scope {
        Scope::System(_) => quote!(out),
        Scope::Http => quote!(::core::result::Result::Ok(out)),
    };
    quote! {
        let mut out = ::std::string::String::with_capacity(#capacity);
        #nodes
        #out
    }
}

fn nodes(nodes: &[Node], scope: &Scope<'_>) -> TokenStream {
    let items = nodes.iter().map(|node| match node {
        Node::Text(text) => match text.chars().collect::<Vec<_>>().as_slice() {
            [c] => quote!(out.push(#c);),
            _ => quote!(out.push_str(#text);),
        },
        Node::Print(expr) => {
            let value = expr_tokens(expr, scope);
            quote!((#value).write(&mut out);)
        }
        Node::If {
            branches,
            otherwise,
        } => {
            let arms = branches.iter().map(|(cond, body)| {
                let value = expr_tokens(&cond.expr, scope);
                let test = if cond.negated {
                    quote!(!(#value).truthy())
                } else {
                    quote!((#value).truthy())
                };
                let body = self::nodes(body, scope);
                quote!(if #test { #body })
            });
            if otherwise.is_empty() {
                return quote!(#(#arms)else*);
            }
            let otherwise = self::nodes(otherwise, scope);
            quote!(#(#arms)else* else { #otherwise })
        }
    });
    quote!(#(#items)*)
}

fn expr_tokens(expr: &Expr, scope: &Scope<'_>) -> TokenStream {
    let val = quote!(::agentc_runtime::tools::template::Val);
    let mut value = match &expr.base {
        Base::Str(text) => quote!(#val::str(#text)),
        Base::Path(path) => {
            let (first, rest) = path.split_first().expect("a path has a variable");
            let var = first.0.as_str();
            let (mut value, rest) = match (scope, var, rest.first()) {
                (Scope::System(_), "now", _) => (quote!(#val::str(cx.now)), rest),
                (Scope::System(_), "session", Some((attr, _))) if attr == "id" => {
                    (quote!(#val::opt(cx.session_id)), &rest[1..])
                }
                (Scope::System(agent), "agent", Some((attr, _))) => {
                    let text = match attr.as_str() {
                        "name" => agent.name.clone(),
                        "description" => agent.description.clone().unwrap_or_default(),
                        "model" => agent.model.id.clone(),
                        other => unreachable!("checked: agent has no attribute {other}"),
                    };
                    (quote!(#val::str(#text)), &rest[1..])
                }
                (Scope::System(_), other, _) => {
                    unreachable!("checked: the system prompt has no variable {other}")
                }
                (Scope::Http, var, _) => (quote!(#val::json(cx.get(#var))), rest),
            };
            for (attr, _) in rest {
                value = quote!(#value.attr(#attr));
            }
            value
        }
    };
    let filters = quote!(::agentc_runtime::tools::template::filters);
    for filter in &expr.filters {
        let args: Vec<TokenStream> = filter.args.iter().map(literal).collect();
        value = match (filter.name.as_str(), args.as_slice()) {
            ("default" | "d", [fallback]) => quote!(#filters::default(#value, #fallback)),
            ("replace", [from, to]) => quote!(#filters::replace(#value, #from, #to)),
            ("join", []) => quote!(#filters::join(#value, ::core::option::Option::None)),
            ("join", [separator]) => {
                quote!(#filters::join(#value, ::core::option::Option::Some(#separator)))
            }
            // The one filter that can refuse its value: an HTTP tool's call fails with the
            // reason; in the system prompt the value prints as nothing.
            ("urlencode_segment", []) => match scope {
                Scope::Http => quote!(#filters::urlencode_segment(#value)?),
                Scope::System(_) => quote! {
                    #filters::urlencode_segment(#value)
                        .unwrap_or(::agentc_runtime::tools::template::Val::Undefined)
                },
            },
            (name, []) => {
                let name = quote::format_ident!("{name}");
                quote!(#filters::#name(#value))
            }
            (name, _) => unreachable!("checked: the arguments of the filter {name}"),
        };
    }
    value
}

fn literal(literal: &Literal) -> TokenStream {
    match literal {
        Literal::Str(text) => quote!(::agentc_runtime::tools::template::Val::str(#text)),
        Literal::Int(n) => quote!(::agentc_runtime::tools::template::Val::int(#n)),
    }
}
