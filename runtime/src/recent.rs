//! The newest messages of a session, kept in memory by its Durable Object so that a turn reads
//! no storage: the object is the only writer of its storage, so what it stored last is what a
//! read would return. Filled by the first read, appended to as turns are stored, emptied when
//! history is forgotten or a store fails (the next turn reads storage again).

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
}
