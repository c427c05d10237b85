//! `hotline scripts …`: versions of the IVR scripts from the server's shell.
//!
//! Works on the configured database and scripts folder directly, like `hotline users`: a
//! running server takes up what is published here within `scripts.watch_interval_ms`.
//! Versions made here have the author `cli`; publishing and rolling back are audited.
//!
//! Exit codes: 0 done, 1 refused (the scripts would have errors, no such version), 2 the
//! command could not run.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::app::scripts::versions::{self, Change, VersionError};
use crate::app::terminal::{Base, Terminal};
use crate::cli::listing;
use crate::config::Config;
use crate::domain::line_time::{LineZone, Stamp};
use crate::domain::script_versions::ScriptDraft;
use crate::scripts::report;
use crate::scripts::{Diagnostic, ScriptSet, load_texts};

/// The subcommands of `hotline scripts`.
#[derive(Debug, Subcommand)]
pub enum ScriptsCommand {
    /// List published versions, newest first: id, file, time, author, comment.
    Versions {
        /// Only this file: languages.xml, ru.xml, …
        #[arg(long)]
        file: Option<String>,
        /// How many, 1 to 10000.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Print a JSON array of objects instead, with the fields of `GET /api/scripts/versions`.
        #[arg(long)]
        json: bool,
    },
    /// Print one version's text.
    Show {
        /// The version's id.
        id: i64,
    },
    /// A line-based diff between two versions.
    Diff {
        /// The older version's id.
        from: i64,
        /// The newer version's id.
        to: i64,
    },
    /// Save a draft of a file and check what the drafts would make (exit 1 on errors).
    Draft {
        /// languages.xml or <code>.xml.
        file: String,
        /// Where its text is; standard input if not given.
        #[arg(long, value_name = "PATH")]
        from: Option<PathBuf>,
    },
    /// List the drafts (file, saved, author) and check what they would make.
    Drafts {
        /// Print a JSON array of objects instead, with the fields of `GET /api/scripts`'
        /// drafts; what the drafts would make goes to standard error.
        #[arg(long)]
        json: bool,
    },
    /// Throw a draft away.
    Discard {
        /// The draft's file.
        file: String,
    },
    /// Publish every draft, if the scripts they make are valid.
    Publish {
        /// What changed and why.
        #[arg(long, short = 'm', default_value = "")]
        message: String,
    },
    /// Compare the languages of the scripts folder: what one has and another lacks,
    /// recordings missing, prompt counts, advice (exit 1 if something is missing).
    Report,
    /// Export a language's texts for translators as CSV: node, key, reference text, text.
    /// A language with a draft is exported from its draft (standard error says whose).
    Export {
        /// The language, like ko.
        language: String,
        /// The language shown beside it.
        #[arg(long, default_value = "en")]
        reference: String,
    },
    /// Import a translated CSV back onto the text it was exported from (the draft if there
    /// is one, else the live text): saved as the draft, with its diff and diagnostics.
    Import {
        /// The language, like ko.
        language: String,
        /// The CSV file.
        #[arg(long, value_name = "PATH")]
        from: PathBuf,
        /// Replace a draft someone else saved (refused without it: their draft is named).
        #[arg(long)]
        replace_draft: bool,
    },
    /// List the test callers (who hear the drafts): id, label, when and by whom added.
    Testers {
        /// Print a JSON array of objects instead, with the fields of `GET /api/scripts/testers`.
        #[arg(long)]
        json: bool,
    },
    /// Remove a test caller: their next call hears the live version (audited).
    RemoveTester {
        /// The tester's id, from `hotline scripts testers`.
        id: i64,
    },
    /// Publish an earlier version's text again.
    Rollback {
        /// The version to go back to.
        id: i64,
        /// Why.
        #[arg(long, short = 'm', default_value = "")]
        message: String,
    },
}

