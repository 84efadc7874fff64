//! One answer as the runner read it: status, headers, the body or its server-sent events, and
//! how long it took; and what the assertions read out of it (the answer text, the tool calls,
//! the `done` event, the error).

use serde_json::Value as Json;
use std::time::Duration;

/// A request as the runner sends it (the target adds its base URL).
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    /// The data as JSON, or as a string when it is not JSON.
    pub data: Json,
}

/// An answer, read to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u16,
    /// Lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The events of an event stream (`text/event-stream`); empty otherwise.
    pub events: Vec<Event>,
    /// The body of any other answer.
    pub body: String,
    /// From sending the request to the end of the answer.
    pub latency: Duration,
}

impl Outcome {
    /// Builds an outcome from what was received, parsing an event stream.
    pub fn new(
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
        latency: Duration,
    ) -> Self {
        let text = String::from_utf8_lossy(body).into_owned();
        let is_stream = headers.iter().any(|(n, v)| {
            n == "content-type" && v.split(';').next().map(str::trim) == Some("text/event-stream")
        });
        let (events, body) = if is_stream {
            (parse_events(&text), String::new())
        } else {
            (Vec::new(), text)
        };
        Outcome {
            status,
            headers,
            events,
            body,
            latency,
        }
    }

    /// A header's value (the first, when repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the answer is an event stream.
    pub fn is_stream(&self) -> bool {
        self.header("content-type")
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            == Some("text/event-stream")
    }

    /// The answer's text: the `delta` events joined, or the body of an answer that is not a
    /// stream.
    pub fn answer(&self) -> String {
        if !self.is_stream() {
            return self.body.clone();
        }
        self.events
            .iter()
            .filter(|e| e.name == "delta")
            .filter_map(|e| e.data.get("text").and_then(Json::as_str))
            .collect()
    }

    /// The tool calls, in order: `(name, arguments)`.
    pub fn tool_calls(&self) -> Vec<(&str, &Json)> {
        self.events
            .iter()
            .filter(|e| e.name == "tool_call")
            .map(|e| {
                let name = e.data.get("name").and_then(Json::as_str).unwrap_or("");
                (name, e.data.get("arguments").unwrap_or(&Json::Null))
            })
            .collect()
    }

    /// The `done` event's data.
    pub fn done(&self) -> Option<&Json> {
        self.events
            .iter()
            .rev()
            .find(|e| e.name == "done")
            .map(|e| &e.data)
    }

