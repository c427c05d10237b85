//! The hotline's vocabulary, pure: no I/O, no runtime, no HTTP. Every other layer speaks it.

pub mod audit;
pub mod cases;
pub mod casework;
pub mod conversation;
pub mod csv;
pub mod dashboard;
pub mod data_keys;
pub mod followups;
pub mod language;
pub mod line_time;
pub mod lockout;
pub mod outbox;
pub mod people;
pub mod queue;
pub mod recording;
pub mod retention;
pub mod script_versions;
pub mod secret;
pub mod session;
pub mod timeline;

/// The most characters of a value someone gave that a message repeats.
pub const EXCERPT_CHARS: usize = 80;

/// `text` as a message repeats a value someone gave: quoted, control characters escaped, cut
/// to [`EXCERPT_CHARS`] characters and `…`, so a pasted 100 KB argument is not echoed whole.
pub fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(EXCERPT_CHARS).collect();
    let more = if chars.next().is_some() { "…" } else { "" };
    format!("{shown:?}{more}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_quoted_escaped_and_cut() {
        assert_eq!(excerpt("2026-x"), "\"2026-x\"");
        assert_eq!(excerpt(""), "\"\"");
        assert_eq!(excerpt("a\u{1b}[2Jb"), "\"a\\u{1b}[2Jb\"");
        let exact = "7".repeat(EXCERPT_CHARS);
        assert_eq!(excerpt(&exact), format!("\"{exact}\""));
        let huge = "ж".repeat(100_000);
        let shown = excerpt(&huge);
        assert_eq!(shown.chars().filter(|c| *c == 'ж').count(), EXCERPT_CHARS);
        assert!(shown.ends_with("\"…"), "{shown}");
    }
}
