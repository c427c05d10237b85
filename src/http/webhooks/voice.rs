//! The handler behind every `/voice/…` URL (read, authenticate, parse, decide, record,
//! answer) and the pages of a call walking its script.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::request::{Digits, ProviderRequest};
use super::route::{Page, Route};
use super::{Answering, Target, Webhooks, answer, twiml_response};
use crate::app::calls::QueueDeparture;
use crate::app::queues::WaitPlan;
use crate::config::{BlockAnswer, OverLimitAnswer};
use crate::domain::cases::{CallSid, CallStatus, Event, Record};
use crate::ivr::{self, Input, Turn};
use crate::scripts::{LanguageTag, NodeId, Script, ScriptSet};
use crate::twiml::{self, Speech, WaitDocument, WaitVerb};

/// The step recorded when a request's step is unknown (a hand-made or damaged URL). Steps of
/// real calls count up from 0 and never come near it.
pub const EMERGENCY_STEP: u32 = 2_000_000_000;

/// The fallback URL records its events at the failed request's step plus this, so they never
/// collide with events the failed request may have recorded after all.
const FALLBACK_STEP_OFFSET: u32 = 1_000_000_000;

/// What a page decided: the document, and what to record.
pub(super) struct Reply {
    /// The TwiML answer.
    pub(super) document: String,
    /// What to record, after answering if the deadline requires.
    pub(super) records: Vec<Record>,
}

/// `POST` of every page: read, authenticate, parse, decide, record, answer.
pub(super) async fn handle(
    webhooks: Arc<Webhooks>,
    target: Target,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let w = &*webhooks;
    let route = match target {
        Target::Page(page) => page.name(),
        Target::Unknown | Target::UnknownOperatorStep => "unknown",
    };
    let read = ProviderRequest::read(request, &w.public_url, w.max_body_bytes, w.deadline).await;
    let req = match read {
        Ok(req) => req,
        Err(e) => {
            tracing::warn!(route, error = %e, "unreadable webhook request; answered safe TwiML");
            // Nothing says which version the call is on: the live one answers.
            let live = w.live().live();
            let mut response =
                twiml_response(safe(&live.set, &live.key, None, "unreadable request").document);
            // The provider never sends these: they count against the sender's address like
            // a forged signature, but before any check, so they are answered as safely.
            response.extensions_mut().insert(crate::http::limits::CountedRefusal);
            return response;
        }
    };
    let signed = if w.verify_signatures { w.check_signature(&req) } else { Ok(()) };
    if let Err(refusal) = signed {
        tracing::warn!(
            target: "hotline::security",
            route,
            signature_present = req.signatures.any(),
            %refusal,
            "refused a webhook request with a missing or wrong signature"
        );
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    // Parsed once: the caller's number is hashed here and nowhere else.
    let call = req.call(w.app.caller_hasher());
    let incoming = target == Target::Page(Page::Incoming);
    // The scripts this request is answered from: for a new call the live version (the draft
    // for a test caller), for a call in progress the version it started on (`v` in our URLs).
    // Reading that version again from the database (after a restart) may take half of what
    // is left of the deadline; the other half is for recording.
    let pinned = if incoming {
        w.live().for_new_call(call.caller.as_ref())
    } else {
        let within = w.deadline.saturating_sub(started.elapsed()) / 2;
        w.live().for_call(req.query().get("v"), within).await
    };
    let sid = call.call_sid.as_ref().map_or("-", |sid| sid.as_str()).to_owned();
    let (position, digits) = (req.position(), req.digits());
    let w =
        &Answering { hooks: w, scripts: &pinned.set, version: &pinned.key, call, position, digits };
    let span = tracing::info_span!("webhook", route, call_sid = %sid);
    async move {
        let mut reply = decide(w, target, &req).await;
        if incoming {
            reply = screen_blocked(w, reply).await;
            reply = limit_calls(w, reply);
        }
        if target == Target::Page(Page::Status) {
            note_ended(w);
            reply.records.extend(leave_queue_at_end(w).await);
        }
        let remaining = w.hooks.deadline.saturating_sub(started.elapsed());
        w.app().record_call(reply.records, remaining).await;
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "answered");
        twiml_response(reply.document)
    }
    .instrument(span)
    .await
}

