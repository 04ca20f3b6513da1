//! The check parser: a hand-written scanner over the characters of one
//! expression, so that every error names the column it is about, as a
//! compiler does, in one sentence. It never panics (a property test feeds
//! it arbitrary text).

use super::*;

/// Parses one check; errors point at a 1-based column of `text`.
pub fn parse(text: &str) -> Result<Check, CheckError> {
    parse_spanned(text).map(|(c, _)| c)
}

/// [`parse`], with the columns of the check's parts (for [`validate`]).
pub fn parse_spanned(text: &str) -> Result<(Check, Spans), CheckError> {
    Parser::new(text).check()
}

const EXAMPLE: &str = "like `express/get/p99 < 10ms`";

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

/// A word of the subject: its text and 1-based column.
struct Part {
    text: String,
    column: usize,
}

fn fail<T>(column: usize, message: impl Into<String>) -> Result<T, CheckError> {
    Err(CheckError {
        column,
        message: message.into(),
    })
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

fn is_cmp_char(c: char) -> bool {
    matches!(c, '<' | '>' | '=' | '!')
}

/// What a character looks like in a message.
fn show(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("{:?}", c)
    } else {
        format!("`{c}`")
    }
}

impl Parser {
    fn new(text: &str) -> Parser {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn column(&self) -> usize {
        self.pos + 1
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn check(mut self) -> Result<(Check, Spans), CheckError> {
        self.skip_ws();
        if self.peek().is_none() {
            return fail(
                self.column(),
                format!("expected a check {EXAMPLE}, got nothing"),
            );
        }
        let (scope, parts, mut spans) = self.subject_words()?;
        let subject = subject(scope.as_ref(), &parts)?;
        spans.parts = [0, 1, 2].map(|i| parts.get(i).map_or(0, |p| p.column));
        let scope = scope.map(|s| name(&s, "phase")).transpose()?;
        let after_subject = self.column();
        self.skip_ws();
        let cmp = self.cmp(after_subject, &subject)?;
        self.skip_ws();
        let limit = self.limit(&subject)?;
        self.skip_ws();
        if let Some(c) = self.peek() {
            return fail(
                self.column(),
                format!(
                    "unexpected {} after the limit; a check ends with its limit",
                    show(c)
                ),
            );
        }
        Ok((
            Check {
                scope,
                subject,
                cmp,
                limit,
            },
            spans,
        ))
    }

    /// The subject up to whitespace or a comparison: an optional `PHASE:`
    /// scope and the `/`-separated parts.
    fn subject_words(&mut self) -> Result<(Option<Part>, Vec<Part>, Spans), CheckError> {
        let mut scope: Option<Part> = None;
        let mut parts: Vec<Part> = Vec::new();
        let mut cur = Part {
            text: String::new(),
            column: self.column(),
        };
        let mut spans = Spans::default();
        loop {
            match self.peek() {
                None => break,
                Some(c) if c.is_whitespace() || is_cmp_char(c) => break,
                Some(':') => {
                    if scope.is_some() || !parts.is_empty() {
                        return fail(
                            self.column(),
                            "unexpected `:`; only a phase scope in front takes one, like `shuffled-reads:express/get/p99`",
                        );
                    }
                    if cur.text.is_empty() {
                        return fail(self.column(), "expected a phase name before `:`");
                    }
                    spans.scope = cur.column;
                    self.pos += 1;
                    scope = Some(std::mem::replace(
                        &mut cur,
                        Part {
                            text: String::new(),
                            column: self.column(),
                        },
                    ));
                }
                Some('/') => {
                    if cur.text.is_empty() {
                        return fail(
                            self.column(),
                            "expected a name before `/`; parts are separated by one `/`",
                        );
                    }
                    self.pos += 1;
                    parts.push(std::mem::replace(
                        &mut cur,
                        Part {
                            text: String::new(),
                            column: self.column(),
                        },
                    ));
                }
                Some(c) if is_name_char(c) || c == '*' => {
                    cur.text.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    return fail(
                        self.column(),
                        format!(
                            "unexpected {} in a name; names are letters, digits, `-`, `_` and `.`, or `*`",
                            show(c)
                        ),
                    );
                }
            }
        }
        if cur.text.is_empty() {
            let msg = if parts.is_empty() && scope.is_none() {
                format!("expected a check {EXAMPLE}")
            } else {
                "expected a name after the separator".to_string()
            };
            return fail(self.column(), msg);
        }
        parts.push(cur);
        Ok((scope, parts, spans))
    }

    fn cmp(&mut self, column: usize, subject: &Subject) -> Result<Cmp, CheckError> {
        let two: String = self.chars[self.pos..].iter().take(2).collect();
        let (cmp, len) = match two.as_str() {
            "<=" => (Cmp::Le, 2),
            ">=" => (Cmp::Ge, 2),
            "==" => (Cmp::Eq, 2),
            "!=" => {
                return fail(
                    self.column(),
                    "`!=` is not a comparison checks take; expected <, <=, >, >= or ==",
                );
            }
            _ => match self.peek() {
                Some('<') => (Cmp::Lt, 1),
                Some('>') => (Cmp::Gt, 1),
                Some('=') => {
                    return fail(self.column(), "expected `==` (or <, <=, >, >=), got `=`");
                }
                None => {
                    return fail(
                        column,
                        format!(
                            "expected a comparison (<, <=, >, >= or ==) and a limit after `{subject}`"
                        ),
                    );
                }
                Some(c) => {
                    return fail(
                        self.column(),
                        format!(
                            "expected a comparison (<, <=, >, >= or ==), got {}",
                            show(c)
                        ),
                    );
                }
            },
        };
        self.pos += len;
        Ok(cmp)
    }

    fn limit(&mut self, subject: &Subject) -> Result<Limit, CheckError> {
        let q = subject.quantity();
        let start = self.column();
        let mut digits = String::new();
        match self.peek() {
            Some('-') => {
                return fail(
                    start,
                    "expected a limit of 0 or more; statistics are never negative",
                );
            }
            Some(c) if c.is_ascii_digit() => {}
            got => {
                let got = got.map_or("nothing".to_string(), show);
                return fail(
                    start,
                    format!("expected a limit {}, got {got}", example_limit(q)),
                );
            }
        }
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            digits.push(c);
            self.pos += 1;
        }
        if self.peek() == Some('.') {
            digits.push('.');
            self.pos += 1;
            let before = digits.len();
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                digits.push(c);
                self.pos += 1;
            }
            if digits.len() == before {
                return fail(self.column(), "expected digits after the decimal point");
            }
        }
        let number: f64 = match digits.parse::<f64>() {
            Ok(n) if n.is_finite() => n,
            _ => return fail(start, format!("the limit {digits} is too large")),
        };
        // An optional space between number and unit ("10 ms").
        let before_unit = self.pos;
        self.skip_ws();
        let unit_col = self.column();
        let mut word = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_alphabetic() || matches!(c, '%' | '/' | 'µ'))
        {
            word.push(c);
            self.pos += 1;
        }
        if word.is_empty() {
            self.pos = before_unit;
        }
        let unit = unit(q, &word, unit_col, subject)?;
        let limit = Limit { number, unit };
        if q == Quantity::Fraction && limit.base() > 1.0 {
            return fail(
                start,
                format!(
                    "`{}` is a fraction of 0 to 1 (0% to 100%), so a limit of {limit} can never matter",
                    stat_name(subject)
                ),
            );
        }
        Ok(limit)
    }
}

