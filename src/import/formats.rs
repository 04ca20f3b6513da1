//! The three formats `s3bench import` reads, each turned into [`Event`]s
//! one record at a time: S3 server access logs (text, and the JSON records
//! CloudWatch Logs delivers), CloudTrail data events, and s3bench's op log.

use std::io::BufRead;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::event::{Event, Op, access_log_op, api_op, status_of_code};

/// Why a record was not used.
pub enum Skip {
    /// Not a record of the format (counted, first line numbers kept).
    Malformed,
    /// A record of another service, or a management event (CloudTrail).
    Other(&'static str),
}

// ---------------------------------------------------------------- access logs

/// Splits an access log line into its fields: space-delimited, `[...]` and
/// `"..."` kept whole (a quote inside a quoted field may be escaped `\"`).
fn fields(line: &str) -> Vec<&str> {
    let b = line.as_bytes();
    let mut out = Vec::with_capacity(26);
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let (start, end_char) = match b[i] {
            b'[' => (i + 1, Some(b']')),
            b'"' => (i + 1, Some(b'"')),
            _ => (i, None),
        };
        match end_char {
            Some(c) => {
                let mut j = start;
                while j < b.len() && !(b[j] == c && (c != b'"' || b[j - 1] != b'\\')) {
                    j += 1;
                }
                out.push(&line[start..j.min(b.len())]);
                i = j + 1;
            }
            None => {
                let mut j = i;
                while j < b.len() && b[j] != b' ' {
                    j += 1;
                }
                out.push(&line[i..j]);
                i = j;
            }
        }
    }
    out
}

fn dash(v: &str) -> Option<&str> {
    (v != "-" && !v.is_empty()).then_some(v)
}

fn decode_key(k: &str) -> String {
    percent_encoding::percent_decode_str(k)
        .decode_utf8_lossy()
        .into_owned()
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `06/Feb/2019:00:00:38 +0000` as seconds since the epoch.
pub fn access_log_time(t: &str) -> Option<i64> {
    let (dt, tz) = t.split_once(' ').unwrap_or((t, "+0000"));
    let mut parts = dt.splitn(4, ':');
    let date = parts.next()?;
    let (h, mi, s): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    let mut d = date.split('/');
    let day: u32 = d.next()?.parse().ok()?;
    let month = match d.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = d.next()?.parse().ok()?;
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let sign = match tz.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let tzh: i64 = tz.get(1..3)?.parse().ok()?;
    let tzm: i64 = tz.get(3..5)?.parse().ok()?;
    let local = days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + s;
    Some(local - sign * (tzh * 3600 + tzm * 60))
}

fn num(v: &str) -> Option<u64> {
    dash(v).and_then(|v| v.parse().ok())
}

fn num_f(v: &str) -> Option<f64> {
    dash(v).and_then(|v| v.parse().ok())
}

/// One line of a text access log.
pub fn access_log_line(line: &str) -> Result<Event, Skip> {
    let f = fields(line);
    // Through turn-around time, the fields every record has had; newer
    // records append fields at the end, which are ignored.
    if f.len() < 15 {
        return Err(Skip::Malformed);
    }
    let time = access_log_time(f[2]).ok_or(Skip::Malformed)?;
    let operation = f[6];
    if !operation.contains('.') || operation.bytes().any(|c| c.is_ascii_lowercase()) {
        return Err(Skip::Malformed);
    }
    let status = match f[9] {
        "-" => None,
        s => Some(s.parse::<u16>().map_err(|_| Skip::Malformed)?),
    };
    let key = dash(f[7]).map(decode_key);
    let mut e = Event::new(
        time * 1_000_000_000,
        1_000_000_000,
        access_log_op(operation, key.is_some(), status),
    );
    e.key = key;
    e.status = status;
    e.error = dash(f[10]).map(str::to_string);
    e.bytes = num(f[11]);
    e.object_size = num(f[12]);
    e.total_ms = num_f(f[13]);
    e.turnaround_ms = num_f(f[14]);
    ranged_from_status(&mut e);
    Ok(e)
}

/// A 206 to a GET is a ranged read of what was sent.
fn ranged_from_status(e: &mut Event) {
    if e.op == Op::Get && e.status == Some(206) {
        e.range_len = e.bytes;
    }
}

/// One record of an access log in the JSON form CloudWatch Logs delivers
/// (named fields; `null` for what does not apply).
pub fn access_log_json(v: &Value) -> Result<Event, Skip> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && *s != "-")
    };
    let n = |k: &str| {
        v.get(k).and_then(|x| match x {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    };
    let operation = s("operation").ok_or(Skip::Malformed)?;
    let time = s("request_time").ok_or(Skip::Malformed)?;
    let t = humantime::parse_rfc3339_weak(time).map_err(|_| Skip::Malformed)?;
    let ns = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Skip::Malformed)?
        .as_nanos() as i64;
    let key = s("key_name").or_else(|| s("key")).map(decode_key);
    let status = n("http_status").map(|x| x as u16);
    let mut e = Event::new(
        ns,
        1_000_000,
        access_log_op(operation, key.is_some(), status),
    );
    e.key = key;
    e.status = status;
    e.error = s("error_code").map(str::to_string);
    e.bytes = n("bytes_sent").map(|x| x as u64);
    e.object_size = n("object_size").map(|x| x as u64);
    e.total_ms = n("total_time");
    e.turnaround_ms = n("turn_around_time").or_else(|| n("turnaround_time"));
    ranged_from_status(&mut e);
    Ok(e)
}

