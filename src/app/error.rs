//! Why a use case failed, in terms every surface can map: the API to a status and JSON, the
//! console to a page, the operator line to safe TwiML, the command line to a message.

use crate::storage::StorageError;

/// Why a use case failed. The message of every variant but [`AppError::Internal`] is meant
/// for the person who asked; an internal error's cause is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The actor's role may not do this.
    #[error("your role may not do this")]
    Forbidden,
    /// The thing named does not exist, or is not within the actor's reach (which is told
    /// apart from "does not exist" nowhere, so neither can be probed).
    #[error("{0}")]
    NotFound(String),
    /// A value given is wrong; the message says how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// The request conflicts with the current state (a case already closed, a name taken).
    #[error("{0}")]
    Conflict(String),
    /// What was asked would break something; each diagnostic says what, with its place.
    #[error("{message}")]
    Rejected {
        /// What was refused.
        message: String,
        /// Every problem found, as the surface shows them.
        diagnostics: Vec<serde_json::Value>,
    },
    /// Too many password or PIN checks are running; try again in a moment.
    #[error("the server is busy; try again in a moment")]
    Busy,
    /// Something failed on our side.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<StorageError> for AppError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Conflict(message) => AppError::Conflict(message),
            other => AppError::Internal(Box::new(other)),
        }
    }
}
