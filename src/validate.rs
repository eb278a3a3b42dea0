//! Input checks made before any request is sent, and wire formatting of inputs.

use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{Error, Result};

/// Names of sandboxes (and clones, restores) must be RFC 1123 labels: Kubernetes refuses
/// anything else, and the Router reports that as an opaque 500.
pub(crate) fn rfc1123_label(field: &'static str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
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

/// Characters kept as they are in a path segment: RFC 3986 unreserved. Everything else,
/// including `#`, `?`, `%`, spaces and non-ASCII, is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one URL path segment, for the routes built by hand.
pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

/// Identifiers that go into one path segment: non-empty, no `/`, not `.` or `..` (either would
/// change the route), no control characters.
pub(crate) fn id(field: &'static str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
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
pub(crate) fn go_duration(field: &'static str, d: Duration) -> Result<String> {
    let d = positive(field, d)?;
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
        let plain = !arg.is_empty()
            && arg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
        if plain {
            out.push_str(arg);
        } else {
            out.push('\'');
            out.push_str(&arg.replace('\'', r"'\''"));
            out.push('\'');
        }
    }
    Ok(out)
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
}