/// Decides the answer to a request and what to record.
async fn decide(w: &Answering<'_>, target: Target, req: &ProviderRequest) -> Reply {
    let call = &w.call;
    let position = &w.position;
    let step = position.step.unwrap_or(EMERGENCY_STEP);
    let script = position.language.as_ref().and_then(|language| w.scripts.script(language));
    let page = match target {
        Target::Page(page) => page,
        Target::Unknown => {
            return safe(w.scripts, w.version, script, "unknown webhook route").for_call(
                w,
                &call.call_sid,
                step,
            );
        }
        Target::UnknownOperatorStep => return super::operator::not_signed_in(),
    };
    if page.is_operator_line() {
        return super::operator::answer(w, page, req).await;
    }

    // The queue entry a caller's departure closes, recorded with the step's events.
    let mut departure = None;
    let turn = match page {
        Page::Incoming => {
            let turn = ivr::start(w.scripts, call.from_country.as_deref());
            let mut reply = reply(w, turn, &call.call_sid, 0, 1);
            reply.records.splice(0..0, call_started(w));
            return reply;
        }
        Page::Status => return status(w, req),
        Page::Wait => return wait(w, req, script).await,
        Page::Fallback => return fallback(w, req).await,
        Page::Language => {
            let attempt = position.attempt.unwrap_or(1);
            with_input(w, |input| ivr::language_input(w.scripts, attempt, input))
        }
        Page::WaitKey => {
            let script = script.unwrap_or_else(|| w.scripts.default_script());
            let node = position.node.clone().unwrap_or_else(|| script.operator.clone());
            if let Some(leave) = super::followup::wait_key(w, script, &node).await {
                return leave;
            }
            return wait(w, req, Some(script)).await;
        }
        Page::Recording => return super::followup::recording_status(w, req),
        _ => {
            let (Some(script), Some(node)) = (script, position.node.as_ref()) else {
                let route = page.name();
                let reason = format!("{route} without a known language and node");
                return safe(w.scripts, w.version, script, &reason).for_call(
                    w,
                    &call.call_sid,
                    step,
                );
            };
            match page {
                Page::Menu => {
                    let attempt = position.attempt.unwrap_or(1);
                    with_input(w, |input| ivr::menu_input(w.scripts, script, node, attempt, input))
                }
                Page::Continue => ivr::enter(script, node),
                Page::Queue => {
                    let (turn, left) = queue_left(w, script, node, req).await;
                    departure = left;
                    turn
                }
                Page::Callback => super::followup::number_entered(w, req, script, node),
                Page::CallbackConfirm => {
                    let next = if step == EMERGENCY_STEP { EMERGENCY_STEP } else { step + 1 };
                    return super::followup::confirmed(w, req, script, node, step, next);
                }
                Page::Answered => {
                    let (url, duration) = recording(req);
                    ivr::answered(script, node, url, duration)
                }
                _ => {
                    let (url, duration) = recording(req);
                    ivr::recorded(script, node, url, duration)
                }
            }
        }
    };
    let turn = end_if_refused(w, turn).await;
    let turn = handoff(w, turn, call.call_sid.as_ref(), step).await;
    let next = if step == EMERGENCY_STEP { EMERGENCY_STEP } else { step + 1 };
    let mut reply = reply(w, turn, &call.call_sid, step, next);
    reply.records.extend(departure);
    reply
}

/// A turn that hands the caller off is routed and queued by the server ([`crate::domain::queue`]).
async fn handoff(w: &Answering<'_>, turn: Turn, call_sid: Option<&CallSid>, step: u32) -> Turn {
    let ivr::Then::Enqueue { language, .. } = &turn.then else { return turn };
    let Some(script) = w.scripts.script(language) else { return turn };
    w.app().place_in_queue(script, call_sid, step, turn).await
}

