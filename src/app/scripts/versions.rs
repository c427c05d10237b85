//! Versions of the scripts: drafts, publishing, rollback, diffs, and keeping the folder and
//! the database in step.
//!
//! The database holds every published version of every file (`storage::scripts`); the live
//! scripts are the newest version of each file. The folder `scripts.dir` is both a way in
//! (an edit there is checked and published, author [`FILE_AUTHOR`]) and a mirror (whatever
//! is published another way is written there too), so a supervisor opening a file always
//! sees what callers hear.
//!
//! Nothing is published unless the whole set of scripts it makes is valid: a draft, a
//! rollback or a folder edit that would break a script is refused with every diagnostic.
//! And nothing is published over a version it was not checked against: each publication
//! names the newest version it was checked with, and is refused
//! ([`VersionError::PublishedMeanwhile`]) if another process or request published first.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::app::scripts::live::{LiveScripts, Pinned};
use crate::domain::audit::AuditAction;
use crate::domain::script_versions::ScriptVersion;
use crate::scripts::{Diagnostic, LANGUAGES_FILE, Loaded, Report, file_language, load_texts};
use crate::storage::{PUBLISHED_MEANWHILE, Publication, Storage, StorageError};

/// The author of versions that came from an edit of the folder.
pub const FILE_AUTHOR: &str = "file";

/// The largest script text accepted, as the loader's limit for files.
pub const MAX_TEXT_BYTES: usize = crate::scripts::xml::MAX_FILE_BYTES;

/// The longest comment kept with a version.
pub const MAX_COMMENT_CHARS: usize = 500;

