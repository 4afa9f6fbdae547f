//! Cache keys: what makes two requests the same answer, and whose answer it is.

use xxhash_rust::xxh3::Xxh3;

/// What the request is addressed to, inside its pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target<'a> {
    /// `tools/call` of this tool.
    Tool(&'a str),
    /// `resources/read` of this URI.
    Resource(&'a str),
    /// `prompts/get` of this prompt.
    Prompt(&'a str),
    /// A method without a name (`tools/list`, `resources/list`, …).
    None,
}

impl<'a> Target<'a> {
    fn tag_and_name(&self) -> (u8, &'a str) {
        match *self {
            Target::Tool(n) => (1, n),
            Target::Resource(n) => (2, n),
            Target::Prompt(n) => (3, n),
            Target::None => (0, ""),
        }
    }
}

/// The full identity of a cacheable answer. Every field is verified on a hit, not just hashed.
#[derive(Clone, Copy, Debug)]
pub struct CacheKey<'a> {
    /// The principal (tenant, user or token identity) the answer was produced for.
    pub principal: &'a str,
    /// True when the tool is declared shared: its answers do not depend on who asks, so the
    /// principal is left out of the key and any principal may read the entry. A shared and a
    /// private entry never answer each other's lookups.
    pub shared: bool,
    /// The gateway's pool index.
    pub pool: u32,
    /// JSON-RPC method.
    pub method: &'a str,
    /// Tool, resource or prompt.
    pub target: Target<'a>,
    /// Canonical JSON of the arguments (see [`crate::canonical`]); empty for none.
    pub canonical_args: &'a str,
}

impl CacheKey<'_> {
    /// Runs `f` over the key's encoding, piece by piece: length-prefixed fields, so no two
    /// different keys share an encoding.
    pub(crate) fn with_pieces<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let (tag, name) = self.target.tag_and_name();
        let principal: &[u8] = if self.shared {
            b""
        } else {
            self.principal.as_bytes()
        };
        let scope = [u8::from(self.shared)];
        let tag = [tag];
        let principal_len = (principal.len() as u32).to_le_bytes();
        let pool = self.pool.to_le_bytes();
        let method_len = (self.method.len() as u32).to_le_bytes();
        let name_len = (name.len() as u32).to_le_bytes();
        let args_len = (self.canonical_args.len() as u32).to_le_bytes();
        f(&[
            &scope,
            &principal_len,
            principal,
            &pool,
            &method_len,
            self.method.as_bytes(),
            &tag,
            &name_len,
            name.as_bytes(),
            &args_len,
            self.canonical_args.as_bytes(),
        ])
    }

    /// The 128-bit hash of the encoding.
    pub(crate) fn hash(&self) -> u128 {
        self.with_pieces(|pieces| {
            let mut h = Xxh3::with_seed(0x6361_6368_652d_6b31); // "cache-k1"
            for p in pieces {
                h.update(p);
            }
            h.digest128()
        })
    }

    /// True when `stored` is exactly this key's encoding.
    pub(crate) fn matches(&self, stored: &[u8]) -> bool {
        self.with_pieces(|pieces| {
            let mut rest = stored;
            for p in pieces {
                match rest.strip_prefix(*p) {
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            rest.is_empty()
        })
    }

    /// The encoding as owned bytes (stored with the entry).
    pub(crate) fn encode(&self) -> Box<[u8]> {
        self.with_pieces(|pieces| pieces.concat().into_boxed_slice())
    }

    /// Tags for invalidation: the pool, (pool, target), and (pool, resource) for each URI in
    /// `links` (the resources the answer was derived from).
    pub(crate) fn tags(&self, links: &[&str]) -> Box<[u64]> {
        let mut tags = Vec::with_capacity(2 + links.len());
        tags.push(pool_tag(self.pool));
        tags.push(target_tag(self.pool, self.target));
        for uri in links {
            let tag = target_tag(self.pool, Target::Resource(uri));
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        tags.into_boxed_slice()
    }
}

pub(crate) fn pool_tag(pool: u32) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(&pool.to_le_bytes(), 0x9001)
}

/// The tag of (pool, target); `Target::None` maps to a tag of its own per pool.
pub(crate) fn target_tag(pool: u32, target: Target<'_>) -> u64 {
    let (tag, name) = target.tag_and_name();
    let mut h = Xxh3::with_seed(0x7a76);
    h.update(&pool.to_le_bytes());
    h.update(&[tag]);
    h.update(name.as_bytes());
    h.digest()
}
