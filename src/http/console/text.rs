//! The console's interface text in each language it speaks.
//!
//! The text is in `text/<language>.toml`, one `[section]` per screen, compiled into the
//! binary; a key is `section.key`. Every language has the same keys (a test checks it, and
//! that every key a template uses exists), so a missing translation is caught before it
//! ships. A person chooses their console's language; it is not one of the languages they
//! take calls in.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The interface text of one language.
#[derive(Debug)]
pub struct Text {
    /// The language's code, as stored for a person (`en`, `uk`).
    pub code: &'static str,
    /// The language's own name, for the language choice.
    pub name: &'static str,
    entries: HashMap<String, String>,
}

/// The languages of the console, the default first.
const CATALOGS: [(&str, &str, &str); 2] = [
    ("en", "English", include_str!("text/en.toml")),
    ("uk", "Українська", include_str!("text/uk.toml")),
];

static TEXTS: LazyLock<Vec<Text>> = LazyLock::new(|| {
    CATALOGS
        .iter()
        .map(|(code, name, source)| Text { code, name, entries: flatten(code, source) })
        .collect()
});

/// A catalog's keys and texts. A catalog that does not parse (the tests make sure none
/// ships) leaves its language empty, every key shown as itself, rather than failing pages.
fn flatten(code: &str, source: &str) -> HashMap<String, String> {
    let table: toml::Table = match toml::from_str(source) {
        Ok(table) => table,
        Err(error) => {
            tracing::error!(language = code, %error, "the console's text does not parse");
            return HashMap::new();
        }
    };
    let mut entries = HashMap::new();
    for (section, values) in table {
        let toml::Value::Table(values) = values else { continue };
        for (key, value) in values {
            if let toml::Value::String(text) = value {
                entries.insert(format!("{section}.{key}"), text);
            }
        }
    }
    entries
}

impl Text {
    /// The text of a language, or the default (English) for any other code.
    pub fn of(code: Option<&str>) -> &'static Text {
        let texts = &*TEXTS;
        code.and_then(|code| texts.iter().find(|text| text.code == code)).unwrap_or(&texts[0])
    }

    /// Every language of the console, the default first.
    pub fn all() -> &'static [Text] {
        &TEXTS
    }

    /// Whether `code` is a language of the console.
    pub fn is_known(code: &str) -> bool {
        TEXTS.iter().any(|text| text.code == code)
    }

    /// The text for `key`; the key itself if it has none (which the tests rule out).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.entries.get(key).map_or(key, String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn keys(text: &Text) -> BTreeSet<&str> {
        text.entries.keys().map(String::as_str).collect()
    }

    #[test]
    fn every_language_has_every_key_and_no_empty_text() {
        let english = Text::of(None);
        assert_eq!(english.code, "en");
        assert!(keys(english).len() > 20, "the English catalog did not parse");
        for text in Text::all() {
            let source = CATALOGS.iter().find(|c| c.0 == text.code).unwrap().2;
            toml::from_str::<toml::Table>(source).unwrap();
            let missing: Vec<_> = keys(english).difference(&keys(text)).copied().collect();
            let extra: Vec<_> = keys(text).difference(&keys(english)).copied().collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", text.code);
            assert!(extra.is_empty(), "{} has keys English lacks: {extra:?}", text.code);
            for (key, value) in &text.entries {
                assert!(!value.trim().is_empty(), "{}: {key} is empty", text.code);
            }
        }
    }

    #[test]
    fn every_key_a_template_or_handler_uses_exists() {
        let mut sources = Vec::new();
        for folder in ["templates/console", "src/http/console"] {
            collect(&Path::new(env!("CARGO_MANIFEST_DIR")).join(folder), &mut sources);
        }
        assert!(sources.len() > 5);
        let english = Text::of(None);
        let mut used = 0;
        for (path, source) in &sources {
            for quote in ["t(\"", "text.get(\""] {
                for (at, _) in source.match_indices(quote) {
                    // `t("` alone, not the end of `get("` or `format!("`.
                    let before = source[..at].chars().next_back();
                    if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                        continue;
                    }
                    let rest = &source[at + quote.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    if key.contains('.') {
                        used += 1;
                        assert!(english.entries.contains_key(key), "{path}: unknown key {key:?}");
                    }
                }
            }
        }
        assert!(used > 10, "found only {used} uses");
    }

    fn collect(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                collect(&path, out);
            } else if path.extension().is_some_and(|e| e == "html" || e == "rs") {
                out.push((path.display().to_string(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }

    #[test]
    fn an_unknown_language_gets_english() {
        assert_eq!(Text::of(Some("xx")).code, "en");
        assert_eq!(Text::of(Some("uk")).code, "uk");
        assert!(Text::is_known("uk"));
        assert!(!Text::is_known("<script>"));
        assert_eq!(Text::of(None).get("no.such"), "no.such");
    }
}
