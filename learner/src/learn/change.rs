//! Change detection on a replica's (or a pattern × replica's) prediction residuals: two
//! one-sided CUSUMs on the standardised residual (a mean shift either way) and one on its square
//! (a variance shift: a replica's fast set moving leaves the mean near zero but spreads the
//! residuals). Page, "Continuous inspection schemes" (1954).

/// Slack per sample of the mean test, in standard deviations: shifts under ~2·k go unnoticed.
const MEAN_SLACK: f64 = 0.5;
/// Slack per sample of the variance test (`z²` has mean 1 without change).
const VAR_SLACK: f64 = 1.0;
/// `|z|` is clipped here so one wild sample cannot raise an alarm alone.
const Z_CLIP: f64 = 4.0;
/// Weight of a new squared residual in the long-run variance.
const VAR_ALPHA: f64 = 0.01;
/// Variance assumed before any residual (σ = 0.3 in log space, a typical service jitter).
pub(crate) const INITIAL_VAR: f64 = 0.09;

/// CUSUM state for one stream of residuals.
#[derive(Clone, Debug, PartialEq)]
pub struct Cusum {
    up: f64,
    down: f64,
    spread: f64,
    var: f64,
}

impl Default for Cusum {
    fn default() -> Cusum {
        Cusum {
            up: 0.0,
            down: 0.0,
            spread: 0.0,
            var: INITIAL_VAR,
        }
    }
}

impl Cusum {
    /// Adds one residual (log space).
    pub fn add(&mut self, residual: f64) {
        if !residual.is_finite() {
            return;
        }
        let z = (residual / self.var.sqrt()).clamp(-Z_CLIP, Z_CLIP);
        self.up = (self.up + z - MEAN_SLACK).max(0.0);
        self.down = (self.down - z - MEAN_SLACK).max(0.0);
        self.spread = (self.spread + z * z - 1.0 - VAR_SLACK).max(0.0);
        self.var = (1.0 - VAR_ALPHA) * self.var + VAR_ALPHA * residual * residual;
        self.var = self.var.max(1e-4);
    }

    /// True when a shift is detected at threshold `h` (the variance test uses `2h`).
    pub fn alarmed(&self, h: f64) -> bool {
        self.up > h || self.down > h || self.spread > 2.0 * h
    }

    /// Restarts the sums after an alarm; the variance estimate is kept.
    pub fn reset(&mut self) {
        self.up = 0.0;
        self.down = 0.0;
        self.spread = 0.0;
    }

    /// The long-run residual variance.
    pub fn variance(&self) -> f64 {
        self.var
    }

    /// Restores the variance from a snapshot.
    pub fn set_variance(&mut self, var: f64) {
        if var.is_finite() && var > 0.0 {
            self.var = var.max(1e-4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn normal(rng: &mut Rng) -> f64 {
        // Box–Muller.
        let (u, v) = (rng.unit().max(1e-12), rng.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    #[test]
    fn quiet_stream_stays_quiet_and_shifts_alarm() {
        let mut rng = Rng::seed(3);
        let mut c = Cusum::default();
        let mut false_alarms = 0;
        for _ in 0..20_000 {
            c.add(0.3 * normal(&mut rng));
            if c.alarmed(16.0) {
                false_alarms += 1;
                c.reset();
            }
        }
        assert!(false_alarms <= 1, "{false_alarms} false alarms");
        // A 1σ mean shift is caught within ~40 samples.
        let mut n = 0;
        while !c.alarmed(16.0) {
            c.add(0.3 + 0.3 * normal(&mut rng));
            n += 1;
            assert!(n < 100, "mean shift not detected");
        }
        c.reset();
        // A spread shift with zero mean (±1 in log space) is caught too.
        let mut n = 0;
        while !c.alarmed(16.0) {
            let sign = if rng.below(2) == 0 { 1.0 } else { -1.0 };
            c.add(sign * 1.0 + 0.3 * normal(&mut rng));
            n += 1;
            assert!(n < 100, "variance shift not detected");
        }
    }
}
