//! The lock file's JSON payload: writes the pretty `{pid, nonce, createdAt, …}` shape and reads the
//! three historic shapes in any key order. Every input that is not a valid payload becomes a typed
//! [`Malformed`] — this module never panics on bytes from disk.

use crate::env::FileKind;
use serde_json::Value;
use std::fmt;

/// Largest payload accepted; a bigger file is [`Malformed::TooLarge`]. Real payloads are ~200 bytes.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// A parsed lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Payload {
    /// Owner's pid (positive).
    pub pid: u32,
    /// Owner instance's nonce; `None` in the legacy shapes.
    pub nonce: Option<String>,
    /// `createdAt`, unix milliseconds.
    pub created_at_ms: i64,
    /// Owner's start time (`/proc/<pid>/stat` field 22), if recorded.
    pub starttime: Option<u64>,
    /// Owner's host identity, if recorded (lockcore's own field).
    pub host: Option<String>,
    /// Per-acquisition token (lockcore's own field): tells two acquisitions by one instance apart.
    pub token: Option<String>,
    /// The lease the holder declared (lockcore's own fields `leaseMs`, `maxHoldMs`): it refreshes
    /// the file's mtime while it holds, so a file whose mtime is older than the lease is stale.
    pub lease: Option<Lease>,
}

/// A holder's promise to refresh its lock file's mtime (DESIGN §4a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The file is stale once its mtime is older than this (`leaseMs`).
    pub lease_ms: u64,
    /// The holder gives the lock up by this age (`createdAt`), refreshed or not (`maxHoldMs`).
    pub max_hold_ms: Option<u64>,
}

/// Why a lock file is not a valid payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// Zero bytes: possibly a writer between create and write.
    Empty,
    /// Larger than [`MAX_PAYLOAD_BYTES`].
    TooLarge,
    /// Not UTF-8.
    NotUtf8,
    /// Not JSON, or truncated JSON (a partial write).
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// No `pid`.
    MissingPid,
    /// `pid` is not a positive integer that fits a pid.
    BadPid,
    /// No `createdAt`.
    MissingCreatedAt,
    /// `createdAt` is not an RFC 3339 UTC time.
    BadCreatedAt,
    /// An optional field (`nonce`, `starttime`, `host`, `token`) has the wrong type.
    BadField(&'static str),
    /// Not a regular file at all (a FIFO, socket, device, directory or symlink): never read
    /// through, never reclaimed.
    NotRegular(FileKind),
}

impl Malformed {
    /// Short stable name, used in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            Malformed::Empty => "empty",
            Malformed::TooLarge => "too-large",
            Malformed::NotUtf8 => "not-utf8",
            Malformed::NotJson => "not-json",
            Malformed::NotObject => "not-object",
            Malformed::MissingPid => "missing-pid",
            Malformed::BadPid => "bad-pid",
            Malformed::MissingCreatedAt => "missing-createdAt",
            Malformed::BadCreatedAt => "bad-createdAt",
            Malformed::BadField(f) => f,
            Malformed::NotRegular(_) => "not-regular",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::BadField(field) => write!(f, "malformed lock file: bad `{field}`"),
            Malformed::NotRegular(kind) => write!(f, "not a lock file: a {}", kind.as_str()),
            other => write!(f, "malformed lock file: {}", other.as_str()),
        }
    }
}

impl std::error::Error for Malformed {}