/// `/voice/incoming` for a caller on the blocklist. The answer is the `normal` one either
/// way, so that a call made with a blocked number as its caller ID cannot tell the number is
/// blocked (see `refused.rs`). With `answer = "message"` the call is refused: it hears the
/// menus and is told goodbye where it would reach a person ([`end_if_refused`]); with
/// `"flag"` it goes on as usual. Either way the case records [`Event::Blocked`]. A blocklist
/// that cannot be read in time counts as no block: a caller is never dropped for our failure.
async fn screen_blocked(w: &Answering<'_>, normal: Reply) -> Reply {
    let call = &w.call;
    if !w.app().caller_is_blocked(call.caller.as_ref()).await {
        return normal;
    }
    let refused = w.app().config().blocklist.answer == BlockAnswer::Message;
    if refused && let Some(call_sid) = &call.call_sid {
        w.hooks.refused.refuse(call_sid);
    }
    tracing::info!(refused, "blocked caller: answered as any caller");
    let mut screened = normal;
    note_at_start(w, &mut screened, call.call_sid.clone(), Event::Blocked { refused });
    screened
}

/// `/voice/incoming` for a caller who already has their limit of calls in progress
/// (`webhooks.calls_per_caller`), recorded as rejected. With `over_limit_answer = "message"`
/// the answer is the `normal` one, so that a call made with someone's number as its caller ID
/// cannot tell that they are on the line now (see `refused.rs`): the call hears the menus and
/// is told goodbye where it would reach a person ([`end_if_refused`]). With `"hangup"` it is
/// hung up on at once, which a prober can tell by design. A withheld number is not limited:
/// it is no one caller.
fn limit_calls(w: &Answering<'_>, normal: Reply) -> Reply {
    let call = &w.call;
    let (Some(call_sid), Some(caller)) = (call.call_sid.as_ref(), &call.caller) else {
        return normal;
    };
    if w.hooks.calls_in_progress.admit(caller, call_sid) {
        return normal;
    }
    tracing::warn!(
        target: "hotline::security",
        "refused a call: its caller has their limit of calls in progress"
    );
    let rejected =
        Event::Rejected { reason: "the caller has their limit of calls in progress".into() };
    if w.app().config().webhooks.over_limit_answer == OverLimitAnswer::Hangup {
        let turn = Turn::silent(ivr::Then::Hangup, vec![rejected]);
        let mut refused = reply(w, turn, &call.call_sid, 0, 1);
        let started =
            normal.records.into_iter().filter(|r| matches!(r, Record::CallStarted { .. }));
        refused.records.splice(0..0, started);
        return refused;
    }
    w.hooks.refused.refuse(call_sid);
    let mut screened = normal;
    note_at_start(w, &mut screened, call.call_sid.clone(), rejected);
    screened
}

