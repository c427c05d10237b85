//! Case work as the people do it: who may work on a case, reading, searching and exporting
//! cases, and the blocklist, each audited here whichever surface asked.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallerHash, CaseNumber};
use crate::domain::casework::{
    BlockEntry, BlockKey, CaseDetail, CaseFilter, CaseListing, Change, MAX_EXPORT, MAX_PAGE,
    MAX_REASON_CHARS, NoteText, may_see, parse_expiry,
};
use crate::domain::people::Person;
use crate::scripts::{NodeId, NodeKind, Script};
use crate::storage::{AuditEntry, Storage, StorageError};

/// How long `/voice/incoming` waits for the blocklist before handling the call normally: a
/// caller must not wait on a slow database, and must never be dropped because of it.
pub const BLOCKLIST_TIMEOUT: Duration = Duration::from_millis(300);

/// The node a refused call (blocked with `[blocklist] answer = "message"`, or over its
/// caller's limit with `over_limit_answer = "message"`) ends on where it would reach a person:
/// the script's hangup node `goodbye` (every shipped script has one: a polite "thank you for
/// calling, goodbye"), or else its first hangup node. `None` if the script has no hangup
/// node; the default language's is then used, and without one either the call just ends.
pub fn blocked_goodbye(script: &Script) -> Option<&NodeId> {
    let hangups = || script.nodes.values().filter(|node| node.kind == NodeKind::Hangup);
    hangups()
        .find(|node| node.id.as_str() == "goodbye")
        .or_else(|| hangups().next())
        .map(|node| &node.id)
}

/// Whether `/voice/incoming` should treat this caller as blocked. Never fails: a withheld
/// number is not blocked, and a blocklist that cannot be read within [`BLOCKLIST_TIMEOUT`]
/// counts as no block (logged), because a caller is never dropped for our failure.
pub async fn caller_is_blocked(storage: &Storage, caller: Option<&CallerHash>) -> bool {
    let Some(caller) = caller else { return false };
    let lookup = storage.is_blocked(caller.clone(), Utc::now());
    match tokio::time::timeout(BLOCKLIST_TIMEOUT, lookup).await {
        Ok(Ok(blocked)) => blocked,
        Ok(Err(error)) => {
            tracing::error!(%error, "blocklist unreadable; the call is handled normally");
            false
        }
        Err(_) => {
            tracing::error!(
                timeout_ms = BLOCKLIST_TIMEOUT.as_millis() as u64,
                "blocklist lookup too slow; the call is handled normally"
            );
            false
        }
    }
}

pub async fn may_work_on(
    storage: &Storage,
    person: &Person,
    number: CaseNumber,
    attempt: &str,
) -> Result<bool, StorageError> {
    let Some((_, reach)) = storage.case_reaches(vec![number]).await?.pop() else {
        return Ok(false);
    };
    if may_see(person, &reach) {
        return Ok(true);
    }
    audit(storage, person.id, AuditAction::CaseRefused, Some(number), attempt.to_owned()).await?;
    tracing::warn!(
        target: "hotline::security",
        case = %number,
        person = person.id,
        attempt,
        "refused a case out of the person's reach"
    );
    Ok(false)
}

/// Those of `numbers` that `person` may see ([`may_see`]), in their order: what a list of
/// cases or follow-ups shows them. Not audited: a list only shows what is in reach.
pub async fn visible_cases(
    storage: &Storage,
    person: &Person,
    numbers: Vec<CaseNumber>,
) -> Result<Vec<CaseNumber>, StorageError> {
    if person.is_supervisor() {
        return Ok(numbers);
    }
    let reaches = storage.case_reaches(numbers).await?;
    Ok(reaches
        .into_iter()
        .filter(|(_, reach)| may_see(person, reach))
        .map(|(number, _)| number)
        .collect())
}

/// A case's detail for `person` (audited `case.read`); `None` if there is no such case or
/// it is outside their reach ([`may_work_on`]).
pub async fn read_case(
    storage: &Storage,
    person: &Person,
    number: CaseNumber,
) -> Result<Option<CaseDetail>, StorageError> {
    if !may_work_on(storage, person, number, "read").await? {
        return Ok(None);
    }
    let Some(case) = storage.case(number).await? else { return Ok(None) };
    let Some(work) = storage.case_work(number).await? else { return Ok(None) };
    audit(storage, person.id, AuditAction::CaseRead, Some(number), String::new()).await?;
    Ok(Some(CaseDetail::new(case, work)))
}

