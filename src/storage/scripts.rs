//! Versions of the IVR scripts, drafts and test callers (tables of `0007_script_versions.sql`).
//!
//! Texts arrive here already named and bounded by `crate::scripts::publish`; this module only
//! stores and reads them. Publishing writes its audit line in the same transaction, and is a
//! compare-and-set on the newest version: a publication checked against one version is
//! refused if another was published meanwhile, by this server or another process (the
//! `hotline scripts` command), which SQLite's write lock makes atomic across processes.

use std::collections::BTreeMap;

use super::engine::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use chrono::{DateTime, Utc};

use super::StorageError;
use super::people::insert_audit_line;
use super::sqlite::{Storage, db_time, decode_time};
use crate::domain::audit::AuditAction;
use crate::domain::cases::CallerHash;
use crate::domain::script_versions::{ScriptDraft, ScriptVersion, Tester};

/// What a publication is: the files, who, why, and the audit line's actor and action.
#[derive(Debug, Clone)]
pub struct Publication {
    /// The texts to publish, by file name.
    pub files: BTreeMap<String, String>,
    /// Recorded with each version.
    pub author: String,
    /// Recorded with each version.
    pub comment: String,
    /// The person, for the audit log; `None` for the folder and the command line.
    pub actor: Option<i64>,
    /// `scripts.publish`, `scripts.rollback` or `scripts.file`; `None` for the import of the
    /// folder at first start, which changes nothing callers hear.
    pub action: Option<AuditAction>,
    /// Whether the drafts of these files are removed (they are what was published); a draft
    /// saved again since its text was read is newer work, and stays.
    pub clear_drafts: bool,
    /// The newest version id the texts were checked against (0: none yet). If the newest
    /// version is another when the publication is written, someone else published meanwhile
    /// and nothing is stored: [`PUBLISHED_MEANWHILE`].
    pub head: i64,
    /// When it is published: each version's time and the audit line's.
    pub at: DateTime<Utc>,
}

/// Why a publication checked against an older version was refused.
pub const PUBLISHED_MEANWHILE: &str = "someone else published meanwhile; review and publish again";

/// A cheap fingerprint of the tables: when it changes, the server reloads what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptsStamp {
    /// The newest version's id (0: none yet).
    pub newest_version: i64,
    /// The drafts' count and newest save.
    pub drafts: (i64, Option<String>),
    /// The test callers' count and newest addition.
    pub testers: (i64, Option<String>),
}

const VERSION_COLUMNS: &str = "id, file, author, comment, created_at";

