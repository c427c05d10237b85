//! A language's menu flow as a diagram: SVG for people (laid out in layers by `layout.rs`,
//! so that no line runs through a box and no label covers another), DOT for Graphviz and
//! Mermaid for documents and the console.
//!
//! Nodes are labelled with their id and the first words of their prompt; edges with the key
//! that takes the caller along them (`timeout` for a menu's default, `*` for back, nothing
//! for a message's next). Every text in the SVG is a supervisor's, escaped; the SVG holds no
//! script, link or style that a text could reach.

mod layout;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use self::layout::{Edge, Graph, Rect};
use super::{NodeId, NodeKind, Script, Target};

/// Font size of the boxes' text, in pixels.
const FONT: f64 = 11.0;
/// Font size of the edges' labels.
const LABEL_FONT: f64 = 10.0;
/// Height of a node's box: its id and a line of its prompt.
const BOX_HEIGHT: f64 = 44.0;
/// The narrowest box.
const BOX_MIN_WIDTH: f64 = 110.0;
/// Room between a box's side and its text.
const BOX_PAD: f64 = 10.0;
/// Height of an edge's label.
const LABEL_HEIGHT: f64 = 15.0;

/// The id given to the language choice, where `@language` options lead.
const LANGUAGE_CHOICE: &str = "@language";

/// The formats a diagram is drawn in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A picture, for a browser.
    Svg,
    /// Graphviz's language.
    Dot,
    /// A Mermaid flowchart.
    Mermaid,
}

impl Format {
    /// Parses `svg`, `dot` or `mermaid`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "svg" => Some(Format::Svg),
            "dot" => Some(Format::Dot),
            "mermaid" => Some(Format::Mermaid),
            _ => None,
        }
    }

    /// The media type of a diagram in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Svg => "image/svg+xml",
            Format::Dot | Format::Mermaid => "text/plain; charset=utf-8",
        }
    }
}

/// Draws a script in a format.
pub fn render(script: &Script, format: Format) -> String {
    let flow = Flow::of(script);
    match format {
        Format::Svg => flow.svg(script),
        Format::Dot => flow.dot(script),
        Format::Mermaid => flow.mermaid(),
    }
}

/// The nodes with their labels, and the edges.
struct Flow {
    /// Node id → label, in id order; includes the language choice if an option leads there.
    nodes: BTreeMap<String, String>,
    /// (from, to, key).
    edges: Vec<(String, String, String)>,
}

impl Flow {
    fn of(script: &Script) -> Flow {
        let mut nodes = BTreeMap::new();
        let mut edges = Vec::new();
        let mut edge = |from: &NodeId, to: &NodeId, key: &str| {
            edges.push((from.to_string(), to.to_string(), key.to_owned()));
        };
        let mut to_choice = Vec::new();
        for (id, node) in &script.nodes {
            nodes.insert(id.to_string(), first_words(&node.prompt.summary(), 6));
            match &node.kind {
                NodeKind::Message { next }
                | NodeKind::Voicemail { next, .. }
                | NodeKind::Ask { next, .. } => edge(id, next, ""),
                NodeKind::Menu { options, default, back, .. } => {
                    for option in options {
                        match &option.goto {
                            Target::Node(to) => edge(id, to, &option.key.to_string()),
                            Target::LanguageChoice => to_choice.push((id, option.key)),
                        }
                    }
                    edge(id, default, "timeout");
                    if let Some(back) = back {
                        edge(id, back, "*");
                    }
                }
                NodeKind::Handoff { otherwise, wait_keys, .. } => {
                    edge(id, otherwise, "otherwise");
                    for wait_key in wait_keys {
                        edge(id, &wait_key.goto, &format!("{} (waiting)", wait_key.key));
                    }
                }
                NodeKind::Callback { next, otherwise, .. } => {
                    edge(id, next, "confirmed");
                    edge(id, otherwise, "no number");
                }
                NodeKind::Hangup => {}
            }
        }
        if !to_choice.is_empty() {
            nodes.insert(LANGUAGE_CHOICE.into(), "choose a language".into());
            for (from, key) in to_choice {
                edges.push((from.to_string(), LANGUAGE_CHOICE.into(), key.to_string()));
            }
        }
        Flow { nodes, edges }
    }

