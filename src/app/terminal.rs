//! The use cases of someone at the server's terminal (`hotline users …`, `hotline scripts …`,
//! `hotline call --draft`), on the configured database, with no running server.
//!
//! A command must start nothing in the background and needs none of the server's keys (a
//! fresh install gets its first supervisor this way), so it does not open an [`App`]: a
//! [`Terminal`] holds the database, the scripts folder and the clock. Its changes are
//! audited with no person and `cli` in the detail ([`Actor::Terminal`]); a publication goes
//! through the one [`versions::publish`], and the running server's watcher takes it up.
//!
//! [`App`]: crate::app::App

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::app::audit::audit_entry;
use crate::app::retention;
use crate::app::scripts::versions::{self, Author, Change, Published, VersionError};
use crate::app::{Actor, Clock};
use crate::config::Config;
use crate::config::RetentionConfig;
use crate::domain::audit::AuditAction;
use crate::domain::cases::{CallSid, Case, CaseNumber, CaseSummary};
use crate::domain::followups::{CallbackNumber, Sealer};
use crate::domain::people::{Person, Role};
use crate::domain::queue::Reach;
use crate::domain::retention::PurgeReport;
use crate::domain::script_versions::{ScriptDraft, ScriptVersion, Tester};
use crate::domain::secret::{CallerHasher, Secret};
use crate::scripts::{Diagnostic, LanguageTag};
use crate::storage::{NewPerson, ReachSettings, Storage, StorageOptions};

// The database's failures, which a command reports as they are (a name taken, a file
// missing).
pub use crate::storage::StorageError;

/// The terminal's author of script versions.
const AUTHOR: &str = "cli";

/// The database and the scripts folder, for one command.
pub struct Terminal {
    storage: Storage,
    dir: PathBuf,
    clock: Clock,
}

impl Terminal {
    /// Opens the configured database (creating it if it is not there), its data keys opened
    /// with the callback key the server uses: from the environment, or the development file a
    /// development start made (never made here: a tool run without the variable on a
    /// production machine must not leave a key nobody chose). Without the key the keys stay
    /// locked: people, scripts and lists work, and what would read or shred sealed text
    /// (`case`, `purge`, the keys' rotation) says it needs the key.
    pub async fn open(config: &Config) -> Result<Terminal, StorageError> {
        let dir = config.database.dir();
        let secret =
            crate::app::secrets::Secrets::callback_key(|name| std::env::var(name).ok(), &dir);
        let options = match secret {
            Ok((secret, _)) => StorageOptions::new(secret),
            Err(_) => StorageOptions::without_data_keys(),
        };
        let storage = match config.database.postgres_url() {
            Some(url) => Storage::open_postgres(url, &config.database.path, options).await?,
            None => Storage::open(&config.database.path, options).await?,
        };
        Ok(Terminal { storage, dir: config.scripts.dir.clone(), clock: Clock::system() })
    }

    /// Everyone, disabled or not, by id.
    pub async fn people(&self) -> Result<Vec<Person>, StorageError> {
        self.storage.people().await
    }

    /// The person named `name`, disabled or not.
    pub async fn person_named(&self, name: &str) -> Result<Option<Person>, StorageError> {
        self.storage.person_by_name(name).await
    }

    /// Adds a person with these (already hashed) secrets (audited `user.add`); a name
    /// taken is [`StorageError::Conflict`].
    pub async fn add_person(
        &self,
        name: String,
        role: Role,
        languages: Vec<LanguageTag>,
        password_hash: String,
        pin_hash: String,
    ) -> Result<Person, StorageError> {
        let new = NewPerson {
            name,
            role,
            languages,
            password_hash: Some(password_hash),
            pin_hash: Some(pin_hash),
        };
        let by = Actor::Terminal.changed_by();
        self.storage.create_person(new, by, AuditAction::UserAdd, self.clock.now()).await
    }

    /// Disables (revoking their tokens) or enables a person (audited `user.disable`,
    /// `user.enable`); `None` if there is no such person.
    pub async fn set_disabled(
        &self,
        id: i64,
        disabled: bool,
    ) -> Result<Option<Person>, StorageError> {
        let action = if disabled { AuditAction::UserDisable } else { AuditAction::UserEnable };
        let (by, now) = (Actor::Terminal.changed_by(), self.clock.now());
        // Their console sessions stop working with them: a session is read only for an
        // enabled person.
        self.storage.change_disabled(id, disabled, by, action, now).await
    }

