//! Prompts: the `<say>`, `<play>` and `<pause>` elements wherever something is said, with
//! recordings looked up in the audio folder and their text kept as the fallback.

use std::path::Path;

use roxmltree::Node;

use super::diagnostics::Collector;
use super::model::{LanguageTag, Prompt, PromptItem};
use super::xml::{self, Attr};

/// The elements a prompt is made of.
pub(super) const ELEMENTS: [&str; 3] = ["say", "play", "pause"];

/// The longest text one `<say>` may hold: providers refuse longer text-to-speech requests, and
/// a caller stops listening long before.
const MAX_SAY_CHARS: usize = 3000;

/// The one placeholder the call engine fills in.
const POSITION: &str = "{position}";

/// The recent mean wait in whole minutes, in a `<wait>`.
const MINUTES: &str = "{minutes}";

/// Where the recordings of one language are, for resolving `<play file>`.
pub(super) struct Audio<'p> {
    /// The `audio` folder next to the scripts (`ivr-scripts/audio`).
    pub root: &'p Path,
    /// The language whose folder `file` names are looked up in; `None` when the language itself
    /// is broken (already reported), and recordings are not looked up.
    pub language: Option<LanguageTag>,
}

/// Whether `{position}` and `{minutes}` may appear in a `<say>`: only while the caller waits
/// in a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Placeholders {
    /// Outside a handoff's `<wait>`.
    Forbidden,
    /// Inside a handoff's `<wait>`.
    Wait,
}

/// Collects the items of one prompt, element by element.
#[derive(Default)]
pub(super) struct Builder {
    items: Vec<PromptItem>,
    /// `<say>` and `<play>` elements seen, valid or not: a prompt with none says nothing, but
    /// one whose only `<say>` was refused already has its error.
    spoken: usize,
}

impl Builder {
    /// Adds a `<say>`, `<play>` or `<pause>` element (one of [`ELEMENTS`]).
    pub(super) fn add(
        &mut self,
        collector: &mut Collector<'_>,
        element: Node<'_, '_>,
        ctx: &str,
        audio: &Audio<'_>,
        placeholders: Placeholders,
    ) {
        let item = match xml::name(element) {
            "say" => {
                self.spoken += 1;
                say(collector, element, ctx, placeholders).map(PromptItem::Say)
            }
            "play" => {
                self.spoken += 1;
                play(collector, element, ctx, audio)
            }
            _ => pause(collector, element, ctx),
        };
        self.items.extend(item);
    }

    /// The prompt; an error at `at` if nothing in it is said.
    pub(super) fn finish(self, collector: &mut Collector<'_>, at: usize, ctx: &str) -> Prompt {
        if self.spoken == 0 {
            collector.error(at, format!("{ctx} says nothing: add a <say> or a <play>"));
        }
        Prompt { items: self.items }
    }
}

/// A prompt that is all an element holds (`<apology>`, `<invalid>`, a `<language>`).
pub(super) fn read(
    collector: &mut Collector<'_>,
    element: Node<'_, '_>,
    ctx: &str,
    audio: &Audio<'_>,
    placeholders: Placeholders,
) -> Prompt {
    let mut builder = Builder::default();
    for child in xml::children(collector, element, &ELEMENTS, ctx) {
        builder.add(collector, child, ctx, audio, placeholders);
    }
    builder.finish(collector, xml::start(element), ctx)
}

fn say(
    collector: &mut Collector<'_>,
    element: Node<'_, '_>,
    ctx: &str,
    placeholders: Placeholders,
) -> Option<String> {
    xml::check_attributes(collector, element, &[], ctx);
    let text = text_of(collector, element, ctx);
    if text.is_empty() {
        collector.error(
            xml::start(element),
            format!("{ctx}: a <say> is empty: write what should be said, or remove it"),
        );
        return None;
    }
    check_text(collector, element, ctx, &text, Some(placeholders)).then_some(text)
}

fn play(
    collector: &mut Collector<'_>,
    element: Node<'_, '_>,
    ctx: &str,
    audio: &Audio<'_>,
) -> Option<PromptItem> {
    xml::check_attributes(collector, element, &["file", "url"], ctx);
    let text = Some(text_of(collector, element, ctx)).filter(|text| !text.is_empty());
    let text_ok = text.as_ref().is_none_or(|t| check_text(collector, element, ctx, t, None));
    let item = match (xml::attribute(element, "file"), xml::attribute(element, "url")) {
        (Some(_), Some(url)) => {
            collector.error(url.offset, format!("{ctx}: a <play> takes file or url, not both"));
            None
        }
        (None, None) => {
            let folder = audio.language.as_ref().map_or("<language>", |l| l.as_str());
            collector.error(
                xml::start(element),
                format!(
                    "{ctx}: a <play> needs file=\"…\" (a recording in audio/{folder}/) or \
                     url=\"https://…\""
                ),
            );
            None
        }
        (Some(file), None) => recording(collector, file, text, ctx, audio),
        (None, Some(url)) => remote(collector, url, text, ctx),
    };
    item.filter(|_| text_ok)
}

