//! Pieces every generator shares: noise, rounding, text, record assembly and rate calibration.

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};
use serde_json::Value;

use crate::format::{CacheInvalidation, Dataset, PoolSpec, Record, ReplicaSpec};

/// A mean-one lognormal factor with log-standard-deviation `sigma`.
pub(crate) fn lognormal(rng: &mut StdRng, sigma: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    (sigma * z - sigma * sigma / 2.0).exp()
}

/// A standard normal draw.
pub(crate) fn normal(rng: &mut StdRng) -> f64 {
    StandardNormal.sample(rng)
}

/// Rounds to microseconds, which keeps files small without changing any percentile that matters.
pub(crate) fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// A pool of `replicas` named `<prefix>0..`, each with its slot count.
pub(crate) fn pool(name: &str, prefix: &str, slots: &[u32]) -> PoolSpec {
    PoolSpec {
        name: name.to_owned(),
        replicas: slots
            .iter()
            .enumerate()
            .map(|(i, &slots)| ReplicaSpec {
                name: format!("{prefix}{i}"),
                slots,
            })
            .collect(),
        cache_invalidation: CacheInvalidation::AnyWrite,
    }
}

/// Everything a generator decides about one request; [`Draft::into_record`] makes the record.
pub(crate) struct Draft {
    /// Arrival time in the generator's own units (calibration rescales it).
    pub(crate) t: f64,
    pub(crate) session: String,
    pub(crate) pool: &'static str,
    pub(crate) method: &'static str,
    pub(crate) target: String,
    pub(crate) args: Value,
    /// Service time per replica, in the pool's replica order.
    pub(crate) service_ms: Vec<f64>,
    /// Failing replicas (by position) and their error.
    pub(crate) errors: Vec<(usize, &'static str)>,
    pub(crate) answer: Option<String>,
    pub(crate) invalidates: Vec<String>,
    /// Resources the answer derives from (its result's `resource_link` URIs).
    pub(crate) links: Vec<String>,
}

impl Draft {
    /// The on-disk record, with replica names taken from `pool`.
    pub(crate) fn into_record(self, pool: &PoolSpec) -> Record {
        let name = |i: usize| pool.replicas[i].name.clone();
        Record {
            t_ms: self.t,
            session: self.session,
            pool: self.pool.to_owned(),
            method: self.method.to_owned(),
            target: self.target,
            args: self.args,
            service_ms: self
                .service_ms
                .iter()
                .enumerate()
                .map(|(i, &ms)| (name(i), round_ms(ms.max(0.001))))
                .collect(),
            errors: self
                .errors
                .iter()
                .map(|&(i, e)| (name(i), e.to_owned()))
                .collect(),
            served_by: None,
            latency_ms: None,
            answer: self.answer,
            invalidates: self.invalidates,
            links: self.links,
        }
    }
}

/// Exponential inter-arrival gap with rate 1.
pub(crate) fn exp_gap(rng: &mut StdRng) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

/// Words for argument text, grouped so a cluster index picks a consistent vocabulary.
pub(crate) const WORDS: &[&str] = &[
    "auth", "billing", "cache", "deploy", "invoice", "ledger", "login", "metrics", "payment",
    "profile", "queue", "refund", "report", "router", "schema", "search", "session", "shipping",
    "signup", "storage", "token", "upload", "user", "webhook", "audit", "backup", "config",
    "export", "gateway", "index", "import", "notify",
];

/// A short phrase of `n` words drawn around `cluster` (so phrases of one cluster share words).
pub(crate) fn phrase(rng: &mut StdRng, cluster: usize, n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        let spread = if i == 0 { 0 } else { rng.random_range(0..4) };
        out.push_str(WORDS[(cluster * 3 + spread) % WORDS.len()]);
    }
    out
}

