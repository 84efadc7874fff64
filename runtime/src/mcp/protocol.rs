//! The wire format of MCP over Streamable HTTP: JSON-RPC 2.0 requests, and replies that come
//! either as one JSON body or as a server-sent event stream.

use serde_json::{json, Value};

/// The protocol versions this client speaks, newest first. Streamable HTTP exists since
/// 2025-03-26; older servers speak the retired HTTP+SSE transport.
pub const SUPPORTED_VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// The `Accept` header of every POST: a server may answer either way.
pub const ACCEPT: &str = "application/json, text/event-stream";

/// A JSON-RPC request.
pub fn request(id: u64, method: &str, params: Value) -> String {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string()
}

/// A JSON-RPC notification (no id, no reply).
pub fn notification(method: &str) -> String {
    json!({ "jsonrpc": "2.0", "method": method }).to_string()
}

/// The `initialize` request's parameters.
pub fn initialize_params() -> Value {
    json!({
        "protocolVersion": SUPPORTED_VERSIONS[0],
        "capabilities": {},
        "clientInfo": { "name": "agentc", "version": env!("CARGO_PKG_VERSION") },
    })
}

/// Why a reply could not be used.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyError {
    /// The server answered with a JSON-RPC error.
    Rpc { code: i64, message: String },
    /// The reply was not what the protocol says.
    Malformed(String),
}

/// Finds the response to request `id` in a reply body (`application/json`, or
/// `text/event-stream` whose events carry JSON-RPC messages), and returns its `result`.
/// Notifications and requests the server sends along are skipped.
pub fn parse_reply(content_type: &str, body: &[u8], id: u64) -> Result<Value, ReplyError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ReplyError::Malformed("the reply is not UTF-8".into()))?;
    let messages: Vec<Value> = if content_type.starts_with("text/event-stream") {
        sse_data(text)
            .iter()
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .flat_map(batch)
            .collect()
    } else {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            ReplyError::Malformed(format!("the reply is not JSON ({err}): {}", snippet(text)))
        })?;
        batch(value)
    };
    let response = messages
        .into_iter()
        .find(|m| m.get("id").and_then(Value::as_u64) == Some(id) && m.get("method").is_none())
        .ok_or_else(|| {
            ReplyError::Malformed(format!("the reply has no response to request {id}"))
        })?;
    if let Some(error) = response.get("error") {
        return Err(ReplyError::Rpc {
            code: error["code"].as_i64().unwrap_or(0),
            message: error["message"].as_str().unwrap_or("no message").to_owned(),
        });
    }
    response
        .get("result")
        .cloned()
        .ok_or_else(|| ReplyError::Malformed(format!("the response to request {id} has no result")))
}

/// A message, or the messages of a batch.
fn batch(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => vec![other],
    }
}

/// The `data` of each event of an SSE stream (multi-line data joined with `\n`).
pub fn sse_data(text: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            events.extend(data.take());
            continue;
        }
        if let Some(rest) = line.strip_prefix("data:") {
            let rest = rest.strip_prefix(' ').unwrap_or(rest);
            match &mut data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(rest);
                }
                None => data = Some(rest.to_owned()),
            }
        }
    }
    events.extend(data);
    events
}

/// The protocol version the server chose in its `initialize` result, if this client speaks it.
pub fn negotiated_version(result: &Value) -> Result<&'static str, String> {
    let version = result["protocolVersion"].as_str().unwrap_or_default();
    SUPPORTED_VERSIONS
        .iter()
        .copied()
        .find(|v| *v == version)
        .ok_or_else(|| {
            format!(
                "the server speaks MCP protocol version `{version}`; agentc speaks {}",
                SUPPORTED_VERSIONS.join(", ")
            )
        })
}

/// One tool of a `tools/list` result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub description: String,
    /// The tool's `inputSchema`, a JSON Schema object.
    pub input_schema: Value,
}

/// The tools of one page of a `tools/list` result, and the cursor of the next page.
pub fn parse_tools(result: &Value) -> Result<(Vec<ToolInfo>, Option<String>), String> {
    let tools = result["tools"]
        .as_array()
        .ok_or("the `tools/list` result has no `tools` array")?;
    let tools = tools
        .iter()
        .filter_map(|tool| {
            Some(ToolInfo {
                name: tool["name"].as_str()?.to_owned(),
                description: tool["description"].as_str().unwrap_or_default().to_owned(),
                input_schema: match &tool["inputSchema"] {
                    Value::Object(schema) => Value::Object(schema.clone()),
                    _ => json!({ "type": "object" }),
                },
            })
        })
        .collect();
    let cursor = result["nextCursor"].as_str().map(str::to_owned);
    Ok((tools, cursor))
}

