//! What the operator hears before they are connected (the whisper), and the wait estimate.
//!
//! Both are plain text built from facts the storage layer gathered; they carry no phone
//! number, only what the case already shows.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::domain::cases::CaseNumber;
use crate::domain::casework::{CaseDetail, main_visit};
use crate::domain::queue::QueueEntry;
use crate::scripts::{LanguageTag, NodeKind, Script, ScriptSet, Tag};
use crate::storage::WaitingCaller;

/// What the operator is told about the caller they are about to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whisper {
    /// The case.
    pub case: CaseNumber,
    /// The caller's own language (the case's), if known.
    pub caller_language: Option<LanguageTag>,
    /// The option labels of the case's tags ("serviceman, wants to surrender").
    pub labels: Vec<String>,
    /// Routed to this operator's language from another one.
    pub interpreter_needed: bool,
    /// Seconds the caller has waited.
    pub waited_secs: i64,
    /// How many earlier cases the same caller has.
    pub earlier_calls: u32,
}

impl Whisper {
    /// The whisper of a queue entry, with what its case shows (`caller`, when it could be
    /// read) and the option labels of the caller's script in `scripts`. The operator line
    /// says it; the console shows it on the operator's case.
    pub fn of(
        entry: &QueueEntry,
        caller: Option<&WaitingCaller>,
        scripts: &ScriptSet,
        now: DateTime<Utc>,
    ) -> Whisper {
        let language = caller.and_then(|c| c.caller_language.as_ref());
        let script = language.and_then(|l| scripts.script(l));
        Whisper {
            case: entry.case,
            caller_language: language.cloned(),
            labels: match (script, caller) {
                (Some(script), Some(caller)) => labels(script, &caller.tags),
                _ => Vec::new(),
            },
            interpreter_needed: entry.interpreter_needed,
            waited_secs: entry.wait_secs(now),
            earlier_calls: caller.map_or(0, |c| c.earlier_calls),
        }
    }

    /// The whisper of a case as it reads now: its main queue visit's wait and routing, its
    /// tags' labels, its earlier cases. The console shows it with the case.
    pub fn of_case(case: &CaseDetail, scripts: &ScriptSet) -> Whisper {
        let script = case.language.as_ref().and_then(|l| scripts.script(l));
        Whisper {
            case: case.number,
            caller_language: case.language.clone(),
            labels: script.map(|s| labels(s, &case.tags)).unwrap_or_default(),
            interpreter_needed: main_visit(&case.queue).is_some_and(|v| v.interpreter_needed),
            waited_secs: case.wait_secs.unwrap_or(0),
            earlier_calls: u32::try_from(case.repeat_cases.len()).unwrap_or(u32::MAX),
        }
    }

    /// The whisper as said in English to the operator.
    pub fn text(&self) -> String {
        let mut text = String::with_capacity(256);
        let _ = write!(text, "Case {}.", spell(&self.case.to_string()));
        if let Some(language) = &self.caller_language {
            let _ = write!(text, " {}.", language_name(language));
        }
        if self.interpreter_needed {
            text.push_str(" Interpreter needed.");
        }
        if !self.labels.is_empty() {
            let _ = write!(text, " {}.", self.labels.join(", "));
        }
        let _ = write!(text, " Waited {}.", duration(self.waited_secs));
        match self.earlier_calls {
            0 => text.push_str(" First call."),
            1 => text.push_str(" Called once before."),
            n => {
                let _ = write!(text, " Called {n} times before.");
            }
        }
        text
    }
}

/// The labels of the options that set these tags, in the tags' order (a tag no option of the
/// script sets is read as `key value`).
pub fn labels(script: &Script, tags: &[Tag]) -> Vec<String> {
    tags.iter()
        .map(|tag| {
            script
                .nodes
                .values()
                .filter_map(|node| match &node.kind {
                    NodeKind::Menu { options, .. } => Some(options),
                    _ => None,
                })
                .flatten()
                .find(|option| option.tags.contains(tag))
                .map_or_else(|| format!("{} {}", tag.key, tag.value), |o| o.label.clone())
        })
        .collect()
}

/// The honest wait estimate: the mean wait, in whole seconds, of the callers of a queue who
/// were answered in the configured window. `None` without such callers: nothing is invented.
pub fn estimate(recent_waits: &[i64]) -> Option<i64> {
    let count = i64::try_from(recent_waits.len()).ok().filter(|n| *n > 0)?;
    let total: i64 = recent_waits.iter().map(|w| (*w).max(0)).sum();
    Some(total / count)
}

/// `2026-000042` read digit by digit: "2 0 2 6, 0 0 0 0 4 2".
fn spell(number: &str) -> String {
    let mut out = String::with_capacity(number.len() * 2);
    for c in number.chars() {
        match c {
            '-' => out.push(','),
            c => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push(c);
            }
        }
    }
    out
}

/// "2 minutes 5 seconds".
fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (minutes, seconds) = (secs / 60, secs % 60);
    let unit = |n: i64, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    match (minutes, seconds) {
        (0, s) => unit(s, "second"),
        (m, 0) => unit(m, "minute"),
        (m, s) => format!("{} {}", unit(m, "minute"), unit(s, "second")),
    }
}

/// The English name of the hotline's languages, for the operator's ear.
fn language_name(language: &LanguageTag) -> String {
    match language.as_str() {
        "ru" => "Russian".into(),
        "ko" => "Korean".into(),
        "uk" => "Ukrainian".into(),
        "en" => "English".into(),
        other => format!("language {}", spell(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whisper_reads_the_case() {
        let whisper = Whisper {
            case: CaseNumber { year: 2026, sequence: 42 },
            caller_language: LanguageTag::parse("ko"),
            labels: vec!["serviceman, wants to surrender".into(), "surrendering alone".into()],
            interpreter_needed: true,
            waited_secs: 125,
            earlier_calls: 2,
        };
        assert_eq!(
            whisper.text(),
            "Case 2 0 2 6, 0 0 0 0 4 2. Korean. Interpreter needed. serviceman, wants to \
             surrender, surrendering alone. Waited 2 minutes 5 seconds. Called 2 times before."
        );
        let short = Whisper {
            labels: vec![],
            interpreter_needed: false,
            waited_secs: 1,
            earlier_calls: 0,
            caller_language: None,
            ..whisper
        };
        assert_eq!(short.text(), "Case 2 0 2 6, 0 0 0 0 4 2. Waited 1 second. First call.");
    }

    #[test]
    fn no_history_means_no_estimate() {
        assert_eq!(estimate(&[]), None);
        assert_eq!(estimate(&[30, 90]), Some(60));
        assert_eq!(estimate(&[-5]), Some(0));
    }
}
