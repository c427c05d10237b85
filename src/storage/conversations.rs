//! Text conversations: their position in the script, their messages, the updates already
//! handled, and what operators do with them (take, reply, close).
//!
//! A message from a person is one [`ChatStep`], written in one transaction: the update is
//! marked handled, the conversation (and, for a first message, its case) moves on, the case
//! gets the step's events exactly as a call's webhook records them, the person's words and the
//! script's replies are kept on the case, and the replies join the outbox. Either all of it is
//! stored or none of it, so a redelivered update finds its mark and changes nothing, and a
//! reply is never queued for a message that left no trace.

use super::engine::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::event_cache::EventCache;
use super::outbox::{OutboxRow, encode_buttons, enqueue_in, insert_row};
use super::retention::SHREDDED_NOTE;
use super::sealing::{open, open_opt, seal_record, seal_unless_sealed};
use super::sqlite::{
    apply_cached, apply_in, db_time, decode_channel, decode_language, decode_time,
};
use super::{Storage, StorageError};
use crate::domain::cases::{CallSid, CallerHash, CaseNumber, Event, Record};
use crate::domain::conversation::{
    Author, Channel, ChatMessage, ChatSummary, Conversation, MessageKind, Position, WaitingChat,
};
use crate::domain::dashboard::ChannelChats;
use crate::domain::data_keys::{DataClass, DataKeys};
use crate::domain::outbox::{Button, NewOutgoing, OutAction};
use crate::scripts::{LanguageTag, NodeId};

/// Which conversation a step moves.
#[derive(Debug, Clone)]
pub enum StepTarget {
    /// An open one, read at `step`: the write applies only if nobody moved it since.
    Existing {
        /// Its row.
        id: i64,
        /// Its case's row.
        case_id: i64,
        /// Its case's number.
        case: CaseNumber,
        /// Its case's call id.
        call_sid: CallSid,
        /// Its step when read.
        step: u32,
    },
    /// A new one (and its case).
    New {
        /// The id its records are kept under.
        call_sid: CallSid,
        /// The person's keyed hash.
        chat_hash: CallerHash,
    },
}

/// The person's words kept on the case.
#[derive(Clone)]
pub struct NewMessage {
    /// Who wrote it.
    pub author: Author,
    /// What it is.
    pub kind: MessageKind,
    /// Where.
    pub node: Option<NodeId>,
    /// The `<ask>` variable answered.
    pub var: Option<String>,
    /// The words.
    pub body: String,
}

/// A message to the person: kept on the case and queued in the outbox.
#[derive(Debug, Clone)]
pub struct NewReply {
    /// Who sends it (the script, or an operator).
    pub author: Author,
    /// The words.
    pub text: String,
    /// Buttons under it.
    pub buttons: Vec<Vec<Button>>,
    /// Sent as this pre-approved template of the channel instead (WhatsApp's, outside its
    /// window); `text` is then what the case shows of it.
    pub template: Option<String>,
}

/// One message of a person, handled.
pub struct ChatStep {
    /// The channel.
    pub channel: Channel,
    /// The channel's id of the update.
    pub update_key: String,
    /// The channel's id of the person's message in it, if it carried one.
    pub message_id: Option<String>,
    /// When it arrived.
    pub at: DateTime<Utc>,
    /// The conversation it moves.
    pub target: StepTarget,
    /// The reply address, sealed (for the outbox; and stored on a new conversation).
    pub address_sealed: String,
    /// What to record on the case.
    pub events: Vec<Event>,
    /// Where the conversation is afterwards.
    pub position: Position,
    /// Whether the words were free text at a menu.
    pub free_text: bool,
    /// The person's words, if kept.
    pub kept: Option<NewMessage>,
    /// The answers.
    pub replies: Vec<NewReply>,
    /// The conversation joins the operators' queue now, waiting for operators of this
    /// language.
    pub queued: Option<LanguageTag>,
    /// The person asked for the conversation to be deleted from their phone.
    pub forget: bool,
}

/// What became of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Stored.
    Applied {
        /// The case.
        case: CaseNumber,
        /// Whether it was opened by this step.
        opened: bool,
    },
    /// The update was handled before: nothing changed.
    Duplicate,
    /// The conversation moved (or was opened) since it was read: read again and retry.
    Conflict,
}

/// Why a conversation closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The script reached its end.
    Finished,
    /// The person stopped writing.
    Inactive,
    /// An operator closed it.
    Operator,
}

impl CloseReason {
    fn as_str(self) -> &'static str {
        match self {
            CloseReason::Finished => "finished",
            CloseReason::Inactive => "inactive",
            CloseReason::Operator => "operator",
        }
    }
}

/// Why a step was undone: its conversation moved since it was read.
const MOVED: &str = "the conversation moved since it was read";

const CONVERSATION_COLUMNS: &str = "c.id, c.case_id, k.number_year, k.number_seq, k.call_sid,
     c.channel, c.state, c.language, c.node, c.attempt, c.step, c.free_texts, c.address_sealed,
     c.operator_id, c.last_in_at, c.reminded_at, c.queued_at";

impl Storage {
    /// The open conversation of a person on a channel.
    pub async fn open_conversation(
        &self,
        channel: Channel,
        chat_hash: &CallerHash,
    ) -> Result<Option<Conversation>, StorageError> {
        let hash = chat_hash.0.clone();
        let found = self
            .read(move |conn| {
                conversation_where(
                    conn,
                    "c.channel = ?1 AND c.chat_hash = ?2 AND c.state <> 'closed'",
                    params![channel.as_str(), hash],
                )
            })
            .await?;
        Ok(found.map(|conversation| self.with_address_opened(conversation)))
    }

    /// `conversation` with its reply address opened (to its sealing under the callback key,
    /// which the use case opens); `None` once its key is gone.
    fn with_address_opened(&self, mut conversation: Conversation) -> Conversation {
        conversation.address_sealed = open_opt(self.keys(), conversation.address_sealed.take());
        conversation
    }

