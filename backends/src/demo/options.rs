//! Options of the demo server, and their parsing from flag and environment text.
//!
//! The options are plain data so the `vecgate` CLI and the `vecgate-demo-server` binary can share them
//! without this module depending on clap.

use std::{fmt, net::SocketAddr, str::FromStr};

use super::DemoError;

/// Name of the environment variable holding extra slow rules: `[REPLICA:]TOOL=FACTOR[,...]`.
/// A gateway spawning several replicas passes its environment to all of them; the optional
/// `REPLICA:` prefix makes a rule apply to that replica only.
pub const SLOW_ENV: &str = "VECGATE_DEMO_SLOW";

/// How one demo server process is configured.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Index of this replica in its pool (0, 1, 2, ...). It decides which repositories this replica
    /// has a warm cache for and which tools it is slow at; see the [latency model](super::latency).
    pub replica: u32,
    /// Where the server speaks MCP.
    pub transport: DemoTransport,
    /// How long simulated work takes overall.
    pub profile: DemoProfile,
    /// Per-tool latency multipliers for this replica only (`--slow TOOL=FACTOR`).
    pub slow: Vec<SlowRule>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            replica: 0,
            transport: DemoTransport::Stdio,
            profile: DemoProfile::Fast,
            slow: Vec::new(),
        }
    }
}

/// The transport the demo server serves MCP on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoTransport {
    /// Newline-delimited JSON-RPC on stdin/stdout (the way `vecgate serve` spawns its replicas).
    Stdio,
    /// Streamable HTTP on `/mcp` at this address (port 0 picks a free port; the bound address is
    /// printed on stdout as `listening on http://ADDR/mcp`).
    Http(SocketAddr),
}

/// Overall scale of the simulated latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DemoProfile {
    /// No simulated work at all: every tool answers as fast as it can (explicit `sleep`,
    /// `long_task` durations are still honoured).
    Instant,
    /// Low milliseconds (the default): fast enough for tests, varied enough for routing to matter.
    #[default]
    Fast,
    /// Ten times `Fast`: tens of milliseconds, for demonstrations where a human watches.
    Realistic,
}

impl DemoProfile {
    /// Multiplier applied to every modelled (not explicitly requested) latency.
    pub fn scale(self) -> f64 {
        match self {
            DemoProfile::Instant => 0.0,
            DemoProfile::Fast => 1.0,
            DemoProfile::Realistic => 10.0,
        }
    }
}

impl FromStr for DemoProfile {
    type Err = DemoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "instant" => Ok(DemoProfile::Instant),
            "fast" => Ok(DemoProfile::Fast),
            "realistic" => Ok(DemoProfile::Realistic),
            _ => Err(DemoError::UnknownProfile(s.to_owned())),
        }
    }
}

impl fmt::Display for DemoProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DemoProfile::Instant => "instant",
            DemoProfile::Fast => "fast",
            DemoProfile::Realistic => "realistic",
        })
    }
}

/// "Tool `tool` is `factor` times slower on this replica" (`--slow search_code=8`), or only on
/// replica `r` (`--slow 2:search_code=8`).
#[derive(Debug, Clone, PartialEq)]
pub struct SlowRule {
    /// The replica the rule applies to; `None` for whichever replica is given the rule.
    pub replica: Option<u32>,
    /// The tool name the rule applies to.
    pub tool: String,
    /// Latency multiplier, finite and >= 0 (values below 1 make the tool faster).
    pub factor: f64,
}

impl FromStr for SlowRule {
    type Err = DemoError;
    fn from_str(rule: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| DemoError::InvalidSlowRule {
            rule: rule.to_owned(),
            reason,
        };
        let (target, factor) = rule
            .split_once('=')
            .ok_or_else(|| invalid("expected [REPLICA:]TOOL=FACTOR"))?;
        let (replica, tool) = match target.split_once(':') {
            Some((replica, tool)) => {
                let replica = replica
                    .trim()
                    .parse::<u32>()
                    .map_err(|_| invalid("replica is not a number"))?;
                (Some(replica), tool.trim())
            }
            None => (None, target.trim()),
        };
        if tool.is_empty() {
            return Err(invalid("tool name is empty"));
        }
        let factor: f64 = factor
            .trim()
            .parse()
            .map_err(|_| invalid("factor is not a number"))?;
        if !factor.is_finite() || factor < 0.0 {
            return Err(invalid("factor must be finite and >= 0"));
        }
        Ok(SlowRule {
            replica,
            tool: tool.to_owned(),
            factor,
        })
    }
}

impl SlowRule {
    /// Whether the rule applies on `replica`.
    pub fn applies_to(&self, replica: u32) -> bool {
        self.replica.is_none_or(|r| r == replica)
    }
}

impl fmt::Display for SlowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(replica) = self.replica {
            write!(f, "{replica}:")?;
        }
        write!(f, "{}={}", self.tool, self.factor)
    }
}

/// Parses the value of [`SLOW_ENV`]: comma-separated `TOOL=FACTOR` rules; blank entries are ignored.
pub fn parse_slow_list(list: &str) -> Result<Vec<SlowRule>, DemoError> {
    list.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_rules_parse_and_reject_garbage() {
        let rule: SlowRule = "search_code=8".parse().unwrap();
        assert_eq!(rule.tool, "search_code");
        assert_eq!(rule.factor, 8.0);
        assert_eq!(rule.to_string(), "search_code=8");
        assert!(rule.applies_to(0) && rule.applies_to(7));
        let targeted: SlowRule = " 2:summarize = 3".parse().unwrap();
        assert_eq!(targeted.replica, Some(2));
        assert_eq!(targeted.tool, "summarize");
        assert!(targeted.applies_to(2) && !targeted.applies_to(1));
        assert_eq!(targeted.to_string(), "2:summarize=3");
        for bad in [
            "search_code",
            "=2",
            "echo=fast",
            "echo=-1",
            "echo=inf",
            "echo=NaN",
            "x:echo=2",
            "1:=2",
        ] {
            assert!(bad.parse::<SlowRule>().is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn slow_env_list_allows_blanks() {
        let rules = parse_slow_list(" summarize=2.5, ,echo=0 ").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].factor, 2.5);
        assert_eq!(rules[1].tool, "echo");
        assert!(parse_slow_list("").unwrap().is_empty());
        assert!(parse_slow_list("a=1,b").is_err());
    }

    #[test]
    fn profiles_round_trip() {
        for profile in [
            DemoProfile::Instant,
            DemoProfile::Fast,
            DemoProfile::Realistic,
        ] {
            assert_eq!(profile.to_string().parse::<DemoProfile>().unwrap(), profile);
        }
        assert!("slow".parse::<DemoProfile>().is_err());
    }
}
