//! The outbox of text channels: every message the hotline sends to a person writing on
//! Telegram (later SMS, WhatsApp) is first a row of the outbox, then delivered by a worker
//! that paces, retries and records the outcome. This is its vocabulary, and the pure pacing
//! planner that decides which due messages may go now and when to look again.
//!
//! The pacing follows what the channels allow: about one message per second per chat, a
//! bounded number per second overall, and a pause of the whole channel when it answers "too
//! many requests, retry after *n* seconds".

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::conversation::Channel;

/// Longest text of a message, in characters: Telegram's limit for one message.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Most buttons under one message (Telegram's limit for an inline keyboard).
pub const MAX_BUTTONS: usize = 100;
/// Longest text of a button, in characters.
pub const MAX_BUTTON_TEXT_CHARS: usize = 128;
/// Longest data a button sends back, in bytes (Telegram's `callback_data` limit).
pub const MAX_BUTTON_DATA_BYTES: usize = 64;
/// Longest chat key or idempotency key, in bytes.
pub const MAX_KEY_BYTES: usize = 200;
/// Longest sealed address, in bytes (a sealed chat id or phone number is far shorter).
pub const MAX_ADDRESS_BYTES: usize = 1024;
/// The shortest wait between two attempts of a message the channel failed transiently.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest wait between two attempts.
const LONGEST_BACKOFF: Duration = Duration::from_secs(300);
/// The window the global rate is counted over.
const RATE_WINDOW: Duration = Duration::from_secs(1);
/// The most messages handed to a channel and not answered yet. Each send holds a thread of the
/// blocking pool while it waits for the channel, so an outbox paced at hundreds a second
/// would otherwise hold hundreds of threads; 32 sends at once outrun Telegram's 30 messages a
/// second even at a second's round trip.
pub const MOST_IN_FLIGHT: usize = 32;
/// The free places the line is read again for, while sends are out: under a flood every
/// answer frees one place, and a read of the line per place would cost more than the send.
/// At Telegram's pace far fewer are ever out, so a message never waits for this.
const READ_FOR_FREE: usize = MOST_IN_FLIGHT / 4;

/// A button under a message: its label, and what the channel sends back when it is pressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    /// The label the person sees.
    pub text: String,
    /// What comes back when it is pressed (a script's choice).
    pub data: String,
    /// What a person types instead on a channel without buttons (SMS), where the button is
    /// shown as a numbered line (`1 — Surrender`); `None` when typing cannot stand for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What an outbox row asks of the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutAction {
    /// A new message, with rows of buttons (none: a plain message).
    Send {
        /// The text.
        text: String,
        /// Rows of buttons.
        buttons: Vec<Vec<Button>>,
    },
    /// Replace the text (and buttons) of an earlier message of this outbox (row `of`), in place.
    Edit {
        /// The outbox row of the message to change.
        of: i64,
        /// The new text.
        text: String,
        /// The new rows of buttons.
        buttons: Vec<Vec<Button>>,
    },
    /// Delete an earlier message of this outbox from the person's phone.
    Delete {
        /// The outbox row of the message to delete.
        of: i64,
    },
    /// Delete a message the person sent, from their phone (they asked for the conversation
    /// to be deleted).
    Forget {
        /// The channel's id of their message.
        message_id: String,
    },
    /// A template the channel approved beforehand, which it delivers where it takes no free
    /// text (WhatsApp, 24 hours after the person's last message). It holds no case data.
    Template {
        /// The channel's id of the template (Twilio's Content SID).
        content_sid: String,
    },
}

impl OutAction {
    /// Its stored name.
    pub fn kind(&self) -> &'static str {
        match self {
            OutAction::Send { .. } => "send",
            OutAction::Edit { .. } => "edit",
            OutAction::Delete { .. } => "delete",
            OutAction::Forget { .. } => "forget",
            OutAction::Template { .. } => "template",
        }
    }
}

/// A message to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutgoing {
    /// The case the conversation belongs to.
    pub case_id: i64,
    /// The channel it goes out on.
    pub channel: Channel,
    /// The reply address, sealed by app (opaque here and in storage).
    pub address_sealed: String,
    /// Pacing key: messages with the same key are spaced ≥ `[outbox] per_chat_interval_ms` apart.
    pub chat_key: String,
    /// What to do.
    pub action: OutAction,
    /// Idempotency key: enqueueing the same key twice stores one row (an inbound update handled
    /// twice must not answer twice). E.g. "tg-update:1234:0".
    pub dedupe_key: String,
}

