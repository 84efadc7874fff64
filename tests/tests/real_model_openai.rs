//! Two of the tutorial's questions through `POST /v1/chat/completions`, asked by the official
//! `openai` Python package (installed by scripts/setup) of the compiled Worker on workerd, with the
//! default real model behind it (see `real_model.rs`): the two that only this endpoint can get
//! wrong, a history the client sends and a tool the server runs for the client. Every answer must
//! stream in several chunks; the key words are checked, never the wording. The others
//! (`real_model.rs` asks them all) add only model time here: plain text streams the same way
//! through this endpoint with the scripted model (`openai.rs`).

use agentc_tests::Stack;
use serde_json::Value;
use std::path::PathBuf;

/// The Python interpreter that has the `openai` package.
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("AGENTC_OPENAI_PYTHON") {
        return PathBuf::from(path);
    }
    let path = agentc::toolchain::cache_dir().join("python-openai-3.57.0/bin/python");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup to install the openai Python package",
        path.display()
    );
    path
}

/// Streams each conversation of `conversations` (a Python list of `(agent, messages)`) with the
/// openai client and prints, per conversation, the text and the number of content chunks.
const STREAM_ALL: &str = r#"
out = []
for agent, messages in conversations:
    chunks = list(client.chat.completions.create(model=agent, stream=True, messages=messages))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    out.append({"text": "".join(pieces), "chunks": len(pieces), "finish": chunks[-1].choices[0].finish_reason})
print(json.dumps(out))
"#;

fn numbers(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_client_streams_the_tutorials_answers() {
    let options = localai::LlamaOptions::default_model().expect("a cache directory");
    let engine = tokio::task::spawn_blocking(move || localai::Engine::llama(options))
        .await
        .expect("join")
        .unwrap_or_else(|err| {
            panic!("the default model does not load: {err} (run scripts/setup-model)")
        });
    let stack = Stack::start_with(engine).await;
    let program = format!(
        "import json, openai\nclient = openai.OpenAI(base_url={base:?}, api_key='unused', max_retries=0)\n\
         conversations = [\n\
           ('weather', [{{'role': 'user', 'content': 'My name is Alice'}}, {{'role': 'assistant', 'content': 'Nice to meet you, Alice!'}}, {{'role': 'user', 'content': 'What is my name?'}}]),\n\
           ('weather', [{{'role': 'user', 'content': 'What is the weather in Paris?'}}]),\n\
         ]\n{STREAM_ALL}",
        base = format!("{}/v1", stack.base),
    );
    let output = tokio::process::Command::new(python())
        .arg("-c")
        .arg(program)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "the openai client failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("the program prints JSON");
    let [name, weather] = &results[..] else {
        panic!("two answers: {results:?}")
    };
    for result in &results {
        assert!(
            result["chunks"].as_u64().unwrap() > 1,
            "several chunks: {result}"
        );
        assert_eq!(result["finish"], "stop", "{result}");
        let text = result["text"].as_str().unwrap();
        assert!(
            !text.contains("\"error\""),
            "an error is never the answer: {text}"
        );
    }
    let text = |result: &Value| result["text"].as_str().unwrap().to_owned();
    assert!(text(name).contains("Alice"), "{name}");
    assert!(numbers(&text(weather)).contains(&18), "{weather}");
    // The tools ran on the server: one weather lookup reached the fixture.
    let lookups = stack.fixture.received();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
}
