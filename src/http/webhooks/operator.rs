//! The operator line: operators call it from any phone, type their operator ID and PIN, hear
//! a whisper of the next caller's case, and are connected to exactly that caller.
//!
//! The flow, one URL per step (all `POST /voice/operator…`, signed like every webhook):
//!
//! 1. `/voice/operator` asks for the operator ID, ended by `#`; `/voice/operator/id` asks for
//!    the PIN; `/voice/operator/pin` checks both (Argon2, the same time whether or not the ID
//!    exists). Three failures end the call politely and are audited (`dial-in.refused`,
//!    without the number that called). Every PIN tried counts against its operator ID and
//!    the calling number across calls and restarts; too many lock them out, and a locked
//!    one is refused exactly like a wrong PIN ([`crate::domain::lockout`]).
//! 2. `/voice/operator/next` gives the operator their next caller ([`crate::domain::queue`]: claimed
//!    on screen, else the longest waiting among their languages), says the whisper (case
//!    number, language, tags in words, interpreter, wait, earlier calls), and answers
//!    `<Dial><Queue>` of that caller's own queue. The `<Queue url>` document,
//!    `/voice/operator/connecting`, is played to the *caller* ("connecting you now"). With
//!    nobody waiting, the operator dials the shared queue of one of their languages for 10 s
//!    (where callers wait when the database was unavailable at their handoff), then the
//!    server looks again: at most one look every 10 s.
//! 3. `/voice/operator/dialed` is the Dial action: a talk puts the entry to `bridged` with its
//!    talk time and the operator in wrap-up; a caller who was gone before the bridge is closed
//!    and the operator hears so and gets the next one.
//! 4. `/voice/operator/status`, the line's status callback, takes the operator offline when
//!    they hang up (and gives a caller being connected to them back to the queue).
//!
//! Every step after the PIN carries the operator's id in its URL and must come from the call
//! that entered the PIN (`presence.call_sid`). The operator hears English.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Request;
use axum::response::Response;
use chrono::{DateTime, Duration, Utc};

use super::request::{Digits, ProviderRequest};
use super::voice::Reply;
use super::{PinnedWebhooks, Webhooks};
use crate::app::queues::{Whisper, labels};
use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallSid, Record};
use crate::domain::followups::AttemptResult;
use crate::domain::lockout::number_key;
use crate::domain::queue::{EntryState, stale_before};
use crate::scripts::{LanguageTag, NodeKind, PromptItem};
use crate::storage::{AuditEntry, LockedKey, PinAttempt};
use crate::twiml::{DialNumber, DialQueue, Document, Gather, KeypadEntry, Speech, Verb};

/// Wrong ID/PIN entries before the line hangs up.
const MAX_TRIES: u32 = 3;

/// Seconds a Dial waits on a queue: the caller's own queue holds them already, so an empty
/// one means they left; on a shared queue it is the pause between two looks.
const DIAL_TIMEOUT: u32 = 10;

/// Seconds a callback rings before it counts as not answered.
const CALLBACK_RING_SECS: u32 = 30;

/// At most this many languages travel in a URL.
const MAX_LANGUAGES: usize = 8;

/// The voice the operator hears (the line speaks English to every operator).
const VOICE: &str = "Polly.Joanna";
/// Its language.
const VOICE_LANGUAGE: &str = "en-US";

/// `POST /voice/operator/{action}`: the common handler, with the route named `operator/…`.
pub async fn handle(
    state: State<Arc<Webhooks>>,
    Path(action): Path<String>,
    request: Request<Body>,
) -> Response {
    super::voice::handle(state, Path(format!("operator/{action}")), request).await
}

/// Answers one step of the operator line (`action` is empty for `/voice/operator`).
pub(super) async fn answer(w: &PinnedWebhooks<'_>, action: &str, req: &ProviderRequest) -> Reply {
    let call_sid = req.call().call_sid;
    match action {
        "" => ask_id(1, Vec::new()),
        "id" => entered_id(w, req),
        "pin" => entered_pin(w, req, call_sid).await,
        "next" | "dialed" | "called-back" => {
            let Some((operator, speaks)) = signed_in(w, req, call_sid.as_ref()).await else {
                return not_signed_in();
            };
            match action {
                "next" => next(w, operator, &speaks, req).await,
                "dialed" => dialed(w, operator, &speaks, req).await,
                _ => called_back(w, operator, &speaks, req).await,
            }
        }
        "connecting" => connecting(w, req),
        "status" => status(req, call_sid),
        _ => not_signed_in(),
    }
}

