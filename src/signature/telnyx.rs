//! Telnyx TeXML's request signature: an Ed25519 signature, base64 in
//! `telnyx-signature-ed25519`, of `{telnyx-timestamp}|{raw body}`, made with the account's
//! private key and checked with its public key (base64, shown in the Mission Control Portal
//! under Keys & Credentials).
//!
//! The key is public: nothing here is a secret, and a leaked public key lets nobody forge a
//! request. What the scheme does not cover is the URL: our query string (the language, the
//! node, the step) is not signed. The timestamp bounds how long a request seen on the wire
//! stays usable: one further than [`TOLERANCE_SECS`] from our clock, in either direction, is
//! refused. `telnyx-timestamp` is Unix seconds, as the provider sends it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

use super::Refusal;

/// How far a request's timestamp may be from our clock: five minutes, as Telnyx's own
/// libraries allow, which covers clock drift and the provider's retries.
pub const TOLERANCE_SECS: i64 = 300;

/// The longest `telnyx-timestamp` read: Unix seconds have 10 digits until the year 2286.
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// The account's public key, parsed once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// Why a configured public key is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Empty.
    #[error("it is empty")]
    Empty,
    /// Not standard base64.
    #[error("it is not base64")]
    NotBase64,
    /// Not the 32 bytes of an Ed25519 public key.
    #[error("it is {0} bytes long, not the 32 of an Ed25519 public key")]
    WrongLength(usize),
    /// 32 bytes that are no point of the curve.
    #[error("it is not an Ed25519 public key")]
    NotAKey,
}

impl PublicKey {
    /// The key as the portal shows it: base64 of its 32 bytes (surrounding spaces ignored).
    pub fn from_base64(text: &str) -> Result<PublicKey, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(KeyError::Empty);
        }
        // A key is 44 characters: anything far longer is refused before decoding it.
        if text.len() > 64 {
            return Err(KeyError::WrongLength(text.len() * 3 / 4));
        }
        let bytes = STANDARD.decode(text).map_err(|_| KeyError::NotBase64)?;
        let bytes: [u8; 32] =
            bytes.as_slice().try_into().map_err(|_| KeyError::WrongLength(bytes.len()))?;
        VerifyingKey::from_bytes(&bytes).map(PublicKey).map_err(|_| KeyError::NotAKey)
    }
}

/// Whether `signature` (`telnyx-signature-ed25519`) is the key's signature of `timestamp`
/// (`telnyx-timestamp`) and `body`, the raw body as received, at `now` (Unix seconds).
///
/// The check is [`VerifyingKey::verify_strict`]: besides a wrong signature it refuses the
/// non-canonical and weak-key forms a genuine signer never makes. Nothing secret is compared,
/// so there is nothing to time.
pub fn verify(
    key: &PublicKey,
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    let sent = parse_timestamp(timestamp).ok_or(Refusal::Malformed)?;
    if sent.abs_diff(now) > TOLERANCE_SECS.unsigned_abs() {
        return Err(Refusal::Stale);
    }
    // 64 bytes are 88 base64 characters; a longer header is not decoded at all.
    if signature.len() > 128 {
        return Err(Refusal::Malformed);
    }
    let bytes = STANDARD.decode(signature.trim()).map_err(|_| Refusal::Malformed)?;
    let signature = Signature::from_slice(&bytes).map_err(|_| Refusal::Malformed)?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    key.0.verify_strict(&message, &signature).map_err(|_| Refusal::Wrong)
}

