//! Parsed TwiML documents kept by their body, so that documents that come back byte for byte
//! call after call (a line's menus, the wait music) are parsed once. The load benchmark keeps
//! one for all its callers: every microsecond it spends parsing is taken from the server it
//! measures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::twiml::{self, CallVerb, Verb, WaitVerb};

/// How many documents of each kind are kept; a line has a few dozen. When full, the map is
/// emptied and learnt again, so that documents of one call each (a caller's own queue) do
/// not keep out the menus for good.
const MAX_DOCUMENTS: usize = 256;

/// The parsed documents seen so far, shared by the calls that use it.
#[derive(Debug, Default)]
pub struct DocumentCache {
    calls: Mutex<HashMap<Box<str>, Arc<[CallVerb]>>>,
    waits: Mutex<HashMap<Box<str>, Arc<[WaitVerb]>>>,
}

/// A kind of document with its own map in the cache.
pub(crate) trait Cached: Verb {
    fn map(cache: &DocumentCache) -> &Mutex<HashMap<Box<str>, Arc<[Self]>>>;
}

impl Cached for CallVerb {
    fn map(cache: &DocumentCache) -> &Mutex<HashMap<Box<str>, Arc<[Self]>>> {
        &cache.calls
    }
}

impl Cached for WaitVerb {
    fn map(cache: &DocumentCache) -> &Mutex<HashMap<Box<str>, Arc<[Self]>>> {
        &cache.waits
    }
}

impl DocumentCache {
    /// An empty cache.
    pub fn new() -> DocumentCache {
        DocumentCache::default()
    }

    /// The verbs of `body`, parsed once per distinct body. A body is looked up by its bytes
    /// (a map keyed by the body compares them on a hash match), so two documents whose hashes
    /// collide are still told apart. A document that does not parse is not kept: it is
    /// reported each time, as the provider would.
    pub(crate) fn parse<V: Cached>(&self, body: &str) -> Result<Arc<[V]>, String> {
        if let Some(verbs) = lock(V::map(self)).get(body) {
            return Ok(Arc::clone(verbs));
        }
        let verbs: Arc<[V]> = twiml::parse(body)?.into();
        let mut map = lock(V::map(self));
        if map.len() >= MAX_DOCUMENTS {
            map.clear();
        }
        map.insert(body.into(), Arc::clone(&verbs));
        Ok(verbs)
    }

    /// How many documents are kept, of both kinds.
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.calls).len() + lock(&self.waits).len()
    }
}

/// A lock, even if a call panicked holding it: the map is still consistent, since it is only
/// ever changed by whole insertions.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MENU: &str =
        r#"<Response><Gather action="/voice/menu"><Say>Hi</Say></Gather></Response>"#;

    #[test]
    fn a_body_seen_again_is_not_parsed_again_and_reads_the_same() {
        let cache = DocumentCache::new();
        let first = cache.parse::<CallVerb>(MENU).unwrap();
        // The same bytes in another string.
        let copy = String::from_utf8(MENU.as_bytes().to_vec()).unwrap();
        let second = cache.parse::<CallVerb>(&copy).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(&first[..], &twiml::parse::<CallVerb>(MENU).unwrap()[..]);
        // A different body, even by one byte, is its own document.
        let other = cache.parse::<CallVerb>(&MENU.replace("Hi", "Ho")).unwrap();
        assert!(!Arc::ptr_eq(&first, &other) && first[..] != other[..]);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn kinds_are_kept_apart_and_errors_are_not_kept() {
        let cache = DocumentCache::new();
        let leave = "<Response><Leave/></Response>";
        assert!(cache.parse::<WaitVerb>(leave).is_ok());
        // The same body in a call document is still refused.
        assert!(cache.parse::<CallVerb>(leave).unwrap_err().contains("wait document"));
        assert!(cache.parse::<CallVerb>(leave).is_err());
        for hostile in ["", "<Response>", "<!DOCTYPE x [<!ENTITY a 'b'>]><Response/>"] {
            assert!(cache.parse::<CallVerb>(hostile).is_err(), "{hostile}");
        }
        let huge = format!("<Response><Say>{}</Say></Response>", "a".repeat(100_000));
        assert!(cache.parse::<CallVerb>(&huge).is_err());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = DocumentCache::new();
        for n in 0..MAX_DOCUMENTS * 3 + 1 {
            let body = format!("<Response><Say>{n}</Say></Response>");
            let verbs = cache.parse::<CallVerb>(&body).unwrap();
            assert_eq!(&verbs[..], &twiml::parse::<CallVerb>(&body).unwrap()[..]);
            assert!(cache.len() <= MAX_DOCUMENTS);
        }
    }
}
