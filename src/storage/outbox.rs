//! The outbox's SQL (`0013_outbox.sql`): enqueueing once per idempotency key, claiming the
//! due messages of a channel, and recording each attempt's outcome, after which the text and
//! the sealed address are dropped.

use super::engine::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::sealing::{open_opt, seal_unless_sealed};
use super::sqlite::{Storage, db_time, decode_channel, decode_time};
use crate::domain::conversation::Channel;
use crate::domain::data_keys::{DataClass, DataKeys};
use crate::domain::outbox::{Button, Due, NewOutgoing, OutAction, OutState, OutStatus, Outgoing};

/// What became of one attempt to deliver a message, as [`Storage::outbox_round`] records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Delivered; the channel's id of the message, when it gives one.
    Sent {
        /// The channel's message id.
        provider_id: Option<String>,
    },
    /// To be tried again at `next_at`; `error` says why this attempt failed.
    Retry {
        /// Not before then.
        next_at: DateTime<Utc>,
        /// Why the attempt failed.
        error: String,
    },
    /// Given up on, for `error`.
    Failed {
        /// Why.
        error: String,
    },
}

/// The outbox's counts, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxCounts {
    /// Messages waiting (or being sent).
    pub pending: u64,
    /// Messages given up on.
    pub failed: u64,
}

/// The oldest waiting message of each chat of a channel (`?1`) that is due at `?2`, at most
/// `?3`, the longest due first: one walk of `outbox_pending` in due order, each row checked
/// against `outbox_open` for an earlier message of its chat still to leave.
///
/// `LIMIT ?3 + 0`, not `LIMIT ?3`: SQLite's planner reads a bare bound limit, so every new
/// limit made it prepare the statement again, a parse at every round of the worker.
const DUE: &str = "SELECT o.id, o.chat_key FROM outbox o
     WHERE o.channel = ?1 AND o.state = 'pending' AND o.next_at <= ?2
       AND NOT EXISTS (
           SELECT 1 FROM outbox e
           WHERE e.channel = o.channel AND e.chat_key = o.chat_key
             AND e.state IN ('pending', 'sending') AND e.id < o.id)
     ORDER BY o.next_at, o.id LIMIT ?3 + 0";