/// Runs `hotline scripts …`; returns the exit code.
pub fn run(config: &Config, command: ScriptsCommand) -> ExitCode {
    if matches!(command, ScriptsCommand::Report) {
        return report(&config.scripts.dir);
    }
    if !config.database.path.exists() {
        eprintln!(
            "hotline scripts: no database at {}: start `hotline serve` once, or point --config at \
             the server's configuration",
            config.database.path.display()
        );
        return ExitCode::from(2);
    }
    // Read before starting the runtime: a draft's text (perhaps on stdin), a CSV.
    let input = match &command {
        ScriptsCommand::Draft { from, .. } => Some(read_text(from.as_ref())),
        ScriptsCommand::Import { from, .. } => Some(read_text(Some(from))),
        _ => None,
    };
    let draft = match input {
        Some(Ok(text)) => Some(text),
        Some(Err(message)) => {
            eprintln!("hotline scripts: {message}");
            return ExitCode::from(2);
        }
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hotline scripts: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async {
        let terminal = match Terminal::open(config).await {
            Ok(terminal) => terminal,
            Err(e) => {
                eprintln!("hotline scripts: {e}");
                return ExitCode::from(2);
            }
        };
        match execute(&terminal, command, draft, config.console.time_zone).await {
            Ok(code) => code,
            Err(VersionError::Invalid(report)) => {
                eprintln!("hotline scripts: nothing was published; the scripts would have errors:");
                eprintln!("{report}");
                ExitCode::from(1)
            }
            // Refusals the person fixes by looking again, like the errors above: exit 1.
            Err(e @ (VersionError::NotFound(_) | VersionError::PublishedMeanwhile)) => {
                eprintln!("hotline scripts: {e}");
                ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("hotline scripts: {e}");
                ExitCode::from(2)
            }
        }
    })
}

