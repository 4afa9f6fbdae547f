//! The gateway's path from a completed request to the learner: a bounded channel and one
//! learner thread.
//!
//! Request tasks call [`OutcomeSink::offer`], which copies the outcome (the embedding into a
//! pooled buffer) and `try_send`s it: a full channel drops the outcome and counts it, the
//! request path never blocks on learning. The [`LearnerThread`] drains the channel into
//! [`Engine::learn_with_result`] and runs [`Engine::background_tick`] on a fixed period.
//!
//! A note on the bound: at the instant loop's 13–16 µs per outcome (the `engine` bench's learn
//! alone: 61K–79K outcomes/s), the gateway's 65,536 queued outcomes are about 1 s of learner
//! work; a larger bound only delays learning under overload, while drops merely thin the
//! sample.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use parking_lot::Mutex;

use super::Engine;
use crate::error::LearnerError;
use crate::policy::{Outcome, RequestFeatures};
use crate::time::Nanos;

/// How long the learner thread sleeps when it has drained the channel while traffic flows,
/// before it looks again (and, if nothing came, parks until the next outcome). Learning lags
/// the request by at most this much; request tasks never have to wake the thread.
const BATCH_PAUSE: Duration = Duration::from_millis(1);

/// An outcome that owns its data, for the channel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedOutcome {
    /// See [`Outcome::pool`].
    pub pool: u32,
    /// See [`Outcome::replica`].
    pub replica: u32,
    /// The request's embedding (a pooled buffer; empty when not embedded).
    pub embedding: Vec<f32>,
    /// See [`RequestFeatures::key`].
    pub key: u64,
    /// See [`RequestFeatures::tool`].
    pub tool: u64,
    /// See [`RequestFeatures::size`].
    pub size: u32,
    /// See [`Outcome::sent`].
    pub sent: Nanos,
    /// See [`Outcome::now`].
    pub now: Nanos,
    /// See [`Outcome::latency_ms`].
    pub latency_ms: f64,
    /// See [`Outcome::service_ms`].
    pub service_ms: Option<f64>,
    /// See [`Outcome::success`].
    pub success: bool,
    /// Size of the result in bytes.
    pub result_bytes: u32,
}

impl OwnedOutcome {
    /// Runs `f` on the borrowed view of this outcome.
    pub fn with_outcome<R>(&self, f: impl FnOnce(&Outcome<'_>) -> R) -> R {
        let features = RequestFeatures {
            embedding: &self.embedding,
            key: self.key,
            tool: self.tool,
            size: self.size,
        };
        f(&Outcome {
            pool: self.pool,
            replica: self.replica,
            features: &features,
            sent: self.sent,
            now: self.now,
            latency_ms: self.latency_ms,
            service_ms: self.service_ms,
            success: self.success,
        })
    }
}

/// Recycled embedding buffers, so steady-state offering does not allocate.
#[derive(Debug)]
struct BufferPool {
    free: Mutex<Vec<Vec<f32>>>,
    keep: usize,
}

impl BufferPool {
    fn take(&self) -> Vec<f32> {
        self.free.lock().pop().unwrap_or_default()
    }

