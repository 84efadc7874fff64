//! What a request asks of the model: its prompt and its generation
//! parameters, read from the inputs of any endpoint (Workers AI or OpenAI).

use serde_json::{Map, Value};

/// `max_tokens` when a request does not set it, as on Workers AI.
pub const DEFAULT_MAX_TOKENS: u32 = 256;

/// The prompt of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Chat messages, rendered with the model's chat template.
    Chat { messages: Vec<Value> },
    /// `prompt` with `raw: true`: the text is the whole prompt.
    Raw(String),
}

/// How to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub max_tokens: u32,
    /// `None` (or 0) means greedy decoding.
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub seed: Option<u32>,
    pub repetition_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub stop: Vec<String>,
}

impl Params {
    /// Reports whether the next token is always the most likely one.
    pub fn greedy(&self) -> bool {
        self.temperature.is_none_or(|t| t <= 0.0)
    }
}

/// A request's prompt, tools and parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub prompt: Prompt,
    pub tools: Vec<Value>,
    pub params: Params,
}

/// Reads a request's inputs; the error says which input is wrong.
pub fn parse(inputs: &Value) -> Result<Request, String> {
    let empty = Map::new();
    let inputs = inputs.as_object().unwrap_or(&empty);
    let prompt = match (inputs.get("messages"), inputs.get("prompt")) {
        (Some(Value::Array(messages)), _) if !messages.is_empty() => Prompt::Chat {
            messages: messages.clone(),
        },
        (Some(Value::Array(_)), _) => return Err("`messages` must not be empty".into()),
        (Some(_), _) => return Err("`messages` must be a list of messages".into()),
        (None, Some(Value::String(prompt))) => {
            if boolean(inputs, "raw")?.unwrap_or(false) {
                Prompt::Raw(prompt.clone())
            } else {
                Prompt::Chat {
                    messages: vec![serde_json::json!({"role": "user", "content": prompt})],
                }
            }
        }
        (None, Some(_)) => return Err("`prompt` must be a string".into()),
        (None, None) => return Err("the inputs need `messages` or `prompt`".into()),
    };
    let tools = match inputs.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => tools.clone(),
        Some(_) => return Err("`tools` must be a list".into()),
    };
    let max_tokens = match integer(inputs, "max_tokens")? {
        Some(n) => Some(n),
        None => integer(inputs, "max_completion_tokens")?,
    };
    let max_tokens = match max_tokens {
        None => DEFAULT_MAX_TOKENS,
        Some(0) => return Err("`max_tokens` must be at least 1".into()),
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
    };
    let stop = match inputs.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(stop)) => vec![stop.clone()],
        Some(Value::Array(stops)) => stops
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("`stop` must be a string or a list of strings")?,
        Some(_) => return Err("`stop` must be a string or a list of strings".into()),
    };
    Ok(Request {
        prompt,
        tools,
        params: Params {
            max_tokens,
            temperature: number(inputs, "temperature")?,
            top_p: number(inputs, "top_p")?,
            top_k: integer(inputs, "top_k")?.map(|k| i32::try_from(k).unwrap_or(i32::MAX)),
            seed: integer(inputs, "seed")?.map(|s| s as u32),
            repetition_penalty: number(inputs, "repetition_penalty")?,
            frequency_penalty: number(inputs, "frequency_penalty")?,
            presence_penalty: number(inputs, "presence_penalty")?,
            stop,
        },
    })
}

fn number(inputs: &Map<String, Value>, key: &str) -> Result<Option<f32>, String> {
    match inputs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64().map(|n| n as f32)),
        Some(_) => Err(format!("`{key}` must be a number")),
    }
}

fn integer(inputs: &Map<String, Value>, key: &str) -> Result<Option<u64>, String> {
    match inputs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(n), _) => Ok(Some(n)),
            // 256.0 is accepted; JavaScript numbers have no integer type.
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 => Ok(Some(f as u64)),
            _ => Err(format!("`{key}` must be a non-negative integer")),
        },
        Some(_) => Err(format!("`{key}` must be a non-negative integer")),
    }
}

fn boolean(inputs: &Map<String, Value>, key: &str) -> Result<Option<bool>, String> {
    match inputs.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(format!("`{key}` must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let request = parse(&json!({"messages": [{"role": "user", "content": "hi"}]})).unwrap();
        assert_eq!(request.params.max_tokens, DEFAULT_MAX_TOKENS);
        assert!(request.params.greedy());
        assert!(request.tools.is_empty() && request.params.stop.is_empty());
    }

    #[test]
    fn a_prompt_is_a_user_message_unless_raw() {
        let chat = parse(&json!({"prompt": "hi"})).unwrap().prompt;
        assert_eq!(
            chat,
            Prompt::Chat {
                messages: vec![json!({"role": "user", "content": "hi"})]
            }
        );
        let raw = parse(&json!({"prompt": "hi", "raw": true})).unwrap().prompt;
        assert_eq!(raw, Prompt::Raw("hi".into()));
    }

    #[test]
    fn parameters_are_read() {
        let request = parse(&json!({
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 16.0, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 7,
            "repetition_penalty": 1.1, "stop": "\n", "tools": [{"name": "t"}]
        }))
        .unwrap();
        let p = request.params;
        assert_eq!(p.max_tokens, 16);
        assert!(!p.greedy());
        assert_eq!(
            (p.top_k, p.seed, p.stop),
            (Some(40), Some(7), vec!["\n".to_string()])
        );
        assert_eq!(request.tools.len(), 1);
        let openai = parse(&json!({"prompt": "x", "max_completion_tokens": 5, "stop": ["a", "b"]}));
        assert_eq!(openai.unwrap().params.max_tokens, 5);
    }

    #[test]
    fn bad_inputs_are_named() {
        for (inputs, error) in [
            (json!({}), "`messages` or `prompt`"),
            (json!({"messages": []}), "`messages` must not be empty"),
            (json!({"messages": "hi"}), "`messages` must be a list"),
            (json!({"prompt": 3}), "`prompt` must be a string"),
            (json!({"prompt": "x", "max_tokens": "5"}), "`max_tokens`"),
            (
                json!({"prompt": "x", "max_tokens": 0}),
                "`max_tokens` must be at least 1",
            ),
            (json!({"prompt": "x", "max_tokens": -1}), "`max_tokens`"),
            (
                json!({"prompt": "x", "temperature": "hot"}),
                "`temperature`",
            ),
            (json!({"prompt": "x", "stop": [1]}), "`stop`"),
            (json!({"prompt": "x", "tools": {}}), "`tools`"),
        ] {
            let message = parse(&inputs).unwrap_err();
            assert!(message.contains(error), "{inputs}: {message}");
        }
    }
}
