//! Secret values and the keyed hash of callers' numbers: [`Secret`] never prints its value,
//! and [`CallerHasher`] turns a number into a hash that cannot be reversed without the key.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::cases::CallerHash;

/// A secret value. `Debug` and `Display` print `[redacted]`, so it cannot leak into a log line
/// by accident; read it with [`Secret::expose`] where it is actually used.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Turns phone numbers into [`CallerHash`]es: HMAC-SHA256 under the secret key, so a stolen
/// database cannot be reversed by hashing every possible number without the key.
///
/// The key may be a *chain*: several keys, one per line, oldest first. A number's hash is then
/// the HMAC of the first key over the number, re-hashed (as hex text) under each later key in
/// turn. That is what makes rotation possible without the numbers: an HMAC cannot be re-keyed
/// without its input, but a stored hash can be wrapped under a new key, and a caller hashed
/// under the longer chain gets exactly the wrapped value (`hotline keys rotate-caller-hash`).
#[derive(Clone)]
pub struct CallerHasher {
    key: Secret,
}

/// The label whose chained HMAC is the key chain's fingerprint (see [`CallerHasher::fingerprint`]).
const FINGERPRINT_LABEL: &str = "hotline caller-hash key chain fingerprint";

impl CallerHasher {
    /// A hasher with this key (one key, or a chain of keys one per line, oldest first).
    pub fn new(key: Secret) -> CallerHasher {
        CallerHasher { key }
    }

    /// The hash of a number. Spaces, dashes, dots and brackets are ignored so that
    /// `+7 916 123-45-67` and `+79161234567` are the same caller. `None` for an empty number
    /// or one the provider marks as hidden (`anonymous`, `+266696687`, …).
    pub fn hash(&self, number: &str) -> Option<CallerHash> {
        let normalized: String =
            number.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')')).collect();
        let hidden = [
            "",
            "anonymous",
            "restricted",
            "unknown",
            "private",
            "+266696687",
            "+7378742833",
            "+2562533",
            "+86282452253",
        ];
        if hidden.iter().any(|h| normalized.eq_ignore_ascii_case(h)) {
            return None;
        }
        Some(self.chain(&normalized))
    }

    /// How many keys the chain has.
    pub fn keys(&self) -> usize {
        key_chain(self.key.expose()).count()
    }

    /// An HMAC of a fixed label under the chain: equal for equal chains, and it says nothing
    /// about the keys. Storage keeps it to refuse a server started with another chain.
    pub fn fingerprint(&self) -> CallerHash {
        self.chain(FINGERPRINT_LABEL)
    }

    /// A hash made under this chain, wrapped under one more key: the hash the same number has
    /// under the chain extended by `next`.
    pub fn wrap(hash: &CallerHash, next: &Secret) -> CallerHash {
        CallerHash(hmac_hex(next.expose(), &hash.0))
    }

    fn chain(&self, input: &str) -> CallerHash {
        let mut keys = key_chain(self.key.expose());
        // A loaded key is never empty (see `Spec::min_len`), so the chain has a first key;
        // an empty one still hashes (under the empty key) rather than fail a call.
        let mut value = hmac_hex(keys.next().unwrap_or_default(), input);
        for key in keys {
            value = hmac_hex(key, &value);
        }
        CallerHash(value)
    }
}

/// The keys of a chain: its non-empty lines, trimmed, oldest first.
fn key_chain(value: &str) -> impl Iterator<Item = &str> {
    value.lines().map(str::trim).filter(|line| !line.is_empty())
}

/// Whether a key value (one key or a chain) has every key at least [`MIN_KEY_CHARS`] long.
pub fn valid_key_chain(value: &str) -> bool {
    key_chain(value).next().is_some()
        && key_chain(value).all(|k| k.chars().count() >= MIN_KEY_CHARS)
}

/// The shortest caller-hash key accepted: a short key makes caller hashes guessable.
pub const MIN_KEY_CHARS: usize = 16;

fn hmac_hex(key: &str, input: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(input.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for CallerHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallerHasher([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_chain_hashes_a_number_to_its_wrapped_old_hash() {
        let old = CallerHasher::new(Secret::new("0123456789abcdef".into()));
        let next = Secret::new("fedcba9876543210-next".into());
        let chained =
            CallerHasher::new(Secret::new("0123456789abcdef\nfedcba9876543210-next\n".into()));
        let before = old.hash("+79161234567").unwrap();
        let after = chained.hash("+7 916 123 45 67").unwrap();
        assert_ne!(before, after);
        assert_eq!(CallerHasher::wrap(&before, &next), after);
        assert_eq!(CallerHasher::wrap(&old.fingerprint(), &next), chained.fingerprint());
        assert_eq!((old.keys(), chained.keys()), (1, 2));
        // A one-key chain is the plain HMAC of the number, as before chains existed.
        let plain = hmac_hex("0123456789abcdef", "+79161234567");
        assert_eq!(before.0, plain);
    }

    #[test]
    fn caller_hashes_are_keyed_and_ignore_formatting() {
        let a = CallerHasher::new(Secret::new("0123456789abcdef".into()));
        let b = CallerHasher::new(Secret::new("fedcba9876543210".into()));
        let plain = a.hash("+79161234567").unwrap();
        assert_eq!(a.hash("+7 (916) 123-45-67"), Some(plain.clone()));
        assert_ne!(b.hash("+79161234567"), Some(plain.clone()));
        assert_eq!(plain.0.len(), 64);
        assert!(!plain.0.contains("9161234567"));
        assert_eq!(a.hash("anonymous"), None);
        assert_eq!(a.hash(""), None);
    }
}
