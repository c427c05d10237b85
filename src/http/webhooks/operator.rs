//! The operator line: operators call it from any phone, type their operator ID and PIN, hear
//! a whisper of the next caller's case, and are connected to exactly that caller.
//!
//! The flow, one URL per step (all `POST /voice/operator…`, signed like every webhook; their
//! rules are the use cases of `crate::app::operator_line`):
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
//! A call-me operator is rung instead (`crate::app::operator_reach`): the call the hotline
//! places answers at `/voice/operator/ring`, which must be that very call (its `CallSid` is
//! the one the provider gave when it was created, noted with the claim on the caller): the
//! operator hears that a caller waits and presses 1 (`/voice/operator/ring-take`; a
//! voicemail that picks up does not), and the call goes on as a dial-in would from step 2,
//! with the caller claimed for them. `/voice/operator/ring-status`, the ring's status
//! callback, gives a caller not connected back to the queue; a ring not answered or not
//! taken pauses the operator's rings for a while.
//!
//! Every step after the PIN (or the 1 of a ring) carries the operator's id in its URL and
//! must come from the call that entered it (`presence.call_sid`). The operator hears English.

use chrono::DateTime;

use super::Answering;
use super::request::{Digits, ProviderRequest};
use super::route::{Dial, Page, Query, Route};
use super::voice::Reply;
use crate::app::operator_line::{DialIn, NextWork};
use crate::app::operator_reach::RingCall;
use crate::domain::cases::{CallSid, Record};
use crate::domain::followups::{AttemptResult, CallbackNumber};
use crate::domain::queue::EntryState;
use crate::scripts::{LanguageTag, NodeKind, PromptItem};
use crate::twiml::{DialNumber, DialQueue, Document, Gather, KeypadEntry, Speech, Verb};

/// Wrong ID/PIN entries before the line hangs up.
const MAX_TRIES: u32 = 3;

/// Seconds a Dial waits on a queue: the caller's own queue holds them already, so an empty
/// one means they left; on a shared queue it is the pause between two looks.
const DIAL_TIMEOUT: u32 = 10;

/// Seconds a callback rings before it counts as not answered.
const CALLBACK_RING_SECS: u32 = 30;

/// The voice the operator hears (the line speaks English to every operator).
const VOICE: &str = "Polly.Joanna";
/// Its language.
const VOICE_LANGUAGE: &str = "en-US";

/// A signed-in operator, as the URLs of their call carry them.
struct Operator<'a> {
    id: i64,
    speaks: &'a [LanguageTag],
}

impl Operator<'_> {
    /// `/voice/operator/next`, after a look on shared queues when `round` is given.
    fn next(&self, round: Option<i64>) -> String {
        Route::OperatorNext { operator: self.id, speaks: self.speaks.to_vec(), round }.url()
    }
}

/// Answers one step of the operator line.
pub(super) async fn answer(w: &Answering<'_>, page: Page, req: &ProviderRequest) -> Reply {
    let query = req.query();
    match page {
        Page::Operator => ask_id(1, Vec::new()),
        Page::OperatorId => entered_id(w, req),
        Page::OperatorPin => entered_pin(w, req).await,
        Page::OperatorNext | Page::OperatorDialed | Page::OperatorCalledBack => {
            let Some((id, speaks)) = signed_in(w, &query).await else {
                return not_signed_in();
            };
            let operator = Operator { id, speaks: &speaks };
            match page {
                Page::OperatorNext => next(w, &operator, req).await,
                Page::OperatorDialed => dialed(w, &operator, req).await,
                _ => called_back(w, &operator, req).await,
            }
        }
        Page::OperatorConnecting => connecting(w, &query),
        Page::OperatorStatus => status(w),
        Page::OperatorRing => ring(w, &query).await,
        Page::OperatorRingTake => ring_take(w, req).await,
        Page::OperatorRingStatus => ring_status(w, &query).await,
        _ => not_signed_in(),
    }
}

fn say(text: impl Into<String>) -> Speech {
    Speech::Say { text: text.into(), voice: Some(VOICE.into()), language: VOICE_LANGUAGE.into() }
}

