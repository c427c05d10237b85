//! Tests of the loader: one per kind of problem (its words and its line), a full folder that
//! loads into the expected model, hostile inputs, and random inputs that must never panic.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proptest::prelude::*;

use super::*;

/// A small valid script. Tests change one line and keep the line count, so the line numbers
/// in their assertions can be read off this text.
const SCRIPT: &str = r#"<script language="en" name="English" voice="Polly.Joanna" tts-language="en-US"
        start="welcome" operator="operator">
  <apology><say>Sorry, a technical problem.</say></apology>
  <message id="welcome" next="main">
    <say>Welcome.</say>
  </message>
  <menu id="main" default="operator">
    <say>Press 1 to hear about surrender.</say>
    <option key="1" goto="surrender" tag="intent=surrender"/>
    <option key="9" goto="@language" label="change language"/>
    <invalid><say>No such key.</say></invalid>
  </menu>
  <message id="surrender" next="goodbye">
    <say>You will be safe.</say>
  </message>
  <handoff id="operator" otherwise="goodbye">
    <say>Connecting you.</say>
    <wait><say>You are number {position} in line.</say></wait>
  </handoff>
  <hangup id="goodbye"><say>Goodbye.</say></hangup>
  <chat operator="Operator" back="Back" operator-words="operator, agent"><received>Thanks.</received><reminder>Still there?</reminder><closed>Closed.</closed></chat>
</script>
"#;

/// A small valid language choice, for `ru` and `uk` scripts.
const LANGUAGES: &str = r#"<languages default="ru" timeout="5" attempts="2">
  <language code="ru" key="1">
    <say>Для русского языка нажмите 1.</say>
  </language>
  <language code="uk" key="3" countries="UA">
    <play file="choose.mp3">Українською — натисніть 3.</play>
  </language>
</languages>
"#;

fn no_audio() -> &'static Path {
    Path::new("/nonexistent/audio")
}

/// `SCRIPT` with `from` (which must occur) replaced by `to`.
fn script_with(from: &str, to: &str) -> String {
    assert!(SCRIPT.contains(from), "{from:?} is not in the script");
    SCRIPT.replacen(from, to, 1)
}

/// The problems of a script that must not load, as `en.xml`.
fn problems(text: &str) -> Vec<Diagnostic> {
    problems_as("en.xml", text)
}

fn problems_as(file: &str, text: &str) -> Vec<Diagnostic> {
    match parse_script(Path::new(file), text, no_audio()) {
        Ok(_) => panic!("the script loaded, but should not have:\n{text}"),
        Err(diagnostics) => diagnostics,
    }
}

/// Asserts that some error is at `line` and contains every one of `words`.
#[track_caller]
fn assert_error(diagnostics: &[Diagnostic], line: u32, words: &[&str]) {
    let found = diagnostics
        .iter()
        .any(|d| d.is_error() && d.line == line && words.iter().all(|w| d.message.contains(w)));
    let all: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(found, "no error at line {line} with {words:?} among:\n{}", all.join("\n"));
}

#[track_caller]
fn assert_script_error(text: &str, line: u32, words: &[&str]) {
    assert_error(&problems(text), line, words);
}

fn languages_problems(text: &str, scripts: &[&str]) -> Vec<Diagnostic> {
    let scripts: BTreeSet<LanguageTag> =
        scripts.iter().map(|s| LanguageTag::parse(s).unwrap()).collect();
    match parse_languages(Path::new("languages.xml"), text, no_audio(), &scripts) {
        Ok(_) => panic!("the language choice loaded, but should not have:\n{text}"),
        Err(diagnostics) => diagnostics,
    }
}

fn languages_with(from: &str, to: &str) -> String {
    assert!(LANGUAGES.contains(from), "{from:?} is not in languages.xml");
    LANGUAGES.replacen(from, to, 1)
}

fn id(s: &str) -> NodeId {
    NodeId::parse(s).unwrap()
}

