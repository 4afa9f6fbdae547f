//! `swarm`: sessions shaped like a claude-flow swarm, over two pools.
//!
//! A session initialises a swarm (`swarm_init`), spawns 2–8 agents (`agent_spawn`), hands out
//! a task (`task_orchestrate`), then each agent loops: route a step (`hooks_route`), search and
//! store shared memory (`memory_search`, `memory_store`), call integration tools from a
//! 300-tool catalog, and check status. The `claude-flow` pool serves the swarm's own tools; the
//! `catalog` pool serves the integrations.
//!
//! What a router can learn: memory calls are 3× faster on the replica that holds the swarm's
//! namespace warm; `memory_search` slows as the namespace fills; `hooks_route` is slow on one
//! replica; each catalog family has its own replica preferences. A `memory_search` answer
//! changes with every store into its namespace (no invalidation is announced), so caching it
//! shows up as wrong hits.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::common::{
    Draft, assemble, exp_gap, filler, log_terms, lognormal, mix, normal, object, phrase, pool,
};
use crate::format::{Dataset, Header, ToolSpec};

const CF_REPLICAS: usize = 4;
const CATALOG_REPLICAS: usize = 3;
const FAMILIES: [&str; 20] = [
    "github", "gitlab", "jira", "slack", "fs", "db", "k8s", "docker", "s3", "gcp", "web",
    "browser", "npm", "pypi", "sentry", "datadog", "linear", "notion", "figma", "stripe",
];
const VERBS: [(&str, bool); 15] = [
    ("list", true),
    ("get", true),
    ("create", false),
    ("update", false),
    ("delete", false),
    ("search", true),
    ("analyze", true),
    ("sync", false),
    ("export", true),
    ("import", false),
    ("watch", true),
    ("summarize", true),
    ("validate", true),
    ("deploy", false),
    ("review", true),
];
const AGENT_TYPES: [&str; 8] = [
    "coder",
    "researcher",
    "tester",
    "reviewer",
    "architect",
    "analyst",
    "optimizer",
    "documenter",
];
const TOPOLOGIES: [&str; 4] = ["hierarchical", "mesh", "ring", "star"];
const NOISE_SIGMA: f64 = 0.3;
/// Mean gap between session starts and between an agent's steps (generator time units).
const SESSION_GAP: f64 = 400.0;
const STEP_GAP: f64 = 150.0;

/// What one call is, before its cost is known (costs depend on state in time order).
enum Call {
    Init,
    Spawn,
    Orchestrate,
    Store { value_len: usize },
    Search,
    Route,
    Status,
    Catalog { tool: usize },
}

struct Pending {
    t: f64,
    swarm: usize,
    session: String,
    call: Call,
    target: String,
    args: Value,
}

/// The 300 integration tool names (`<family>_<verb>`) and whether each is read-only.
fn catalog() -> Vec<(String, bool)> {
    FAMILIES
        .iter()
        .flat_map(|f| VERBS.iter().map(move |(v, ro)| (format!("{f}_{v}"), *ro)))
        .collect()
}

