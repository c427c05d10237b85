//! The handler behind every `/voice/…` URL: read, authenticate, decide, record, answer.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tracing::Instrument;

use super::request::{Digits, ProviderRequest};
use super::{PinnedWebhooks, Webhooks, answer, twiml_response};
use crate::config::{BlockAnswer, OverLimitAnswer};
use crate::domain::cases::{CallSid, CallStatus, Event, Record};
use crate::ivr::{self, Input, Turn};
use crate::scripts::{LanguageTag, NodeId, Script};
use crate::storage::Durability;
use crate::twiml::{self, Speech, WaitDocument, WaitVerb};

/// The step recorded when a request's step is unknown (a hand-made or damaged URL). Steps of
/// real calls count up from 0 and never come near it.
pub const EMERGENCY_STEP: u32 = 2_000_000_000;

/// The fallback URL records its events at the failed request's step plus this, so they never
/// collide with events the failed request may have recorded after all.
const FALLBACK_STEP_OFFSET: u32 = 1_000_000_000;

/// What a route decided: the document, and what to record.
pub(super) struct Reply {
    /// The TwiML answer.
    pub(super) document: String,
    /// What to record, after answering if the deadline requires.
    pub(super) records: Vec<Record>,
}

/// `POST /voice/{route}`.
pub async fn handle(
    State(webhooks): State<Arc<Webhooks>>,
    Path(route): Path<String>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let w = &*webhooks;
    let req = match ProviderRequest::read(request, &w.public_url, w.max_body_bytes, w.deadline)
        .await
    {
        Ok(req) => req,
        Err(e) => {
            tracing::warn!(route = %route, error = %e, "unreadable webhook request; answered safe TwiML");
            // Nothing says which version the call is on: the live one answers.
            let live = w.live.live();
            let w = &PinnedWebhooks { shared: w, scripts: &live.set, version: &live.key };
            let mut response = twiml_response(safe(w, None, "unreadable request").document);
            // The provider never sends these: they count against the sender's address like
            // a forged signature, but before any check, so they are answered as safely.
            response.extensions_mut().insert(crate::http::limits::CountedRefusal);
            return response;
        }
    };
    if w.verify_signatures && !req.is_signed_by(w.auth_token.expose()) {
        tracing::warn!(
            target: "hotline::security",
            route = %route,
            signature_present = req.signature.is_some(),
            "refused a webhook request with a missing or wrong signature"
        );
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    // The scripts this request is answered from: for a new call the live version (the draft
    // for a test caller), for a call in progress the version it started on (`v` in our URLs).
    // Reading that version again from the database (after a restart) may take half of what
    // is left of the deadline; the other half is for recording.
    let pinned = if route == "incoming" {
        let caller = req.call().from.as_deref().and_then(|from| w.hasher.hash(from));
        w.live.for_new_call(caller.as_ref())
    } else {
        let within = w.deadline.saturating_sub(started.elapsed()) / 2;
        w.live.for_call(req.query("v"), within).await
    };
    let w = &PinnedWebhooks { shared: w, scripts: &pinned.set, version: &pinned.key };
    let call = req.call();
    let sid = call.call_sid.as_ref().map_or("-", |sid| sid.as_str()).to_owned();
    let span = tracing::info_span!("webhook", route = %route, call_sid = %sid);
    async move {
        let mut reply = decide(w, &route, &req).await;
        if route == "incoming" {
            reply = screen_blocked(w, &req, reply).await;
            reply = limit_calls(w, &req, reply);
        }
        if route == "status" {
            note_ended(w, &req);
            reply.records.extend(leave_queue_at_end(w, &req).await);
        }
        let remaining = w.deadline.saturating_sub(started.elapsed());
        // Records are written by their own task: if the deadline passes, the caller gets their
        // answer and the write still completes (or is journaled) behind it. The records of
        // one answer (a call's start and its first step) go to the database together, so the
        // caller waits for one commit, not one per record.
        let recorder = w.recorder.clone();
        let records = reply.records;
        let writing = tokio::spawn(async move { recorder.record_all(records).await });
        match tokio::time::timeout(remaining, writing).await {
            Ok(Ok(Durability::Stored)) => {}
            Ok(Ok(durability)) => tracing::warn!(?durability, "records not stored in the database"),
            Ok(Err(e)) => tracing::error!(error = %e, "recording task failed"),
            Err(_) => tracing::error!("webhook deadline passed while recording; answered anyway"),
        }
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "answered");
        twiml_response(reply.document)
    }
    .instrument(span)
    .await
}

