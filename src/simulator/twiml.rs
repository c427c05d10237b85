//! Reading the server's TwiML as the provider would: what the caller hears and where the call
//! goes next, checked against the provider's rules.
//!
//! The simulator is a test tool, so it is strict where the provider would fail the call or
//! where the server is surely wrong: a document the provider would reject (wrong root, a verb
//! where it is not allowed, an oversized document or `<Say>`, a malformed attribute) is an
//! error, not something to guess around. Valid TwiML the simulator cannot act out (`<Connect>`,
//! `<Pay>`, `<Play digits>`, …) is an error too, saying so.

use roxmltree::{Document, Node};

/// The largest document the provider accepts.
const MAX_DOCUMENT_BYTES: usize = 64 * 1024;
/// The longest `<Say>` text with a Polly voice, in characters.
const MAX_POLLY_SAY_CHARS: usize = 3000;
/// The longest `<Say>` text with a basic voice, in characters.
const MAX_BASIC_SAY_CHARS: usize = 4096;
/// The longest queue name.
const MAX_QUEUE_NAME_CHARS: usize = 64;

/// How the provider fetches a URL named by a verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Parameters in a form body (the default everywhere).
    Post,
    /// Parameters in the query string.
    Get,
}

/// A URL a verb sends the call to, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// As written in the document; `None` means the document's own URL.
    pub(crate) url: Option<String>,
    /// How to request it.
    pub(crate) method: Method,
}

/// Something the caller hears: the verbs allowed everywhere, and inside `<Gather>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// Text to speech.
    Say {
        /// The text, with its whitespace collapsed.
        text: String,
        /// `voice`, when given.
        voice: Option<String>,
        /// `language`, when given.
        language: Option<String>,
        /// `loop`: times played; 0 repeats until the call moves on.
        loops: u32,
    },
    /// A recording.
    Play {
        /// The audio URL.
        url: String,
        /// `loop`, as for `Say`.
        loops: u32,
    },
    /// Silence.
    Pause {
        /// `length`, in seconds.
        seconds: u32,
    },
}

/// `<Gather>`: prompts, then the caller's keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gather {
    /// Where the keys go.
    pub(crate) action: Target,
    /// What is played while the caller may press.
    pub(crate) prompts: Vec<Prompt>,
    /// `numDigits`: the keys after this many are not taken.
    pub(crate) num_digits: Option<usize>,
    /// `finishOnKey`: the key that submits (and is not sent); `None` when set to empty.
    pub(crate) finish_on_key: Option<char>,
    /// Whether `input` includes `dtmf`; a speech-only Gather ignores keys.
    pub(crate) takes_keys: bool,
    /// `actionOnEmptyResult`: request the action even when no key came.
    pub(crate) action_on_empty_result: bool,
}

impl Gather {
    /// The `Digits` the provider submits for these keys: up to the finish key or `numDigits`.
    pub(crate) fn digits(&self, keys: &str) -> String {
        let mut digits = String::new();
        for key in keys.chars() {
            if Some(key) == self.finish_on_key {
                break;
            }
            digits.push(key);
            if self.num_digits.is_some_and(|n| digits.len() >= n) {
                break;
            }
        }
        digits
    }
}

/// `<Enqueue>`: the caller waits in a queue for an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Enqueue {
    /// The queue's name (or the TaskRouter workflow's SID).
    pub(crate) queue: String,
    /// Where the outcome goes when the caller leaves the queue; `None`: the verbs after it run.
    pub(crate) action: Option<Target>,
    /// `waitUrl`: the document played while waiting; `None`: the provider's hold music.
    pub(crate) wait: Option<Target>,
}

