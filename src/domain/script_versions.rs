//! The published versions of the IVR scripts, their drafts and the test callers, as the
//! console and the command line list them. The database side is `storage/scripts.rs`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// One published version of one file, without its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScriptVersion {
    /// Its id: later versions have higher ids.
    pub id: i64,
    /// `languages.xml` or `<code>.xml`.
    pub file: String,
    /// A person's name, `file` (an edit of the folder) or `cli`.
    pub author: String,
    /// What the author said of the change.
    pub comment: String,
    /// When it was published.
    pub created_at: DateTime<Utc>,
}

/// A draft of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScriptDraft {
    /// `languages.xml` or `<code>.xml`.
    pub file: String,
    /// Who saved it last.
    pub author: String,
    /// When.
    pub updated_at: DateTime<Utc>,
    /// The whole file.
    pub text: String,
}

/// A test caller as listed: an id, a label, who added them and when; never their number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tester {
    /// What `remove` takes.
    pub id: i64,
    /// Whose phone it is, as given when it was added.
    pub label: String,
    /// When it was added (or last added again).
    pub added_at: DateTime<Utc>,
    /// The supervisor's name, or `None` when the audit line is gone.
    pub added_by: Option<String>,
}