/// What a `tools/call` result means for the model: `structuredContent` when the server gives
/// it, else the text of its content (or the content itself when it is not all text). A result
/// with `isError` is an error whose message is its text.
pub fn tool_outcome(result: &Value) -> Result<Value, String> {
    let content = result["content"].as_array().cloned().unwrap_or_default();
    let texts: Option<Vec<&str>> = content
        .iter()
        .map(|c| (c["type"] == "text").then(|| c["text"].as_str()).flatten())
        .collect();
    let text = texts.map(|t| t.join("\n"));
    if result["isError"] == true {
        return Err(match text {
            Some(text) if !text.is_empty() => text,
            _ => format!(
                "the tool failed: {}",
                snippet(&Value::Array(content).to_string())
            ),
        });
    }
    if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
        return Ok(structured.clone());
    }
    Ok(match text {
        Some(text) => Value::String(text),
        None => Value::Array(content),
    })
}

/// At most 200 characters of a text, for error messages.
pub fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_as_json_or_as_event_streams() {
        let body = br#"{"jsonrpc":"2.0","id":3,"result":{"ok":true}}"#;
        assert_eq!(
            parse_reply("application/json", body, 3),
            Ok(json!({"ok": true}))
        );
        let sse = "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n\
                   id: 7\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\n\
                   data: \"id\":3,\"result\":{\"n\":1}}\n\n";
        assert_eq!(
            parse_reply("text/event-stream; charset=utf-8", sse.as_bytes(), 3),
            Ok(json!({"n": 1}))
        );
        // A batch, and a request from the server with the same id, which is not the answer.
        let body =
            br#"[{"jsonrpc":"2.0","id":3,"method":"ping"},{"jsonrpc":"2.0","id":3,"result":2}]"#;
        assert_eq!(parse_reply("application/json", body, 3), Ok(json!(2)));
    }

    #[test]
    fn reply_errors_say_what_is_wrong() {
        let body = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad params"}}"#;
        assert_eq!(
            parse_reply("application/json", body, 1),
            Err(ReplyError::Rpc {
                code: -32602,
                message: "bad params".into()
            })
        );
        let Err(ReplyError::Malformed(message)) = parse_reply("application/json", b"<html>", 1)
        else {
            panic!()
        };
        assert!(
            message.contains("not JSON") && message.contains("<html>"),
            "{message}"
        );
        let Err(ReplyError::Malformed(message)) =
            parse_reply("text/event-stream", b"data: {\"id\":2,\"result\":1}\n\n", 1)
        else {
            panic!()
        };
        assert!(message.contains("no response to request 1"), "{message}");
    }

    #[test]
    fn the_protocol_version_is_negotiated() {
        assert_eq!(
            negotiated_version(&json!({"protocolVersion": "2025-06-18"})),
            Ok("2025-06-18")
        );
        let err = negotiated_version(&json!({"protocolVersion": "2024-11-05"})).unwrap_err();
        assert!(
            err.contains("`2024-11-05`") && err.contains("2025-03-26"),
            "{err}"
        );
    }

    #[test]
    fn tool_lists_and_results() {
        let (tools, cursor) = parse_tools(&json!({
            "tools": [
                {"name": "add", "description": "Adds.", "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}}}},
                {"name": "bare"},
                {"description": "no name"}
            ],
            "nextCursor": "p2"
        }))
        .unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0].input_schema["properties"]["a"]["type"], "number");
        assert_eq!(tools[1].input_schema, json!({"type": "object"}));
        assert_eq!(cursor.as_deref(), Some("p2"));
        assert!(parse_tools(&json!({})).is_err());

        let text = |t: &str| json!({"type": "text", "text": t});
        assert_eq!(
            tool_outcome(&json!({"content": [text("7")], "structuredContent": {"result": 7}})),
            Ok(json!({"result": 7}))
        );
        assert_eq!(
            tool_outcome(&json!({"content": [text("a"), text("b")]})),
            Ok(json!("a\nb"))
        );
        let image = json!({"type": "image", "data": "AA==", "mimeType": "image/png"});
        assert_eq!(
            tool_outcome(&json!({"content": [image.clone()]})),
            Ok(json!([image]))
        );
        assert_eq!(
            tool_outcome(&json!({"content": [text("cannot divide by zero")], "isError": true})),
            Err("cannot divide by zero".into())
        );
    }
}