/// Why a message cannot be enqueued. The messages name the field, never its value: the value
/// may be a person's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A field is empty, too long or holds a character it may not.
    #[error("the outgoing message's {0}")]
    Field(&'static str),
}

impl NewOutgoing {
    /// Checks every field against what the channels accept, so a message that can never be
    /// delivered is refused when it is enqueued rather than retried for hours.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.case_id < 1 {
            return Err(Invalid::Field("case id must be a stored case"));
        }
        check_key(&self.chat_key, "chat key must be 1 to 200 bytes without control characters")?;
        check_key(
            &self.dedupe_key,
            "idempotency key must be 1 to 200 bytes without control characters",
        )?;
        if self.address_sealed.is_empty()
            || self.address_sealed.len() > MAX_ADDRESS_BYTES
            || self.address_sealed.contains('\0')
        {
            return Err(Invalid::Field("sealed address is empty, too long or not text"));
        }
        match &self.action {
            OutAction::Send { text, buttons } => check_content(text, buttons),
            OutAction::Edit { of, text, buttons } => {
                check_target(*of)?;
                check_content(text, buttons)
            }
            OutAction::Delete { of } => check_target(*of),
            OutAction::Forget { message_id } => check_key(
                message_id,
                "the message to forget must be the channel's id of it, 1 to 200 bytes",
            ),
            OutAction::Template { content_sid } => check_key(
                content_sid,
                "the template must be the channel's id of it, 1 to 200 bytes",
            ),
        }
    }
}

fn check_key(key: &str, rule: &'static str) -> Result<(), Invalid> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES || key.chars().any(char::is_control) {
        return Err(Invalid::Field(rule));
    }
    Ok(())
}

fn check_target(of: i64) -> Result<(), Invalid> {
    if of < 1 {
        return Err(Invalid::Field("earlier message must be a row of the outbox"));
    }
    Ok(())
}

fn check_content(text: &str, buttons: &[Vec<Button>]) -> Result<(), Invalid> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS || text.contains('\0') {
        return Err(Invalid::Field("text must be 1 to 4096 characters"));
    }
    let count: usize = buttons.iter().map(Vec::len).sum();
    if count > MAX_BUTTONS || buttons.iter().any(Vec::is_empty) {
        return Err(Invalid::Field("buttons must be at most 100, in rows that are not empty"));
    }
    for button in buttons.iter().flatten() {
        let label = button.text.trim();
        if label.is_empty()
            || button.text.chars().count() > MAX_BUTTON_TEXT_CHARS
            || button.text.chars().any(char::is_control)
        {
            return Err(Invalid::Field("button text must be 1 to 128 characters on one line"));
        }
        if button.data.is_empty()
            || button.data.len() > MAX_BUTTON_DATA_BYTES
            || button.data.chars().any(char::is_control)
        {
            return Err(Invalid::Field("button data must be 1 to 64 bytes"));
        }
    }
    Ok(())
}

/// A message claimed for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Its outbox row.
    pub id: i64,
    /// Its case.
    pub case_id: i64,
    /// The channel.
    pub channel: Channel,
    /// The reply address, sealed.
    pub address_sealed: String,
    /// Its pacing key.
    pub chat_key: String,
    /// What to do.
    pub action: OutAction,
    /// For an edit or a delete: the channel's id of the earlier message (`None` when that
    /// message was never delivered: there is nothing to change on the phone).
    pub target_provider_id: Option<String>,
    /// This attempt's number, from 1.
    pub attempt: u32,
}

/// What the channel answered to one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered; the channel's id of the message, when it gives one (needed to edit or
    /// delete it later).
    Sent {
        /// The channel's message id.
        provider_id: Option<String>,
    },
    /// The channel asks to wait this long before any further message (Telegram's 429):
    /// the whole channel pauses, and this message is tried again after the pause.
    RetryAfter(Duration),
    /// A failure that may pass (a timeout, a 5xx): tried again with backoff.
    Transient(String),
    /// The channel refuses this message for good (blocked bot, deleted chat): failed at once.
    Refused(String),
}

/// Where an outbox row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// Waiting to be sent (first attempt, or again after a failure).
    Pending,
    /// Handed to the channel; not known yet whether it arrived.
    Sending,
    /// Delivered.
    Sent,
    /// Given up on.
    Failed,
}

