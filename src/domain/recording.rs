//! A recording kept at the telephony provider, named by its id (`RE` and 32 hex digits).
//!
//! The provider posts a recording's address (`RecordingUrl`, `…/Recordings/RE…`); the
//! hotline keeps that address on the case until retention shreds it. What is played, and what
//! is deleted at the provider when the address is shredded, is only ever the id read out of
//! it: no address given by anyone is ever requested, and an id is all that is kept of a
//! recording waiting to be deleted (without the account's credentials it opens nothing).

use std::fmt;

/// A recording's id at the provider: `RE` and 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordingSid(String);

impl RecordingSid {
    /// `text` if it is shaped like a recording's id.
    pub fn parse(text: &str) -> Option<RecordingSid> {
        let shaped = text.len() == 34
            && text.starts_with("RE")
            && text[2..].bytes().all(|b| b.is_ascii_hexdigit());
        shaped.then(|| RecordingSid(text.to_owned()))
    }

    /// The id a recording's address ends with (`…/Recordings/RE….mp3`, with or without an
    /// extension), if it has one: the provider's address of one of its recordings.
    pub fn in_url(url: &str) -> Option<RecordingSid> {
        let path = url.split(['?', '#']).next().unwrap_or_default();
        let (parent, last) = path.trim_end_matches('/').rsplit_once('/')?;
        if !parent.ends_with("/Recordings") {
            return None;
        }
        let sid = [".mp3", ".wav", ".json"]
            .iter()
            .find_map(|extension| last.strip_suffix(extension))
            .unwrap_or(last);
        RecordingSid::parse(sid)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RecordingSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "RE0123456789abcdef0123456789ABCDEF";

    #[test]
    fn ids_are_read_from_the_providers_addresses_only() {
        let base = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef";
        for url in [
            format!("{base}/Recordings/{SID}"),
            format!("{base}/Recordings/{SID}.mp3"),
            format!("{base}/Recordings/{SID}.wav?Download=true"),
            format!("{base}/Calls/CA0123456789abcdef0123456789abcdef/Recordings/{SID}.json"),
        ] {
            assert_eq!(RecordingSid::in_url(&url).map(|s| s.to_string()).as_deref(), Some(SID));
        }
        let huge = format!("{base}/Recordings/RE{}", "a".repeat(100_000));
        for url in [
            String::new(),
            "https://rec/1".into(),
            format!("{base}/Recordings/RE1"),
            format!("{base}/Recordings/{SID}.exe"),
            format!("{base}/Messages/{SID}"),
            format!("{base}/Recordings/../Queues/{SID}"),
            format!("{base}/Recordings/{}", SID.replace('a', "é")),
            format!("{base}/Recordings/RE0123456789abcdef0123456789abcdeg"),
            huge,
        ] {
            assert_eq!(RecordingSid::in_url(&url), None, "{url}");
        }
    }

    #[test]
    fn ids_are_the_providers_shape() {
        assert!(RecordingSid::parse(SID).is_some());
        for bad in
            ["", "RE", "re0123456789abcdef0123456789abcdef", "CA0123456789abcdef0123456789abcdef"]
        {
            assert!(RecordingSid::parse(bad).is_none(), "{bad}");
        }
        assert!(RecordingSid::parse(&format!("RE{}", "é".repeat(16))).is_none());
    }
}
