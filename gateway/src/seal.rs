//! Sealed session ids: the session's portable state, encrypted and authenticated.
//!
//! A session id is `base64url(nonce ‖ ChaCha20-Poly1305(state))`. Any vecgate instance holding
//! the same key can open it and serve the session without a shared store; a forged or altered id
//! fails authentication and is treated as unknown (404). The key is used directly (no password
//! KDF), so opening costs a microsecond, not the tens of milliseconds of a PBKDF2 scheme.
//!
//! The id is bound to its principal: the principal's name is the AEAD's associated data
//! ([`crate::auth::Principal::binding`]), so the id opens only for the principal it was issued
//! to, on any instance, and carries nothing that names the principal in the clear.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::protocol::Version;

/// Format byte of the sealed payload; bump when [`SealedState`] changes shape.
const FORMAT: u8 = 1;
const NONCE_LEN: usize = 12;
const PLAIN_LEN: usize = 1 + 1 + 1 + 16 + 8;

/// What a session id carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealedState {
    /// The negotiated protocol version.
    pub version: Version,
    /// Client capability bits ([`crate::session::ClientCaps::bits`]).
    pub caps: u8,
    /// Random per-session value; also seeds replica affinity, so every instance pins the session
    /// to the same replica.
    pub nonce: [u8; 16],
    /// Unix seconds when the session began.
    pub issued_at: u64,
}

/// Seals and opens session ids with one key.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: [u8; 32]) -> Sealer {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        }
    }

    /// A sealer with a fresh random key (sessions then live and die with this process).
    pub fn random() -> Result<Sealer, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Sealer::new(key))
    }

    /// Seal `state` into a session id (visible ASCII, as the spec requires) that opens only
    /// with the same `binding` (the principal's, see the module docs).
    pub fn seal(&self, state: &SealedState, binding: &[u8]) -> Result<String, getrandom::Error> {
        let mut plain = [0u8; PLAIN_LEN];
        plain[0] = FORMAT;
        plain[1] = Version::ALL
            .iter()
            .position(|v| *v == state.version)
            .unwrap_or(0) as u8;
        plain[2] = state.caps;
        plain[3..19].copy_from_slice(&state.nonce);
        plain[19..27].copy_from_slice(&state.issued_at.to_le_bytes());
        self.seal_bytes(&plain, binding)
    }

    /// Open a session id; `None` if it was not sealed by this key for this `binding`, or is
    /// malformed.
    pub fn open(&self, id: &str, binding: &[u8]) -> Option<SealedState> {
        let plain = self.open_bytes(id, binding, 256)?;
        if plain.len() != PLAIN_LEN || plain[0] != FORMAT {
            return None;
        }
        Some(SealedState {
            version: *Version::ALL.get(plain[1] as usize)?,
            caps: plain[2],
            nonce: plain[3..19].try_into().ok()?,
            issued_at: u64::from_le_bytes(plain[19..27].try_into().ok()?),
        })
    }

    /// Seal any bytes as `base64url(nonce ‖ ChaCha20-Poly1305(plain))`, authenticated with
    /// `aad`. Other sealed formats (MRTR's `requestState`) put a domain of their own into
    /// `aad`, so one format can never be opened as another.
    pub fn seal_bytes(&self, plain: &[u8], aad: &[u8]) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// Open what [`Sealer::seal_bytes`] sealed with the same key and `aad`; `None` if it was
    /// not, was altered, or is longer than `max_len` characters (checked before decoding).
    pub fn open_bytes(&self, sealed: &str, aad: &[u8], max_len: usize) -> Option<Vec<u8>> {
        if sealed.len() > max_len {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() <= NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgery() {
        let a = Sealer::new([7; 32]);
        let b = Sealer::new([8; 32]);
        let state = SealedState {
            version: Version::V2025_06_18,
            caps: 0b101,
            nonce: [3; 16],
            issued_at: 1_700_000_000,
        };
        let id = a.seal(&state, b"").unwrap();
        assert!(id.bytes().all(|c| (0x21..=0x7e).contains(&c)));
        assert_eq!(a.open(&id, b""), Some(state));
        assert_eq!(b.open(&id, b""), None, "another key must not open it");
        let alices = a.seal(&state, b"alice").unwrap();
        assert_eq!(a.open(&alices, b"alice"), Some(state));
        assert_eq!(a.open(&alices, b"bob"), None, "bound to its principal");
        assert_eq!(a.open(&alices, b""), None);
        let mut tampered = id.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(a.open(std::str::from_utf8(&tampered).unwrap(), b""), None);
        assert_eq!(a.open("not-a-session", b""), None);
        assert_eq!(a.open("", b""), None);
        assert_ne!(a.seal(&state, b"").unwrap(), id, "nonces differ per seal");
    }
}