impl Storage {
    /// The fingerprint of the scripts' tables; three indexed reads.
    pub async fn scripts_stamp(&self) -> Result<ScriptsStamp, StorageError> {
        self.read(|conn| {
            let newest_version = newest_version(conn)?;
            let drafts = conn
                .prepare_cached("SELECT count(*), max(updated_at) FROM script_drafts")?
                .query_row((), |row| Ok((row.get(0)?, row.get(1)?)))?;
            let testers = conn
                .prepare_cached("SELECT count(*), max(added_at) FROM script_testers")?
                .query_row((), |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(ScriptsStamp { newest_version, drafts, testers })
        })
        .await
    }

    /// The live scripts: the newest version of each file, and the id naming that set (the
    /// newest id of all; 0 with no version yet).
    pub async fn live_scripts(&self) -> Result<(i64, BTreeMap<String, String>), StorageError> {
        self.read(|conn| live_texts(conn)).await
    }

    /// Stores new versions and their audit line in one transaction, if the newest version is
    /// still `publication.head`; returns them. Another newest version is
    /// [`StorageError::Conflict`] with [`PUBLISHED_MEANWHILE`], and nothing is stored.
    #[tracing::instrument(skip_all, fields(action = ?publication.action, head = publication.head))]
    pub async fn publish_scripts(
        &self,
        publication: Publication,
    ) -> Result<Vec<ScriptVersion>, StorageError> {
        self.write(move |conn| {
            // IMMEDIATE takes the database's write lock before the head is read, so no other
            // connection or process can publish between the comparison and the insert.
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if newest_version(&tx)? != publication.head {
                return Err(StorageError::Conflict(PUBLISHED_MEANWHILE.into()));
            }
            let now = db_time(publication.at);
            let mut published = Vec::new();
            for (file, text) in &publication.files {
                tx.prepare_cached(
                    "INSERT INTO script_versions (file, author, comment, created_at, text)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    file,
                    publication.author,
                    publication.comment,
                    now,
                    text
                ])?;
                let id = tx.last_insert_rowid()?;
                if publication.clear_drafts {
                    // Only the draft that was published: one saved again since it was read
                    // is newer work, and stays.
                    tx.prepare_cached("DELETE FROM script_drafts WHERE file = ?1 AND text = ?2")?
                        .execute([file, text])?;
                }
                published.push(ScriptVersion {
                    id,
                    file: file.clone(),
                    author: publication.author.clone(),
                    comment: publication.comment.clone(),
                    created_at: decode_time(&now)?,
                });
            }
            let ids: Vec<String> =
                published.iter().map(|v| format!("{}#{}", v.file, v.id)).collect();
            let by = if publication.actor.is_some() { "" } else { "by=" };
            let detail = if by.is_empty() {
                format!("versions={}", ids.join(","))
            } else {
                format!("{by}{} versions={}", publication.author, ids.join(","))
            };
            if let Some(action) = publication.action {
                insert_audit_line(&tx, publication.actor, action, publication.at, &detail)?;
            }
            tx.commit()?;
            Ok(published)
        })
        .await
    }

