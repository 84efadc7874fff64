//! The response cache on the Workers Cache API (`caches.default`): entries are JSON
//! [`CachedAnswer`]s under synthetic GET URLs (see [`crate::cache`]), kept for the agent's TTL
//! through `Cache-Control: max-age`. A failing cache is a miss, never an error of the turn.

use crate::cache::CachedAnswer;
use worker::{Cache, Headers, Response};

/// The stored answer under `url`, if there is one.
pub async fn get(url: &str) -> Option<CachedAnswer> {
    let cache = Cache::default();
    match cache.get(url, false).await {
        Ok(Some(response)) if response.status_code() == 200 => {
            let text = super::body_text(response).await.ok()?;
            serde_json::from_str(&text).ok()
        }
        Ok(_) => None,
        Err(err) => {
            worker::console_error!("agentc: cache lookup failed: {err}");
            None
        }
    }
}

/// Stores an answer under `url` for `ttl_secs`.
pub async fn put(url: &str, answer: &CachedAnswer, ttl_secs: u64) {
    let body = serde_json::to_string(answer).expect("cached answers serialize");
    let stored = (|| {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        headers.set("cache-control", &format!("max-age={ttl_secs}"))?;
        Ok::<_, worker::Error>(Response::ok(body)?.with_headers(headers))
    })();
    let result = match stored {
        Ok(response) => Cache::default().put(url, response).await,
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        worker::console_error!("agentc: cache store failed: {err}");
    }
}
