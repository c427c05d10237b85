//! The use cases of text conversations: a message from a person walking the script, and an
//! operator taking, answering and closing the conversation.
//!
//! A message is handled in one write ([`crate::storage::ChatStep`]): marked handled, the
//! conversation moved, the case's events recorded, the words kept, the replies queued in the
//! outbox. The channel's webhook answers only after that write, so a database that cannot take
//! it makes the channel deliver the update again later (Telegram retries an unanswered
//! update), and the mark makes a second delivery change nothing. Replies leave through the
//! outbox, never from the webhook, so a slow channel cannot hold the next update up.

use crate::app::casework::require_staff;
use crate::app::{Actor, App, AppError};
use crate::chat::{self, ChatTurn};
use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallSid, CaseNumber, Event};
use crate::domain::conversation::{
    Author, Channel, ChatAddress, ChatMessage, ChatSummary, Conversation, Inbound, TextInput,
    WaitingChat,
};
use crate::domain::queue::{PresenceState, Route, route};
use crate::ivr;
use crate::scripts::ScriptSet;
use crate::storage::{ChatStep, CloseReason, NewMessage, NewReply, StepOutcome, StepTarget};

/// How many times a message is tried against a conversation another message moved
/// meanwhile before giving up. Within one server a chat's updates take turns
/// ([`ChatTurns`]), so a conflict means another process moved it.
const CONFLICT_RETRIES: usize = 4;

/// How many locks a chat's updates take turns on: a chat always maps to the same one, and two
/// chats share one rarely (then one waits a few milliseconds for the other).
const CHAT_TURN_LOCKS: usize = 256;

/// Makes one chat's updates take turns: Telegram delivers a bot's updates over many
/// connections at once, so a person's quick messages arrive together, and each must move the
/// conversation from where the one before left it. Without turns they would collide on the
/// conversation's step and most would be refused for Telegram to deliver again, later.
pub(crate) struct ChatTurns {
    locks: Vec<tokio::sync::Mutex<()>>,
}

impl Default for ChatTurns {
    fn default() -> ChatTurns {
        ChatTurns { locks: (0..CHAT_TURN_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect() }
    }
}

impl ChatTurns {
    /// The lock of a chat, known by its keyed hash.
    fn of(&self, chat: &str) -> &tokio::sync::Mutex<()> {
        let index =
            chat.bytes().fold(0usize, |hash, byte| hash.wrapping_mul(31).wrapping_add(byte.into()));
        &self.locks[index % self.locks.len()]
    }
}

/// The longest reply an operator may send: the channels' limit on one message.
pub const MAX_REPLY_CHARS: usize = chat::MAX_MESSAGE_CHARS;

/// What became of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Handled now.
    Handled {
        /// The conversation's case.
        case: CaseNumber,
    },
    /// Handled before; nothing changed.
    Duplicate,
    /// Nothing to do: a deletion asked with no conversation open (there is nothing of it to
    /// delete, and opening one to delete would leave a case behind).
    Ignored,
}

/// A conversation as an operator reads it.
#[derive(Debug, Clone)]
pub struct ChatView {
    /// Its case.
    pub case: CaseNumber,
    /// Its state and channel, for the header.
    pub summary: Option<ChatSummary>,
    /// Whether it is still open (replies can be sent).
    pub open: bool,
    /// Who holds it.
    pub operator_id: Option<i64>,
    /// The messages, in order.
    pub messages: Vec<ChatMessage>,
}

