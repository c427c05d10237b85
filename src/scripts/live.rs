//! The scripts callers hear right now, swapped atomically when a new version is published.
//!
//! A call's URLs carry the key of the version it started on (`v=42`, see
//! `webhooks/answer.rs`), so a call in progress finishes on that version while new calls get
//! the new one. The few versions a call may still be on are kept in memory; a key that is no
//! longer kept (a call older than several publications, or one that began before a restart)
//! gets the live version, which validation guarantees can take any caller to an operator.
//!
//! The draft (the live version with every saved draft laid over it, when that is valid) is
//! held here too, for the test callers who hear it on the real line.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::ScriptSet;
use crate::cases::CallerHash;

/// How many earlier published versions stay in memory for calls still on them. A call lasts
/// minutes; publications come minutes apart at the very most.
const KEPT_VERSIONS: usize = 8;

/// One version of the scripts and the key its calls carry.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// `42` for published version set 42 (the newest version id in it), `d7` for a draft.
    pub key: String,
    /// The validated scripts.
    pub set: Arc<ScriptSet>,
}

/// The holder of the live scripts. Shared by the webhooks, the API and the watcher.
#[derive(Debug)]
pub struct LiveScripts {
    /// A std lock, not a tokio one: it is held for a clone of an `Arc` and never across an
    /// await, so readers are never held up by more than a swap.
    held: RwLock<Held>,
    /// Held while this server publishes a version and rewrites its files, and while the
    /// folder watcher compares the folder with the database: otherwise the watcher could read
    /// the folder before a publication and the database after it, and take the file it had
    /// not yet seen rewritten for an edit to publish back.
    publishing: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Held {
    live: Pinned,
    /// Earlier versions, newest first.
    kept: VecDeque<Pinned>,
    draft: Option<Pinned>,
    /// Earlier drafts, newest first, apart from `kept` so that saving drafts never pushes
    /// out a version callers are on.
    kept_drafts: VecDeque<Pinned>,
    testers: HashSet<String>,
}

impl LiveScripts {
    /// Holds `live` as the version callers hear.
    pub fn new(live: Pinned) -> LiveScripts {
        let held = Held {
            live,
            kept: VecDeque::new(),
            draft: None,
            kept_drafts: VecDeque::new(),
            testers: HashSet::new(),
        };
        LiveScripts { held: RwLock::new(held), publishing: tokio::sync::Mutex::new(()) }
    }

    /// Waits for any publication of this server, or look of its folder watcher, to finish,
    /// and keeps others out until the guard is dropped.
    pub async fn publishing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.publishing.lock().await
    }

    /// The version new callers hear.
    pub fn live(&self) -> Pinned {
        self.read().live.clone()
    }

    /// The version a request of a call in progress continues on: the one its URL names if it
    /// is still held, else the live one.
    pub fn for_key(&self, key: Option<&str>) -> Pinned {
        let held = self.read();
        let Some(key) = key else { return held.live.clone() };
        std::iter::once(&held.live)
            .chain(&held.kept)
            .chain(&held.draft)
            .chain(&held.kept_drafts)
            .find(|pinned| pinned.key == key)
            .unwrap_or(&held.live)
            .clone()
    }

    /// The version a new call starts on: the draft for a test caller while there is a valid
    /// draft, else the live one.
    pub fn for_new_call(&self, caller: Option<&CallerHash>) -> Pinned {
        let held = self.read();
        match (&held.draft, caller) {
            (Some(draft), Some(caller)) if held.testers.contains(&caller.0) => draft.clone(),
            _ => held.live.clone(),
        }
    }

    /// Makes `pinned` the live version; the previous one stays for the calls on it. A
    /// published version older than the live one is ignored: the API and the watcher may
    /// both take up a publication, and the later must not win with the older version.
    pub fn swap(&self, pinned: Pinned) {
        let mut held = self.write();
        if let (Ok(new), Ok(current)) = (pinned.key.parse::<u64>(), held.live.key.parse::<u64>())
            && new <= current
        {
            return;
        }
        let previous = std::mem::replace(&mut held.live, pinned);
        held.kept.push_front(previous);
        held.kept.truncate(KEPT_VERSIONS);
    }

    /// Replaces the draft (`None`: no valid draft) and the test callers.
    pub fn set_draft(&self, draft: Option<Pinned>, testers: Vec<CallerHash>) {
        let mut held = self.write();
        if let Some(previous) = held.draft.take() {
            // A tester's call in progress on the previous draft finishes on it.
            held.kept_drafts.push_front(previous);
            held.kept_drafts.truncate(KEPT_VERSIONS);
        }
        held.draft = draft;
        held.testers = testers.into_iter().map(|hash| hash.0).collect();
    }

    /// The draft test callers hear, if there is a valid one.
    pub fn draft(&self) -> Option<Pinned> {
        self.read().draft.clone()
    }

    fn read(&self) -> RwLockReadGuard<'_, Held> {
        // Nothing panics while holding the lock (clones and a swap), but a poisoned lock
        // must not take the line down: the data is whole either way.
        self.held.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Held> {
        self.held.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn pinned(key: &str) -> Pinned {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        Pinned { key: key.into(), set: Arc::new(super::super::load_dir(&dir).unwrap().set) }
    }

    #[test]
    fn a_call_keeps_its_version_across_swaps_and_drafts_until_it_is_too_old() {
        let live = LiveScripts::new(pinned("5"));
        live.swap(pinned("6"));
        for n in 0..20 {
            live.set_draft(Some(pinned(&format!("d{n}"))), Vec::new());
        }
        assert_eq!(live.for_key(Some("5")).key, "5", "drafts never push out a version");
        assert_eq!(live.for_key(Some("d19")).key, "d19");
        assert_eq!(live.for_key(Some("d15")).key, "d15");
        assert_eq!(live.for_key(Some("d0")).key, "6", "a long-gone draft falls back to live");
        live.swap(pinned("4"));
        assert_eq!(live.live().key, "6", "an older version never replaces a newer one");
        for n in 7..7 + KEPT_VERSIONS {
            live.swap(pinned(&n.to_string()));
        }
        assert_eq!(live.for_key(Some("5")).key, (6 + KEPT_VERSIONS).to_string());
        assert_eq!(live.for_key(None).key, (6 + KEPT_VERSIONS).to_string());
        assert_eq!(live.for_key(Some("garbage\n<")).key, (6 + KEPT_VERSIONS).to_string());
        let tester = crate::cases::CallerHash("h".into());
        assert_eq!(live.for_new_call(Some(&tester)).key, live.live().key, "not a tester");
        live.set_draft(Some(pinned("dx")), vec![tester.clone()]);
        assert_eq!(live.for_new_call(Some(&tester)).key, "dx");
        assert_eq!(live.for_new_call(None).key, live.live().key);
    }
}
