//! A session's SQLite storage: its transcript (one message per row), its owner row and, with
//! the `approvals` feature, its paused turn; and what the object knows of them
//! ([`crate::recent`]), so that a warm object's turn runs one `INSERT` and nothing else.
//!
//! A turn's statements run with no `await` between them, so the Durable Object commits them
//! together; should one fail, the rows the turn inserted are deleted again, so a turn is stored
//! whole or not at all.

#[cfg(feature = "approvals")]
use super::approvals;
use crate::api::ApiError;
use crate::history::{self, Message, Role, ToolCall};
use crate::ownership::{self, Admission};
use crate::recent::{Known, Recent};
use serde::Deserialize;
use std::cell::RefCell;
use worker::{SqlStorage, SqlStorageValue};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS transcript (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT,
    name TEXT,
    created_at INTEGER NOT NULL
)";

/// The session's owner: one row, written when the session is created. `keep` is the agent's
/// `history.keep`, by which a stored turn prunes old messages in its own transaction.
const OWNER_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS session (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    keep INTEGER NOT NULL,
    created_at INTEGER NOT NULL
)";

/// One session's storage, and what is known of it.
pub struct SessionStore {
    raw: SqlStorage,
    /// Whether this instance has made sure its tables exist (see [`SessionStore::sql`]).
    ready: std::cell::Cell<bool>,
    /// The newest stored messages, once read.
    recent: RefCell<Recent>,
    known: RefCell<Known>,
    /// Known to have no paused turn (see [`approvals::load`]); `false` when unknown.
    #[cfg(feature = "approvals")]
    pub(super) no_paused_turn: std::cell::Cell<bool>,
}

#[derive(Deserialize)]
struct StoredMessage {
    role: String,
    content: String,
    tool_calls: Option<String>,
    tool_call_id: Option<String>,
    name: Option<String>,
}

impl SessionStore {
    /// The storage of the object. Its tables are created when first used, not here: then a new
    /// session's tables and its owner row are written by one commit (a request's statements
    /// with no `await` between them are one transaction), not one for the tables when the
    /// object starts and another for the row after the request's body has been read; and an
    /// object that is only ever a rate limiter has none of them.
    pub fn open(sql: SqlStorage) -> Self {
        SessionStore {
            raw: sql,
            ready: std::cell::Cell::new(false),
            recent: RefCell::default(),
            known: RefCell::default(),
            #[cfg(feature = "approvals")]
            no_paused_turn: std::cell::Cell::new(false),
        }
    }

    /// The storage, with the session's tables created if missing.
    pub fn sql(&self) -> &SqlStorage {
        if !self.ready.replace(true) {
            for schema in [SCHEMA, OWNER_SCHEMA] {
                if let Err(err) = self.raw.exec(schema, None) {
                    worker::console_error!("agentc: could not create the session's tables: {err}");
                }
            }
            #[cfg(feature = "approvals")]
            if let Err(err) = self.raw.exec(approvals::SCHEMA, None) {
                worker::console_error!("agentc: could not create the paused-turn table: {err}");
            }
        }
        &self.raw
    }

    /// The storage as it is, for what is not the session's (a rate limiter's counters, and
    /// the questions of whether there is a session at all).
    pub fn raw(&self) -> &SqlStorage {
        &self.raw
    }

    /// Forgets what is known (the storage was deleted, or a write failed).
    pub fn reset(&self) {
        self.ready.set(false);
        #[cfg(feature = "approvals")]
        self.no_paused_turn.set(false);
        self.recent.borrow_mut().clear();
        *self.known.borrow_mut() = Known::default();
    }

    /// The newest `window` stored messages, oldest first.
    pub fn window(&self, window: u32) -> Result<Vec<Message>, ApiError> {
        if let Some(messages) = self.recent.borrow().get() {
            return Ok(messages.to_vec());
        }
        let rows: Vec<StoredMessage> = self
            .sql()
            .exec(
                "SELECT * FROM (SELECT * FROM transcript ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                vec![SqlStorageValue::from(i64::from(window))],
            )
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        let messages = to_messages(rows);
        self.recent
            .borrow_mut()
            .fill(messages.clone(), window as usize);
        Ok(messages)
    }

