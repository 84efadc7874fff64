//! The prompt: a request's messages and tools rendered with the model's own
//! chat template (the GGUF's `tokenizer.chat_template`, a Hugging Face
//! Jinja template), using minijinja configured like Hugging Face's renderer.
//!
//! Requests arrive in several shapes (Workers AI, OpenAI); they are brought
//! into the shape Hugging Face templates expect first:
//!
//! - tools become `{"type": "function", "function": {"name", "description", "parameters"}}`;
//! - message content becomes a string (text parts are joined, other JSON is
//!   written out, `null` becomes `""`);
//! - assistant tool calls become
//!   `{"type": "function", "function": {"name", "arguments": {...}}}` with the
//!   arguments as an object, even when they arrived as a JSON string.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, Value};
use serde_json::{json, Map, Value as Json};

/// What the model is told when tools are on offer, after the request's own system prompt.
/// Small models call a tool for every message once they see tools (the 1.5B model called an
/// invented `count_to` for "Count to 10" and `get_weather` with `location: "Alice"` for "My name
/// is Alice"); this keeps them to answering small talk in words.
pub const TOOL_GUIDANCE: &str = "When the user's last message asks for something a tool \
    provides (such as current data), call that tool and never guess its result. For anything \
    else (greetings, small talk, counting, what the user told you earlier) answer directly in \
    plain text, without calling any tool.";

/// The guidance for the model in `path`: its own, when the catalogue (`localai/models.json`,
/// `tool_guidance`) gives one, else [`TOOL_GUIDANCE`]. Small models differ in what makes them
/// call a tool: the same words that get the 1.5B model to call `get_weather` make the 0.5B one
/// answer order questions without `lookup_order`.
pub fn guidance_for(path: &std::path::Path) -> &'static str {
    crate::models::by_file(path)
        .and_then(|model| model.tool_guidance.as_deref())
        .unwrap_or(TOOL_GUIDANCE)
}

/// The messages with `guidance` added to the system prompt (a system message is put first if
/// there is none).
pub fn with_tool_guidance(messages: &[Json], guidance: &str) -> Vec<Json> {
    let mut messages = messages.to_vec();
    let system = messages
        .first_mut()
        .filter(|first| first.get("role").and_then(Json::as_str) == Some("system"));
    match system {
        Some(first) => {
            let content = content_text(first.get("content").unwrap_or(&Json::Null));
            let joined = if content.trim().is_empty() {
                guidance.to_owned()
            } else {
                format!("{}\n\n{guidance}", content.trim_end())
            };
            first["content"] = Json::String(joined);
        }
        None => messages.insert(0, json!({"role": "system", "content": guidance})),
    }
    messages
}

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

/// The name of the one template in the environment.
const NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles `source`; `bos_token` and `eos_token` are the texts of the
    /// model's special tokens, which some templates insert themselves.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, Error> {
        let mut env = Environment::new();
        // Hugging Face renders chat templates with these two options on.
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?;
        env.set_syntax(syntax);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_string())?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// Renders the prompt for `messages` (in any accepted shape) and
    /// `tools` (Workers AI or OpenAI shape), ending with the opening of the
    /// assistant's turn.
    pub fn render(&self, messages: &[Json], tools: &[Json]) -> Result<String, Error> {
        let messages: Vec<Json> = messages.iter().map(normalize_message).collect();
        let tools: Vec<Json> = tools.iter().map(normalize_tool).collect();
        let mut context = BTreeMap::new();
        context.insert("messages".to_string(), to_value(&Json::Array(messages)));
        // Templates test `if tools`: an empty list must be as false as none.
        let tools = if tools.is_empty() {
            Value::from(())
        } else {
            to_value(&Json::Array(tools))
        };
        context.insert("tools".to_string(), tools);
        context.insert("add_generation_prompt".to_string(), Value::from(true));
        context.insert(
            "bos_token".to_string(),
            Value::from(self.bos_token.as_str()),
        );
        context.insert(
            "eos_token".to_string(),
            Value::from(self.eos_token.as_str()),
        );
        self.env.get_template(NAME)?.render(Value::from(context))
    }
}

/// Brings a tool into the OpenAI shape that Hugging Face templates expect.
pub fn normalize_tool(tool: &Json) -> Json {
    match tool.get("function") {
        Some(function) if function.is_object() => json!({"type": "function", "function": function}),
        _ => json!({"type": "function", "function": tool}),
    }
}

