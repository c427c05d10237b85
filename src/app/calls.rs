//! The use cases of a call walking its script: recording what it did, the blocklist at its
//! start, its place in the operators' queue and its departure from it, and the follow-up side
//! (a key pressed while waiting, a callback number sealed and opened).
//!
//! None of these may make a call drop: a database that is down or slow gives each of them a
//! safe answer (no block, position unknown, records to the journal), never an error.

use std::time::Duration;

use crate::app::App;
use crate::app::queues::{self, WaitPlan};
use crate::domain::cases::{CallSid, Event, Record};
use crate::domain::conversation::Channel;
use crate::domain::followups::CallbackNumber;
use crate::domain::queue::EntryState;
use crate::ivr::{self, Turn};
use crate::scripts::{NodeId, Script};
use crate::storage::Durability;

/// How a caller left the operators' queue, as the provider's Enqueue action said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDeparture {
    /// `QueueResult`, checked (`bridged`, `hangup`, `leave`, …; `unknown` when odd).
    pub result: String,
    /// `QueueTime`, seconds in the queue, when sent and sensible.
    pub wait_secs: Option<u32>,
}

impl App {
    /// Records what a call did: in a task of its own, so that when `within` passes the
    /// caller gets their answer and the write still completes (or is journaled) behind it.
    /// The records of one answer go to the database together, so the caller waits for one
    /// commit, not one per record.
    pub async fn record_call(&self, records: Vec<Record>, within: Duration) {
        if records.iter().any(|record| matches!(record, Record::CallStarted { .. })) {
            // A call's first webhook: its case opens with these records.
            self.metrics().case_opened(Channel::Voice);
        }
        let recorder = self.recorder().clone();
        let writing = tokio::spawn(async move { recorder.record_all(records).await });
        match tokio::time::timeout(within, writing).await {
            Ok(Ok(Durability::Stored)) => {}
            Ok(Ok(durability)) => tracing::warn!(?durability, "records not stored in the database"),
            Ok(Err(e)) => tracing::error!(error = %e, "recording task failed"),
            Err(_) => tracing::error!("webhook deadline passed while recording; answered anyway"),
        }
    }

    /// Routes a handoff turn and puts the caller in their queue (see [`queues::place`]).
    pub async fn place_in_queue(
        &self,
        script: &Script,
        call_sid: Option<&CallSid>,
        step: u32,
        turn: Turn,
    ) -> Turn {
        let (storage, recorder, queues) = (self.storage(), self.recorder(), self.queues());
        let turn = queues::place(storage, recorder, queues, script, call_sid, step, turn).await;
        // A call-me operator is rung for the caller now waiting.
        self.wake_ringer();
        turn
    }

    /// What the wait document tells the caller (see [`queues::wait_plan`]).
    pub async fn wait_plan(&self, call_sid: Option<&CallSid>) -> WaitPlan {
        queues::wait_plan(self.storage(), self.queues(), call_sid).await
    }

    /// A call that ended: takes the caller out of the operators' queue if they are still in
    /// it, since the Enqueue action that would have said they left can be lost (the server
    /// down at that moment), and a caller who hung up must not be counted as waiting, or be
    /// offered to an operator, for ever. A normal hang-up in the queue reaches here after
    /// its Enqueue action has closed the entry, and changes nothing. Only a call with an
    /// open entry, or one whose entry cannot be read in time, costs a record; it goes through
    /// the journal with the status, so a database that is locked or read-only at that moment
    /// cannot lose it.
    pub async fn left_queue_at_end(&self, call_sid: CallSid) -> Option<Record> {
        let entry = self.storage().queue_entry_of_call(&call_sid);
        match self.queues().bounded("entry at the end", entry).await {
            Some(None) => return None,
            Some(Some(entry))
                if !matches!(entry.state, EntryState::Waiting | EntryState::Connecting) =>
            {
                return None;
            }
            Some(Some(_)) => {
                tracing::info!(
                    "the call ended in the queue without its Enqueue action; closing it"
                );
            }
            // Unknown: closing an entry that is not there changes nothing.
            None => {}
        }
        Some(Record::QueueLeft {
            call_sid,
            at: self.now(),
            result: "hangup".into(),
            queue_secs: None,
        })
    }

    /// The Enqueue action: the caller left the queue. Returns what they hear next and the
    /// record that closes their queue entry (or marks it bridged), which goes through the
    /// journal with the step; an answered caller's case records who took them.
    pub async fn left_queue(
        &self,
        script: &Script,
        node: &NodeId,
        call_sid: Option<CallSid>,
        departure: QueueDeparture,
    ) -> (Turn, Option<Record>) {
        let QueueDeparture { result, wait_secs } = departure;
        let (storage, queues) = (self.storage(), self.queues());
        // A caller who pressed a <wait> key left for its voicemail or callback node.
        let chosen = match (result.as_str(), &call_sid) {
            ("leave", Some(call_sid)) => {
                queues.bounded("left for", storage.left_for(call_sid)).await.flatten()
            }
            _ => None,
        };
        let mut turn = match chosen {
            Some(goto) if script.node(&goto).is_some() => {
                ivr::left_queue_for(script, node, &result, wait_secs, &goto)
            }
            _ => ivr::left_queue(script, node, &result, wait_secs),
        };
        let Some(call_sid) = call_sid else { return (turn, None) };
        let now = self.now();
        let bridged = matches!(
            result.as_str(),
            "bridged" | "bridging-in-process" | "redirected-from-bridged"
        );
        if bridged {
            // The operator who took the caller was noted when they were given them; a read
            // works even while writes wait for a lock.
            let entry = queues.bounded("answered by", storage.queue_entry_of_call(&call_sid));
            if let Some(Some(entry)) = entry.await
                && matches!(entry.state, EntryState::Connecting | EntryState::Bridged)
                && let Some(operator_id) = entry.operator_id
            {
                let waited = wait_secs.or_else(|| u32::try_from(entry.wait_secs(now)).ok());
                turn.events.push(Event::Answered { operator_id, wait_secs: waited });
            }
        }
        let left = Record::QueueLeft { call_sid, at: now, result, queue_secs: wait_secs };
        (turn, Some(left))
    }

    /// A `<wait>` key: marks the caller as leaving the queue for `goto`. False when the
    /// caller cannot be marked (an operator is already being connected, or the database is
    /// unavailable): they keep waiting.
    pub async fn leave_queue_for(&self, call_sid: &CallSid, goto: &NodeId) -> bool {
        let marked = self.storage().leave_queue_for(call_sid, goto);
        self.queues().bounded("wait key", marked).await == Some(true)
    }

    /// Seals a callback number the moment it is typed, bound to its call.
    pub fn seal_callback_number(&self, number: &CallbackNumber, call: &CallSid) -> Option<String> {
        self.sealer().seal(number, call)
    }
}
