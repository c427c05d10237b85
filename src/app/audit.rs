//! The audit log: writing a line for a use case (a person's id, or `cli` in the detail for the
//! terminal) and reading the log back for a supervisor.

use chrono::{DateTime, Utc};

use crate::app::{Actor, App, AppError};
use crate::domain::audit::{AuditAction, AuditFilter, AuditRecord};
use crate::domain::cases::CaseNumber;
use crate::domain::people::Person;
use crate::storage::AuditEntry;

impl App {
    /// Lines of the audit log matching `filter`, newest first (supervisors).
    pub async fn audit_log(
        &self,
        actor: &Actor,
        filter: AuditFilter,
    ) -> Result<Vec<AuditRecord>, AppError> {
        actor.require_supervisor()?;
        Ok(self.storage().audit_log(filter).await?)
    }

    /// Everyone, for the person filters of the audit log and the case search (supervisors).
    pub async fn filter_people(&self, actor: &Actor) -> Result<Vec<Person>, AppError> {
        actor.require_supervisor()?;
        Ok(self.storage().people().await?)
    }

    /// Writes `actor`'s audit line; the use case fails if it cannot be written, rather than
    /// leave an unrecorded read or change. The terminal's line has no person and starts
    /// with `cli`.
    pub(in crate::app) async fn audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        case: Option<CaseNumber>,
        detail: String,
    ) -> Result<(), AppError> {
        let entry = audit_entry(actor, action, case, detail, self.now());
        Ok(self.storage().audit(entry).await?)
    }
}

/// The audit line of `actor`'s `action` at `at`: the terminal's has no person and starts its
/// detail with `cli`.
pub(in crate::app) fn audit_entry(
    actor: &Actor,
    action: AuditAction,
    case: Option<CaseNumber>,
    detail: String,
    at: DateTime<Utc>,
) -> AuditEntry {
    let detail = match actor {
        Actor::Person(_) => detail,
        Actor::Terminal => format!("cli {detail}").trim_end().to_owned(),
    };
    AuditEntry { actor: actor.audit_id(), action, case, detail, at }
}
