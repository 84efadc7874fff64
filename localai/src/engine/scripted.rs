//! The scripted engine: every request consumes the next reply of a
//! [`Script`], and its output is produced exactly as the script says.

use std::sync::Mutex;

use tokio::sync::{mpsc, watch};

use super::{EngineError, Event, Generation};
use crate::script::{ErrorKind, Output, Reply, Script, WhenExhausted};
use crate::wire::{RecordedRequest, Usage};

/// Answers requests from a script, one reply per request, in order.
#[derive(Debug)]
pub struct ScriptedEngine {
    cursor: Mutex<Cursor>,
    /// Counts the calls to [`ScriptedEngine::release`]. A held stream waits
    /// until the count exceeds its value when the request arrived, so a
    /// release sent before the stream reaches its hold point is not lost.
    releases: watch::Sender<u64>,
    /// Set once the server shuts down; held streams then end at once.
    closing: watch::Sender<bool>,
}

#[derive(Debug)]
struct Cursor {
    script: Script,
    /// Index of the next reply; it keeps counting past the end so the
    /// exhaustion error can say which request failed.
    next: usize,
}

impl ScriptedEngine {
    /// An engine that starts at the first reply of `script`.
    pub fn new(script: Script) -> Self {
        ScriptedEngine {
            cursor: Mutex::new(Cursor { script, next: 0 }),
            releases: watch::Sender::new(0),
            closing: watch::Sender::new(false),
        }
    }

    /// Replaces the script and starts again from its first reply.
    pub fn set_script(&self, script: Script) {
        *self.lock() = Cursor { script, next: 0 };
    }

    /// Releases every stream held now or later by a request that has
    /// already arrived; returns the number of releases so far.
    pub fn release(&self) -> u64 {
        self.releases.send_modify(|count| *count += 1);
        *self.releases.borrow()
    }

    pub(super) fn shutdown(&self) {
        self.closing.send_replace(true);
    }

    pub(super) fn generate(&self, request: &RecordedRequest) -> Result<Generation, EngineError> {
        let reply = self.next_reply()?;
        let output = match reply {
            Reply::Error(ErrorKind::Capacity) => return Err(EngineError::Capacity),
            Reply::Error(ErrorKind::Internal) => {
                return Err(EngineError::Internal(
                    "Scripted internal error from localai.".into(),
                ))
            }
            Reply::Output(output) => output,
        };
        let usage = usage_for(&output, request);
        let hold = output.hold_after.map(|after| Hold {
            after,
            base: *self.releases.borrow(),
            releases: self.releases.subscribe(),
            closing: self.closing.subscribe(),
        });
        let (sender, generation) = Generation::channel();
        tokio::spawn(produce(output, usage, hold, sender));
        Ok(generation)
    }

    fn next_reply(&self) -> Result<Reply, EngineError> {
        let mut cursor = self.lock();
        let index = cursor.next;
        cursor.next += 1;
        let replies = &cursor.script.replies;
        if let Some(reply) = replies.get(index) {
            return Ok(reply.clone());
        }
        match (cursor.script.when_exhausted, replies.last()) {
            (WhenExhausted::RepeatLast, Some(last)) => Ok(last.clone()),
            _ => Err(EngineError::Internal(format!(
                "localai script exhausted: it has {} replies and this is request {}; \
                 PUT a new script to /_localai/script or set \"when_exhausted\": \"repeat_last\"",
                replies.len(),
                index + 1
            ))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cursor> {
        // A panic while holding the lock cannot leave the cursor invalid, so
        // a poisoned lock is still safe to use.
        self.cursor.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where a stream stops and what it waits for there.
struct Hold {
    after: usize,
    base: u64,
    releases: watch::Receiver<u64>,
    closing: watch::Receiver<bool>,
}

impl Hold {
    /// Waits for a release; false if the server is closing or the client
    /// went away first.
    async fn wait(mut self, sender: &mpsc::Sender<Event>) -> bool {
        let base = self.base;
        tokio::select! {
            released = self.releases.wait_for(|count| *count > base) => released.is_ok(),
            _ = self.closing.wait_for(|closing| *closing) => false,
            _ = sender.closed() => false,
        }
    }
}

/// Sends the output of one reply, stopping at its hold point if it has one.
async fn produce(
    output: Output,
    usage: Usage,
    mut hold: Option<Hold>,
    sender: mpsc::Sender<Event>,
) {
    for (index, chunk) in output.chunks.into_iter().enumerate() {
        if !wait_if_held(&mut hold, index, &sender).await {
            return;
        }
        if sender.send(Event::Text(chunk)).await.is_err() {
            return;
        }
    }
    if !wait_if_held(&mut hold, usize::MAX, &sender).await {
        return;
    }
    if !output.tool_calls.is_empty()
        && sender
            .send(Event::ToolCalls(output.tool_calls))
            .await
            .is_err()
    {
        return;
    }
    if !output.truncate {
        // The client may have gone; there is nothing left to stop.
        let _ = sender.send(Event::Done(usage)).await;
    }
}

/// Waits for a release if the stream is held at or before `position`;
/// returns false if the stream must stop instead.
async fn wait_if_held(
    hold: &mut Option<Hold>,
    position: usize,
    sender: &mpsc::Sender<Event>,
) -> bool {
    match hold.take_if(|hold| hold.after <= position) {
        Some(hold) => hold.wait(sender).await,
        None => true,
    }
}

/// The usage of a reply: the script's numbers where given, otherwise the
/// prompt's word count and the number of chunks.
fn usage_for(output: &Output, request: &RecordedRequest) -> Usage {
    let given = output.usage.unwrap_or_default();
    let prompt_tokens = given
        .prompt_tokens
        .unwrap_or_else(|| request.prompt_words());
    let completion_tokens = given
        .completion_tokens
        .unwrap_or(output.chunks.len() as u64);
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: given
            .total_tokens
            .unwrap_or(prompt_tokens + completion_tokens),
    }
}
