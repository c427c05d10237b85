//! The one CSV writer of the hotline: the supervisors' case export and the translators'
//! texts. RFC 4180 (CRLF line ends; a field with a comma, quote or line break quoted, quotes
//! doubled), with the guard against CSV injection (OWASP): a cell a spreadsheet would run as a
//! formula gets a leading `'`, so it is shown as text.
//!
//! A file for a person's spreadsheet starts with a UTF-8 byte order mark, without which some
//! spreadsheet programs read Cyrillic and Korean as another encoding; [`strip_bom`] and
//! [`undefuse`] are what a reader of such a file takes off again, exactly.

/// The UTF-8 byte order mark.
pub const BOM: char = '\u{feff}';

/// Whether a file starts with the byte order mark (for a spreadsheet) or not (for a program
/// that reads RFC 4180 to the letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bom {
    /// Start with it.
    With,
    /// Leave it out.
    Without,
}

/// The first characters that make a spreadsheet read a cell as a formula: `=`, `+`, `-`,
/// `@`, and a tab or CR, which some spreadsheets skip before one. Other whitespace before
/// one (spaces, a no-break space) is skipped by some too: see [`formula_behind_apostrophes`].
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV file being written, row by row.
#[derive(Debug, Clone)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// A file whose first row is `header`.
    pub fn new<S: AsRef<str>>(bom: Bom, header: &[S]) -> Writer {
        let mut writer = Writer { out: String::new() };
        if bom == Bom::With {
            writer.out.push(BOM);
        }
        writer.row(header);
        writer
    }

    /// Adds a row.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(&field(cell.as_ref()));
        }
        self.out.push_str("\r\n");
    }

    /// The file.
    pub fn finish(self) -> String {
        self.out
    }
}

/// One field: defused (see [`defuse`]), then quoted if it holds a comma, quote or line break.
pub fn field(value: &str) -> String {
    let defused = defuse(value);
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

/// A cell made safe to open in a spreadsheet: one that would start a formula gets a leading
/// `'`. So does one that is already apostrophes before such a start (`'=1`), so that
/// [`undefuse`] can tell the two apart and give back exactly what was written.
pub fn defuse(value: &str) -> String {
    if formula_behind_apostrophes(value) { format!("'{value}") } else { value.to_owned() }
}

/// The inverse of [`defuse`]: a cell read back from a file this module wrote, with the `'`
/// it added taken off, and nothing else changed.
pub fn undefuse(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_behind_apostrophes(rest) => rest,
        _ => cell,
    }
}

/// A file's text without the byte order mark it may start with.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// Whether `value` is zero or more `'`, then any Unicode whitespace (which some spreadsheets
/// trim), then a formula's first character.
fn formula_behind_apostrophes(value: &str) -> bool {
    let after = value.trim_start_matches('\'');
    // Tab and CR are formula starts of their own; whatever whitespace comes first, a formula
    // behind it is one.
    after.starts_with(FORMULA_STARTS) || after.trim_start().starts_with(FORMULA_STARTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field(""), "");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        for formula in [
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=1",
            "''+1",
            " =1+1",
            "   -2",
            "\u{a0}=HYPERLINK(\"x\")",
            "\u{2003}\u{3000}@SUM(A1)",
            "\n+1",
            " \t=1",
            "' =1",
        ] {
            assert!(field(formula).trim_start_matches('"').starts_with('\''), "{formula:?}");
        }
        // Text that only contains a formula's character, or starts with an apostrophe before
        // plain text, is left as it is.
        for plain in [
            "a=1",
            "1+1",
            "'quoted'",
            "Привет",
            "안녕하세요",
            "'",
            "''",
            " ",
            "\u{a0}a=1",
            " '=1",
            "'\u{a0}'=1",
        ] {
            assert_eq!(defuse(plain), plain);
        }
    }

    #[test]
    fn undefuse_gives_back_exactly_what_was_defused() {
        let cells = [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1:A9)",
            "\tx",
            "\r=1",
            "'=1",
            "''-2",
            "'plain",
            "'",
            "",
            "Привет, мир",
            "안녕하세요 \"따옴표\"",
            "x=1",
            " =1",
            "  +1",
            "\u{a0}-2",
            "\u{a0}\u{a0}@x",
            "\t =1",
            " \t\u{3000}=1",
            "' =1",
            "'\u{a0}+1",
            "'' \t-1",
            "' '=1",
            "\u{a0}'=1",
            " ",
            "\u{a0}",
            "' plain",
            "'\u{a0}",
        ];
        for cell in cells {
            assert_eq!(undefuse(&defuse(cell)), cell, "{cell:?}");
        }
        // A cell nobody defused keeps its apostrophe.
        assert_eq!(undefuse("'plain"), "'plain");
        assert_eq!(undefuse("'"), "'");
        assert_eq!(undefuse("' plain"), "' plain");
        // What a spreadsheet would trim to a formula is defused, and comes back as it was.
        assert_eq!(defuse("\u{a0}=1"), "'\u{a0}=1");
        assert_eq!(undefuse("'\u{a0}=1"), "\u{a0}=1");
    }

    #[test]
    fn a_file_has_its_header_its_rows_and_the_bom_when_asked() {
        let mut writer = Writer::new(Bom::With, &["a", "b"]);
        writer.row(&["1", "x,y"]);
        let text = writer.finish();
        assert_eq!(text, "\u{feff}a,b\r\n1,\"x,y\"\r\n");
        assert_eq!(strip_bom(&text), "a,b\r\n1,\"x,y\"\r\n");
        assert_eq!(Writer::new(Bom::Without, &["a"]).finish(), "a\r\n");
        assert_eq!(strip_bom("no mark"), "no mark");
    }
}
