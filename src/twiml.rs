//! TwiML documents: the answers the telephony provider executes, written with quick-xml so
//! every piece of text and every attribute is escaped.
//!
//! The types encode the provider's nesting rules instead of trusting callers to remember them:
//! a [`Gather`] can only hold [`Speech`] (Say, Play, Pause), and a [`WaitDocument`] (played
//! while a caller waits in a queue) can only hold the verbs the provider allows there.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// The provider refuses documents over 64 kB; we stay well under it.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// The content type every TwiML answer carries.
pub const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// Something said to the caller: the only verbs allowed inside a `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speech {
    /// `<Say voice language>text</Say>`.
    Say {
        /// The text.
        text: String,
        /// The provider's voice name.
        voice: Option<String>,
        /// The BCP-47 language of the text.
        language: String,
    },
    /// `<Play>url</Play>`.
    Play {
        /// Absolute URL or a path on this server.
        url: String,
    },
    /// `<Pause length/>`.
    Pause {
        /// Seconds.
        seconds: u32,
    },
}

/// `<Gather>`: says its prompts and collects keys, posting them to `action`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// Where the keys are posted.
    pub action: String,
    /// How many keys end the input.
    pub num_digits: u32,
    /// Seconds of silence after the prompt that end the input.
    pub timeout: u32,
    /// What is said while waiting.
    pub prompts: Vec<Speech>,
}

/// `<Gather>` of a number typed on the keypad and ended by `#` (an operator ID, a PIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeypadEntry {
    /// Where the keys are posted.
    pub action: String,
    /// Longest number accepted; reaching it ends the input as `#` would.
    pub max_digits: u32,
    /// Seconds of silence that end the input.
    pub timeout: u32,
    /// What is said while waiting.
    pub prompts: Vec<Speech>,
}

/// `<Dial><Queue>`: connects this call (an operator's) to the caller waiting in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialQueue {
    /// Requested when the dial ends, with `DialCallStatus` and `DialCallDuration`.
    pub action: String,
    /// Seconds to wait for a caller in an empty queue.
    pub timeout: u32,
    /// The queue's name.
    pub queue: String,
    /// A document played to the waiting caller before the bridge (Play, Say, Pause,
    /// Redirect only).
    pub url: String,
}

/// `<Dial><Number>`: calls a phone number from this call (an operator calling a caller back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialNumber {
    /// Requested when the dial ends, with `DialCallStatus` and `DialCallDuration`.
    pub action: String,
    /// Seconds to let it ring.
    pub timeout: u32,
    /// The number, E.164.
    pub number: String,
    /// The number shown to the called party; `None` leaves the provider's default (the
    /// calling party's own number).
    pub caller_id: Option<String>,
}

/// `<Enqueue>`: puts the caller in a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The queue's name.
    pub queue: String,
    /// Requested when the caller leaves the queue, with `QueueResult`.
    pub action: String,
    /// Requested for the document played while waiting.
    pub wait_url: String,
}

/// `<Record>`: records the caller after a beep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Requested with `RecordingUrl` when the recording ends.
    pub action: String,
    /// Longest recording, in seconds.
    pub max_length: u32,
    /// Seconds of silence that end the recording.
    pub timeout: u32,
    /// Requested (POST, the default method) when the recording is stored, with its final URL
    /// and duration; `None` when the action's word is enough (an answer to a question, which
    /// asks for no follow-up).
    pub status_callback: Option<String>,
}

/// A verb of an ordinary document (the voice URL, a Gather action, a Redirect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Say, Play or Pause.
    Speech(Speech),
    /// Collect keys.
    Gather(Gather),
    /// Fetch another document.
    Redirect {
        /// Its URL.
        url: String,
    },
    /// Put the caller in a queue.
    Enqueue(Enqueue),
    /// Record a message.
    Record(Record),
    /// Collect a number ended by `#`.
    KeypadEntry(KeypadEntry),
    /// Connect to the caller waiting in a queue.
    DialQueue(DialQueue),
    /// Call a phone number.
    DialNumber(DialNumber),
    /// End the call.
    Hangup,
}

/// A verb allowed in a queue's wait document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitVerb {
    /// Say, Play or Pause.
    Speech(Speech),
    /// Collect keys while waiting.
    Gather(Gather),
    /// Take the caller out of the queue; the verbs after their `<Enqueue>` run.
    Leave,
}

/// An ordinary TwiML document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The verbs, executed in order.
    pub verbs: Vec<Verb>,
}

/// The document played to a caller waiting in a queue (the `waitUrl`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WaitDocument {
    /// The verbs, executed in order; the provider fetches the document again when they end.
    pub verbs: Vec<WaitVerb>,
}

impl Document {
    /// Renders the document as XML.
    pub fn render(&self) -> String {
        render(|w| {
            for verb in &self.verbs {
                write_verb(w, verb);
            }
        })
    }
}