    /// The conversation of a case, open or closed.
    pub async fn conversation_of(
        &self,
        case: CaseNumber,
    ) -> Result<Option<Conversation>, StorageError> {
        let found = self
            .read(move |conn| {
                conversation_where(
                    conn,
                    "k.number_year = ?1 AND k.number_seq = ?2",
                    params![case.year, case.sequence],
                )
            })
            .await?;
        Ok(found.map(|conversation| self.with_address_opened(conversation)))
    }

    /// Stores one handled message (see the module's header).
    pub async fn chat_step(&self, step: ChatStep) -> Result<StepOutcome, StorageError> {
        let keys = self.shared_keys();
        // Sealed here, on the caller's thread: the writer, which every write of the line
        // waits for, spends none of its turn on ciphers.
        let sealed = SealedStep::of(&keys, &step)?;
        // Grouped with the other writes of the moment: a message costs a share of an fsync, as
        // a call's step does. Its events go through the writer's cache, as a call's do, so the
        // case is not read back from all of its events at every message.
        let written = self.write_grouped_with_events(move |tx, events_kept| {
            // An existing conversation's case is known: the update's mark is written whole.
            let known = match &step.target {
                StepTarget::Existing { case_id, .. } => Some(*case_id),
                StepTarget::New { .. } => None,
            };
            let fresh = tx
                .prepare_cached(
                    "INSERT INTO text_updates (channel, update_key, at, case_id, message_id)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    step.channel.as_str(),
                    step.update_key,
                    db_time(step.at),
                    known,
                    known.and(step.message_id.as_deref()),
                ])?;
            if fresh == 0 {
                return Ok(StepOutcome::Duplicate);
            }
            let Some(moved) = move_conversation(tx, events_kept, &step, &sealed.address)? else {
                // An error undoes the update's mark too, so the retry is not a duplicate.
                return Err(StorageError::Conflict(MOVED.into()));
            };
            let record_step = match &step.target {
                StepTarget::Existing { step, .. } => *step,
                StepTarget::New { .. } => 0,
            };
            if !step.events.is_empty() {
                let record = Record::Step {
                    call_sid: moved.call_sid.clone(),
                    step: record_step,
                    at: step.at,
                    events: step.events.clone(),
                };
                apply_cached(tx, &seal_record(&keys, record)?, events_kept)?;
            }
            if known.is_none() {
                tx.prepare_cached(
                    "UPDATE text_updates SET case_id = ?3, message_id = ?4
                     WHERE channel = ?1 AND update_key = ?2",
                )?
                .execute(params![
                    step.channel.as_str(),
                    step.update_key,
                    moved.case_id,
                    step.message_id
                ])?;
            }
            let to = Addressee {
                case_id: moved.case_id,
                call_sid: &moved.call_sid,
                channel: step.channel,
                address_sealed: &sealed.address,
            };
            if step.forget {
                forget_in(tx, &keys, &to, step.at)?;
            }
            if let (Some(kept), Some(body)) = (&step.kept, &sealed.kept) {
                let message = MessageRow {
                    case_id: moved.case_id,
                    at: step.at,
                    author: kept.author,
                    kind: kept.kind,
                    node: kept.node.as_ref(),
                    var: kept.var.as_deref(),
                    body,
                    outbox_id: None,
                };
                insert_message(tx, &message)?;
            }
            for (i, (reply, body)) in step.replies.iter().zip(&sealed.replies).enumerate() {
                let dedupe = format!("{}:{}:{i}", step.channel, step.update_key);
                queue_reply(tx, &to, reply, body, &dedupe, step.at)?;
            }
            Ok(StepOutcome::Applied { case: moved.case, opened: moved.opened })
        });
        match written.await {
            Err(StorageError::Conflict(why)) if why == MOVED => Ok(StepOutcome::Conflict),
            other => other,
        }
    }

    /// An operator's reply (or a closing word) to the person of an open conversation: kept
    /// on the case and queued. `None` when the conversation is closed or its address gone.
    pub async fn chat_reply(
        &self,
        case: CaseNumber,
        reply: NewReply,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StorageError> {
        let body = SealedReply::of(&self.shared_keys(), &reply, now)?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(conversation) = conversation_where(
                &tx,
                "k.number_year = ?1 AND k.number_seq = ?2 AND c.state <> 'closed'",
                params![case.year, case.sequence],
            )?
            else {
                return Ok(None);
            };
            // As stored: sealed under a data key, as the outbox keeps it.
            let Some(address) = &conversation.address_sealed else { return Ok(None) };
            let message_id = next_message_id(&tx)?;
            let dedupe = format!("message:{message_id}");
            let to = Addressee {
                case_id: conversation.case_id,
                call_sid: &conversation.call_sid,
                channel: conversation.channel,
                address_sealed: address,
            };
            let id = queue_reply(&tx, &to, &reply, &body, &dedupe, now)?;
            tx.commit()?;
            Ok(Some(id))
        })
        .await
    }

    /// Gives a waiting conversation to an operator, unless another took it first or they
    /// already hold `capacity` conversations. True if it is theirs now.
    pub async fn take_chat(
        &self,
        case: CaseNumber,
        operator: i64,
        capacity: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held: u32 = tx
                .prepare_cached(
                    "SELECT COUNT(*) FROM conversations WHERE operator_id = ?1 AND state <> 'closed'",
                )?
                .query_row([operator], |row| row.get(0))?;
            if held >= capacity {
                return Ok(false);
            }
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET operator_id = ?1, taken_at = ?2
                     WHERE state = 'operator' AND operator_id IS NULL
                       AND case_id = (SELECT id FROM cases WHERE number_year = ?3 AND number_seq = ?4)",
                )?
                .execute(params![operator, db_time(now), case.year, case.sequence])?;
            tx.commit()?;
            Ok(changed == 1)
        })
        .await
    }

    /// Closes a conversation: its position ends, its reply address is shredded (replies
    /// already queued carry their own copy until sent), the case gets `events` at the
    /// conversation's next step. False if it was closed already.
    pub async fn close_chat(
        &self,
        case: CaseNumber,
        reason: CloseReason,
        events: Vec<Event>,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let keys = self.shared_keys();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(conversation) = conversation_where(
                &tx,
                "k.number_year = ?1 AND k.number_seq = ?2 AND c.state <> 'closed'",
                params![case.year, case.sequence],
            )?
            else {
                return Ok(false);
            };
            tx.prepare_cached(
                "UPDATE conversations SET state = 'closed', address_sealed = NULL, chat_hash = NULL,
                        closed_at = ?2, closed_reason = ?3, step = step + 1
                 WHERE id = ?1",
            )?
            .execute(params![conversation.id, db_time(now), reason.as_str()])?;
            end_case(&tx, conversation.case_id, now)?;
            if !events.is_empty() {
                let record = Record::Step {
                    call_sid: conversation.call_sid.clone(),
                    step: conversation.step,
                    at: now,
                    events,
                };
                apply_in(&tx, &seal_record(&keys, record)?)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// Records `events` on the case of conversation `case` at its next step.
    pub async fn chat_events(
        &self,
        case: CaseNumber,
        events: Vec<Event>,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let keys = self.shared_keys();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(conversation) = conversation_where(
                &tx,
                "k.number_year = ?1 AND k.number_seq = ?2",
                params![case.year, case.sequence],
            )?
            else {
                return Ok(());
            };
            tx.prepare_cached("UPDATE conversations SET step = step + 1 WHERE id = ?1")?
                .execute([conversation.id])?;
            let record = Record::Step {
                call_sid: conversation.call_sid,
                step: conversation.step,
                at: now,
                events,
            };
            apply_in(&tx, &seal_record(&keys, record)?)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Each text channel's conversations of the moment, and those opened since `midnight`:
    /// the wall board's figures. A channel with none at all is left out.
    pub async fn chat_figures(
        &self,
        midnight: DateTime<Utc>,
    ) -> Result<Vec<ChannelChats>, StorageError> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT c.channel,
                        SUM(c.state IN ('language', 'menu', 'ask', 'voicemail')),
                        SUM(c.state = 'operator' AND c.operator_id IS NULL),
                        SUM(c.state = 'operator' AND c.operator_id IS NOT NULL),
                        SUM(c.started_at >= ?1)
                 FROM conversations c
                 WHERE c.state <> 'closed' OR c.started_at >= ?1
                 GROUP BY c.channel ORDER BY c.channel",
            )?;
            let rows = statement.query_map([db_time(midnight)], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, u64>(1)?,
                    row.get::<_, u64>(2)?,
                    row.get::<_, u64>(3)?,
                    row.get::<_, u64>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (channel, in_script, waiting, with_operator, today) = row?;
                Ok(ChannelChats {
                    channel: decode_channel(&channel)?,
                    in_script,
                    waiting,
                    with_operator,
                    today,
                })
            })
            .collect()
        })
        .await
    }

    /// Conversation `case`, if it waits for an operator, with its place in its line, for the
    /// moment it joins (the others' places do not change then): the line's length, kept by
    /// the triggers of `0018_waiting_lines.sql`, less those who joined after it.
    pub async fn waiting_chat(
        &self,
        case: CaseNumber,
    ) -> Result<Option<WaitingChat>, StorageError> {
        self.read(move |conn| {
            let mine = conn
                .prepare_cached(
                    "SELECT c.id, c.language, c.node, c.position_shown, c.queued_at,
                            COALESCE(c.queue_language, c.language)
                     FROM conversations c JOIN cases k ON k.id = c.case_id
                     WHERE k.number_year = ?1 AND k.number_seq = ?2
                       AND c.state = 'operator' AND c.operator_id IS NULL",
                )?
                .query_row(params![case.year, case.sequence], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, Option<String>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, Option<u32>>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                    ))
                })
                .optional()?;
            let Some((id, Some(language), Some(node), shown, Some(queued_at), line)) = mine else {
                return Ok(None);
            };
            let Some(node) = NodeId::parse(&node) else { return Ok(None) };
            // The line's length, less those who joined it after this conversation: for the
            // one who just arrived, no row of the line is read at all.
            let waiting: u32 = conn
                .prepare_cached("SELECT waiting FROM waiting_lines WHERE line = COALESCE(?1, '')")?
                .query_row(params![line], |row| row.get(0))
                .optional()?
                .unwrap_or(0);
            let behind: u32 = conn
                .prepare_cached(BEHIND_IN_LINE)?
                .query_row(params![line, queued_at, id], |row| row.get(0))?;
            let position = waiting.saturating_sub(behind).max(1);
            Ok(Some(WaitingChat {
                case,
                language: decode_language(&language)?,
                node,
                position,
                shown,
            }))
        })
        .await
    }

    /// The conversations waiting for an operator, each with its place among those of its
    /// language (the order operators take them in), oldest first.
    pub async fn waiting_chats(&self) -> Result<Vec<WaitingChat>, StorageError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT k.number_year, k.number_seq, c.language, c.node, c.position_shown,
                        ROW_NUMBER() OVER (PARTITION BY COALESCE(c.queue_language, c.language)
                                           ORDER BY c.queued_at, c.id)
                 FROM conversations c JOIN cases k ON k.id = c.case_id
                 WHERE c.state = 'operator' AND c.operator_id IS NULL
                 ORDER BY c.queued_at, c.id",
            )?;
            let rows = statement.query_map((), |row| {
                Ok((
                    row.get::<_, i32>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<u32>>(4)?,
                    row.get::<_, u32>(5)?,
                ))
            })?;
            let mut waiting = Vec::new();
            for row in rows {
                let (year, sequence, language, node, shown, position) = row?;
                let (Some(language), Some(node)) =
                    (language, node.as_deref().and_then(NodeId::parse))
                else {
                    continue;
                };
                waiting.push(WaitingChat {
                    case: CaseNumber { year, sequence },
                    language: decode_language(&language)?,
                    node,
                    position,
                    shown,
                });
            }
            Ok(waiting)
        })
        .await
    }

    /// Tells the person of a waiting conversation their place: the first time in a message of
    /// its own, then by editing that message in place. False if it no longer waits.
    pub async fn show_position(
        &self,
        case: CaseNumber,
        position: u32,
        text: String,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let keys = self.shared_keys();
        // Grouped: a place is shown at every handoff, as often as messages come.
        self.write_grouped(move |tx| {
            let found = tx
                .prepare_cached(
                    "SELECT c.id, c.case_id, k.call_sid, c.channel, c.address_sealed,
                            c.position_outbox_id
                     FROM conversations c JOIN cases k ON k.id = c.case_id
                     WHERE k.number_year = ?1 AND k.number_seq = ?2
                       AND c.state = 'operator' AND c.operator_id IS NULL",
                )?
                .query_row(params![case.year, case.sequence], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<i64>>(5)?,
                    ))
                })
                .optional()?;
            let Some((id, case_id, call_sid, channel, Some(address), shown_in)) = found else {
                return Ok(false);
            };
            let channel = decode_channel(&channel)?;
            let action = match shown_in {
                None => OutAction::Send { text, buttons: Vec::new() },
                Some(of) => OutAction::Edit { of, text, buttons: Vec::new() },
            };
            let outgoing = NewOutgoing {
                case_id,
                channel,
                address_sealed: address,
                chat_key: call_sid,
                action,
                dedupe_key: format!("position:{id}:{}", db_time(now)),
            };
            let outbox_id = enqueue_in(tx, &keys, &outgoing, now)?;
            tx.prepare_cached(
                "UPDATE conversations SET position_shown = ?2,
                        position_outbox_id = COALESCE(position_outbox_id, ?3)
                 WHERE id = ?1",
            )?
            .execute(params![id, position, outbox_id])?;
            Ok(true)
        })
        .await
    }

    /// Marks a silent conversation as reminded (so it is reminded once).
    pub async fn chat_reminded(&self, id: i64, now: DateTime<Utc>) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached("UPDATE conversations SET reminded_at = ?2 WHERE id = ?1")?
                .execute(params![id, db_time(now)])?;
            Ok(())
        })
        .await
    }

    /// Open conversations whose person last wrote before `before`, oldest first.
    pub async fn silent_conversations(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Conversation>, StorageError> {
        let silent = self
            .read(move |conn| {
                conversations_where(
                    conn,
                    "c.state <> 'closed' AND c.last_in_at < ?1 ORDER BY c.last_in_at LIMIT ?2",
                    params![db_time(before), limit],
                )
            })
            .await?;
        Ok(silent.into_iter().map(|conversation| self.with_address_opened(conversation)).collect())
    }

    /// The conversations of the operators' queue and those operators hold: waiting ones
    /// first (oldest first), then held ones.
    pub async fn chats(&self) -> Result<Vec<ChatSummary>, StorageError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT k.number_year, k.number_seq, c.channel, c.state, c.language, c.operator_id,
                        c.queued_at, c.last_in_at,
                        (SELECT COUNT(*) FROM chat_messages m WHERE m.case_id = c.case_id
                            AND m.author = 'person'
                            AND m.id > COALESCE((SELECT MAX(r.id) FROM chat_messages r
                                                 WHERE r.case_id = c.case_id
                                                   AND r.author = 'operator'), 0))
                 FROM conversations c JOIN cases k ON k.id = c.case_id
                 WHERE c.state = 'operator'
                 ORDER BY c.operator_id IS NOT NULL, c.queued_at, c.id",
            )?;
            let rows = statement.query_map((), |row| {
                Ok((
                    row.get::<_, i32>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, u32>(8)?,
                ))
            })?;
            rows.map(|row| {
                let (
                    year,
                    sequence,
                    channel,
                    state,
                    language,
                    operator_id,
                    queued,
                    last,
                    unanswered,
                ) = row?;
                Ok(ChatSummary {
                    case_number: CaseNumber { year, sequence },
                    channel: decode_channel(&channel)?,
                    state,
                    language: language.as_deref().map(decode_language).transpose()?,
                    operator_id,
                    queued_at: queued.as_deref().map(decode_time).transpose()?,
                    last_in_at: decode_time(&last)?,
                    unanswered,
                })
            })
            .collect()
        })
        .await
    }

    /// The messages of a case, in order, with the delivery state of those sent.
    pub async fn chat_messages(&self, case: CaseNumber) -> Result<Vec<ChatMessage>, StorageError> {
        let keys = self.shared_keys();
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(
                "SELECT m.id, m.at, m.author, m.author_id, m.kind, m.node, m.var, m.body, o.state
                 FROM chat_messages m JOIN cases k ON k.id = m.case_id
                 LEFT JOIN outbox o ON o.id = m.outbox_id
                 WHERE k.number_year = ?1 AND k.number_seq = ?2
                 ORDER BY m.id",
            )?;
            let rows = statement.query_map(params![case.year, case.sequence], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, Option<String>>(8)?,
                ))
            })?;
            rows.map(|row| {
                let (id, at, author, author_id, kind, node, var, body, delivery) = row?;
                let author = match (author.as_str(), author_id) {
                    ("person", _) => Author::Person,
                    ("operator", Some(id)) => Author::Operator(id),
                    _ => Author::Bot,
                };
                Ok(ChatMessage {
                    id,
                    at: decode_time(&at)?,
                    author,
                    kind: MessageKind::parse(&kind).ok_or_else(|| {
                        StorageError::Data(format!("unknown message kind {kind:?}"))
                    })?,
                    node: node.as_deref().and_then(NodeId::parse),
                    var,
                    body: open(&keys, &body).unwrap_or_else(|| SHREDDED_NOTE.to_owned()),
                    delivery,
                })
            })
            .collect()
        })
        .await
    }
}

