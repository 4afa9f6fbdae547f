//! `cache_invalidation = "announced"`: answers stay cached across writes, and each update the
//! server announces drops exactly what depends on it.
//!
//! The rule is only as good as the server's announcements, so it is the operator's opt-in,
//! per pool, and it holds the gateway to three things:
//! - **Dependencies are known.** A `resources/read` depends on its URI; a tool answer depends
//!   on the resources its result links (`resource_link` content items and embedded
//!   `resource` items). An answer with no links depends on no resource.
//! - **Updates are heard.** `notifications/resources/updated` is sent only to subscribers, so
//!   the gateway subscribes, on every ready replica of the pool, to each URI an answer depends
//!   on ([`AnswerCache::watch`]), and stores only answers produced while their URIs were
//!   watched: a resource read subscribes before it is forwarded; a tool answer that links a
//!   URI not yet watched subscribes and is not stored (a change made while it was produced
//!   may have gone unheard), so the next identical call is. If a subscription fails nothing
//!   depending on it is stored. A replica that reconnects has lost its subscriptions: its pool's answers are
//!   dropped and the subscriptions are made again as answers are stored. A client's
//!   `resources/unsubscribe` of a URI the gateway watches is not passed upstream, because the
//!   upstream session (shared by every client) would lose the gateway's subscription too.
//! - **Updates are applied before the write's answer is relayed.** The update is handled on
//!   the replica's reader ([`PoolObserver`]), before the reader reads the next message. Over
//!   stdio the server writes the update before the write's answer, so a client that reads
//!   after its write has been answered never gets the replaced answer. Over HTTP the update
//!   may come on another stream, after the answer; this is why the config accepts `announced`
//!   for stdio pools only.

use parking_lot::Mutex;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use vecgate_backends::jsonrpc::to_raw;
use vecgate_backends::{Call, Pool, PoolObserver};

use super::AnswerCache;

/// Bound on the (pool, URI) subscriptions the cache holds; answers that would need more are
/// not stored.
pub const MAX_WATCHED: usize = 16_384;
/// How long an upstream `resources/subscribe` may take before the answer is not stored.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The upstream subscriptions the cache holds, per pool.
#[derive(Default)]
pub(crate) struct Watched {
    inner: Mutex<WatchedInner>,
}

#[derive(Default)]
struct WatchedInner {
    /// Watched URIs by pool (a map of sets, so a lookup borrows the URI).
    uris: HashMap<u32, HashSet<String>>,
    /// How many URIs `uris` holds over all pools.
    len: usize,
    /// Bumped when a replica of the pool reconnects: subscriptions made before are gone, and a
    /// subscription that was in flight then must not be recorded.
    epochs: HashMap<u32, u64>,
}

impl Watched {
    /// The pool's epoch and which of `uris` it does not watch yet.
    fn missing<'a>(&self, pool: u32, uris: &[&'a str]) -> (u64, Vec<&'a str>) {
        let inner = self.inner.lock();
        let epoch = inner.epochs.get(&pool).copied().unwrap_or(0);
        let watched = inner.uris.get(&pool);
        let mut missing: Vec<&str> = uris
            .iter()
            .copied()
            .filter(|u| !watched.is_some_and(|w| w.contains(*u)))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        (epoch, missing)
    }

    /// Records `uris` as watched if the pool's epoch is still `epoch` and there is room.
    fn record(&self, pool: u32, epoch: u64, uris: &[&str]) -> bool {
        let mut inner = self.inner.lock();
        if inner.epochs.get(&pool).copied().unwrap_or(0) != epoch
            || inner.len + uris.len() > MAX_WATCHED
        {
            return false;
        }
        let set = inner.uris.entry(pool).or_default();
        let before = set.len();
        set.extend(uris.iter().map(|u| (*u).to_owned()));
        let added = set.len() - before;
        inner.len += added;
        true
    }

    fn has_room_for(&self, n: usize) -> bool {
        self.inner.lock().len + n <= MAX_WATCHED
    }

    /// Whether the cache watches `uri` of `pool`.
    pub(crate) fn holds(&self, pool: u32, uri: &str) -> bool {
        self.inner
            .lock()
            .uris
            .get(&pool)
            .is_some_and(|w| w.contains(uri))
    }

    /// Forget the pool's subscriptions (a replica reconnected, or the pool is gone).
    fn forget_pool(&self, pool: u32) {
        let mut inner = self.inner.lock();
        let dropped = inner.uris.remove(&pool).map_or(0, |w| w.len());
        inner.len -= dropped;
        *inner.epochs.entry(pool).or_default() += 1;
    }

    fn len(&self) -> usize {
        self.inner.lock().len
    }
}

