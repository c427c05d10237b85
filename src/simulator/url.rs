//! Webhook URLs: where the simulator sends each request.
//!
//! TwiML names its next URL relative to the document it came from (`action="gather"`,
//! `<Redirect>../menu</Redirect>`), and the provider resolves it the way a browser resolves a
//! link (RFC 3986 §5). This small resolver does the same for the `http`/`https` URLs the
//! simulator can request, without pulling in a URL crate.

/// `base_url` joined with a path such as `/voice/incoming`, keeping any path prefix the base has
/// (a hotline behind a proxy at `https://example.org/hotline`). An absolute `http(s)://` URL is
/// taken as it is.
pub(crate) fn join(base_url: &str, path_or_url: &str) -> Result<String, String> {
    let path_or_url = path_or_url.trim();
    if has_http_scheme(path_or_url) {
        return absolute(path_or_url);
    }
    let base = absolute(base_url)?;
    let base = base.trim_end_matches('/');
    if path_or_url.is_empty() || path_or_url.starts_with(['/', '?']) {
        Ok(format!("{base}{path_or_url}"))
    } else {
        Ok(format!("{base}/{path_or_url}"))
    }
}

/// `reference` resolved against the absolute URL of the document that contains it, without any
/// fragment (fragments are never sent).
pub(crate) fn resolve(base: &str, reference: &str) -> Result<String, String> {
    // The provider ignores the whitespace around a URL in an element's text.
    let reference = reference.trim();
    let reference = reference.split_once('#').map_or(reference, |(before, _)| before);
    if let Some(colon) = scheme_end(reference) {
        let scheme = &reference[..colon];
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            return absolute(reference);
        }
        return Err(format!(
            "{reference:?} uses the {scheme:?} scheme; webhooks are http or https"
        ));
    }
    let base = Parts::parse(base)?;
    let resolved = if let Some(network_path) = reference.strip_prefix("//") {
        format!("{}://{network_path}", base.scheme)
    } else if reference.starts_with('/') {
        base.with_path(reference)
    } else if reference.is_empty() {
        base.with_path(&format!("{}{}", base.path, base.query))
    } else if reference.starts_with('?') {
        base.with_path(&format!("{}{reference}", base.path))
    } else {
        // A relative path replaces the last segment of the base's path.
        let directory = base.path.rfind('/').map_or("/", |slash| &base.path[..=slash]);
        base.with_path(&format!("{directory}{reference}"))
    };
    absolute(&resolved)
}

/// Whether `s` starts with `http://` or `https://`, in any case.
fn has_http_scheme(s: &str) -> bool {
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Where the scheme of `reference` ends (the index of its `:`), if it has one.
fn scheme_end(reference: &str) -> Option<usize> {
    let colon = reference.find(':')?;
    let scheme = &reference[..colon];
    let mut chars = scheme.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    // A `:` after a `/`, `?` or `#` belongs to the path or query, not to a scheme.
    (starts_with_letter && rest_ok).then_some(colon)
}

/// `url` checked to be an absolute `http(s)` URL with a host, with its path's dot segments
/// removed and without a fragment.
fn absolute(url: &str) -> Result<String, String> {
    let url = url.trim();
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let parts = Parts::parse(url)?;
    Ok(parts.with_path(&format!("{}{}", parts.path, parts.query)))
}

/// An absolute URL cut into the pieces resolution needs.
struct Parts<'a> {
    /// `http` or `https`, as written.
    scheme: &'a str,
    /// `host[:port]`, with any user information.
    authority: &'a str,
    /// The path, starting with `/` unless empty.
    path: &'a str,
    /// The query with its `?`, or empty.
    query: &'a str,
}

impl<'a> Parts<'a> {
    /// Splits an absolute `http(s)` URL that has no fragment.
    fn parse(url: &'a str) -> Result<Parts<'a>, String> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!("{url:?} is not an absolute http:// or https:// URL"));
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(format!("{url:?} is not an http:// or https:// URL"));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(authority_end);
        if authority.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        let query_start = rest.find('?').unwrap_or(rest.len());
        let (path, query) = rest.split_at(query_start);
        Ok(Parts { scheme, authority, path, query })
    }

    /// This URL's scheme and authority followed by `path_and_query`, dot segments removed.
    fn with_path(&self, path_and_query: &str) -> String {
        let query_start = path_and_query.find('?').unwrap_or(path_and_query.len());
        let (path, query) = path_and_query.split_at(query_start);
        let path = if path.is_empty() { String::new() } else { remove_dot_segments(path) };
        format!("{}://{}{path}{query}", self.scheme, self.authority)
    }
}

