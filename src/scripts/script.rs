//! One language's script (`ru.xml`): read into a [`Script`], every reference resolved, and the
//! conversation checked as a whole (every node reachable, no endless chain of messages).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use roxmltree::Node as XmlNode;

use super::diagnostics::{Collector, Diagnostic};
use super::model::{
    ChatTexts, Key, LanguageTag, MenuOption, Node, NodeId, NodeKind, Prompt, Script, Tag, Target,
    Voice, WaitKey,
};
use super::prompt::{self, Audio, Builder, MAX_READABLE_CHARS, Placeholders};
use super::xml;

/// The elements that are nodes of the conversation.
const NODE_ELEMENTS: [&str; 7] =
    ["message", "menu", "handoff", "voicemail", "callback", "ask", "hangup"];

/// The longest text of a chat's button: longer ones are cut or refused by chat apps, and a
/// button is a word or two anyway.
const MAX_BUTTON_CHARS: usize = 40;

/// A handoff's `<wait>` as read: the announcement, the pause, and the keys on offer.
type Wait = (Prompt, u32, Vec<WaitKey>);

/// How an option's `goto` names the language choice.
const LANGUAGE_CHOICE: &str = "@language";

/// Parses and checks the text of one script file.
///
/// `file` is the file's path as it should appear in messages; its name must be the script's
/// language (`ru.xml`). `audio_root` is the `audio` folder next to the scripts: a
/// `<play file="x.mp3">` is looked up as `audio_root/<language>/x.mp3`, the only place this
/// function touches the disk. On success, returns the script and its warnings; otherwise every
/// problem found, errors and warnings, in file order.
pub fn parse_script(
    file: &Path,
    text: &str,
    audio_root: &Path,
) -> Result<(Script, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = xml::strip_bom(text);
    let mut collector = Collector::new(file, text);
    let script = xml::parse(&mut collector, text).and_then(|doc| {
        let parser = ScriptParser {
            collector: &mut collector,
            audio: Audio { root: audio_root, language: None },
            declared: BTreeMap::new(),
            nodes: Vec::new(),
            current: None,
            references: Vec::new(),
            graph_complete: true,
            wait_targets: Vec::new(),
        };
        parser.script(doc.root_element())
    });
    match script {
        Some(script) if !collector.has_errors() => Ok((script, collector.finish())),
        _ => Err(collector.finish()),
    }
}

/// Where a node id was first declared, and by what kind of node.
struct Declared {
    offset: usize,
    element: &'static str,
}

/// A node read without errors, with where it is in the file.
struct Draft {
    node: Node,
    offset: usize,
}

/// A mention of a node id, to check once every node is known. It is also an edge of the
/// conversation's graph, from the node that mentions it.
struct Reference {
    /// The node whose element holds the mention; `None` for `<script>` itself.
    from: Option<NodeId>,
    target: NodeId,
    offset: usize,
    /// The start of the message if the target does not exist: `menu "main": option 1 goes to`.
    what: String,
}

struct ScriptParser<'c, 't, 'a> {
    collector: &'c mut Collector<'t>,
    audio: Audio<'a>,
    declared: BTreeMap<NodeId, Declared>,
    /// Nodes read without errors, in document order.
    nodes: Vec<Draft>,
    /// The node being read, which references lead from.
    current: Option<NodeId>,
    references: Vec<Reference>,
    /// False once a node id or a reference could not be read or resolved: the reachability
    /// check would then blame nodes for a mistake made elsewhere, so it is skipped.
    graph_complete: bool,
    /// Where each `<wait>` key goes, checked once every node is known: only a voicemail or a
    /// callback can take a caller out of the queue.
    wait_targets: Vec<(NodeId, usize, String)>,
}