/// A verb of a call's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallVerb {
    /// Say, Play or Pause.
    Prompt(Prompt),
    /// Collect keys.
    Gather(Gather),
    /// Fetch another document.
    Redirect(Target),
    /// Record a message.
    Record {
        /// Where the recording goes.
        action: Target,
        /// `maxLength`, in seconds.
        max_length: u32,
    },
    /// Wait in a queue.
    Enqueue(Enqueue),
    /// Call someone.
    Dial {
        /// What is dialled, for the transcript (`+1800…`, `Queue support`).
        target: String,
        /// Where the outcome goes; `None`: the verbs after it run.
        action: Option<Target>,
    },
    /// End the call.
    Hangup,
    /// Refuse the call.
    Reject {
        /// `reason`: `rejected` or `busy`.
        reason: String,
    },
}

/// A verb of a queue's wait document (`waitUrl`), which allows fewer verbs and `<Leave>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WaitVerb {
    /// Say, Play or Pause.
    Prompt(Prompt),
    /// Collect keys.
    Gather(Gather),
    /// Fetch another wait document.
    Redirect(Target),
    /// End the call.
    Hangup,
    /// Take the caller out of the queue.
    Leave,
}

/// A kind of document: how its elements become verbs.
pub(crate) trait Verb: Sized {
    /// The verb `element` stands for, or why it cannot be in this kind of document.
    fn from_element(element: Node<'_, '_>) -> Result<Self, String>;
}

impl Verb for CallVerb {
    fn from_element(element: Node<'_, '_>) -> Result<Self, String> {
        Ok(match element.tag_name().name() {
            "Say" | "Play" | "Pause" => CallVerb::Prompt(prompt(element)?),
            "Gather" => CallVerb::Gather(gather(element)?),
            "Redirect" => CallVerb::Redirect(redirect(element)?),
            "Hangup" => CallVerb::Hangup,
            "Record" => CallVerb::Record {
                action: target(element, "action", "method")?,
                max_length: number(element, "maxLength", 3600)?,
            },
            "Enqueue" => CallVerb::Enqueue(enqueue(element)?),
            "Dial" => CallVerb::Dial {
                target: dial_target(element)?,
                action: optional_target(element, "action", "method")?,
            },
            "Reject" => {
                let reason = element.attribute("reason").unwrap_or("rejected");
                if !matches!(reason, "rejected" | "busy") {
                    return Err(format!(
                        "<Reject reason={reason:?}>: the reason is rejected or busy"
                    ));
                }
                CallVerb::Reject { reason: reason.to_owned() }
            }
            "Leave" => return Err("<Leave> belongs in a queue's wait document only".into()),
            other => return Err(unsupported(other)),
        })
    }
}

impl Verb for WaitVerb {
    fn from_element(element: Node<'_, '_>) -> Result<Self, String> {
        Ok(match element.tag_name().name() {
            "Say" | "Play" | "Pause" => WaitVerb::Prompt(prompt(element)?),
            "Gather" => WaitVerb::Gather(gather(element)?),
            "Redirect" => WaitVerb::Redirect(redirect(element)?),
            "Hangup" => WaitVerb::Hangup,
            "Leave" => WaitVerb::Leave,
            name @ ("Record" | "Enqueue" | "Dial" | "Reject") => {
                return Err(format!(
                    "<{name}> is not allowed in a queue's wait document (only Play, Say, Pause, \
                     Hangup, Redirect, Leave, Gather)"
                ));
            }
            other => return Err(unsupported(other)),
        })
    }
}

/// The verbs of a TwiML document, or why the provider would not accept it.
pub(crate) fn parse<V: Verb>(body: &str) -> Result<Vec<V>, String> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "the document is {} bytes; the provider accepts at most {MAX_DOCUMENT_BYTES}",
            body.len()
        ));
    }
    // roxmltree refuses DTDs by default, so no entity expansion can blow up.
    let document = Document::parse(body).map_err(|e| format!("not well-formed XML: {e}"))?;
    let root = document.root_element();
    if root.tag_name().name() != "Response" || root.tag_name().namespace().is_some() {
        return Err(format!("the root element is <{}>, not <Response>", root.tag_name().name()));
    }
    let mut verbs = Vec::new();
    for child in root.children() {
        if child.is_element() {
            verbs.push(V::from_element(child)?);
        } else if child.is_text() && !child.text().unwrap_or("").trim().is_empty() {
            return Err("<Response> contains text outside any verb".into());
        }
    }
    Ok(verbs)
}

