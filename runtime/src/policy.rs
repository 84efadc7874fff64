//! An agent's request policy, as compiled from its file: routing rules and fallback models,
//! response cache, rate limit, API-key auth, CORS and input limits.
//!
//! Generated code fills these in; the logic that applies them lives in [`crate::routing`],
//! [`crate::auth`], [`crate::cors`], [`crate::limits`], [`crate::ratelimit`] and
//! [`crate::cache`], each tested on the host.

/// Everything an agent declares about how requests are admitted and answered.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Models tried in order when the chosen model fails to start answering.
    pub fallbacks: &'static [&'static str],
    /// Tried in order; the first whose condition holds picks the model and tools.
    pub routes: &'static [RouteRule],
    pub cache: Option<CachePolicy>,
    pub rate_limit: Option<RateLimitPolicy>,
    pub auth: Option<AuthPolicy>,
    pub cors: Option<CorsPolicy>,
    pub limits: Limits,
    /// Who names sessions (see [`crate::ownership`]).
    pub sessions: SessionPolicy,
    /// How much history a session keeps and sends.
    pub history: HistoryPolicy,
    /// Bounds on the tools of one turn.
    pub tools: ToolPolicy,
    /// Whether the chat endpoint also speaks the AI SDK's UI message stream (`ai_sdk: true`;
    /// compiled in only with the runtime's `ui-stream` feature).
    pub ai_sdk: bool,
}

impl Policy {
    /// No routing, fallbacks, cache, rate limit, auth or CORS; default limits.
    pub const NONE: Policy = Policy {
        fallbacks: &[],
        routes: &[],
        cache: None,
        rate_limit: None,
        auth: None,
        cors: None,
        limits: Limits::DEFAULT,
        sessions: SessionPolicy { client_ids: false },
        history: HistoryPolicy::DEFAULT,
        tools: ToolPolicy::DEFAULT,
        ai_sdk: false,
    };
}

impl Default for Policy {
    fn default() -> Self {
        Policy::NONE
    }
}

/// How sessions are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionPolicy {
    /// Clients name sessions themselves (`sessions: { client_ids: true }`). Off: a public agent
    /// issues unguessable ids; an agent with `auth` scopes sessions by key either way.
    pub client_ids: bool,
}

/// How much of a conversation is stored and sent back to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryPolicy {
    /// The most messages a session stores; older ones are deleted when a turn is stored.
    pub keep: u32,
    /// The most estimated tokens (4 bytes each) of history sent with a message.
    pub max_tokens: u32,
}

impl HistoryPolicy {
    pub const DEFAULT: HistoryPolicy = HistoryPolicy {
        keep: 1000,
        max_tokens: 8192,
    };
}

/// Bounds on the tool calls of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolPolicy {
    /// The most tool calls run in one step; the others get an error result.
    pub max_calls_per_step: u32,
    /// Whether `tool_result` events carry the result to the client.
    pub stream_results: bool,
}

impl ToolPolicy {
    pub const DEFAULT: ToolPolicy = ToolPolicy {
        max_calls_per_step: 4,
        stream_results: true,
    };
}

/// What the Worker applies of the policy: a part whose runtime feature is off is never compiled
/// in (the `cfg!` makes it a constant `None` or empty list, and the code behind it dead). The
/// generated crate turns on the features its agents' policies use, so nothing is lost.
impl Policy {
    /// The routing rules (feature `routing`).
    pub fn routes(&self) -> &'static [RouteRule] {
        if cfg!(feature = "routing") {
            self.routes
        } else {
            &[]
        }
    }

    /// The fallback models (feature `routing`).
    pub fn fallbacks(&self) -> &'static [&'static str] {
        if cfg!(feature = "routing") {
            self.fallbacks
        } else {
            &[]
        }
    }

    /// The response cache (feature `cache`).
    pub fn cache(&self) -> Option<CachePolicy> {
        self.cache.filter(|_| cfg!(feature = "cache"))
    }

    /// The rate limit (feature `rate-limit`).
    pub fn rate_limit(&self) -> Option<RateLimitPolicy> {
        self.rate_limit.filter(|_| cfg!(feature = "rate-limit"))
    }

    /// API-key auth (feature `auth`).
    pub fn auth(&self) -> Option<AuthPolicy> {
        self.auth.filter(|_| cfg!(feature = "auth"))
    }

    /// CORS (feature `cors`).
    pub fn cors(&self) -> Option<&CorsPolicy> {
        self.cors.as_ref().filter(|_| cfg!(feature = "cors"))
    }
}

/// A routing rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteRule {
    pub when: Condition,
    /// The model for matching messages; `None` keeps the agent's.
    pub model: Option<&'static str>,
    /// The names of the tools offered for matching messages; `None` offers all.
    pub tools: Option<&'static [&'static str]>,
}

/// Conditions that must all hold; an empty condition always matches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Condition {
    pub max_chars: Option<u32>,
    pub min_chars: Option<u32>,
    /// A regex (regex-lite syntax) that must find a match in the message.
    pub matches: Option<&'static str>,
    /// Whether tools are offered on the turn's first step (the agent has any).
    pub needs_tools: Option<bool>,
    pub header: Option<HeaderMatch>,
}

/// A test on one request header.
#[derive(Debug, Clone, Copy)]
pub struct HeaderMatch {
    /// Lowercase.
    pub name: &'static str,
    pub test: HeaderTest,
}

#[derive(Debug, Clone, Copy)]
pub enum HeaderTest {
    Equals(&'static str),
    /// A regex (regex-lite syntax) that must find a match in the value.
    Matches(&'static str),
}

/// Caching of whole answers on the Workers Cache API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub ttl_secs: u64,
}

/// Who a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// Each API key (by its digest).
    ApiKey,
    /// Each client address (`CF-Connecting-IP`).
    Ip,
    /// Each session.
    Session,
}

impl RateKey {
    pub fn as_str(self) -> &'static str {
        match self {
            RateKey::ApiKey => "api_key",
            RateKey::Ip => "ip",
            RateKey::Session => "session",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitPolicy {
    pub per: RateKey,
    /// Messages per window.
    pub limit: u32,
    pub window_secs: u64,
    /// Model tokens (prompt and completion) per window, when limited.
    pub token_budget: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthPolicy {
    /// The secret holding SHA-256 hex digests of the accepted keys.
    pub api_keys_secret: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorsPolicy {
    /// Exact origins, or `*`.
    pub allow_origins: &'static [&'static str],
    pub allow_credentials: bool,
    /// Lowercase header names.
    pub allow_headers: &'static [&'static str],
    pub max_age_secs: u64,
}

/// Bounds on each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_input_chars: u32,
    pub max_body_bytes: u32,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_input_chars: 8000,
        max_body_bytes: 65536,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