fn document(verbs: Vec<Verb>) -> Reply {
    Reply { document: Document { verbs }.render(), records: Vec::new() }
}

/// Keys typed on the keypad: 1–12 digits (the finishing `#` is not sent).
fn typed(w: &Answering<'_>, min: usize) -> Option<String> {
    match &w.digits {
        Digits::Keys(keys)
            if (min..=12).contains(&keys.len()) && keys.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(keys.clone())
        }
        _ => None,
    }
}

/// Asks for the operator ID (try `attempt`), after `before`.
fn ask_id(attempt: u32, mut before: Vec<Verb>) -> Reply {
    let action = Route::OperatorId { attempt }.url();
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
fn attempt(query: &Query<'_>) -> u32 {
    query
        .number("try")
        .and_then(|t| u32::try_from(t).ok())
        .filter(|t| (1..=MAX_TRIES).contains(t))
        .unwrap_or(MAX_TRIES)
}

fn entered_id(w: &Answering<'_>, req: &ProviderRequest) -> Reply {
    let attempt = attempt(&req.query());
    // Whether the ID exists is not checked yet: the answer must not tell.
    let Some(operator) = typed(w, 1) else { return refused(w, attempt, None) };
    let action = Route::OperatorPin { attempt, operator }.url();
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
    let action = Route::OperatorPin { attempt, operator: operator.to_string() }.url();
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
fn refused(w: &Answering<'_>, attempt: u32, claimed: Option<i64>) -> Reply {
    if attempt >= MAX_TRIES {
        w.app().refuse_identification(MAX_TRIES, claimed);
        tracing::warn!(target: "hotline::security", "operator line: identification refused");
        return document(vec![
            Verb::Speech(say("Sorry, we could not identify you. Goodbye.")),
            Verb::Hangup,
        ]);
    }
    let sorry = Verb::Speech(say("That operator number and PIN do not match."));
    ask_id(attempt + 1, vec![sorry])
}

async fn entered_pin(w: &Answering<'_>, req: &ProviderRequest) -> Reply {
    let query = req.query();
    let attempt = attempt(&query);
    let claimed = query.number("op");
    let (Some(operator), Some(pin), Some(call_sid)) =
        (claimed, typed(w, 4), w.call.call_sid.clone())
    else {
        return refused(w, attempt, claimed);
    };
    let person = match w.app().dial_in(operator, pin, call_sid, w.call.caller.clone()).await {
        DialIn::SignedIn(person) => person,
        DialIn::Refused => return refused(w, attempt, Some(operator)),
        DialIn::Busy => return pin_again(attempt, operator),
        DialIn::CannotCheck => {
            return document(vec![
                Verb::Speech(say(
                    "The operator line cannot check PINs right now. Please call again in a \
                     minute.",
                )),
                Verb::Hangup,
            ]);
        }
        DialIn::CannotSignIn => {
            return document(vec![
                Verb::Speech(say(
                    "The operator line cannot sign you in right now. Please call again in a \
                     minute.",
                )),
                Verb::Hangup,
            ]);
        }
    };
    let mut verbs = vec![Verb::Speech(say(format!("Welcome, {}.", person.name)))];
    let operator = Operator { id: person.id, speaks: &person.languages };
    verbs.extend(take_next(w, &operator, 0, line_number(req)).await);
    document(verbs)
}

/// The operator of a `next`/`dialed` request, if they signed in on this very call.
async fn signed_in(w: &Answering<'_>, query: &Query<'_>) -> Option<(i64, Vec<LanguageTag>)> {
    let operator = query.number("op")?;
    let speaks = query.languages();
    let call_sid: &CallSid = w.call.call_sid.as_ref()?;
    if speaks.is_empty() {
        return None;
    }
    match w.app().on_operator_line(operator, call_sid).await {
        Some(true) => Some((operator, speaks)),
        Some(false) => None,
        // The database is unavailable: the URL is signed by the provider and was made by us
        // for this operator, so the shared queues can still be worked.
        None => Some((operator, speaks)),
    }
}

/// Asks an operator whose call is not signed in to sign in again.
pub(super) fn not_signed_in() -> Reply {
    ask_id(1, vec![Verb::Speech(say("Please sign in again."))])
}

/// The next caller for a signed-in operator; after an idle look (`at`), not before
/// [`DIAL_TIMEOUT`] seconds have passed.
async fn next(w: &Answering<'_>, operator: &Operator<'_>, req: &ProviderRequest) -> Reply {
    let query = req.query();
    let round = query.number("round").unwrap_or(0).clamp(0, 1_000_000);
    // A shared-queue dial can end at once (a queue that does not exist yet): keep the pace
    // at one look every DIAL_TIMEOUT seconds whatever the provider does.
    if let Some(at) = query.number("at").and_then(|at| DateTime::from_timestamp(at, 0)) {
        let elapsed = (w.app().now() - at).num_seconds();
        if (0..i64::from(DIAL_TIMEOUT)).contains(&elapsed) {
            let rest = u32::try_from(i64::from(DIAL_TIMEOUT) - elapsed).unwrap_or(DIAL_TIMEOUT);
            return document(vec![
                Verb::Speech(Speech::Pause { seconds: rest }),
                Verb::Redirect { url: operator.next(Some(round)) },
            ]);
        }
    }
    document(take_next(w, operator, round, line_number(req)).await)
}

/// Gives the operator their next work: a due callback, or a caller's whisper and
/// `<Dial><Queue>`; or, with nobody waiting, a dial on a shared queue.
async fn take_next(
    w: &Answering<'_>,
    operator: &Operator<'_>,
    round: i64,
    line: Option<String>,
) -> Vec<Verb> {
    let work = w.app().next_work(operator.id, operator.speaks, w.scripts).await;
    work_verbs(operator, work, round, line)
}

/// The verbs of an operator's next work.
fn work_verbs(
    operator: &Operator<'_>,
    work: NextWork,
    round: i64,
    line: Option<String>,
) -> Vec<Verb> {
    let speaks = operator.speaks;
    match work {
        NextWork::Callback { follow_up, tried, whisper, number } => {
            callback(operator, follow_up, tried, &whisper.text(), &number, line)
        }
        NextWork::Caller { entry, whisper, caller_language, provider_queue } => vec![
            Verb::Speech(say(whisper.text())),
            Verb::DialQueue(DialQueue {
                action: Route::OperatorDialed {
                    operator: operator.id,
                    speaks: speaks.to_vec(),
                    dial: Dial::Entry(entry),
                }
                .url(),
                timeout: DIAL_TIMEOUT,
                queue: provider_queue,
                url: Route::OperatorConnecting { language: caller_language, entry: Some(entry) }
                    .url(),
            }),
        ],
        NextWork::Nobody { at } => {
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
                    "No caller is waiting. Stay on the line; you will be connected when one \
                     arrives.",
                )));
            }
            let dial = Dial::Shared { round: round + 1, at: at.timestamp() };
            verbs.push(Verb::DialQueue(DialQueue {
                action: Route::OperatorDialed {
                    operator: operator.id,
                    speaks: speaks.to_vec(),
                    dial,
                }
                .url(),
                timeout: DIAL_TIMEOUT,
                queue: shared.to_string(),
                url: Route::OperatorConnecting { language: shared.clone(), entry: None }.url(),
            }));
            verbs
        }
    }
}

