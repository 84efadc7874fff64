//! A session's messages in its Durable Object's SQLite storage: one row per message, read in
//! order, and a turn's messages stored whole or not at all.

use crate::api::ApiError;
use crate::history::{self, Message, Role, ToolCall};
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

/// The messages, oldest first by `seq`.
pub const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS transcript (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls TEXT,
    tool_call_id TEXT,
    name TEXT,
    created_at INTEGER NOT NULL
)";

/// One row as read (`SELECT *`).
#[derive(Deserialize)]
pub struct StoredMessage {
    role: String,
    content: String,
    tool_calls: Option<String>,
    tool_call_id: Option<String>,
    name: Option<String>,
}

/// Stored rows as messages (a row of an unknown role is skipped).
pub fn to_messages(rows: Vec<StoredMessage>) -> Vec<Message> {
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
fn storage_error(err: worker::Error) -> ApiError {
    worker::console_error!("agentc: session storage failed: {err}");
    ApiError::internal("session storage failed")
}

/// Appends a turn's messages, then deletes the oldest beyond the session's `keep`. The
/// statements run with no `await` between them, so the Durable Object commits them together,
/// the successful ones included when a later one fails (a row over the platform's 2 MB, such as
/// a tool call with megabytes of arguments, in a long turn's second INSERT): so the rows this
/// turn inserted are deleted again before returning, and a turn is stored whole or not at all
/// (`tests/tests/security_sessions.rs` shows it on workerd).
pub fn store(sql: &SqlStorage, messages: &[Message]) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct Last {
        seq: Option<i64>,
    }
    let last: Vec<Last> = sql
        .exec("SELECT MAX(seq) AS seq FROM transcript", None)
        .and_then(|cursor| cursor.to_array())
        .map_err(storage_error)?;
    let before = last.first().and_then(|l| l.seq).unwrap_or(0);
    let result = insert(sql, messages).and_then(|()| {
        sql.exec(
            "DELETE FROM transcript WHERE seq <= (SELECT MAX(seq) FROM transcript) - COALESCE((SELECT keep FROM session), 1000000)",
            None,
        )
        .map(|_| ())
        .map_err(storage_error)
    });
    if result.is_err() {
        let undo = sql.exec(
            "DELETE FROM transcript WHERE seq > ?",
            vec![SqlStorageValue::from(before)],
        );
        if let Err(err) = undo {
            worker::console_error!("agentc: undoing a half-stored turn failed: {err}");
        }
    }
    result
}

fn insert(sql: &SqlStorage, messages: &[Message]) -> Result<(), ApiError> {
    let now = worker::Date::now().as_millis() as i64;
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
        .map_err(storage_error)?;
    }
    // A paused turn that has now completed waits no more.
    super::approvals::clear(sql)
}
