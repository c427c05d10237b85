//! How an available operator is reached: on the line (they dialled the operator line and
//! wait on it) or call me (the hotline rings their phone when a caller waits for them). Only
//! someone who can actually be connected counts as on duty for routing.

use serde::{Deserialize, Serialize};

/// An operator's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// They dial the operator line and stay on it: reachable while their call is up.
    #[default]
    Line,
    /// The hotline rings their phone for each caller: reachable while available, with a
    /// number, and not paused after a ring they did not answer.
    CallMe,
}

impl Reach {
    /// The stored and typed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reach::Line => "line",
            Reach::CallMe => "call-me",
        }
    }

    /// Parses the stored or typed spelling.
    pub fn parse(text: &str) -> Option<Reach> {
        match text {
            "line" => Some(Reach::Line),
            "call-me" => Some(Reach::CallMe),
            _ => None,
        }
    }

    /// What a screen calls it.
    pub fn label(self) -> &'static str {
        match self {
            Reach::Line => "on the line",
            Reach::CallMe => "call me",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spellings_round_trip_and_nothing_else_parses() {
        for reach in [Reach::Line, Reach::CallMe] {
            assert_eq!(Reach::parse(reach.as_str()), Some(reach));
        }
        for odd in ["", "Line", "call_me", "callme", " line", "line\0", &"x".repeat(10_000)] {
            assert_eq!(Reach::parse(odd), None, "{odd:?}");
        }
    }
}