fn say(text: impl Into<String>) -> Speech {
    Speech::Say { text: text.into(), voice: Some(VOICE.into()), language: VOICE_LANGUAGE.into() }
}

fn document(verbs: Vec<Verb>) -> Reply {
    Reply { document: Document { verbs }.render(), records: Vec::new() }
}

/// A small number of ours from the query (tries, ids), or `None`.
fn number(req: &ProviderRequest, name: &str) -> Option<i64> {
    let s = req.query(name)?;
    if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The operator's languages as carried in our URLs: `ru,uk`.
fn languages(req: &ProviderRequest) -> Vec<LanguageTag> {
    req.query("langs")
        .unwrap_or_default()
        .split(',')
        .take(MAX_LANGUAGES)
        .filter_map(LanguageTag::parse)
        .collect()
}

fn langs_param(speaks: &[LanguageTag]) -> String {
    speaks.iter().map(LanguageTag::as_str).collect::<Vec<_>>().join(",")
}

/// Keys typed on the keypad: 1–12 digits (the finishing `#` is not sent).
fn typed(req: &ProviderRequest, min: usize) -> Option<String> {
    match req.digits() {
        Digits::Keys(keys)
            if (min..=12).contains(&keys.len()) && keys.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(keys)
        }
        _ => None,
    }
}

/// Asks for the operator ID (try `attempt`), after `before`.
fn ask_id(attempt: u32, mut before: Vec<Verb>) -> Reply {
    let action = format!("/voice/operator/id?try={attempt}");
    let prompt = say("Hotline operator line. Enter your operator number, then press the hash key.");
    before.push(Verb::KeypadEntry(KeypadEntry {
        action: action.clone(),
        max_digits: 12,
        timeout: 10,
        prompts: vec![prompt],
    }));
    before.push(Verb::Redirect { url: action });
    document(before)
}

/// The try count from the URL; anything odd counts as the last try.
fn attempt(req: &ProviderRequest) -> u32 {
    number(req, "try")
        .and_then(|t| u32::try_from(t).ok())
        .filter(|t| (1..=MAX_TRIES).contains(t))
        .unwrap_or(MAX_TRIES)
}

fn entered_id(w: &PinnedWebhooks<'_>, req: &ProviderRequest) -> Reply {
    let attempt = attempt(req);
    // Whether the ID exists is not checked yet: the answer must not tell.
    let Some(id) = typed(req, 1) else { return refused(w, attempt, None) };
    let action = format!("/voice/operator/pin?try={attempt}&op={id}");
    document(vec![
        Verb::KeypadEntry(KeypadEntry {
            action: action.clone(),
            max_digits: 12,
            timeout: 10,
            prompts: vec![say("Enter your PIN, then press the hash key.")],
        }),
        Verb::Redirect { url: action },
    ])
}

/// Every PIN check is taken by others (a flood of them): the operator hears so and types the
/// PIN again, on the same try. The call goes on.
fn pin_again(attempt: u32, operator: i64) -> Reply {
    let action = format!("/voice/operator/pin?try={attempt}&op={operator}");
    document(vec![
        Verb::KeypadEntry(KeypadEntry {
            action: action.clone(),
            max_digits: 12,
            timeout: 10,
            prompts: vec![say(
                "The line is busy checking PINs. Please enter your PIN again, then press the \
                 hash key.",
            )],
        }),
        Verb::Redirect { url: action },
    ])
}

/// A failed identification: try again, or after the last try, goodbye (audited).
fn refused(w: &PinnedWebhooks<'_>, attempt: u32, claimed: Option<i64>) -> Reply {
    if attempt >= MAX_TRIES {
        let storage = w.storage.clone();
        let detail = match claimed {
            Some(id) => {
                format!(
                    "{MAX_TRIES} failed attempts on the operator line, last for operator ID {id}"
                )
            }
            None => format!("{MAX_TRIES} failed attempts on the operator line"),
        };
        // The refusal must not wait for the audit write; it is logged if it fails.
        tokio::spawn(async move {
            let entry =
                AuditEntry { actor: None, action: AuditAction::DialInRefused, case: None, detail };
            if let Err(error) = storage.audit(entry).await {
                tracing::error!(%error, "could not audit a refused dial-in");
            }
        });
        tracing::warn!(target: "hotline::security", "operator line: identification refused");
        return document(vec![
            Verb::Speech(say("Sorry, we could not identify you. Goodbye.")),
            Verb::Hangup,
        ]);
    }
    let sorry = Verb::Speech(say("That operator number and PIN do not match."));
    ask_id(attempt + 1, vec![sorry])
}

