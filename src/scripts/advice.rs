//! Warnings found by reading the languages side by side, which block nothing: a prompt
//! identical to another language's (probably not translated yet), a tag that only one
//! language's options set, and a menu with no way back.
//!
//! They travel with the loader's other warnings, so `hotline check`, the answer to a draft and
//! the answer to a publish all show them, each with the file, line and column of the element
//! concerned. Script nodes do not keep where they were written, so the places are found again
//! in the text, which has already been parsed once without error.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use super::diagnostics::{Collector, Diagnostic};
use super::{LanguageTag, NodeKind, Script, Sources, Target, xml};

/// A prompt this short ("Yes.", "Da, 1.") may rightly read the same in two languages.
const MIN_WORDS: usize = 3;

/// The warnings for every language that parsed; `files` holds their texts.
pub(super) fn advise(
    dir: &Path,
    files: &Sources,
    scripts: &BTreeMap<LanguageTag, Script>,
) -> Vec<Diagnostic> {
    // Which languages say each text (of at least MIN_WORDS words), and where.
    let mut texts: BTreeMap<String, Vec<(&LanguageTag, &str)>> = BTreeMap::new();
    // Which languages' options set each tag.
    let mut tags: BTreeMap<(&str, &str), BTreeSet<&LanguageTag>> = BTreeMap::new();
    for (language, script) in scripts {
        for (id, node) in &script.nodes {
            let summary = node.prompt.summary();
            if summary.split_whitespace().count() >= MIN_WORDS {
                texts.entry(summary).or_default().push((language, id.as_str()));
            }
            if let NodeKind::Menu { options, .. } = &node.kind {
                for tag in options.iter().flat_map(|option| &option.tags) {
                    tags.entry((&tag.key, &tag.value)).or_default().insert(language);
                }
            }
        }
    }

    let mut diagnostics = Vec::new();
    for (language, script) in scripts {
        let name = format!("{language}.xml");
        let Some(Ok(text)) = files.get(&name) else { continue };
        let text = xml::strip_bom(text);
        let mut collector = Collector::new(&dir.join(&name), text);
        let Some(doc) = xml::parse(&mut collector, text) else { continue };
        let places = Places::find(doc.root_element());

        for (id, node) in &script.nodes {
            let id = id.as_str();
            let here = places.nodes.get(id).copied().unwrap_or(0);
            let summary = node.prompt.summary();
            let elsewhere: Vec<String> = texts
                .get(&summary)
                .into_iter()
                .flatten()
                .filter(|(other, _)| *other != language)
                .map(|(other, other_id)| format!("{other}'s \"{other_id}\""))
                .collect();
            if !elsewhere.is_empty() {
                collector.warning(
                    places.prompts.get(id).copied().unwrap_or(here),
                    format!(
                        "node \"{id}\": its prompt is word for word the same as {}: probably \
                         not translated yet",
                        elsewhere.join(", ")
                    ),
                );
            }
            let NodeKind::Menu { options, back, .. } = &node.kind else { continue };
            for option in options {
                for tag in &option.tags {
                    let setters = tags.get(&(tag.key.as_str(), tag.value.as_str()));
                    let alone = setters.is_none_or(|s| s.iter().all(|l| *l == language));
                    if scripts.len() > 1 && alone {
                        let key = option.key.as_char();
                        collector.warning(
                            places.options.get(&(id, key)).copied().unwrap_or(here),
                            format!(
                                "menu \"{id}\": option {key} sets tag {}={}, which no option of \
                                 another language sets, so searching the cases for it finds only \
                                 {language} callers; use the other languages' tag, or add it \
                                 to them too",
                                tag.key, tag.value
                            ),
                        );
                    }
                }
            }
            let returns =
                back.is_some() || options.iter().any(|o| matches!(o.goto, Target::LanguageChoice));
            if node.id != script.start && !returns {
                collector.warning(
                    here,
                    format!(
                        "menu \"{id}\" has no way back (no back=, no option to @language): a \
                         caller who chose wrong can only wait for the default or press 0"
                    ),
                );
            }
        }
        diagnostics.extend(collector.finish());
    }
    diagnostics
}

/// Where each node, its prompt and its options start in a script's text (byte offsets).
struct Places<'t> {
    nodes: HashMap<&'t str, usize>,
    /// The node's first `<say>` or `<play>` of its own (not those of `<invalid>` and the like).
    prompts: HashMap<&'t str, usize>,
    options: HashMap<(&'t str, char), usize>,
}

impl<'t> Places<'t> {
    fn find(root: roxmltree::Node<'t, 't>) -> Places<'t> {
        let mut places =
            Places { nodes: HashMap::new(), prompts: HashMap::new(), options: HashMap::new() };
        for node in root.children().filter(roxmltree::Node::is_element) {
            let Some(id) = node.attribute("id") else { continue };
            places.nodes.insert(id, xml::start(node));
            for child in node.children().filter(roxmltree::Node::is_element) {
                match xml::name(child) {
                    "say" | "play" => {
                        places.prompts.entry(id).or_insert(xml::start(child));
                    }
                    "option" => {
                        let key = child.attribute("key").and_then(|k| k.trim().chars().next());
                        if let Some(key) = key {
                            places.options.insert((id, key), xml::start(child));
                        }
                    }
                    _ => {}
                }
            }
        }
        places
    }
}
