//! Where a caller goes at a handoff: their own language's operators, another language's (with
//! an interpreter flag), or the script's `otherwise` node at once.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::language::LanguageTag;

/// What `[queues] fallbacks` says for one language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// Route to the operators of this language, marked "interpreter needed".
    Language(LanguageTag),
    /// Send the caller to the handoff's `otherwise` node (voicemail) at once.
    Voicemail,
}

/// The fallback rules, parsed from `"ko=ru, uk=voicemail"` (so written in the configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fallbacks(Vec<(LanguageTag, Fallback)>);

impl Fallbacks {
    /// Parses the configuration value; the error says how to fix it.
    pub fn parse(text: &str) -> Result<Fallbacks, String> {
        let mut rules: Vec<(LanguageTag, Fallback)> = Vec::new();
        for rule in text.split(',').map(str::trim).filter(|rule| !rule.is_empty()) {
            let Some((from, to)) = rule.split_once('=') else {
                return Err(format!(
                    "{rule:?} is not a rule; write language=target, like \"ko=ru\" or \
                     \"ko=voicemail\", separated by commas"
                ));
            };
            let code = |s: &str| {
                LanguageTag::parse(s.trim()).ok_or_else(|| {
                    format!(
                        "{:?} is not a language code (2-3 lowercase letters, like ru)",
                        s.trim()
                    )
                })
            };
            let from = code(from)?;
            let to = match to.trim() {
                "voicemail" => Fallback::Voicemail,
                other => Fallback::Language(code(other)?),
            };
            if to == Fallback::Language(from.clone()) {
                return Err(format!("{from} falls back to itself; name another language"));
            }
            if rules.iter().any(|(known, _)| *known == from) {
                return Err(format!("{from} has a rule twice; keep one"));
            }
            rules.push((from, to));
        }
        Ok(Fallbacks(rules))
    }

    /// The rules as the configuration writes them.
    fn to_text(&self) -> String {
        let rule = |(from, to): &(LanguageTag, Fallback)| match to {
            Fallback::Language(to) => format!("{from}={to}"),
            Fallback::Voicemail => format!("{from}=voicemail"),
        };
        self.0.iter().map(rule).collect::<Vec<_>>().join(", ")
    }

    /// The rule for a language, if any.
    pub fn for_language(&self, language: &LanguageTag) -> Option<&Fallback> {
        self.0.iter().find(|(from, _)| from == language).map(|(_, to)| to)
    }
}

/// The routing decision at a handoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Wait for an operator of `language`.
    Queue {
        /// The operators' language.
        language: LanguageTag,
        /// The caller speaks another language.
        interpreter_needed: bool,
        /// Why, for the case's timeline.
        reason: String,
    },
    /// No queue: the handoff's `otherwise` node at once.
    Otherwise {
        /// Why, for the case's timeline.
        reason: String,
    },
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Queue { language, reason, .. } => write!(f, "routed to {language}: {reason}"),
            Route::Otherwise { reason } => write!(f, "sent to voicemail: {reason}"),
        }
    }
}

/// Decides the route of a caller of `language`. `on_duty(l)` says whether an operator who
/// speaks `l` is available, on a call or in wrap-up (expected soon).
///
/// The rules: own language when someone is on duty for it; otherwise the configured fallback;
/// a fallback language with nobody on duty either, or no rule at all, keeps the caller in
/// their own language's queue (an operator may sign in; the maximum wait bounds it).
pub fn route(
    language: &LanguageTag,
    fallbacks: &Fallbacks,
    on_duty: impl Fn(&LanguageTag) -> bool,
) -> Route {
    let own = |reason: String| Route::Queue {
        language: language.clone(),
        interpreter_needed: false,
        reason,
    };
    if on_duty(language) {
        return own(format!("a {language} operator is on duty"));
    }
    match fallbacks.for_language(language) {
        None => own(format!("no {language} operator on duty and no fallback; waiting")),
        Some(Fallback::Voicemail) => {
            Route::Otherwise { reason: format!("no {language} operator available") }
        }
        Some(Fallback::Language(other)) if on_duty(other) => Route::Queue {
            language: other.clone(),
            interpreter_needed: true,
            reason: format!("no {language} operator available"),
        },
        Some(Fallback::Language(other)) => {
            own(format!("no {language} or {other} operator on duty; waiting for {language}"))
        }
    }
}

impl std::str::FromStr for Fallbacks {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Fallbacks::parse(text)
    }
}

impl TryFrom<String> for Fallbacks {
    type Error = String;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Fallbacks::parse(&text).map_err(|problem| format!("fallbacks = {text:?}: {problem}"))
    }
}

impl From<Fallbacks> for String {
    fn from(fallbacks: Fallbacks) -> String {
        fallbacks.to_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(s: &str) -> LanguageTag {
        LanguageTag::parse(s).unwrap()
    }

    #[test]
    fn fallbacks_parse_and_refuse_nonsense() {
        let rules = Fallbacks::parse(" ko=ru ,uk = voicemail,").unwrap();
        assert_eq!(rules.for_language(&tag("ko")), Some(&Fallback::Language(tag("ru"))));
        assert_eq!(rules.for_language(&tag("uk")), Some(&Fallback::Voicemail));
        assert_eq!(rules.for_language(&tag("en")), None);
        assert_eq!(Fallbacks::parse("").unwrap(), Fallbacks::default());
        assert_eq!(String::from(rules.clone()), "ko=ru, uk=voicemail");
        assert_eq!(Fallbacks::try_from(String::from(rules.clone())), Ok(rules));
        for bad in
            ["ko", "ko=", "=ru", "ko=ko", "KO=ru", "ko=r u", "ko=ru,ko=en", &"a".repeat(9999)]
        {
            assert!(Fallbacks::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_language_first_then_fallback_then_waiting() {
        let rules = Fallbacks::parse("ko=ru, uk=voicemail").unwrap();
        let ru_only = |l: &LanguageTag| l.as_str() == "ru";
        assert!(matches!(
            route(&tag("ru"), &rules, ru_only),
            Route::Queue { interpreter_needed: false, .. }
        ));
        let ko = route(&tag("ko"), &rules, ru_only);
        assert_eq!(
            ko,
            Route::Queue {
                language: tag("ru"),
                interpreter_needed: true,
                reason: "no ko operator available".into()
            }
        );
        assert_eq!(ko.to_string(), "routed to ru: no ko operator available");
        assert!(matches!(route(&tag("uk"), &rules, ru_only), Route::Otherwise { .. }));
        let nobody = |_: &LanguageTag| false;
        let waiting = route(&tag("ko"), &rules, nobody);
        assert!(matches!(waiting, Route::Queue { ref language, .. } if language.as_str() == "ko"));
        assert!(matches!(route(&tag("en"), &rules, nobody), Route::Queue { .. }));
    }
}
