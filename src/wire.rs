//! The Router's wire rules, each written once: names, ids and paths (and their encoding),
//! durations, base64, shell quoting and Go's quoted strings. Every caller, hand-built or
//! generated (build.rs points progenitor's path encoding here), goes through these.
//!
//! Checks return [`Error::InvalidInput`] before any request is sent.

use std::time::Duration;

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{Error, Result};

/// Characters kept as they are in a path segment: RFC 3986 unreserved. Everything else,
/// including `/`, `\`, `#`, `?`, `%`, `@`, spaces and non-ASCII, is percent-encoded (the Router
/// matches routes on the decoded path, so an encoded `/` would still split a segment: ids are
/// checked for it first).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment. The generated client calls this too (build.rs
/// replaces progenitor's encoder with it).
pub fn path_segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Appends one percent-encoded path segment to `out` (what [`path_segment`] returns).
pub(crate) fn push_path_segment(out: &mut String, value: &str) {
    for piece in utf8_percent_encode(value, SEGMENT) {
        out.push_str(piece);
    }
}

/// Names of sandboxes (and clones, restores) must be RFC 1123 labels: Kubernetes refuses
/// anything else, and the Router reports that as an opaque 500.
pub(crate) fn rfc1123_label(field: &'static str, name: &str) -> Result<()> {
    if is_rfc1123_label(name) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "{name:?} is not an RFC 1123 label (1-63 characters of a-z, 0-9 and '-', starting and ending alphanumeric)"
            ),
        ))
    }
}

pub(crate) fn is_rfc1123_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Longest identifier sent in a path segment: Kubernetes object names (sandboxes, templates,
/// snapshots, namespaces) are at most 253 characters, and the Router's own ids are shorter.
pub(crate) const MAX_ID: usize = 253;

/// Longest share identity (a user's e-mail address or OIDC subject, a group name).
pub(crate) const MAX_IDENTITY: usize = 1024;

/// Identifiers that go into one path segment: non-empty, at most [`MAX_ID`] bytes, no `/`, not
/// `.` or `..` (either would change the route), no control characters.
pub(crate) fn id(field: &'static str, value: &str) -> Result<()> {
    id_max(field, value, MAX_ID)
}

/// [`id`] with another length limit.
pub(crate) fn id_max(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(Error::invalid(
            field,
            format!("is {} bytes long; at most {max} are accepted", value.len()),
        ));
    }
    if value.contains('/') {
        return Err(Error::invalid(
            field,
            format!("{value:?} must not contain '/'"),
        ));
    }
    // URL parsing resolves these segments, which would address another route.
    if value == "." || value == ".." {
        return Err(Error::invalid(field, format!("{value:?} is not a name")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(
            field,
            format!("{value:?} must not contain control characters"),
        ));
    }
    Ok(())
}

/// TCP ports are 1-65535 (the Router answers 500 above 65535).
pub(crate) fn port(value: u32) -> Result<u16> {
    u16::try_from(value)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::invalid("port", format!("{value} is not in 1-65535")))
}

pub(crate) fn positive(field: &'static str, d: Duration) -> Result<Duration> {
    if d.is_zero() {
        Err(Error::invalid(field, "must be a positive duration"))
    } else {
        Ok(d)
    }
}

pub(crate) fn non_empty(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(Error::invalid(field, "must not be empty"))
    } else {
        Ok(())
    }
}

/// Formats a positive duration the way Go's `time.ParseDuration` reads it (`1h30m`, `45s`,
/// `1500ms`). Go has no day unit, so days are written as hours.
///
/// Go's `time.Duration` is an `int64` of nanoseconds: anything longer than about 292 years
/// (`2562047h47m16.854775807s`) cannot be read by the Router, and is refused here.
pub(crate) fn go_duration(field: &'static str, d: Duration) -> Result<String> {
    let d = positive(field, d)?;
    if d.as_nanos() > i64::MAX as u128 {
        return Err(Error::invalid(
            field,
            format!("{d:?} is longer than the largest Go duration (about 292 years)"),
        ));
    }
    if d.subsec_nanos() != 0 {
        let nanos = d.as_nanos();
        return Ok(if nanos % 1_000_000 == 0 {
            format!("{}ms", nanos / 1_000_000)
        } else {
            format!("{nanos}ns")
        });
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    Ok(out)
}

/// Quotes an argument vector into one POSIX shell string, the form the Router's exec takes.
pub(crate) fn shell_join<S: AsRef<str>>(argv: &[S]) -> Result<String> {
    if argv.is_empty() {
        return Err(Error::invalid("argv", "must contain at least the program"));
    }
    let mut out = String::new();
    for (i, arg) in argv.iter().enumerate() {
        let arg = arg.as_ref();
        if arg.contains('\0') {
            return Err(Error::invalid("argv", "arguments cannot contain NUL"));
        }
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&shell_quote(arg));
    }
    Ok(out)
}

/// One argument quoted for a POSIX shell (left as it is when nothing in it is special).
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The checks every remote (in-sandbox) path gets before a request: absolute, no `..`, none of
/// the characters the Router refuses (it builds shell commands from the path: `'` `\` `` ` ``
/// CR LF) and no NUL.
pub(crate) fn remote_path(path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(Error::invalid(
            "path",
            format!("{path:?} is not absolute; sandbox paths look like /workspace/a.txt"),
        ));
    }
    if path.split('/').any(|s| s == "..") {
        return Err(Error::invalid("path", format!("{path:?} contains '..'")));
    }
    if let Some(c) = path
        .chars()
        .find(|c| matches!(c, '\'' | '\\' | '`' | '\r' | '\n' | '\0'))
    {
        return Err(Error::invalid(
            "path",
            format!("{path:?} contains the disallowed character {c:?}"),
        ));
    }
    Ok(())
}

