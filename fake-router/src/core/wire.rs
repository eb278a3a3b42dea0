//! How the Router writes values: Go's JSON encoder, time and duration formats, IDs, paths and
//! quantities. Everything here is about bytes and text, not state or HTTP.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// serde_json formatter that escapes like Go's `encoding/json` (HTML-safe: `<`, `>`, `&`,
/// U+2028 and U+2029 become `\u` escapes) and prints integral floats without `.0`.
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(esc.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e21 {
            // Go prints integral floats without a fraction (`72`, not `72.0`).
            write!(writer, "{value:.0}")
        } else {
            serde_json::ser::CompactFormatter.write_f64(writer, value)
        }
    }
}

/// `json.Marshal(v)`: compact, Go escaping, no trailing newline.
pub(crate) fn marshal<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    if v.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out
}

/// `json.NewEncoder(w).Encode(v)`: like [`marshal`] plus the trailing newline.
pub(crate) fn encode<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = marshal(v);
    out.push(b'\n');
    out
}

/// Decode the first JSON value of a body like Go's `json.NewDecoder(r).Decode`; the error
/// is the decoder's message (`EOF` for an empty body).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let mut it = serde_json::Deserializer::from_slice(body).into_iter::<T>();
    match it.next() {
        None => Err("EOF".to_string()),
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) if e.is_eof() => Err("unexpected EOF".to_string()),
        Some(Err(e)) => Err(format!("json: {e}")),
    }
}

/// One SSE frame: `event: <name>\ndata: <json>\n\n`.
pub(crate) fn sse_frame<T: Serialize + ?Sized>(event: &str, data: &T) -> Bytes {
    let mut out = format!("event: {event}\ndata: ").into_bytes();
    out.extend_from_slice(&marshal(data));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

// ---------------------------------------------------------------------------------------------
// Time

/// Seconds and nanoseconds since the Unix epoch (0 for times before it).
fn unix(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(_) => (0, 0),
    }
}

/// Unix seconds of `t`.
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    unix(t).0
}

/// Unix milliseconds of `t`.
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Civil date and time (UTC) of a Unix timestamp: (year, month, day, hour, minute, second).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Go `time.Time.String()` of a whole-second UTC time: `2026-07-21 04:16:07 +0000 UTC`.
pub(crate) fn go_time_string(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(unix(t).0);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} +0000 UTC")
}

/// RFC 3339 with whole seconds and `Z` (Kubernetes `metav1.Time`).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = civil(unix(t).0);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Go's `time.RFC3339Nano` (trailing zeros of the fraction trimmed), as `time.Time` JSON.
pub(crate) fn rfc3339_nano(t: SystemTime) -> String {
    let (secs, nanos) = unix(t);
    let (y, mo, d, h, mi, s) = civil(secs);
    let mut out = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Go's zero `time.Time` as JSON.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parse a Go duration string (`300ms`, `1h30m`, `-1s`, `0`). Returns the error text Go's
/// `time.ParseDuration` would give. Negative durations come back as `Err(None)`-free `Ok` with
/// the sign separately so callers can say "must be positive".
pub(crate) fn parse_go_duration(s: &str) -> Result<(bool, Duration), String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return Ok((neg, Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => return Err(format!("time: missing unit in duration \"{s}\"")),
            other => {
                return Err(format!(
                    "time: unknown unit \"{other}\" in duration \"{s}\""
                ));
            }
        };
        let n: f64 = num.parse().map_err(|_| invalid())?;
        total += n * scale;
    }
    if !total.is_finite() || total > 9.2e9 {
        return Err(invalid());
    }
    Ok((neg, Duration::from_secs_f64(total)))
}

/// Parse a Go duration that must be positive; the error is the text after the field name.
pub(crate) fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_go_duration(s) {
        Err(e) => Err(format!("invalid duration \"{s}\": {e}")),
        Ok((neg, d)) if neg || d.is_zero() => Err(format!("duration \"{s}\" must be positive")),
        Ok((_, d)) => Ok(d),
    }
}

// ---------------------------------------------------------------------------------------------
// IDs and encodings

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::fill(&mut buf[..]);
    hex(&buf)
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 hex of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// 32 random bytes in unpadded base64url (43 characters), like the Router's tokens.
pub(crate) fn random_token() -> String {
    let mut buf = [0u8; 32];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// Go's `base64.StdEncoding`: the standard alphabet with padding; bits past the last full
/// byte may be set.
const GO_STD_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

/// Decode standard padded base64 like Go's `base64.StdEncoding` (which skips CR and LF);
/// `None` when malformed.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    GO_STD_BASE64.decode(compact).ok()
}