impl ScriptParser<'_, '_, '_> {
    fn script(mut self, root: XmlNode<'_, '_>) -> Option<Script> {
        const CTX: &str = "<script>";
        if xml::name(root) != "script" {
            self.collector.error(
                xml::start(root),
                format!("a script file must start with <script>, not <{}>", xml::name(root)),
            );
            return None;
        }
        xml::check_attributes(
            self.collector,
            root,
            &["language", "name", "voice", "tts-language", "start", "operator"],
            CTX,
        );
        let language = self.language(root);
        self.audio.language = language.clone();
        let name = self.name(root);
        let voice = self.voice(root);
        let start = self.reference(root, "start", CTX, true);
        let operator = self.reference(root, "operator", CTX, true);

        let mut apology: Option<(Prompt, usize)> = None;
        let mut chat: Option<(ChatTexts, usize)> = None;
        let allowed = [&["apology", "chat"][..], &NODE_ELEMENTS[..]].concat();
        for child in xml::children(self.collector, root, &allowed, CTX) {
            if xml::name(child) == "chat" {
                let read = self.chat(child, language.as_ref());
                if self.once(&chat, child, CTX, "a script") {
                    chat = Some((read, xml::start(child)));
                }
                continue;
            }
            if xml::name(child) != "apology" {
                self.node(child);
                continue;
            }
            xml::check_attributes(self.collector, child, &[], "<apology>");
            let said = self.prompt_only(child, "<apology>");
            if self.once(&apology, child, CTX, "a script") {
                apology = Some((said, xml::start(child)));
            }
        }
        if chat.is_none() {
            let language = language.as_ref().map_or("this language", |l| l.as_str());
            self.collector.warning(
                xml::start(root),
                format!(
                    "{CTX}: there is no <chat>: chats in {language} will show English buttons \
                     (Operator, Back) and English sentences; add a <chat> in {language}"
                ),
            );
        }
        if apology.is_none() {
            self.collector.error(
                xml::start(root),
                format!(
                    "{CTX}: there is no <apology>: add one, said when something goes wrong on \
                     our side, before the caller is put through to an operator"
                ),
            );
        }

        self.check_references();
        self.check_wait_targets();
        if let Some(operator) = &operator {
            self.check_operator(root, operator);
        }
        if let (Some(start), Some(operator), true) = (&start, &operator, self.graph_complete) {
            self.check_reachable([start, operator]);
        }
        self.check_message_cycles();

        let nodes = self.nodes.into_iter().map(|draft| (draft.node.id.clone(), draft.node));
        Some(Script {
            language: language?,
            name: name?,
            voice: voice?,
            start: start?,
            operator: operator?,
            apology: apology?.0,
            nodes: nodes.collect(),
            chat: chat.map(|(chat, _)| chat).unwrap_or_default(),
        })
    }

    /// The `<chat>` element: the buttons and sentences of a text channel. What it leaves out
    /// is English, with a warning, since a chat must still work.
    fn chat(&mut self, element: XmlNode<'_, '_>, language: Option<&LanguageTag>) -> ChatTexts {
        const CTX: &str = "<chat>";
        const PARTS: [&str; 3] = ["received", "reminder", "closed"];
        xml::check_attributes(
            self.collector,
            element,
            &["operator", "back", "operator-words"],
            CTX,
        );
        let mut chat = ChatTexts::default();
        let mut missing: Vec<String> = Vec::new();
        for (attr, slot) in [("operator", &mut chat.operator), ("back", &mut chat.back)] {
            match xml::attribute(element, attr) {
                Some(found) => {
                    if let Some(button) = self.button(found, CTX, attr) {
                        *slot = button;
                    }
                }
                None => missing.push(format!("{attr}=")),
            }
        }
        match xml::attribute(element, "operator-words") {
            Some(found) => {
                let words: Vec<String> = found
                    .value
                    .split(',')
                    .map(|word| xml::normalize(word).to_lowercase())
                    .filter(|word| !word.is_empty())
                    .collect();
                let longest = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
                if words.is_empty() || longest > MAX_BUTTON_CHARS {
                    self.collector.error(
                        found.offset,
                        format!(
                            "{CTX}: operator-words=\"{}\" is not a list of words: write the \
                             words that mean \"an operator\", separated by commas, each up to \
                             {MAX_BUTTON_CHARS} characters (like \"оператор, operator\")",
                            xml::snippet(found.value)
                        ),
                    );
                } else {
                    chat.operator_words = words;
                }
            }
            None => missing.push("operator-words=".to_owned()),
        }
        let mut read: [Option<(String, usize)>; 3] = [None, None, None];
        for child in xml::children(self.collector, element, &PARTS, CTX) {
            let Some(index) = PARTS.iter().position(|p| *p == xml::name(child)) else { continue };
            let ctx = format!("{CTX}: <{}>", PARTS[index]);
            xml::check_attributes(self.collector, child, &[], &ctx);
            let text = prompt::paragraphs(&prompt::raw_text(self.collector, child, &ctx));
            let chars = text.chars().count();
            if text.is_empty() {
                self.collector.error(
                    xml::start(child),
                    format!("{ctx} is empty: write what a chat should say, or remove it"),
                );
            } else if chars > MAX_READABLE_CHARS {
                self.collector.error(
                    xml::start(child),
                    format!(
                        "{ctx} is {chars} characters long; a chat message holds at most \
                         {MAX_READABLE_CHARS}"
                    ),
                );
            } else if self.once(&read[index], child, CTX, "a <chat>") {
                read[index] = Some((text, xml::start(child)));
            }
        }
        let [received, reminder, closed] = read;
        for (part, (found, slot)) in PARTS.iter().zip([
            (received, &mut chat.received),
            (reminder, &mut chat.reminder),
            (closed, &mut chat.closed),
        ]) {
            match found {
                Some((text, _)) => *slot = text,
                None => missing.push(format!("<{part}>")),
            }
        }
        // Typing the button's own word must work whatever the list says.
        let button = chat.operator.to_lowercase();
        if !chat.operator_words.contains(&button) {
            chat.operator_words.push(button);
        }
        if !missing.is_empty() {
            let language = language.map_or("this language", |l| l.as_str());
            self.collector.warning(
                xml::start(element),
                format!(
                    "{CTX} has no {}: chats in {language} will use the English default instead",
                    missing.join(", ")
                ),
            );
        }
        chat
    }

    /// The text of a chat's button in attribute `attr`: not empty, at most
    /// [`MAX_BUTTON_CHARS`] characters.
    fn button(&mut self, found: xml::Attr<'_>, ctx: &str, attr: &str) -> Option<String> {
        let text = xml::normalize(found.value);
        let chars = text.chars().count();
        let problem = if text.is_empty() {
            format!("{ctx}: {attr}=\"\" is empty: write the button's text, or leave {attr} out")
        } else if chars > MAX_BUTTON_CHARS {
            format!(
                "{ctx}: {attr}=\"{}\" is {chars} characters long; a chat's button holds at \
                 most {MAX_BUTTON_CHARS}",
                xml::snippet(&text)
            )
        } else {
            return Some(text);
        };
        self.collector.error(found.offset, problem);
        None
    }

    /// The `language` attribute, which must be the file's name.
    fn language(&mut self, root: XmlNode<'_, '_>) -> Option<LanguageTag> {
        let attr = xml::required(self.collector, root, "language", "<script>")?;
        let Some(language) = LanguageTag::parse(attr.value) else {
            self.collector.error(
                attr.offset,
                format!(
                    "<script>: language=\"{}\" is not a language code: use two or three \
                     lowercase letters, like ru",
                    attr.value
                ),
            );
            return None;
        };
        let file = self.collector.file();
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem != language.as_str() {
            let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            self.collector.error(
                attr.offset,
                format!(
                    "<script>: language=\"{language}\" does not match the file name {}: the \
                     script of language {language} must be in {language}.xml",
                    file_name.unwrap_or_default()
                ),
            );
        }
        Some(language)
    }

    /// The `name` attribute: the language's name in itself.
    fn name(&mut self, root: XmlNode<'_, '_>) -> Option<String> {
        let attr = xml::required(self.collector, root, "name", "<script>")?;
        let name = xml::normalize(attr.value);
        if name.is_empty() {
            self.collector.error(
                attr.offset,
                "<script>: name is empty: write the language's name in itself, like Русский",
            );
            return None;
        }
        Some(name)
    }

    /// The `voice` and `tts-language` attributes.
    fn voice(&mut self, root: XmlNode<'_, '_>) -> Option<Voice> {
        let name = match xml::attribute(root, "voice") {
            None => Some(None),
            Some(attr) if is_voice_name(attr.value) => Some(Some(attr.value.to_owned())),
            Some(attr) => {
                self.collector.error(
                    attr.offset,
                    format!(
                        "<script>: voice=\"{}\" is not a voice name: write it like \
                         Polly.Tatyana, or leave voice out to use the provider's default",
                        xml::snippet(attr.value)
                    ),
                );
                None
            }
        };
        let tts = xml::required(self.collector, root, "tts-language", "<script>")?;
        if !is_speech_language(tts.value) {
            self.collector.error(
                tts.offset,
                format!(
                    "<script>: tts-language=\"{}\" is not a language code for text-to-speech: \
                     write it like ru-RU",
                    xml::snippet(tts.value)
                ),
            );
            return None;
        }
        Some(Voice { name: name?, language: tts.value.to_owned() })
    }

    /// Reads one node element and remembers it.
    fn node(&mut self, element: XmlNode<'_, '_>) {
        let kind_name: &'static str = match xml::name(element) {
            "message" => "message",
            "menu" => "menu",
            "handoff" => "handoff",
            "voicemail" => "voicemail",
            "callback" => "callback",
            "ask" => "ask",
            _ => "hangup",
        };
        let id = self.node_id(element, kind_name);
        let ctx = match &id {
            Some(id) => format!("{kind_name} \"{id}\""),
            None => format!("<{kind_name}>"),
        };
        let attributes: &[&str] = match kind_name {
            "message" => &["id", "next"],
            "menu" => &["id", "timeout", "attempts", "default", "back"],
            "handoff" => &["id", "queue", "otherwise"],
            "voicemail" => &["id", "max-length", "next"],
            "callback" => &["id", "next", "otherwise"],
            "ask" => &["id", "var", "next", "max-length"],
            _ => &["id"],
        };
        xml::check_attributes(self.collector, element, attributes, &ctx);
        let is_new = id.as_ref().is_some_and(|id| self.declare(id, element, kind_name));
        // A node without a readable id loses its references as edges of the graph.
        self.graph_complete &= id.is_some();
        self.current = id.clone();
        let read = match kind_name {
            "message" => self.message(element, &ctx),
            "menu" => self.menu(element, &ctx),
            "handoff" => self.handoff(element, &ctx),
            "voicemail" => self.voicemail(element, &ctx),
            "callback" => self.callback(element, &ctx),
            "ask" => self.ask(element, &ctx),
            _ => Some((NodeKind::Hangup, self.prompt_only(element, &ctx))),
        };
        self.current = None;
        if let (Some(id), Some((kind, prompt)), true) = (id, read, is_new) {
            let offset = xml::start(element);
            self.nodes.push(Draft { node: Node { id, prompt, kind }, offset });
        }
    }

    /// The `id` of a node element, if present and well-formed.
    fn node_id(&mut self, element: XmlNode<'_, '_>, kind_name: &str) -> Option<NodeId> {
        let ctx = format!("<{kind_name}>");
        let attr = xml::required(self.collector, element, "id", &ctx)?;
        let id = NodeId::parse(attr.value);
        if id.is_none() {
            self.collector.error(attr.offset, bad_id(&ctx, "id", attr.value));
        }
        id
    }

    /// Records a node id; false (with an error) if another node already has it.
    fn declare(&mut self, id: &NodeId, element: XmlNode<'_, '_>, kind_name: &'static str) -> bool {
        if let Some(first) = self.declared.get(id) {
            let line = self.collector.line_of(first.offset);
            let message = format!(
                "{kind_name} \"{id}\": the id \"{id}\" is already used by the {} at line {line}; \
                 every node needs its own id",
                first.element
            );
            self.collector.error(xml::start(element), message);
            return false;
        }
        let declared = Declared { offset: xml::start(element), element: kind_name };
        self.declared.insert(id.clone(), declared);
        true
    }

    /// A node id in attribute `attr`, remembered to check that the node exists.
    fn reference(
        &mut self,
        element: XmlNode<'_, '_>,
        attr: &str,
        ctx: &str,
        required: bool,
    ) -> Option<NodeId> {
        let found = if required {
            xml::required(self.collector, element, attr, ctx)
        } else {
            xml::attribute(element, attr)
        };
        let Some(found) = found else {
            self.graph_complete &= !required;
            return None;
        };
        let what = format!("{ctx}: {attr} goes to");
        self.reference_to(found, what, ctx, attr)
    }

    /// Checks the syntax of a node id that `what` goes to, and remembers it.
    fn reference_to(
        &mut self,
        found: xml::Attr<'_>,
        what: String,
        ctx: &str,
        attr: &str,
    ) -> Option<NodeId> {
        let Some(target) = NodeId::parse(found.value) else {
            let message = if found.value == LANGUAGE_CHOICE {
                format!(
                    "{ctx}: {attr}=\"{LANGUAGE_CHOICE}\": only an option's goto can lead back to \
                     the language choice"
                )
            } else {
                bad_id(ctx, attr, found.value)
            };
            self.collector.error(found.offset, message);
            self.graph_complete = false;
            return None;
        };
        let from = self.current.clone();
        let reference = Reference { from, target: target.clone(), offset: found.offset, what };
        self.references.push(reference);
        Some(target)
    }

    /// The prompt of a node that has nothing but a prompt inside.
    fn prompt_only(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Prompt {
        prompt::read(self.collector, element, ctx, &self.audio, Placeholders::Forbidden)
    }

    fn message(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<(NodeKind, Prompt)> {
        let next = self.reference(element, "next", ctx, true);
        let prompt = self.prompt_only(element, ctx);
        Some((NodeKind::Message { next: next? }, prompt))
    }

    fn voicemail(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<(NodeKind, Prompt)> {
        let max_length =
            xml::number(self.collector, element, "max-length", 1..=3600, Some(120), ctx);
        let next = self.reference(element, "next", ctx, true);
        let prompt = self.prompt_only(element, ctx);
        Some((NodeKind::Voicemail { max_length: max_length?, next: next? }, prompt))
    }

    /// An `<ask>`: its prompt is the question; the answer is kept under `var`, never as a tag.
    fn ask(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<(NodeKind, Prompt)> {
        let var = xml::required(self.collector, element, "var", ctx).and_then(|attr| {
            if is_tag_word(attr.value) && attr.value.len() <= 64 {
                return Some(attr.value.to_owned());
            }
            self.collector.error(
                attr.offset,
                format!(
                    "{ctx}: var=\"{}\" is not a name for the answer: use up to 64 lowercase \
                     letters, digits, - and _ (like unit)",
                    xml::snippet(attr.value)
                ),
            );
            None
        });
        let max_length = xml::number(self.collector, element, "max-length", 5..=120, Some(30), ctx);
        let next = self.reference(element, "next", ctx, true);
        let prompt = self.prompt_only(element, ctx);
        Some((NodeKind::Ask { var: var?, next: next?, max_length: max_length? }, prompt))
    }

    fn handoff(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<(NodeKind, Prompt)> {
        let queue = self.queue(element, ctx);
        let otherwise = self.reference(element, "otherwise", ctx, true);
        let mut prompt = Builder::default();
        let mut wait: Option<(Option<Wait>, usize)> = None;
        let mut too_long: Option<(Prompt, usize)> = None;
        let allowed = [&prompt::ELEMENTS[..], &["wait", "too-long"][..]].concat();
        for child in xml::children(self.collector, element, &allowed, ctx) {
            if xml::name(child) == "too-long" {
                let ctx = format!("{ctx}: <too-long>");
                xml::check_attributes(self.collector, child, &[], &ctx);
                let said =
                    prompt::read(self.collector, child, &ctx, &self.audio, Placeholders::Forbidden);
                if self.once(&too_long, child, &ctx, "a handoff") {
                    too_long = Some((said, xml::start(child)));
                }
                continue;
            }
            if xml::name(child) != "wait" {
                prompt.add(self.collector, child, ctx, &self.audio, Placeholders::Forbidden);
                continue;
            }
            let read = self.wait(child, ctx);
            if self.once(&wait, child, ctx, "a handoff") {
                wait = Some((read, xml::start(child)));
            }
        }
        let prompt = prompt.finish(self.collector, xml::start(element), ctx);
        if wait.is_none() {
            self.collector.error(
                xml::start(element),
                format!(
                    "{ctx}: there is no <wait>: add one, said over and over while the caller \
                     waits for an operator"
                ),
            );
        }
        let (wait, wait_pause, wait_keys) = wait?.0?;
        let too_long = too_long.map(|(said, _)| said).unwrap_or_default();
        let kind = NodeKind::Handoff {
            queue: queue?,
            wait,
            wait_pause,
            too_long,
            otherwise: otherwise?,
            wait_keys,
        };
        Some((kind, prompt))
    }

    /// A handoff's `queue`: the language code unless given.
    fn queue(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<String> {
        let Some(attr) = xml::attribute(element, "queue") else {
            return self.audio.language.as_ref().map(|l| l.as_str().to_owned());
        };
        let ok = (1..=64).contains(&attr.value.len())
            && attr.value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !ok {
            self.collector.error(
                attr.offset,
                format!(
                    "{ctx}: queue=\"{}\" is not a queue name: use 1 to 64 letters, digits, - \
                     and _",
                    xml::snippet(attr.value)
                ),
            );
            return None;
        }
        Some(attr.value.to_owned())
    }

    /// A handoff's `<wait>`: what is said while waiting, the pause between two rounds, and
    /// the keys the caller may press meanwhile (`<option>`, each with what is said about it).
    fn wait(&mut self, element: XmlNode<'_, '_>, handoff_ctx: &str) -> Option<Wait> {
        let ctx = format!("{handoff_ctx}: <wait>");
        xml::check_attributes(self.collector, element, &["pause"], &ctx);
        let pause = xml::number(self.collector, element, "pause", 1..=120, Some(20), &ctx);
        let mut said = Builder::default();
        let mut keys = Vec::new();
        let mut all_keys_read = true;
        let mut used = BTreeMap::new();
        let allowed = [&prompt::ELEMENTS[..], &["option"][..]].concat();
        for child in xml::children(self.collector, element, &allowed, &ctx) {
            if xml::name(child) == "option" {
                match self.wait_key(child, &ctx, &mut used) {
                    Some(key) => keys.push(key),
                    None => all_keys_read = false,
                }
            } else {
                said.add(self.collector, child, &ctx, &self.audio, Placeholders::Wait);
            }
        }
        let said = said.finish(self.collector, xml::start(element), &ctx);
        Some((said, pause?, Some(keys).filter(|_| all_keys_read)?))
    }

    /// One `<option key goto label>` of a `<wait>`, with its prompt inside.
    fn wait_key(
        &mut self,
        element: XmlNode<'_, '_>,
        wait_ctx: &str,
        used: &mut BTreeMap<Key, usize>,
    ) -> Option<WaitKey> {
        let bare_ctx = format!("{wait_ctx}: <option>");
        xml::check_attributes(self.collector, element, &["key", "goto", "label"], &bare_ctx);
        let key = self.option_key(element, wait_ctx, &bare_ctx, used);
        let ctx = match key {
            Some(key) => format!("{wait_ctx}: option {key}"),
            None => bare_ctx,
        };
        let goto = match xml::required(self.collector, element, "goto", &ctx) {
            Some(attr) => {
                let offset = attr.offset;
                let target = self.reference_to(attr, format!("{ctx} goes to"), &ctx, "goto");
                if let Some(target) = &target {
                    self.wait_targets.push((target.clone(), offset, ctx.clone()));
                }
                target
            }
            None => {
                self.graph_complete = false;
                None
            }
        };
        let prompt =
            prompt::read(self.collector, element, &ctx, &self.audio, Placeholders::Forbidden);
        let (key, goto) = (key?, goto?);
        let label = xml::attribute(element, "label")
            .map(|attr| xml::normalize(attr.value))
            .filter(|label| !label.is_empty())
            .unwrap_or_else(|| format!("key {key} while waiting → {goto}"));
        Some(WaitKey { key, goto, label, prompt })
    }

    /// A `<callback>`: its prompt asks for the number; `<read-back>`, `<confirm>` and
    /// `<invalid>` are required, once each.
    fn callback(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<(NodeKind, Prompt)> {
        let next = self.reference(element, "next", ctx, true);
        let otherwise = self.reference(element, "otherwise", ctx, true);
        let mut prompt = Builder::default();
        let mut parts: [Option<(Prompt, usize)>; 3] = [None, None, None];
        const PARTS: [&str; 3] = ["read-back", "confirm", "invalid"];
        let allowed = [&prompt::ELEMENTS[..], &PARTS[..]].concat();
        for child in xml::children(self.collector, element, &allowed, ctx) {
            let Some(index) = PARTS.iter().position(|p| *p == xml::name(child)) else {
                prompt.add(self.collector, child, ctx, &self.audio, Placeholders::Forbidden);
                continue;
            };
            let child_ctx = format!("{ctx}: <{}>", PARTS[index]);
            xml::check_attributes(self.collector, child, &[], &child_ctx);
            let said = self.prompt_only(child, &child_ctx);
            if self.once(&parts[index], child, ctx, "a callback") {
                parts[index] = Some((said, xml::start(child)));
            }
        }
        let prompt = prompt.finish(self.collector, xml::start(element), ctx);
        let why = [
            "said before the number is read back to the caller",
            "said after the number: which key confirms it and which enters it again",
            "said when what the caller typed is not a phone number",
        ];
        for ((part, slot), why) in PARTS.iter().zip(&parts).zip(why) {
            if slot.is_none() {
                let message = format!("{ctx}: there is no <{part}>: add one, {why}");
                self.collector.error(xml::start(element), message);
            }
        }
        let [read_back, confirm, invalid] = parts;
        let kind = NodeKind::Callback {
            read_back: read_back?.0,
            confirm: confirm?.0,
            invalid: invalid?.0,
            next: next?,
            otherwise: otherwise?,
        };
        Some((kind, prompt))
    }

    /// A `<wait>` key must lead to a `<voicemail>` or a `<callback>`: those are what a caller
    /// leaves the queue for, and the case keeps its place in the follow-up list.
    fn check_wait_targets(&mut self) {
        for (target, offset, ctx) in &self.wait_targets {
            let Some(declared) = self.declared.get(target) else { continue };
            if !matches!(declared.element, "voicemail" | "callback") {
                let message = format!(
                    "{ctx} goes to the {} \"{target}\", but a key pressed while waiting can only \
                     lead to a <voicemail> or a <callback>",
                    declared.element
                );
                self.collector.error(*offset, message);
            }
        }
    }

    fn menu(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<(NodeKind, Prompt)> {
        let timeout = xml::number(self.collector, element, "timeout", 1..=60, Some(7), ctx);
        let attempts = xml::number(self.collector, element, "attempts", 1..=10, Some(3), ctx);
        let default = self.reference(element, "default", ctx, true);
        let back = self.reference(element, "back", ctx, false);

        let mut prompt = Builder::default();
        let mut options = Vec::new();
        let mut all_options_read = true;
        let mut keys = BTreeMap::new();
        let mut invalid: Option<(Prompt, usize)> = None;
        let mut no_input: Option<(Prompt, usize)> = None;
        let allowed = [&prompt::ELEMENTS[..], &["option", "invalid", "no-input"][..]].concat();
        for child in xml::children(self.collector, element, &allowed, ctx) {
            match xml::name(child) {
                "option" => match self.option(child, ctx, &mut keys) {
                    Some(option) => options.push(option),
                    None => all_options_read = false,
                },
                "invalid" | "no-input" => {
                    let child_ctx = format!("{ctx}: <{}>", xml::name(child));
                    xml::check_attributes(self.collector, child, &[], &child_ctx);
                    let said = self.prompt_only(child, &child_ctx);
                    let slot =
                        if xml::name(child) == "invalid" { &mut invalid } else { &mut no_input };
                    if self.once(slot, child, ctx, "a menu") {
                        *slot = Some((said, xml::start(child)));
                    }
                }
                _ => prompt.add(self.collector, child, ctx, &self.audio, Placeholders::Forbidden),
            }
        }
        let prompt = prompt.finish(self.collector, xml::start(element), ctx);
        if invalid.is_none() {
            self.collector.error(
                xml::start(element),
                format!(
                    "{ctx}: there is no <invalid>: add one, said when the caller presses a key \
                     the menu does not offer"
                ),
            );
        }
        let kind = NodeKind::Menu {
            options: Some(options).filter(|_| all_options_read)?,
            timeout: timeout?,
            attempts: attempts?,
            default: default?,
            invalid: invalid?.0,
            no_input: no_input.map(|(said, _)| said),
            back,
        };
        Some((kind, prompt))
    }

    /// True if `slot` is still empty; otherwise reports a second `<x>` where one is allowed.
    fn once<T>(
        &mut self,
        slot: &Option<(T, usize)>,
        element: XmlNode<'_, '_>,
        ctx: &str,
        owner: &str,
    ) -> bool {
        let Some((_, first)) = slot else {
            return true;
        };
        let line = self.collector.line_of(*first);
        self.collector.error(
            xml::start(element),
            format!(
                "{ctx}: a second <{0}>; {owner} has only one <{0}> (the first is at line {line})",
                xml::name(element)
            ),
        );
        false
    }

    /// One `<option>` of a menu; `keys` holds where each key of the menu was first used.
    fn option(
        &mut self,
        element: XmlNode<'_, '_>,
        menu_ctx: &str,
        keys: &mut BTreeMap<Key, usize>,
    ) -> Option<MenuOption> {
        let bare_ctx = format!("{menu_ctx}: <option>");
        xml::check_attributes(
            self.collector,
            element,
            &["key", "goto", "tag", "label", "text"],
            &bare_ctx,
        );
        let key = self.option_key(element, menu_ctx, &bare_ctx, keys);
        let ctx = match key {
            Some(key) => format!("{menu_ctx}: option {key}"),
            None => bare_ctx,
        };
        xml::children(self.collector, element, &[], &ctx);
        let goto = match xml::required(self.collector, element, "goto", &ctx) {
            None => {
                self.graph_complete = false;
                None
            }
            Some(attr) if attr.value == LANGUAGE_CHOICE => Some(Target::LanguageChoice),
            Some(attr) => {
                let what = format!("{ctx} goes to");
                self.reference_to(attr, what, &ctx, "goto").map(Target::Node)
            }
        };
        let tags = self.tags(element, &ctx);
        let text = match xml::attribute(element, "text") {
            Some(found) => Some(self.button(found, &ctx, "text")?),
            None => None,
        };
        let (key, goto) = (key?, goto?);
        let label = xml::attribute(element, "label")
            .map(|attr| xml::normalize(attr.value))
            .filter(|label| !label.is_empty())
            .unwrap_or_else(|| match &goto {
                Target::Node(id) => format!("key {key} → {id}"),
                Target::LanguageChoice => format!("key {key} → language choice"),
            });
        Some(MenuOption { key, goto, label, text, tags: tags? })
    }

    /// An option's `key`: a keypad key that no other option of the menu uses, not 0 or `*`.
    fn option_key(
        &mut self,
        element: XmlNode<'_, '_>,
        menu_ctx: &str,
        ctx: &str,
        keys: &mut BTreeMap<Key, usize>,
    ) -> Option<Key> {
        let attr = xml::required(self.collector, element, "key", ctx)?;
        let problem = match Key::parse(attr.value.trim()) {
            None => format!(
                "{ctx}: key=\"{}\" is not a phone key: use one of 1 to 9, or #",
                xml::snippet(attr.value)
            ),
            Some(Key::OPERATOR) => {
                format!(
                    "{menu_ctx}: option on key 0: key 0 always reaches an operator; choose another key"
                )
            }
            Some(Key::BACK) => format!(
                "{menu_ctx}: option on key *: key * always goes back (or repeats the menu); \
                 choose another key"
            ),
            Some(key) => match keys.get(&key) {
                Some(first) => format!(
                    "{menu_ctx}: key {key} is used by two options (the first is at line {})",
                    self.collector.line_of(*first)
                ),
                None => {
                    keys.insert(key, attr.offset);
                    return Some(key);
                }
            },
        };
        self.collector.error(attr.offset, problem);
        None
    }

    /// An option's `tag`: space-separated `name=value` fields set on the case.
    fn tags(&mut self, element: XmlNode<'_, '_>, ctx: &str) -> Option<Vec<Tag>> {
        let Some(attr) = xml::attribute(element, "tag") else {
            return Some(Vec::new());
        };
        let mut tags: Vec<Tag> = Vec::new();
        let mut ok = true;
        for pair in attr.value.split_ascii_whitespace() {
            let tag = pair
                .split_once('=')
                .filter(|(key, value)| is_tag_word(key) && is_tag_word(value))
                .map(|(key, value)| Tag { key: key.to_owned(), value: value.to_owned() });
            let problem = match tag {
                None => format!(
                    "{ctx}: tag \"{}\" is not name=value in lowercase letters, digits, - and _ \
                     (like intent=surrender)",
                    xml::snippet(pair)
                ),
                Some(tag) if tags.iter().any(|t| t.key == tag.key) => {
                    format!("{ctx}: the tag sets \"{}\" twice", tag.key)
                }
                Some(tag) => {
                    tags.push(tag);
                    continue;
                }
            };
            self.collector.error(attr.offset, problem);
            ok = false;
        }
        ok.then_some(tags)
    }

    /// Reports every reference to a node that does not exist.
    fn check_references(&mut self) {
        for reference in &self.references {
            if self.declared.contains_key(&reference.target) {
                continue;
            }
            let target = &reference.target;
            let mut message = format!("{} \"{target}\", which does not exist", reference.what);
            let ids = self.declared.keys().map(NodeId::as_str);
            if let Some(close) = xml::did_you_mean(target.as_str(), ids) {
                message.push_str(&format!("; did you mean \"{close}\"?"));
            }
            self.collector.error(reference.offset, message);
            self.graph_complete = false;
        }
    }

    /// The operator node must be a handoff: key 0 promises a person.
    fn check_operator(&mut self, root: XmlNode<'_, '_>, operator: &NodeId) {
        let Some(declared) = self.declared.get(operator) else {
            return; // reported as a missing node
        };
        if declared.element != "handoff" {
            let offset = xml::attribute(root, "operator").map_or(xml::start(root), |a| a.offset);
            let message = format!(
                "<script>: operator goes to the {} \"{operator}\", but key 0 must put the caller \
                 through to an operator: it must be a <handoff>",
                declared.element
            );
            self.collector.error(offset, message);
        }
    }

    /// Reports nodes no call can reach from `start`, or from key 0, which reaches `operator`.
    /// The edges are the references, so a node with an unrelated error still counts.
    fn check_reachable(&mut self, roots: [&NodeId; 2]) {
        let mut edges: BTreeMap<&NodeId, Vec<&NodeId>> = BTreeMap::new();
        for reference in &self.references {
            if let Some(from) = &reference.from {
                edges.entry(from).or_default().push(&reference.target);
            }
        }
        let mut reached = BTreeSet::new();
        let mut to_visit = Vec::from(roots);
        while let Some(id) = to_visit.pop() {
            if reached.insert(id) {
                to_visit.extend(edges.get(id).into_iter().flatten());
            }
        }
        let mut unreached: Vec<(&NodeId, &Declared)> =
            self.declared.iter().filter(|(id, _)| !reached.contains(id)).collect();
        unreached.sort_by_key(|(_, declared)| declared.offset);
        for (id, declared) in unreached {
            self.collector.error(
                declared.offset,
                format!(
                    "{} \"{id}\" can never be reached: no start, next, goto, default, back or \
                     otherwise leads to it from the start of a call",
                    declared.element
                ),
            );
        }
    }

    /// Reports each loop of messages that only lead to each other: a caller would hear them
    /// forever, never asked for a key.
    fn check_message_cycles(&mut self) {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            OnPath,
            Done,
        }
        let index: BTreeMap<&NodeId, usize> =
            self.nodes.iter().enumerate().map(|(i, d)| (&d.node.id, i)).collect();
        let next_message = |i: usize| match &self.nodes[i].node.kind {
            NodeKind::Message { next } => index.get(next).copied(),
            _ => None,
        };
        let is_message = |i: usize| matches!(self.nodes[i].node.kind, NodeKind::Message { .. });
        let mut state = vec![State::New; self.nodes.len()];
        let mut cycles = Vec::new();
        for first in 0..self.nodes.len() {
            if state[first] != State::New || !is_message(first) {
                continue;
            }
            // Messages have one successor each, so following them traces a single path.
            let mut path = Vec::new();
            let mut current = Some(first);
            while let Some(i) = current.filter(|&i| is_message(i)) {
                match state[i] {
                    State::Done => break,
                    State::OnPath => {
                        let from = path.iter().position(|&p| p == i).unwrap_or(0);
                        cycles.push(path[from..].to_vec());
                        break;
                    }
                    State::New => {
                        state[i] = State::OnPath;
                        path.push(i);
                        current = next_message(i);
                    }
                }
            }
            for i in path {
                state[i] = State::Done;
            }
        }
        for mut cycle in cycles {
            // Start the description at the node that comes first in the file.
            let earliest = cycle.iter().enumerate().min_by_key(|&(_, &i)| i).map_or(0, |(p, _)| p);
            cycle.rotate_left(earliest);
            let names: Vec<String> =
                cycle.iter().map(|&i| format!("\"{}\"", self.nodes[i].node.id)).collect();
            let description = if names.len() == 1 {
                format!("message {} leads to itself", names[0])
            } else {
                format!("messages {} → {} lead only to each other", names.join(" → "), names[0])
            };
            self.collector.error(
                self.nodes[cycle[0]].offset,
                format!(
                    "{description}, so a caller would hear them forever: make one of them lead \
                     to a menu, handoff, voicemail or hangup"
                ),
            );
        }
    }
}

fn bad_id(ctx: &str, attr: &str, value: &str) -> String {
    format!(
        "{ctx}: {attr}=\"{}\" is not a node id: use up to 64 lowercase letters, digits, - and _, \
         starting with a letter or digit",
        xml::snippet(value)
    )
}

/// A provider's voice name, like `Polly.Tatyana` or `Google.uk-UA-Standard-A`.
fn is_voice_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A BCP-47 language for text-to-speech, like `ru-RU`: a 2–3 letter language, then subtags.
fn is_speech_language(s: &str) -> bool {
    let mut parts = s.split('-');
    let language = parts.next().unwrap_or("");
    (2..=3).contains(&language.len())
        && language.bytes().all(|b| b.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_tag_word(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}