fn stat_name(s: &Subject) -> String {
    match s {
        Subject::Op { stat, .. } | Subject::Ratio { stat, .. } => stat.name(),
        Subject::Dataloader { stat, .. } => stat.name(),
    }
}

fn example_limit(q: Quantity) -> &'static str {
    match q {
        Quantity::Duration => "with its unit, like 10ms",
        Quantity::Fraction => "like 0.001 or 0.1%",
        Quantity::OpsRate => "in operations per second, like 1000",
        Quantity::Throughput => "like 500MiB/s",
        Quantity::Count => "like 0 or 1000",
        Quantity::Ratio => "like 0.5",
    }
}

/// The unit `word` (maybe empty) for a statistic of quantity `q`.
fn unit(q: Quantity, word: &str, column: usize, subject: &Subject) -> Result<Unit, CheckError> {
    let u = match (q, word) {
        (Quantity::Duration, "ns") => Unit::Ns,
        (Quantity::Duration, "us" | "µs") => Unit::Us,
        (Quantity::Duration, "ms") => Unit::Ms,
        (Quantity::Duration, "s") => Unit::S,
        (Quantity::Duration, "") => {
            return fail(
                column,
                format!(
                    "`{}` is a duration: give the limit a unit (ns, us, ms or s), like 10ms",
                    stat_name(subject)
                ),
            );
        }
        (Quantity::Fraction, "%") => Unit::Percent,
        (Quantity::Fraction, "") => Unit::Plain,
        (Quantity::OpsRate, "" | "/s") => Unit::Plain,
        (Quantity::Throughput, "" | "MiB/s") => Unit::MiBps,
        (Quantity::Throughput, "KiB/s") => Unit::KiBps,
        (Quantity::Throughput, "GiB/s") => Unit::GiBps,
        (Quantity::Throughput, "KB/s") => Unit::KBps,
        (Quantity::Throughput, "MB/s") => Unit::MBps,
        (Quantity::Throughput, "GB/s") => Unit::GBps,
        (Quantity::Count, "") => Unit::Plain,
        (Quantity::Ratio, "" | "x") => Unit::Plain,
        (q, w) => {
            let expected = match q {
                Quantity::Duration => "ns, us, ms or s",
                Quantity::Fraction => "a plain fraction or %",
                Quantity::OpsRate => "a plain number of operations per second (or /s)",
                Quantity::Throughput => "KiB/s, MiB/s, GiB/s, KB/s, MB/s or GB/s",
                Quantity::Count => "a plain number",
                Quantity::Ratio => "a plain number (or x)",
            };
            return fail(
                column,
                format!(
                    "unit `{w}` does not fit `{}`; expected {expected}",
                    stat_name(subject)
                ),
            );
        }
    };
    Ok(u)
}

