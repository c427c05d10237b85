//! The cross-language report (`hotline scripts report`): the scripts of one hotline should
//! offer every caller the same choices whatever their language, so it lists the nodes,
//! options and tags one language has and another lacks, the prompts still missing their
//! recording, each language's prompt count, and advice that blocks nothing: prompts identical
//! to another language's (probably not translated yet) and menus with no way back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::prompt::missing_recording;
use super::{
    Diagnostic, LanguageTag, Node, NodeKind, Prompt, PromptItem, ScriptSet, Target, file_language,
};

/// What the report found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Something some languages have and others lack: what, and which lack it.
    pub missing: Vec<(String, Vec<LanguageTag>)>,
    /// Recordings missing, by language (their text is read by text-to-speech meanwhile).
    pub missing_audio: BTreeMap<LanguageTag, usize>,
    /// Prompts per language (node prompts, menus' retries, handoffs' waits, the apology).
    pub prompts: BTreeMap<LanguageTag, usize>,
    /// Advice: probably untranslated prompts, menus with no way back.
    pub advice: Vec<String>,
}

/// Compares the languages of a valid set; `warnings` are the loader's, for recordings.
pub fn compare(set: &ScriptSet, warnings: &[Diagnostic]) -> Comparison {
    let languages: Vec<&LanguageTag> = set.scripts.keys().collect();
    let mut present: BTreeMap<String, BTreeSet<&LanguageTag>> = BTreeMap::new();
    let mut texts: BTreeMap<String, Vec<(&LanguageTag, String)>> = BTreeMap::new();
    let mut comparison = Comparison::default();
    for (language, script) in &set.scripts {
        let mut count = usize::from(!script.apology.items.is_empty());
        for (id, node) in &script.nodes {
            present.entry(format!("node {id}")).or_default().insert(language);
            match &node.kind {
                NodeKind::Menu { options, back, .. } => {
                    for option in options {
                        let goes = match &option.goto {
                            Target::Node(to) => to.to_string(),
                            Target::LanguageChoice => "@language".into(),
                        };
                        let what = format!("option {} of menu {id} (to {goes})", option.key);
                        present.entry(what).or_default().insert(language);
                        for tag in &option.tags {
                            let what = format!("tag {}={}", tag.key, tag.value);
                            present.entry(what).or_default().insert(language);
                        }
                    }
                    let returns = back.is_some()
                        || options.iter().any(|o| matches!(o.goto, Target::LanguageChoice));
                    if *id != script.start && !returns {
                        comparison.advice.push(format!(
                            "{language}: menu {id} has no way back (no back=, no option to \
                             @language): a caller who chose wrong can only wait for the default"
                        ));
                    }
                }
                NodeKind::Handoff { wait_keys, .. } => {
                    for wait_key in wait_keys {
                        let what = format!(
                            "key {} while waiting at {id} (to {})",
                            wait_key.key, wait_key.goto
                        );
                        present.entry(what).or_default().insert(language);
                    }
                }
                NodeKind::Ask { var, .. } => {
                    present
                        .entry(format!("answer {var} asked at {id}"))
                        .or_default()
                        .insert(language);
                }
                NodeKind::Message { .. }
                | NodeKind::Callback { .. }
                | NodeKind::Voicemail { .. }
                | NodeKind::Hangup => {}
            }
            count += node_prompts(node).iter().filter(|p| !p.items.is_empty()).count();
            let summary = node.prompt.summary();
            if summary.split_whitespace().count() >= 3 {
                texts.entry(summary).or_default().push((language, id.to_string()));
            }
        }
        comparison.prompts.insert(language.clone(), count);
    }
    for (what, have) in present {
        let lacking: Vec<LanguageTag> =
            languages.iter().filter(|l| !have.contains(*l)).map(|l| (*l).clone()).collect();
        if !lacking.is_empty() {
            comparison.missing.push((what, lacking));
        }
    }
    for same in texts.values().filter(|same| same.len() > 1) {
        let places: Vec<String> = same.iter().map(|(l, id)| format!("{l} {id}")).collect();
        comparison
            .advice
            .push(format!("the same prompt in {}: probably not translated yet", places.join(", ")));
    }
    for warning in warnings.iter().filter(|w| w.message.contains("recording")) {
        let language =
            warning.file.file_name().and_then(|name| name.to_str()).and_then(file_language);
        if let Some(language) = language {
            *comparison.missing_audio.entry(language).or_default() += 1;
        }
    }
    comparison
}

