//! The Worker's fetch handler: routes public requests and hands each session's work to its
//! Durable Object.

use super::respond::{self, Format};
use crate::agent::{self, AgentSpec};
use crate::api::{self, ApiError, Route};
use crate::history;
use crate::openai;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// Answers one public request. Every failure becomes a JSON error with its status.
pub async fn handle(
    mut req: Request,
    env: Env,
    agents: &'static [AgentSpec],
) -> worker::Result<Response> {
    match route(&mut req, &env, agents).await {
        Ok(response) => Ok(response),
        Err(err) => error_response(&err),
    }
}

async fn route(
    req: &mut Request,
    env: &Env,
    agents: &'static [AgentSpec],
) -> Result<Response, ApiError> {
    let path = req.path();
    let method = req.method();
    match api::route(method.as_ref(), &path)? {
        Route::Chat { agent } => {
            let agent = find(agents, agent)?;
            let body = read_body(req).await?;
            let chat = api::parse_chat_request(&body)?;
            let url = format!(
                "https://session/turn?agent={}&session_id={}",
                agent.name, chat.session_id
            );
            forward(env, agent, &chat.session_id, Method::Post, &url, Some(body)).await
        }
        Route::ChatCompletions => {
            let body = read_body(req).await?;
            let ask = openai::parse(&body)?;
            let agent = agent::find(agents, &ask.agent).ok_or_else(|| {
                ApiError::new(
                    404,
                    "model_not_found",
                    format!("no agent named `{}`", ask.agent),
                )
            })?;
            let session = req.headers().get(openai::SESSION_HEADER).ok().flatten();
            match session {
                // A named session keeps its history in its Durable Object.
                Some(session_id) => {
                    api::validate_session_id(&session_id)?;
                    let url = format!(
                        "https://session/completions?agent={}&session_id={session_id}",
                        agent.name
                    );
                    forward(env, agent, &session_id, Method::Post, &url, Some(body)).await
                }
                // Without one, the request carries its history and nothing is stored.
                None => {
                    let window = agent.history_window as usize;
                    let history = history::window(&ask.history, window).to_vec();
                    let completion = respond::new_completion(agent.name);
                    let format = if ask.stream {
                        Format::CompletionChunks(completion)
                    } else {
                        Format::Completion(completion)
                    };
                    let request = respond::Request {
                        agent,
                        session_id: None,
                        history,
                        message: ask.message,
                    };
                    respond::respond(env.clone(), request, format, None).await
                }
            }
        }
        Route::GetSession { agent, session_id } => {
            let agent = find(agents, agent)?;
            let url = format!("https://session/history?session_id={session_id}");
            forward(env, agent, session_id, Method::Get, &url, None).await
        }
        Route::DeleteSession { agent, session_id } => {
            let agent = find(agents, agent)?;
            forward(
                env,
                agent,
                session_id,
                Method::Delete,
                "https://session/history",
                None,
            )
            .await
        }
    }
}

async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    req.bytes().await.map_err(|err| {
        ApiError::bad_request(
            "invalid_body",
            format!("could not read the request body: {err}"),
        )
    })
}

fn find(agents: &'static [AgentSpec], name: &str) -> Result<&'static AgentSpec, ApiError> {
    agent::find(agents, name).ok_or_else(|| ApiError::unknown_agent(name))
}

/// Sends a request to the Durable Object of one session of one agent.
async fn forward(
    env: &Env,
    agent: &AgentSpec,
    session_id: &str,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    let platform =
        |err: worker::Error| ApiError::internal(format!("session storage unavailable: {err}"));
    let namespace = env
        .durable_object(super::SESSIONS_BINDING)
        .map_err(platform)?;
    // Agent names never contain '/', so "agent/session" names one conversation unambiguously.
    let stub = namespace
        .get_by_name(&format!("{}/{}", agent.name, session_id))
        .map_err(platform)?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let request = Request::new_with_init(url, &init).map_err(platform)?;
    stub.fetch_with_request(request).await.map_err(platform)
}

/// The JSON error response of the public API.
pub(crate) fn error_response(err: &ApiError) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(err.to_json())?
        .with_status(err.status)
        .with_headers(headers))
}
