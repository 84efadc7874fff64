//! What a generated Worker tells the runtime about each of its agents.

/// One agent, as compiled from its `agents/*.yaml` file. Generated code holds a `static` slice of
/// these; the runtime never reads YAML.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    /// The agent's name, the `{agent}` of `/agents/{agent}/...`.
    pub name: &'static str,
    /// The Workers AI model id the agent talks to.
    pub model: &'static str,
    /// The system prompt sent first in every model call.
    pub system: &'static str,
    /// How many stored messages (user and assistant) are sent to the model with a new message.
    pub history_window: u32,
    /// The most tokens the model may produce in one reply.
    pub max_tokens: u32,
    /// Sampling temperature, or the model's default when `None`.
    pub temperature: Option<f32>,
}

/// Finds an agent by name.
pub fn find<'a>(agents: &'a [AgentSpec], name: &str) -> Option<&'a AgentSpec> {
    agents.iter().find(|agent| agent.name == name)
}
