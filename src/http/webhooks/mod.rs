//! The telephony provider's surface: `POST /voice/*` in, TwiML out.
//!
//! Three URLs are configured at the provider: `/voice/incoming` (the voice URL),
//! `/voice/status` (the status callback) and `/voice/fallback` (the fallback URL). Every other
//! `/voice/…` URL is one we put in our own TwiML ([`answer`]). Every URL is a [`Route`]: it
//! builds the URLs written into documents, and each path is served by its own `.route`
//! ([`routes`]). Those of the follow-up list (keys pressed while waiting, the callback
//! number, the recording status callback) are in `followup.rs`. Calls refused at
//! `/voice/incoming` are answered like any other until they would reach a person
//! (`refused.rs`), so a spoofed caller ID learns nothing from them. The operator line is a
//! second number whose voice URL is `/voice/operator` and status callback
//! `/voice/operator/status` (`operator.rs`); the calls that ring call-me operators carry
//! their own URLs ([`ring_urls`]).
//!
//! A handler keeps only HTTP: it reads the provider's form once (the caller's number hashed
//! there, `request.rs`), asks the use cases of `crate::app` (`calls.rs`, `operator_line.rs`)
//! and renders their answer as TwiML.
//!
//! The rule of this module: **a call never drops because of us**. Every request that carries a
//! valid signature gets `200` and a valid TwiML document, whatever is wrong with it or behind
//! it: unreadable input, an unknown node, a database that is down or slow (records go to the
//! journal), even a panic. Only a forged or unsigned request is refused, with `403`, and it
//! leaves no trace but a security log line.

mod answer;
mod followup;
mod operator;
mod refused;
mod request;
mod route;
mod voice;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};

pub use refused::RefusedCalls;
pub use request::{CallParams, Digits, MAX_DIGITS, Position, ProviderRequest};
use route::{Page, Route};

use crate::app::App;
use crate::app::operator_reach::RingUrls;
use crate::app::scripts::live::LiveScripts;
use crate::config::Provider;
use crate::domain::secret::Secret;
use crate::http::limits::CallsInProgress;
use crate::scripts::ScriptSet;
use crate::signature::telnyx::PublicKey;
use crate::signature::{Refusal, Signer};
use crate::twiml;

/// What the webhooks need, shared by every request: the hotline, and the settings of its
/// HTTP side.
pub struct Webhooks {
    /// The hotline.
    app: App,
    /// The provider's auth token (SignalWire's Signing Key), the key of Twilio's and
    /// SignalWire's request signatures.
    auth_token: Secret,
    /// Who signs the requests.
    provider: Provider,
    /// Telnyx's public key, when it is the provider; `None` refuses every request then (the
    /// configuration refuses to start without a usable key, so only when checks are off).
    telnyx_key: Option<PublicKey>,
    /// Whether signatures are checked (always, outside local experiments).
    verify_signatures: bool,
    /// The base URL the provider calls, without a trailing slash.
    public_url: String,
    /// Largest request body accepted.
    max_body_bytes: usize,
    /// Time after which a webhook answers from memory.
    deadline: Duration,
    /// Each caller's calls in progress, against floods from one number.
    calls_in_progress: CallsInProgress,
    /// Calls refused at `/voice/incoming` that hear the menus until they would reach a
    /// person (see `refused.rs`).
    refused: RefusedCalls,
}

impl Webhooks {
    /// The webhooks of `app`, whose requests are signed with `auth_token` and sent to
    /// `public_url` (without a trailing slash); the other settings are `app`'s
    /// configuration.
    pub fn new(app: App, auth_token: Secret, public_url: String) -> Webhooks {
        let config = app.config();
        let calls_per_caller = usize::try_from(config.webhooks.calls_per_caller);
        Webhooks {
            auth_token,
            provider: config.webhooks.provider,
            telnyx_key: PublicKey::from_base64(&config.webhooks.telnyx_public_key).ok(),
            verify_signatures: config.webhooks.verify_signatures,
            public_url,
            max_body_bytes: config.webhooks.max_body_bytes,
            deadline: config.webhook_deadline(),
            calls_in_progress: CallsInProgress::new(calls_per_caller.unwrap_or(usize::MAX)),
            refused: RefusedCalls::default(),
            app,
        }
    }

    fn live(&self) -> &LiveScripts {
        self.app.live()
    }

    /// Whether `req` is signed by the configured provider: `Ok` or why not.
    fn check_signature(&self, req: &ProviderRequest) -> Result<(), Refusal> {
        let key = self.auth_token.expose().as_bytes();
        let signer = match self.provider {
            Provider::Twilio => Signer::Twilio { auth_token: key },
            Provider::SignalWire => Signer::SignalWire { signing_key: key },
            Provider::Telnyx => Signer::Telnyx {
                public_key: self.telnyx_key.as_ref().ok_or(Refusal::Missing)?,
                now: self.app.now().timestamp(),
            },
        };
        req.check_signature(&signer)
    }
}

