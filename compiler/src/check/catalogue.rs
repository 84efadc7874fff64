//! Model ids against the catalogue of Workers AI models, with suggestions for mistaken ids, and
//! warnings where tools are offered to a model without function calling.

use super::{suggest, Checker};
use crate::diagnostic::Diagnostic;
use crate::models;
use crate::yaml::Node;

/// Model ids against the catalogue, and function calling where tools are offered.
pub(crate) fn models(cx: &mut Checker<'_>, root: &Node, has_tools: bool) {
    let Some(model) = root.get("model") else {
        return;
    };
    let (primary, primary_ptr) = match model.as_str() {
        Some(_) => (Some(model), "/model".to_string()),
        None => (model.get("id"), "/model/id".to_string()),
    };
    let tool_routes: Vec<bool> = root
        .get("routing")
        .map(|r| {
            r.items()
                .iter()
                .map(routes_tool_steps_to_capable_model)
                .collect()
        })
        .unwrap_or_default();
    if let Some(id) = primary {
        if model_id(cx, id, &primary_ptr) && has_tools && !tool_routes.contains(&true) {
            not_function_calling(cx, id, "the agent declares tools");
        }
    }
    for (i, fallback) in model
        .get("fallbacks")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        if model_id(cx, fallback, &format!("/model/fallbacks/{i}")) && has_tools {
            not_function_calling(
                cx,
                fallback,
                "the agent declares tools and this fallback may answer",
            );
        }
    }
}

/// Whether a rule sends the steps that offer tools to a model with function calling.
fn routes_tool_steps_to_capable_model(rule: &Node) -> bool {
    let needs_tools = rule
        .get("when")
        .and_then(|w| w.get("needs_tools"))
        .and_then(Node::as_bool);
    let capable = rule
        .get("model")
        .and_then(Node::as_str)
        .and_then(models::find)
        .is_some_and(|m| m.function_calling);
    needs_tools == Some(true) && capable
}

/// Checks a model id against the catalogue; true when it is in it.
pub(crate) fn model_id(cx: &mut Checker<'_>, node: &Node, ptr: &str) -> bool {
    let Some(id) = node.as_str() else {
        return false;
    };
    if models::find(id).is_some() {
        return true;
    }
    let best = closest_model(id);
    let help = match best {
        Some(best) => format!("did you mean `{best}`?"),
        None => "see the models of Workers AI's text generation; agentc knows the ids listed in schema/agent.schema.json".into(),
    };
    let diag = Diagnostic::error("E0201", format!("unknown model `{id}`"))
        .at(node.span)
        .help(help);
    cx.report(format!("value:{ptr}"), diag);
    false
}

/// The catalogue id a mistaken one most likely meant: the same id without a publisher prefix,
/// a catalogue id the mistake extends (`...-instruct-turbo`), one the mistake abbreviates
/// (`...-instruct-fast` for `...-instruct-fp8-fast`), else the nearest by edit distance.
fn closest_model(id: &str) -> Option<&'static str> {
    let by_name = models::ids().find(|known| known.rsplit('/').next() == Some(id));
    let extended = models::ids()
        .filter(|known| id.starts_with(known))
        .max_by_key(|known| known.len());
    let abbreviated = models::ids().find(|known| is_subsequence(id, known));
    by_name
        .or(extended)
        .or(abbreviated)
        .or_else(|| suggest(id, models::ids()))
}

fn is_subsequence(short: &str, long: &str) -> bool {
    let mut long = long.chars();
    short.chars().all(|c| long.any(|l| l == c))
}

pub(crate) fn not_function_calling(cx: &mut Checker<'_>, node: &Node, why: &str) {
    let Some(id) = node.as_str() else { return };
    if models::find(id).is_none_or(|m| m.function_calling) {
        return;
    }
    let capable: Vec<&str> = models::MODELS
        .iter()
        .filter(|m| m.function_calling)
        .map(|m| m.id)
        .take(2)
        .collect();
    let diag = Diagnostic::warning("W0201", format!("`{id}` does not support function calling, but {why}"))
        .at(node.span)
        .help(format!(
            "use a model with function calling (e.g. `{}`), or route the steps that offer tools to one with a rule `when: {{ needs_tools: true }}`",
            capable.join("` or `")
        ));
    cx.report(None, diag);
}
