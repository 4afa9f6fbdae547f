//! Static bearer tokens, known only by their SHA-256.
//!
//! The presented token is hashed once and compared with every configured hash in constant
//! time, without stopping at the first match, so the time taken says nothing about which key
//! (or how much of one) matched.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Principal;
use super::config::KeyConfig;

/// Parse 64 hex digits into a 32-byte hash.
pub(crate) fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Configured tokens and the principals they stand for.
#[derive(Debug, Default)]
pub(crate) struct KeyTable {
    keys: Vec<([u8; 32], Principal)>,
}

impl KeyTable {
    /// The table for validated key configs (invalid hashes are skipped; `validate` refuses them).
    pub(crate) fn new(keys: &[KeyConfig]) -> KeyTable {
        KeyTable {
            keys: keys
                .iter()
                .filter_map(|k| Some((parse_sha256(&k.sha256)?, Principal::named(&k.principal))))
                .collect(),
        }
    }

    /// The principal whose token this is.
    pub(crate) fn find(&self, token: &str) -> Option<Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (hash, principal) in &self.keys {
            if bool::from(hash.ct_eq(&digest)) && found.is_none() {
                found = Some(principal.clone());
            }
        }
        found
    }
}

/// The hex SHA-256 of a token, as the config wants it (used by tests and docs).
pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_their_own_hash() {
        let keys = [
            KeyConfig {
                principal: "alice".into(),
                sha256: sha256_hex("tok-a"),
            },
            KeyConfig {
                principal: "bob".into(),
                sha256: sha256_hex("tok-b"),
            },
        ];
        let table = KeyTable::new(&keys);
        assert_eq!(table.find("tok-a").unwrap().name(), "alice");
        assert_eq!(table.find("tok-b").unwrap().name(), "bob");
        assert!(table.find("tok-c").is_none());
        assert!(table.find("").is_none());
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(parse_sha256(&sha256_hex("x")).is_some());
        assert!(parse_sha256("zz").is_none());
    }
}
