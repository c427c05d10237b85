//! The edge of the provider's surface: reading a webhook request, checking its signature, and
//! parsing its form into trusted types.
//!
//! Nothing here rejects with an HTTP error of its own making except a bad signature (403):
//! every other problem becomes a [`RequestError`] that the handler turns into safe TwiML, so
//! the caller keeps hearing the IVR whatever the request looked like.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, header};

use super::route::Query;
use crate::domain::cases::{CallSid, CallStatus, CallerHash};
use crate::domain::followups::CallbackNumber;
use crate::domain::secret::CallerHasher;
use crate::scripts::{LanguageTag, NodeId};
use crate::signature::{self, Refusal, Signed, Signer};

/// The longest key sequence accepted. Menus take one key; 32 leaves room for future inputs
/// (a case number typed on the keypad) while bounding what reaches the logs.
pub const MAX_DIGITS: usize = 32;

/// At most this many form parameters; the provider sends about twenty.
const MAX_PARAMS: usize = 100;

/// A provider request, read and bounded.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    /// The URL the provider requested, as it signed it: the public base URL, the path, the
    /// query.
    pub url: String,
    /// The query's parameters (our own: language, node, attempt, step).
    pub query: Vec<(String, String)>,
    /// The form's parameters (the provider's).
    pub form: Vec<(String, String)>,
    /// The body as received: what Telnyx signs.
    pub body: Bytes,
    /// The signature headers each provider sends, as sent.
    pub signatures: signature::Headers,
}

/// Why a request could not be read. None of these carry request content, so they are safe to
/// log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// The body exceeded the configured limit.
    #[error("request body over {0} bytes")]
    TooLarge(usize),
    /// The body did not arrive in time.
    #[error("request body took too long to arrive")]
    TooSlow,
    /// Not a form.
    #[error("content type is not application/x-www-form-urlencoded")]
    NotAForm,
    /// Too many parameters.
    #[error("more than {MAX_PARAMS} parameters")]
    TooManyParams,
    /// The connection failed while reading.
    #[error("request body could not be read")]
    Unreadable,
}

