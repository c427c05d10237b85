//! Retention's vocabulary: how long each kind of personal data is kept, and what a purge
//! shredded. The purge itself is `storage/retention.rs`; its schedule, `app/retention.rs`.

use chrono::Duration;
use serde::Serialize;

/// How long each kind of personal data is kept, counted from the end of the call (its start,
/// if it never reported an end).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Voicemail recording URLs.
    pub recordings: Duration,
    /// Operators' notes.
    pub notes: Duration,
    /// Callers' hashes (repeat-caller links), and expired blocklist entries.
    pub caller_hashes: Duration,
}

/// What a purge shredded (or, in a dry run, would shred).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Cases whose recording URL went.
    pub recordings: u64,
    /// Callback numbers that went.
    pub callback_numbers: u64,
    /// Notes whose text went.
    pub notes: u64,
    /// Messages of text conversations whose words went (with the notes' period).
    pub messages: u64,
    /// Cases whose caller hash went.
    pub caller_hashes: u64,
    /// Expired blocklist entries removed.
    pub blocklist_entries: u64,
    /// Cases under legal hold that would otherwise have lost something.
    pub held: u64,
    /// Whether the file was compacted (`VACUUM`) afterwards.
    pub compacted: bool,
    /// The oldest month (`yyyy-mm`) whose key for recordings (addresses, numbers) is kept
    /// after the purge: what was sealed before it is unreadable everywhere, backups included
    /// (`domain/data_keys.rs`). Empty in a dry run.
    pub recording_keys_from: String,
    /// The same for notes and messages.
    pub note_keys_from: String,
}

impl PurgeReport {
    /// Whether anything was (or would be) shredded.
    pub fn is_empty(&self) -> bool {
        self.recordings
            + self.callback_numbers
            + self.notes
            + self.messages
            + self.caller_hashes
            + self.blocklist_entries
            == 0
    }
}
