//! A seeded generator of MCP-like requests, for tests and benches.
//!
//! Real MCP traffic is a few dozen tools with small JSON argument objects whose values repeat
//! with a heavy-tailed popularity (a few paths, cities and queries dominate). Isotropic random
//! vectors would make HNSW look hopeless and flat scans look fair; these requests embed into
//! the clustered, low-rank shape the index actually sees. Same seed, same requests.

use crate::embed::RequestView;

/// A small deterministic RNG (splitmix64); enough for workload generation, no dependency.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Zipf-like index in `0..n`: index `i` has weight about `1/(i+1)`.
    pub fn zipf(&mut self, n: usize) -> usize {
        // Inverse CDF of the continuous 1/x density on [1, n+1).
        let x = ((n as f64 + 1.0).ln() * self.unit()).exp() - 1.0;
        (x as usize).min(n - 1)
    }
}

/// One generated request, owning its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GeneratedRequest {
    /// JSON-RPC method.
    pub method: &'static str,
    /// Tool name or resource URI.
    pub name: Option<String>,
    /// Raw JSON arguments.
    pub arguments: Option<String>,
}

impl GeneratedRequest {
    /// Borrows the request as the embedder sees it.
    pub fn view(&self) -> RequestView<'_> {
        RequestView {
            method: self.method,
            name: self.name.as_deref(),
            arguments: self.arguments.as_deref(),
        }
    }
}

const WORDS: &[&str] = &[
    "error",
    "latency",
    "timeout",
    "deploy",
    "rollback",
    "invoice",
    "customer",
    "refund",
    "order",
    "cache",
    "index",
    "vector",
    "gateway",
    "pool",
    "replica",
    "shard",
    "leader",
    "metrics",
    "trace",
    "span",
    "config",
    "secret",
    "token",
    "login",
    "signup",
    "billing",
    "report",
    "weekly",
    "daily",
    "summary",
    "draft",
    "review",
    "merge",
    "branch",
    "commit",
    "release",
    "bug",
    "feature",
    "test",
    "flaky",
    "build",
    "docker",
    "kubernetes",
    "node",
    "memory",
    "cpu",
    "disk",
    "network",
    "dns",
];
const DIRS: &[&str] = &[
    "src", "docs", "tests", "config", "scripts", "lib", "api", "web", "data",
];
const EXTS: &[&str] = &["rs", "md", "toml", "json", "py", "ts", "yaml", "txt"];
const CITIES: &[&str] = &[
    "Paris", "Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Austin", "Pune", "Seoul", "Quito",
    "Cairo", "Perth", "Dublin", "Nairobi", "Denver", "Hanoi",
];
const REPOS: &[&str] = &[
    "acme/web",
    "acme/api",
    "acme/infra",
    "tools/cli",
    "tools/lint",
    "data/etl",
    "ml/train",
];
const STATES: &[&str] = &["open", "closed", "all"];
const TABLES: &[&str] = &["orders", "users", "events", "payments", "sessions", "items"];

/// Generates MCP-like requests over a fixed catalogue of tools and resources.
#[derive(Clone, Debug)]
pub struct Workload {
    rng: SplitMix64,
}