impl Payload {
    /// The bytes written to disk: pretty JSON with a 2-space indent, `pid`, `nonce`, `createdAt`
    /// first (the shape `JSON.stringify(p, null, 2)` gives), then lockcore's own fields. Written
    /// by hand, byte for byte what `serde_json::to_vec_pretty` gives (a test holds it to that):
    /// every acquisition writes one, and the serializer cost more than the rest of lockcore's
    /// logic on the uncontended path.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\n  \"pid\": ");
        push_u64(&mut out, u64::from(self.pid));
        if let Some(nonce) = &self.nonce {
            push_key(&mut out, "nonce");
            push_json_str(&mut out, nonce);
        }
        push_key(&mut out, "createdAt");
        out.push(b'"');
        push_rfc3339_ms(&mut out, self.created_at_ms);
        out.push(b'"');
        if let Some(starttime) = self.starttime {
            push_key(&mut out, "starttime");
            push_u64(&mut out, starttime);
        }
        if let Some(host) = &self.host {
            push_key(&mut out, "host");
            push_json_str(&mut out, host);
        }
        if let Some(token) = &self.token {
            push_key(&mut out, "token");
            push_json_str(&mut out, token);
        }
        if let Some(lease) = self.lease {
            push_key(&mut out, "leaseMs");
            push_u64(&mut out, lease.lease_ms);
            if let Some(max_hold_ms) = lease.max_hold_ms {
                push_key(&mut out, "maxHoldMs");
                push_u64(&mut out, max_hold_ms);
            }
        }
        out.extend_from_slice(b"\n}");
        out
    }

    /// Parses a lock file's bytes. Unknown keys are ignored; key order does not matter.
    pub fn parse(bytes: &[u8]) -> Result<Payload, Malformed> {
        if bytes.is_empty() {
            return Err(Malformed::Empty);
        }
        if bytes.len() > MAX_PAYLOAD_BYTES {
            return Err(Malformed::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| Malformed::NotUtf8)?;
        let value: Value = serde_json::from_str(text).map_err(|_| Malformed::NotJson)?;
        let obj = value.as_object().ok_or(Malformed::NotObject)?;

        let pid = match obj.get("pid") {
            None | Some(Value::Null) => return Err(Malformed::MissingPid),
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|&p| p > 0 && p <= i32::MAX as u64)
                .ok_or(Malformed::BadPid)? as u32,
            Some(_) => return Err(Malformed::BadPid),
        };
        let created_at_ms = match obj.get("createdAt") {
            None | Some(Value::Null) => return Err(Malformed::MissingCreatedAt),
            Some(Value::String(s)) => parse_rfc3339_ms(s).ok_or(Malformed::BadCreatedAt)?,
            Some(_) => return Err(Malformed::BadCreatedAt),
        };
        Ok(Payload {
            pid,
            nonce: opt_string(obj.get("nonce"), "nonce")?,
            created_at_ms,
            starttime: opt_u64(obj.get("starttime"), "starttime")?,
            host: opt_string(obj.get("host"), "host")?,
            token: opt_string(obj.get("token"), "token")?,
            lease: match opt_u64(obj.get("leaseMs"), "leaseMs")? {
                // A zero lease would make every file stale at once: not a lease.
                Some(0) => return Err(Malformed::BadField("leaseMs")),
                Some(lease_ms) => Some(Lease {
                    lease_ms,
                    max_hold_ms: opt_u64(obj.get("maxHoldMs"), "maxHoldMs")?,
                }),
                None => None,
            },
        })
    }
}

fn opt_u64(v: Option<&Value>, field: &'static str) -> Result<Option<u64>, Malformed> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or(Malformed::BadField(field)),
        Some(_) => Err(Malformed::BadField(field)),
    }
}

fn opt_string(v: Option<&Value>, field: &'static str) -> Result<Option<String>, Malformed> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Malformed::BadField(field)),
    }
}

// Civil-date conversion (proleptic Gregorian, days relative to 1970-01-01).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `,\n  "key": ` of the pretty shape (keys are ours: nothing to escape).
fn push_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\n  \"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\": ");
}

fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A JSON string as serde_json writes it: `"` and `\` escaped, the control characters as
/// `\b \f \n \r \t` or `\u00xx`, everything else (DEL and non-ASCII too) as is.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            0x08 => b'b',
            0x0c => b'f',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0..=0x1f => b'u',
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.push(b'\\');
        out.push(short);
        if short == b'u' {
            out.extend_from_slice(b"00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// [`format_rfc3339_ms`] into `out`, without `format!` for the usual years 0000–9999.
fn push_rfc3339_ms(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        out.extend_from_slice(format_rfc3339_ms(ms).as_bytes());
        return;
    }
    let fields = [
        (y, 4, b'-'),
        (m, 2, b'-'),
        (d, 2, b'T'),
        (rem / 3_600_000, 2, b':'),
        (rem / 60_000 % 60, 2, b':'),
        (rem / 1000 % 60, 2, b'.'),
        (rem % 1000, 3, b'Z'),
    ];
    for (n, width, then) in fields {
        for k in (0..width).rev() {
            out.push(b'0' + (n / 10_i64.pow(k) % 10) as u8);
        }
        out.push(then);
    }
}

/// Formats unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ` (what JavaScript's `toISOString` gives).
pub fn format_rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, min, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}.{milli:03}Z")
}

