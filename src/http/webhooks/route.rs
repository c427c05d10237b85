//! Every URL of the provider's surface, named: the three configured at the provider and every
//! one we write into our own TwiML, with the parameters each carries.
//!
//! A [`Route`] builds the URL written into a document ([`Route::url`], [`Route::pinned`]);
//! its [`Page`] is the path the router serves (one `.route` each, `mod.rs`). The five URLs
//! configured at the provider (the voice, status and fallback URLs, and the operator line's
//! voice and status URLs) are pages only: we never write them. The URLs of a call that rings
//! a call-me operator are ours too, given absolute in the request that creates the call. A test reads every built URL
//! back strictly and checks it round-trips; the handlers read their parameters leniently, so a
//! damaged URL still gets safe TwiML. The URLs themselves never change
//! shape: the provider, and calls in progress across a restart, hold them.

use std::fmt::Write;

use crate::scripts::{LanguageTag, NodeId};

/// The paths served, one handler each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Page {
    /// The voice URL configured at the provider: a new call.
    Incoming,
    /// The status callback configured at the provider.
    Status,
    /// The fallback URL configured at the provider.
    Fallback,
    /// The language menu's keys.
    Language,
    /// A menu's keys.
    Menu,
    /// A node entered without input.
    Continue,
    /// The Enqueue action: the caller left the operators' queue.
    Queue,
    /// The document played while waiting in the queue.
    Wait,
    /// A key pressed during the wait document.
    WaitKey,
    /// The Record action: a voicemail was recorded.
    Recorded,
    /// The recording status callback.
    Recording,
    /// The Record action of a question: an `<ask>` was answered.
    Answered,
    /// The callback number typed.
    Callback,
    /// The callback number confirmed.
    CallbackConfirm,
    /// The operator line's voice URL.
    Operator,
    /// The operator ID typed.
    OperatorId,
    /// The PIN typed.
    OperatorPin,
    /// A signed-in operator asks for the next caller.
    OperatorNext,
    /// The Dial action of a queue.
    OperatorDialed,
    /// The Dial action of a callback.
    OperatorCalledBack,
    /// The `<Queue url>` document played to the caller before the bridge.
    OperatorConnecting,
    /// The operator line's status callback.
    OperatorStatus,
    /// A call-me operator answered the call that rings them.
    OperatorRing,
    /// The key they pressed to take the caller.
    OperatorRingTake,
    /// The status callback of the call that rings them.
    OperatorRingStatus,
}

impl Page {
    /// Every page, in the order of the router.
    pub const ALL: [Page; 25] = [
        Page::Incoming,
        Page::Status,
        Page::Fallback,
        Page::Language,
        Page::Menu,
        Page::Continue,
        Page::Queue,
        Page::Wait,
        Page::WaitKey,
        Page::Recorded,
        Page::Recording,
        Page::Answered,
        Page::Callback,
        Page::CallbackConfirm,
        Page::Operator,
        Page::OperatorId,
        Page::OperatorPin,
        Page::OperatorNext,
        Page::OperatorDialed,
        Page::OperatorCalledBack,
        Page::OperatorConnecting,
        Page::OperatorStatus,
        Page::OperatorRing,
        Page::OperatorRingTake,
        Page::OperatorRingStatus,
    ];

