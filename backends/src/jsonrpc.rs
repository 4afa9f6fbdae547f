//! A lossless JSON-RPC 2.0 envelope for pass-through.
//!
//! vecgate reads only what it routes on (`id`, `method`, and a few fields of `params`) and keeps
//! `params`, `result` and `error` as raw JSON text, so fields it does not know survive the trip
//! byte for byte. (rmcp's typed messages drop unknown fields; see ARCHITECTURE.md.) Ids are kept
//! raw too: `1`, `"1"` and `1.0` are different ids to a client and stay different here.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Standard and MCP-specific JSON-RPC error codes used by vecgate.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// MCP: resource not found.
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// MCP 2026-07-28: header and body disagree.
    pub const HEADER_MISMATCH: i64 = -32020;
    /// MCP 2026-07-28: the request needs a client capability the client did not declare.
    pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// MCP 2026-07-28: the protocol version is not supported.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
    /// vecgate: the upstream replica failed, timed out or went away (server-defined range).
    pub const UPSTREAM_UNAVAILABLE: i64 = -32010;
    /// vecgate: the request timed out upstream.
    pub const UPSTREAM_TIMEOUT: i64 = -32011;
    /// vecgate: the gateway is overloaded and shed the request.
    pub const OVERLOADED: i64 = -32012;
}

/// A JSON-RPC error object, as vecgate writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (see [`code`]).
    pub code: i64,
    /// A short, useful description.
    pub message: String,
    /// Optional structured detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl ErrorObject {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Serialized as raw JSON, ready to be placed in a [`Message`].
    pub fn to_raw(&self) -> Box<RawValue> {
        to_raw(self)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)
    }
}

/// Serialize any value into an owned raw JSON value. Serializing vecgate's own types cannot fail;
/// if it ever did, `null` is returned rather than panicking on the request path.
pub fn to_raw<T: Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).unwrap_or_else(|_| null_raw())
}

/// The raw JSON `null`.
pub fn null_raw() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("null is valid JSON")
}

/// A raw value from JSON text the caller knows to be valid (e.g. produced by serde_json).
pub fn raw_from_string(json: String) -> Result<Box<RawValue>, serde_json::Error> {
    RawValue::from_string(json)
}

/// What kind of JSON-RPC message a [`Message`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Has `id` and `method`: expects a response.
    Request,
    /// Has `method` and no `id`.
    Notification,
    /// Has `id` and `result` or `error`.
    Response,
}

/// Why bytes are not a JSON-RPC message.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// Not JSON at all.
    #[error("parse error: {0}")]
    Parse(#[source] serde_json::Error),
    /// JSON, but not a JSON-RPC 2.0 message.
    #[error("invalid JSON-RPC message: {0}")]
    Invalid(&'static str),
}

impl EnvelopeError {
    /// The JSON-RPC error code this maps to.
    pub fn code(&self) -> i64 {
        match self {
            EnvelopeError::Parse(_) => code::PARSE_ERROR,
            EnvelopeError::Invalid(_) => code::INVALID_REQUEST,
        }
    }
}

/// One JSON-RPC 2.0 message with its payload kept raw.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Message {
    /// Always `"2.0"` on the wire.
    #[serde(default, deserialize_with = "version_field")]
    pub jsonrpc: Cow<'static, str>,
    /// The raw id (`1`, `"abc"`); absent on notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Box<RawValue>>,
    /// The method, for requests and notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Raw params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Box<RawValue>>,
    /// Raw result, for successful responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Box<RawValue>>,
    /// Raw error object, for error responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<RawValue>>,
}

const V2: Cow<'static, str> = Cow::Borrowed("2.0");

/// `jsonrpc` without an allocation per message: `"2.0"` (every valid message) becomes the
/// static string; anything else is kept, for [`Message::validate`] to refuse.
fn version_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Cow<'static, str>, D::Error> {
    struct Version;
    impl serde::de::Visitor<'_> for Version {
        type Value = Cow<'static, str>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the string \"2.0\"")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(if v == "2.0" {
                V2
            } else {
                Cow::Owned(v.to_owned())
            })
        }
    }
    d.deserialize_str(Version)
}