/// Decides the answer to a request and what to record. Pure apart from reading the clock.
async fn decide(w: &PinnedWebhooks<'_>, route: &str, req: &ProviderRequest) -> Reply {
    let call = req.call();
    let position = req.position();
    let step = position.step.unwrap_or(EMERGENCY_STEP);
    let script = position.language.as_ref().and_then(|language| w.scripts.script(language));
    let now = Utc::now();

    // The queue entry a caller's departure closes, recorded with the step's events.
    let mut departure = None;
    let turn = match route {
        "incoming" => {
            let turn = ivr::start(w.scripts, call.from_country.as_deref());
            let mut reply = reply(w.version, turn, &call.call_sid, 0, 1);
            if let Some(call_sid) = call.call_sid.clone() {
                let caller = call.from.as_deref().and_then(|from| w.hasher.hash(from));
                let started =
                    Record::CallStarted { call_sid, at: now, caller, country: call.from_country };
                reply.records.insert(0, started);
            }
            return reply;
        }
        "status" => return status(req),
        "wait" => return wait(w, req, script).await,
        "operator" => return super::operator::answer(w, "", req).await,
        operator if operator.starts_with("operator/") => {
            return super::operator::answer(w, &operator["operator/".len()..], req).await;
        }
        "fallback" => return fallback(w, req).await,
        "language" => {
            let attempt = position.attempt.unwrap_or(1);
            with_input(req, |input| ivr::language_input(w.scripts, attempt, input))
        }
        "wait-key" => {
            let script = script.unwrap_or_else(|| w.scripts.default_script());
            let node = position.node.clone().unwrap_or_else(|| script.operator.clone());
            if let Some(leave) = super::followup::wait_key(w, req, script, &node).await {
                return leave;
            }
            return wait(w, req, Some(script)).await;
        }
        "recording" => return super::followup::recording_status(req),
        "menu" | "continue" | "queue" | "recorded" | "callback" | "callback-confirm" => {
            let (Some(script), Some(node)) = (script, position.node.as_ref()) else {
                return safe(w, script, &format!("{route} without a known language and node"))
                    .for_call(&call.call_sid, step);
            };
            match route {
                "menu" => {
                    let attempt = position.attempt.unwrap_or(1);
                    with_input(req, |input| {
                        ivr::menu_input(w.scripts, script, node, attempt, input)
                    })
                }
                "continue" => ivr::enter(script, node),
                "queue" => {
                    let (turn, left) = queue_left(w, script, node, req).await;
                    departure = left;
                    turn
                }
                "callback" => super::followup::number_entered(w, req, script, node),
                "callback-confirm" => {
                    let next = if step == EMERGENCY_STEP { EMERGENCY_STEP } else { step + 1 };
                    return super::followup::confirmed(w, req, script, node, step, next);
                }
                _ => recorded(script, node, req),
            }
        }
        _ => {
            return safe(w, script, "unknown webhook route").for_call(&call.call_sid, step);
        }
    };
    let turn = end_if_refused(w, req, turn).await;
    let turn = handoff(w, turn, call.call_sid.as_ref(), step).await;
    let next = if step == EMERGENCY_STEP { EMERGENCY_STEP } else { step + 1 };
    let mut reply = reply(w.version, turn, &call.call_sid, step, next);
    reply.records.extend(departure);
    reply
}

/// A turn that hands the caller off is routed and queued by the server ([`crate::domain::queue`]).
async fn handoff(
    w: &PinnedWebhooks<'_>,
    turn: Turn,
    call_sid: Option<&CallSid>,
    step: u32,
) -> Turn {
    let ivr::Then::Enqueue { language, .. } = &turn.then else { return turn };
    let Some(script) = w.scripts.script(language) else { return turn };
    crate::app::queues::place(&w.storage, &w.recorder, &w.queues, script, call_sid, step, turn)
        .await
}

