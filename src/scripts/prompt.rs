//! Prompts: the `<say>`, `<play>` and `<pause>` elements wherever something is said, with
//! recordings looked up in the audio folder and their text kept as the fallback; and the
//! `<text>` a chat shows instead of what is said.

use std::path::Path;

use roxmltree::Node;

use super::diagnostics::{Collector, Diagnostic};
use super::model::{LanguageTag, Prompt, PromptItem};
use super::xml::{self, Attr};

/// The elements a prompt is made of.
pub(super) const ELEMENTS: [&str; 4] = ["say", "play", "pause", "text"];

/// The longest text a chat message may hold: Telegram refuses longer messages, and the other
/// text channels are no more generous.
pub(super) const MAX_READABLE_CHARS: usize = 4096;

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
    /// The `<text>` read, and where it starts (for the error about a second one).
    text: Option<(String, usize)>,
    /// A `<text>` was seen, valid or not.
    written: bool,
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
            "text" => {
                self.text(collector, element, ctx, placeholders);
                None
            }
            _ => pause(collector, element, ctx),
        };
        self.items.extend(item);
    }

    /// Reads a `<text>`: at most one per prompt.
    fn text(
        &mut self,
        collector: &mut Collector<'_>,
        element: Node<'_, '_>,
        ctx: &str,
        placeholders: Placeholders,
    ) {
        self.written = true;
        if let Some((_, first)) = &self.text {
            let line = collector.line_of(*first);
            collector.error(
                xml::start(element),
                format!(
                    "{ctx}: a second <text>; a prompt has only one <text> (the first is at line \
                     {line}): put both paragraphs in one, separated by an empty line"
                ),
            );
            return;
        }
        xml::check_attributes(collector, element, &[], ctx);
        let text = paragraphs(&raw_text(collector, element, ctx));
        if text.is_empty() {
            collector.error(
                xml::start(element),
                format!("{ctx}: a <text> is empty: write what a chat should show, or remove it"),
            );
            return;
        }
        if check_text(collector, element, ctx, &text, Some(placeholders), None) {
            self.text = Some((text, xml::start(element)));
        }
    }

    /// The prompt; an error at `at` if nothing in it is said, or if a chat could not show it.
    pub(super) fn finish(self, collector: &mut Collector<'_>, at: usize, ctx: &str) -> Prompt {
        if self.spoken == 0 && self.written {
            collector.error(
                at,
                format!(
                    "{ctx} has a <text> for chats but says nothing: callers on the phone would \
                     hear silence; add a <say> or a <play> too"
                ),
            );
        } else if self.spoken == 0 {
            collector.error(at, format!("{ctx} says nothing: add a <say> or a <play>"));
        }
        let prompt = Prompt { items: self.items, text: self.text.map(|(text, _)| text) };
        let chars = prompt.readable().chars().count();
        if chars > MAX_READABLE_CHARS {
            let what = if prompt.text.is_some() { "its <text>" } else { "what it says" };
            collector.error(
                at,
                format!(
                    "{ctx}: a chat shows {what}, which is {chars} characters long; a chat \
                     message holds at most {MAX_READABLE_CHARS}: shorten it, or write a shorter \
                     <text>"
                ),
            );
        }
        prompt
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
    check_text(collector, element, ctx, &text, Some(placeholders), Some(MAX_SAY_CHARS))
        .then_some(text)
}

fn play(
    collector: &mut Collector<'_>,
    element: Node<'_, '_>,
    ctx: &str,
    audio: &Audio<'_>,
) -> Option<PromptItem> {
    xml::check_attributes(collector, element, &["file", "url"], ctx);
    let text = Some(text_of(collector, element, ctx)).filter(|text| !text.is_empty());
    let text_ok = text
        .as_ref()
        .is_none_or(|t| check_text(collector, element, ctx, t, None, Some(MAX_SAY_CHARS)));
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

/// How the warning about a missing recording ends, after the recording's path.
const READ_INSTEAD: &str = " is missing; its text will be read by text-to-speech";

/// The language of the recording a warning says is missing (read from its path,
/// `audio/<language>/<file>`), or `None` for any other warning: how a start counts the
/// recordings still to make, per language.
pub(crate) fn missing_recording(diagnostic: &Diagnostic) -> Option<LanguageTag> {
    let (_, path) = diagnostic.message.strip_suffix(READ_INSTEAD)?.rsplit_once(": recording ")?;
    let mut parts = path.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("audio"), Some(language), Some(_file), None) => LanguageTag::parse(language),
        _ => None,
    }
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
            collector.warning(file.offset, format!("{ctx}: recording {shown}{READ_INSTEAD}"));
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
    xml::normalize(&raw_text(collector, element, ctx))
}

