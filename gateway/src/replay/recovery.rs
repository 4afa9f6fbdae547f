//! Drift recovery time: how long after a replica degrades a policy's p95 comes back near
//! where it was before.
//!
//! Read off the run's timeline (p95 per window of consecutive requests), so it is as
//! deterministic as the rest of the report and its resolution is one window. The pre-drift
//! level is the median window p95 before the drift point, leaving out the first
//! [`WARMUP_WINDOWS`] (policies still learning); a policy has recovered at the first window
//! starting at or after the drift point whose p95 is within [`NEAR`] of that level.

use std::fmt::Write as _;

use serde::Serialize;
use vecgate_learner::sim::{PolicyRun, Window};

/// Windows at the start of a run left out of the pre-drift level.
pub(super) const WARMUP_WINDOWS: usize = 2;
/// "Near the pre-drift level": p95 at most this factor of it.
pub(super) const NEAR: f64 = 1.25;

/// One policy's recovery from a drift.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(super) struct Recovery {
    /// The policy.
    pub(super) policy: String,
    /// Median window p95 before the drift, ms.
    pub(super) pre_p95: f64,
    /// Highest window p95 between the drift point and recovery (or the end), ms.
    pub(super) peak_p95: f64,
    /// Seconds from the drift point to the start of the first window back near `pre_p95`
    /// (`None`: not within the run).
    pub(super) recovery_s: Option<f64>,
}

/// The recovery of one run from a drift starting at `drift_s` (seconds from the first arrival);
/// `None` when there are no windows before or after it.
pub(super) fn recovery(policy: &str, timeline: &[Window], drift_s: f64) -> Option<Recovery> {
    let mut before: Vec<f64> = timeline
        .iter()
        .enumerate()
        .filter(|(i, w)| *i >= WARMUP_WINDOWS && w.start_s < drift_s)
        .map(|(_, w)| w.p95)
        .collect();
    if before.is_empty() {
        return None;
    }
    before.sort_by(f64::total_cmp);
    let pre_p95 = before[before.len() / 2];
    // The window containing the drift point is where the change starts to show.
    let first_after = timeline.iter().rposition(|w| w.start_s <= drift_s)?;
    let mut peak_p95: f64 = 0.0;
    for w in &timeline[first_after..] {
        if w.start_s > drift_s && w.p95 <= pre_p95 * NEAR {
            return Some(Recovery {
                policy: policy.to_owned(),
                pre_p95,
                peak_p95: peak_p95.max(w.p95),
                recovery_s: Some(round((w.start_s - drift_s).max(0.0))),
            });
        }
        peak_p95 = peak_p95.max(w.p95);
    }
    Some(Recovery {
        policy: policy.to_owned(),
        pre_p95,
        peak_p95,
        recovery_s: None,
    })
}

/// The recoveries of every run.
pub(super) fn recoveries(runs: &[PolicyRun], drift_s: f64) -> Vec<Recovery> {
    runs.iter()
        .filter_map(|r| recovery(&r.policy, &r.timeline, drift_s))
        .collect()
}

/// The report's section.
pub(super) fn render(recoveries: &[Recovery], drift_s: f64, window_s: f64) -> String {
    let mut out = format!(
        "\ndrift recovery (drift at {drift_s:.1} s; back = window p95 within {:.0} % of the \
         pre-drift median; resolution one window, about {window_s:.1} s)\n",
        (NEAR - 1.0) * 100.0
    );
    let _ = writeln!(
        out,
        "{:<16} {:>12} {:>12} {:>12}",
        "policy", "pre p95 ms", "peak p95 ms", "recovery s"
    );
    for r in recoveries {
        let time = r
            .recovery_s
            .map_or_else(|| String::from("not in run"), |s| format!("{s:.1}"));
        let _ = writeln!(
            out,
            "{:<16} {:>12.2} {:>12.2} {:>12}",
            r.policy, r.pre_p95, r.peak_p95, time
        );
    }
    out
}

fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(p95: &[f64]) -> Vec<Window> {
        p95.iter()
            .enumerate()
            .map(|(i, &p)| Window {
                start_s: i as f64 * 10.0,
                p95: p,
                share: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn recovery_is_the_first_window_back_near_the_pre_drift_median() {
        // Warm-up (ignored), steady at 10, drift at 35 s, peak 80, back at the window of 70 s.
        let t = timeline(&[90.0, 50.0, 10.0, 11.0, 60.0, 80.0, 30.0, 12.0, 10.0]);
        let r = recovery("vector", &t, 35.0).unwrap();
        assert_eq!(r.pre_p95, 11.0);
        assert_eq!(r.peak_p95, 80.0);
        assert_eq!(r.recovery_s, Some(35.0));

        let never = timeline(&[10.0, 10.0, 10.0, 10.0, 50.0, 50.0]);
        assert_eq!(recovery("rr", &never, 35.0).unwrap().recovery_s, None);
        assert!(
            recovery("x", &never, 5.0).is_none(),
            "no steady window before"
        );
    }
}