/// `/voice/incoming` for a caller on the blocklist. The answer is the `normal` one either
/// way, so that a call made with a blocked number as its caller ID cannot tell the number is
/// blocked (see `refused.rs`). With `answer = "message"` the call is refused: it hears the
/// menus and is told goodbye where it would reach a person ([`end_if_refused`]); with
/// `"flag"` it goes on as usual. Either way the case records [`Event::Blocked`]. A blocklist
/// that cannot be read in time counts as no block: a caller is never dropped for our failure.
async fn screen_blocked(w: &PinnedWebhooks<'_>, req: &ProviderRequest, normal: Reply) -> Reply {
    let call = req.call();
    let caller = call.from.as_deref().and_then(|from| w.hasher.hash(from));
    if !w.app.caller_is_blocked(caller.as_ref()).await {
        return normal;
    }
    let refused = w.blocked_answer == BlockAnswer::Message;
    if refused && let Some(call_sid) = &call.call_sid {
        w.refused.refuse(call_sid);
    }
    tracing::info!(refused, "blocked caller: answered as any caller");
    let mut screened = normal;
    note_at_start(&mut screened, call.call_sid, Event::Blocked { refused });
    screened
}

/// `/voice/incoming` for a caller who already has their limit of calls in progress
/// (`webhooks.calls_per_caller`), recorded as rejected. With `over_limit_answer = "message"`
/// the answer is the `normal` one, so that a call made with someone's number as its caller ID
/// cannot tell that they are on the line now (see `refused.rs`): the call hears the menus and
/// is told goodbye where it would reach a person ([`end_if_refused`]). With `"hangup"` it is
/// hung up on at once, which a prober can tell by design. A withheld number is not limited:
/// it is no one caller.
fn limit_calls(w: &PinnedWebhooks<'_>, req: &ProviderRequest, normal: Reply) -> Reply {
    let call = req.call();
    let caller = call.from.as_deref().and_then(|from| w.hasher.hash(from));
    let (Some(call_sid), Some(caller)) = (call.call_sid.as_ref(), caller) else { return normal };
    if w.calls_in_progress.admit(&caller, call_sid) {
        return normal;
    }
    tracing::warn!(
        target: "hotline::security",
        "refused a call: its caller has their limit of calls in progress"
    );
    let rejected =
        Event::Rejected { reason: "the caller has their limit of calls in progress".into() };
    if w.over_limit_answer == OverLimitAnswer::Hangup {
        let turn = Turn { speech: Vec::new(), then: ivr::Then::Hangup, events: vec![rejected] };
        let mut refused = reply(w.version, turn, &call.call_sid, 0, 1);
        let started =
            normal.records.into_iter().filter(|r| matches!(r, Record::CallStarted { .. }));
        refused.records.splice(0..0, started);
        return refused;
    }
    w.refused.refuse(call_sid);
    let mut screened = normal;
    note_at_start(&mut screened, call.call_sid, rejected);
    screened
}

/// Puts `event` first among the events of the call's first step (0) in `reply`.
fn note_at_start(reply: &mut Reply, call_sid: Option<CallSid>, event: Event) {
    let step = reply.records.iter_mut().find_map(|record| match record {
        Record::Step { step: 0, events, .. } => Some(events),
        _ => None,
    });
    match (step, call_sid) {
        (Some(events), _) => events.insert(0, event),
        (None, Some(call_sid)) => reply.records.push(Record::Step {
            call_sid,
            step: 0,
            at: Utc::now(),
            events: vec![event],
        }),
        (None, None) => {}
    }
}

