//! Serves the chat page (feature `page`): `GET /` answers with the page, every other request
//! goes on to the fetch handler.

use crate::agent::AgentSpec;
use crate::page::{self, Page};
use worker::{Env, Headers, Request, Response};

/// Answers one public request of a Worker that has the chat page.
pub async fn handle_with_page(
    req: Request,
    env: Env,
    agents: &'static [AgentSpec],
    listed: &'static Page,
) -> worker::Result<Response> {
    if !page::is_page_request(req.method().as_ref(), &req.path()) {
        return super::handle(req, env, agents).await;
    }
    let headers = Headers::new();
    headers.set("content-type", page::CONTENT_TYPE)?;
    headers.set("content-security-policy", page::CSP)?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("cache-control", "no-cache")?;
    Ok(Response::ok(page::render(listed, agents))?.with_headers(headers))
}
