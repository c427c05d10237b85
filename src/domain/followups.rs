//! Follow-ups: the callers an operator must get back to (voicemails, callback requests, calls
//! missed in the queue), and the callback number, which is the one phone number the hotline
//! keeps, sealed.
//!
//! A callback number is typed on the keypad (or is the number the caller called from), read
//! back, confirmed, and from then on exists only as a [`Sealer`] ciphertext: ChaCha20-Poly1305
//! under `HOTLINE_CALLBACK_KEY`, a random nonce per value, the call's id as associated data
//! (so a sealed number moved to another case does not open). The call's id rather than the
//! case's row id, because the number is sealed by the webhook before any database write: a
//! request journaled while the database is down holds only the ciphertext too. Screens see
//! [`CallbackNumber::hint`]; only the operator who took the follow-up may reveal the number,
//! and every reveal is audited (`src/api/followups.rs`).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use chrono::{DateTime, Utc};

use crate::domain::cases::{CallSid, CaseNumber};
use crate::domain::conversation::{Channel, ChatAddress};
use crate::domain::language::{LanguageTag, Tag};
use crate::domain::secret::Secret;

/// Fewest digits of a number we can call (country code included).
const MIN_DIGITS: usize = 7;
/// Most digits of a number (E.164 allows 15).
const MAX_DIGITS: usize = 15;

/// A phone number to call back, international, as digits (without the `+`). Never printed by
/// `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackNumber(String);

impl CallbackNumber {
    /// Keys typed on the keypad: 7 to 15 digits, starting with the country code (not 0).
    pub fn from_keypad(keys: &str) -> Option<CallbackNumber> {
        let ok = (MIN_DIGITS..=MAX_DIGITS).contains(&keys.len())
            && keys.bytes().all(|b| b.is_ascii_digit())
            && !keys.starts_with('0');
        ok.then(|| CallbackNumber(keys.to_owned()))
    }

    /// The caller's own number as the provider gives it (`From`): `+` and 7 to 15 digits.
    /// A hidden number (`anonymous`, a SIP address) is `None`.
    pub fn from_caller_id(from: &str) -> Option<CallbackNumber> {
        CallbackNumber::from_keypad(from.strip_prefix('+')?)
    }

    /// The number in E.164 form, for dialling.
    pub fn e164(&self) -> String {
        format!("+{}", self.0)
    }

    /// The masked form every screen shows: the last two digits.
    pub fn hint(&self) -> String {
        format!("…{}", &self.0[self.0.len() - 2..])
    }

    /// The digits one by one, for text-to-speech: `7, 9, 1, …` is read digit by digit in the
    /// voice's own language.
    pub fn spoken(&self) -> String {
        let digits: Vec<String> = self.0.chars().map(String::from).collect();
        digits.join(", ")
    }
}

impl fmt::Debug for CallbackNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallbackNumber({})", self.hint())
    }
}

/// Seals and opens callback numbers under the callback key.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

/// The nonce's length: 96 bits, random per value (at the volume of a hotline, collisions are
/// out of reach).
const NONCE_BYTES: usize = 12;

