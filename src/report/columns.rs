//! Text in aligned columns, as the terminal reports print it: the connection
//! table, the state histories and `show`'s packet ladder; and the wrapping
//! of text to a terminal's width.

use std::io::{self, Write};

/// A header and rows of text cells, written as left-aligned columns two
/// spaces apart. A cell may hold several lines (separated by `\n`): its row
/// then takes as many lines, the other cells blank below their first. A
/// column is as wide as its widest line, counted in characters as a
/// terminal shows them (colour escapes take no room); the last column is
/// not padded and lines carry no trailing blanks.
pub(crate) struct Columns {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Columns {
    /// Columns with this header and no rows yet.
    pub(crate) fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Columns {
        Columns {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row, one cell per column.
    pub(crate) fn push(&mut self, row: impl Into<Vec<String>>) {
        self.rows.push(row.into());
    }

    /// Wraps the last column's cells at spaces (see [`wrap_words`]) so that
    /// rows fit `width` characters beside the other columns, which are
    /// never cut; it keeps at least 10 characters whatever they leave.
    pub(crate) fn wrap_last_column(&mut self, width: usize) {
        let widths = self.widths();
        let Some((_, others)) = widths.split_last() else {
            return;
        };
        let used = others.iter().sum::<usize>() + 2 * others.len();
        let room = width.saturating_sub(used).max(10);
        for cell in self.rows.iter_mut().filter_map(|r| r.last_mut()) {
            let lines: Vec<String> = cell.split('\n').flat_map(|l| wrap_words(l, room)).collect();
            *cell = lines.join("\n");
        }
    }

    /// Writes the header and the rows.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let widths = self.widths();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            write_row(out, r, &widths)?;
        }
        Ok(())
    }

    /// Each column's width: its widest line, header included.
    fn widths(&self) -> Vec<usize> {
        let mut widths = vec![0; self.header.len()];
        for r in std::iter::once(&self.header).chain(&self.rows) {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell_width(cell));
            }
        }
        widths
    }
}

