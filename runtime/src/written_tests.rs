//! Tests of [`super`]: every written form, whole and streamed in any split.

use super::*;
use serde_json::json;

const TOOLS: &[&str] = &["get_weather", "get_time"];

fn call(name: &str, arguments: Value) -> WrittenCall {
    WrittenCall {
        name: name.into(),
        arguments,
    }
}

/// What must be found in an output: the calls and the remaining text, or `None` for an answer.
type Expected = Option<(Vec<WrittenCall>, &'static str)>;

/// Model outputs and what must be found in them.
fn cases() -> Vec<(&'static str, Expected)> {
    let paris = || call("get_weather", json!({"location": "Paris"}));
    vec![
        // Qwen's own format.
        (
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
            Some((vec![paris()], "")),
        ),
        // Two tagged calls, the closing tag of the last one missing.
        (
            "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}</tool_call>\n\
             <tool_call>{\"name\": \"get_time\", \"arguments\": {}}",
            Some((vec![paris(), call("get_time", json!({}))], "")),
        ),
        // Text before a tagged call is kept.
        (
            "Let me check.\n<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}</tool_call>",
            Some((vec![paris()], "Let me check.")),
        ),
        // Bare JSON, as Qwen2.5-Coder-0.5B writes it.
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}",
            Some((vec![paris()], "")),
        ),
        // Doubled braces, as Qwen2.5-Coder-1.5B writes them.
        (
            "{{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}",
            Some((vec![paris()], "")),
        ),
        (
            "<tool_call>\n{{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}\n</tool_call>",
            Some((vec![paris()], "")),
        ),
        (
            "```json\n{{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}\n```",
            Some((vec![paris()], "")),
        ),
        // `parameters` instead of `arguments`, with leading whitespace.
        (
            "\n {\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}\n",
            Some((vec![paris()], "")),
        ),
        // Arguments as a JSON string.
        (
            "{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Paris\\\"}\"}",
            Some((vec![paris()], "")),
        ),
        // Fenced JSON.
        (
            "```json\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n```",
            Some((vec![paris()], "")),
        ),
        // A fence without a language, inside tool_call tags.
        (
            "<tool_call>\n```\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n```\n</tool_call>",
            Some((vec![paris()], "")),
        ),
        // The OpenAI shape.
        (
            "{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}",
            Some((vec![paris()], "")),
        ),
        // A list of calls.
        (
            "[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}, {\"name\": \"get_time\"}]",
            Some((vec![paris(), call("get_time", json!({}))], "")),
        ),
        // Several objects in a row.
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n{\"name\": \"get_time\", \"arguments\": {}}",
            Some((vec![paris(), call("get_time", json!({}))], "")),
        ),
        // One closing brace missing at the end of the output.
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}",
            Some((vec![paris()], "")),
        ),
        // One closing brace too many.
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}}",
            Some((vec![paris()], "")),
        ),
        // JSON after a call that is not a call is text.
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n{\"temperature_c\":18}",
            Some((vec![paris()], "{\"temperature_c\":18}")),
        ),
        // Text after a bare call is kept.
        (
            "{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\nI will check the weather.",
            Some((vec![paris()], "I will check the weather.")),
        ),
        // A tool on offer, without arguments.
        ("{\"name\": \"get_time\"}", Some((vec![call("get_time", json!({}))], ""))),
        // A call to a tool that is not on offer is still a call (the turn refuses it).
        (
            "{\"name\": \"count_to_10\", \"arguments\": {\"location\": \"Paris\"}}",
            Some((vec![call("count_to_10", json!({"location": "Paris"}))], "")),
        ),
        (
            "{{\"name\": \"set_name\", \"arguments\": {\"name\": \"Alice\"}}}",
            Some((vec![call("set_name", json!({"name": "Alice"}))], "")),
        ),
        // Plain text.
        ("The weather in Paris is sunny.", None),
        // JSON that is not a call: a name that is no tool and no arguments.
        ("{\"name\": \"Bob\", \"age\": 3}", None),
        ("{\"error\": \"there is no tool named `x`\"}", None),
        ("[1, 2, 3]", None),
        // A fenced block of another language.
        ("```python\nprint({\"name\": \"x\", \"arguments\": {}})\n```", None),
        // Fenced JSON that is not a call.
        ("```json\n{\"a\": 1}\n```", None),
        // Broken JSON.
        ("{\"name\": \"get_weather\", \"arguments\": {\"location\": Paris}}", None),
        // A tag with garbage inside.
        ("<tool_call>not json</tool_call>", None),
        // Arguments that are not an object.
        ("{\"name\": \"get_weather\", \"arguments\": [\"Paris\"]}", None),
    ]
}