    /// The path served.
    pub const fn path(self) -> &'static str {
        match self {
            Page::Incoming => "/voice/incoming",
            Page::Status => "/voice/status",
            Page::Fallback => "/voice/fallback",
            Page::Language => "/voice/language",
            Page::Menu => "/voice/menu",
            Page::Continue => "/voice/continue",
            Page::Queue => "/voice/queue",
            Page::Wait => "/voice/wait",
            Page::WaitKey => "/voice/wait-key",
            Page::Recorded => "/voice/recorded",
            Page::Recording => "/voice/recording",
            Page::Answered => "/voice/answered",
            Page::Callback => "/voice/callback",
            Page::CallbackConfirm => "/voice/callback-confirm",
            Page::Operator => "/voice/operator",
            Page::OperatorId => "/voice/operator/id",
            Page::OperatorPin => "/voice/operator/pin",
            Page::OperatorNext => "/voice/operator/next",
            Page::OperatorDialed => "/voice/operator/dialed",
            Page::OperatorCalledBack => "/voice/operator/called-back",
            Page::OperatorConnecting => "/voice/operator/connecting",
            Page::OperatorStatus => "/voice/operator/status",
            Page::OperatorRing => "/voice/operator/ring",
            Page::OperatorRingTake => "/voice/operator/ring-take",
            Page::OperatorRingStatus => "/voice/operator/ring-status",
        }
    }

    /// The name logged for it: the path after `/voice/`.
    pub fn name(self) -> &'static str {
        &self.path()["/voice/".len()..]
    }

    /// The page served at `path`.
    #[cfg(test)]
    pub fn of_path(path: &str) -> Option<Page> {
        Page::ALL.into_iter().find(|page| page.path() == path)
    }

    /// Whether it is a step of the operator line (whose URLs carry no scripts' version).
    pub fn is_operator_line(self) -> bool {
        self.path().starts_with("/voice/operator")
    }
}

/// A step of a call in its script: the URL of each carries where the call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    /// The script's language.
    pub language: LanguageTag,
    /// The node.
    pub node: NodeId,
    /// The step number of the request the URL leads to.
    pub step: u32,
}

/// How an operator's dial of a queue came to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dial {
    /// A caller's own queue: their entry.
    Entry(i64),
    /// A shared queue while idle: the look's round, and when it started (Unix seconds).
    Shared {
        /// The count of looks so far.
        round: i64,
        /// When this look started.
        at: i64,
    },
}

/// A URL we write into TwiML, with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/voice/language?attempt=…&step=…`.
    Language {
        /// The menu's attempt.
        attempt: u32,
        /// The step number.
        step: u32,
    },
    /// `/voice/menu?lang=…&node=…&step=…&attempt=…`.
    Menu {
        /// Where.
        at: At,
        /// The menu's attempt.
        attempt: u32,
    },
    /// `/voice/continue?lang=…&node=…&step=…`.
    Continue(At),
    /// `/voice/queue?lang=…&node=…&step=…`.
    Queue(At),
    /// `/voice/wait?lang=…&node=…` (the wait document is no step of the call).
    Wait {
        /// The script's language.
        language: LanguageTag,
        /// The handoff node.
        node: NodeId,
    },
    /// `/voice/wait-key?lang=…&node=…`.
    WaitKey {
        /// The script's language.
        language: LanguageTag,
        /// The handoff node.
        node: NodeId,
    },
    /// `/voice/recorded?lang=…&node=…&step=…`.
    Recorded(At),
    /// `/voice/recording?lang=…&node=…&step=…`.
    Recording(At),
    /// `/voice/answered?lang=…&node=…&step=…`.
    Answered(At),
    /// `/voice/callback?lang=…&node=…&step=…&attempt=…`.
    Callback {
        /// Where.
        at: At,
        /// The entry's attempt.
        attempt: u32,
    },
    /// `/voice/callback-confirm?lang=…&node=…&step=…&attempt=…&n=…`.
    CallbackConfirm {
        /// Where.
        at: At,
        /// The read-back's attempt.
        attempt: u32,
        /// The number, sealed for this call.
        sealed: String,
    },
    /// `/voice/operator/id?try=…`.
    OperatorId {
        /// The identification's try.
        attempt: u32,
    },
    /// `/voice/operator/pin?try=…&op=…`.
    OperatorPin {
        /// The identification's try.
        attempt: u32,
        /// The operator ID typed.
        operator: String,
    },
    /// `/voice/operator/next?op=…&langs=…[&round=…]`.
    OperatorNext {
        /// The signed-in operator.
        operator: i64,
        /// Their languages.
        speaks: Vec<LanguageTag>,
        /// The look's round on shared queues, when idle.
        round: Option<i64>,
    },
    /// `/voice/operator/dialed?op=…&langs=…&(entry=…|round=…&at=…)`.
    OperatorDialed {
        /// The signed-in operator.
        operator: i64,
        /// Their languages.
        speaks: Vec<LanguageTag>,
        /// What was dialled.
        dial: Dial,
    },
    /// `/voice/operator/called-back?op=…&langs=…&fu=…`.
    OperatorCalledBack {
        /// The signed-in operator.
        operator: i64,
        /// Their languages.
        speaks: Vec<LanguageTag>,
        /// The follow-up called back.
        follow_up: i64,
    },
    /// `/voice/operator/connecting?lang=…[&entry=…]`.
    OperatorConnecting {
        /// The caller's language.
        language: LanguageTag,
        /// Their queue entry, when known.
        entry: Option<i64>,
    },
    /// `/voice/operator/ring?op=…&entry=…&try=…`: the answer URL of a ring (given in the
    /// request that creates the call, absolute).
    OperatorRing {
        /// The call-me operator rung.
        operator: i64,
        /// The queue entry claimed for them.
        entry: i64,
        /// How many times the answer was asked for (the ring's id may not be noted yet).
        attempt: u32,
    },
    /// `/voice/operator/ring-take?op=…&entry=…`.
    OperatorRingTake {
        /// The call-me operator rung.
        operator: i64,
        /// The queue entry claimed for them.
        entry: i64,
    },
    /// `/voice/operator/ring-status?op=…&entry=…`: the ring's status callback.
    OperatorRingStatus {
        /// The call-me operator rung.
        operator: i64,
        /// The queue entry claimed for them.
        entry: i64,
    },
}

