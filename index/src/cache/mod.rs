//! The pattern cache: answers repeats of safe requests without calling a backend.
//!
//! Two layers:
//! - [`ExactCache`]: keyed by (principal or shared, pool, method, tool/URI, canonical
//!   arguments). The 128-bit hash only finds the slot; the full key is compared before a hit,
//!   so a collision is a miss, never a wrong answer. Entries carry a TTL, are bounded in bytes
//!   (LRU), and are tagged by pool, by (pool, tool/URI) and by (pool, URI) for every resource
//!   the answer links ([`ExactCache::insert_linked`]), so invalidation removes exactly the
//!   affected entries, at once: a stale answer is unreachable as soon as the call returns. An
//!   answer looked up before an invalidation of any of its tags is refused when stored after
//!   it (per-tag invalidation stamps against [`ExactCache::generation`]).
//!   Entries of tools declared `shared` serve every principal; all others never cross
//!   principals (the principal is part of the verified key).
//! - [`NearCache`]: opt-in per tool, off by default: the most similar earlier request of the
//!   same scope may answer when its similarity passes a threshold; its precision is tracked
//!   when ground truth is known.
//!
//! # What may be cached (the caller decides)
//! The gateway calls [`ExactCache::insert`] only for successful answers (never a JSON-RPC
//! error, never a result with `isError: true`) to requests whose tool annotations say
//! `readOnlyHint: true`, not `destructiveHint`, not `openWorldHint`, or that the operator opted
//! in. The cache stores what it is given and cannot tell an error from a result. Invalidate on
//! `notifications/tools/list_changed` (per tool, or the pool), `notifications/resources/updated`
//! (per URI), and on pool reconfiguration. Time is an argument (`now_ms`), never read here.

mod exact;
mod key;
mod near;

pub use exact::{CacheStats, ENTRY_OVERHEAD, ExactCache, ExactCacheConfig};
pub use key::{CacheKey, Target};
pub use near::{NearCache, NearCacheConfig, NearHit, NearStats};

#[cfg(test)]
mod tests;
