//! Rate limits: an exact sliding window, and an optional token budget over the same window.
//!
//! Each counted caller (an API key, a client address or a session) has one rate-limiter Durable
//! Object, which runs these counters. A Durable Object handles one event at a time and the
//! counters are updated with no `await` between reading and writing, so concurrent requests
//! are counted exactly: with a limit of 60, exactly 60 of any burst pass.
//!
//! The window slides: a request passes when fewer than `limit` requests passed in the
//! `window` before it, so no window of that length ever holds more than `limit` passed
//! requests (a fixed window lets twice the limit through around its boundary). The log keeps
//! one timestamp per passed request within the window, so memory grows with the limit.
//!
//! The token budget counts the model's usage (prompt and completion tokens). A turn reserves an
//! estimate of its usage when it is admitted ([`reservation`], at most the room left), and
//! settles it to the real usage when it ends, completed or failed. A caller whose window holds
//! `budget` tokens, used or reserved, is refused until enough have aged out or been settled.
//! So concurrent turns cannot all pass on the same room: with a budget of 100 and turns that
//! reserve 100, one turn runs at a time. A turn's real usage can exceed its reservation, so the
//! budget can be overshot by one turn's usage beyond its estimate.

use crate::api::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What the limiter answers for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// Seconds until a request would pass; 0 when this one passed.
    pub retry_after: u64,
    /// Set when the request was refused for the token budget rather than the request count.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub budget_exhausted: bool,
    /// The id of the tokens reserved for this request, to settle when its turn ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<u64>,
}

/// The passed requests of one caller within the window, oldest first, in milliseconds.
#[derive(Debug, Default, Clone)]
pub struct SlidingLog {
    hits: VecDeque<f64>,
}

impl SlidingLog {
    /// A log of earlier hits, oldest first (as storage returns them, `ORDER BY t`).
    pub fn from_hits(hits: Vec<f64>) -> Self {
        SlidingLog { hits: hits.into() }
    }

    /// Forgets hits older than the window; returns how many were forgotten.
    pub fn prune(&mut self, now_ms: f64, window_ms: f64) -> usize {
        let cutoff = now_ms - window_ms;
        let before = self.hits.len();
        while self.hits.front().is_some_and(|t| *t <= cutoff) {
            self.hits.pop_front();
        }
        before - self.hits.len()
    }

    /// Counts a request at `now_ms` if it fits, and says whether it did.
    pub fn hit(&mut self, now_ms: f64, limit: u32, window_ms: f64) -> Verdict {
        self.prune(now_ms, window_ms);
        let count = self.hits.len() as u64;
        if count < u64::from(limit) {
            self.hits.push_back(now_ms);
            return Verdict {
                allowed: true,
                limit,
                remaining: (u64::from(limit) - count - 1) as u32,
                retry_after: 0,
                budget_exhausted: false,
                reservation: None,
            };
        }
        // The request passes once enough of the oldest hits have aged out.
        let nth = (count - u64::from(limit)) as usize;
        let frees_at = self.hits.get(nth).copied().unwrap_or(now_ms) + window_ms;
        Verdict {
            allowed: false,
            limit,
            remaining: 0,
            retry_after: seconds_until(now_ms, frees_at),
            budget_exhausted: false,
            reservation: None,
        }
    }

    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// Tokens used or reserved within the window, oldest first, each entry with an id (its row in
/// storage).
#[derive(Debug, Default, Clone)]
pub struct TokenLog {
    entries: VecDeque<(f64, u64, u64)>,
    total: u64,
    next_id: u64,
}

impl TokenLog {
    /// A log of earlier usage, oldest first, as `(time, tokens, id)`.
    pub fn from_entries(entries: Vec<(f64, u64, u64)>) -> Self {
        let total = entries.iter().map(|e| e.1).sum();
        let next_id = entries.iter().map(|e| e.2).max().unwrap_or(0) + 1;
        TokenLog {
            entries: entries.into(),
            total,
            next_id,
        }
    }

    pub fn prune(&mut self, now_ms: f64, window_ms: f64) -> usize {
        let cutoff = now_ms - window_ms;
        let before = self.entries.len();
        while let Some(&(t, n, _)) = self.entries.front() {
            if t > cutoff {
                break;
            }
            self.total -= n;
            self.entries.pop_front();
        }
        before - self.entries.len()
    }