    /// The scripts as they were when version `key` was the newest: each file's newest
    /// version up to it. `None` if there is no version `key`. What a call that started on
    /// that version continues on after a restart.
    pub async fn scripts_at(
        &self,
        key: i64,
    ) -> Result<Option<BTreeMap<String, String>>, StorageError> {
        self.read(move |conn| {
            let exists = conn
                .prepare_cached("SELECT 1 FROM script_versions WHERE id = ?1")?
                .exists([key])?;
            if !exists {
                return Ok(None);
            }
            let mut statement = conn.prepare_cached(
                "SELECT file, text FROM script_versions
                 WHERE id IN (SELECT max(id) FROM script_versions WHERE id <= ?1 GROUP BY file)",
            )?;
            let rows = statement.query_map([key], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(Some(rows.collect::<Result<_, _>>()?))
        })
        .await
    }

    /// Published versions, newest first: of one file, or of all.
    pub async fn script_versions(
        &self,
        file: Option<String>,
        limit: u32,
    ) -> Result<Vec<ScriptVersion>, StorageError> {
        self.read(move |conn| {
            let mut statement = conn.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM script_versions
                 WHERE (CAST(?1 AS TEXT) IS NULL OR file = ?1) ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = statement.query_map(params![file, limit], version_from_row)?;
            rows.map(|row| row?).collect()
        })
        .await
    }

    /// One version with its text.
    pub async fn script_version(
        &self,
        id: i64,
    ) -> Result<Option<(ScriptVersion, String)>, StorageError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS}, text FROM script_versions WHERE id = ?1"
            ))?
            .query_row([id], |row| Ok((version_from_row(row)?, row.get::<_, String>(5)?)))
            .optional()?
            .map(|(version, text)| Ok((version?, text)))
            .transpose()
        })
        .await
    }

    /// Saves (or replaces) the draft of a file, as of `now`.
    pub async fn save_draft(
        &self,
        file: String,
        author: String,
        text: String,
        now: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO script_drafts (file, author, updated_at, text) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (file) DO UPDATE SET author = ?2, updated_at = ?3, text = ?4",
            )?
            .execute(params![file, author, db_time(now), text])?;
            Ok(())
        })
        .await
    }

    /// Saves the draft of a file as of `now` only if its draft is still the one read: `read`
    /// (its author and text), or none with `None`. Whether it was saved: `false` when someone
    /// saved or discarded it meanwhile, and then nothing changed.
    pub async fn save_draft_over(
        &self,
        file: String,
        author: String,
        text: String,
        now: DateTime<Utc>,
        read: Option<(String, String)>,
    ) -> Result<bool, StorageError> {
        self.write(move |conn| {
            let saved = match read {
                None => conn
                    .prepare_cached(
                        "INSERT INTO script_drafts (file, author, updated_at, text)
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (file) DO NOTHING",
                    )?
                    .execute(params![file, author, db_time(now), text])?,
                Some((read_author, read_text)) => conn
                    .prepare_cached(
                        "UPDATE script_drafts SET author = ?2, updated_at = ?3, text = ?4
                         WHERE file = ?1 AND author = ?5 AND text = ?6",
                    )?
                    .execute(params![file, author, db_time(now), text, read_author, read_text])?,
            };
            Ok(saved == 1)
        })
        .await
    }

    /// Every draft, by file.
    pub async fn drafts(&self) -> Result<BTreeMap<String, ScriptDraft>, StorageError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached(
                "SELECT file, author, updated_at, text FROM script_drafts ORDER BY file",
            )?;
            let rows = statement.query_map((), |row| {
                let updated_at: String = row.get(2)?;
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, updated_at, row.get(3)?))
            })?;
            let mut drafts = BTreeMap::new();
            for row in rows {
                let (file, author, updated_at, text) = row?;
                let updated_at = decode_time(&updated_at)?;
                drafts.insert(file.clone(), ScriptDraft { file, author, updated_at, text });
            }
            Ok(drafts)
        })
        .await
    }

    /// Removes the draft of a file; whether there was one.
    pub async fn discard_draft(&self, file: String) -> Result<bool, StorageError> {
        self.write(move |conn| {
            Ok(conn.prepare_cached("DELETE FROM script_drafts WHERE file = ?1")?.execute([file])?
                > 0)
        })
        .await
    }

    /// Adds a test caller by their number's hash at `now` (again: the label is updated), with
    /// its audit line (`action`: `scripts.tester-add`) in the same transaction; returns the
    /// tester's id.
    ///
    /// Who added a tester is read back from that audit line (`tester=ID …`), which the table
    /// of `0007_script_versions.sql` has no column for.
    pub async fn add_tester(
        &self,
        caller: CallerHash,
        label: String,
        actor: i64,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<i64, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO script_testers (caller_hash, label, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (caller_hash) DO UPDATE SET label = ?2, added_at = ?3
                     RETURNING rowid",
                )?
                .query_row(params![caller.0, label, db_time(now)], |row| row.get(0))?;
            let detail = format!("tester={id} label={label:?}");
            insert_audit_line(&tx, Some(actor), action, now, &detail)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// The test callers, oldest first: never their number, nor its hash.
    pub async fn tester_list(&self) -> Result<Vec<Tester>, StorageError> {
        self.read(|conn| {
            // The newest `scripts.tester-add` line naming the tester says who added it;
            // nothing when retention has purged it.
            let mut statement = conn.prepare_cached(
                "SELECT t.rowid, t.label, t.added_at,
                        (SELECT u.name FROM audit_log a JOIN users u ON u.id = a.actor_id
                         WHERE a.action = 'scripts.tester-add'
                           AND a.detail LIKE 'tester=' || t.rowid || ' %'
                         ORDER BY a.id DESC LIMIT 1)
                 FROM script_testers t ORDER BY t.rowid",
            )?;
            let rows = statement.query_map((), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get::<_, String>(2)?, row.get(3)?))
            })?;
            let mut testers = Vec::new();
            for row in rows {
                let (id, label, added_at, added_by) = row?;
                testers.push(Tester { id, label, added_at: decode_time(&added_at)?, added_by });
            }
            Ok(testers)
        })
        .await
    }

    /// Removes a test caller, with its audit line at `now` (`action`: `scripts.tester-remove`); their
    /// label, or `None` if there is no such tester. Their calls in progress finish on the draft; new ones hear the live version.
    pub async fn remove_tester(
        &self,
        id: i64,
        actor: Option<i64>,
        action: AuditAction,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let label: Option<String> = tx
                .prepare_cached("DELETE FROM script_testers WHERE rowid = ?1 RETURNING label")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            if let Some(label) = &label {
                let cli = if actor.is_none() { "cli " } else { "" };
                let detail = format!("{cli}tester={id} label={label:?}");
                insert_audit_line(&tx, actor, action, now, &detail)?;
            }
            tx.commit()?;
            Ok(label)
        })
        .await
    }

    /// The test callers' hashes.
    pub async fn testers(&self) -> Result<Vec<CallerHash>, StorageError> {
        self.read(|conn| {
            let mut statement = conn.prepare_cached("SELECT caller_hash FROM script_testers")?;
            let rows = statement.query_map((), |row| row.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?.into_iter().map(CallerHash).collect())
        })
        .await
    }
}

