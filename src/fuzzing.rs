//! The entry points of the fuzz targets (`fuzz/`, run with `cargo fuzz`), here so that the
//! test suite replays the fuzzers' corpus (`fuzz/corpus/`) through exactly the same code.
//!
//! Each takes arbitrary bytes, runs them through a surface that meets hostile input, and
//! panics only when an invariant breaks: that is what the fuzzer reports.

use std::path::Path;

use crate::domain::secret::{CallerHasher, Secret};
use crate::http::webhooks::{Digits, MAX_DIGITS, ProviderRequest};
use crate::ivr;
use crate::scripts::{self, LanguageTag};
use crate::signature;
use crate::twiml::{self, Gather, Speech, Verb};

/// The script parser and validator: any text is parsed or refused with diagnostics, never
/// a panic; a script that parses can be walked from every node.
pub fn script(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // A folder that does not exist: <play file> lookups find nothing, whatever the name.
    let audio = Path::new("/nonexistent/hotline-fuzz/audio");
    if let Ok((script, _warnings)) = scripts::parse_script(Path::new("ru.xml"), &text, audio) {
        for id in script.nodes.keys() {
            let turn = ivr::enter(&script, id);
            assert!(turn.speech.len() < 10_000);
        }
    }
    let offered =
        [LanguageTag::parse("ru"), LanguageTag::parse("en")].into_iter().flatten().collect();
    let _ = scripts::parse_languages(Path::new("languages.xml"), &text, audio, &offered);
}

/// A webhook request: the first line is the query string, the rest the form body. Parsing
/// never panics, what is parsed keeps its bounds, and any value the request carries, put
/// into a TwiML document, gives a well-formed document that reads back the same text.
pub fn webhook(data: &[u8]) {
    let (query, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&data[..0], data),
    };
    let query = String::from_utf8_lossy(query);
    let url = format!("https://hotline.example.org/voice/menu?{query}");
    let body = axum::body::Bytes::copy_from_slice(body);
    let Ok(request) = ProviderRequest::parse(url, &query, body, true, Default::default()) else {
        return;
    };
    let hasher = CallerHasher::new(Secret::new("fuzz".into()));
    let call = request.call(&hasher);
    if let Some(sid) = &call.call_sid {
        assert!(sid.as_str().len() <= 64 && sid.as_str().is_ascii());
    }
    if let Some(country) = &call.from_country {
        assert!(country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase()));
    }
    let position = request.position();
    assert!(position.step.is_none_or(|s| s <= 999_999_999));
    if let Digits::Keys(keys) = request.digits() {
        assert!(!keys.is_empty() && keys.len() <= MAX_DIGITS);
        assert!(keys.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#'));
    }
    for (name, value) in request.form.iter().chain(&request.query) {
        round_trip(name, value);
    }
}

/// Renders `text` as a `<Say>` inside a `<Gather>` whose action carries `name=text`, and
/// checks that the document parses and says exactly `text`.
fn round_trip(name: &str, text: &str) {
    let action = form_urlencoded::Serializer::new("/voice/menu?".to_owned())
        .append_pair(name, text)
        .finish();
    let say = Speech::Say { text: text.to_owned(), voice: None, language: "en-US".into() };
    let gather = Gather { action: action.clone(), num_digits: 1, timeout: 5, prompts: vec![say] };
    let xml = twiml::Document { verbs: vec![Verb::Gather(gather)] }.render();
    let document = match roxmltree::Document::parse(&xml) {
        Ok(document) => document,
        Err(error) => panic!("rendered TwiML does not parse ({error}): {xml:?}"),
    };
    let gather = document.root_element().first_element_child().expect("the Gather");
    assert_eq!(gather.attribute("action"), Some(action.as_str()));
    let said = gather.first_element_child().and_then(|say| say.text()).unwrap_or_default();
    assert_eq!(said, twiml::speakable(text), "{xml:?}");
}

/// The signature check: any header value is checked without a panic; a request signed with
/// the token verifies, and the same signature does not verify another token's, another URL's
/// or other parameters'.
pub fn signature(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let token = parts.next().unwrap_or_default();
    let url = parts.next().unwrap_or_default();
    let header = parts.next().unwrap_or_default();
    let params: Vec<(String, String)> =
        form_urlencoded::parse(parts.next().unwrap_or_default().as_bytes())
            .take(100)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    // An arbitrary header: checked, whatever it holds.
    let _ = signature::verify(token.as_bytes(), url, &params, header);
    let signed = signature::compute(token.as_bytes(), url, &params);
    assert!(signature::verify(token.as_bytes(), url, &params, &signed));
    let other_token = format!("{token}x");
    assert!(!signature::verify(other_token.as_bytes(), url, &params, &signed));
    let other_url = format!("{url}/x");
    assert!(!signature::verify(token.as_bytes(), &other_url, &params, &signed));
    let mut other_params = params.clone();
    other_params.push(("Digits".into(), "1".into()));
    assert!(!signature::verify(token.as_bytes(), url, &other_params, &signed));
}