/// At most this many languages travel in a URL.
const MAX_LANGUAGES: usize = 8;

impl Route {
    /// The page serving it.
    pub fn page(&self) -> Page {
        match self {
            Route::Language { .. } => Page::Language,
            Route::Menu { .. } => Page::Menu,
            Route::Continue(_) => Page::Continue,
            Route::Queue(_) => Page::Queue,
            Route::Wait { .. } => Page::Wait,
            Route::WaitKey { .. } => Page::WaitKey,
            Route::Recorded(_) => Page::Recorded,
            Route::Recording(_) => Page::Recording,
            Route::Answered(_) => Page::Answered,
            Route::Callback { .. } => Page::Callback,
            Route::CallbackConfirm { .. } => Page::CallbackConfirm,
            Route::OperatorId { .. } => Page::OperatorId,
            Route::OperatorPin { .. } => Page::OperatorPin,
            Route::OperatorNext { .. } => Page::OperatorNext,
            Route::OperatorDialed { .. } => Page::OperatorDialed,
            Route::OperatorCalledBack { .. } => Page::OperatorCalledBack,
            Route::OperatorConnecting { .. } => Page::OperatorConnecting,
            Route::OperatorRing { .. } => Page::OperatorRing,
            Route::OperatorRingTake { .. } => Page::OperatorRingTake,
            Route::OperatorRingStatus { .. } => Page::OperatorRingStatus,
        }
    }