    /// The error of the answer: the stream's `error` event, or a JSON error body
    /// (`{"error": {"code", "message"}}`), as `(code, message)`.
    pub fn error(&self) -> Option<(String, String)> {
        let error = match self.events.iter().find(|e| e.name == "error") {
            Some(event) => event.data.clone(),
            None => serde_json::from_str::<Json>(&self.body)
                .ok()?
                .get("error")?
                .clone(),
        };
        let field = |name: &str| {
            error
                .get(name)
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Some((field("code"), field("message")))
    }

    /// The session id the server gave this answer, if it says: an `x-agentc-session` header
    /// or the `done` event's `session_id`.
    pub fn session_id(&self) -> Option<String> {
        self.header("x-agentc-session")
            .map(str::to_owned)
            .or_else(|| {
                self.done()?
                    .get("session_id")
                    .and_then(Json::as_str)
                    .map(str::to_owned)
            })
    }
}

/// Parses an event stream: frames separated by blank lines, `event:` and `data:` fields (data
/// lines joined by newlines), comments ignored. Data that is not JSON is kept as a string.
pub fn parse_events(text: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let text = text.replace("\r\n", "\n");
    for frame in text.split("\n\n") {
        let mut name = String::from("message");
        let mut data: Vec<&str> = Vec::new();
        let mut any = false;
        for line in frame.lines() {
            if line.starts_with(':') || line.is_empty() {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => {
                    name = value.to_owned();
                    any = true;
                }
                "data" => {
                    data.push(value);
                    any = true;
                }
                _ => {}
            }
        }
        if any {
            let data = data.join("\n");
            let data = serde_json::from_str(&data).unwrap_or(Json::String(data));
            events.push(Event { name, data });
        }
    }
    events
}

/// The events in a line, for reports: `tool_call get_weather {"location":"Paris"}`,
/// `delta ×12`, `done (model @cf/…, 2 steps)`.
pub fn summarize(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut deltas = 0;
    let flush = |deltas: &mut usize, out: &mut Vec<String>| {
        if *deltas > 0 {
            out.push(format!("delta ×{deltas}"));
            *deltas = 0;
        }
    };
    for event in events {
        if event.name == "delta" {
            deltas += 1;
            continue;
        }
        flush(&mut deltas, &mut out);
        let field = |name: &str| event.data.get(name).cloned().unwrap_or(Json::Null);
        let line = match event.name.as_str() {
            "tool_call" => format!(
                "tool_call {} {}",
                field("name").as_str().unwrap_or("?"),
                field("arguments")
            ),
            "tool_result" => {
                let ok = field("ok") == Json::Bool(true);
                let detail = if ok { field("result") } else { field("error") };
                let mut detail = detail.to_string();
                if detail.chars().count() > 80 {
                    detail = detail.chars().take(77).collect::<String>() + "...";
                }
                format!(
                    "tool_result {} {} {detail}",
                    field("name").as_str().unwrap_or("?"),
                    if ok { "ok" } else { "failed" }
                )
            }
            "done" => format!(
                "done (model {}, {} step(s))",
                field("model").as_str().unwrap_or("?"),
                field("steps")
            ),
            "error" => format!(
                "error {}: {}",
                field("code").as_str().unwrap_or("?"),
                field("message").as_str().unwrap_or("")
            ),
            other => format!("{other} {}", event.data),
        };
        out.push(line);
    }
    flush(&mut deltas, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(body: &str) -> Outcome {
        Outcome::new(
            200,
            vec![("content-type".into(), "text/event-stream".into())],
            body.as_bytes(),
            Duration::from_millis(5),
        )
    }

    #[test]
    fn events_are_read_out_of_a_stream() {
        let outcome = stream(concat!(
            "event: tool_call\ndata: {\"id\":\"c1\",\"name\":\"get_weather\",\"arguments\":{\"location\":\"Paris\"}}\n\n",
            ": a comment\n\n",
            "event: delta\ndata: {\"text\":\"It is \"}\n\n",
            "event: delta\r\ndata: {\"text\":\"18 C\"}\r\n\r\n",
            "event: done\ndata: {\"model\":\"m\",\"steps\":2,\"session_id\":\"s9\"}\n\n",
        ));
        assert_eq!(outcome.answer(), "It is 18 C");
        assert_eq!(
            outcome.tool_calls(),
            [("get_weather", &serde_json::json!({"location": "Paris"}))]
        );
        assert_eq!(outcome.done().unwrap()["steps"], 2);
        assert_eq!(outcome.session_id().as_deref(), Some("s9"));
        assert_eq!(
            summarize(&outcome.events),
            [
                "tool_call get_weather {\"location\":\"Paris\"}",
                "delta ×2",
                "done (model m, 2 step(s))"
            ]
        );
    }

    #[test]
    fn errors_come_from_the_body_or_the_stream() {
        let body = Outcome::new(
            401,
            vec![("content-type".into(), "application/json".into())],
            br#"{"error":{"code":"unauthorized","message":"no key"}}"#,
            Duration::ZERO,
        );
        assert_eq!(body.error(), Some(("unauthorized".into(), "no key".into())));
        assert_eq!(
            body.answer(),
            r#"{"error":{"code":"unauthorized","message":"no key"}}"#
        );
        let streamed =
            stream("event: error\ndata: {\"code\":\"model_error\",\"message\":\"x\"}\n\n");
        assert_eq!(streamed.error().unwrap().0, "model_error");
        assert_eq!(
            stream("event: delta\ndata: {\"text\":\"a\"}\n\n").error(),
            None
        );
    }
}