    /// Stores a new token of an enabled person by its hash (audited `token.issue`); `None`
    /// if there is no such person, [`StorageError::Conflict`] if they are disabled.
    pub async fn issue_token(
        &self,
        id: i64,
        token_hash: String,
    ) -> Result<Option<Person>, StorageError> {
        let (by, now) = (Actor::Terminal.changed_by(), self.clock.now());
        self.storage.issue_token(id, token_hash, by, AuditAction::TokenIssue, now).await
    }

    /// Revokes every token of a person (audited `token.revoke`): how many were valid;
    /// `None` if there is no such person.
    pub async fn revoke_tokens(&self, id: i64) -> Result<Option<usize>, StorageError> {
        let (by, now) = (Actor::Terminal.changed_by(), self.clock.now());
        let revoked = self.storage.revoke_tokens(id, by, AuditAction::TokenRevoke, now).await?;
        Ok(revoked.map(|(_, count)| count))
    }

    /// Sets a person's mode and, when `phone` is given, their phone number (`Some(None)`
    /// removes it), sealed under `callback_key` (audited `user.reach`, never with the
    /// number). Call me needs a number, set now or before, and `call_me_refused` (why this
    /// hotline cannot place calls) to be `None`. `None` if there is no such person;
    /// [`StorageError::Conflict`] for a refused call me.
    pub async fn set_reach(
        &self,
        id: i64,
        reach: Reach,
        phone: Option<Option<(CallbackNumber, Secret)>>,
        call_me_refused: Option<&str>,
    ) -> Result<Option<ReachSettings>, StorageError> {
        let phone = match phone {
            None => None,
            Some(None) => Some(None),
            Some(Some((number, key))) => {
                let sealed =
                    Sealer::new(&key).seal_operator_phone(&number, id).ok_or_else(|| {
                        StorageError::Data(
                            "the system gave no randomness to seal the number".into(),
                        )
                    })?;
                Some(Some(sealed))
            }
        };
        if reach == Reach::CallMe {
            if let Some(why) = call_me_refused {
                return Err(StorageError::Conflict(format!("call me cannot be chosen: {why}")));
            }
            let has_number = match &phone {
                Some(phone) => phone.is_some(),
                None => self
                    .storage
                    .reach_settings(id)
                    .await?
                    .is_some_and(|settings| settings.phone_sealed.is_some()),
            };
            if !has_number {
                return Err(StorageError::Conflict(
                    "call me needs the phone number to ring (--phone +E164)".into(),
                ));
            }
        }
        let (by, now) = (Actor::Terminal.changed_by(), self.clock.now());
        self.storage.set_reach(id, reach, phone, by, AuditAction::UserReach, now).await
    }

    /// Replaces a person's PIN hash (audited `user.pin-reset`); `None` if there is no such
    /// person.
    pub async fn set_pin_hash(
        &self,
        id: i64,
        pin_hash: String,
    ) -> Result<Option<Person>, StorageError> {
        let by = Actor::Terminal.changed_by();
        let now = self.clock.now();
        self.storage.set_pin_hash(id, pin_hash, by, AuditAction::UserPinReset, now).await
    }

    /// Lifts the operator-line lock on a person's ID (audited `dial-in.unlock`): whether
    /// anything was locked; `None` if there is no such person.
    pub async fn unlock_pin(&self, id: i64) -> Result<Option<bool>, StorageError> {
        let (by, now) = (Actor::Terminal.changed_by(), self.clock.now());
        Ok(self
            .storage
            .unlock_pin(id, by, AuditAction::DialInUnlock, now)
            .await?
            .map(|(_, was_locked)| was_locked))
    }

    /// The live text of each script file.
    pub async fn live_scripts(&self) -> Result<BTreeMap<String, String>, VersionError> {
        Ok(self.storage.live_scripts().await?.1)
    }

    /// The drafts waiting, by file.
    pub async fn drafts(&self) -> Result<BTreeMap<String, ScriptDraft>, VersionError> {
        Ok(self.storage.drafts().await?)
    }

