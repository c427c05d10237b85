//! The duties: what one server does for every server that shares the database. Two
//! `hotline serve` on one PostgreSQL database (a line on two machines) each answer any call,
//! but some work done twice does harm: two scheduled purges at once, two outbox workers
//! pacing one chat's messages unaware of each other (and each resending what it takes for
//! the other's interrupted sends), two ringers ringing one operator, two watchers publishing
//! their own machines' script folders. So one server at a time is *on duty* and runs them;
//! the others answer calls, serve consoles, replay their own journals and follow what the
//! one on duty publishes.
//!
//! Who is on duty is a lease in the database (`storage/duties.rs`): held for
//! `database.duty_lease_ms`, renewed every third of it. A server that cannot renew (its
//! database unreachable, the server frozen) stops its duties two thirds of the way, before
//! the lease runs out: the others take it only once it has, so two servers are on duty at
//! once only if their clocks differ by more than a third of the lease. A server that stops
//! gives the lease up, and another takes it at its next look. On SQLite, with one server per
//! file, the one server is always on duty; the same code runs.
//!
//! Every server, on duty or not, also destroys in its own copy of the data keys the months a
//! purge destroyed elsewhere, at each look: a copy of the keys that kept them would undo the
//! shredding for every backup and replica of the database.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::app::App;

/// The name of the one lease every duty goes with.
pub(crate) const DUTIES: &str = "duties";

/// The duties' state in this server: on duty or not, for the tasks that do part of their work
/// only on duty (the scripts' watcher publishes the folder's edits only then).
#[derive(Clone)]
pub struct OnDuty(watch::Receiver<bool>);

impl OnDuty {
    /// Whether this server is on duty now.
    pub fn now(&self) -> bool {
        *self.0.borrow()
    }

    /// Always on duty: a watcher with nobody to share the folder with (tests, one server).
    pub fn always() -> OnDuty {
        OnDuty(watch::channel(true).1)
    }
}

/// The loop that takes and renews the lease, starting the duties when it gets it and
/// stopping them when it loses it.
pub(crate) struct Rota {
    app: App,
    /// This server's id in the lease ([`holder_id`]).
    holder: String,
    lease: Duration,
    /// Starts the duties' tasks.
    start: Box<dyn Fn() -> Vec<JoinHandle<()>> + Send + Sync>,
    /// The duties' tasks while on duty.
    running: Vec<JoinHandle<()>>,
    on_duty: watch::Sender<bool>,
    /// The other server last named on duty in the log.
    reported: Option<String>,
}

impl Rota {
    /// A rota for `app`, whose duties `start` starts; not yet on duty.
    pub(crate) fn new(
        app: App,
        start: Box<dyn Fn() -> Vec<JoinHandle<()>> + Send + Sync>,
    ) -> (Rota, OnDuty) {
        let lease = Duration::from_millis(app.config().database.duty_lease_ms);
        let folder = app.config().database.path.parent().unwrap_or(Path::new("")).to_owned();
        let holder = holder_id(&folder);
        let (on_duty, watching) = watch::channel(false);
        let rota = Rota { app, holder, lease, start, running: Vec::new(), on_duty, reported: None };
        (rota, OnDuty(watching))
    }