impl WaitDocument {
    /// Renders the document as XML.
    pub fn render(&self) -> String {
        render(|w| {
            for verb in &self.verbs {
                match verb {
                    WaitVerb::Speech(s) => write_speech(w, s),
                    WaitVerb::Gather(g) => write_gather(w, g),
                    WaitVerb::Leave => empty(w, BytesStart::new("Leave")),
                }
            }
        })
    }
}

/// Writes `<?xml …?><Response>…</Response>` around what `body` writes.
///
/// Writing into a `Vec<u8>` cannot fail, so the writer's I/O results are ignored here once
/// instead of being threaded through every helper.
fn render(body: impl FnOnce(&mut Writer<Vec<u8>>)) -> String {
    // Indented: people read these documents (in logs, snapshots, the simulator); the provider
    // ignores whitespace between elements, and text content is never touched.
    // Room for the longest menus of the shipped scripts (about 1.2 KB rendered), so the
    // buffer is allocated once.
    let mut w = Writer::new_with_indent(Vec::with_capacity(2048), b' ', 2);
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let _ = w.write_event(Event::Start(BytesStart::new("Response")));
    body(&mut w);
    let _ = w.write_event(Event::End(BytesEnd::new("Response")));
    // The writer only ever receives `&str`, so its buffer is valid UTF-8.
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn empty(w: &mut Writer<Vec<u8>>, start: BytesStart<'_>) {
    let _ = w.write_event(Event::Empty(start));
}

/// `text` as a rendered document carries it: without the characters XML 1.0 cannot hold
/// (control characters other than tab and line feed, which escaping does not help: the
/// provider's parser would refuse the whole document) and without carriage returns (which
/// parsers turn into line feeds anyway).
pub fn speakable(text: &str) -> Cow<'_, str> {
    let unfit = |c: char| {
        (c.is_ascii_control() && c != '\t' && c != '\n') || c == '\u{fffe}' || c == '\u{ffff}'
    };
    if text.contains(unfit) { Cow::Owned(text.replace(unfit, "")) } else { Cow::Borrowed(text) }
}

fn element(w: &mut Writer<Vec<u8>>, start: BytesStart<'_>, text: &str) {
    let _ = w.write_event(Event::Start(start.borrow()));
    let _ = w.write_event(Event::Text(BytesText::new(&speakable(text))));
    let _ = w.write_event(Event::End(start.to_end()));
}

fn write_speech(w: &mut Writer<Vec<u8>>, speech: &Speech) {
    match speech {
        Speech::Say { text, voice, language } => {
            let mut start = BytesStart::new("Say");
            if let Some(voice) = voice {
                start.push_attribute(("voice", voice.as_str()));
            }
            start.push_attribute(("language", language.as_str()));
            element(w, start, text);
        }
        Speech::Play { url } => element(w, BytesStart::new("Play"), url),
        Speech::Pause { seconds } => {
            let mut start = BytesStart::new("Pause");
            start.push_attribute(("length", seconds.to_string().as_str()));
            empty(w, start);
        }
    }
}

fn write_gather(w: &mut Writer<Vec<u8>>, gather: &Gather) {
    let mut start = BytesStart::new("Gather");
    start.push_attribute(("action", gather.action.as_str()));
    start.push_attribute(("method", "POST"));
    start.push_attribute(("input", "dtmf"));
    start.push_attribute(("numDigits", gather.num_digits.to_string().as_str()));
    start.push_attribute(("timeout", gather.timeout.to_string().as_str()));
    // No finish key: `#` is a menu key like any other, not "submit".
    start.push_attribute(("finishOnKey", ""));
    let _ = w.write_event(Event::Start(start));
    for prompt in &gather.prompts {
        write_speech(w, prompt);
    }
    let _ = w.write_event(Event::End(BytesEnd::new("Gather")));
}

fn write_redirect(w: &mut Writer<Vec<u8>>, url: &str) {
    let mut start = BytesStart::new("Redirect");
    start.push_attribute(("method", "POST"));
    element(w, start, url);
}