/// The case a step moved.
struct Moved {
    case_id: i64,
    case: CaseNumber,
    call_sid: CallSid,
    /// Whether the step opened it.
    opened: bool,
}

/// A step's text sealed under the data keys before the writer's turn: the reply address once
/// for every row of the step that keeps it, each reply's words once for both its outbox row
/// and the case's copy.
struct SealedStep {
    address: String,
    kept: Option<String>,
    replies: Vec<SealedReply>,
}

impl SealedStep {
    fn of(keys: &DataKeys, step: &ChatStep) -> Result<SealedStep, StorageError> {
        Ok(SealedStep {
            address: seal_unless_sealed(
                keys,
                DataClass::Recordings,
                step.at,
                &step.address_sealed,
            )?,
            kept: step
                .kept
                .as_ref()
                .map(|kept| keys.seal(DataClass::Notes, step.at, &kept.body))
                .transpose()?,
            replies: step
                .replies
                .iter()
                .map(|reply| SealedReply::of(keys, reply, step.at))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A reply's words sealed: what the outbox sends (the words, or a template's id) and what the
/// case shows.
struct SealedReply {
    outbox_body: String,
    case_body: String,
}

impl SealedReply {
    fn of(
        keys: &DataKeys,
        reply: &NewReply,
        at: DateTime<Utc>,
    ) -> Result<SealedReply, StorageError> {
        let case_body = keys.seal(DataClass::Notes, at, &reply.text)?;
        let outbox_body = match &reply.template {
            Some(content_sid) => keys.seal(DataClass::Notes, at, content_sid)?,
            None => case_body.clone(),
        };
        Ok(SealedReply { outbox_body, case_body })
    }
}

/// Moves the conversation of a step (opening it and its case for a first message, with the
/// reply `address` sealed under a data key). `None` when it moved since it was read, or the
/// person's open conversation appeared meanwhile.
fn move_conversation(
    tx: &Transaction<'_>,
    events_kept: &mut EventCache,
    step: &ChatStep,
    address: &str,
) -> Result<Option<Moved>, StorageError> {
    let position = &step.position;
    let language = position.language().map(|l| l.as_str().to_owned());
    let node = position.node().map(|n| n.as_str().to_owned());
    let at = db_time(step.at);
    let closed = matches!(position, Position::Closed);
    match &step.target {
        StepTarget::Existing { id, case_id, case, call_sid, step: read_at } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE conversations SET state = ?3, language = ?4, node = ?5, attempt = ?6,
                        step = step + 1, free_texts = free_texts + ?7, last_in_at = ?8,
                        reminded_at = NULL,
                        queued_at = CASE WHEN CAST(?9 AS TEXT) IS NOT NULL THEN ?8 ELSE queued_at END,
                        queue_language = COALESCE(?9, queue_language),
                        closed_at = CASE WHEN ?10 THEN ?8 END,
                        closed_reason = CASE WHEN ?10 THEN 'finished' END,
                        address_sealed = CASE WHEN ?10 THEN NULL ELSE address_sealed END,
                        chat_hash = CASE WHEN ?10 THEN NULL ELSE chat_hash END
                     WHERE id = ?1 AND step = ?2 AND state <> 'closed'",
                )?
                .execute(params![
                    id,
                    read_at,
                    position.state(),
                    language,
                    node,
                    position.attempt(),
                    u32::from(step.free_text),
                    at,
                    step.queued.as_ref().map(LanguageTag::as_str),
                    closed,
                ])?;
            if changed == 0 {
                return Ok(None);
            }
            if closed {
                end_case(tx, *case_id, step.at)?;
            }
            let call_sid = call_sid.clone();
            Ok(Some(Moved { case_id: *case_id, case: *case, call_sid, opened: false }))
        }
        StepTarget::New { call_sid, chat_hash } => {
            let open: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM conversations
                     WHERE channel = ?1 AND chat_hash = ?2 AND state <> 'closed')",
                )?
                .query_row(params![step.channel.as_str(), chat_hash.0], |row| row.get(0))?;
            if open {
                return Ok(None);
            }
            let started = Record::CallStarted {
                call_sid: call_sid.clone(),
                at: step.at,
                caller: Some(chat_hash.clone()),
                country: None,
            };
            apply_cached(tx, &started, events_kept)?;
            tx.prepare_cached("UPDATE cases SET channel = ?2 WHERE call_sid = ?1")?
                .execute(params![call_sid.as_str(), step.channel.as_str()])?;
            let case_id = case_id_of(tx, call_sid)?;
            if closed {
                end_case(tx, case_id, step.at)?;
            }
            tx.prepare_cached(
                "INSERT INTO conversations (case_id, channel, chat_hash, address_sealed, state,
                    language, node, attempt, step, free_texts, started_at, last_in_at, queued_at,
                    queue_language, closed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?10,
                         CASE WHEN CAST(?11 AS TEXT) IS NOT NULL THEN ?10 END, ?11, CASE WHEN ?12 THEN ?10 END)",
            )?
            .execute(params![
                case_id,
                step.channel.as_str(),
                (!closed).then_some(&chat_hash.0),
                (!closed).then_some(address),
                position.state(),
                language,
                node,
                position.attempt(),
                u32::from(step.free_text),
                at,
                step.queued.as_ref().map(LanguageTag::as_str),
                closed,
            ])?;
            let case = case_number_of(tx, call_sid)?;
            Ok(Some(Moved { case_id, case, call_sid: call_sid.clone(), opened: true }))
        }
    }
}