/// Where a remote path ends up once the Router's `path.Clean` has run (`//` and `/./` folded).
pub(crate) fn clean_remote_path(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    format!("/{}", segments.join("/"))
}

/// A checked remote file path in the URL form the file routes want: the leading `/` dropped,
/// each segment percent-encoded, no empty or `.` segments (a `//` or `/./` in the URL makes
/// the Router answer 301).
pub(crate) fn remote_file_path(path: &str) -> Result<String> {
    remote_path(path)?;
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .map(path_segment)
        .collect();
    if segments.is_empty() {
        return Err(Error::invalid("path", "names a directory, not a file"));
    }
    Ok(segments.join("/"))
}

/// Standard base64 with padding (configure's `contentBase64`).
pub(crate) fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes the escapes of a Go `%q` string literal (without its quotes) into its exact bytes.
/// Go writes control bytes and invalid UTF-8 as `\xNN`, other non-printables as `\uNNNN`.
pub(crate) fn unquote_go(s: &str) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let esc = chars.next()?;
        let simple = match esc {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            '\'' => Some(b'\''),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let digits = match esc {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => return None,
        };
        let hex: String = chars.by_ref().take(digits).collect();
        if hex.len() != digits {
            return None;
        }
        let value = u32::from_str_radix(&hex, 16).ok()?;
        if esc == 'x' {
            out.push(value as u8);
        } else {
            let mut buf = [0; 4];
            out.extend_from_slice(char::from_u32(value)?.encode_utf8(&mut buf).as_bytes());
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_forms() {
        let f = |s| go_duration("t", Duration::from_secs(s)).unwrap();
        assert_eq!(f(30), "30s");
        assert_eq!(f(90 * 60), "1h30m");
        assert_eq!(f(86_400), "24h");
        assert_eq!(f(3_661), "1h1m1s");
        assert_eq!(
            go_duration("t", Duration::from_millis(1500)).unwrap(),
            "1500ms"
        );
        assert!(go_duration("t", Duration::ZERO).is_err());
    }

    #[test]
    fn rfc1123_labels() {
        assert!(rfc1123_label("name", "demo-1").is_ok());
        for bad in ["", "Demo", "-a", "a-", "a_b", &"a".repeat(64)] {
            assert!(rfc1123_label("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_join_quotes_what_the_shell_would_interpret() {
        assert_eq!(
            shell_join(&["ls", "-la", "/workspace"]).unwrap(),
            "ls -la /workspace"
        );
        assert_eq!(
            shell_join(&["echo", "it's $HOME"]).unwrap(),
            r"echo 'it'\''s $HOME'"
        );
        assert_eq!(shell_join(&["printf", ""]).unwrap(), "printf ''");
        assert!(shell_join::<&str>(&[]).is_err());
    }

    #[test]
    fn ids_and_ports() {
        assert!(id("id", "a/b").is_err());
        assert!(id("id", "").is_err());
        assert!(id("id", "..").is_err());
        assert!(id("id", ".").is_err());
        assert!(id("id", "a.b").is_ok());
        assert!(port(0).is_err());
        assert!(port(65_536).is_err());
        assert_eq!(port(8080).unwrap(), 8080);
    }

    #[test]
    fn one_encoder_for_every_segment() {
        assert_eq!(path_segment("a@b.c"), "a%40b.c");
        assert_eq!(path_segment(r"a\b"), "a%5Cb");
        assert_eq!(path_segment("a b#?%"), "a%20b%23%3F%25");
        assert_eq!(path_segment("é"), "%C3%A9");
        assert_eq!(path_segment("x-y_z.~1"), "x-y_z.~1");
    }

    #[test]
    fn remote_file_paths_are_cleaned_and_encoded() {
        assert_eq!(
            remote_file_path("/workspace/a.txt").unwrap(),
            "workspace/a.txt"
        );
        assert_eq!(
            remote_file_path("/workspace//sub/./a b#1?.txt").unwrap(),
            "workspace/sub/a%20b%231%3F.txt"
        );
        assert_eq!(
            remote_file_path("/workspace/100%.txt").unwrap(),
            "workspace/100%25.txt"
        );
        assert_eq!(
            remote_file_path("/workspace/é.txt").unwrap(),
            "workspace/%C3%A9.txt"
        );
        for bad in [
            "workspace/a",
            "/workspace/../etc/passwd",
            "/a'b",
            "/a\\b",
            "/a`b",
            "/a\nb",
            "/a\rb",
            "/a\0b",
            "/",
        ] {
            assert!(remote_file_path(bad).is_err(), "{bad:?}");
        }
        assert_eq!(clean_remote_path("/workspace//a/./b/"), "/workspace/a/b");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn go_quoted_strings_decode_to_exact_bytes() {
        assert_eq!(
            unquote_go(r#"\x1b[32mok\x1b[0m caf\xc3\xa9 \u00e9 \"q\"\n\xff"#).unwrap(),
            b"\x1b[32mok\x1b[0m caf\xc3\xa9 \xc3\xa9 \"q\"\n\xff".to_vec()
        );
        assert!(unquote_go(r"\x1").is_none());
        assert!(unquote_go(r"\q").is_none());
    }
}
