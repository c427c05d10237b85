//! Twilio's request signature, `X-Twilio-Signature`, which SignalWire's compatibility API
//! (cXML) computes the same way under its Signing Key: how the provider proves a webhook came
//! from it, and how the simulator signs its requests the same way.
//!
//! The signature is `base64(HMAC-SHA1(key, message))`, where the message is the full URL
//! the provider requested (query string included) followed by every POST parameter as
//! `name + value`, names in byte order and each name's values in byte order. A GET request
//! carries its parameters in the URL, so nothing is appended: pass no parameters.
//!
//! The provider is not consistent about ports, so, like its official helper libraries,
//! [`verify`] also accepts a signature over the URL with its default port removed
//! (`https://host:443/x` → `https://host/x`) or added (`https://host/x` → `https://host:443/x`).
//! A non-default port names a different endpoint and is never stripped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

/// The signature the provider would send for a request to `url` with these form parameters.
///
/// `params` may repeat a name; the order in which they are given does not matter.
pub fn compute(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, &sorted(params)).finalize().into_bytes())
}

/// Whether `signature` (the `X-Twilio-Signature` header) is the provider's signature of a
/// request to `url` with these form parameters.
///
/// Accepts the URL as given, and its variant with the scheme's default port removed or added.
/// The comparison is in constant time; a signature that is not valid base64 is simply `false`.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.as_bytes()) else {
        return false;
    };
    // Sorted once for both candidates, and the URL as given is not copied: this runs for
    // every webhook.
    let sorted = sorted(params);
    let variant = port_variant(url);
    // Every candidate is checked, so the time taken does not reveal which one matched.
    [Some(url), variant.as_deref()]
        .into_iter()
        .flatten()
        .map(|candidate| mac(auth_token, candidate, &sorted).verify_slice(&expected).is_ok())
        .fold(false, |any, ok| any | ok)
}

/// The parameters in signing order. Sorting the pairs orders them by name, then by value,
/// both byte-wise (`str`'s order), which is exactly "each name in order, each of its values
/// in order".
fn sorted(params: &[(String, String)]) -> Vec<(&str, &str)> {
    let mut sorted: Vec<(&str, &str)> =
        params.iter().map(|(name, value)| (name.as_str(), value.as_str())).collect();
    sorted.sort_unstable();
    sorted
}