    /// The live texts with every draft laid over them, and the drafted file names.
    pub async fn drafted(&self) -> Result<(Vec<String>, BTreeMap<String, String>), VersionError> {
        versions::drafted(&self.storage).await
    }

    /// Saves a draft of one file (author `cli`) and answers what the drafts would make.
    pub async fn save_draft(
        &self,
        file: &str,
        text: String,
    ) -> Result<Vec<Diagnostic>, VersionError> {
        let now = self.clock.now();
        versions::save_draft(&self.storage, &self.dir, file, text, &author(), now).await
    }

    /// The text a translation of `language` is made from and applied to: its file's draft if
    /// it has one (a translator must not be handed, or overwrite, anything else), else its
    /// live text.
    pub async fn translation_base(&self, language: &str) -> Result<Base, VersionError> {
        let file = versions::check_file_name(&format!("{language}.xml"))?;
        if let Some(draft) = self.storage.drafts().await?.remove(&file) {
            return Ok(Base::Draft(draft));
        }
        let mut live = self.storage.live_scripts().await?.1;
        live.remove(&file)
            .map(|text| Base::Live { file: file.clone(), text })
            .ok_or_else(|| VersionError::NotFound(format!("there is no script {file}")))
    }

    /// Applies a translated CSV of `language` to the text it was exported from (see
    /// [`Terminal::translation_base`]) and saves the result as the file's draft (author
    /// `cli`, checked as any draft is). Saves nothing when no text changed; refuses to replace
    /// a draft someone else saved ([`VersionError::DraftOfAnother`]) unless `replace_draft`,
    /// and any draft saved after it was read.
    pub async fn import_translation(
        &self,
        language: &str,
        csv: &str,
        replace_draft: bool,
    ) -> Result<Imported, VersionError> {
        let base = self.translation_base(language).await?;
        let text = crate::scripts::translation::import(base.text(), csv)
            .map_err(|e| VersionError::BadInput(e.to_string()))?;
        if text == base.text() {
            return Ok(Imported { base, text, saved: false });
        }
        if let Base::Draft(draft) = &base
            && draft.author != AUTHOR
            && !replace_draft
        {
            return Err(VersionError::DraftOfAnother {
                file: draft.file.clone(),
                author: draft.author.clone(),
                saved: draft.updated_at,
            });
        }
        // Saved over what was read only: a draft saved in the console meanwhile is refused
        // like any draft of another, even one this import was allowed to replace.
        let read = match &base {
            Base::Draft(draft) => Some((draft.author.clone(), draft.text.clone())),
            Base::Live { .. } => None,
        };
        let (file, now) = (base.file(), self.clock.now());
        if !versions::save_draft_over(&self.storage, file, text.clone(), &author(), now, read)
            .await?
        {
            let meanwhile = self.storage.drafts().await?.remove(file);
            return Err(match meanwhile {
                Some(draft) => VersionError::DraftOfAnother {
                    file: draft.file,
                    author: draft.author,
                    saved: draft.updated_at,
                },
                None => VersionError::BadInput(format!(
                    "the draft of {file} was discarded while the CSV was read: nothing was \
                     saved; export again"
                )),
            });
        }
        Ok(Imported { base, text, saved: true })
    }

    /// Throws a file's draft away; whether there was one.
    pub async fn discard_draft(&self, file: &str) -> Result<bool, VersionError> {
        let file = versions::check_file_name(file)?;
        Ok(self.storage.discard_draft(file).await?)
    }

    /// Publishes every draft, or an earlier version again (author `cli`; audited).
    pub async fn publish(&self, change: Change, comment: &str) -> Result<Published, VersionError> {
        let now = self.clock.now();
        versions::publish(&self.storage, &self.dir, None, change, &author(), comment, now).await
    }

