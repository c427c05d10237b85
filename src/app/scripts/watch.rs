//! Watching for new versions: the folder (an edit there is checked and published) and the
//! database (a version published by `hotline scripts` from another process, a saved draft, a
//! new test caller).
//!
//! Polling, every `scripts.watch_interval_ms`: the folder holds a handful of small files, so
//! reading them is cheaper than it sounds and behaves the same on every filesystem (network
//! mounts and editors that replace files defeat change notifications), and it needs no crate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::app::Clock;
use crate::app::duty::OnDuty;
use crate::app::scripts::live::{LiveScripts, Pinned};
use crate::app::scripts::versions::{self, Author, Change, VersionError};
use crate::storage::{ScriptsStamp, Storage};

/// What the watcher remembers between looks.
pub struct Watcher {
    storage: Storage,
    live: Arc<LiveScripts>,
    dir: PathBuf,
    /// Times the publication of a folder edit.
    clock: Clock,
    /// The folder as last seen: each file's text, or why it could not be read. An edit is a
    /// difference from this, so a refused edit is reported once, not every second.
    seen: BTreeMap<String, Result<String, String>>,
    /// The database as last seen.
    stamp: Option<ScriptsStamp>,
    /// Whether this server is on duty: only the server on duty publishes its folder's edits
    /// (each machine has a folder of its own); the others follow what it publishes.
    on_duty: OnDuty,
}

impl Watcher {
    /// A watcher of `dir` that takes the folder as it is now as seen, times what it
    /// publishes by `clock`, and publishes the folder's edits while `on_duty`.
    pub fn new(
        storage: Storage,
        live: Arc<LiveScripts>,
        dir: PathBuf,
        clock: Clock,
        on_duty: OnDuty,
    ) -> Watcher {
        let seen = read_folder(&dir);
        Watcher { storage, live, dir, clock, seen, stamp: None, on_duty }
    }

    /// Looks every `every` until the task is aborted.
    pub fn spawn(mut self, every: Duration) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                if let Err(error) = self.look().await {
                    // The live version stays; the next look tries again.
                    tracing::warn!(%error, "the scripts could not be checked for changes");
                }
            }
        })
    }

    /// One look at the database, then, on duty, at the folder. An edit made while another
    /// server was on duty is published when this one takes the duties over.
    pub async fn look(&mut self) -> Result<(), VersionError> {
        let stamp = self.storage.scripts_stamp().await?;
        if self.stamp.as_ref() != Some(&stamp) {
            self.follow_database(&stamp).await?;
            self.stamp = Some(stamp);
        }
        if !self.on_duty.now() {
            return Ok(());
        }
        self.follow_folder().await
    }

    /// Takes up a version published elsewhere, and the drafts and test callers.
    async fn follow_database(&self, stamp: &ScriptsStamp) -> Result<(), VersionError> {
        if self.live.live().key != stamp.newest_version.to_string() {
            let (newest, texts) = self.storage.live_scripts().await?;
            match crate::scripts::load_texts(&self.dir, &texts) {
                Ok(loaded) => {
                    tracing::info!(
                        "version {newest} of the scripts, published by another instance or \
                         tool, is live"
                    );
                    self.live.swap(Pinned { key: newest.to_string(), set: Arc::new(loaded.set) });
                }
                // Only a version that passed the same checks is stored, so this is a
                // recording gone from audio/ or a database edited by hand.
                Err(report) => versions::log_refused(&report),
            }
        }
        versions::refresh_draft(&self.storage, &self.dir, &self.live).await
    }

    /// Publishes an edit of the folder if the scripts it makes are valid.
    async fn follow_folder(&mut self) -> Result<(), VersionError> {
        let now = read_folder(&self.dir);
        let changed: Vec<String> = now
            .iter()
            .filter(|(file, text)| self.seen.get(*file) != Some(text))
            .map(|(f, _)| f.clone())
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let mut edits = BTreeMap::new();
        let mut unreadable = Vec::new();
        for file in &changed {
            match &now[file] {
                Ok(text) => {
                    edits.insert(file.clone(), text.clone());
                }
                Err(problem) => unreadable.push(format!("{file}: {problem}")),
            }
        }
        let seen_before = std::mem::replace(&mut self.seen, now);
        for problem in &unreadable {
            tracing::warn!(problem = %problem, "a script file cannot be read; callers keep the live version");
        }
        if edits.is_empty() || !unreadable.is_empty() {
            return Ok(());
        }
        let author = Author { name: versions::FILE_AUTHOR.into(), id: None };
        let change = Change::Folder { edits, why: "edited in the folder" };
        let (live, now) = (Some(self.live.as_ref()), self.clock.now());
        match versions::publish(&self.storage, &self.dir, live, change, &author, "", now).await {
            // A text the same as the live one is what a publication wrote there.
            Ok(_) | Err(VersionError::Unchanged) => Ok(()),
            Err(VersionError::Invalid(report)) => {
                versions::log_refused(&report);
                Ok(())
            }
            Err(VersionError::PublishedMeanwhile) => {
                // `hotline scripts` published from another process since the database was
                // read: the edit is looked at again, over that version, at the next look.
                tracing::info!("a version was published meanwhile; the folder edit waits a look");
                self.seen = seen_before;
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

/// The folder's script files: text, or the reason it cannot be read.
fn read_folder(dir: &std::path::Path) -> BTreeMap<String, Result<String, String>> {
    let mut ignored = Vec::new();
    crate::scripts::read_sources(dir, &mut ignored)
        .into_iter()
        .map(|(file, text)| (file, text.map_err(|diagnostic| diagnostic.message)))
        .collect()
}
