//! What a supervisor (or the terminal) does to the scripts, whichever surface asks: read the
//! files, their versions and drafts, save and discard drafts, publish or roll back (through
//! the one [`versions::publish`]), and keep the test callers who hear the drafts.
//!
//! The test callers' draft is brought up to date after every change that moves it; a
//! failure there is logged, and the folder's watcher catches up at its next look.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::app::scripts::versions::{self, Author, Change, Published, VersionError};
use crate::app::{Actor, App, AppError};
use crate::domain::audit::AuditAction;
use crate::domain::script_versions::{ScriptDraft, ScriptVersion, Tester};
use crate::scripts::{Diagnostic, Report};

/// The author `hotline scripts` records.
const TERMINAL_AUTHOR: &str = "cli";

/// The longest label of a test caller, in characters.
pub const MAX_TESTER_LABEL_CHARS: usize = 64;
/// The fewest digits after the `+` of a test caller's number.
pub const MIN_TESTER_DIGITS: usize = 6;
/// The most digits after the `+` of a test caller's number (E.164's longest).
pub const MAX_TESTER_DIGITS: usize = 15;

/// The longest number typed for a test caller, separators included: `+44 (0) 7700-900-123`
/// with room to spare, and no more, so a huge input is refused before it is copied.
pub const MAX_TESTER_NUMBER_CHARS: usize = 32;

/// What may stand between a test caller's digits and is taken out: spaces (a no-break one
/// too, as a number copied from a web page has), dashes, dots and brackets. Nothing else:
/// a letter or a second number is a mistake to show, not to guess around.
pub const NUMBER_SEPARATORS: [char; 7] = [' ', '\u{a0}', '\u{202f}', '-', '.', '(', ')'];

/// Characters that reorder the text around them on screen (the Unicode bidirectional
/// controls): a label with one could show a list's row as something it is not.
const DIRECTION_CHARS: [char; 12] = [
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}',
    '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
];

/// A test caller added, or a number that was one already and took the new label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TesterAdded {
    /// The tester's id (a number added again keeps its id).
    pub id: i64,
    /// The label as kept (trimmed).
    pub label: String,
    /// Whether the number was a test caller already: then only its label changed.
    pub already: bool,
}

/// Why a test caller was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TesterRefusal {
    /// The number is not `+` and 6 to 15 digits (separators aside).
    #[error(
        "a number is + and 6 to 15 digits, like +447700900123 (spaces, dashes, dots and \
         brackets between them are taken out)"
    )]
    Number,
    /// The number holds `(0)`, the trunk zero dialled at home: after the country code it is
    /// left out, and kept in it would make a number no call comes from.
    #[error(
        "leave out the (0): after the country code a number has no trunk zero, like +447700900123"
    )]
    TrunkZero,
    /// The label is empty, or only spaces.
    #[error("a label says whose phone it is, like \"Sofia's work phone\": it may not be empty")]
    LabelEmpty,
    /// The label is longer than [`MAX_TESTER_LABEL_CHARS`].
    #[error("a label is at most {MAX_TESTER_LABEL_CHARS} characters")]
    LabelTooLong,
    /// The label holds a line break, another control character or a direction character.
    #[error("a label may not contain control or direction characters")]
    LabelHidden,
}

