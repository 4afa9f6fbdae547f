//! The gateway's configuration: a TOML file, validated before any port is bound.
//!
//! `vecgate serve` with no `--config` runs [`Config::embedded_default`]: the gateway on
//! `127.0.0.1:8383` in front of the bundled demo MCP server spawned as three stdio replicas.
//! Every error names the key (and, for syntax errors, the line) that is wrong.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use vecgate_backends::config::{BackoffSpec, PoolSpec, TransportSpec};
pub use vecgate_datasets::CacheInvalidation;

use crate::auth::config::{AdminConfig, AuthConfig, RateLimitConfig};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8383";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown/mistyped key (the message names key and line).
    #[error("invalid config {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// toml's description, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid config: {key}: {problem}")]
    Invalid {
        /// The dotted key, e.g. `pool[1].replicas`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP front listens on (`/mcp`, `/sse`, `/messages`, `/healthz`, `/metrics`).
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Extra allowed `Origin` values (exact, or a `scheme://host:*` wildcard port). Requests whose
    /// `Origin` is neither loopback nor listed get 403 (DNS-rebinding protection).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// 32-byte key (64 hex digits) that seals session ids. Instances sharing it can serve each
    /// other's sessions. Default: a random key per process.
    #[serde(default)]
    pub session_key: Option<String>,
    /// Items per page of aggregated `*/list` results (0 = everything in one page).
    #[serde(default = "default_page_size")]
    pub list_page_size: usize,
    /// Largest accepted request body.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// How a tool or prompt name shared by several pools is exposed (see [`NamespaceRule`]).
    #[serde(default)]
    pub namespace: NamespaceRule,
    /// The routing policy for multi-replica pools (a name from `vecgate_learner::POLICY_NAMES`).
    #[serde(default = "default_policy")]
    pub policy: String,
    /// Where learned state is snapshotted and restored from (none: start cold, keep nothing).
    #[serde(default)]
    pub state_dir: Option<PathBuf>,
    /// Client authentication (absent: no authentication). See [`crate::auth`].
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Credentials for `/admin/*` and `/metrics` (absent: open).
    #[serde(default)]
    pub admin: Option<AdminConfig>,
    /// Per-principal request-rate limit (absent: none).
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// The upstream pools.
    #[serde(default, rename = "pool")]
    pub pools: Vec<PoolConfig>,
}

/// How names that several pools share are exposed to clients.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NamespaceRule {
    /// Keep a name as is while one pool has it; when several do, expose each as
    /// `{pool}__{name}` (default).
    #[default]
    OnConflict,
    /// Always expose `{pool}__{name}`.
    Always,
}

/// One pool of interchangeable replicas of one MCP server.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// The pool's name: letters, digits, `-` and `_`; used in namespaced tool names.
    pub name: String,
    /// Stdio: the command to spawn (one process per replica).
    #[serde(default)]
    pub command: Option<String>,
    /// Stdio: its arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Stdio: extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Stdio: working directory.
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    /// Stdio: how many processes to spawn.
    #[serde(default)]
    pub replicas: Option<u32>,
    /// Streamable HTTP: one URL per replica.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Legacy HTTP+SSE (2024-11-05): one `/sse` URL per replica.
    #[serde(default)]
    pub sse_urls: Vec<String>,
    /// HTTP: extra headers sent upstream (e.g. per-upstream credentials; client tokens are
    /// never passed through).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Handshake timeout.
    #[serde(default = "default_init_timeout_ms")]
    pub init_timeout_ms: u64,
    /// Pin each client session to one replica (for servers holding per-client state).
    #[serde(default)]
    pub affinity: bool,
    /// Requests one replica serves at once (0 = unknown/unlimited); a routing input.
    #[serde(default)]
    pub slots: u32,
    /// Stop a stdio replica idle this long; it restarts on demand.
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Tools of this pool whose results may be cached although not annotated read-only.
    #[serde(default)]
    pub cacheable_tools: Vec<String>,
    /// Tools whose cached answers may be served to every principal (the answer does not
    /// depend on who asks). Others are cached per principal.
    #[serde(default)]
    pub shared_tools: Vec<String>,
    /// When this pool's cached answers stop being served: `"any-write"` (default: any call of
    /// a tool that is not cacheable drops them all) or `"announced"` (the server announces
    /// every resource a write changes and links the resources a tool answer derives from; see
    /// [`crate::cache::announced`]). `"announced"` needs a stdio pool.
    #[serde(default)]
    pub cache_invalidation: CacheInvalidation,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_owned()
}
fn default_page_size() -> usize {
    1000
}
fn default_max_body() -> usize {
    4 << 20
}
fn default_policy() -> String {
    vecgate_learner::policy::DEFAULT_POLICY.to_owned()
}
fn default_request_timeout_ms() -> u64 {
    60_000
}
fn default_init_timeout_ms() -> u64 {
    15_000
}