    fn svg(&self, script: &Script) -> String {
        let ids: Vec<&String> = self.nodes.keys().collect();
        let index: BTreeMap<&str, usize> =
            ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let texts: Vec<(&str, String)> =
            self.nodes.iter().map(|(id, label)| (id.as_str(), first_words(label, 5))).collect();
        let sizes = texts
            .iter()
            .map(|(id, line)| {
                let text = text_width(id, FONT, true).max(text_width(line, FONT, false));
                ((text + 2.0 * BOX_PAD).max(BOX_MIN_WIDTH).ceil(), BOX_HEIGHT)
            })
            .collect();
        let mut keys = Vec::new();
        let mut edges = Vec::new();
        for (from, to, key) in &self.edges {
            let (Some(&from), Some(&to)) = (index.get(from.as_str()), index.get(to.as_str()))
            else {
                continue;
            };
            let label = (!key.is_empty())
                .then(|| ((text_width(key, LABEL_FONT, false) + 6.0).ceil(), LABEL_HEIGHT));
            keys.push(key.as_str());
            edges.push(Edge { from, to, label });
        }
        let start = index.get(script.start.as_str()).copied().unwrap_or(0);
        let drawn = layout::layout(&Graph { sizes, edges, start });
        let (width, height) = (drawn.width.ceil(), drawn.height.ceil());
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{FONT}">"##
        );
        let _ = writeln!(
            svg,
            r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>"##
        );
        let _ = writeln!(
            svg,
            "<title>{}</title>",
            escape(&format!("{} ({})", script.name, script.language))
        );
        for (route, key) in drawn.edges.iter().zip(&keys) {
            let points: Vec<String> =
                route.points.iter().map(|(x, y)| format!("{},{}", round(*x), round(*y))).collect();
            let _ = writeln!(
                svg,
                r##"<polyline class="edge" points="{}" fill="none" stroke="#555" marker-end="url(#arrow)"/>"##,
                points.join(" ")
            );
            if let Some(Rect { x, y, w, h }) = route.label {
                let _ = writeln!(
                    svg,
                    r##"<g><rect class="label" x="{}" y="{}" width="{}" height="{}" fill="#fff"/><text x="{}" y="{}" font-size="{LABEL_FONT}" fill="#a33">{}</text></g>"##,
                    round(x),
                    round(y),
                    round(w),
                    round(h),
                    round(x + 3.0),
                    round(y + h - 4.0),
                    escape(key)
                );
            }
        }
        for ((id, line), rect) in texts.iter().zip(&drawn.nodes) {
            let fill = if *id == script.start.as_str() { "#e6f0ff" } else { "#f7f7f7" };
            let Rect { x, y, w, h } = *rect;
            let _ = writeln!(
                svg,
                r##"<g><rect class="node" x="{}" y="{}" width="{}" height="{}" rx="6" fill="{fill}" stroke="#333"/><text x="{}" y="{}" font-weight="bold">{}</text><text x="{}" y="{}">{}</text></g>"##,
                round(x),
                round(y),
                round(w),
                round(h),
                round(x + BOX_PAD),
                round(y + 17.0),
                escape(id),
                round(x + BOX_PAD),
                round(y + 34.0),
                escape(line)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }

    fn dot(&self, script: &Script) -> String {
        let mut dot = String::new();
        let _ = writeln!(dot, "digraph \"{}\" {{", dot_escape(script.language.as_str()));
        let _ = writeln!(dot, "  rankdir=TB;\n  node [shape=box, style=rounded];");
        for (node, label) in &self.nodes {
            let _ = writeln!(
                dot,
                "  \"{}\" [label=\"{}\\n{}\"];",
                dot_escape(node),
                dot_escape(node),
                dot_escape(label)
            );
        }
        for (from, to, key) in &self.edges {
            let _ = writeln!(
                dot,
                "  \"{}\" -> \"{}\" [label=\"{}\"];",
                dot_escape(from),
                dot_escape(to),
                dot_escape(key)
            );
        }
        dot.push_str("}\n");
        dot
    }

    fn mermaid(&self) -> String {
        // Mermaid ids are kept to n0, n1, …: node ids may hold characters Mermaid reads as
        // syntax, and `@language` does.
        let ids: BTreeMap<&str, String> = self
            .nodes
            .keys()
            .enumerate()
            .map(|(i, node)| (node.as_str(), format!("n{i}")))
            .collect();
        let mut out = String::from("flowchart TD\n");
        for (node, label) in &self.nodes {
            let _ = writeln!(
                out,
                "  {}[\"{}: {}\"]",
                ids[node.as_str()],
                mermaid_escape(node),
                mermaid_escape(label)
            );
        }
        for (from, to, key) in &self.edges {
            let (Some(from), Some(to)) = (ids.get(from.as_str()), ids.get(to.as_str())) else {
                continue;
            };
            if key.is_empty() {
                let _ = writeln!(out, "  {from} --> {to}");
            } else {
                let _ = writeln!(out, "  {from} -->|\"{}\"| {to}", mermaid_escape(key));
            }
        }
        out
    }
}

/// The first `n` words of a text, with `…` if there were more.
fn first_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = words.iter().take(n).copied().collect::<Vec<_>>().join(" ");
    if out.chars().count() > 40 {
        out = out.chars().take(39).collect();
        out.push('…');
    } else if words.len() > n {
        out.push('…');
    }
    out
}

