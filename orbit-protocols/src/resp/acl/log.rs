//! ACL LOG: the latest refusals, newest first, at most [`MAX_ENTRIES`]. A
//! refusal like a recent one (same reason, context, object and user, the
//! last one less than a minute ago) counts on that entry and moves it to
//! the front instead of adding one, as Redis groups them.

use super::Reason;
use std::collections::VecDeque;

/// Redis' `acllog-max-len` default.
const MAX_ENTRIES: usize = 128;
/// Refusals this close to a like one are grouped with it.
const GROUPING_MS: u64 = 60_000;

/// Where a refused command was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    /// Queued inside MULTI.
    Multi,
}

impl Context {
    pub fn as_str(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
        }
    }
}

/// One refusal, as the front door reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub context: Context,
    /// The command (`get`, `acl|setuser`), key or channel refused; `AUTH`
    /// for a failed authentication.
    pub object: String,
    pub username: String,
    /// The client, as CLIENT INFO shows it.
    pub client_info: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub refusal: Refusal,
    pub count: u64,
    pub entry_id: u64,
    pub created_ms: u64,
    pub updated_ms: u64,
}

impl Entry {
    fn groups_with(&self, refusal: &Refusal, now_ms: u64) -> bool {
        let same = |a: &Refusal| {
            (a.reason, a.context, &a.object, &a.username)
                == (refusal.reason, refusal.context, &refusal.object, &refusal.username)
        };
        same(&self.refusal) && now_ms.saturating_sub(self.updated_ms) < GROUPING_MS
    }
}

#[derive(Debug, Default)]
pub struct Log {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl Log {
    /// Records a refusal at `now_ms` (Unix milliseconds).
    pub fn add(&mut self, refusal: Refusal, now_ms: u64) {
        if let Some(i) = self.entries.iter().position(|e| e.groups_with(&refusal, now_ms))
            && let Some(mut entry) = self.entries.remove(i)
        {
            entry.count += 1;
            entry.updated_ms = now_ms;
            entry.refusal.client_info = refusal.client_info;
            self.entries.push_front(entry);
            return;
        }
        let entry =
            Entry { refusal, count: 1, entry_id: self.next_id, created_ms: now_ms, updated_ms: now_ms };
        self.next_id += 1;
        self.entries.push_front(entry);
        self.entries.truncate(MAX_ENTRIES);
    }

    /// Forgets every entry (ACL LOG RESET); entry ids keep counting.
    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries, newest first.
    pub fn latest(&self, count: usize) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(object: &str) -> Refusal {
        Refusal {
            reason: Reason::Key,
            context: Context::Toplevel,
            object: object.into(),
            username: "alice".into(),
            client_info: "id=1".into(),
        }
    }

    #[test]
    fn like_refusals_within_a_minute_are_counted_on_one_entry() {
        let mut log = Log::default();
        log.add(refusal("a"), 1_000);
        log.add(refusal("b"), 2_000);
        log.add(refusal("a"), 3_000);
        let entries: Vec<&Entry> = log.latest(10).collect();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].refusal.object.as_str(), entries[0].count), ("a", 2));
        assert_eq!((entries[0].created_ms, entries[0].updated_ms), (1_000, 3_000));
        assert_eq!(entries[1].refusal.object, "b");
        log.add(refusal("a"), 3_000 + GROUPING_MS);
        assert_eq!(log.latest(10).count(), 3, "a minute later a new entry starts");
        assert_eq!(log.latest(1).count(), 1);
        log.reset();
        assert_eq!(log.latest(10).count(), 0);
    }

    #[test]
    fn the_log_keeps_the_newest_entries() {
        let mut log = Log::default();
        for i in 0..(MAX_ENTRIES + 5) {
            log.add(refusal(&i.to_string()), i as u64);
        }
        assert_eq!(log.latest(usize::MAX).count(), MAX_ENTRIES);
        let newest = log.latest(1).next().map(|e| e.refusal.object.clone());
        assert_eq!(newest, Some((MAX_ENTRIES + 4).to_string()));
    }
}
