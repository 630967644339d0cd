//! The dev mailbox: sent messages kept in memory (newest first, at most 200) for `/dev/mailbox`.

use super::OutgoingEmail;
use crate::server::time::now_ms;
use std::collections::VecDeque;
use std::sync::Mutex;

const CAPACITY: usize = 200;

#[derive(Clone, Debug)]
pub struct StoredEmail {
    pub id: u64,
    pub sent_at: i64,
    pub email: OutgoingEmail,
}

#[derive(Default)]
pub struct DevMailbox {
    inner: Mutex<(u64, VecDeque<StoredEmail>)>,
}

impl DevMailbox {
    pub fn deliver(&self, email: OutgoingEmail) {
        if let Ok(mut guard) = self.inner.lock() {
            let (next_id, messages) = &mut *guard;
            *next_id += 1;
            messages.push_front(StoredEmail { id: *next_id, sent_at: now_ms(), email });
            messages.truncate(CAPACITY);
        }
    }

    /// Newest first.
    pub fn list(&self) -> Vec<StoredEmail> {
        self.inner.lock().map(|g| g.1.iter().cloned().collect()).unwrap_or_default()
    }

    pub fn get(&self, id: u64) -> Option<StoredEmail> {
        self.inner.lock().ok()?.1.iter().find(|m| m.id == id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(n: usize) -> OutgoingEmail {
        OutgoingEmail { to: format!("u{n}@example.com"), subject: "s".into(), text: "t".into(), html: "h".into() }
    }

    #[test]
    fn newest_comes_first_and_old_mail_is_dropped_past_capacity() {
        let m = DevMailbox::default();
        for n in 0..(CAPACITY + 5) {
            m.deliver(mail(n));
        }
        let list = m.list();
        assert_eq!(list.len(), CAPACITY);
        assert_eq!(list[0].email.to, format!("u{}@example.com", CAPACITY + 4));
        assert!(m.get(list[0].id).is_some());
        assert!(m.get(1).is_none());
    }
}
