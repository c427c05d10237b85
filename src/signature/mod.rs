//! The providers' request signatures: how a webhook proves it came from the telephony
//! provider, whichever one the hotline is configured for.
//!
//! - Twilio sends `X-Twilio-Signature`: HMAC-SHA1 of the URL and the sorted form under the
//!   account's auth token ([`twilio`]'s scheme).
//! - SignalWire's compatibility API (cXML) sends `X-SignalWire-Signature` (its libraries also
//!   read `X-Twilio-Signature` on these callbacks): Twilio's scheme under the project's
//!   Signing Key.
//! - Telnyx TeXML sends `telnyx-signature-ed25519` and `telnyx-timestamp`: Ed25519 of
//!   `{timestamp}|{body}`, checked with the account's public key ([`telnyx`]).
//!
//! [`compute`] and [`verify`] are Twilio's scheme, which the simulator, the tests and the
//! text channels' SMS webhook (Twilio Messaging) use directly.

pub mod telnyx;
mod twilio;

pub use twilio::{compute, verify};

/// Twilio's header, which SignalWire's libraries also read.
pub const TWILIO_HEADER: &str = "x-twilio-signature";
/// SignalWire's own header.
pub const SIGNALWIRE_HEADER: &str = "x-signalwire-signature";
/// Telnyx's signature header.
pub const TELNYX_SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// Telnyx's timestamp header.
pub const TELNYX_TIMESTAMP_HEADER: &str = "telnyx-timestamp";

/// The longest header value kept: every genuine one is under 100 characters, and what is
/// kept may be checked on every request.
const MAX_HEADER_CHARS: usize = 512;

/// A request's signature headers, whichever provider sent it: read once at the edge, each
/// bounded (a longer value is kept as an empty one, which no check accepts).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    /// `X-Twilio-Signature`.
    pub twilio: Option<String>,
    /// `X-SignalWire-Signature`.
    pub signalwire: Option<String>,
    /// `telnyx-signature-ed25519`.
    pub telnyx_signature: Option<String>,
    /// `telnyx-timestamp`.
    pub telnyx_timestamp: Option<String>,
}

impl Headers {
    /// Reads the headers with `get`, which looks a header up by its lower-case name and
    /// gives its value when it is text.
    pub fn read<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Headers {
        let bounded = |name: &str| {
            get(name).map(|v| if v.len() > MAX_HEADER_CHARS { String::new() } else { v.to_owned() })
        };
        Headers {
            twilio: bounded(TWILIO_HEADER),
            signalwire: bounded(SIGNALWIRE_HEADER),
            telnyx_signature: bounded(TELNYX_SIGNATURE_HEADER),
            telnyx_timestamp: bounded(TELNYX_TIMESTAMP_HEADER),
        }
    }

    /// Whether any signature header came at all (for the logs of a refusal).
    pub fn any(&self) -> bool {
        self.twilio.is_some() || self.signalwire.is_some() || self.telnyx_signature.is_some()
    }
}

/// A request as its signer saw it.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// The full URL requested: the public base URL, the path, the query.
    pub url: &'a str,
    /// The form's parameters, as parsed from the body.
    pub form: &'a [(String, String)],
    /// The body, as received.
    pub body: &'a [u8],
}

/// Who signs the webhooks, with what the check needs.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// Twilio, with the account's auth token.
    Twilio {
        /// The auth token.
        auth_token: &'a [u8],
    },
    /// SignalWire's compatibility API (cXML), with the project's Signing Key.
    SignalWire {
        /// The Signing Key.
        signing_key: &'a [u8],
    },
    /// Telnyx TeXML, with the account's public key and the time now.
    Telnyx {
        /// The public key.
        public_key: &'a telnyx::PublicKey,
        /// Now, in Unix seconds, from the one clock of the hotline.
        now: i64,
    },
}

/// Why a request's signature was refused: safe to log, it carries nothing of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The provider's header (or one of its two) is missing.
    #[error("no signature")]
    Missing,
    /// A header is not shaped as the provider sends it.
    #[error("a signature header is malformed")]
    Malformed,
    /// Telnyx's timestamp is too far from our clock: a replay, or a clock far off.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// Well-formed, but not the provider's signature of this request.
    #[error("the signature does not match")]
    Wrong,
}

