//! The discrete-event core: one router over one workload, in virtual time.
//!
//! Replicas are multi-server FIFO queues: a replica with `slots` serves that many requests at
//! once and queues the rest. A request's service time on a replica is the dataset's (times a
//! slowdown event's factor); it fails when the dataset says it fails there, or at once
//! ([`DOWN_FAIL_MS`]) when the replica is down. Latency = completion − arrival (queueing
//! included). Events at the same instant run completions first, then arrivals, each in the
//! order they were scheduled, so a run is a pure function of its inputs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use super::cache::{CacheConfig, CacheModel, Lookup};
use super::router::{Completion, RouteInput, SimRouter};
use super::stats::Recorder;
use super::workload::{SimEvent, Workload};
use crate::policy::Candidate;
use crate::rng::Rng;
use crate::time::Nanos;

/// Latency of a request sent to a replica that is down (connection refused), ms.
pub const DOWN_FAIL_MS: f64 = 1.0;
/// Period of the router's background tick, virtual time.
pub const TICK: Nanos = Nanos(1_000_000_000);

/// Where arrivals come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Arrivals {
    /// The dataset's timestamps (already scaled to the target load, if any).
    Trace,
    /// A closed loop: `agents` agents, each sending its next request (the next record of the
    /// dataset) an exponential think time after its previous one completed.
    Closed {
        /// Concurrent agents.
        agents: u32,
        /// Mean think time, ms.
        think_ms: f64,
    },
}

/// Settings of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunConfig {
    /// Seed of the policy's RNG and of closed-loop think times.
    pub seed: u64,
    /// Where arrivals come from.
    pub arrivals: Arrivals,
    /// The cache model.
    pub cache: CacheConfig,
}

#[derive(Clone, Copy, Debug, Default)]
struct Job {
    /// Flat replica index.
    replica: u32,
    arrival: Nanos,
    service_ms: f64,
    success: bool,
    /// False for requests failed at once by a down replica (they hold no slot).
    holds_slot: bool,
    /// The pool's cache generation when the request missed the cache (see
    /// `ExactCache::insert_linked`): its answer is stored only if no write came between.
    cache_generation: u64,
}

#[derive(Debug)]
struct ReplicaState {
    slots: u32,
    busy: u32,
    queue: VecDeque<u32>,
}

/// Event kinds, in the order they run at equal times.
const COMPLETE: u8 = 0;
const ARRIVE: u8 = 1;

/// Runs `router` over `workload`, calling `progress(done)` every 4096 completed requests.
pub(crate) fn run(
    workload: &Workload,
    router: &mut dyn SimRouter,
    cfg: &RunConfig,
    progress: &mut dyn FnMut(u64),
) -> Recorder {
    let mut sim = Sim::new(workload, cfg);
    sim.run(router, progress);
    sim.recorder
}

struct Sim<'w> {
    workload: &'w Workload,
    cfg: RunConfig,
    /// Flat index of each pool's first replica.
    pool_base: Vec<u32>,
    replicas: Vec<ReplicaState>,
    /// Events per flat replica.
    events: Vec<Vec<SimEvent>>,
    jobs: Vec<Job>,
    heap: BinaryHeap<Reverse<(u64, u8, u64, u32)>>,
    seq: u64,
    cache: CacheModel,
    /// Scratch: the URIs a stored answer is tagged with.
    links: Vec<u32>,
    recorder: Recorder,
    policy_rng: Rng,
    think_rng: Rng,
    /// Closed loop: the agent of each request, and the next record to hand out.
    agent_of: Vec<u32>,
    cursor: usize,
    candidates: Vec<Candidate>,
    hindsight: Vec<f64>,
}