/// Writes one row of [`Columns`] given every column's width, so a table
/// too big to hold can be written a row at a time once its widths are known.
pub(crate) fn write_row(out: &mut dyn Write, row: &[String], widths: &[usize]) -> io::Result<()> {
    let cells: Vec<Vec<&str>> = row.iter().map(|c| c.split('\n').collect()).collect();
    let height = cells.iter().map(Vec::len).max().unwrap_or(1);
    for n in 0..height {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let text = cell.get(n).copied().unwrap_or("");
            line.push_str(text);
            if i + 1 < cells.len() {
                let pad = w - visible_width(text) + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The widest line of a cell, as a terminal shows it.
pub(crate) fn cell_width(cell: &str) -> usize {
    cell.split('\n').map(visible_width).max().unwrap_or(0)
}

/// Characters a terminal shows for `text`: ANSI colour escapes
/// (`ESC [ ... m`) take no room.
pub(crate) fn visible_width(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Up to and including the final letter of the escape.
            for e in chars.by_ref() {
                if e.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// `items` joined by `sep` on lines of at most `width` visible characters,
/// breaking only after a separator (which stays at the end of its line). An
/// item wider than `width` gets a line of its own and is never cut.
pub(crate) fn wrap_list(items: &[String], sep: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item}{sep}")
        } else {
            item.clone()
        };
        // The separator may hang past the width only as a trailing blank.
        let needed = visible_width(&line) + visible_width(piece.trim_end());
        if !line.is_empty() && needed > width {
            lines.push(line.trim_end().to_string());
            line = String::new();
        }
        line.push_str(&piece);
    }
    lines.push(line.trim_end().to_string());
    lines
}

/// A line of prose on lines of at most `width` visible characters, broken
/// at spaces; continuation lines are indented two more than the first. A
/// word (a path, say) wider than a line is broken between characters, so
/// no line is longer than `width`; coloured words are never broken.
pub(crate) fn wrap_words(text: &str, width: usize) -> Vec<String> {
    if visible_width(text) <= width {
        return vec![text.to_string()];
    }
    // Indents take at most half a line, so a line always has room.
    let width = width.max(4);
    let lead = text.len() - text.trim_start_matches(' ').len();
    let indent = " ".repeat((lead + 2).min(width / 2));
    let mut lines = Vec::new();
    let mut line = " ".repeat(lead.min(width / 2));
    // Whether `line` holds a word yet (or only its indent).
    let mut worded = false;
    for word in text[lead..].split(' ').filter(|w| !w.is_empty()) {
        let gap = usize::from(worded);
        if visible_width(&line) + gap + visible_width(word) <= width {
            if worded {
                line.push(' ');
            }
            line.push_str(word);
            worded = true;
            continue;
        }
        if worded {
            lines.push(std::mem::replace(&mut line, indent.clone()));
        }
        let mut rest: Vec<char> = word.chars().collect();
        while !word.contains('\x1b') && visible_width(&line) + rest.len() > width {
            let room = width - visible_width(&line);
            line.extend(rest.drain(..room));
            lines.push(std::mem::replace(&mut line, indent.clone()));
        }
        line.extend(rest);
        worded = true;
    }
    if worded {
        lines.push(line);
    }
    lines
}

/// `text` on two lines, broken at the space that leaves the longer line
/// shortest; unchanged without a space.
pub(crate) fn two_lines(text: &str) -> String {
    let best = text
        .match_indices(' ')
        .map(|(i, _)| {
            (
                visible_width(&text[..i]).max(visible_width(&text[i + 1..])),
                i,
            )
        })
        .min();
    match best {
        Some((_, i)) => format!("{}\n{}", &text[..i], &text[i + 1..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: &Columns) -> String {
        let mut out = Vec::new();
        c.write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut c = Columns::new(["A", "BB", "C"]);
        c.push(["xyz".to_string(), "é".into(), "last cell".into()]);
        c.push(["1".to_string(), "".into(), "".into()]);
        assert_eq!(text(&c), "A    BB  C\nxyz  é   last cell\n1\n");
    }

    #[test]
    fn cells_of_several_lines_make_a_row_of_several_lines() {
        let mut c = Columns::new(["N", "WHO\nWHOM", "X"]);
        c.push(["0".to_string(), "client\nserver".into(), "a,\nb".into()]);
        c.push(["1".to_string(), "c\ns".into(), "-".into()]);
        assert_eq!(
            text(&c),
            "N  WHO     X\n   WHOM\n0  client  a,\n   server  b\n1  c       -\n   s\n"
        );
    }

    #[test]
    fn colour_escapes_take_no_room() {
        let mut c = Columns::new(["A", "B"]);
        c.push(["\x1b[31mred\x1b[0m".to_string(), "x".into()]);
        c.push(["plain".to_string(), "y".into()]);
        assert_eq!(text(&c), "A      B\n\x1b[31mred\x1b[0m    x\nplain  y\n");
        assert_eq!(visible_width("\x1b[33mab\x1b[0mc"), 3);
    }

    #[test]
    fn lists_wrap_after_separators_and_never_cut_an_item() {
        let items: Vec<String> = ["reset", "lost_segment", "duplicate_ack"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            wrap_list(&items, ",", 19),
            ["reset,lost_segment,", "duplicate_ack"]
        );
        assert_eq!(
            wrap_list(&items, ",", 5),
            ["reset,", "lost_segment,", "duplicate_ack"]
        );
        assert_eq!(
            wrap_list(&items, ",", 80),
            ["reset,lost_segment,duplicate_ack"]
        );
    }

    #[test]
    fn two_lines_break_nearest_the_middle() {
        assert_eq!(
            two_lines("vxlan 172.16.0.1>172.16.0.2 vni=100"),
            "vxlan 172.16.0.1>172.16.0.2\nvni=100"
        );
        assert_eq!(two_lines("vlan 10"), "vlan\n10");
        assert_eq!(two_lines("-"), "-");
    }

    #[test]
    fn prose_wraps_at_spaces_with_an_indent() {
        assert_eq!(
            wrap_words("frames: 77 = tcp 77 + other IP 0", 16),
            ["frames: 77 = tcp", "  77 + other IP", "  0"]
        );
        assert_eq!(
            wrap_words("  tcp with a bad checksum: 3", 14),
            ["  tcp with a", "    bad", "    checksum:", "    3"]
        );
        // A word longer than the width is broken, never left too long.
        let lines = wrap_words("# a/very/long/path/name.pcap (pcap)", 12);
        assert!(lines.iter().all(|l| l.chars().count() <= 12), "{lines:?}");
        assert_eq!(
            lines.concat().replace(' ', ""),
            "#a/very/long/path/name.pcap(pcap)"
        );
        assert_eq!(wrap_words("short", 80), ["short"]);
        // Whatever the width, every line has room for a character.
        assert_eq!(wrap_words("      ab", 1), ["  ab"]);
    }
}