/// One request as it is answered: the shared settings, the scripts of the version its call is
/// on (for a new call the live version, or the draft for a test caller) and that version's
/// key, which every URL of ours in the answer carries (`v=`, see `answer.rs`), and the
/// provider's parameters, parsed once.
pub(super) struct Answering<'a> {
    /// The settings shared by every request.
    pub(super) hooks: &'a Webhooks,
    /// The version of the scripts this request is answered from.
    pub(super) scripts: &'a ScriptSet,
    /// That version's key, for the `v=` of our URLs.
    pub(super) version: &'a str,
    /// The call's parameters, its caller hashed.
    pub(super) call: CallParams,
    /// Where the call is in its script, from our own query parameters.
    pub(super) position: Position,
    /// The keys the caller pressed.
    pub(super) digits: Digits,
}

impl Answering<'_> {
    /// The hotline.
    pub(super) fn app(&self) -> &App {
        &self.hooks.app
    }
}

/// What a request reaches: one of our pages, or a path under `/voice/` that is not ours
/// (answered with safe TwiML all the same, once its signature is checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    /// A page of ours.
    Page(Page),
    /// An unknown `/voice/…` URL: an apology and the operators.
    Unknown,
    /// An unknown `/voice/operator/…` URL: the operator line asks to sign in again.
    UnknownOperatorStep,
}

/// One `.route` per page, each to the handler `serve` gives its target.
pub(super) fn routes<S: Clone + Send + Sync + 'static>(
    serve: impl Fn(Target) -> MethodRouter<S>,
) -> Router<S> {
    Page::ALL
        .into_iter()
        .fold(Router::new(), |router, page| router.route(page.path(), serve(Target::Page(page))))
        .route("/voice/{unknown}", serve(Target::Unknown))
        .route("/voice/operator/{unknown}", serve(Target::UnknownOperatorStep))
}

/// The URLs of the calls that ring call-me operators, under `public_url` (without a trailing
/// slash): given to the provider in the request that creates each call.
pub fn ring_urls(public_url: &str) -> RingUrls {
    let (answer_base, status_base) = (public_url.to_owned(), public_url.to_owned());
    RingUrls {
        answer: Box::new(move |operator, entry| {
            format!("{answer_base}{}", Route::OperatorRing { operator, entry, attempt: 1 }.url())
        }),
        status: Box::new(move |operator, entry| {
            format!("{status_base}{}", Route::OperatorRingStatus { operator, entry }.url())
        }),
    }
}

/// The routes of the provider's surface.
pub fn router(webhooks: Arc<Webhooks>) -> Router {
    let start = webhooks.live().live();
    let fallback = emergency_document(&start.set, &start.key);
    let live = Arc::clone(webhooks.app.live());
    routes(|target| {
        post(move |State(webhooks): State<Arc<Webhooks>>, request: Request<Body>| {
            voice::handle(webhooks, target, request)
        })
    })
    .with_state(webhooks)
    // A panic in a handler is a bug, but the caller must not pay for it: they get the
    // emergency document (apology, operator queue) instead of an error.
    .layer(tower_http::catch_panic::CatchPanicLayer::custom(move |_| {
        tracing::error!("a webhook panicked; the caller was sent to an operator");
        twiml_response(current_emergency(&live, &fallback))
    }))
}

/// The emergency document of the live version, so that its apology and operator queue are
/// the ones published since the start. Rendering a validated version cannot fail, but this
/// runs because something already panicked: should rendering panic too, the document
/// rendered at start (whose queue still reaches operators) answers instead.
fn current_emergency(live: &LiveScripts, fallback: &str) -> String {
    let pinned = live.live();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        emergency_document(&pinned.set, &pinned.key)
    }))
    .unwrap_or_else(|_| fallback.to_owned())
}

/// A TwiML answer.
pub fn twiml_response(document: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, twiml::CONTENT_TYPE)], document).into_response()
}

/// The document of last resort, from the default language's apology and operator node, its
/// URLs pinned to `version`.
fn emergency_document(scripts: &ScriptSet, version: &str) -> String {
    let script = scripts.default_script();
    let turn = crate::ivr::to_operator(script, "emergency".into());
    answer::render(&turn, voice::EMERGENCY_STEP, version).render()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::app::scripts::live::Pinned;
    use crate::scripts::{Prompt, PromptItem};

    #[test]
    fn the_emergency_document_follows_the_live_version() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let first = crate::scripts::load_dir(&dir).unwrap().set;
        let mut second = first.clone();
        let default = second.entry.default.clone();
        second.scripts.get_mut(&default).unwrap().apology =
            Prompt { items: vec![PromptItem::Say("A newer apology.".into())], text: None };
        let fallback = emergency_document(&first, "1");
        let live = LiveScripts::new(Pinned { key: "1".into(), set: Arc::new(first) });
        assert_eq!(current_emergency(&live, &fallback), fallback);
        live.swap(Pinned { key: "2".into(), set: Arc::new(second) });
        let now = current_emergency(&live, &fallback);
        assert!(now.contains("A newer apology.") && now.contains("<Enqueue"), "{now}");
    }
}
