//! Every action the audit log records, by name: one enum, so an action cannot be misspelled,
//! a reader can list them all, and `docs/api.md` is checked to describe each one.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::cases::CaseNumber;

macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident => $code:literal,)*) => {
        /// An audited action. Its [`code`](AuditAction::code) is what the audit log stores
        /// and shows (`case.read`); codes are never renamed, since old lines keep them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)*
        }

        impl AuditAction {
            /// Every action, in the order of the log's documentation.
            pub const ALL: &[AuditAction] = &[$(AuditAction::$variant,)*];

            /// The code stored in the audit log.
            pub const fn code(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $code,)*
                }
            }
        }
    };
}

audit_actions! {
    /// A person was added (by a supervisor or `hotline users add`).
    UserAdd => "user.add",
    /// A person was disabled: their tokens and sessions end.
    UserDisable => "user.disable",
    /// A disabled person was enabled again.
    UserEnable => "user.enable",
    /// A person's PIN was replaced by a new random one.
    UserPinReset => "user.pin-reset",
    /// A person's password was replaced by a new random one.
    UserPasswordReset => "user.password-reset",
    /// A person's languages changed.
    UserLanguages => "user.languages",
    /// A person's reach changed: on the line or call me, or their own phone number (never
    /// written in the line: only that it was set or removed).
    UserReach => "user.reach",
    /// The hotline rang a call-me operator's phone for a waiting caller.
    OperatorRing => "operator.ring",
    /// An API token was issued.
    TokenIssue => "token.issue",
    /// API tokens were revoked.
    TokenRevoke => "token.revoke",
    /// Someone signed in to the console.
    ConsoleLogin => "console.login",
    /// Someone signed out of the console.
    ConsoleLogout => "console.logout",
    /// An operator dialled in with the right PIN.
    DialInAccepted => "dial-in.accepted",
    /// An operator dialled in with the right PIN after wrong ones.
    DialInAcceptedAfterFailures => "dial-in.accepted-after-failures",
    /// A PIN was wrong, or the ID unknown or disabled.
    DialInRefused => "dial-in.refused",
    /// Too many wrong PINs locked an operator ID or a calling number.
    DialInLocked => "dial-in.locked",
    /// A PIN was typed while its ID or number was locked.
    DialInLockedOut => "dial-in.locked-out",
    /// A supervisor lifted a PIN lock.
    DialInUnlock => "dial-in.unlock",
    /// An operator claimed a waiting caller on screen.
    QueueClaim => "queue.claim",
    /// A case was read.
    CaseRead => "case.read",
    /// A case's recording was played (streamed from the provider through the server).
    RecordingPlay => "recording.play",
    /// Someone tried to read or change a case outside their reach.
    CaseRefused => "case.refused",
    /// A note was added to a case.
    CaseNote => "case.note",
    /// A case's disposition was set.
    CaseDisposition => "case.disposition",
    /// A case was closed.
    CaseClose => "case.close",
    /// A closed case was reopened.
    CaseReopen => "case.reopen",
    /// A case was put on legal hold: retention leaves it alone.
    CaseHold => "case.hold",
    /// A case's legal hold was released.
    CaseRelease => "case.release",
    /// An operator heard a case's whisper on the operator line.
    CaseWhisper => "case.whisper",
    /// An operator took a waiting text conversation.
    ChatTake => "chat.take",
    /// An operator replied in a text conversation (the text stays on the case).
    ChatReply => "chat.reply",
    /// Cases were searched.
    CasesSearch => "cases.search",
    /// Cases were exported as CSV.
    CasesExport => "cases.export",
    /// The blocklist was read.
    BlocklistRead => "blocklist.read",
    /// A caller was added to the blocklist.
    BlocklistAdd => "blocklist.add",
    /// A caller was removed from the blocklist.
    BlocklistRemove => "blocklist.remove",
    /// A follow-up was read.
    FollowupRead => "followup.read",
    /// An operator took a follow-up.
    FollowupTake => "followup.take",
    /// A callback number was revealed to the operator who took its follow-up.
    FollowupReveal => "followup.reveal",
    /// A reveal was refused.
    FollowupRevealRefused => "followup.reveal-refused",
    /// A callback was dialled through the operator line.
    FollowupDial => "followup.dial",
    /// The result of a callback attempt was recorded.
    FollowupAttempt => "followup.attempt",
    /// A version of the scripts was published.
    ScriptsPublish => "scripts.publish",
    /// The scripts were rolled back to an earlier version.
    ScriptsRollback => "scripts.rollback",
    /// A script file was published from the scripts folder or the editor.
    ScriptsFile => "scripts.file",
    /// A test caller was added (their calls hear the drafts).
    ScriptsTesterAdd => "scripts.tester-add",
    /// A test caller was removed.
    ScriptsTesterRemove => "scripts.tester-remove",
    /// Personal data past its retention period was shredded.
    RetentionPurge => "retention.purge",
    /// The database was backed up.
    DatabaseBackup => "database.backup",
    /// The database was restored from a backup.
    DatabaseRestore => "database.restore",
    /// The caller-hash key was rotated.
    KeysRotate => "keys.rotate",
    /// The callback key was rotated.
    KeysRotateCallback => "keys.rotate-callback",
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = ();

    /// The action of a code, as a filter of the audit log names it.
    fn from_str(code: &str) -> Result<Self, Self::Err> {
        AuditAction::ALL.iter().copied().find(|action| action.code() == code).ok_or(())
    }
}

/// One line of the audit log, as read back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AuditRecord {
    /// Its place in the log: later lines have higher ids.
    pub id: i64,
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who did it; `None` for the command line.
    pub actor_id: Option<i64>,
    /// Their name, for a reader.
    pub actor_name: Option<String>,
    /// What was done.
    pub action: String,
    /// The case concerned, if any.
    pub case: Option<CaseNumber>,
    /// What else was noted.
    pub detail: String,
}

/// Which audit lines to read: all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only lines about this case.
    pub case: Option<CaseNumber>,
    /// Only lines by this person.
    pub actor: Option<i64>,
    /// Only lines with this action.
    pub action: Option<String>,
    /// At most this many lines, newest first.
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_read_back() {
        let mut seen = std::collections::BTreeSet::new();
        for action in AuditAction::ALL {
            assert!(seen.insert(action.code()), "{} twice", action.code());
            assert_eq!(action.code().parse(), Ok(*action));
        }
        assert_eq!("no.such".parse::<AuditAction>(), Err(()));
    }

    #[test]
    fn the_api_documentation_lists_every_action() {
        let doc = include_str!("../../docs/api.md");
        let missing: Vec<_> = AuditAction::ALL
            .iter()
            .map(|action| action.code())
            .filter(|code| !doc.contains(&format!("`{code}`")))
            .collect();
        assert!(missing.is_empty(), "docs/api.md does not list {missing:?}");
    }
}
