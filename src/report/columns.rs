//! Text in aligned columns, as the terminal reports print it: the connection
//! table, the state histories and `show`'s packet ladder.

use std::io::{self, Write};

/// A header and rows of text cells, written as left-aligned columns two
/// spaces apart. A column is as wide as its widest cell (in characters); the
/// last column is not padded and lines carry no trailing blanks.
pub(crate) struct Columns {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// No column is cut below this many characters to fit a width.
const MIN_WIDTH: usize = 8;

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

    /// True when there are no rows (the header does not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The last cell of every row, header excepted.
    pub(crate) fn last_cells_mut(&mut self) -> impl Iterator<Item = &mut String> {
        self.rows.iter_mut().filter_map(|r| r.last_mut())
    }

    /// Shrinks the widest columns one character at a time until a line fits
    /// `width`, but none below 8 characters; cells cut short end with `…`.
    pub(crate) fn shrink_to(&mut self, width: usize) {
        let mut widths = self.widths();
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        while total(&widths) > width {
            let Some((i, &w)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if w <= MIN_WIDTH {
                break;
            }
            widths[i] = w - 1;
        }
        for r in std::iter::once(&mut self.header).chain(&mut self.rows) {
            for (cell, &w) in r.iter_mut().zip(&widths) {
                if cell.chars().count() > w {
                    let mut cut: String = cell.chars().take(w.saturating_sub(1)).collect();
                    cut.push('…');
                    *cell = cut;
                }
            }
        }
    }

    /// Writes the header and the rows.
    pub(crate) fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let widths = self.widths();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, w)) in r.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i + 1 < r.len() {
                    let pad = w - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    /// Each column's width: its widest cell, header included.
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        widths
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
    fn shrinking_cuts_the_widest_column_first() {
        let mut c = Columns::new(["NAME", "X"]);
        c.push(["a-very-long-name-indeed".to_string(), "1".into()]);
        c.shrink_to(13);
        assert_eq!(text(&c), "NAME        X\na-very-lo…  1\n");
        // Never below eight characters, even if the line stays too long.
        c.shrink_to(4);
        assert_eq!(text(&c), "NAME      X\na-very-…  1\n");
    }
}