impl Storage {
    /// Stores a message to send and returns its row. Idempotent by `dedupe_key`: the same key
    /// again stores nothing and returns the first row.
    pub async fn enqueue_outgoing(
        &self,
        new: NewOutgoing,
        now: DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        let keys = self.shared_keys();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = enqueue_in(&tx, &keys, &new, now)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// The oldest waiting message of each chat of `channel` that is due at `now` (at most
    /// `limit`, the longest due first). A chat whose oldest message is not due yet, or is
    /// being sent, offers nothing: its messages leave in order.
    pub async fn due_outgoing(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Due>, StorageError> {
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(DUE)?
                .query_map(params![channel.as_str(), db_time(now), limit], |row| {
                    Ok(Due { id: row.get(0)?, chat_key: row.get(1)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// When the next message of `channel` not due at `now` becomes due (the earliest end of a
    /// backoff), if any.
    pub async fn next_outgoing_at(
        &self,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StorageError> {
        self.read(move |conn| {
            let next: Option<String> = conn
                .prepare_cached(
                    "SELECT MIN(next_at) FROM outbox
                     WHERE channel = ?1 AND state = 'pending' AND next_at > ?2",
                )?
                .query_row(params![channel.as_str(), db_time(now)], |row| row.get(0))?;
            next.map(|text| decode_time(&text)).transpose()
        })
        .await
    }

    /// One round of a worker's bookkeeping, in one write, so that it costs one share of a
    /// commit however many messages it moves: records what became of the attempts answered
    /// since the last round (a delivered or abandoned message has its text, buttons and
    /// address dropped), then claims the messages `claim` that are still waiting (marks them
    /// `sending`, counts the attempt) and returns them ready to deliver, in the order of
    /// `claim` (an edit or a delete with the channel's id of its earlier message).
    pub async fn outbox_round(
        &self,
        settled: Vec<(i64, Settlement)>,
        claim: Vec<i64>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Outgoing>, StorageError> {
        if settled.is_empty() && claim.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.shared_keys();
        self.write_grouped(move |tx| {
            for (id, settlement) in &settled {
                settle_in(tx, *id, settlement, now)?;
            }
            let mut claimed = Vec::with_capacity(claim.len());
            for id in claim {
                let changed = tx
                    .prepare_cached(
                        "UPDATE outbox SET state = 'sending', attempts = attempts + 1
                         WHERE id = ?1 AND state = 'pending'",
                    )?
                    .execute([id])?;
                if changed == 1 {
                    claimed.push(load_outgoing(tx, &keys, id)?);
                }
            }
            Ok(claimed)
        })
        .await
    }

    /// At a worker's start: the messages of `channel` left `sending` by a worker that stopped
    /// (a crash, a restart) wait again, and their count is returned.
    ///
    /// Whether such a message reached the channel cannot be known: the answer was lost with
    /// the worker. It is sent again, because a lost reply is worse than a repeated one;
    /// Telegram has no idempotency key, so a crash can repeat at most the messages that were
    /// in flight at that moment, one per chat, and never one that was recorded as sent.
    pub async fn resume_interrupted(&self, channel: Channel) -> Result<usize, StorageError> {
        self.write(move |conn| {
            let resumed = conn
                .prepare_cached(
                    "UPDATE outbox SET state = 'pending' WHERE channel = ?1 AND state = 'sending'",
                )?
                .execute([channel.as_str()])?;
            Ok(resumed)
        })
        .await
    }

    /// The delivery of each message of a case, oldest first: no text, no address.
    pub async fn outgoing_of_case(&self, case_id: i64) -> Result<Vec<OutStatus>, StorageError> {
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, channel, action, state, attempts, created_at, sent_at, error
                 FROM outbox WHERE case_id = ?1 ORDER BY id",
            )?
            .query_map([case_id], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, u32>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, Option<String>>(7)?,
                ))
            })?
            .map(|row| {
                let (id, channel, action, state, attempts, created_at, sent_at, error) = row?;
                Ok(OutStatus {
                    id,
                    channel: decode_channel(&channel)?,
                    kind: decode_kind(&action)?,
                    state: OutState::parse(&state)
                        .ok_or_else(|| StorageError::Data(format!("outbox state {state:?}")))?,
                    attempts,
                    created_at: decode_time(&created_at)?,
                    sent_at: sent_at.as_deref().map(decode_time).transpose()?,
                    error,
                })
            })
            .collect()
        })
        .await
    }

    /// How many messages wait and how many were given up on, over every channel.
    pub async fn outbox_counts(&self) -> Result<OutboxCounts, StorageError> {
        self.read(|conn| {
            let (pending, failed) = conn
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM outbox WHERE state IN ('pending', 'sending')),
                            (SELECT COUNT(*) FROM outbox WHERE state = 'failed')",
                )?
                .query_row((), |row| Ok((row.get::<_, u64>(0)?, row.get::<_, u64>(1)?)))?;
            Ok(OutboxCounts { pending, failed })
        })
        .await
    }
}

/// [`Storage::enqueue_outgoing`] inside a transaction of the caller's, so a use case stores the message
/// together with its other writes (the conversation's line and the answer to it, or neither).
///
/// An edit or a delete must name an earlier message of the same case and channel.
pub(crate) fn enqueue_in(
    tx: &Transaction<'_>,
    keys: &DataKeys,
    new: &NewOutgoing,
    now: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let existing: Option<i64> = tx
        .prepare_cached("SELECT id FROM outbox WHERE dedupe_key = ?1")?
        .query_row([&new.dedupe_key], |row| row.get(0))
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let (body, buttons, of) = match &new.action {
        OutAction::Send { text, buttons } => (Some(text.as_str()), encode_buttons(buttons)?, None),
        OutAction::Edit { of, text, buttons } => {
            (Some(text.as_str()), encode_buttons(buttons)?, Some(*of))
        }
        OutAction::Delete { of } => (None, None, Some(*of)),
        OutAction::Forget { message_id } => (Some(message_id.as_str()), None, None),
        OutAction::Template { content_sid } => (Some(content_sid.as_str()), None, None),
    };
    if let Some(of) = of {
        let same: Option<bool> = tx
            .prepare_cached("SELECT case_id = ?2 AND channel = ?3 FROM outbox WHERE id = ?1")?
            .query_row(params![of, new.case_id, new.channel.as_str()], |row| row.get(0))
            .optional()?;
        if same != Some(true) {
            return Err(StorageError::Conflict(
                "the message to edit or delete is not an earlier message of this conversation"
                    .into(),
            ));
        }
    }
    let case_exists: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM cases WHERE id = ?1)")?
        .query_row([new.case_id], |row| row.get(0))?;
    if !case_exists {
        return Err(StorageError::Conflict("no such case".into()));
    }
    // Sealed (`sealing.rs`): the text until it is sent, the address until then too.
    let body = body.map(|body| keys.seal(DataClass::Notes, now, body)).transpose()?;
    let address = seal_unless_sealed(keys, DataClass::Recordings, now, &new.address_sealed)?;
    let row = OutboxRow {
        case_id: new.case_id,
        channel: new.channel,
        address: &address,
        chat_key: &new.chat_key,
        action: new.action.kind(),
        body: body.as_deref(),
        buttons,
        of,
        dedupe_key: &new.dedupe_key,
    };
    insert_row(tx, &row, now)
}