async fn entered_pin(
    w: &PinnedWebhooks<'_>,
    req: &ProviderRequest,
    call_sid: Option<CallSid>,
) -> Reply {
    let attempt = attempt(req);
    let claimed = number(req, "op");
    let (Some(operator), Some(pin), Some(call_sid)) = (claimed, typed(req, 4), call_sid) else {
        return refused(w, attempt, claimed);
    };
    let tried_at = Utc::now();
    let caller = req.call().from.as_deref().and_then(|from| w.hasher.hash(from));
    let number = number_key(caller);
    let looked_up = w
        .queues
        .bounded("operator", async {
            // Counted before the PIN is checked, so calls that arrive together cannot all be
            // checked before the count sees them (see `crate::domain::lockout`).
            let tried =
                w.storage.begin_pin_attempt(operator, number.clone(), w.pin_policy, tried_at);
            let tried = tried.await?;
            let person = w.storage.person(operator).await?;
            let hash = w.storage.pin_hash(operator).await?;
            Ok((tried, person, hash))
        })
        .await;
    let Some((tried, person, hash)) = looked_up else {
        return document(vec![
            Verb::Speech(say(
                "The operator line cannot check PINs right now. Please call again in a minute.",
            )),
            Verb::Hangup,
        ]);
    };
    let hash = hash.filter(|_| person.as_ref().is_some_and(|p| !p.disabled));
    // Argon2 runs on the server's few password-check threads; when they are all taken the
    // operator is asked for the PIN again, and this try does not count (nothing was checked):
    // the attempt counted above is taken back, so a flood cannot lock out an operator who is
    // only ever told to try again.
    let Ok(matches) = w.hashers.verify(hash, pin).await else {
        // Should this not be written in time, the try stays counted (`bounded` logs it).
        let withdrawn = w.storage.withdraw_pin_attempt(tried);
        w.queues.bounded("pin withdrawn", withdrawn).await;
        return pin_again(attempt, operator);
    };
    let Some(person) = person.filter(|_| matches) else {
        record_refusal(w, tried, operator, number, false, tried_at).await;
        return refused(w, attempt, Some(operator));
    };
    // A locked ID or number is refused whatever the PIN, after the same Argon2 work and with
    // the same words as a wrong PIN: the line must not tell that it is locked.
    if tried.locked {
        record_refusal(w, tried, operator, number, true, tried_at).await;
        return refused(w, attempt, Some(operator));
    }
    // Should this not be written in time, the attempt stays counted as a failure: a slow
    // database costs an operator one try of their limit, never a lock that does not hold.
    let accepted = w.storage.pin_accepted(tried, operator, number, tried_at);
    let failed_before = w.queues.bounded("pin accepted", accepted).await.unwrap_or(0);
    let now = Utc::now();
    let signed = w.storage.set_presence(
        person.id,
        crate::domain::queue::PresenceState::Available,
        None,
        Some(call_sid),
        now,
    );
    if w.queues.bounded("presence", signed).await.is_none() {
        return document(vec![
            Verb::Speech(say(
                "The operator line cannot sign you in right now. Please call again in a minute.",
            )),
            Verb::Hangup,
        ]);
    }
    // A sign-in after wrong PINs is marked, so a supervisor can tell a guessed PIN from a
    // mistyped one.
    let (action, detail) = match failed_before {
        0 => (AuditAction::DialInAccepted, "signed in on the operator line".to_owned()),
        n => (
            AuditAction::DialInAcceptedAfterFailures,
            format!(
                "signed in on the operator line after {n} wrong PIN(s) for this ID since its \
                 last sign-in"
            ),
        ),
    };
    let audit = AuditEntry { actor: Some(person.id), action, case: None, detail };
    let _ = w.queues.bounded("audit", w.storage.audit(audit)).await;
    tracing::info!(operator = person.id, "operator signed in on the operator line");
    let mut verbs = vec![Verb::Speech(say(format!("Welcome, {}.", person.name)))];
    verbs.extend(take_next(w, person.id, &person.languages, 0, line_number(req)).await);
    document(verbs)
}