#[test]
fn extracts_calls_from_whole_outputs() {
    for (output, expected) in cases() {
        let found = extract(output, TOOLS).map(|e| (e.calls, e.text));
        let expected = expected.map(|(calls, text)| (calls, text.to_owned()));
        assert_eq!(found, expected, "output: {output:?}");
    }
}

/// Streams `output` through a splitter in pieces of `size` chars and returns the text passed on
/// while streaming, the text at the end and the calls.
fn stream(output: &str, size: usize, detect: bool) -> (String, String, Vec<WrittenCall>) {
    let mut splitter = Splitter::new(TOOLS, detect);
    let mut streamed = String::new();
    let chars: Vec<char> = output.chars().collect();
    for piece in chars.chunks(size) {
        streamed.push_str(&splitter.push(&piece.iter().collect::<String>()));
    }
    let (text, calls) = splitter.finish();
    (streamed, text, calls)
}

#[test]
fn streaming_finds_the_same_calls_in_any_split() {
    for (output, expected) in cases() {
        for size in [1, 2, 3, 7, 1000] {
            let (streamed, text, calls) = stream(output, size, true);
            match &expected {
                Some((expected_calls, expected_text)) => {
                    assert_eq!(&calls, expected_calls, "output {output:?}, size {size}");
                    assert_eq!(
                        format!("{streamed}{text}").trim(),
                        *expected_text,
                        "output {output:?}, size {size}"
                    );
                }
                None => {
                    assert!(calls.is_empty(), "output {output:?}");
                    assert_eq!(format!("{streamed}{text}"), output, "size {size}");
                }
            }
        }
    }
}

#[test]
fn plain_text_is_streamed_at_once() {
    let (streamed, text, calls) = stream("Hello there, friend", 1, true);
    assert_eq!(
        (streamed.as_str(), text.as_str()),
        ("Hello there, friend", "")
    );
    assert!(calls.is_empty());
    // Code in another language streams as well.
    let (streamed, _, _) = stream("```rust\nfn main() {}\n```", 2, true);
    assert_eq!(streamed, "```rust\nfn main() {}\n```");
    // Counting streams number by number.
    let mut splitter = Splitter::new(TOOLS, true);
    assert_eq!(splitter.push("1"), "1");
    assert_eq!(splitter.push(", 2"), ", 2");
}

#[test]
fn possible_calls_are_held_back() {
    let mut splitter = Splitter::new(TOOLS, true);
    assert_eq!(splitter.push("  "), "");
    assert_eq!(splitter.push("<tool"), "");
    assert!(!splitter.is_capturing());
    assert_eq!(splitter.push("_call>"), "");
    assert!(splitter.is_capturing());
    let mut splitter = Splitter::new(TOOLS, true);
    assert_eq!(splitter.push("Sure. <tool"), "Sure. ");
    assert_eq!(splitter.push("_call>{\"name\""), "");
    assert!(splitter.is_capturing());
    let mut splitter = Splitter::new(TOOLS, true);
    assert_eq!(splitter.push("{{"), "");
    assert!(splitter.is_capturing());
    // An echoed tool result is held too; `<tool` alone is not yet known.
    let mut splitter = Splitter::new(TOOLS, true);
    assert_eq!(splitter.push("<tool_res"), "");
    assert!(!splitter.is_capturing());
    assert_eq!(splitter.push("ponse>\n{\"result\": 391}"), "");
    assert!(splitter.is_capturing());
    assert_eq!(
        splitter.finish(),
        ("<tool_response>\n{\"result\": 391}".into(), vec![])
    );
    let mut splitter = Splitter::new(TOOLS, true);
    assert_eq!(splitter.push("<tools are fun"), "<tools are fun");
}

#[test]
fn without_detection_nothing_is_read() {
    let output = "{\"name\": \"get_weather\", \"arguments\": {}}";
    let (streamed, text, calls) = stream(output, 3, false);
    assert_eq!((streamed.as_str(), text.as_str()), (output, ""));
    assert!(calls.is_empty());
}

#[test]
fn held_back_respects_char_boundaries() {
    assert_eq!(held_back("xé<tool", OPEN_TAG), 5);
    assert_eq!(held_back("abc", OPEN_TAG), 0);
    assert_eq!(held_back("é", "éa"), "é".len());
}