/// A due callback: the whisper of its case, then `<Dial><Number>` to the number the caller
/// left, written nowhere but this document.
fn callback(
    operator: &Operator<'_>,
    follow_up: i64,
    tried: usize,
    whisper: &str,
    number: &CallbackNumber,
    line: Option<String>,
) -> Vec<Verb> {
    let intro = match tried {
        0 => "Callback request.".to_owned(),
        n => format!("Callback request, attempt {}.", n + 1),
    };
    vec![
        Verb::Speech(say(format!("{intro} {whisper} Calling the caller now."))),
        Verb::DialNumber(DialNumber {
            action: Route::OperatorCalledBack {
                operator: operator.id,
                speaks: operator.speaks.to_vec(),
                follow_up,
            }
            .url(),
            timeout: CALLBACK_RING_SECS,
            number: number.e164(),
            caller_id: line,
        }),
    ]
}

/// The hotline's own number on the operator's call, shown to the caller being called back:
/// without it the provider would show the operator's personal number. It is the number the
/// operator called (`To`), or on a call the hotline placed to ring them, the one it came
/// from (`From`; `To` is then the operator's own phone).
fn line_number(req: &ProviderRequest) -> Option<String> {
    let outbound = req.param("Direction").is_some_and(|d| d.starts_with("outbound"));
    req.param(if outbound { "From" } else { "To" })
        .filter(|number| CallbackNumber::from_caller_id(number).is_some())
        .map(str::to_owned)
}

