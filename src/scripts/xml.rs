//! The XML layer every script file shares: reading a file safely (size, encoding), parsing it
//! with `roxmltree`, and checking elements and attributes against what the dialect allows,
//! with messages a supervisor can act on.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Read as _;
use std::ops::RangeInclusive;
use std::path::Path;

use roxmltree::{Document, Node};

use super::diagnostics::{Collector, Diagnostic};

/// The largest script file accepted. Real scripts are a few dozen kilobytes; the limit keeps a
/// wrong file (a recording saved as `.xml`, a log) from costing memory and time.
pub(crate) const MAX_FILE_BYTES: usize = 1024 * 1024;

/// Reads a script file: at most [`MAX_FILE_BYTES`] of UTF-8 text.
pub(super) fn read_file(path: &Path) -> Result<String, Diagnostic> {
    let cannot_read =
        |e: std::io::Error| Diagnostic::file_error(path, format!("the file cannot be read: {e}"));
    let file = File::open(path).map_err(cannot_read)?;
    let mut bytes = Vec::new();
    // One byte past the limit is enough to know the file is too big, without reading it all.
    let limit = u64::try_from(MAX_FILE_BYTES + 1).unwrap_or(u64::MAX);
    file.take(limit).read_to_end(&mut bytes).map_err(cannot_read)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_big(path));
    }
    String::from_utf8(bytes).map_err(|e| {
        // Point at the first bad byte, so the supervisor can find what their editor mangled.
        let valid = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Diagnostic {
            file: path.to_owned(),
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: u32::try_from(column).unwrap_or(u32::MAX),
            severity: super::Severity::Error,
            message: "the file is not UTF-8 text: save it with the UTF-8 encoding".to_owned(),
        }
    })
}

fn too_big(path: &Path) -> Diagnostic {
    Diagnostic::file_error(
        path,
        format!(
            "the file is larger than {} MiB, far more than any script needs; is it the right file?",
            MAX_FILE_BYTES / (1024 * 1024)
        ),
    )
}

/// Drops a byte-order mark: some editors on Windows write one, and it is invisible to the
/// supervisor, so columns on the first line should not count it.
pub(super) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Parses the text of a file as XML; `None` (with the reason recorded) if it is not usable.
///
/// Document type declarations are refused (roxmltree's default): scripts never need one, and
/// refusing them rules out entity expansion bombs and external entities at once.
pub(super) fn parse<'t>(collector: &mut Collector<'t>, text: &'t str) -> Option<Document<'t>> {
    if text.len() > MAX_FILE_BYTES {
        let diagnostic = too_big(collector.file());
        collector.error_at(0, 0, diagnostic.message);
        return None;
    }
    if let Some(offset) = too_deep(text) {
        collector.error(
            offset,
            format!(
                "elements are nested more than {MAX_DEPTH} deep here; a script needs only a few \
                 levels (script, menu, invalid, say)"
            ),
        );
        return None;
    }
    match Document::parse(text) {
        Ok(doc) => Some(doc),
        Err(e) => {
            report_xml_error(collector, text, &e);
            None
        }
    }
}

/// The deepest nesting of elements accepted. Scripts use four levels; the parser (roxmltree
/// 0.20) recurses once per level, so without a bound a file of nested tags could exhaust the
/// stack of the thread that loads it.
const MAX_DEPTH: usize = 32;

/// Where elements first nest deeper than [`MAX_DEPTH`], if they do.
///
/// A light scan that follows the XML grammar as far as nesting goes: comments, CDATA sections,
/// processing instructions and quoted attribute values are skipped, so markup inside them does
/// not count. Wherever the text is malformed the parser stops with an error at that point,
/// without nesting deeper than this scan counted.
fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let find = |from: usize, needle: &[u8]| {
        bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| from + p)
    };
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(open) = find(i, b"<") {
        let rest = &bytes[open..];
        let skip_to = |end: &[u8]| find(open, end).map(|p| p + end.len());
        let next = if rest.starts_with(b"<!--") {
            skip_to(b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(b"]]>")
        } else if rest.starts_with(b"<?") {
            skip_to(b"?>")
        } else if rest.starts_with(b"<!") {
            // A DTD: refused by the parser before any element is read.
            None
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_to(b">")
        } else {
            depth += 1;
            if depth > MAX_DEPTH {
                return Some(open);
            }
            let end = tag_end(bytes, open + 1);
            if end.is_some_and(|end| end >= 2 && bytes[end - 2] == b'/') {
                depth -= 1;
            }
            end
        };
        i = next?;
    }
    None
}

