//! The language choice (`languages.xml`): the first menu of every call, checked against the
//! script files that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use roxmltree::Node as XmlNode;

use super::diagnostics::{Collector, Diagnostic};
use super::model::{Key, LanguageChoice, LanguageOption, LanguageTag};
use super::prompt::{self, Audio, Placeholders};
use super::xml;

/// Parses and checks the text of `languages.xml`.
///
/// `file` is its path as it should appear in messages; `audio_root` is the `audio` folder next
/// to the scripts (a language's `<play file>` is looked up in its own language's folder);
/// `scripts` are the languages that have a script file (`ru.xml`). Every offered language must
/// have one, and every script must be offered. On success, returns the menu and its warnings;
/// otherwise every problem found, in file order.
pub fn parse_languages(
    file: &Path,
    text: &str,
    audio_root: &Path,
    scripts: &BTreeSet<LanguageTag>,
) -> Result<(LanguageChoice, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = xml::strip_bom(text);
    let mut collector = Collector::new(file, text);
    let choice = xml::parse(&mut collector, text).and_then(|doc| {
        let parser = LanguagesParser {
            collector: &mut collector,
            audio_root,
            scripts,
            codes: BTreeMap::new(),
            keys: BTreeMap::new(),
            countries: BTreeMap::new(),
        };
        parser.languages(doc.root_element())
    });
    match choice {
        Some(choice) if !collector.has_errors() => Ok((choice, collector.finish())),
        _ => Err(collector.finish()),
    }
}

struct LanguagesParser<'c, 't, 'a> {
    collector: &'c mut Collector<'t>,
    audio_root: &'a Path,
    scripts: &'a BTreeSet<LanguageTag>,
    /// Where each language was first offered.
    codes: BTreeMap<LanguageTag, usize>,
    /// Where each key was first used.
    keys: BTreeMap<Key, usize>,
    /// Each country code, with the language it leads to and where.
    countries: BTreeMap<String, (LanguageTag, usize)>,
}

