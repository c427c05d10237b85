//! The scripts callers hear right now, swapped atomically when a new version is published.
//!
//! A call's URLs carry the key of the version it started on (`v=42`, see
//! `webhooks/answer.rs`), so a call in progress finishes on that version while new calls get
//! the new one, however many versions are published meanwhile and across a restart. The
//! versions calls are on are held in memory; one that is not (the server restarted, or no
//! call used it for longer than a call can last) is read again from the database, checked,
//! and held while calls use it. Only when that fails (the database is down, or slower than
//! the webhook can wait) does the call go on from the live version, which validation
//! guarantees can take any caller to an operator; that is logged.
//!
//! The draft (the live version with every saved draft laid over it, when that is valid) is
//! held here too, for the test callers who hear it on the real line. Drafts are not kept in
//! the database by version, so a tester's call keeps its draft only while it is held.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use crate::domain::cases::CallerHash;
use crate::scripts::ScriptSet;
use crate::storage::{Storage, StorageError};

/// How many earlier drafts stay in memory for test callers still on them. Drafts are saved
/// minutes apart at most, and only test callers hear them.
const KEPT_DRAFTS: usize = 8;

/// One version of the scripts and the key its calls carry.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// `42` for published version set 42 (the newest version id in it), `d7` for a draft.
    pub key: String,
    /// The validated scripts.
    pub set: Arc<ScriptSet>,
}

/// Where published versions no longer held are read from, and how long one is held after a
/// call last used it.
#[derive(Debug, Clone)]
pub struct History {
    /// The database with every published version.
    pub storage: Storage,
    /// The scripts folder, where the checks find the recordings.
    pub dir: PathBuf,
    /// How long a version no call has used stays in memory: the longest a call can go
    /// without a request (`recovery::silence_bound`). One dropped sooner is read again.
    pub keep_for: Duration,
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
    /// Where versions not held are read from; `None` holds every earlier version instead
    /// (a holder without a database).
    history: Option<History>,
    /// Held while a version is read from the database, so that the many calls of one version
    /// that arrive together after a restart read and check it once.
    loading: tokio::sync::Mutex<()>,
    /// The origin of the last-use times, which are kept as milliseconds since it.
    epoch: Instant,
}

#[derive(Debug)]
struct Held {
    live: Pinned,
    /// When a call last started on or continued on the live version ([`NEVER`]: no call
    /// yet): a version no call ever used is not held once replaced.
    live_used: AtomicU64,
    /// Earlier published versions calls may still be on.
    kept: Vec<Kept>,
    draft: Option<Pinned>,
    /// Earlier drafts, newest first, apart from `kept` so that saving drafts never pushes
    /// out a version callers are on.
    kept_drafts: VecDeque<Pinned>,
    testers: HashSet<String>,
}

/// An earlier version, and when a call last used it.
#[derive(Debug)]
struct Kept {
    pinned: Pinned,
    /// Milliseconds since [`LiveScripts::epoch`]; an atomic, so that a request marks its use
    /// under the read lock.
    last_used: AtomicU64,
}

/// The last-use time of a version no call has used.
const NEVER: u64 = u64::MAX;