impl App {
    /// Handles one update of a text channel (see the module's header). An error means
    /// nothing was stored: the surface answers so that the channel delivers it again.
    pub async fn receive_text(&self, inbound: Inbound) -> Result<Received, AppError> {
        let Inbound { channel, update_key, from, message_id, input } = inbound;
        let Some(chat_hash) = self.caller_hasher().hash(&from.identity(channel)) else {
            return Err(AppError::Invalid("the sender's address cannot be used".into()));
        };
        let limit = self.config().chats.free_text_handoff;
        let _turn = self.chat_turns().of(&chat_hash.0).lock().await;
        for _ in 0..CONFLICT_RETRIES {
            let open = self.storage().open_conversation(channel, &chat_hash).await?;
            let pinned = self.live().for_new_call(Some(&chat_hash));
            let set = &pinned.set;
            let (target, sealed, turn) = match &open {
                Some(conversation) => {
                    let turn = chat::input(
                        set,
                        &conversation.position,
                        conversation.free_texts,
                        limit,
                        &input,
                    );
                    let sealed = match &conversation.address_sealed {
                        Some(sealed) => sealed.clone(),
                        None => self.seal(&from, &conversation.call_sid)?,
                    };
                    let target = StepTarget::Existing {
                        id: conversation.id,
                        case_id: conversation.case_id,
                        case: conversation.case_number,
                        call_sid: conversation.call_sid.clone(),
                        step: conversation.step,
                    };
                    (target, sealed, turn)
                }
                None if input == TextInput::Delete => return Ok(Received::Ignored),
                None => {
                    let call_sid = new_conversation_id(channel.id_prefix())?;
                    let sealed = self.seal(&from, &call_sid)?;
                    let target = StepTarget::New { call_sid, chat_hash: chat_hash.clone() };
                    (target, sealed, chat::start(set, &input))
                }
            };
            let turn = self.route_chat(set, turn).await;
            let queued = turn.handoff.is_some();
            let update = Update { channel, key: &update_key, message_id: message_id.as_deref() };
            let step = chat_step(update, self.now(), target, sealed, turn);
            match self.storage().chat_step(step).await? {
                StepOutcome::Applied { case, opened } => {
                    if opened {
                        tracing::info!(%case, %channel, "conversation opened");
                        self.metrics().case_opened(channel);
                    }
                    if queued {
                        // Its place in line is news to the person; the others' did not change.
                        // The upkeep shows it later should this fail.
                        if let Err(error) = self.show_chat_position(case).await {
                            tracing::warn!(%error, "a waiting chat's place not shown yet");
                        }
                    }
                    self.wake_outbox(channel);
                    return Ok(Received::Handled { case });
                }
                StepOutcome::Duplicate => return Ok(Received::Duplicate),
                StepOutcome::Conflict => continue,
            }
        }
        Err(AppError::Conflict(
            "the conversation kept moving; the update will be delivered again".into(),
        ))
    }

    /// The conversations waiting for an operator and those operators hold (operators and
    /// supervisors). Operators see those in their reach.
    pub async fn chats(&self, actor: &Actor) -> Result<Vec<ChatSummary>, AppError> {
        require_staff(actor)?;
        let chats = self.storage().chats().await?;
        let numbers = chats.iter().map(|chat| chat.case_number).collect();
        let visible = self.visible_cases(actor, numbers).await?;
        Ok(chats.into_iter().filter(|chat| visible.contains(&chat.case_number)).collect())
    }

    /// A conversation's messages for `actor`; the read is audited as the case's (`case.read`).
    pub async fn read_chat(&self, actor: &Actor, case: CaseNumber) -> Result<ChatView, AppError> {
        require_staff(actor)?;
        self.in_reach(actor, case, "read").await?;
        let conversation =
            self.storage().conversation_of(case).await?.ok_or_else(|| no_chat(case))?;
        let messages = self.storage().chat_messages(case).await?;
        let summary = self.storage().chats().await?.into_iter().find(|c| c.case_number == case);
        self.audit(actor, AuditAction::CaseRead, Some(case), "chat".into()).await?;
        Ok(ChatView {
            case,
            summary,
            open: conversation.address_sealed.is_some(),
            operator_id: conversation.operator_id,
            messages,
        })
    }