fn name(p: &Part, what: &str) -> Result<Name, CheckError> {
    if p.text == "*" {
        return Ok(Name::Any);
    }
    if p.text.contains('*') {
        return fail(
            p.column,
            format!(
                "`*` matches a whole {what} name on its own; `{}` mixes it with letters",
                p.text
            ),
        );
    }
    if p.text.chars().count() > 64 {
        return fail(p.column, format!("a {what} name has at most 64 characters"));
    }
    Ok(Name::Is(p.text.clone()))
}

fn op(p: &Part) -> Result<OpSel, CheckError> {
    if p.text == "*" {
        return Ok(OpSel::Any);
    }
    OpKind::from_key(&p.text)
        .or_else(|| OpKind::from_scenario_name(&p.text))
        .map(OpSel::Is)
        .ok_or_else(|| CheckError {
            column: p.column,
            message: format!(
                "unknown op `{}`; expected one of {} or `*`",
                p.text,
                OpKind::ALL
                    .iter()
                    .map(|o| format!("`{}`", o.key()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

fn op_stat_list() -> String {
    "p50, p90, p99, p999, min, mean, max (latency), the same with ttfb_ or service_ in front, \
     error_rate, throttle_rate, ops_per_sec, mib_per_sec, count, errors"
        .into()
}

fn loader_stat_list() -> String {
    "au, au_min, accelerators, stall_p50, stall_p90, stall_p99, stall_p999, stall_min, stall_mean, stall_max"
        .into()
}

/// The subject from its parts: `TARGET/OP/STAT`, `ratio/OP/STAT`,
/// `PHASE/STAT` or `PHASE/TARGET/STAT` (dataloader statistics).
fn subject(scope: Option<&Part>, parts: &[Part]) -> Result<Subject, CheckError> {
    let last = &parts[parts.len() - 1];
    let loader = DataloaderStat::from_name(&last.text);
    let op_stat = OpStat::from_name(&last.text);
    if parts.len() > 3 {
        return fail(
            parts[3].column,
            format!(
                "too many parts; expected TARGET/OP/STAT {EXAMPLE}, or PHASE/STAT for a dataloader phase"
            ),
        );
    }
    if parts.len() == 1 && loader.is_none() && op_stat.is_none() {
        return fail(
            last.column,
            format!("expected TARGET/OP/STAT {EXAMPLE}, got `{}`", last.text),
        );
    }
    if loader.is_none() && op_stat.is_none() {
        return fail(
            last.column,
            format!(
                "unknown statistic `{}`; expected one of {}; or for a dataloader phase {}",
                last.text,
                op_stat_list(),
                loader_stat_list()
            ),
        );
    }
    if parts.len() == 1 {
        return fail(
            last.column,
            format!(
                "`{}` needs what it is of: TARGET/OP/{0} {EXAMPLE}",
                last.text
            ),
        );
    }
    if let Some(stat) = loader {
        if let Some(s) = scope {
            return fail(
                s.column,
                format!(
                    "a dataloader statistic names its phase first, without a scope: write `{}/{}`",
                    s.text,
                    parts
                        .iter()
                        .map(|p| p.text.as_str())
                        .collect::<Vec<_>>()
                        .join("/")
                ),
            );
        }
        if parts[0].text == RATIO {
            return fail(
                parts[0].column,
                format!(
                    "`ratio` compares op statistics; `{}` is a dataloader statistic",
                    last.text
                ),
            );
        }
        return Ok(Subject::Dataloader {
            phase: name(&parts[0], "phase")?,
            target: match parts.len() {
                3 => Some(name(&parts[1], "target")?),
                _ => None,
            },
            stat,
        });
    }
    let stat = op_stat.expect("one of the two is Some");
    if parts.len() == 2 {
        return fail(
            parts[0].column,
            format!(
                "`{}` is an op statistic: expected TARGET/OP/{} (e.g. `{}/get/{}`), or a dataloader statistic ({}) after a phase",
                last.text,
                last.text,
                parts[0].text,
                last.text,
                loader_stat_list()
            ),
        );
    }
    if parts[0].text == RATIO {
        if !stat.has_ratio() {
            return fail(
                last.column,
                format!(
                    "`ratio` compares latency or throughput (p50 ... max, ttfb_*, service_*, ops_per_sec, mib_per_sec); `{}` is neither",
                    last.text
                ),
            );
        }
        return Ok(Subject::Ratio {
            op: op(&parts[1])?,
            stat,
        });
    }
    Ok(Subject::Op {
        target: name(&parts[0], "target")?,
        op: op(&parts[1])?,
        stat,
    })
}