impl Config {
    /// Read, parse and validate a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parse and validate TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The embedded default: the bundled demo server (`vecgate demo-server`) as 3 stdio
    /// replicas, spawned from this very executable.
    pub fn embedded_default(exe: &Path) -> Config {
        Config {
            listen: default_listen(),
            allowed_origins: Vec::new(),
            session_key: None,
            list_page_size: default_page_size(),
            max_body_bytes: default_max_body(),
            namespace: NamespaceRule::OnConflict,
            policy: default_policy(),
            state_dir: None,
            auth: None,
            admin: None,
            rate_limit: None,
            pools: vec![PoolConfig {
                name: "demo".to_owned(),
                command: Some(exe.to_string_lossy().into_owned()),
                args: vec!["demo-server".to_owned()],
                env: BTreeMap::new(),
                cwd: None,
                replicas: Some(3),
                urls: Vec::new(),
                sse_urls: Vec::new(),
                headers: BTreeMap::new(),
                request_timeout_ms: default_request_timeout_ms(),
                init_timeout_ms: default_init_timeout_ms(),
                affinity: false,
                slots: 0,
                idle_timeout_ms: None,
                cacheable_tools: Vec::new(),
                shared_tools: Vec::new(),
                cache_invalidation: CacheInvalidation::AnyWrite,
            }],
        }
    }

    /// Check every value; the first problem found is returned with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if let Some(key) = &self.session_key {
            parse_key(key)?;
        }
        if !vecgate_learner::policy::POLICY_NAMES.contains(&self.policy.as_str()) {
            return Err(invalid(
                "policy",
                format!(
                    "unknown policy {:?}; known: {}",
                    self.policy,
                    vecgate_learner::policy::POLICY_NAMES.join(", ")
                ),
            ));
        }
        if let Some(auth) = &self.auth {
            auth.validate()?;
        }
        if let Some(admin) = &self.admin {
            if admin.keys.is_empty() {
                return Err(invalid(
                    "admin.keys",
                    "give at least one key, or remove [admin]",
                ));
            }
            crate::auth::config::validate_keys("admin.keys", &admin.keys)?;
        }
        if let Some(rate) = &self.rate_limit {
            rate.validate()?;
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("max_body_bytes", "must be at least 1024"));
        }
        if self.pools.is_empty() {
            return Err(invalid("pool", "at least one [[pool]] is required"));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, pool) in self.pools.iter().enumerate() {
            let key = |field: &str| format!("pool[{i}].{field}");
            if pool.name.is_empty()
                || !pool
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    key("name"),
                    format!("{:?}: use letters, digits, '-' and '_'", pool.name),
                ));
            }
            if pool.name.len() > 24 {
                return Err(invalid(
                    key("name"),
                    "at most 24 characters (it prefixes tool names, which Claude caps at 64)",
                ));
            }
            if !seen.insert(pool.name.as_str()) {
                return Err(invalid(
                    key("name"),
                    format!("duplicate pool {:?}", pool.name),
                ));
            }
            let kinds = [
                pool.command.is_some(),
                !pool.urls.is_empty(),
                !pool.sse_urls.is_empty(),
            ];
            match kinds.iter().filter(|k| **k).count() {
                1 => {}
                0 => {
                    return Err(invalid(
                        format!("pool[{i}]"),
                        "needs one of `command` (stdio), `urls` (Streamable HTTP) or `sse_urls` (legacy SSE)",
                    ));
                }
                _ => {
                    return Err(invalid(
                        format!("pool[{i}]"),
                        "give only one of `command`, `urls`, `sse_urls`",
                    ));
                }
            }
            if pool.command.is_none() && pool.replicas.is_some() {
                return Err(invalid(
                    key("replicas"),
                    "only for stdio pools; an HTTP pool has one replica per URL",
                ));
            }
            if pool.replicas == Some(0) || pool.replicas.is_some_and(|r| r > 64) {
                return Err(invalid(key("replicas"), "must be between 1 and 64"));
            }
            for (j, url) in pool.urls.iter().chain(&pool.sse_urls).enumerate() {
                if !(url.starts_with("http://") || url.starts_with("https://"))
                    || url.parse::<http::Uri>().is_err()
                {
                    return Err(invalid(
                        format!("pool[{i}].urls[{j}]"),
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
            }
            if pool.cache_invalidation == CacheInvalidation::Announced && pool.command.is_none() {
                return Err(invalid(
                    key("cache_invalidation"),
                    "\"announced\" needs a stdio pool: over HTTP a server's \
                     notifications/resources/updated may arrive after the answer to the write \
                     that caused it, and the cache would serve the replaced answer meanwhile",
                ));
            }
            if pool.request_timeout_ms == 0 {
                return Err(invalid(key("request_timeout_ms"), "must be > 0"));
            }
            if pool.init_timeout_ms == 0 {
                return Err(invalid(key("init_timeout_ms"), "must be > 0"));
            }
        }
        Ok(())
    }

    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|e| invalid("listen", format!("{:?}: {e}", self.listen)))
    }

    /// The session-sealing key, if configured.
    pub fn session_key_bytes(&self) -> Result<Option<[u8; 32]>, ConfigError> {
        self.session_key.as_deref().map(parse_key).transpose()
    }

    /// The backends' view of each pool.
    pub fn pool_specs(&self) -> Vec<PoolSpec> {
        self.pools.iter().map(PoolConfig::to_spec).collect()
    }
}

