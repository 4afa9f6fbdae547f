//! The clock value handed to policies.
//!
//! Policies never read a clock themselves (like `linkerd/ewma`, time is an argument): the
//! gateway passes monotonic wall time, the simulator passes virtual time, and both run the
//! same code.

/// Nanoseconds on a monotonic clock whose origin is chosen by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub u64);

impl Nanos {
    /// Zero, the origin of the caller's clock.
    pub const ZERO: Nanos = Nanos(0);

    /// From milliseconds (fractional allowed; negative saturates to zero).
    pub fn from_ms(ms: f64) -> Nanos {
        Nanos((ms.max(0.0) * 1e6) as u64)
    }

    /// This instant in milliseconds.
    pub fn as_ms(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Milliseconds elapsed since `earlier` (zero if `earlier` is later).
    pub fn ms_since(self, earlier: Nanos) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e6
    }
}