/// `n` records from overlapping swarm sessions.
pub(crate) fn generate(n: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let tools = catalog();
    let family_term = log_terms(&mut rng, FAMILIES.len(), CATALOG_REPLICAS, 0.6);
    let tool_base: Vec<f64> = (0..tools.len())
        .map(|_| {
            (20f64.ln() + 0.8 * normal(&mut rng))
                .exp()
                .clamp(2.0, 400.0)
        })
        .collect();
    let cf_speed: Vec<f64> = (0..CF_REPLICAS)
        .map(|_| (0.1 * normal(&mut rng)).exp())
        .collect();

    // Sessions start in time order, so once a session starts after the n-th earliest call no
    // later session can change the first n calls.
    let mut calls: Vec<Pending> = Vec::new();
    let mut start = 0.0;
    let mut swarm = 0;
    loop {
        while calls.len() < n + n / 4 + 64 {
            start += SESSION_GAP * exp_gap(&mut rng);
            session_calls(&mut rng, swarm, start, tools.len(), &mut calls);
            swarm += 1;
        }
        calls.sort_by(|a, b| a.t.total_cmp(&b.t));
        if calls.len() >= n && start > calls[n - 1].t {
            break;
        }
        // Not enough: grow the target and continue generating after `start`.
        let more = calls.len() + n / 4 + 64;
        while calls.len() < more {
            start += SESSION_GAP * exp_gap(&mut rng);
            session_calls(&mut rng, swarm, start, tools.len(), &mut calls);
            swarm += 1;
        }
    }
    calls.truncate(n);

    let mut stores: BTreeMap<usize, usize> = BTreeMap::new();
    let mut agents: BTreeMap<usize, usize> = BTreeMap::new();
    let drafts = calls
        .into_iter()
        .map(|c| {
            let home = (mix(seed, c.swarm as u64) % CF_REPLICAS as u64) as usize;
            let entries = stores.get(&c.swarm).copied().unwrap_or(0);
            let mut answer = None;
            let (pool_name, service_ms, errors) = match c.call {
                Call::Catalog { tool } => {
                    let family = tool / VERBS.len();
                    let service: Vec<f64> = (0..CATALOG_REPLICAS)
                        .map(|r| {
                            tool_base[tool]
                                * family_term[family][r].exp()
                                * lognormal(&mut rng, NOISE_SIGMA)
                        })
                        .collect();
                    // The last catalog replica hits an upstream rate limit now and then.
                    let errors = if rng.random::<f64>() < 0.005 {
                        vec![(CATALOG_REPLICAS - 1, "rate limited")]
                    } else {
                        Vec::new()
                    };
                    ("catalog", service, errors)
                }
                ref call => {
                    let service = (0..CF_REPLICAS)
                        .map(|r| {
                            let warm = if r == home { 0.3 } else { 1.0 };
                            let base = match call {
                                Call::Init => 40.0,
                                Call::Spawn => 25.0,
                                Call::Orchestrate => 60.0 * if r == 0 { 2.0 } else { 1.0 },
                                Call::Store { value_len } => {
                                    6.0 * warm * (1.0 + *value_len as f64 / 4096.0)
                                }
                                Call::Search => (8.0 + 0.05 * entries as f64) * warm,
                                Call::Route => 3.0 * if r == CF_REPLICAS - 1 { 4.0 } else { 1.0 },
                                Call::Status | Call::Catalog { .. } => 2.0,
                            };
                            base * cf_speed[r] * lognormal(&mut rng, NOISE_SIGMA)
                        })
                        .collect();
                    ("claude-flow", service, Vec::new())
                }
            };
            match c.call {
                Call::Store { .. } => *stores.entry(c.swarm).or_default() += 1,
                Call::Spawn => *agents.entry(c.swarm).or_default() += 1,
                Call::Search => answer = Some(format!("swarm-{}:{entries}", c.swarm)),
                Call::Status => {
                    answer = Some(format!(
                        "swarm-{}:{}:{entries}",
                        c.swarm,
                        agents.get(&c.swarm).copied().unwrap_or(0)
                    ))
                }
                _ => {}
            }
            Draft {
                t: c.t,
                session: c.session,
                pool: pool_name,
                method: "tools/call",
                target: c.target,
                args: c.args,
                service_ms,
                errors,
                answer,
                invalidates: Vec::new(),
                links: Vec::new(),
            }
        })
        .collect();

    let mut tool_specs: Vec<ToolSpec> = [
        ("swarm_init", false),
        ("agent_spawn", false),
        ("task_orchestrate", false),
        ("memory_store", false),
        ("memory_search", true),
        ("hooks_route", false),
        ("swarm_status", true),
    ]
    .into_iter()
    .map(|(name, read_only)| ToolSpec {
        name: name.to_owned(),
        read_only,
    })
    .collect();
    tool_specs.extend(
        tools
            .into_iter()
            .map(|(name, read_only)| ToolSpec { name, read_only }),
    );
    let header = Header {
        tools: tool_specs,
        ..Header::new(vec![
            pool("claude-flow", "cf", &[4; CF_REPLICAS]),
            pool("catalog", "cat", &[8; CATALOG_REPLICAS]),
        ])
    };
    assemble(
        header,
        drafts,
        "swarm: claude-flow-shaped sessions (swarm_init, agent_spawn, task_orchestrate, then per \
         agent hooks_route / memory_search / memory_store / catalog calls) over a 300-tool catalog",
    )
}

