//! `hotline call`: a caller in a terminal, talking to a running hotline exactly as the
//! telephony provider does.
//!
//! [`run`] places one call: it POSTs the provider's parameters to `/voice/incoming`, reads the
//! TwiML answer, and acts it out — printing what the caller hears, pressing keys at each
//! `<Gather>` (from a script of [`Press`]es, or typed at the terminal), following `<Redirect>`,
//! `<Record>` and `<Enqueue>` — until one side hangs up, then sends the call's status
//! callback. Every request is signed like the provider's when an auth token is given. Whatever
//! the provider would refuse (an error status, a body that is not TwiML, a verb out of place)
//! stops the call with a [`SimulatorError`], since a real caller would hear an error there.
//!
//! [`run_operator`] is the operator's side of the same loop: the operator line, its PIN, the
//! whisper, the bridge to a waiting caller and the wrap-up.
//!
//! [`run_quiet`] is the same walk for a caller whose transport answers asynchronously, without
//! a transcript: the load benchmark keeps thousands of calls in progress as tasks over a few
//! connections, and reads none of what they heard.
//!
//! [`post`] sends one signed request and returns the answer as it is, for tests that need to
//! look at the server's reply to hostile input.
//!
//! Inside: `twiml` reads documents, `documents` keeps them parsed by body for transports
//! that reuse them, `call` decides what the caller does with them, `http`
//! sends requests, `url` resolves the URLs documents name.

mod call;
mod documents;
mod http;
mod twiml;
mod url;

use std::fmt;
use std::future::Future;
use std::io::{BufRead, Write};
use std::pin::pin;
use std::str::FromStr;
use std::task::{Context, Poll, Waker};

pub use self::documents::DocumentCache;
pub use self::http::{HttpTransport, Sending, Transport, WireRequest};
pub use self::twiml::Method;

/// The most keys one press may hold; no menu needs more, and it keeps typos obvious.
const MAX_KEYS_PER_PRESS: usize = 32;
/// How much of a wrong answer's body an error keeps.
const BODY_EXCERPT_BYTES: usize = 500;

/// How to place a simulated call.
#[derive(Clone, PartialEq, Eq)]
pub struct CallOptions {
    /// The hotline's address, such as `http://127.0.0.1:8080`; the webhook paths are joined
    /// to it, keeping any path prefix.
    pub base_url: String,
    /// The provider's auth token: when given, every request carries `X-Twilio-Signature`
    /// computed over the URL requested and the form parameters.
    pub auth_token: Option<String>,
    /// The caller's number (`From`, `Caller`).
    pub from: String,
    /// The hotline's number (`To`).
    pub to: String,
    /// `FromCountry`, such as `RU`; not sent when `None`.
    pub from_country: Option<String>,
    /// The call's `CallSid`; `None`: `CA` and 32 random hex digits.
    pub call_sid: Option<String>,
    /// `Some`: the caller presses these, in order, at each `<Gather>` (scripted mode) and hangs
    /// up at a `<Gather>` when they have run out — except in a queue's wait music, where a
    /// missing press is silence, since `queue_waits` decides how long the caller waits.
    /// `None`: the caller types at the terminal (interactive mode).
    pub presses: Option<Vec<Press>>,
    /// Scripted mode: how many rounds of the queue's wait document the caller listens to
    /// before hanging up. Interactive mode asks after each round instead.
    pub queue_waits: u32,
    /// The most TwiML requests the call may make (a bound on redirect loops); the status
    /// callback is not counted. It also bounds the rounds of a queue's wait.
    pub max_requests: u32,
}

impl fmt::Debug for CallOptions {
    // The token is a secret and the number is personal data: neither goes into a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallOptions")
            .field("base_url", &self.base_url)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "[redacted]"))
            .field("from", &"[redacted]")
            .field("to", &self.to)
            .field("from_country", &self.from_country)
            .field("call_sid", &self.call_sid)
            .field("presses", &self.presses)
            .field("queue_waits", &self.queue_waits)
            .field("max_requests", &self.max_requests)
            .finish()
    }
}

