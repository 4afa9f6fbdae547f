//! A dataset compiled for simulation: flat arrays, interned strings, per-request features
//! computed once and shared by every policy run.

use std::collections::HashMap;

use vecgate_datasets::{CacheInvalidation, Dataset, EventKind, Observation};
use vecgate_index::canonical::{Canonicalizer, request_key, tool_key};

use super::error::SimError;
use super::impute::{Imputation, impute_partial};
use crate::time::Nanos;

/// Most replicas a pool may have in replay (errors are kept as a 64-bit mask per request).
pub const MAX_REPLICAS: usize = 64;

/// One replica as the simulator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReplica {
    /// Its name in the dataset.
    pub name: String,
    /// Requests served at once.
    pub slots: u32,
}

/// One pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimPool {
    /// Its name in the dataset.
    pub name: String,
    /// Its replicas, in header order (a replica's index is its [`crate::Candidate::replica`]).
    pub replicas: Vec<SimReplica>,
    /// The pool's server announces what its writes change (`cache_invalidation =
    /// "announced"`): writes drop only the answers of the URIs they announce, resource reads
    /// are cacheable, and nothing is served while a write is in flight.
    pub announced: bool,
}

/// An outage or slowdown of one replica, in trace time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimEvent {
    /// Pool index.
    pub pool: u32,
    /// Replica index within the pool.
    pub replica: u32,
    /// Start (inclusive).
    pub from: Nanos,
    /// End (exclusive).
    pub to: Nanos,
    /// `None` for an outage, `Some(factor)` for a slowdown.
    pub slow_factor: Option<f64>,
}

/// One request, compiled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimRequest {
    /// Arrival time on the trace's clock.
    pub arrival: Nanos,
    /// Pool index.
    pub pool: u32,
    /// Canonical request key (method, target, canonical arguments).
    pub key: u64,
    /// Method + target key.
    pub tool: u64,
    /// Size of the serialized arguments, bytes.
    pub size: u32,
    /// Offset of this request's service times in the workload's flat array (one per replica).
    service_at: u32,
    /// Bit r set: the request fails on replica r.
    pub error_mask: u64,
    /// The answer may be served from a cache.
    pub cacheable: bool,
    /// A `resources/read` (its answer derives from its own URI, [`SimRequest::target`]).
    pub reads_resource: bool,
    /// A `tools/call` of a tool that is not cacheable: a possible write, which drops its
    /// pool's cache entries when it arrives (the gateway's rule).
    pub writes: bool,
    /// Interned answer identity (0 = unknown).
    pub answer: u32,
    /// Interned target (URI or tool name).
    pub target: u32,
    /// Range of interned URIs this request invalidates, in the workload's flat array.
    invalidates: (u32, u32),
    /// Range of interned URIs the answer derives from, in the workload's flat array.
    links: (u32, u32),
}

/// A dataset ready for simulation.
#[derive(Clone, Debug)]
pub struct Workload {
    /// The pools.
    pub pools: Vec<SimPool>,
    /// The requests in arrival order.
    pub requests: Vec<SimRequest>,
    /// Outages and slowdowns.
    pub events: Vec<SimEvent>,
    /// How partial records were completed, if any were.
    pub imputation: Option<Imputation>,
    service: Vec<f64>,
    invalidations: Vec<u32>,
    linked: Vec<u32>,
    /// The canonical text of each request (`method target canonical-args`), kept for the
    /// engine's embedder; empty when compiled without text.
    texts: Vec<RequestText>,
}

/// What an embedder sees of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestText {
    /// JSON-RPC method.
    pub method: String,
    /// Tool, URI or prompt name.
    pub target: String,
    /// Canonical JSON of the arguments.
    pub args: String,
}