impl Signer<'_> {
    /// Whether `request`, with these `headers`, is signed by this provider.
    pub fn check(&self, headers: &Headers, request: &Signed<'_>) -> Result<(), Refusal> {
        let hmac = |key: &[u8], signature: Option<&String>| {
            let signature = signature.ok_or(Refusal::Missing)?;
            if twilio::verify(key, request.url, request.form, signature) {
                Ok(())
            } else {
                Err(Refusal::Wrong)
            }
        };
        match *self {
            Signer::Twilio { auth_token } => hmac(auth_token, headers.twilio.as_ref()),
            // SignalWire's own header first; the Twilio-named one, same scheme, when it is absent.
            Signer::SignalWire { signing_key } => {
                hmac(signing_key, headers.signalwire.as_ref().or(headers.twilio.as_ref()))
            }
            Signer::Telnyx { public_key, now } => {
                let (Some(signature), Some(timestamp)) =
                    (&headers.telnyx_signature, &headers.telnyx_timestamp)
                else {
                    return Err(Refusal::Missing);
                };
                telnyx::verify(public_key, timestamp, signature, request.body, now)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use ed25519_dalek::{Signer as _, SigningKey};

    const URL: &str = "https://hotline.example.org/voice/incoming";
    const KEY: &[u8] = b"PSKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const NOW: i64 = 1_796_000_000;

    fn form() -> Vec<(String, String)> {
        [
            ("AccountSid", "446e9986-0848-4d46-a617-48793c5f5e07"),
            ("CallSid", "b3877c40-da60-4998-90ad-b792e98472ca"),
            ("From", "+15551230001"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn body(form: &[(String, String)]) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish().into_bytes()
    }

    fn headers(pairs: &[(&str, &str)]) -> Headers {
        Headers::read(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn signalwire_is_checked_in_its_header_or_twilios() {
        let form = form();
        let body = body(&form);
        let request = Signed { url: URL, form: &form, body: &body };
        let signature = compute(KEY, URL, &form);
        let signer = Signer::SignalWire { signing_key: KEY };
        for header in [SIGNALWIRE_HEADER, TWILIO_HEADER] {
            assert_eq!(signer.check(&headers(&[(header, &signature)]), &request), Ok(()));
        }
        // Its own header wins: a wrong one is not rescued by a right alias.
        let both = headers(&[(SIGNALWIRE_HEADER, "bm9wZQ=="), (TWILIO_HEADER, &signature)]);
        assert_eq!(signer.check(&both, &request), Err(Refusal::Wrong));
        assert_eq!(signer.check(&headers(&[]), &request), Err(Refusal::Missing));
        // Twilio's check reads only Twilio's header.
        let twilio = Signer::Twilio { auth_token: KEY };
        let only_signalwire = headers(&[(SIGNALWIRE_HEADER, &signature)]);
        assert_eq!(twilio.check(&only_signalwire, &request), Err(Refusal::Missing));
        assert_eq!(twilio.check(&headers(&[(TWILIO_HEADER, &signature)]), &request), Ok(()));
    }

    #[test]
    fn telnyx_needs_both_headers_and_signs_the_body() {
        let form = form();
        let body = body(&form);
        let request = Signed { url: URL, form: &form, body: &body };
        let key = SigningKey::from_bytes(&[9; 32]);
        let public_key =
            telnyx::PublicKey::from_base64(&STANDARD.encode(key.verifying_key().as_bytes()))
                .unwrap();
        let timestamp = NOW.to_string();
        let mut message = format!("{timestamp}|").into_bytes();
        message.extend_from_slice(&body);
        let signature = STANDARD.encode(key.sign(&message).to_bytes());
        let signer = Signer::Telnyx { public_key: &public_key, now: NOW };
        let good = headers(&[
            (TELNYX_SIGNATURE_HEADER, &signature),
            (TELNYX_TIMESTAMP_HEADER, &timestamp),
        ]);
        assert_eq!(signer.check(&good, &request), Ok(()));
        let replayed = Signer::Telnyx { public_key: &public_key, now: NOW + 301 };
        assert_eq!(replayed.check(&good, &request), Err(Refusal::Stale));
        for partial in [
            headers(&[(TELNYX_SIGNATURE_HEADER, &signature)]),
            headers(&[(TELNYX_TIMESTAMP_HEADER, &timestamp)]),
            // A Twilio-style signature does not stand in for Telnyx's.
            headers(&[(TWILIO_HEADER, &compute(KEY, URL, &form))]),
        ] {
            assert_eq!(signer.check(&partial, &request), Err(Refusal::Missing));
        }
        // Telnyx signs the body as sent: the same form encoded otherwise is refused.
        let respelled = String::from_utf8(body.clone()).unwrap().replace("%2B", "+");
        let other = Signed { body: respelled.as_bytes(), ..request };
        assert_eq!(signer.check(&good, &other), Err(Refusal::Wrong));
    }

    #[test]
    fn oversized_headers_are_kept_empty_and_refused() {
        let huge = "A".repeat(MAX_HEADER_CHARS + 1);
        let read = headers(&[(TWILIO_HEADER, &huge), (TELNYX_TIMESTAMP_HEADER, &huge)]);
        assert_eq!(read.twilio.as_deref(), Some(""));
        assert_eq!(read.telnyx_timestamp.as_deref(), Some(""));
        assert!(read.any());
        assert!(!headers(&[(TELNYX_TIMESTAMP_HEADER, "1")]).any());
        let form = form();
        let request = Signed { url: URL, form: &form, body: b"" };
        assert_eq!(Signer::Twilio { auth_token: KEY }.check(&read, &request), Err(Refusal::Wrong));
    }
}
