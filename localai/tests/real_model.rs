//! End to end on a real model, the `small` one (Qwen2.5-Coder-0.5B-Instruct, run
//! by llama.cpp): these tests are about localai's mechanics (streaming, queue,
//! cancellation), so they take the fast model. The model file must be there:
//! run `scripts/setup-model`.
//! The test asserts structure, never wording or speed: decoding is greedy,
//! outputs are short and every wait is generous.

mod common;

use std::time::Duration;

use localai::{Engine, LlamaOptions, Server};
use serde_json::{json, Value};

use common::{binding, control, json_of, openai, parse_events, Events};

/// The longest wait for one answer (2 cores, debug build, busy machine).
const PATIENCE: Duration = Duration::from_secs(180);

fn weather_tool() -> Value {
    json!({
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string", "description": "The city, e.g. Paris"}},
            "required": ["location"]
        }
    })
}

fn weather_question(stream: bool) -> Value {
    json!({
        "messages": [
            {"role": "system", "content": "You are a weather assistant. Use the get_weather tool to look up the weather."},
            {"role": "user", "content": "What is the weather like in Paris right now?"}
        ],
        "tools": [weather_tool()],
        "max_tokens": 64,
        "temperature": 0,
        "stream": stream,
    })
}

/// Starts localai on the small model, or fails naming what to run.
async fn start(queue: usize) -> Server {
    let model = localai::models::named("small").expect("the catalogue has a small model");
    let path = model.path().expect("HOME or AGENTC_CACHE is set");
    assert!(
        path.is_file(),
        "the real-model test needs the small model at {}: run {}",
        path.display(),
        model.setup_command()
    );
    let mut options = LlamaOptions::new(&path);
    options.queue = queue;
    options.ctx_size = 2048;
    let engine = tokio::task::spawn_blocking(move || Engine::llama(options))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"));
    localai::spawn(engine).await.expect("localai starts")
}

async fn patiently<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {PATIENCE:?}"))
}

/// The usage event of a Workers AI stream, after checking `[DONE]` ends it.
fn usage_of(events: &[String]) -> Value {
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    let parsed = parse_events(&events[..events.len() - 1]);
    let usage = parsed.last().unwrap()["usage"].clone();
    let (prompt, completion) = (&usage["prompt_tokens"], &usage["completion_tokens"]);
    assert!(prompt.as_u64().unwrap() > 0, "{usage}");
    assert!(completion.as_u64().unwrap() > 0, "{usage}");
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(prompt.as_u64().unwrap() + completion.as_u64().unwrap())
    );
    usage
}

async fn health(server: &Server) -> Value {
    control(server, reqwest::Method::GET, "/_localai/health", None)
        .await
        .1
}

#[tokio::test]
async fn the_real_model_streams_answers_and_calls_tools() {
    let server = start(1).await;
    assert_eq!(health(&server).await["mode"], "llama");
    // A real model keeps a short recording, not every prompt it ever saw.
    assert_eq!(server.localai().record_limit(), localai::LLAMA_RECORD_LIMIT);

    // A streamed answer: text events, then usage, then [DONE].
    let inputs = json!({
        "messages": [{"role": "user", "content": "Say hello in a few words."}],
        "max_tokens": 24,
        "stream": true,
    });
    let events = patiently("a streamed answer", async {
        Events::new(binding(&server, inputs).await).rest().await
    })
    .await;
    let usage = usage_of(&events);
    let text: String = parse_events(&events[..events.len() - 2])
        .iter()
        .map(|event| event["response"].as_str().unwrap().to_string())
        .collect();
    assert!(!text.trim().is_empty(), "{events:?}");
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 24);

    // max_tokens is honoured.
    let inputs = json!({"prompt": "Count from 1 to 100, separated by commas.", "max_tokens": 5});
    let (status, body) = patiently("a short answer", async {
        json_of(binding(&server, inputs).await).await
    })
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["usage"]["completion_tokens"], 5, "{body}");

    // A weather question with a get_weather tool: a tool call, not text.
    let events = patiently("a streamed tool call", async {
        Events::new(binding(&server, weather_question(true)).await)
            .rest()
            .await
    })
    .await;
    usage_of(&events);
    let parsed = parse_events(&events[..events.len() - 1]);
    let calls: Vec<&Value> = parsed
        .iter()
        .filter_map(|event| event.get("tool_calls"))
        .flat_map(|calls| calls.as_array().unwrap())
        .collect();
    assert_eq!(calls.len(), 1, "{events:?}");
    assert_eq!(calls[0]["name"], "get_weather", "{events:?}");
    let location = calls[0]["arguments"]["location"]
        .as_str()
        .unwrap_or_default();
    assert!(!location.is_empty(), "{events:?}");

    // The same through the OpenAI API, not streamed.
    let mut body = weather_question(false);
    body["model"] = json!("@cf/qwen/qwen2.5-coder-32b-instruct");
    body["tools"] = json!([{"type": "function", "function": weather_tool()}]);
    let (status, body) = patiently("an OpenAI tool call", async {
        json_of(openai(&server, body).await).await
    })
    .await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{body}");
    let function = &choice["message"]["tool_calls"][0]["function"];
    assert_eq!(function["name"], "get_weather", "{body}");
    let arguments: Value = serde_json::from_str(function["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["location"].is_string(), "{body}");

    // With one generation running and one waiting (queue 1), a third
    // request gets the capacity error; clients that go away are cancelled.
    let long = json!({
        "prompt": "Count from 1 to 500, separated by commas.",
        "max_tokens": 400,
        "stream": true,
    });
    let mut running = Events::new(binding(&server, long.clone()).await);
    patiently("the first token", running.next()).await.unwrap();
    let waiting = binding(&server, long.clone()).await;
    assert_eq!(waiting.status(), 200);
    let (status, error) = json_of(binding(&server, long).await).await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["internalCode"], 3040, "{error}");
    assert_eq!(error["name"], "CapacityError", "{error}");
    drop(running);
    drop(waiting);
    patiently("both cancellations", async {
        loop {
            let requests = health(&server).await["requests"].clone();
            if requests["cancelled"] == 2 {
                assert_eq!(requests["rejected"], 1, "{requests}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    server.shutdown().await.unwrap();
}