#[test]
fn the_small_script_is_valid() {
    let (script, warnings) = parse_script(Path::new("en.xml"), SCRIPT, no_audio()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(script.nodes.len(), 5);
    let NodeKind::Menu { options, timeout, attempts, back, .. } = &script.nodes[&id("main")].kind
    else {
        panic!("main is not a menu");
    };
    assert_eq!((*timeout, *attempts, back), (7, 3, &None), "defaults");
    assert_eq!(options[0].label, "key 1 → surrender");
    assert_eq!(options[1].goto, Target::LanguageChoice);
    let NodeKind::Handoff { queue, wait_pause, .. } = &script.nodes[&id("operator")].kind else {
        panic!("operator is not a handoff");
    };
    assert_eq!((queue.as_str(), *wait_pause), ("en", 20), "defaults");
}

// --- One test per kind of problem in a script ---

#[test]
fn malformed_xml_is_reported_alone() {
    let diagnostics = problems(&script_with("</menu>", "</menuu>"));
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert_error(&diagnostics, 12, &["not well-formed", "</menuu>", "<menu>"]);
}

#[test]
fn unknown_element() {
    let text = script_with("<say>Connecting you.</say>", "<sya>Connecting you.</sya>");
    assert_script_error(&text, 17, &["<sya> is not allowed here", "did you mean <say>?"]);
}

#[test]
fn unknown_attribute() {
    let text = script_with(r#"default="operator">"#, r#"default="operator" timout="5">"#);
    assert_script_error(&text, 7, &["menu \"main\"", "\"timout\"", "did you mean \"timeout\"?"]);
}

#[test]
fn missing_required_attribute() {
    let text =
        script_with(r#"<message id="surrender" next="goodbye">"#, r#"<message id="surrender">"#);
    assert_script_error(&text, 13, &["message \"surrender\"", "needs a next=\"…\" attribute"]);
}

#[test]
fn missing_apology() {
    let text = script_with("<apology><say>Sorry, a technical problem.</say></apology>", "");
    assert_script_error(&text, 1, &["no <apology>"]);
}

#[test]
fn second_apology() {
    let text = script_with("</hangup>", "</hangup><apology><say>Again.</say></apology>");
    assert_script_error(&text, 20, &["a second <apology>", "line 3"]);
}

#[test]
fn menu_without_invalid() {
    let text = script_with("<invalid><say>No such key.</say></invalid>", "");
    assert_script_error(&text, 7, &["menu \"main\"", "no <invalid>"]);
}

#[test]
fn second_invalid() {
    let text = script_with("</invalid>", "</invalid><invalid><say>Again.</say></invalid>");
    assert_script_error(&text, 11, &["menu \"main\"", "a second <invalid>", "line 11"]);
}

#[test]
fn handoff_without_wait() {
    let text = script_with("<wait><say>You are number {position} in line.</say></wait>", "");
    assert_script_error(&text, 16, &["handoff \"operator\"", "no <wait>"]);
}

#[test]
fn handoff_with_two_too_long_or_a_placeholder_in_it() {
    let wait = "<wait><say>You are number {position} in line.</say></wait>";
    let once = "<too-long><say>Still busy.</say></too-long>";
    let text = script_with(wait, &format!("{wait}{once}{once}"));
    assert_script_error(&text, 18, &["<too-long>", "a second <too-long>"]);
    let text =
        script_with(wait, &format!("{wait}<too-long><say>Number {{position}}.</say></too-long>"));
    assert!(!problems(&text).is_empty(), "a placeholder outside <wait> is refused");
}

#[test]
fn number_that_is_not_a_number() {
    let text = script_with(r#"<menu id="main""#, r#"<menu id="main" timeout="soon""#);
    assert_script_error(&text, 7, &["menu \"main\"", "timeout=\"soon\"", "not a whole number"]);
}

#[test]
fn number_out_of_range() {
    let text = script_with(r#"<menu id="main""#, r#"<menu id="main" attempts="11""#);
    assert_script_error(&text, 7, &["attempts=\"11\"", "out of range", "1 to 10"]);
    let text = script_with("<wait>", r#"<wait pause="121">"#);
    assert_script_error(&text, 18, &["<wait>", "pause=\"121\"", "1 to 120"]);
    let text = script_with(
        r#"<message id="surrender" next="goodbye">"#,
        r#"<voicemail id="surrender" next="goodbye" max-length="0">"#,
    )
    .replacen("</message>\n  <handoff", "</voicemail>\n  <handoff", 1);
    assert_script_error(&text, 13, &["voicemail \"surrender\"", "max-length=\"0\"", "1 to 3600"]);
    let text = script_with("<say>Welcome.</say>", r#"<say>Welcome.</say><pause seconds="61"/>"#);
    assert_script_error(&text, 5, &["seconds=\"61\"", "1 to 60"]);
}

#[test]
fn bad_node_id() {
    let text = script_with(r#"<hangup id="goodbye">"#, r#"<hangup id="Good bye">"#);
    assert_script_error(&text, 20, &["id=\"Good bye\"", "is not a node id"]);
}

#[test]
fn bad_key() {
    let text = script_with(r#"<option key="1""#, r#"<option key="a""#);
    assert_script_error(&text, 9, &["key=\"a\"", "not a phone key"]);
}

#[test]
fn bad_tag() {
    let text = script_with("intent=surrender", "intent:surrender");
    assert_script_error(&text, 9, &["option 1", "\"intent:surrender\"", "name=value"]);
}

#[test]
fn bad_queue() {
    let text = script_with(r#"<handoff id="operator""#, r#"<handoff id="operator" queue="a b""#);
    assert_script_error(&text, 16, &["queue=\"a b\"", "not a queue name"]);
}

#[test]
fn bad_voice_and_speech_language() {
    let text = script_with(r#"tts-language="en-US""#, r#"tts-language="en_US""#);
    assert_script_error(&text, 1, &["tts-language=\"en_US\"", "like ru-RU"]);
    let text = script_with(r#"voice="Polly.Joanna""#, r#"voice="Polly Joanna""#);
    assert_script_error(&text, 1, &["voice=\"Polly Joanna\"", "not a voice name"]);
}

#[test]
fn duplicate_node_id() {
    let text = script_with(r#"<hangup id="goodbye">"#, r#"<hangup id="welcome">"#);
    assert_script_error(&text, 20, &["\"welcome\" is already used by the message at line 4"]);
}

#[test]
fn duplicate_key() {
    let text = script_with(r#"<option key="9""#, r#"<option key="1""#);
    assert_script_error(&text, 10, &["key 1 is used by two options", "line 9"]);
}

#[test]
fn reserved_keys() {
    let text = script_with(r#"<option key="1""#, r#"<option key="0""#);
    assert_script_error(&text, 9, &["key 0 always reaches an operator; choose another key"]);
    let text = script_with(r#"<option key="1""#, r#"<option key="*""#);
    assert_script_error(&text, 9, &["key * always goes back", "choose another key"]);
}

#[test]
fn goto_to_a_missing_node_suggests_the_closest() {
    let diagnostics = problems(&script_with(r#"goto="surrender""#, r#"goto="surender""#));
    let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(
        text.contains(
            &"en.xml:9:21: error: menu \"main\": option 1 goes to \"surender\", which does not \
              exist; did you mean \"surrender\"?"
                .to_owned()
        ),
        "{text:#?}"
    );
    // The typo is the only problem: "surrender" is not blamed for being unreachable.
    assert_eq!(diagnostics.len(), 1, "{text:#?}");
}

#[test]
fn every_kind_of_reference_is_checked() {
    let cases = [
        (r#"start="welcome""#, r#"start="welcom""#, 2, "start goes to \"welcom\""),
        (r#"operator="operator">"#, r#"operator="opera">"#, 2, "operator goes to \"opera\""),
        (r#"next="main""#, r#"next="mian""#, 4, "next goes to \"mian\""),
        (r#"default="operator""#, r#"default="nobody""#, 7, "default goes to \"nobody\""),
        (r#"<menu id="main""#, r#"<menu id="main" back="nowhere""#, 7, "back goes to \"nowhere\""),
        (r#"otherwise="goodbye""#, r#"otherwise="bye""#, 16, "otherwise goes to \"bye\""),
    ];
    for (from, to, line, words) in cases {
        assert_script_error(&script_with(from, to), line, &[words, "which does not exist"]);
    }
    let text = script_with(r#"next="main""#, r#"next="@language""#);
    assert_script_error(&text, 4, &["only an option's goto can lead back to the language choice"]);
}

#[test]
fn operator_must_be_a_handoff() {
    let text = script_with(r#"operator="operator">"#, r#"operator="main">"#);
    assert_script_error(&text, 2, &["operator goes to the menu \"main\"", "must be a <handoff>"]);
}

#[test]
fn unreachable_node() {
    let text = script_with("</hangup>", r#"</hangup><hangup id="orphan"><say>Hm.</say></hangup>"#);
    assert_script_error(&text, 20, &["hangup \"orphan\" can never be reached"]);
    // An unrelated mistake in a node does not hide it.
    let text = text.replacen(r#"<menu id="main""#, r#"<menu id="main" timeout="0""#, 1);
    let diagnostics = problems(&text);
    assert_error(&diagnostics, 7, &["timeout=\"0\""]);
    assert_error(&diagnostics, 20, &["hangup \"orphan\" can never be reached"]);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
}

#[test]
fn the_operator_is_always_reachable() {
    // No option, default or otherwise leads to the operator: key 0 does.
    let text = script_with(r#"default="operator""#, r#"default="goodbye""#);
    parse_script(Path::new("en.xml"), &text, no_audio()).unwrap();
}

#[test]
fn messages_that_only_lead_to_each_other() {
    let text = script_with(r#"next="goodbye""#, r#"next="surrender""#);
    assert_script_error(&text, 13, &["message \"surrender\" leads to itself", "forever"]);
    let text = script_with(r#"next="main""#, r#"next="surrender""#).replacen(
        r#"next="goodbye""#,
        r#"next="welcome""#,
        1,
    );
    assert_script_error(
        &text,
        4,
        &["messages \"welcome\" → \"surrender\" → \"welcome\" lead only to each other"],
    );
}

#[test]
fn empty_prompts() {
    let text = script_with("<say>You will be safe.</say>", r#"<pause seconds="1"/>"#);
    assert_script_error(&text, 13, &["message \"surrender\" says nothing", "<say> or a <play>"]);
    let text = script_with("<say>You will be safe.</say>", "<say> \n </say>");
    assert_script_error(&text, 14, &["message \"surrender\"", "a <say> is empty"]);
    let text = script_with("<invalid><say>No such key.</say></invalid>", "<invalid/>");
    assert_script_error(&text, 11, &["menu \"main\": <invalid> says nothing"]);
}

#[test]
fn say_over_3000_characters() {
    let long = "word ".repeat(700);
    let text = script_with("You will be safe.", &long);
    assert_script_error(&text, 14, &["3499 characters long", "the limit is 3000"]);
}

#[test]
fn text_outside_say() {
    let text = script_with("<say>Welcome.</say>", "Welcome.");
    assert_script_error(&text, 5, &["\"Welcome.\" is outside any <say> or <play>"]);
}

#[test]
fn markup_inside_say() {
    let text = script_with("<say>Welcome.</say>", "<say>Wel<b>come</b>.</say>");
    assert_script_error(&text, 5, &["a <say> may contain only text, not <b>"]);
}

#[test]
fn placeholders() {
    let text = script_with("You will be safe.", "You are number {position}.");
    assert_script_error(&text, 14, &["{position} can only be used in a handoff's <wait>"]);
    let text = script_with("{position}", "{place}");
    assert_script_error(
        &text,
        18,
        &["{place} is not a placeholder", "the only ones are {position} and {minutes}"],
    );
    let text = script_with("{position}", "{posiiton}");
    assert_script_error(
        &text,
        18,
        &["{posiiton} is not a placeholder", "did you mean {position}?"],
    );
    let text = script_with(
        "<say>You are number {position} in line.</say>",
        r#"<play url="https://example.org/p.mp3">Number {position}.</play>"#,
    );
    assert_script_error(&text, 18, &["a recording cannot say {position}"]);
}

#[test]
fn recordings_must_exist_or_have_text() {
    let text = script_with("<say>You will be safe.</say>", r#"<play file="safe.mp3"/>"#);
    assert_script_error(&text, 14, &["recording audio/en/safe.mp3 is missing", "no text"]);
    let text = script_with("<say>You will be safe.</say>", r#"<play file="../safe.mp3">x</play>"#);
    assert_script_error(&text, 14, &["file=\"../safe.mp3\" is not a plain file name"]);
    let text = script_with("<say>You will be safe.</say>", r#"<play url="ftp://x/y.mp3">x</play>"#);
    assert_script_error(&text, 14, &["url=\"ftp://x/y.mp3\" is not a web address"]);
    let text = script_with("<say>You will be safe.</say>", "<play>x</play>");
    assert_script_error(&text, 14, &["a <play> needs file=\"…\"", "audio/en/"]);
    let text = script_with(
        "<say>You will be safe.</say>",
        r#"<play file="a.mp3" url="https://x">x</play>"#,
    );
    assert_script_error(&text, 14, &["file or url, not both"]);
}

#[test]
fn language_must_match_the_file_name() {
    assert_error(&problems_as("ru.xml", SCRIPT), 1, &["language=\"en\"", "file name ru.xml"]);
    let text = script_with(r#"language="en""#, r#"language="EN""#);
    assert_script_error(&text, 1, &["language=\"EN\" is not a language code"]);
}

#[test]
fn root_must_be_a_script() {
    let diagnostics = problems("<scirpt/>");
    assert_error(&diagnostics, 1, &["must start with <script>, not <scirpt>"]);
}

// --- One test per kind of problem in languages.xml ---

#[test]
fn the_small_language_choice_is_valid() {
    let scripts = ["ru", "uk"].map(|s| LanguageTag::parse(s).unwrap()).into_iter().collect();
    let (choice, warnings) =
        parse_languages(Path::new("languages.xml"), LANGUAGES, no_audio(), &scripts).unwrap();
    assert_eq!((choice.timeout, choice.attempts, choice.default.as_str()), (5, 2, "ru"));
    assert_eq!(choice.options[1].countries, ["UA"]);
    // No recording: the announcement falls back to its text, with a warning.
    assert_eq!(
        choice.options[1].prompt.items,
        [PromptItem::Say("Українською — натисніть 3.".into())]
    );
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].line, 6);
    assert!(warnings[0].message.contains("audio/uk/choose.mp3 is missing"), "{warnings:?}");
}

#[test]
fn language_without_a_script() {
    let diagnostics = languages_problems(LANGUAGES, &["ru"]);
    assert_error(&diagnostics, 5, &["language \"uk\"", "no script", "create uk.xml"]);
}

#[test]
fn script_not_offered() {
    let diagnostics = languages_problems(LANGUAGES, &["ru", "uk", "en"]);
    assert_error(&diagnostics, 1, &["script en.xml", "no <language code=\"en\">"]);
}

#[test]
fn language_offered_twice() {
    let diagnostics = languages_problems(&languages_with(r#"code="uk""#, r#"code="ru""#), &["ru"]);
    assert_error(&diagnostics, 5, &["language \"ru\"", "already offered at line 2"]);
}

#[test]
fn languages_on_one_key() {
    let text = languages_with(r#"key="3""#, r#"key="1""#);
    let diagnostics = languages_problems(&text, &["ru", "uk"]);
    assert_error(&diagnostics, 5, &["key 1 is already used by another language at line 2"]);
}

#[test]
fn language_on_a_reserved_key() {
    let text = languages_with(r#"key="3""#, r#"key="0""#);
    assert_error(&languages_problems(&text, &["ru", "uk"]), 5, &["key 0 is reserved"]);
    let text = languages_with(r#"key="3""#, r#"key="x""#);
    assert_error(&languages_problems(&text, &["ru", "uk"]), 5, &["not a phone key"]);
}

#[test]
fn default_not_offered() {
    let text = languages_with(r#"default="ru""#, r#"default="en""#);
    let diagnostics = languages_problems(&text, &["ru", "uk"]);
    assert_error(&diagnostics, 1, &["default=\"en\" is not offered"]);
}

#[test]
fn bad_country_codes() {
    let text = languages_with(r#"countries="UA""#, r#"countries="ua""#);
    let diagnostics = languages_problems(&text, &["ru", "uk"]);
    assert_error(&diagnostics, 5, &["country code \"ua\" is not two capital letters"]);
}

#[test]
fn one_country_in_two_languages() {
    let text = languages_with(r#"code="ru" key="1""#, r#"code="ru" key="1" countries="UA""#);
    let diagnostics = languages_problems(&text, &["ru", "uk"]);
    assert_error(&diagnostics, 5, &["country UA is already given to language \"ru\" at line 2"]);
}

#[test]
fn languages_root_and_attributes() {
    let diagnostics = languages_problems("<language/>", &[]);
    assert_error(&diagnostics, 1, &["must start with <languages>"]);
    let text = languages_with(r#"timeout="5""#, r#"timeout="5" loop="2""#);
    assert_error(&languages_problems(&text, &["ru", "uk"]), 1, &["\"loop\""]);
    let text = languages_with(r#"attempts="2""#, r#"attempts="0""#);
    assert_error(&languages_problems(&text, &["ru", "uk"]), 1, &["attempts=\"0\"", "out of range"]);
    let text = languages_with(r#"code="uk""#, r#"code="Ukrainian""#);
    assert_error(&languages_problems(&text, &["ru", "uk"]), 5, &["code=\"Ukrainian\""]);
}

// --- Whole folders ---

/// A scripts folder in a temporary directory.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new(files: &[(&str, &str)]) -> Folder {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Folder { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }
}

const UK_SCRIPT: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<script language="uk" name="Українська" tts-language="uk-UA" start="welcome" operator="operator">
  <apology><play file="apology.mp3">Вибачте.</play></apology>
  <message id="welcome" next="main">
    <play file="welcome.mp3">
      Це гаряча лінія.
      Ваш дзвінок конфіденційний.
    </play>
    <pause seconds="1"/>
    <play url="https://cdn.example.org/uk/beep.mp3"/>
  </message>
  <menu id="main" timeout="10" attempts="2" default="operator" back="welcome">
    <play file="main.mp3">Натисніть 1.</play>
    <option key="1" goto="operator" tag="intent=surrender group=alone" label="  wants
        to surrender "/>
    <option key="#" goto="@language"/>
    <invalid><say>Такої клавіші немає.</say></invalid>
    <no-input><say>Ми не почули.</say></no-input>
  </menu>
  <handoff id="operator" queue="uk_ops" otherwise="voicemail">
    <say>З’єднуємо.</say>
    <wait pause="30"><say>Ваш номер у черзі: {position}.</say><pause seconds="2"/></wait>
  </handoff>
  <voicemail id="voicemail" max-length="300" next="goodbye"><say>Залиште повідомлення.</say></voicemail>
  <hangup id="goodbye"><say>До побачення. 🇺🇦 שלום</say></hangup>
  <chat operator="Оператор" back="Назад" operator-words="Оператор, людина">
    <received>Дякуємо, ми отримали ваше повідомлення.</received>
    <reminder>Ви ще тут?</reminder>
    <closed>Розмову завершено.</closed>
  </chat>
</script>
"##;

fn ru_script() -> String {
    SCRIPT
        .replacen(r#"language="en" name="English""#, r#"language="ru" name="Русский""#, 1)
        .replacen(r#"voice="Polly.Joanna" tts-language="en-US""#, r#"tts-language="ru-RU""#, 1)
}

#[test]
fn a_full_folder_loads_into_the_model() {
    let folder = Folder::new(&[
        ("languages.xml", LANGUAGES),
        ("ru.xml", &ru_script()),
        ("uk.xml", UK_SCRIPT),
        ("audio/uk/welcome.mp3", "ID3"),
        ("audio/uk/choose.mp3", "ID3"),
        ("README.md", "not a script"),
    ]);
    let loaded = load_dir(&folder.path()).unwrap();
    let set = &loaded.set;
    assert_eq!(set.default_script().language.as_str(), "ru");
    assert_eq!(
        set.entry.options[1].prompt.items[0],
        PromptItem::Play {
            url: "/audio/uk/choose.mp3".into(),
            text: Some("Українською — натисніть 3.".into()),
        }
    );

    let uk = set.script(&LanguageTag::parse("uk").unwrap()).unwrap();
    assert_eq!(uk.name, "Українська");
    assert_eq!(uk.voice, Voice { name: None, language: "uk-UA".into() });
    assert_eq!(uk.apology.items, [PromptItem::Say("Вибачте.".into())]);
    assert_eq!(
        uk.nodes[&id("welcome")].prompt.items,
        [
            PromptItem::Play {
                url: "/audio/uk/welcome.mp3".into(),
                text: Some("Це гаряча лінія. Ваш дзвінок конфіденційний.".into()),
            },
            PromptItem::Pause(1),
            PromptItem::Play { url: "https://cdn.example.org/uk/beep.mp3".into(), text: None },
        ]
    );
    let NodeKind::Menu { options, timeout, attempts, default, invalid, no_input, back } =
        &uk.nodes[&id("main")].kind
    else {
        panic!("main is not a menu");
    };
    assert_eq!(
        (*timeout, *attempts, default, back),
        (10, 2, &id("operator"), &Some(id("welcome")))
    );
    assert_eq!(options[0].label, "wants to surrender");
    assert_eq!(
        options[0].tags,
        [
            Tag { key: "intent".into(), value: "surrender".into() },
            Tag { key: "group".into(), value: "alone".into() },
        ]
    );
    assert_eq!(options[1].key, Key::parse("#").unwrap());
    assert_eq!(options[1].label, "key # → language choice");
    assert_eq!(invalid.summary(), "Такої клавіші немає.");
    assert_eq!(no_input.as_ref().map(Prompt::summary).as_deref(), Some("Ми не почули."));
    let NodeKind::Handoff { queue, wait, wait_pause, otherwise, .. } =
        &uk.nodes[&id("operator")].kind
    else {
        panic!("operator is not a handoff");
    };
    assert_eq!((queue.as_str(), *wait_pause, otherwise), ("uk_ops", 30, &id("voicemail")));
    assert_eq!(wait.items[0], PromptItem::Say("Ваш номер у черзі: {position}.".into()));
    assert_eq!(
        uk.nodes[&id("voicemail")].kind,
        NodeKind::Voicemail { max_length: 300, next: id("goodbye") }
    );
    assert_eq!(uk.nodes[&id("goodbye")].prompt.summary(), "До побачення. 🇺🇦 שלום");

    // The missing recordings, each read by text-to-speech instead, in file order.
    let warnings: Vec<(String, u32)> = loaded
        .warnings
        .iter()
        .map(|w| (w.file.file_name().unwrap().to_string_lossy().into_owned(), w.line))
        .collect();
    // Then a tag only Ukrainian sets (the Russian script has no group=alone).
    assert_eq!(
        warnings,
        [("uk.xml".to_owned(), 3), ("uk.xml".to_owned(), 13), ("uk.xml".to_owned(), 14)]
    );
    assert!(loaded.warnings[1].message.contains("recording audio/uk/main.mp3 is missing"));
    assert!(loaded.warnings[2].message.contains("sets tag group=alone, which no option"));
}

#[test]
fn every_problem_of_every_file_is_reported() {
    let folder = Folder::new(&[
        ("languages.xml", &languages_with(r#"countries="UA""#, r#"countries="ua""#)),
        ("ru.xml", &ru_script().replacen(r#"goto="surrender""#, r#"goto="surender""#, 1)),
        ("uk.xml", "<script"),
        ("ko.xml", &ru_script().replacen(r#"language="ru""#, r#"language="ko""#, 1)),
        ("russian.xml", "<script/>"),
    ]);
    let report = load_dir(&folder.path()).unwrap_err();
    let found: Vec<(String, u32, Severity)> = report
        .diagnostics
        .iter()
        .map(|d| (d.file.file_name().unwrap().to_string_lossy().into_owned(), d.line, d.severity))
        .collect();
    let expected = [
        ("languages.xml", 1, Severity::Error), // ko.xml is not offered
        ("languages.xml", 5, Severity::Error), // countries="ua"
        ("languages.xml", 6, Severity::Warning), // choose.mp3 is missing
        ("ru.xml", 9, Severity::Error),        // goto="surender"
        ("russian.xml", 0, Severity::Warning), // ignored
        ("uk.xml", 1, Severity::Error),        // not well-formed
    ];
    let expected: Vec<(String, u32, Severity)> =
        expected.iter().map(|(f, l, s)| (f.to_string(), *l, *s)).collect();
    assert_eq!(found, expected, "{report}");
    assert!(report.to_string().ends_with("\n4 errors, 2 warnings"), "{report}");
}

#[test]
fn unreadable_files_are_reported() {
    let folder = Folder::new(&[("ru.xml", "<script/>")]);
    std::fs::write(folder.path().join("uk.xml"), b"<script>\xff</script>").unwrap();
    let report = load_dir(&folder.path()).unwrap_err();
    let text = report.to_string();
    assert!(text.contains("languages.xml: error: the file cannot be read"), "{text}");
    assert!(text.contains("uk.xml:1:9: error: the file is not UTF-8 text"), "{text}");

    let missing = load_dir(&folder.path().join("nowhere")).unwrap_err();
    assert!(missing.to_string().contains("the scripts folder cannot be read"), "{missing}");
}

#[test]
fn the_examples_of_the_documentation_are_valid() {
    let doc = include_str!("../../docs/scripts.md");
    let blocks: Vec<&str> =
        doc.split("```xml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
    let languages = blocks.iter().find(|b| b.starts_with("<languages")).unwrap();
    let script = blocks.iter().find(|b| b.starts_with("<script")).unwrap();
    let ru = LanguageTag::parse("ru").unwrap();
    let uk = LanguageTag::parse("uk").unwrap();
    let scripts = BTreeSet::from([ru, uk]);
    parse_languages(Path::new("languages.xml"), languages, no_audio(), &scripts).unwrap();
    let (script, _) = parse_script(Path::new("ru.xml"), script, no_audio()).unwrap();
    assert_eq!(script.name, "Русский");
}

// --- Hostile inputs: refused with a message, never a panic ---

#[test]
fn hostile_inputs() {
    let deep = format!(
        "{}{}{}{}",
        &SCRIPT[..SCRIPT.find("<apology>").unwrap()],
        "<a>".repeat(10_000),
        "</a>".repeat(10_000),
        &SCRIPT[SCRIPT.find("<apology>").unwrap()..],
    );
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<script>&lol3;</script>"#;
    let external = r#"<?xml version="1.0"?>
<!DOCTYPE script [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<script>&x;</script>"#;
    let flood = script_with("<say>Welcome.</say>", &"<x/>".repeat(200_000));
    let cases: [(&str, String, u32, &str); 10] = [
        ("a flood of problems", flood, 0, "more problems in this file are not shown"),
        ("billion laughs", laughs.to_owned(), 2, "<!DOCTYPE>"),
        ("external entity", external.to_owned(), 2, "<!DOCTYPE>"),
        ("10,000-deep nesting", deep, 3, "nested more than 32 deep"),
        ("2 MiB", format!("<script>{}</script>", " ".repeat(2 << 20)), 0, "larger than 1 MiB"),
        ("NUL byte", script_with("Welcome.", "Wel\0come."), 5, "U+0000"),
        ("cut short", SCRIPT[..SCRIPT.find('\n').unwrap()].to_owned(), 1, "no complete element"),
        ("cut in a value", SCRIPT[..20].to_owned(), 1, "ends in the middle of an element"),
        ("two main elements", format!("{SCRIPT}<script/>"), 23, "everything must be inside"),
        ("undefined entity", script_with("Welcome.", "&nbsp;"), 5, "&nbsp; is not a known entity"),
    ];
    for (name, text, line, words) in cases {
        let diagnostics = problems(&text);
        assert!(
            diagnostics.iter().any(|d| d.line == line && d.message.contains(words)),
            "{name}: {diagnostics:#?}"
        );
    }
}

#[test]
fn harmless_oddities_are_valid() {
    // A byte-order mark does not shift columns.
    let with_bom = format!("\u{feff}{}", script_with("<option key=\"9\"", "<option key=\"1\""));
    assert_error(&problems(&with_bom), 10, &["key 1 is used by two options"]);
    let bom_ok = format!("\u{feff}{SCRIPT}");
    parse_script(Path::new("en.xml"), &bom_ok, no_audio()).unwrap();

    // Windows line endings: same lines, and no stray carriage return in the text.
    let crlf = SCRIPT.replace('\n', "\r\n");
    let (script, _) = parse_script(Path::new("en.xml"), &crlf, no_audio()).unwrap();
    assert_eq!(script.nodes[&id("welcome")].prompt.summary(), "Welcome.");
    let crlf_bad = script_with("<option key=\"9\"", "<option key=\"1\"").replace('\n', "\r\n");
    assert_error(&problems(&crlf_bad), 10, &["key 1 is used by two options"]);

    // Right-to-left text and emoji are just text.
    let text = script_with("Welcome.", "مرحبا بكم 👋🏽 ברוכים הבאים");
    let (script, _) = parse_script(Path::new("en.xml"), &text, no_audio()).unwrap();
    assert_eq!(script.nodes[&id("welcome")].prompt.summary(), "مرحبا بكم 👋🏽 ברוכים הבאים");
}

// --- Random inputs ---

/// Whatever the outcome, it is consistent: success has no errors, failure has at least one.
fn check_consistent(text: &str) {
    match parse_script(Path::new("en.xml"), text, no_audio()) {
        Ok((_, warnings)) => assert!(warnings.iter().all(|w| !w.is_error())),
        Err(problems) => assert!(problems.iter().any(Diagnostic::is_error), "{problems:?}"),
    }
    let scripts = BTreeSet::from([LanguageTag::parse("en").unwrap()]);
    match parse_languages(Path::new("languages.xml"), text, no_audio(), &scripts) {
        Ok((_, warnings)) => assert!(warnings.iter().all(|w| !w.is_error())),
        Err(problems) => assert!(problems.iter().any(Diagnostic::is_error), "{problems:?}"),
    }
}

/// Cuts `text` at the nearest character boundary at or before `at`.
fn boundary(text: &str, at: usize) -> usize {
    (0..=at.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_consistent(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_markup_never_panics(text in r#"(<[a-z/!?]{0,8}( [a-z-]{1,6}="[^"]{0,8}")*/?>|[^<]{0,8}){0,24}"#) {
        check_consistent(&text);
    }

    #[test]
    fn mutated_scripts_never_panic(
        at in 0..SCRIPT.len(),
        cut in 0usize..40,
        insert in r#"[<>/="'a-z0-9 {}&;#*@-]{0,12}"#,
    ) {
        let start = boundary(SCRIPT, at);
        let end = boundary(SCRIPT, start + cut);
        let mutated = format!("{}{}{}", &SCRIPT[..start], insert, &SCRIPT[end..]);
        check_consistent(&mutated);
    }
}

/// `SCRIPT` with `options` inside the handoff's `<wait>` (line 18) and `nodes` after the
/// goodbye (line 20), on the same lines so line numbers still read off `SCRIPT`.
fn with_wait_keys(options: &str, nodes: &str) -> String {
    let wait = "<wait><say>You are number {position} in line.</say></wait>";
    let goodbye = r#"<hangup id="goodbye"><say>Goodbye.</say></hangup>"#;
    script_with(
        wait,
        &format!("<wait><say>You are number {{position}} in line.</say>{options}</wait>"),
    )
    .replacen(goodbye, &format!("{goodbye}{nodes}"), 1)
}

const VOICEMAIL: &str = r#"<voicemail id="vm" next="goodbye"><say>Speak.</say></voicemail>"#;
const CALLBACK: &str = r#"<callback id="cb" next="goodbye" otherwise="vm"><say>Your number, then hash.</say><read-back><say>You typed:</say></read-back><confirm><say>1 if right, 2 to retype.</say></confirm><invalid><say>Not a number.</say></invalid></callback>"#;
const KEYS: &str = r#"<option key="1" goto="vm" label="message"><say>For a message, press 1.</say></option><option key="2" goto="cb"><say>To be called back, press 2.</say></option>"#;

#[test]
fn wait_keys_and_a_callback_load_into_the_model() {
    let text = with_wait_keys(KEYS, &format!("{VOICEMAIL}{CALLBACK}"));
    let (script, warnings) = parse_script(Path::new("en.xml"), &text, no_audio()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let NodeKind::Handoff { wait_keys, wait, .. } = &script.nodes[&id("operator")].kind else {
        panic!("not a handoff");
    };
    assert_eq!(wait.items.len(), 1, "the keys' prompts are not part of the announcement");
    assert_eq!(wait_keys.len(), 2);
    assert_eq!((wait_keys[0].key.as_char(), wait_keys[0].label.as_str()), ('1', "message"));
    assert_eq!(wait_keys[1].goto, id("cb"));
    assert_eq!(wait_keys[1].label, "key 2 while waiting → cb");
    assert_eq!(wait_keys[1].prompt.summary(), "To be called back, press 2.");
    let NodeKind::Callback { read_back, next, otherwise, .. } = &script.nodes[&id("cb")].kind
    else {
        panic!("not a callback");
    };
    assert_eq!(read_back.summary(), "You typed:");
    assert_eq!((next, otherwise), (&id("goodbye"), &id("vm")));
}

#[test]
fn a_wait_key_must_lead_to_a_voicemail_or_a_callback() {
    let keys = r#"<option key="1" goto="surrender"><say>Press 1.</say></option>"#;
    let text = with_wait_keys(keys, "");
    assert_script_error(
        &text,
        18,
        &["option 1", "message \"surrender\"", "<voicemail> or a <callback>"],
    );
    let keys = r#"<option key="1" goto="voicemial"><say>Press 1.</say></option>"#;
    let text = with_wait_keys(keys, VOICEMAIL);
    assert_script_error(&text, 18, &["option 1 goes to \"voicemial\"", "does not exist"]);
}

#[test]
fn wait_keys_are_phone_keys_used_once_and_not_reserved() {
    let option = |key: &str| format!(r#"<option key="{key}" goto="vm"><say>Press.</say></option>"#);
    for (key, words) in [
        ("0", &["option on key 0"][..]),
        ("*", &["option on key *"][..]),
        ("x", &["key=\"x\" is not a phone key"][..]),
        ("", &["is not a phone key"][..]),
    ] {
        let text = with_wait_keys(&option(key), VOICEMAIL);
        assert_script_error(&text, 18, words);
    }
    let twice = format!("{}{}", option("1"), option("1"));
    assert_script_error(&with_wait_keys(&twice, VOICEMAIL), 18, &["key 1 is used by two options"]);
}

#[test]
fn a_wait_key_must_say_something_and_holds_no_placeholder() {
    let silent = r#"<option key="1" goto="vm"></option>"#;
    assert_script_error(&with_wait_keys(silent, VOICEMAIL), 18, &["option 1", "says nothing"]);
    let placeholder = r#"<option key="1" goto="vm"><say>You are {position}.</say></option>"#;
    assert!(!problems(&with_wait_keys(placeholder, VOICEMAIL)).is_empty());
    let unknown = r#"<option key="1" goto="vm" tag="a=b"><say>Press 1.</say></option>"#;
    assert_script_error(&with_wait_keys(unknown, VOICEMAIL), 18, &["tag"]);
    let missing = r#"<option key="1"><say>Press 1.</say></option>"#;
    assert_script_error(&with_wait_keys(missing, VOICEMAIL), 18, &["goto"]);
}

#[test]
fn a_callback_needs_its_read_back_confirm_and_invalid_once_each() {
    let keys = r#"<option key="2" goto="cb"><say>Press 2.</say></option>"#;
    for (part, why) in [
        ("<read-back><say>You typed:</say></read-back>", "no <read-back>"),
        ("<confirm><say>1 if right, 2 to retype.</say></confirm>", "no <confirm>"),
        ("<invalid><say>Not a number.</say></invalid>", "no <invalid>"),
    ] {
        let callback = CALLBACK.replacen(part, "", 1);
        let text = with_wait_keys(keys, &format!("{VOICEMAIL}{callback}"));
        assert_script_error(&text, 20, &["callback \"cb\"", why]);
    }
    let twice = CALLBACK.replacen("<confirm>", "<confirm><say>Again.</say></confirm><confirm>", 1);
    let text = with_wait_keys(keys, &format!("{VOICEMAIL}{twice}"));
    assert_script_error(&text, 20, &["a second <confirm>"]);
    let empty = CALLBACK.replacen("<say>You typed:</say>", "", 1);
    let text = with_wait_keys(keys, &format!("{VOICEMAIL}{empty}"));
    assert_script_error(&text, 20, &["<read-back>", "says nothing"]);
    let nowhere = CALLBACK.replacen(r#"otherwise="vm""#, r#"otherwise="vn""#, 1);
    let text = with_wait_keys(keys, &format!("{VOICEMAIL}{nowhere}"));
    assert_script_error(&text, 20, &["otherwise goes to \"vn\"", "did you mean \"vm\""]);
    let no_next = CALLBACK.replacen(r#" next="goodbye""#, "", 1);
    let text = with_wait_keys(keys, &format!("{VOICEMAIL}{no_next}"));
    assert_script_error(&text, 20, &["callback \"cb\"", "next"]);
}

/// The prompts of `SCRIPT`'s main menu with `text` added (line 8).
fn with_menu_text(text: &str) -> String {
    script_with(
        "<say>Press 1 to hear about surrender.</say>",
        &format!("<say>Press 1 to hear about surrender.</say>{text}"),
    )
}

#[test]
fn a_text_is_what_a_chat_shows_with_its_paragraphs() {
    let written = "<text>\n      Do you want to surrender?\n\n\n      Choose   below.\n    </text>";
    let text = with_menu_text(written);
    let (script, warnings) = parse_script(Path::new("en.xml"), &text, no_audio()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let main = &script.nodes[&id("main")];
    assert_eq!(main.prompt.text.as_deref(), Some("Do you want to surrender?\n\nChoose below."));
    assert_eq!(main.prompt.readable(), "Do you want to surrender?\n\nChoose below.");
    // Voice never hears it: the items are only what is said.
    assert_eq!(main.prompt.items, [PromptItem::Say("Press 1 to hear about surrender.".into())]);
    // Without a <text>, a chat shows the spoken words.
    assert_eq!(script.nodes[&id("welcome")].prompt.readable(), "Welcome.");
    assert_eq!(script.nodes[&id("welcome")].prompt.text, None);
}

#[test]
fn a_text_may_be_in_any_prompt() {
    let text = script_with(
        "<invalid><say>No such key.</say></invalid>",
        "<invalid><say>No such key.</say><text>Please use the buttons.</text></invalid>",
    )
    .replacen(
        "<apology><say>Sorry, a technical problem.</say></apology>",
        "<apology><text>Sorry.</text><say>Sorry, a technical problem.</say></apology>",
        1,
    )
    .replacen(
        "<wait><say>You are number {position} in line.</say></wait>",
        "<wait><say>You are number {position} in line.</say><text>Place: {position}</text></wait>",
        1,
    );
    let (script, _) = parse_script(Path::new("en.xml"), &text, no_audio()).unwrap();
    assert_eq!(script.apology.readable(), "Sorry.");
    let NodeKind::Menu { invalid, .. } = &script.nodes[&id("main")].kind else { panic!() };
    assert_eq!(invalid.readable(), "Please use the buttons.");
    let NodeKind::Handoff { wait, .. } = &script.nodes[&id("operator")].kind else { panic!() };
    assert_eq!(wait.text.as_deref(), Some("Place: {position}"));
}

#[test]
fn wrong_texts_are_refused_with_their_line() {
    // Two <text> in one prompt.
    let two = with_menu_text("<text>One.</text><text>Two.</text>");
    assert_script_error(&two, 8, &["a second <text>", "only one <text>", "line 8"]);
    // Empty, or only whitespace.
    assert_script_error(&with_menu_text("<text> \n </text>"), 8, &["a <text> is empty"]);
    assert_script_error(&with_menu_text("<text/>"), 8, &["a <text> is empty"]);
    // Markup or attributes inside.
    assert_script_error(&with_menu_text("<text>a <b>b</b></text>"), 8, &["may contain only text"]);
    assert_script_error(&with_menu_text(r#"<text lang="x">a</text>"#), 8, &["no attribute"]);
    // A placeholder outside a <wait>.
    let placeholder = with_menu_text("<text>You are {position}.</text>");
    assert_script_error(&placeholder, 8, &["{position} can only be used in a handoff's <wait>"]);
    // Hostile text is only text: markup-looking entities stay characters.
    let hostile = with_menu_text("<text>&lt;script&gt;alert(1)&lt;/script&gt; ' \" &amp;</text>");
    let (script, _) = parse_script(Path::new("en.xml"), &hostile, no_audio()).unwrap();
    let shown = script.nodes[&id("main")].prompt.readable();
    assert_eq!(shown, "<script>alert(1)</script> ' \" &");
}

#[test]
fn a_text_longer_than_a_chat_message_is_refused() {
    let long = format!("<text>{}</text>", "я".repeat(5000));
    assert_script_error(&with_menu_text(&long), 7, &["5000 characters", "at most 4096"]);
    let fits = format!("<text>{}</text>", "я".repeat(4096));
    assert!(parse_script(Path::new("en.xml"), &with_menu_text(&fits), no_audio()).is_ok());
    // Without a <text>, what is said is what a chat shows: two long <say> are too long too.
    let said = format!("<say>{}</say><say>{}</say>", "a".repeat(2500), "b".repeat(2500));
    let text = with_menu_text(&said);
    assert_script_error(&text, 7, &["what it says", "5034 characters"]);
}

#[test]
fn a_prompt_with_only_a_text_is_refused_since_callers_would_hear_silence() {
    let text = script_with("<say>Welcome.</say>", "<text>Welcome.</text>");
    assert_script_error(&text, 4, &["has a <text> for chats but says nothing", "silence"]);
    let text = script_with(
        "<invalid><say>No such key.</say></invalid>",
        "<invalid><text>No such key.</text></invalid>",
    );
    assert_script_error(&text, 11, &["<invalid> has a <text>", "silence"]);
}

#[test]
fn button_texts_are_short_and_never_empty() {
    let with_text = |value: &str| {
        script_with(
            r#"<option key="1" goto="surrender" tag="intent=surrender"/>"#,
            &format!(r#"<option key="1" goto="surrender" tag="intent=surrender" text="{value}"/>"#),
        )
    };
    let (script, _) =
        parse_script(Path::new("en.xml"), &with_text("  I want to\n surrender "), no_audio())
            .unwrap();
    let NodeKind::Menu { options, .. } = &script.nodes[&id("main")].kind else { panic!() };
    assert_eq!(options[0].text.as_deref(), Some("I want to surrender"));
    assert_eq!(options[1].text, None, "no text=: the key is the button");
    assert_script_error(&with_text(""), 9, &["option 1: text=\"\" is empty"]);
    assert_script_error(&with_text("   "), 9, &["text=\"\" is empty"]);
    let long = "x".repeat(41);
    assert_script_error(&with_text(&long), 9, &["41 characters", "at most 40"]);
    assert!(parse_script(Path::new("en.xml"), &with_text(&"я".repeat(40)), no_audio()).is_ok());
}

/// `SCRIPT` with an `<ask>` before the surrender message (line 13, the same line), which
/// now leads to it.
fn with_ask(ask: &str) -> String {
    script_with(
        r#"<message id="surrender" next="goodbye">"#,
        &format!(r#"{ask}<message id="surrender" next="unit">"#),
    )
}

const ASK: &str = r#"<ask id="unit" var="unit" next="goodbye"><say>Which unit?</say><text>Which unit are you in?</text></ask>"#;

#[test]
fn an_ask_loads_into_the_model() {
    let (script, _) = parse_script(Path::new("en.xml"), &with_ask(ASK), no_audio()).unwrap();
    let ask = &script.nodes[&id("unit")];
    assert_eq!(ask.kind, NodeKind::Ask { var: "unit".into(), next: id("goodbye"), max_length: 30 });
    assert_eq!(ask.prompt.readable(), "Which unit are you in?");
    let longer = with_ask(&ASK.replacen(r#"var="unit""#, r#"var="unit" max-length="120""#, 1));
    let (script, _) = parse_script(Path::new("en.xml"), &longer, no_audio()).unwrap();
    assert!(matches!(script.nodes[&id("unit")].kind, NodeKind::Ask { max_length: 120, .. }));
}

#[test]
fn wrong_asks_are_refused() {
    let cases = [
        (r#"var="unit""#, r#"var="Unit Name""#, "var=\"Unit Name\" is not a name for the answer"),
        (r#"var="unit""#, r#"var="""#, "var=\"\" is not a name"),
        (r#"var="unit""#, r#"var="a=b""#, "is not a name"),
        (r#"var="unit""#, "", "needs a var="),
        (r#" next="goodbye""#, "", "needs a next="),
        (
            r#"next="goodbye""#,
            r#"next="nowhere""#,
            "next goes to \"nowhere\", which does not exist",
        ),
        (
            r#"var="unit""#,
            r#"var="unit" max-length="0""#,
            "max-length=\"0\" is out of range: use 5 to 120",
        ),
        (r#"var="unit""#, r#"var="unit" max-length="999""#, "max-length=\"999\" is out of range"),
        (r#"var="unit""#, r#"var="unit" max-length="x""#, "is not a whole number"),
        (r#"var="unit""#, r#"var="unit" tag="a=b""#, "has no attribute called \"tag\""),
        ("<say>Which unit?</say>", "", "has a <text> for chats but says nothing"),
    ];
    for (from, to, words) in cases {
        let ask = ASK.replacen(from, to, 1);
        assert_script_error(&with_ask(&ask), 13, &[words]);
    }
    let long = format!(r#"var="{}""#, "v".repeat(65));
    assert_script_error(&with_ask(&ASK.replacen(r#"var="unit""#, &long, 1)), 13, &["not a name"]);
}

#[test]
fn the_chat_element_sets_the_words_of_a_text_channel() {
    let (script, _) = parse_script(Path::new("en.xml"), SCRIPT, no_audio()).unwrap();
    assert_eq!(
        script.chat,
        ChatTexts {
            operator: "Operator".into(),
            back: "Back".into(),
            operator_words: vec!["operator".into(), "agent".into()],
            received: "Thanks.".into(),
            reminder: "Still there?".into(),
            closed: "Closed.".into(),
        }
    );
}

/// `SCRIPT` with its `<chat>` (line 21) replaced by `chat`.
fn with_chat(chat: &str) -> String {
    let line = SCRIPT.lines().find(|line| line.trim_start().starts_with("<chat")).unwrap();
    SCRIPT.replacen(line, chat, 1)
}

#[test]
fn a_missing_or_partial_chat_falls_back_to_english_with_a_warning() {
    let (script, warnings) = parse_script(Path::new("en.xml"), &with_chat(""), no_audio()).unwrap();
    assert_eq!(script.chat, ChatTexts::default());
    assert_eq!(script.chat.operator_words, ["operator"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(!warnings[0].is_error());
    assert_eq!(warnings[0].line, 1);
    assert!(
        warnings[0].message.contains("no <chat>: chats in en will show English"),
        "{warnings:?}"
    );

    let partial = with_chat(r#"<chat operator="Оператор"><closed>Всё.</closed></chat>"#);
    let (script, warnings) = parse_script(Path::new("en.xml"), &partial, no_audio()).unwrap();
    assert_eq!(script.chat.operator, "Оператор");
    assert_eq!(script.chat.back, "Back");
    assert_eq!(script.chat.closed, "Всё.");
    assert_eq!(script.chat.received, ChatTexts::default().received);
    // The button's own word always counts, lowercased.
    assert_eq!(script.chat.operator_words, ["operator", "оператор"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].line, 21);
    for missing in ["back=", "operator-words=", "<received>", "<reminder>", "in en"] {
        assert!(warnings[0].message.contains(missing), "{missing}: {warnings:?}");
    }
}

#[test]
fn wrong_chats_are_refused() {
    let full = SCRIPT.lines().find(|line| line.trim_start().starts_with("<chat")).unwrap();
    let cases = [
        (r#"operator="Operator""#, r#"operator="""#, "operator=\"\" is empty"),
        (r#"back="Back""#, &format!(r#"back="{}""#, "b".repeat(41)), "41 characters"),
        (
            r#"operator-words="operator, agent""#,
            r#"operator-words=" , ,""#,
            "is not a list of words",
        ),
        ("<received>Thanks.</received>", "<received> </received>", "<received> is empty"),
        (
            "<received>Thanks.</received>",
            "<received>a</received><received>b</received>",
            "a second <received>",
        ),
        (
            "<closed>Closed.</closed>",
            "<closed>Closed.</closed><button/>",
            "<button> is not allowed here",
        ),
        (r#"<chat "#, r#"<chat color="red" "#, "has no attribute called \"color\""),
    ];
    for (from, to, words) in cases {
        let chat = full.replacen(from, to, 1);
        assert_ne!(chat, full, "{from}");
        assert_script_error(&with_chat(&chat), 21, &[words]);
    }
    let huge = format!("<chat><closed>{}</closed></chat>", "я".repeat(5000));
    assert_script_error(&with_chat(&huge), 21, &["5000 characters", "at most 4096"]);
    let twice = format!("{full}{full}");
    assert_script_error(&with_chat(&twice), 21, &["a second <chat>"]);
}

#[test]
fn a_script_with_every_chat_feature_is_valid() {
    let text = with_ask(ASK)
        .replacen(
            r#"<option key="1" goto="surrender" tag="intent=surrender"/>"#,
            r#"<option key="1" goto="surrender" tag="intent=surrender" text="Surrender"/>"#,
            1,
        )
        .replacen(
            "<say>Press 1 to hear about surrender.</say>",
            "<say>Press 1 to hear about surrender.</say><text>Do you want to surrender?</text>",
            1,
        );
    let (script, warnings) = parse_script(Path::new("en.xml"), &text, no_audio()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(matches!(script.nodes[&id("unit")].kind, NodeKind::Ask { .. }));
}
