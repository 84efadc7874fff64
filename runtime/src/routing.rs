//! Routing: the agent's ordered rules pick the model and the tools of each message, and the
//! fallback chain lists the models tried when one fails to start answering.
//!
//! Rules are tried in file order and the first whose conditions all hold wins; when none does,
//! the agent's own model and all its tools answer. A rule is decided once per turn, in the
//! Worker, from the message and the request headers. `needs_tools` compares with whether tools
//! are offered on the turn's first step, which is whether the agent has any.

use crate::agent::{AgentSpec, ToolSpec};
use crate::policy::{Condition, HeaderTest, RouteRule};
use regex_lite::Regex;
use std::cell::RefCell;

/// What routing decided for one message.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The index of the rule that matched, if one did.
    pub rule: Option<usize>,
    /// The model that answers first.
    pub model: &'static str,
    /// The tools offered to the model.
    pub tools: Vec<&'static ToolSpec>,
}

impl Decision {
    /// The rule's label for headers and logs: its index, or `default`.
    pub fn label(&self) -> String {
        label(self.rule)
    }

    /// The models to try in order: the chosen one, then the agent's fallbacks (each once).
    pub fn chain(&self, agent: &AgentSpec) -> Vec<&'static str> {
        let mut chain = vec![self.model];
        for model in agent.policy.fallbacks() {
            if !chain.contains(model) {
                chain.push(model);
            }
        }
        chain
    }
}

/// A rule index as a label: `0`, `1`, ... or `default` when no rule matched.
pub fn label(rule: Option<usize>) -> String {
    rule.map_or_else(|| "default".to_owned(), |i| i.to_string())
}

/// Parses a label back (as passed between the Worker and the session object).
pub fn parse_label(agent: &AgentSpec, label: &str) -> Option<usize> {
    label
        .parse::<usize>()
        .ok()
        .filter(|i| *i < agent.policy.routes().len())
}

/// The index of the first rule matching `message` and the request's headers (`header` looks a
/// lowercase name up).
pub fn choose(
    agent: &AgentSpec,
    message: &str,
    header: &dyn Fn(&str) -> Option<String>,
) -> Option<usize> {
    let chars = message.chars().count();
    agent
        .policy
        .routes()
        .iter()
        .position(|rule| matches(&rule.when, agent, message, chars, header))
}

/// The model and tools of a rule (or of the agent, for `None`).
pub fn decision(agent: &'static AgentSpec, rule: Option<usize>) -> Decision {
    let route: Option<&RouteRule> = rule.and_then(|i| agent.policy.routes().get(i));
    let model = route.and_then(|r| r.model).unwrap_or(agent.model);
    let tools = match route.and_then(|r| r.tools) {
        Some(names) => agent
            .tools
            .iter()
            .filter(|t| names.contains(&t.name))
            .collect(),
        None => agent.tools.iter().collect(),
    };
    Decision { rule, model, tools }
}

fn matches(
    when: &Condition,
    agent: &AgentSpec,
    message: &str,
    chars: usize,
    header: &dyn Fn(&str) -> Option<String>,
) -> bool {
    if when.max_chars.is_some_and(|max| chars > max as usize) {
        return false;
    }
    if when.min_chars.is_some_and(|min| chars < min as usize) {
        return false;
    }
    if when
        .needs_tools
        .is_some_and(|needs| needs == agent.tools.is_empty())
    {
        return false;
    }
    if let Some(pattern) = when.matches {
        if !regex_matches(pattern, message) {
            return false;
        }
    }
    if let Some(test) = &when.header {
        let Some(value) = header(test.name) else {
            return false;
        };
        let ok = match test.test {
            HeaderTest::Equals(expected) => value == expected,
            HeaderTest::Matches(pattern) => regex_matches(pattern, &value),
        };
        if !ok {
            return false;
        }
    }
    true
}

