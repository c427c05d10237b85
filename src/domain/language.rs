//! The words every layer shares: a language, a node of a script, a tag a caller's choice sets.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A language code as used in file names, queue names and URLs: `ru`, `uk`, `ko`, `en`.
///
/// Two or three lowercase ASCII letters, so it is safe to put in a path or a query string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, pattern = "^[a-z]{2,3}$", example = "ru")]
pub struct LanguageTag(String);

impl LanguageTag {
    /// Parses a language code; `None` unless it is 2–3 lowercase ASCII letters.
    pub fn parse(s: &str) -> Option<LanguageTag> {
        let ok = (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase());
        ok.then(|| LanguageTag(s.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for LanguageTag {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        LanguageTag::parse(&s).ok_or_else(|| format!("not a language code: {s:?}"))
    }
}

impl From<LanguageTag> for String {
    fn from(tag: LanguageTag) -> String {
        tag.0
    }
}

/// The name of a node in a script: `main`, `surrender-alone`.
///
/// 1–64 characters of lowercase ASCII letters, digits, `-` and `_`, starting with a letter or
/// digit, so it can travel in a URL without escaping and never collides with `@language`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    /// Parses a node id; `None` if it breaks the rules above.
    pub fn parse(s: &str) -> Option<NodeId> {
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 64
            && bytes[0].is_ascii_alphanumeric()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-' || *b == b'_');
        ok.then(|| NodeId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NodeId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        NodeId::parse(&s).ok_or_else(|| format!("not a node id: {s:?}"))
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0
    }
}

/// A structured field an option sets on the case, such as `intent=surrender`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, Deserialize)]
pub struct Tag {
    /// Field name: lowercase ASCII letters, digits, `-`, `_`.
    pub key: String,
    /// Field value, same alphabet.
    pub value: String,
}
