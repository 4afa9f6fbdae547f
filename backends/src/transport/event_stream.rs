//! An incremental `text/event-stream` parser (the WHATWG server-sent events format), shared by
//! the Streamable HTTP and legacy SSE clients.

/// One dispatched event.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field; empty means `message`.
    pub(crate) event: String,
    /// The `data:` lines joined with `\n`.
    pub(crate) data: String,
    /// The `id:` field, if this event had one.
    pub(crate) id: Option<String>,
}

impl Event {
    /// The event type, `message` by default.
    pub(crate) fn kind(&self) -> &str {
        if self.event.is_empty() {
            "message"
        } else {
            &self.event
        }
    }
}

/// Feed bytes in, take complete events out.
#[derive(Debug, Default)]
pub(crate) struct Parser {
    buffer: Vec<u8>,
    current: Event,
    has_data: bool,
    /// The last `id:` seen, for `Last-Event-ID` on resumption.
    pub(crate) last_id: Option<String>,
}

/// A stream line longer than this is an abuse, not an event.
const MAX_BUFFER: usize = 64 << 20;

impl Parser {
    /// Add bytes; returns the events they complete, or an error if a line is absurdly long.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, &'static str> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.buffer[start..]
            .iter()
            .position(|b| *b == b'\n' || *b == b'\r')
        {
            let end = start + offset;
            // A lone `\r` at the very end may be the first half of `\r\n`: wait for more.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                break;
            }
            let line = String::from_utf8_lossy(&self.buffer[start..end]).into_owned();
            let crlf = self.buffer[end] == b'\r' && self.buffer.get(end + 1) == Some(&b'\n');
            start = end + if crlf { 2 } else { 1 };
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
        }
        self.buffer.drain(..start);
        if self.buffer.len() > MAX_BUFFER {
            return Err("event-stream line too long");
        }
        Ok(events)
    }

    fn line(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            if !self.has_data {
                self.current = Event::default();
                return None;
            }
            self.has_data = false;
            return Some(std::mem::take(&mut self.current));
        }
        if line.starts_with(':') {
            return None; // comment / keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.current.event = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => {
                self.current.id = Some(value.to_owned());
                self.last_id = Some(value.to_owned());
            }
            _ => {} // `retry` and unknown fields
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_feeds_and_line_endings() {
        let mut p = Parser::default();
        assert!(
            p.feed(b": keep-alive\n\nevent: endpoint\r")
                .unwrap()
                .is_empty()
        );
        let events = p
            .feed(b"\ndata: /messages?s=1\r\n\r\nid: 7\ndata: {\"a\":\ndata: 1}\n")
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind(), "endpoint");
        assert_eq!(events[0].data, "/messages?s=1");
        let events = p.feed(b"\n").unwrap();
        assert_eq!(
            events,
            vec![Event {
                event: String::new(),
                data: "{\"a\":\n1}".into(),
                id: Some("7".into())
            }]
        );
        assert_eq!(events[0].kind(), "message");
        assert_eq!(p.last_id.as_deref(), Some("7"));
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let mut p = Parser::default();
        assert!(
            p.feed(b"event: ping\nid: 3\n\nretry: 100\n\n")
                .unwrap()
                .is_empty()
        );
        assert_eq!(p.last_id.as_deref(), Some("3"));
    }
}
