//! How the list commands print (`hotline cases`, `hotline users list`, `hotline scripts
//! versions`, `drafts`, `testers`): a table with a header row for a person, or with `--json`
//! one JSON array of objects for a program, with the field names of the JSON API.
//!
//! Neither ever holds a phone number: the rows are built from what the screens show.

use std::io::{self, Write};

use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// Prints `rows` under `header`, each column as wide as its widest cell on the screen (a
/// Korean syllable takes two columns of a terminal, a combining accent none), two spaces
/// apart. A cell's control characters (a label typed with an escape sequence) are dropped, so a row
/// cannot move the cursor or recolour the terminal.
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| cell.chars().filter(|c| !c.is_control()).collect()))
        .map(Iterator::collect)
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            // The last column is not padded: no trailing blanks to trip a `grep $`.
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.width())));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Prints `items` as one JSON array, then a line end.
pub fn json<T: Serialize>(out: &mut impl Write, items: &[T]) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, items).map_err(io::Error::other)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(header: &[&str], rows: &[Vec<String>]) -> String {
        let mut out = Vec::new();
        table(&mut out, header, rows).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_line_up_under_their_header() {
        let rows = vec![
            vec!["101".to_owned(), "olga".to_owned(), "ru,uk".to_owned()],
            vec!["102".to_owned(), "anna-maria".to_owned(), "en".to_owned()],
        ];
        let text = printed(&["id", "name", "languages"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id   name        languages");
        assert_eq!(lines[1], "101  olga        ru,uk");
        assert_eq!(lines[2], "102  anna-maria  en");
        assert_eq!(lines[0].find("languages"), lines[1].find("ru,uk"));
    }

    #[test]
    fn wide_letters_and_escape_sequences_do_not_break_the_table() {
        let rows = vec![
            vec!["1".to_owned(), "\u{1b}[2J\u{1b}[31mred\r".to_owned()],
            vec!["2".to_owned(), "Ольга телефон".to_owned()],
            vec!["3".to_owned(), String::new()],
        ];
        let text = printed(&["id", "label"], &rows);
        assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
        assert!(text.contains("1   [2J[31mred\n"), "{text:?}");
        assert!(text.contains("2   Ольга телефон\n"), "{text:?}");
        assert!(text.ends_with("3\n"), "{text:?}");
    }

    #[test]
    fn korean_and_cyrillic_labels_keep_the_next_columns_in_line() {
        let rows = vec![
            vec!["7".to_owned(), "Соня — 상담원 телефон".to_owned(), "anna".to_owned()],
            vec!["8".to_owned(), "desk phone".to_owned(), "boss".to_owned()],
            vec!["9".to_owned(), "김민준".to_owned(), "cli".to_owned()],
        ];
        let text = printed(&["id", "label", "added by"], &rows);
        let lines: Vec<&str> = text.lines().collect();
        // Where the last column starts on the screen: the width of what comes before it.
        let column = |line: &str, last: &str| line[..line.rfind(last).unwrap()].width();
        let at = column(lines[0], "added by");
        assert_eq!(column(lines[1], "anna"), at, "{text}");
        assert_eq!(column(lines[2], "boss"), at, "{text}");
        assert_eq!(column(lines[3], "cli"), at, "{text}");
        // The widest label is 21 columns (상담원 takes six): 2 + 2 + 21 + 2 before the last.
        assert_eq!(at, 27, "{text}");
        assert_eq!(lines[3], format!("9   김민준{}cli", " ".repeat(21 - 6 + 2)));
    }

    #[test]
    fn an_empty_list_is_a_header_or_an_empty_array() {
        assert_eq!(printed(&["id", "name"], &[]), "id  name\n");
        let mut out = Vec::new();
        json::<u8>(&mut out, &[]).unwrap();
        assert_eq!(serde_json::from_slice::<Vec<u8>>(&out).unwrap(), Vec::<u8>::new());
    }
}