    /// Published versions, newest first, of one file or of all; at most `limit`.
    pub async fn versions(
        &self,
        file: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ScriptVersion>, VersionError> {
        let file = file.map(versions::check_file_name).transpose()?;
        Ok(self.storage.script_versions(file, limit).await?)
    }

    /// One version's text.
    pub async fn version_text(&self, id: i64) -> Result<String, VersionError> {
        let found = self.storage.script_version(id).await?;
        found
            .map(|(_, text)| text)
            .ok_or_else(|| VersionError::NotFound(format!("there is no version {id}")))
    }

    /// A unified diff between two versions.
    pub async fn diff(&self, from: i64, to: i64) -> Result<String, VersionError> {
        versions::diff(&self.storage, from, to).await
    }

    /// The test callers; never a number.
    pub async fn testers(&self) -> Result<Vec<Tester>, VersionError> {
        Ok(self.storage.tester_list().await?)
    }

    /// Removes a test caller (audited `scripts.tester-remove`, `cli` in the detail): their
    /// label.
    pub async fn remove_tester(&self, id: i64) -> Result<String, VersionError> {
        let by = Actor::Terminal.audit_id();
        let now = self.clock.now();
        let label =
            self.storage.remove_tester(id, by, AuditAction::ScriptsTesterRemove, now).await?;
        label.ok_or_else(|| VersionError::NotFound(format!("there is no test caller {id}")))
    }

    /// The scripts folder.
    pub fn scripts_dir(&self) -> &Path {
        &self.dir
    }

    /// The newest cases, at most `limit`: the terminal reads the database file anyway, so
    /// this is not audited.
    pub async fn recent_cases(&self, limit: u32) -> Result<Vec<CaseSummary>, StorageError> {
        self.storage.recent_cases(limit).await
    }

    /// The number of the case a call made, if it made one (not audited, as above): what
    /// `hotline call` names at the end of its call.
    pub async fn case_of_call(&self, sid: &CallSid) -> Result<Option<CaseNumber>, StorageError> {
        Ok(self.storage.case_by_call(sid).await?.map(|case| case.number))
    }

    /// One case and its timeline, if there is one (not audited, as above). Refused with the
    /// data keys locked: a voicemail would look shredded when it is only unopened.
    pub async fn case(&self, number: CaseNumber) -> Result<Option<Case>, StorageError> {
        if !self.storage.has_data_keys() {
            return Err(crate::domain::data_keys::Locked.into());
        }
        self.storage.case(number).await
    }

    /// The other cases of the same caller, as the console's case page lists them: the caller
    /// is shown by what they did before, never by their hash.
    pub async fn repeat_cases(&self, number: CaseNumber) -> Result<Vec<CaseNumber>, StorageError> {
        Ok(self.storage.case_work(number).await?.map(|work| work.repeat_cases).unwrap_or_default())
    }

    /// Shreds what is past its retention period now (with `dry_run`, only counts it):
    /// audited `retention.purge` unless a dry run. With `at_provider` (an account is
    /// configured), the shredded recordings are queued for deletion at the provider, which
    /// the server does.
    pub async fn purge(
        &self,
        retention: &RetentionConfig,
        dry_run: bool,
        at_provider: bool,
    ) -> Result<PurgeReport, StorageError> {
        let policy = retention::policy(retention);
        let now = self.clock.now();
        let report = if at_provider {
            self.storage.purge_deleting_at_provider(policy, now, dry_run).await?
        } else {
            self.storage.purge(policy, now, dry_run).await?
        };
        if !dry_run {
            self.audit(AuditAction::RetentionPurge, None, retention::describe(&report)).await?;
        }
        Ok(report)
    }

    /// Puts a case under legal hold or releases it: whether anything changed (audited
    /// `case.hold`, `case.release` when it did); `None` if there is no such case.
    pub async fn set_legal_hold(
        &self,
        number: CaseNumber,
        hold: bool,
    ) -> Result<Option<bool>, StorageError> {
        let changed = self.storage.set_legal_hold(number, hold).await?;
        if changed == Some(true) {
            let action = if hold { AuditAction::CaseHold } else { AuditAction::CaseRelease };
            self.audit(action, Some(number), String::new()).await?;
        }
        Ok(changed)
    }

    /// Notes a backup taken of the database (audited `database.backup`).
    pub async fn backed_up(&self, cases: u64, encrypted: bool) -> Result<(), StorageError> {
        let detail = format!("cases={cases} encrypted={encrypted}");
        self.audit(AuditAction::DatabaseBackup, None, detail).await
    }

    /// Notes the database restored from a backup (audited `database.restore`).
    pub async fn restored(&self, cases: u64) -> Result<(), StorageError> {
        self.audit(AuditAction::DatabaseRestore, None, format!("cases={cases}")).await
    }

    /// Wraps every stored caller hash under `next`, after checking they were made under
    /// `current` (audited `keys.rotate`): how many were wrapped.
    pub async fn rotate_caller_hash_key(
        &self,
        current: Secret,
        next: Secret,
    ) -> Result<u64, StorageError> {
        let current = CallerHasher::new(current);
        let wrapped = self.storage.rotate_caller_hash_key(&current, next, self.clock.now()).await?;
        self.audit(AuditAction::KeysRotate, None, format!("hashes={wrapped}")).await?;
        Ok(wrapped)
    }

    /// Re-seals every callback number and operator's phone number from the `current` key to
    /// `next`, and wraps the data keys under `next` (audited `keys.rotate-callback`): how many
    /// numbers.
    pub async fn reseal_callback_numbers(
        &self,
        current: &Secret,
        next: &Secret,
    ) -> Result<u64, StorageError> {
        let next_secret = next.clone();
        let (current, next) = (Sealer::new(current), Sealer::new(next));
        let (current_key, next_key) = (current.clone(), next.clone());
        // Operators' own phone numbers (call-me mode) are sealed under the same key.
        let reseal_phone = move |id: i64, sealed: &str| {
            let number = current_key.open_operator_phone(sealed, id).ok_or_else(|| {
                StorageError::Conflict(format!(
                    "operator {id}'s phone number does not open with the current key; is \
                     HOTLINE_CALLBACK_KEY the key it was sealed under? Nothing was changed"
                ))
            })?;
            next_key.seal_operator_phone(&number, id).ok_or_else(|| {
                StorageError::Data("the system's random source failed; nothing was changed".into())
            })
        };
        // Opened and sealed again here, inside storage's one transaction: the number never
        // leaves it. Any that does not open with `current` changes nothing.
        let reseal = move |id: i64, sealed: &str, call: &CallSid| {
            let number = current.open(sealed, call).ok_or_else(|| {
                StorageError::Conflict(format!(
                    "follow-up {id}'s callback number does not open with the current key; is \
                     HOTLINE_CALLBACK_KEY the key the numbers were sealed under? Nothing was \
                     changed"
                ))
            })?;
            next.seal(&number, call).ok_or_else(|| {
                StorageError::Data("the system's random source failed; nothing was changed".into())
            })
        };
        let resealed = self.storage.reseal_callback_numbers(reseal, reseal_phone).await?;
        // The data keys are wrapped under the callback key too: after the numbers, so that a
        // failure here leaves keys the old key still opens, and the rotation can be run again.
        self.storage.rewrap_data_keys(next_secret).await?;
        self.audit(AuditAction::KeysRotateCallback, None, format!("numbers={resealed}")).await?;
        Ok(resealed)
    }

    /// Writes the terminal's audit line: no person, `cli` first in the detail.
    async fn audit(
        &self,
        action: AuditAction,
        case: Option<CaseNumber>,
        detail: String,
    ) -> Result<(), StorageError> {
        let entry = audit_entry(&Actor::Terminal, action, case, detail, self.clock.now());
        self.storage.audit(entry).await
    }
}

/// The text a translation is made from: a file's draft, or its live text when it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// The draft, with who saved it and when.
    Draft(ScriptDraft),
    /// The live text of `file`.
    Live {
        /// The file.
        file: String,
        /// Its live text.
        text: String,
    },
}

impl Base {
    /// The file: `<code>.xml`.
    pub fn file(&self) -> &str {
        match self {
            Base::Draft(draft) => &draft.file,
            Base::Live { file, .. } => file,
        }
    }

    /// The text.
    pub fn text(&self) -> &str {
        match self {
            Base::Draft(draft) => &draft.text,
            Base::Live { text, .. } => text,
        }
    }
}

/// What an import of a translated CSV did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The text the CSV was applied to.
    pub base: Base,
    /// The text with the CSV's texts in place.
    pub text: String,
    /// Whether it was saved as the draft: not when no text changed.
    pub saved: bool,
}

fn author() -> Author {
    Author { name: AUTHOR.into(), id: None }
}