impl Message {
    /// Parse one message and check it is well-formed JSON-RPC 2.0.
    pub fn parse(bytes: &[u8]) -> Result<Message, EnvelopeError> {
        // One UTF-8 check of the whole message, then parsing from `str`: from bytes,
        // serde_json validates every raw value and string again as it copies it out.
        let parsed = match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            // Parsed as bytes only to get serde_json's error, with its position.
            Err(_) => serde_json::from_slice(bytes),
        };
        let msg: Message = parsed.map_err(classify)?;
        msg.validate()?;
        Ok(msg)
    }

    /// Parse a body that is either one message or (2025-03-26) a batch array of messages.
    /// Returns the messages and whether the body was a batch.
    pub fn parse_body(bytes: &[u8]) -> Result<(Vec<Message>, bool), EnvelopeError> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            let items: Vec<Box<RawValue>> = serde_json::from_slice(bytes).map_err(classify)?;
            if items.is_empty() {
                return Err(EnvelopeError::Invalid("empty batch"));
            }
            let msgs = items
                .iter()
                .map(|raw| Message::parse(raw.get().as_bytes()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((msgs, true))
        } else {
            Ok((vec![Message::parse(bytes)?], false))
        }
    }

    fn validate(&self) -> Result<(), EnvelopeError> {
        if self.jsonrpc != "2.0" {
            return Err(EnvelopeError::Invalid("\"jsonrpc\" must be \"2.0\""));
        }
        match (&self.method, &self.result, &self.error) {
            (Some(m), None, None) if !m.is_empty() => Ok(()),
            (Some(_), None, None) => Err(EnvelopeError::Invalid("\"method\" is empty")),
            (None, Some(_), None) | (None, None, Some(_)) if self.id.is_some() => Ok(()),
            (None, Some(_), Some(_)) => Err(EnvelopeError::Invalid(
                "a response has \"result\" or \"error\", not both",
            )),
            (None, _, _) if self.id.is_none() => Err(EnvelopeError::Invalid(
                "no \"method\" and no \"id\": neither a request nor a response",
            )),
            (None, None, None) => Err(EnvelopeError::Invalid(
                "a response needs \"result\" or \"error\"",
            )),
            _ => Err(EnvelopeError::Invalid(
                "a request or notification must not carry \"result\" or \"error\"",
            )),
        }
    }

    /// The message's kind. Only meaningful on validated messages.
    pub fn kind(&self) -> Kind {
        match (&self.method, &self.id) {
            (Some(_), Some(_)) => Kind::Request,
            (Some(_), None) => Kind::Notification,
            (None, _) => Kind::Response,
        }
    }

    /// A request.
    pub fn request(
        id: Box<RawValue>,
        method: impl Into<String>,
        params: Option<Box<RawValue>>,
    ) -> Message {
        Message {
            jsonrpc: V2,
            id: Some(id),
            method: Some(method.into()),
            params,
            ..Message::default()
        }
    }

    /// A notification.
    pub fn notification(method: impl Into<String>, params: Option<Box<RawValue>>) -> Message {
        Message {
            jsonrpc: V2,
            method: Some(method.into()),
            params,
            ..Message::default()
        }
    }

    /// A successful response.
    pub fn result(id: Box<RawValue>, result: Box<RawValue>) -> Message {
        Message {
            jsonrpc: V2,
            id: Some(id),
            result: Some(result),
            ..Message::default()
        }
    }

    /// An error response; `id` is `null` when the request's id could not be read.
    pub fn error(id: Option<Box<RawValue>>, error: &ErrorObject) -> Message {
        Message {
            jsonrpc: V2,
            id: Some(id.unwrap_or_else(null_raw)),
            error: Some(error.to_raw()),
            ..Message::default()
        }
    }

    /// An error response with an already-serialized error object (upstream pass-through).
    pub fn raw_error(id: Box<RawValue>, error: Box<RawValue>) -> Message {
        Message {
            jsonrpc: V2,
            id: Some(id),
            error: Some(error),
            ..Message::default()
        }
    }

    /// Serialize to compact JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.payload_len());
        self.write_to(&mut out);
        out
    }

    /// Append the compact JSON form to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        // Hand-written so `"jsonrpc":"2.0"` is always first and present, and raw parts are
        // copied, not re-parsed.
        out.extend_from_slice(b"{\"jsonrpc\":\"2.0\"");
        if let Some(id) = &self.id {
            out.extend_from_slice(b",\"id\":");
            out.extend_from_slice(id.get().as_bytes());
        }
        if let Some(method) = &self.method {
            out.extend_from_slice(b",\"method\":");
            // Method names are plain strings; serde escapes anything unusual.
            let _ = serde_json::to_writer(&mut *out, method);
        }
        for (key, part) in [
            (&b",\"params\":"[..], &self.params),
            (&b",\"result\":"[..], &self.result),
            (&b",\"error\":"[..], &self.error),
        ] {
            if let Some(raw) = part {
                out.extend_from_slice(key);
                out.extend_from_slice(raw.get().as_bytes());
            }
        }
        out.push(b'}');
    }

    fn payload_len(&self) -> usize {
        [&self.params, &self.result, &self.error]
            .iter()
            .map(|p| p.as_ref().map_or(0, |r| r.get().len()))
            .sum()
    }

    /// The parsed error object of an error response, if it has the standard shape.
    pub fn error_object(&self) -> Option<ErrorObject> {
        self.error
            .as_ref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
    }

    /// Peek at the fields of `params` that routing needs, without copying the rest.
    pub fn peek_params(&self) -> ParamsPeek<'_> {
        self.params
            .as_ref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or_default()
    }
}