/// Whom a reply goes to.
struct Addressee<'a> {
    case_id: i64,
    call_sid: &'a CallSid,
    channel: Channel,
    address_sealed: &'a str,
}

/// Keeps a reply on the case and queues it in the outbox, its words sealed already. Returns the
/// outbox row. Its case exists and its key is new (the update's own, or the next message's), so
/// the outbox's questions before an insert are not asked.
fn queue_reply(
    tx: &Transaction<'_>,
    to: &Addressee<'_>,
    reply: &NewReply,
    sealed: &SealedReply,
    dedupe_key: &str,
    at: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let (action, buttons) = match reply.template {
        Some(_) => ("template", None),
        None => ("send", encode_buttons(&reply.buttons)?),
    };
    let row = OutboxRow {
        case_id: to.case_id,
        channel: to.channel,
        address: to.address_sealed,
        // One conversation's messages are paced together.
        chat_key: to.call_sid.as_str(),
        action,
        body: Some(&sealed.outbox_body),
        buttons,
        of: None,
        dedupe_key,
    };
    let outbox_id = insert_row(tx, &row, at)?;
    let kind = match reply.author {
        Author::Operator(_) => MessageKind::Reply,
        Author::Bot | Author::Person => MessageKind::Prompt,
    };
    let message = MessageRow {
        case_id: to.case_id,
        at,
        author: reply.author,
        kind,
        node: None,
        var: None,
        body: &sealed.case_body,
        outbox_id: Some(outbox_id),
    };
    insert_message(tx, &message)?;
    Ok(outbox_id)
}