/// The offset just past the `>` ending the start tag whose name begins at `from`, skipping
/// quoted attribute values (which may contain `>`).
fn tag_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return Some(i + 1),
            (None, _) => {}
        }
    }
    None
}

/// Says what is wrong with malformed XML in plain words, where the parser stopped.
fn report_xml_error(collector: &mut Collector<'_>, text: &str, e: &roxmltree::Error) {
    use roxmltree::Error as E;
    const PREFIX: &str = "the file is not well-formed XML: ";
    let at_end = |collector: &mut Collector<'_>, message: &str| {
        collector.error(text.len(), format!("{PREFIX}{message}"));
    };
    let message = match e {
        E::DtdDetected => {
            let offset = text.find("<!DOCTYPE").unwrap_or(0);
            collector.error(
                offset,
                "scripts may not have a <!DOCTYPE> declaration (it can define entities that \
                 expand without end or read other files); remove it",
            );
            return;
        }
        E::UnclosedRootNode => {
            return at_end(collector, "the file ends before its main element is closed");
        }
        E::UnexpectedEndOfStream => {
            return at_end(collector, "the file ends in the middle of an element or comment");
        }
        E::UnexpectedCloseTag(expected, actual, _) => format!(
            "</{actual}> cannot close <{expected}>: an element above is not closed, or elements \
             are closed in the wrong order"
        ),
        E::UnknownEntityReference(name, _) => {
            format!("&{name}; is not a known entity: write & as &amp; and < as &lt; in text")
        }
        E::MalformedEntityReference(_) => {
            "a & that does not start an entity: write & as &amp; in text".to_owned()
        }
        E::InvalidAttributeValue(_) => "an attribute value contains <: write it as &lt;".to_owned(),
        E::DuplicatedAttribute(name, _) => {
            format!("the attribute \"{name}\" is written twice on one element")
        }
        E::NoRootNode => {
            return at_end(
                collector,
                "the file has no complete element: is it empty, or cut short?",
            );
        }
        E::UnknownToken(_) => "unexpected content here: everything must be inside the file's one \
                               main element, and <! only starts a comment or CDATA"
            .to_owned(),
        E::UnexpectedDeclaration(_) => {
            "<?xml …?> may only be the very first thing in the file".to_owned()
        }
        E::NonXmlChar(c, _) => format!(
            "the character U+{:04X} is not allowed in XML (the file may be damaged)",
            u32::from(*c)
        ),
        E::InvalidComment(_) => "a comment <!-- … --> contains --".to_owned(),
        E::NodesLimitReached | E::AttributesLimitReached | E::NamespacesLimitReached => {
            "the file has far too many elements".to_owned()
        }
        other => {
            // roxmltree's own words, without its " at line:column" (the diagnostic has it).
            let text = other.to_string();
            let position = format!(" at {}", other.pos());
            text.strip_suffix(&position).unwrap_or(&text).to_owned()
        }
    };
    let pos = e.pos();
    collector.error_at(pos.row, pos.col, format!("{PREFIX}{message}"));
}

/// Where an element starts (its `<`), as a byte offset.
pub(super) fn start(node: Node<'_, '_>) -> usize {
    node.range().start
}

/// The element's name.
pub(super) fn name<'a>(node: Node<'a, '_>) -> &'a str {
    node.tag_name().name()
}

/// An attribute's value and where it starts.
#[derive(Debug, Clone, Copy)]
pub(super) struct Attr<'a> {
    /// The value, with entities resolved.
    pub value: &'a str,
    /// Byte offset of the attribute's name.
    pub offset: usize,
}

/// The attribute called `attr`, if present.
pub(super) fn attribute<'a>(node: Node<'a, '_>, attr: &str) -> Option<Attr<'a>> {
    node.attribute_node(attr).map(|a| Attr { value: a.value(), offset: a.range().start })
}

