//! A deliberately tiny HTTP/1.1 client over `std::net::TcpStream`, for protocol tests that
//! must see exactly what goes over the wire (status codes, headers, raw bodies) without an
//! MCP SDK smoothing anything over.
//!
//! It sends one request per connection (`Connection: close`) and reads the answer with a
//! deadline. A `text/event-stream` answer is read until it holds a JSON-RPC response (a POST's
//! stream ends there) or, for GET streams, only up to its headers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::SupportError;

/// The `Accept` header MCP clients send on POST.
pub const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// One HTTP answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as far as it was read.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON-RPC messages in the body: the JSON document itself, or every SSE `data:` event.
    pub fn messages(&self) -> Vec<Value> {
        let text = self.text();
        let is_sse = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !is_sse {
            return serde_json::from_str(&text)
                .map(|v| vec![v])
                .unwrap_or_default();
        }
        sse_events(&text)
            .iter()
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect()
    }

    /// The JSON-RPC response (a message with `result` or `error`) in the body, if any.
    pub fn rpc_response(&self) -> Option<Value> {
        self.messages()
            .into_iter()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
    }
}

/// The `data` of each complete SSE event in `text` (multi-line data joined with `\n`).
pub fn sse_events(text: &str) -> Vec<String> {
    let normalized = text.replace("\r\n", "\n");
    let mut events = Vec::new();
    for block in normalized.split("\n\n") {
        let data: Vec<&str> = block
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if !data.is_empty() {
            events.push(data.join("\n"));
        }
    }
    events
}

/// A request to send.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    headers_only: bool,
    timeout: Duration,
}

impl HttpRequest {
    /// A request with no headers yet.
    pub fn new(method: &str, path: &str) -> HttpRequest {
        HttpRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: None,
            headers_only: false,
            timeout: Duration::from_secs(15),
        }
    }

    /// A POST of a JSON body to `path` with the MCP `Accept` and `Content-Type` headers.
    pub fn post_json(path: &str, body: &Value) -> HttpRequest {
        HttpRequest::new("POST", path)
            .header("accept", ACCEPT_BOTH)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// Add a header.
    pub fn header(mut self, name: &str, value: &str) -> HttpRequest {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Set the raw body.
    pub fn body(mut self, body: Vec<u8>) -> HttpRequest {
        self.body = Some(body);
        self
    }

    /// Stop after the status line and headers (for long-lived GET streams).
    pub fn headers_only(mut self) -> HttpRequest {
        self.headers_only = true;
        self
    }

    /// Send it to `authority` (`127.0.0.1:PORT`) and read the answer.
    pub fn send(&self, authority: &str) -> Result<HttpResponse, SupportError> {
        let context = format!("{} {}", self.method, self.path);
        let err = |problem: String| SupportError::Http {
            context: context.clone(),
            problem,
        };
        let deadline = Instant::now() + self.timeout;
        let mut stream =
            TcpStream::connect(authority).map_err(|e| err(format!("connect {authority}: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| err(e.to_string()))?;
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n",
            self.method, self.path
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(body) = &self.body {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .map_err(|e| err(e.to_string()))?;
        if let Some(body) = &self.body {
            stream.write_all(body).map_err(|e| err(e.to_string()))?;
        }

        let mut reader = Reader {
            stream,
            buf: Vec::new(),
            deadline,
            eof: false,
        };
        let head_end = reader
            .fill_until(|b| find(b, b"\r\n\r\n").map(|i| i + 4))
            .map_err(&err)?;
        let head_text = String::from_utf8_lossy(&reader.buf[..head_end - 4]).into_owned();
        reader.buf.drain(..head_end);
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| err(format!("bad status line {status_line:?}")))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let mut response = HttpResponse {
            status,
            headers,
            body: Vec::new(),
        };
        if self.headers_only || self.method == "HEAD" || status == 204 || status == 304 {
            return Ok(response);
        }
        let is_sse = response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
        let length: Option<usize> = response
            .header("content-length")
            .and_then(|l| l.parse().ok());
        response.body = if chunked {
            reader.read_chunked(is_sse).map_err(&err)?
        } else if let Some(n) = length {
            reader
                .fill_until(|b| (b.len() >= n).then_some(n))
                .map_err(&err)?;
            reader.buf[..n].to_vec()
        } else {
            reader.read_to_end_or(is_sse).map_err(&err)?
        };
        Ok(response)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether an SSE body already holds a JSON-RPC response (after which a POST stream ends).
fn sse_has_response(body: &[u8]) -> bool {
    sse_events(&String::from_utf8_lossy(body)).iter().any(|d| {
        serde_json::from_str::<Value>(d)
            .is_ok_and(|m| m.get("result").is_some() || m.get("error").is_some())
    })
}

struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
    deadline: Instant,
    eof: bool,
}

impl Reader {
    /// Read more bytes; Ok(false) at EOF.
    fn more(&mut self) -> Result<bool, String> {
        if self.eof {
            return Ok(false);
        }
        let mut chunk = [0u8; 8192];
        loop {
            if Instant::now() >= self.deadline {
                return Err(format!(
                    "no complete answer before the deadline; got so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    self.eof = true;
                    return Ok(false);
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Read until `done` finds its mark in the buffer; returns the mark.
    fn fill_until(&mut self, done: impl Fn(&[u8]) -> Option<usize>) -> Result<usize, String> {
        loop {
            if let Some(i) = done(&self.buf) {
                return Ok(i);
            }
            if !self.more()? {
                return Err(format!(
                    "connection closed early; got: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ));
            }
        }
    }

    fn read_chunked(&mut self, stop_at_response: bool) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            let line_end = self.fill_until(|b| find(b, b"\r\n"))?;
            let size_text = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            self.buf.drain(..line_end + 2);
            if size == 0 {
                return Ok(body);
            }
            self.fill_until(|b| (b.len() >= size + 2).then_some(size + 2))?;
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
            if stop_at_response && sse_has_response(&body) {
                return Ok(body);
            }
        }
    }

    fn read_to_end_or(&mut self, stop_at_response: bool) -> Result<Vec<u8>, String> {
        while !(stop_at_response && sse_has_response(&self.buf)) && self.more()? {}
        Ok(std::mem::take(&mut self.buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_join_data_lines_and_skip_comments() {
        let text =
            ": keep-alive\n\nid: 1\nevent: message\ndata: {\"a\":\ndata: 1}\n\r\n\r\ndata: x\n\n";
        assert_eq!(
            sse_events(text),
            vec!["{\"a\":\n1}".to_owned(), "x".to_owned()]
        );
    }

    #[test]
    fn a_response_is_found_in_an_sse_body() {
        let body = b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
                     data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
        assert!(sse_has_response(body));
        assert!(!sse_has_response(&body[..60]));
    }
}