impl Workload {
    /// Compiles `dataset`. `keep_text` keeps each request's canonical text (needed when an
    /// engine embeds requests; costs memory proportional to the arguments).
    pub fn from_dataset(dataset: &Dataset, keep_text: bool) -> Result<Workload, SimError> {
        let header = &dataset.header;
        let pools: Vec<SimPool> = header
            .pools
            .iter()
            .map(|p| SimPool {
                name: p.name.clone(),
                replicas: p
                    .replicas
                    .iter()
                    .map(|r| SimReplica {
                        name: r.name.clone(),
                        slots: r.slots.max(1),
                    })
                    .collect(),
                announced: p.cache_invalidation == CacheInvalidation::Announced,
            })
            .collect();
        if let Some(p) = pools.iter().find(|p| p.replicas.len() > MAX_REPLICAS) {
            return Err(SimError::TooManyReplicas {
                pool: p.name.clone(),
                replicas: p.replicas.len(),
                max: MAX_REPLICAS,
            });
        }
        let pool_index: HashMap<&str, usize> = pools
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.as_str(), i))
            .collect();
        let replica_index =
            |pool: usize, name: &str| pools[pool].replicas.iter().position(|r| r.name == name);
        let read_only = header.read_only_tools();
        let mut interner = Interner::default();
        let mut canonicalizer = Canonicalizer::default();
        let mut canonical = String::new();
        let mut raw = String::new();
        let imputed = impute_partial(dataset);

        let mut requests = Vec::with_capacity(dataset.records.len());
        let mut service = Vec::new();
        let mut invalidations = Vec::new();
        let mut linked = Vec::new();
        let mut texts = Vec::new();
        for (i, record) in dataset.records.iter().enumerate() {
            let line = i + 2;
            let bad = |message: String| SimError::Record { line, message };
            let pool = *pool_index
                .get(record.pool.as_str())
                .ok_or_else(|| bad(format!("unknown pool {:?}", record.pool)))?;
            let replicas = &pools[pool].replicas;
            let service_at = service.len() as u32;
            match record.observation() {
                Some(Observation::Full(map)) => {
                    for r in replicas {
                        let ms = map.get(&r.name).copied().ok_or_else(|| {
                            bad(format!("no service_ms for replica {:?}", r.name))
                        })?;
                        service.push(ms);
                    }
                }
                Some(Observation::Partial { .. }) => {
                    let row = imputed
                        .as_ref()
                        .and_then(|(_, rows)| rows.get(&i))
                        .ok_or_else(|| bad(String::from("partial record was not imputed")))?;
                    service.extend_from_slice(row);
                }
                None => return Err(bad(String::from("neither service_ms nor served_by"))),
            }
            let mut error_mask = 0u64;
            for name in record.errors.keys() {
                let r = replica_index(pool, name)
                    .ok_or_else(|| bad(format!("errors names unknown replica {name:?}")))?;
                error_mask |= 1 << r;
            }
            raw.clear();
            if !record.args.is_null() {
                raw.push_str(&record.args.to_string());
            }
            canonical.clear();
            if !raw.is_empty() {
                canonicalizer
                    .canonicalize(&raw, &mut canonical)
                    .map_err(|e| bad(format!("arguments: {e}")))?;
            }
            let name = (!record.target.is_empty()).then_some(record.target.as_str());
            let inv_start = invalidations.len() as u32;
            invalidations.extend(record.invalidates.iter().map(|u| interner.intern(u)));
            let links_start = linked.len() as u32;
            linked.extend(record.links.iter().map(|u| interner.intern(u)));
            // As in the gateway: resources are cached only where their updates are announced.
            let cacheable = record.is_read_only(&read_only)
                && (record.method != "resources/read" || pools[pool].announced);
            requests.push(SimRequest {
                arrival: Nanos::from_ms(record.t_ms),
                pool: pool as u32,
                key: request_key(&record.method, name, &canonical).as_u64(),
                tool: tool_key(&record.method, name),
                size: raw.len().min(u32::MAX as usize) as u32,
                service_at,
                error_mask,
                cacheable,
                reads_resource: record.method == "resources/read",
                writes: record.method == "tools/call" && !record.is_read_only(&read_only),
                answer: record.answer.as_deref().map_or(0, |a| interner.intern(a)),
                target: interner.intern(&record.target),
                invalidates: (inv_start, invalidations.len() as u32),
                links: (links_start, linked.len() as u32),
            });
            if keep_text {
                texts.push(RequestText {
                    method: record.method.clone(),
                    target: record.target.clone(),
                    args: canonical.clone(),
                });
            }
        }
        let mut events = Vec::new();
        for e in &header.events {
            let pool = *pool_index
                .get(e.pool.as_str())
                .ok_or_else(|| SimError::Event {
                    what: "pool",
                    name: e.pool.clone(),
                })?;
            let replica = replica_index(pool, &e.replica).ok_or_else(|| SimError::Event {
                what: "replica",
                name: e.replica.clone(),
            })?;
            events.push(SimEvent {
                pool: pool as u32,
                replica: replica as u32,
                from: Nanos::from_ms(e.from_ms),
                to: Nanos::from_ms(e.to_ms),
                slow_factor: match e.kind {
                    EventKind::Down => None,
                    EventKind::Slow => Some(e.factor),
                },
            });
        }
        Ok(Workload {
            pools,
            requests,
            events,
            imputation: imputed.map(|(note, _)| note),
            service,
            invalidations,
            linked,
            texts,
        })
    }

    /// A workload built from parts (synthetic tests and benches): `service[i]` holds request
    /// i's service time on each replica of its pool.
    pub fn from_parts(
        pools: Vec<SimPool>,
        arrivals: Vec<(Nanos, u32)>,
        service: Vec<Vec<f64>>,
    ) -> Workload {
        let mut flat = Vec::new();
        let requests = arrivals
            .iter()
            .zip(&service)
            .enumerate()
            .map(|(i, (&(arrival, pool), row))| {
                let service_at = flat.len() as u32;
                flat.extend_from_slice(row);
                SimRequest {
                    arrival,
                    pool,
                    key: i as u64,
                    tool: 0,
                    size: 0,
                    service_at,
                    error_mask: 0,
                    cacheable: false,
                    reads_resource: false,
                    writes: false,
                    answer: 0,
                    target: 0,
                    invalidates: (0, 0),
                    links: (0, 0),
                }
            })
            .collect();
        Workload {
            pools,
            requests,
            events: Vec::new(),
            imputation: None,
            service: flat,
            invalidations: Vec::new(),
            linked: Vec::new(),
            texts: Vec::new(),
        }
    }

    /// Request `i`'s service time on each replica of its pool, in ms.
    pub fn service_ms(&self, i: usize) -> &[f64] {
        let r = &self.requests[i];
        let n = self.pools[r.pool as usize].replicas.len();
        let at = r.service_at as usize;
        &self.service[at..at + n]
    }

    /// The interned URIs request `i` invalidates.
    pub fn invalidates(&self, i: usize) -> &[u32] {
        let (a, b) = self.requests[i].invalidates;
        &self.invalidations[a as usize..b as usize]
    }

    /// The interned URIs request `i`'s answer derives from.
    pub fn links(&self, i: usize) -> &[u32] {
        let (a, b) = self.requests[i].links;
        &self.linked[a as usize..b as usize]
    }

    /// Request `i`'s canonical text, if kept.
    pub fn text(&self, i: usize) -> Option<&RequestText> {
        self.texts.get(i)
    }

    /// Offered load of the trace: the work of every request (its slot-weighted mean service
    /// time over its pool's replicas) divided by the trace's duration × all slots. 1.0 means
    /// a perfectly balanced router would keep every slot busy.
    pub fn offered_load(&self) -> f64 {
        let (Some(first), Some(last)) = (self.requests.first(), self.requests.last()) else {
            return 0.0;
        };
        let span_ms = last.arrival.ms_since(first.arrival);
        if span_ms <= 0.0 {
            return 0.0;
        }
        let mut work_per_pool = vec![0.0; self.pools.len()];
        for (i, r) in self.requests.iter().enumerate() {
            let pool = &self.pools[r.pool as usize];
            let slots: f64 = pool.replicas.iter().map(|x| f64::from(x.slots)).sum();
            let weighted: f64 = self
                .service_ms(i)
                .iter()
                .zip(&pool.replicas)
                .map(|(ms, x)| ms * f64::from(x.slots))
                .sum();
            work_per_pool[r.pool as usize] += weighted / slots;
        }
        let slots: f64 = self
            .pools
            .iter()
            .flat_map(|p| &p.replicas)
            .map(|x| f64::from(x.slots))
            .sum();
        work_per_pool.iter().sum::<f64>() / (span_ms * slots)
    }

    /// Rescales arrival (and event) times by `factor` around the first arrival.
    pub fn scale_time(&mut self, factor: f64) {
        let t0 = self.requests.first().map_or(0, |r| r.arrival.0);
        let scale = |t: Nanos| Nanos(t0 + (t.0.saturating_sub(t0) as f64 * factor) as u64);
        for r in &mut self.requests {
            r.arrival = scale(r.arrival);
        }
        for e in &mut self.events {
            e.from = scale(e.from);
            e.to = scale(e.to);
        }
    }

    /// Rescales time so that [`Workload::offered_load`] becomes `load`.
    pub fn set_offered_load(&mut self, load: f64) -> Result<(), SimError> {
        let now = self.offered_load();
        if !(load > 0.0 && load.is_finite()) || now <= 0.0 {
            return Err(SimError::Config {
                key: "load",
                reason: format!("cannot scale a trace with offered load {now:.3} to {load}"),
            });
        }
        self.scale_time(now / load);
        Ok(())
    }
}

/// Maps strings to small ids (0 is reserved for "none").
#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.ids.len() as u32 + 1;
        self.ids.insert(s.to_owned(), id);
        id
    }
}
