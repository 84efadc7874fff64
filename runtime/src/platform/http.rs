//! The Worker's fetch handler: admits public requests (CORS, API keys, input limits, rate
//! limits), routes each message to a model, and hands each session's work to its Durable Object.
//!
//! The order of checks for a message: the agent (404), its API key (401), the body's size
//! (413, counted while it is read), the body itself (400), the message's length (413), then the
//! caller's rate limit (429). A request refused at any step is not counted by the rate limit of
//! a later one, and no model is called for it. Reading or deleting a session is authenticated
//! and rate-limited the same way. The OpenAI endpoint checks the key first too on an agent's
//! own path; on the shared path the agent is named in the body, of which at most what the
//! caller may send an agent it reaches is read before the key is checked (see
//! [`crate::openai::pre_auth_cap`]). Every session is addressed through its owner (see
//! [`crate::ownership`]): another caller's session answers 404. Every response of an agent with
//! a CORS policy carries its CORS headers, errors included.

use super::completions;
use super::limiter;
use crate::agent::{self, AgentSpec};
use crate::api::{self, ApiError, Route};
use crate::auth::{self, Digest32};
use crate::cors;
use crate::limits;
use crate::object_url::{self, Query};
use crate::openai;
use crate::ownership::{self, Owner, Resolved};
use crate::policy::RateKey;
use crate::ratelimit;
use crate::routing;
#[cfg(feature = "ui-stream")]
use crate::ui_stream;
use worker::{Env, Headers, Method, Request, Response};

/// The header a client's address arrives in on Cloudflare.
pub const CLIENT_IP_HEADER: &str = "cf-connecting-ip";

