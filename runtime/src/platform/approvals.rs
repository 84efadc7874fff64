//! Paused turns in the session's Durable Object: one row of SQLite holding the turn that waits
//! for approval (see [`crate::approval`]), apart from the transcript, which gets the turn's
//! messages only once it completes. Writes here run with no `await` in between, so each commits
//! atomically; on disk locally, so a paused turn survives a restart.

use super::transcript::SessionStore;
use crate::api::ApiError;
use crate::approval::{self, PausedTurn};
use serde::Deserialize;
use serde_json::Value;
use worker::SqlStorageValue;

/// At most one paused turn per session: a session waits for its decisions before it takes a
/// new message.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS paused_turn (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    route TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
)";

#[derive(Deserialize)]
struct Row {
    route: String,
    state: String,
}

fn storage_error(err: worker::Error) -> ApiError {
    ApiError::internal(format!("session storage failed: {err}"))
}

/// The paused turn and the routing label it was answered under, if one is stored. Once the
/// object knows there is none (it read none, or deleted it), it reads nothing until one is
/// saved: a session that never waits for approval costs no statement per turn here.
pub fn load(store: &SessionStore) -> Result<Option<(String, PausedTurn)>, ApiError> {
    if store.no_paused_turn.get() {
        return Ok(None);
    }
    let rows: Vec<Row> = store
        .sql()
        .exec("SELECT route, state FROM paused_turn", None)
        .and_then(|cursor| cursor.to_array())
        .map_err(storage_error)?;
    let Some(row) = rows.into_iter().next() else {
        store.no_paused_turn.set(true);
        return Ok(None);
    };
    let paused = serde_json::from_str(&row.state)
        .map_err(|err| ApiError::internal(format!("a stored paused turn is unreadable: {err}")))?;
    Ok(Some((row.route, paused)))
}

/// Stores (or replaces) the paused turn.
pub fn save(store: &SessionStore, route: &str, paused: &PausedTurn) -> Result<(), ApiError> {
    let state = serde_json::to_string(paused).expect("paused turns serialize");
    let now = worker::Date::now().as_millis() as i64;
    store.no_paused_turn.set(false);
    store
        .sql()
        .exec(
            "INSERT OR REPLACE INTO paused_turn (id, route, state, updated_at) VALUES (1, ?, ?, ?)",
            vec![
                SqlStorageValue::from(route),
                SqlStorageValue::from(state.as_str()),
                SqlStorageValue::from(now),
            ],
        )
        .map_err(storage_error)?;
    Ok(())
}

/// Forgets the paused turn: it completed, or can never go on.
pub fn clear(store: &SessionStore) -> Result<(), ApiError> {
    if store.no_paused_turn.get() {
        return Ok(());
    }
    store
        .sql()
        .exec("DELETE FROM paused_turn", None)
        .map_err(storage_error)?;
    store.no_paused_turn.set(true);
    Ok(())
}

/// The paused turn that still has calls to decide; one whose calls have all been decided or
/// have expired is dropped.
pub fn waiting(store: &SessionStore) -> Result<Option<(String, PausedTurn)>, ApiError> {
    match load(store)? {
        Some((_, paused)) if paused.expired(now_ms()) => {
            clear(store)?;
            Ok(None)
        }
        other => Ok(other),
    }
}

/// Before a new message: a 409 that names the waiting calls, if any wait.
pub fn refuse_if_waiting(store: &SessionStore) -> Result<(), ApiError> {
    match waiting(store)? {
        Some((_, paused)) => Err(approval::pending_conflict(&paused)),
        None => Ok(()),
    }
}

/// The waiting calls, for `GET .../sessions/{id}`.
pub fn listed(store: &SessionStore) -> Result<Value, ApiError> {
    Ok(match waiting(store)? {
        Some((_, paused)) => paused.listed(),
        None => Value::Array(Vec::new()),
    })
}

pub fn now_ms() -> f64 {
    worker::Date::now().as_millis() as f64
}