impl ProviderRequest {
    /// Reads a request: its body (at most `max_body` bytes, within `deadline`), query and
    /// signature. `public_url` is the base the provider calls, without a trailing slash.
    pub async fn read(
        request: Request<Body>,
        public_url: &str,
        max_body: usize,
        deadline: Duration,
    ) -> Result<ProviderRequest, RequestError> {
        let (parts, body) = request.into_parts();
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let url = format!("{public_url}{path_and_query}");
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let signatures =
            signature::Headers::read(|name| parts.headers.get(name).and_then(|v| v.to_str().ok()));
        let bytes = match tokio::time::timeout(deadline, axum::body::to_bytes(body, max_body)).await
        {
            Err(_) => return Err(RequestError::TooSlow),
            Ok(Err(e)) => {
                // axum reports an exceeded limit as a body error whose source is
                // `LengthLimitError`; any other failure is the connection's.
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|source| source.to_string().contains("length limit"));
                return Err(if too_large {
                    RequestError::TooLarge(max_body)
                } else {
                    RequestError::Unreadable
                });
            }
            Ok(Ok(bytes)) => bytes,
        };
        ProviderRequest::parse(url, &query, bytes, is_form(&parts.headers), signatures)
    }

    /// Builds a request from what [`ProviderRequest::read`] received: the URL as requested
    /// (for the signature), its query string, the body, whether the body was declared a form,
    /// and the signature headers.
    pub fn parse(
        url: String,
        query: &str,
        body: Bytes,
        is_form: bool,
        signatures: signature::Headers,
    ) -> Result<ProviderRequest, RequestError> {
        let query = parse_pairs(query);
        let form = if body.is_empty() {
            Vec::new()
        } else if is_form {
            parse_pairs_bytes(&body)
        } else {
            return Err(RequestError::NotAForm);
        };
        if form.len() > MAX_PARAMS || query.len() > MAX_PARAMS {
            return Err(RequestError::TooManyParams);
        }
        Ok(ProviderRequest { url, query, form, body, signatures })
    }

    /// Whether the request is signed by `signer`: `Ok`, or why not.
    pub fn check_signature(&self, signer: &Signer<'_>) -> Result<(), Refusal> {
        let signed = Signed { url: &self.url, form: &self.form, body: &self.body };
        signer.check(&self.signatures, &signed)
    }

    /// The first value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Our own parameters of the query.
    pub fn query(&self) -> Query<'_> {
        Query::new(&self.query)
    }

    /// The provider's parameters every call request carries, parsed, the caller's number
    /// hashed by `hasher`: the one place a webhook hashes it.
    pub fn call(&self, hasher: &CallerHasher) -> CallParams {
        CallParams {
            call_sid: self.param("CallSid").and_then(CallSid::parse),
            caller: self.from().and_then(|from| hasher.hash(from)),
            from_country: self.param("FromCountry").and_then(country),
            status: self.param("CallStatus").and_then(CallStatus::parse),
        }
    }

    /// The number the call comes from, as a number that can be called back: for a caller who
    /// asks to be called back on it, sealed at once by the handler.
    pub fn caller_id_number(&self) -> Option<CallbackNumber> {
        self.from().and_then(CallbackNumber::from_caller_id)
    }

    /// `From`, bounded.
    fn from(&self) -> Option<&str> {
        self.param("From").filter(|from| from.len() <= 64)
    }

    /// Where the call is in its script, from our own query parameters.
    pub fn position(&self) -> Position {
        let query = self.query();
        Position {
            language: query.language(),
            node: query.node(),
            attempt: query.small("attempt").filter(|a| *a >= 1),
            step: query.small("step"),
        }
    }

    /// The keys the caller pressed.
    pub fn digits(&self) -> Digits {
        Digits::parse(self.param("Digits"))
    }
}

/// The parameters that identify a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallParams {
    /// The call; `None` when missing or malformed (nothing is recorded then).
    pub call_sid: Option<CallSid>,
    /// The caller's number, hashed; `None` when withheld.
    pub caller: Option<CallerHash>,
    /// The caller's country, two capital letters.
    pub from_country: Option<String>,
    /// The call's status.
    pub status: Option<CallStatus>,
}

/// Where a call is, as carried in the URLs we hand the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// The script's language.
    pub language: Option<LanguageTag>,
    /// The node.
    pub node: Option<NodeId>,
    /// Which offering of a menu.
    pub attempt: Option<u32>,
    /// The step of the call this request is.
    pub step: Option<u32>,
}

/// The `Digits` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digits {
    /// No keys (absent or empty: the menu timed out).
    None,
    /// Keys `0-9*#`, at most [`MAX_DIGITS`].
    Keys(String),
    /// Anything else; the caller hears "that key is not in the menu".
    Invalid,
}

impl Digits {
    /// Parses the parameter's value.
    pub fn parse(value: Option<&str>) -> Digits {
        match value {
            None | Some("") => Digits::None,
            Some(keys)
                if keys.len() <= MAX_DIGITS
                    && keys.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#') =>
            {
                Digits::Keys(keys.to_owned())
            }
            Some(_) => Digits::Invalid,
        }
    }
}

