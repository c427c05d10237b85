//! Problems found in script files, and the collector that gives each one its line and column.
//!
//! Supervisors, not programmers, read these messages: each names the file, the line and column,
//! and the node, and says what to change.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The scripts cannot be used until it is fixed.
    Error,
    /// The scripts work, but not as written (a recording is missing, a file is ignored).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in a script file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as the loader was given it (`ivr-scripts/ru.xml`).
    pub file: PathBuf,
    /// 1-based line; `0` when the problem concerns the whole file (it cannot be read, say).
    pub line: u32,
    /// 1-based column, in characters; `0` with line `0`.
    pub column: u32,
    /// Whether it stops the scripts from loading.
    pub severity: Severity,
    /// What is wrong and what to do, in plain words.
    pub message: String,
}

impl Diagnostic {
    /// A problem with a whole file rather than a place in it.
    pub(super) fn file_error(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_owned(),
            line: 0,
            column: 0,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    /// Whether this problem stops the scripts from loading.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `ivr-scripts/ru.xml:12:5: error: …`, the form editors and terminals turn into links; a
/// whole-file problem has no line and column.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        if self.line == 0 {
            write!(f, "{file}: {}: {}", self.severity, self.message)
        } else {
            write!(f, "{file}:{}:{}: {}: {}", self.line, self.column, self.severity, self.message)
        }
    }
}

/// Every problem found in the scripts, errors and warnings, sorted by file then line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The problems; at least one is an error.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// How many of the problems are errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// One problem a line, then a summary line: `2 errors, 1 warning`.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for diagnostic in &self.diagnostics {
            writeln!(f, "{diagnostic}")?;
        }
        let errors = self.error_count();
        let warnings = self.diagnostics.len() - errors;
        write!(f, "{}, {}", plural(errors, "error"), plural(warnings, "warning"))
    }
}

impl std::error::Error for Report {}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// Sorts diagnostics by file, then position, keeping the order they were found in otherwise.
pub(super) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// Past this many problems in one file the rest are only counted: a file that is not a script
/// at all would otherwise bury the first, useful messages under thousands of others.
const MAX_PER_FILE: usize = 200;

/// Collects the problems of one file, turning byte offsets into lines and columns.
pub(super) struct Collector<'t> {
    file: PathBuf,
    text: &'t str,
    /// Byte offset of the start of each line, for a binary search instead of a scan from the
    /// start of the file for every problem.
    line_starts: Vec<usize>,
    /// The last position computed, as (byte offset, line index, column): problems mostly come
    /// in file order, so counting the characters of a long line goes on from there instead of
    /// starting again at the line's beginning each time.
    last: (usize, usize, usize),
    diagnostics: Vec<Diagnostic>,
    has_errors: bool,
    not_shown: usize,
}

impl<'t> Collector<'t> {
    /// A collector for `file`, whose content is `text`.
    pub(super) fn new(file: &Path, text: &'t str) -> Collector<'t> {
        let line_starts = std::iter::once(0)
            .chain(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1))
            .collect();
        Collector {
            file: file.to_owned(),
            text,
            line_starts,
            last: (0, 0, 1),
            diagnostics: Vec::new(),
            has_errors: false,
            not_shown: 0,
        }
    }

    /// The file's name, as given.
    pub(super) fn file(&self) -> &Path {
        &self.file
    }

    /// The 0-based index of the line holding a byte offset.
    fn line_index(&self, offset: usize) -> usize {
        // The first line starts at 0, so the count is at least 1.
        self.line_starts.partition_point(|start| *start <= offset).saturating_sub(1)
    }

    /// The 1-based line of a byte offset.
    pub(super) fn line_of(&self, offset: usize) -> u32 {
        to_u32(self.line_index(offset) + 1)
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&mut self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.line_index(offset);
        let (last_offset, last_line, last_column) = self.last;
        let (from, column) = if last_line == line && last_offset <= offset {
            (last_offset, last_column)
        } else {
            (self.line_starts.get(line).copied().unwrap_or(0), 1)
        };
        // Offsets come from the parser, so they are on character boundaries; `get` keeps a
        // mistake from panicking anyway.
        let column = column + self.text.get(from..offset).map_or(0, |s| s.chars().count());
        self.last = (offset, line, column);
        (to_u32(line + 1), to_u32(column))
    }