impl OutState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutState::Pending => "pending",
            OutState::Sending => "sending",
            OutState::Sent => "sent",
            OutState::Failed => "failed",
        }
    }

    /// The state of a stored name.
    pub fn parse(text: &str) -> Option<OutState> {
        [OutState::Pending, OutState::Sending, OutState::Sent, OutState::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One message of a case as the console shows its delivery: no text, no address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutStatus {
    /// Its outbox row.
    pub id: i64,
    /// The channel.
    pub channel: Channel,
    /// `send`, `edit` or `delete`.
    pub kind: &'static str,
    /// Where it is.
    pub state: OutState,
    /// Attempts made.
    pub attempts: u32,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When the channel took it.
    pub sent_at: Option<DateTime<Utc>>,
    /// The last failure, as the channel worded it.
    pub error: Option<String>,
}

/// A due message as the planner sees it: the oldest waiting message of its chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Its outbox row.
    pub id: i64,
    /// Its pacing key.
    pub chat_key: String,
}

/// How long to wait before attempt `attempts + 1` of a message whose attempts so far failed
/// transiently: 1 s, 2 s, 4 s … at most 5 minutes.
pub fn backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << doublings).min(LONGEST_BACKOFF)
}

/// The pacing limits of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// The least time between two messages of one chat.
    pub per_chat: Duration,
    /// The most messages in any one-second window, over all chats.
    pub per_second: u32,
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// The messages that go now, in the order given.
    pub go: Vec<i64>,
    /// When a message held back now may go (`None`: nothing is held back by the pacing).
    pub wake_at: Option<Instant>,
}

/// The pacing planner of one channel: it remembers when each chat last sent, the sends of the
/// last second and the messages in flight, and the channel's pause. It reads no clock: every
/// call is told the time.
///
/// The global limit is a sliding one-second window, not a token bucket: a bucket lets a full
/// burst go at the end of one second and another at the start of the next, twice the limit in
/// one second. A send counts from when it is planned until its answer comes, and then at the
/// time of the answer, which is no earlier than the channel received it, so the limit holds
/// for the times the channel sees, however long the sends take.
#[derive(Debug)]
pub struct Pacer {
    pacing: Pacing,
    /// Messages handed out and not yet answered, with their chat.
    in_flight: HashMap<i64, String>,
    /// Answer times of the sends of the last window, oldest first.
    recent: VecDeque<Instant>,
    /// When each chat last had an answer (or a send planned); only chats within the
    /// per-chat interval are kept.
    last_by_chat: HashMap<String, Instant>,
    /// Until when the whole channel waits.
    paused_until: Option<Instant>,
}

impl Pacer {
    /// A planner with nothing sent yet.
    pub fn new(pacing: Pacing) -> Pacer {
        Pacer {
            pacing,
            in_flight: HashMap::new(),
            recent: VecDeque::new(),
            last_by_chat: HashMap::new(),
            paused_until: None,
        }
    }

    /// Which of the `due` messages (oldest first) go `now`. Only the first message of a chat
    /// in the list may go, and only when the chat has nothing in flight, so a chat's messages
    /// leave in order; the chosen ones are counted as in flight until [`Pacer::answered`].
    pub fn plan(&mut self, now: Instant, due: &[Due]) -> Plan {
        if let Some(until) = self.paused_until {
            if until > now {
                return Plan { go: Vec::new(), wake_at: Some(until) };
            }
            self.paused_until = None;
        }
        self.forget_before(now);
        let mut wake_at: Option<Instant> = None;
        let mut wake = |at: Instant| wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
        let limit = usize::try_from(self.pacing.per_second).unwrap_or(usize::MAX);
        let mut seen: Vec<&str> = Vec::new();
        let mut go = Vec::new();
        for message in due {
            let chat = message.chat_key.as_str();
            if seen.contains(&chat) {
                continue;
            }
            seen.push(chat);
            if self.in_flight.values().any(|c| c == chat) {
                continue;
            }
            if let Some(last) = self.last_by_chat.get(chat) {
                let free = *last + self.pacing.per_chat;
                if free > now {
                    wake(free);
                    continue;
                }
            }
            if self.in_flight.len() >= MOST_IN_FLIGHT {
                // The next answer calls the planner again.
                break;
            }
            if self.in_flight.len() + self.recent.len() >= limit {
                // Full: the oldest answered send leaves the window first (none answered yet:
                // the next answer calls the planner again).
                if let Some(oldest) = self.recent.front() {
                    wake(*oldest + RATE_WINDOW);
                }
                break;
            }
            self.in_flight.insert(message.id, chat.to_owned());
            self.last_by_chat.insert(chat.to_owned(), now);
            go.push(message.id);
        }
        Plan { go, wake_at }
    }

