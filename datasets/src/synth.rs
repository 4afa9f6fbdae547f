//! Request mixes drawn from a server's own catalog, for recording real traces.
//!
//! `vecgate dataset record` measures real servers; what it sends comes from here: tools and
//! resources the server lists, with arguments filled in from each tool's `inputSchema`. Values
//! repeat the way real traffic does: every argument name has a small vocabulary (shared by all
//! tools, so `kv_put {key}` and `kv_get {key}` touch the same keys) drawn Zipf-skewed, so some
//! requests recur exactly (the cache's case) and some values (a repository, a path) recur with
//! different companions (the router's case). Generation is a pure function of the inputs and
//! the seed.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::{Map, Value};

use crate::scenario::common::{WORDS, exp_gap, filler, mix};

/// A tool a mix may call.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolShape {
    /// The tool's name.
    pub name: String,
    /// Its `inputSchema` (a JSON Schema object; `{}` when absent).
    pub input_schema: Value,
}

/// One pool's callable surface.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSurface {
    /// The pool's name.
    pub pool: String,
    /// Tools to call.
    pub tools: Vec<ToolShape>,
    /// Resource URIs to read.
    pub resources: Vec<String>,
}

/// Settings of a mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MixConfig {
    /// Requests to draw.
    pub requests: usize,
    /// Seed of every choice.
    pub seed: u64,
    /// Share of `resources/read` among requests of a pool that lists resources.
    pub resource_share: f64,
    /// Distinct values per argument name.
    pub vocabulary: usize,
    /// Zipf exponent of value and resource popularity.
    pub zipf: f64,
    /// Sessions the requests are spread over.
    pub sessions: usize,
}

impl Default for MixConfig {
    fn default() -> MixConfig {
        MixConfig {
            requests: 2_000,
            seed: 1,
            resource_share: 0.2,
            vocabulary: 40,
            zipf: 1.1,
            sessions: 8,
        }
    }
}

/// One request of a mix.
#[derive(Clone, Debug, PartialEq)]
pub struct MixRequest {
    /// The session that sends it.
    pub session: String,
    /// Index into the surfaces given to [`draw`].
    pub pool: usize,
    /// `tools/call` or `resources/read`.
    pub method: &'static str,
    /// Tool name or resource URI.
    pub target: String,
    /// `params.arguments` (`Null` for resource reads).
    pub args: Value,
}

/// Draws `cfg.requests` requests over `surfaces` (pools chosen uniformly, then a resource read
/// with probability `resource_share` when the pool lists resources, else a tool uniformly).
/// Pools with neither tools nor resources are never chosen; with none usable the mix is empty.
pub fn draw(surfaces: &[PoolSurface], cfg: &MixConfig) -> Vec<MixRequest> {
    let usable: Vec<usize> = (0..surfaces.len())
        .filter(|&i| !surfaces[i].tools.is_empty() || !surfaces[i].resources.is_empty())
        .collect();
    if usable.is_empty() {
        return Vec::new();
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let vocabulary = cfg.vocabulary.max(1);
    let zipf = |n: usize| Zipf::new(n.max(1) as f64, cfg.zipf.max(0.01)).ok();
    let value_pick = zipf(vocabulary);
    let mut out = Vec::with_capacity(cfg.requests);
    for _ in 0..cfg.requests {
        let pool = usable[rng.random_range(0..usable.len())];
        let surface = &surfaces[pool];
        let session = format!("rec-{}", rng.random_range(0..cfg.sessions.max(1)));
        let read = !surface.resources.is_empty()
            && (surface.tools.is_empty() || rng.random::<f64>() < cfg.resource_share);
        if read {
            let rank = zipf(surface.resources.len())
                .map_or(1, |z| z.sample(&mut rng) as usize)
                .clamp(1, surface.resources.len());
            out.push(MixRequest {
                session,
                pool,
                method: "resources/read",
                target: surface.resources[rank - 1].clone(),
                args: Value::Null,
            });
            continue;
        }
        let tool = &surface.tools[rng.random_range(0..surface.tools.len())];
        let mut pick = || {
            value_pick
                .as_ref()
                .map_or(0, |z| z.sample(&mut rng) as u64 - 1)
        };
        let args = arguments(&tool.input_schema, cfg.seed, &mut pick);
        out.push(MixRequest {
            session,
            pool,
            method: "tools/call",
            target: tool.name.clone(),
            args,
        });
    }
    out
}

/// `n` Poisson arrival times at rate 1 per ms, starting at 0 (scale them with
/// [`crate::calibrate_round_robin`] once service times are known).
pub fn poisson_arrivals(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(mix(seed, 0x6172_7269_7665));
    let mut t = 0.0;
    (0..n)
        .map(|i| {
            if i > 0 {
                t += exp_gap(&mut rng);
            }
            t
        })
        .collect()
}

/// Arguments for a schema: every required property, plus each optional one half of the time
/// (decided by the value rank, so it is part of the repeated value). Properties are filled in
/// name order, so the draw does not depend on the server's key order.
fn arguments(schema: &Value, seed: u64, pick: &mut dyn FnMut() -> u64) -> Value {
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let sorted: BTreeMap<&String, &Value> = properties.iter().collect();
    let mut out = Map::new();
    for (name, property) in sorted {
        let rank = pick();
        if !required.contains(&name.as_str()) && rank % 2 == 1 {
            continue;
        }
        out.insert(name.clone(), value(name, property, seed, rank));
    }
    Value::Object(out)
}

/// The `rank`-th value of argument `name`: the same (name, rank, seed) always gives the same
/// value, whichever tool asks.
fn value(name: &str, schema: &Value, seed: u64, rank: u64) -> Value {
    let name_hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut rng = StdRng::seed_from_u64(mix(mix(seed, name_hash), rank));
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.is_empty()
    {
        return choices[(rank as usize) % choices.len()].clone();
    }
    let number = |rng: &mut StdRng| {
        let min = schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0);
        let max = schema
            .get("maximum")
            .and_then(Value::as_f64)
            .unwrap_or(min + 99.0)
            .max(min);
        (min, max, rng.random::<f64>())
    };
    match schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
    {
        "integer" => {
            let (min, max, u) = number(&mut rng);
            Value::from((min + u * (max - min)).round() as i64)
        }
        "number" => {
            let (min, max, u) = number(&mut rng);
            Value::from(((min + u * (max - min)) * 100.0).round() / 100.0)
        }
        "boolean" => Value::Bool(rank.is_multiple_of(2)),
        "array" => {
            let item = schema.get("items").cloned().unwrap_or(Value::Null);
            let n = rng.random_range(1..4);
            Value::Array(
                (0..n)
                    .map(|k| value(name, &item, seed, rank * 4 + k))
                    .collect(),
            )
        }
        "object" => arguments(schema, seed, &mut || rng.random_range(0..8)),
        _ => Value::String(text(&mut rng)),
    }
}