/// The names of the tools of a request, in either shape.
pub fn tool_names(tools: &[Json]) -> Vec<String> {
    tools
        .iter()
        .filter_map(|tool| {
            let function = tool
                .get("function")
                .filter(|f| f.is_object())
                .unwrap_or(tool);
            function
                .get("name")
                .and_then(Json::as_str)
                .map(str::to_string)
        })
        .collect()
}

fn normalize_message(message: &Json) -> Json {
    let Some(object) = message.as_object() else {
        return json!({"role": "user", "content": content_text(message)});
    };
    let mut out = object.clone();
    out.insert(
        "content".into(),
        Json::String(content_text(object.get("content").unwrap_or(&Json::Null))),
    );
    if let Some(Json::Array(calls)) = object.get("tool_calls") {
        let calls: Vec<Json> = calls.iter().map(normalize_tool_call).collect();
        if calls.is_empty() {
            out.remove("tool_calls");
        } else {
            out.insert("tool_calls".into(), Json::Array(calls));
        }
    }
    Json::Object(out)
}

fn normalize_tool_call(call: &Json) -> Json {
    let function = call
        .get("function")
        .filter(|f| f.is_object())
        .unwrap_or(call);
    let name = function
        .get("name")
        .cloned()
        .unwrap_or(Json::String(String::new()));
    let arguments = match function
        .get("arguments")
        .or_else(|| function.get("parameters"))
    {
        Some(Json::String(text)) => match serde_json::from_str::<Json>(text) {
            Ok(parsed) => parsed,
            Err(_) => Json::String(text.clone()),
        },
        Some(arguments) => arguments.clone(),
        None => Json::Object(Map::new()),
    };
    let mut out = json!({
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    });
    if let Some(id) = call.get("id") {
        out["id"] = id.clone();
    }
    out
}

/// The text of a message's content: a string as is, the text parts of a
/// list joined, `null` as `""`, anything else as JSON.
fn content_text(content: &Json) -> String {
    match content {
        Json::Null => String::new(),
        Json::String(text) => text.clone(),
        Json::Array(parts) if parts.iter().all(|part| part.get("text").is_some()) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Json::as_str))
            .collect(),
        other => other.to_string(),
    }
}

/// Converts JSON into a template value.
fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        Json::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// Converts a template value back into JSON (for `tojson`).
fn to_json(value: &Value) -> Result<Json, Error> {
    use minijinja::value::ValueKind;
    Ok(match value.kind() {
        ValueKind::Undefined | ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(value.is_true()),
        ValueKind::Number => {
            if let Some(i) = value.as_i64() {
                Json::from(i)
            } else {
                let f = f64::try_from(value.clone())?;
                serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
            }
        }
        ValueKind::String => Json::String(value.as_str().unwrap_or_default().to_string()),
        ValueKind::Map => {
            let mut map = Map::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                let key = match key.as_str() {
                    Some(key) => key.to_string(),
                    None => key.to_string(),
                };
                map.insert(key, to_json(&item)?);
            }
            Json::Object(map)
        }
        ValueKind::Seq | ValueKind::Iterable => Json::Array(
            value
                .try_iter()?
                .map(|item| to_json(&item))
                .collect::<Result<_, _>>()?,
        ),
        _ => Json::String(value.to_string()),
    })
}

/// Keys written first, in this order, by `tojson`; others follow sorted.
/// This gives tool schemas their usual reading order (the request's own
/// key order is not kept by the JSON parser).
const KEY_ORDER: &[&str] = &[
    "type",
    "function",
    "name",
    "description",
    "parameters",
    "arguments",
    "properties",
    "required",
];

/// `tojson` as Hugging Face defines it for chat templates: Python's
/// `json.dumps(value, ensure_ascii=False)`, i.e. `", "` and `": "` as
/// separators, no HTML escaping, optional `indent`.
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let _: Option<bool> = kwargs.get("ensure_ascii")?;
    let _: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    write_json(&mut out, &to_json(value)?, indent, 0);
    Ok(Value::from_safe_string(out))
}