/// Puts `event` first among the events of the call's first step (0) in `reply`.
fn note_at_start(w: &Answering<'_>, reply: &mut Reply, call_sid: Option<CallSid>, event: Event) {
    let step = reply.records.iter_mut().find_map(|record| match record {
        Record::Step { step: 0, events, .. } => Some(events),
        _ => None,
    });
    match (step, call_sid) {
        (Some(events), _) => events.insert(0, event),
        (None, Some(call_sid)) => reply.records.push(Record::Step {
            call_sid,
            step: 0,
            at: w.app().now(),
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
async fn end_if_refused(w: &Answering<'_>, turn: Turn) -> Turn {
    let (language, instead) = match &turn.then {
        ivr::Then::Enqueue { language, .. } => (language, "the operators' queue"),
        ivr::Then::Record { language, .. } => (language, "a voicemail"),
        ivr::Then::CallbackNumber { language, .. }
        | ivr::Then::ConfirmCallback { language, .. } => (language, "a callback request"),
        _ => return turn,
    };
    let call = &w.call;
    let Some(call_sid) = call.call_sid.as_ref() else { return turn };
    let mut events = Vec::new();
    if !w.hooks.refused.is_refused(call_sid) {
        if w.app().config().blocklist.answer != BlockAnswer::Message {
            return turn;
        }
        if !w.app().caller_is_blocked(call.caller.as_ref()).await {
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
        .unwrap_or_else(|| Turn::silent(ivr::Then::Hangup, Vec::new()));
    events.append(&mut end.events);
    end.events = events;
    end
}

/// A final status callback ends the call's place in its caller's limit, and forgets its
/// refusal.
fn note_ended(w: &Answering<'_>) {
    if let (Some(call_sid), Some(status)) = (&w.call.call_sid, w.call.status)
        && status.is_final()
    {
        w.hooks.calls_in_progress.ended(call_sid);
        w.hooks.refused.ended(call_sid);
    }
}

/// A final status callback takes the caller out of the operators' queue if they are still
/// in it (see [`crate::app::App::left_queue_at_end`]).
async fn leave_queue_at_end(w: &Answering<'_>) -> Option<Record> {
    let (Some(call_sid), Some(status)) = (w.call.call_sid.clone(), w.call.status) else {
        return None;
    };
    if !status.is_final() {
        return None;
    }
    w.app().left_queue_at_end(call_sid).await
}

/// Renders a turn reached at `step` and records its events under that step; the document's
/// URLs lead to step `next` of the scripts' `version`.
pub(super) fn reply(
    w: &Answering<'_>,
    turn: Turn,
    call_sid: &Option<CallSid>,
    step: u32,
    next: u32,
) -> Reply {
    let document = render_checked(&turn, next, w.version);
    let records = match call_sid {
        Some(call_sid) if !turn.events.is_empty() => vec![Record::Step {
            call_sid: call_sid.clone(),
            step,
            at: w.app().now(),
            events: turn.events,
        }],
        _ => Vec::new(),
    };
    Reply { document, records }
}

impl Reply {
    /// Attaches the records of a safe answer to the call, when the call is known.
    fn for_call(self, w: &Answering<'_>, call_sid: &Option<CallSid>, step: u32) -> Reply {
        let Reply { document, .. } = self;
        let records = match call_sid {
            Some(call_sid) => vec![Record::Step {
                call_sid: call_sid.clone(),
                step,
                at: w.app().now(),
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
fn with_input(w: &Answering<'_>, decide: impl FnOnce(Input<'_>) -> Turn) -> Turn {
    match &w.digits {
        Digits::None => decide(Input::Nothing),
        Digits::Keys(keys) => decide(Input::Keys(keys)),
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
fn safe(scripts: &ScriptSet, version: &str, script: Option<&Script>, reason: &str) -> Reply {
    let script = script.unwrap_or_else(|| scripts.default_script());
    let turn = ivr::to_operator(script, reason.to_owned());
    Reply { document: render_checked(&turn, EMERGENCY_STEP, version), records: Vec::new() }
}

/// The Enqueue action: the caller left the queue (see [`crate::app::App::left_queue`]).
async fn queue_left(
    w: &Answering<'_>,
    script: &Script,
    node: &NodeId,
    req: &ProviderRequest,
) -> (Turn, Option<Record>) {
    let result = req
        .param("QueueResult")
        .filter(|r| {
            (1..=32).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
        .unwrap_or("unknown")
        .to_owned();
    let wait_secs = req.param("QueueTime").and_then(|t| t.parse().ok()).filter(|t| *t <= 604_800);
    let departure = QueueDeparture { result, wait_secs };
    // The caller's own queue is deleted at the provider behind this answer, never before it.
    w.app().forget_queue(req.param("QueueSid"));
    w.app().left_queue(script, node, w.call.call_sid.clone(), departure).await
}

/// What a Record action reports: the recording's URL and length, each `None` when missing or
/// not what the provider sends (the caller said nothing, or the request is not the provider's).
fn recording(req: &ProviderRequest) -> (Option<String>, Option<u32>) {
    let url = req.param("RecordingUrl").filter(|url| {
        url.len() <= 2048
            && (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(char::is_whitespace)
    });
    let duration = req.param("RecordingDuration").and_then(|d| d.parse().ok());
    (url.map(str::to_owned), duration)
}

/// The status callback: the call's state changed (usually: it ended).
fn status(w: &Answering<'_>, req: &ProviderRequest) -> Reply {
    let document = twiml::Document::default().render();
    let (Some(call_sid), Some(status)) = (w.call.call_sid.clone(), w.call.status) else {
        tracing::warn!("status callback without a valid CallSid and CallStatus; ignored");
        return Reply { document, records: Vec::new() };
    };
    let record = Record::Status {
        call_sid,
        at: w.app().now(),
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
async fn wait(w: &Answering<'_>, req: &ProviderRequest, script: Option<&Script>) -> Reply {
    let script = script.unwrap_or_else(|| w.scripts.default_script());
    let provider_position = req
        .param("QueuePosition")
        .and_then(|p| p.parse().ok())
        .filter(|p| (1..=100_000).contains(p));
    let (position, minutes) = match w.app().wait_plan(w.call.call_sid.as_ref()).await {
        WaitPlan::Position { position, minutes } => (Some(position), minutes),
        WaitPlan::Unknown => (provider_position, None),
        WaitPlan::Connecting => {
            // An operator is on the way: nothing to announce, and a short document so that
            // nothing long is under way when the bridge comes.
            let verbs = vec![WaitVerb::Speech(Speech::Pause { seconds: 5 })];
            return Reply { document: WaitDocument { verbs }.render(), records: Vec::new() };
        }
        WaitPlan::TooLong => {
            // Told (the handoff's <too-long>), then out of the queue: the Enqueue action
            // (QueueResult=leave) takes the caller to the handoff's otherwise node.
            let node = w.position.node.clone().unwrap_or_else(|| script.operator.clone());
            let told = match script.node(&node).map(|node| &node.kind) {
                Some(crate::scripts::NodeKind::Handoff { too_long, .. }) => too_long.items.clone(),
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
    if let Some(announcement) = announcement {
        said.extend(announcement.speech.iter().map(answer::speech));
        said.extend(wait_key_prompts(script, &node));
        said.push(Speech::Pause { seconds: announcement.pause });
    }
    // With keys on offer, the whole announcement is a Gather, so a key pressed at any moment
    // of it counts; the provider still bridges an operator at any moment of a Gather.
    let verbs = if has_wait_keys(script, &node) && !said.is_empty() {
        vec![WaitVerb::Gather(twiml::Gather {
            action: Route::WaitKey { language: script.language.clone(), node }.pinned(w.version),
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

/// The record that opens the call's case with its caller's hash and country, for its first
/// request: the voice URL, or the fallback when the voice URL failed.
fn call_started(w: &Answering<'_>) -> Option<Record> {
    let call = &w.call;
    Some(Record::CallStarted {
        call_sid: call.call_sid.clone()?,
        at: w.app().now(),
        caller: call.caller.clone(),
        country: call.from_country.clone(),
    })
}

/// The fallback URL: our answer to an earlier request failed (or came too late). Apologise in
/// the caller's language, taken from the failed URL, and go straight to an operator (a
/// refused call: to the goodbye, see [`end_if_refused`]).
async fn fallback(w: &Answering<'_>, req: &ProviderRequest) -> Reply {
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
    // The voice URL carries no step: it is the call's first, 0. Taken for an unknown one, the
    // next request would be numbered as this one and dropped as its retry.
    let voice_url =
        failed.split('?').next().is_some_and(|path| path.ends_with(Page::Incoming.path()));
    let failed_step = get("step")
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|s| *s < FALLBACK_STEP_OFFSET)
        .or(voice_url.then_some(0));
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
    let turn = end_if_refused(w, turn).await;
    let step = failed_step.map_or(EMERGENCY_STEP, |s| s + FALLBACK_STEP_OFFSET);
    let next = failed_step.map_or(EMERGENCY_STEP, |s| s + 1);
    let mut reply = reply(w, turn, &w.call.call_sid, step, next);
    // The call's first request: its case is opened here with the caller's hash, or repeat
    // calls, the calls-per-caller limit and retention would not know whose it is. If the
    // failed server stored the start before it died, the record is applied again, to no
    // effect.
    if voice_url && failed_step == Some(0) {
        reply.records.splice(0..0, call_started(w));
    }
    reply
}