/// A message kept on a case, as stored: its words sealed already.
struct MessageRow<'a> {
    case_id: i64,
    at: DateTime<Utc>,
    author: Author,
    kind: MessageKind,
    node: Option<&'a NodeId>,
    var: Option<&'a str>,
    /// The words, sealed under a data key.
    body: &'a str,
    /// The outbox row of a message to the person.
    outbox_id: Option<i64>,
}

fn insert_message(tx: &Transaction<'_>, message: &MessageRow<'_>) -> Result<(), StorageError> {
    let (author, author_id) = match message.author {
        Author::Person => ("person", None),
        Author::Bot => ("bot", None),
        Author::Operator(id) => ("operator", Some(id)),
    };
    tx.prepare_cached(
        "INSERT INTO chat_messages (case_id, at, author, author_id, kind, node, var, body, outbox_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        message.case_id,
        db_time(message.at),
        author,
        author_id,
        message.kind.as_str(),
        message.node.map(NodeId::as_str),
        message.var,
        message.body,
        message.outbox_id,
    ])?;
    Ok(())
}

/// How long a channel lets a message be deleted from the person's phone (Telegram: 48 hours).
const DELETABLE_HOURS: i64 = 48;

/// Deletes a conversation from the person's phone, as far as the channel allows: the bot's
/// messages sent in the last two days or being sent now, the person's own of those days, and
/// nothing still waiting to be sent (withdrawn, so it never arrives).
fn forget_in(
    tx: &Transaction<'_>,
    keys: &DataKeys,
    to: &Addressee<'_>,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let since = db_time(now - chrono::Duration::hours(DELETABLE_HOURS));
    tx.prepare_cached(
        "UPDATE outbox SET state = 'failed', error = 'withdrawn: the person deleted the conversation',
                body = NULL, buttons = NULL, address_sealed = NULL
         WHERE case_id = ?1 AND state = 'pending'",
    )?
    .execute([to.case_id])?;
    // A message on its way now is deleted too: the deletion waits behind it in the chat's
    // line, and by its turn the channel's id of the message is known (or it never arrived).
    let sent: Vec<i64> = tx
        .prepare_cached(
            "SELECT id FROM outbox WHERE case_id = ?1 AND action = 'send'
               AND (state = 'sending'
                    OR (state = 'sent' AND provider_id IS NOT NULL AND sent_at >= ?2))
             ORDER BY id",
        )?
        .query_map(params![to.case_id, since], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let theirs: Vec<String> = tx
        .prepare_cached(
            "SELECT message_id FROM text_updates WHERE case_id = ?1 AND message_id IS NOT NULL
               AND at >= ?2 ORDER BY at",
        )?
        .query_map(params![to.case_id, since], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let actions = sent
        .into_iter()
        .map(|of| (format!("forget:{of}"), OutAction::Delete { of }))
        .chain(theirs.into_iter().map(|message_id| {
            (format!("forget:{}:{message_id}", to.call_sid), OutAction::Forget { message_id })
        }));
    for (dedupe_key, action) in actions {
        let outgoing = NewOutgoing {
            case_id: to.case_id,
            channel: to.channel,
            address_sealed: to.address_sealed.to_owned(),
            chat_key: to.call_sid.as_str().to_owned(),
            action,
            dedupe_key,
        };
        enqueue_in(tx, keys, &outgoing, now)?;
    }
    Ok(())
}

/// A conversation's case ends when it closes: its data starts ageing for retention then,
/// as a call's does at its final status.
fn end_case(tx: &Connection, case_id: i64, at: DateTime<Utc>) -> Result<(), StorageError> {
    tx.prepare_cached("UPDATE cases SET ended_at = COALESCE(ended_at, ?2) WHERE id = ?1")?
        .execute(params![case_id, db_time(at)])?;
    Ok(())
}

fn next_message_id(tx: &Transaction<'_>) -> Result<i64, StorageError> {
    Ok(tx
        .prepare_cached("SELECT COALESCE(MAX(id), 0) + 1 FROM chat_messages")?
        .query_row((), |row| row.get(0))?)
}

fn case_id_of(tx: &Connection, call_sid: &CallSid) -> Result<i64, StorageError> {
    Ok(tx
        .prepare_cached("SELECT id FROM cases WHERE call_sid = ?1")?
        .query_row([call_sid.as_str()], |row| row.get(0))?)
}

fn case_number_of(tx: &Connection, call_sid: &CallSid) -> Result<CaseNumber, StorageError> {
    Ok(tx
        .prepare_cached("SELECT number_year, number_seq FROM cases WHERE call_sid = ?1")?
        .query_row([call_sid.as_str()], |row| {
            Ok(CaseNumber { year: row.get(0)?, sequence: row.get(1)? })
        })?)
}

fn conversation_where(
    conn: &Connection,
    filter: &str,
    params: impl super::engine::Params,
) -> Result<Option<Conversation>, StorageError> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN cases k ON k.id = c.case_id
         WHERE {filter}"
    );
    let row = conn.prepare_cached(&sql)?.query_row(params, ConversationRow::from_row).optional()?;
    row.map(ConversationRow::decode).transpose()
}