/// Seconds the operator has to press 1 on a ring.
const RING_TAKE_SECS: u32 = 10;

/// Times the answer of a ring is asked for again while its id is not yet noted.
const RING_ASKS: u32 = 3;

/// A call that ends at once with `text`.
fn goodbye(text: &str) -> Reply {
    document(vec![Verb::Speech(say(text)), Verb::Hangup])
}

/// The operator and entry of a ring's URL, and its call.
fn ring_of(w: &Answering<'_>, query: &Query<'_>) -> Option<(i64, i64, CallSid)> {
    Some((query.number("op")?, query.number("entry")?, w.call.call_sid.clone()?))
}

/// The answer URL of a ring: a call we placed to a call-me operator, who is asked to press 1
/// to take the caller. Anything but our very call hangs up.
async fn ring(w: &Answering<'_>, query: &Query<'_>) -> Reply {
    let Some((operator, entry, call_sid)) = ring_of(w, query) else {
        return not_our_ring();
    };
    let attempt = query.small("try").unwrap_or(RING_ASKS);
    match w.app().ring_call(operator, entry, &call_sid).await {
        RingCall::Ours(_) => {
            let action = Route::OperatorRingTake { operator, entry }.url();
            document(vec![
                Verb::Gather(Gather {
                    action,
                    num_digits: 1,
                    timeout: RING_TAKE_SECS,
                    prompts: vec![say(
                        "Hotline. A caller is waiting for you. Press 1 to take the call.",
                    )],
                }),
                Verb::Speech(say("Goodbye.")),
                Verb::Hangup,
            ])
        }
        RingCall::NotYet if attempt < RING_ASKS => document(vec![
            Verb::Speech(Speech::Pause { seconds: 1 }),
            Verb::Redirect {
                url: Route::OperatorRing { operator, entry, attempt: attempt + 1 }.url(),
            },
        ]),
        RingCall::NotYet | RingCall::NotOurs => not_our_ring(),
        RingCall::Unknown => goodbye("The hotline cannot connect you right now. Goodbye."),
    }
}

/// A ring URL requested by a call that is not the ring: it hangs up.
fn not_our_ring() -> Reply {
    tracing::warn!(target: "hotline::security", "a ring URL was requested by another call");
    goodbye("This call cannot be connected. Goodbye.")
}

/// The key pressed on a ring: 1 takes the caller (the whisper, then the bridge, as on the
/// operator line), and the call is the operator's line call from then on.
async fn ring_take(w: &Answering<'_>, req: &ProviderRequest) -> Reply {
    let query = req.query();
    let Some((operator, entry, call_sid)) = ring_of(w, &query) else {
        return not_our_ring();
    };
    let person = match w.app().ring_call(operator, entry, &call_sid).await {
        RingCall::Ours(person) => person,
        RingCall::Unknown => {
            return goodbye("The hotline cannot connect you right now. Goodbye.");
        }
        RingCall::NotYet | RingCall::NotOurs => return not_our_ring(),
    };
    if !matches!(&w.digits, Digits::Keys(keys) if keys == "1") {
        return goodbye("Goodbye.");
    }
    let Some(work) = w.app().ring_taken(&person, entry, call_sid, w.scripts).await else {
        return goodbye("The hotline cannot connect you right now. Goodbye.");
    };
    let operator = Operator { id: person.id, speaks: &person.languages };
    document(work_verbs(&operator, work, 0, line_number(req)))
}

/// The ring's status callback: its end gives a caller not connected back to the queue.
async fn ring_status(w: &Answering<'_>, query: &Query<'_>) -> Reply {
    if let (Some((operator, entry, call_sid)), Some(status)) = (ring_of(w, query), w.call.status)
        && status.is_final()
    {
        w.app().ring_status(operator, entry, call_sid).await;
    }
    document(Vec::new())
}

