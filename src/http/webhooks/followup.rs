//! The caller's side of the follow-up list: keys pressed while waiting in the queue, the
//! callback number (typed, read back, confirmed, sealed), and the voicemail's recording
//! status callback.
//!
//! The number a caller types is never recorded, logged or put in a URL as it is: it is
//! sealed ([`crate::domain::followups::Sealer`]) as soon as it is read, and what travels to the
//! confirmation request (`n=` in its URL) and into the database is the sealed form.

use super::Answering;
use super::request::{Digits, ProviderRequest};
use super::voice::{Reply, reply};
use crate::domain::cases::{Event, Record};
use crate::domain::followups::CallbackNumber;
use crate::ivr::{self, Turn};
use crate::scripts::{Key, NodeId, NodeKind, Script};
use crate::twiml::{self, WaitDocument, WaitVerb};

/// The recording status callback records at the Record's step plus this, apart from every
/// step the call itself makes (a handful) and from the fallback's offset.
const RECORDING_STEP_OFFSET: u32 = 500_000_000;

/// `/voice/wait-key`: a key pressed during the wait announcement. A key of the handoff's
/// `<wait>` takes the caller out of the queue (`<Leave/>`), remembering where they go; the
/// Enqueue action then takes them there. Any other key, or a caller the server cannot mark
/// (an operator is already being connected, or the database is unavailable), keeps waiting:
/// `None`, and the usual announcement follows.
pub(super) async fn wait_key(w: &Answering<'_>, script: &Script, node: &NodeId) -> Option<Reply> {
    let Digits::Keys(keys) = &w.digits else { return None };
    let key = Key::parse(keys)?;
    let NodeKind::Handoff { wait_keys, .. } = &script.node(node)?.kind else { return None };
    let chosen = wait_keys.iter().find(|k| k.key == key)?;
    let call_sid = w.call.call_sid.as_ref()?;
    if !w.app().leave_queue_for(call_sid, &chosen.goto).await {
        tracing::info!("wait key pressed, but the caller could not be taken out of the queue");
        return None;
    }
    tracing::info!(goto = %chosen.goto, "caller leaves the queue by a wait key");
    let document = WaitDocument { verbs: vec![WaitVerb::Leave] }.render();
    Some(Reply { document, records: Vec::new() })
}

/// `/voice/callback`: the number was typed (or nothing was, and the number called from is
/// meant). A number we can call is sealed and read back; anything else is asked again.
pub(super) fn number_entered(
    w: &Answering<'_>,
    req: &ProviderRequest,
    script: &Script,
    node: &NodeId,
) -> Turn {
    let attempt = w.position.attempt.unwrap_or(1);
    let number = match &w.digits {
        Digits::Keys(keys) => CallbackNumber::from_keypad(keys),
        Digits::None => req.caller_id_number(),
        Digits::Invalid => None,
    };
    let sealed = match (&number, &w.call.call_sid) {
        (Some(number), Some(call_sid)) => w.app().seal_callback_number(number, call_sid),
        _ => None,
    };
    match (number, sealed) {
        (Some(number), Some(sealed)) => {
            ivr::callback_read_back(script, node, &number.spoken(), sealed, 1)
        }
        _ => ivr::callback_invalid(script, node, attempt),
    }
}

/// `/voice/callback-confirm`: after the read-back, `1` confirms (the request is filed),
/// `2` enters the number again; silence or another key reads it back again, three times at
/// most, then the node's `otherwise`.
pub(super) fn confirmed(
    w: &Answering<'_>,
    req: &ProviderRequest,
    script: &Script,
    node: &NodeId,
    step: u32,
    next_step: u32,
) -> Reply {
    let call_sid = w.call.call_sid.clone();
    let attempt = w.position.attempt.unwrap_or(1);
    let sealed = req.query().get("n").unwrap_or_default().to_owned();
    let number = call_sid.as_ref().and_then(|sid| w.app().open_callback_number(&sealed, sid));
    let Some(number) = number else {
        // Not sealed by us for this call: ask for the number afresh.
        let mut turn = ivr::enter(script, node);
        let reason = "callback confirmation without a valid sealed number".to_owned();
        turn.events.insert(0, Event::Rejected { reason });
        return reply(w, turn, &call_sid, step, next_step);
    };
    let keys = match &w.digits {
        Digits::Keys(keys) => keys.clone(),
        _ => String::new(),
    };
    let pressed = |meaning: &str| Event::Pressed {
        node: Some(node.clone()),
        digits: keys.clone(),
        meaning: meaning.to_owned(),
    };
    match keys.as_str() {
        "1" => {
            let mut turn = ivr::callback_confirmed(script, node, number.hint());
            turn.events.insert(0, pressed("confirms the callback number"));
            let document = reply(w, turn.clone(), &None, step, next_step).document;
            let records = match call_sid {
                Some(call_sid) => vec![Record::Callback {
                    call_sid,
                    step,
                    at: w.app().now(),
                    events: turn.events,
                    sealed,
                    hint: number.hint(),
                }],
                None => Vec::new(),
            };
            tracing::info!("callback request confirmed");
            Reply { document, records }
        }
        "2" => {
            let mut turn = ivr::enter(script, node);
            turn.events.insert(0, pressed("enters the callback number again"));
            reply(w, turn, &call_sid, step, next_step)
        }
        _ if attempt >= ivr::CALLBACK_ATTEMPTS => {
            let turn = match script.node(node).map(|n| &n.kind) {
                Some(NodeKind::Callback { otherwise, .. }) => ivr::enter(script, otherwise),
                _ => ivr::to_operator(script, format!("unknown callback node {node}")),
            };
            reply(w, turn, &call_sid, step, next_step)
        }
        _ => {
            let turn = ivr::callback_read_back(script, node, &number.spoken(), sealed, attempt + 1);
            reply(w, turn, &call_sid, step, next_step)
        }
    }
}

/// `/voice/recording`: the provider's recording status callback. A completed recording's URL
/// and length are recorded on the case (and so in the follow-up list); a retry of the same
/// callback lands on the same step and is ignored.
pub(super) fn recording_status(w: &Answering<'_>, req: &ProviderRequest) -> Reply {
    let document = twiml::Document::default().render();
    let status = req.param("RecordingStatus").unwrap_or_default();
    let url = req.param("RecordingUrl").filter(|url| {
        url.len() <= 2048
            && (url.starts_with("https://") || url.starts_with("http://"))
            && !url.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    let duration = req
        .param("RecordingDuration")
        .filter(|d| (1..=7).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok());
    let (Some(call_sid), Some(step), Some(url)) = (w.call.call_sid.clone(), w.position.step, url)
    else {
        tracing::warn!("recording status callback without a call, step or valid URL; ignored");
        return Reply { document, records: Vec::new() };
    };
    if status != "completed" {
        tracing::warn!(status = %status.chars().take(20).collect::<String>(), "recording not completed");
        return Reply { document, records: Vec::new() };
    }
    let event = Event::Voicemail { recording_url: url.to_owned(), duration_secs: duration };
    let record = Record::Step {
        call_sid,
        step: step.saturating_add(RECORDING_STEP_OFFSET),
        at: w.app().now(),
        events: vec![event],
    };
    Reply { document, records: vec![record] }
}