/// The message for an element the simulator does not act out.
fn unsupported(name: &str) -> String {
    format!("<{name}> is not a verb the simulator knows (or not one the provider allows here)")
}

/// `<Say>`, `<Play>` or `<Pause>`.
fn prompt(element: Node<'_, '_>) -> Result<Prompt, String> {
    match element.tag_name().name() {
        "Say" => {
            let text = collapsed_text(element);
            let voice = element.attribute("voice").map(str::to_owned);
            let limit = match &voice {
                Some(voice) if voice.starts_with("Polly.") => MAX_POLLY_SAY_CHARS,
                _ => MAX_BASIC_SAY_CHARS,
            };
            let chars = text.chars().count();
            if chars > limit {
                return Err(format!(
                    "a <Say> of {chars} characters; this voice takes at most {limit}"
                ));
            }
            Ok(Prompt::Say {
                text,
                voice,
                language: element.attribute("language").map(str::to_owned),
                loops: number(element, "loop", 1)?,
            })
        }
        "Play" => {
            if element.attribute("digits").is_some() {
                return Err(
                    "<Play digits> (sending tones) is not acted out by the simulator".into()
                );
            }
            let url = collapsed_text(element);
            if url.is_empty() {
                return Err("a <Play> without an audio URL".into());
            }
            Ok(Prompt::Play { url, loops: number(element, "loop", 1)? })
        }
        "Pause" => Ok(Prompt::Pause { seconds: number(element, "length", 1)? }),
        other => Err(format!("<{other}> is not allowed inside <Gather> (only Say, Play, Pause)")),
    }
}

/// `<Gather>` with its nested prompts.
fn gather(element: Node<'_, '_>) -> Result<Gather, String> {
    let mut prompts = Vec::new();
    for child in element.children() {
        if child.is_element() {
            prompts.push(prompt(child)?);
        }
    }
    let num_digits = match element.attribute("numDigits") {
        None => None,
        Some(_) => match number(element, "numDigits", 1)? {
            0 => return Err("<Gather numDigits=\"0\">: it must be at least 1".into()),
            n => Some(n as usize),
        },
    };
    let finish_on_key = match element.attribute("finishOnKey").unwrap_or("#") {
        "" => None,
        key if key.len() == 1 && key.chars().all(is_phone_key) => key.chars().next(),
        key => return Err(format!("<Gather finishOnKey={key:?}>: it must be one key, or empty")),
    };
    let input = element.attribute("input").unwrap_or("dtmf");
    let takes_keys = input.split_whitespace().any(|mode| mode == "dtmf");
    if !input.split_whitespace().all(|mode| matches!(mode, "dtmf" | "speech")) {
        return Err(format!("<Gather input={input:?}>: it is dtmf, speech, or \"dtmf speech\""));
    }
    Ok(Gather {
        action: target(element, "action", "method")?,
        prompts,
        num_digits,
        finish_on_key,
        takes_keys,
        action_on_empty_result: boolean(element, "actionOnEmptyResult")?,
    })
}

/// `<Redirect>`: its text is the URL.
fn redirect(element: Node<'_, '_>) -> Result<Target, String> {
    let url = collapsed_text(element);
    if url.is_empty() {
        return Err("a <Redirect> without a URL".into());
    }
    Ok(Target { url: Some(url), method: method(element, "method")? })
}

/// `<Enqueue>`.
fn enqueue(element: Node<'_, '_>) -> Result<Enqueue, String> {
    let name = collapsed_text(element);
    let queue = match element.attribute("workflowSid") {
        Some(workflow) if name.is_empty() => workflow.to_owned(),
        _ => name,
    };
    if queue.is_empty() {
        return Err("an <Enqueue> without a queue name".into());
    }
    let chars = queue.chars().count();
    if chars > MAX_QUEUE_NAME_CHARS {
        return Err(format!("a queue name of {chars} characters; at most {MAX_QUEUE_NAME_CHARS}"));
    }
    Ok(Enqueue {
        queue,
        action: optional_target(element, "action", "method")?,
        wait: optional_target(element, "waitUrl", "waitUrlMethod")?,
    })
}