/// Text written for reading, with its paragraphs: each line trimmed of the XML file's
/// indentation and its runs of spaces, empty lines at either end dropped, and several empty
/// lines in a row kept as one (a paragraph break). A line break inside a paragraph is kept
/// too: a supervisor who broke a line meant it, as a chat shows it.
pub(super) fn paragraphs(text: &str) -> String {
    let mut out = String::new();
    let mut blank = false;
    for line in text.lines().map(xml::normalize) {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank { "\n\n" } else { "\n" });
        }
        blank = false;
        out.push_str(&line);
    }
    out
}

/// The text inside an element, as written; reports elements inside it.
pub(super) fn raw_text(collector: &mut Collector<'_>, element: Node<'_, '_>, ctx: &str) -> String {
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
    text
}

/// Checks the length (up to `limit` characters, when given) and placeholders of text to be
/// said or shown; `placeholders` is `None` for the text of a recording, which can never say a
/// changing value. False if anything is wrong.
fn check_text(
    collector: &mut Collector<'_>,
    element: Node<'_, '_>,
    ctx: &str,
    text: &str,
    placeholders: Option<Placeholders>,
    limit: Option<usize>,
) -> bool {
    let at = xml::start(element);
    let what = xml::name(element);
    let mut ok = true;
    let chars = text.chars().count();
    if let Some(limit) = limit.filter(|limit| chars > *limit) {
        collector.error(
            at,
            format!(
                "{ctx}: the text of a <{what}> is {chars} characters long; the limit is \
                 {limit}: split it in two"
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
    fn paragraphs_keep_line_breaks_but_not_the_layout() {
        let written = "\n    First line,\n    second  line.\n\n\n\n    Next\tparagraph.\n  ";
        assert_eq!(paragraphs(written), "First line,\nsecond line.\n\nNext paragraph.");
        assert_eq!(paragraphs(" \n\t\n "), "");
        assert_eq!(paragraphs("one"), "one");
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

#[cfg(test)]
mod missing_recording_tests {
    use std::path::PathBuf;

    use super::*;
    use crate::scripts::Severity;

    fn warning(message: &str) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("ivr-scripts/uk.xml"),
            line: 3,
            column: 5,
            severity: Severity::Warning,
            message: message.into(),
        }
    }

    #[test]
    fn the_warning_of_a_missing_recording_is_recognised_by_its_language() {
        let uk = LanguageTag::parse("uk");
        let said = format!("message \"welcome\": recording audio/uk/welcome.mp3{READ_INSTEAD}");
        assert_eq!(missing_recording(&warning(&said)), uk);
        let choice = format!("language \"uk\": recording audio/uk/choose.mp3{READ_INSTEAD}");
        assert_eq!(missing_recording(&warning(&choice)), uk);
        let huge = format!("x: recording audio/{}/a.mp3{READ_INSTEAD}", "u".repeat(100_000));
        for other in [
            "",
            "this file is ignored: a script's file name is its language code",
            "message \"welcome\": recording audio/uk/welcome.mp3 is missing, and the <play> has \
             no text to read instead",
            &format!("recording audio/uk/welcome.mp3{READ_INSTEAD}"),
            &format!("x: recording audio/UK/a.mp3{READ_INSTEAD}"),
            &format!("x: recording audio/uk/a/b.mp3{READ_INSTEAD}"),
            &format!("x: recording sounds/uk/a.mp3{READ_INSTEAD}"),
            &format!("x: recording audio/<script>/a.mp3{READ_INSTEAD}"),
            &huge,
        ] {
            assert_eq!(missing_recording(&warning(other)), None, "{other:.80}");
        }
    }
}