    /// Looks every third of the lease until the task is aborted; then the duties stop with
    /// it ([`Rota`]'s drop), and the returned [`StepDown`] gives the lease up.
    pub(crate) fn spawn(mut self) -> (JoinHandle<()>, StepDown) {
        let step_down = StepDown { app: self.app.clone(), holder: self.holder.clone() };
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.lease / 3);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Until when the duties may run without a renewal.
            let mut held_until = Instant::now();
            loop {
                ticks.tick().await;
                let sent = Instant::now();
                let renewed = self.renew().await;
                // After the renewal, so that a slow database delays the keys, not the lease.
                self.follow_key_floors().await;
                match renewed {
                    Some(true) => {
                        held_until = sent + self.lease * 2 / 3;
                        if self.running.is_empty() {
                            tracing::info!(
                                holder = self.holder,
                                "this server is on duty (purge, publication, outbox)"
                            );
                            self.reported = None;
                            self.running = (self.start)();
                            self.on_duty.send_replace(true);
                            self.app.metrics().set_on_duty(true);
                        }
                    }
                    Some(false) => {
                        if !self.running.is_empty() {
                            tracing::warn!("another server took the duties over");
                            self.stop();
                        }
                        self.report_holder().await;
                    }
                    None if !self.running.is_empty() && Instant::now() >= held_until => {
                        tracing::warn!(
                            "the duties' lease could not be renewed in time: duties stopped \
                             until the database answers"
                        );
                        self.stop();
                    }
                    None => {}
                }
            }
        });
        (task, step_down)
    }

    /// Takes or renews the lease; `None` when the database did not answer within a third
    /// of the lease, or refused.
    async fn renew(&self) -> Option<bool> {
        let now = self.app.now();
        let until = now + chrono::Duration::from_std(self.lease).unwrap_or_default();
        let holding = self.app.storage().hold_lease(DUTIES, self.holder.clone(), now, until);
        match tokio::time::timeout(self.lease / 3, holding).await {
            Ok(Ok(held)) => Some(held),
            Ok(Err(error)) => {
                tracing::debug!(%error, "the duties' lease could not be renewed");
                None
            }
            Err(_) => None,
        }
    }

    /// Says which server is on duty, once per holder, so that the log of a server off duty
    /// names the one to look at.
    async fn report_holder(&mut self) {
        if let Ok(Some(held)) = self.app.storage().lease_holder(DUTIES).await
            && self.reported.as_ref() != Some(&held.holder)
        {
            tracing::info!(
                holder = held.holder,
                since = %held.taken_at,
                "another server is on duty (purge, publication, outbox)"
            );
            self.reported = Some(held.holder);
        }
    }

    /// Destroys here the data keys a purge destroyed on another server; gives up after a
    /// third of the lease, to try again at the next look.
    async fn follow_key_floors(&self) {
        let following = self.app.storage().follow_key_floors();
        match tokio::time::timeout(self.lease / 3, following).await {
            Err(_) => tracing::debug!("the data keys' floors could not be read in time"),
            Ok(Ok(moved)) => {
                for (class, month) in moved {
                    tracing::info!(
                        "data keys destroyed as another server's purge did: {class:?} before \
                         {month}"
                    );
                }
            }
            Ok(Err(error)) => tracing::debug!(%error, "the data keys' floors could not be read"),
        }
    }

    fn stop(&mut self) {
        for task in self.running.drain(..) {
            task.abort();
        }
        self.on_duty.send_replace(false);
        self.app.metrics().set_on_duty(false);
    }
}

impl Drop for Rota {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The file in the data folder that names this server in the duties' lease.
const SERVER_ID_FILE: &str = "server-id";

/// This server's id in the lease: the machine's name and a random id kept in its data folder
/// (made at the first start). One server runs per data folder (`storage/serving.rs`), so a
/// server restarted after a crash is the same holder and takes its lease back at once,
/// instead of waiting for it to run out; two servers, or two machines, are two holders. A
/// data folder copied whole to another machine keeps the id: copy `data-keys` alone.
fn holder_id(folder: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .take(64)
        .collect();
    let id = match server_id(&folder.join(SERVER_ID_FILE)) {
        Ok(id) => id,
        Err(error) => {
            // A folder the server cannot write in is refused elsewhere (the journal is
            // there); here it only costs a restart the lease's wait.
            tracing::warn!(%error, "no server id in the data folder: this run has its own");
            random_hex()
        }
    };
    format!("{host}/{id}")
}

/// The id kept at `path`, made if the file is missing or not an id.
fn server_id(path: &Path) -> std::io::Result<String> {
    let kept = std::fs::read_to_string(path).unwrap_or_default();
    let kept = kept.trim();
    if kept.len() == 32 && kept.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(kept.to_owned());
    }
    let id = random_hex();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(format!("{id}\n").as_bytes())?;
    file.sync_all()?;
    Ok(id)
}

/// 128 random bits in hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // Without the system's randomness (never seen on Linux) the clock still tells two
    // servers apart.
    if getrandom::fill(&mut bytes).is_err() {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        bytes = since.map(|d| d.as_nanos()).unwrap_or_default().to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Gives the lease up at shutdown, after the duties stopped, so that another server takes
/// them over at its next look rather than when the lease runs out.
pub(crate) struct StepDown {
    app: App,
    holder: String,
}

impl StepDown {
    /// Gives the lease up, if this server holds it; bounded by `within`.
    pub(crate) async fn now(self, within: Duration) {
        let release = self.app.storage().release_lease(DUTIES, self.holder);
        match tokio::time::timeout(within, release).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the duties' lease was not given up"),
            Err(_) => tracing::warn!("the duties' lease was not given up in time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_keeps_its_id_across_restarts_and_another_folder_has_another() {
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let first = holder_id(one.path());
        assert_eq!(holder_id(one.path()), first, "a restart is the same holder");
        assert_ne!(holder_id(two.path()), first);
        let (host, id) = first.split_once('/').unwrap();
        assert!(host.len() <= 64 && id.len() == 32, "{first}");
        assert!(first.len() <= 128, "the lease's column takes it");

        // A file that is not an id (cut short, edited, empty) is replaced by a new id.
        let file = one.path().join(SERVER_ID_FILE);
        for bad in ["", "0123", "zz", &"a".repeat(100_000), "<script>"] {
            std::fs::write(&file, bad).unwrap();
            let replaced = holder_id(one.path());
            assert_ne!(replaced, first, "{bad:.20}");
            assert_eq!(holder_id(one.path()), replaced, "{bad:.20}");
        }
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