impl Workload {
    /// A workload whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Workload {
        Workload {
            rng: SplitMix64::new(seed),
        }
    }

    /// Access to the generator's RNG (e.g. to draw queries).
    pub fn rng(&mut self) -> &mut SplitMix64 {
        &mut self.rng
    }

    fn pick<'w>(&mut self, list: &[&'w str]) -> &'w str {
        list[self.rng.zipf(list.len())]
    }

    fn words(&mut self, max: usize) -> String {
        let n = 1 + self.rng.below(max);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.pick(WORDS));
        }
        s
    }

    fn path(&mut self) -> String {
        format!(
            "{}/{}/{}_{}.{}",
            self.pick(DIRS),
            self.pick(DIRS),
            self.pick(WORDS),
            self.rng.zipf(200),
            self.pick(EXTS)
        )
    }

    /// The next request: a `tools/call` to one of ~14 tools, or a `resources/read`.
    pub fn next_request(&mut self) -> GeneratedRequest {
        let tool = self.rng.zipf(15);
        let (name, args) = match tool {
            0 => ("read_file", format!(r#"{{"path":"{}"}}"#, self.path())),
            1 => (
                "search_files",
                format!(
                    r#"{{"query":"{}","path":"{}","limit":{}}}"#,
                    self.words(3),
                    self.pick(DIRS),
                    [10, 20, 50, 100][self.rng.below(4)]
                ),
            ),
            2 => (
                "get_weather",
                format!(
                    r#"{{"city":"{}","units":"{}"}}"#,
                    self.pick(CITIES),
                    ["metric", "imperial"][self.rng.below(2)]
                ),
            ),
            3 => (
                "sql_query",
                format!(
                    r#"{{"database":"prod","query":"SELECT * FROM {} WHERE id = {} LIMIT {}","timeout_ms":{}}}"#,
                    self.pick(TABLES),
                    self.rng.zipf(5000),
                    1 + self.rng.below(100),
                    [1000, 5000, 30000][self.rng.below(3)]
                ),
            ),
            4 => (
                "list_issues",
                format!(
                    r#"{{"repo":"{}","state":"{}","labels":["{}","{}"],"page":{}}}"#,
                    self.pick(REPOS),
                    self.pick(STATES),
                    self.pick(WORDS),
                    self.pick(WORDS),
                    1 + self.rng.zipf(20)
                ),
            ),
            5 => (
                "fetch_url",
                format!(
                    r#"{{"url":"https://{}.example.com/{}/{}","headers":{{"accept":"application/json"}},"max_bytes":{}}}"#,
                    self.pick(WORDS),
                    self.pick(DIRS),
                    self.rng.zipf(1000),
                    1 << (10 + self.rng.below(10))
                ),
            ),
            6 => (
                "write_file",
                format!(
                    r#"{{"path":"{}","content":"{}","create":{}}}"#,
                    self.path(),
                    self.words(12),
                    self.rng.below(2) == 0
                ),
            ),
            7 => (
                "run_tests",
                format!(
                    r#"{{"package":"{}","filter":"{}","release":{}}}"#,
                    self.pick(DIRS),
                    self.pick(WORDS),
                    self.rng.below(2) == 0
                ),
            ),
            8 => (
                "create_issue",
                format!(
                    r#"{{"repo":"{}","title":"{}","body":"{}","labels":["{}"]}}"#,
                    self.pick(REPOS),
                    self.words(6),
                    self.words(30),
                    self.pick(WORDS)
                ),
            ),
            9 => (
                "get_metrics",
                format!(
                    r#"{{"service":"{}","metric":"{}","window_s":{},"quantiles":[0.5,0.9,0.99]}}"#,
                    self.pick(WORDS),
                    self.pick(WORDS),
                    [60, 300, 3600, 86400][self.rng.below(4)]
                ),
            ),
            10 => (
                "translate",
                format!(
                    r#"{{"text":"{}","to":"{}"}}"#,
                    self.words(15),
                    ["fr", "de", "ja", "es"][self.rng.below(4)]
                ),
            ),
            11 => (
                "vector_search",
                format!(
                    r#"{{"collection":"{}","query":"{}","k":{},"filter":{{"tenant":"t{}"}}}}"#,
                    self.pick(TABLES),
                    self.words(5),
                    [5, 10, 20][self.rng.below(3)],
                    self.rng.zipf(50)
                ),
            ),
            12 => (
                "geocode",
                format!(
                    r#"{{"address":"{} {} street, {}","country":"{}"}}"#,
                    1 + self.rng.zipf(300),
                    self.pick(WORDS),
                    self.pick(CITIES),
                    ["FR", "DE", "JP", "US"][self.rng.below(4)]
                ),
            ),
            13 => (
                "kv_get",
                format!(
                    r#"{{"key":"{}:{}"}}"#,
                    self.pick(WORDS),
                    self.rng.zipf(10_000)
                ),
            ),
            _ => {
                return GeneratedRequest {
                    method: "resources/read",
                    name: Some(format!("file:///{}", self.path())),
                    arguments: None,
                };
            }
        };
        GeneratedRequest {
            method: "tools/call",
            name: Some(name.to_owned()),
            arguments: Some(args),
        }
    }

    /// A large request: a batch tool whose arguments hold `items` nested records (about 150
    /// bytes each), for the embedder's worst case.
    pub fn large_request(&mut self, items: usize) -> GeneratedRequest {
        let mut args = String::from(r#"{"operation":"bulk_upsert","items":["#);
        for i in 0..items {
            if i > 0 {
                args.push(',');
            }
            args.push_str(&format!(
                r#"{{"id":{},"path":"{}","tags":["{}","{}"],"meta":{{"size":{},"owner":"{}","note":"{}"}}}}"#,
                self.rng.zipf(100_000),
                self.path(),
                self.pick(WORDS),
                self.pick(WORDS),
                self.rng.below(1 << 20),
                self.pick(CITIES),
                self.words(4)
            ));
        }
        args.push_str("]}");
        GeneratedRequest {
            method: "tools/call",
            name: Some("bulk_upsert".to_owned()),
            arguments: Some(args),
        }
    }
}

/// Embeddings of `n` distinct requests from `Workload::new(seed)`, row-major
/// (`n × embedder.dim()`): the stand-in for a store's entries or a query stream.
pub fn distinct_embeddings(embedder: &dyn crate::embed::Embedder, n: usize, seed: u64) -> Vec<f32> {
    let dim = embedder.dim();
    let mut workload = Workload::new(seed);
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut out = vec![0.0; n * dim];
    let mut filled = 0;
    let mut attempts = 0usize;
    while filled < n {
        attempts += 1;
        // Rare catalogue corners run dry: mix in large requests to keep producing new ones.
        let request = if attempts > 8 * n {
            workload.large_request(1 + attempts % 3)
        } else {
            workload.next_request()
        };
        if !seen.insert(request.clone()) {
            continue;
        }
        let row = &mut out[filled * dim..(filled + 1) * dim];
        if embedder.embed(&request.view(), row).is_ok() {
            filled += 1;
        }
    }
    out
}

/// Embeddings of the first `n` requests of `Workload::new(seed)`, repeats included, row-major
/// (`n × embedder.dim()`): a stream of traffic, each request as often as the workload asks it.
pub fn traffic_embeddings(embedder: &dyn crate::embed::Embedder, n: usize, seed: u64) -> Vec<f32> {
    let dim = embedder.dim();
    let mut workload = Workload::new(seed);
    let mut out = vec![0.0; n * dim];
    let mut filled = 0;
    while filled < n {
        let row = &mut out[filled * dim..(filled + 1) * dim];
        if embedder.embed(&workload.next_request().view(), row).is_ok() {
            filled += 1;
        }
    }
    out
}