impl<'w> Sim<'w> {
    fn new(workload: &'w Workload, cfg: &RunConfig) -> Sim<'w> {
        let mut pool_base = Vec::with_capacity(workload.pools.len());
        let mut replicas = Vec::new();
        for pool in &workload.pools {
            pool_base.push(replicas.len() as u32);
            replicas.extend(pool.replicas.iter().map(|r| ReplicaState {
                slots: r.slots,
                busy: 0,
                queue: VecDeque::new(),
            }));
        }
        let mut events = vec![Vec::new(); replicas.len()];
        for e in &workload.events {
            events[(pool_base[e.pool as usize] + e.replica) as usize].push(*e);
        }
        let n = workload.requests.len();
        Sim {
            workload,
            cfg: *cfg,
            pool_base,
            replicas,
            events,
            jobs: vec![Job::default(); n],
            heap: BinaryHeap::new(),
            seq: 0,
            cache: CacheModel::new(&cfg.cache),
            links: Vec::new(),
            recorder: Recorder::new(n),
            policy_rng: Rng::seed(cfg.seed),
            think_rng: Rng::seed(cfg.seed ^ 0x7468_696e_6b00_0000),
            agent_of: Vec::new(),
            cursor: 0,
            candidates: Vec::new(),
            hindsight: Vec::new(),
        }
    }

    fn schedule(&mut self, at: Nanos, kind: u8, payload: u32) {
        self.seq += 1;
        self.heap.push(Reverse((at.0, kind, self.seq, payload)));
    }

    fn think(&mut self, think_ms: f64) -> Nanos {
        Nanos::from_ms(-think_ms * (1.0 - self.think_rng.unit()).ln())
    }

    fn run(&mut self, router: &mut dyn SimRouter, progress: &mut dyn FnMut(u64)) {
        let n = self.workload.requests.len();
        let mut next_trace = 0usize;
        let mut completed = 0u64;
        let mut next_tick = match (self.cfg.arrivals, self.workload.requests.first()) {
            (Arrivals::Trace, Some(first)) => Nanos(first.arrival.0 + TICK.0),
            _ => TICK,
        };
        if let Arrivals::Closed { agents, think_ms } = self.cfg.arrivals {
            self.agent_of = vec![0; n];
            for agent in 0..agents {
                let at = self.think(think_ms);
                self.schedule(at, ARRIVE, agent);
            }
        }
        loop {
            let trace_next = match self.cfg.arrivals {
                Arrivals::Trace => self.workload.requests.get(next_trace).map(|r| r.arrival),
                Arrivals::Closed { .. } => None,
            };
            let heap_next = self.heap.peek().map(|Reverse((t, ..))| Nanos(*t));
            let now = match (heap_next, trace_next) {
                (None, None) => break,
                (Some(h), Some(a)) => h.min(a),
                (Some(h), None) => h,
                (None, Some(a)) => a,
            };
            while next_tick <= now {
                router.tick(next_tick);
                next_tick = Nanos(next_tick.0 + TICK.0);
            }
            if heap_next == Some(now) {
                let Some(Reverse((_, kind, _, payload))) = self.heap.pop() else {
                    break;
                };
                if kind == COMPLETE {
                    self.complete(router, payload as usize, now);
                    completed += 1;
                    if completed.is_multiple_of(4096) {
                        progress(completed);
                    }
                } else if self.cursor < n {
                    let request = self.cursor;
                    self.cursor += 1;
                    self.agent_of[request] = payload;
                    self.arrive(router, request, now);
                }
            } else {
                self.arrive(router, next_trace, now);
                next_trace += 1;
            }
        }
        progress(completed);
    }

    /// The state of flat replica `flat` at `now`: (down, slowdown factor).
    fn replica_state(&self, flat: usize, now: Nanos) -> (bool, f64) {
        let mut down = false;
        let mut factor = 1.0;
        for e in &self.events[flat] {
            if e.from <= now && now < e.to {
                match e.slow_factor {
                    None => down = true,
                    Some(f) => factor *= f,
                }
            }
        }
        (down, factor)
    }

    fn arrive(&mut self, router: &mut dyn SimRouter, i: usize, now: Nanos) {
        let workload = self.workload;
        let req = &workload.requests[i];
        self.recorder.arrival_s[i] = now.as_ms() / 1000.0;
        self.jobs[i].arrival = now;
        let announced = workload.pools[req.pool as usize].announced;
        if self.cfg.cache.enabled && announced {
            // The dataset's answers change when a write arrives, so that is when its server
            // announces what it changed; the gateway drops exactly those answers.
            for &uri in workload.invalidates(i) {
                self.cache.invalidate_uri(req.pool, uri);
            }
        } else if self.cfg.cache.enabled && req.writes {
            // The gateway drops the pool's answers before forwarding a possible write.
            self.cache.invalidate_pool(req.pool);
        }
        if self.cfg.cache.enabled && req.cacheable {
            self.recorder.cache_lookups += 1;
            let lookup = self.cache.lookup(req.pool, req.key, req.answer, now);
            if let Lookup::Hit { wrong } = lookup {
                self.recorder.cache_hits += 1;
                self.recorder.cache_wrong_hits += u64::from(wrong);
                self.recorder.latency_ms[i] = self.cfg.cache.hit_ms as f32;
                if let Arrivals::Closed { think_ms, .. } = self.cfg.arrivals {
                    let at = Nanos(
                        now.0 + Nanos::from_ms(self.cfg.cache.hit_ms).0 + self.think(think_ms).0,
                    );
                    self.schedule(at, ARRIVE, self.agent_of[i]);
                }
                return;
            }
        }
        let cache_generation = self.cache.generation();
        let base = self.pool_base[req.pool as usize] as usize;
        let service = workload.service_ms(i);
        self.candidates.clear();
        self.hindsight.clear();
        let mut best_healthy = f64::INFINITY;
        for (r, &ms) in service.iter().enumerate() {
            let flat = base + r;
            let (down, factor) = self.replica_state(flat, now);
            let state = &self.replicas[flat];
            let ms = ms * factor;
            if !down {
                best_healthy = best_healthy.min(ms);
            }
            self.candidates.push(Candidate {
                replica: r as u32,
                inflight: state.busy + state.queue.len() as u32,
                slots: state.slots,
                healthy: !down,
            });
            self.hindsight.push(ms);
        }
        let input = RouteInput {
            request: i,
            now,
            candidates: &self.candidates,
            hindsight_ms: &self.hindsight,
        };
        let decision = router.route(workload, &input, &mut self.policy_rng);
        let r = decision.index.min(self.candidates.len() - 1);
        let flat = base + r;
        let ms = self.hindsight[r];
        let down = !self.candidates[r].healthy;
        let rec = &mut self.recorder;
        rec.chosen[i] = flat as u16;
        rec.routed += 1;
        rec.explored += u64::from(decision.explored);
        if best_healthy.is_finite() {
            rec.regret_sum += (ms - best_healthy).max(0.0);
        }
        if let Some(p) = decision.predicted_ms.filter(|p| p.is_finite()) {
            rec.prediction_abs_error += (p - ms).abs();
            rec.predictions += 1;
        }
        if down {
            self.jobs[i] = Job {
                replica: flat as u32,
                arrival: now,
                service_ms: DOWN_FAIL_MS,
                success: false,
                holds_slot: false,
                cache_generation,
            };
            self.schedule(
                Nanos(now.0 + Nanos::from_ms(DOWN_FAIL_MS).0),
                COMPLETE,
                i as u32,
            );
            return;
        }
        self.jobs[i] = Job {
            replica: flat as u32,
            arrival: now,
            service_ms: ms,
            success: req
                .error_mask
                .checked_shr(r as u32)
                .is_none_or(|m| m & 1 == 0),
            holds_slot: true,
            cache_generation,
        };
        let state = &mut self.replicas[flat];
        if state.busy < state.slots {
            state.busy += 1;
            self.schedule(Nanos(now.0 + Nanos::from_ms(ms).0), COMPLETE, i as u32);
        } else {
            state.queue.push_back(i as u32);
        }
    }

    fn complete(&mut self, router: &mut dyn SimRouter, i: usize, now: Nanos) {
        let workload = self.workload;
        let job = self.jobs[i];
        let req = &workload.requests[i];
        let latency_ms = now.ms_since(job.arrival);
        self.recorder.latency_ms[i] = latency_ms as f32;
        self.recorder.errors += u64::from(!job.success);
        let base = self.pool_base[req.pool as usize];
        router.learn(
            workload,
            &Completion {
                request: i,
                replica: job.replica - base,
                sent: job.arrival,
                now,
                latency_ms,
                service_ms: job.service_ms,
                success: job.success,
            },
        );
        let announced = workload.pools[req.pool as usize].announced;
        if job.success && self.cfg.cache.enabled {
            if req.cacheable {
                // Tagged with what the answer depends on only where updates are announced, as
                // the gateway does (elsewhere a write drops the whole pool anyway).
                self.links.clear();
                if announced {
                    if req.reads_resource {
                        self.links.push(req.target);
                    }
                    self.links.extend_from_slice(workload.links(i));
                }
                self.cache.insert_linked(
                    req.pool,
                    req.key,
                    req.answer,
                    now,
                    job.cache_generation,
                    &self.links,
                );
            }
            if !announced && !workload.invalidates(i).is_empty() {
                // `notifications/resources/updated`: the gateway drops the whole pool's answers.
                self.cache.invalidate_pool(req.pool);
            }
        }
        if job.holds_slot {
            let state = &mut self.replicas[job.replica as usize];
            match state.queue.pop_front() {
                Some(next) => {
                    let at = Nanos(now.0 + Nanos::from_ms(self.jobs[next as usize].service_ms).0);
                    self.schedule(at, COMPLETE, next);
                }
                None => state.busy -= 1,
            }
        }
        if let Arrivals::Closed { think_ms, .. } = self.cfg.arrivals {
            let at = Nanos(now.0 + self.think(think_ms).0);
            self.schedule(at, ARRIVE, self.agent_of[i]);
        }
    }
}
