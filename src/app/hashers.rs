//! Password and PIN checks on a few long-lived threads, each reusing one Argon2 memory block.
//!
//! An Argon2 check fills 19 MiB on purpose. Run on tokio's blocking pool, a burst of checks
//! ran as many at once as the burst was large (hundreds of threads, gigabytes), and the
//! memory stayed: the allocator keeps a freed block in the arena of the thread that used it,
//! so every blocking thread that ever hashed held one afterwards. An out-of-memory kill would
//! drop every call in progress.
//!
//! So checks run here instead: [`Hashers`] owns about as many threads as the machine has cores
//! (at most [`MAX_WORKERS`]), each allocating its block on its first check and reusing it for
//! every later one, so the memory of checks is at most that many blocks, at a burst and
//! after it. A few checks may wait for a thread (as many as there are threads, each waiting
//! at most one check's time); beyond that a check is refused at once with [`Busy`], and the
//! caller answers "try again" (the console with `429`, the operator line by asking for the
//! PIN again) rather than queueing work without bound.
//!
//! One `Hashers` belongs to one server (built in `server.rs`): tests that run many servers in
//! one process do not share, nor starve each other of, the threads.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::domain::people::MAX_SECRET_BYTES;

/// The most threads that check secrets, whatever the number of cores: each keeps a 19 MiB
/// block for good.
pub const MAX_WORKERS: usize = 4;

/// The hash a secret is checked against when there is nobody to check it against (an unknown
/// login name or operator ID), so that the answer takes as long either way. It has the
/// parameters of [`super::hash_secret`]; its output is arbitrary, so nothing matches it.
const DECOY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bm8tb25lLWhhcy10aGlz$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// Every thread that checks secrets is busy and as many checks already wait: try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("every password check is in use; try again in a moment")]
pub struct Busy;

/// A check waiting for a thread: what to check, and where its answer goes.
struct Job {
    hash: Option<String>,
    secret: String,
    answer: oneshot::Sender<bool>,
}

/// The threads that check passwords and PINs, and the queue in front of them.
#[derive(Debug)]
pub struct Hashers {
    /// Checks waiting for a thread; full means [`Busy`]. Dropping it ends the threads.
    jobs: SyncSender<Job>,
    workers: usize,
}

impl Hashers {
    /// `workers` threads (at least one, at most [`MAX_WORKERS`]), and a queue as long.
    pub fn new(workers: usize) -> Hashers {
        let workers = workers.clamp(1, MAX_WORKERS);
        let (jobs, queue) = sync_channel::<Job>(workers);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("hotline-hasher-{n}"))
                .spawn(move || work(&queue));
            if let Err(error) = spawned {
                // Fewer threads check more slowly; none at all, and every check is `Busy`.
                tracing::error!(%error, "could not start a password-check thread");
            }
        }
        Hashers { jobs, workers }
    }

    /// One thread per core, at most [`MAX_WORKERS`].
    pub fn per_core() -> Hashers {
        Hashers::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// How many threads check secrets.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Whether `secret` matches `hash` (a PHC string made by [`super::hash_secret`]). With no
    /// hash (no such person, or no secret set), a decoy is checked and the answer is `false`,
    /// in the same time. A malformed hash, or a secret over [`MAX_SECRET_BYTES`], matches
    /// nothing. `Err(Busy)` when no check can be taken now: nothing was checked.
    pub async fn verify(&self, hash: Option<String>, secret: String) -> Result<bool, Busy> {
        let (answer, answered) = oneshot::channel();
        match self.jobs.try_send(Job { hash, secret, answer }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Busy),
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("no password-check thread is running");
                return Err(Busy);
            }
        }
        // The sender is dropped unanswered only if the check panicked.
        answered.await.map_err(|_| Busy)
    }
}

/// A thread's life: take a check, run it in this thread's block, answer; until the
/// [`Hashers`] is dropped.
fn work(queue: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        // Receiving under the lock: the other idle threads wait for the lock instead.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = job else { return };
        let checked = catch_unwind(AssertUnwindSafe(|| {
            let hash = job.hash.as_deref().unwrap_or(DECOY_HASH);
            matches(&mut memory, hash, &job.secret) && job.hash.is_some()
        }));
        match checked {
            Ok(matched) => {
                // The asker may have gone (its request was cancelled): nothing to do then.
                let _ = job.answer.send(matched);
            }
            Err(_) => {
                tracing::error!("a password check panicked; it was refused");
                memory = Vec::new();
            }
        }
    }
}

/// The most memory one check may take: a stored hash asking for more is not ours (our
/// parameters take 19 MiB) and matches nothing rather than take the server's memory.
const MAX_BLOCKS: usize = 256 * 1024;

/// Whether `secret` matches the PHC string `hash`, computed in `memory` (grown to the hash's
/// size on first use, then reused). The comparison is constant-time (`Output`'s equality).
pub(super) fn matches(memory: &mut Vec<Block>, hash: &str, secret: &str) -> bool {
    if secret.len() > MAX_SECRET_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    if params.block_count() > MAX_BLOCKS {
        return false;
    }
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(secret.as_bytes(), salt, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    });
    computed.is_ok_and(|computed| computed == expected)
}