    /// `actor` takes a waiting conversation (at most `[chats] per_operator` at once, and not
    /// while on a call: an operator handles one call or several chats); audited (`chat.take`).
    pub async fn take_chat(&self, actor: &Actor, case: CaseNumber) -> Result<(), AppError> {
        let operator = require_staff(actor)?;
        self.in_reach(actor, case, "take").await?;
        let now = self.now();
        let on_call = self.storage().presences().await?.into_iter().any(|presence| {
            presence.user_id == operator && presence.effective(now) == PresenceState::OnCall
        });
        if on_call {
            return Err(AppError::Conflict(
                "you are on a call: take conversations once it has ended".into(),
            ));
        }
        let capacity = self.config().chats.per_operator;
        if !self.storage().take_chat(case, operator, capacity, self.now()).await? {
            return Err(AppError::Conflict(format!(
                "the conversation of case {case} is not waiting (another operator took it, or it \
                 closed), or you already hold {capacity} conversations"
            )));
        }
        let events = vec![Event::Answered { operator_id: operator, wait_secs: None }];
        self.record_chat_event(case, events).await;
        // Everyone behind moved up one.
        if let Err(error) = self.show_chat_positions().await {
            tracing::warn!(%error, "places in line not shown");
        }
        self.audit(actor, AuditAction::ChatTake, Some(case), String::new()).await
    }

    /// `actor`'s reply to the person of conversation `case`, which they hold; queued in the
    /// outbox and kept on the case. Audited (`chat.reply`) without its text.
    pub async fn reply_chat(
        &self,
        actor: &Actor,
        case: CaseNumber,
        text: &str,
    ) -> Result<(), AppError> {
        let operator = require_staff(actor)?;
        self.in_reach(actor, case, "reply").await?;
        let text = reply_text(text)?;
        let conversation =
            self.storage().conversation_of(case).await?.ok_or_else(|| no_chat(case))?;
        if conversation.operator_id != Some(operator) {
            return Err(AppError::Conflict(format!(
                "take the conversation of case {case} before you reply"
            )));
        }
        self.reply_allowed(case).await?;
        let chars = text.chars().count();
        let reply = NewReply {
            author: Author::Operator(operator),
            text,
            buttons: Vec::new(),
            template: None,
        };
        let queued = self.storage().chat_reply(case, reply, self.now()).await?;
        if queued.is_none() {
            return Err(AppError::Conflict(format!("the conversation of case {case} is closed")));
        }
        self.wake_outbox(conversation.channel);
        self.audit(actor, AuditAction::ChatReply, Some(case), format!("chars={chars}")).await
    }

    /// Closes conversation `case` for `actor` with a disposition: the case is closed like a
    /// call's (`case.close`), the person is told in their language, and the reply address is
    /// shredded. An operator closes only a conversation they hold; a supervisor any.
    pub async fn close_chat(
        &self,
        actor: &Actor,
        case: CaseNumber,
        disposition: &str,
    ) -> Result<(), AppError> {
        let person = require_staff(actor)?;
        let conversation =
            self.storage().conversation_of(case).await?.ok_or_else(|| no_chat(case))?;
        // The operator answering it closes it; a supervisor may close any.
        if actor.require_supervisor().is_err() && conversation.operator_id != Some(person) {
            self.in_reach(actor, case, "close").await?;
            return Err(AppError::Conflict(format!(
                "the conversation of case {case} is not yours to close; take it first"
            )));
        }
        self.set_disposition(actor, case, disposition, true).await?;
        self.end_conversation(&conversation, CloseReason::Operator).await
    }

    /// Says the script's closing words and closes the conversation.
    async fn end_conversation(
        &self,
        conversation: &Conversation,
        reason: CloseReason,
    ) -> Result<(), AppError> {
        let pinned = self.live().live();
        let script = pinned.set.script_or_default(conversation.position.language());
        let goodbye = NewReply {
            author: Author::Bot,
            text: script.chat.closed.clone(),
            buttons: Vec::new(),
            template: None,
        };
        let case = conversation.case_number;
        self.storage().chat_reply(case, goodbye, self.now()).await?;
        self.storage().close_chat(case, reason, Vec::new(), self.now()).await?;
        self.wake_outbox(conversation.channel);
        Ok(())
    }

