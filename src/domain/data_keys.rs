//! Data keys: the keys that seal sensitive text at rest, one per kind of data and month, so
//! that retention can shred a month's text everywhere it was copied (backups, a standby's
//! disk, old log segments) by destroying one key, where deleting rows reaches only the live
//! database.
//!
//! - What is sealed: recording addresses, callback numbers and reply addresses
//!   ([`DataClass::Recordings`], shredded after `[retention] recordings_days`), and operators'
//!   notes and the messages of text conversations ([`DataClass::Notes`], after `notes_days`).
//!   The values of a case under legal hold are sealed again under [`DataClass::Held`] while
//!   the hold lasts, so that a hold does not keep a whole month readable in every backup.
//! - Each class has a *chain*: the seed of its oldest live month, from which every later
//!   month's seed follows by HMAC-SHA256 (`next = HMAC(seed, "next")`) and each month's key is
//!   `HMAC(seed, "key")`. Destroying the months before `m` replaces the stored seed by month
//!   `m`'s: the earlier ones cannot be computed back from it. Two servers holding the same
//!   chain derive the same keys with no coordination, and the stored state never grows.
//! - A value is sealed as `dk1.<class>.<yyyymm>.<base64url(nonce, ciphertext, tag)>` with
//!   ChaCha20-Poly1305, its prefix as associated data (a value relabelled to another month does
//!   not open). The prefix lets SQL find the oldest month a table still holds without opening
//!   anything.
//! - The chains themselves are stored wrapped (ChaCha20-Poly1305 again) under a key derived
//!   from a secret of the environment, so a copy of the disk alone opens nothing.
//!
//! Nonces are a 96-bit counter started at a random value when the keys are loaded, so sealing
//! never fails once loaded and two processes never share a nonce in practice.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Datelike, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::domain::secret::Secret;

/// What every sealed value starts with; the version of the format.
pub const SEALED_PREFIX: &str = "dk1.";

/// The first line of the keys' stored form.
const HEADER: &str = "hotline data keys v1";

/// The length of a sealed value's prefix: `dk1.r.202612.`.
const PREFIX_LEN: usize = 13;

/// Bytes of a seed and of a key.
const KEY_BYTES: usize = 32;
/// Bytes of a nonce.
const NONCE_BYTES: usize = 12;
/// Bytes of the authentication tag.
const TAG_BYTES: usize = 16;

/// The most characters a sealed value may have before it is refused unopened (the longest
/// text the hotline keeps is a chat message of 4096 characters, up to 4 bytes each).
const MAX_SEALED_CHARS: usize = 32 * 1024;

/// The kinds of sensitive data, each with its own retention period and so its own chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataClass {
    /// Recording addresses, callback numbers, reply addresses of text conversations.
    Recordings,
    /// Operators' notes and the messages of text conversations.
    Notes,
    /// Either of the above, of a case under legal hold: no period, its months' keys go once
    /// no held value needs them.
    Held,
}

impl DataClass {
    /// Every class, in the order the stored form lists them.
    pub const ALL: [DataClass; 3] = [DataClass::Recordings, DataClass::Notes, DataClass::Held];

    /// The letter naming the class in sealed values and the stored form.
    pub fn code(self) -> char {
        match self {
            DataClass::Recordings => 'r',
            DataClass::Notes => 'n',
            DataClass::Held => 'h',
        }
    }

    fn from_code(code: &str) -> Option<DataClass> {
        DataClass::ALL.into_iter().find(|class| code.len() == 1 && code.starts_with(class.code()))
    }

    /// What the values sealed in this class start with (`dk1.n.`): SQL compares it with
    /// `substr(value, 1, 6) = ?`, exact in every engine, where `LIKE` ignores case in SQLite.
    pub fn prefix(self) -> String {
        format!("{SEALED_PREFIX}{}.", self.code())
    }

    /// Where the month starts in a sealed value of this class, 1-based as SQL's `substr`
    /// counts, and how many characters it has.
    pub const MONTH_IN_VALUE: (usize, usize) = (SEALED_PREFIX.len() + 3, 6);
}

/// A calendar month in UTC: the unit keys are made and destroyed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(u32);

