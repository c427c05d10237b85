//! A web console session, as the console reads it back: who is logged in and what the session
//! carries. The database side is `storage/console.rs`.

use chrono::{DateTime, Utc};

use crate::domain::people::Person;

/// A logged-in browser, as its cookie finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Who is logged in; enabled (a disabled person's sessions are not found).
    pub person: Person,
    /// The token every form of the session carries.
    pub csrf: String,
    /// The language of their console, if they chose one.
    pub language: Option<String>,
    /// When they logged in.
    pub created_at: DateTime<Utc>,
    /// When a request was last noted (at most a minute stale).
    pub last_seen_at: DateTime<Utc>,
}