/// What [`AnswerCache::watch`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Every URI was already watched: any change since is announced.
    Already,
    /// Subscriptions were made now: changes from now on are announced, but one made before
    /// (while the answer was being produced) may have gone unheard.
    Subscribed,
    /// A subscription could not be made: answers depending on these URIs must not be stored.
    Failed,
}

impl AnswerCache {
    /// Make sure every ready replica of `pool` announces updates of each of `uris` to the
    /// gateway. An answer may be stored when its URIs were watched before it was asked for:
    /// a resource read subscribes before it is forwarded; a tool answer, whose links are known
    /// only from the answer, is stored only when they were all [`Watch::Already`] watched.
    pub async fn watch(&self, pool: &Pool, uris: &[&str]) -> Watch {
        let (epoch, missing) = self.watched.missing(pool.index(), uris);
        if missing.is_empty() {
            return Watch::Already;
        }
        if !self.watched.has_room_for(missing.len()) {
            metrics::counter!("vecgate_cache_stores_refused_total").increment(1);
            return Watch::Failed;
        }
        let replicas = pool.replicas();
        let ready: Vec<_> = replicas.iter().filter(|r| r.is_ready()).collect();
        let subscribes_at_all = ready.iter().all(|r| {
            r.server()
                .is_some_and(|s| s.capability_flag("resources", "subscribe"))
        });
        if ready.is_empty() || !subscribes_at_all {
            return Watch::Failed;
        }
        let calls = ready.iter().flat_map(|replica| {
            missing.iter().map(move |uri| {
                replica.call(Call {
                    method: Cow::Borrowed("resources/subscribe"),
                    params: Some(to_raw(&serde_json::json!({ "uri": uri }))),
                    events: None,
                    timeout: Some(SUBSCRIBE_TIMEOUT),
                    after: None,
                })
            })
        });
        let answers = futures::future::join_all(calls).await;
        if let Some(error) = answers.iter().find_map(|a| a.as_ref().err()) {
            tracing::debug!(pool = pool.name(), %error, "cache: upstream refused a subscription");
            return Watch::Failed;
        }
        let recorded = self.watched.record(pool.index(), epoch, &missing);
        metrics::gauge!("vecgate_cache_watched_resources").set(self.watched.len() as f64);
        if recorded {
            Watch::Subscribed
        } else {
            Watch::Failed
        }
    }

    /// Drop every answer of a pool that is gone, and forget its subscriptions.
    pub fn forget_pool(&self, pool: u32) {
        self.invalidate_pool(pool);
        self.watched.forget_pool(pool);
    }

    /// Whether the cache holds an upstream subscription to `uri` of `pool`.
    pub fn watches(&self, pool: u32, uri: &str) -> bool {
        self.watched.holds(pool, uri)
    }
}

/// The resource URIs a tool result links: `resource_link` content items and embedded
/// `resource` items (`content[].resource.uri`). Empty when there are none or the result is not
/// a tool result.
pub fn linked_uris(result: &RawValue) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct ToolResult<'a> {
        #[serde(borrow, default)]
        content: Vec<Item<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Item<'a> {
        #[serde(borrow, rename = "type", default)]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        uri: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        resource: Option<Embedded<'a>>,
    }
    #[derive(serde::Deserialize)]
    struct Embedded<'a> {
        #[serde(borrow, default)]
        uri: Option<Cow<'a, str>>,
    }
    let Ok(parsed) = serde_json::from_str::<ToolResult<'_>>(result.get()) else {
        return Vec::new();
    };
    let mut uris: Vec<String> = parsed
        .content
        .into_iter()
        .filter_map(|item| match item.kind.as_deref() {
            Some("resource_link") => item.uri,
            Some("resource") => item.resource.and_then(|r| r.uri),
            _ => None,
        })
        .map(Cow::into_owned)
        .collect();
    uris.sort_unstable();
    uris.dedup();
    uris
}