/// Every prompt of a node: what it says, and a menu's retries, a handoff's waits, a
/// callback's read-back and confirmation.
fn node_prompts(node: &Node) -> Vec<&Prompt> {
    let mut prompts = vec![&node.prompt];
    match &node.kind {
        NodeKind::Menu { invalid, no_input, .. } => {
            prompts.push(invalid);
            prompts.extend(no_input);
        }
        NodeKind::Handoff { wait, too_long, wait_keys, .. } => {
            prompts.extend([wait, too_long]);
            prompts.extend(wait_keys.iter().map(|wait_key| &wait_key.prompt));
        }
        NodeKind::Callback { read_back, confirm, invalid, .. } => {
            prompts.extend([read_back, confirm, invalid]);
        }
        NodeKind::Message { .. }
        | NodeKind::Ask { .. }
        | NodeKind::Voicemail { .. }
        | NodeKind::Hangup => {}
    }
    prompts
}

/// A language's recordings, as a start reports them: how many its scripts name (the language
/// choice's announcement included) and how many are not made yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recordings {
    /// The language, whose recordings are in `audio/<language>/`.
    pub language: LanguageTag,
    /// Recordings the scripts name whose file is not there: their text is read instead.
    pub missing: usize,
    /// Recordings the scripts name, made or not.
    pub named: usize,
}

/// The languages with recordings not made yet, from a valid set and its loader's warnings:
/// one line each at start instead of one warning per prompt.
pub fn missing_recordings(set: &ScriptSet, warnings: &[Diagnostic]) -> Vec<Recordings> {
    let mut missing: BTreeMap<LanguageTag, usize> = BTreeMap::new();
    for language in warnings.iter().filter_map(missing_recording) {
        *missing.entry(language).or_default() += 1;
    }
    let mut prompts: Vec<&Prompt> = set.entry.options.iter().map(|option| &option.prompt).collect();
    for script in set.scripts.values() {
        prompts.push(&script.apology);
        prompts.extend(script.nodes.values().flat_map(node_prompts));
    }
    missing
        .into_iter()
        .map(|(language, missing)| {
            // A recording that is there is played from this server, under its language.
            let folder = format!("/audio/{language}/");
            let made = prompts
                .iter()
                .flat_map(|prompt| &prompt.items)
                .filter(
                    |item| matches!(item, PromptItem::Play { url, .. } if url.starts_with(&folder)),
                )
                .count();
            Recordings { language, missing, named: missing + made }
        })
        .collect()
}

/// The language whose recording a warning says is not made yet, or `None` for any other
/// warning: what [`missing_recordings`] counts, for a caller sorting warnings of its own.
pub fn missing_recording_of(warning: &Diagnostic) -> Option<LanguageTag> {
    missing_recording(warning)
}

/// Other warnings a start shows one by one; the rest are counted.
const SHOWN_AT_START: usize = 3;

/// What a start says about the warnings of the scripts it loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtStart {
    /// For everyone: a line per language with recordings not made yet, then the other
    /// warnings, a few of them and a count of the rest.
    pub summary: Vec<String>,
    /// Every missing recording's own warning, for whoever turns the log up.
    pub details: Vec<String>,
}

/// Sorts a valid set's warnings for a start ([`AtStart`]): a new line's recordings are
/// mostly not made yet, and a warning per prompt would bury everything else it says.
pub fn at_start(set: &ScriptSet, warnings: &[Diagnostic]) -> AtStart {
    let (recordings, others): (Vec<&Diagnostic>, Vec<&Diagnostic>) =
        warnings.iter().partition(|warning| missing_recording(warning).is_some());
    let mut summary: Vec<String> =
        missing_recordings(set, warnings).iter().map(ToString::to_string).collect();
    summary.extend(others.iter().take(SHOWN_AT_START).map(ToString::to_string));
    if others.len() > SHOWN_AT_START {
        summary.push(format!(
            "the scripts have {} more warning(s); `hotline check` lists them all",
            others.len() - SHOWN_AT_START
        ));
    }
    AtStart { summary, details: recordings.iter().map(ToString::to_string).collect() }
}

/// `uk: 12 of the 34 recordings its prompts name are not made yet; …`.
impl fmt::Display for Recordings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Recordings { language, missing, named } = self;
        write!(
            f,
            "{language}: {missing} of the {named} recordings its prompts name are not made yet; \
             their text is read by text-to-speech meanwhile (`hotline check` lists them)"
        )
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing.is_empty() {
            writeln!(f, "every language has the same nodes, options and tags")?;
        }
        for (what, lacking) in &self.missing {
            let lacking: Vec<&str> = lacking.iter().map(LanguageTag::as_str).collect();
            writeln!(f, "missing in {}: {what}", lacking.join(", "))?;
        }
        for (language, count) in &self.prompts {
            let audio = self.missing_audio.get(language).copied().unwrap_or(0);
            writeln!(f, "{language}: {count} prompts, {audio} recording(s) missing")?;
        }
        for advice in &self.advice {
            writeln!(f, "advice: {advice}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scripts::{NodeId, load_dir};

    #[test]
    fn an_untranslated_prompt_and_a_menu_with_no_way_back_are_advised() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let mut set = load_dir(&dir).unwrap().set;
        assert!(compare(&set, &[]).advice.is_empty());
        let (en, ko) = (LanguageTag::parse("en").unwrap(), LanguageTag::parse("ko").unwrap());
        let welcome = NodeId::parse("welcome").unwrap();
        let english = set.scripts[&en].nodes[&welcome].prompt.clone();
        let korean = set.scripts.get_mut(&ko).unwrap();
        korean.nodes.get_mut(&welcome).unwrap().prompt = english;
        let relative = NodeId::parse("relative").unwrap();
        if let NodeKind::Menu { back, .. } = &mut korean.nodes.get_mut(&relative).unwrap().kind {
            *back = None;
        }
        let advice = compare(&set, &[]).advice;
        assert!(
            advice.iter().any(|a| a.contains("en welcome, ko welcome") && a.contains("translated")),
            "{advice:?}"
        );
        assert!(
            advice.iter().any(|a| a.starts_with("ko: menu relative has no way back")),
            "{advice:?}"
        );
    }
}

