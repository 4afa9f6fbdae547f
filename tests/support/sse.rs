//! A long-lived SSE stream read event by event over a raw HTTP/1.1 connection, for tests of
//! streams that stay open (the GET stream, `subscriptions/listen`) or that a test abandons
//! half-way (resumption with `Last-Event-ID`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::SupportError;

/// One SSE event, or a `:` comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field, if any.
    pub id: Option<String>,
    /// The `data:` lines joined with `\n` (empty for a comment).
    pub data: String,
    /// The text of a comment block (`: keep-alive` → `keep-alive`), if this is one.
    pub comment: Option<String>,
}

impl SseEvent {
    /// The data parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// An open SSE response.
pub struct SseStream {
    stream: TcpStream,
    /// The status code.
    pub status: u16,
    /// Header names (lower-cased) and values.
    pub headers: Vec<(String, String)>,
    raw: Vec<u8>,
    text: String,
    chunked: bool,
}

fn err(context: &str, problem: impl Into<String>) -> SupportError {
    SupportError::Http {
        context: context.to_owned(),
        problem: problem.into(),
    }
}

impl SseStream {
    /// Send `method path` with `headers` and `body` to `authority` and read the response head.
    pub fn open(
        authority: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<SseStream, SupportError> {
        let context = format!("{method} {path} (stream)");
        let mut stream =
            TcpStream::connect(authority).map_err(|e| err(&context, format!("connect: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(|e| err(&context, e.to_string()))?;
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {authority}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(body) = body {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.unwrap_or_default()))
            .map_err(|e| err(&context, e.to_string()))?;
        let mut sse = SseStream {
            stream,
            status: 0,
            headers: Vec::new(),
            raw: Vec::new(),
            text: String::new(),
            chunked: false,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let end = loop {
            if let Some(i) = sse.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if !sse.read_more(deadline).map_err(|e| err(&context, e))? {
                return Err(err(&context, "closed before the response head"));
            }
        };
        let head = String::from_utf8_lossy(&sse.raw[..end]).into_owned();
        sse.raw.drain(..end + 4);
        let mut lines = head.split("\r\n");
        sse.status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(&context, format!("bad head {head:?}")))?;
        sse.headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        sse.chunked = sse
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
        Ok(sse)
    }

    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Read bytes; Ok(false) at end of stream.
    fn read_more(&mut self, deadline: Instant) -> Result<bool, String> {
        let mut chunk = [0u8; 8192];
        if Instant::now() >= deadline {
            return Err("deadline passed".into());
        }
        match self.stream.read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.raw.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                Ok(true)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Move decoded body bytes from `raw` into `text`; false once the body has ended.
    fn decode(&mut self) -> bool {
        if !self.chunked {
            self.text.push_str(&String::from_utf8_lossy(&self.raw));
            self.raw.clear();
            return true;
        }
        loop {
            let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return true;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..line_end]).into_owned();
            let Ok(size) =
                usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            else {
                return false;
            };
            if size == 0 {
                return false;
            }
            if self.raw.len() < line_end + 2 + size + 2 {
                return true;
            }
            let data = self.raw[line_end + 2..line_end + 2 + size].to_vec();
            self.text.push_str(&String::from_utf8_lossy(&data));
            self.raw.drain(..line_end + 2 + size + 2);
        }
    }

    /// The next event or comment within `timeout`; `None` when the stream ended or nothing came.
    pub fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let open = self.decode();
            let normalized = self.text.replace("\r\n", "\n");
            if let Some(end) = normalized.find("\n\n") {
                let block = normalized[..end].to_owned();
                self.text = normalized[end + 2..].to_owned();
                return Some(parse_block(&block));
            }
            self.text = normalized;
            if !open {
                return None;
            }
            match self.read_more(deadline) {
                Ok(true) => {}
                Ok(false) | Err(_) => {
                    self.decode();
                    if !self.text.contains("\n\n") {
                        return None;
                    }
                }
            }
        }
    }

    /// The next event that is not a comment, within `timeout`.
    pub fn next_message(&mut self, timeout: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.next_event(left) {
                Some(e) if e.comment.is_some() && e.data.is_empty() => continue,
                other => return other,
            }
        }
        None
    }

    /// Drop the connection abruptly, as a client that lost its network would.
    pub fn abandon(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

fn parse_block(block: &str) -> SseEvent {
    let mut event = SseEvent {
        id: None,
        data: String::new(),
        comment: None,
    };
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(c) = line.strip_prefix(':') {
            event.comment = Some(c.trim().to_owned());
        } else if let Some(id) = line.strip_prefix("id:") {
            event.id = Some(id.trim().to_owned());
        } else if let Some(d) = line.strip_prefix("data:") {
            data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
        }
    }
    event.data = data.join("\n");
    event
}

#[cfg(test)]
mod tests {
    use super::parse_block;

    #[test]
    fn blocks_parse_into_events_and_comments() {
        let e = parse_block("id: g1-2\nevent: message\ndata: {\"a\":1}");
        assert_eq!(e.id.as_deref(), Some("g1-2"));
        assert_eq!(e.json()["a"], 1);
        let c = parse_block(": keep-alive");
        assert_eq!(c.comment.as_deref(), Some("keep-alive"));
        assert!(c.data.is_empty());
    }
}