/// A string: mostly a few words, sometimes a long passage (sizes span 1 to 4 KiB, so servers
/// whose cost grows with input size show it).
fn text(rng: &mut StdRng) -> String {
    if rng.random::<f64>() < 0.2 {
        let len = 1usize << rng.random_range(8..13);
        return filler(rng, len);
    }
    let words = rng.random_range(1..5);
    (0..words)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn surface() -> PoolSurface {
        PoolSurface {
            pool: "demo".into(),
            tools: vec![
                ToolShape {
                    name: "kv_put".into(),
                    input_schema: json!({"type": "object",
                        "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                        "required": ["key", "value"]}),
                },
                ToolShape {
                    name: "kv_get".into(),
                    input_schema: json!({"type": "object",
                        "properties": {"key": {"type": "string"}, "n": {"type": "integer", "minimum": 2, "maximum": 5}},
                        "required": ["key"]}),
                },
            ],
            resources: vec!["demo://a".into(), "demo://b".into()],
        }
    }

    #[test]
    fn mixes_are_deterministic_repeat_values_and_respect_schemas() {
        let cfg = MixConfig {
            requests: 500,
            ..MixConfig::default()
        };
        let a = draw(&[surface()], &cfg);
        assert_eq!(a, draw(&[surface()], &cfg), "same seed, same mix");
        assert_ne!(a, draw(&[surface()], &MixConfig { seed: 2, ..cfg }));
        let reads = a.iter().filter(|r| r.method == "resources/read").count();
        assert!((50..150).contains(&reads), "{reads} reads of 500");
        let keys = |tool: &str| -> std::collections::BTreeSet<String> {
            a.iter()
                .filter(|r| r.target == tool)
                .map(|r| r.args["key"].as_str().unwrap().to_owned())
                .collect()
        };
        assert!(
            keys("kv_get").intersection(&keys("kv_put")).count() > 5,
            "argument vocabularies are shared between tools"
        );
        for r in a.iter().filter(|r| r.target == "kv_get") {
            if let Some(n) = r.args.get("n") {
                assert!((2..=5).contains(&n.as_i64().unwrap()), "{n}");
            }
        }
        let distinct: std::collections::BTreeSet<String> = a
            .iter()
            .map(|r| format!("{}{}", r.target, r.args))
            .collect();
        assert!(
            distinct.len() < 400,
            "Zipf values repeat: {} distinct",
            distinct.len()
        );
    }

    #[test]
    fn an_empty_surface_gives_an_empty_mix() {
        let empty = PoolSurface {
            pool: "x".into(),
            tools: vec![],
            resources: vec![],
        };
        assert!(draw(&[empty], &MixConfig::default()).is_empty());
    }
}