/// What a `<Dial>` calls, for the transcript: its text, or its nouns (`Queue support`).
fn dial_target(element: Node<'_, '_>) -> Result<String, String> {
    let text: String = element
        .children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<Vec<_>>()
        .join(" ");
    let mut parts: Vec<String> = Vec::new();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if !text.is_empty() {
        parts.push(text);
    }
    for noun in element.children().filter(Node::is_element) {
        let name = noun.tag_name().name();
        if !matches!(name, "Number" | "Client" | "Sip" | "Queue" | "Conference") {
            return Err(format!("<{name}> is not a noun of <Dial>"));
        }
        parts.push(format!("{name} {}", collapsed_text(noun)));
    }
    if parts.is_empty() {
        return Err("a <Dial> with nothing to dial".into());
    }
    Ok(parts.join(", "))
}

/// The target named by `url_attribute`, defaulting to the document's own URL.
fn target(
    element: Node<'_, '_>,
    url_attribute: &str,
    method_attribute: &str,
) -> Result<Target, String> {
    Ok(Target {
        url: element.attribute(url_attribute).map(str::to_owned),
        method: method(element, method_attribute)?,
    })
}

/// The target named by `url_attribute`, if the element has one.
fn optional_target(
    element: Node<'_, '_>,
    url_attribute: &str,
    method_attribute: &str,
) -> Result<Option<Target>, String> {
    match element.attribute(url_attribute) {
        None => Ok(None),
        Some(_) => target(element, url_attribute, method_attribute).map(Some),
    }
}

/// An HTTP method attribute; POST when absent.
fn method(element: Node<'_, '_>, attribute: &str) -> Result<Method, String> {
    match element.attribute(attribute) {
        None => Ok(Method::Post),
        Some(m) if m.eq_ignore_ascii_case("POST") => Ok(Method::Post),
        Some(m) if m.eq_ignore_ascii_case("GET") => Ok(Method::Get),
        Some(m) => Err(format!(
            "<{} {attribute}={m:?}>: the method is GET or POST",
            element.tag_name().name()
        )),
    }
}

/// A whole-number attribute, or `default` when absent.
fn number(element: Node<'_, '_>, attribute: &str, default: u32) -> Result<u32, String> {
    match element.attribute(attribute) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| {
            format!("<{} {attribute}={value:?}>: not a whole number", element.tag_name().name())
        }),
    }
}

/// A `true`/`false` attribute, false when absent.
fn boolean(element: Node<'_, '_>, attribute: &str) -> Result<bool, String> {
    match element.attribute(attribute) {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(value) => Err(format!(
            "<{} {attribute}={value:?}>: it is true or false",
            element.tag_name().name()
        )),
    }
}