    fn give(&self, mut buf: Vec<f32>) {
        if buf.capacity() == 0 {
            // An outcome without an embedding: nothing worth keeping.
            return;
        }
        buf.clear();
        let mut free = self.free.lock();
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

/// The sending half: cheap to clone, one per request task or shared.
#[derive(Clone, Debug)]
pub struct OutcomeSink {
    tx: SyncSender<OwnedOutcome>,
    buffers: Arc<BufferPool>,
    dropped: Arc<AtomicU64>,
}

impl OutcomeSink {
    /// An empty embedding buffer from the recycled pool, for a request to fill when it is
    /// routed and hand back inside its [`OwnedOutcome`] through [`OutcomeSink::send`]: the
    /// embedding then crosses to the learner without an allocation or a second copy.
    pub fn buffer(&self) -> Vec<f32> {
        self.buffers.take()
    }

    /// Queues an outcome that already owns its data (its embedding ideally from
    /// [`OutcomeSink::buffer`]) without blocking. Returns false (and counts a drop) when the
    /// channel is full or the learner has stopped.
    pub fn send(&self, owned: OwnedOutcome) -> bool {
        match self.tx.try_send(owned) {
            Ok(()) => true,
            Err(TrySendError::Full(back) | TrySendError::Disconnected(back)) => {
                self.buffers.give(back.embedding);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues the outcome for the learner without blocking. Returns false (and counts a drop)
    /// when the channel is full or the learner has stopped.
    pub fn offer(&self, outcome: &Outcome<'_>, result_bytes: u32) -> bool {
        let mut embedding = self.buffers.take();
        embedding.extend_from_slice(outcome.features.embedding);
        let owned = OwnedOutcome {
            pool: outcome.pool,
            replica: outcome.replica,
            embedding,
            key: outcome.features.key,
            tool: outcome.features.tool,
            size: outcome.features.size,
            sent: outcome.sent,
            now: outcome.now,
            latency_ms: outcome.latency_ms,
            service_ms: outcome.service_ms,
            success: outcome.success,
            result_bytes,
        };
        self.send(owned)
    }

    /// Outcomes dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The learner thread. Stops when [`LearnerThread::shutdown`] is called, when dropped, or
/// when every [`OutcomeSink`] is gone.
#[derive(Debug)]
pub struct LearnerThread {
    stop: Arc<AtomicBool>,
    learned: Arc<AtomicU64>,
    handle: Option<JoinHandle<()>>,
}

impl LearnerThread {
    /// Starts the learner thread for the engine in `engine` (read once per batch, so swapping
    /// in another engine, e.g. for a live policy change, takes effect within a batch). `capacity` bounds the channel (≥ 1);
    /// `tick_every` is the background loop's period; `clock` gives the `now` passed to
    /// [`Engine::background_tick`] (the gateway's monotonic clock; policies never read one).
    pub fn spawn(
        engine: Arc<ArcSwap<Engine>>,
        capacity: usize,
        tick_every: Duration,
        clock: Arc<dyn Fn() -> Nanos + Send + Sync>,
    ) -> Result<(OutcomeSink, LearnerThread), LearnerError> {
        if capacity == 0 {
            return Err(LearnerError::InvalidConfig {
                key: "learner.channel_capacity",
                value: capacity.to_string(),
                reason: "must be >= 1",
            });
        }
        if tick_every.is_zero() {
            return Err(LearnerError::InvalidConfig {
                key: "learner.tick_every",
                value: format!("{tick_every:?}"),
                reason: "must be > 0",
            });
        }
        let (tx, rx) = mpsc::sync_channel::<OwnedOutcome>(capacity);
        let buffers = Arc::new(BufferPool {
            free: Mutex::new(Vec::new()),
            keep: capacity.min(4_096),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let learned = Arc::new(AtomicU64::new(0));
        let (t_buffers, t_stop, t_learned) = (
            Arc::clone(&buffers),
            Arc::clone(&stop),
            Arc::clone(&learned),
        );
        let handle = std::thread::Builder::new()
            .name("vecgate-learner".into())
            .spawn(move || {
                let tick_ns = tick_every.as_nanos().min(u128::from(u64::MAX)) as u64;
                let mut next_tick = clock().0.saturating_add(tick_ns);
                while !t_stop.load(Ordering::Acquire) {
                    let now = clock().0;
                    if now >= next_tick {
                        engine.load().background_tick(Nanos(now));
                        next_tick = now.saturating_add(tick_ns);
                    }
                    let wait = Duration::from_nanos(next_tick.saturating_sub(now).max(1));
                    let mut outcome = match rx.recv_timeout(wait) {
                        Ok(o) => o,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => break,
                    };
                    // Traffic is flowing: learn in batches, sleeping between them instead of
                    // parking in `recv`, so request tasks offering outcomes find no parked
                    // receiver to wake (a futex call and a context switch per request).
                    // The engine is read once per batch: a live policy change (a new engine
                    // in `engine`) takes effect from the next batch.
                    let current = engine.load_full();
                    loop {
                        outcome.with_outcome(|out| {
                            current.learn_with_result(out, outcome.result_bytes)
                        });
                        t_learned.fetch_add(1, Ordering::Relaxed);
                        t_buffers.give(std::mem::take(&mut outcome.embedding));
                        if t_stop.load(Ordering::Acquire) || clock().0 >= next_tick {
                            break;
                        }
                        outcome = match rx.try_recv() {
                            Ok(o) => o,
                            Err(_) => {
                                std::thread::sleep(BATCH_PAUSE);
                                match rx.try_recv() {
                                    Ok(o) => o,
                                    Err(_) => break,
                                }
                            }
                        };
                    }
                }
            })
            .map_err(LearnerError::Thread)?;
        let sink = OutcomeSink {
            tx,
            buffers,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        Ok((
            sink,
            LearnerThread {
                stop,
                learned,
                handle: Some(handle),
            },
        ))
    }

    /// Outcomes learned so far.
    pub fn learned(&self) -> u64 {
        self.learned.load(Ordering::Relaxed)
    }

    /// Stops the thread after the outcome it is learning (queued ones are discarded) and
    /// waits for it.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            // A panic in the learner already printed; shutting down must not panic again.
            let _ = h.join();
        }
    }
}

impl Drop for LearnerThread {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