fn classify(e: serde_json::Error) -> EnvelopeError {
    if e.is_syntax() || e.is_eof() {
        EnvelopeError::Parse(e)
    } else {
        EnvelopeError::Invalid("not a JSON-RPC 2.0 message object")
    }
}

/// The routing-relevant fields of `params`, borrowed from the raw text.
#[derive(Debug, Default, Deserialize)]
pub struct ParamsPeek<'a> {
    /// `tools/call` and `prompts/get`: the tool or prompt name.
    #[serde(default, borrow, deserialize_with = "borrowed_str")]
    pub name: Option<Cow<'a, str>>,
    /// `resources/*`: the resource URI.
    #[serde(default, borrow, deserialize_with = "borrowed_str")]
    pub uri: Option<Cow<'a, str>>,
    /// `tools/call`: the arguments, raw.
    #[serde(default, borrow)]
    pub arguments: Option<&'a RawValue>,
    /// List methods: the pagination cursor.
    #[serde(default, borrow, deserialize_with = "borrowed_str")]
    pub cursor: Option<Cow<'a, str>>,
    /// `notifications/cancelled`: the id of the request to cancel.
    #[serde(default, rename = "requestId", borrow)]
    pub request_id: Option<&'a RawValue>,
    /// `notifications/progress`: the token.
    #[serde(default, rename = "progressToken", borrow)]
    pub progress_token: Option<&'a RawValue>,
    /// `_meta` (progress token, 2026-07-28 protocol fields), raw.
    #[serde(default, rename = "_meta", borrow)]
    pub meta: Option<&'a RawValue>,
    /// `completion/complete`: the reference (`ref/prompt` or `ref/resource`), raw.
    #[serde(default, rename = "ref", borrow)]
    pub reference: Option<&'a RawValue>,
    /// A multi-round-trip retry (2026-07-28, SEP-2549): the state the server handed out.
    #[serde(default, rename = "requestState", borrow)]
    pub request_state: Option<&'a RawValue>,
    /// A multi-round-trip retry: the client's answers to the server's input requests.
    #[serde(default, rename = "inputResponses", borrow)]
    pub input_responses: Option<&'a RawValue>,
}