/// A turn of a refused call (see `refused.rs`) that would reach a person, that is the
/// operators' queue, a voicemail or a callback request, becomes the goodbye of its language:
/// the polite end of the menus any caller can hear. Any other turn goes on as it is.
///
/// A call not remembered as refused (the server restarted, or another instance answered its
/// start) whose caller is on the blocklist is refused here all the same, so that a blocked
/// caller never reaches a person; that costs one blocklist lookup per handoff, voicemail or
/// callback request.
async fn end_if_refused(w: &PinnedWebhooks<'_>, req: &ProviderRequest, turn: Turn) -> Turn {
    let (language, instead) = match &turn.then {
        ivr::Then::Enqueue { language, .. } => (language, "the operators' queue"),
        ivr::Then::Record { language, .. } => (language, "a voicemail"),
        ivr::Then::CallbackNumber { language, .. }
        | ivr::Then::ConfirmCallback { language, .. } => (language, "a callback request"),
        _ => return turn,
    };
    let call = req.call();
    let Some(call_sid) = call.call_sid.as_ref() else { return turn };
    let mut events = Vec::new();
    if !w.refused.is_refused(call_sid) {
        if w.blocked_answer != BlockAnswer::Message {
            return turn;
        }
        let caller = call.from.as_deref().and_then(|from| w.hasher.hash(from));
        if !w.app.caller_is_blocked(caller.as_ref()).await {
            return turn;
        }
        events.push(Event::Blocked { refused: true });
    }
    tracing::info!(instead, "a refused call was told goodbye instead of reaching a person");
    // What the caller did still counts; the prompts and handoff of the turn were not heard.
    events.extend(
        turn.events
            .into_iter()
            .filter(|event| !matches!(event, Event::Entered { .. } | Event::HandedOff { .. })),
    );
    events.push(Event::Rejected {
        reason: format!("refused call: told goodbye instead of {instead}"),
    });
    let script = w.scripts.script(language).unwrap_or_else(|| w.scripts.default_script());
    let mut end = [script, w.scripts.default_script()]
        .into_iter()
        .find_map(|script| {
            crate::app::casework::blocked_goodbye(script).map(|node| ivr::enter(script, node))
        })
        .unwrap_or(Turn { speech: Vec::new(), then: ivr::Then::Hangup, events: Vec::new() });
    events.append(&mut end.events);
    end.events = events;
    end
}

/// A final status callback ends the call's place in its caller's limit, and forgets its
/// refusal.
fn note_ended(w: &PinnedWebhooks<'_>, req: &ProviderRequest) {
    let call = req.call();
    if let (Some(call_sid), Some(status)) = (call.call_sid, call.status)
        && status.is_final()
    {
        w.calls_in_progress.ended(&call_sid);
        w.refused.ended(&call_sid);
    }
}

/// A final status callback takes the caller out of the operators' queue if they are still
/// in it: the Enqueue action that would have said they left can be lost (the server down at
/// that moment), and a caller who hung up must not be counted as waiting, or be offered to
/// an operator, for ever. A normal hang-up in the queue reaches here after its Enqueue action
/// has closed the entry, and changes nothing. Only a call with an open entry, or one whose
/// entry cannot be read in time, costs a record; it goes through the journal with the status,
/// so a database that is locked or read-only at that moment cannot lose it.
async fn leave_queue_at_end(w: &PinnedWebhooks<'_>, req: &ProviderRequest) -> Option<Record> {
    let call = req.call();
    let (Some(call_sid), Some(status)) = (call.call_sid, call.status) else { return None };
    if !status.is_final() {
        return None;
    }
    let entry = w.queues.bounded("entry at the end", w.storage.queue_entry_of_call(&call_sid));
    match entry.await {
        Some(None) => return None,
        Some(Some(entry))
            if !matches!(
                entry.state,
                crate::domain::queue::EntryState::Waiting
                    | crate::domain::queue::EntryState::Connecting
            ) =>
        {
            return None;
        }
        Some(Some(_)) => {
            tracing::info!("the call ended in the queue without its Enqueue action; closing it");
        }
        // Unknown: closing an entry that is not there changes nothing.
        None => {}
    }
    let at = Utc::now();
    Some(Record::QueueLeft { call_sid, at, result: "hangup".into(), queue_secs: None })
}

