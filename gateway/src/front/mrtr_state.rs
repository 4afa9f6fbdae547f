//! The `requestState` of MRTR bridging ([`super::mrtr`]): what a retry needs to resume its
//! parked call on the instance that holds it, or to re-run the call on any instance that shares
//! the session key.
//!
//! On the wire it is `vecgate-mrtr.v2.` followed by the state sealed with the session key
//! (ChaCha20-Poly1305, [`crate::seal`]), bound to the principal and to this format (the
//! associated data starts with [`AAD_DOMAIN`]). The version is in the clear so that a state of
//! another format gets a clear error rather than "not valid": format 1 (`vecgate-mrtr.` and the
//! sealed session-id layout, no version segment) came from vecgates that could only resume a
//! call on the instance holding it, and carried nothing to re-run it with.
//!
//! The sealed bytes (little-endian): format `2`, the parked call's key (16), the unix second it
//! was issued (8), the request's [`Digest`], the open server requests (a count byte, then per
//! request its `inputRequests` key, length-prefixed, and its digest), and the answers already
//! given (a `u16` count, then per answer the digest of the server request it answered and the
//! answer's JSON, `u32` length-prefixed). Digests are 16 bytes of SHA-256 over the method and
//! the canonical JSON of the params ([`vecgate_index::canonical`]), so a retry with other
//! arguments, or a server request with other params, never matches.

use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};
use vecgate_backends::jsonrpc::{ErrorObject, code, to_raw};
use vecgate_index::canonical::canonical_json;

use crate::auth::Principal;
use crate::session::SessionTable;

/// Prefix of every `requestState` vecgate issued (anything else is an upstream's).
pub const PREFIX: &str = "vecgate-mrtr.";
/// The format this vecgate writes and reads, as it appears after [`PREFIX`].
const VERSION_TAG: &str = "v2";
/// First byte of the sealed payload (the same version, authenticated).
const FORMAT: u8 = 2;
/// Associated-data domain of this format (before the principal's binding).
const AAD_DOMAIN: &[u8] = b"vecgate-mrtr-v2\0";
/// At most this many open server requests are named in a state (a round with more still lists
/// them all in `inputRequests`; answers to the others resume only the instance holding the
/// call, and a re-run asks for them again).
pub const MAX_OPEN: usize = 32;
/// At most this many bytes of earlier answers are carried; beyond it the oldest are dropped
/// (a re-run then asks for them again).
pub const MAX_ANSWER_BYTES: usize = 32 * 1024;
/// Longest sealed text accepted (the answers' budget, base64, and room for the rest).
const MAX_SEALED_LEN: usize = 64 * 1024;

/// 16 bytes of SHA-256 naming a request: its method and canonical params.
pub type Digest = [u8; 16];

/// What a `requestState` carries.
#[derive(Debug)]
pub struct RequestState {
    /// Key of the parked call on the instance that issued the state.
    pub key: [u8; 16],
    /// Unix seconds when it was issued.
    pub issued_at: u64,
    /// The client request's digest ([`request_digest`]).
    pub request: Digest,
    /// Server requests waiting for the client: (key in `inputRequests`, [`server_digest`]).
    pub open: Vec<(String, Digest)>,
    /// Answers the client gave in earlier rounds, in the order they were used: (digest of the
    /// server request answered, the answer).
    pub answers: Vec<(Digest, Box<RawValue>)>,
}

impl PartialEq for RequestState {
    fn eq(&self, other: &RequestState) -> bool {
        self.key == other.key
            && self.issued_at == other.issued_at
            && self.request == other.request
            && self.open == other.open
            && self.answers.len() == other.answers.len()
            && self
                .answers
                .iter()
                .zip(&other.answers)
                .all(|((d, a), (e, b))| d == e && a.get() == b.get())
    }
}

/// Why a `requestState` of ours was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum StateError {
    /// Format 1, from a vecgate before cross-instance retries.
    Legacy,
    /// A version segment this vecgate does not read.
    UnknownVersion(String),
    /// Altered, or sealed with another key or for another principal.
    Invalid,
    /// Older than the park timeout.
    Expired,
}