    /// Every stored message, oldest first.
    pub fn all(&self) -> Result<Vec<Message>, ApiError> {
        let rows: Vec<StoredMessage> = self
            .sql()
            .exec("SELECT * FROM transcript ORDER BY seq", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        Ok(to_messages(rows))
    }

    /// What a request of `owner` may do with this session.
    pub fn admit(&self, owner: &str, create: bool) -> Result<Admission, ApiError> {
        let session = self.session()?;
        let stored = session.as_ref().map(|(owner, _)| owner.as_str());
        let messages = stored.is_none() && owner == "public" && self.rows()? > 0;
        Ok(ownership::admit(stored, owner, create, messages))
    }

    /// The session row, read once.
    fn session(&self) -> Result<Option<(String, u32)>, ApiError> {
        if let Some(session) = &self.known.borrow().session {
            return Ok(session.clone());
        }
        #[derive(Deserialize)]
        struct Row {
            owner: String,
            keep: i64,
        }
        let rows: Vec<Row> = self
            .sql()
            .exec("SELECT owner, keep FROM session", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        let session = rows
            .into_iter()
            .next()
            .map(|row| (row.owner, u32::try_from(row.keep).unwrap_or(u32::MAX)));
        self.known.borrow_mut().session = Some(session.clone());
        Ok(session)
    }

    /// How many messages the transcript holds, read once.
    fn rows(&self) -> Result<u64, ApiError> {
        if let Some(rows) = self.known.borrow().rows {
            return Ok(rows);
        }
        #[derive(Deserialize)]
        struct Row {
            n: i64,
        }
        let rows: Vec<Row> = self
            .sql()
            .exec("SELECT COUNT(*) AS n FROM transcript", None)
            .and_then(|cursor| cursor.to_array())
            .map_err(storage_error)?;
        let rows = rows.first().map_or(0, |r| u64::try_from(r.n).unwrap_or(0));
        self.known.borrow_mut().rows = Some(rows);
        Ok(rows)
    }

    /// Creates the session row for `owner`.
    pub fn create(&self, owner: &str, keep: u32) -> Result<(), ApiError> {
        let now = worker::Date::now().as_millis() as i64;
        self.sql()
            .exec(
                "INSERT OR REPLACE INTO session (id, owner, keep, created_at) VALUES (1, ?, ?, ?)",
                vec![owner.into(), i64::from(keep).into(), now.into()],
            )
            .map_err(storage_error)?;
        self.known.borrow_mut().session = Some(Some((owner.to_owned(), keep)));
        Ok(())
    }

    /// Records the agent's `keep` in the session row, when it changed.
    pub fn set_keep(&self, keep: u32) -> Result<(), ApiError> {
        if !self.known.borrow().keep_changes(keep) {
            return Ok(());
        }
        self.sql()
            .exec(
                "UPDATE session SET keep = ? WHERE keep != ?",
                vec![i64::from(keep).into(), i64::from(keep).into()],
            )
            .map_err(storage_error)?;
        if let Some(Some((_, stored))) = &mut self.known.borrow_mut().session {
            *stored = keep;
        }
        Ok(())
    }

    /// Deletes the session: its messages, its owner row, any paused turn.
    pub fn forget(&self) -> Result<(), ApiError> {
        self.reset();
        for statement in ["DELETE FROM transcript", "DELETE FROM session"] {
            self.sql().exec(statement, None).map_err(storage_error)?;
        }
        #[cfg(feature = "approvals")]
        approvals::clear(self)?;
        Ok(())
    }

    /// Appends a turn's messages, then deletes the oldest beyond the session's `keep`; the
    /// newest messages in memory follow. On a failure nothing of the turn stays stored.
    pub fn store(&self, messages: &[Message]) -> Result<(), ApiError> {
        let stored = self.store_rows(messages);
        match &stored {
            Ok(()) => self.recent.borrow_mut().append(messages),
            Err(_) => self.reset(),
        }
        stored
    }

    fn store_rows(&self, messages: &[Message]) -> Result<(), ApiError> {
        // Read before the turn's rows go in (the count, for the prune below).
        self.rows()?;
        let inserted = messages.len() as u64;
        let overflows = self.known.borrow().overflows(inserted);
        let result = insert(self.sql(), messages).and_then(|()| {
            // Known not to overflow `keep`: nothing to delete.
            if overflows {
                self.sql()
                    .exec(
                        "DELETE FROM transcript WHERE seq <= (SELECT MAX(seq) FROM transcript) - COALESCE((SELECT keep FROM session), 1000000)",
                        None,
                    )
                    .map_err(|err| (storage_error(err), inserted))?;
            }
            Ok(())
        });
        if let Err((err, stored)) = result {
            // The newest rows are this turn's: nothing else writes between its statements.
            if stored > 0 {
                let undo = self.sql().exec(
                    "DELETE FROM transcript WHERE seq IN (SELECT seq FROM transcript ORDER BY seq DESC LIMIT ?)",
                    vec![SqlStorageValue::from(stored as i64)],
                );
                if let Err(err) = undo {
                    worker::console_error!("agentc: undoing a half-stored turn failed: {err}");
                }
            }
            return Err(err);
        }
        self.known.borrow_mut().stored(inserted);
        // A paused turn that has now completed waits no more.
        #[cfg(feature = "approvals")]
        approvals::clear(self)?;
        Ok(())
    }
}

/// Inserts the messages, [`history::ROWS_PER_INSERT`] rows per statement (workerd binds at most
/// 100 values to one statement). `Err`: the error, and how many rows were inserted before it (a
/// statement inserts all its rows or none): a row over the platform's 2 MB, such as a tool call
/// with megabytes of arguments, fails a long turn's second INSERT
/// (`tests/tests/security_sessions.rs` shows the undo on workerd).
fn insert(sql: &SqlStorage, messages: &[Message]) -> Result<(), (ApiError, u64)> {
    let now = worker::Date::now().as_millis() as i64;
    let mut stored = 0;
    for rows in messages.chunks(history::ROWS_PER_INSERT) {
        let mut values = Vec::with_capacity(rows.len() * history::STORED_VALUES);
        for message in rows {
            let tool_calls = (!message.tool_calls.is_empty())
                .then(|| serde_json::to_string(&message.tool_calls).expect("tool calls serialize"));
            values.extend([
                SqlStorageValue::from(message.role.as_str()),
                SqlStorageValue::from(history::cut(&message.content, history::MAX_STORED_CONTENT)),
                SqlStorageValue::from(tool_calls),
                SqlStorageValue::from(message.tool_call_id.clone()),
                SqlStorageValue::from(message.name.clone()),
                SqlStorageValue::from(now),
            ]);
        }
        debug_assert_eq!(values.len(), rows.len() * history::STORED_VALUES);
        let placeholders = vec!["(?, ?, ?, ?, ?, ?)"; rows.len()].join(", ");
        sql.exec(
            &format!(
                "INSERT INTO transcript (role, content, tool_calls, tool_call_id, name, created_at) VALUES {placeholders}"
            ),
            values,
        )
        .map_err(|err| (storage_error(err), stored))?;
        stored += rows.len() as u64;
    }
    Ok(())
}

fn to_messages(rows: Vec<StoredMessage>) -> Vec<Message> {
    rows.into_iter()
        .filter_map(|row| {
            let tool_calls: Vec<ToolCall> = row
                .tool_calls
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default();
            Some(Message {
                tool_calls,
                tool_call_id: row.tool_call_id,
                name: row.name,
                ..Message::new(Role::parse(&row.role)?, row.content)
            })
        })
        .collect()
}

/// The platform's error goes to the log; the client hears only what failed.
pub fn storage_error(err: worker::Error) -> ApiError {
    worker::console_error!("agentc: session storage failed: {err}");
    ApiError::internal("session storage failed")
}