impl Month {
    /// The month `at` falls in.
    pub fn of(at: DateTime<Utc>) -> Month {
        // Years before 0 cannot come from a clock; they are clamped to year 0.
        let year = u32::try_from(at.year()).unwrap_or(0);
        Month(year * 12 + at.month0())
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        Month(self.0 + 1)
    }

    /// `yyyymm`, as sealed values and the stored form write it.
    pub fn label(self) -> String {
        format!("{:04}{:02}", self.0 / 12, self.0 % 12 + 1)
    }

    /// The month written `yyyymm`.
    pub fn parse(label: &str) -> Option<Month> {
        if label.len() != 6 || !label.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year: u32 = label[..4].parse().ok()?;
        let month: u32 = label[4..].parse().ok()?;
        (1..=12).contains(&month).then_some(Month(year * 12 + month - 1))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.0 / 12, self.0 % 12 + 1)
    }
}

/// Why a sealed value did not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unopened {
    /// Its month's key was destroyed: the value is shredded, wherever it is.
    Shredded,
    /// It is not a sealed value, or was altered, or sealed under other keys.
    Damaged,
    /// The keys are [`DataKeys::locked`]: nothing opens.
    Locked,
}

/// The keys are [`DataKeys::locked`]: nothing can be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this needs the data keys, which open with the callback key the server is given: set \
     HOTLINE_CALLBACK_KEY or HOTLINE_CALLBACK_KEY_FILE as for the server"
)]
pub struct Locked;

/// Why stored keys could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeysError {
    /// The text is not the keys' stored form.
    #[error("it is not a data keys file ({0})")]
    Malformed(&'static str),
    /// The chains do not open under the secret given.
    #[error(
        "its keys do not open with this callback key: they were stored under another one \
         (start with the callback key they were made with)"
    )]
    WrongSecret,
}

/// One class's chain: the seed of its oldest live month.
#[derive(Clone)]
struct Chain {
    first: Month,
    seed: [u8; KEY_BYTES],
}

impl Chain {
    /// The seed of `month`, which must not be before `first`.
    fn seed_of(&self, month: Month) -> [u8; KEY_BYTES] {
        let mut seed = self.seed;
        for _ in self.first.0..month.0 {
            seed = prf(&seed, b"next");
        }
        seed
    }
}

/// HMAC-SHA256 of `label` under `key`.
fn prf(key: &[u8; KEY_BYTES], label: &[u8]) -> [u8; KEY_BYTES] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// The data keys of one database, loaded. Cheap to share behind an `Arc`; every method takes
/// `&self`.
pub struct DataKeys {
    /// The wrapping cipher, from the secret.
    wrap: ChaCha20Poly1305,
    chains: Mutex<HashMap<DataClass, Chain>>,
    /// Month keys already derived, so a read does not walk the chain each time.
    ciphers: Mutex<HashMap<(DataClass, Month), ChaCha20Poly1305>>,
    /// The next nonce, as a counter: its low 64 bits here, its high 32 fixed at load.
    nonce_low: AtomicU64,
    nonce_high: [u8; 4],
}

impl fmt::Debug for DataKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chains = self.chains.lock().expect("the chains' lock");
        let mut firsts: Vec<String> = chains
            .iter()
            .map(|(class, chain)| format!("{}≥{}", class.code(), chain.first))
            .collect();
        firsts.sort();
        write!(f, "DataKeys({})", firsts.join(", "))
    }
}

impl DataKeys {
    /// Keys that seal and open nothing: for a tool that opens the database without the
    /// callback key, to do what needs no sensitive text (people, scripts, lists).
    pub fn locked() -> DataKeys {
        DataKeys {
            wrap: ChaCha20Poly1305::new(Key::from_slice(&[0u8; KEY_BYTES])),
            chains: Mutex::new(HashMap::new()),
            ciphers: Mutex::new(HashMap::new()),
            nonce_low: AtomicU64::new(0),
            nonce_high: [0; 4],
        }
    }

    /// Whether these are [`DataKeys::locked`].
    pub fn is_locked(&self) -> bool {
        self.chains.lock().expect("the chains' lock").is_empty()
    }

    /// New chains, their first month `now`'s, from the system's random source (`None` if it
    /// fails).
    pub fn generate(secret: &Secret, now: DateTime<Utc>) -> Option<DataKeys> {
        let mut chains = HashMap::new();
        for class in DataClass::ALL {
            let mut seed = [0u8; KEY_BYTES];
            getrandom::fill(&mut seed).ok()?;
            chains.insert(class, Chain { first: Month::of(now), seed });
        }
        DataKeys::with_chains(secret, chains)
    }