/// Renders a turn reached at `step` and records its events under that step; the document's
/// URLs lead to step `next` of the scripts' `version`.
pub(super) fn reply(
    version: &str,
    turn: Turn,
    call_sid: &Option<CallSid>,
    step: u32,
    next: u32,
) -> Reply {
    let document = render_checked(&turn, next, version);
    let records = match call_sid {
        Some(call_sid) if !turn.events.is_empty() => vec![Record::Step {
            call_sid: call_sid.clone(),
            step,
            at: Utc::now(),
            events: turn.events,
        }],
        _ => Vec::new(),
    };
    Reply { document, records }
}

impl Reply {
    /// Attaches the records of a safe answer to the call, when the call is known.
    fn for_call(self, call_sid: &Option<CallSid>, step: u32) -> Reply {
        let Reply { document, .. } = self;
        let records = match call_sid {
            Some(call_sid) => vec![Record::Step {
                call_sid: call_sid.clone(),
                step,
                at: Utc::now(),
                events: vec![Event::Rejected { reason: "request did not fit the script".into() }],
            }],
            None => Vec::new(),
        };
        Reply { document, records }
    }
}

/// Renders, refusing (in favour of a redirect to the operator) a document over the provider's
/// size limit. The engine keeps turns far smaller; this is the guard if a script grows.
fn render_checked(turn: &Turn, next_step: u32, version: &str) -> String {
    let document = answer::render(turn, next_step, version).render();
    if document.len() <= twiml::MAX_DOCUMENT_BYTES {
        return document;
    }
    tracing::error!(bytes = document.len(), "TwiML over the provider's limit; sent a short one");
    let mut short = turn.clone();
    short.speech.clear();
    answer::render(&short, next_step, version).render()
}