/// The HMAC of `url` followed by the `sorted` parameters, ready to finalize or verify.
fn mac(auth_token: &[u8], url: &str, sorted: &[(&str, &str)]) -> HmacSha1 {
    // HMAC hashes keys longer than the block size and pads shorter ones: every length works.
    let mut mac = HmacSha1::new_from_slice(auth_token).expect("HMAC accepts a key of any length");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// The other spelling of `url` the provider may have signed: without its port when that port
/// is the scheme's default, with the default port when it has none. `None` when there is no
/// such variant (another scheme, a non-default port, or something that is not a URL).
fn port_variant(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else if scheme.eq_ignore_ascii_case("http") {
        "80"
    } else {
        return None;
    };
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_len);
    // The port follows the host, which follows any `user:password@`.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let host_port = &authority[host_start..];
    // An IPv6 literal (`[::1]:8080`) contains colons of its own: look after its `]`.
    let search_from = if host_port.starts_with('[') { host_port.find(']')? } else { 0 };
    let (host, port) = match host_port[search_from..].rfind(':') {
        Some(colon) => {
            let colon = search_from + colon;
            (&host_port[..colon], Some(&host_port[colon + 1..]))
        }
        None => (host_port, None),
    };
    if host.is_empty() {
        return None;
    }
    let userinfo = &authority[..host_start];
    match port {
        Some(port) if port == default_port => Some(format!("{scheme}://{userinfo}{host}{tail}")),
        Some(_) => None,
        None => Some(format!("{scheme}://{userinfo}{host}:{default_port}{tail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TOKEN: &[u8] = b"12345";
    const VECTOR_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn vector_params(caller: &str) -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn first_published_vector() {
        let p = vector_params("+14158675309");
        assert_eq!(compute(TOKEN, VECTOR_URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify(TOKEN, VECTOR_URL, &p, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn second_published_vector() {
        let p = vector_params("+12349013030");
        assert_eq!(compute(TOKEN, VECTOR_URL, &p), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify(TOKEN, VECTOR_URL, &p, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut p = vector_params("+14158675309");
        p.reverse();
        assert_eq!(compute(TOKEN, VECTOR_URL, &p), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn repeated_names_sign_their_values_in_sorted_order() {
        let url = "https://example.org/voice";
        let forward = params(&[("Digits", "1"), ("Digits", "2"), ("A", "z")]);
        let backward = params(&[("Digits", "2"), ("A", "z"), ("Digits", "1")]);
        let signature = compute(TOKEN, url, &forward);
        assert_eq!(signature, compute(TOKEN, url, &backward));
        // The message is the URL, then `Az`, then `Digits1`, then `Digits2`.
        let mut mac = HmacSha1::new_from_slice(TOKEN).unwrap();
        mac.update(format!("{url}AzDigits1Digits2").as_bytes());
        assert_eq!(signature, STANDARD.encode(mac.finalize().into_bytes()));
        // A different multiset of values is a different request.
        let other = params(&[("Digits", "1"), ("Digits", "1"), ("A", "z")]);
        assert!(!verify(TOKEN, url, &other, &signature));
    }

    #[test]
    fn names_sort_by_bytes_so_upper_case_comes_first() {
        let url = "https://example.org/";
        let p = params(&[("b", "1"), ("B", "2"), ("a", "3")]);
        let mut mac = HmacSha1::new_from_slice(TOKEN).unwrap();
        mac.update(format!("{url}B2a3b1").as_bytes());
        assert_eq!(compute(TOKEN, url, &p), STANDARD.encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn https_default_port_is_accepted_both_ways() {
        let p = vector_params("+14158675309");
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let signed_without = compute(TOKEN, VECTOR_URL, &p);
        let signed_with = compute(TOKEN, with_port, &p);
        assert_ne!(signed_without, signed_with);
        assert!(verify(TOKEN, with_port, &p, &signed_without));
        assert!(verify(TOKEN, VECTOR_URL, &p, &signed_with));
        assert!(verify(TOKEN, with_port, &p, &signed_with));
    }

    #[test]
    fn http_default_port_is_accepted_both_ways() {
        let p = vector_params("+14158675309");
        let plain = "http://example.org/voice/incoming";
        let with_port = "http://example.org:80/voice/incoming";
        assert!(verify(TOKEN, with_port, &p, &compute(TOKEN, plain, &p)));
        assert!(verify(TOKEN, plain, &p, &compute(TOKEN, with_port, &p)));
        // Each scheme has its own default: 443 is not http's.
        let wrong_default = "http://example.org:443/voice/incoming";
        assert!(!verify(TOKEN, wrong_default, &p, &compute(TOKEN, plain, &p)));
        assert!(!verify(TOKEN, plain, &p, &compute(TOKEN, wrong_default, &p)));
    }

    #[test]
    fn a_non_default_port_verifies_only_as_given() {
        let p = vector_params("+14158675309");
        let with_port = "http://127.0.0.1:8080/voice/incoming";
        let stripped = "http://127.0.0.1/voice/incoming";
        assert!(verify(TOKEN, with_port, &p, &compute(TOKEN, with_port, &p)));
        assert!(!verify(TOKEN, with_port, &p, &compute(TOKEN, stripped, &p)));
        assert!(!verify(TOKEN, stripped, &p, &compute(TOKEN, with_port, &p)));
        let defaulted = "http://127.0.0.1:80/voice/incoming";
        assert!(!verify(TOKEN, with_port, &p, &compute(TOKEN, defaulted, &p)));
    }

    #[test]
    fn port_variants_keep_userinfo_ipv6_query_and_case() {
        assert_eq!(port_variant("HTTPS://h/x?a=1").as_deref(), Some("HTTPS://h:443/x?a=1"));
        assert_eq!(port_variant("https://u:p@h:443").as_deref(), Some("https://u:p@h"));
        assert_eq!(port_variant("http://[::1]/x").as_deref(), Some("http://[::1]:80/x"));
        assert_eq!(port_variant("http://[::1]:80/x").as_deref(), Some("http://[::1]/x"));
        assert_eq!(port_variant("http://[::1]:8080/x"), None);
        assert_eq!(port_variant("ftp://h/x"), None);
        assert_eq!(port_variant("no scheme at all"), None);
        assert_eq!(port_variant("https:///path"), None);
        assert_eq!(port_variant("http://[::1/x"), None);
    }

    #[test]
    fn tampering_is_rejected() {
        let p = vector_params("+14158675309");
        let good = compute(TOKEN, VECTOR_URL, &p);
        assert!(!verify(b"54321", VECTOR_URL, &p, &good), "wrong token");
        let mut changed = p.clone();
        changed[2].1 = "1235".into();
        assert!(!verify(TOKEN, VECTOR_URL, &changed, &good), "changed param");
        let url = "https://mycompany.com/myapp.php?foo=1&bar=3";
        assert!(!verify(TOKEN, url, &p, &good), "changed URL");
        let mut extra = p.clone();
        extra.push(("Extra".into(), String::new()));
        assert!(!verify(TOKEN, VECTOR_URL, &extra, &good), "extra param");
        assert!(!verify(TOKEN, VECTOR_URL, &p[1..], &good), "missing param");
    }

    #[test]
    fn malformed_signatures_are_false() {
        let p = vector_params("+14158675309");
        for signature in ["", "not base64!", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "AAAA", "=", "é"] {
            assert!(!verify(TOKEN, VECTOR_URL, &p, signature), "{signature:?}");
        }
        // Valid base64 of the right signature plus a trailing byte.
        let mut long = STANDARD.decode("RSOYDt4T1cUTdK1PDd93/VVr8B8=").unwrap();
        long.push(0);
        assert!(!verify(TOKEN, VECTOR_URL, &p, &STANDARD.encode(long)));
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let huge = "x".repeat(1 << 20);
        let p = params(&[("", ""), ("Ключ", "значение"), ("k", &huge)]);
        for url in
            ["", "://", "https://", "https://тест.рф:443/путь", &huge, "http://[", "http://@"]
        {
            let signature = compute(b"", url, &p);
            assert!(verify(b"", url, &p, &signature));
        }
        assert!(!verify(&[0xff; 1000], &huge, &[], &huge));
    }

    proptest! {
        #[test]
        fn round_trip(
            token in proptest::collection::vec(any::<u8>(), 0..80),
            url in "(https?://)?[a-z.]{0,20}(:[0-9]{1,5})?(/[a-zA-Z0-9?=&%/]{0,30})?",
            p in proptest::collection::vec((".{0,12}", ".{0,24}"), 0..8),
        ) {
            let signature = compute(&token, &url, &p);
            prop_assert!(verify(&token, &url, &p, &signature));
            let mut shuffled = p.clone();
            shuffled.reverse();
            prop_assert!(verify(&token, &url, &shuffled, &signature));
        }

        #[test]
        fn verify_never_panics(
            token in ".*",
            url in ".*",
            p in proptest::collection::vec((".*", ".*"), 0..4),
            signature in ".*",
        ) {
            let _ = verify(token.as_bytes(), &url, &p, &signature);
        }
    }
}
