//! The chat page at `/` in a real browser: headless Chromium (Debian's `chromium`, installed by
//! scripts/setup-system) driven by `playwright-core` (npm, from package-lock.json) through
//! tests/js/browser.mjs, against the compiled Worker on workerd with a scripted model. Screenshots
//! of each state land in `<target dir>/test-output/browser/`.

use agentc_tests::{repo_root, Stack};
use serde_json::{json, Value};
use std::path::PathBuf;

fn output_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("test-output/browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the output folder");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_chats_with_an_agent_from_the_page() {
    let chromium = std::env::var("AGENTC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "{chromium} is missing: run scripts/setup-system (Debian package `chromium`)"
    );
    assert!(
        repo_root()
            .join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is missing: run scripts/setup"
    );
    let stack = Stack::start(json!({ "replies": [
        { "tool_calls": [{ "name": "get_weather", "arguments": { "location": "Paris" } }] },
        { "chunks": ["It is ", "sunny ", "in ", "Paris."], "hold_after": 2 },
        { "text": "Welcome, key holder." },
        { "error": "internal" },
        { "text": "Spent.", "usage": { "prompt_tokens": 150, "completion_tokens": 10 } },
    ]}))
    .await;
    let out = output_dir();
    let output = tokio::process::Command::new("node")
        .arg(repo_root().join("tests/js/browser.mjs"))
        .arg(&stack.base)
        .arg(stack.localai.url())
        .arg(&out)
        .env("AGENTC_CHROMIUM", &chromium)
        .output()
        .await
        .expect("node runs (Node.js 20 or later is needed)");
    assert!(
        output.status.success(),
        "the browser script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    assert_eq!(seen["failure"], Value::Null, "{seen:#}");
    assert_eq!(seen["console"], json!([]), "no script errors on the page");

    // The page: served by the Worker, listing the agents that opt in.
    assert_eq!(seen["page"]["status"], 200);
    assert_eq!(seen["page"]["type"], "text/html; charset=utf-8");
    assert!(seen["page"]["csp"]
        .as_str()
        .unwrap()
        .contains("connect-src 'self'"));
    assert_eq!(
        seen["page"]["agents"],
        json!(["budget", "guarded", "toolbox"])
    );

    // The answer grew in at least two steps while streaming, then ended.
    let growth = seen["growth"].as_array().unwrap();
    let streamed: Vec<&str> = growth
        .iter()
        .filter(|g| g["state"] == "streaming" && g["text"] != "")
        .map(|g| g["text"].as_str().unwrap())
        .collect();
    assert!(
        streamed.len() >= 2,
        "the answer should grow in steps: {growth:?}"
    );
    assert!(streamed
        .windows(2)
        .all(|w| w[1].starts_with(w[0]) && w[1].len() > w[0].len()));
    assert_eq!(growth.last().unwrap()["state"], "done");
    assert_eq!(seen["answer"], "It is sunny in Paris.");
    assert_eq!(seen["tool_while_streaming"], "get_weather");

    // The tool call, folded under the answer, with its result; what answered, in the meta line.
    assert_eq!(seen["tool"]["name"], "get_weather");
    assert!(seen["tool"]["args"].as_str().unwrap().contains("Paris"));
    assert!(seen["tool"]["result"].as_str().unwrap().contains("sunny"));
    let meta = seen["meta"].as_str().unwrap();
    for part in [
        "model @cf/meta/llama-3.3-70b-instruct-fp8-fast",
        "route default",
        "2 steps",
    ] {
        assert!(meta.contains(part), "{meta:?} lacks {part:?}");
    }

    // A reload shows the same conversation, read from the server.
    let session = seen["session"].as_str().unwrap();
    assert_eq!(seen["reloaded"]["session"], session);
    assert_eq!(
        seen["reloaded"]["user"],
        json!(["What is the weather in Paris?"])
    );
    assert_eq!(seen["reloaded"]["answer"], "It is sunny in Paris.");
    assert_eq!(seen["reloaded"]["tool"], "get_weather");

    // Forget deleted it on the server, and the page moved to a new session.
    assert_eq!(seen["forgotten"]["messages"], 0);
    assert_ne!(seen["forgotten"]["session"], session);
    let stored = stack
        .client
        .get(format!("{}/agents/toolbox/sessions/{session}", stack.base))
        .send()
        .await
        .unwrap();
    // Empty, or not found where sessions must exist.
    if stored.status() != 404 {
        let body: Value = stored.json().await.unwrap();
        assert_eq!(body["messages"], json!([]), "{body}");
    }

    // The key prompt on 401, a wrong key refused, the right one used.
    assert!(seen["key_prompt"]
        .as_str()
        .unwrap()
        .contains("needs an API key"));
    assert!(seen["wrong_key"]
        .as_str()
        .unwrap()
        .starts_with("That key was not accepted"));
    assert_eq!(seen["guarded_answer"], "Welcome, key holder.");

    // Errors in words: 413 (and the message is kept to edit), 502, 429 with its wait.
    let too_long = seen["too_long"].as_str().unwrap();
    assert!(too_long.contains("too long"), "{too_long}");
    assert!(too_long.contains("at most 200"), "{too_long}");
    assert_eq!(seen["kept_input"], 300);
    let failed = seen["model_failed"].as_str().unwrap();
    assert!(
        failed.contains("The model could not answer right now"),
        "{failed}"
    );
    let limited = seen["rate_limited"].as_str().unwrap();
    assert!(
        limited.contains("The token budget is used up: you can send again in"),
        "{limited}"
    );
    assert_eq!(seen["send_disabled"], true);

    // A screenshot of each state.
    let mut shots: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    shots.sort();
    assert_eq!(
        shots,
        [
            "01-loaded.png",
            "02-streaming.png",
            "03-answered.png",
            "04-tool-call-open.png",
            "05-reloaded.png",
            "06-forgotten.png",
            "07-key-prompt.png",
            "08-too-long.png",
            "09-model-failed.png",
            "10-rate-limited.png"
        ]
    );
    for shot in &shots {
        let bytes = std::fs::read(out.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is a PNG");
    }
}
