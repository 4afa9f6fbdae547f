//! The aggregated catalog: the union of every ready pool's tools, resources, templates and
//! prompts, with the routes back to the pool that owns each item.
//!
//! # Naming rule
//! A tool or prompt name that only one pool exposes is passed through unchanged (hyphens, dots
//! and slashes included). A name that several pools expose is exposed once per pool as
//! `{pool}__{name}` (or always, with `namespace = "always"`). A resulting name longer than 64
//! characters (Claude's limit) keeps its first 55 characters and gets `~` plus 8 hex digits of a
//! stable hash of the full name, so it stays unique and predictable. Resource URIs are never
//! renamed; a URI two pools share routes to the first pool in config order.
//!
//! The catalog is rebuilt when a pool's catalog changes and swapped atomically; `*/list`
//! requests are answered from it without touching any backend.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
pub use vecgate_backends::catalog::ListKind;
use vecgate_backends::catalog::{Catalog, CatalogItem, ToolHints};

use crate::config::NamespaceRule;

/// Claude's limit on tool names.
pub const MAX_NAME_LEN: usize = 64;

/// The list kind of a list method (`tools/list`, …), if `method` is one.
pub fn list_kind(method: &str) -> Option<ListKind> {
    ListKind::ALL.into_iter().find(|k| k.method() == method)
}

/// Where a named tool or prompt lives.
#[derive(Clone, Debug)]
pub struct NamedRoute {
    /// The owning pool.
    pub pool: u32,
    /// The name the pool knows it by.
    pub upstream: Arc<str>,
    /// True when the exposed name differs (params must be rewritten).
    pub renamed: bool,
    /// Tool annotations (defaults per spec for prompts).
    pub hints: ToolHints,
}

/// A snapshot of the union of all pools' catalogs.
#[derive(Default)]
pub struct Aggregate {
    lists: [Vec<Box<RawValue>>; 4],
    tools: HashMap<String, NamedRoute>,
    prompts: HashMap<String, NamedRoute>,
    resources: HashMap<String, u32>,
    /// (literal prefix of the template before its first `{`, pool), longest prefix first.
    template_prefixes: Vec<(String, u32)>,
    /// Pools present, in config order.
    pools: Vec<u32>,
}

/// An invalid pagination cursor.
#[derive(Debug, PartialEq, Eq)]
pub struct BadCursor;

impl Aggregate {
    /// Build from `(pool index, pool name, catalog)` in config order; pools without a catalog
    /// (not ready) contribute nothing.
    pub fn build(pools: &[(u32, &str, Option<Arc<Catalog>>)], rule: NamespaceRule) -> Aggregate {
        let mut agg = Aggregate::default();
        let ready: Vec<(u32, &str, &Catalog)> = pools
            .iter()
            .filter_map(|(i, name, c)| c.as_deref().map(|c| (*i, *name, c)))
            .collect();
        agg.pools = ready.iter().map(|(i, _, _)| *i).collect();

        for kind in [ListKind::Tools, ListKind::Prompts] {
            let items = |c: &'_ Catalog| -> Vec<CatalogItem> {
                match kind {
                    ListKind::Tools => c.tools.clone(),
                    _ => c.prompts.clone(),
                }
            };
            let mut owners: HashMap<String, usize> = HashMap::new();
            for (_, _, c) in &ready {
                for item in items(c) {
                    *owners.entry(item.key.clone()).or_default() += 1;
                }
            }
            // BTreeMap: deterministic order by exposed name (helps client and LLM prompt caches).
            let mut exposed: BTreeMap<String, Box<RawValue>> = BTreeMap::new();
            for (pool, pool_name, c) in &ready {
                for item in items(c) {
                    let shared = owners.get(&item.key).copied().unwrap_or(0) > 1;
                    let rename = rule == NamespaceRule::Always || shared;
                    let name = if rename {
                        exposed_name(pool_name, &item.key)
                    } else {
                        item.key.clone()
                    };
                    let raw = if name != item.key {
                        with_name(&item.raw, &name).unwrap_or_else(|| item.raw.clone())
                    } else {
                        item.raw.clone()
                    };
                    let route = NamedRoute {
                        pool: *pool,
                        upstream: item.key.as_str().into(),
                        renamed: name != item.key,
                        hints: item.annotations,
                    };
                    let routes = match kind {
                        ListKind::Tools => &mut agg.tools,
                        _ => &mut agg.prompts,
                    };
                    if routes.insert(name.clone(), route).is_none() {
                        exposed.insert(name, raw);
                    }
                }
            }
            agg.lists[kind as usize] = exposed.into_values().collect();
        }