/// A line of an access log, text or CloudWatch Logs JSON (bare, or in a
/// `message` field as CloudWatch exports it).
pub fn access_log_any(line: &str) -> Result<Event, Skip> {
    let t = line.trim_start();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).map_err(|_| Skip::Malformed)?;
        if v.get("operation").is_some() {
            return access_log_json(&v);
        }
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return access_log_any(m);
        }
        return Err(Skip::Malformed);
    }
    access_log_line(line)
}

// ------------------------------------------------------------------ CloudTrail

/// One CloudTrail record (an element of `Records`).
pub fn cloudtrail_record(v: &Value) -> Result<Event, Skip> {
    let s = |k: &str| v.get(k).and_then(Value::as_str);
    let source = s("eventSource").ok_or(Skip::Malformed)?;
    let name = s("eventName").ok_or(Skip::Malformed)?;
    let time = s("eventTime").ok_or(Skip::Malformed)?;
    if source != "s3.amazonaws.com" && source != "s3express.amazonaws.com" {
        return Err(Skip::Other("events of other AWS services"));
    }
    let data = s("eventCategory").map_or_else(
        || v.get("managementEvent").and_then(Value::as_bool) == Some(false),
        |c| c == "Data",
    );
    if !data {
        return Err(Skip::Other("S3 management events (bucket configuration)"));
    }
    let t = humantime::parse_rfc3339_weak(time).map_err(|_| Skip::Malformed)?;
    let ns = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Skip::Malformed)?
        .as_nanos() as i64;
    let params = v.get("requestParameters");
    let key = params
        .and_then(|p| p.get("key"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .map(str::to_string);
    let mut e = Event::new(ns, 1_000_000_000, api_op(name, key.is_some()));
    e.key = key;
    let extra = v.get("additionalEventData");
    let bytes = |k: &str| extra.and_then(|x| x.get(k)).and_then(Value::as_f64);
    e.bytes = match e.op {
        Op::Put | Op::UploadPart => bytes("bytesTransferredIn"),
        _ => bytes("bytesTransferredOut"),
    }
    .map(|b| b as u64);
    e.error = s("errorCode").map(str::to_string);
    e.status = match &e.error {
        Some(code) => status_of_code(code),
        None => Some(200),
    };
    // A GET names its range when it had one.
    let range = params.and_then(|p| {
        p.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("range"))
            .and_then(|(_, v)| v.as_str())
    });
    if e.op == Op::Get {
        if let Some(r) = range.and_then(|r| r.trim().strip_prefix("bytes=")) {
            let len = r
                .split_once('-')
                .and_then(|(a, z)| Some(z.parse::<u64>().ok()? - a.parse::<u64>().ok()? + 1));
            e.range_len = len.or(e.bytes);
        } else if e.error.is_none() {
            e.object_size = e.bytes;
        }
    }
    if e.op == Op::Put && e.error.is_none() {
        e.object_size = e.bytes;
    }
    Ok(e)
}

