//! Tool calls in what the model writes, turned into Workers AI's structured `tool_calls` as a
//! function-calling model on Workers AI returns them. The reading itself is the runtime's
//! ([`agentc_runtime::written`], the one reader of calls written as text, which the runtime
//! also applies to models on Cloudflare that write their calls as text): tags, fences, bare
//! JSON, doubled braces, lists. [`ToolCallFilter`] streams text that cannot be a call at once
//! and holds what may be one until the end.

use agentc_runtime::written::{self, Splitter, WrittenCall};
use serde_json::Value;

use crate::wire::ToolCall;

fn to_wire(call: WrittenCall) -> ToolCall {
    ToolCall::new(call.name, call.arguments)
}

/// Splits a stream of generated text into text to pass on at once and tool calls found at the
/// end.
#[derive(Debug)]
pub struct ToolCallFilter {
    splitter: Splitter,
}

impl ToolCallFilter {
    /// A filter for a request with these tools; without `detect` nothing is held back and no
    /// call is ever found.
    pub fn new(tool_names: Vec<String>, detect: bool) -> Self {
        ToolCallFilter {
            splitter: Splitter::new(&tool_names, detect),
        }
    }

    /// Adds generated text; returns the text that can be passed on now.
    pub fn push(&mut self, text: &str) -> String {
        self.splitter.push(text)
    }

    /// Ends the stream: the remaining text and the tool calls.
    pub fn finish(self) -> (String, Vec<ToolCall>) {
        let (text, calls) = self.splitter.finish();
        (text, calls.into_iter().map(to_wire).collect())
    }
}

/// The tool calls whose results end a conversation: those of the last
/// assistant message, when only tool messages follow it. Empty when the
/// conversation does not end with tool results.
pub fn answered_calls(messages: &[Value], tool_names: &[String]) -> Vec<ToolCall> {
    let role = |message: &Value| {
        message
            .get("role")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let results = messages
        .iter()
        .rev()
        .take_while(|message| role(message).as_deref() == Some("tool"))
        .count();
    if results == 0 || results == messages.len() {
        return Vec::new();
    }
    let assistant = &messages[messages.len() - results - 1];
    if role(assistant).as_deref() != Some("assistant") {
        return Vec::new();
    }
    let names: Vec<&str> = tool_names.iter().map(String::as_str).collect();
    let calls = assistant.get("tool_calls").and_then(Value::as_array);
    calls
        .into_iter()
        .flatten()
        .filter_map(|call| written::call_from_object(call.as_object()?, &names).map(to_wire))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tools() -> Vec<String> {
        vec!["get_weather".into(), "get_time".into()]
    }

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall::new(name, arguments)
    }

    #[test]
    fn what_the_models_write_becomes_structured_calls() {
        let paris = call("get_weather", json!({"location": "Paris"}));
        for output in [
            // Qwen2.5-Coder-0.5B: bare JSON.
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}",
            // Qwen2.5-Coder-1.5B: a fence, or doubled braces.
            "```json\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n```",
            "{{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}",
            // The template's own format.
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
        ] {
            let mut filter = ToolCallFilter::new(tools(), true);
            let mut streamed = String::new();
            for piece in output.split_inclusive(' ') {
                streamed.push_str(&filter.push(piece));
            }
            let (text, calls) = filter.finish();
            assert_eq!((streamed.as_str(), text.as_str()), ("", ""), "{output}");
            assert_eq!(calls, std::slice::from_ref(&paris), "{output}");
        }
    }

    #[test]
    fn answered_calls_are_those_before_the_final_tool_results() {
        let paris = call("get_weather", json!({"location": "Paris"}));
        let time = call("get_time", json!({}));
        let messages = vec![
            json!({"role": "user", "content": "Weather and time in Paris?"}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_0", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
                {"name": "get_time"}
            ]}),
            json!({"role": "tool", "content": "sunny"}),
            json!({"role": "tool", "content": "noon"}),
        ];
        assert_eq!(answered_calls(&messages, &tools()), vec![paris, time]);
        assert!(answered_calls(&messages[..2], &tools()).is_empty());
        assert!(answered_calls(&messages[2..], &tools()).is_empty());
        let after_user = [messages[0].clone(), messages[2].clone()];
        assert!(answered_calls(&after_user, &tools()).is_empty());
    }

    #[test]
    fn without_tools_nothing_is_detected() {
        let output = "{\"name\": \"get_weather\", \"arguments\": {}}";
        let mut filter = ToolCallFilter::new(tools(), false);
        assert_eq!(filter.push(output), output);
        assert_eq!(filter.finish(), (String::new(), vec![]));
    }
}