    /// The keys in their stored form ([`DataKeys::stored`]), opened with `secret`.
    pub fn load(secret: &Secret, stored: &str) -> Result<DataKeys, KeysError> {
        let wrap = wrapping_cipher(secret);
        let mut lines = stored.lines();
        if lines.next() != Some(HEADER) {
            return Err(KeysError::Malformed("the first line is not its header"));
        }
        let mut chains = HashMap::new();
        for line in lines.filter(|line| !line.is_empty()) {
            let mut fields = line.split(' ');
            let (Some(code), Some(month), Some(wrapped), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(KeysError::Malformed("a line is not `class month key`"));
            };
            let class = DataClass::from_code(code).ok_or(KeysError::Malformed("unknown class"))?;
            let first = Month::parse(month).ok_or(KeysError::Malformed("a month is not yyyymm"))?;
            let bytes = URL_SAFE_NO_PAD
                .decode(wrapped)
                .map_err(|_| KeysError::Malformed("a key is not base64url"))?;
            if bytes.len() != NONCE_BYTES + KEY_BYTES + TAG_BYTES {
                return Err(KeysError::Malformed("a key has the wrong length"));
            }
            let (nonce, body) = bytes.split_at(NONCE_BYTES);
            let aad = chain_label(class, first);
            let seed = wrap
                .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: aad.as_bytes() })
                .map_err(|_| KeysError::WrongSecret)?;
            let seed: [u8; KEY_BYTES] =
                seed.try_into().map_err(|_| KeysError::Malformed("a key has the wrong length"))?;
            if chains.insert(class, Chain { first, seed }).is_some() {
                return Err(KeysError::Malformed("a class is listed twice"));
            }
        }
        if chains.len() != DataClass::ALL.len() {
            return Err(KeysError::Malformed("a class is missing"));
        }
        DataKeys::with_chains(secret, chains).ok_or(KeysError::Malformed("no random source"))
    }

    fn with_chains(secret: &Secret, chains: HashMap<DataClass, Chain>) -> Option<DataKeys> {
        let mut start = [0u8; NONCE_BYTES];
        getrandom::fill(&mut start).ok()?;
        let (high, low) = start.split_at(4);
        Some(DataKeys {
            wrap: wrapping_cipher(secret),
            chains: Mutex::new(chains),
            ciphers: Mutex::new(HashMap::new()),
            nonce_low: AtomicU64::new(u64::from_le_bytes(low.try_into().expect("8 bytes"))),
            nonce_high: high.try_into().expect("4 bytes"),
        })
    }

    /// The stored form: a header and one line per class, `class yyyymm wrapped-seed`, every
    /// line of a fixed length, so rewriting it in place leaves no older seed in the file.
    /// Wrapped under the secret the keys were loaded with, or `next` to rewrap them.
    pub fn stored(&self, next: Option<&Secret>) -> Option<String> {
        let wrap = next.map(wrapping_cipher);
        let wrap = wrap.as_ref().unwrap_or(&self.wrap);
        let chains = self.chains.lock().expect("the chains' lock");
        if chains.is_empty() {
            return None;
        }
        let mut out = format!("{HEADER}\n");
        for class in DataClass::ALL {
            let chain = &chains[&class];
            let mut nonce = [0u8; NONCE_BYTES];
            getrandom::fill(&mut nonce).ok()?;
            let aad = chain_label(class, chain.first);
            let sealed = wrap
                .encrypt(
                    Nonce::from_slice(&nonce),
                    Payload { msg: &chain.seed, aad: aad.as_bytes() },
                )
                .ok()?;
            let mut bytes = nonce.to_vec();
            bytes.extend(sealed);
            out.push_str(&format!("{aad} {}\n", URL_SAFE_NO_PAD.encode(bytes)));
        }
        Some(out)
    }

    /// The oldest month whose key still exists in `class`; `None` when locked.
    pub fn first(&self, class: DataClass) -> Option<Month> {
        self.chains.lock().expect("the chains' lock").get(&class).map(|chain| chain.first)
    }

    /// Destroys `class`'s keys of the months before `month`. Returns whether any went; a
    /// chain never goes back, so an earlier `month` changes nothing.
    pub fn destroy_before(&self, class: DataClass, month: Month) -> bool {
        let mut chains = self.chains.lock().expect("the chains' lock");
        let Some(chain) = chains.get_mut(&class) else { return false };
        if month <= chain.first {
            return false;
        }
        chain.seed = chain.seed_of(month);
        chain.first = month;
        drop(chains);
        self.ciphers
            .lock()
            .expect("the ciphers' lock")
            .retain(|(c, m), _| *c != class || *m >= month);
        true
    }

    /// `plain` sealed in `class` under the key of the month of `at`, or of the oldest month
    /// whose key exists if `at`'s is already destroyed (a record written late).
    pub fn seal(&self, class: DataClass, at: DateTime<Utc>, plain: &str) -> Result<String, Locked> {
        self.seal_in(class, Month::of(at), plain)
    }

    /// `plain` sealed in `class` under the key of `month` (or of the oldest month whose key
    /// exists): what [`DataKeys::seal`] does, for a value sealed again in the month it had.
    pub fn seal_in(&self, class: DataClass, month: Month, plain: &str) -> Result<String, Locked> {
        let month = month.max(self.first(class).ok_or(Locked)?);
        let prefix = format!("{SEALED_PREFIX}{}.{}.", class.code(), month.label());
        let cipher = self.cipher(class, month).ok_or(Locked)?;
        let low = self.nonce_low.fetch_add(1, Ordering::Relaxed);
        let mut nonce = [0u8; NONCE_BYTES];
        nonce[..4].copy_from_slice(&self.nonce_high);
        nonce[4..].copy_from_slice(&low.to_le_bytes());
        let payload = Payload { msg: plain.as_bytes(), aad: prefix.as_bytes() };
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), payload).expect("in memory");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(prefix + &URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The text sealed in `sealed`.
    pub fn open(&self, sealed: &str) -> Result<String, Unopened> {
        if sealed.len() > MAX_SEALED_CHARS || sealed.len() < PREFIX_LEN || !is_sealed(sealed) {
            return Err(Unopened::Damaged);
        }
        let (prefix, body) = sealed.split_at(PREFIX_LEN);
        let mut fields = prefix[SEALED_PREFIX.len()..].split('.');
        let (Some(code), Some(month), Some(""), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(Unopened::Damaged);
        };
        let class = DataClass::from_code(code).ok_or(Unopened::Damaged)?;
        let month = Month::parse(month).ok_or(Unopened::Damaged)?;
        if self.is_locked() {
            return Err(Unopened::Locked);
        }
        let cipher = self.cipher(class, month).ok_or(Unopened::Shredded)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Unopened::Damaged)?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(Unopened::Damaged);
        }
        let (nonce, body) = bytes.split_at(NONCE_BYTES);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad: prefix.as_bytes() })
            .map_err(|_| Unopened::Damaged)?;
        String::from_utf8(plain).map_err(|_| Unopened::Damaged)
    }

    /// The cipher of `class`'s key of `month`; `None` if that key was destroyed.
    fn cipher(&self, class: DataClass, month: Month) -> Option<ChaCha20Poly1305> {
        let mut ciphers = self.ciphers.lock().expect("the ciphers' lock");
        if let Some(cipher) = ciphers.get(&(class, month)) {
            return Some(cipher.clone());
        }
        let chains = self.chains.lock().expect("the chains' lock");
        let chain = chains.get(&class)?;
        if month < chain.first {
            return None;
        }
        let key = prf(&chain.seed_of(month), b"key");
        let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
        ciphers.insert((class, month), cipher.clone());
        Some(cipher)
    }
}