#[cfg(test)]
mod start_tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::scripts::load_dir;

    /// A copy of the shipped scripts, to add recordings and stray files to.
    fn shipped_copy() -> (tempfile::TempDir, PathBuf) {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.path().is_dir() {
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let scripts = dir.path().join("ivr-scripts");
        copy(&Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts"), &scripts);
        (dir, scripts)
    }

    /// `<play file="…">` in the shipped texts, outside comments: what the scripts name,
    /// counted another way.
    fn plays_named(dir: &Path) -> usize {
        let mut count = 0;
        for file in ["languages.xml", "uk.xml", "ru.xml", "ko.xml", "en.xml"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            for (i, piece) in text.split("<!--").enumerate() {
                let code = if i == 0 { piece } else { piece.split_once("-->").unwrap().1 };
                count += code.matches("<play file=").count();
            }
        }
        count
    }

    #[test]
    fn a_start_sums_missing_recordings_up_per_language() {
        let (_keep, dir) = shipped_copy();
        let named = plays_named(&dir);
        assert!(named > 10, "the shipped Ukrainian script is recorded: {named}");
        let loaded = load_dir(&dir).unwrap();
        let uk = LanguageTag::parse("uk").unwrap();
        assert_eq!(
            missing_recordings(&loaded.set, &loaded.warnings),
            [Recordings { language: uk.clone(), missing: named, named }]
        );
        let notes = at_start(&loaded.set, &loaded.warnings);
        assert_eq!(notes.summary.len(), 1, "{:?}", notes.summary);
        assert!(
            notes.summary[0].starts_with(&format!("uk: {named} of the {named} recordings")),
            "{}",
            notes.summary[0]
        );
        assert_eq!(notes.details.len(), named);
        assert!(notes.details.iter().all(|d| d.contains("audio/uk/")), "{:?}", notes.details);

        // Two recordings made (one of them the language choice's): two fewer missing.
        std::fs::write(dir.join("audio/uk/choose.mp3"), b"ID3").unwrap();
        std::fs::write(dir.join("audio/uk/welcome.mp3"), b"ID3").unwrap();
        let loaded = load_dir(&dir).unwrap();
        let counted = missing_recordings(&loaded.set, &loaded.warnings);
        assert_eq!(counted, [Recordings { language: uk, missing: named - 2, named }]);
    }

    #[test]
    fn other_warnings_are_shown_one_by_one_and_the_rest_counted() {
        let (_keep, dir) = shipped_copy();
        for stray in ["russian", "korean", "english", "ukrainian", "draft"] {
            std::fs::write(dir.join(format!("{stray}.xml")), "<script/>").unwrap();
        }
        let loaded = load_dir(&dir).unwrap();
        let notes = at_start(&loaded.set, &loaded.warnings);
        let ignored = notes.summary.iter().filter(|l| l.contains("this file is ignored")).count();
        assert_eq!(ignored, SHOWN_AT_START, "{:#?}", notes.summary);
        assert!(
            notes.summary.iter().any(|l| l.contains("2 more warning(s)")),
            "{:#?}",
            notes.summary
        );
        assert!(notes.summary.iter().all(|l| !l.contains("audio/uk/")), "{:#?}", notes.summary);
    }

    #[test]
    fn with_every_recording_made_nothing_is_said() {
        let (_keep, dir) = shipped_copy();
        let loaded = load_dir(&dir).unwrap();
        for warning in &loaded.warnings {
            let (_, path) = warning.message.split_once("recording audio/uk/").unwrap();
            let file = path.split_whitespace().next().unwrap();
            std::fs::write(dir.join("audio/uk").join(file), b"ID3").unwrap();
        }
        let loaded = load_dir(&dir).unwrap();
        assert_eq!(loaded.warnings, []);
        assert_eq!(at_start(&loaded.set, &loaded.warnings), AtStart::default());
    }
}