/// A coordinate as written: to a tenth of a pixel.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// How wide `text` is drawn in a sans-serif font of `size` pixels, erring wide: Latin and
/// Cyrillic letters about 0.6 of the size (bold 0.66), Hangul and CJK a full size.
fn text_width(text: &str, size: f64, bold: bool) -> f64 {
    let narrow = if bold { 0.66 } else { 0.6 };
    text.chars()
        .map(|c| {
            let wide = matches!(u32::from(c), 0x1100..=0x11FF | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFF00..=0xFF60);
            if wide {
                size
            } else if c.is_ascii() {
                size * narrow
            } else {
                size * (narrow + 0.08)
            }
        })
        .sum()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', " ")
}

/// Text for inside a Mermaid label's quotes. Mermaid renders labels as HTML and reads `"`,
/// `#`, `%%`, brackets and arrows as its own syntax, so everything but letters, digits,
/// spaces and a few plain marks becomes an entity code (`#60;`), which Mermaid shows as the
/// character itself: a prompt's text can neither break out of its node nor inject markup.
fn mermaid_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            c if c.is_alphanumeric() => out.push(c),
            ' ' | '-' | '_' | '.' | ',' | ':' | '?' | '!' | '\'' => out.push(c),
            c if c.is_whitespace() => out.push(' '),
            c => {
                let _ = write!(out, "#{};", u32::from(c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::scripts::{LanguageTag, Prompt, PromptItem};

    /// A shipped script whose start node says `text`.
    fn script_saying(text: &str) -> Script {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let set = crate::scripts::load_dir(&dir).expect("the shipped scripts load").set;
        let language = LanguageTag::parse("en").expect("a language tag");
        let mut script = set.script(&language).expect("an English script").clone();
        let start = script.start.clone();
        let node = script.nodes.get_mut(&start).expect("the start node");
        node.prompt = Prompt { items: vec![PromptItem::Say(text.into())], text: None };
        script
    }

    #[test]
    fn hostile_prompt_text_leaves_no_markup_in_mermaid() {
        let hostile = [
            "\"]; n0 --> n1; click n0 call alert(1) %%",
            "<img src=x onerror=alert(1)>",
            "a]] --> evil[(\"x\")",
            "%%{init: {'securityLevel': 'loose'}}%%",
            "line one\nflowchart LR\n  x-->y",
            "`**markdown**` #quot; &amp; |pipe| {braces}",
        ];
        for text in hostile {
            let mermaid = render(&script_saying(text), Format::Mermaid);
            let mut lines = mermaid.lines();
            assert_eq!(lines.next(), Some("flowchart TD"), "{text:?}");
            for line in lines {
                // Every line is a node `  nK["…"]` or an edge `  nA --> nB` / `  nA -->|"…"| nB`,
                // and nothing inside the quotes is Mermaid or HTML syntax.
                let body = line.strip_prefix("  ").unwrap_or_else(|| panic!("{text:?}: {line}"));
                let label = if let Some((id, label)) = body.split_once("[\"") {
                    assert!(is_id(id), "{text:?}: {line}");
                    label.strip_suffix("\"]").unwrap_or_else(|| panic!("{text:?}: {line}"))
                } else {
                    let (from, rest) = body.split_once(' ').unwrap_or_else(|| panic!("{line}"));
                    let (arrow, to) = rest.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
                    assert!(is_id(from) && is_id(to), "{text:?}: {line}");
                    if arrow == "-->" {
                        ""
                    } else {
                        let key = arrow.strip_prefix("-->|\"").and_then(|k| k.strip_suffix("\"|"));
                        key.unwrap_or_else(|| panic!("{text:?}: {line}"))
                    }
                };
                for forbidden in ["\"", "<", ">", "[", "]", "|", "%", "`", "{", "}", "&", "\n"] {
                    assert!(!label.contains(forbidden), "{text:?}: {forbidden:?} in {line}");
                }
            }
        }
        let mermaid = render(&script_saying(hostile[1]), Format::Mermaid);
        assert!(mermaid.contains("#60;img src#61;x"), "the text is still shown: {mermaid}");
    }

    /// A box of the drawing: left, top, right, bottom.
    type Box = (f64, f64, f64, f64);

    fn number(node: roxmltree::Node<'_, '_>, name: &str) -> f64 {
        node.attribute(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{name}"))
    }

    /// Whether the segment from `a` to `b` passes through the inside of `r` (its border
    /// shrunk by half a pixel, the rounding of the coordinates): Liang and Barsky's clipping.
    fn crosses((a, b): ((f64, f64), (f64, f64)), r: Box) -> bool {
        let (left, top, right, bottom) = (r.0 + 0.5, r.1 + 0.5, r.2 - 0.5, r.3 - 0.5);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [(-dx, a.0 - left), (dx, right - a.0), (-dy, a.1 - top), (dy, bottom - a.1)] {
            if p == 0.0 {
                if q < 0.0 {
                    return false;
                }
            } else if p < 0.0 {
                t0 = t0.max(q / p);
            } else {
                t1 = t1.min(q / p);
            }
        }
        t0 < t1
    }

    fn on_border(r: Box, (x, y): (f64, f64)) -> bool {
        let near = |a: f64, b: f64| (a - b).abs() <= 0.6;
        let within = |v: f64, lo: f64, hi: f64| v >= lo - 0.6 && v <= hi + 0.6;
        ((near(y, r.1) || near(y, r.3)) && within(x, r.0, r.2))
            || ((near(x, r.0) || near(x, r.2)) && within(y, r.1, r.3))
    }

    /// Checks a drawing the way a reader would: every box inside the picture and clear of
    /// every other, no line through a box, every text inside a box and not wider than it,
    /// every node and edge drawn, each edge from one node's border to another's.
    fn assert_readable(script: &Script, what: &str) {
        let svg = render(script, Format::Svg);
        let document = roxmltree::Document::parse(&svg).expect("the SVG is XML");
        let root = document.root_element();
        let (width, height) = (number(root, "width"), number(root, "height"));
        let mut boxes: Vec<(Box, Option<&str>)> = Vec::new();
        let mut segments = Vec::new();
        let mut edges = 0;
        let mut edge_ends = Vec::new();
        for node in document.descendants() {
            match node.tag_name().name() {
                "rect" => {
                    let (x, y) = (number(node, "x"), number(node, "y"));
                    let r = (x, y, x + number(node, "width"), y + number(node, "height"));
                    boxes.push((r, node.attribute("class")));
                }
                "line" => segments.push((
                    (number(node, "x1"), number(node, "y1")),
                    (number(node, "x2"), number(node, "y2")),
                )),
                "polyline" => {
                    let points: Vec<(f64, f64)> = node
                        .attribute("points")
                        .unwrap_or_default()
                        .split_whitespace()
                        .filter_map(|p| p.split_once(','))
                        .map(|(x, y)| (x.parse().unwrap(), y.parse().unwrap()))
                        .collect();
                    assert!(points.len() >= 2, "{what}: an edge of one point");
                    segments.extend(points.windows(2).map(|w| (w[0], w[1])));
                    edges += 1;
                    edge_ends.push((points[0], points[points.len() - 1]));
                }
                "script" | "foreignObject" | "a" | "style" | "image" => {
                    panic!("{what}: a <{}> in the diagram", node.tag_name().name())
                }
                _ => {}
            }
        }
        for (i, (a, _)) in boxes.iter().enumerate() {
            assert!(
                a.0 >= 0.0 && a.1 >= 0.0 && a.2 <= width && a.3 <= height,
                "{what}: {a:?} outside"
            );
            for (b, _) in &boxes[i + 1..] {
                let overlap =
                    a.0 < b.2 - 0.5 && b.0 < a.2 - 0.5 && a.1 < b.3 - 0.5 && b.1 < a.3 - 0.5;
                assert!(!overlap, "{what}: boxes {a:?} and {b:?} overlap");
            }
        }
        for segment in &segments {
            for (r, class) in &boxes {
                assert!(!crosses(*segment, *r), "{what}: {segment:?} runs through {class:?} {r:?}");
            }
        }
        for text in document.descendants().filter(|n| n.has_tag_name("text")) {
            let (x, y) = (number(text, "x"), number(text, "y"));
            let size = text.attribute("font-size").map_or(FONT, |s| s.parse().unwrap());
            let bold = text.attribute("font-weight") == Some("bold");
            let right = x + text_width(text.text().unwrap_or_default(), size, bold);
            let inside =
                boxes.iter().any(|(r, _)| x >= r.0 && right <= r.2 + 0.5 && y > r.1 && y <= r.3);
            assert!(inside, "{what}: {:?} at ({x}, {y}) is not inside a box", text.text());
        }
        let flow = Flow::of(script);
        let nodes: Vec<Box> =
            boxes.iter().filter(|(_, class)| *class == Some("node")).map(|(r, _)| *r).collect();
        assert_eq!(nodes.len(), flow.nodes.len(), "{what}: nodes drawn");
        assert_eq!(edges, flow.edges.len(), "{what}: edges drawn");
        let labels = boxes.iter().filter(|(_, class)| *class == Some("label")).count();
        let keyed = flow.edges.iter().filter(|(_, _, key)| !key.is_empty()).count();
        assert_eq!(labels, keyed, "{what}: edge labels drawn");
        for (start, end) in edge_ends {
            assert!(nodes.iter().any(|r| on_border(*r, start)), "{what}: an edge from nowhere");
            assert!(nodes.iter().any(|r| on_border(*r, end)), "{what}: an edge to nowhere");
        }
        let texts: Vec<&str> = document.descendants().filter_map(|n| n.text()).collect();
        for id in flow.nodes.keys() {
            assert!(texts.contains(&id.as_str()), "{what}: {id} not drawn");
        }
    }

    #[test]
    fn every_shipped_flow_is_drawn_readably() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-scripts");
        let set = crate::scripts::load_dir(&dir).expect("the shipped scripts load").set;
        assert_eq!(set.scripts.len(), 4);
        for (language, script) in &set.scripts {
            assert_readable(script, language.as_str());
        }
    }

    #[test]
    fn hostile_or_huge_prompts_stay_text_inside_their_box() {
        let huge = "Ж".repeat(10_000);
        for text in [
            "<script>alert(1)</script>",
            "\"/><a href=\"javascript:alert(1)\">x</a>",
            "]]><foreignObject><div>x</div></foreignObject>",
            "&amp; &#x3C; &lt;",
            "",
            &huge,
            "한국어 안내 방송입니다 아주 긴 문장입니다",
        ] {
            let script = script_saying(text);
            assert_readable(&script, text);
            let svg = render(&script, Format::Svg);
            assert!(!svg.contains("<script") && !svg.contains("<a "), "{text:?}");
        }
        let svg = render(&script_saying("<b>x</b>"), Format::Svg);
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;"), "the text is still shown: {svg}");
    }

    #[test]
    fn a_menu_that_replays_itself_gets_a_loop_beside_its_box() {
        let mut script = script_saying("Press 1.");
        let start = script.start.clone();
        for node in script.nodes.values_mut() {
            if let NodeKind::Menu { default, back, .. } = &mut node.kind {
                *default = start.clone();
                *back = Some(start.clone());
            }
        }
        let main = script
            .nodes
            .keys()
            .find(|id| matches!(script.nodes[*id].kind, NodeKind::Menu { .. }))
            .unwrap()
            .clone();
        if let NodeKind::Menu { default, back, .. } = &mut script.nodes.get_mut(&main).unwrap().kind
        {
            *default = main.clone();
            *back = Some(main.clone());
        }
        assert_readable(&script, "loops");
    }

    fn is_id(id: &str) -> bool {
        id.strip_prefix('n').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}
