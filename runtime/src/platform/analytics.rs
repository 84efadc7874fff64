//! The optional Workers Analytics Engine binding: one data point per turn, with the fields of
//! the turn's log line. Without the binding nothing is written.

use crate::observe::TurnLog;
use wasm_bindgen::JsCast;
use worker::js_sys::{Function, Reflect, JSON};
use worker::Env;

/// Writes a turn's data point: blobs `[agent, route, model, cache, error]`, doubles `[steps,
/// tokens_in, tokens_out, ttft_ms, total_ms, tool calls, failed tool calls]`, index the agent.
pub fn write(env: &Env, log: &TurnLog) {
    let env: &wasm_bindgen::JsValue = env.as_ref();
    let Ok(dataset) = Reflect::get(env, &super::ANALYTICS_BINDING.into()) else {
        return;
    };
    if dataset.is_undefined() || dataset.is_null() {
        return;
    }
    #[derive(serde::Serialize)]
    struct Point<'a> {
        blobs: [&'a str; 5],
        doubles: [f64; 7],
        indexes: [&'a str; 1],
    }
    let failed_tools = log.tools.iter().filter(|t| !t.ok).count();
    let point = Point {
        blobs: [
            log.agent,
            &log.route,
            log.model.unwrap_or_default(),
            log.cache,
            log.error.unwrap_or_default(),
        ],
        doubles: [
            f64::from(log.steps),
            log.tokens_in as f64,
            log.tokens_out as f64,
            log.ttft_ms.unwrap_or_default() as f64,
            log.total_ms as f64,
            log.tools.len() as f64,
            failed_tools as f64,
        ],
        indexes: [log.agent],
    };
    let Ok(point) = serde_json::to_string(&point) else {
        return;
    };
    let result = JSON::parse(&point).and_then(|point| {
        let write: Function = Reflect::get(&dataset, &"writeDataPoint".into())?.dyn_into()?;
        write.call1(&dataset, &point)
    });
    if result.is_err() {
        worker::console_error!("agentc: could not write to {}", super::ANALYTICS_BINDING);
    }
}