/// Why a call's version could not be read again.
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("the stored version no longer passes the checks:\n{0}")]
    Invalid(crate::scripts::Report),
    #[error("the check of the version failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl LiveScripts {
    /// Holds `live` as the version callers hear, and every earlier one for the calls on it.
    pub fn new(live: Pinned) -> LiveScripts {
        LiveScripts::holding(live, None)
    }

    /// Holds `live` as the version callers hear; earlier versions are held while calls use
    /// them and read again from `history` when needed.
    pub fn with_history(live: Pinned, history: History) -> LiveScripts {
        LiveScripts::holding(live, Some(history))
    }

    fn holding(live: Pinned, history: Option<History>) -> LiveScripts {
        let held = Held {
            live,
            live_used: AtomicU64::new(NEVER),
            kept: Vec::new(),
            draft: None,
            kept_drafts: VecDeque::new(),
            testers: HashSet::new(),
        };
        LiveScripts {
            held: RwLock::new(held),
            publishing: tokio::sync::Mutex::new(()),
            history,
            loading: tokio::sync::Mutex::new(()),
            epoch: Instant::now(),
        }
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

    /// The live version, for a call that starts or continues on it.
    fn live_for_call(&self) -> Pinned {
        let held = self.read();
        held.live_used.store(self.now(), Ordering::Relaxed);
        held.live.clone()
    }

    /// The version a request of a call in progress continues on: the one its URL names
    /// (held, or read from the database within `within`), else the live one.
    pub async fn for_call(&self, key: Option<&str>, within: Duration) -> Pinned {
        let Some(key) = key else { return self.live_for_call() };
        if let Some(pinned) = self.held(key) {
            return pinned;
        }
        let (Some(history), Some(id)) = (&self.history, published_id(key)) else {
            return self.live_for_call();
        };
        let live = || {
            let live = self.live_for_call();
            tracing::warn!(
                version = id,
                live = %live.key,
                "a call in progress continues on the live version, not the one it started on"
            );
            live
        };
        match tokio::time::timeout(within, self.load(history, id)).await {
            Ok(Ok(Some(pinned))) => pinned,
            Ok(Ok(None)) => {
                tracing::warn!(version = id, "a call named a version that was never published");
                live()
            }
            Ok(Err(error)) => {
                tracing::error!(version = id, %error, "a call's version could not be read again");
                live()
            }
            Err(_) => {
                tracing::error!(version = id, ?within, "reading a call's version took too long");
                live()
            }
        }
    }

    /// Reads published version `id` from the database, checks it off the async threads,
    /// and holds it; `None` if there is no such version.
    async fn load(&self, history: &History, id: i64) -> Result<Option<Pinned>, LoadError> {
        let _loading = self.loading.lock().await;
        let key = id.to_string();
        // Another request of the same version may have read it while this one waited.
        if let Some(pinned) = self.held(&key) {
            return Ok(Some(pinned));
        }
        let Some(texts) = history.storage.scripts_at(id).await? else { return Ok(None) };
        let dir = history.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || crate::scripts::load_texts(&dir, &texts))
            .await?
            .map_err(LoadError::Invalid)?;
        let pinned = Pinned { key, set: Arc::new(loaded.set) };
        tracing::info!(version = id, "a version calls are on was read again from the database");
        self.keep(pinned.clone());
        Ok(Some(pinned))
    }

    /// The held version with this key, marked as used now.
    fn held(&self, key: &str) -> Option<Pinned> {
        let held = self.read();
        if held.live.key == key {
            held.live_used.store(self.now(), Ordering::Relaxed);
            return Some(held.live.clone());
        }
        if let Some(kept) = held.kept.iter().find(|kept| kept.pinned.key == key) {
            kept.last_used.store(self.now(), Ordering::Relaxed);
            return Some(kept.pinned.clone());
        }
        held.draft.iter().chain(&held.kept_drafts).find(|pinned| pinned.key == key).cloned()
    }

    /// The version a new call starts on: the draft for a test caller while there is a valid
    /// draft, else the live one.
    pub fn for_new_call(&self, caller: Option<&CallerHash>) -> Pinned {
        let held = self.read();
        match (&held.draft, caller) {
            (Some(draft), Some(caller)) if held.testers.contains(&caller.0) => draft.clone(),
            _ => {
                held.live_used.store(self.now(), Ordering::Relaxed);
                held.live.clone()
            }
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
        let used = held.live_used.swap(NEVER, Ordering::Relaxed);
        // A version no call started on cannot be named by one: nothing to hold (it is in the
        // database all the same). Without a database, every version is held.
        if used != NEVER || self.history.is_none() {
            let used = used.min(self.now());
            self.hold(&mut held, previous, used);
        }
    }

    /// Holds a version read again for the calls on it (the caller checked it is not held).
    fn keep(&self, pinned: Pinned) {
        let mut held = self.write();
        if held.live.key != pinned.key {
            let now = self.now();
            self.hold(&mut held, pinned, now);
        }
    }

    /// Adds an earlier version last used at `used`, and lets go of those no call has used
    /// for longer than a call can last (they can be read again): the number of versions held
    /// follows the calls in progress, not the number of publications.
    fn hold(&self, held: &mut Held, pinned: Pinned, used: u64) {
        if let Some(history) = &self.history {
            let now = self.now();
            let keep_for = u64::try_from(history.keep_for.as_millis()).unwrap_or(u64::MAX);
            held.kept.retain(|kept| {
                now.saturating_sub(kept.last_used.load(Ordering::Relaxed)) <= keep_for
            });
        }
        held.kept.push(Kept { pinned, last_used: AtomicU64::new(used) });
    }

    /// How many earlier published versions are held.
    #[cfg(test)]
    fn held_versions(&self) -> usize {
        self.read().kept.len()
    }

    /// Replaces the draft (`None`: no valid draft) and the test callers.
    pub fn set_draft(&self, draft: Option<Pinned>, testers: Vec<CallerHash>) {
        let mut held = self.write();
        if let Some(previous) = held.draft.take() {
            // A tester's call in progress on the previous draft finishes on it.
            held.kept_drafts.push_front(previous);
            held.kept_drafts.truncate(KEPT_DRAFTS);
        }
        held.draft = draft;
        held.testers = testers.into_iter().map(|hash| hash.0).collect();
    }

    /// The draft test callers hear, if there is a valid one.
    pub fn draft(&self) -> Option<Pinned> {
        self.read().draft.clone()
    }

    /// Milliseconds since the holder was made.
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
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

/// The version id a key names, if it is a published version's key as this server writes
/// them (`42`; not `042`, `+42` or a draft's `d7`): anything else cannot be in the database.
fn published_id(key: &str) -> Option<i64> {
    let id = key.parse::<i64>().ok().filter(|id| *id > 0)?;
    (id.to_string() == key).then_some(id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::scripts::LanguageTag;
    use crate::storage::{Publication, StorageOptions};

    const MAIN_EN: &str = "If you are a serviceman and want to surrender, press 1.";

    fn shipped() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts")
    }

    fn pinned(key: &str) -> Pinned {
        Pinned { key: key.into(), set: Arc::new(crate::scripts::load_dir(&shipped()).unwrap().set) }
    }

    /// What the English script of a version says, as one text.
    fn english(pinned: &Pinned) -> String {
        let en = LanguageTag::parse("en").unwrap();
        format!("{:?}", pinned.set.script(&en).unwrap())
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn a_call_keeps_its_version_across_any_number_of_swaps_and_drafts() {
        let live = LiveScripts::new(pinned("5"));
        live.swap(pinned("6"));
        for n in 0..20 {
            live.set_draft(Some(pinned(&format!("d{n}"))), Vec::new());
        }
        assert_eq!(live.for_call(Some("5"), SECOND).await.key, "5", "drafts never push it out");
        assert_eq!(live.for_call(Some("d19"), SECOND).await.key, "d19");
        assert_eq!(live.for_call(Some("d15"), SECOND).await.key, "d15");
        assert_eq!(live.for_call(Some("d0"), SECOND).await.key, "6", "a long-gone draft: live");
        live.swap(pinned("4"));
        assert_eq!(live.live().key, "6", "an older version never replaces a newer one");
        // Many more publications than a call used to survive: it keeps its version.
        for n in 7..40 {
            live.swap(pinned(&n.to_string()));
        }
        assert_eq!(live.for_call(Some("5"), SECOND).await.key, "5");
        assert_eq!(live.for_call(Some("6"), SECOND).await.key, "6");
        for key in [None, Some("garbage\n<"), Some(""), Some("41"), Some("-5"), Some("05")] {
            assert_eq!(live.for_call(key, SECOND).await.key, "39", "{key:?}");
        }
        let tester = crate::domain::cases::CallerHash("h".into());
        assert_eq!(live.for_new_call(Some(&tester)).key, live.live().key, "not a tester");
        live.set_draft(Some(pinned("dx")), vec![tester.clone()]);
        assert_eq!(live.for_new_call(Some(&tester)).key, "dx");
        assert_eq!(live.for_new_call(None).key, live.live().key);
    }

    #[test]
    fn only_a_published_versions_own_key_is_looked_up() {
        assert_eq!(published_id("42"), Some(42));
        let huge = "9".repeat(10_000);
        for key in [
            "",
            "0",
            "-1",
            "042",
            "+42",
            " 42",
            "42 ",
            "d7",
            "4\u{2}2",
            "99999999999999999999",
            &huge,
        ] {
            assert_eq!(published_id(key), None, "{key:?}");
        }
    }

    /// A database with the shipped scripts as version `first`, and a second version whose
    /// English main menu says `second`; the holder of the second, reading from that database.
    async fn two_versions(
        scratch: &Path,
        second: &str,
        keep_for: Duration,
    ) -> (LiveScripts, Pinned, Storage) {
        let storage =
            Storage::open(&scratch.join("hotline.db"), StorageOptions::for_tests()).await.unwrap();
        let (first, _) =
            crate::app::scripts::versions::reconcile(&storage, &shipped(), chrono::Utc::now())
                .await
                .unwrap();
        let (head, mut texts) = storage.live_scripts().await.unwrap();
        let en = texts["en.xml"].replace(MAIN_EN, second);
        texts.insert("en.xml".into(), en.clone());
        let set = crate::scripts::load_texts(&shipped(), &texts).unwrap().set;
        let publication = Publication {
            files: BTreeMap::from([("en.xml".into(), en)]),
            author: "test".into(),
            comment: String::new(),
            actor: None,
            action: None,
            clear_drafts: false,
            head,
            at: chrono::Utc::now(),
        };
        let versions = storage.publish_scripts(publication).await.unwrap();
        let now = Pinned { key: versions[0].id.to_string(), set: Arc::new(set) };
        let history = History { storage: storage.clone(), dir: shipped(), keep_for };
        (LiveScripts::with_history(now, history), first, storage)
    }

    #[tokio::test]
    async fn a_version_no_longer_held_is_read_again_from_the_database_and_held() {
        let scratch = tempfile::tempdir().unwrap();
        // As after a restart: only the live version is in memory.
        let (live, first, _storage) =
            two_versions(scratch.path(), "The second version: press 1.", Duration::ZERO).await;
        assert!(english(&live.live()).contains("The second version"));
        let again = live.for_call(Some(&first.key), SECOND).await;
        assert_eq!(again.key, first.key);
        assert!(english(&again).contains(MAIN_EN), "the call hears the version it started on");
        assert_eq!(live.held_versions(), 1);
        // Held: the next request of the call does not read it again.
        assert!(Arc::ptr_eq(&live.for_call(Some(&first.key), SECOND).await.set, &again.set));

        // Unused for longer than a call lasts (here: at once), it is let go at the next
        // change, and read again when a call still names it. The live version a call
        // started on is held when replaced.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = live.for_new_call(None);
        live.swap(Pinned { key: "1000".into(), set: Arc::clone(&second.set) });
        assert_eq!(live.held_versions(), 1, "only the version a call just started on");
        assert_eq!(live.for_call(Some(&second.key), SECOND).await.key, second.key);
        let reread = live.for_call(Some(&first.key), SECOND).await;
        assert!(english(&reread).contains(MAIN_EN));

        // Keys no published version has: the live one.
        for key in ["999", "d1", "<script>", ""] {
            assert_eq!(live.for_call(Some(key), SECOND).await.key, "1000", "{key:?}");
        }
    }

    #[tokio::test]
    async fn versions_no_call_started_on_are_not_held_however_many_are_published() {
        let scratch = tempfile::tempdir().unwrap();
        let (live, _, _storage) = two_versions(scratch.path(), "Second: press 1.", SECOND).await;
        let set = live.live().set;
        for n in 1000..1100 {
            live.swap(Pinned { key: n.to_string(), set: Arc::clone(&set) });
            if n == 1050 {
                live.for_new_call(None);
            }
        }
        assert_eq!(live.held_versions(), 1, "only 1050, which a call started on");
        assert_eq!(live.for_call(Some("1050"), SECOND).await.key, "1050");
    }

    #[tokio::test]
    async fn a_version_that_cannot_be_read_in_time_leaves_the_call_on_the_live_version() {
        let scratch = tempfile::tempdir().unwrap();
        let (live, first, _storage) =
            two_versions(scratch.path(), "The second version: press 1.", Duration::ZERO).await;
        let live_key = live.live().key;
        assert_eq!(live.for_call(Some(&first.key), Duration::ZERO).await.key, live_key);
        assert_eq!(live.held_versions(), 0);
    }
}