impl Sealer {
    /// A sealer under this secret. The secret (any length the loader accepts) is stretched to
    /// a 256-bit key with SHA-256 under a label of its own.
    pub fn new(secret: &Secret) -> Sealer {
        let mut hash = Sha256::new();
        hash.update(b"hotline callback number key v1\0");
        hash.update(secret.expose().as_bytes());
        let key: [u8; 32] = hash.finalize().into();
        Sealer { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    /// The number sealed for this call: base64url of nonce, ciphertext and tag. `None` only if
    /// the system's random source fails.
    pub fn seal(&self, number: &CallbackNumber, call: &CallSid) -> Option<String> {
        self.seal_bound(&number.0, call.as_str())
    }

    /// The number sealed for this call; `None` if it was sealed for another call, under
    /// another key, or altered.
    pub fn open(&self, sealed: &str, call: &CallSid) -> Option<CallbackNumber> {
        CallbackNumber::from_keypad(&self.open_bound(sealed, call.as_str())?)
    }

    /// An operator's own phone number (call-me mode), sealed for that operator: bound to
    /// their id, so a sealed number copied to another person's row does not open.
    pub fn seal_operator_phone(&self, number: &CallbackNumber, operator: i64) -> Option<String> {
        self.seal_bound(&number.0, &format!("operator:{operator}"))
    }

    /// The phone number sealed for `operator`; `None` if sealed for another, or altered.
    pub fn open_operator_phone(&self, sealed: &str, operator: i64) -> Option<CallbackNumber> {
        CallbackNumber::from_keypad(&self.open_bound(sealed, &format!("operator:{operator}"))?)
    }

    /// A text channel's reply address sealed for its case: the same construction as a
    /// callback number, bound to the case by its call id.
    pub fn seal_address(&self, address: &ChatAddress, call: &CallSid) -> Option<String> {
        self.seal_bound(address.expose(), call.as_str())
    }

    /// The reply address sealed for this case; `None` if sealed for another, or altered.
    pub fn open_address(
        &self,
        channel: Channel,
        sealed: &str,
        call: &CallSid,
    ) -> Option<ChatAddress> {
        ChatAddress::new(channel, &self.open_bound(sealed, call.as_str())?)
    }

    /// `plain` encrypted and authenticated with `bound_to` as associated data.
    fn seal_bound(&self, plain: &str, bound_to: &str) -> Option<String> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).ok()?;
        let payload = Payload { msg: plain.as_bytes(), aad: bound_to.as_bytes() };
        let sealed = self.cipher.encrypt(Nonce::from_slice(&nonce), payload).ok()?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Some(URL_SAFE_NO_PAD.encode(out))
    }

    /// What [`Sealer::seal_bound`] sealed with the same `bound_to`.
    fn open_bound(&self, sealed: &str, bound_to: &str) -> Option<String> {
        if sealed.len() > 256 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_BYTES {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_BYTES);
        let payload = Payload { msg: body, aad: bound_to.as_bytes() };
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

/// What a follow-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The caller left a voicemail.
    Voicemail,
    /// The caller asked to be called back.
    Callback,
    /// The caller hung up while waiting in the queue.
    Missed,
}

impl Kind {
    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "voicemail" => Kind::Voicemail,
            "callback" => Kind::Callback,
            "missed" => Kind::Missed,
            _ => return None,
        })
    }
}

/// Where a follow-up stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Nobody has taken it.
    Open,
    /// One person took it: only they reveal its number and record attempts.
    Taken,
    /// Reached, a wrong number, or out of attempts.
    Closed,
}

impl State {
    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<State> {
        Some(match s {
            "open" => State::Open,
            "taken" => State::Taken,
            "closed" => State::Closed,
            _ => return None,
        })
    }
}

/// How one attempt to reach a caller went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptResult {
    /// Tried, with no clear result (busy, cut off).
    Tried,
    /// The caller was reached: the follow-up is done.
    Reached,
    /// Nobody answered.
    NoAnswer,
    /// The number is not the caller's: trying again is pointless.
    WrongNumber,
}

impl AttemptResult {
    /// Parses `tried`, `reached`, `no-answer`, `wrong-number`.
    pub fn parse(s: &str) -> Option<AttemptResult> {
        Some(match s {
            "tried" => AttemptResult::Tried,
            "reached" => AttemptResult::Reached,
            "no-answer" => AttemptResult::NoAnswer,
            "wrong-number" => AttemptResult::WrongNumber,
            _ => return None,
        })
    }

    /// Its spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Tried => "tried",
            AttemptResult::Reached => "reached",
            AttemptResult::NoAnswer => "no-answer",
            AttemptResult::WrongNumber => "wrong-number",
        }
    }

    /// Whether this result ends the follow-up whatever the count.
    pub fn closes(self) -> bool {
        matches!(self, AttemptResult::Reached | AttemptResult::WrongNumber)
    }
}

/// A follow-up's id as given in a path: digits only, so `+7`, ` 7` or `7.0` are refused
/// rather than read; the error says what it is not.
pub fn parse_id(text: &str) -> Result<i64, String> {
    let ok = (1..=15).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten().ok_or_else(|| {
        format!("{:?} is not a follow-up id (a number)", text.chars().take(40).collect::<String>())
    })
}