/// A country code as the provider sends it: two capital letters.
fn country(s: &str) -> Option<String> {
    (s.len() == 2 && s.bytes().all(|b| b.is_ascii_uppercase())).then(|| s.to_owned())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

fn parse_pairs(s: &str) -> Vec<(String, String)> {
    parse_pairs_bytes(s.as_bytes())
}

/// Parses `a=1&b=2`. Bytes that are not UTF-8 are replaced, never rejected: a stray byte must
/// not cost the caller their call.
fn parse_pairs_bytes(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes)
        .take(MAX_PARAMS + 1)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::domain::secret::Secret;

    fn hasher() -> CallerHasher {
        CallerHasher::new(Secret::new("test key".into()))
    }

    async fn read(
        body: &'static str,
        content_type: Option<&str>,
    ) -> Result<ProviderRequest, RequestError> {
        let mut builder = Request::post("/voice/menu?lang=ru&node=main&attempt=2&step=7");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let request = builder.body(Body::from(body)).unwrap();
        ProviderRequest::read(request, "https://h.example", 1024, Duration::from_secs(1)).await
    }

    #[tokio::test]
    async fn reads_url_query_and_form() {
        let req = read(
            "CallSid=CA1&Digits=1&FromCountry=UA",
            Some("application/x-www-form-urlencoded; charset=utf-8"),
        )
        .await
        .unwrap();
        assert_eq!(req.url, "https://h.example/voice/menu?lang=ru&node=main&attempt=2&step=7");
        let position = req.position();
        assert_eq!(position.language.unwrap().as_str(), "ru");
        assert_eq!((position.attempt, position.step), (Some(2), Some(7)));
        assert_eq!(req.digits(), Digits::Keys("1".into()));
        assert_eq!(req.call(&hasher()).from_country.as_deref(), Some("UA"));
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_bounded_form() {
        assert_eq!(
            read("{\"a\":1}", Some("application/json")).await.unwrap_err(),
            RequestError::NotAForm
        );
        assert_eq!(read("a=1", None).await.unwrap_err(), RequestError::NotAForm);
        let big: &'static str = Box::leak("a=".repeat(600).into_boxed_str());
        assert_eq!(
            read(big, Some("application/x-www-form-urlencoded")).await.unwrap_err(),
            RequestError::TooLarge(1024)
        );
        let many: &'static str = Box::leak("a=1&".repeat(150).into_boxed_str());
        assert_eq!(
            read(many, Some("application/x-www-form-urlencoded")).await.unwrap_err(),
            RequestError::TooManyParams
        );
        assert!(read("", None).await.unwrap().form.is_empty());
    }

    #[test]
    fn digits_are_keypad_keys_only() {
        assert_eq!(Digits::parse(None), Digits::None);
        assert_eq!(Digits::parse(Some("")), Digits::None);
        assert_eq!(Digits::parse(Some("*#09")), Digits::Keys("*#09".into()));
        assert_eq!(Digits::parse(Some(&"1".repeat(32))), Digits::Keys("1".repeat(32)));
        for bad in ["1".repeat(33), "1 ".into(), "a".into(), "١".into(), "1\n".into(), "<".into()]
        {
            assert_eq!(Digits::parse(Some(&bad)), Digits::Invalid, "{bad:?}");
        }
    }

    #[test]
    fn positions_ignore_foreign_values() {
        let req = ProviderRequest {
            url: String::new(),
            query: parse_pairs("lang=../etc&node=Main&attempt=0&step=99999999999"),
            form: parse_pairs("CallSid=CA%0A1&FromCountry=ua&From=%2B7916"),
            body: Bytes::new(),
            signatures: signature::Headers::default(),
        };
        assert_eq!(req.position(), Position::default());
        let call = req.call(&hasher());
        assert_eq!((call.call_sid, call.from_country), (None, None));
        assert_eq!(call.caller, hasher().hash("+7916"));
    }

    proptest! {
        #[test]
        fn any_form_parses_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let form = parse_pairs_bytes(&bytes);
            let signatures = signature::Headers { twilio: Some("x".into()), ..Default::default() };
            let req = ProviderRequest { url: String::new(), query: form.clone(), form, body: Bytes::from(bytes), signatures };
            let signer = Signer::Twilio { auth_token: b"t" };
            let _ = (req.call(&hasher()), req.position(), req.digits(), req.check_signature(&signer));
        }
    }
}