/// Why a change to the scripts was not made.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    /// The scripts it would make have errors: every diagnostic is here.
    #[error("the scripts would have errors, so nothing was published:\n{0}")]
    Invalid(Report),
    /// The request names something that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is wrong (a file name, a comment, an empty publish).
    #[error("{0}")]
    BadInput(String),
    /// Another publication (of this server, or of `hotline scripts` in another process) came
    /// between reading the live version and publishing over it: nothing was published.
    #[error("{PUBLISHED_MEANWHILE}")]
    PublishedMeanwhile,
    /// A draft saved by someone else would have been replaced: nothing was saved.
    #[error(
        "{file} has a draft saved by {author} at {saved}: nothing was saved, so as not to \
         replace it"
    )]
    DraftOfAnother {
        /// The file.
        file: String,
        /// Who saved the draft.
        author: String,
        /// When.
        saved: DateTime<Utc>,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A folder edit holds only texts that are live already: nothing to publish.
    #[error("the edited files are the live version already")]
    Unchanged,
    /// The folder could not be written (the database has the version; the file is stale).
    #[error("published, but the file {file} could not be written: {source}")]
    Mirror {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Who makes a change: their name for the versions, their id for the audit log.
#[derive(Debug, Clone)]
pub struct Author {
    /// A person's name, [`FILE_AUTHOR`] or `cli`.
    pub name: String,
    /// The person's id; `None` for the folder and the command line.
    pub id: Option<i64>,
}

/// What a publication made live.
#[derive(Debug, Clone)]
pub struct Published {
    /// The new versions.
    pub versions: Vec<ScriptVersion>,
    /// The scripts now live, under their key.
    pub live: Pinned,
    /// Problems that do not stop a call.
    pub warnings: Vec<Diagnostic>,
}

/// Checks a file name: `languages.xml` or `<code>.xml`.
pub fn check_file_name(name: &str) -> Result<String, VersionError> {
    if name == LANGUAGES_FILE || file_language(name).is_some() {
        Ok(name.to_owned())
    } else {
        Err(VersionError::BadInput(format!(
            "{:?} is not a script file: use languages.xml or a language code like ru.xml",
            name.chars().take(40).collect::<String>()
        )))
    }
}

/// Checks a comment: at most [`MAX_COMMENT_CHARS`] characters, on one line.
pub fn check_comment(comment: &str) -> Result<String, VersionError> {
    let comment = comment.trim();
    if comment.chars().count() > MAX_COMMENT_CHARS || comment.chars().any(char::is_control) {
        return Err(VersionError::BadInput(format!(
            "a comment is one line of at most {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(comment.to_owned())
}

fn check_text(text: &str) -> Result<(), VersionError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(VersionError::BadInput(format!(
            "a script is at most {} MiB; this one is {} bytes",
            MAX_TEXT_BYTES / (1024 * 1024),
            text.len()
        )));
    }
    Ok(())
}

/// Saves a draft of one file as of `now`, and checks the scripts the drafts would make: the diagnostics
/// (errors do not stop a draft from being saved; they stop it from being published).
pub async fn save_draft(
    storage: &Storage,
    dir: &Path,
    file: &str,
    text: String,
    author: &Author,
    now: DateTime<Utc>,
) -> Result<Vec<Diagnostic>, VersionError> {
    let file = check_file_name(file)?;
    check_text(&text)?;
    storage.save_draft(file, author.name.clone(), text, now).await?;
    draft_diagnostics(storage, dir).await
}

/// [`save_draft`] only if the file's draft is still the one read, `read` (its author and
/// text; none with `None`): `false`, and nothing saved, when it was saved or discarded
/// meanwhile.
pub async fn save_draft_over(
    storage: &Storage,
    file: &str,
    text: String,
    author: &Author,
    now: DateTime<Utc>,
    read: Option<(String, String)>,
) -> Result<bool, VersionError> {
    let file = check_file_name(file)?;
    check_text(&text)?;
    Ok(storage.save_draft_over(file, author.name.clone(), text, now, read).await?)
}

/// The live texts with every draft laid over them, and the drafted file names.
pub async fn drafted(
    storage: &Storage,
) -> Result<(Vec<String>, BTreeMap<String, String>), VersionError> {
    let (_, files, texts) = drafted_on(storage).await?;
    Ok((files, texts))
}

/// [`drafted`], with the id of the live version the drafts are laid over.
async fn drafted_on(
    storage: &Storage,
) -> Result<(i64, Vec<String>, BTreeMap<String, String>), VersionError> {
    let (head, mut texts) = storage.live_scripts().await?;
    let drafts = storage.drafts().await?;
    let files = drafts.keys().cloned().collect();
    texts.extend(drafts.into_values().map(|draft| (draft.file, draft.text)));
    Ok((head, files, texts))
}

/// The draft scripts test callers hear: `None` when there is no draft or they have errors.
pub async fn draft_scripts(storage: &Storage, dir: &Path) -> Result<Option<Loaded>, VersionError> {
    let (files, texts) = drafted(storage).await?;
    if files.is_empty() {
        return Ok(None);
    }
    Ok(load_texts(dir, &texts).ok())
}

/// Makes the holder's draft (for test callers) and test callers what the database says.
pub async fn refresh_draft(
    storage: &Storage,
    dir: &Path,
    live: &LiveScripts,
) -> Result<(), VersionError> {
    static DRAFTS: AtomicU64 = AtomicU64::new(1);
    let draft = draft_scripts(storage, dir).await?.map(|loaded| Pinned {
        key: format!("d{}", DRAFTS.fetch_add(1, Ordering::Relaxed)),
        set: Arc::new(loaded.set),
    });
    live.set_draft(draft, storage.testers().await?);
    Ok(())
}

/// What the scripts the drafts make would be told: every error and warning, sorted by file
/// then line; empty when there is no draft.
pub async fn draft_diagnostics(
    storage: &Storage,
    dir: &Path,
) -> Result<Vec<Diagnostic>, VersionError> {
    let (files, texts) = drafted(storage).await?;
    if files.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match load_texts(dir, &texts) {
        Ok(loaded) => loaded.warnings,
        Err(report) => report.diagnostics,
    })
}

/// Brings the test callers' draft up to date after a draft, a publication or the test
/// callers changed. A failure is logged, not returned: the change itself is made, and the
/// watcher catches up at its next look.
pub async fn refresh_draft_or_log(storage: &Storage, dir: &Path, live: &LiveScripts) {
    if let Err(error) = refresh_draft(storage, dir, live).await {
        tracing::warn!(%error, "the draft for test callers was not refreshed");
    }
}

/// What is published.
#[derive(Debug, Clone)]
pub enum Change {
    /// Every draft.
    Drafts,
    /// An earlier version's text again.
    Rollback(i64),
    /// Texts edited in the folder, by file (author [`FILE_AUTHOR`]); a text that is already
    /// the live one (written there by a publication) is left out. The version's comment is
    /// `why` and the files' names.
    Folder {
        /// The texts, by file.
        edits: BTreeMap<String, String>,
        /// How the comment starts: `edited in the folder`.
        why: &'static str,
    },
}

/// The one way the scripts are published, whoever asks (the API, the console, `hotline
/// scripts`, the folder's watcher): under the lock of the server's publications (when
/// `live` is the running server's scripts), checks and publishes (refused if the scripts
/// would be invalid, or if another process published meanwhile), then makes the new version
/// what new calls hear at once and the test callers' draft what is left. `hotline scripts`,
/// in a process of its own, passes no `live`: the server's watcher takes the version up.
/// The versions and their audit line are timed `now`.
pub async fn publish(
    storage: &Storage,
    dir: &Path,
    live: Option<&LiveScripts>,
    change: Change,
    author: &Author,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Published, VersionError> {
    let _publishing = match live {
        Some(live) => Some(live.publishing().await),
        None => None,
    };
    let published = match change {
        Change::Drafts => publish_drafts(storage, dir, author, comment, now).await?,
        Change::Rollback(version) => rollback(storage, dir, version, author, comment, now).await?,
        Change::Folder { edits, why } => publish_folder_edit(storage, dir, edits, why, now).await?,
    };
    if let Some(live) = live {
        live.swap(published.live.clone());
        refresh_draft_or_log(storage, dir, live).await;
    }
    Ok(published)
}

/// Publishes every draft at once, if the scripts they make are valid; the drafts are then
/// removed and the files of the folder rewritten.
async fn publish_drafts(
    storage: &Storage,
    dir: &Path,
    author: &Author,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Published, VersionError> {
    let comment = check_comment(comment)?;
    let (head, files, texts) = drafted_on(storage).await?;
    if files.is_empty() {
        return Err(VersionError::BadInput("there is no draft to publish".into()));
    }
    let loaded = load_texts(dir, &texts).map_err(VersionError::Invalid)?;
    let changed: BTreeMap<String, String> =
        files.into_iter().filter_map(|file| texts.get(&file).map(|t| (file, t.clone()))).collect();
    let publication = Publication {
        files: changed,
        author: author.name.clone(),
        comment,
        actor: author.id,
        action: Some(AuditAction::ScriptsPublish),
        clear_drafts: true,
        head,
        at: now,
    };
    publish_checked(storage, dir, publication, loaded).await
}

/// Publishes an earlier version's text again, as a new version of its file, if the scripts
/// it makes with the other files' live versions are valid.
async fn rollback(
    storage: &Storage,
    dir: &Path,
    version: i64,
    author: &Author,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<Published, VersionError> {
    let comment = check_comment(comment)?;
    let Some((old, text)) = storage.script_version(version).await? else {
        return Err(VersionError::NotFound(format!("there is no version {version}")));
    };
    let (head, mut texts) = storage.live_scripts().await?;
    texts.insert(old.file.clone(), text.clone());
    let loaded = load_texts(dir, &texts).map_err(VersionError::Invalid)?;
    let comment = if comment.is_empty() {
        format!("rollback to version {version}")
    } else {
        format!("rollback to version {version}: {comment}")
    };
    let publication = Publication {
        files: BTreeMap::from([(old.file, text)]),
        author: author.name.clone(),
        comment,
        actor: author.id,
        action: Some(AuditAction::ScriptsRollback),
        clear_drafts: false,
        head,
        at: now,
    };
    publish_checked(storage, dir, publication, loaded).await
}

/// Publishes an edit of the folder (`scripts.file`, author [`FILE_AUTHOR`]) over the live
/// version, if the scripts it makes are valid; [`VersionError::Unchanged`] when every text
/// edited is already the live one.
async fn publish_folder_edit(
    storage: &Storage,
    dir: &Path,
    mut edits: BTreeMap<String, String>,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Published, VersionError> {
    // The folder was read before the publications' lock was held: a publication may have
    // rewritten a file since (a rollback mirrors its text there), so only an edit the folder
    // still holds is one; the watcher sees the newer text at its next look.
    edits.retain(|file, text| std::fs::read_to_string(dir.join(file)).ok().as_ref() == Some(text));
    let (head, mut texts) = storage.live_scripts().await?;
    edits.retain(|file, text| texts.get(file) != Some(text));
    if edits.is_empty() {
        return Err(VersionError::Unchanged);
    }
    texts.extend(edits.clone());
    let loaded = load_texts(dir, &texts).map_err(VersionError::Invalid)?;
    let comment = format!("{why}: {}", edits.keys().cloned().collect::<Vec<_>>().join(", "));
    let publication = Publication {
        files: edits,
        author: FILE_AUTHOR.into(),
        comment,
        actor: None,
        action: Some(AuditAction::ScriptsFile),
        clear_drafts: false,
        head,
        at: now,
    };
    publish_checked(storage, dir, publication, loaded).await
}

/// Publishes texts already checked as `loaded` over `publication.head`, then mirrors them
/// into the folder (unless they came from it).
async fn publish_checked(
    storage: &Storage,
    dir: &Path,
    publication: Publication,
    loaded: Loaded,
) -> Result<Published, VersionError> {
    let files = (publication.author != FILE_AUTHOR).then(|| publication.files.clone());
    let (action, author) = (publication.action, publication.author.clone());
    let versions = storage.publish_scripts(publication).await.map_err(|error| match error {
        StorageError::Conflict(_) => VersionError::PublishedMeanwhile,
        other => VersionError::Storage(other),
    })?;
    let key = versions.iter().map(|v| v.id).max().unwrap_or_default().to_string();
    // Said in words a supervisor reads: which files, and the versions they became.
    let made: Vec<String> =
        versions.iter().map(|v| format!("{} (version {})", v.file, v.id)).collect();
    tracing::info!(
        action = action.map_or("scripts.import", AuditAction::code),
        author = %author,
        "scripts published: {}",
        made.join(", ")
    );
    if let Some(files) = files {
        mirror(dir, &files)?;
    }
    let live = Pinned { key, set: Arc::new(loaded.set) };
    Ok(Published { versions, live, warnings: loaded.warnings })
}

/// Writes texts into the folder, each through a temporary file renamed over the old one, so
/// the watcher never reads half a file.
pub fn mirror(dir: &Path, files: &BTreeMap<String, String>) -> Result<(), VersionError> {
    for (file, text) in files {
        let failed = |source| VersionError::Mirror { file: file.clone(), source };
        let temporary = dir.join(format!(".{file}.writing"));
        std::fs::write(&temporary, text).map_err(failed)?;
        std::fs::rename(&temporary, dir.join(file)).map_err(failed)?;
    }
    Ok(())
}

/// A readable line-based diff from one version to another, with a header naming both.
pub async fn diff(storage: &Storage, from: i64, to: i64) -> Result<String, VersionError> {
    let mut versions = Vec::new();
    for id in [from, to] {
        match storage.script_version(id).await? {
            Some(found) => versions.push(found),
            None => return Err(VersionError::NotFound(format!("there is no version {id}"))),
        }
    }
    let [(a, a_text), (b, b_text)]: [(ScriptVersion, String); 2] =
        versions.try_into().map_err(|_| VersionError::NotFound("two versions".into()))?;
    Ok(unified(&label(&a), &a_text, &label(&b), &b_text))
}

fn label(version: &ScriptVersion) -> String {
    format!(
        "{} version {} ({}, {})",
        version.file,
        version.id,
        version.author,
        version.created_at.format("%Y-%m-%d %H:%M:%SZ")
    )
}

/// A unified diff of two texts, three lines of context; empty when they are equal.
pub fn unified(a_label: &str, a: &str, b_label: &str, b: &str) -> String {
    if a == b {
        return String::new();
    }
    similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(3)
        .header(a_label, b_label)
        .to_string()
}

/// At start: makes the database and the folder agree, and returns the live scripts.
///
/// - An empty database takes the folder as its first version (the folder must be valid, as
///   before there were versions).
/// - A file that differs from its newest version and was modified after that version was
///   published was edited while the server was stopped: it is published like any folder
///   edit if the scripts it makes are valid, and left alone (diagnostics logged) otherwise.
/// - A file that differs and is older is stale (a version was published while it could not
///   be written): it is rewritten from the database, and its old text kept beside it as
///   `<file>.<time>.bak`, so nothing typed into it is lost.
pub async fn reconcile(
    storage: &Storage,
    dir: &Path,
    now: DateTime<Utc>,
) -> Result<(Pinned, Vec<Diagnostic>), VersionError> {
    let (newest, db_texts) = storage.live_scripts().await?;
    let mut ignored = Vec::new();
    let folder: BTreeMap<String, String> = crate::scripts::read_sources(dir, &mut ignored)
        .into_iter()
        .filter_map(|(file, text)| Some((file, text.ok()?)))
        .collect();
    if newest == 0 {
        let loaded = crate::scripts::load_dir(dir).map_err(VersionError::Invalid)?;
        let publication = Publication {
            files: folder,
            author: FILE_AUTHOR.into(),
            comment: "imported from the folder at first start".into(),
            actor: None,
            action: None,
            clear_drafts: false,
            head: 0,
            at: now,
        };
        let published = publish_checked(storage, dir, publication, loaded).await?;
        return Ok((published.live, published.warnings));
    }

    let mut edited = BTreeMap::new();
    let mut stale = BTreeMap::new();
    for (file, text) in &folder {
        if db_texts.get(file) == Some(text) {
            continue;
        }
        let published_at = storage
            .script_versions(Some(file.clone()), 1)
            .await?
            .first()
            .map(|version| version.created_at);
        let modified: Option<DateTime<Utc>> =
            std::fs::metadata(dir.join(file)).and_then(|m| m.modified()).ok().map(Into::into);
        match (published_at, modified) {
            (Some(published), Some(modified)) if modified <= published => {
                stale.insert(file.clone(), text.clone());
            }
            _ => {
                edited.insert(file.clone(), text.clone());
            }
        }
    }
    if !edited.is_empty() {
        let why = "edited in the folder while the server was stopped";
        let change = Change::Folder { edits: edited, why };
        let author = Author { name: FILE_AUTHOR.into(), id: None };
        match publish(storage, dir, None, change, &author, "", now).await {
            Ok(_) | Err(VersionError::Unchanged) => {}
            Err(VersionError::Invalid(report)) => log_refused(&report),
            Err(error) => return Err(error),
        }
    }
    for (file, old) in &stale {
        let backup = dir.join(format!("{file}.{}.bak", Utc::now().format("%Y%m%dT%H%M%SZ")));
        if let Err(error) = std::fs::write(&backup, old) {
            tracing::error!(%error, file, "a stale script file could not be backed up; left as is");
            continue;
        }
        tracing::warn!(file, backup = %backup.display(), "stale script file rewritten from the database");
        let text = db_texts.get(file).cloned().unwrap_or_default();
        mirror(dir, &BTreeMap::from([(file.clone(), text)]))?;
    }
    let (newest, texts) = storage.live_scripts().await?;
    let loaded = load_texts(dir, &texts).map_err(VersionError::Invalid)?;
    let live = Pinned { key: newest.to_string(), set: Arc::new(loaded.set) };
    Ok((live, loaded.warnings))
}

/// Logs why an edit of the folder was refused: every diagnostic, since the person who made
/// the edit reads them in the log.
pub fn log_refused(report: &Report) {
    tracing::warn!(
        errors = report.error_count(),
        "an edit of the scripts folder was refused; callers keep hearing the live version"
    );
    for diagnostic in &report.diagnostics {
        tracing::warn!("{diagnostic}");
    }
}

/// One line per version, for a terminal.
pub fn version_line(version: &ScriptVersion) -> String {
    let mut line = String::new();
    let _ = write!(
        line,
        "{:>5}  {:<13}  {}  {:<12}  {}",
        version.id,
        version.file,
        version.created_at.format("%Y-%m-%d %H:%M:%SZ"),
        version.author,
        version.comment
    );
    line
}
