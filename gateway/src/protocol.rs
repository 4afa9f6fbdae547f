//! MCP protocol versions and what each allows.

/// A protocol revision vecgate speaks with clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// Legacy HTTP+SSE era.
    V2024_11_05,
    /// Streamable HTTP introduced; JSON-RPC batches allowed.
    V2025_03_26,
    /// Batches removed; `MCP-Protocol-Version` header required.
    V2025_06_18,
    /// Current initialize-era revision (what Claude Code speaks).
    V2025_11_25,
    /// Stateless revision: no initialize, no sessions, `_meta` per request.
    V2026_07_28,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::V2024_11_05,
        Version::V2025_03_26,
        Version::V2025_06_18,
        Version::V2025_11_25,
        Version::V2026_07_28,
    ];

    /// The newest version negotiated through `initialize`.
    pub const LATEST_WITH_INITIALIZE: Version = Version::V2025_11_25;

    /// The header value / `protocolVersion` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2024_11_05 => "2024-11-05",
            Version::V2025_03_26 => "2025-03-26",
            Version::V2025_06_18 => "2025-06-18",
            Version::V2025_11_25 => "2025-11-25",
            Version::V2026_07_28 => "2026-07-28",
        }
    }

    /// Parse a version string; `None` for versions vecgate does not speak.
    pub fn parse(s: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The version to answer an `initialize` that asked for `requested`: the same when vecgate
    /// speaks it, else the latest initialize-era version (the client then decides).
    pub fn negotiate(requested: &str) -> Version {
        match Version::parse(requested) {
            Some(Version::V2026_07_28) | None => Version::LATEST_WITH_INITIALIZE,
            Some(v) => v,
        }
    }

    /// JSON-RPC batches are allowed only in 2025-03-26 (and tolerated in 2024-11-05).
    pub fn allows_batch(self) -> bool {
        self <= Version::V2025_03_26
    }
}

/// The list of versions for error messages.
pub fn supported_list() -> String {
    Version::ALL
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::Version;

    #[test]
    fn negotiation_keeps_known_versions_and_falls_back() {
        assert_eq!(Version::negotiate("2025-06-18"), Version::V2025_06_18);
        assert_eq!(Version::negotiate("2025-03-26"), Version::V2025_03_26);
        assert_eq!(Version::negotiate("1999-01-01"), Version::V2025_11_25);
        assert_eq!(Version::negotiate("2026-07-28"), Version::V2025_11_25);
        assert!(Version::V2025_03_26.allows_batch());
        assert!(!Version::V2025_06_18.allows_batch());
    }
}
