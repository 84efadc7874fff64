//! HTTP tools on Workers: render the request from templates, refuse private destinations,
//! fetch without following redirects, and cap what is read of the answer.

use super::abort::AbortOnDrop;
use crate::agent::HttpToolSpec;
use crate::tools::{ssrf, template};
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use worker::{Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

/// Runs one HTTP tool call with checked arguments.
pub async fn run(env: &Env, spec: &HttpToolSpec, arguments: &Value) -> Result<Value, String> {
    let mut secrets = Map::new();
    for name in spec.secrets {
        let value = env
            .secret(name)
            .map_err(|_| format!("the secret `{name}` is not set (wrangler secret put {name})"))?;
        secrets.insert((*name).to_owned(), Value::String(value.to_string()));
    }
    let context = json!({ "args": arguments, "secrets": secrets, "now": super::backend::now() });
    // Rendering errors name the template, never its rendered text, which may hold secrets.
    let render = |what: &str, source: &template::Template| {
        template::render(source, &context)
            .map_err(|err| format!("rendering the {what} failed: {err}"))
    };
    let url = render("url", &spec.url)?;
    let url = ssrf::check_listed_url(&url, spec.allow_hosts).map_err(|err| err.to_string())?;
    let headers = Headers::new();
    for (name, value) in spec.headers {
        let value = render(&format!("header {name}"), value)?;
        headers
            .set(name, &value)
            // Not the platform's error text: it could quote the value, which may hold a secret.
            .map_err(|_| {
                format!("invalid header {name}: the rendered value is not a valid header value")
            })?;
    }
    let body = spec.body.map(|body| render("body", &body)).transpose()?;
    // As documented: a body is JSON unless the tool's headers say otherwise.
    let typed = spec
        .headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("content-type"));
    if body.is_some() && !typed {
        headers
            .set("content-type", "application/json")
            .map_err(|err| err.to_string())?;
    }
    let mut init = RequestInit::new();
    init.with_method(method(spec.method)?)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    let request = Request::new_with_init(url.as_str(), &init).map_err(|err| err.to_string())?;
    // Dropping the call (its timeout, or the client leaving) aborts the request.
    let abort = AbortOnDrop::new();
    let mut response = Fetch::Request(request)
        .send_with_signal(&abort.signal())
        .await
        .map_err(|err| format!("the request to {} failed: {err}", host(&url)))?;
    let status = response.status_code();
    if (300..400).contains(&status) {
        return Err(format!(
            "{} answered a redirect ({status}), which tools do not follow",
            host(&url)
        ));
    }
    let is_json = response
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .is_some_and(|t| t.contains("json"));
    let (bytes, truncated) = read_capped(&mut response, spec.max_response_bytes as usize).await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let body = match (is_json && !truncated).then(|| serde_json::from_str::<Value>(&text)) {
        Some(Ok(value)) => value,
        _ => Value::String(text),
    };
    if !(200..300).contains(&status) {
        return Err(format!(
            "{} answered HTTP {status}: {}",
            host(&url),
            snippet(&body)
        ));
    }
    let mut result = json!({ "status": status, "body": body });
    if truncated {
        result["truncated"] = json!(true);
    }
    Ok(result)
}

fn method(name: &str) -> Result<Method, String> {
    Ok(match name {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return Err(format!("unsupported method {other}")),
    })
}

fn host(url: &url::Url) -> String {
    url.host_str().unwrap_or("the server").to_owned()
}

fn snippet(body: &Value) -> String {
    let text = match body {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    text.chars().take(200).collect()
}

/// Reads at most `cap` bytes of a body; the flag says whether more was left unread.
async fn read_capped(
    response: &mut worker::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), String> {
    let mut stream = response.stream().map_err(|err| err.to_string())?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| format!("reading the answer failed: {err}"))?;
        if bytes.len() + chunk.len() > cap {
            bytes.extend_from_slice(&chunk[..cap - bytes.len()]);
            return Ok((bytes, true));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, false))
}