/// One attempt to reach a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Attempt {
    /// Who tried.
    pub operator_id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// How it went.
    pub result: AttemptResult,
}

/// One entry of the follow-up list, as every screen shows it: never the number itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FollowUp {
    /// Its id in the API.
    pub id: i64,
    /// What it is for.
    pub kind: Kind,
    /// The case.
    pub case: CaseNumber,
    /// The caller's language, once chosen.
    pub language: Option<LanguageTag>,
    /// The caller's country as the provider reported it.
    pub country: Option<String>,
    /// What the caller chose in the IVR.
    pub tags: Vec<Tag>,
    /// When the follow-up was made.
    pub created_at: DateTime<Utc>,
    /// When the caller first joined an operators' queue: a callback keeps that place.
    pub joined_at: Option<DateTime<Utc>>,
    /// How long the caller waited in the queue, in seconds.
    pub wait_secs: Option<i64>,
    /// The voicemail's recording.
    pub recording_url: Option<String>,
    /// Its length in seconds.
    pub recording_secs: Option<u32>,
    /// The callback number masked (`…67`); the number itself only through a reveal.
    pub number: Option<String>,
    /// Open, taken by one person, or closed.
    pub state: State,
    /// The operator who took it.
    pub taken_by: Option<i64>,
    /// The attempts made, oldest first.
    pub attempts: Vec<Attempt>,
    /// Why it was closed: `reached`, `wrong-number`, `attempts`.
    pub closed_reason: Option<String>,
    /// Calls from the same caller (by their keyed hash) before this case's.
    pub earlier_calls: u32,
    /// The call, to open the sealed number with; never shown.
    #[serde(skip)]
    pub call_sid: CallSid,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> CallSid {
        CallSid::parse(s).unwrap()
    }

    #[test]
    fn numbers_are_digits_with_a_country_code() {
        assert!(CallbackNumber::from_keypad("79161234567").is_some());
        for bad in [
            "",
            "123456",
            "0791612345",
            "7916123456789012",
            "7916*234567",
            "７９１６１２３４５６７",
            "+79161234567",
        ] {
            assert!(CallbackNumber::from_keypad(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            CallbackNumber::from_caller_id("+79161234567").map(|n| n.e164()),
            Some("+79161234567".to_owned())
        );
        for hidden in ["anonymous", "", "+", "client:anna", "sip:1@x", "79161234567"] {
            assert!(CallbackNumber::from_caller_id(hidden).is_none(), "{hidden:?}");
        }
    }

    #[test]
    fn masks_and_speech_and_debug() {
        let n = CallbackNumber::from_keypad("79161234567").unwrap();
        assert_eq!(n.hint(), "…67");
        assert_eq!(n.spoken(), "7, 9, 1, 6, 1, 2, 3, 4, 5, 6, 7");
        assert!(!format!("{n:?}").contains("9161234567"));
    }

    #[test]
    fn a_sealed_number_opens_only_for_its_call_and_key() {
        let sealer = Sealer::new(&Secret::new("callback-key-0123456789abcdef0123".into()));
        let other = Sealer::new(&Secret::new("another-key-0123456789abcdef01234".into()));
        let n = CallbackNumber::from_keypad("79161234567").unwrap();
        let sealed = sealer.seal(&n, &sid("CA1")).unwrap();
        assert!(!sealed.contains("9161234567"));
        assert_ne!(sealer.seal(&n, &sid("CA1")).unwrap(), sealed, "a fresh nonce every time");
        assert_eq!(sealer.open(&sealed, &sid("CA1")), Some(n));
        assert_eq!(sealer.open(&sealed, &sid("CA2")), None);
        assert_eq!(other.open(&sealed, &sid("CA1")), None);
        let mut tampered = sealed.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(sealer.open(std::str::from_utf8(&tampered).unwrap(), &sid("CA1")), None);
        for junk in ["", "!!!", "AAAA", &"A".repeat(300)] {
            assert_eq!(sealer.open(junk, &sid("CA1")), None, "{junk:?}");
        }
    }
}