/// A `<play file>`: the recording if it is there, else its text read by text-to-speech.
fn recording(
    collector: &mut Collector<'_>,
    file: Attr<'_>,
    text: Option<String>,
    ctx: &str,
    audio: &Audio<'_>,
) -> Option<PromptItem> {
    let language = audio.language.as_ref();
    let folder = language.map_or("<language>", |l| l.as_str());
    if !is_plain_file_name(file.value) {
        collector.error(
            file.offset,
            format!(
                "{ctx}: file=\"{}\" is not a plain file name: use only letters, digits, ., - \
                 and _ (not starting with .), and put the file in audio/{folder}/",
                file.value
            ),
        );
        return None;
    }
    let language = language?;
    let shown = format!("audio/{language}/{}", file.value);
    if audio.root.join(language.as_str()).join(file.value).is_file() {
        return Some(PromptItem::Play { url: format!("/{shown}"), text });
    }
    match text {
        Some(text) => {
            collector.warning(
                file.offset,
                format!(
                    "{ctx}: recording {shown} is missing; its text will be read by text-to-speech"
                ),
            );
            Some(PromptItem::Say(text))
        }
        None => {
            collector.error(
                file.offset,
                format!(
                    "{ctx}: recording {shown} is missing, and the <play> has no text to read \
                     instead; add the file, or write its text inside the <play>"
                ),
            );
            None
        }
    }
}

/// A `<play url>`: a recording served elsewhere, over the web.
fn remote(
    collector: &mut Collector<'_>,
    url: Attr<'_>,
    text: Option<String>,
    ctx: &str,
) -> Option<PromptItem> {
    let value = url.value.trim();
    let lower = value.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let ok = rest.is_some_and(|rest| {
        !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if !ok {
        collector.error(
            url.offset,
            format!(
                "{ctx}: url=\"{}\" is not a web address: it must start with https:// (or \
                 http://) and contain no spaces",
                xml::snippet(url.value)
            ),
        );
        return None;
    }
    Some(PromptItem::Play { url: value.to_owned(), text })
}

fn pause(collector: &mut Collector<'_>, element: Node<'_, '_>, ctx: &str) -> Option<PromptItem> {
    xml::check_attributes(collector, element, &["seconds"], ctx);
    xml::children(collector, element, &[], ctx);
    xml::number(collector, element, "seconds", 1..=60, None, ctx).map(PromptItem::Pause)
}

/// The text inside a `<say>` or `<play>`, normalized; reports elements inside it.
fn text_of(collector: &mut Collector<'_>, element: Node<'_, '_>, ctx: &str) -> String {
    let mut text = String::new();
    for child in element.children() {
        if child.is_text() {
            text.push_str(child.text().unwrap_or(""));
        } else if child.is_element() {
            collector.error(
                xml::start(child),
                format!(
                    "{ctx}: a <{}> may contain only text, not <{}>",
                    xml::name(element),
                    xml::name(child)
                ),
            );
        }
    }
    xml::normalize(&text)
}

/// Checks the length and placeholders of text to be said; `placeholders` is `None` for the
/// text of a recording, which can never say a changing value. False if anything is wrong.
fn check_text(
    collector: &mut Collector<'_>,
    element: Node<'_, '_>,
    ctx: &str,
    text: &str,
    placeholders: Option<Placeholders>,
) -> bool {
    let at = xml::start(element);
    let what = xml::name(element);
    let mut ok = true;
    let chars = text.chars().count();
    if chars > MAX_SAY_CHARS {
        collector.error(
            at,
            format!(
                "{ctx}: the text of a <{what}> is {chars} characters long; the limit is \
                 {MAX_SAY_CHARS}: split it in two"
            ),
        );
        ok = false;
    }
    for found in placeholders_in(text) {
        let message = match (found, placeholders) {
            (POSITION | MINUTES, Some(Placeholders::Wait)) => continue,
            (_, None) => format!(
                "{ctx}: a recording cannot say {found}: put the part that changes in a <say>"
            ),
            (POSITION, Some(Placeholders::Forbidden)) => format!(
                "{ctx}: {POSITION} can only be used in a handoff's <wait>, where it is the \
                 caller's place in line"
            ),
            (MINUTES, Some(Placeholders::Forbidden)) => format!(
                "{ctx}: {MINUTES} can only be used in a handoff's <wait>, where it is the \
                 recent mean wait"
            ),
            _ => match xml::did_you_mean(found, [POSITION, MINUTES]) {
                Some(known) => format!(
                    "{ctx}: {found} is not a placeholder the hotline knows; did you mean {known}?"
                ),
                None => format!(
                    "{ctx}: {found} is not a placeholder the hotline knows; the only ones are \
                     {POSITION} and {MINUTES}, in a handoff's <wait>"
                ),
            },
        };
        collector.error(at, message);
        ok = false;
    }
    ok
}

/// Every `{…}` in a text, in order.
fn placeholders_in(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        let open = rest.find('{')?;
        let close = open + rest[open..].find('}')?;
        let found = &rest[open..=close];
        rest = &rest[close + 1..];
        Some(found)
    })
}

/// A file name that stays inside its language's audio folder: letters, digits, `.`, `-`, `_`,
/// not hidden, no `..`.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_in_order() {
        let found: Vec<&str> = placeholders_in("a {position} b {name} {").collect();
        assert_eq!(found, ["{position}", "{name}"]);
        assert_eq!(placeholders_in("no braces }{").count(), 0);
    }

    #[test]
    fn file_names_stay_in_their_folder() {
        for good in ["welcome.mp3", "no-input_2.wav", "A.B"] {
            assert!(is_plain_file_name(good), "{good}");
        }
        for bad in ["", ".hidden", "../x.mp3", "a/b.mp3", "a..mp3", "a b.mp3", "é.mp3", "a\\b"] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }
}