/// Seconds of talk of a Dial action, when sent and sensible.
fn dial_duration(req: &ProviderRequest) -> Option<u32> {
    req.param("DialCallDuration")
        .filter(|d| (1..=7).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok())
}

/// The end of a talk: the operator, in wrap-up, presses 1 for the next caller.
fn talk_ended(w: &Answering<'_>, next_url: String, prompt: &str) -> Reply {
    let timeout = u32::try_from(w.app().wrap_up_secs().clamp(5, 60)).unwrap_or(30);
    document(vec![
        Verb::Gather(Gather {
            action: next_url.clone(),
            num_digits: 1,
            timeout,
            prompts: vec![say(prompt)],
        }),
        Verb::Redirect { url: next_url },
    ])
}

/// The Dial action of a callback: the attempt is recorded from the dial's result (a talk is
/// `reached`; nobody answering `no-answer`; busy, failed or cut off `tried`). A follow-up
/// left open goes back to the list for a later try.
async fn called_back(w: &Answering<'_>, operator: &Operator<'_>, req: &ProviderRequest) -> Reply {
    let next_url = operator.next(None);
    let status = req.param("DialCallStatus").unwrap_or_default();
    let talked = dial_duration(req).is_some_and(|secs| secs > 0);
    let result = match status {
        "completed" | "answered" if talked => AttemptResult::Reached,
        "no-answer" => AttemptResult::NoAnswer,
        _ => AttemptResult::Tried,
    };
    let Some(follow_up) = req.query().number("fu") else {
        return document(vec![Verb::Redirect { url: next_url }]);
    };
    w.app().callback_attempted(operator.id, follow_up, result).await;
    if result == AttemptResult::Reached {
        return talk_ended(
            w,
            next_url,
            "The callback has ended. Press 1 when you are ready for the next caller, or hang up \
             to stop.",
        );
    }
    let said = match result {
        AttemptResult::NoAnswer => "Nobody answered the callback.",
        _ => "The callback did not connect.",
    };
    document(vec![Verb::Speech(say(said)), Verb::Redirect { url: next_url }])
}

/// The Dial action: of a caller's own queue (`entry`), or of a shared queue while idle.
async fn dialed(w: &Answering<'_>, operator: &Operator<'_>, req: &ProviderRequest) -> Reply {
    let next_url = operator.next(None);
    let status = req.param("DialCallStatus").unwrap_or_default();
    let talked = match (status, dial_duration(req)) {
        ("completed" | "answered", Some(secs)) if secs > 0 => Some(secs),
        _ => None,
    };
    let call_ended = "The call has ended. Press 1 when you are ready for the next caller, or \
                      hang up to stop.";
    let Some(entry) = req.query().number("entry") else {
        // A shared queue: a talk (with a caller queued while the database was unavailable)
        // ends in wrap-up; otherwise this was an idle look, and the next one follows.
        if talked.is_none() {
            return next(w, operator, req).await;
        }
        w.app().wrap_up(operator.id).await;
        return talk_ended(w, next_url, call_ended);
    };
    // The operator hung up mid-dial ("canceled"): the caller is still in their queue and goes
    // back to waiting; otherwise an unanswered dial means their queue was empty: they left.
    let caller_still_there = status == "canceled";
    let state = w.app().dial_ended(entry, operator.id, talked, caller_still_there).await;
    match (talked, state) {
        (Some(_), _) => talk_ended(w, next_url, call_ended),
        (None, Some(EntryState::Left)) => document(vec![
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
fn connecting(w: &Answering<'_>, query: &Query<'_>) -> Reply {
    let script = query
        .language()
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
fn status(w: &Answering<'_>) -> Reply {
    let mut reply = document(Vec::new());
    if let (Some(call_sid), Some(status)) = (w.call.call_sid.clone(), w.call.status)
        && status.is_final()
    {
        // Through the journal: an operator who hangs up while the database is unavailable
        // must not stay on duty, or keep a caller being connected to them.
        reply.records.push(Record::OperatorLineEnded { call_sid, at: w.app().now() });
    }
    reply
}