fn write_verb(w: &mut Writer<Vec<u8>>, verb: &Verb) {
    match verb {
        Verb::Speech(s) => write_speech(w, s),
        Verb::Gather(g) => write_gather(w, g),
        Verb::Redirect { url } => write_redirect(w, url),
        Verb::Enqueue(e) => {
            let mut start = BytesStart::new("Enqueue");
            start.push_attribute(("action", e.action.as_str()));
            start.push_attribute(("method", "POST"));
            start.push_attribute(("waitUrl", e.wait_url.as_str()));
            start.push_attribute(("waitUrlMethod", "POST"));
            element(w, start, &e.queue);
        }
        Verb::Record(r) => {
            let mut start = BytesStart::new("Record");
            start.push_attribute(("action", r.action.as_str()));
            start.push_attribute(("method", "POST"));
            start.push_attribute(("maxLength", r.max_length.to_string().as_str()));
            start.push_attribute(("timeout", r.timeout.to_string().as_str()));
            start.push_attribute(("finishOnKey", "#"));
            start.push_attribute(("playBeep", "true"));
            if let Some(status_callback) = &r.status_callback {
                start.push_attribute(("recordingStatusCallback", status_callback.as_str()));
            }
            empty(w, start);
        }
        Verb::KeypadEntry(k) => {
            let mut start = BytesStart::new("Gather");
            start.push_attribute(("action", k.action.as_str()));
            start.push_attribute(("method", "POST"));
            start.push_attribute(("input", "dtmf"));
            start.push_attribute(("numDigits", k.max_digits.to_string().as_str()));
            start.push_attribute(("timeout", k.timeout.to_string().as_str()));
            start.push_attribute(("finishOnKey", "#"));
            let _ = w.write_event(Event::Start(start));
            for prompt in &k.prompts {
                write_speech(w, prompt);
            }
            let _ = w.write_event(Event::End(BytesEnd::new("Gather")));
        }
        Verb::DialQueue(d) => {
            let mut start = BytesStart::new("Dial");
            start.push_attribute(("action", d.action.as_str()));
            start.push_attribute(("method", "POST"));
            start.push_attribute(("timeout", d.timeout.to_string().as_str()));
            let _ = w.write_event(Event::Start(start));
            let mut queue = BytesStart::new("Queue");
            queue.push_attribute(("url", d.url.as_str()));
            queue.push_attribute(("method", "POST"));
            element(w, queue, &d.queue);
            let _ = w.write_event(Event::End(BytesEnd::new("Dial")));
        }
        Verb::DialNumber(d) => {
            let mut start = BytesStart::new("Dial");
            start.push_attribute(("action", d.action.as_str()));
            start.push_attribute(("method", "POST"));
            start.push_attribute(("timeout", d.timeout.to_string().as_str()));
            if let Some(caller_id) = &d.caller_id {
                start.push_attribute(("callerId", caller_id.as_str()));
            }
            let _ = w.write_event(Event::Start(start));
            element(w, BytesStart::new("Number"), &d.number);
            let _ = w.write_event(Event::End(BytesEnd::new("Dial")));
        }
        Verb::Hangup => empty(w, BytesStart::new("Hangup")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn say(text: &str) -> Speech {
        Speech::Say {
            text: text.into(),
            voice: Some("Polly.Tatyana".into()),
            language: "ru-RU".into(),
        }
    }

    #[test]
    fn characters_xml_cannot_hold_are_left_out() {
        let say = Speech::Say {
            text: "a\u{0}b\u{1b}c\r\nd\te\u{ffff}".into(),
            voice: None,
            language: "en-US".into(),
        };
        let xml = Document { verbs: vec![Verb::Speech(say)] }.render();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let said = doc.root_element().first_element_child().unwrap().text().unwrap();
        assert_eq!(said, "abc\nd\te");
        assert_eq!(speakable("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        let doc = Document {
            verbs: vec![
                Verb::Speech(say("<Hangup/> & \"quotes\"")),
                Verb::Redirect { url: "/voice/menu?lang=ru&node=main".into() },
            ],
        };
        let xml = doc.render();
        assert!(xml.contains("&lt;Hangup/&gt; &amp;"), "{xml}");
        assert!(xml.contains("/voice/menu?lang=ru&amp;node=main"), "{xml}");
        let parsed = roxmltree::Document::parse(&xml).unwrap();
        assert_eq!(parsed.root_element().tag_name().name(), "Response");
        assert_eq!(parsed.root_element().children().filter(|n| n.is_element()).count(), 2);
        assert!(!xml.contains("<Hangup"), "{xml}");
    }

    #[test]
    fn gather_holds_its_prompts_and_disables_the_finish_key() {
        let doc = Document {
            verbs: vec![Verb::Gather(Gather {
                action: "/a".into(),
                num_digits: 1,
                timeout: 7,
                prompts: vec![say("Нажмите 1."), Speech::Pause { seconds: 1 }],
            })],
        };
        insta::assert_snapshot!(doc.render(), @r#"
        <?xml version="1.0" encoding="UTF-8"?>
        <Response>
          <Gather action="/a" method="POST" input="dtmf" numDigits="1" timeout="7" finishOnKey="">
            <Say voice="Polly.Tatyana" language="ru-RU">Нажмите 1.</Say>
            <Pause length="1"/>
          </Gather>
        </Response>
        "#);
    }

    #[test]
    fn wait_documents_render_leave_and_hangup() {
        let doc = WaitDocument { verbs: vec![WaitVerb::Speech(say("1")), WaitVerb::Leave] };
        assert!(doc.render().ends_with("<Leave/>\n</Response>"), "{}", doc.render());
    }
}