impl ParamsPeek<'_> {
    /// Whether these are the params of a multi-round-trip retry (`requestState` or
    /// `inputResponses` present), whose answer depends on its inputs.
    pub fn is_mrtr_retry(&self) -> bool {
        self.request_state.is_some() || self.input_responses.is_some()
    }
}

/// An optional string borrowed from the input unless it has escapes. (serde borrows a bare
/// `Cow<str>` field marked `borrow`, but copies one inside an `Option`: every name and URI
/// read for routing was an allocation.)
fn borrowed_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct Str;
    impl<'de> serde::de::Visitor<'de> for Str {
        type Value = Cow<'de, str>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }
    }
    struct Optional;
    impl<'de> serde::de::Visitor<'de> for Optional {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Str).map(Some)
        }
    }
    d.deserialize_option(Optional)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_and_id_forms_survive_a_round_trip() {
        let text = br#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"x","arguments":{"z":1,"a":[1.0,2e3]},"unknownField":{"k":true}}}"#;
        let msg = Message::parse(text).unwrap();
        assert_eq!(msg.kind(), Kind::Request);
        assert_eq!(msg.to_bytes(), text.to_vec());
        assert_eq!(msg.peek_params().name.as_deref(), Some("x"));
    }

    #[test]
    fn a_peek_recognises_a_multi_round_trip_retry() {
        let parse = |params: &str| {
            Message::parse(
                format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        for (params, retry) in [
            (r#"{"name":"t","arguments":{}}"#, false),
            (r#"{"name":"t","arguments":{"requestState":"x"}}"#, false),
            (r#"{"name":"t","requestState":"s"}"#, true),
            (r#"{"name":"t","inputResponses":{"a":{}}}"#, true),
        ] {
            assert_eq!(
                parse(params).peek_params().is_mrtr_retry(),
                retry,
                "{params}"
            );
        }
    }

    #[test]
    fn peeked_names_are_borrowed_unless_escaped() {
        let msg = Message::parse(
            br#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"a","uri":"file:\/x","cursor":null}}"#,
        )
        .unwrap();
        let peek = msg.peek_params();
        assert!(matches!(peek.name, Some(Cow::Borrowed("a"))));
        assert!(matches!(peek.uri, Some(Cow::Owned(ref u)) if u == "file:/x"));
        assert_eq!(peek.cursor, None);
        let bad = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"name":7}}"#);
        assert_eq!(bad.unwrap().peek_params().name, None);
    }

    #[test]
    fn malformed_messages_are_classified() {
        assert!(matches!(Message::parse(b"{"), Err(EnvelopeError::Parse(_))));
        // Invalid UTF-8 in a string or in a raw value is a parse error, with its position.
        for bad in [
            &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\xff\"}"[..],
            &b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"x\":\"\xc3\"}}"[..],
        ] {
            match Message::parse(bad) {
                Err(EnvelopeError::Parse(e)) => assert!(e.column() > 0, "{e}"),
                other => panic!("{other:?}"),
            }
        }
        // Valid multi-byte text survives raw.
        let ok = Message::parse(
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"x\":\"é✓\"}}".as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.params.unwrap().get(), "{\"x\":\"é✓\"}");
        assert!(matches!(
            Message::parse(b"[]"),
            Err(EnvelopeError::Invalid(_))
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"1.0","id":1,"method":"x"}"#),
            Err(EnvelopeError::Invalid(_))
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1}"#),
            Err(EnvelopeError::Invalid(_))
        ));
        assert!(matches!(
            Message::parse(br#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#),
            Err(EnvelopeError::Invalid(_))
        ));
        let (batch, is_batch) = Message::parse_body(
            br#" [{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","id":2,"result":{}}]"#,
        )
        .unwrap();
        assert!(is_batch);
        assert_eq!(batch[1].kind(), Kind::Response);
        assert!(Message::parse_body(b"[]").is_err());
    }
}