/// What the caller does when the hotline waits for keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Press {
    /// Presses these keys (`0`–`9`, `*`, `#`), in one go.
    Keys(String),
    /// Presses nothing, so the `<Gather>` times out. Written `_`.
    Silence,
    /// Hangs up. Written `hangup`.
    Hangup,
}

impl FromStr for Press {
    type Err = String;

    /// Reads `1`, `12#`, `*`, `_` (silence) or `hangup`, ignoring surrounding whitespace.
    fn from_str(s: &str) -> Result<Press, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("an empty press: write `_` for silence".into());
        }
        if s == "_" {
            return Ok(Press::Silence);
        }
        if s.eq_ignore_ascii_case("hangup") {
            return Ok(Press::Hangup);
        }
        if let Some(bad) = s.chars().find(|&c| !twiml::is_phone_key(c)) {
            // Echoed without control characters: a stray escape must not drive the terminal.
            let shown: String = s.chars().filter(|c| !c.is_control()).take(16).collect();
            let more = if s.chars().count() > 16 { "…" } else { "" };
            return Err(format!(
                "`{shown}{more}`: {bad:?} is not a phone key (keys are 0-9, * and #; `_` is \
                 silence, `hangup` hangs up)"
            ));
        }
        if s.len() > MAX_KEYS_PER_PRESS {
            return Err(format!("a press of {} keys; at most {MAX_KEYS_PER_PRESS}", s.len()));
        }
        Ok(Press::Keys(s.to_owned()))
    }
}

impl fmt::Display for Press {
    /// The form [`Press::from_str`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Press::Keys(keys) => f.write_str(keys),
            Press::Silence => f.write_str("_"),
            Press::Hangup => f.write_str("hangup"),
        }
    }
}

/// Reads a comma-separated script of presses, such as `1,1,2,_,hangup`. An empty or blank
/// script is no presses: the caller hangs up at the first `<Gather>`.
pub fn parse_presses(s: &str) -> Result<Vec<Press>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .enumerate()
        .map(|(index, item)| item.parse().map_err(|e| format!("press {}: {e}", index + 1)))
        .collect()
}

/// What happened on a simulated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    /// The call's `CallSid`.
    pub call_sid: String,
    /// Everything the caller heard and did, in order.
    pub heard: Vec<Heard>,
    /// How the call ended.
    pub end: CallEnd,
    /// The TwiML requests made (the status callback is not counted).
    pub requests: u32,
}

/// One thing the caller heard or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// Text to speech (`<Say>`).
    Say {
        /// The text, whitespace collapsed.
        text: String,
        /// The voice, when the document names one.
        voice: Option<String>,
        /// The language, when the document names one.
        language: Option<String>,
    },
    /// A recording (`<Play>`).
    Play {
        /// Its URL, as written in the document.
        url: String,
    },
    /// Silence (`<Pause>`).
    Pause {
        /// How long.
        seconds: u32,
    },
    /// The caller pressed keys at a `<Gather>`.
    Pressed {
        /// The keys, as pressed (the finish key included).
        keys: String,
    },
    /// The caller pressed nothing at a `<Gather>`.
    Silence,
    /// The caller was put in a queue (`<Enqueue>`).
    Enqueued {
        /// The queue's name.
        queue: String,
    },
    /// The provider's own hold music, played while waiting in a queue without a `waitUrl`.
    HoldMusic,
    /// A wait document took the caller out of the queue (`<Leave>`).
    LeftQueue,
    /// The caller was asked to speak a message (`<Record>`).
    Recording {
        /// `maxLength`, in seconds.
        max_length: u32,
    },
    /// The hotline dialled someone (`<Dial>`); nobody answers in the simulator.
    Dialed {
        /// The number or nouns dialled.
        target: String,
    },
}

/// How a simulated call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// The hotline sent `<Hangup>`.
    HungUpByServer,
    /// The caller hung up: a `hangup` press, the end of the script or of the input, or giving
    /// up in a queue.
    CallerHungUp,
    /// The last document ran out of verbs, so the provider ended the call.
    DocumentEnded,
    /// The hotline sent `<Reject>`.
    Rejected {
        /// `rejected` or `busy`.
        reason: String,
    },
}