/// `path` with its `.` and `..` segments applied (RFC 3986 §5.2.4); `..` never climbs above
/// the root.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        let last = index + 1 == segments.len();
        match *segment {
            "." | ".." => {
                if *segment == ".." {
                    out.pop();
                }
                // `a/b/..` names the directory `a/`, so it keeps its trailing slash.
                if last {
                    out.push("");
                }
            }
            other => out.push(other),
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "http://127.0.0.1:8080/voice/menu/main?lang=ru";

    #[test]
    fn resolves_like_a_browser() {
        let cases = [
            ("http://other.example/x", "http://other.example/x"),
            ("HTTPS://Other.Example", "HTTPS://Other.Example"),
            ("//other.example/y?z", "http://other.example/y?z"),
            ("/voice/gather", "http://127.0.0.1:8080/voice/gather"),
            ("/voice/gather?step=2", "http://127.0.0.1:8080/voice/gather?step=2"),
            ("gather", "http://127.0.0.1:8080/voice/menu/gather"),
            ("./gather", "http://127.0.0.1:8080/voice/menu/gather"),
            ("../gather", "http://127.0.0.1:8080/voice/gather"),
            ("../../../../gather", "http://127.0.0.1:8080/gather"),
            ("..", "http://127.0.0.1:8080/voice/"),
            ("?lang=uk", "http://127.0.0.1:8080/voice/menu/main?lang=uk"),
            ("", DOC),
            ("  /voice/x \n", "http://127.0.0.1:8080/voice/x"),
            ("#rc=2", DOC),
            ("/voice/x#rc=2", "http://127.0.0.1:8080/voice/x"),
            ("a/./b/../c", "http://127.0.0.1:8080/voice/menu/a/c"),
            ("/путь", "http://127.0.0.1:8080/путь"),
        ];
        for (reference, expected) in cases {
            assert_eq!(resolve(DOC, reference).as_deref(), Ok(expected), "{reference:?}");
        }
    }

    #[test]
    fn a_base_without_a_path_resolves_from_the_root() {
        assert_eq!(resolve("http://h:1", "x").as_deref(), Ok("http://h:1/x"));
        assert_eq!(resolve("http://h:1", "").as_deref(), Ok("http://h:1"));
        assert_eq!(resolve("http://h:1?q", "?r").as_deref(), Ok("http://h:1?r"));
    }

    #[test]
    fn refuses_what_is_not_a_webhook() {
        assert!(resolve(DOC, "mailto:someone@example.org").is_err());
        assert!(resolve(DOC, "javascript:alert(1)").is_err());
        assert!(resolve(DOC, "http://").is_err());
        assert!(resolve("not a url", "/x").is_err());
        assert!(resolve("ftp://h/x", "/x").is_err());
        // A colon after a slash is part of a path, not a scheme.
        assert_eq!(resolve(DOC, "a/b:c").as_deref(), Ok("http://127.0.0.1:8080/voice/menu/a/b:c"));
    }

    #[test]
    fn joins_paths_onto_a_base_keeping_its_prefix() {
        let cases = [
            ("http://127.0.0.1:8080", "/voice/incoming", "http://127.0.0.1:8080/voice/incoming"),
            ("http://127.0.0.1:8080/", "/voice/incoming", "http://127.0.0.1:8080/voice/incoming"),
            (
                "https://example.org/hotline/",
                "voice/status",
                "https://example.org/hotline/voice/status",
            ),
            ("http://h", "http://elsewhere/x", "http://elsewhere/x"),
            ("http://h", "?a=1", "http://h?a=1"),
        ];
        for (base, path, expected) in cases {
            assert_eq!(join(base, path).as_deref(), Ok(expected), "{base:?} + {path:?}");
        }
        assert!(join("127.0.0.1:8080", "/voice/incoming").is_err());
        assert!(join("", "/voice/incoming").is_err());
    }
}