/// Streams the `Records` array of a CloudTrail file, one record at a time
/// (a file's other top-level fields are skipped). Err: not a CloudTrail file.
pub fn cloudtrail_stream<R: std::io::Read>(
    reader: R,
    on_record: &mut dyn FnMut(&Value),
) -> Result<(), String> {
    struct Top<'a>(&'a mut dyn FnMut(&Value), bool);
    impl<'de> Visitor<'de> for &mut Top<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a CloudTrail log object {\"Records\": [...]}")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                if k == "Records" {
                    self.1 = true;
                    map.next_value_seed(Records(&mut *self.0))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    struct Records<'a>(&'a mut dyn FnMut(&Value));
    impl<'de> DeserializeSeed<'de> for Records<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Records<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an array of CloudTrail records")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(v) = seq.next_element::<Value>()? {
                (self.0)(&v);
            }
            Ok(())
        }
    }
    let mut top = Top(on_record, false);
    let mut de = serde_json::Deserializer::from_reader(reader);
    de.deserialize_map(&mut top).map_err(|e| e.to_string())?;
    if !top.1 {
        return Err("it has no \"Records\" array".into());
    }
    Ok(())
}

// --------------------------------------------------------------------- op log

/// A row of s3bench's op log as an event (its time is when it was due).
pub fn op_log_row(r: &crate::oplog::read::OpRow) -> Event {
    let op = match r.op.as_str() {
        "AppendObject" => Op::Unsupported("AppendObject".into()),
        name => api_op(name, !r.key.is_empty()),
    };
    let mut e = Event::new(r.due_ns.unwrap_or(r.sent_ns) as i64, 1, op);
    e.key = (!r.key.is_empty()).then(|| r.key.clone());
    e.bytes = Some(r.bytes);
    e.status = r.status;
    e.error = (!r.error.is_empty()).then(|| r.error.clone());
    e.range_len = r.range.map(|(a, z)| z - a + 1);
    if e.op == Op::Get && r.range.is_none() && !e.failed() {
        e.object_size = Some(r.bytes);
    }
    e
}

/// Reads lines, counting them; `\r\n` and a final line without `\n` work.
pub fn read_line<R: BufRead>(r: &mut R, buf: &mut String) -> std::io::Result<bool> {
    buf.clear();
    if r.read_line(buf)? == 0 {
        return Ok(false);
    }
    while buf.ends_with('\n') || buf.ends_with('\r') {
        buf.pop();
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_times() {
        assert_eq!(
            access_log_time("06/Feb/2019:00:00:38 +0000"),
            Some(1_549_411_238)
        );
        assert_eq!(
            access_log_time("06/Feb/2019:01:00:38 +0100"),
            Some(1_549_411_238)
        );
        assert_eq!(access_log_time("06/Fab/2019:00:00:38 +0000"), None);
    }

    #[test]
    fn access_log_fields_keep_quotes_and_brackets_whole() {
        let f =
            fields(r#"a b [06/Feb/2019:00:00:38 +0000] "GET /b/k HTTP/1.1" - "x \"y\" z" tail"#);
        assert_eq!(
            f,
            [
                "a",
                "b",
                "06/Feb/2019:00:00:38 +0000",
                "GET /b/k HTTP/1.1",
                "-",
                r#"x \"y\" z"#,
                "tail"
            ]
        );
    }
}
