//! The on-disk types: one [`Header`] line, then one [`Record`] line per request.
//!
//! Field names are the JSON names; `datasets/README.md` documents each with an example. Every
//! struct denies unknown fields so a typo (`servce_ms`) is an error rather than missing data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format version written in [`Header::vecgate_dataset`].
pub const FORMAT_VERSION: u32 = 1;

/// A whole dataset in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The first line.
    pub header: Header,
    /// The requests, in arrival order.
    pub records: Vec<Record>,
}

/// The first line of a dataset: what the replicas are.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// The format version; must be [`FORMAT_VERSION`].
    pub vecgate_dataset: u32,
    /// The generator scenario that produced the file, if generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// The generator seed, if generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Free text: where the data came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The pools requests are routed within; at least one.
    pub pools: Vec<PoolSpec>,
    /// Tool annotations (only `read_only` matters to replay: it makes a tool cacheable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Replica outages and slowdowns on the dataset's clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ReplicaEvent>,
}

/// A pool: a set of interchangeable replicas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolSpec {
    /// The pool's name, referenced by [`Record::pool`].
    pub name: String,
    /// The replicas; at least one, names unique within the pool.
    pub replicas: Vec<ReplicaSpec>,
    /// How cached answers of the pool are invalidated: the gateway's `cache_invalidation`
    /// setting the pool would run with.
    #[serde(default, skip_serializing_if = "CacheInvalidation::is_default")]
    pub cache_invalidation: CacheInvalidation,
}

/// When cached answers of a pool stop being served (the gateway's per-pool
/// `cache_invalidation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheInvalidation {
    /// Any call of a tool that is not cacheable (a possible write) drops every answer of the
    /// pool: the gateway cannot know what it changed.
    #[default]
    AnyWrite,
    /// The server announces every resource a write changes (`invalidates`) and tool answers
    /// name the resources they derive from (`links`): a write drops only the reads of the
    /// announced URIs and the answers linking them, and nothing is served while a write is in
    /// flight. Resource reads are cached only in such pools.
    Announced,
}

impl CacheInvalidation {
    fn is_default(&self) -> bool {
        *self == CacheInvalidation::AnyWrite
    }
}

/// One replica of a pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaSpec {
    /// The replica's name, referenced by [`Record::service_ms`] keys.
    pub name: String,
    /// How many requests it serves at once (its concurrency); further requests queue FIFO.
    pub slots: u32,
}

/// Annotations of one tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// The tool name, as in [`Record::target`] of `tools/call` records.
    pub name: String,
    /// MCP's `readOnlyHint`: answers may be cached.
    #[serde(default)]
    pub read_only: bool,
}

/// What happens to a replica during `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The replica is unreachable: it is unhealthy and requests sent to it fail at once.
    Down,
    /// Every service time on the replica is multiplied by [`ReplicaEvent::factor`].
    Slow,
}

/// An outage or slowdown of one replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicaEvent {
    /// The pool.
    pub pool: String,
    /// The replica within the pool.
    pub replica: String,
    /// Start, on the records' clock (ms).
    pub from_ms: f64,
    /// End (exclusive), ms.
    pub to_ms: f64,
    /// Outage or slowdown.
    pub kind: EventKind,
    /// Slowdown factor (> 0); ignored for `down`.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub factor: f64,
}

fn one() -> f64 {
    1.0
}

fn is_one(x: &f64) -> bool {
    *x == 1.0
}

/// One request and what it cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Arrival time in ms since the start of the trace; non-decreasing along the file.
    pub t_ms: f64,
    /// The session (or agent) that sent it.
    pub session: String,
    /// The pool it is routed within.
    pub pool: String,
    /// The JSON-RPC method (`tools/call`, `resources/read`, …).
    pub method: String,
    /// The tool name (`tools/call`), URI (`resources/read`) or prompt name; empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// The arguments, as sent (`null` when none).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub args: Value,
    /// Full information: the request's service time on every replica of its pool, in ms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub service_ms: BTreeMap<String, f64>,
    /// Replicas on which the request fails, with the error (absent = success).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, String>,
    /// Partial information: the replica that served the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// Partial information: the latency observed on [`Record::served_by`], in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Identity of the true answer at this moment (any string; equal strings = equal answers).
    /// Replay's cache model counts a cache hit as wrong when the cached answer differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// Resource URIs the backend announces as updated after this request
    /// (`notifications/resources/updated`); the cache drops entries for those URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalidates: Vec<String>,
    /// Resource URIs the answer was derived from, as its result names them (`resource_link`
    /// content): in an `announced` pool, an update of any of them drops the cached answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
}

/// How much a record says about its cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observation<'a> {
    /// Service time on every replica.
    Full(&'a BTreeMap<String, f64>),
    /// Only the replica used and the latency seen there.
    Partial {
        /// The replica that served the request.
        served_by: &'a str,
        /// Its latency, ms.
        latency_ms: f64,
    },
}

impl Record {
    /// Which form the record is in, or `None` when it carries neither (the validator rejects
    /// such records).
    pub fn observation(&self) -> Option<Observation<'_>> {
        if !self.service_ms.is_empty() {
            return Some(Observation::Full(&self.service_ms));
        }
        match (&self.served_by, self.latency_ms) {
            (Some(served_by), Some(latency_ms)) => Some(Observation::Partial {
                served_by,
                latency_ms,
            }),
            _ => None,
        }
    }

    /// True when the answer may come from a cache: `resources/read`, or a `tools/call` of a tool
    /// annotated read-only in `tools`.
    pub fn is_read_only(&self, tools: &BTreeMap<&str, bool>) -> bool {
        match self.method.as_str() {
            "resources/read" => true,
            "tools/call" => tools.get(self.target.as_str()).copied().unwrap_or(false),
            _ => false,
        }
    }
}

impl Header {
    /// A header for `pools`, no annotations and no events.
    pub fn new(pools: Vec<PoolSpec>) -> Header {
        Header {
            vecgate_dataset: FORMAT_VERSION,
            scenario: None,
            seed: None,
            description: String::new(),
            pools,
            tools: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The read-only annotation of every tool, by name.
    pub fn read_only_tools(&self) -> BTreeMap<&str, bool> {
        self.tools
            .iter()
            .map(|t| (t.name.as_str(), t.read_only))
            .collect()
    }

    /// The pool named `name`.
    pub fn pool(&self, name: &str) -> Option<&PoolSpec> {
        self.pools.iter().find(|p| p.name == name)
    }
}