    /// The URL, path and query. Language codes, node ids, sealed numbers and version keys
    /// are URL-safe by construction, so nothing needs escaping.
    pub fn url(&self) -> String {
        let mut url = String::with_capacity(96);
        url.push_str(self.page().path());
        let at = |url: &mut String, at: &At| {
            let _ = write!(url, "?lang={}&node={}&step={}", at.language, at.node, at.step);
        };
        let _ = match self {
            Route::Language { attempt, step } => write!(url, "?attempt={attempt}&step={step}"),
            Route::Menu { at: there, attempt } | Route::Callback { at: there, attempt } => {
                at(&mut url, there);
                write!(url, "&attempt={attempt}")
            }
            Route::Continue(there)
            | Route::Queue(there)
            | Route::Recorded(there)
            | Route::Recording(there)
            | Route::Answered(there) => {
                at(&mut url, there);
                Ok(())
            }
            Route::CallbackConfirm { at: there, attempt, sealed } => {
                at(&mut url, there);
                write!(url, "&attempt={attempt}&n={sealed}")
            }
            Route::Wait { language, node } | Route::WaitKey { language, node } => {
                write!(url, "?lang={language}&node={node}")
            }
            Route::OperatorId { attempt } => write!(url, "?try={attempt}"),
            Route::OperatorPin { attempt, operator } => {
                write!(url, "?try={attempt}&op={operator}")
            }
            Route::OperatorNext { operator, speaks, round } => {
                let _ = write!(url, "?op={operator}&langs={}", langs(speaks));
                match round {
                    Some(round) => write!(url, "&round={round}"),
                    None => Ok(()),
                }
            }
            Route::OperatorDialed { operator, speaks, dial } => {
                let _ = write!(url, "?op={operator}&langs={}", langs(speaks));
                match dial {
                    Dial::Entry(entry) => write!(url, "&entry={entry}"),
                    Dial::Shared { round, at } => write!(url, "&round={round}&at={at}"),
                }
            }
            Route::OperatorCalledBack { operator, speaks, follow_up } => {
                write!(url, "?op={operator}&langs={}&fu={follow_up}", langs(speaks))
            }
            Route::OperatorConnecting { language, entry } => {
                let _ = write!(url, "?lang={language}");
                match entry {
                    Some(entry) => write!(url, "&entry={entry}"),
                    None => Ok(()),
                }
            }
            Route::OperatorRing { operator, entry, attempt } => {
                write!(url, "?op={operator}&entry={entry}&try={attempt}")
            }
            Route::OperatorRingTake { operator, entry }
            | Route::OperatorRingStatus { operator, entry } => {
                write!(url, "?op={operator}&entry={entry}")
            }
        };
        url
    }

    /// The URL with the scripts' version key added last (`v=…`), so the call's next request
    /// is answered from the version it started on.
    pub fn pinned(&self, version: &str) -> String {
        let mut url = self.url();
        let joint = if url.contains('?') { '&' } else { '?' };
        let _ = write!(url, "{joint}v={version}");
        url
    }

    /// The route of a request to `path` with `query`'s parameters, read strictly; `None`
    /// when the path is not one we write or a parameter is missing or malformed.
    #[cfg(test)]
    pub fn parse(path: &str, query: &Query<'_>) -> Option<Route> {
        let at = || {
            Some(At {
                language: query.language()?,
                node: query.node()?,
                step: query.small("step")?,
            })
        };
        let operator_line = || Some((query.number("op")?, query.languages()));
        Some(match Page::of_path(path)? {
            Page::Incoming
            | Page::Status
            | Page::Fallback
            | Page::Operator
            | Page::OperatorStatus => return None,
            Page::Language => {
                Route::Language { attempt: query.small("attempt")?, step: query.small("step")? }
            }
            Page::Menu => Route::Menu { at: at()?, attempt: query.small("attempt")? },
            Page::Continue => Route::Continue(at()?),
            Page::Queue => Route::Queue(at()?),
            Page::Wait => Route::Wait { language: query.language()?, node: query.node()? },
            Page::WaitKey => Route::WaitKey { language: query.language()?, node: query.node()? },
            Page::Recorded => Route::Recorded(at()?),
            Page::Recording => Route::Recording(at()?),
            Page::Answered => Route::Answered(at()?),
            Page::Callback => Route::Callback { at: at()?, attempt: query.small("attempt")? },
            Page::CallbackConfirm => Route::CallbackConfirm {
                at: at()?,
                attempt: query.small("attempt")?,
                sealed: query.get("n")?.to_owned(),
            },
            Page::OperatorId => Route::OperatorId { attempt: query.small("try")? },
            Page::OperatorPin => Route::OperatorPin {
                attempt: query.small("try")?,
                operator: query.get("op")?.to_owned(),
            },
            Page::OperatorNext => {
                let (operator, speaks) = operator_line()?;
                Route::OperatorNext { operator, speaks, round: query.number("round") }
            }
            Page::OperatorDialed => {
                let (operator, speaks) = operator_line()?;
                let dial = match query.number("entry") {
                    Some(entry) => Dial::Entry(entry),
                    None => Dial::Shared { round: query.number("round")?, at: query.number("at")? },
                };
                Route::OperatorDialed { operator, speaks, dial }
            }
            Page::OperatorCalledBack => {
                let (operator, speaks) = operator_line()?;
                Route::OperatorCalledBack { operator, speaks, follow_up: query.number("fu")? }
            }
            Page::OperatorConnecting => Route::OperatorConnecting {
                language: query.language()?,
                entry: query.number("entry"),
            },
            Page::OperatorRing => Route::OperatorRing {
                operator: query.number("op")?,
                entry: query.number("entry")?,
                attempt: query.small("try")?,
            },
            Page::OperatorRingTake => Route::OperatorRingTake {
                operator: query.number("op")?,
                entry: query.number("entry")?,
            },
            Page::OperatorRingStatus => Route::OperatorRingStatus {
                operator: query.number("op")?,
                entry: query.number("entry")?,
            },
        })
    }
}

