//! The translators' round trip: every text of a language's script exported to CSV (node,
//! key, the reference language's text, the current text) and imported back into the script,
//! changing nothing but those texts.
//!
//! A text is found by its node and a key naming where it sits in the node: `say.1` (the
//! prompt's first `<say>`), `invalid.say.1`, `wait.play.1`, … The script's XML is edited in
//! place, text by text, so comments, layout and everything else survive the import; an
//! unchanged text is left byte for byte as it was. The import is saved as a draft, to be
//! checked, diffed and published like any other.
//!
//! The file is for a spreadsheet: written by the one CSV writer ([`crate::domain::csv`]),
//! with a byte order mark so that Cyrillic and Korean open as UTF-8, and every cell that a
//! spreadsheet would run as a formula defused with a leading `'`. The import takes off the
//! mark and exactly those apostrophes, so a text written `=1` or `-2` comes back as it was.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::domain::csv::{self as sheet, Bom};

/// The most rows an import reads: real scripts have a few dozen texts.
const MAX_ROWS: usize = 10_000;

/// Why an export or import could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TranslationError {
    /// The script's XML could not be read (it is checked before it is stored, so this is a
    /// draft with errors).
    #[error("the script is not well-formed XML: {0}")]
    Xml(String),
    /// The CSV is not what an export produces; the message says where.
    #[error("{0}")]
    Csv(String),
}

/// One text of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    node: String,
    key: String,
    text: String,
    /// Where the text is in the source, escaped as it is written there.
    range: Range<usize>,
}

/// The texts of a script's source, in document order.
fn slots(source: &str) -> Result<Vec<Slot>, TranslationError> {
    let document =
        roxmltree::Document::parse(source).map_err(|e| TranslationError::Xml(e.to_string()))?;
    let mut found = Vec::new();
    for node in document.root_element().children().filter(roxmltree::Node::is_element) {
        let id = if node.has_tag_name("apology") {
            "(apology)".to_owned()
        } else if node.has_tag_name("chat") {
            "(chat)".to_owned()
        } else {
            match node.attribute("id") {
                Some(id) => id.to_owned(),
                None => continue,
            }
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        // What is said, what a chat shows instead (`<text>`), and a chat's own sentences.
        let translated = |n: &roxmltree::Node<'_, '_>| {
            ["say", "play", "text", "received", "reminder", "closed"]
                .iter()
                .any(|name| n.has_tag_name(*name))
        };
        for text_element in node.descendants().filter(translated) {
            // Only an element holding just text is a translator's: `<play file="x.mp3"/>`
            // without text has nothing to translate.
            let mut children = text_element.children();
            let (Some(child), None) = (children.next(), children.next()) else { continue };
            if !child.is_text() {
                continue;
            }
            let mut path: Vec<&str> = text_element
                .ancestors()
                .skip(1)
                .take_while(|a| *a != node)
                .map(|a| a.tag_name().name())
                .collect();
            path.reverse();
            path.push(text_element.tag_name().name());
            let place = path.join(".");
            let count = counts.entry(place.clone()).or_default();
            *count += 1;
            found.push(Slot {
                node: id.clone(),
                key: format!("{place}.{count}"),
                text: child.text().unwrap_or_default().to_owned(),
                range: child.range(),
            });
        }
    }
    Ok(found)
}

/// The columns of the file, in order.
const HEADER: [&str; 4] = ["node", "key", "reference", "text"];

/// The CSV of a script's texts beside the reference script's: `node,key,reference,text`,
/// for a spreadsheet (a byte order mark first, formulas defused).
pub fn export(source: &str, reference: &str) -> Result<String, TranslationError> {
    let reference: BTreeMap<(String, String), String> =
        slots(reference)?.into_iter().map(|s| ((s.node, s.key), s.text)).collect();
    let mut writer = sheet::Writer::new(Bom::With, &HEADER);
    for slot in slots(source)? {
        let theirs =
            reference.get(&(slot.node.clone(), slot.key.clone())).map_or("", String::as_str);
        writer.row(&[slot.node.as_str(), &slot.key, theirs, &slot.text]);
    }
    Ok(writer.finish())
}

/// The script's source with the CSV's texts in place of its own. Every row must name a text
/// of the script; a text the CSV leaves out stays as it is. The file may start with a byte
/// order mark (as exported, or saved by a spreadsheet); the `'` the export put before a
/// formula's first character is taken off.
pub fn import(source: &str, csv_text: &str) -> Result<String, TranslationError> {
    let slots: BTreeMap<(String, String), Slot> =
        slots(source)?.into_iter().map(|s| ((s.node.clone(), s.key.clone()), s)).collect();
    let csv_text = sheet::strip_bom(csv_text);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|e| TranslationError::Csv(e.to_string()))?;
    if headers.iter().collect::<Vec<_>>() != HEADER {
        return Err(TranslationError::Csv(
            "the first line must be node,key,reference,text (as exported)".into(),
        ));
    }
    let mut edits: Vec<(Range<usize>, String)> = Vec::new();
    for (number, record) in reader.records().enumerate() {
        let line = number + 2;
        if number >= MAX_ROWS {
            return Err(TranslationError::Csv(format!("more than {MAX_ROWS} rows")));
        }
        let record = record.map_err(|e| TranslationError::Csv(format!("line {line}: {e}")))?;
        let (Some(node), Some(key), Some(text)) = (record.get(0), record.get(1), record.get(3))
        else {
            return Err(TranslationError::Csv(format!("line {line}: four columns expected")));
        };
        let (node, key, text) =
            (sheet::undefuse(node), sheet::undefuse(key), sheet::undefuse(text));
        let slot = slots.get(&(node.to_owned(), key.to_owned())).ok_or_else(|| {
            TranslationError::Csv(format!(
                "line {line}: the script has no text {key} in {node}; export it again"
            ))
        })?;
        if slot.text != text {
            edits.push((slot.range.clone(), escape(text)));
        }
    }
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut result = source.to_owned();
    for (range, text) in edits {
        result.replace_range(range, &text);
    }
    Ok(result)
}