/// The newest version's id; 0 with none yet.
fn newest_version(conn: &Connection) -> Result<i64, StorageError> {
    Ok(conn
        .prepare_cached("SELECT coalesce(max(id), 0) FROM script_versions")?
        .query_row((), |row| row.get(0))?)
}

fn live_texts(conn: &Connection) -> Result<(i64, BTreeMap<String, String>), StorageError> {
    let mut statement = conn.prepare_cached(
        "SELECT id, file, text FROM script_versions
         WHERE id IN (SELECT max(id) FROM script_versions GROUP BY file)",
    )?;
    let rows = statement.query_map((), |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?))
    })?;
    let mut newest = 0;
    let mut texts = BTreeMap::new();
    for row in rows {
        let (id, file, text) = row?;
        newest = newest.max(id);
        texts.insert(file, text);
    }
    Ok((newest, texts))
}

fn version_from_row(
    row: &Row<'_>,
) -> Result<Result<ScriptVersion, StorageError>, super::engine::Error> {
    let (id, file, author, comment) = (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
    let created_at: String = row.get(4)?;
    Ok(decode_time(&created_at).map(|created_at| ScriptVersion {
        id,
        file,
        author,
        comment,
        created_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageOptions;

    #[tokio::test]
    async fn a_draft_is_saved_over_only_the_draft_that_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.db");
        let storage = Storage::open(&path, StorageOptions::for_tests()).await.unwrap();
        let now = Utc::now();
        let over = |read: Option<(&str, &str)>, text: &str| {
            let read = read.map(|(author, text)| (author.to_owned(), text.to_owned()));
            storage.save_draft_over("ko.xml".into(), "cli".into(), text.into(), now, read)
        };
        // None was read: saved while there is none, refused once there is one.
        assert!(over(None, "first").await.unwrap());
        assert!(!over(None, "second").await.unwrap());
        // anna saves hers meanwhile: what the terminal read is no longer there.
        storage.save_draft("ko.xml".into(), "anna".into(), "hers".into(), now).await.unwrap();
        assert!(!over(Some(("cli", "first")), "third").await.unwrap());
        assert!(!over(Some(("anna", "her older text")), "third").await.unwrap());
        let drafts = storage.drafts().await.unwrap();
        assert_eq!(
            (drafts["ko.xml"].author.as_str(), drafts["ko.xml"].text.as_str()),
            ("anna", "hers")
        );
        // Over hers as read: saved.
        assert!(over(Some(("anna", "hers")), "translated").await.unwrap());
        let drafts = storage.drafts().await.unwrap();
        assert_eq!(
            (drafts["ko.xml"].author.as_str(), drafts["ko.xml"].text.as_str()),
            ("cli", "translated")
        );
        // Discarded meanwhile: nothing comes back.
        assert!(storage.discard_draft("ko.xml".into()).await.unwrap());
        assert!(!over(Some(("cli", "translated")), "again").await.unwrap());
        assert!(storage.drafts().await.unwrap().is_empty());
    }
}