/// Calls `decide` with the request's keys, recording keys that are not keypad keys as such.
fn with_input(req: &ProviderRequest, decide: impl FnOnce(Input<'_>) -> Turn) -> Turn {
    match req.digits() {
        Digits::None => decide(Input::Nothing),
        Digits::Keys(keys) => decide(Input::Keys(&keys)),
        Digits::Invalid => {
            // Treated as a key the menu does not offer: the caller hears "not in the menu"
            // and the menu again. The raw value is not recorded.
            let mut turn = decide(Input::Keys(""));
            let reason = "Digits held something other than keypad keys".to_owned();
            turn.events.insert(0, Event::Rejected { reason });
            turn
        }
    }
}

/// Apologises and hands the caller to an operator in `script`'s language (or the default one).
fn safe(w: &PinnedWebhooks<'_>, script: Option<&Script>, reason: &str) -> Reply {
    let script = script.unwrap_or_else(|| w.scripts.default_script());
    let turn = ivr::to_operator(script, reason.to_owned());
    Reply { document: render_checked(&turn, EMERGENCY_STEP, w.version), records: Vec::new() }
}

/// The Enqueue action: the caller left the queue. Returns what they hear next and the record
/// that closes their queue entry (or marks it bridged), which goes through the journal with
/// the step; an answered caller's case records who took them.
async fn queue_left(
    w: &PinnedWebhooks<'_>,
    script: &Script,
    node: &NodeId,
    req: &ProviderRequest,
) -> (Turn, Option<Record>) {
    let result = req
        .param("QueueResult")
        .filter(|r| {
            (1..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        .unwrap_or("unknown");
    let wait_secs = req.param("QueueTime").and_then(|t| t.parse().ok()).filter(|t| *t <= 604_800);
    // A caller who pressed a <wait> key left for its voicemail or callback node.
    let chosen = match (result, req.call().call_sid) {
        ("leave", Some(call_sid)) => {
            w.queues.bounded("left for", w.storage.left_for(&call_sid)).await.flatten()
        }
        _ => None,
    };
    let mut turn = match chosen {
        Some(goto) if script.node(&goto).is_some() => {
            ivr::left_queue_for(script, node, result, wait_secs, &goto)
        }
        _ => ivr::left_queue(script, node, result, wait_secs),
    };
    let Some(call_sid) = req.call().call_sid else { return (turn, None) };
    let now = Utc::now();
    let bridged = matches!(result, "bridged" | "bridging-in-process" | "redirected-from-bridged");
    if bridged {
        // The operator who took the caller was noted when they were given them; a read works
        // even while writes wait for a lock.
        let entry = w.queues.bounded("answered by", w.storage.queue_entry_of_call(&call_sid));
        if let Some(Some(entry)) = entry.await
            && matches!(
                entry.state,
                crate::domain::queue::EntryState::Connecting
                    | crate::domain::queue::EntryState::Bridged
            )
            && let Some(operator_id) = entry.operator_id
        {
            let waited = wait_secs.or_else(|| u32::try_from(entry.wait_secs(now)).ok());
            turn.events.push(Event::Answered { operator_id, wait_secs: waited });
        }
    }
    let left =
        Record::QueueLeft { call_sid, at: now, result: result.to_owned(), queue_secs: wait_secs };
    (turn, Some(left))
}

/// The Record action: a voicemail was recorded (or the caller said nothing).
fn recorded(script: &Script, node: &NodeId, req: &ProviderRequest) -> Turn {
    let url = req.param("RecordingUrl").filter(|url| {
        url.len() <= 2048
            && (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(char::is_whitespace)
    });
    let duration = req.param("RecordingDuration").and_then(|d| d.parse().ok());
    ivr::recorded(script, node, url.map(str::to_owned), duration)
}

/// The status callback: the call's state changed (usually: it ended).
fn status(req: &ProviderRequest) -> Reply {
    let call = req.call();
    let document = twiml::Document::default().render();
    let (Some(call_sid), Some(status)) = (call.call_sid, call.status) else {
        tracing::warn!("status callback without a valid CallSid and CallStatus; ignored");
        return Reply { document, records: Vec::new() };
    };
    let record = Record::Status {
        call_sid,
        at: Utc::now(),
        status,
        duration_secs: req.param("CallDuration").and_then(|d| d.parse().ok()),
        sequence: req.param("SequenceNumber").and_then(|s| s.parse().ok()),
    };
    if status.is_final() {
        tracing::info!(status = status.as_str(), "call ended");
    } else if status == CallStatus::InProgress {
        tracing::debug!("call in progress");
    }
    Reply { document, records: vec![record] }
}

/// The document played while waiting in a queue: the caller's place in line, then a pause,
/// after which the provider asks again.
///
/// The position is the server's own (see [`crate::app::queues::wait_plan`]); only a caller the
/// server does not know (in a shared queue) hears the provider's `QueuePosition`.
async fn wait(w: &PinnedWebhooks<'_>, req: &ProviderRequest, script: Option<&Script>) -> Reply {
    let script = script.unwrap_or_else(|| w.scripts.default_script());
    let provider_position = req
        .param("QueuePosition")
        .and_then(|p| p.parse().ok())
        .filter(|p| (1..=100_000).contains(p));
    let (position, minutes) =
        match crate::app::queues::wait_plan(&w.storage, &w.queues, req.call().call_sid.as_ref())
            .await
        {
            crate::app::queues::WaitPlan::Position { position, minutes } => {
                (Some(position), minutes)
            }
            crate::app::queues::WaitPlan::Unknown => (provider_position, None),
            crate::app::queues::WaitPlan::Connecting => {
                // An operator is on the way: nothing to announce, and a short document so that
                // nothing long is under way when the bridge comes.
                let verbs = vec![WaitVerb::Speech(Speech::Pause { seconds: 5 })];
                return Reply { document: WaitDocument { verbs }.render(), records: Vec::new() };
            }
            crate::app::queues::WaitPlan::TooLong => {
                // Told (the handoff's <too-long>), then out of the queue: the Enqueue action
                // (QueueResult=leave) takes the caller to the handoff's otherwise node.
                let node = req.position().node.unwrap_or_else(|| script.operator.clone());
                let told = match script.node(&node).map(|node| &node.kind) {
                    Some(crate::scripts::NodeKind::Handoff { too_long, .. }) => {
                        too_long.items.clone()
                    }
                    _ => Vec::new(),
                };
                let mut verbs: Vec<WaitVerb> = told
                    .into_iter()
                    .map(|item| {
                        let spoken = ivr::Spoken { item, voice: script.voice.clone() };
                        WaitVerb::Speech(answer::speech(&spoken))
                    })
                    .collect();
                verbs.push(WaitVerb::Leave);
                return Reply { document: WaitDocument { verbs }.render(), records: Vec::new() };
            }
        };
    // A stale or missing node still gets the operator node's announcement: a waiting caller
    // must never hear silence or an error.
    let node = req
        .position()
        .node
        .filter(|node| script.node(node).is_some())
        .unwrap_or_else(|| script.operator.clone());
    let announcement = ivr::wait(script, &node, position, minutes);
    let mut said = Vec::new();
    if let Some((speech, pause)) = announcement {
        said.extend(speech.iter().map(answer::speech));
        said.extend(wait_key_prompts(script, &node));
        said.push(Speech::Pause { seconds: pause });
    }
    // With keys on offer, the whole announcement is a Gather, so a key pressed at any moment
    // of it counts; the provider still bridges an operator at any moment of a Gather.
    let verbs = if has_wait_keys(script, &node) && !said.is_empty() {
        vec![WaitVerb::Gather(twiml::Gather {
            action: answer::wait_key_url(&script.language, &node, w.version),
            num_digits: 1,
            timeout: 1,
            prompts: said,
        })]
    } else {
        said.into_iter().map(WaitVerb::Speech).collect()
    };
    Reply { document: WaitDocument { verbs }.render(), records: Vec::new() }
}

/// Whether a handoff offers keys while waiting.
fn has_wait_keys(script: &Script, node: &NodeId) -> bool {
    matches!(
        script.node(node).map(|n| &n.kind),
        Some(crate::scripts::NodeKind::Handoff { wait_keys, .. }) if !wait_keys.is_empty()
    )
}

/// What the handoff's `<wait>` keys say about themselves ("to leave a message, press 1").
fn wait_key_prompts(script: &Script, node: &NodeId) -> Vec<Speech> {
    let Some(crate::scripts::NodeKind::Handoff { wait_keys, .. }) =
        script.node(node).map(|n| &n.kind)
    else {
        return Vec::new();
    };
    wait_keys
        .iter()
        .flat_map(|key| &key.prompt.items)
        .map(|item| {
            answer::speech(&ivr::Spoken { item: item.clone(), voice: script.voice.clone() })
        })
        .collect()
}

/// The fallback URL: our answer to an earlier request failed (or came too late). Apologise in
/// the caller's language, taken from the failed URL, and go straight to an operator (a
/// refused call: to the goodbye, see [`end_if_refused`]).
async fn fallback(w: &PinnedWebhooks<'_>, req: &ProviderRequest) -> Reply {
    let call = req.call();
    let failed = req.param("ErrorUrl").unwrap_or_default();
    let failed_query: Vec<(String, String)> = failed
        .split_once('?')
        .map(|(_, q)| {
            form_urlencoded::parse(q.as_bytes())
                .take(20)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let get = |name: &str| failed_query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let language = get("lang").and_then(LanguageTag::parse);
    let script = language
        .as_ref()
        .and_then(|language| w.scripts.script(language))
        .unwrap_or_else(|| w.scripts.default_script());
    let failed_step =
        get("step").and_then(|s| s.parse::<u32>().ok()).filter(|s| *s < FALLBACK_STEP_OFFSET);
    let error_code = req
        .param("ErrorCode")
        .filter(|c| (1..=10).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned);
    tracing::warn!(
        error_code = error_code.as_deref().unwrap_or("-"),
        "provider used the fallback URL"
    );
    let mut turn = ivr::to_operator(script, "the provider called the fallback URL".into());
    turn.events.insert(0, Event::Fallback { error_code });
    let turn = end_if_refused(w, req, turn).await;
    let step = failed_step.map_or(EMERGENCY_STEP, |s| s + FALLBACK_STEP_OFFSET);
    let next = failed_step.map_or(EMERGENCY_STEP, |s| s + 1);
    reply(w.version, turn, &call.call_sid, step, next)
}