/// The attribute called `attr`, or an error saying it is missing.
pub(super) fn required<'a>(
    collector: &mut Collector<'_>,
    node: Node<'a, '_>,
    attr: &str,
    ctx: &str,
) -> Option<Attr<'a>> {
    let found = attribute(node, attr);
    if found.is_none() {
        collector
            .error(start(node), format!("{ctx}: <{}> needs a {attr}=\"…\" attribute", name(node)));
    }
    found
}

/// Reports every attribute of `node` that is not in `allowed`.
pub(super) fn check_attributes(
    collector: &mut Collector<'_>,
    node: Node<'_, '_>,
    allowed: &[&str],
    ctx: &str,
) {
    for attr in node.attributes() {
        if attr.namespace().is_none() && allowed.contains(&attr.name()) {
            continue;
        }
        let mut message =
            format!("{ctx}: <{}> has no attribute called \"{}\"", name(node), attr.name());
        match did_you_mean(attr.name(), allowed.iter().copied()) {
            Some(close) => {
                let _ = write!(message, "; did you mean \"{close}\"?");
            }
            None if allowed.is_empty() => message.push_str("; it takes no attributes"),
            None => {
                let _ = write!(message, " (it accepts: {})", allowed.join(", "));
            }
        }
        collector.error(attr.range().start, message);
    }
}

/// A whole number attribute within `range`: `default` when absent (or an error when there is
/// no default), `None` after reporting a value that is not a number or out of range.
pub(super) fn number(
    collector: &mut Collector<'_>,
    node: Node<'_, '_>,
    attr: &str,
    range: RangeInclusive<u32>,
    default: Option<u32>,
    ctx: &str,
) -> Option<u32> {
    let found = match (attribute(node, attr), default) {
        (Some(found), _) => found,
        (None, Some(default)) => return Some(default),
        (None, None) => {
            required(collector, node, attr, ctx);
            return None;
        }
    };
    let trimmed = found.value.trim();
    let (min, max) = (range.start(), range.end());
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        collector.error(
            found.offset,
            format!("{ctx}: {attr}=\"{}\" is not a whole number ({min} to {max})", found.value),
        );
        return None;
    }
    // All digits, so the only way to fail is being too large for u32: out of range anyway.
    match trimmed.parse::<u32>() {
        Ok(n) if range.contains(&n) => Some(n),
        _ => {
            collector.error(
                found.offset,
                format!("{ctx}: {attr}=\"{trimmed}\" is out of range: use {min} to {max}"),
            );
            None
        }
    }
}

/// The element children of `node` whose names are in `allowed`, in document order. Reports any
/// other element, and any text outside them: text there would silently never be said.
pub(super) fn children<'a, 'input>(
    collector: &mut Collector<'_>,
    node: Node<'a, 'input>,
    allowed: &[&str],
    ctx: &str,
) -> Vec<Node<'a, 'input>> {
    let mut found = Vec::new();
    for child in node.children() {
        if child.is_element() {
            if allowed.contains(&name(child)) {
                found.push(child);
            } else {
                unknown_element(collector, child, allowed, ctx);
            }
        } else if child.is_text() {
            let text = child.text().unwrap_or("");
            if !text.trim().is_empty() {
                let offset = start(child) + (text.len() - text.trim_start().len());
                let snippet = snippet(text);
                let message = if allowed.contains(&"say") {
                    format!(
                        "{ctx}: the text \"{snippet}\" is outside any <say> or <play>, so it \
                         would never be said; put it inside a <say>"
                    )
                } else if allowed.is_empty() {
                    format!("{ctx}: <{}> cannot contain text (\"{snippet}\")", name(node))
                } else {
                    format!("{ctx}: the text \"{snippet}\" does not belong here")
                };
                collector.error(offset, message);
            }
        }
        // Comments and processing instructions are the supervisor's notes: ignored.
    }
    found
}

