//! The catalogue of Workers AI text-generation models an agent may name.
//!
//! A model id outside this list is an error (with a did-you-mean suggestion), so a typo fails in
//! review instead of in production. `function_calling` marks the models Workers AI documents as
//! accepting `tools`; an agent that declares tools on a model without it gets a warning. The
//! schema's `$defs/model_id` enum lists the same ids, and a test keeps the two identical.

/// One Workers AI text-generation model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelInfo {
    pub id: &'static str,
    /// Whether the model accepts `tools` (function calling) on Workers AI.
    pub function_calling: bool,
}

const fn m(id: &'static str, function_calling: bool) -> ModelInfo {
    ModelInfo {
        id,
        function_calling,
    }
}

/// Every model in the catalogue, grouped by publisher.
pub const MODELS: &[ModelInfo] = &[
    m("@cf/meta/llama-4-scout-17b-16e-instruct", true),
    m("@cf/meta/llama-3.3-70b-instruct-fp8-fast", true),
    m("@cf/meta/llama-3.2-1b-instruct", false),
    m("@cf/meta/llama-3.2-3b-instruct", false),
    m("@cf/meta/llama-3.2-11b-vision-instruct", false),
    m("@cf/meta/llama-3.1-8b-instruct", false),
    m("@cf/meta/llama-3.1-8b-instruct-fast", false),
    m("@cf/meta/llama-3.1-8b-instruct-fp8", false),
    m("@cf/meta/llama-3.1-8b-instruct-awq", false),
    m("@cf/meta/llama-3.1-70b-instruct", false),
    m("@cf/meta/llama-3-8b-instruct", false),
    m("@cf/meta/llama-3-8b-instruct-awq", false),
    m("@hf/meta-llama/meta-llama-3-8b-instruct", false),
    m("@cf/meta/llama-2-7b-chat-fp16", false),
    m("@cf/meta/llama-2-7b-chat-int8", false),
    m("@cf/mistralai/mistral-small-3.1-24b-instruct", true),
    m("@cf/mistral/mistral-7b-instruct-v0.1", false),
    m("@hf/mistral/mistral-7b-instruct-v0.2", false),
    m("@hf/nousresearch/hermes-2-pro-mistral-7b", true),
    m("@cf/qwen/qwen3-30b-a3b-fp8", true),
    m("@cf/qwen/qwq-32b", false),
    m("@cf/qwen/qwen2.5-coder-32b-instruct", false),
    m("@cf/qwen/qwen1.5-0.5b-chat", false),
    m("@cf/qwen/qwen1.5-1.8b-chat", false),
    m("@cf/qwen/qwen1.5-7b-chat-awq", false),
    m("@cf/qwen/qwen1.5-14b-chat-awq", false),
    m("@cf/google/gemma-4-26b-a4b-it", true),
    m("@cf/google/gemma-3-12b-it", false),
    m("@hf/google/gemma-7b-it", false),
    m("@cf/google/gemma-2b-it-lora", false),
    m("@cf/google/gemma-7b-it-lora", false),
    m("@cf/deepseek-ai/deepseek-r1-distill-qwen-32b", false),
    m("@cf/deepseek-ai/deepseek-math-7b-instruct", false),
    m("@cf/openai/gpt-oss-120b", true),
    m("@cf/openai/gpt-oss-20b", true),
    m("@cf/ibm-granite/granite-4.0-h-micro", true),
    m("@cf/microsoft/phi-2", false),
    m("@cf/tinyllama/tinyllama-1.1b-chat-v1.0", false),
    m("@cf/openchat/openchat-3.5-0106", false),
    m("@hf/nexusflow/starling-lm-7b-beta", false),
    m("@cf/fblgit/una-cybertron-7b-v2-bf16", false),
    m("@cf/defog/sqlcoder-7b-2", false),
];

/// The catalogue entry of a model id.
pub fn find(id: &str) -> Option<&'static ModelInfo> {
    MODELS.iter().find(|m| m.id == id)
}

/// The ids of every model, in catalogue order.
pub fn ids() -> impl Iterator<Item = &'static str> {
    MODELS.iter().map(|m| m.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for model in MODELS {
            assert!(seen.insert(model.id), "{} is listed twice", model.id);
            assert!(
                model.id.starts_with("@cf/") || model.id.starts_with("@hf/"),
                "{} is not a Workers AI id",
                model.id
            );
        }
    }

    #[test]
    fn the_small_llama_does_not_call_functions() {
        assert_eq!(
            find("@cf/meta/llama-3.1-8b-instruct").map(|m| m.function_calling),
            Some(false)
        );
        assert_eq!(
            find("@cf/meta/llama-3.3-70b-instruct-fp8-fast").map(|m| m.function_calling),
            Some(true)
        );
    }
}