/// One answer from the server, as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body (at most 1 MiB), invalid UTF-8 replaced.
    pub body: String,
}

/// Why a simulated call could not go on. Bodies are cut to their first 500 bytes.
#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    /// A URL that cannot be requested.
    #[error("cannot request {url:?}: {reason}")]
    InvalidUrl {
        /// The URL, as given or as resolved.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No answer could be read: refused connection, timeout, a body over 1 MiB.
    #[error("{url}: no answer: {message}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with a status the provider treats as a failure.
    #[error("{url}: the server answered HTTP {status}: {body:?}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The server answered 200, but not with TwiML the provider would act on.
    #[error("{url}: HTTP {status} but not valid TwiML: {reason}; body: {body:?}")]
    Twiml {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// What is wrong with the answer.
        reason: String,
        /// The start of the body.
        body: String,
    },
    /// The call made `max_requests` requests without ending.
    #[error("the call made {limit} requests without ending; stopped (a redirect loop?)")]
    TooManyRequests {
        /// The bound that was reached.
        limit: u32,
    },
    /// A transport handed to a blocking entry point did not answer at once: those drive the
    /// call without a runtime and need a transport whose futures are complete.
    #[error("the transport did not answer at once; a blocking call needs a synchronous transport")]
    NotReady,
    /// Local I/O failed: reading the caller's input, writing the transcript, or the system's
    /// random source (for SIDs).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Places one call to the hotline at `options.base_url` and acts it out, writing the transcript
/// to `out` and, in interactive mode, reading the caller's keys from `input`.
///
/// The status callback is sent once when the call ends, even when it ends in an error.
pub fn run(
    options: &CallOptions,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<Transcript, SimulatorError> {
    let mut transport = HttpTransport::new(options.auth_token.as_deref());
    block_on(call::run(options, &mut transport, input, out))
}

/// Places one call as [`run`] does, through `transport`, whose answers must be ready at once
/// (a synchronous transport); any other gives [`SimulatorError::NotReady`].
pub fn run_with(
    options: &CallOptions,
    transport: &mut dyn Transport,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<Transcript, SimulatorError> {
    block_on(call::run(options, transport, input, out))
}

/// Places one call as [`run`] does, through a transport that may answer later (a task over a
/// shared connection), without printing anything or noting what was heard
/// (the transcript's `heard` is empty): the load benchmark wants only how each call ended,
/// and every line not formatted is time left to the server under test. The call must be
/// scripted (`options.presses`); without presses the caller hangs up at the first `<Gather>`.
pub async fn run_quiet<T>(
    options: &CallOptions,
    transport: &mut T,
) -> Result<Transcript, SimulatorError>
where
    T: Transport + ?Sized,
{
    call::run_quiet(options, transport).await
}

/// Runs a call whose transport answers at once, without a runtime.
///
/// The blocking entry points' transports return futures that are already complete, and the
/// call's own code waits on nothing else, so the first poll finishes the call; the waker is
/// never used, hence [`Waker::noop`]. A future still pending after it would wait forever for
/// a wake-up nobody sends: that is a transport that does not belong here, reported as
/// [`SimulatorError::NotReady`] rather than polled again.
fn block_on(
    call: impl Future<Output = Result<Transcript, SimulatorError>>,
) -> Result<Transcript, SimulatorError> {
    let mut call = pin!(call);
    match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(SimulatorError::NotReady),
    }
}

/// Places one call to the operator line at `options.base_url` as an operator would: dials in,
/// types `operator` and `pin` (each ended by `#`), hears the whisper, is put through to the
/// caller of a caller's own queue and talks for `talk_secs` (until Enter at the terminal in
/// interactive mode), then answers the wrap-up with the presses of `options` (or the
/// terminal). A second terminal running [`run`] is the caller waiting in the queue.
pub fn run_operator(
    options: &CallOptions,
    operator: &str,
    pin: &str,
    talk_secs: u32,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<Transcript, SimulatorError> {
    let mut transport = HttpTransport::new(options.auth_token.as_deref());
    // The PIN is typed like any key, but not shown on the terminal.
    let first =
        vec![(Press::Keys(format!("{operator}#")), false), (Press::Keys(format!("{pin}#")), true)];
    let side = call::Side::Operator { talk_secs };
    block_on(call::run_side(options, side, first, false, &mut transport, input, out))
}

/// Sends one form POST to `path_or_url` (joined to `base_url` unless absolute), signed with
/// `auth_token` when given, and returns the answer whatever its status.
///
/// An error only when there is no answer to return (bad URL, refused connection, timeout, a
/// body over 1 MiB).
pub fn post(
    base_url: &str,
    path_or_url: &str,
    auth_token: Option<&str>,
    params: &[(String, String)],
) -> Result<Reply, SimulatorError> {
    let url = url::join(base_url, path_or_url).map_err(|reason| SimulatorError::InvalidUrl {
        url: format!("{base_url} + {path_or_url}"),
        reason,
    })?;
    HttpTransport::new(auth_token).request(&url, Method::Post, params)
}

/// The first 500 bytes of `body`, cut on a character boundary.
fn excerpt(body: &str) -> String {
    if body.len() <= BODY_EXCERPT_BYTES {
        return body.to_owned();
    }
    let mut end = BODY_EXCERPT_BYTES;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presses_parse() {
        assert_eq!(
            parse_presses("1, 12# ,*,_,HANGUP").unwrap(),
            vec![
                Press::Keys("1".into()),
                Press::Keys("12#".into()),
                Press::Keys("*".into()),
                Press::Silence,
                Press::Hangup
            ]
        );
        assert_eq!(parse_presses("").unwrap(), vec![]);
        assert_eq!(parse_presses("  ").unwrap(), vec![]);
        for press in [Press::Keys("0*#".into()), Press::Silence, Press::Hangup] {
            assert_eq!(press.to_string().parse::<Press>(), Ok(press));
        }
    }

    #[test]
    fn bad_presses_say_which_and_why() {
        let error = parse_presses("1,,2").unwrap_err();
        assert!(error.starts_with("press 2: an empty press"), "{error}");
        let error = parse_presses("1,1a").unwrap_err();
        assert!(error.contains("press 2") && error.contains("'a' is not a phone key"), "{error}");
        assert!(parse_presses("hang up").unwrap_err().contains("'h' is not a phone key"));
        assert!(parse_presses("1,").is_err());
        assert!("__".parse::<Press>().is_err());
        assert!("١".parse::<Press>().is_err(), "only ASCII digits are keys");
    }

    #[test]
    fn huge_presses_are_refused_without_echoing_them() {
        let error = "1".repeat(1_000_000).parse::<Press>().unwrap_err();
        assert!(error.contains("at most 32"), "{error}");
        let error = format!("{}x", "1".repeat(1_000_000)).parse::<Press>().unwrap_err();
        assert!(error.len() < 200, "{error}");
        let many = vec!["1"; 100_000].join(",");
        assert_eq!(parse_presses(&many).unwrap().len(), 100_000);
    }

    #[test]
    fn options_debug_hides_the_token_and_the_number() {
        let options = CallOptions {
            base_url: "http://h".into(),
            auth_token: Some("sekrit-token".into()),
            from: "+79161234567".into(),
            to: "+18005550100".into(),
            from_country: None,
            call_sid: None,
            presses: None,
            queue_waits: 0,
            max_requests: 1,
        };
        let debug = format!("{options:?}");
        assert!(!debug.contains("sekrit") && !debug.contains("9161234567"), "{debug}");
    }

    #[test]
    fn excerpts_cut_on_a_character() {
        assert_eq!(excerpt("short"), "short");
        let long = "я".repeat(300);
        let cut = excerpt(&long);
        assert!(cut.len() <= 500 + "…".len() && cut.ends_with('…'));
    }

    #[test]
    fn post_refuses_a_base_that_is_not_a_url() {
        let error = post("localhost:8080", "/voice/incoming", None, &[]).unwrap_err();
        assert!(matches!(error, SimulatorError::InvalidUrl { .. }), "{error}");
    }
}