fn conversations_where(
    conn: &Connection,
    filter: &str,
    params: impl super::engine::Params,
) -> Result<Vec<Conversation>, StorageError> {
    let sql = format!(
        "SELECT {CONVERSATION_COLUMNS} FROM conversations c JOIN cases k ON k.id = c.case_id
         WHERE {filter}"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params, ConversationRow::from_row)?;
    rows.map(|row| row?.decode()).collect()
}

/// A conversation row as stored, before its values are checked.
struct ConversationRow {
    id: i64,
    case_id: i64,
    year: i32,
    sequence: u32,
    call_sid: String,
    channel: String,
    state: String,
    language: Option<String>,
    node: Option<String>,
    attempt: u32,
    step: u32,
    free_texts: u32,
    address_sealed: Option<String>,
    operator_id: Option<i64>,
    last_in_at: String,
    reminded_at: Option<String>,
    queued_at: Option<String>,
}

impl ConversationRow {
    fn from_row(row: &super::engine::Row<'_>) -> super::engine::Result<ConversationRow> {
        Ok(ConversationRow {
            id: row.get(0)?,
            case_id: row.get(1)?,
            year: row.get(2)?,
            sequence: row.get(3)?,
            call_sid: row.get(4)?,
            channel: row.get(5)?,
            state: row.get(6)?,
            language: row.get(7)?,
            node: row.get(8)?,
            attempt: row.get(9)?,
            step: row.get(10)?,
            free_texts: row.get(11)?,
            address_sealed: row.get(12)?,
            operator_id: row.get(13)?,
            last_in_at: row.get(14)?,
            reminded_at: row.get(15)?,
            queued_at: row.get(16)?,
        })
    }

    fn decode(self) -> Result<Conversation, StorageError> {
        let language = self.language.as_deref().map(decode_language).transpose()?;
        let node = self.node.as_deref().and_then(NodeId::parse);
        let position =
            Position::from_parts(&self.state, language, node, self.attempt).ok_or_else(|| {
                StorageError::Data("a conversation's position is inconsistent".into())
            })?;
        Ok(Conversation {
            id: self.id,
            case_id: self.case_id,
            case_number: CaseNumber { year: self.year, sequence: self.sequence },
            call_sid: CallSid::parse(&self.call_sid)
                .ok_or_else(|| StorageError::Data("a stored call id is not a call id".into()))?,
            channel: decode_channel(&self.channel)?,
            position,
            step: self.step,
            free_texts: self.free_texts,
            address_sealed: self.address_sealed,
            operator_id: self.operator_id,
            last_in_at: decode_time(&self.last_in_at)?,
            reminded_at: self.reminded_at.as_deref().map(decode_time).transpose()?,
            queued_at: self.queued_at.as_deref().map(decode_time).transpose()?,
        })
    }
}

/// How many wait in line `?1` behind the conversation `?3` that joined it at `?2`, counted on
/// the line's own index (0016) from that conversation on.
const BEHIND_IN_LINE: &str = "SELECT COUNT(*) FROM conversations
     WHERE state = 'operator' AND operator_id IS NULL
       AND COALESCE(queue_language, language) IS ?1
       AND queued_at >= ?2 AND (queued_at > ?2 OR id > ?3)";

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::storage::migrations::migrate;

    /// A database at the latest schema with `n` conversations (cases 1..=n), none waiting.
    fn conversations(n: i64) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.db");
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        let conn = Connection::from(conn);
        conn.execute(
            "INSERT INTO users (id, name, role, languages, created_at)
                      VALUES (107, 'Olena', 'operator', 'ru', '2026-12-07T00:00:00Z')",
            (),
        )
        .unwrap();
        for id in 1..=n {
            conn.execute(
                "INSERT INTO cases (id, number_year, number_seq, call_sid, started_at, channel)
                 VALUES (?1, 2026, ?1, 'TG' || ?1, '2026-12-07T00:00:00Z', 'telegram')",
                [id],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO conversations (id, case_id, channel, state, language, started_at,
                                            last_in_at)
                 VALUES (?1, ?1, 'telegram', 'menu', 'ru', '2026-12-07T00:00:00Z',
                         '2026-12-07T00:00:00Z')",
                [id],
            )
            .unwrap();
        }
        (dir, conn)
    }

    /// Lines and how many wait in each.
    type Counts = Vec<(String, i64)>;

    /// Each line's count as the triggers keep it, and as the rows say, lines with nobody
    /// waiting left out of both.
    fn kept_and_counted(conn: &Connection) -> (Counts, Counts) {
        let read = |sql: &str| -> Counts {
            conn.prepare(sql)
                .unwrap()
                .query_map((), |row| Ok((row.get(0)?, row.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        (
            read("SELECT line, waiting FROM waiting_lines WHERE waiting > 0 ORDER BY line"),
            read(
                "SELECT COALESCE(queue_language, language, ''), COUNT(*) FROM conversations
                 WHERE state = 'operator' AND operator_id IS NULL
                 GROUP BY 1 ORDER BY 1",
            ),
        )
    }

    /// What can happen to a conversation, as the hotline's writes do it.
    #[derive(Debug, Clone)]
    enum Move {
        /// A handoff (or a fallback to another line): waits in `line`.
        Queue(u8, Option<&'static str>),
        /// An operator takes it.
        Take(u8),
        /// The operator gives it back to the line.
        Release(u8),
        /// The person goes back to a menu.
        Menu(u8),
        /// It closes.
        Close(u8),
        /// Its language changes (a language menu, again).
        Language(u8, &'static str),
        /// Retention deletes it.
        Delete(u8),
    }

    fn moves() -> impl Strategy<Value = Move> {
        let id = 1u8..=6;
        let line = prop::option::of(prop::sample::select(vec!["ru", "ko", "uk"]));
        prop_oneof![
            (id.clone(), line).prop_map(|(id, line)| Move::Queue(id, line)),
            id.clone().prop_map(Move::Take),
            id.clone().prop_map(Move::Release),
            id.clone().prop_map(Move::Menu),
            id.clone().prop_map(Move::Close),
            (id.clone(), prop::sample::select(vec!["ru", "en"]))
                .prop_map(|(id, language)| Move::Language(id, language)),
            id.prop_map(Move::Delete),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_lines_counts_are_what_the_rows_say_whatever_moves_them(
            sequence in prop::collection::vec(moves(), 1..40)
        ) {
            let (_dir, conn) = conversations(6);
            for (at, step) in sequence.into_iter().enumerate() {
                let queued_at = format!("2026-12-07T00:00:{:02}Z", at % 60);
                let (sql, id): (String, u8) = match step {
                    Move::Queue(id, line) => (format!(
                        "UPDATE conversations SET state = 'operator', operator_id = NULL,
                         queue_language = {}, queued_at = '{queued_at}' WHERE id = ?1",
                        line.map_or("NULL".into(), |line| format!("'{line}'"))), id),
                    Move::Take(id) => ("UPDATE conversations SET operator_id = 107
                         WHERE id = ?1 AND state = 'operator'".into(), id),
                    Move::Release(id) => ("UPDATE conversations SET operator_id = NULL
                         WHERE id = ?1 AND state = 'operator'".into(), id),
                    Move::Menu(id) => ("UPDATE conversations SET state = 'menu',
                         operator_id = NULL, queue_language = NULL WHERE id = ?1".into(), id),
                    Move::Close(id) => ("UPDATE conversations SET state = 'closed'
                         WHERE id = ?1".into(), id),
                    Move::Language(id, language) => (format!(
                        "UPDATE conversations SET language = '{language}' WHERE id = ?1"), id),
                    Move::Delete(id) => ("DELETE FROM conversations WHERE id = ?1".into(), id),
                };
                conn.execute(&sql, [i64::from(id)]).unwrap();
                let (kept, counted) = kept_and_counted(&conn);
                prop_assert_eq!(kept, counted);
            }
        }
    }

    #[test]
    fn a_place_in_line_is_the_lines_length_less_those_behind() {
        if crate::storage::conformance::sqlite_file_only(
            "it puts people in line by writing into the file",
        ) {
            return;
        }
        let (dir, conn) = conversations(4);
        drop(conn);
        let path = dir.path().join("hotline.db");
        let storage = tokio::runtime::Runtime::new().unwrap().block_on(async {
            Storage::open(&path, crate::storage::StorageOptions::for_tests()).await.unwrap()
        });
        let conn = Connection::from(rusqlite::Connection::open(&path).unwrap());
        // Three wait in Russian (joined in the order 2, 1, 3), one in Korean.
        for (id, line, at) in [(2, "ru", "01"), (1, "ru", "02"), (3, "ru", "03"), (4, "ko", "01")] {
            conn.execute(
                &format!(
                    "UPDATE conversations SET state = 'operator', node = 'operator',
                     queue_language = '{line}', queued_at = '2026-12-07T00:00:{at}Z'
                     WHERE id = ?1"
                ),
                [id],
            )
            .unwrap();
        }
        let place = |sequence| {
            tokio::runtime::Runtime::new().unwrap().block_on(async {
                storage
                    .waiting_chat(CaseNumber { year: 2026, sequence })
                    .await
                    .unwrap()
                    .map(|chat| chat.position)
            })
        };
        assert_eq!([place(2), place(1), place(3), place(4)], [Some(1), Some(2), Some(3), Some(1)]);
        // The first one is taken: everyone behind moves up.
        conn.execute("UPDATE conversations SET operator_id = 107 WHERE id = 2", ()).unwrap();
        assert_eq!([place(2), place(1), place(3)], [None, Some(1), Some(2)]);
    }

    #[test]
    fn those_behind_in_line_are_counted_on_the_lines_index_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.db");
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        let conn = Connection::from(conn);
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {BEHIND_IN_LINE}"))
            .unwrap()
            .query_map(params!["ru", "2026-12-07T00:00:00Z", 1], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("; ");
        assert!(plan.contains("COVERING INDEX conversations_waiting_line"), "{plan}");
    }

    #[test]
    fn a_deletion_reaches_the_message_on_its_way_and_withdraws_the_waiting_one() {
        let (_dir, mut conn) = conversations(1);
        let at = |secs: i64| DateTime::from_timestamp(1_796_601_600 + secs, 0).unwrap();
        let keys =
            DataKeys::generate(&crate::domain::secret::Secret::new("k".repeat(32)), at(0)).unwrap();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).unwrap();
        let outgoing = |key: &str| NewOutgoing {
            case_id: 1,
            channel: Channel::Telegram,
            address_sealed: "sealed".into(),
            chat_key: "TG1".into(),
            action: OutAction::Send { text: "Меню".into(), buttons: Vec::new() },
            dedupe_key: key.into(),
        };
        let sent = enqueue_in(&tx, &keys, &outgoing("sent"), at(1)).unwrap();
        let on_its_way = enqueue_in(&tx, &keys, &outgoing("on its way"), at(2)).unwrap();
        let waiting = enqueue_in(&tx, &keys, &outgoing("waiting"), at(3)).unwrap();
        tx.execute(
            "UPDATE outbox SET state = 'sent', provider_id = '41', sent_at = ?2 WHERE id = ?1",
            params![sent, db_time(at(1))],
        )
        .unwrap();
        tx.execute("UPDATE outbox SET state = 'sending' WHERE id = ?1", [on_its_way]).unwrap();
        let call_sid = CallSid::parse("TG1").unwrap();
        let to = Addressee {
            case_id: 1,
            call_sid: &call_sid,
            channel: Channel::Telegram,
            address_sealed: "sealed",
        };
        forget_in(&tx, &keys, &to, at(4)).unwrap();
        let deletions: Vec<i64> = tx
            .prepare("SELECT of_id FROM outbox WHERE action = 'delete' ORDER BY of_id")
            .unwrap()
            .query_map((), |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // The one being sent now is deleted once it has arrived: its deletion waits behind it.
        assert_eq!(deletions, [sent, on_its_way]);
        let state: String = tx
            .query_row("SELECT state FROM outbox WHERE id = ?1", [waiting], |r| r.get(0))
            .unwrap();
        assert_eq!(state, "failed", "a message not sent yet is withdrawn, never sent");
    }
}