/// Whether `secret` matches a hash made by [`hash_secret`](crate::domain::people::hash_secret). The comparison is constant-time.
/// A malformed hash matches nothing. It takes a fresh Argon2 block each time: for one-off
/// checks (tools, tests); the server checks through its [`Hashers`], which bound them.
pub fn verify_secret(hash: &str, secret: &str) -> bool {
    matches(&mut Vec::new(), hash, secret)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::domain::people::{PeopleError, check_password, hash_secret};

    #[tokio::test]
    async fn a_check_matches_its_secret_only() {
        let hashers = Hashers::new(1);
        let hash = hash_secret("246810").unwrap();
        assert_eq!(hashers.verify(Some(hash.clone()), "246810".into()).await, Ok(true));
        assert_eq!(hashers.verify(Some(hash.clone()), "246811".into()).await, Ok(false));
        assert_eq!(hashers.verify(Some(hash), String::new()).await, Ok(false));
        // Nobody to check against: the decoy, never a match, whatever is typed.
        assert_eq!(hashers.verify(None, "246810".into()).await, Ok(false));
        assert_eq!(hashers.verify(None, String::new()).await, Ok(false));
    }

    #[tokio::test]
    async fn hostile_hashes_and_secrets_match_nothing() {
        let hashers = Hashers::new(1);
        let hash = hash_secret("246810").unwrap();
        let huge = "p".repeat(1024 * 1024);
        assert_eq!(hashers.verify(Some(hash), huge).await, Ok(false));
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        for bad in ["", "not a hash", "$argon2id$", "$md5$x$y", greedy, &"$".repeat(100_000)] {
            assert_eq!(
                hashers.verify(Some(bad.into()), "246810".into()).await,
                Ok(false),
                "{bad:.40}"
            );
        }
    }

    #[tokio::test]
    async fn the_decoy_takes_as_long_as_a_real_check() {
        let hashers = Hashers::new(1);
        let hash = hash_secret("246810").unwrap();
        let _ = hashers.verify(None, "x".into()).await;
        // The quickest of a few, so that another program's load on the machine does not
        // decide the comparison.
        let timed = |hash: Option<String>| {
            let hashers = &hashers;
            async move {
                let mut quickest = Duration::MAX;
                for _ in 0..3 {
                    let started = Instant::now();
                    let _ = hashers.verify(hash.clone(), "000000".into()).await;
                    quickest = quickest.min(started.elapsed());
                }
                quickest
            }
        };
        let real = timed(Some(hash)).await;
        let decoy = timed(None).await;
        let (short, long) = if real < decoy { (real, decoy) } else { (decoy, real) };
        assert!(long < short * 3 + Duration::from_millis(20), "real {real:?}, decoy {decoy:?}");
    }

    #[tokio::test]
    async fn a_burst_past_the_threads_and_their_queue_is_refused_at_once() {
        let hashers = Arc::new(Hashers::new(2));
        let hash = hash_secret("246810").unwrap();
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let (hashers, hash) = (Arc::clone(&hashers), hash.clone());
                tokio::spawn(async move { hashers.verify(Some(hash), "000000".into()).await })
            })
            .collect();
        let mut answered = 0;
        let mut busy = 0;
        for check in checks {
            match check.await.unwrap() {
                Ok(matched) => {
                    assert!(!matched);
                    answered += 1;
                }
                Err(Busy) => busy += 1,
            }
        }
        // Two running and two waiting (a few more if a check ended while the burst was being
        // sent); the rest refused without a check.
        assert!(answered >= 2 && busy >= 10, "{answered} checked, {busy} refused");
        assert_eq!(answered + busy, 20);
        // Once the burst is over, checks are taken again.
        assert_eq!(hashers.verify(Some(hash), "246810".into()).await, Ok(true));
    }

    #[test]
    fn the_number_of_threads_is_bounded() {
        assert_eq!(Hashers::new(0).workers(), 1);
        assert_eq!(Hashers::new(1000).workers(), MAX_WORKERS);
        assert!((1..=MAX_WORKERS).contains(&Hashers::per_core().workers()));
    }

    #[test]
    fn a_hash_verifies_its_secret_only_and_does_not_contain_it() {
        let hash = hash_secret("246810").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("246810"));
        assert!(verify_secret(&hash, "246810"));
        assert!(!verify_secret(&hash, "246811"));
        assert!(!verify_secret("not a hash", "246810"));
        // Two hashes of one secret differ (random salt).
        assert_ne!(hash, hash_secret("246810").unwrap());
    }

    #[test]
    fn huge_secrets_are_refused_before_hashing() {
        let huge = "p".repeat(1024 * 1024);
        assert_eq!(hash_secret(&huge), Err(PeopleError::Password));
        assert!(!verify_secret("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", &huge));
        assert!(check_password("short").is_err());
        assert!(check_password("a-long-enough-password").is_ok());
    }
}
