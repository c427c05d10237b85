//! The telephony provider's surface: `POST /voice/*` in, TwiML out.
//!
//! Three URLs are configured at the provider: `/voice/incoming` (the voice URL),
//! `/voice/status` (the status callback) and `/voice/fallback` (the fallback URL). Every other
//! `/voice/…` URL is one we put in our own TwiML ([`answer`]); those of the follow-up list
//! (keys pressed while waiting, the callback number, the recording status callback) are in
//! `followup.rs`. Calls refused at `/voice/incoming` are answered like any other until they
//! would reach a person (`refused.rs`), so a spoofed caller ID learns nothing from them. The
//! operator line is a second
//! number whose voice URL is `/voice/operator` and status callback `/voice/operator/status`
//! (`operator.rs`).
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
mod voice;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

pub use refused::RefusedCalls;
pub use request::{CallParams, Digits, MAX_DIGITS, Position, ProviderRequest, RequestError};

use crate::domain::secret::{CallerHasher, Secret};
use crate::scripts::ScriptSet;
use crate::storage::{Recorder, Storage};
use crate::twiml;

/// What the webhooks need, shared by every request. Each request sees it through
/// [`PinnedWebhooks`], with the scripts of the version its call is on.
#[derive(Clone)]
pub struct Webhooks {
    /// The hotline.
    pub app: crate::app::App,
    /// The live scripts and the versions calls in progress are on; each request takes its
    /// `scripts` from here.
    pub live: Arc<crate::app::scripts::live::LiveScripts>,
    /// Where records go (the database, or the journal while it is unavailable).
    pub recorder: Recorder,
    /// For the few reads a webhook makes (the fallback's language lookup).
    pub storage: Storage,
    /// Hashes callers' numbers.
    pub hasher: CallerHasher,
    /// The provider's auth token, the key of request signatures.
    pub auth_token: Secret,
    /// Whether signatures are checked (always, outside local experiments).
    pub verify_signatures: bool,
    /// The base URL the provider calls, without a trailing slash.
    pub public_url: String,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
    /// Time after which a webhook answers from memory.
    pub deadline: Duration,
    /// Routing, waits and wrap-up of the operators' queues.
    pub queues: crate::app::queues::Queues,
    /// What a caller on the blocklist gets at `/voice/incoming`.
    pub blocked_answer: crate::config::BlockAnswer,
    /// Seals callback numbers the moment they are typed (and opens them for the operator
    /// line's callbacks).
    pub callbacks: crate::domain::followups::Sealer,
    /// `[followups]`: attempts and retries of callbacks made from the operator line.
    pub followups: crate::config::FollowupsConfig,
    /// Each caller's calls in progress, against floods from one number. Shared by every
    /// request's copy of these settings.
    pub calls_in_progress: Arc<crate::http::limits::CallsInProgress>,
    /// What a call over its caller's limit gets.
    pub over_limit_answer: crate::config::OverLimitAnswer,
    /// Calls refused at `/voice/incoming` that hear the menus until they would reach a
    /// person (see `refused.rs`).
    pub refused: Arc<RefusedCalls>,
    /// When wrong PINs on the operator line lock an ID or a calling number.
    pub pin_policy: crate::domain::lockout::PinPolicy,
    /// Checks the operator line's PINs, a bounded number at once (shared with the console).
    pub hashers: Arc<crate::app::hashers::Hashers>,
}

/// The settings as one request sees them: the scripts of the version its call is on (for a
/// new call the live version, or the draft for a test caller) and that version's key, which
/// every URL of ours in the answer carries (`v=`, see `answer.rs`). Borrowed for the
/// request, so answering one copies none of the settings.
///
/// Its `scripts` field shadows [`Webhooks::scripts`]; every other setting is the shared one,
/// reached through `Deref`.
pub(super) struct PinnedWebhooks<'a> {
    /// The settings shared by every request.
    shared: &'a Webhooks,
    /// The version of the scripts this request is answered from.
    pub(super) scripts: &'a ScriptSet,
    /// That version's key, for the `v=` of our URLs.
    pub(super) version: &'a str,
}

impl std::ops::Deref for PinnedWebhooks<'_> {
    type Target = Webhooks;

    fn deref(&self) -> &Webhooks {
        self.shared
    }
}

/// The routes of the provider's surface.
pub fn router(webhooks: Arc<Webhooks>) -> Router {
    let start = webhooks.live.live();
    let fallback = emergency_document(&start.set, &start.key);
    let live = Arc::clone(&webhooks.live);
    Router::new()
        .route("/voice/{route}", post(voice::handle))
        .route("/voice/operator/{action}", post(operator::handle))
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
fn current_emergency(live: &crate::app::scripts::live::LiveScripts, fallback: &str) -> String {
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
    use crate::app::scripts::live::{LiveScripts, Pinned};
    use crate::scripts::{Prompt, PromptItem};

    #[test]
    fn the_emergency_document_follows_the_live_version() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let first = crate::scripts::load_dir(&dir).unwrap().set;
        let mut second = first.clone();
        let default = second.entry.default.clone();
        second.scripts.get_mut(&default).unwrap().apology =
            Prompt { items: vec![PromptItem::Say("A newer apology.".into())] };
        let fallback = emergency_document(&first, "1");
        let live = LiveScripts::new(Pinned { key: "1".into(), set: Arc::new(first) });
        assert_eq!(current_emergency(&live, &fallback), fallback);
        live.swap(Pinned { key: "2".into(), set: Arc::new(second) });
        let now = current_emergency(&live, &fallback);
        assert!(now.contains("A newer apology.") && now.contains("<Enqueue"), "{now}");
    }
}