/// Keeps a refused PIN as a failure of its ID and number, and logs the locks that follow.
/// When the database cannot take it in time the attempt still counts: it was written as a
/// failure before the PIN was checked, and the next attempt sees the limit reached.
async fn record_refusal(
    w: &PinnedWebhooks<'_>,
    tried: PinAttempt,
    operator: i64,
    number: String,
    right_pin: bool,
    at: DateTime<Utc>,
) {
    let refused = w.storage.pin_refused(tried, operator, number, right_pin, w.pin_policy, at);
    for lock in w.queues.bounded("pin refused", refused).await.unwrap_or_default() {
        let what = match lock.key {
            LockedKey::Operator { .. } => "an operator ID",
            LockedKey::Number => "a calling number",
            LockedKey::WithheldNumbers => "withheld numbers",
        };
        tracing::warn!(
            target: "hotline::security",
            until = %lock.until,
            locks = lock.locks,
            "operator line: {what} locked after wrong PINs"
        );
    }
}

/// The operator of a `next`/`dialed` request, if they signed in on this very call.
async fn signed_in(
    w: &PinnedWebhooks<'_>,
    req: &ProviderRequest,
    call_sid: Option<&CallSid>,
) -> Option<(i64, Vec<LanguageTag>)> {
    let operator = number(req, "op")?;
    let speaks = languages(req);
    let call_sid = call_sid?;
    if speaks.is_empty() {
        return None;
    }
    match w.queues.bounded("operator line", w.storage.on_operator_line(operator, call_sid)).await {
        Some(true) => Some((operator, speaks)),
        Some(false) => None,
        // The database is unavailable: the URL is signed by the provider and was made by us
        // for this operator, so the shared queues can still be worked.
        None => Some((operator, speaks)),
    }
}

fn not_signed_in() -> Reply {
    ask_id(1, vec![Verb::Speech(say("Please sign in again."))])
}

/// The next caller for a signed-in operator; after an idle look (`at`), not before
/// [`DIAL_TIMEOUT`] seconds have passed.
async fn next(
    w: &PinnedWebhooks<'_>,
    operator: i64,
    speaks: &[LanguageTag],
    req: &ProviderRequest,
) -> Reply {
    let round = number(req, "round").unwrap_or(0).clamp(0, 1_000_000);
    // A shared-queue dial can end at once (a queue that does not exist yet): keep the pace
    // at one look every DIAL_TIMEOUT seconds whatever the provider does.
    if let Some(at) = number(req, "at").and_then(|at| DateTime::from_timestamp(at, 0)) {
        let elapsed = (Utc::now() - at).num_seconds();
        if (0..i64::from(DIAL_TIMEOUT)).contains(&elapsed) {
            let rest = u32::try_from(i64::from(DIAL_TIMEOUT) - elapsed).unwrap_or(DIAL_TIMEOUT);
            let url = format!(
                "/voice/operator/next?op={operator}&langs={}&round={round}",
                langs_param(speaks)
            );
            return document(vec![
                Verb::Speech(Speech::Pause { seconds: rest }),
                Verb::Redirect { url },
            ]);
        }
    }
    document(take_next(w, operator, speaks, round, line_number(req)).await)
}