/// Filler text of about `len` bytes (sizes matter to service time, content does not): six
/// random words repeated, so committed datasets compress well.
pub(crate) fn filler(rng: &mut StdRng, len: usize) -> String {
    let words: Vec<&str> = (0..6)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect();
    let mut out = String::with_capacity(len + 12);
    let mut i = 0;
    while out.len() < len {
        out.push_str(words[i % words.len()]);
        out.push(' ');
        i += 1;
    }
    out.truncate(len);
    out
}

/// Round-robin's peak utilisation: records are assigned to replicas in turn with one counter
/// shared by all pools (record k of the file goes to replica `k mod n` of its pool, header
/// order, as the `round-robin` policy does on healthy pools); for every window of `window` consecutive records of a pool, each
/// replica's busy time is divided by the window's duration × its slots. Returns the maximum
/// over windows, replicas and pools (0 when no window has a positive duration).
pub fn round_robin_peak_utilisation(dataset: &Dataset, window: usize) -> f64 {
    let window = window.max(2);
    let mut peak: f64 = 0.0;
    for pool in &dataset.header.pools {
        let records: Vec<(usize, &Record)> = dataset
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.pool == pool.name)
            .collect();
        let n = pool.replicas.len();
        let mut start = 0;
        while start < records.len() {
            // The last window takes the remainder, or merges it when it is short.
            let mut end = (start + window).min(records.len());
            if records.len() - end < window / 2 {
                end = records.len();
            }
            let span = records[end - 1].1.t_ms - records[start].1.t_ms;
            if span > 0.0 {
                let mut busy = vec![0.0; n];
                for &(k, r) in &records[start..end] {
                    let replica = k % n;
                    busy[replica] += service_or_latency(r, &pool.replicas[replica].name);
                }
                for (b, spec) in busy.iter().zip(&pool.replicas) {
                    peak = peak.max(b / (span * f64::from(spec.slots)));
                }
            }
            start = end;
        }
    }
    peak
}

fn service_or_latency(record: &Record, replica: &str) -> f64 {
    record
        .service_ms
        .get(replica)
        .copied()
        .or(record.latency_ms)
        .unwrap_or(0.0)
}

/// Scales every arrival time (and event time) so that [`round_robin_peak_utilisation`] equals
/// `target`. Times are rounded to microseconds afterwards.
pub fn calibrate_round_robin(dataset: &mut Dataset, target: f64, window: usize) {
    let peak = round_robin_peak_utilisation(dataset, window);
    if peak <= 0.0 || target <= 0.0 {
        return;
    }
    let factor = peak / target;
    let t0 = dataset.records.first().map_or(0.0, |r| r.t_ms);
    for record in &mut dataset.records {
        record.t_ms = round_ms((record.t_ms - t0) * factor);
    }
    for event in &mut dataset.header.events {
        event.from_ms = round_ms((event.from_ms - t0) * factor);
        event.to_ms = round_ms((event.to_ms - t0) * factor);
    }
}

/// Builds a JSON object from `(key, value)` pairs, in the given order.
pub(crate) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// A stable 64-bit mix of small integers (for deterministic per-key choices).
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b)
        .wrapping_add(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-(row, replica) log-speed terms drawn once: `table[row][replica]`.
pub(crate) fn log_terms(
    rng: &mut StdRng,
    rows: usize,
    replicas: usize,
    sigma: f64,
) -> Vec<Vec<f64>> {
    (0..rows)
        .map(|_| (0..replicas).map(|_| sigma * normal(rng)).collect())
        .collect()
}

/// Turns drafts into a dataset; drafts must be sorted by `t` already.
pub(crate) fn assemble(
    mut header: crate::format::Header,
    drafts: Vec<Draft>,
    description: &str,
) -> Dataset {
    header.description = description.to_owned();
    let pools: BTreeMap<String, PoolSpec> = header
        .pools
        .iter()
        .map(|p| (p.name.clone(), p.clone()))
        .collect();
    let records = drafts
        .into_iter()
        .map(|d| {
            let pool = &pools[d.pool];
            d.into_record(pool)
        })
        .collect();
    Dataset { header, records }
}
