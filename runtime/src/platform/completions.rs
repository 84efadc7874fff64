//! The OpenAI-compatible endpoint's turn, once `http.rs` has admitted the request (agent, key,
//! body): input limits, routing and rate limit, then the session's Durable Object (with
//! `x-session-id`) or a stateless turn over the history the request carries.

use super::http::{estimate, forward, header, lookup, rate_limit, session_of, session_url, Extra};
use super::respond::{self, Format};
use crate::agent::AgentSpec;
use crate::api::{self, ApiError};
use crate::auth::Digest32;
use crate::history;
use crate::limits;
use crate::openai::{self, Ask};
use crate::ownership::{self, Owner};
use crate::routing;
use worker::{Env, Method, Request, Response};

/// Answers an admitted completion request for `agent`.
pub(super) async fn answer(
    req: &Request,
    env: &Env,
    agent: &'static AgentSpec,
    key: Option<Digest32>,
    body: Vec<u8>,
    ask: Ask,
    extra: &mut Extra,
) -> Result<Response, ApiError> {
    limits::check_message(&ask.message, &agent.policy.limits)?;
    let rule = routing::choose(agent, &ask.message, &lookup(req.headers()));
    let session = header(req.headers(), openai::SESSION_HEADER);
    if let Some(session_id) = &session {
        api::validate_session_id(session_id)?;
    }
    let reserve = estimate(agent, &ask.message);
    let owner = Owner::of(&agent.policy, key.as_ref());
    let counted = session
        .as_deref()
        .map(|id| ownership::scoped_id(&owner, id));
    let headers = req.headers();
    let limiter = rate_limit(env, agent, key, headers, counted.as_deref(), reserve, extra).await?;
    match session {
        // A named session keeps its history in its Durable Object.
        Some(session_id) => {
            let (owner, session) = session_of(agent, key.as_ref(), Some(session_id))?;
            let session_id = &session.session_id;
            // The session object names the session in its answer (`x-agentc-session`).
            let url = session_url(
                "completions",
                agent,
                &session,
                &owner,
                rule,
                limiter.as_deref(),
            );
            forward(
                env,
                agent,
                &owner,
                session_id,
                Method::Post,
                &url,
                Some(body),
            )
            .await
        }
        // Without one, the request carries its history and nothing is stored.
        None => {
            limits::check_history(&ask.history, &agent.policy.limits)?;
            let window = history::window(&ask.history, agent.history_window as usize);
            let budget = agent.policy.history.max_tokens;
            let history = history::fit_tokens(window, budget).to_vec();
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
                route: rule,
                limiter,
            };
            respond::respond(env.clone(), request, format, None).await
        }
    }
}
