//! The cross-language report (`hotline scripts report`): the scripts of one hotline should
//! offer every caller the same choices whatever their language, so it lists the nodes,
//! options and tags one language has and another lacks, the prompts still missing their
//! recording, each language's prompt count, and advice that blocks nothing: prompts identical
//! to another language's (probably not translated yet) and menus with no way back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{Diagnostic, LanguageTag, NodeKind, Prompt, ScriptSet, Target, file_language};

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
            let mut prompts: Vec<&Prompt> = vec![&node.prompt];
            match &node.kind {
                NodeKind::Menu { options, invalid, no_input, back, .. } => {
                    prompts.push(invalid);
                    prompts.extend(no_input);
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
                NodeKind::Handoff { wait, too_long, wait_keys, .. } => {
                    prompts.extend([wait, too_long]);
                    for wait_key in wait_keys {
                        prompts.push(&wait_key.prompt);
                        let what = format!(
                            "key {} while waiting at {id} (to {})",
                            wait_key.key, wait_key.goto
                        );
                        present.entry(what).or_default().insert(language);
                    }
                }
                NodeKind::Callback { read_back, confirm, invalid, .. } => {
                    prompts.extend([read_back, confirm, invalid]);
                }
                NodeKind::Ask { var, .. } => {
                    present
                        .entry(format!("answer {var} asked at {id}"))
                        .or_default()
                        .insert(language);
                }
                NodeKind::Message { .. } | NodeKind::Voicemail { .. } | NodeKind::Hangup => {}
            }
            count += prompts.iter().filter(|p| !p.items.is_empty()).count();
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