async fn execute(
    terminal: &Terminal,
    command: ScriptsCommand,
    draft: Option<String>,
    zone: LineZone,
) -> Result<ExitCode, VersionError> {
    let dir = terminal.scripts_dir();
    let mut out = io::stdout().lock();
    match command {
        ScriptsCommand::Report => return Ok(report(dir)),
        ScriptsCommand::Export { language, reference } => {
            let base = terminal.translation_base(&language).await?;
            // Beside it, the reference as callers hear it.
            let texts = terminal.live_scripts().await?;
            let file = versions::check_file_name(&format!("{reference}.xml"))?;
            let reference = texts
                .get(&file)
                .ok_or_else(|| VersionError::NotFound(format!("there is no script {file}")))?;
            let csv = crate::scripts::translation::export(base.text(), reference)
                .map_err(|e| VersionError::BadInput(e.to_string()))?;
            let _ = out.write_all(csv.as_bytes());
            if let Base::Draft(draft) = &base {
                eprintln!(
                    "exported the draft of {}, saved by {} at {}; `hotline scripts import` \
                     applies the CSV to that draft",
                    draft.file,
                    draft.author,
                    zone.show(draft.updated_at, Stamp::Labelled)
                );
            }
        }
        ScriptsCommand::Import { language, replace_draft, .. } => {
            let csv = draft.unwrap_or_default();
            let imported = match terminal.import_translation(&language, &csv, replace_draft).await {
                Ok(imported) => imported,
                Err(VersionError::DraftOfAnother { file, author, saved }) => {
                    eprintln!(
                        "hotline scripts: {file} has a draft saved by {author} at {}: nothing \
                         was saved. Export again to translate on top of it, or give \
                         --replace-draft to replace it",
                        zone.show(saved, Stamp::Labelled)
                    );
                    return Ok(ExitCode::from(1));
                }
                Err(other) => return Err(other),
            };
            let file = imported.base.file();
            let before = match &imported.base {
                Base::Draft(_) => format!("{file} (draft before)"),
                Base::Live { .. } => format!("{file} (live)"),
            };
            let diff = versions::unified(
                &before,
                imported.base.text(),
                &format!("{file} (draft)"),
                &imported.text,
            );
            if !imported.saved {
                let _ = writeln!(out, "no text changed: nothing was saved");
                return Ok(ExitCode::SUCCESS);
            }
            let _ = out.write_all(diff.as_bytes());
            let _ = writeln!(
                out,
                "saved as the draft of {file}; publish it with `hotline scripts publish`"
            );
            return tell(terminal).await;
        }
        ScriptsCommand::Testers { json } => {
            // Never a number: a tester is their label here, as on every screen.
            let testers = terminal.testers().await?;
            if json {
                let _ = listing::json(&mut out, &testers);
            } else if testers.is_empty() {
                let _ = writeln!(out, "no test callers");
            } else {
                let rows: Vec<Vec<String>> = testers
                    .iter()
                    .map(|tester| {
                        vec![
                            tester.id.to_string(),
                            tester.label.clone(),
                            zone.show(tester.added_at, Stamp::Labelled),
                            tester.added_by.clone().unwrap_or_else(|| "unknown".into()),
                        ]
                    })
                    .collect();
                let _ = listing::table(&mut out, &["id", "label", "added", "added by"], &rows);
            }
        }
        ScriptsCommand::RemoveTester { id } => {
            let label = terminal.remove_tester(id).await?;
            let _ = writeln!(
                out,
                "test caller {id} ({label:?}) removed: their next call hears the live version"
            );
        }
        ScriptsCommand::Versions { file, limit, json } => {
            let listed = terminal.versions(file.as_deref(), limit).await?;
            if json {
                let _ = listing::json(&mut out, &listed);
            } else if listed.is_empty() {
                let _ = writeln!(out, "no version is published yet");
            } else {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|version| {
                        vec![
                            version.id.to_string(),
                            version.file.clone(),
                            zone.show(version.created_at, Stamp::Labelled),
                            version.author.clone(),
                            version.comment.clone(),
                        ]
                    })
                    .collect();
                let header = ["id", "file", "published", "author", "comment"];
                let _ = listing::table(&mut out, &header, &rows);
            }
        }
        ScriptsCommand::Show { id } => {
            let text = terminal.version_text(id).await?;
            let _ = out.write_all(text.as_bytes());
        }
        ScriptsCommand::Diff { from, to } => {
            let diff = terminal.diff(from, to).await?;
            let _ =
                out.write_all(if diff.is_empty() { "no difference\n" } else { &diff }.as_bytes());
        }
        ScriptsCommand::Draft { file, .. } => {
            let text = draft.unwrap_or_default();
            terminal.save_draft(&file, text).await?;
            let _ = writeln!(out, "draft of {file} saved");
            return tell(terminal).await;
        }
        ScriptsCommand::Drafts { json } => {
            let drafts = terminal.drafts().await?;
            if json {
                // The API's fields; the text is `hotline scripts show`'s business.
                let listed: Vec<serde_json::Value> = drafts
                    .values()
                    .map(|d| {
                        serde_json::json!({
                            "file": d.file, "author": d.author, "updated_at": d.updated_at
                        })
                    })
                    .collect();
                let _ = listing::json(&mut out, &listed);
            } else if drafts.is_empty() {
                let _ = writeln!(out, "no drafts");
            } else {
                let rows: Vec<Vec<String>> = drafts
                    .values()
                    .map(|draft| {
                        vec![
                            draft.file.clone(),
                            zone.show(draft.updated_at, Stamp::Labelled),
                            draft.author.clone(),
                        ]
                    })
                    .collect();
                let _ = listing::table(&mut out, &["file", "saved", "author"], &rows);
            }
            if drafts.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            return tell(terminal).await;
        }
        ScriptsCommand::Discard { file } => {
            let file = versions::check_file_name(&file)?;
            if !terminal.discard_draft(&file).await? {
                return Err(VersionError::NotFound(format!("there is no draft of {file}")));
            }
            let _ = writeln!(out, "draft of {file} discarded");
        }
        ScriptsCommand::Publish { message } => {
            let published = terminal.publish(Change::Drafts, &message).await?;
            for version in &published.versions {
                let _ = writeln!(out, "published {}", versions::version_line(version));
            }
        }
        ScriptsCommand::Rollback { id, message } => {
            let published = terminal.publish(Change::Rollback(id), &message).await?;
            for version in &published.versions {
                let _ = writeln!(out, "published {}", versions::version_line(version));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the cross-language report of the folder; exit 1 if a language lacks something.
fn report(dir: &std::path::Path) -> ExitCode {
    let loaded = match crate::scripts::load_dir(dir) {
        Ok(loaded) => loaded,
        Err(report) => {
            eprintln!("hotline scripts report: the scripts have errors:\n{report}");
            return ExitCode::from(2);
        }
    };
    let comparison = crate::scripts::report::compare(&loaded.set, &loaded.warnings);
    print!("{comparison}");
    if comparison.missing.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Tells on standard error what the scripts the drafts make would be told, as a start tells
/// it: every error and every other warning in full, naming the draft where the file has one,
/// and the recordings not made yet as one line per language (a new language's prompts are
/// mostly unrecorded: a line each would bury the rest). Exit 1 if any is an error.
async fn tell(terminal: &Terminal) -> Result<ExitCode, VersionError> {
    let drafts = terminal.drafts().await?;
    let (_, texts) = terminal.drafted().await?;
    let told = match load_texts(terminal.scripts_dir(), &texts) {
        Ok(loaded) => Told::of(&loaded.warnings, Some(&loaded.set)),
        Err(report) => Told::of(&report.diagnostics, None),
    };
    let mut err = io::stderr().lock();
    Ok(told.print(&mut err, &drafts))
}

/// What [`tell`] prints: the diagnostics shown one by one, and a line per language for its
/// recordings not made yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Told {
    shown: Vec<Diagnostic>,
    recordings: Vec<String>,
}

impl Told {
    /// Sorts `diagnostics`; `set` is the scripts they make, when they make one (no error),
    /// which says how many recordings each language names.
    fn of(diagnostics: &[Diagnostic], set: Option<&ScriptSet>) -> Told {
        let (missing, shown): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
            diagnostics.iter().partition(|d| report::missing_recording_of(d).is_some());
        let recordings = match set {
            Some(set) => {
                let missing: Vec<Diagnostic> = missing.into_iter().cloned().collect();
                report::missing_recordings(set, &missing).iter().map(ToString::to_string).collect()
            }
            // Scripts with errors are no set to count the recordings in: the number missing.
            None => {
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                for language in missing.iter().filter_map(|d| report::missing_recording_of(d)) {
                    *counts.entry(language.to_string()).or_default() += 1;
                }
                counts
                    .into_iter()
                    .map(|(language, count)| {
                        format!(
                            "{language}: {count} recording(s) its prompts name are not made \
                             yet; their text is read by text-to-speech meanwhile"
                        )
                    })
                    .collect()
            }
        };
        Told { shown: shown.into_iter().cloned().collect(), recordings }
    }

    /// Prints it, naming the draft where the file has one; exit 1 if any is an error.
    fn print(&self, out: &mut impl Write, drafted: &BTreeMap<String, ScriptDraft>) -> ExitCode {
        for diagnostic in &self.shown {
            // The line named is in the draft's text, not in the folder's file of that name.
            let name = diagnostic.file.file_name().and_then(|name| name.to_str()).unwrap_or("");
            if drafted.contains_key(name) {
                let shown = Diagnostic {
                    file: PathBuf::from(format!("draft of {name}")),
                    ..diagnostic.clone()
                };
                let _ = writeln!(out, "{shown}");
            } else {
                let _ = writeln!(out, "{diagnostic}");
            }
        }
        for line in &self.recordings {
            let _ = writeln!(out, "{line}");
        }
        if self.shown.iter().any(Diagnostic::is_error) {
            let _ = writeln!(out, "the drafts have errors: they cannot be published until fixed");
            ExitCode::from(1)
        } else {
            let _ = writeln!(out, "the drafts are valid");
            ExitCode::SUCCESS
        }
    }
}

/// A draft's text from a file or standard input: at most the size of a script, UTF-8.
fn read_text(from: Option<&PathBuf>) -> Result<String, String> {
    let limit = u64::try_from(versions::MAX_TEXT_BYTES + 1).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    match from {
        Some(path) => std::fs::File::open(path)
            .and_then(|file| file.take(limit).read_to_end(&mut bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?,
        None => {
            io::stdin().lock().take(limit).read_to_end(&mut bytes).map_err(|e| e.to_string())?
        }
    };
    if bytes.len() > versions::MAX_TEXT_BYTES {
        return Err(format!(
            "a script is at most {} MiB",
            versions::MAX_TEXT_BYTES / (1024 * 1024)
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| "the text is not UTF-8: save it with the UTF-8 encoding".into())
}