/// One page of the search (audited `cases.search`).
pub async fn search_cases(
    storage: &Storage,
    actor: i64,
    filter: CaseFilter,
    query: &str,
) -> Result<Vec<CaseListing>, StorageError> {
    let cases = storage.search_cases(filter).await?;
    audit(
        storage,
        actor,
        AuditAction::CasesSearch,
        None,
        format!("query={query} results={}", cases.len()),
    )
    .await?;
    Ok(cases)
}

/// Every case that passes `filter`, up to its `limit` (at most [`MAX_EXPORT`]): what a CSV
/// export holds (audited `cases.export`).
///
/// Reads [`MAX_PAGE`] cases at a time: the reader connection is shared with the webhooks (the
/// blocklist check, the fallback's language), which must not wait behind a long export.
pub async fn export_cases(
    storage: &Storage,
    actor: i64,
    mut page: CaseFilter,
    query: &str,
) -> Result<Vec<CaseListing>, StorageError> {
    let mut remaining = page.limit.min(MAX_EXPORT);
    let mut cases = Vec::new();
    while remaining > 0 {
        page.limit = remaining.min(MAX_PAGE);
        let found = storage.search_cases(page.clone()).await?;
        let full = found.len() == page.limit as usize;
        cases.extend(found);
        remaining -= page.limit;
        if !full {
            break;
        }
        page.offset = 0;
        page.after = cases.last().map(|case| case.number);
    }
    audit(
        storage,
        actor,
        AuditAction::CasesExport,
        None,
        format!("query={query} rows={}", cases.len()),
    )
    .await?;
    Ok(cases)
}

/// The blocklist, newest first, expired entries marked (audited `blocklist.read`).
pub async fn read_blocklist(
    storage: &Storage,
    actor: i64,
    now: DateTime<Utc>,
) -> Result<Vec<BlockEntry>, StorageError> {
    let entries = storage.blocklist(now).await?;
    audit(storage, actor, AuditAction::BlocklistRead, None, format!("entries={}", entries.len()))
        .await?;
    Ok(entries)
}

/// Blocks the caller of case `number` for `reason` until `expires_at` (as typed: see
/// [`parse_expiry`]; `None`: until removed), audited `blocklist.add`. A wrong reason or
/// expiry is [`Change::Invalid`] with the reason.
pub async fn block(
    storage: &Storage,
    actor: i64,
    number: CaseNumber,
    reason: &str,
    expires_at: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Change<BlockEntry>, StorageError> {
    let reason = match NoteText::parse_at_most(reason, MAX_REASON_CHARS) {
        Ok(reason) => reason,
        Err(why) => return Ok(Change::Invalid(format!("reason: {why}"))),
    };
    let expires_at = match expires_at.map(|text| parse_expiry(text, now)).transpose() {
        Ok(expires_at) => expires_at,
        Err(why) => return Ok(Change::Invalid(why)),
    };
    let change = storage.block_caller(number, reason, expires_at, actor, now).await?;
    if let Change::Done(entry) = &change {
        let expires = entry.expires_at.map_or("never".to_owned(), |t| t.to_rfc3339());
        let detail = format!("entry={} expires={expires}", entry.id);
        audit(storage, actor, AuditAction::BlocklistAdd, Some(number), detail).await?;
    }
    Ok(change)
}

/// Removes a blocklist entry (audited `blocklist.remove`); `None` if there was none.
pub async fn unblock(
    storage: &Storage,
    actor: i64,
    key: BlockKey,
    now: DateTime<Utc>,
) -> Result<Option<BlockEntry>, StorageError> {
    let removed = storage.unblock(key, now).await?;
    if let Some(entry) = &removed {
        let detail = format!("entry={}", entry.id);
        audit(storage, actor, AuditAction::BlocklistRemove, Some(entry.case), detail).await?;
    }
    Ok(removed)
}

/// Writes an audit line; the caller fails if it cannot be written, rather than leave an
/// unrecorded read or change.
async fn audit(
    storage: &Storage,
    actor: i64,
    action: AuditAction,
    case: Option<CaseNumber>,
    detail: String,
) -> Result<(), StorageError> {
    let entry = AuditEntry { actor: Some(actor), action, case, detail };
    storage.audit(entry).await
}