/// Unix seconds: ASCII digits only, no sign, no spaces, bounded.
fn parse_timestamp(text: &str) -> Option<i64> {
    let ok = (1..=MAX_TIMESTAMP_DIGITS).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use proptest::prelude::*;

    const NOW: i64 = 1_796_000_000;
    const BODY: &[u8] = b"AccountSid=f5586561-8ff0-4291-a51b-c7dfe4139ff9&CallSid=v3%3A9X2vxPDFY2RHSJ1EdMS0RHRksMTg7ldNxdjWbVr9zBjbGjGsSe-aiQ&CallStatus=ringing&From=%2B35319605860&To=%2B13129457420";

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn public(key: &SigningKey) -> PublicKey {
        PublicKey::from_base64(&STANDARD.encode(key.verifying_key().as_bytes())).unwrap()
    }

    /// What Telnyx sends: the signature of `{timestamp}|{body}`, base64.
    fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut message = format!("{timestamp}|").into_bytes();
        message.extend_from_slice(body);
        STANDARD.encode(key.sign(&message).to_bytes())
    }

    #[test]
    fn a_request_signed_as_telnyx_signs_is_accepted() {
        let key = signing_key(7);
        let timestamp = NOW.to_string();
        let signature = sign(&key, &timestamp, BODY);
        assert_eq!(verify(&public(&key), &timestamp, &signature, BODY, NOW), Ok(()));
        // An empty body (a GET) is signed as `{timestamp}|`.
        let empty = sign(&key, &timestamp, b"");
        assert_eq!(verify(&public(&key), &timestamp, &empty, b"", NOW), Ok(()));
    }

    #[test]
    fn the_message_is_the_timestamp_a_bar_and_the_body() {
        // Computed independently of `verify`: the RFC 8032 signature of these exact bytes.
        let key = signing_key(1);
        let message = b"1796000000|a=1";
        let signature = STANDARD.encode(key.sign(message).to_bytes());
        assert_eq!(verify(&public(&key), "1796000000", &signature, b"a=1", NOW), Ok(()));
        // The body alone, or the timestamp and body without the bar, are other messages.
        let bare = STANDARD.encode(key.sign(b"a=1").to_bytes());
        assert_eq!(verify(&public(&key), "1796000000", &bare, b"a=1", NOW), Err(Refusal::Wrong));
        let joined = STANDARD.encode(key.sign(b"1796000000a=1").to_bytes());
        assert_eq!(verify(&public(&key), "1796000000", &joined, b"a=1", NOW), Err(Refusal::Wrong));
    }

    #[test]
    fn tampering_is_refused() {
        let key = signing_key(7);
        let timestamp = NOW.to_string();
        let signature = sign(&key, &timestamp, BODY);
        let other_key = public(&signing_key(8));
        assert_eq!(verify(&other_key, &timestamp, &signature, BODY, NOW), Err(Refusal::Wrong));
        let mut changed = BODY.to_vec();
        let last = changed.len() - 1;
        changed[last] = b'1';
        assert_eq!(
            verify(&public(&key), &timestamp, &signature, &changed, NOW),
            Err(Refusal::Wrong)
        );
        // The same body under a later timestamp (within tolerance) is not what was signed.
        let later = (NOW + 1).to_string();
        assert_eq!(verify(&public(&key), &later, &signature, BODY, NOW), Err(Refusal::Wrong));
    }

    #[test]
    fn old_and_future_timestamps_are_refused() {
        let key = signing_key(7);
        for sent in [NOW - TOLERANCE_SECS, NOW + TOLERANCE_SECS, NOW - 1, NOW + 1] {
            let timestamp = sent.to_string();
            let signature = sign(&key, &timestamp, BODY);
            assert_eq!(verify(&public(&key), &timestamp, &signature, BODY, NOW), Ok(()), "{sent}");
        }
        for sent in [NOW - TOLERANCE_SECS - 1, NOW + TOLERANCE_SECS + 1, 0, 1, 99_999_999_999] {
            let timestamp = sent.to_string();
            let signature = sign(&key, &timestamp, BODY);
            assert_eq!(
                verify(&public(&key), &timestamp, &signature, BODY, NOW),
                Err(Refusal::Stale),
                "{sent}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_refused_not_panicked_on() {
        let key = signing_key(7);
        let timestamp = NOW.to_string();
        let good = sign(&key, &timestamp, BODY);
        for bad in [
            "",
            " ",
            "-1796000000",
            "+1796000000",
            "1796000000.5",
            "1e9",
            "１７９６",
            &"9".repeat(13),
            "1796000000\n",
        ] {
            assert_eq!(
                verify(&public(&key), bad, &good, BODY, NOW),
                Err(Refusal::Malformed),
                "{bad:?}"
            );
        }
        let short = STANDARD.encode([0u8; 63]);
        let long = STANDARD.encode([0u8; 65]);
        let huge = "A".repeat(1 << 20);
        for bad in ["", "not base64!", "AAAA", &short, &long, &huge, "<script>"] {
            assert_eq!(
                verify(&public(&key), &timestamp, bad, BODY, NOW),
                Err(Refusal::Malformed),
                "{}",
                bad.len()
            );
        }
        // 64 bytes that are no signature of this message.
        let zeros = STANDARD.encode([0u8; 64]);
        assert_eq!(verify(&public(&key), &timestamp, &zeros, BODY, NOW), Err(Refusal::Wrong));
    }

    #[test]
    fn keys_are_checked_when_read() {
        let key = signing_key(3);
        let text = STANDARD.encode(key.verifying_key().as_bytes());
        assert_eq!(PublicKey::from_base64(&format!("  {text}\n")), Ok(public(&key)));
        assert_eq!(PublicKey::from_base64(""), Err(KeyError::Empty));
        assert_eq!(PublicKey::from_base64("  "), Err(KeyError::Empty));
        assert_eq!(PublicKey::from_base64("not base64!"), Err(KeyError::NotBase64));
        assert_eq!(
            PublicKey::from_base64(&STANDARD.encode([1u8; 31])),
            Err(KeyError::WrongLength(31))
        );
        assert_eq!(
            PublicKey::from_base64(&STANDARD.encode([1u8; 33])),
            Err(KeyError::WrongLength(33))
        );
        assert!(matches!(
            PublicKey::from_base64(&"A".repeat(1 << 16)),
            Err(KeyError::WrongLength(_))
        ));
        // The private key's bytes pasted instead are refused or, being 32 bytes, read as
        // another key that verifies nothing: only the right key accepts a signature.
        let timestamp = NOW.to_string();
        let signature = sign(&key, &timestamp, BODY);
        if let Ok(wrong) = PublicKey::from_base64(&STANDARD.encode(key.to_bytes())) {
            assert_eq!(verify(&wrong, &timestamp, &signature, BODY, NOW), Err(Refusal::Wrong));
        }
        // 32 bytes that decode to no point of the curve, found by trying.
        let not_a_point = (0u8..=255)
            .map(|b| {
                let mut bytes = [0u8; 32];
                bytes[0] = b;
                bytes
            })
            .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
            .unwrap();
        assert_eq!(PublicKey::from_base64(&STANDARD.encode(not_a_point)), Err(KeyError::NotAKey));
    }

    proptest! {
        #[test]
        fn signed_bodies_verify_and_any_header_is_safe(
            seed in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..512),
            skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
            timestamp in ".{0,16}",
            signature in ".{0,120}",
        ) {
            let key = signing_key(seed);
            let sent = (NOW + skew).to_string();
            let good = sign(&key, &sent, &body);
            prop_assert_eq!(verify(&public(&key), &sent, &good, &body, NOW), Ok(()));
            prop_assert!(verify(&public(&key), &timestamp, &signature, &body, NOW).is_err());
        }
    }
}
