//! vecgate's routing policies and the online learner behind them.
//!
//! # Layout
//! - [`policy`]: the [`RoutingPolicy`] trait that the gateway and the replay simulator both call,
//!   and every policy (round-robin … vector, oracle), built by name with [`policy::build`].
//! - [`learn`]: the online learner behind `vector` (instant and background loops, pattern bank,
//!   change detection, low-rank adapter, snapshots).
//! - [`engine`]: the per-request object the gateway and the simulator share: embed once, search
//!   neighbours when the policy wants them, route, learn.
//! - [`error`]: the crate's error type, [`LearnerError`].
//! - [`rng`]: a small, portable, seedable PRNG: policies take randomness as an input so a replay
//!   with the same seed is byte-identical on every machine.
//! - [`time`]: [`Nanos`], the clock value policies receive (wall or virtual time).
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod engine;
pub mod error;
pub mod learn;
pub mod policy;
pub mod rng;
pub mod sim;
pub mod time;

pub use error::LearnerError;
pub use policy::{
    Candidate, Decision, Evidence, Explanation, Outcome, RequestFeatures, RouteQuery, RoutingPolicy,
};
pub use rng::Rng;
pub use time::Nanos;
