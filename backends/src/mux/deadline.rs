//! Call deadlines, enforced by one sweeper task per upstream session instead of a timer per
//! call.
//!
//! Why: `tokio::time::timeout` around every forwarded call registered and cleared a timer
//! wheel entry per call (and read the clock for it) although nearly every call ends long
//! before its deadline; that was about 1.5 % of the gateway's CPU on the load benchmark. Here
//! a call only stores its deadline in its [`super::Pending`] entry. The sweeper sleeps until
//! the earliest deadline it knows of; a call whose deadline is earlier than that (a shorter
//! timeout than the calls before it) wakes it. When it wakes it fails every overdue call with
//! [`CallError::Timeout`] and tells the upstream (`notifications/cancelled`), then sleeps
//! until the earliest deadline still pending. With one timeout per pool, that is one wake-up
//! per timeout period, whatever the call rate.

use super::Mux;
use crate::error::CallError;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// What the sweeper sleeps when nothing is pending (a new call wakes it anyway).
const IDLE: Duration = Duration::from_secs(3600);

/// Nothing scheduled: the sweeper's target when it sleeps idle.
pub(super) const UNSCHEDULED: u64 = u64::MAX;

impl Mux {
    /// `deadline` as nanoseconds since the mux was born (the sweeper's clock).
    pub(super) fn deadline_nanos(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.born).as_nanos();
        u64::try_from(nanos).unwrap_or(UNSCHEDULED - 1)
    }

    /// A call with this deadline was registered: wake the sweeper if it sleeps past it.
    pub(super) fn schedule(&self, deadline: u64) {
        let mut target = self.sweep_at.load(Ordering::Acquire);
        while deadline < target {
            match self.sweep_at.compare_exchange_weak(
                target,
                deadline,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.sweep_wake.notify_one();
                    return;
                }
                Err(seen) => target = seen,
            }
        }
    }

    /// Fail the calls whose deadline is at or before `now` and cancel them upstream.
    /// Returns the earliest deadline still pending, [`UNSCHEDULED`] if none.
    fn expire(&self, now: u64) -> u64 {
        let (expired, next) = {
            let mut table = self.pending.lock();
            let expired: Vec<_> = table
                .calls
                .extract_if(|_, call| call.deadline <= now)
                .collect();
            let next = table
                .calls
                .values()
                .map(|call| call.deadline)
                .min()
                .unwrap_or(UNSCHEDULED);
            // Published under the lock: a call registering after this sees the new target
            // and wakes the sweeper if its deadline is earlier.
            self.sweep_at.store(next, Ordering::Release);
            (expired, next)
        };
        for (id, call) in expired {
            let _ = call.reply.send(Err(CallError::Timeout {
                pool: self.ident.pool_name.to_string(),
                replica: self.ident.replica,
                method: call.method.into_owned(),
                after: call.timeout,
            }));
            self.cancel_upstream(id, "timed out in vecgate");
        }
        next
    }
}

/// The sweeper of one mux: runs until the mux is closed or dropped.
pub(super) async fn sweep(mux: Weak<Mux>) {
    let Some(strong) = mux.upgrade() else { return };
    let closed = strong.closed.clone();
    let born = strong.born;
    drop(strong);
    loop {
        let (next, wake) = {
            let Some(mux) = mux.upgrade() else { return };
            let now = mux.deadline_nanos(Instant::now());
            let next = mux.expire(now);
            (next, Arc::clone(&mux.sweep_wake))
        };
        let until = if next == UNSCHEDULED {
            Instant::now() + IDLE
        } else {
            born + Duration::from_nanos(next)
        };
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            _ = wake.notified() => {}
            _ = closed.cancelled() => return,
        }
    }
}