fn write_json(out: &mut String, json: &Json, indent: Option<usize>, depth: usize) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(width) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(width * depth));
        }
    };
    let item_separator = if indent.is_some() { "," } else { ", " };
    match json {
        Json::Array(items) if !items.is_empty() => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                write_json(out, item, indent, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Json::Object(map) if !map.is_empty() => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by_key(|key| {
                let rank = KEY_ORDER.iter().position(|k| k == key);
                (rank.unwrap_or(KEY_ORDER.len()), key.as_str())
            });
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push_str(item_separator);
                }
                newline(out, depth + 1);
                out.push_str(&Json::String(key.clone()).to_string());
                out.push_str(": ");
                write_json(out, &map[key], indent, depth + 1);
            }
            newline(out, depth);
            out.push('}');
        }
        // Scalars, `[]` and `{}`: serde_json writes them as Python does.
        other => out.push_str(&other.to_string()),
    }
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// `strftime_now(format)`, used by some templates to print today's date
/// (UTC). Supports `%Y %y %m %d %e %B %b %A %a %H %M %S %j %%`.
fn strftime_now(format: String) -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    strftime(&format, seconds)
}

fn strftime(format: &str, unix_seconds: u64) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let year_start = days_from_civil(year, 1, 1);
    let weekday = DAYS[(days % 7) as usize];
    let month_name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&format!("{day:>2}")),
            Some('B') => out.push_str(month_name),
            Some('b') => out.push_str(&month_name[..3]),
            Some('A') => out.push_str(weekday),
            Some('a') => out.push_str(&weekday[..3]),
            Some('H') => out.push_str(&format!("{:02}", secs / 3600)),
            Some('M') => out.push_str(&format!("{:02}", secs / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", secs % 60)),
            Some('j') => out.push_str(&format!("{:03}", days as i64 - year_start + 1)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Year, month (1-12) and day (1-31) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN: &str = include_str!("../../../tests/fixtures/qwen2.5-chat-template.jinja");

    fn qwen() -> ChatTemplate {
        ChatTemplate::new(QWEN, "<|endoftext|>", "<|im_end|>").unwrap()
    }

    fn weather_tool() -> Json {
        json!({
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"location": {"type": "string", "description": "City name"}},
                "required": ["location"]
            }
        })
    }

    #[test]
    fn renders_a_plain_chat_with_the_default_system_prompt() {
        let prompt = qwen()
            .render(&[json!({"role": "user", "content": "Hi"})], &[])
            .unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn renders_tools_in_the_system_turn_in_both_request_shapes() {
        let messages = [
            json!({"role": "system", "content": "You are a weather bot."}),
            json!({"role": "user", "content": "Weather in Paris?"}),
        ];
        let workers_ai = qwen().render(&messages, &[weather_tool()]).unwrap();
        let openai = qwen()
            .render(
                &messages,
                &[json!({"type": "function", "function": weather_tool()})],
            )
            .unwrap();
        assert_eq!(workers_ai, openai);
        assert_eq!(
            workers_ai,
            "<|im_start|>system\nYou are a weather bot.\n\n# Tools\n\n\
             You may call one or more functions to assist with the user query.\n\n\
             You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n\
             {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \
             \"description\": \"Get the current weather for a city\", \"parameters\": \
             {\"type\": \"object\", \"properties\": {\"location\": {\"type\": \"string\", \
             \"description\": \"City name\"}}, \"required\": [\"location\"]}}}\n</tools>\n\n\
             For each function call, return a json object with function name and arguments \
             within <tool_call></tool_call> XML tags:\n<tool_call>\n\
             {\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n\
             <|im_start|>user\nWeather in Paris?<|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn renders_tool_calls_and_tool_results() {
        let messages = [
            json!({"role": "user", "content": "Weather in Paris and Rome?"}),
            // Workers AI shape, arguments as an object.
            json!({"role": "assistant", "content": "", "tool_calls": [
                {"name": "get_weather", "arguments": {"location": "Paris"}}
            ]}),
            json!({"role": "tool", "name": "get_weather", "content": "18C, sunny"}),
            // OpenAI shape, arguments as a JSON string, content null.
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"location\": \"Rome\"}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_1", "content": {"temp": 21}}),
            json!({"role": "tool", "content": [{"type": "text", "text": "humid"}]}),
        ];
        let prompt = qwen().render(&messages, &[weather_tool()]).unwrap();
        let turns = prompt.split_once("<|im_start|>user\n").unwrap().1;
        assert_eq!(
            turns,
            "Weather in Paris and Rome?<|im_end|>\n\
             <|im_start|>assistant\n<tool_call>\n\
             {\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call><|im_end|>\n\
             <|im_start|>user\n<tool_response>\n18C, sunny\n</tool_response><|im_end|>\n\
             <|im_start|>assistant\n<tool_call>\n\
             {\"name\": \"get_weather\", \"arguments\": {\"location\": \"Rome\"}}\n</tool_call><|im_end|>\n\
             <|im_start|>user\n<tool_response>\n{\"temp\":21}\n</tool_response>\n\
             <tool_response>\nhumid\n</tool_response><|im_end|>\n\
             <|im_start|>assistant\n"
        );
    }

    #[test]
    fn tool_names_come_from_both_shapes() {
        let tools = [
            weather_tool(),
            json!({"type": "function", "function": {"name": "get_time"}}),
        ];
        assert_eq!(tool_names(&tools), ["get_weather", "get_time"]);
    }

    #[test]
    fn tojson_writes_like_python_json_dumps() {
        let template = ChatTemplate::new(
            "{{ messages[0] | tojson }}|{{ messages[0] | tojson(indent=2) }}",
            "",
            "",
        )
        .unwrap();
        let out = template
            .render(
                &[json!({"role": "user", "content": "é <b> \"q\"\n", "n": [1, 2.5, true, null]})],
                &[],
            )
            .unwrap();
        assert_eq!(
            out,
            "{\"content\": \"é <b> \\\"q\\\"\\n\", \"n\": [1, 2.5, true, null], \"role\": \"user\"}|\
             {\n  \"content\": \"é <b> \\\"q\\\"\\n\",\n  \"n\": [\n    1,\n    2.5,\n    true,\n    null\n  ],\n  \"role\": \"user\"\n}"
        );
    }

    #[test]
    fn raise_exception_fails_the_render() {
        let template =
            ChatTemplate::new("{{ raise_exception('no system role') }}", "", "").unwrap();
        let error = template.render(&[], &[]).unwrap_err();
        assert!(error.to_string().contains("no system role"), "{error}");
    }

    #[test]
    fn python_string_methods_work() {
        let template = ChatTemplate::new(
            "{{ messages[0].content.strip().upper() }}{% if messages[0].content.startswith(' a') %}!{% endif %}",
            "",
            "",
        )
        .unwrap();
        let out = template
            .render(&[json!({"role": "user", "content": " abc "})], &[])
            .unwrap();
        assert_eq!(out, "ABC!");
    }

    #[test]
    fn strftime_formats_dates() {
        // 2024-02-29 13:05:09 UTC, a Thursday.
        let t = 1_709_211_909;
        assert_eq!(
            strftime("%d %b %Y %H:%M:%S %A %j %y%%", t),
            "29 Feb 2024 13:05:09 Thursday 060 24%"
        );
        assert_eq!(strftime("%B %e", 0), "January  1");
    }

    #[test]
    fn each_catalogued_model_has_its_guidance() {
        let file = |name: &str| {
            let model = crate::models::named(name).unwrap();
            std::path::PathBuf::from("/m").join(&model.file)
        };
        assert_eq!(guidance_for(&file("default")), TOOL_GUIDANCE);
        let small = guidance_for(&file("small"));
        assert_ne!(small, TOOL_GUIDANCE);
        assert!(small.contains("never guess"), "{small}");
        assert_eq!(
            guidance_for(std::path::Path::new("/m/other.gguf")),
            TOOL_GUIDANCE
        );
    }

    #[test]
    fn tool_guidance_follows_the_system_prompt() {
        let messages = [
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "hi"}),
        ];
        let guided = with_tool_guidance(&messages, TOOL_GUIDANCE);
        assert_eq!(
            guided[0]["content"],
            format!("Be brief.\n\n{TOOL_GUIDANCE}")
        );
        assert_eq!(guided[1], messages[1]);
        let guided = with_tool_guidance(&messages[1..], TOOL_GUIDANCE);
        assert_eq!(
            guided[0],
            json!({"role": "system", "content": TOOL_GUIDANCE})
        );
        assert_eq!(guided.len(), 2);
    }
}
