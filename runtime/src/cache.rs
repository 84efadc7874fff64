//! The response cache: whole answers kept on the Workers Cache API, where an agent declares
//! `cache`.
//!
//! The key is a SHA-256 hash of everything that shapes the answer: the agent, the model chosen
//! for the message, its settings, the rendered system prompt, the history window sent with the
//! message, the message and the tools offered. The Cache API keys entries by URL, so the hash
//! becomes a synthetic GET URL. Only answers of one model call without tools are stored: an
//! answer that used tools depends on the tools' results at the time, and a failed turn has no
//! answer. A hit replays the stored pieces as the stream, and the turn is still stored in the
//! session's history.

use crate::agent::{AgentSpec, ToolSpec};
use crate::auth::hex;
use crate::history::{Message, Role};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The origin of the synthetic cache URLs (never fetched).
pub const ORIGIN: &str = "https://agentc-cache.internal";
/// Bumped when the key material or the entry format changes.
const VERSION: u32 = 1;

/// The synthetic GET URL that keys the answer to one effective prompt.
pub fn key_url(
    agent: &AgentSpec,
    model: &str,
    system: &str,
    history: &[Message],
    message: &str,
    tools: &[&ToolSpec],
) -> String {
    #[derive(Serialize)]
    struct Material<'a> {
        version: u32,
        agent: &'a str,
        model: &'a str,
        max_tokens: u32,
        temperature: Option<f32>,
        system: &'a str,
        history: &'a [Message],
        message: &'a str,
        tools: Vec<(&'a str, &'a str, &'a str)>,
    }
    let material = Material {
        version: VERSION,
        agent: agent.name,
        model,
        max_tokens: agent.max_tokens,
        temperature: agent.temperature,
        system,
        history,
        message,
        tools: tools
            .iter()
            .map(|t| (t.name, t.description, t.parameters))
            .collect(),
    };
    let json = serde_json::to_vec(&material).expect("cache key material serializes");
    let digest = Sha256::digest(&json);
    format!("{ORIGIN}/v{VERSION}/{}/{}", agent.name, hex(&digest))
}

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    /// The model that produced it.
    pub model: String,
    /// The answer's pieces as they were streamed.
    pub deltas: Vec<String>,
}

impl CachedAnswer {
    pub fn text(&self) -> String {
        self.deltas.concat()
    }

    /// The model as one of the agent's own (`'static`) model ids; `None` when the agent no
    /// longer names it, which makes the entry a miss.
    pub fn known_model(&self, agent: &AgentSpec) -> Option<&'static str> {
        std::iter::once(agent.model)
            .chain(agent.policy.fallbacks().iter().copied())
            .chain(agent.policy.routes().iter().filter_map(|r| r.model))
            .find(|m| *m == self.model)
    }
}

/// Whether a completed turn's messages may be cached: the user's message and one plain answer.
pub fn cacheable(messages: &[Message]) -> bool {
    matches!(messages, [user, answer]
        if user.role == Role::User
            && answer.role == Role::Assistant
            && answer.tool_calls.is_empty()
            && !answer.content.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::ToolCall;
    use crate::policy::Policy;

    static AGENT: AgentSpec = AgentSpec {
        name: "faq",
        description: "",
        model: "@cf/a",
        system: crate::tools::template::Prompt::Text(""),
        history_window: 4,
        max_tokens: 64,
        temperature: None,
        max_steps: 2,
        tools: &[],
        policy: Policy {
            fallbacks: &["@cf/b"],
            ..Policy::NONE
        },
    };

    #[test]
    fn the_key_covers_the_effective_prompt() {
        let base = key_url(&AGENT, "@cf/a", "sys", &[], "hi", &[]);
        assert!(base.starts_with("https://agentc-cache.internal/v1/faq/"));
        assert_eq!(base, key_url(&AGENT, "@cf/a", "sys", &[], "hi", &[]));
        let history = [Message::new(Role::User, "earlier")];
        for other in [
            key_url(&AGENT, "@cf/b", "sys", &[], "hi", &[]),
            key_url(&AGENT, "@cf/a", "sys2", &[], "hi", &[]),
            key_url(&AGENT, "@cf/a", "sys", &history, "hi", &[]),
            key_url(&AGENT, "@cf/a", "sys", &[], "hi!", &[]),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn only_plain_one_step_answers_are_cacheable() {
        let user = Message::new(Role::User, "q");
        let answer = Message::new(Role::Assistant, "a");
        assert!(cacheable(&[user.clone(), answer.clone()]));
        let call = ToolCall {
            id: "c".into(),
            name: "t".into(),
            arguments: serde_json::json!({}),
        };
        let with_tools = [
            user.clone(),
            Message::tool_calls("", vec![call.clone()]),
            Message::tool_result(&call, "1"),
            answer.clone(),
        ];
        assert!(!cacheable(&with_tools));
        assert!(!cacheable(&[user, Message::new(Role::Assistant, "")]));
    }

    #[test]
    fn entries_name_a_model_of_the_agent() {
        let entry = CachedAnswer {
            model: "@cf/b".into(),
            deltas: vec!["Hel".into(), "lo".into()],
        };
        assert_eq!(entry.known_model(&AGENT), Some("@cf/b"));
        assert_eq!(entry.text(), "Hello");
        let gone = CachedAnswer {
            model: "@cf/x".into(),
            ..entry
        };
        assert_eq!(gone.known_model(&AGENT), None);
    }
}