/// Applies what a pool's replicas announce to the cache, on their readers.
pub struct CacheObserver {
    cache: Arc<AnswerCache>,
    announced: bool,
}

impl CacheObserver {
    /// The observer of one pool; `announced` is its `cache_invalidation = "announced"`.
    pub fn new(cache: Arc<AnswerCache>, announced: bool) -> CacheObserver {
        CacheObserver { cache, announced }
    }
}

impl PoolObserver for CacheObserver {
    fn resource_updated(&self, pool: u32, _replica: u32, uri: &str) {
        let dropped = if self.announced {
            self.cache.invalidate_resource(pool, uri)
        } else {
            // Tool answers of this pool may have been derived from the resource.
            self.cache.invalidate_pool(pool)
        };
        if dropped > 0 {
            metrics::counter!("vecgate_cache_invalidations_total", "cause" => "resource_updated")
                .increment(dropped as u64);
        }
    }

    fn replica_connected(&self, pool: u32, _replica: u32) {
        // A new process may answer differently, and it holds none of the subscriptions.
        self.cache.forget_pool(pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn links_are_resource_links_and_embedded_resources_only() {
        let result = raw(r#"{"content":[
                {"type":"text","text":"3 hits","uri":"file:///not-a-link"},
                {"type":"resource_link","uri":"file:///b.rs","name":"b"},
                {"type":"resource","resource":{"uri":"file:///a.rs","text":"fn a()"}},
                {"type":"resource_link","uri":"file:///b.rs","name":"b again"},
                {"type":"image","data":"","mimeType":"image/png"}
            ],"structuredContent":{"uri":"file:///c.rs"}}"#);
        assert_eq!(linked_uris(&result), ["file:///a.rs", "file:///b.rs"]);
        assert!(linked_uris(&raw(r#"{"contents":[{"uri":"file:///a"}]}"#)).is_empty());
        assert!(linked_uris(&raw("[1]")).is_empty());
    }

    #[test]
    fn a_reconnect_forgets_the_pool_and_refuses_what_was_in_flight() {
        let w = Watched::default();
        let (epoch, missing) = w.missing(0, &["a", "b", "a"]);
        assert_eq!(missing, ["a", "b"]);
        assert!(w.record(0, epoch, &missing));
        assert!(w.holds(0, "a") && !w.holds(1, "a"));
        assert!(w.missing(0, &["a", "c"]).1 == ["c"]);
        let (stale_epoch, _) = w.missing(0, &["c"]);
        w.forget_pool(0);
        assert!(
            !w.holds(0, "a"),
            "a reconnected replica holds no subscription"
        );
        assert!(
            !w.record(0, stale_epoch, &["c"]),
            "a subscription made before the reconnect is not recorded"
        );
        let (epoch, _) = w.missing(0, &["c"]);
        assert!(w.record(0, epoch, &["c"]));
    }

    #[test]
    fn the_observer_drops_only_what_an_announced_update_touches() {
        let cache = Arc::new(AnswerCache::new());
        let anon = crate::auth::Principal::anonymous();
        let read_a = AnswerCache::resource_key(&anon, 0, "demo://kv/a");
        let read_b = AnswerCache::resource_key(&anon, 0, "demo://kv/b");
        let tool = AnswerCache::key_for(&anon, false, 0, "kv_get", None).unwrap();
        let body = raw(r#"{"contents":[]}"#);
        let g = cache.generation();
        cache.put_linked(&read_a, &body, g, &[]);
        cache.put_linked(&read_b, &body, g, &[]);
        cache.put_linked(&tool, &raw(r#"{"content":[]}"#), g, &["demo://kv/a"]);
        let announced = CacheObserver::new(cache.clone(), true);
        announced.resource_updated(0, 0, "demo://kv/a");
        assert!(cache.get(&read_a).is_none() && cache.get(&tool).is_none());
        assert!(cache.get(&read_b).is_some(), "another key's read stays");
        let any_write = CacheObserver::new(cache.clone(), false);
        any_write.resource_updated(0, 0, "demo://kv/zzz");
        assert!(cache.get(&read_b).is_none(), "any-write drops the pool");
    }
}