/// Go's `strconv.Quote`: the way the Router's `%q` renders the install log.
pub(crate) fn go_quote(data: &[u8]) -> String {
    let mut out = String::from("\"");
    let mut rest = data;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, None),
            Err(e) => {
                let (ok, tail) = rest.split_at(e.valid_up_to());
                // `ok` is valid UTF-8 by definition of `valid_up_to`.
                let s = std::str::from_utf8(ok).unwrap_or("");
                let bad_len = e.error_len().unwrap_or(tail.len()).max(1);
                (s, Some(&tail[..bad_len.min(tail.len())]))
            }
        };
        for c in valid.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() || c == '\u{feff}' => {
                    let n = c as u32;
                    if n <= 0xffff {
                        out.push_str(&format!("\\u{n:04x}"));
                    } else {
                        out.push_str(&format!("\\U{n:08x}"));
                    }
                }
                c => out.push(c),
            }
        }
        let consumed = valid.len();
        rest = &rest[consumed..];
        if let Some(bad) = bad {
            for b in bad {
                out.push_str(&format!("\\x{b:02x}"));
            }
            rest = &rest[bad.len()..];
        }
    }
    out.push('"');
    out
}

/// Go's `path.Clean`.
pub(crate) fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Look up a JSON object field as a string (`""` when absent or not a string).
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The Router's RFC 1123 label rule for clone/restore names.
pub(crate) fn is_rfc1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Kubernetes' quantity syntax check; the error text is the apiserver's.
pub(crate) fn check_quantity(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let num_start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
        i += 1;
    }
    let num = &s[num_start..i];
    let suffix = &s[i..];
    let num_ok = !num.is_empty() && num != "." && num.matches('.').count() <= 1;
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || (suffix.len() > 1
        && (suffix.starts_with('e') || suffix.starts_with('E'))
        && suffix[1..]
            .trim_start_matches(['+', '-'])
            .chars()
            .all(|c| c.is_ascii_digit())
        && !suffix[1..].trim_start_matches(['+', '-']).is_empty());
    if num_ok && suffix_ok {
        Ok(())
    } else {
        Err("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".to_string())
    }
}

/// Parse a Kubernetes quantity into a float of base units (cores, bytes); `None` when invalid.
pub(crate) fn quantity_value(s: &str) -> Option<f64> {
    check_quantity(s).ok()?;
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        e => {
            let exp: i32 = e[1..].parse().ok()?;
            10f64.powi(exp)
        }
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping_and_floats() {
        let v = serde_json::json!({"a": "<b>&", "f": 72.0, "g": 0.5});
        assert_eq!(
            String::from_utf8(marshal(&v)).unwrap(),
            r#"{"a":"\u003cb\u003e\u0026","f":72,"g":0.5}"#
        );
    }

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::new(1_784_607_367, 123_000_000);
        assert_eq!(go_time_string(t), "2026-07-21 04:16:07 +0000 UTC");
        assert_eq!(rfc3339(t), "2026-07-21T04:16:07Z");
        assert_eq!(rfc3339_nano(t), "2026-07-21T04:16:07.123Z");
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_go_duration("1h30m").unwrap().1,
            Duration::from_secs(5400)
        );
        assert_eq!(
            parse_go_duration("300ms").unwrap().1,
            Duration::from_millis(300)
        );
        assert!(parse_go_duration("1d").is_err());
        assert!(parse_go_duration("x").is_err());
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("-1s").is_err());
    }

    #[test]
    fn base64_like_go_std_encoding() {
        assert_eq!(base64_decode("cmVxdWVzdHMK").unwrap(), b"requests\n");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(
            base64_decode("YR==").unwrap(),
            b"a",
            "trailing bits are allowed"
        );
        assert_eq!(
            base64_decode("YWJj\nZA==").unwrap(),
            b"abcd",
            "newlines are skipped"
        );
        assert!(base64_decode("YQ").is_none(), "padding is required");
        assert!(base64_decode("abc").is_none());
        assert!(base64_decode("a-_b").is_none(), "not the URL alphabet");
    }

    #[test]
    fn tokens_are_43_base64url_characters() {
        let t = random_token();
        assert_eq!(t.len(), 43);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn quote_like_go() {
        assert_eq!(go_quote(b"a\"b\n\x1b[0m\xff"), r#""a\"b\n\x1b[0m\xff""#);
    }

    #[test]
    fn path_clean() {
        assert_eq!(clean_path("/a//b/./c/../d"), "/a/b/d");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn quantities() {
        assert!(check_quantity("500m").is_ok());
        assert!(check_quantity("4Gi").is_ok());
        assert!(check_quantity("1e3").is_ok());
        assert!(check_quantity("abc").is_err());
        assert_eq!(quantity_value("2Gi"), Some(2.0 * 1024f64.powi(3)));
    }
}