    /// Reminds the people silent for `[chats] remind_after_mins` once, and closes the
    /// conversations of those silent for `close_after_mins` more. Returns (reminded, closed).
    pub async fn sweep_silent_chats(&self) -> Result<(usize, usize), AppError> {
        let config = &self.config().chats;
        let now = self.now();
        let remind_before = now - chrono::Duration::minutes(config.remind_after_mins as i64);
        let silent = self.storage().silent_conversations(remind_before, 500).await?;
        let (mut reminded, mut closed) = (0, 0);
        let pinned = self.live().live();
        for conversation in silent {
            match conversation.reminded_at {
                None => {
                    let script = pinned.set.script_or_default(conversation.position.language());
                    let text = script.chat.reminder.clone();
                    let reminder =
                        NewReply { author: Author::Bot, text, buttons: Vec::new(), template: None };
                    self.storage().chat_reply(conversation.case_number, reminder, now).await?;
                    self.storage().chat_reminded(conversation.id, now).await?;
                    reminded += 1;
                }
                Some(at)
                    if now - at >= chrono::Duration::minutes(config.close_after_mins as i64) =>
                {
                    self.end_conversation(&conversation, CloseReason::Inactive).await?;
                    closed += 1;
                }
                Some(_) => {}
            }
        }
        if reminded + closed > 0 {
            self.wake_outboxes();
        }
        Ok((reminded, closed))
    }

    /// Tells each waiting person their place in line where it changed (their handoff
    /// node's `<wait>` text with `{position}` filled), in one message edited in place.
    /// Returns how many were told.
    pub async fn show_chat_positions(&self) -> Result<usize, AppError> {
        let waiting = self.storage().waiting_chats().await?;
        self.show_places(waiting).await
    }

    /// Tells the person of conversation `case` their place in line, if it waits.
    async fn show_chat_position(&self, case: CaseNumber) -> Result<usize, AppError> {
        let waiting = self.storage().waiting_chat(case).await?;
        self.show_places(waiting.into_iter().collect()).await
    }

    /// Shows each of `waiting` its place where it changed; how many were told.
    async fn show_places(&self, waiting: Vec<WaitingChat>) -> Result<usize, AppError> {
        let pinned = self.live().live();
        let mut shown = 0;
        for chat in waiting.into_iter().filter(|chat| chat.shown != Some(chat.position)) {
            let script = pinned.set.script_or_default(Some(&chat.language));
            let Some(wait) = ivr::wait(script, &chat.node, Some(chat.position), None) else {
                continue;
            };
            if wait.text.trim().is_empty() {
                continue;
            }
            if self.storage().show_position(chat.case, chat.position, wait.text, self.now()).await?
            {
                shown += 1;
            }
        }
        if shown > 0 {
            self.wake_outboxes();
        }
        Ok(shown)
    }

