//! The newest messages of a session, kept in memory by its Durable Object so that a turn reads
//! no storage: the object is the only writer of its storage, so what it stored last is what a
//! read would return. Filled by the first read, appended to as turns are stored, emptied when
//! history is forgotten or a store fails (the next turn reads storage again).
//!
//! [`Known`] is the rest of what the object knows of its storage (its owner row, the
//! transcript's newest row and row count), so that a turn runs only the statements whose answer
//! it does not know: on a warm object, one `INSERT` per turn.

use crate::history::{self, Message};

/// The last `keep` stored messages, oldest first, once they have been read.
#[derive(Debug, Default)]
pub struct Recent {
    messages: Option<Vec<Message>>,
    keep: usize,
}

impl Recent {
    /// The messages, when known.
    pub fn get(&self) -> Option<&[Message]> {
        self.messages.as_deref()
    }

    /// What a read of the newest `keep` stored messages returned.
    pub fn fill(&mut self, messages: Vec<Message>, keep: usize) {
        self.keep = keep;
        self.messages = Some(messages);
    }

    /// Messages just stored after the others; the oldest beyond `keep` are dropped.
    pub fn append(&mut self, stored: &[Message]) {
        if let Some(messages) = &mut self.messages {
            // As storage keeps them: a huge content is cut.
            messages.extend(stored.iter().map(|message| Message {
                content: history::cut(&message.content, history::MAX_STORED_CONTENT),
                ..message.clone()
            }));
            let excess = messages.len().saturating_sub(self.keep);
            messages.drain(..excess);
        }
    }

    /// Forgets what is known: the next read goes to storage.
    pub fn clear(&mut self) {
        self.messages = None;
    }
}

/// What a session object knows of its storage besides the messages; `None`: not read yet.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Known {
    /// The session row: `Some(None)` when there is none, else its owner and `keep`.
    pub session: Option<Option<(String, u32)>>,
    /// How many messages the transcript holds.
    pub rows: Option<u64>,
}

impl Known {
    /// Whether storing `keep` in the session row would change it.
    pub fn keep_changes(&self, keep: u32) -> bool {
        !matches!(&self.session, Some(Some((_, stored))) if *stored == keep)
    }

    /// The session row's `keep`, when known.
    pub fn keep(&self) -> Option<u32> {
        match &self.session {
            Some(Some((_, keep))) => Some(*keep),
            _ => None,
        }
    }

    /// Whether storing `inserted` more messages may leave more than the session's `keep`, so
    /// that the oldest are to be deleted (when either is unknown, they may).
    pub fn overflows(&self, inserted: u64) -> bool {
        match (self.rows, self.keep()) {
            (Some(rows), Some(keep)) => rows + inserted > u64::from(keep),
            _ => true,
        }
    }

    /// After `inserted` messages were stored and the oldest beyond `keep` deleted.
    pub fn stored(&mut self, inserted: u64) {
        self.rows = match (self.rows, self.keep()) {
            (Some(rows), Some(keep)) => Some((rows + inserted).min(u64::from(keep))),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Role;

    fn messages(range: std::ops::Range<usize>) -> Vec<Message> {
        range
            .map(|i| Message::new(Role::User, format!("m{i}")))
            .collect()
    }

    #[test]
    fn keeps_what_a_read_of_the_newest_messages_would_return() {
        let mut recent = Recent::default();
        recent.append(&messages(0..2));
        assert_eq!(recent.get(), None, "nothing is known before the first read");
        recent.fill(messages(0..3), 4);
        recent.append(&messages(3..6));
        assert_eq!(recent.get(), Some(&messages(2..6)[..]));
        recent.clear();
        assert_eq!(recent.get(), None);
    }

    #[test]
    fn knows_when_keep_changes_and_when_rows_overflow_it() {
        let mut known = Known::default();
        assert!(known.keep_changes(10), "an unread row may hold anything");
        assert!(known.overflows(1), "unknown rows may overflow");
        known.session = Some(Some(("public".into(), 10)));
        assert!(!known.keep_changes(10));
        assert!(known.keep_changes(20));
        known.rows = Some(7);
        assert!(!known.overflows(3));
        assert!(known.overflows(4));
        known.stored(4);
        assert_eq!(known.rows, Some(10), "the oldest beyond keep were deleted");
        known.session = Some(None);
        known.stored(2);
        assert_eq!(known.rows, None, "without a known keep the count is lost");
    }
}