/// Reports an element the dialect does not allow at this place, suggesting the closest name.
fn unknown_element(
    collector: &mut Collector<'_>,
    child: Node<'_, '_>,
    allowed: &[&str],
    ctx: &str,
) {
    let child_name = name(child);
    let mut message = format!("{ctx}: <{child_name}> is not allowed here");
    if let Some(close) = did_you_mean(child_name, allowed.iter().copied()) {
        let _ = write!(message, "; did you mean <{close}>?");
    } else if allowed.is_empty() {
        message.push_str("; this element cannot contain others");
    } else {
        let list: Vec<String> = allowed.iter().map(|a| format!("<{a}>")).collect();
        let _ = write!(message, " (allowed here: {})", list.join(", "));
    }
    collector.error(start(child), message);
}

/// Text as it is said: trimmed, with runs of whitespace (line breaks and indentation of the
/// XML file) turned into single spaces. Only XML whitespace counts, so a deliberate no-break
/// space survives.
pub(super) fn normalize(text: &str) -> String {
    text.split([' ', '\t', '\r', '\n'])
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The start of a text, short enough to quote in a message.
pub(super) fn snippet(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    let text = normalize(text);
    if text.chars().count() <= MAX_CHARS {
        text
    } else {
        let mut short: String = text.chars().take(MAX_CHARS).collect();
        short.push('…');
        short
    }
}

/// The candidate closest to `word` if it is a likely typo (at most 2 edits away).
pub(super) fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    const MAX_EDITS: usize = 2;
    let word: Vec<char> = word.chars().collect();
    candidates
        .into_iter()
        .filter_map(|candidate| {
            let candidate_chars: Vec<char> = candidate.chars().collect();
            // Lengths further apart than the bound cannot be within it: skip the work.
            if candidate_chars.len().abs_diff(word.len()) > MAX_EDITS {
                return None;
            }
            let distance = edit_distance(&word, &candidate_chars);
            (distance <= MAX_EDITS && distance > 0).then_some((distance, candidate))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance: insertions, deletions and substitutions.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_depth_is_counted_like_the_parser_does() {
        let nested = |n: usize| format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
        assert_eq!(too_deep(&nested(MAX_DEPTH)), None);
        assert_eq!(too_deep(&nested(MAX_DEPTH + 1)), Some(3 * MAX_DEPTH));
        // Siblings, empty elements and markup in comments, CDATA and attributes do not nest.
        let flat = "<a x='>' y=\"/>\"><b/><!-- <c> --><![CDATA[<d>]]><?pi <e>?></a>".repeat(100);
        assert_eq!(too_deep(&format!("<r>{flat}</r>")), None);
        assert_eq!(too_deep("<a><!-- unclosed"), None);
    }

    #[test]
    fn whitespace_of_the_xml_layout_collapses() {
        assert_eq!(normalize("\n   Hello,\r\n\t  world.  "), "Hello, world.");
        assert_eq!(normalize("a\u{a0}b"), "a\u{a0}b");
        assert_eq!(normalize(" \n "), "");
    }

    #[test]
    fn typos_find_their_word() {
        let ids = ["surrender", "main", "operator"];
        assert_eq!(did_you_mean("surender", ids), Some("surrender"));
        assert_eq!(did_you_mean("mian", ids), Some("main"));
        assert_eq!(did_you_mean("goodbye", ids), None);
        assert_eq!(did_you_mean("main", ids), None);
    }

    #[test]
    fn snippets_are_short() {
        assert_eq!(snippet("short"), "short");
        assert_eq!(snippet(&"я".repeat(100)).chars().count(), 41);
    }

    #[test]
    fn files_that_are_not_utf8_are_refused_with_a_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ru.xml");
        std::fs::write(&path, b"<script>\n  <say>caf\xe9</say>").unwrap();
        let diagnostic = read_file(&path).unwrap_err();
        assert!(diagnostic.message.contains("not UTF-8"), "{diagnostic}");
        assert_eq!((diagnostic.line, diagnostic.column), (2, 11));
    }

    #[test]
    fn files_over_the_limit_are_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ru.xml");
        std::fs::write(&path, vec![b' '; MAX_FILE_BYTES + 1]).unwrap();
        let diagnostic = read_file(&path).unwrap_err();
        assert!(diagnostic.message.contains("larger than 1 MiB"), "{diagnostic}");
        let missing = read_file(&dir.path().join("en.xml")).unwrap_err();
        assert!(missing.message.contains("cannot be read"), "{missing}");
    }
}
