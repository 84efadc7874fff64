//! The tool loop end to end: the `toolbox` test agent on real workerd; localai's scripted model
//! asks for tools; HTTP tools reach the fixture server that stands in for the internet.

use agentc_tests::{answer, messages, names, Event, Stack};
use serde_json::{json, Value};

fn call(name: &str, arguments: Value) -> Value {
    json!({ "tool_calls": [{ "name": name, "arguments": arguments }] })
}

fn data<'a>(events: &'a [Event], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e.name == name)
        .map(|e| &e.data)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_step_tool_turn_calls_the_http_tool() {
    let stack = Stack::start(json!({ "replies": [
        call("get_weather", json!({ "location": "São Paulo" })),
        { "text": "It is sunny and 21°C in São Paulo." },
    ]}))
    .await;
    let events = stack
        .chat_events("toolbox", "Weather in São Paulo?", "w")
        .await;
    assert_eq!(names(&events)[..2], ["tool_call", "tool_result"]);
    assert_eq!(names(&events).last(), Some(&"done"));
    assert_eq!(events[0].data["name"], "get_weather");
    assert_eq!(
        events[0].data["arguments"],
        json!({ "location": "São Paulo" })
    );
    assert_eq!(events[1].data["id"], events[0].data["id"]);
    assert_eq!(events[1].data["ok"], true);
    assert_eq!(
        events[1].data["result"],
        json!({ "status": 200, "body": { "city": "São Paulo", "temp_c": 21, "conditions": "sunny" } })
    );
    assert_eq!(answer(&events), "It is sunny and 21°C in São Paulo.");
    assert_eq!(events.last().unwrap().data["steps"], 2);

    // The HTTP tool's URL was rendered from its template, argument URL-encoded.
    let sent = stack.fixture.received();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].host, "api.weather.test");
    assert_eq!(sent[0].target, "/v1/current?city=S%C3%A3o%20Paulo");

    // The second model call carries the tool call and its result, in Workers AI's form.
    let requests = stack.model_requests();
    let second = &requests[1].inputs;
    let tools: Vec<&str> = requests[0].inputs["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tools,
        [
            "get_weather",
            "slow_lookup",
            "fetch_status",
            "calculator",
            "clock"
        ]
    );
    let msgs = second["messages"].as_array().unwrap();
    assert_eq!(msgs[2]["role"], "assistant");
    assert_eq!(msgs[2]["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(msgs[3]["role"], "tool");
    assert_eq!(msgs[3]["tool_call_id"], events[0].data["id"]);

    // The whole exchange is stored, tool messages included.
    let stored: Vec<String> = stack
        .history("toolbox", "w")
        .await
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(stored, ["user", "assistant", "tool", "assistant"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tool_calls_run_together() {
    let stack = Stack::start(json!({ "replies": [
        { "tool_calls": [
            { "name": "get_weather", "arguments": { "location": "Oslo" } },
            { "name": "get_weather", "arguments": { "location": "Rome" } },
            { "name": "calculator", "arguments": { "expression": "(4 + 21) / 2" } },
        ]},
        { "text": "Average 12.5°C." },
    ]}))
    .await;
    let events = stack
        .chat_events("toolbox", "Average of Oslo and Rome?", "p")
        .await;
    assert_eq!(
        names(&events)[..6],
        [
            "tool_call",
            "tool_call",
            "tool_call",
            "tool_result",
            "tool_result",
            "tool_result"
        ]
    );
    assert_eq!(answer(&events), "Average 12.5°C.");
    assert_eq!(names(&events).last(), Some(&"done"));
    let results = data(&events, "tool_result");
    assert_eq!(results[0]["result"]["body"]["temp_c"], 4);
    assert_eq!(results[1]["result"]["body"]["temp_c"], 21);
    assert_eq!(results[2]["result"]["result"], 12.5);
    let mut hosts: Vec<String> = stack
        .fixture
        .received()
        .into_iter()
        .map(|o| o.target)
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["/v1/current?city=Oslo", "/v1/current?city=Rome"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_timeouts_and_refusals_go_back_to_the_model() {
    let stack = Stack::start(json!({ "replies": [
        { "tool_calls": [
            { "name": "get_weather", "arguments": { "city": "Paris" } },
            { "name": "slow_lookup", "arguments": { "query": "anything" } },
            { "name": "fetch_status", "arguments": { "host": "127.0.0.1" } },
            { "name": "fetch_status", "arguments": { "host": "2130706433" } },
            { "name": "fetch_status", "arguments": { "host": "169.254.169.254" } },
            { "name": "fetch_status", "arguments": { "host": "elsewhere.example.com" } },
            { "name": "fetch_status", "arguments": { "host": "status.weather.test" } },
        ]},
        { "text": "Some of that failed." },
    ]}))
    .await;
    let events = stack.chat_events("toolbox", "Try everything", "e").await;
    let results = data(&events, "tool_result");
    assert_eq!(results.len(), 7);
    let error = |i: usize| results[i]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error(0).contains("location"), "bad arguments: {}", error(0));
    assert!(
        error(1).contains("timed out after 300 ms"),
        "timeout: {}",
        error(1)
    );
    for (i, result) in results.iter().enumerate().take(6).skip(2) {
        assert_eq!(result["ok"], false, "{i}: {result}");
        assert!(error(i).contains("refused"), "SSRF {i}: {}", error(i));
    }
    assert!(
        error(5).contains("may only reach status.weather.test"),
        "{}",
        error(5)
    );
    assert_eq!(results[6]["ok"], true, "{}", results[6]);
    assert_eq!(results[6]["result"]["body"], "all systems go");
    assert_eq!(names(&events).last(), Some(&"done"));

    // Refused and invalid calls never left the Worker; the slow one did, and was abandoned.
    let mut hosts: Vec<String> = stack
        .fixture
        .received()
        .into_iter()
        .map(|o| o.host)
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["slow.weather.test", "status.weather.test"]);

    // Every error went back to the model as a tool message.
    let second = &stack.model_requests()[1].inputs["messages"];
    let tool_messages = second
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .count();
    assert_eq!(tool_messages, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_steps_ends_the_turn_and_stores_nothing() {
    let stack = Stack::start(json!({ "replies": [
        call("clock", json!({})),
        call("clock", json!({ "timezone": "Europe/Paris" })),
        call("clock", json!({})),
    ]}))
    .await;
    let events = stack.chat_events("toolbox", "Time?", "m").await;
    let last = events.last().unwrap();
    assert_eq!(last.name, "error");
    assert_eq!(last.data["code"], "max_steps_exceeded");
    assert_eq!(stack.model_requests().len(), 3, "max_steps: 3");
    let clock = data(&events, "tool_result");
    assert!(
        clock[1]["result"]["local"].as_str().unwrap().contains(':'),
        "{}",
        clock[1]
    );
    assert_eq!(stack.history("toolbox", "m").await, vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_written_as_text_is_still_a_call() {
    let stack = Stack::start(json!({ "replies": [
        { "chunks": ["{\"name\": \"calculator\", ", "\"parameters\": {\"expression\": \"6 * 7\"}}"] },
        { "text": "42." },
    ]}))
    .await;
    let events = stack.chat_events("toolbox", "6 times 7?", "t").await;
    assert_eq!(
        names(&events),
        ["tool_call", "tool_result", "delta", "done"]
    );
    assert_eq!(data(&events, "tool_result")[0]["result"]["result"], 42.0);
    assert_eq!(answer(&events), "42.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_prompt_is_rendered_per_turn() {
    let stack = Stack::start(json!({ "replies": [{ "text": "Hi." }] })).await;
    stack.chat_events("toolbox", "Hello", "s").await;
    let sent = messages(&stack.model_requests()[0].inputs["messages"]);
    let system = &sent[0].1;
    assert!(
        system.starts_with("You answer with the help of tools. Today is 20"),
        "{system}"
    );
    assert!(!system.contains("{{"), "{system}");
}