/// Escapes text for the content of an element.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(file: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts").join(file),
        )
        .unwrap()
    }

    #[test]
    fn export_then_import_changes_nothing_in_any_language() {
        for file in ["ru.xml", "ko.xml", "uk.xml", "en.xml"] {
            let source = shipped(file);
            let csv = export(&source, &shipped("en.xml")).unwrap();
            assert!(csv.lines().count() > 20, "{file}");
            assert_eq!(import(&source, &csv).unwrap(), source, "{file}");
        }
    }

    /// The rows of an exported file, as a spreadsheet shows them (the apostrophes kept).
    fn rows(csv: &str) -> Vec<Vec<String>> {
        let mut reader = csv::Reader::from_reader(sheet::strip_bom(csv).as_bytes());
        reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
    }

    /// A file as a spreadsheet saves it back, with the one writer.
    fn written(rows: &[Vec<String>]) -> String {
        let mut writer = sheet::Writer::new(Bom::With, &HEADER);
        for row in rows {
            writer.row(row);
        }
        writer.finish()
    }

    #[test]
    fn an_imported_text_replaces_only_itself_and_exports_back_the_same() {
        let source = shipped("ko.xml");
        let csv = export(&source, &shipped("en.xml")).unwrap();
        let mut rows = rows(&csv);
        let tricky = "새 안내 <1> & \"따옴표\", 줄\n바꿈";
        rows[0][3] = tricky.to_owned();
        let edited = written(&rows);
        let imported = import(&source, &edited).unwrap();
        assert_ne!(imported, source);
        assert_eq!(export(&imported, &shipped("en.xml")).unwrap(), edited);
        roxmltree::Document::parse(&imported).unwrap();
    }

    #[test]
    fn hostile_cells_are_defused_for_the_spreadsheet_and_come_back_exactly() {
        let hostile = [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1:A9)",
            "\t=1+1",
            "'=already quoted",
            "Сдавайтесь, \"пожалуйста\"",
            "새 안내, 줄\n바꿈",
            "a \"quoted\" word, and a comma",
            "-- <not a tag> & not an entity",
        ];
        let source = shipped("ru.xml");
        let reference = shipped("en.xml");
        let mut rows = rows(&export(&source, &reference).unwrap());
        assert!(rows.len() > hostile.len());
        // The translator types these; the spreadsheet saves what it shows.
        for (row, text) in rows.iter_mut().zip(hostile) {
            row[3] = text.to_owned();
        }
        let edited = written(&rows);
        let imported = import(&source, &edited).unwrap();
        roxmltree::Document::parse(&imported).unwrap();
        let texts: BTreeMap<(String, String), String> =
            slots(&imported).unwrap().into_iter().map(|s| ((s.node, s.key), s.text)).collect();
        for (row, text) in rows.iter().zip(hostile) {
            assert_eq!(texts[&(row[0].clone(), row[1].clone())], text, "{text:?}");
        }
        // Exported again: the mark first, every formula's start behind an apostrophe, and the
        // file the spreadsheet saved, byte for byte.
        let again = export(&imported, &reference).unwrap();
        assert!(again.starts_with('\u{feff}'), "{again:?}");
        for formula in ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1:A9)", "''=already"] {
            assert!(again.contains(&format!(",{formula}")), "{formula}: {again}");
        }
        assert!(!again.contains(",=") && !again.contains(",+1") && !again.contains(",-2"));
        assert_eq!(again, edited);
        // A file saved without the mark (or a CSV tool that dropped it) reads the same.
        assert_eq!(import(&source, sheet::strip_bom(&edited)).unwrap(), imported);
        assert_eq!(import(&imported, &again).unwrap(), imported, "unchanged texts stay");
    }

    #[test]
    fn a_wrong_csv_is_refused_with_its_line() {
        let source = shipped("ru.xml");
        for (csv, expected) in [
            ("", "first line"),
            ("\u{feff}", "first line"),
            ("a,b\n", "first line"),
            ("node,key,reference,text\n'welcome,say.1,,x\n", "line 2"),
            ("node,key,reference,text\nnowhere,say.1,,x\n", "line 2"),
            ("node,key,reference,text\nwelcome,say.1\n", "line 2"),
            ("node,key,reference,text\n\"unterminated,say.1,,x\n", "line"),
        ] {
            let error = import(&source, csv).unwrap_err().to_string();
            assert!(error.contains(expected), "{csv:?}: {error}");
        }
        assert!(matches!(
            import("<script", "node,key,reference,text\n"),
            Err(TranslationError::Xml(_))
        ));
    }

    #[test]
    fn what_a_chat_shows_is_translated_too() {
        let rows = rows(&export(&shipped("ru.xml"), &shipped("en.xml")).unwrap());
        let row = |node: &str, key: &str| {
            rows.iter().find(|r| r[0] == node && r[1] == key).cloned().unwrap_or_default()
        };
        let main = row("main", "text.1");
        assert_eq!(main[2], "How can we help you?");
        assert_eq!(main[3], "Чем мы можем помочь?");
        assert!(row("(chat)", "closed.1")[2].starts_with("This conversation is closed."));
        assert!(row("operator", "wait.text.1")[3].contains("{position}"));
    }
}
