//! A language's menu flow as a diagram: SVG for people (a layered drawing made here, no crate
//! needed for boxes and lines), DOT for Graphviz and Mermaid for documents and the console.
//!
//! Nodes are labelled with their id and the first words of their prompt; edges with the key
//! that takes the caller along them (`timeout` for a menu's default, `*` for back, nothing
//! for a message's next).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use super::{NodeId, NodeKind, Script, Target};

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

    /// Each node's layer: its distance from the start; nodes reached only by key 0 (the
    /// operator) and the language choice go below the rest.
    fn layers(&self, script: &Script) -> Vec<Vec<&str>> {
        let mut depth: BTreeMap<&str, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([(script.start.as_str(), 0)]);
        while let Some((node, d)) = queue.pop_front() {
            if depth.contains_key(node) || !self.nodes.contains_key(node) {
                continue;
            }
            depth.insert(node, d);
            for (from, to, _) in &self.edges {
                if from == node && to != LANGUAGE_CHOICE {
                    queue.push_back((to.as_str(), d + 1));
                }
            }
        }
        let deepest = depth.values().copied().max().unwrap_or(0);
        let mut layers: Vec<Vec<&str>> = vec![Vec::new(); deepest + 2];
        for node in self.nodes.keys() {
            let d = depth.get(node.as_str()).copied().unwrap_or(deepest + 1);
            layers[d].push(node);
        }
        layers.retain(|layer| !layer.is_empty());
        layers
    }

    fn svg(&self, script: &Script) -> String {
        const WIDTH: usize = 200;
        const HEIGHT: usize = 54;
        const GAP_X: usize = 30;
        const GAP_Y: usize = 70;
        const MARGIN: usize = 20;
        let layers = self.layers(script);
        let widest = layers.iter().map(Vec::len).max().unwrap_or(1);
        let total_width = MARGIN * 2 + widest * WIDTH + widest.saturating_sub(1) * GAP_X;
        let total_height =
            MARGIN * 2 + layers.len() * HEIGHT + layers.len().saturating_sub(1) * GAP_Y;
        let mut place: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (row, layer) in layers.iter().enumerate() {
            let row_width = layer.len() * WIDTH + layer.len().saturating_sub(1) * GAP_X;
            let left = (total_width - row_width) / 2;
            for (column, node) in layer.iter().enumerate() {
                place.insert(
                    node,
                    (left + column * (WIDTH + GAP_X), MARGIN + row * (HEIGHT + GAP_Y)),
                );
            }
        }
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total_width}" height="{total_height}" viewBox="0 0 {total_width} {total_height}" font-family="sans-serif" font-size="11">"##
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
        for (from, to, key) in &self.edges {
            let (Some(&(x1, y1)), Some(&(x2, y2))) =
                (place.get(from.as_str()), place.get(to.as_str()))
            else {
                continue;
            };
            let (sx, sy) = (x1 + WIDTH / 2, y1 + HEIGHT);
            let (tx, ty) =
                if y2 > y1 { (x2 + WIDTH / 2, y2) } else { (x2 + WIDTH / 2, y2 + HEIGHT) };
            let _ = writeln!(
                svg,
                r##"<line x1="{sx}" y1="{sy}" x2="{tx}" y2="{ty}" stroke="#555" marker-end="url(#arrow)"/>"##
            );
            if !key.is_empty() {
                let (mx, my) = ((sx + tx) / 2, (sy + ty) / 2);
                let _ = writeln!(
                    svg,
                    r##"<text x="{mx}" y="{my}" fill="#a33">{}</text>"##,
                    escape(key)
                );
            }
        }
        for (node, label) in &self.nodes {
            let Some(&(x, y)) = place.get(node.as_str()) else { continue };
            let fill = if node == script.start.as_str() { "#e6f0ff" } else { "#f7f7f7" };
            let _ = writeln!(
                svg,
                r##"<g><rect x="{x}" y="{y}" width="{WIDTH}" height="{HEIGHT}" rx="6" fill="{fill}" stroke="#333"/><text x="{}" y="{}" font-weight="bold">{}</text><text x="{}" y="{}">{}</text></g>"##,
                x + 8,
                y + 20,
                escape(node),
                x + 8,
                y + 40,
                escape(&first_words(label, 5))
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

    fn is_id(id: &str) -> bool {
        id.strip_prefix('n').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }
}
