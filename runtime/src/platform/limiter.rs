//! Rate limiters, one Durable Object per counted caller, and the Worker's calls to them.
//!
//! A limiter is an object of the session class under a name of its own (see
//! [`crate::ratelimit::object_name`]): a second Durable Object class would cost the Worker a
//! class of exports, a binding and a migration for the same storage and the same guarantees.
//! The object keeps its caller's sliding-window log and token log in memory, mirrored row by
//! row in its SQLite storage so they survive eviction and restarts. A request is counted with
//! no `await` between reading the log and updating it, and a Durable Object runs one event at a
//! time, so concurrent requests are counted exactly. The limit comes with every request, so a
//! changed limit applies at once.
//!
//! The log in memory decides; its rows are written just after the verdict has gone out
//! ([`Limiter::writes`]). A Durable Object holds every reply made while one of its writes is
//! not yet durable, so writing first would make each admitted request wait for the limiter's
//! commit (a disk sync locally, a replicated write on Cloudflare). What a crash in between can
//! lose is the record of a request that was already counted in memory.

use crate::api::ApiError;
use crate::object_url::Query;
use crate::policy::RateLimitPolicy;
use crate::ratelimit::{SlidingLog, TokenLog, Verdict};
use serde::Deserialize;
use std::cell::RefCell;
use std::rc::Rc;
use worker::{Date, Env, Response, SqlStorage, SqlStorageValue};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS hits (t INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (t INTEGER NOT NULL, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS expiry (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL)";

/// The path prefix of limiter operations in a Durable Object.
pub const PATH_PREFIX: &str = "/ratelimit/";

/// One caller's counters.
pub struct Limiter {
    sql: SqlStorage,
    hits: RefCell<SlidingLog>,
    tokens: RefCell<TokenLog>,
    /// The statements that mirror the requests answered so far, oldest first.
    pending: Pending,
}

type Pending = Rc<RefCell<Vec<(&'static str, Vec<SqlStorageValue>)>>>;

/// The limiter's writes not made yet; [`Writes::make`] makes them in order.
#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
pub struct Writes {
    sql: SqlStorage,
    pending: Pending,
}

#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
impl Writes {
    /// Whether there is anything to write.
    pub fn is_empty(&self) -> bool {
        self.pending.borrow().is_empty()
    }

    /// Makes every write waiting, oldest first (including those of requests answered since
    /// this was taken).
    pub fn make(&self) {
        let writes = std::mem::take(&mut *self.pending.borrow_mut());
        for (statement, values) in writes {
            if let Err(err) = self.sql.exec(statement, values) {
                worker::console_error!("agentc: rate-limit storage failed: {err}");
            }
        }
    }
}

#[derive(Deserialize)]
struct Hit {
    t: i64,
}

#[derive(Deserialize)]
struct Used {
    id: i64,
    t: i64,
    n: i64,
}

// The object side is served only with the `rate-limit` feature.
#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
impl Limiter {
    /// The counters kept in this object's storage.
    pub fn open(sql: SqlStorage) -> Self {
        if let Err(err) = sql.exec(SCHEMA, None) {
            worker::console_error!("agentc: could not create the rate-limit tables: {err}");
        }
        let hits: Vec<Hit> = sql
            .exec("SELECT t FROM hits ORDER BY t", None)
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        let used: Vec<Used> = sql
            .exec("SELECT rowid AS id, t, n FROM tokens ORDER BY t", None)
            .and_then(|c| c.to_array())
            .unwrap_or_default();
        Limiter {
            sql,
            hits: RefCell::new(SlidingLog::from_hits(
                hits.into_iter().map(|h| h.t as f64).collect(),
            )),
            tokens: RefCell::new(TokenLog::from_entries(
                used.into_iter()
                    .map(|u| (u.t as f64, u.n.max(0) as u64, u.id.max(0) as u64))
                    .collect(),
            )),
            pending: Pending::default(),
        }
    }

    /// The rows of the requests served so far, to write once their answers are out.
    pub fn writes(&self) -> Writes {
        Writes {
            sql: self.sql.clone(),
            pending: self.pending.clone(),
        }
    }

    /// Serves `/ratelimit/hit` and `/ratelimit/usage`, synchronously; what they change in
    /// storage waits in [`Limiter::writes`].
    pub fn serve(&self, path: &str, query: &Query) -> worker::Result<Response> {
        let param = |key: &str| query.number(key);
        let window_ms = param("window_ms").unwrap_or(60_000) as f64;
        let now = Date::now().as_millis() as f64;
        match path.strip_prefix(PATH_PREFIX) {
            Some("hit") => {
                let limit = param("limit").unwrap_or(1) as u32;
                let budget = param("budget").map(|b| (b, param("reserve").unwrap_or(0)));
                let verdict = self.hit(now, limit, window_ms, budget);
                Response::from_json(&verdict)
            }
            Some("usage") => {
                let tokens = param("tokens").unwrap_or(0);
                self.record_usage(now, tokens, window_ms, param("reservation"));
                Ok(Response::empty()?.with_status(204))
            }
            _ => Response::error("no such rate-limit operation", 404),
        }
    }

    /// Counts one request and, with a budget, reserves its estimated tokens (`(budget,
    /// estimate)`). Synchronous from reading the logs to updating them.
    fn hit(&self, now: f64, limit: u32, window_ms: f64, budget: Option<(u64, u64)>) -> Verdict {
        let cutoff = (now - window_ms) as i64;
        if let Some((budget, _)) = budget {
            let mut tokens = self.tokens.borrow_mut();
            if tokens.prune(now, window_ms) > 0 {
                self.write("DELETE FROM tokens WHERE t <= ?", vec![cutoff.into()]);
            }
            if let Some(retry_after) = tokens.check(now, budget, window_ms) {
                let remaining = {
                    let mut hits = self.hits.borrow_mut();
                    hits.prune(now, window_ms);
                    limit.saturating_sub(hits.len() as u32)
                };
                return Verdict {
                    allowed: false,
                    limit,
                    remaining,
                    retry_after,
                    budget_exhausted: true,
                    reservation: None,
                };
            }
        }
        let mut hits = self.hits.borrow_mut();
        if hits.prune(now, window_ms) > 0 {
            self.write("DELETE FROM hits WHERE t <= ?", vec![cutoff.into()]);
        }
        let mut verdict = hits.hit(now, limit, window_ms);
        self.extend_expiry(now, window_ms);
        if verdict.allowed {
            self.write(
                "INSERT INTO hits (t) VALUES (?)",
                vec![SqlStorageValue::from(now as i64)],
            );
            if let Some((budget, estimate)) = budget {
                let mut tokens = self.tokens.borrow_mut();
                let reserved = estimate.min(tokens.room(budget));
                let id = tokens.add(now, reserved);
                self.insert_tokens(id, now, reserved);
                verdict.reservation = Some(id);
            }
        }
        verdict
    }

    /// Records a turn's usage: settles its reservation, or adds it when it has none (or the
    /// reservation aged out).
    fn record_usage(&self, now: f64, tokens: u64, window_ms: f64, reservation: Option<u64>) {
        self.extend_expiry(now, window_ms);
        let mut log = self.tokens.borrow_mut();
        if let Some(id) = reservation {
            if log.settle(id, tokens) {
                self.write(
                    "UPDATE tokens SET n = ? WHERE rowid = ?",
                    vec![to_sql(tokens).into(), to_sql(id).into()],
                );
                return;
            }
        }
        if tokens == 0 {
            return;
        }
        if log.prune(now, window_ms) > 0 {
            let cutoff = (now - window_ms) as i64;
            self.write("DELETE FROM tokens WHERE t <= ?", vec![cutoff.into()]);
        }
        let id = log.add(now, tokens);
        self.insert_tokens(id, now, tokens);
    }

    /// Records when every count of this caller will have aged out (see `SessionObject::alarm`).
    fn extend_expiry(&self, now: f64, window_ms: f64) {
        self.write(
            "INSERT OR REPLACE INTO expiry (id, at) VALUES (1, ?)",
            vec![((now + window_ms) as i64).into()],
        );
    }

    fn insert_tokens(&self, id: u64, now: f64, tokens: u64) {
        self.write(
            "INSERT INTO tokens (rowid, t, n) VALUES (?, ?, ?)",
            vec![
                to_sql(id).into(),
                (now as i64).into(),
                to_sql(tokens).into(),
            ],
        );
    }

    fn write(&self, statement: &'static str, values: Vec<SqlStorageValue>) {
        self.pending.borrow_mut().push((statement, values));
    }
}

fn to_sql(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

/// When the counts in a limiter's storage will all have aged out (ms since the epoch); `None`
/// for an object that never counted anything.
pub fn expiry(sql: &SqlStorage) -> Option<i64> {
    #[derive(Deserialize)]
    struct At {
        at: i64,
    }
    let rows: Vec<At> = sql
        .exec("SELECT at FROM expiry", None)
        .and_then(|c| c.to_array())
        .ok()?;
    rows.first().map(|r| r.at)
}

/// The window of a limiter request (`window_ms`), when it is one that counts.
#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
pub fn window_ms(path: &str, query: &Query) -> Option<u64> {
    if path != format!("{PATH_PREFIX}hit") {
        return None;
    }
    query.number("window_ms")
}

/// The limiter a turn reports its usage to: the object's name and the reservation to settle,
/// carried from the Worker to the session object as one string (`name#r=ID`).
pub fn with_reservation(name: &str, reservation: Option<u64>) -> String {
    match reservation {
        Some(id) => format!("{name}#r={id}"),
        None => name.to_owned(),
    }
}

fn split_reservation(limiter: &str) -> (&str, Option<u64>) {
    match limiter.split_once("#r=") {
        Some((name, id)) => (name, id.parse().ok()),
        None => (limiter, None),
    }
}

/// The platform's error goes to the log; the client hears only what failed.
fn limiter_error(err: worker::Error) -> ApiError {
    worker::console_error!("agentc: the rate limiter is unavailable: {err}");
    ApiError::internal("the rate limiter is unavailable")
}

async fn call(env: &Env, name: &str, url: &str) -> Result<Response, ApiError> {
    super::object_fetch(env, name, "POST", url, None)
        .await
        .map_err(limiter_error)
}

/// Counts one request of the caller whose limiter object is `name`, reserving `reserve` tokens
/// of its budget (at most the room left).
pub async fn hit(
    env: &Env,
    name: &str,
    policy: &RateLimitPolicy,
    reserve: u64,
) -> Result<Verdict, ApiError> {
    let mut url = format!(
        "https://limiter/ratelimit/hit?limit={}&window_ms={}",
        policy.limit,
        policy.window_secs.saturating_mul(1000)
    );
    if let Some(budget) = policy.token_budget {
        url.push_str(&format!("&budget={budget}&reserve={reserve}"));
    }
    let response = call(env, name, &url).await?;
    if response.status_code() != 200 {
        return Err(ApiError::internal(format!(
            "the rate limiter answered {}",
            response.status_code()
        )));
    }
    let text = super::body_text(response).await.map_err(limiter_error)?;
    serde_json::from_str(&text).map_err(|err| limiter_error(err.into()))
}

/// Tells the caller's limiter (`name`, with the turn's reservation: [`with_reservation`]) how
/// many tokens a turn used, completed or failed (for the token budget).
pub async fn report_usage(env: &Env, limiter: &str, policy: &RateLimitPolicy, tokens: u64) {
    let (name, reservation) = split_reservation(limiter);
    if policy.token_budget.is_none() || (tokens == 0 && reservation.is_none()) {
        return;
    }
    let mut url = format!(
        "https://limiter/ratelimit/usage?tokens={tokens}&window_ms={}",
        policy.window_secs.saturating_mul(1000)
    );
    if let Some(id) = reservation {
        url.push_str(&format!("&reservation={id}"));
    }
    if let Err(err) = call(env, name, &url).await {
        worker::console_error!("agentc: could not record token usage: {}", err.message);
    }
}