/// Headers to add to the response, gathered while a request is admitted.
pub(super) type Extra = Vec<(&'static str, String)>;

/// Answers one public request. Every failure becomes a JSON error with its status.
pub async fn handle(
    mut req: Request,
    env: Env,
    agents: &'static [AgentSpec],
) -> worker::Result<Response> {
    ensure_log_key(&env);
    let origin = header(req.headers(), "origin");
    if req.method() == Method::Options {
        if let Some(response) = preflight(agents, &req.path(), origin.as_deref())? {
            return Ok(response);
        }
    }
    let mut agent = None;
    let mut extra = Extra::new();
    let response = match route(&mut req, &env, agents, &mut agent, &mut extra).await {
        Ok(response) => response,
        Err(err) => {
            if err.status == 401 {
                extra.push(("www-authenticate", "Bearer".to_owned()));
            }
            error_response(&err)?
        }
    };
    // The agent named by the path decides even when the request failed before it was looked
    // at (a method it does not allow); otherwise any agent's policy that allows the origin.
    let agent = agent.or_else(|| path_agent(agents, &req.path()));
    let policy = match agent {
        Some(agent) => agent.policy.cors(),
        None => cors::pick(
            agents.iter().filter_map(|a| a.policy.cors()),
            origin.as_deref(),
        ),
    };
    if let Some(policy) = policy {
        extra.extend(cors::response_headers(policy, origin.as_deref()));
    }
    with_headers(response, &extra)
}

/// The answer to a CORS preflight (`OPTIONS`), when the path's agent has a CORS policy (any
/// agent's, for the OpenAI endpoint). `None`: the request goes on to ordinary routing (a 405
/// or 404).
fn preflight(
    agents: &'static [AgentSpec],
    path: &str,
    origin: Option<&str>,
) -> worker::Result<Option<Response>> {
    let policy = if path == "/v1/chat/completions" {
        cors::pick(agents.iter().filter_map(|a| a.policy.cors()), origin)
    } else {
        path_agent(agents, path).and_then(|a| a.policy.cors())
    };
    let Some(policy) = policy else {
        return Ok(None);
    };
    let headers = Headers::new();
    for (name, value) in cors::preflight_headers(policy, origin) {
        headers.set(name, &value)?;
    }
    Ok(Some(
        Response::empty()?.with_status(204).with_headers(headers),
    ))
}

/// The agent of an `/agents/{agent}/...` path.
fn path_agent(agents: &'static [AgentSpec], path: &str) -> Option<&'static AgentSpec> {
    let mut parts = path.strip_prefix('/').unwrap_or(path).split('/');
    match (parts.next(), parts.next()) {
        (Some("agents"), Some(name)) => agent::find(agents, name),
        _ => None,
    }
}

async fn route(
    req: &mut Request,
    env: &Env,
    agents: &'static [AgentSpec],
    known: &mut Option<&'static AgentSpec>,
    extra: &mut Extra,
) -> Result<Response, ApiError> {
    let path = req.path();
    let method = req.method();
    match api::route(method.as_ref(), &path)? {
        Route::Chat { agent } => {
            let agent = find(agents, agent)?;
            *known = Some(agent);
            let key = authenticate(env, agent, req.headers())?;
            let body = read_body(req, agent.policy.limits.max_body_bytes).await?;
            // This API's own body, or the AI SDK's (`useChat`) for an agent that speaks it; see
            // `crate::ui_stream`.
            let (operation, chat) = match () {
                #[cfg(feature = "ui-stream")]
                () if agent.policy.ai_sdk => ui_stream::chat_request(&body)?,
                () => ("turn", api::parse_chat_request(&body)?),
            };
            limits::check_message(&chat.message, &agent.policy.limits)?;
            let rule = routing::choose(agent, &chat.message, &lookup(req.headers()));
            let (owner, session) = session_of(agent, key.as_ref(), chat.session_id)?;
            let session_id = &session.session_id;
            let reserve = estimate(agent, &chat.message);
            let counted = ownership::scoped_id(&owner, session_id);
            let limiter = rate_limit(
                env,
                agent,
                key,
                req.headers(),
                Some(&counted),
                reserve,
                extra,
            )
            .await?;
            // The session object names the session in its answer (`x-agentc-session`).
            let url = session_url(operation, agent, &session, &owner, rule, limiter.as_deref());
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
        Route::AgentCompletions { agent } => {
            // The path names the agent: its key is checked before the body is read.
            let agent = find(agents, agent)?;
            *known = Some(agent);
            let key = authenticate(env, agent, req.headers())?;
            let body = read_body(req, agent.policy.limits.max_body_bytes).await?;
            let ask = openai::parse(&body)?;
            openai::check_model(agent, &ask)?;
            completions::answer(req, env, agent, key, body, ask, extra).await
        }
        Route::ChatCompletions => {
            // The agent is named in the body: before the key can be checked against it, at
            // most what an agent the caller reaches accepts is read (nothing, when it reaches
            // none; see `openai::pre_auth_cap`).
            let cap =
                openai::pre_auth_cap(agents, |a| authenticate(env, a, req.headers()).is_ok())?;
            let body = read_body(req, cap).await?;
            let ask = openai::parse(&body)?;
            let agent = agent::find(agents, &ask.agent).ok_or_else(|| {
                ApiError::new(
                    404,
                    "model_not_found",
                    format!("no agent named `{}`", ask.agent),
                )
            })?;
            *known = Some(agent);
            let key = authenticate(env, agent, req.headers())?;
            limits::check_body(&body, &agent.policy.limits)?;
            completions::answer(req, env, agent, key, body, ask, extra).await
        }
        Route::GetSession { agent, session_id } => {
            let agent = find(agents, agent)?;
            *known = Some(agent);
            // `?format=ui`: the messages as the AI SDK's `UIMessage`s (see `crate::ui_stream`).
            let ui = Query::of(&req.inner().url()).get("format") == Some("ui");
            if ui && !(cfg!(feature = "ui-stream") && agent.policy.ai_sdk) {
                return Err(ApiError::bad_request(
                    "unsupported_format",
                    format!(
                        "the agent `{}` does not speak the AI SDK's protocol (`ai_sdk: true` in its file)",
                        agent.name
                    ),
                ));
            }
            session_request(
                env,
                agent,
                req.headers(),
                session_id,
                Method::Get,
                ui,
                extra,
            )
            .await
        }
        // Without the feature no tool of this Worker waits for approval: no call to decide.
        Route::Approve { call_id, .. } if !cfg!(feature = "approvals") => {
            Err(crate::approval::no_such_call(call_id))
        }
        Route::Approve {
            agent,
            session_id,
            call_id,
        } => {
            // Reaches the session the way reading it does: authenticated, rate-limited, and
            // only its owner gets there (anyone else hears 404).
            let agent = find(agents, agent)?;
            *known = Some(agent);
            let key = authenticate(env, agent, req.headers())?;
            let owner = Owner::of(&agent.policy, key.as_ref());
            let counted = ownership::scoped_id(&owner, session_id);
            rate_limit(env, agent, key, req.headers(), Some(&counted), 0, extra).await?;
            let body = read_body(req, agent.policy.limits.max_body_bytes).await?;
            let url = object_url::build(
                "/approval",
                &[
                    ("agent", agent.name),
                    ("session_id", session_id),
                    ("owner", &owner.label()),
                    ("call_id", call_id),
                ],
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
        Route::DeleteSession { agent, session_id } => {
            let agent = find(agents, agent)?;
            *known = Some(agent);
            session_request(
                env,
                agent,
                req.headers(),
                session_id,
                Method::Delete,
                false,
                extra,
            )
            .await
        }
    }
}

/// Reads (`GET`) or deletes (`DELETE`) a stored session: authenticated and rate-limited like a
/// message, and answered 404 unless the session exists and belongs to the caller.
async fn session_request(
    env: &Env,
    agent: &'static AgentSpec,
    headers: &Headers,
    session_id: &str,
    method: Method,
    ui: bool,
    extra: &mut Extra,
) -> Result<Response, ApiError> {
    let key = authenticate(env, agent, headers)?;
    let owner = Owner::of(&agent.policy, key.as_ref());
    let counted = ownership::scoped_id(&owner, session_id);
    rate_limit(env, agent, key, headers, Some(&counted), 0, extra).await?;
    let label = owner.label();
    let mut pairs = vec![
        ("agent", agent.name),
        ("session_id", session_id),
        ("owner", &label),
    ];
    if ui {
        pairs.push(("format", "ui"));
    }
    let url = object_url::build("/history", &pairs);
    forward(env, agent, &owner, session_id, method, &url, None).await
}

/// The tokens a turn of `message` reserves of a token budget (see
/// [`ratelimit::reservation`]).
pub(super) fn estimate(agent: &AgentSpec, message: &str) -> u64 {
    let history = agent.policy.history.max_tokens;
    ratelimit::reservation(
        agent.max_steps,
        history,
        message.len(),
        agent.max_tokens,
        u64::MAX,
    )
}

/// The owner a message acts for and the session it goes to: the one it names, or a new one
/// with a Worker-issued id.
pub(super) fn session_of(
    agent: &AgentSpec,
    key: Option<&Digest32>,
    given: Option<String>,
) -> Result<(Owner, Resolved), ApiError> {
    let owner = Owner::of(&agent.policy, key);
    let random = match given {
        Some(_) => [0; 16],
        None => random_bytes()?,
    };
    let session = ownership::resolve(&owner, given, || random);
    Ok((owner, session))
}

/// 16 bytes from the platform's cryptographic random source (`crypto.getRandomValues`).
fn random_bytes() -> Result<[u8; 16], ApiError> {
    use wasm_bindgen::JsCast;
    let unavailable = |_| ApiError::internal("no cryptographic random source");
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into()).map_err(unavailable)?;
    let fill: js_sys::Function = js_sys::Reflect::get(&crypto, &"getRandomValues".into())
        .map_err(unavailable)?
        .dyn_into()
        .map_err(unavailable)?;
    let array = js_sys::Uint8Array::new_with_length(16);
    fill.call1(&crypto, &array).map_err(unavailable)?;
    let mut bytes = [0; 16];
    array.copy_to(&mut bytes);
    Ok(bytes)
}

/// The URL of a turn in a session object, with what the Worker decided for it: the session and
/// its owner (and whether the turn may create it), the routing rule and the rate limiter.
pub(super) fn session_url(
    operation: &str,
    agent: &AgentSpec,
    session: &Resolved,
    owner: &Owner,
    rule: Option<usize>,
    limiter: Option<&str>,
) -> String {
    let (label, route) = (owner.label(), routing::label(rule));
    let mut pairs = vec![
        ("agent", agent.name),
        ("session_id", &session.session_id),
        ("owner", &label),
        ("create", if session.create { "1" } else { "0" }),
        ("route", &route),
    ];
    if let Some(limiter) = limiter {
        pairs.push(("limiter", limiter));
    }
    object_url::build(&format!("/{operation}"), &pairs)
}

/// Checks the request's API key when the agent requires one; returns the key's digest.
/// Whatever is wrong (no key, a malformed one, a wrong one, the secret missing) the answer is
/// the same 401. The key is never logged.
fn authenticate(
    env: &Env,
    agent: &AgentSpec,
    headers: &Headers,
) -> Result<Option<Digest32>, ApiError> {
    let Some(policy) = agent.policy.auth() else {
        return Ok(None);
    };
    let authorization = header(headers, "authorization");
    let api_key = header(headers, auth::API_KEY_HEADER);
    let presented = auth::presented_key(authorization.as_deref(), api_key.as_deref());
    let accepted = match env.secret(policy.api_keys_secret) {
        Ok(secret) => auth::parse_digests(&secret.to_string()).0,
        Err(_) => {
            worker::console_error!(
                "agentc: the secret {} is not set, so the agent {} refuses every request \
                 (wrangler secret put {}; locally, .dev.vars)",
                policy.api_keys_secret,
                agent.name,
                policy.api_keys_secret
            );
            Vec::new()
        }
    };
    auth::check(presented, &accepted).map(Some)
}

/// Counts the request against the caller's rate limit, reserving `reserve` tokens of a token
/// budget; returns the limiter object's name with the reservation (it hears the turn's token
/// usage) and adds the `x-ratelimit-*` headers. Over the limit: 429 with `Retry-After`.
pub(super) async fn rate_limit(
    env: &Env,
    agent: &AgentSpec,
    key: Option<Digest32>,
    headers: &Headers,
    session: Option<&str>,
    reserve: u64,
    extra: &mut Extra,
) -> Result<Option<String>, ApiError> {
    let Some(policy) = agent.policy.rate_limit() else {
        return Ok(None);
    };
    // A per-key limit without a key (no auth) and a per-session limit of a stateless request
    // count the client's address instead; a request without one is refused (see
    // `ratelimit::client_bucket`).
    let (per, caller) = match (policy.per, key, session) {
        (RateKey::ApiKey, Some(digest), _) => (RateKey::ApiKey, auth::key_id(&digest)),
        (RateKey::Session, _, Some(session)) => (RateKey::Session, session.to_owned()),
        _ => (
            RateKey::Ip,
            ratelimit::client_bucket(header(headers, CLIENT_IP_HEADER).as_deref())?,
        ),
    };
    let name = ratelimit::object_name(agent.name, per.as_str(), &caller);
    let verdict = limiter::hit(env, &name, &policy, reserve).await?;
    extra.push(("x-ratelimit-limit", verdict.limit.to_string()));
    extra.push(("x-ratelimit-remaining", verdict.remaining.to_string()));
    if verdict.allowed {
        return Ok(Some(limiter::with_reservation(&name, verdict.reservation)));
    }
    extra.push(("retry-after", verdict.retry_after.to_string()));
    Err(if verdict.budget_exhausted {
        ApiError::new(
            429,
            "token_budget_exceeded",
            format!(
                "the token budget of {} per {} s is used up; retry in {} s",
                policy.token_budget.unwrap_or_default(),
                policy.window_secs,
                verdict.retry_after
            ),
        )
    } else {
        ApiError::new(
            429,
            "rate_limited",
            format!(
                "too many requests: the limit is {} per {} s; retry in {} s",
                policy.limit, policy.window_secs, verdict.retry_after
            ),
        )
    })
}

/// The secret whose value keys the session hashes of log lines (stable across isolates).
pub const LOG_KEY_SECRET: &str = "AGENTC_LOG_KEY";

/// Gives this isolate its key for session hashes in logs, once: from [`LOG_KEY_SECRET`] when set,
/// else random (hashes then correlate turns within one isolate only).
pub(crate) fn ensure_log_key(env: &Env) {
    use crate::observe;
    if observe::hash_key_is_set() {
        return;
    }
    let key = match env.secret(LOG_KEY_SECRET) {
        Ok(secret) => crate::auth::digest(&secret.to_string()),
        Err(_) => match (random_bytes(), random_bytes()) {
            (Ok(a), Ok(b)) => {
                let mut key = [0; 32];
                key[..16].copy_from_slice(&a);
                key[16..].copy_from_slice(&b);
                key
            }
            _ => return,
        },
    };
    observe::set_hash_key(key);
}

/// A request header's value.
pub(super) fn header(headers: &Headers, name: &str) -> Option<String> {
    headers.get(name).ok().flatten()
}

/// Looks request headers up by lowercase name, for routing rules.
pub(super) fn lookup(headers: &Headers) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| header(headers, name)
}

/// Reads the body, refusing one larger than `cap` bytes (413): first by its declared length,
/// before reading it, then while reading it, so a chunked body is never read past the cap.
async fn read_body(req: &mut Request, cap: u32) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let length = header(req.headers(), "content-length");
    limits::check_content_length(length.as_deref(), cap)?;
    if length.is_some_and(|length| length.trim().parse::<u64>().is_ok()) {
        // Its length is declared, and within the cap: HTTP's framing ends it there, so it is
        // read whole, in one step (and still checked against the cap).
        let whole = req.bytes().await.map_err(|err| {
            ApiError::bad_request(
                "invalid_body",
                format!("could not read the request body: {err}"),
            )
        })?;
        let mut body = Vec::new();
        limits::append_chunk(&mut body, &whole, cap)?;
        return Ok(body);
    }
    // A request without a body has no stream.
    let Ok(mut stream) = req.stream() else {
        return Ok(Vec::new());
    };
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::bad_request(
                "invalid_body",
                format!("could not read the request body: {err}"),
            )
        })?;
        limits::append_chunk(&mut body, &chunk, cap)?;
    }
    Ok(body)
}

