//! Who is acting: the person behind a bearer token, a console session or a PIN on the
//! operator line, or someone at the server's terminal. Every role rule is checked on it, in
//! the use cases, whichever surface brought it.

use crate::app::AppError;
use crate::domain::people::Person;
use crate::storage::ChangedBy;

/// Who asks a use case to act.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A person, signed in: by an API token, a console session or the operator line. Never
    /// disabled (a disabled person's token, session and PIN are refused before this).
    Person(Person),
    /// Someone at the server's terminal (`hotline …`): whoever can run the command can read
    /// the database file, so they may do what a supervisor may. Audited with no person and
    /// `cli` in the detail.
    Terminal,
}

impl Actor {
    /// The person, unless this is the terminal.
    pub fn person(&self) -> Option<&Person> {
        match self {
            Actor::Person(person) => Some(person),
            Actor::Terminal => None,
        }
    }

    /// Succeeds for a supervisor or the terminal; [`AppError::Forbidden`] for anyone else.
    pub fn require_supervisor(&self) -> Result<(), AppError> {
        match self {
            Actor::Person(person) if !person.is_supervisor() => Err(AppError::Forbidden),
            _ => Ok(()),
        }
    }

    /// The person's id as the audit log records it; `None` for the terminal.
    pub fn audit_id(&self) -> Option<i64> {
        self.person().map(|person| person.id)
    }

    /// Who made a change to a person, as storage records it.
    pub(crate) fn changed_by(&self) -> ChangedBy {
        match self {
            Actor::Person(person) => ChangedBy::Person(person.id),
            Actor::Terminal => ChangedBy::Cli,
        }
    }
}