/// Appends one session's calls (unsorted) to `out`.
fn session_calls(
    rng: &mut StdRng,
    swarm: usize,
    start: f64,
    catalog_len: usize,
    out: &mut Vec<Pending>,
) {
    let id = format!("swarm-{swarm}");
    let agents = rng.random_range(2..=8usize);
    let topic = rng.random_range(0..32usize);
    let mut push = |t: f64, session: &str, call: Call, target: &str, args: Value| {
        out.push(Pending {
            t,
            swarm,
            session: session.to_owned(),
            call,
            target: target.to_owned(),
            args,
        })
    };
    push(
        start,
        &id,
        Call::Init,
        "swarm_init",
        object([
            (
                "topology",
                json!(TOPOLOGIES[rng.random_range(0..TOPOLOGIES.len())]),
            ),
            ("maxAgents", json!(agents)),
            (
                "strategy",
                json!(["auto", "balanced", "specialized", "adaptive"][rng.random_range(0..4)]),
            ),
        ]),
    );
    let names: Vec<String> = (0..agents)
        .map(|i| {
            format!(
                "{}-{i}",
                AGENT_TYPES[rng.random_range(0..AGENT_TYPES.len())]
            )
        })
        .collect();
    for (i, name) in names.iter().enumerate() {
        let kind = name.split('-').next().unwrap_or("coder");
        push(
            start + 5.0 * (i + 1) as f64,
            &id,
            Call::Spawn,
            "agent_spawn",
            object([
                ("type", json!(kind)),
                ("name", json!(name)),
                ("swarmId", json!(id)),
                (
                    "capabilities",
                    json!([kind, WORDS_FOR_CAPS[topic % WORDS_FOR_CAPS.len()]]),
                ),
            ]),
        );
    }
    let task = format!(
        "implement {} for the {} service",
        phrase(rng, topic, 3),
        phrase(rng, topic + 7, 1)
    );
    let orchestrate_t = start + 5.0 * (agents + 2) as f64;
    push(
        orchestrate_t,
        &id,
        Call::Orchestrate,
        "task_orchestrate",
        object([
            ("task", json!(task)),
            (
                "strategy",
                json!(["parallel", "sequential", "adaptive"][rng.random_range(0..3)]),
            ),
            (
                "priority",
                json!(["low", "medium", "high", "critical"][rng.random_range(0..4)]),
            ),
        ]),
    );
    for name in &names {
        let session = format!("{id}/{name}");
        let mut t = orchestrate_t + 20.0;
        let steps = rng.random_range(5..=25);
        for step in 0..steps {
            t += STEP_GAP * exp_gap(rng);
            let roll: f64 = rng.random();
            if roll < 0.2 {
                push(
                    t,
                    &session,
                    Call::Route,
                    "hooks_route",
                    object([
                        (
                            "task",
                            json!(format!("{} step {step}", phrase(rng, topic, 2))),
                        ),
                        (
                            "context",
                            json!({"agent": name, "file": format!("src/{}.rs", phrase(rng, topic, 1))}),
                        ),
                    ]),
                );
            } else if roll < 0.45 {
                push(
                    t,
                    &session,
                    Call::Search,
                    "memory_search",
                    object([
                        ("pattern", json!(phrase(rng, topic, 2))),
                        ("namespace", json!(id)),
                        ("limit", json!(10)),
                    ]),
                );
            } else if roll < 0.65 {
                let value_len = rng.random_range(64..8192);
                push(
                    t,
                    &session,
                    Call::Store { value_len },
                    "memory_store",
                    object([
                        ("key", json!(format!("{id}/{name}/step-{step}"))),
                        ("value", json!(filler(rng, value_len))),
                        ("namespace", json!(id)),
                        ("ttl", json!(3600)),
                    ]),
                );
            } else if roll < 0.95 {
                // Agents of one topic favour a few families.
                let family = (topic + rng.random_range(0..3)) % FAMILIES.len();
                let tool = (family * VERBS.len() + rng.random_range(0..VERBS.len())) % catalog_len;
                let target = format!("{}_{}", FAMILIES[family], VERBS[tool % VERBS.len()].0);
                push(
                    t,
                    &session,
                    Call::Catalog { tool },
                    &target,
                    object([
                        (
                            "resource",
                            json!(format!("{}/{}", FAMILIES[family], phrase(rng, topic, 1))),
                        ),
                        ("query", json!(phrase(rng, topic, 3))),
                    ]),
                );
            } else {
                push(
                    t,
                    &session,
                    Call::Status,
                    "swarm_status",
                    object([("swarmId", json!(id))]),
                );
            }
        }
    }
}

const WORDS_FOR_CAPS: [&str; 6] = [
    "rust",
    "typescript",
    "testing",
    "security",
    "performance",
    "docs",
];
