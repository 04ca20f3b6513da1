//! The one Markdown table renderer: every table in a report goes through
//! here, so escaping, alignment and padding are done once.

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A GitHub-flavoured Markdown table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub align: Vec<Align>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first column is left-aligned and the rest right-aligned,
    /// the layout of every numeric table in a report.
    pub fn numeric<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let align = (0..headers.len())
            .map(|i| if i == 0 { Align::Left } else { Align::Right })
            .collect();
        Table {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    /// A table with every column left-aligned.
    pub fn text<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        let headers: Vec<String> = headers.into_iter().map(Into::into).collect();
        let align = vec![Align::Left; headers.len()];
        Table {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    /// Overrides one column's alignment.
    pub fn with_align(mut self, column: usize, align: Align) -> Self {
        if let Some(a) = self.align.get_mut(column) {
            *a = align;
        }
        self
    }

    pub fn push<S: Into<String>>(&mut self, row: impl IntoIterator<Item = S>) {
        self.rows.push(row.into_iter().map(Into::into).collect());
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders the table, padded so it also reads well as plain text.
    /// Short rows are padded with empty cells; extra cells are dropped.
    pub fn render(&self) -> String {
        let ncols = self.headers.len();
        if ncols == 0 {
            return String::new();
        }
        let header: Vec<String> = self.headers.iter().map(|h| escape(h)).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                (0..ncols)
                    .map(|i| r.get(i).map(|c| escape(c)).unwrap_or_default())
                    .collect()
            })
            .collect();
        let align = |i: usize| self.align.get(i).copied().unwrap_or(Align::Left);
        // Three dashes is the shortest separator GitHub accepts.
        let mut widths: Vec<usize> = header.iter().map(|h| width(h).max(3)).collect();
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }

        let mut out = String::new();
        push_line(&mut out, &header, &widths, &align);
        let seps: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| match align(i) {
                Align::Left => "-".repeat(w),
                Align::Right => format!("{}:", "-".repeat(w - 1)),
            })
            .collect();
        push_line(&mut out, &seps, &widths, &|_| Align::Left);
        for row in &rows {
            push_line(&mut out, row, &widths, &align);
        }
        out
    }
}

fn push_line(out: &mut String, cells: &[String], widths: &[usize], align: &dyn Fn(usize) -> Align) {
    out.push('|');
    for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
        let pad = " ".repeat(w - width(cell));
        out.push(' ');
        match align(i) {
            Align::Left => {
                out.push_str(cell);
                out.push_str(&pad);
            }
            Align::Right => {
                out.push_str(&pad);
                out.push_str(cell);
            }
        }
        out.push_str(" |");
    }
    out.push('\n');
}

/// Makes arbitrary text safe inside a cell: a `|` would end the cell and a
/// newline the row.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push_str("\\|"),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Display width, counted in chars so `µs` and `→` pad like ASCII.
fn width(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_and_padded() {
        let mut t = Table::numeric(["target", "p99 [ms]"]);
        t.push(["gp", "12.3"]);
        t.push(["express", "0.842"]);
        assert_eq!(
            t.render(),
            "| target  | p99 [ms] |\n\
             | ------- | -------: |\n\
             | gp      |     12.3 |\n\
             | express |    0.842 |\n"
        );
    }

    #[test]
    fn escapes_pipes_and_newlines() {
        let mut t = Table::text(["a|b"]);
        t.push(["x|y\nz\r\nw"]);
        let out = t.render();
        assert!(out.starts_with("| a\\|b "), "{out}");
        assert!(out.contains("| x\\|y z w |"), "{out}");
        assert_eq!(
            out.lines().count(),
            3,
            "a newline in a cell must not add a row"
        );
    }

    #[test]
    fn short_rows_are_padded_and_long_rows_cut() {
        let mut t = Table::text(["a", "b"]);
        t.push(["1"]);
        t.push(["1", "2", "3"]);
        let out = t.render();
        for line in out.lines() {
            assert_eq!(line.matches(" |").count(), 2, "{line}");
        }
    }

    #[test]
    fn unicode_pads_by_chars() {
        let mut t = Table::numeric(["k", "µs"]);
        t.push(["x", "1"]);
        let out = t.render();
        let lens: Vec<usize> = out.lines().map(|l| l.chars().count()).collect();
        assert!(lens.windows(2).all(|w| w[0] == w[1]), "{out}");
    }

    #[test]
    fn empty_headers_render_nothing() {
        assert_eq!(Table::default().render(), "");
    }
}
