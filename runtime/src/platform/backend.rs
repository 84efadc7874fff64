//! The turn's [`Backend`] on Workers: the AI binding, tools, timers and the log.

use super::ai;
#[cfg(feature = "http-tools")]
use super::fetch_tool;
#[allow(unused_imports)] // Which kinds are matched depends on the features.
use crate::agent::{Builtin, ToolKind, ToolSpec};
use crate::tools::builtin;
use crate::turn::Backend;
use futures_util::stream::Stream;
use serde_json::Value;
use std::pin::Pin;
use worker::js_sys::Date;
use worker::Env;

/// The platform side of a turn.
pub struct WorkerBackend {
    pub env: Env,
}

/// A model's byte stream.
pub type ModelBytes = Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>>>>;

impl Backend for WorkerBackend {
    type Bytes = ModelBytes;

    async fn call_model(&self, model: &str, inputs: &str) -> Result<ModelBytes, String> {
        let stream = ai::run_streaming(&self.env, model, inputs).await?;
        Ok(Box::pin(stream))
    }

    async fn run_tool(&self, tool: &'static ToolSpec, arguments: Value) -> Result<Value, String> {
        // A kind of tool no agent of the Worker has is not compiled in (its feature is off;
        // `#[cfg]`, not `cfg!`: a constant guard still left the code in).
        let _ = &arguments;
        match tool.kind {
            #[cfg(feature = "calculator")]
            ToolKind::Builtin(Builtin::Calculator) => builtin::calculate(&arguments),
            #[cfg(feature = "clock")]
            ToolKind::Builtin(Builtin::Clock) => clock(&arguments),
            #[cfg(feature = "http-tools")]
            ToolKind::Http(spec) => fetch_tool::run(&self.env, &spec, &arguments).await,
            #[cfg(feature = "tools")]
            ToolKind::Rust(function) => (function.0)(arguments).await,
            #[cfg(feature = "mcp")]
            ToolKind::Mcp(mcp) => super::mcp::call(&self.env, &mcp, arguments).await,
            #[allow(unreachable_patterns)] // With every kind's feature on, none is left.
            _ => Err(format!(
                "the tool `{}` is not compiled into this Worker",
                tool.name
            )),
        }
    }

    async fn sleep(&self, ms: u32) {
        worker::Delay::from(std::time::Duration::from_millis(u64::from(ms))).await;
    }

    fn log(&self, line: &str) {
        worker::console_log!("{line}");
    }

    fn now_ms(&self) -> f64 {
        now_ms()
    }
}

/// Milliseconds since the Unix epoch. The platform advances it only across I/O, which is what
/// latencies are made of.
pub fn now_ms() -> f64 {
    Date::now()
}

/// The current time as RFC 3339 UTC.
pub fn now() -> String {
    builtin::rfc3339(Date::now())
}

#[cfg(feature = "clock")]
/// The `clock` tool: UTC always, and the local time of an IANA zone when one is asked for,
/// formatted by the platform's own time zone database (`Intl.DateTimeFormat`).
fn clock(arguments: &Value) -> Result<Value, String> {
    use serde_json::json;
    use wasm_bindgen::{JsCast, JsValue};
    use worker::js_sys::{Array, Function, Object, Reflect};
    let now_ms = Date::now();
    let mut result = json!({ "utc": builtin::rfc3339(now_ms), "unix_ms": now_ms as i64 });
    if let Some(zone) = arguments["timezone"].as_str() {
        let options = Object::new();
        let set = |key: &str, value: &str| {
            let _ = Reflect::set(&options, &key.into(), &value.into());
        };
        set("timeZone", zone);
        for key in ["year", "month", "day", "hour", "minute", "second"] {
            set(key, "2-digit");
        }
        set("year", "numeric");
        set("hourCycle", "h23");
        set("timeZoneName", "short");
        let unknown = |_| format!("unknown time zone `{zone}`");
        // `new Intl.DateTimeFormat(..)` throws a RangeError for an unknown zone; constructing
        // through Reflect turns that into an `Err` instead of an exception through wasm.
        let intl = Reflect::get(&worker::js_sys::global(), &"Intl".into()).map_err(unknown)?;
        let constructor: Function = Reflect::get(&intl, &"DateTimeFormat".into())
            .map_err(unknown)?
            .dyn_into()
            .map_err(|_| "Intl.DateTimeFormat is missing".to_string())?;
        let locales = Array::of1(&JsValue::from_str("sv-SE"));
        let format =
            Reflect::construct(&constructor, &Array::of2(&locales, &options)).map_err(unknown)?;
        let formatter: Function = Reflect::get(&format, &"format".into())
            .map_err(unknown)?
            .dyn_into()
            .map_err(|_| "Intl.DateTimeFormat has no format method".to_string())?;
        let local = formatter
            .call1(&format, &Date::new(&JsValue::from_f64(now_ms)))
            .map_err(unknown)?;
        result["timezone"] = json!(zone);
        result["local"] = json!(local.as_string().unwrap_or_default());
    }
    Ok(result)
}