    /// Records an error at a byte offset of the text.
    pub(super) fn error(&mut self, offset: usize, message: impl Into<String>) {
        self.push(Some(offset), (0, 0), Severity::Error, message.into());
    }

    /// Records a warning at a byte offset of the text.
    pub(super) fn warning(&mut self, offset: usize, message: impl Into<String>) {
        self.push(Some(offset), (0, 0), Severity::Warning, message.into());
    }

    /// Records an error at a line and column the XML parser computed.
    pub(super) fn error_at(&mut self, line: u32, column: u32, message: impl Into<String>) {
        self.push(None, (line, column), Severity::Error, message.into());
    }

    /// Records a problem at `offset` if given, else at `position`.
    fn push(
        &mut self,
        offset: Option<usize>,
        position: (u32, u32),
        severity: Severity,
        message: String,
    ) {
        self.has_errors |= severity == Severity::Error;
        if self.diagnostics.len() >= MAX_PER_FILE {
            self.not_shown += 1;
            return;
        }
        let (line, column) = offset.map_or(position, |offset| self.position(offset));
        let file = self.file.clone();
        self.diagnostics.push(Diagnostic { file, line, column, severity, message });
    }

    /// Whether any error was recorded.
    pub(super) fn has_errors(&self) -> bool {
        self.has_errors
    }

    /// The problems found, in file order.
    pub(super) fn finish(mut self) -> Vec<Diagnostic> {
        sort(&mut self.diagnostics);
        if self.not_shown > 0 {
            let message = format!(
                "{} more problems in this file are not shown; fix the ones listed first",
                self.not_shown
            );
            // Not an error of its own: the ones shown already stop the file from loading.
            self.diagnostics.push(Diagnostic {
                file: self.file.clone(),
                line: 0,
                column: 0,
                severity: Severity::Warning,
                message,
            });
        }
        self.diagnostics
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(line: u32, severity: Severity) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("ivr-scripts/ru.xml"),
            line,
            column: 5,
            severity,
            message: "menu \"main\": option 1 goes to \"surender\", which does not exist".into(),
        }
    }

    #[test]
    fn diagnostics_read_like_compiler_messages() {
        assert_eq!(
            diagnostic(12, Severity::Error).to_string(),
            "ivr-scripts/ru.xml:12:5: error: menu \"main\": option 1 goes to \"surender\", which \
             does not exist"
        );
        let whole_file = Diagnostic::file_error(Path::new("x/languages.xml"), "cannot be read");
        assert_eq!(whole_file.to_string(), "x/languages.xml: error: cannot be read");
    }

    #[test]
    fn report_ends_with_a_count() {
        let report = Report {
            diagnostics: vec![
                diagnostic(1, Severity::Error),
                diagnostic(2, Severity::Error),
                diagnostic(3, Severity::Warning),
            ],
        };
        let text = report.to_string();
        assert_eq!(text.lines().count(), 4);
        assert!(text.ends_with("\n2 errors, 1 warning"), "{text}");
    }

    #[test]
    fn positions_count_lines_and_characters() {
        let text = "<a>\r\n  <b>é</b>\n<c/>";
        let mut collector = Collector::new(Path::new("f.xml"), text);
        collector.error(text.find("<b>").unwrap(), "b");
        collector.error(text.find("é").unwrap() + 2, "after the accent");
        collector.error(text.find("<c").unwrap(), "c");
        collector.error(text.find("é").unwrap(), "the accent, after a later position");
        collector.error(0, "a");
        collector.error(usize::MAX, "past the end");
        let found: Vec<(u32, u32)> =
            collector.finish().iter().map(|d| (d.line, d.column)).collect();
        assert_eq!(found, [(1, 1), (2, 3), (2, 6), (2, 7), (3, 1), (3, 5)]);
    }

    #[test]
    fn a_flood_of_problems_is_cut_short() {
        let mut collector = Collector::new(Path::new("f.xml"), "x");
        for _ in 0..MAX_PER_FILE + 5 {
            collector.error(0, "bad");
        }
        let diagnostics = collector.finish();
        assert_eq!(diagnostics.len(), MAX_PER_FILE + 1);
        assert!(diagnostics[MAX_PER_FILE].message.starts_with("5 more problems"));
    }
}