impl LanguagesParser<'_, '_, '_> {
    fn languages(mut self, root: XmlNode<'_, '_>) -> Option<LanguageChoice> {
        const CTX: &str = "<languages>";
        if xml::name(root) != "languages" {
            self.collector.error(
                xml::start(root),
                format!("languages.xml must start with <languages>, not <{}>", xml::name(root)),
            );
            return None;
        }
        xml::check_attributes(self.collector, root, &["default", "timeout", "attempts"], CTX);
        let timeout = xml::number(self.collector, root, "timeout", 1..=60, Some(7), CTX);
        let attempts = xml::number(self.collector, root, "attempts", 1..=10, Some(3), CTX);

        let mut options = Vec::new();
        let mut all_read = true;
        let mut all_codes_read = true;
        for child in xml::children(self.collector, root, &["language"], CTX) {
            let (code, option) = self.language(child);
            all_codes_read &= code.is_some();
            match option {
                Some(option) => options.push(option),
                None => all_read = false,
            }
        }
        if options.is_empty() && all_read {
            self.collector.error(xml::start(root), format!("{CTX}: no <language> is offered"));
        }
        let default = self.default(root);
        // A code that could not be read may be the one a script file stands for: saying that
        // script is not offered would only repeat that error.
        if all_codes_read {
            for language in self.scripts.iter().filter(|l| !self.codes.contains_key(*l)) {
                self.collector.error(
                    xml::start(root),
                    format!(
                        "{CTX}: there is a script {language}.xml, but no <language \
                         code=\"{language}\"> offers it, so no caller could reach it; add one \
                         here, or remove {language}.xml"
                    ),
                );
            }
        }
        Some(LanguageChoice {
            options: Some(options).filter(|_| all_read)?,
            timeout: timeout?,
            attempts: attempts?,
            default: default?,
        })
    }

    /// The `default` attribute: a language the menu offers.
    fn default(&mut self, root: XmlNode<'_, '_>) -> Option<LanguageTag> {
        let attr = xml::required(self.collector, root, "default", "<languages>")?;
        let Some(language) = LanguageTag::parse(attr.value) else {
            self.collector.error(attr.offset, bad_code("<languages>", "default", attr.value));
            return None;
        };
        if !self.codes.contains_key(&language) {
            self.collector.error(
                attr.offset,
                format!(
                    "<languages>: default=\"{language}\" is not offered by any <language> below; \
                     the default must be one of them"
                ),
            );
            return None;
        }
        Some(language)
    }

    /// One `<language>`: its code (if readable) and the option (if entirely valid).
    fn language(
        &mut self,
        element: XmlNode<'_, '_>,
    ) -> (Option<LanguageTag>, Option<LanguageOption>) {
        let bare_ctx = "<language>";
        xml::check_attributes(self.collector, element, &["code", "key", "countries"], bare_ctx);
        let code = self.code(element);
        let ctx = match &code {
            Some(code) => format!("language \"{code}\""),
            None => bare_ctx.to_owned(),
        };
        let key = self.key(element, &ctx);
        let countries = self.countries(element, &ctx, code.as_ref());
        let audio = Audio { root: self.audio_root, language: code.clone() };
        let prompt = prompt::read(self.collector, element, &ctx, &audio, Placeholders::Forbidden);
        let option = match (&code, key, countries) {
            (Some(language), Some(key), Some(countries)) => {
                Some(LanguageOption { key, language: language.clone(), countries, prompt })
            }
            _ => None,
        };
        (code, option)
    }

    /// A language's `code`: offered once, and with a script file.
    fn code(&mut self, element: XmlNode<'_, '_>) -> Option<LanguageTag> {
        let attr = xml::required(self.collector, element, "code", "<language>")?;
        let Some(code) = LanguageTag::parse(attr.value) else {
            self.collector.error(attr.offset, bad_code("<language>", "code", attr.value));
            return None;
        };
        let ctx = format!("language \"{code}\"");
        if let Some(first) = self.codes.get(&code) {
            let line = self.collector.line_of(*first);
            self.collector.error(
                attr.offset,
                format!("{ctx}: this language is already offered at line {line}"),
            );
            // Still a readable code: the option is dropped, but no further errors follow.
            return Some(code);
        }
        self.codes.insert(code.clone(), xml::start(element));
        if !self.scripts.contains(&code) {
            self.collector.error(
                attr.offset,
                format!(
                    "{ctx}: there is no script for this language: create {code}.xml next to \
                     languages.xml, or remove this <language>"
                ),
            );
        }
        Some(code)
    }

    /// A language's `key`: a keypad key no other language uses, not 0 or `*`.
    fn key(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<Key> {
        let attr = xml::required(self.collector, element, "key", ctx)?;
        let problem = match Key::parse(attr.value.trim()) {
            None => format!(
                "{ctx}: key=\"{}\" is not a phone key: use one of 1 to 9, or #",
                xml::snippet(attr.value)
            ),
            Some(key @ (Key::OPERATOR | Key::BACK)) => format!(
                "{ctx}: key {key} is reserved (0 always reaches an operator, * goes back); \
                 choose another key"
            ),
            Some(key) => match self.keys.get(&key) {
                Some(first) => format!(
                    "{ctx}: key {key} is already used by another language at line {}",
                    self.collector.line_of(*first)
                ),
                None => {
                    self.keys.insert(key, xml::start(element));
                    return Some(key);
                }
            },
        };
        self.collector.error(attr.offset, problem);
        None
    }

    /// A language's `countries`: two-letter codes, each given to one language only.
    fn countries(
        &mut self,
        element: XmlNode<'_, '_>,
        ctx: &str,
        code: Option<&LanguageTag>,
    ) -> Option<Vec<String>> {
        let Some(attr) = xml::attribute(element, "countries") else {
            return Some(Vec::new());
        };
        let mut countries = Vec::new();
        let mut ok = true;
        for country in attr.value.split_ascii_whitespace() {
            let problem = if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase())
            {
                format!(
                    "{ctx}: country code \"{}\" is not two capital letters (like UA or KR)",
                    xml::snippet(country)
                )
            } else if let Some((language, first)) = self.countries.get(country) {
                let line = self.collector.line_of(*first);
                format!(
                    "{ctx}: country {country} is already given to language \"{language}\" at \
                     line {line}; callers from one country can go straight to one language only"
                )
            } else {
                if let Some(code) = code {
                    self.countries.insert(country.to_owned(), (code.clone(), attr.offset));
                }
                countries.push(country.to_owned());
                continue;
            };
            self.collector.error(attr.offset, problem);
            ok = false;
        }
        ok.then_some(countries)
    }
}

fn bad_code(ctx: &str, attr: &str, value: &str) -> String {
    format!(
        "{ctx}: {attr}=\"{}\" is not a language code: use two or three lowercase letters, like ru",
        xml::snippet(value)
    )
}