/// Our own parameters of a request's query, read one by one: every reader refuses what is
/// not ours (a number too long, a language code we would not write), never panics.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Query<'a> {
    /// The query of `pairs`.
    pub fn new(pairs: &'a [(String, String)]) -> Query<'a> {
        Query { pairs }
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `lang`.
    pub fn language(&self) -> Option<LanguageTag> {
        self.get("lang").and_then(LanguageTag::parse)
    }

    /// `node`.
    pub fn node(&self) -> Option<NodeId> {
        self.get("node").and_then(NodeId::parse)
    }

    /// A step number or attempt: small, digits only.
    pub fn small(&self, name: &str) -> Option<u32> {
        let s = self.get(name)?;
        if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }

    /// An id or a count of the operator line: up to 15 digits.
    pub fn number(&self, name: &str) -> Option<i64> {
        let s = self.get(name)?;
        if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }

    /// `langs`: the operator's languages, `ru,uk`.
    pub fn languages(&self) -> Vec<LanguageTag> {
        self.get("langs")
            .unwrap_or_default()
            .split(',')
            .take(MAX_LANGUAGES)
            .filter_map(LanguageTag::parse)
            .collect()
    }
}

fn langs(speaks: &[LanguageTag]) -> String {
    speaks.iter().map(LanguageTag::as_str).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One route of each page, every optional parameter present and absent.
    fn every_route() -> Vec<Route> {
        let language = LanguageTag::parse("ru").unwrap();
        let node = NodeId::parse("main").unwrap();
        let at = At { language: language.clone(), node: node.clone(), step: 7 };
        let speaks = vec![language.clone(), LanguageTag::parse("uk").unwrap()];
        let mut routes = Vec::new();
        for page in Page::ALL {
            // A page added without a route here fails to compile.
            let of_page = match page {
                // Configured at the provider: never written, so no route.
                Page::Incoming
                | Page::Status
                | Page::Fallback
                | Page::Operator
                | Page::OperatorStatus => vec![],
                Page::Language => vec![Route::Language { attempt: 2, step: 3 }],
                Page::Menu => vec![Route::Menu { at: at.clone(), attempt: 1 }],
                Page::Continue => vec![Route::Continue(at.clone())],
                Page::Queue => vec![Route::Queue(at.clone())],
                Page::Wait => vec![Route::Wait { language: language.clone(), node: node.clone() }],
                Page::WaitKey => {
                    vec![Route::WaitKey { language: language.clone(), node: node.clone() }]
                }
                Page::Recorded => vec![Route::Recorded(at.clone())],
                Page::Recording => vec![Route::Recording(at.clone())],
                Page::Answered => vec![Route::Answered(at.clone())],
                Page::Callback => vec![Route::Callback { at: at.clone(), attempt: 2 }],
                Page::CallbackConfirm => vec![Route::CallbackConfirm {
                    at: at.clone(),
                    attempt: 3,
                    sealed: "s3al-ed_".into(),
                }],
                Page::OperatorId => vec![Route::OperatorId { attempt: 2 }],
                Page::OperatorPin => {
                    vec![Route::OperatorPin { attempt: 1, operator: "0042".into() }]
                }
                Page::OperatorNext => vec![
                    Route::OperatorNext { operator: 5, speaks: speaks.clone(), round: None },
                    Route::OperatorNext { operator: 5, speaks: speaks.clone(), round: Some(3) },
                ],
                Page::OperatorDialed => vec![
                    Route::OperatorDialed {
                        operator: 5,
                        speaks: speaks.clone(),
                        dial: Dial::Entry(9),
                    },
                    Route::OperatorDialed {
                        operator: 5,
                        speaks: speaks.clone(),
                        dial: Dial::Shared { round: 1, at: 1_790_000_000 },
                    },
                ],
                Page::OperatorCalledBack => vec![Route::OperatorCalledBack {
                    operator: 5,
                    speaks: speaks.clone(),
                    follow_up: 12,
                }],
                Page::OperatorConnecting => vec![
                    Route::OperatorConnecting { language: language.clone(), entry: None },
                    Route::OperatorConnecting { language: language.clone(), entry: Some(9) },
                ],
                Page::OperatorRing => {
                    vec![Route::OperatorRing { operator: 5, entry: 9, attempt: 2 }]
                }
                Page::OperatorRingTake => vec![Route::OperatorRingTake { operator: 5, entry: 9 }],
                Page::OperatorRingStatus => {
                    vec![Route::OperatorRingStatus { operator: 5, entry: 9 }]
                }
            };
            routes.extend(of_page);
        }
        routes
    }

    fn parse_url(url: &str) -> Option<Route> {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Route::parse(path, &Query::new(&pairs))
    }

    #[tokio::test]
    async fn every_route_is_served_by_its_own_handler_and_parses_back() {
        use axum::body::Body;
        use axum::http::Request;
        use tower::ServiceExt;

        use super::super::{Target, routes};

        // The router of the surface, each handler answering with what it serves.
        let router: axum::Router = routes(|target: Target| {
            axum::routing::post(move || async move { format!("{target:?}") })
        });
        let served = |path: String| {
            let router = router.clone();
            async move {
                let request = Request::post(path.as_str()).body(Body::empty()).unwrap();
                let response = router.oneshot(request).await.unwrap();
                axum::body::to_bytes(response.into_body(), 1024).await.unwrap()
            }
        };
        for page in Page::ALL {
            let body = served(page.path().to_owned()).await;
            assert_eq!(body, format!("{:?}", Target::Page(page)), "{}", page.path());
            assert_eq!(Page::of_path(page.path()), Some(page));
        }
        for route in every_route() {
            for url in [route.url(), route.pinned("d42")] {
                let request = Request::post(url.as_str()).body(Body::empty()).unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
                assert_eq!(body, format!("{:?}", Target::Page(route.page())), "{url}");
                assert_eq!(parse_url(&url), Some(route.clone()), "{url}");
            }
        }
    }

    #[test]
    fn urls_keep_the_shape_calls_in_progress_hold() {
        let language = LanguageTag::parse("ru").unwrap();
        let node = NodeId::parse("main").unwrap();
        let at = At { language: language.clone(), node: node.clone(), step: 3 };
        let cases = [
            (
                Route::Language { attempt: 1, step: 2 }.pinned("4"),
                "/voice/language?attempt=1&step=2&v=4",
            ),
            (
                Route::Menu { at: at.clone(), attempt: 1 }.pinned("4"),
                "/voice/menu?lang=ru&node=main&step=3&attempt=1&v=4",
            ),
            (
                Route::CallbackConfirm { at, attempt: 2, sealed: "x".into() }.pinned("4"),
                "/voice/callback-confirm?lang=ru&node=main&step=3&attempt=2&n=x&v=4",
            ),
            (
                Route::WaitKey { language, node }.pinned("42"),
                "/voice/wait-key?lang=ru&node=main&v=42",
            ),
            (
                Route::OperatorDialed {
                    operator: 5,
                    speaks: vec![LanguageTag::parse("en").unwrap()],
                    dial: Dial::Shared { round: 1, at: 10 },
                }
                .url(),
                "/voice/operator/dialed?op=5&langs=en&round=1&at=10",
            ),
        ];
        for (built, expected) in cases {
            assert_eq!(built, expected);
        }
    }
}
