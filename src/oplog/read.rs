//! Reading an op log back (`s3bench import op-log`, tests): CSV records as
//! RFC 4180 writes them (quoted fields may hold commas, quotes and newlines),
//! gzip or not, one record at a time.

use std::io::BufRead;

/// Reads CSV records one at a time; reuses its buffers.
pub struct CsvReader<R> {
    inner: R,
    line: String,
    /// 1-based line number where the last record started.
    pub line_no: u64,
    next_line: u64,
}

impl<R: BufRead> CsvReader<R> {
    pub fn new(inner: R) -> CsvReader<R> {
        CsvReader {
            inner,
            line: String::new(),
            line_no: 0,
            next_line: 1,
        }
    }

    /// The next record's fields into `fields`; false at the end.
    pub fn next_record(&mut self, fields: &mut Vec<String>) -> std::io::Result<bool> {
        fields.clear();
        self.line_no = self.next_line;
        let mut field = String::new();
        let mut quoted = false;
        let mut started = false;
        loop {
            self.line.clear();
            if self.inner.read_line(&mut self.line)? == 0 {
                if !started {
                    return Ok(false);
                }
                fields.push(std::mem::take(&mut field));
                return Ok(true);
            }
            self.next_line += 1;
            started = true;
            let text = self.line.strip_suffix('\n').unwrap_or(&self.line);
            let text = if quoted {
                text
            } else {
                text.strip_suffix('\r').unwrap_or(text)
            };
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                if quoted {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            field.push('"');
                        } else {
                            quoted = false;
                        }
                    } else {
                        field.push(c);
                    }
                } else {
                    match c {
                        ',' => fields.push(std::mem::take(&mut field)),
                        '"' if field.is_empty() => quoted = true,
                        c => field.push(c),
                    }
                }
            }
            if quoted {
                // The quoted field goes on past the line break.
                field.push('\n');
                continue;
            }
            fields.push(std::mem::take(&mut field));
            return Ok(true);
        }
    }
}

/// One row of an op log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpRow {
    pub target: String,
    pub phase: String,
    pub round: u32,
    pub stage: String,
    pub op: String,
    pub key: String,
    pub range: Option<(u64, u64)>,
    pub bytes: u64,
    pub due_ns: Option<u64>,
    pub sent_ns: u64,
    pub first_byte_ns: Option<u64>,
    pub last_byte_ns: u64,
    pub status: Option<u16>,
    pub group: String,
    pub error: String,
    pub attempt: u32,
    pub thread: Option<u16>,
}

/// Column positions of an op log's header.
#[derive(Debug, Clone)]
pub struct Header {
    idx: [usize; super::COLUMNS.len()],
}

impl Header {
    /// Maps the header's names to positions; Err names what is missing.
    pub fn parse(fields: &[String]) -> Result<Header, String> {
        let mut idx = [0; super::COLUMNS.len()];
        for (i, name) in super::COLUMNS.iter().enumerate() {
            idx[i] = fields
                .iter()
                .position(|f| f.trim_start_matches('\u{feff}') == *name)
                .ok_or_else(|| format!("column `{name}` missing"))?;
        }
        Ok(Header { idx })
    }

    /// One record as a row; Err says which column is wrong.
    pub fn row(&self, f: &[String]) -> Result<OpRow, String> {
        let get = |c: usize| -> &str { f.get(self.idx[c]).map_or("", String::as_str) };
        fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<Option<T>, String> {
            if v.is_empty() {
                return Ok(None);
            }
            v.parse()
                .map(Some)
                .map_err(|_| format!("column `{name}`: expected a number, got {v:?}"))
        }
        let c = |i: usize| super::COLUMNS[i];
        let range = match (num::<u64>(c(6), get(6))?, num::<u64>(c(7), get(7))?) {
            (Some(a), Some(z)) => Some((a, z)),
            _ => None,
        };
        Ok(OpRow {
            target: get(0).to_string(),
            phase: get(1).to_string(),
            round: num(c(2), get(2))?.unwrap_or(0),
            stage: get(3).to_string(),
            op: get(4).to_string(),
            key: get(5).to_string(),
            range,
            bytes: num(c(8), get(8))?.unwrap_or(0),
            due_ns: num(c(9), get(9))?,
            sent_ns: num(c(10), get(10))?.ok_or_else(|| "column `sent_ns` is empty".to_string())?,
            first_byte_ns: num(c(11), get(11))?,
            last_byte_ns: num(c(12), get(12))?.unwrap_or(0),
            status: num(c(13), get(13))?,
            group: get(14).to_string(),
            error: get(15).to_string(),
            attempt: num(c(16), get(16))?.unwrap_or(1),
            thread: num(c(17), get(17))?,
        })
    }
}

/// Every row of an op log file (gzip or not), for tests and small files.
pub fn read_all(path: &std::path::Path) -> Result<Vec<OpRow>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file));
    let mut csv = CsvReader::new(reader);
    let mut fields = Vec::new();
    let err = |e: std::io::Error| format!("{}: {e}", path.display());
    if !csv.next_record(&mut fields).map_err(err)? {
        return Err(format!("{}: empty file", path.display()));
    }
    let header = Header::parse(&fields).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = Vec::new();
    while csv.next_record(&mut fields).map_err(err)? {
        out.push(
            header
                .row(&fields)
                .map_err(|e| format!("{}:{}: {e}", path.display(), csv.line_no))?,
        );
    }
    Ok(out)
}