/// Whether `value` is a sealed value (as opposed to text written before sealing existed).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_PREFIX)
}

/// The class and month a sealed value was sealed in, read from its prefix.
pub fn label_of(sealed: &str) -> Option<(DataClass, Month)> {
    let rest = sealed.strip_prefix(SEALED_PREFIX)?;
    let class = DataClass::from_code(rest.get(..1)?)?;
    Some((class, month_of(class, sealed)?))
}

/// The month of a sealed value of `class`, read from its prefix.
pub fn month_of(class: DataClass, sealed: &str) -> Option<Month> {
    let rest = sealed.strip_prefix(SEALED_PREFIX)?;
    let rest = rest.strip_prefix(class.code())?.strip_prefix('.')?;
    Month::parse(rest.get(..6)?)
}

/// `class month`, the associated data of a wrapped seed.
fn chain_label(class: DataClass, first: Month) -> String {
    format!("{} {}", class.code(), first.label())
}

/// The cipher wrapping the chains, from the secret stretched with SHA-256 under a label of
/// its own (so the key differs from the callback numbers' one made from the same secret).
fn wrapping_cipher(secret: &Secret) -> ChaCha20Poly1305 {
    let mut hash = Sha256::new();
    hash.update(b"hotline data keys wrapping key v1\0");
    hash.update(secret.expose().as_bytes());
    let key: [u8; KEY_BYTES] = hash.finalize().into();
    ChaCha20Poly1305::new(Key::from_slice(&key))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn secret() -> Secret {
        Secret::new("a callback key of enough characters".into())
    }

    fn month(year: i32, month: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, 15, 12, 0, 0).unwrap()
    }

    #[test]
    fn months_are_written_yyyymm_and_read_back() {
        assert_eq!(Month::of(month(2026, 12)).label(), "202612");
        assert_eq!(Month::of(month(2026, 1)).to_string(), "2026-01");
        assert_eq!(Month::of(month(2026, 12)).next(), Month::parse("202701").unwrap());
        for bad in ["", "2026", "202613", "202600", "2026-1", "２０２６１２", "-20261"] {
            assert_eq!(Month::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_sealed_value_opens_and_says_its_class_and_month_but_nothing_else() {
        let keys = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        let sealed =
            keys.seal(DataClass::Notes, month(2026, 3), "he is in Kursk, unit 12").unwrap();
        assert!(sealed.starts_with("dk1.n.202603."), "{sealed}");
        assert!(!sealed.contains("Kursk"));
        assert_eq!(keys.open(&sealed).unwrap(), "he is in Kursk, unit 12");
        assert_eq!(month_of(DataClass::Notes, &sealed), Some(Month::parse("202603").unwrap()));
        assert_eq!(month_of(DataClass::Recordings, &sealed), None);
        let (from, len) = DataClass::MONTH_IN_VALUE;
        assert_eq!(&sealed[from - 1..from - 1 + len], "202603");
        // The same text twice is two different values.
        assert_ne!(
            sealed,
            keys.seal(DataClass::Notes, month(2026, 3), "he is in Kursk, unit 12").unwrap()
        );
    }

    #[test]
    fn a_value_relabelled_altered_or_foreign_does_not_open() {
        let keys = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        let sealed = keys.seal(DataClass::Recordings, month(2026, 2), "https://r/RE1").unwrap();
        let relabelled = sealed.replacen("202602", "202603", 1);
        assert_eq!(keys.open(&relabelled), Err(Unopened::Damaged));
        let reclassed = sealed.replacen("dk1.r.", "dk1.n.", 1);
        assert_eq!(keys.open(&reclassed), Err(Unopened::Damaged));
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(keys.open(&String::from_utf8(altered).unwrap()), Err(Unopened::Damaged));
        let other = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        assert_eq!(other.open(&sealed), Err(Unopened::Damaged));
        for hostile in
            ["", "dk1.", "dk1.r.202602.", "dk1.x.202602.AAAA", "plain text", "dk1.r.2026021AAAA"]
        {
            assert!(keys.open(hostile).is_err(), "{hostile:?}");
        }
        assert_eq!(
            keys.open(&format!("dk1.r.202602.{}", "A".repeat(100_000))),
            Err(Unopened::Damaged)
        );
    }

    #[test]
    fn destroying_months_shreds_their_values_and_keeps_later_ones() {
        let keys = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        let january = keys.seal(DataClass::Notes, month(2026, 1), "january").unwrap();
        let march = keys.seal(DataClass::Notes, month(2026, 3), "march").unwrap();
        let recording = keys.seal(DataClass::Recordings, month(2026, 1), "https://r/RE1").unwrap();
        assert!(keys.destroy_before(DataClass::Notes, Month::of(month(2026, 2))));
        assert_eq!(keys.open(&january), Err(Unopened::Shredded));
        assert_eq!(keys.open(&march).unwrap(), "march");
        assert_eq!(keys.open(&recording).unwrap(), "https://r/RE1", "another class's chain");
        // A chain never goes back.
        assert!(!keys.destroy_before(DataClass::Notes, Month::of(month(2026, 1))));
        assert_eq!(keys.first(DataClass::Notes), Some(Month::of(month(2026, 2))));
        // A late write for a destroyed month is sealed under the oldest key left.
        let late = keys.seal(DataClass::Notes, month(2026, 1), "late").unwrap();
        assert!(late.starts_with("dk1.n.202602."), "{late}");
    }

    #[test]
    fn the_stored_form_keeps_no_destroyed_key_and_needs_the_secret() {
        let keys = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        let january = keys.seal(DataClass::Notes, month(2026, 1), "january").unwrap();
        let april = keys.seal(DataClass::Notes, month(2026, 4), "april").unwrap();
        let before = keys.stored(None).unwrap();
        keys.destroy_before(DataClass::Notes, Month::of(month(2026, 3)));
        let after = keys.stored(None).unwrap();
        assert_eq!(before.len(), after.len(), "rewritten in place, line for line");
        let reloaded = DataKeys::load(&secret(), &after).unwrap();
        assert_eq!(reloaded.open(&january), Err(Unopened::Shredded));
        assert_eq!(reloaded.open(&april).unwrap(), "april");
        // An old copy of the stored form still opens what it had: why its copies must not
        // outlive the next purge (docs/security.md, "Data keys").
        assert_eq!(DataKeys::load(&secret(), &before).unwrap().open(&january).unwrap(), "january");
        let wrong = Secret::new("another callback key of enough length".into());
        assert!(matches!(DataKeys::load(&wrong, &after), Err(KeysError::WrongSecret)));
        let rewrapped = reloaded.stored(Some(&wrong)).unwrap();
        assert_eq!(DataKeys::load(&wrong, &rewrapped).unwrap().open(&april).unwrap(), "april");
    }

    #[test]
    fn a_damaged_stored_form_is_refused_with_a_reason() {
        let keys = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        let good = keys.stored(None).unwrap();
        let lines: Vec<&str> = good.lines().collect();
        let cases = [
            String::new(),
            "not keys".to_owned(),
            format!("{}\n", lines[0]),
            format!("{}\n{}\n", lines[0], lines[1]),
            format!("{}\n{}\n{}\n", lines[0], lines[1], lines[1]),
            good.replacen(" 2026", " 2026x", 1),
            good.replacen("r 202601", "x 202601", 1),
            good.replacen("r 202601", "r 202602", 1),
            format!("{good}r 202601 AAAA\n"),
            "x".repeat(100_000),
        ];
        for stored in cases {
            assert!(DataKeys::load(&secret(), &stored).is_err(), "{stored:.80?}");
        }
    }

    #[test]
    fn locked_keys_seal_and_open_nothing() {
        let keys = DataKeys::generate(&secret(), month(2026, 1)).unwrap();
        let sealed = keys.seal(DataClass::Notes, month(2026, 3), "text").unwrap();
        let locked = DataKeys::locked();
        assert!(locked.is_locked() && !keys.is_locked());
        assert_eq!(locked.seal(DataClass::Notes, month(2026, 3), "text"), Err(Locked));
        assert_eq!(locked.open(&sealed), Err(Unopened::Locked));
        assert_eq!(locked.first(DataClass::Notes), None);
        assert!(!locked.destroy_before(DataClass::Notes, Month::of(month(2026, 3))));
        assert_eq!(locked.stored(None), None);
    }

    proptest! {
        #[test]
        fn any_text_round_trips_until_its_month_is_destroyed(
            text in "\\PC{0,300}",
            written in 0u32..36,
            destroyed in 0u32..36,
        ) {
            let start = month(2025, 1);
            let keys = DataKeys::generate(&secret(), start).unwrap();
            let at = start + chrono::Months::new(written);
            let sealed = keys.seal(DataClass::Notes, at, &text).unwrap();
            keys.destroy_before(DataClass::Notes, Month::of(start + chrono::Months::new(destroyed)));
            let opened = keys.open(&sealed);
            if written >= destroyed {
                prop_assert_eq!(opened, Ok(text));
            } else {
                prop_assert_eq!(opened, Err(Unopened::Shredded));
            }
        }
    }
}