impl PoolConfig {
    /// The backends crate's pool specification.
    pub fn to_spec(&self) -> PoolSpec {
        let pairs =
            |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let transport = if let Some(command) = &self.command {
            TransportSpec::Stdio {
                command: command.clone(),
                args: self.args.clone(),
                env: pairs(&self.env),
                cwd: self.cwd.clone(),
                replicas: self.replicas.unwrap_or(1),
            }
        } else if !self.urls.is_empty() {
            TransportSpec::StreamableHttp {
                urls: self.urls.clone(),
                headers: pairs(&self.headers),
            }
        } else {
            TransportSpec::Sse {
                urls: self.sse_urls.clone(),
                headers: pairs(&self.headers),
            }
        };
        PoolSpec {
            name: self.name.clone(),
            transport,
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            init_timeout: Duration::from_millis(self.init_timeout_ms),
            affinity: self.affinity,
            slots_per_replica: self.slots,
            idle_timeout: self.idle_timeout_ms.map(Duration::from_millis),
            restart: BackoffSpec::default(),
        }
    }
}

fn parse_key(hex: &str) -> Result<[u8; 32], ConfigError> {
    let bad = || invalid("session_key", "must be 64 hex digits (32 bytes)");
    if hex.len() != 64 {
        return Err(bad());
    }
    let mut key = [0u8; 32];
    for (i, byte) in key.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn embedded_default_is_valid() {
        Config::embedded_default(Path::new("/bin/vecgate"))
            .validate()
            .unwrap();
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = parse("listen = \"127.0.0.1:1\"\n[[pool]]\nname = \"a\"\ncomand = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("comand") && e.contains("line 4"), "{e}");
        let e = parse("[[pool]]\nname = \"a\"\ncommand = \"x\"\nreplicas = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool[0].replicas"), "{e}");
        let e = parse("[[pool]]\nname = \"a b\"\ncommand = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool[0].name"), "{e}");
        let e = parse("[[pool]]\nname = \"a\"\nurls = [\"ftp://x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pool[0].urls[0]"), "{e}");
        let e = parse("listen = \"nowhere\"\n[[pool]]\nname = \"a\"\ncommand = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
        let e = parse("[[pool]]\nname = \"a\"\ncommand = \"x\"\nurls = [\"http://h/mcp\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("only one of"), "{e}");
        let e = parse("[[pool]]\nname = \"a\"\nurls = [\"http://h/mcp\"]\ncache_invalidation = \"announced\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pool[0].cache_invalidation") && e.contains("stdio"),
            "{e}"
        );
        let e = parse("[[pool]]\nname = \"a\"\ncommand = \"x\"\ncache_invalidation = \"never\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("any-write") && e.contains("announced"), "{e}");
        let c =
            parse("[[pool]]\nname = \"a\"\ncommand = \"x\"\ncache_invalidation = \"announced\"\n")
                .unwrap();
        assert_eq!(c.pools[0].cache_invalidation, CacheInvalidation::Announced);
    }

    #[test]
    fn a_full_config_parses() {
        let c = parse(
            r#"
listen = "127.0.0.1:0"
session_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
namespace = "always"
[[pool]]
name = "fs"
command = "node"
args = ["server.js"]
replicas = 2
affinity = true
[[pool]]
name = "remote"
urls = ["http://127.0.0.1:9001/mcp", "http://127.0.0.1:9002/mcp"]
request_timeout_ms = 5000
"#,
        )
        .unwrap();
        assert_eq!(c.pools.len(), 2);
        assert_eq!(c.namespace, NamespaceRule::Always);
        assert_eq!(c.session_key_bytes().unwrap().unwrap()[31], 0x1f);
        assert!(matches!(
            c.pools[1].to_spec().transport,
            TransportSpec::StreamableHttp { ref urls, .. } if urls.len() == 2
        ));
    }
}