/// An outbox row as stored, its text and address sealed already: what a use case that has
/// checked and sealed its message (a script's reply, see `conversations.rs`) inserts, without
/// [`enqueue_in`]'s questions.
pub(crate) struct OutboxRow<'a> {
    /// The conversation's case.
    pub case_id: i64,
    /// The channel.
    pub channel: Channel,
    /// The reply address, sealed under a data key.
    pub address: &'a str,
    /// The pacing key.
    pub chat_key: &'a str,
    /// [`OutAction::kind`].
    pub action: &'static str,
    /// The text, sealed under a data key.
    pub body: Option<&'a str>,
    /// As [`encode_buttons`] makes them.
    pub buttons: Option<String>,
    /// The earlier message an edit or a delete acts on.
    pub of: Option<i64>,
    /// The idempotency key.
    pub dedupe_key: &'a str,
}

/// Inserts `row`, due at `now`; returns its id.
pub(crate) fn insert_row(
    tx: &Transaction<'_>,
    row: &OutboxRow<'_>,
    now: DateTime<Utc>,
) -> Result<i64, StorageError> {
    let at = db_time(now);
    tx.prepare_cached(
        "INSERT INTO outbox (case_id, channel, address_sealed, chat_key, action, body, buttons,
                             of_id, next_at, created_at, dedupe_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
    )?
    .execute(params![
        row.case_id,
        row.channel.as_str(),
        row.address,
        row.chat_key,
        row.action,
        row.body,
        row.buttons,
        row.of,
        at,
        row.dedupe_key,
    ])?;
    Ok(tx.last_insert_rowid()?)
}

/// Records what became of one attempt at message `id`.
fn settle_in(
    tx: &Transaction<'_>,
    id: i64,
    settlement: &Settlement,
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    match settlement {
        Settlement::Sent { provider_id } => tx
            .prepare_cached(
                "UPDATE outbox SET state = 'sent', sent_at = ?2, provider_id = ?3, error = NULL,
                                   body = NULL, buttons = NULL, address_sealed = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, db_time(now), provider_id])?,
        Settlement::Retry { next_at, error } => tx
            .prepare_cached(
                "UPDATE outbox SET state = 'pending', next_at = ?2, error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, db_time(*next_at), error])?,
        Settlement::Failed { error } => tx
            .prepare_cached(
                "UPDATE outbox SET state = 'failed', error = ?2, sent_at = NULL, next_at = ?3,
                                   body = NULL, buttons = NULL, address_sealed = NULL
                 WHERE id = ?1",
            )?
            .execute(params![id, error, db_time(now)])?,
    };
    Ok(())
}

/// Buttons as stored: JSON, or NULL for none.
pub(crate) fn encode_buttons(buttons: &[Vec<Button>]) -> Result<Option<String>, StorageError> {
    if buttons.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(buttons)
        .map(Some)
        .map_err(|e| StorageError::Data(format!("outbox buttons: {e}")))
}

fn decode_buttons(json: Option<&str>) -> Result<Vec<Vec<Button>>, StorageError> {
    json.map_or(Ok(Vec::new()), |json| {
        serde_json::from_str(json).map_err(|e| StorageError::Data(format!("outbox buttons: {e}")))
    })
}