/// A test caller's number and label as they are kept: the number with its separators taken
/// out, the label trimmed; or why not. The rule of every surface (the console also asks it
/// first, to say why in the viewer's language).
pub fn check_tester(number: &str, label: &str) -> Result<(String, String), TesterRefusal> {
    let label = label.trim();
    if label.chars().any(|c| c.is_control() || DIRECTION_CHARS.contains(&c)) {
        return Err(TesterRefusal::LabelHidden);
    }
    if label.is_empty() {
        return Err(TesterRefusal::LabelEmpty);
    }
    if label.chars().count() > MAX_TESTER_LABEL_CHARS {
        return Err(TesterRefusal::LabelTooLong);
    }
    let number = number.trim();
    if number.chars().count() > MAX_TESTER_NUMBER_CHARS {
        return Err(TesterRefusal::Number);
    }
    let spaced: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    if spaced.starts_with('+') && spaced.contains("(0)") {
        return Err(TesterRefusal::TrunkZero);
    }
    let number: String = number.chars().filter(|c| !NUMBER_SEPARATORS.contains(c)).collect();
    let plausible = number.strip_prefix('+').is_some_and(|digits| {
        (MIN_TESTER_DIGITS..=MAX_TESTER_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if !plausible {
        return Err(TesterRefusal::Number);
    }
    Ok((number, label.to_owned()))
}

/// One published version of a file, with its place among that file's versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// 1 for the file's first version, 2 for the next: what a supervisor calls "v2 of
    /// ru.xml". The version's id counts every file's versions, so it skips.
    pub ordinal: usize,
    /// The version.
    pub version: ScriptVersion,
}

/// The script files as they stand: the live texts and the drafts, by file.
#[derive(Debug, Clone)]
pub struct ScriptFiles {
    /// The live text of each file.
    pub live: BTreeMap<String, String>,
    /// The drafts waiting, by file.
    pub drafts: BTreeMap<String, ScriptDraft>,
}

impl App {
    /// The live texts and the drafts (supervisor).
    pub async fn script_files(&self, actor: &Actor) -> Result<ScriptFiles, AppError> {
        actor.require_supervisor()?;
        let (_, live) = self.storage().live_scripts().await?;
        let drafts = self.storage().drafts().await?;
        Ok(ScriptFiles { live, drafts })
    }

    /// Published versions, newest first, of one file (`languages.xml` or `<code>.xml`) or of
    /// all; at most `limit` (supervisor).
    pub async fn script_versions(
        &self,
        actor: &Actor,
        file: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScriptVersion>, AppError> {
        actor.require_supervisor()?;
        let file = file.map(versions::check_file_name).transpose()?;
        Ok(self.storage().script_versions(file, limit).await?)
    }

    /// Every published version of one file, newest first, each with its place among the
    /// file's versions (supervisor).
    pub async fn script_file_versions(
        &self,
        actor: &Actor,
        file: &str,
    ) -> Result<Vec<FileVersion>, AppError> {
        actor.require_supervisor()?;
        let file = versions::check_file_name(file)?;
        // All of them: the ordinal of the newest is the count. A file gets a version per
        // publication that changed it, a few a day at most, and the rows carry no text.
        let newest_first = self.storage().script_versions(Some(file), u32::MAX).await?;
        Ok(numbered(newest_first))
    }

    /// One version with its text (supervisor).
    pub async fn script_version(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<(ScriptVersion, String), AppError> {
        actor.require_supervisor()?;
        self.storage()
            .script_version(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("there is no version {id}")))
    }

    /// A unified diff between two versions (supervisor).
    pub async fn script_diff(&self, actor: &Actor, from: i64, to: i64) -> Result<String, AppError> {
        actor.require_supervisor()?;
        Ok(versions::diff(self.storage(), from, to).await?)
    }

    /// What the scripts the drafts make would be told (supervisor): every error and
    /// warning; empty when there is no draft.
    pub async fn draft_diagnostics(&self, actor: &Actor) -> Result<Vec<Diagnostic>, AppError> {
        actor.require_supervisor()?;
        Ok(versions::draft_diagnostics(self.storage(), self.scripts_dir()).await?)
    }

    /// Saves a draft of one file (supervisor) and answers what the drafts would make.
    pub async fn save_script_draft(
        &self,
        actor: &Actor,
        file: &str,
        text: String,
    ) -> Result<Vec<Diagnostic>, AppError> {
        actor.require_supervisor()?;
        let dir = self.scripts_dir();
        let diagnostics =
            versions::save_draft(self.storage(), dir, file, text, &author(actor), self.now())
                .await?;
        self.refresh_draft().await;
        Ok(diagnostics)
    }

    /// Throws a file's draft away (supervisor).
    pub async fn discard_script_draft(&self, actor: &Actor, file: &str) -> Result<(), AppError> {
        actor.require_supervisor()?;
        let file = versions::check_file_name(file)?;
        if !self.storage().discard_draft(file.clone()).await? {
            return Err(AppError::NotFound(format!("there is no draft of {file}")));
        }
        self.refresh_draft().await;
        Ok(())
    }

    /// Publishes every draft, or an earlier version again (supervisor; audited
    /// `scripts.publish`, `scripts.rollback`): live for new calls at once. The inner error
    /// is a refusal: the scripts would have errors, every diagnostic in the report, and
    /// nothing was published.
    pub async fn publish_scripts(
        &self,
        actor: &Actor,
        change: Change,
        comment: &str,
    ) -> Result<Result<Published, Report>, AppError> {
        actor.require_supervisor()?;
        let (storage, dir, live) = (self.storage(), self.scripts_dir(), self.live());
        let author = author(actor);
        match versions::publish(storage, dir, Some(live), change, &author, comment, self.now())
            .await
        {
            Ok(published) => Ok(Ok(published)),
            Err(VersionError::Invalid(report)) => Ok(Err(report)),
            Err(error) => Err(error.into()),
        }
    }

    /// The test callers, with who added them and when; never a number (supervisor).
    pub async fn script_testers(&self, actor: &Actor) -> Result<Vec<Tester>, AppError> {
        actor.require_supervisor()?;
        Ok(self.storage().tester_list().await?)
    }

    /// Makes calls from `number` (`+` and 6 to 15 digits, spaces, dashes, dots and brackets
    /// between them taken out; kept only as its hash) hear the drafts, `label` saying whose
    /// phone it is (supervisor; audited `scripts.tester-add`, without the number). A number
    /// that is a test caller already keeps its id and takes the new label.
    pub async fn add_script_tester(
        &self,
        actor: &Actor,
        number: &str,
        label: &str,
    ) -> Result<TesterAdded, AppError> {
        actor.require_supervisor()?;
        let (number, label) = check_tester(number, label)
            .map_err(|refusal| AppError::Invalid(refusal.to_string()))?;
        let hash = self
            .caller_hasher()
            .hash(&number)
            .ok_or_else(|| AppError::Invalid(TesterRefusal::Number.to_string()))?;
        let Some(by) = actor.audit_id() else { return Err(AppError::Forbidden) };
        // Asked before the change, to say which of the two it was: a race with another
        // supervisor adding the same number at the same moment only words the answer.
        let already = self.storage().testers().await?.contains(&hash);
        let id = self
            .storage()
            .add_tester(hash, label.clone(), by, AuditAction::ScriptsTesterAdd, self.now())
            .await?;
        self.refresh_draft().await;
        Ok(TesterAdded { id, label, already })
    }

    /// Calls from tester `id`'s number hear the live version again from their next call
    /// (supervisor; audited `scripts.tester-remove`); the tester's label.
    pub async fn remove_script_tester(&self, actor: &Actor, id: i64) -> Result<String, AppError> {
        actor.require_supervisor()?;
        let label = self
            .storage()
            .remove_tester(id, actor.audit_id(), AuditAction::ScriptsTesterRemove, self.now())
            .await?
            .ok_or_else(|| AppError::NotFound(format!("there is no test caller {id}")))?;
        self.refresh_draft().await;
        Ok(label)
    }

    /// Brings the test callers' draft up to date; a failure leaves it to the watcher.
    async fn refresh_draft(&self) {
        versions::refresh_draft_or_log(self.storage(), self.scripts_dir(), self.live()).await;
    }
}

/// Who makes a change to the scripts: a person by name, the terminal as `cli`.
fn author(actor: &Actor) -> Author {
    match actor.person() {
        Some(person) => Author { name: person.name.clone(), id: Some(person.id) },
        None => Author { name: TERMINAL_AUTHOR.into(), id: None },
    }
}

/// Numbers a file's versions, given newest first: the oldest is 1.
fn numbered(newest_first: Vec<ScriptVersion>) -> Vec<FileVersion> {
    let count = newest_first.len();
    newest_first
        .into_iter()
        .enumerate()
        .map(|(i, version)| FileVersion { ordinal: count - i, version })
        .collect()
}

/// A publication refused for the errors in `report`, as an error that carries every
/// diagnostic.
pub fn refusal(report: Report) -> AppError {
    VersionError::Invalid(report).into()
}

/// Diagnostics as JSON, each naming its file without the server's folder.
pub fn diagnostics_json(diagnostics: &[Diagnostic]) -> Vec<Value> {
    diagnostics
        .iter()
        .map(|d| {
            let file = d.file.file_name().map(|n| n.to_string_lossy().into_owned());
            json!({
                "file": file,
                "line": d.line,
                "column": d.column,
                "severity": d.severity.to_string(),
                "message": d.message,
            })
        })
        .collect()
}

impl From<VersionError> for AppError {
    fn from(error: VersionError) -> Self {
        match error {
            VersionError::Invalid(report) => AppError::Rejected {
                message: format!(
                    "the scripts would have {} error(s), so nothing was published",
                    report.error_count()
                ),
                diagnostics: diagnostics_json(&report.diagnostics),
            },
            VersionError::NotFound(message) => AppError::NotFound(message),
            VersionError::BadInput(message) => AppError::Invalid(message),
            raced @ (VersionError::PublishedMeanwhile
            | VersionError::Unchanged
            | VersionError::DraftOfAnother { .. }) => AppError::Conflict(raced.to_string()),
            VersionError::Storage(error) => error.into(),
            mirror @ VersionError::Mirror { .. } => AppError::Internal(Box::new(mirror)),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn version(id: i64) -> ScriptVersion {
        ScriptVersion {
            id,
            file: "ru.xml".into(),
            author: "sofia".into(),
            comment: String::new(),
            created_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
        }
    }

    #[test]
    fn a_testers_number_loses_its_separators_and_nothing_else() {
        for typed in [
            "+447700900125",
            "+44 7700 900125",
            " +44 7700 900125 ",
            "+44-7700-900-125",
            "+44.7700.900.125",
            "+44 (7700) 900125",
            "+44\u{a0}7700\u{202f}900125",
        ] {
            let (number, _) =
                check_tester(typed, "desk").unwrap_or_else(|e| panic!("{typed:?}: {e}"));
            assert_eq!(number, "+447700900125", "{typed:?}");
        }
        for trunk in ["+44 (0) 7700 900125", "+44(0)7700900125", "+44 ( 0 ) 7700 900125"] {
            assert_eq!(check_tester(trunk, "desk"), Err(TesterRefusal::TrunkZero), "{trunk:?}");
        }
        // A zero in brackets elsewhere is a digit like another.
        assert_eq!(check_tester("+380 (0) 44", "desk"), Err(TesterRefusal::TrunkZero));
        assert_eq!(check_tester("+39 (06) 1234 5678", "desk").unwrap().0, "+390612345678");
        let huge = format!("+44{}", " ".repeat(100_000));
        for typed in [
            "",
            "   ",
            "+",
            "447700900125",
            "+44 77",
            "+44/7700/900125",
            "+44_7700_900125",
            "+44\t7700900125",
            "+44\n7700900125",
            "+447700900125,+447700900126",
            "+44 7700 9001 2512 3456",
            "+４４７７００９００１２５",
            "+44 7700 900125 x",
            "(+44) 7700 9001 25 ext. 3",
            huge.as_str(),
        ] {
            assert_eq!(check_tester(typed, "desk"), Err(TesterRefusal::Number), "{typed:?}");
        }
    }

    #[test]
    fn a_testers_label_is_trimmed_required_short_and_plain() {
        assert_eq!(check_tester("+447700900125", "  Соня — 상담원  ").unwrap().1, "Соня — 상담원");
        let longest = "ы".repeat(MAX_TESTER_LABEL_CHARS);
        assert_eq!(check_tester("+447700900125", &longest).unwrap().1, longest);
        let refused = |label: &str| check_tester("+447700900125", label).unwrap_err();
        for empty in ["", " ", "\u{a0}\u{3000}", "\n"] {
            assert_eq!(refused(empty), TesterRefusal::LabelEmpty, "{empty:?}");
        }
        assert_eq!(refused(&"ы".repeat(MAX_TESTER_LABEL_CHARS + 1)), TesterRefusal::LabelTooLong);
        for hidden in
            ["a\0b", "two\nlines", "bell\u{7}", "esc\u{1b}[2J", "\u{202e}olleh", "a\u{2066}b"]
        {
            assert_eq!(refused(hidden), TesterRefusal::LabelHidden, "{hidden:?}");
        }
        // A hostile label says what is wrong with it even when it is long.
        assert_eq!(refused(&format!("{}\u{202e}", "x".repeat(500))), TesterRefusal::LabelHidden);
        // The label is looked at first: a form with both wrong says why about the label too.
        assert_eq!(check_tester("nope", ""), Err(TesterRefusal::LabelEmpty));
    }

    #[test]
    fn a_files_versions_count_from_its_oldest_whatever_their_ids() {
        // Ids skip where other files were published in between.
        let numbered = numbered(vec![version(41), version(17), version(3)]);
        let pairs: Vec<(usize, i64)> = numbered.iter().map(|v| (v.ordinal, v.version.id)).collect();
        assert_eq!(pairs, [(3, 41), (2, 17), (1, 3)]);
        assert!(super::numbered(Vec::new()).is_empty());
    }
}
