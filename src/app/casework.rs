//! Case work as the people do it: who may work on a case, reading, searching and exporting
//! cases, notes, dispositions, closing and reopening, legal holds, and the blocklist, each
//! checked and audited here whichever surface asked.
//!
//! Operators reach only the cases in their languages and those they were connected to
//! ([`may_see`]); any other case is the same "no such case" as one that does not exist, and
//! an attempt on one that does is audited (`case.refused`).

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;

use crate::app::{Actor, App, AppError};
use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallerHash, CaseNumber};
use crate::domain::casework::{
    BlockEntry, BlockKey, CaseDetail, CaseFilter, CaseListing, CaseReach, CaseWork, Change,
    Disposition, MAX_EXPORT, MAX_PAGE, MAX_REASON_CHARS, Note, NoteText, may_see, parse_expiry,
};
use crate::domain::people::Role;
use crate::scripts::{NodeId, NodeKind, Script};

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

/// One page of a case search, with the paging it was read with.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    /// The cases, newest first.
    pub cases: Vec<CaseListing>,
    /// The page's size.
    pub limit: u32,
    /// How many cases were skipped before it.
    pub offset: u32,
}

impl App {
    /// Whether `/voice/incoming` should treat this caller as blocked. Never fails: a
    /// withheld number is not blocked, and a blocklist that cannot be read within
    /// [`BLOCKLIST_TIMEOUT`] counts as no block (logged), because a caller is never dropped
    /// for our failure.
    pub async fn caller_is_blocked(&self, caller: Option<&CallerHash>) -> bool {
        let Some(caller) = caller else { return false };
        let lookup = self.storage().is_blocked(caller.clone(), self.now());
        match tokio::time::timeout(BLOCKLIST_TIMEOUT, lookup).await {
            Ok(Ok(blocked)) => blocked,
            // A database that is down or failing over is already said by the journal's
            // warnings and /readyz: a warning per call, not an error, while it lasts.
            Ok(Err(error)) if error.is_unavailable() => {
                tracing::warn!(%error, "blocklist unreadable; the call is handled normally");
                false
            }
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

    /// Whether `actor` may work on case `number` ([`may_see`]: supervisors and the terminal
    /// always, operators in their languages or when connected to it). `false` both when
    /// there is no such case and when it is out of reach, and the caller must answer both
    /// alike, since case numbers are sequential and easy to try. An attempt on a case that
    /// exists but is out of reach is audited `case.refused`, with what was attempted
    /// (`attempt`, e.g. `read`, `note`, `followup.take 7`).
    pub(in crate::app) async fn may_work_on(
        &self,
        actor: &Actor,
        number: CaseNumber,
        attempt: &str,
    ) -> Result<bool, AppError> {
        let Some((_, reach)) = self.storage().case_reaches(vec![number]).await?.pop() else {
            return Ok(false);
        };
        if reaches(actor, &reach) {
            return Ok(true);
        }
        self.audit(actor, AuditAction::CaseRefused, Some(number), attempt.to_owned()).await?;
        tracing::warn!(
            target: "hotline::security",
            case = %number,
            person = actor.audit_id(),
            attempt,
            "refused a case out of the person's reach"
        );
        Ok(false)
    }

    /// Those of `numbers` that `actor` may see ([`may_see`]), in their order: what a list of
    /// cases or follow-ups shows them. Not audited: a list only shows what is in reach.
    pub(in crate::app) async fn visible_cases(
        &self,
        actor: &Actor,
        numbers: Vec<CaseNumber>,
    ) -> Result<Vec<CaseNumber>, AppError> {
        if actor.require_supervisor().is_ok() {
            return Ok(numbers);
        }
        let reaches_ = self.storage().case_reaches(numbers).await?;
        Ok(reaches_
            .into_iter()
            .filter(|(_, reach)| reaches(actor, reach))
            .map(|(number, _)| number)
            .collect())
    }

    /// Case `number` for `actor` (operators and supervisors), the caller masked; the read is
    /// audited (`case.read`) before it is returned.
    pub async fn read_case(
        &self,
        actor: &Actor,
        number: CaseNumber,
    ) -> Result<CaseDetail, AppError> {
        require_staff(actor)?;
        self.in_reach(actor, number, "read").await?;
        let storage = self.storage();
        let case = storage.case(number).await?.ok_or_else(|| no_case(number))?;
        let work = storage.case_work(number).await?.ok_or_else(|| no_case(number))?;
        self.audit(actor, AuditAction::CaseRead, Some(number), String::new()).await?;
        Ok(CaseDetail::new(case, work))
    }

    /// Appends `actor`'s note to case `number` (operators and supervisors; the text checked
    /// by [`NoteText`]); audited (`case.note`) without its text.
    pub async fn add_note(
        &self,
        actor: &Actor,
        number: CaseNumber,
        text: &str,
    ) -> Result<Note, AppError> {
        let author = require_staff(actor)?;
        self.in_reach(actor, number, "note").await?;
        let text = NoteText::parse(text).map_err(|e| AppError::Invalid(format!("text: {e}")))?;
        let chars = text.as_str().chars().count();
        let note = self
            .storage()
            .add_note(number, author, text, self.now())
            .await?
            .ok_or_else(|| no_case(number))?;
        // The note's text stays out of the audit line: it is on the case for those allowed
        // to read it.
        let detail = format!("note={} chars={chars}", note.id);
        self.audit(actor, AuditAction::CaseNote, Some(number), detail).await?;
        Ok(note)
    }

    /// Sets case `number`'s disposition (one of `[cases] dispositions`), and with `close`
    /// closes it (operators and supervisors); audited (`case.disposition` or `case.close`).
    /// A closed case is a conflict until reopened. An empty disposition is refused: the
    /// person must choose one, since a default would record an outcome nobody chose.
    pub async fn set_disposition(
        &self,
        actor: &Actor,
        number: CaseNumber,
        disposition: &str,
        close: bool,
    ) -> Result<CaseWork, AppError> {
        let by = require_staff(actor)?;
        self.in_reach(actor, number, if close { "close" } else { "disposition" }).await?;
        let allowed = self.config().cases.dispositions();
        let names = || allowed.iter().map(Disposition::as_str).collect::<Vec<_>>().join(", ");
        if disposition.trim().is_empty() {
            let when = if close { " before closing the case" } else { "" };
            return Err(AppError::Invalid(format!(
                "no disposition was chosen: choose one{when}, one of {}",
                names()
            )));
        }
        let disposition =
            Disposition::parse(disposition).filter(|d| allowed.contains(d)).ok_or_else(|| {
                AppError::Invalid(format!(
                    "disposition {:?} is not one of {}",
                    disposition.chars().take(40).collect::<String>(),
                    names()
                ))
            })?;
        let change = self
            .storage()
            .set_disposition(number, disposition.clone(), close, by, self.now())
            .await?;
        let work = done(change, number)?;
        let action = if close { AuditAction::CaseClose } else { AuditAction::CaseDisposition };
        self.audit(actor, action, Some(number), format!("disposition={disposition}")).await?;
        Ok(work)
    }

    /// Reopens closed case `number` (supervisors; a conflict if it is open); audited
    /// (`case.reopen`).
    pub async fn reopen_case(&self, actor: &Actor, number: CaseNumber) -> Result<(), AppError> {
        actor.require_supervisor()?;
        self.in_reach(actor, number, "reopen").await?;
        done(self.storage().reopen_case(number).await?, number)?;
        self.audit(actor, AuditAction::CaseReopen, Some(number), String::new()).await
    }

    /// One page of the cases that pass the filters `given` (a query string's pairs, parsed
    /// by [`CaseFilter::parse`]), newest first (supervisors); audited (`cases.search`) with
    /// `query`, the search as the person typed it.
    pub async fn search_cases(
        &self,
        actor: &Actor,
        given: &[(String, String)],
        query: &str,
    ) -> Result<SearchPage, AppError> {
        actor.require_supervisor()?;
        let filter = CaseFilter::parse(given, MAX_PAGE).map_err(AppError::Invalid)?;
        let (limit, offset) = (filter.limit, filter.offset);
        let cases = self.storage().search_cases(filter).await?;
        let detail = format!("query={query} results={}", cases.len());
        self.audit(actor, AuditAction::CasesSearch, None, detail).await?;
        Ok(SearchPage { cases, limit, offset })
    }

    /// Every case that passes the filters `given`, up to their `limit` (at most
    /// [`MAX_EXPORT`]; without one, a page of the search, or the whole set if
    /// `whole_set_by_default`): what a CSV export holds (supervisors; audited
    /// `cases.export`).
    ///
    /// Reads [`MAX_PAGE`] cases at a time: the reader connection is shared with the webhooks
    /// (the blocklist check, the fallback's language), which must not wait behind a long
    /// export.
    pub async fn export_cases(
        &self,
        actor: &Actor,
        given: &[(String, String)],
        query: &str,
        whole_set_by_default: bool,
    ) -> Result<Vec<CaseListing>, AppError> {
        actor.require_supervisor()?;
        let mut page = CaseFilter::parse(given, MAX_EXPORT).map_err(AppError::Invalid)?;
        if whole_set_by_default && !given.iter().any(|(name, _)| name == "limit") {
            page.limit = MAX_EXPORT;
        }
        let mut remaining = page.limit.min(MAX_EXPORT);
        let mut cases = Vec::new();
        while remaining > 0 {
            page.limit = remaining.min(MAX_PAGE);
            let found = self.storage().search_cases(page.clone()).await?;
            let full = found.len() == page.limit as usize;
            cases.extend(found);
            remaining -= page.limit;
            if !full {
                break;
            }
            page.offset = 0;
            page.after = cases.last().map(|case| case.number);
        }
        let detail = format!("query={query} rows={}", cases.len());
        self.audit(actor, AuditAction::CasesExport, None, detail).await?;
        Ok(cases)
    }

    /// Whether case `number` is under legal hold (supervisors).
    pub async fn legal_hold(&self, actor: &Actor, number: CaseNumber) -> Result<bool, AppError> {
        actor.require_supervisor()?;
        self.storage().legal_hold(number).await?.ok_or_else(|| no_case(number))
    }

    /// Puts case `number` under legal hold (`hold`), exempting it from the retention purge,
    /// or releases it (supervisors and the terminal). Whether anything changed: setting what
    /// is already set is not audited as a change (`case.hold`, `case.release`).
    pub async fn set_legal_hold(
        &self,
        actor: &Actor,
        number: CaseNumber,
        hold: bool,
    ) -> Result<bool, AppError> {
        actor.require_supervisor()?;
        let changed =
            self.storage().set_legal_hold(number, hold).await?.ok_or_else(|| no_case(number))?;
        if changed {
            let action = if hold { AuditAction::CaseHold } else { AuditAction::CaseRelease };
            self.audit(actor, action, Some(number), String::new()).await?;
        }
        Ok(changed)
    }

    /// The blocklist, newest first, expired entries marked (supervisors; audited
    /// `blocklist.read`).
    pub async fn blocklist(&self, actor: &Actor) -> Result<Vec<BlockEntry>, AppError> {
        actor.require_supervisor()?;
        let entries = self.storage().blocklist(self.now()).await?;
        let detail = format!("entries={}", entries.len());
        self.audit(actor, AuditAction::BlocklistRead, None, detail).await?;
        Ok(entries)
    }

    /// Blocks the caller of case `number` for `reason` until `expires_at` (as typed: see
    /// [`parse_expiry`]; `None`: until removed) (supervisors; audited `blocklist.add`).
    pub async fn block_caller(
        &self,
        actor: &Actor,
        number: CaseNumber,
        reason: &str,
        expires_at: Option<&str>,
    ) -> Result<BlockEntry, AppError> {
        actor.require_supervisor()?;
        let now = self.now();
        let reason = NoteText::parse_at_most(reason, MAX_REASON_CHARS)
            .map_err(|why| AppError::Invalid(format!("reason: {why}")))?;
        let expires_at = expires_at
            .map(|text| parse_expiry(text, now))
            .transpose()
            .map_err(AppError::Invalid)?;
        let by = require_staff(actor)?;
        let change = self.storage().block_caller(number, reason, expires_at, by, now).await?;
        let entry = done(change, number)?;
        let expires = entry.expires_at.map_or("never".to_owned(), |t| t.to_rfc3339());
        let detail = format!("entry={} expires={expires}", entry.id);
        self.audit(actor, AuditAction::BlocklistAdd, Some(number), detail).await?;
        Ok(entry)
    }

    /// Removes a blocklist entry (supervisors; audited `blocklist.remove`); `None` if there
    /// was none.
    pub async fn unblock_caller(
        &self,
        actor: &Actor,
        key: BlockKey,
    ) -> Result<Option<BlockEntry>, AppError> {
        actor.require_supervisor()?;
        let removed = self.storage().unblock(key, self.now()).await?;
        if let Some(entry) = &removed {
            let detail = format!("entry={}", entry.id);
            self.audit(actor, AuditAction::BlocklistRemove, Some(entry.case), detail).await?;
        }
        Ok(removed)
    }

    /// Succeeds if `actor` may work on case `number` ([`App::may_work_on`]); otherwise the
    /// very "no such case" of a case that does not exist.
    pub(in crate::app) async fn in_reach(
        &self,
        actor: &Actor,
        number: CaseNumber,
        attempt: &str,
    ) -> Result<(), AppError> {
        if self.may_work_on(actor, number, attempt).await? { Ok(()) } else { Err(no_case(number)) }
    }
}

/// Whether `actor` may see a case of this reach: the terminal may see every case.
fn reaches(actor: &Actor, reach: &CaseReach) -> bool {
    actor.person().is_none_or(|person| may_see(person, reach))
}

/// Operators and supervisors, as the person a note or a disposition is recorded by. Today
/// that is every role, but the exhaustive match makes a new role a compile error here until
/// someone decides. The terminal has no person to record, so it may not.
pub(in crate::app) fn require_staff(actor: &Actor) -> Result<i64, AppError> {
    let person = actor.person().ok_or(AppError::Forbidden)?;
    match person.role {
        Role::Operator | Role::Supervisor => Ok(person.id),
    }
}

/// The result of a change, or why there was none.
fn done<T>(change: Change<T>, number: CaseNumber) -> Result<T, AppError> {
    match change {
        Change::Done(value) => Ok(value),
        Change::NoCase => Err(no_case(number)),
        Change::Conflict(why) => Err(AppError::Conflict(why)),
        Change::Invalid(why) => Err(AppError::Invalid(why)),
    }
}

fn no_case(number: CaseNumber) -> AppError {
    AppError::NotFound(format!("there is no case {number}"))
}