/// Gives the operator their next caller: whisper and `<Dial><Queue>`; or, with nobody
/// waiting, a dial on a shared queue.
async fn take_next(
    w: &PinnedWebhooks<'_>,
    operator: i64,
    speaks: &[LanguageTag],
    round: i64,
    line: Option<String>,
) -> Vec<Verb> {
    let now = Utc::now();
    let langs = langs_param(speaks);
    if let Some(verbs) = due_callback(w, operator, speaks, now, line).await {
        return verbs;
    }
    let stale = stale_before(now, w.queues.config.max_wait_secs);
    // A departure acknowledged while the database was unavailable may still be in the
    // journal: it is applied first, or the operator could be handed a caller who hung up.
    // Without it the operator listens on the shared queues, as when the database is down.
    let taken = match w
        .queues
        .bounded("journal before the next caller", w.recorder.catch_up())
        .await
    {
        Some(_) => {
            w.queues
                .bounded("next caller", w.storage.take_next(operator, speaks.to_vec(), now, stale))
                .await
        }
        None => None,
    };
    let Some(Some(entry)) = taken else {
        if taken.is_some() {
            // Nobody waits: the operator is ready (also after a wrap-up they cut short).
            let ready = w.storage.set_presence(
                operator,
                crate::domain::queue::PresenceState::Available,
                None,
                None,
                now,
            );
            let _ = w.queues.bounded("presence", ready).await;
        }
        let index = usize::try_from(round).unwrap_or(0) % speaks.len().max(1);
        let Some(shared) = speaks.get(index) else {
            return vec![
                Verb::Speech(say("You have no languages set; ask a supervisor.")),
                Verb::Hangup,
            ];
        };
        let mut verbs = Vec::new();
        if round == 0 {
            verbs.push(Verb::Speech(say(
                "No caller is waiting. Stay on the line; you will be connected when one arrives.",
            )));
        }
        verbs.push(Verb::DialQueue(DialQueue {
            action: format!(
                "/voice/operator/dialed?op={operator}&langs={langs}&round={}&at={}",
                round + 1,
                now.timestamp()
            ),
            timeout: DIAL_TIMEOUT,
            queue: shared.to_string(),
            url: format!("/voice/operator/connecting?lang={shared}"),
        }));
        return verbs;
    };
    let caller = w.queues.bounded("whisper", w.storage.waiting_caller(entry.id)).await.flatten();
    let whisper = Whisper::of(&entry, caller.as_ref(), w.scripts, now);
    let caller_language = whisper.caller_language.clone().unwrap_or_else(|| entry.language.clone());
    tracing::info!(operator, entry = entry.id, "operator connecting to a caller");
    // The whisper reads the case to the operator: audited like any read of a case.
    let audit = AuditEntry {
        actor: Some(operator),
        action: AuditAction::CaseWhisper,
        case: Some(entry.case),
        detail: format!("operator line, queue entry {}", entry.id),
    };
    let _ = w.queues.bounded("audit", w.storage.audit(audit)).await;
    vec![
        Verb::Speech(say(whisper.text())),
        Verb::DialQueue(DialQueue {
            action: format!(
                "/voice/operator/dialed?op={operator}&langs={langs}&entry={}",
                entry.id
            ),
            timeout: DIAL_TIMEOUT,
            queue: entry.provider_queue,
            url: format!("/voice/operator/connecting?lang={caller_language}&entry={}", entry.id),
        }),
    ]
}

/// A callback that is due in the operator's languages comes before every waiting caller (see
/// [`crate::domain::queue::next_for`]'s policy): the whisper of its case, then `<Dial><Number>` to
/// the number the caller left, opened here and written nowhere but the provider's document.
/// `None` when no callback is due (or the list cannot be read in time).
async fn due_callback(
    w: &PinnedWebhooks<'_>,
    operator: i64,
    speaks: &[LanguageTag],
    now: DateTime<Utc>,
    line: Option<String>,
) -> Option<Vec<Verb>> {
    let retry = i64::from(w.followups.retry_after_mins);
    let retry_before = now - Duration::minutes(retry);
    let due = w.storage.take_due_callback(operator, speaks.to_vec(), now, retry_before);
    let (follow_up, sealed) = w.queues.bounded("due callback", due).await.flatten()?;
    let Some(number) = w.callbacks.open(&sealed, &follow_up.call_sid) else {
        // Sealed under another key or altered: it stays taken by this operator (so it is not
        // offered again and again) and shows on their list.
        tracing::error!(follow_up = follow_up.id, "a due callback's number does not open");
        return None;
    };
    let script = follow_up.language.as_ref().and_then(|l| w.scripts.script(l));
    let whisper = Whisper {
        case: follow_up.case,
        caller_language: follow_up.language.clone(),
        labels: script.map(|s| labels(s, &follow_up.tags)).unwrap_or_default(),
        interpreter_needed: false,
        waited_secs: follow_up.wait_secs.unwrap_or(0),
        earlier_calls: follow_up.earlier_calls,
    };
    let audit = AuditEntry {
        actor: Some(operator),
        action: AuditAction::FollowupDial,
        case: Some(follow_up.case),
        detail: format!("operator line called back follow-up {}", follow_up.id),
    };
    let _ = w.queues.bounded("audit", w.storage.audit(audit)).await;
    let busy = w.storage.set_presence(
        operator,
        crate::domain::queue::PresenceState::OnCall,
        None,
        None,
        now,
    );
    let _ = w.queues.bounded("presence", busy).await;
    tracing::info!(operator, follow_up = follow_up.id, "operator line calls a caller back");
    let tried = follow_up.attempts.len();
    let intro = match tried {
        0 => "Callback request.".to_owned(),
        n => format!("Callback request, attempt {}.", n + 1),
    };
    Some(vec![
        Verb::Speech(say(format!("{intro} {} Calling the caller now.", whisper.text()))),
        Verb::DialNumber(DialNumber {
            action: format!(
                "/voice/operator/called-back?op={operator}&langs={}&fu={}",
                langs_param(speaks),
                follow_up.id
            ),
            timeout: CALLBACK_RING_SECS,
            number: number.e164(),
            caller_id: line,
        }),
    ])
}

