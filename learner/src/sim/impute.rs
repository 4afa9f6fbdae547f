//! Completing partial-information records: counterfactual service times are imputed.
//!
//! A recorded trace knows only the replica that served each request and the latency seen
//! there. Replay needs a service time on every replica, so for a record served by `u` with
//! latency `L`, the time on replica `r` is `L × m(tool, r) / m(tool, u)`, where `m(tool, r)` is
//! the mean latency of that tool's requests served by `r` in the trace. When `r` (or `u`)
//! never served the tool, the replica's mean over all tools is used; when a replica served
//! nothing, the observed latency itself. Observed latencies include the recording's queueing,
//! so imputed figures are approximations, and the replay says so.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use vecgate_datasets::{Dataset, Observation};

/// How a workload's partial records were completed (reported with the results).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Imputation {
    /// Records in partial form.
    pub records: usize,
    /// Of those, counterfactuals that fell back to the replica's all-tool mean.
    pub replica_fallbacks: usize,
    /// Of those, counterfactuals that fell back to the observed latency (replica served nothing).
    pub observed_fallbacks: usize,
    /// The rule, in one sentence.
    pub method: &'static str,
}

/// The rule, as reported.
pub const IMPUTATION_METHOD: &str = "service on replica r = observed latency x mean(tool, r) / \
    mean(tool, served replica), means of observed latencies per tool and replica; falling back \
    to per-replica means, then to the observed latency";

/// Imputed service rows (one value per replica of the record's pool) by record index, or
/// `None` when every record has full information.
pub(crate) fn impute_partial(dataset: &Dataset) -> Option<(Imputation, HashMap<usize, Vec<f64>>)> {
    // (pool, tool, replica) -> (sum, count), and (pool, replica) -> (sum, count).
    let mut by_tool: BTreeMap<(&str, &str, &str), (f64, u64)> = BTreeMap::new();
    let mut by_replica: BTreeMap<(&str, &str), (f64, u64)> = BTreeMap::new();
    let mut partial = Vec::new();
    for (i, record) in dataset.records.iter().enumerate() {
        if let Some(Observation::Partial {
            served_by,
            latency_ms,
        }) = record.observation()
        {
            let key = (record.pool.as_str(), record.target.as_str(), served_by);
            let e = by_tool.entry(key).or_default();
            e.0 += latency_ms;
            e.1 += 1;
            let e = by_replica
                .entry((record.pool.as_str(), served_by))
                .or_default();
            e.0 += latency_ms;
            e.1 += 1;
            partial.push(i);
        }
    }
    if partial.is_empty() {
        return None;
    }
    let mean = |e: Option<&(f64, u64)>| e.filter(|e| e.1 > 0).map(|e| e.0 / e.1 as f64);
    let mut note = Imputation {
        records: partial.len(),
        replica_fallbacks: 0,
        observed_fallbacks: 0,
        method: IMPUTATION_METHOD,
    };
    let mut rows = HashMap::with_capacity(partial.len());
    for i in partial {
        let record = &dataset.records[i];
        let Some(Observation::Partial {
            served_by,
            latency_ms,
        }) = record.observation()
        else {
            continue;
        };
        let Some(pool) = dataset.header.pool(&record.pool) else {
            continue;
        };
        let pool_name = record.pool.as_str();
        let tool = record.target.as_str();
        let row = pool
            .replicas
            .iter()
            .map(|r| {
                if r.name == served_by {
                    return latency_ms;
                }
                let tool_ratio = mean(by_tool.get(&(pool_name, tool, r.name.as_str())))
                    .zip(mean(by_tool.get(&(pool_name, tool, served_by))));
                if let Some((there, here)) = tool_ratio.filter(|(_, here)| *here > 0.0) {
                    return latency_ms * there / here;
                }
                let replica_ratio = mean(by_replica.get(&(pool_name, r.name.as_str())))
                    .zip(mean(by_replica.get(&(pool_name, served_by))));
                if let Some((there, here)) = replica_ratio.filter(|(_, here)| *here > 0.0) {
                    note.replica_fallbacks += 1;
                    return latency_ms * there / here;
                }
                note.observed_fallbacks += 1;
                latency_ms
            })
            .collect();
        rows.insert(i, row);
    }
    Some((note, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vecgate_datasets::{Header, PoolSpec, Record, ReplicaSpec};

    fn record(t: f64, tool: &str, served_by: &str, latency: f64) -> Record {
        Record {
            t_ms: t,
            session: String::from("s"),
            pool: String::from("p"),
            method: String::from("tools/call"),
            target: tool.to_owned(),
            args: serde_json::Value::Null,
            service_ms: Default::default(),
            errors: Default::default(),
            served_by: Some(served_by.to_owned()),
            latency_ms: Some(latency),
            answer: None,
            invalidates: Vec::new(),
            links: Vec::new(),
        }
    }

    #[test]
    fn ratios_of_per_tool_means_scale_the_observed_latency() {
        let replica = |name: &str| ReplicaSpec {
            name: name.to_owned(),
            slots: 1,
        };
        let dataset = Dataset {
            header: Header::new(vec![PoolSpec {
                name: String::from("p"),
                replicas: vec![replica("a"), replica("b"), replica("c")],
                cache_invalidation: Default::default(),
            }]),
            records: vec![
                record(0.0, "x", "a", 10.0),
                record(1.0, "x", "b", 30.0),
                record(2.0, "y", "a", 4.0),
                record(3.0, "y", "c", 2.0),
            ],
        };
        let (note, rows) = impute_partial(&dataset).unwrap();
        assert_eq!(note.records, 4);
        // x on a: 10 observed; on b: 10 × 30/10; on c: c never served x, replica means:
        // c = 2, a = 7 -> 10 × 2/7.
        let row = &rows[&0];
        assert_eq!(row[0], 10.0);
        assert!((row[1] - 30.0).abs() < 1e-9);
        assert!((row[2] - 10.0 * 2.0 / 7.0).abs() < 1e-9);
        // y on b: b never served y -> replica means b = 30, a = 7.
        assert!((rows[&2][1] - 4.0 * 30.0 / 7.0).abs() < 1e-9);
        assert_eq!(note.observed_fallbacks, 0);
        assert_eq!(note.replica_fallbacks, 4);
    }
}