    /// How many due messages are worth reading for the next plan: one per chat (a chat
    /// offers only its oldest), enough for every free place in flight even if each chat still
    /// within its interval comes first. A long line is never read whole; with fewer than
    /// [`READ_FOR_FREE`] places free nothing is worth reading: the answers still out free
    /// more, and each wakes the worker.
    pub fn worth_reading(&self) -> u32 {
        let free = MOST_IN_FLIGHT.saturating_sub(self.in_flight.len());
        if free < READ_FOR_FREE {
            return 0;
        }
        u32::try_from(free + self.last_by_chat.len()).unwrap_or(u32::MAX)
    }

    /// The channel answered message `id` at `now` (whatever it answered: every attempt counts
    /// against the channel's limits).
    pub fn answered(&mut self, id: i64, now: Instant) {
        if let Some(chat) = self.in_flight.remove(&id) {
            self.last_by_chat.insert(chat, now);
            self.recent.push_back(now);
        }
    }

    /// Message `id` was planned but not handed to the channel (it changed meanwhile): it
    /// counts against nothing.
    pub fn withdrawn(&mut self, id: i64) {
        self.in_flight.remove(&id);
    }

    /// The channel asked for a pause: nothing goes before `until`.
    pub fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    /// Drops what no longer limits anything, so memory stays bounded by the chats of the last
    /// interval and the sends of the last second.
    fn forget_before(&mut self, now: Instant) {
        while self.recent.front().is_some_and(|at| *at + RATE_WINDOW <= now) {
            self.recent.pop_front();
        }
        let per_chat = self.pacing.per_chat;
        self.last_by_chat.retain(|_, last| *last + per_chat > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(id: i64, chat: &str) -> Due {
        Due { id, chat_key: chat.into() }
    }

    fn pacer(per_chat_ms: u64, per_second: u32) -> Pacer {
        Pacer::new(Pacing { per_chat: Duration::from_millis(per_chat_ms), per_second })
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn message(action: OutAction) -> NewOutgoing {
        NewOutgoing {
            case_id: 1,
            channel: Channel::Telegram,
            address_sealed: "sealed".into(),
            chat_key: "tg:1".into(),
            action,
            dedupe_key: "tg-update:1:0".into(),
        }
    }

    fn send(text: &str, buttons: Vec<Vec<Button>>) -> NewOutgoing {
        message(OutAction::Send { text: text.into(), buttons })
    }

    fn button(text: &str, data: &str) -> Button {
        Button { text: text.into(), data: data.into(), key: None }
    }

    #[test]
    fn names_round_trip_and_strangers_are_refused() {
        for state in [OutState::Pending, OutState::Sending, OutState::Sent, OutState::Failed] {
            assert_eq!(OutState::parse(state.as_str()), Some(state));
        }
        for stranger in ["", "Telegram", "telegram ", "signal", "x".repeat(10_000).as_str()] {
            assert_eq!(OutState::parse(stranger), None);
        }
    }

    #[test]
    fn a_plain_message_and_a_full_keyboard_are_accepted() {
        assert_eq!(send("Hello", vec![]).check(), Ok(()));
        let row = vec![button("Yes", "1"); 10];
        assert_eq!(send(&"я".repeat(MAX_TEXT_CHARS), vec![row; 10]).check(), Ok(()));
        assert_eq!(message(OutAction::Delete { of: 7 }).check(), Ok(()));
    }

    #[test]
    fn wrong_empty_huge_and_hostile_messages_are_refused() {
        let refused = |new: NewOutgoing| assert!(new.check().is_err(), "{new:?} was accepted");
        refused(send("", vec![]));
        refused(send(" \n ", vec![]));
        refused(send(&"a".repeat(MAX_TEXT_CHARS + 1), vec![]));
        refused(send("a\0b", vec![]));
        refused(send("a", vec![vec![]]));
        refused(send("a", vec![vec![button("x", "1"); 101]]));
        refused(send("a", vec![vec![button("", "1")]]));
        refused(send("a", vec![vec![button("two\nlines", "1")]]));
        refused(send("a", vec![vec![button(&"b".repeat(129), "1")]]));
        refused(send("a", vec![vec![button("x", "")]]));
        refused(send("a", vec![vec![button("x", &"d".repeat(65))]]));
        refused(send("a", vec![vec![button("x", "\u{1b}[31m")]]));
        refused(message(OutAction::Delete { of: 0 }));
        refused(message(OutAction::Edit { of: -3, text: "a".into(), buttons: vec![] }));
        for (field, value) in [("chat", ""), ("chat", "a\nb"), ("dedupe", ""), ("address", "")] {
            let mut new = send("a", vec![]);
            match field {
                "chat" => new.chat_key = value.into(),
                "dedupe" => new.dedupe_key = value.into(),
                _ => new.address_sealed = value.into(),
            }
            refused(new);
        }
        let mut huge = send("a", vec![]);
        huge.dedupe_key = "k".repeat(MAX_KEY_BYTES + 1);
        refused(huge);
        let mut huge = send("a", vec![]);
        huge.address_sealed = "s".repeat(MAX_ADDRESS_BYTES + 1);
        refused(huge);
        let mut no_case = send("a", vec![]);
        no_case.case_id = 0;
        refused(no_case);
    }

    #[test]
    fn a_refusal_names_the_field_not_the_value() {
        let error = send("secret words\0", vec![]).check().unwrap_err().to_string();
        assert!(error.contains("text"), "{error}");
        assert!(!error.contains("secret"), "{error}");
    }

    #[test]
    fn backoff_doubles_from_one_second_up_to_five_minutes() {
        let secs: Vec<u64> = (1..=12).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn at_most_so_many_sends_are_in_flight_whatever_the_rate() {
        let start = Instant::now();
        let mut pacer = pacer(10, 1000);
        let many: Vec<Due> = (0..100).map(|id| due(id, &format!("chat {id}"))).collect();
        let first = pacer.plan(start, &many);
        assert_eq!(first.go, (0..MOST_IN_FLIGHT as i64).collect::<Vec<_>>());
        assert!(pacer.plan(start, &many[MOST_IN_FLIGHT..]).go.is_empty());
        assert_eq!(pacer.worth_reading(), 0, "nothing can go before an answer");
        // Each answer frees one place, for the next chat in line.
        pacer.answered(0, start + ms(1));
        pacer.answered(1, start + ms(1));
        let next = pacer.plan(start + ms(2), &many[MOST_IN_FLIGHT..]);
        assert_eq!(next.go, [MOST_IN_FLIGHT as i64, MOST_IN_FLIGHT as i64 + 1]);
    }

    #[test]
    fn the_line_is_read_again_once_a_quarter_of_the_places_are_free() {
        let start = Instant::now();
        let mut pacer = pacer(10, 1000);
        let many: Vec<Due> = (0..100).map(|id| due(id, &format!("chat {id}"))).collect();
        assert_eq!(pacer.plan(start, &many).go.len(), MOST_IN_FLIGHT);
        for id in 0..READ_FOR_FREE as i64 {
            assert_eq!(pacer.worth_reading(), 0, "{id} places free");
            pacer.answered(id, start + ms(1));
        }
        // The places free, and the chats just sent to (still within their interval: they
        // may come first in the line and be skipped).
        assert_eq!(pacer.worth_reading(), (READ_FOR_FREE + MOST_IN_FLIGHT) as u32);
    }

    #[test]
    fn enough_is_read_for_every_free_place_past_the_chats_still_waiting_their_interval() {
        let start = Instant::now();
        let mut pacer = pacer(1000, 25);
        assert_eq!(pacer.worth_reading(), MOST_IN_FLIGHT as u32);
        let chats: Vec<Due> = (0..3).map(|id| due(id, &format!("chat {id}"))).collect();
        assert_eq!(pacer.plan(start, &chats).go, [0, 1, 2]);
        // Three in flight: three places fewer, three chats that may come first and be skipped.
        assert_eq!(pacer.worth_reading(), MOST_IN_FLIGHT as u32);
        pacer.answered(0, start + ms(10));
        assert_eq!(pacer.worth_reading(), MOST_IN_FLIGHT as u32 + 1);
        // Past their interval the chats no longer count; two places are still taken.
        pacer.plan(start + ms(1500), &[]);
        assert_eq!(pacer.worth_reading(), MOST_IN_FLIGHT as u32 - 2);
    }

    #[test]
    fn a_chat_waits_its_interval_after_the_answer() {
        let start = Instant::now();
        let mut pacer = pacer(1000, 25);
        assert_eq!(pacer.plan(start, &[due(1, "a")]).go, [1]);
        // In flight: its next message waits for the answer.
        assert_eq!(pacer.plan(start + ms(500), &[due(2, "a")]).go, Vec::<i64>::new());
        pacer.answered(1, start + ms(200));
        let held = pacer.plan(start + ms(900), &[due(2, "a")]);
        assert!(held.go.is_empty());
        assert_eq!(held.wake_at, Some(start + ms(1200)));
        assert_eq!(pacer.plan(start + ms(1199), &[due(2, "a")]).go, Vec::<i64>::new());
        assert_eq!(pacer.plan(start + ms(1200), &[due(2, "a")]).go, [2]);
    }

    #[test]
    fn other_chats_are_not_held_by_a_busy_one() {
        let start = Instant::now();
        let mut pacer = pacer(1000, 25);
        pacer.plan(start, &[due(1, "a")]);
        pacer.answered(1, start);
        let plan = pacer.plan(start + ms(10), &[due(2, "a"), due(3, "b"), due(4, "c")]);
        assert_eq!(plan.go, [3, 4]);
        assert_eq!(plan.wake_at, Some(start + ms(1000)));
    }

    #[test]
    fn only_the_first_message_of_a_chat_may_go() {
        let start = Instant::now();
        let mut pacer = pacer(1000, 25);
        let plan = pacer.plan(start, &[due(5, "a"), due(6, "a"), due(7, "b"), due(8, "a")]);
        assert_eq!(plan.go, [5, 7]);
    }

    #[test]
    fn the_global_rate_holds_in_every_window() {
        let start = Instant::now();
        let mut pacer = pacer(0, 3);
        let chats: Vec<Due> = (1..=10).map(|n| due(n, &format!("chat{n}"))).collect();
        let mut sent: Vec<Instant> = Vec::new();
        let mut now = start;
        let mut left = chats;
        while !left.is_empty() {
            let plan = pacer.plan(now, &left);
            for id in &plan.go {
                sent.push(now);
                // Each answer comes 50 ms after the send.
                pacer.answered(*id, now + ms(50));
            }
            left.retain(|d| !plan.go.contains(&d.id));
            now = plan.wake_at.unwrap_or(now + ms(50)).max(now + ms(50));
        }
        for (i, at) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().filter(|t| **t < *at + RATE_WINDOW).count();
            assert!(in_window <= 3, "{in_window} sends in the second from send {i}");
        }
        assert_eq!(sent.len(), 10);
    }

    #[test]
    fn a_full_window_waits_for_its_oldest_answer_to_leave_it() {
        let start = Instant::now();
        let mut pacer = pacer(0, 2);
        let plan = pacer.plan(start, &[due(1, "a"), due(2, "b"), due(3, "c")]);
        assert_eq!(plan.go, [1, 2]);
        // Nothing answered yet: the next answer, not a time, frees a place.
        assert_eq!(plan.wake_at, None);
        pacer.answered(1, start + ms(300));
        pacer.answered(2, start + ms(400));
        let plan = pacer.plan(start + ms(500), &[due(3, "c")]);
        assert!(plan.go.is_empty());
        assert_eq!(plan.wake_at, Some(start + ms(1300)));
        assert_eq!(pacer.plan(start + ms(1300), &[due(3, "c")]).go, [3]);
    }

    #[test]
    fn a_pause_stops_every_chat_until_it_ends() {
        let start = Instant::now();
        let mut pacer = pacer(0, 25);
        pacer.pause_until(start + ms(3000));
        // A shorter pause asked later does not shorten it.
        pacer.pause_until(start + ms(1000));
        let plan = pacer.plan(start + ms(2999), &[due(1, "a"), due(2, "b")]);
        assert!(plan.go.is_empty());
        assert_eq!(plan.wake_at, Some(start + ms(3000)));
        assert_eq!(pacer.plan(start + ms(3000), &[due(1, "a"), due(2, "b")]).go, [1, 2]);
    }

    #[test]
    fn a_withdrawn_message_frees_its_chat_and_its_place() {
        let start = Instant::now();
        let mut pacer = pacer(0, 1);
        assert_eq!(pacer.plan(start, &[due(1, "a")]).go, [1]);
        pacer.withdrawn(1);
        assert_eq!(pacer.plan(start, &[due(2, "b")]).go, [2]);
    }
}
