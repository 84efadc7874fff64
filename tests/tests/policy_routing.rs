//! Routing and fallbacks end to end: ordered rules pick the model and the tools of each message;
//! a model that fails before answering (localai scripted to answer `capacity` or `internal`)
//! hands the turn to the next model of the chain; the model that answered is reported in the
//! `done` event and the `x-agentc-model` header, the rule in `x-agentc-route`.

use agentc_tests::{answer, names, EventStream, Stack};
use serde_json::{json, Value};

const PRIMARY: &str = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
const FALLBACK_1: &str = "@cf/mistralai/mistral-small-3.1-24b-instruct";
const FALLBACK_2: &str = "@cf/qwen/qwen3-30b-a3b-fp8";
const GREETER: &str = "@cf/meta/llama-3.2-1b-instruct";
const PRO: &str = "@cf/meta/llama-4-scout-17b-16e-instruct";

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn chat(
    stack: &Stack,
    message: &str,
    session: &str,
    plan: Option<&str>,
) -> reqwest::Response {
    let mut request = stack
        .client
        .post(format!("{}/agents/routed/chat", stack.base))
        .json(&json!({ "message": message, "session_id": session }));
    if let Some(plan) = plan {
        request = request.header("x-plan", plan);
    }
    request.send().await.unwrap()
}

fn tool_names(inputs: &Value) -> Vec<String> {
    inputs["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| {
                    t["function"]["name"]
                        .as_str()
                        .or(t["name"].as_str())
                        .unwrap()
                        .to_owned()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_at_capacity_falls_back_to_the_next() {
    let stack = Stack::start(json!({
        "replies": [{ "error": "capacity" }, { "text": "Paris is the capital." }]
    }))
    .await;
    let response = chat(&stack, "Which city is the capital of France?", "f1", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-agentc-model"), FALLBACK_1);
    assert_eq!(header(&response, "x-agentc-route"), "2");
    let events = EventStream::new(response).collect_all().await;
    assert_eq!(names(&events).last(), Some(&"done"));
    assert_eq!(answer(&events), "Paris is the capital.");
    assert_eq!(events.last().unwrap().data["model"], FALLBACK_1);

    let models: Vec<String> = stack
        .model_requests()
        .iter()
        .map(|r| r.model.clone())
        .collect();
    assert_eq!(models, [PRIMARY, FALLBACK_1]);
    // The fallback got the very same prompt.
    let requests = stack.model_requests();
    assert_eq!(
        requests[0].inputs["messages"],
        requests[1].inputs["messages"]
    );
    assert_eq!(stack.history("routed", "f1").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_failing_is_a_502_that_stores_nothing() {
    let stack = Stack::start(json!({
        "replies": [{ "error": "capacity" }, { "error": "internal" }, { "error": "capacity" }]
    }))
    .await;
    let response = chat(&stack, "Which city is the capital of France?", "f2", None).await;
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "model_error");
    let message = error["error"]["message"].as_str().unwrap();
    for model in [PRIMARY, FALLBACK_1, FALLBACK_2] {
        assert!(message.contains(model), "{message}");
    }
    assert_eq!(stack.model_requests().len(), 3);
    assert!(stack.history("routed", "f2").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_pick_model_and_tools_in_order() {
    let stack = Stack::start(json!({
        "replies": [{ "text": "Ok." }], "when_exhausted": "repeat_last"
    }))
    .await;
    // (message, x-plan, rule, model, tools offered)
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, &'a [&'a str]);
    let cases: &[Case] = &[
        ("hello there", Some("pro"), "0", PRO, &["calculator"]),
        ("Hello there!", None, "1", GREETER, &[]),
        ("thanks", Some("free"), "1", GREETER, &[]),
        (
            "What is 17 times 23, exactly, please?",
            None,
            "2",
            PRIMARY,
            &["calculator"],
        ),
        (
            "Why is the sky blue?",
            None,
            "default",
            PRIMARY,
            &["calculator"],
        ),
        // A greeting too long for rule 1 is no greeting.
        (
            "hello, can you tell me what seventeen times twenty-three is?",
            None,
            "2",
            PRIMARY,
            &["calculator"],
        ),
    ];
    for (i, (message, plan, rule, model, tools)) in cases.iter().enumerate() {
        let response = chat(&stack, message, &format!("r{i}"), *plan).await;
        assert_eq!(response.status(), 200, "{message}");
        assert_eq!(header(&response, "x-agentc-route"), *rule, "{message}");
        assert_eq!(header(&response, "x-agentc-model"), *model, "{message}");
        let events = EventStream::new(response).collect_all().await;
        assert_eq!(events.last().unwrap().data["model"], *model, "{message}");
        let request = stack.model_requests().pop().unwrap();
        assert_eq!(request.model, *model, "{message}");
        assert_eq!(tool_names(&request.inputs), *tools, "{message}");
    }

    // The OpenAI endpoint routes the same way and names the model in a header too.
    let response = stack
        .client
        .post(format!("{}/v1/chat/completions", stack.base))
        .header("x-plan", "pro")
        .json(&json!({ "model": "routed", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-agentc-model"), PRO);
    assert_eq!(header(&response, "x-agentc-route"), "0");
    let completion: Value = response.json().await.unwrap();
    assert_eq!(completion["choices"][0]["message"]["content"], "Ok.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routed_model_falls_back_through_the_agents_chain() {
    let stack = Stack::start(json!({
        "replies": [{ "error": "internal" }, { "error": "capacity" }, { "text": "Hi!" }]
    }))
    .await;
    let response = chat(&stack, "hi", "f3", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-agentc-route"), "1");
    assert_eq!(header(&response, "x-agentc-model"), FALLBACK_2);
    let events = EventStream::new(response).collect_all().await;
    assert_eq!(events.last().unwrap().data["model"], FALLBACK_2);
    let models: Vec<String> = stack
        .model_requests()
        .iter()
        .map(|r| r.model.clone())
        .collect();
    assert_eq!(models, [GREETER, FALLBACK_1, FALLBACK_2]);
    // The routed rule's tools (none) stay with the fallbacks.
    assert!(stack
        .model_requests()
        .iter()
        .all(|r| tool_names(&r.inputs).is_empty()));
}
