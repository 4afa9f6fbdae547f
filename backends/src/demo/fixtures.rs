//! The demo server's synthetic world: repositories, their files, and small binary assets.
//!
//! Everything is derived from names with a stable hash, so every replica (and every run) sees the
//! same repositories and the same file contents without shipping any data.

/// 1x1 red PNG, base64 (also the conformance suite's test image).
pub(crate) const PNG_1X1_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// Minimal WAV file (44-byte header, one silent sample), base64.
pub(crate) const WAV_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

/// The repositories the demo tools know about.
pub(crate) const REPOS: &[&str] = &[
    "vecgate",
    "tokio",
    "hyper",
    "tower",
    "serde",
    "rmcp",
    "tantivy",
    "linkerd2-proxy",
];

/// Paths present in every demo repository.
pub(crate) const PATHS: &[&str] = &[
    "README.md",
    "Cargo.toml",
    "src/lib.rs",
    "src/error.rs",
    "src/config.rs",
    "src/server.rs",
    "src/client.rs",
    "src/util/mod.rs",
    "tests/integration.rs",
    "benches/throughput.rs",
];

/// Words the synthetic source files are made of (and `search_code` finds).
const VOCABULARY: &[&str] = &[
    "connection",
    "request",
    "response",
    "timeout",
    "retry",
    "buffer",
    "session",
    "stream",
    "handler",
    "router",
    "cache",
    "index",
    "config",
    "error",
    "future",
    "service",
    "layer",
    "pool",
    "backoff",
    "metrics",
];

/// FNV-1a, 64-bit: stable across runs, platforms and Rust versions (unlike `DefaultHasher`).
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Size in KiB (1..=64) of `path` in `repo`: decides how long reading it takes.
pub(crate) fn file_size_kib(repo: &str, path: &str) -> u32 {
    1 + (stable_hash(&[repo, path]) % 64) as u32
}

/// A short, deterministic excerpt of `path` in `repo` (the full "file" is only modelled by size).
pub(crate) fn file_excerpt(repo: &str, path: &str) -> String {
    let seed = stable_hash(&[repo, path]);
    let mut text = format!("// {repo}/{path} ({} KiB)\n", file_size_kib(repo, path));
    for line in 0..8u64 {
        let word = VOCABULARY[((seed >> (line * 5)) % VOCABULARY.len() as u64) as usize];
        let other = VOCABULARY[((seed >> (line * 3 + 1)) % VOCABULARY.len() as u64) as usize];
        text.push_str(&format!(
            "pub fn {word}_{other}_{line}() -> Result<(), Error> {{ Ok(()) }}\n"
        ));
    }
    text
}

/// Paths of `repo` whose excerpt mentions every whitespace-separated term of `query`, as
/// `(path, line)` pairs; at most `limit` of them.
pub(crate) fn search(repo: &str, query: &str, limit: usize) -> Vec<(&'static str, usize)> {
    let terms: Vec<String> = query
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let mut hits = Vec::new();
    for path in PATHS {
        let excerpt = file_excerpt(repo, path);
        let found = excerpt.lines().enumerate().find(|(_, line)| {
            let line = line.to_ascii_lowercase();
            !terms.is_empty() && terms.iter().all(|term| line.contains(term.as_str()))
        });
        if let Some((line, _)) = found {
            hits.push((*path, line + 1));
            if hits.len() == limit {
                break;
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_separates_parts() {
        // Pinned value: changing the hash would silently reshuffle which replica is warm for what.
        assert_eq!(stable_hash(&["vecgate"]), stable_hash(&["vecgate"]));
        assert_ne!(stable_hash(&["ab", "c"]), stable_hash(&["a", "bc"]));
        assert_eq!(stable_hash(&[]), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn files_are_deterministic_and_searchable() {
        assert_eq!(
            file_excerpt("tokio", "src/lib.rs"),
            file_excerpt("tokio", "src/lib.rs")
        );
        assert_ne!(
            file_excerpt("tokio", "src/lib.rs"),
            file_excerpt("hyper", "src/lib.rs")
        );
        let size = file_size_kib("tokio", "src/lib.rs");
        assert!((1..=64).contains(&size));
        // Every word in an excerpt can be found again by searching for it.
        let excerpt = file_excerpt("tower", "src/server.rs");
        let word = excerpt.lines().nth(1).unwrap()["pub fn ".len()..]
            .split('_')
            .next()
            .unwrap();
        let hits = search("tower", word, PATHS.len());
        assert!(
            hits.iter().any(|(path, _)| *path == "src/server.rs"),
            "{word}: {hits:?}"
        );
        assert!(search("tower", "", 3).is_empty());
        assert!(search("tower", "no-such-term", 3).is_empty());
    }
}