fn find(agents: &'static [AgentSpec], name: &str) -> Result<&'static AgentSpec, ApiError> {
    agent::find(agents, name).ok_or_else(|| ApiError::unknown_agent(name))
}

/// Sends a request to the Durable Object of one session of one agent, named by its owner (see
/// [`ownership::object_name`]).
pub(super) async fn forward(
    env: &Env,
    agent: &AgentSpec,
    owner: &Owner,
    session_id: &str,
    method: Method,
    url: &str,
    body: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    let platform =
        |err: worker::Error| ApiError::internal(format!("session storage unavailable: {err}"));
    let name = ownership::object_name(agent.name, owner, session_id);
    super::object_fetch(env, &name, method.as_ref(), url, body.as_deref())
        .await
        .map_err(platform)
}

/// A response with more headers. Responses from other objects have immutable headers, so the
/// headers are copied into a new set.
fn with_headers(response: Response, extra: &[(&'static str, String)]) -> worker::Result<Response> {
    if extra.is_empty() {
        return Ok(response);
    }
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        headers.append(&name, &value)?;
    }
    for (name, value) in extra {
        if *name == "vary" {
            headers.append(name, value)?;
        } else {
            headers.set(name, value)?;
        }
    }
    Ok(response.with_headers(headers))
}

/// The JSON error response of the public API.
pub(crate) fn error_response(err: &ApiError) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(err.to_json())?
        .with_status(err.status)
        .with_headers(headers))
}