/// All the text inside `element` (SSML tags included), whitespace runs collapsed.
fn collapsed_text(element: Node<'_, '_>) -> String {
    let text: Vec<&str> =
        element.descendants().filter(Node::is_text).filter_map(|n| n.text()).collect();
    text.concat().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A key of a phone's keypad.
pub(crate) fn is_phone_key(c: char) -> bool {
    c.is_ascii_digit() || c == '*' || c == '#'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Result<Vec<CallVerb>, String> {
        parse::<CallVerb>(body)
    }

    fn post(url: &str) -> Target {
        Target { url: Some(url.into()), method: Method::Post }
    }

    #[test]
    fn reads_a_menu() {
        let verbs = call(
            r#"<?xml version="1.0" encoding="UTF-8"?>
            <Response>
              <Gather action="/voice/language" numDigits="1" timeout="6">
                <Say voice="Polly.Tatyana" language="ru-RU">Для русского
                   языка нажмите 1.</Say>
                <Play>/audio/uk/welcome.mp3</Play>
                <Pause length="2"/>
              </Gather>
              <Redirect method="GET">/voice/incoming?again=1</Redirect>
            </Response>"#,
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                CallVerb::Gather(Gather {
                    action: post("/voice/language"),
                    prompts: vec![
                        Prompt::Say {
                            text: "Для русского языка нажмите 1.".into(),
                            voice: Some("Polly.Tatyana".into()),
                            language: Some("ru-RU".into()),
                            loops: 1,
                        },
                        Prompt::Play { url: "/audio/uk/welcome.mp3".into(), loops: 1 },
                        Prompt::Pause { seconds: 2 },
                    ],
                    num_digits: Some(1),
                    finish_on_key: Some('#'),
                    takes_keys: true,
                    action_on_empty_result: false,
                }),
                CallVerb::Redirect(Target {
                    url: Some("/voice/incoming?again=1".into()),
                    method: Method::Get
                }),
            ]
        );
    }

    #[test]
    fn reads_the_other_verbs() {
        let verbs = call(
            r#"<Response>
              <Record action="rec" maxLength="120"/>
              <Enqueue action="/voice/queue-result" waitUrl="/voice/wait" waitUrlMethod="get">support-ru</Enqueue>
              <Enqueue>plain</Enqueue>
              <Dial action="/voice/dialed"><Queue url="/w">support</Queue></Dial>
              <Dial>+18005550100</Dial>
              <Reject reason="busy"/>
              <Hangup/>
            </Response>"#,
        )
        .unwrap();
        assert_eq!(verbs[0], CallVerb::Record { action: post("rec"), max_length: 120 });
        assert_eq!(
            verbs[1],
            CallVerb::Enqueue(Enqueue {
                queue: "support-ru".into(),
                action: Some(post("/voice/queue-result")),
                wait: Some(Target { url: Some("/voice/wait".into()), method: Method::Get }),
            })
        );
        assert_eq!(
            verbs[2],
            CallVerb::Enqueue(Enqueue { queue: "plain".into(), action: None, wait: None })
        );
        assert_eq!(
            verbs[3],
            CallVerb::Dial { target: "Queue support".into(), action: Some(post("/voice/dialed")) }
        );
        assert_eq!(verbs[4], CallVerb::Dial { target: "+18005550100".into(), action: None });
        assert_eq!(verbs[5], CallVerb::Reject { reason: "busy".into() });
        assert_eq!(verbs[6], CallVerb::Hangup);
    }

    #[test]
    fn defaults_follow_the_provider() {
        let verbs =
            call("<Response><Gather finishOnKey=\"\" input=\"speech\"/><Record/></Response>")
                .unwrap();
        let CallVerb::Gather(gather) = &verbs[0] else { panic!("{verbs:?}") };
        assert_eq!(gather.action, Target { url: None, method: Method::Post });
        assert_eq!(gather.finish_on_key, None);
        assert!(!gather.takes_keys);
        assert_eq!(
            verbs[1],
            CallVerb::Record {
                action: Target { url: None, method: Method::Post },
                max_length: 3600
            }
        );
    }

    #[test]
    fn digits_stop_at_the_finish_key_or_num_digits() {
        let mut gather = Gather {
            action: Target { url: None, method: Method::Post },
            prompts: vec![],
            num_digits: None,
            finish_on_key: Some('#'),
            takes_keys: true,
            action_on_empty_result: false,
        };
        assert_eq!(gather.digits("12#34"), "12");
        assert_eq!(gather.digits("#"), "");
        assert_eq!(gather.digits("*9"), "*9");
        gather.num_digits = Some(1);
        assert_eq!(gather.digits("12"), "1");
        gather.finish_on_key = None;
        gather.num_digits = None;
        assert_eq!(gather.digits("1#2"), "1#2");
    }

    #[test]
    fn wait_documents_allow_leave_but_not_record() {
        let verbs = parse::<WaitVerb>(
            "<Response><Play loop=\"0\">/audio/hold.mp3</Play><Leave/><Hangup/></Response>",
        )
        .unwrap();
        assert_eq!(
            verbs,
            vec![
                WaitVerb::Prompt(Prompt::Play { url: "/audio/hold.mp3".into(), loops: 0 }),
                WaitVerb::Leave,
                WaitVerb::Hangup
            ]
        );
        for verb in ["<Record/>", "<Enqueue>q</Enqueue>", "<Dial>1</Dial>", "<Reject/>"] {
            let error = parse::<WaitVerb>(&format!("<Response>{verb}</Response>")).unwrap_err();
            assert!(error.contains("wait document"), "{error}");
        }
        let error = call("<Response><Leave/></Response>").unwrap_err();
        assert!(error.contains("wait document"), "{error}");
    }

    #[test]
    fn rejects_what_the_provider_would_reject() {
        let bad = [
            ("", "well-formed"),
            ("<Response>", "well-formed"),
            ("<Reply/>", "root"),
            ("<x:Response xmlns:x=\"urn:x\"/>", "root"),
            ("<Response>hello</Response>", "text outside"),
            ("<Response><Sms>hi</Sms></Response>", "<Sms>"),
            ("<Response><say>hi</say></Response>", "<say>"),
            ("<Response><Gather><Gather/></Gather></Response>", "inside <Gather>"),
            ("<Response><Gather><Record/></Gather></Response>", "inside <Gather>"),
            ("<Response><Gather numDigits=\"0\"/></Response>", "at least 1"),
            ("<Response><Gather numDigits=\"x\"/></Response>", "whole number"),
            ("<Response><Gather finishOnKey=\"##\"/></Response>", "one key"),
            ("<Response><Gather finishOnKey=\"a\"/></Response>", "one key"),
            ("<Response><Gather input=\"voice\"/></Response>", "dtmf"),
            ("<Response><Gather actionOnEmptyResult=\"yes\"/></Response>", "true or false"),
            ("<Response><Gather method=\"PUT\"/></Response>", "GET or POST"),
            ("<Response><Pause length=\"-1\"/></Response>", "whole number"),
            ("<Response><Play/></Response>", "audio URL"),
            ("<Response><Play digits=\"1\"/></Response>", "tones"),
            ("<Response><Redirect/></Response>", "without a URL"),
            ("<Response><Enqueue/></Response>", "queue name"),
            ("<Response><Dial/></Response>", "nothing to dial"),
            ("<Response><Dial><Say>x</Say></Dial></Response>", "noun"),
            ("<Response><Reject reason=\"later\"/></Response>", "rejected or busy"),
            ("<!DOCTYPE r [<!ENTITY a \"aaaa\">]><Response>&a;</Response>", "well-formed"),
        ];
        for (body, expected) in bad {
            let error = call(body).unwrap_err();
            assert!(error.contains(expected), "{body:?}: {error}");
        }
    }

    #[test]
    fn enforces_the_provider_limits() {
        let long = "а".repeat(3001);
        let polly = format!("<Response><Say voice=\"Polly.Tatyana\">{long}</Say></Response>");
        assert!(call(&polly).unwrap_err().contains("3001 characters"));
        let basic = format!("<Response><Say>{long}</Say></Response>");
        assert!(call(&basic).is_ok());
        let huge = format!("<Response><Say>{}</Say></Response>", "a ".repeat(40_000));
        assert!(call(&huge).unwrap_err().contains("at most 65536"));
        let queue = format!("<Response><Enqueue>{}</Enqueue></Response>", "q".repeat(65));
        assert!(call(&queue).unwrap_err().contains("at most 64"));
    }

    #[test]
    fn say_text_includes_ssml_and_ignores_comments() {
        let verbs = call(
            "<Response><!-- menu --><Say>Hello <emphasis>there</emphasis>,\n friend<break/>.</Say></Response>",
        )
        .unwrap();
        let CallVerb::Prompt(Prompt::Say { text, .. }) = &verbs[0] else { panic!("{verbs:?}") };
        assert_eq!(text, "Hello there, friend.");
    }
}