        for (pool, _, c) in &ready {
            for item in &c.resources {
                if !agg.resources.contains_key(&item.key) {
                    agg.resources.insert(item.key.clone(), *pool);
                    agg.lists[ListKind::Resources as usize].push(item.raw.clone());
                }
            }
            for item in &c.resource_templates {
                let prefix = item.key.split('{').next().unwrap_or("").to_owned();
                agg.template_prefixes.push((prefix, *pool));
                agg.lists[ListKind::ResourceTemplates as usize].push(item.raw.clone());
            }
        }
        agg.template_prefixes
            .sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        agg
    }

    /// One page of a list: the items and the next cursor, if any. `page_size` 0 = all.
    pub fn page(
        &self,
        kind: ListKind,
        cursor: Option<&str>,
        page_size: usize,
    ) -> Result<(&[Box<RawValue>], Option<String>), BadCursor> {
        let items = &self.lists[kind as usize];
        let start = match cursor {
            None => 0,
            Some(c) => decode_cursor(c).ok_or(BadCursor)?,
        };
        if start > items.len() {
            return Err(BadCursor);
        }
        let end = if page_size == 0 {
            items.len()
        } else {
            (start + page_size).min(items.len())
        };
        let next = (end < items.len()).then(|| encode_cursor(end));
        Ok((&items[start..end], next))
    }

    /// The route of an exposed tool name.
    pub fn tool(&self, name: &str) -> Option<&NamedRoute> {
        self.tools.get(name)
    }

    /// The route of an exposed prompt name.
    pub fn prompt(&self, name: &str) -> Option<&NamedRoute> {
        self.prompts.get(name)
    }

    /// The pool that serves a resource URI: a listed resource, else the longest matching
    /// template prefix, else the only pool if there is exactly one.
    pub fn resource_pool(&self, uri: &str) -> Option<u32> {
        if let Some(p) = self.resources.get(uri) {
            return Some(*p);
        }
        if let Some((_, p)) = self
            .template_prefixes
            .iter()
            .find(|(prefix, _)| !prefix.is_empty() && uri.starts_with(prefix.as_str()))
        {
            return Some(*p);
        }
        match self.pools.as_slice() {
            [only] => Some(*only),
            _ => None,
        }
    }

    /// How many items a list has.
    pub fn count(&self, kind: ListKind) -> usize {
        self.lists[kind as usize].len()
    }

    /// Pools that contributed, in config order.
    pub fn pools(&self) -> &[u32] {
        &self.pools
    }

    /// A digest of the exposed lists, to tell whether a rebuild changed anything a client sees.
    pub fn fingerprint(&self, kind: ListKind) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for item in &self.lists[kind as usize] {
            h.update(item.get().as_bytes());
            h.update(b"\n");
        }
        h.digest()
    }
}

/// `{pool}__{name}`, shortened to [`MAX_NAME_LEN`] with a stable hash suffix when needed.
pub fn exposed_name(pool: &str, name: &str) -> String {
    let full = format!("{pool}__{name}");
    if full.len() <= MAX_NAME_LEN {
        return full;
    }
    let hash = xxhash_rust::xxh3::xxh3_64(full.as_bytes()) as u32;
    let mut cut = MAX_NAME_LEN - 9;
    while !full.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}~{hash:08x}", &full[..cut])
}

/// The object `raw` with its `name` replaced; `None` if `raw` is not an object.
fn with_name(raw: &RawValue, name: &str) -> Option<Box<RawValue>> {
    let mut map: BTreeMap<String, Box<RawValue>> = serde_json::from_str(raw.get()).ok()?;
    map.insert(
        "name".to_owned(),
        serde_json::value::to_raw_value(name).ok()?,
    );
    serde_json::value::to_raw_value(&map).ok()
}

/// `params` with `name` replaced (for a renamed tool or prompt); other fields kept raw.
pub fn rename_params(params: &RawValue, name: &str) -> Option<Box<RawValue>> {
    with_name(params, name)
}

fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("vg1:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("vg1:")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_uniquely_within_the_limit() {
        assert_eq!(exposed_name("fs", "read-file.v2/x"), "fs__read-file.v2/x");
        let a = exposed_name("pool", &"a".repeat(80));
        let b = exposed_name("pool", &format!("{}b", "a".repeat(79)));
        assert!(a.len() <= MAX_NAME_LEN && b.len() <= MAX_NAME_LEN);
        assert_ne!(a, b);
        assert_eq!(a, exposed_name("pool", &"a".repeat(80)), "stable");
        let unicode = exposed_name("p", &"é".repeat(60));
        assert!(unicode.len() <= MAX_NAME_LEN);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(250)), Some(250));
        assert_eq!(decode_cursor("nope"), None);
        let agg = Aggregate::default();
        assert_eq!(
            agg.page(ListKind::Tools, Some("nope"), 10).err(),
            Some(BadCursor)
        );
        let (items, next) = agg.page(ListKind::Tools, None, 10).unwrap();
        assert!(items.is_empty() && next.is_none());
    }

    #[test]
    fn renaming_keeps_unknown_fields() {
        let raw =
            RawValue::from_string(r#"{"name":"x","x-extra":{"a":1},"inputSchema":{}}"#.into())
                .unwrap();
        let renamed = with_name(&raw, "p__x").unwrap();
        let v: serde_json::Value = serde_json::from_str(renamed.get()).unwrap();
        assert_eq!(v["name"], "p__x");
        assert_eq!(v["x-extra"]["a"], 1);
    }

    fn item(key: &str, json: &str) -> CatalogItem {
        CatalogItem {
            key: key.to_owned(),
            raw: RawValue::from_string(json.to_owned()).unwrap(),
            annotations: ToolHints::default(),
        }
    }

    fn catalog(tools: &[&str], resources: &[&str]) -> Arc<Catalog> {
        let server = Arc::new(vecgate_backends::catalog::ServerInfo {
            protocol_version: "2025-11-25".into(),
            capabilities: RawValue::from_string("{}".into()).unwrap(),
            server_info: RawValue::from_string("null".into()).unwrap(),
            instructions: None,
            stateless: false,
        });
        let mut c = Catalog::empty(server);
        c.tools = tools
            .iter()
            .map(|t| item(t, &format!(r#"{{"name":"{t}","x-keep":1}}"#)))
            .collect();
        c.resources = resources
            .iter()
            .map(|u| item(u, &format!(r#"{{"uri":"{u}","name":"r"}}"#)))
            .collect();
        c.resource_templates = vec![item("tpl://{id}", r#"{"uriTemplate":"tpl://{id}"}"#)];
        Arc::new(c)
    }

    #[test]
    fn shared_names_are_namespaced_and_unique_ones_kept() {
        let pools = vec![
            (
                0,
                "alpha",
                Some(catalog(&["search", "a.only/x"], &["file:///a"])),
            ),
            (
                1,
                "beta",
                Some(catalog(&["search", "b-only"], &["file:///a", "file:///b"])),
            ),
            (2, "down", None),
        ];
        let agg = Aggregate::build(&pools, NamespaceRule::OnConflict);
        let names: Vec<String> = agg
            .page(ListKind::Tools, None, 0)
            .unwrap()
            .0
            .iter()
            .map(|r| {
                serde_json::from_str::<serde_json::Value>(r.get()).unwrap()["name"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            ["a.only/x", "alpha__search", "b-only", "beta__search"]
        );
        let route = agg.tool("beta__search").unwrap();
        assert_eq!(
            (route.pool, &*route.upstream, route.renamed),
            (1, "search", true)
        );
        assert!(!agg.tool("b-only").unwrap().renamed);
        assert!(agg.tool("search").is_none());
        assert_eq!(
            agg.resource_pool("file:///a"),
            Some(0),
            "first pool in config order wins"
        );
        assert_eq!(agg.resource_pool("file:///b"), Some(1));
        assert_eq!(agg.resource_pool("tpl://42"), Some(0));
        assert_eq!(agg.resource_pool("nowhere://x"), None);
        assert_eq!(agg.count(ListKind::Resources), 2);
        assert_eq!(agg.pools(), &[0, 1]);

        let always = Aggregate::build(&pools, NamespaceRule::Always);
        assert!(always.tool("alpha__a.only/x").is_some());
    }

    #[test]
    fn pagination_walks_a_large_catalog() {
        let names: Vec<String> = (0..353).map(|i| format!("tool_{i:03}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let agg = Aggregate::build(
            &[(0, "flow", Some(catalog(&refs, &[])))],
            NamespaceRule::OnConflict,
        );
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        let mut pages = 0;
        loop {
            let (items, next) = agg.page(ListKind::Tools, cursor.as_deref(), 100).unwrap();
            seen += items.len();
            pages += 1;
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!((seen, pages), (353, 4));
    }
}