impl StateError {
    /// The JSON-RPC error a client gets.
    pub fn to_error(&self) -> ErrorObject {
        const AGAIN: &str = "send the request again without requestState and inputResponses";
        let message = match self {
            StateError::Legacy => format!(
                "requestState has format v1, from an older vecgate; this one reads {VERSION_TAG}: {AGAIN}"
            ),
            StateError::UnknownVersion(v) => {
                format!("requestState has format {v:?}; this vecgate reads {VERSION_TAG}: {AGAIN}")
            }
            StateError::Invalid => format!(
                "requestState is not valid (altered, or sealed by a vecgate with another session_key, or for another client): {AGAIN}"
            ),
            StateError::Expired => format!(
                "requestState expired (vecgate waits for input at most {} s): {AGAIN}",
                super::mrtr::PARK_TIMEOUT.as_secs()
            ),
        };
        ErrorObject::new(code::INVALID_PARAMS, message)
    }
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RequestState {
    /// Seal for `principal`, as the `requestState` text (with [`PREFIX`]).
    pub fn seal(
        &self,
        sessions: &SessionTable,
        principal: &Principal,
    ) -> Result<String, getrandom::Error> {
        let sealed = sessions.seal_bytes(AAD_DOMAIN, &self.encode(), principal)?;
        Ok(format!("{PREFIX}{VERSION_TAG}.{sealed}"))
    }

    /// Open a `requestState` (the text after [`PREFIX`]) sealed for `principal`, unexpired at
    /// `now` (unix seconds).
    pub fn open(
        sessions: &SessionTable,
        text: &str,
        principal: &Principal,
        now: u64,
    ) -> Result<RequestState, StateError> {
        // base64url has no '.', so format 1 (no version segment) is told apart by its syntax.
        let Some((version, sealed)) = text.split_once('.') else {
            return Err(StateError::Legacy);
        };
        if version != VERSION_TAG {
            let shown: String = version.chars().take(16).collect();
            return Err(StateError::UnknownVersion(shown));
        }
        let plain = sessions
            .open_bytes(AAD_DOMAIN, sealed, principal, MAX_SEALED_LEN)
            .ok_or(StateError::Invalid)?;
        let state = RequestState::decode(&plain).ok_or(StateError::Invalid)?;
        if now.saturating_sub(state.issued_at) >= super::mrtr::PARK_TIMEOUT.as_secs() {
            return Err(StateError::Expired);
        }
        Ok(state)
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(FORMAT);
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.issued_at.to_le_bytes());
        out.extend_from_slice(&self.request);
        let open: Vec<&(String, Digest)> = self
            .open
            .iter()
            .filter(|(k, _)| k.len() <= u8::MAX as usize)
            .take(MAX_OPEN)
            .collect();
        out.push(open.len() as u8);
        for (key, digest) in open {
            out.push(key.len() as u8);
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(digest);
        }
        // The newest answers that fit the budget (older ones are the likelier to have been
        // asked before any side effect a re-run would repeat, and cheap to ask again).
        let mut budget = MAX_ANSWER_BYTES;
        let kept = self
            .answers
            .iter()
            .rev()
            .take_while(|(_, a)| match budget.checked_sub(a.get().len()) {
                Some(left) => {
                    budget = left;
                    true
                }
                None => false,
            })
            .take(u16::MAX as usize)
            .count();
        let answers = &self.answers[self.answers.len() - kept..];
        out.extend_from_slice(&(answers.len() as u16).to_le_bytes());
        for (digest, answer) in answers {
            out.extend_from_slice(digest);
            out.extend_from_slice(&(answer.get().len() as u32).to_le_bytes());
            out.extend_from_slice(answer.get().as_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<RequestState> {
        let mut r = Reader(bytes);
        if r.take(1)?[0] != FORMAT {
            return None;
        }
        let key = r.array()?;
        let issued_at = u64::from_le_bytes(r.array()?);
        let request = r.array()?;
        let n_open = r.take(1)?[0] as usize;
        let mut open = Vec::with_capacity(n_open);
        for _ in 0..n_open {
            let len = r.take(1)?[0] as usize;
            let key = std::str::from_utf8(r.take(len)?).ok()?.to_owned();
            open.push((key, r.array()?));
        }
        let n_answers = u16::from_le_bytes(r.array()?) as usize;
        let mut answers = Vec::with_capacity(n_answers.min(64));
        for _ in 0..n_answers {
            let digest = r.array()?;
            let len = u32::from_le_bytes(r.array()?) as usize;
            let text = std::str::from_utf8(r.take(len)?).ok()?;
            answers.push((digest, RawValue::from_string(text.to_owned()).ok()?));
        }
        r.0.is_empty().then_some(RequestState {
            key,
            issued_at,
            request,
            open,
            answers,
        })
    }
}

/// A cursor over sealed bytes (they are authentic, but read defensively all the same).
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

/// The digest of a client request: its method and params, without `_meta` (a progress token
/// differs per attempt) and the MRTR fields themselves.
pub fn request_digest(method: &str, params: Option<&RawValue>) -> Digest {
    digest(method, params, &["_meta", "requestState", "inputResponses"])
}

/// The digest of a server-to-client request: its method and params, without `_meta`.
pub fn server_digest(method: &str, params: Option<&RawValue>) -> Digest {
    digest(method, params, &["_meta"])
}

fn digest(method: &str, params: Option<&RawValue>, skip: &[&str]) -> Digest {
    let canonical = params.and_then(|p| {
        let mut map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(p.get()).ok()?;
        for key in skip {
            map.remove(*key);
        }
        let mut out = String::new();
        canonical_json(to_raw(&map).get(), &mut out).ok()?;
        Some(out)
    });
    let mut hash = Sha256::new();
    hash.update(b"vecgate-mrtr-digest\0");
    hash.update(method.as_bytes());
    hash.update([0]);
    match canonical {
        Some(c) => hash.update(c.as_bytes()),
        // Not an object (or not canonicalisable): the exact text, marked apart.
        None => {
            hash.update([1]);
            hash.update(params.map_or("", |p| p.get()).as_bytes());
        }
    }
    hash.finalize()[..16]
        .try_into()
        .expect("SHA-256 is 32 bytes")
}

/// Remove `requestState` and `inputResponses` from a retry's params, so a re-run sends the
/// upstream the request the client first sent.
pub fn without_retry_fields(params: &RawValue) -> Box<RawValue> {
    match serde_json::from_str::<BTreeMap<String, Box<RawValue>>>(params.get()) {
        Ok(mut map) => {
            map.remove("requestState");
            map.remove("inputResponses");
            to_raw(&map)
        }
        Err(_) => to_raw(params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::Sealer;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    fn state() -> RequestState {
        RequestState {
            key: [9; 16],
            issued_at: 1_800_000_000,
            request: [1; 16],
            open: vec![("r7".into(), [2; 16]), ("r8".into(), [3; 16])],
            answers: vec![([4; 16], raw(r#"{"action":"accept"}"#))],
        }
    }

    #[test]
    fn round_trips_and_refuses_other_formats_principals_and_old_states() {
        let sessions = SessionTable::new(Sealer::new([5; 32]));
        let alice = Principal::named("alice");
        let text = state().seal(&sessions, &alice).unwrap();
        let body = text.strip_prefix(PREFIX).unwrap();
        let now = 1_800_000_010;
        assert_eq!(
            RequestState::open(&sessions, body, &alice, now),
            Ok(state())
        );
        let bob = Principal::named("bob");
        assert_eq!(
            RequestState::open(&sessions, body, &bob, now),
            Err(StateError::Invalid)
        );
        let other_key = SessionTable::new(Sealer::new([6; 32]));
        assert_eq!(
            RequestState::open(&other_key, body, &alice, now),
            Err(StateError::Invalid)
        );
        assert_eq!(
            RequestState::open(&sessions, body, &alice, now + 120),
            Err(StateError::Expired)
        );
        // A session id (format 1 states were sealed the same way) is no requestState.
        let session = sessions
            .create(
                crate::protocol::Version::V2026_07_28,
                Default::default(),
                &alice,
            )
            .unwrap();
        assert_eq!(
            RequestState::open(&sessions, &session.id, &alice, now),
            Err(StateError::Legacy)
        );
        assert_eq!(
            RequestState::open(&sessions, &format!("v2.{}", session.id), &alice, now),
            Err(StateError::Invalid)
        );
        assert!(matches!(
            RequestState::open(&sessions, "v3.abc", &alice, now),
            Err(StateError::UnknownVersion(v)) if v == "v3"
        ));
    }

    #[test]
    fn answers_beyond_the_budget_drop_the_oldest() {
        let big = raw(&format!("\"{}\"", "x".repeat(MAX_ANSWER_BYTES / 2)));
        let mut s = state();
        s.answers = vec![
            ([1; 16], big.clone()),
            ([2; 16], big.clone()),
            ([3; 16], big),
        ];
        let decoded = RequestState::decode(&s.encode()).unwrap();
        let kept: Vec<Digest> = decoded.answers.iter().map(|(d, _)| *d).collect();
        assert_eq!(kept, vec![[3; 16]]);
    }

    #[test]
    fn digests_ignore_order_meta_and_retry_fields_but_not_arguments() {
        let a = raw(r#"{"name":"t","arguments":{"x":1,"y":[1,2]},"_meta":{"progressToken":1}}"#);
        let b = raw(
            r#"{"arguments":{"y":[1,2.0],"x":1},"name":"t","requestState":"s","inputResponses":{}}"#,
        );
        let c = raw(r#"{"name":"t","arguments":{"x":2,"y":[1,2]}}"#);
        assert_eq!(
            request_digest("tools/call", Some(&a)),
            request_digest("tools/call", Some(&b))
        );
        assert_ne!(
            request_digest("tools/call", Some(&a)),
            request_digest("tools/call", Some(&c))
        );
        assert_ne!(
            request_digest("tools/call", Some(&a)),
            request_digest("prompts/get", Some(&a))
        );
        assert_eq!(
            server_digest("roots/list", None),
            server_digest("roots/list", None)
        );
        let stripped = without_retry_fields(&b);
        assert!(!stripped.get().contains("requestState"), "{stripped}");
        assert!(stripped.get().contains("arguments"), "{stripped}");
    }
}