    /// What keeps conversations moving without a message from anyone: the reminders and
    /// closings of silent ones, and the places in line as operators take chats. Runs every
    /// `every` until dropped.
    pub fn spawn_chat_upkeep(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = app.sweep_silent_chats().await {
                    tracing::warn!(%error, "silent conversations not swept");
                }
                if let Err(error) = app.show_chat_positions().await {
                    tracing::warn!(%error, "places in line not shown");
                }
            }
        })
    }

    /// Routes a turn that reached a handoff as a caller would be routed (`[queues]
    /// fallbacks`): to its own language's operators, another language's, or past the queue to
    /// the handoff's `otherwise` node. A presence that cannot be read keeps its own language.
    async fn route_chat(&self, set: &ScriptSet, mut turn: ChatTurn) -> ChatTurn {
        // An `otherwise` that is itself a handoff is routed in turn; twice is plenty.
        for _ in 0..2 {
            if turn.handoff.is_none() || turn.routed.is_some() {
                break;
            }
            let Some(language) = turn.position.language().cloned() else { break };
            let on_duty = self.storage().on_duty_languages();
            let decision = match self.queues().bounded("on-duty languages", on_duty).await {
                Some(on_duty) => {
                    route(&language, &self.queues().config.fallbacks, |l| on_duty.contains(l))
                }
                None => Route::Queue {
                    language,
                    interpreter_needed: false,
                    reason: "presence unknown (database unavailable)".into(),
                },
            };
            turn = chat::routed(set, turn, decision);
        }
        turn
    }

    /// Wakes every text channel's outbox worker: after work that queued messages for
    /// conversations of several channels.
    fn wake_outboxes(&self) {
        for channel in Channel::ALL.into_iter().filter(|channel| channel.is_text()) {
            self.wake_outbox(channel);
        }
    }

    /// Records events on a conversation's case at its next step. Best effort: the action
    /// they describe is already stored, and the audit log has it too.
    async fn record_chat_event(&self, case: CaseNumber, events: Vec<Event>) {
        if let Err(error) = self.storage().chat_events(case, events, self.now()).await {
            tracing::warn!(%error, %case, "a conversation's event was not recorded");
        }
    }

    fn seal(&self, from: &ChatAddress, call_sid: &CallSid) -> Result<String, AppError> {
        self.sealer()
            .seal_address(from, call_sid)
            .ok_or_else(|| AppError::Internal("the system's random source failed".into()))
    }
}

/// A new conversation's id: the channel's prefix and 128 random bits.
fn new_conversation_id(prefix: &str) -> Result<CallSid, AppError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|_| AppError::Internal("the system's random source failed".into()))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    CallSid::parse(&format!("{prefix}{hex}"))
        .ok_or_else(|| AppError::Internal("a conversation id is not a call id".into()))
}

/// Which update a step handles.
struct Update<'a> {
    channel: Channel,
    key: &'a str,
    message_id: Option<&'a str>,
}

/// The write of one handled message.
fn chat_step(
    update: Update<'_>,
    at: chrono::DateTime<chrono::Utc>,
    target: StepTarget,
    address_sealed: String,
    turn: ChatTurn,
) -> ChatStep {
    let kept = turn.kept.map(|kept| NewMessage {
        author: Author::Person,
        kind: kept.kind,
        node: kept.node,
        var: kept.var,
        body: kept.body,
    });
    let replies = turn
        .replies
        .into_iter()
        .map(|reply| NewReply {
            author: Author::Bot,
            text: reply.text,
            buttons: reply.buttons,
            template: None,
        })
        .collect();
    let queued = turn
        .handoff
        .as_ref()
        .and_then(|_| turn.routed.clone().or_else(|| turn.position.language().cloned()));
    ChatStep {
        channel: update.channel,
        update_key: update.key.to_owned(),
        message_id: update.message_id.map(str::to_owned),
        at,
        target,
        address_sealed,
        events: turn.events,
        position: turn.position,
        free_text: turn.free_text,
        kept,
        replies,
        queued,
        forget: turn.forget,
    }
}

/// An operator's reply, checked: not empty, not longer than one message, no control
/// characters but newlines and tabs.
fn reply_text(text: &str) -> Result<String, AppError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(AppError::Invalid("the reply is empty".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_REPLY_CHARS {
        return Err(AppError::Invalid(format!(
            "the reply has {chars} characters; one message holds at most {MAX_REPLY_CHARS}"
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(AppError::Invalid("the reply contains control characters".into()));
    }
    Ok(text.replace("\r\n", "\n"))
}

fn no_chat(case: CaseNumber) -> AppError {
    AppError::NotFound(format!("case {case} has no conversation"))
}
