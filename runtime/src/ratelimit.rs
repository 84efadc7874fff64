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
//! The token budget counts the model's real usage (prompt and completion tokens), reported
//! after each turn. A caller whose window already holds `budget` tokens is refused until enough
//! of them have aged out; the turn that crosses the budget is not cut short, so a caller can
//! overshoot by at most one turn's usage.

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
        }
    }

    pub fn len(&self) -> usize {
        self.hits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hits.is_empty()
    }
}

/// Tokens used within the window, oldest first.
#[derive(Debug, Default, Clone)]
pub struct TokenLog {
    entries: VecDeque<(f64, u64)>,
    total: u64,
}

impl TokenLog {
    /// A log of earlier usage, oldest first.
    pub fn from_entries(entries: Vec<(f64, u64)>) -> Self {
        let total = entries.iter().map(|e| e.1).sum();
        TokenLog {
            entries: entries.into(),
            total,
        }
    }

    pub fn prune(&mut self, now_ms: f64, window_ms: f64) -> usize {
        let cutoff = now_ms - window_ms;
        let before = self.entries.len();
        while let Some(&(t, n)) = self.entries.front() {
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
        for &(t, n) in &self.entries {
            total -= n;
            if total < budget {
                return Some(seconds_until(now_ms, t + window_ms));
            }
        }
        Some(seconds_until(now_ms, now_ms + window_ms))
    }

    pub fn add(&mut self, now_ms: f64, tokens: u64) {
        self.entries.push_back((now_ms, tokens));
        self.total += tokens;
    }

    pub fn total(&self) -> u64 {
        self.total
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        log.add(0.0, 70);
        assert_eq!(log.check(1000.0, 100, MINUTE), None);
        log.add(10_000.0, 50);
        // 120 used: refused until the first 70 age out at 60 s.
        assert_eq!(log.check(20_000.0, 100, MINUTE), Some(40));
        assert_eq!(log.check(60_001.0, 100, MINUTE), None);
        assert_eq!(log.total(), 50);
    }
}