/// The hotline's own number the operator called (`To`), shown to the caller being called
/// back: without it the provider would show the operator's personal number.
fn line_number(req: &ProviderRequest) -> Option<String> {
    req.param("To")
        .filter(|to| crate::domain::followups::CallbackNumber::from_caller_id(to).is_some())
        .map(str::to_owned)
}

/// The Dial action of a callback: the attempt is recorded from the dial's result (a talk is
/// `reached`; nobody answering `no-answer`; busy, failed or cut off `tried`). A follow-up
/// left open goes back to the list for a later try.
async fn called_back(
    w: &PinnedWebhooks<'_>,
    operator: i64,
    speaks: &[LanguageTag],
    req: &ProviderRequest,
) -> Reply {
    let next_url = format!("/voice/operator/next?op={operator}&langs={}", langs_param(speaks));
    let status = req.param("DialCallStatus").unwrap_or_default();
    let talked = req
        .param("DialCallDuration")
        .filter(|d| (1..=7).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
        .is_some_and(|secs| secs > 0);
    let result = match status {
        "completed" | "answered" if talked => AttemptResult::Reached,
        "no-answer" => AttemptResult::NoAnswer,
        _ => AttemptResult::Tried,
    };
    let Some(id) = number(req, "fu") else {
        return document(vec![Verb::Redirect { url: next_url }]);
    };
    let now = Utc::now();
    let max = w.followups.max_attempts;
    let recorded = w.storage.record_attempt(id, operator, result, max, now);
    let follow_up = match w.queues.bounded("callback attempt", recorded).await {
        Some(Ok(follow_up)) => Some(follow_up),
        // A retried Dial action: the attempt is on record already.
        Some(Err(_)) | None => None,
    };
    if let Some(follow_up) = &follow_up
        && follow_up.state != crate::domain::followups::State::Closed
    {
        let _ = w.queues.bounded("release", w.storage.release_follow_up(id, operator)).await;
    }
    if result == AttemptResult::Reached {
        let wrap_up = i64::try_from(w.queues.config.wrap_up_secs).unwrap_or(0);
        let wrap = w.storage.set_presence(
            operator,
            crate::domain::queue::PresenceState::WrapUp,
            Some(now + Duration::seconds(wrap_up)),
            None,
            now,
        );
        let _ = w.queues.bounded("wrap-up", wrap).await;
        let timeout = u32::try_from(wrap_up.clamp(5, 60)).unwrap_or(30);
        return document(vec![
            Verb::Gather(Gather {
                action: next_url.clone(),
                num_digits: 1,
                timeout,
                prompts: vec![say(
                    "The callback has ended. Press 1 when you are ready for the next caller, \
                     or hang up to stop.",
                )],
            }),
            Verb::Redirect { url: next_url },
        ]);
    }
    let said = match result {
        AttemptResult::NoAnswer => "Nobody answered the callback.",
        _ => "The callback did not connect.",
    };
    document(vec![Verb::Speech(say(said)), Verb::Redirect { url: next_url }])
}

/// The Dial action: of a caller's own queue (`entry`), or of a shared queue while idle.
async fn dialed(
    w: &PinnedWebhooks<'_>,
    operator: i64,
    speaks: &[LanguageTag],
    req: &ProviderRequest,
) -> Reply {
    let langs = langs_param(speaks);
    let next_url = format!("/voice/operator/next?op={operator}&langs={langs}");
    let status = req.param("DialCallStatus").unwrap_or_default();
    let duration = req
        .param("DialCallDuration")
        .filter(|d| (1..=7).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok());
    let talked = match (status, duration) {
        ("completed" | "answered", Some(secs)) if secs > 0 => Some(secs),
        _ => None,
    };
    let now = Utc::now();
    let wrap_up = i64::try_from(w.queues.config.wrap_up_secs).unwrap_or(0);
    let wrap_until = now + Duration::seconds(wrap_up);
    let call_ended = || {
        let timeout = u32::try_from(wrap_up.clamp(5, 60)).unwrap_or(30);
        let prompt = "The call has ended. Press 1 when you are ready for the next caller, or \
                      hang up to stop.";
        document(vec![
            Verb::Gather(Gather {
                action: next_url.clone(),
                num_digits: 1,
                timeout,
                prompts: vec![say(prompt)],
            }),
            Verb::Redirect { url: next_url.clone() },
        ])
    };
    let Some(entry_id) = number(req, "entry") else {
        // A shared queue: a talk (with a caller queued while the database was unavailable)
        // ends in wrap-up; otherwise this was an idle look, and the next one follows.
        if talked.is_none() {
            return next(w, operator, speaks, req).await;
        }
        let wrap = w.storage.set_presence(
            operator,
            crate::domain::queue::PresenceState::WrapUp,
            Some(wrap_until),
            None,
            now,
        );
        let _ = w.queues.bounded("wrap-up", wrap).await;
        return call_ended();
    };
    // The operator hung up mid-dial ("canceled"): the caller is still in their queue and goes
    // back to waiting; otherwise an unanswered dial means their queue was empty: they left.
    let caller_still_there = status == "canceled";
    let ended =
        w.storage.dial_ended(entry_id, operator, talked, caller_still_there, now, wrap_until);
    let entry = w.queues.bounded("dial ended", ended).await.flatten();
    match (talked, entry) {
        (Some(_), _) => call_ended(),
        (None, Some(entry)) if entry.state == EntryState::Left => document(vec![
            Verb::Speech(say("The caller left before you were connected.")),
            Verb::Redirect { url: next_url },
        ]),
        (None, _) => document(vec![
            Verb::Speech(say("The caller could not be connected.")),
            Verb::Redirect { url: next_url },
        ]),
    }
}

/// The `<Queue url>` document, played to the waiting caller just before the bridge: the
/// handoff's prompt of their language ("connecting you to an operator"). Play, Say, Pause
/// only.
fn connecting(w: &PinnedWebhooks<'_>, req: &ProviderRequest) -> Reply {
    let script = req
        .query("lang")
        .and_then(LanguageTag::parse)
        .and_then(|l| w.scripts.script(&l))
        .unwrap_or_else(|| w.scripts.default_script());
    let prompt = script.node(&script.operator).and_then(|node| match &node.kind {
        NodeKind::Handoff { .. } => Some(&node.prompt),
        _ => None,
    });
    let mut verbs: Vec<Verb> = prompt
        .map(|prompt| {
            prompt
                .items
                .iter()
                .map(|item| {
                    let spoken =
                        crate::ivr::Spoken { item: item.clone(), voice: script.voice.clone() };
                    Verb::Speech(super::answer::speech(&spoken))
                })
                .collect()
        })
        .unwrap_or_default();
    if verbs.is_empty()
        || prompt.is_some_and(|p| p.items.iter().all(|i| matches!(i, PromptItem::Pause(_))))
    {
        verbs.push(Verb::Speech(Speech::Pause { seconds: 1 }));
    }
    document(verbs)
}

/// The operator line's status callback: a finished call takes its operator offline.
fn status(req: &ProviderRequest, call_sid: Option<CallSid>) -> Reply {
    let call = req.call();
    let mut reply = document(Vec::new());
    if let (Some(call_sid), Some(status)) = (call_sid, call.status)
        && status.is_final()
    {
        // Through the journal: an operator who hangs up while the database is unavailable
        // must not stay on duty, or keep a caller being connected to them.
        reply.records.push(Record::OperatorLineEnded { call_sid, at: Utc::now() });
    }
    reply
}
