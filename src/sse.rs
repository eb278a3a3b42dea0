//! A server-sent events parser, fed with whatever chunks the network delivers.
//!
//! The Router writes `event: <name>\ndata: <json>\n\n` frames and `: keepalive` comments
//! (openapi.yaml, `configureAgent` and `invokeAgent`). The parser follows the SSE rules: lines end in LF, CRLF or CR (also
//! when split across chunks); comment lines are skipped; `data:` lines join with `\n`; one
//! leading space after the colon is dropped; a blank line dispatches.
//!
//! Memory stays bounded whatever the server sends: one event (its field lines, and the line
//! being read) may hold at most the parser's limit, the client's
//! [`max_response_body`](crate::ClientBuilder::max_response_body) (32 MiB by default). A server
//! that sends `data:` lines without ever a blank line ends the stream with
//! [`Error::BodyTooLarge`](crate::Error::BodyTooLarge) instead of growing one event forever.

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The `event:` field, or `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// The parser's limit when none is given: the client's default body limit.
const DEFAULT_MAX_EVENT: usize = crate::pipeline::body::DEFAULT_MAX_RESPONSE_BODY;

#[derive(Debug)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
    /// Largest event, in bytes: its fields so far plus the line being read.
    max_event: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::with_limit(DEFAULT_MAX_EVENT)
    }
}

/// An event grew past the parser's limit; the stream cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventTooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

/// How the stream ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SseEnd {
    /// At a frame boundary (or after complete lines whose blank line never came; the event
    /// was dispatched, as the Python and Go clients do).
    Clean(Option<SseEvent>),
    /// In the middle of a line: the partial event was dropped.
    Truncated,
}

impl SseParser {
    /// A parser whose events may hold at most `max_event` bytes.
    pub fn with_limit(max_event: usize) -> Self {
        SseParser {
            line: Vec::new(),
            after_cr: false,
            event: None,
            data: None,
            max_event,
        }
    }

    /// Bytes held for the event being read.
    fn held(&self) -> usize {
        self.line.len()
            + self.event.as_ref().map_or(0, String::len)
            + self.data.as_ref().map_or(0, String::len)
    }

    /// Feeds a chunk and returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, EventTooLarge> {
        let mut out = Vec::new();
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                _ => {
                    if self.line.len().is_multiple_of(4096) && self.held() >= self.max_event {
                        return Err(EventTooLarge {
                            limit: self.max_event,
                        });
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(out)
    }

    /// Called when the body ends.
    pub fn finish(&mut self) -> SseEnd {
        if !self.line.is_empty() {
            return SseEnd::Truncated;
        }
        SseEnd::Clean(self.dispatch())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if let Some(ev) = self.dispatch() {
                out.push(ev);
            }
            return;
        }
        if line[0] == b':' {
            return; // comment, e.g. `: keepalive`
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.find(':') {
            Some(i) => {
                let v = &text[i + 1..];
                (&text[..i], v.strip_prefix(' ').unwrap_or(v))
            }
            None => (&text[..], ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            _ => {} // id, retry and unknown fields are ignored
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take();
        data.map(|data| SseEvent {
            event: event
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "message".into()),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> (Vec<SseEvent>, SseEnd) {
        let mut p = SseParser::default();
        let mut events = Vec::new();
        for c in chunks {
            events.extend(p.push(c).unwrap());
        }
        (events, p.finish())
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
        }
    }

    #[test]
    fn whole_frames() {
        let (events, end) =
            all(&[b"event: start\ndata: {\"invokeId\":\"inv-1\"}\n\nevent: exit\ndata: {}\n\n"]);
        assert_eq!(
            events,
            vec![ev("start", "{\"invokeId\":\"inv-1\"}"), ev("exit", "{}")]
        );
        assert_eq!(end, SseEnd::Clean(None));
    }

    #[test]
    fn split_chunks_at_every_byte() {
        let frame = b"event: log\ndata: {\"stream\":\"stdout\",\"data\":\"hi\"}\n\n: keepalive\n\nevent: exit\ndata: {}\n\n";
        let chunks: Vec<&[u8]> = frame.chunks(1).collect();
        let (events, _) = all(&chunks);
        assert_eq!(
            events,
            vec![
                ev("log", "{\"stream\":\"stdout\",\"data\":\"hi\"}"),
                ev("exit", "{}")
            ]
        );
    }

    #[test]
    fn crlf_and_lone_cr_line_endings_also_split_across_chunks() {
        let (events, _) = all(&[
            b"event: a\r",
            b"\ndata: 1\r\n\r",
            b"\nevent: b\rdata: 2\r\r",
        ]);
        assert_eq!(events, vec![ev("a", "1"), ev("b", "2")]);
    }

    #[test]
    fn comments_are_skipped_and_do_not_dispatch() {
        let (events, _) = all(&[b": keepalive\n\n: keepalive\n\ndata: x\n\n"]);
        assert_eq!(events, vec![ev("message", "x")]);
    }

    #[test]
    fn multi_line_data_joins_with_newline() {
        let (events, _) = all(&[b"event: log\ndata: one\ndata:two\ndata:  three\n\n"]);
        assert_eq!(events, vec![ev("log", "one\ntwo\n three")]);
    }

    #[test]
    fn empty_first_data_line_still_joins() {
        let (events, _) = all(&[b"data:\ndata: x\n\n"]);
        assert_eq!(events, vec![ev("message", "\nx")]);
    }

    #[test]
    fn event_name_resets_after_each_dispatch() {
        let (events, _) = all(&[b"event: log\ndata: 1\n\ndata: 2\n\n"]);
        assert_eq!(events, vec![ev("log", "1"), ev("message", "2")]);
    }

    #[test]
    fn stream_cut_mid_event_is_truncated() {
        let (events, end) =
            all(&[b"event: start\ndata: {}\n\nevent: exit\ndata: {\"invokeId\":\"in"]);
        assert_eq!(events, vec![ev("start", "{}")]);
        assert_eq!(end, SseEnd::Truncated);
    }

    #[test]
    fn complete_last_event_without_blank_line_is_flushed() {
        let (events, end) = all(&[b"event: exit\ndata: {}\n"]);
        assert!(events.is_empty());
        assert_eq!(end, SseEnd::Clean(Some(ev("exit", "{}"))));
    }

    #[test]
    fn empty_data_value_is_an_event() {
        let (events, _) = all(&[b"event: log\ndata:\n\n"]);
        assert_eq!(events, vec![ev("log", "")]);
    }

    #[test]
    fn data_lines_without_a_blank_line_stop_at_the_event_limit() {
        let mut p = SseParser::with_limit(64 * 1024);
        let line = format!("data: {}\n", "x".repeat(1000));
        let mut fed = 0;
        let err = loop {
            match p.push(line.as_bytes()) {
                Ok(events) => assert!(events.is_empty()),
                Err(e) => break e,
            }
            fed += line.len();
            assert!(fed < 1 << 20, "the parser kept growing");
        };
        assert_eq!(err, EventTooLarge { limit: 64 * 1024 });
        assert!(fed < 64 * 1024 + 2 * line.len());
    }

    #[test]
    fn events_under_the_limit_pass_one_after_another() {
        let mut p = SseParser::with_limit(1024);
        for _ in 0..100 {
            let events = p
                .push(format!("data: {}\n\n", "y".repeat(900)).as_bytes())
                .unwrap();
            assert_eq!(events.len(), 1);
        }
    }
}