fn decode_kind(text: &str) -> Result<&'static str, StorageError> {
    ["send", "edit", "delete", "forget", "template"]
        .into_iter()
        .find(|kind| *kind == text)
        .ok_or_else(|| StorageError::Data(format!("outbox action {text:?}")))
}

/// A claimed row, ready to deliver.
fn load_outgoing(conn: &Connection, keys: &DataKeys, id: i64) -> Result<Outgoing, StorageError> {
    let row = conn
        .prepare_cached(
            "SELECT o.case_id, o.channel, o.address_sealed, o.chat_key, o.action, o.body,
                    o.buttons, o.of_id, t.provider_id, o.attempts
             FROM outbox o LEFT JOIN outbox t ON t.id = o.of_id WHERE o.id = ?1",
        )?
        .query_row([id], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<i64>>(7)?,
                row.get::<_, Option<String>>(8)?,
                row.get::<_, u32>(9)?,
            ))
        })?;
    let (case_id, channel, address, chat_key, action, body, buttons, of, target, attempt) = row;
    let missing = |what: &str| StorageError::Data(format!("outbox row {id} waits without {what}"));
    let buttons = decode_buttons(buttons.as_deref())?;
    // A body or an address whose key is gone cannot be sent: it is as if it were missing.
    let body = open_opt(keys, body);
    let address = open_opt(keys, address);
    let action = match (action.as_str(), body, of) {
        ("send", Some(text), _) => OutAction::Send { text, buttons },
        ("edit", Some(text), Some(of)) => OutAction::Edit { of, text, buttons },
        ("delete", _, Some(of)) => OutAction::Delete { of },
        ("forget", Some(message_id), _) => OutAction::Forget { message_id },
        ("template", Some(content_sid), _) => OutAction::Template { content_sid },
        _ => return Err(missing("its text or its earlier message")),
    };
    Ok(Outgoing {
        id,
        case_id,
        channel: decode_channel(&channel)?,
        address_sealed: address.ok_or_else(|| missing("an address"))?,
        chat_key,
        action,
        target_provider_id: target,
        attempt,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::cases::{CallSid, Record};
    use crate::storage::StorageOptions;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    /// A database with one case, and its id.
    async fn open(dir: &tempfile::TempDir) -> (Storage, i64) {
        let storage =
            Storage::open(&dir.path().join("cases.db"), StorageOptions::for_tests()).await.unwrap();
        let call_sid = CallSid::parse(&format!("CA{:032x}", 1)).unwrap();
        storage
            .apply(Record::CallStarted { call_sid, at: at(0), caller: None, country: None })
            .await
            .unwrap();
        let id = storage
            .read(|conn| Ok(conn.query_row("SELECT id FROM cases", (), |row| row.get(0))?))
            .await
            .unwrap();
        (storage, id)
    }

    async fn claim(storage: &Storage, ids: Vec<i64>) -> Result<Vec<Outgoing>, StorageError> {
        storage.outbox_round(Vec::new(), ids, at(1)).await
    }

    async fn settle(storage: &Storage, settled: Vec<(i64, Settlement)>, now: DateTime<Utc>) {
        storage.outbox_round(settled, Vec::new(), now).await.unwrap();
    }

    fn delivered_as(provider_id: &str) -> Settlement {
        Settlement::Sent { provider_id: Some(provider_id.into()) }
    }

    fn send(case_id: i64, chat: &str, key: &str, text: &str) -> NewOutgoing {
        NewOutgoing {
            case_id,
            channel: Channel::Telegram,
            address_sealed: format!("sealed-{chat}"),
            chat_key: chat.into(),
            action: OutAction::Send {
                text: text.into(),
                buttons: vec![vec![Button { text: "Yes".into(), data: "1".into(), key: None }]],
            },
            dedupe_key: key.into(),
        }
    }

    /// A column of row `id`, opened if it is sealed (`sealing.rs`) after checking that it is.
    async fn column(storage: &Storage, id: i64, column: &'static str) -> Option<String> {
        let stored: Option<String> = storage
            .read(move |conn| {
                let sql = format!("SELECT {column} FROM outbox WHERE id = ?1");
                Ok(conn.query_row(&sql, [id], |row| row.get(0))?)
            })
            .await
            .unwrap();
        if matches!(column, "body" | "address_sealed") {
            if let Some(stored) = &stored {
                assert!(crate::domain::data_keys::is_sealed(stored), "{column} is stored sealed");
            }
            return stored.and_then(|stored| storage.keys().open(&stored).ok());
        }
        stored
    }

    async fn count(storage: &Storage) -> i64 {
        storage
            .read(|conn| Ok(conn.query_row("SELECT COUNT(*) FROM outbox", (), |row| row.get(0))?))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_same_key_twice_stores_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let first = storage
            .enqueue_outgoing(send(case, "a", "tg-update:1:0", "Hello"), at(1))
            .await
            .unwrap();
        let again = storage
            .enqueue_outgoing(send(case, "a", "tg-update:1:0", "Hello again"), at(2))
            .await
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(count(&storage).await, 1);
        assert_eq!(column(&storage, first, "body").await.as_deref(), Some("Hello"));
        let other = storage
            .enqueue_outgoing(send(case, "a", "tg-update:1:1", "Next"), at(2))
            .await
            .unwrap();
        assert_ne!(other, first);
    }

    #[tokio::test]
    async fn a_message_for_no_case_or_an_edit_of_a_stranger_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let error =
            storage.enqueue_outgoing(send(case + 1, "a", "k1", "Hi"), at(1)).await.unwrap_err();
        assert!(matches!(error, StorageError::Conflict(_)), "{error}");
        let mut edit = send(case, "a", "k2", "Hi");
        edit.action = OutAction::Edit { of: 999, text: "x".into(), buttons: vec![] };
        let error = storage.enqueue_outgoing(edit, at(1)).await.unwrap_err();
        assert!(matches!(error, StorageError::Conflict(_)), "{error}");
        let sms = storage
            .enqueue_outgoing(
                NewOutgoing { channel: Channel::Sms, ..send(case, "a", "k3", "Hi") },
                at(1),
            )
            .await
            .unwrap();
        let mut delete = send(case, "a", "k4", "Hi");
        delete.action = OutAction::Delete { of: sms };
        let error = storage.enqueue_outgoing(delete, at(1)).await.unwrap_err();
        assert!(matches!(error, StorageError::Conflict(_)), "{error}");
        assert_eq!(count(&storage).await, 1);
    }

    #[tokio::test]
    async fn claiming_marks_sending_counts_the_attempt_and_claims_once() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let id = storage.enqueue_outgoing(send(case, "a", "k1", "Hello"), at(1)).await.unwrap();
        assert!(storage.due_outgoing(Channel::Telegram, at(0), 10).await.unwrap().is_empty());
        assert!(storage.due_outgoing(Channel::Sms, at(5), 10).await.unwrap().is_empty());
        let due = storage.due_outgoing(Channel::Telegram, at(1), 10).await.unwrap();
        assert_eq!(due, [Due { id, chat_key: "a".into() }]);
        let claimed = claim(&storage, vec![id]).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let out = &claimed[0];
        assert_eq!((out.id, out.case_id, out.attempt), (id, case, 1));
        assert_eq!(out.address_sealed, "sealed-a");
        assert_eq!(
            out.action,
            OutAction::Send {
                text: "Hello".into(),
                buttons: vec![vec![Button { text: "Yes".into(), data: "1".into(), key: None }]]
            }
        );
        assert_eq!(column(&storage, id, "state").await.as_deref(), Some("sending"));
        assert!(claim(&storage, vec![id]).await.unwrap().is_empty());
        assert!(storage.due_outgoing(Channel::Telegram, at(9), 10).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_chat_offers_only_its_oldest_waiting_message() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let a1 = storage.enqueue_outgoing(send(case, "a", "k1", "1"), at(1)).await.unwrap();
        let a2 = storage.enqueue_outgoing(send(case, "a", "k2", "2"), at(1)).await.unwrap();
        let b1 = storage.enqueue_outgoing(send(case, "b", "k3", "3"), at(1)).await.unwrap();
        let ids = |due: Vec<Due>| due.into_iter().map(|d| d.id).collect::<Vec<_>>();
        let due = storage.due_outgoing(Channel::Telegram, at(2), 10).await.unwrap();
        assert_eq!(ids(due), [a1, b1]);
        // While a1 is being sent, and while it waits out a backoff, a2 waits behind it.
        claim(&storage, vec![a1]).await.unwrap();
        assert_eq!(ids(storage.due_outgoing(Channel::Telegram, at(2), 10).await.unwrap()), [b1]);
        let retry = Settlement::Retry { next_at: at(60), error: "timeout".into() };
        settle(&storage, vec![(a1, retry)], at(3)).await;
        assert_eq!(ids(storage.due_outgoing(Channel::Telegram, at(2), 10).await.unwrap()), [b1]);
        let next = |now| storage.next_outgoing_at(Channel::Telegram, now);
        assert_eq!(next(at(2)).await.unwrap(), Some(at(60)));
        assert_eq!(next(at(60)).await.unwrap(), None);
        // The longest due first: b1 since 1 s, a1 since its backoff ended.
        assert_eq!(
            ids(storage.due_outgoing(Channel::Telegram, at(60), 10).await.unwrap()),
            [b1, a1]
        );
        claim(&storage, vec![a1]).await.unwrap();
        settle(&storage, vec![(a1, delivered_as("m1"))], at(61)).await;
        assert_eq!(
            ids(storage.due_outgoing(Channel::Telegram, at(61), 10).await.unwrap()),
            [a2, b1]
        );
        assert_eq!(ids(storage.due_outgoing(Channel::Telegram, at(61), 1).await.unwrap()), [a2]);
    }

    #[tokio::test]
    async fn one_round_records_the_answers_then_claims_the_next_messages() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let a1 = storage.enqueue_outgoing(send(case, "a", "k1", "1"), at(1)).await.unwrap();
        let a2 = storage.enqueue_outgoing(send(case, "a", "k2", "2"), at(1)).await.unwrap();
        claim(&storage, vec![a1]).await.unwrap();
        let round = storage.outbox_round(vec![(a1, delivered_as("m1"))], vec![a2], at(2));
        let claimed = round.await.unwrap();
        assert_eq!(claimed.iter().map(|out| out.id).collect::<Vec<_>>(), [a2]);
        assert_eq!(column(&storage, a1, "state").await.as_deref(), Some("sent"));
        assert_eq!(column(&storage, a1, "provider_id").await.as_deref(), Some("m1"));
        assert_eq!(column(&storage, a2, "state").await.as_deref(), Some("sending"));
        assert!(storage.outbox_round(Vec::new(), Vec::new(), at(3)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn sent_and_failed_drop_the_text_the_buttons_and_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let sent = storage.enqueue_outgoing(send(case, "a", "k1", "Hello"), at(1)).await.unwrap();
        let failed = storage.enqueue_outgoing(send(case, "b", "k2", "Hi"), at(1)).await.unwrap();
        claim(&storage, vec![sent, failed]).await.unwrap();
        // Settled together, as a worker records the answers of one round.
        let gave_up = Settlement::Failed { error: "bot was blocked".into() };
        settle(&storage, vec![(sent, delivered_as("4242")), (failed, gave_up)], at(2)).await;
        for id in [sent, failed] {
            for dropped in ["body", "buttons", "address_sealed"] {
                assert_eq!(column(&storage, id, dropped).await, None, "{dropped} of {id}");
            }
        }
        assert_eq!(column(&storage, sent, "provider_id").await.as_deref(), Some("4242"));
        let states = storage.outgoing_of_case(case).await.unwrap();
        assert_eq!(states.len(), 2);
        assert_eq!((states[0].state, states[0].sent_at), (OutState::Sent, Some(at(2))));
        assert_eq!(states[0].kind, "send");
        assert_eq!(states[1].state, OutState::Failed);
        assert_eq!(states[1].error.as_deref(), Some("bot was blocked"));
        assert_eq!(storage.outbox_counts().await.unwrap(), OutboxCounts { pending: 0, failed: 1 });
    }

    #[tokio::test]
    async fn an_edit_names_the_channels_id_of_the_earlier_message() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let menu = storage.enqueue_outgoing(send(case, "a", "k1", "Menu"), at(1)).await.unwrap();
        let mut edit = send(case, "a", "k2", "Menu, answered");
        edit.action = OutAction::Edit { of: menu, text: "Menu, answered".into(), buttons: vec![] };
        let edit = storage.enqueue_outgoing(edit, at(1)).await.unwrap();
        let mut delete = send(case, "a", "k3", "");
        delete.action = OutAction::Delete { of: menu };
        let delete = storage.enqueue_outgoing(delete, at(1)).await.unwrap();
        claim(&storage, vec![menu]).await.unwrap();
        settle(&storage, vec![(menu, delivered_as("777"))], at(2)).await;
        let claimed = claim(&storage, vec![edit, delete]).await.unwrap();
        assert_eq!(claimed[0].target_provider_id.as_deref(), Some("777"));
        assert_eq!(
            claimed[0].action,
            OutAction::Edit { of: menu, text: "Menu, answered".into(), buttons: vec![] }
        );
        assert_eq!(claimed[1].action, OutAction::Delete { of: menu });
        assert_eq!(claimed[1].target_provider_id.as_deref(), Some("777"));
        assert_eq!(column(&storage, delete, "body").await, None);
    }

    #[tokio::test]
    async fn an_interrupted_send_waits_again_and_nothing_else_moves() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let done = storage.enqueue_outgoing(send(case, "a", "k1", "1"), at(1)).await.unwrap();
        let cut = storage.enqueue_outgoing(send(case, "b", "k2", "2"), at(1)).await.unwrap();
        let sms = storage
            .enqueue_outgoing(
                NewOutgoing { channel: Channel::Sms, ..send(case, "c", "k3", "3") },
                at(1),
            )
            .await
            .unwrap();
        claim(&storage, vec![done, cut, sms]).await.unwrap();
        let delivered = Settlement::Sent { provider_id: None };
        settle(&storage, vec![(done, delivered)], at(2)).await;
        assert_eq!(storage.resume_interrupted(Channel::Telegram).await.unwrap(), 1);
        assert_eq!(column(&storage, cut, "state").await.as_deref(), Some("pending"));
        assert_eq!(column(&storage, done, "state").await.as_deref(), Some("sent"));
        // Another channel's worker may be sending right now: its rows are its own.
        assert_eq!(column(&storage, sms, "state").await.as_deref(), Some("sending"));
        let again = claim(&storage, vec![cut]).await.unwrap();
        assert_eq!(again[0].attempt, 2);
        assert_eq!(storage.outbox_counts().await.unwrap(), OutboxCounts { pending: 2, failed: 0 });
    }

    #[tokio::test]
    async fn hostile_text_is_stored_and_read_back_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        let hostile = "'); DROP TABLE outbox; -- <script>\u{202e}ر";
        let mut new = send(case, "chat'\"", hostile, hostile);
        new.action = OutAction::Send {
            text: hostile.into(),
            buttons: vec![vec![Button { text: hostile.into(), data: "\"]}".into(), key: None }]],
        };
        let id = storage.enqueue_outgoing(new.clone(), at(1)).await.unwrap();
        let claimed = claim(&storage, vec![id]).await.unwrap();
        assert_eq!(claimed[0].action, new.action);
        assert_eq!(claimed[0].chat_key, "chat'\"");
    }

    #[tokio::test]
    async fn the_due_messages_are_one_index_walk_prepared_once() {
        if crate::storage::conformance::sqlite_file_only("SQLite's query plan and statement status")
        {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (storage, case) = open(&dir).await;
        for n in 0..6 {
            let chat = format!("chat-{}", n % 3);
            storage
                .enqueue_outgoing(send(case, &chat, &format!("k{n}"), "hi"), at(0))
                .await
                .unwrap();
        }
        drop(storage);
        let conn = rusqlite::Connection::open(dir.path().join("cases.db")).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {DUE}"))
            .unwrap()
            .query_map(params!["telegram", db_time(at(5)), 10], |row| row.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX outbox_pending (channel=? AND next_at<?)"), "{plan}");
        assert!(plan.contains("USING INDEX outbox_open"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");

        // The worker asks with a new limit at almost every round.
        let mut due = conn.prepare(DUE).unwrap();
        for limit in 1..=4 {
            let rows = due
                .query_map(params!["telegram", db_time(at(5)), limit], |row| row.get::<_, i64>(0))
                .unwrap()
                .count();
            assert_eq!(rows, limit.min(3), "the head of each of the 3 chats, at most {limit}");
        }
        assert_eq!(due.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