    /// `None` when the budget has room, else the seconds until it will.
    pub fn check(&mut self, now_ms: f64, budget: u64, window_ms: f64) -> Option<u64> {
        self.prune(now_ms, window_ms);
        if self.total < budget {
            return None;
        }
        // Room comes back when the total falls below the budget.
        let mut total = self.total;
        for &(t, n, _) in &self.entries {
            total -= n;
            if total < budget {
                return Some(seconds_until(now_ms, t + window_ms));
            }
        }
        Some(seconds_until(now_ms, now_ms + window_ms))
    }

    /// Records `tokens` at `now_ms`; returns the entry's id.
    pub fn add(&mut self, now_ms: f64, tokens: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back((now_ms, tokens, id));
        self.total += tokens;
        id
    }

    /// Replaces a reservation's estimate by the real usage. `false` when the reservation has
    /// aged out of the window (the usage is then recorded as new with [`TokenLog::add`]).
    pub fn settle(&mut self, id: u64, tokens: u64) -> bool {
        let Some(entry) = self.entries.iter_mut().find(|e| e.2 == id) else {
            return false;
        };
        self.total = self.total - entry.1 + tokens;
        entry.1 = tokens;
        true
    }

    /// The tokens used or reserved in the window.
    pub fn room(&self, budget: u64) -> u64 {
        budget.saturating_sub(self.total)
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

/// The tokens a turn reserves when admitted: at most `max_steps` model calls, each with the
/// history window (its token bound), the message (4 bytes a token) and a full reply; never more
/// than the room left in the budget.
pub fn reservation(
    max_steps: u32,
    history_tokens: u32,
    message_bytes: usize,
    max_tokens: u32,
    room: u64,
) -> u64 {
    let per_call =
        u64::from(history_tokens) + (message_bytes as u64).div_ceil(4) + u64::from(max_tokens);
    (u64::from(max_steps) * per_call).min(room)
}

/// Whole seconds from `now_ms` until `at_ms`, at least 1.
fn seconds_until(now_ms: f64, at_ms: f64) -> u64 {
    (((at_ms - now_ms) / 1000.0).ceil() as u64).max(1)
}

/// The name of a caller's limiter object: agent, what is counted and the caller's identity
/// (an API key's digest prefix, an address or a session id; never a raw key). Limiters are
/// objects of the session class; the `~` (never the first character of an agent's name) keeps
/// their names apart from those of sessions (`agent/session`).
pub fn object_name(agent: &str, per: &str, caller: &str) -> String {
    format!("~ratelimit/{agent}/{per}/{caller}")
}

/// The caller a `per: ip` limit counts for a client address (`CF-Connecting-IP`). An IPv6
/// client owns a whole /64 (2^64 addresses), so IPv6 addresses are counted by their /64;
/// IPv4 addresses by themselves.
///
/// A request without a valid address is refused ([`no_client_address`]), not counted in a
/// bucket of its own: every such request would share that one bucket, so one client could
/// use up everyone's limit, and it would say nothing of who the caller is. Cloudflare's edge
/// sets the header on every request from the internet (replacing a client's own), and
/// `agentc dev` sets it from the connection, so a request without one comes from somewhere
/// else (a Worker that built its own request, a proxy that dropped it), which must pass the
/// address on.
pub fn client_bucket(header: Option<&str>) -> Result<String, ApiError> {
    let ip: std::net::IpAddr = header
        .and_then(|h| h.trim().parse().ok())
        .ok_or_else(no_client_address)?;
    Ok(match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    })
}

/// The answer to a request a `per: ip` limit cannot count: it has no valid client address.
pub fn no_client_address() -> ApiError {
    ApiError::bad_request(
        "client_address_required",
        "this agent limits requests per client address, and the request has no valid \
         CF-Connecting-IP header (Cloudflare's edge sets it; a proxy or Worker in front must pass \
         it on)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_turns_reserve_the_budget() {
        // Ten turns admitted at once with a budget of 100: before, all ten saw room.
        let mut log = TokenLog::default();
        let mut admitted = Vec::new();
        for _ in 0..10 {
            if log.check(0.0, 100, MINUTE).is_none() {
                let reserve = reservation(4, 8192, 10, 512, log.room(100));
                admitted.push(log.add(0.0, reserve));
            }
        }
        assert_eq!(admitted.len(), 1);
        // The turn used 70: 30 are free again for one more turn.
        assert!(log.settle(admitted[0], 70));
        assert_eq!(log.total(), 70);
        assert_eq!(log.check(1.0, 100, MINUTE), None);
        let second = log.add(1.0, reservation(4, 8192, 10, 512, log.room(100)));
        assert_eq!(log.total(), 100);
        assert!(log.check(2.0, 100, MINUTE).is_some());
        // A failed turn settles too: what it used counts.
        assert!(log.settle(second, 55));
        assert_eq!(log.total(), 125);
        assert!(log.check(3.0, 100, MINUTE).is_some());
        // A reservation that aged out is not found.
        log.prune(2.0 * MINUTE, MINUTE);
        assert!(!log.settle(second, 1));
        assert_eq!(reservation(2, 100, 40, 50, u64::MAX), 2 * (100 + 10 + 50));
    }

    #[test]
    fn addresses_are_counted_by_owner() {
        let bucket = |header| client_bucket(header).ok();
        assert_eq!(bucket(Some("203.0.113.7")).as_deref(), Some("203.0.113.7"));
        // Every address of one /64 is one caller.
        let a = bucket(Some("2001:db8:1:2::1"));
        let b = bucket(Some("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        assert_eq!(a.as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(a, b);
        assert_ne!(a, bucket(Some("2001:db8:1:3::1")));
        assert_eq!(
            bucket(Some("::ffff:203.0.113.7")).as_deref(),
            Some("203.0.113.7")
        );
        // Without an address there is no caller to count: refused, never one shared bucket.
        for header in [None, Some(""), Some("not an address"), Some("unknown")] {
            let err = client_bucket(header).unwrap_err();
            assert_eq!((err.status, err.code), (400, "client_address_required"));
        }
    }

    const MINUTE: f64 = 60_000.0;

    #[test]
    fn exactly_the_limit_passes_in_a_burst() {
        let mut log = SlidingLog::default();
        let verdicts: Vec<Verdict> = (0..200).map(|_| log.hit(1000.0, 60, MINUTE)).collect();
        assert_eq!(verdicts.iter().filter(|v| v.allowed).count(), 60);
        assert_eq!(verdicts[0].remaining, 59);
        assert_eq!(verdicts[59].remaining, 0);
        let refused = verdicts[60];
        assert!(!refused.allowed);
        assert_eq!((refused.remaining, refused.retry_after), (0, 60));
    }

    #[test]
    fn the_window_slides() {
        let mut log = SlidingLog::default();
        assert!(log.hit(0.0, 2, MINUTE).allowed);
        assert!(log.hit(30_000.0, 2, MINUTE).allowed);
        let refused = log.hit(45_000.0, 2, MINUTE);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, 15);
        // The first hit has aged out; the second has not.
        assert!(log.hit(60_001.0, 2, MINUTE).allowed);
        assert!(!log.hit(60_002.0, 2, MINUTE).allowed);
        assert!(log.hit(90_001.0, 2, MINUTE).allowed);
    }

    #[test]
    fn a_lowered_limit_waits_for_enough_hits_to_age_out() {
        let mut log = SlidingLog::from_hits(vec![1000.0, 2000.0, 3000.0]);
        let v = log.hit(10_000.0, 1, MINUTE);
        assert!(!v.allowed);
        // All three must go for one to fit: the newest frees at 63 s.
        assert_eq!(v.retry_after, 53);
        let v = log.hit(10_000.0, 2, MINUTE);
        // Two must go: the second oldest frees at 62 s.
        assert_eq!(v.retry_after, 52);
    }

    #[test]
    fn token_budget_counts_real_usage() {
        let mut log = TokenLog::default();
        assert_eq!(log.check(0.0, 100, MINUTE), None);
        // (Ids are returned for reservations; plain usage ignores them.)
        log.add(0.0, 70);
        assert_eq!(log.check(1000.0, 100, MINUTE), None);
        log.add(10_000.0, 50);
        // 120 used: refused until the first 70 age out at 60 s.
        assert_eq!(log.check(20_000.0, 100, MINUTE), Some(40));
        assert_eq!(log.check(60_001.0, 100, MINUTE), None);
        assert_eq!(log.total(), 50);
    }
}