/// Parses an RFC 3339 time (`Z` or a numeric offset, optional fraction) to unix milliseconds.
/// Returns `None` for anything else, including out-of-range fields.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo) || d < 1 || d > month_days[(mo - 1) as usize] {
        return None;
    }
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        if digits.is_empty() {
            return None;
        }
        for (k, c) in digits.bytes().take(3).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][k];
        }
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6
            && matches!(rest.as_bytes()[0], b'+' | b'-')
            && rest.as_bytes()[3] == b':' =>
        {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if rest.as_bytes()[0] == b'-' { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(secs * 1000 + millis)
}

#[cfg(test)]
mod oracle {
    //! `Payload::to_bytes` against serde_json's pretty printer, the serializer it replaced.
    use super::*;

    #[derive(serde::Serialize)]
    struct Wire<'a> {
        pid: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<&'a str>,
        #[serde(rename = "createdAt")]
        created_at: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        starttime: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<&'a str>,
        #[serde(rename = "leaseMs", skip_serializing_if = "Option::is_none")]
        lease_ms: Option<u64>,
        #[serde(rename = "maxHoldMs", skip_serializing_if = "Option::is_none")]
        max_hold_ms: Option<u64>,
    }

    fn by_serde(p: &Payload) -> Vec<u8> {
        let wire = Wire {
            pid: p.pid,
            nonce: p.nonce.as_deref(),
            created_at: format_rfc3339_ms(p.created_at_ms),
            starttime: p.starttime,
            host: p.host.as_deref(),
            token: p.token.as_deref(),
            lease_ms: p.lease.map(|l| l.lease_ms),
            max_hold_ms: p.lease.and_then(|l| l.max_hold_ms),
        };
        serde_json::to_vec_pretty(&wire).unwrap_or_default()
    }

    // P10 (what we write is what every reader parses): the hand-written payload is byte for
    // byte serde_json's pretty output, for every optional field present or not, every control
    // character, quotes, backslashes, DEL and non-ASCII in the strings, and times and numbers
    // at their extremes (years before 0000 and after 9999 included).
    #[test]
    fn to_bytes_writes_what_serde_json_writes() {
        let odd: String = (0u8..=0x7f)
            .map(char::from)
            .chain("é\u{2028}😀\"\\".chars())
            .collect();
        let strings = [None, Some(String::new()), Some("plain-1".into()), Some(odd)];
        let times = [
            0,
            -1,
            1_764_000_000_123,
            253_402_300_799_999,
            253_402_300_800_000,
            -62_167_219_200_000,
            -62_167_219_200_001,
            i64::MAX / 2,
            i64::MIN / 2,
        ];
        let leases = [
            None,
            Some(Lease {
                lease_ms: 0,
                max_hold_ms: None,
            }),
            Some(Lease {
                lease_ms: u64::MAX,
                max_hold_ms: Some(u64::MAX),
            }),
        ];
        let mut n = 0;
        for (i, s) in strings.iter().enumerate() {
            for (j, &created_at_ms) in times.iter().enumerate() {
                for lease in leases {
                    let p = Payload {
                        pid: [1, u32::MAX, 4_194_304][j % 3],
                        nonce: s.clone(),
                        created_at_ms,
                        starttime: [None, Some(0), Some(u64::MAX)][(i + j) % 3],
                        host: strings[(i + 1) % 4].clone(),
                        token: strings[(i + j) % 4].clone(),
                        lease,
                    };
                    assert_eq!(
                        String::from_utf8_lossy(&p.to_bytes()),
                        String::from_utf8_lossy(&by_serde(&p)),
                        "{p:?}"
                    );
                    n += 1;
                }
            }
        }
        assert_eq!(n, 4 * 9 * 3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(json: &str) -> Payload {
        match Payload::parse(json.as_bytes()) {
            Ok(p) => p,
            Err(e) => panic!("expected a payload from {json:?}, got {e}"),
        }
    }

    fn bad(bytes: &[u8]) -> Malformed {
        match Payload::parse(bytes) {
            Ok(p) => panic!("expected malformed from {bytes:?}, got {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn reads_the_legacy_shape() {
        let p = ok(r#"{"pid": 4242, "createdAt": "2026-11-26T23:10:30.123Z"}"#);
        assert_eq!(p.pid, 4242);
        assert_eq!(p.nonce, None);
        assert_eq!(
            format_rfc3339_ms(p.created_at_ms),
            "2026-11-26T23:10:30.123Z"
        );
    }

    #[test]
    fn reads_the_nonce_shape_in_any_key_order_ignoring_unknown_keys() {
        let p = ok(
            r#"{"extra": [1,2], "createdAt": "2026-11-26T23:10:30.123Z", "nonce": "a1b2c3d4e5f6a1b2c3d4e5f6", "pid": 7}"#,
        );
        assert_eq!(p.pid, 7);
        assert_eq!(p.nonce.as_deref(), Some("a1b2c3d4e5f6a1b2c3d4e5f6"));
    }

    #[test]
    fn reads_the_starttime_shape() {
        let p = ok(r#"{"pid": 9, "createdAt": "2026-11-26T23:10:30.000Z", "starttime": 123456}"#);
        assert_eq!(p.starttime, Some(123456));
    }

    #[test]
    fn writes_pretty_json_with_pid_nonce_created_at_first() {
        let p = Payload {
            pid: 4242,
            nonce: Some("n1".into()),
            created_at_ms: parse_rfc3339_ms("2026-11-26T23:10:30.123Z").unwrap_or_default(),
            starttime: None,
            host: None,
            token: None,
            lease: None,
        };
        let text = String::from_utf8(p.to_bytes()).unwrap_or_default();
        assert_eq!(
            text,
            "{\n  \"pid\": 4242,\n  \"nonce\": \"n1\",\n  \"createdAt\": \"2026-11-26T23:10:30.123Z\"\n}"
        );
        assert_eq!(Payload::parse(text.as_bytes()), Ok(p));
    }

    #[test]
    fn round_trips_every_field() {
        let p = Payload {
            pid: 1,
            nonce: Some("x".into()),
            created_at_ms: 1_700_000_000_123,
            starttime: Some(99),
            host: Some("h/pid:[1]".into()),
            token: Some("t".into()),
            lease: None,
        };
        assert_eq!(Payload::parse(&p.to_bytes()), Ok(p));
    }

    #[test]
    fn every_malformed_kind_is_a_typed_error() {
        assert_eq!(bad(b""), Malformed::Empty);
        assert_eq!(
            bad(b"{\"pid\": 12, \"createdAt\": \"2026-11-26T2"),
            Malformed::NotJson
        );
        assert_eq!(bad(b"garbage \x01\x02"), Malformed::NotJson);
        assert_eq!(bad(b"\xff\xfe{}"), Malformed::NotUtf8);
        assert_eq!(bad(b"[1,2]"), Malformed::NotObject);
        assert_eq!(
            bad(br#"{"createdAt": "2026-11-26T23:10:30.123Z"}"#),
            Malformed::MissingPid
        );
        assert_eq!(bad(br#"{"pid": 5}"#), Malformed::MissingCreatedAt);
        for pid in [
            "-5",
            "0",
            "1.5",
            "12.0",
            "\"12\"",
            "true",
            "99999999999",
            "1e3",
        ] {
            let json = format!(r#"{{"pid": {pid}, "createdAt": "2026-11-26T23:10:30.123Z"}}"#);
            assert_eq!(bad(json.as_bytes()), Malformed::BadPid, "pid {pid}");
        }
        for at in [
            "\"yesterday\"",
            "1700000000",
            "\"2026-13-01T00:00:00.000Z\"",
            "\"2026-02-30T00:00:00Z\"",
            "\"2026-11-26 23:10:30\"",
        ] {
            let json = format!(r#"{{"pid": 5, "createdAt": {at}}}"#);
            assert_eq!(
                bad(json.as_bytes()),
                Malformed::BadCreatedAt,
                "createdAt {at}"
            );
        }
        assert_eq!(
            bad(br#"{"pid": 5, "createdAt": "2026-11-26T23:10:30.123Z", "nonce": 5}"#),
            Malformed::BadField("nonce")
        );
        let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(bad(&huge), Malformed::TooLarge);
    }

    // P10 (malformed input, at the boundary): a payload of exactly MAX_PAYLOAD_BYTES is read
    // (a peer may pad its JSON); one byte more is TooLarge.
    #[test]
    fn a_payload_of_exactly_the_limit_parses() {
        let json = r#"{"pid": 5, "createdAt": "2026-11-26T23:10:30.123Z"}"#;
        let mut padded = json.as_bytes().to_vec();
        padded.resize(MAX_PAYLOAD_BYTES, b' ');
        assert_eq!(Payload::parse(&padded).map(|p| p.pid), Ok(5));
        padded.push(b' ');
        assert_eq!(bad(&padded), Malformed::TooLarge);
    }

    // P7/P10 (file ages are computed from createdAt): known instants both ways, at the edges the
    // calendar arithmetic turns on — the epoch, leap days, century and 400-year era boundaries
    // (era days 0 and 146,096), and the last four-digit year. Expected values from Python's
    // datetime, not from this code.
    #[test]
    fn known_instants_format_and_parse_both_ways() {
        let known = [
            (0, "1970-01-01T00:00:00.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (-11670955200000, "1600-02-29T12:00:00.000Z"),
            (-11670912000000, "1600-03-01T00:00:00.000Z"),
            (-2203891200001, "1900-02-28T23:59:59.999Z"),
            (-2203891200000, "1900-03-01T00:00:00.000Z"),
            (951782400001, "2000-02-29T00:00:00.001Z"),
            (951868800000, "2000-03-01T00:00:00.000Z"),
            (1709251199999, "2024-02-29T23:59:59.999Z"),
            (1772236800000, "2026-02-28T00:00:00.000Z"),
            (1772323200000, "2026-03-01T00:00:00.000Z"),
            (4107456000000, "2100-02-28T00:00:00.000Z"),
            (4107542400000, "2100-03-01T00:00:00.000Z"),
            (13574563200000, "2400-02-29T00:00:00.000Z"),
            (253402300799999, "9999-12-31T23:59:59.999Z"),
        ];
        for (ms, text) in known {
            assert_eq!(format_rfc3339_ms(ms), text, "format {ms}");
            assert_eq!(parse_rfc3339_ms(text), Some(ms), "parse {text}");
        }
    }

    // P10 (a malformed createdAt is a typed error, never a wrong age or a panic): the calendar,
    // the clock fields, the fraction and the offset are each bounded on their own. Expected
    // values from Python's datetime.
    #[test]
    fn rfc3339_fields_are_bounded_one_by_one() {
        let parses = [
            ("2024-02-29T00:00:00Z", Some(1_709_164_800_000)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("2023-02-29T00:00:00Z", None),
            ("1900-02-29T00:00:00Z", None),
            ("2100-02-29T00:00:00Z", None),
            ("2023-04-31T00:00:00Z", None),
            ("2023-00-10T00:00:00Z", None),
            ("2023-01-00T00:00:00Z", None),
            ("1970-01-01T23:59:60Z", Some(86_400_000)),
            ("1970-01-01T24:00:00Z", None),
            ("1970-01-01T23:60:00Z", None),
            ("1970-01-01T23:59:61Z", None),
            ("1970-01-01T00:00:00.123", None),
            ("1970-01-01T00:00:00.1x", None),
            ("1970-01-01T01:30:00+01:30", Some(0)),
            ("1969-12-31T22:30:00-01:30", Some(0)),
            ("1970-01-01T00:00:00-01:00", Some(3_600_000)),
            ("1970-01-01T00:00:00+23:59", Some(-86_340_000)),
            ("1970-01-01T00:00:00+24:00", None),
            ("1970-01-01T00:00:00+23:60", None),
            ("1970-01-01T00:00:00*01:00", None),
            ("1970-01-01T00:00:00+01x00", None),
            ("1970-01-01T00:00:00+01:00:00", None),
            ("1970-01-01T00:00:00+1:00", None),
            ("1970-01-01T00:00:00ZZ", None),
        ];
        for (text, want) in parses {
            assert_eq!(parse_rfc3339_ms(text), want, "{text}");
        }
    }

    #[test]
    fn a_future_created_at_parses() {
        let p = ok(r#"{"pid": 5, "createdAt": "2999-01-01T00:00:00.000Z"}"#);
        assert!(p.created_at_ms > 4_000_000_000_000);
    }

    #[test]
    fn rfc3339_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:00.5+01:00"), Some(500));
        assert_eq!(
            parse_rfc3339_ms("1970-01-01T00:00:00.123456789Z"),
            Some(123)
        );
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00.Z"), None);
        // P10: every separator is checked on its own, a time without a zone is refused (not
        // read past its end), and so is anything not ASCII.
        for bad in [
            "1970x01-01T00:00:00Z",
            "1970-01x01T00:00:00Z",
            "1970-01-01x00:00:00Z",
            "1970-01-01T00x00:00Z",
            "1970-01-01T00:00x00Z",
            "1970-01-01T00:00:00",
            "1970-01-01T00:00:00\u{e9}",
            "1970-01-01T00:00:00.5\u{ff3a}",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339_ms("1970-01-01t00:00:00z"), Some(0));
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        for ms in [0i64, 951_782_400_000, 1_764_198_630_123, 4_102_444_800_000] {
            assert_eq!(parse_rfc3339_ms(&format_rfc3339_ms(ms)), Some(ms));
        }
    }
}
