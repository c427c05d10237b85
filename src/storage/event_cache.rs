//! The decoded events of recently written cases, kept by the writer thread so that a step
//! re-derives its case without reading back and decoding every event the case already has.
//!
//! A case's columns are worked out from all of its events at every write (`derived.rs`). Read
//! from the table, that is a query and a JSON decode per event per step: quadratic in the
//! call's length. The writer is the only connection that writes, so it can remember what it
//! stored, as long as what it remembers is provably what the table holds:
//!
//! - an entry is only extended with events this connection has just inserted, and only when
//!   they come after everything the entry holds in call order; anything else (a step that
//!   arrives late from the journal, an insert that did not happen) reads the table again;
//! - an entry written in a transaction stays pending until that transaction commits: a
//!   savepoint rolled back, a transaction lost or a commit failed empties the cache, so the
//!   next step reads the table;
//! - any other write to `case_events` (retention blanking a recording's URL, a text channel's
//!   records, a deleted case, another process) empties the cache: see [`WriterCache`].
//!
//! An entry also keeps the case's tags as its last refresh left them in `case_tags`, which
//! only a record's refresh writes; any other write there empties the cache the same way.
//!
//! Falling back to the table is always correct; the cache only ever saves the read.
//!
//! On PostgreSQL the cache holds nothing past one record: another hotline instance may write
//! any case between two of ours, and nothing as cheap as SQLite's data version tells.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::hooks::Action;

use super::engine::Connection;

use crate::domain::cases::Event;
use crate::domain::language::Tag;

/// The most cases kept: a few hundred calls in progress each hold their own, and past this
/// many a case is read from the table again, as before the cache. Each costs a few
/// kilobytes (an event keeps what was said): 1,024 of them added 5 MB to the server's peak.
const CASES: usize = 256;

/// The most events kept for one case: a long conversation on a text channel is read from the
/// table rather than held in memory.
pub(super) const EVENTS_PER_CASE: usize = 512;

/// Where an event falls in call order: the step's arrival (as stored), the step, the event's
/// place in the step. The order of `ORDER BY at, step, idx`.
pub(super) type EventKey = (String, u32, u32);

/// A case's events as the table holds them, in call order.
#[derive(Debug)]
pub(super) struct CaseEvents {
    /// The events, decoded.
    pub events: Vec<Event>,
    /// The key of the last one; `None` when the case has no events.
    pub last: Option<EventKey>,
    /// The case's tags as `case_tags` holds them, once a refresh has written or read them;
    /// `None` until then.
    pub tags: Option<Vec<Tag>>,
    /// When the entry was last used, to evict the least recently used.
    used: u64,
}

impl CaseEvents {
    /// A case's events as read from the table, with the key of the last.
    pub(super) fn new(events: Vec<Event>, last: Option<EventKey>) -> CaseEvents {
        CaseEvents { events, last, tags: None, used: 0 }
    }
}

/// The cache: entries as of the last commit, and those written in the open transaction.
#[derive(Debug, Default)]
pub(super) struct EventCache {
    committed: HashMap<i64, CaseEvents>,
    pending: HashMap<i64, CaseEvents>,
    clock: u64,
}

impl EventCache {
    /// Takes a case's entry out, to be extended and staged again: the one written earlier in
    /// this transaction if any, otherwise the committed one. Taking it out means an error
    /// before it is staged again leaves no entry behind.
    pub(super) fn take(&mut self, case_id: i64) -> Option<CaseEvents> {
        self.pending.remove(&case_id).or_else(|| self.committed.remove(&case_id))
    }

    /// Keeps a case's entry as the open transaction sees it, until that transaction commits.
    pub(super) fn stage(&mut self, case_id: i64, mut entry: CaseEvents) {
        if entry.events.len() > EVENTS_PER_CASE {
            return;
        }
        self.clock += 1;
        entry.used = self.clock;
        self.pending.insert(case_id, entry);
    }

    /// The open transaction committed: its entries are now the table's.
    pub(super) fn committed(&mut self) {
        for (case_id, entry) in self.pending.drain() {
            self.committed.insert(case_id, entry);
        }
        if self.committed.len() > CASES {
            // Evict the least recently used eighth at once, so eviction runs once per many
            // new cases rather than at every one.
            let mut used: Vec<u64> = self.committed.values().map(|e| e.used).collect();
            let cut = self.committed.len() - CASES + CASES / 8;
            let (_, &mut oldest_kept, _) = used.select_nth_unstable(cut);
            self.committed.retain(|_, entry| entry.used >= oldest_kept);
        }
    }

    /// Something else wrote `case_events`: nothing kept can be trusted.
    pub(super) fn clear(&mut self) {
        self.pending.clear();
        self.committed.clear();
    }
}

/// The cache as the writer thread keeps it, with what tells it about writes it did not make:
/// SQLite's update hook on the writer connection sees every row written through it
/// (including rows a deleted case takes with it), and the data version every commit of
/// another connection, in this process or another.
#[derive(Debug)]
pub(super) struct WriterCache {
    cache: EventCache,
    /// Set by the update hook when `case_events` (or `cases`, by a delete) is written.
    touched: Arc<AtomicBool>,
    /// Whether the writes of others can be seen (SQLite): if not, the cache is cleared for
    /// every record.
    watched: bool,
    data_version: Option<i64>,
}

impl WriterCache {
    /// An empty cache watching the writer connection.
    pub(super) fn install(conn: &Connection) -> WriterCache {
        let touched = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&touched);
        let watched = conn.sqlite().is_some_and(|conn| {
            conn.update_hook(Some(move |action: Action, _db: &str, table: &str, _row: i64| {
                if table == "case_events"
                    || table == "case_tags"
                    || (table == "cases" && action == Action::SQLITE_DELETE)
                {
                    flag.store(true, Ordering::Relaxed);
                }
            }));
            true
        });
        WriterCache { cache: EventCache::default(), touched, watched, data_version: None }
    }

    /// A group's transaction has begun (and holds the write lock, so no other connection can
    /// commit until it ends): forgets everything if another connection committed since the
    /// last group. A failed check counts as a commit.
    pub(super) fn group_began(&mut self, conn: &Connection) {
        let version = conn.sqlite().and_then(|conn| {
            conn.prepare_cached("PRAGMA data_version")
                .and_then(|mut stmt| stmt.query_row((), |row| row.get(0)))
                .ok()
        });
        if version.is_none() || version != self.data_version {
            self.cache.clear();
        }
        self.data_version = version;
    }

    /// The cache for the next record, emptied first if anything but the writer's own records
    /// wrote `case_events` or `case_tags` through this connection since the last one.
    pub(super) fn for_record(&mut self) -> &mut EventCache {
        if self.touched.swap(false, Ordering::Relaxed) || !self.watched {
            self.cache.clear();
        }
        &mut self.cache
    }

    /// The record just applied kept the cache right itself: its own writes do not count.
    pub(super) fn record_applied(&self) {
        self.touched.store(false, Ordering::Relaxed);
    }

    /// The group's transaction committed.
    pub(super) fn committed(&mut self) {
        self.cache.committed();
    }

    /// A record's savepoint or the group's transaction was rolled back: what was written in
    /// it is not the table's. Rare enough to forget everything.
    pub(super) fn rolled_back(&mut self) {
        self.cache.clear();
    }
}