thread_local! {
    /// Compiled patterns. They are the agents' own (`'static`), a handful: a list will do.
    static REGEXES: RefCell<Vec<(&'static str, Option<Regex>)>> = const { RefCell::new(Vec::new()) };
}

/// Whether `pattern` finds a match in `text`. Patterns are checked when the agent is compiled;
/// one that still fails to compile matches nothing.
fn regex_matches(pattern: &'static str, text: &str) -> bool {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let index = match cache.iter().position(|(p, _)| *p == pattern) {
            Some(index) => index,
            None => {
                cache.push((pattern, Regex::new(pattern).ok()));
                cache.len() - 1
            }
        };
        cache[index].1.as_ref().is_some_and(|r| r.is_match(text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{Builtin, ToolKind};
    use crate::policy::{HeaderMatch, Policy};

    const CLOCK: ToolSpec = ToolSpec {
        name: "clock",
        description: "",
        parameters: "{}",
        kind: ToolKind::Builtin(Builtin::Clock),
        approval: None,
    };
    const CALC: ToolSpec = ToolSpec {
        name: "calculator",
        description: "",
        parameters: "{}",
        kind: ToolKind::Builtin(Builtin::Calculator),
        approval: None,
    };
    static TOOLS: [ToolSpec; 2] = [CLOCK, CALC];
    static ROUTES: [RouteRule; 4] = [
        RouteRule {
            when: Condition {
                max_chars: None,
                min_chars: None,
                matches: None,
                needs_tools: None,
                header: Some(HeaderMatch {
                    name: "x-plan",
                    test: HeaderTest::Equals("pro"),
                }),
            },
            model: Some("@cf/big"),
            tools: None,
        },
        RouteRule {
            when: Condition {
                max_chars: Some(20),
                min_chars: None,
                matches: Some("(?i)^(hi|hello|thanks)\\b"),
                needs_tools: None,
                header: None,
            },
            model: Some("@cf/small"),
            tools: Some(&[]),
        },
        RouteRule {
            when: Condition {
                max_chars: None,
                min_chars: Some(100),
                matches: None,
                needs_tools: Some(true),
                header: None,
            },
            model: None,
            tools: Some(&["calculator"]),
        },
        RouteRule {
            when: Condition {
                max_chars: None,
                min_chars: None,
                matches: None,
                needs_tools: None,
                header: Some(HeaderMatch {
                    name: "x-client",
                    test: HeaderTest::Matches("^mobile/[0-9]+$"),
                }),
            },
            model: Some("@cf/mobile"),
            tools: None,
        },
    ];
    static AGENT: AgentSpec = AgentSpec {
        name: "a",
        description: "",
        model: "@cf/main",
        system: crate::tools::template::Prompt::Text(""),
        history_window: 10,
        max_tokens: 64,
        temperature: None,
        max_steps: 4,
        tools: &TOOLS,
        policy: Policy {
            fallbacks: &["@cf/backup", "@cf/small"],
            routes: &ROUTES,
            ..Policy::NONE
        },
    };

    fn route(message: &str, headers: &[(&str, &str)]) -> Decision {
        let owned: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |name: &str| {
            owned
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        decision(&AGENT, choose(&AGENT, message, &lookup))
    }

    fn names(d: &Decision) -> Vec<&str> {
        d.tools.iter().map(|t| t.name).collect()
    }

    #[test]
    fn first_matching_rule_wins() {
        let d = route("Hello there", &[("x-plan", "pro")]);
        assert_eq!((d.rule, d.model), (Some(0), "@cf/big"));
        let d = route("Hello there", &[("x-plan", "free")]);
        assert_eq!((d.rule, d.model), (Some(1), "@cf/small"));
        assert!(names(&d).is_empty());
        assert_eq!(d.label(), "1");
    }

    #[test]
    fn length_bounds_and_regex() {
        // Too long for rule 1 although it starts with a greeting.
        let d = route("hello, what is 2+2 and what time is it?", &[]);
        assert_eq!(d.rule, None);
        assert_eq!(d.model, "@cf/main");
        assert_eq!(names(&d), ["clock", "calculator"]);
        assert_eq!(d.label(), "default");
        let long = "x".repeat(100);
        let d = route(&long, &[]);
        assert_eq!((d.rule, d.model), (Some(2), "@cf/main"));
        assert_eq!(names(&d), ["calculator"]);
        // Word boundary: "history" is not "hi".
        assert_eq!(route("history", &[]).rule, None);
    }

    #[test]
    fn header_regex() {
        assert_eq!(route("q", &[("x-client", "mobile/12")]).rule, Some(3));
        assert_eq!(route("q", &[("x-client", "mobile/x")]).rule, None);
    }

    #[test]
    fn fallback_chain_starts_with_the_chosen_model_without_repeats() {
        let d = route("hi", &[]);
        assert_eq!(d.chain(&AGENT), ["@cf/small", "@cf/backup"]);
        let d = route("a question", &[]);
        assert_eq!(d.chain(&AGENT), ["@cf/main", "@cf/backup", "@cf/small"]);
    }

    #[test]
    fn labels_round_trip() {
        assert_eq!(parse_label(&AGENT, "2"), Some(2));
        assert_eq!(parse_label(&AGENT, "default"), None);
        assert_eq!(parse_label(&AGENT, "9"), None);
    }
}
