//! IVR scripts: the language choice and one conversation per language, loaded from
//! `ivr-scripts/` and validated before any caller hears them.
//!
//! [`load_dir`] is the way in: it reads `languages.xml` and every `<code>.xml`, checks each
//! against the dialect of `docs/scripts.md` and against each other, and either returns the
//! [`ScriptSet`] (with warnings) or a [`Report`] of every problem, each with file, line and
//! column. [`parse_script`] and [`parse_languages`] check one file's text, for tests and tools.
//!
//! Inside: `xml` reads files and checks elements and attributes, `prompt` reads what is said,
//! `script` and `languages` read the two kinds of file, `advice` compares the languages for
//! warnings, `diagnostics` words and places the problems.

mod advice;
mod diagnostics;
pub mod graph;
mod languages;
mod model;
mod prompt;
pub mod report;
mod script;
pub mod translation;
pub(crate) mod xml;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostic, Report, Severity};
pub use languages::parse_languages;
pub use model::*;
pub use script::parse_script;

/// The name of the language choice's file in the scripts folder.
pub const LANGUAGES_FILE: &str = "languages.xml";

/// The scripts, ready to use, and what is worth fixing in them.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The language choice and every language's script.
    pub set: ScriptSet,
    /// Problems that do not stop a call (a missing recording read by text-to-speech instead),
    /// sorted by file then line.
    pub warnings: Vec<Diagnostic>,
}

/// Loads `dir/languages.xml` and every `dir/<code>.xml` it names; recordings come from
/// `dir/audio/<code>/`.
///
/// Every file is checked even after one fails, so a single run lists every problem. Any error
/// makes the result a [`Report`], which holds the warnings too.
pub fn load_dir(dir: &Path) -> Result<Loaded, Report> {
    let mut diagnostics = Vec::new();
    let files = read_sources(dir, &mut diagnostics);
    check_sources(dir, &files, diagnostics)
}

/// The text of every script file, by file name (`languages.xml`, `ru.xml`): a version of the
/// scripts as the database keeps it, or a draft. A file that could not be read has its
/// problem instead of its text.
pub type Sources = BTreeMap<String, Result<String, Diagnostic>>;

/// Reads every script file of `dir` (see [`load_dir`]) without checking them.
pub fn read_sources(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Sources {
    let mut files: Sources = script_files(dir, diagnostics)
        .into_iter()
        .map(|(language, path)| (format!("{language}.xml"), xml::read_file(&path)))
        .collect();
    files.insert(LANGUAGES_FILE.to_owned(), xml::read_file(&dir.join(LANGUAGES_FILE)));
    files
}

/// Checks a set of script texts as [`load_dir`] checks files: they are placed in `dir` for
/// messages and recordings, and must include `languages.xml`.
pub fn load_texts(dir: &Path, texts: &BTreeMap<String, String>) -> Result<Loaded, Report> {
    let mut diagnostics = Vec::new();
    let mut files = Sources::new();
    for (name, text) in texts {
        if name == LANGUAGES_FILE || file_language(name).is_some() {
            files.insert(name.clone(), Ok(text.clone()));
        } else {
            diagnostics.push(Diagnostic::file_error(
                &dir.join(name),
                "a script's file name is languages.xml or its language code, like ru.xml",
            ));
        }
    }
    if !files.contains_key(LANGUAGES_FILE) {
        let missing = dir.join(LANGUAGES_FILE);
        files.insert(
            LANGUAGES_FILE.to_owned(),
            Err(Diagnostic::file_error(&missing, "languages.xml is missing")),
        );
    }
    check_sources(dir, &files, diagnostics)
}

/// The language of a script file's name (`ru.xml` → `ru`); `None` for `languages.xml` and
/// any other name.
pub fn file_language(name: &str) -> Option<LanguageTag> {
    name.strip_suffix(".xml").filter(|_| name != LANGUAGES_FILE).and_then(LanguageTag::parse)
}

fn check_sources(
    dir: &Path,
    files: &Sources,
    mut diagnostics: Vec<Diagnostic>,
) -> Result<Loaded, Report> {
    let audio_root = dir.join("audio");
    let mut scripts = BTreeMap::new();
    let mut offered = BTreeSet::new();
    for (name, text) in files {
        let Some(language) = file_language(name) else { continue };
        offered.insert(language.clone());
        let path = dir.join(name);
        let parsed = text
            .clone()
            .map_err(|diagnostic| vec![diagnostic])
            .and_then(|text| parse_script(&path, &text, &audio_root));
        match parsed {
            Ok((script, warnings)) => {
                diagnostics.extend(warnings);
                scripts.insert(language, script);
            }
            Err(problems) => diagnostics.extend(problems),
        }
    }

    let languages_path = dir.join(LANGUAGES_FILE);
    let languages_text = files.get(LANGUAGES_FILE).cloned().unwrap_or_else(|| {
        Err(Diagnostic::file_error(&languages_path, "languages.xml is missing"))
    });
    let entry = match languages_text
        .map_err(|diagnostic| vec![diagnostic])
        .and_then(|text| parse_languages(&languages_path, &text, &audio_root, &offered))
    {
        Ok((entry, warnings)) => {
            diagnostics.extend(warnings);
            Some(entry)
        }
        Err(problems) => {
            diagnostics.extend(problems);
            None
        }
    };

    diagnostics.extend(advice::advise(dir, files, &scripts));
    diagnostics::sort(&mut diagnostics);
    match entry {
        Some(entry) if !diagnostics.iter().any(Diagnostic::is_error) => {
            Ok(Loaded { set: ScriptSet { entry, scripts }, warnings: diagnostics })
        }
        _ => Err(Report { diagnostics }),
    }
}

/// The script files of `dir`, by language: every `<code>.xml` except `languages.xml`. Other
/// `.xml` files are reported and left out, since a supervisor who saved `russian.xml` expects
/// it to be used.
fn script_files(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> BTreeMap<LanguageTag, PathBuf> {
    let mut found = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            let message = format!("the scripts folder cannot be read: {e}");
            diagnostics.push(Diagnostic::file_error(dir, message));
            return found;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_xml = path.extension().is_some_and(|ext| ext == "xml");
        if !is_xml || !path.is_file() || path.file_name().is_some_and(|n| n == LANGUAGES_FILE) {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str());
        match stem.and_then(LanguageTag::parse) {
            Some(language) => {
                found.insert(language, path);
            }
            None => diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                ..Diagnostic::file_error(
                    &path,
                    "this file is ignored: a script's file name is its language code in two or \
                     three lowercase letters, like ru.xml",
                )
            }),
        }
    }
    found
}

#[cfg(test)]
mod tests;
