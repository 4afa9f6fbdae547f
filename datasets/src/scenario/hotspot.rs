//! `hotspot`: Zipf-repeated read-only calls mixed with writes that invalidate.
//!
//! Reads are `resources/read` of a file URI and `tools/call search_code` (annotated read-only);
//! writes are `tools/call write_file`. Each record carries the identity of its true answer:
//! a file read's answer changes when the file is written, and a search's answer changes when
//! any of the three files it matches is written. A write announces only its own URI
//! (`invalidates`), as an MCP server's `notifications/resources/updated` would; a search
//! names the files it matched (`links`, its result's `resource_link`s). The pool is
//! `cache_invalidation = "announced"`: a write drops only what links the file it changed, so
//! the cache keeps what other writes do not touch. A cache that ignored the links would serve
//! stale searches: that is what the wrong-hit rate measures.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::json;

use super::common::{Draft, assemble, exp_gap, filler, lognormal, mix, object, phrase, pool};
use crate::format::{CacheInvalidation, Dataset, Header, PoolSpec, ToolSpec};

const SPEEDS: [f64; 4] = [1.0, 1.15, 1.3, 1.6];
const FILES: usize = 3_000;
const QUERIES: usize = 500;
/// Files whose content a search's answer depends on.
const FILES_PER_QUERY: u64 = 3;
const READ_MS: f64 = 4.0;
const SEARCH_MS: f64 = 30.0;
const WRITE_MS: f64 = 15.0;
const NOISE_SIGMA: f64 = 0.3;

fn uri(file: usize) -> String {
    format!("file:///repo/src/mod{}/file{file}.rs", file % 40)
}

/// `n` records: 55 % file reads, 30 % searches, 15 % writes, all Zipf(1.1)-skewed.
pub(crate) fn generate(n: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let header = Header {
        tools: vec![
            ToolSpec {
                name: String::from("search_code"),
                read_only: true,
            },
            ToolSpec {
                name: String::from("write_file"),
                read_only: false,
            },
        ],
        // The server announces every file a write changes, and searches link their files.
        ..Header::new(vec![PoolSpec {
            cache_invalidation: CacheInvalidation::Announced,
            ..pool("files", "f", &[4; 4])
        }])
    };
    let file_pick = Zipf::new(FILES as f64, 1.1).expect("valid zipf");
    let query_pick = Zipf::new(QUERIES as f64, 1.1).expect("valid zipf");
    let mut versions = vec![0u32; FILES];
    let mut t = 0.0;
    let mut drafts = Vec::with_capacity(n);
    for _ in 0..n {
        t += exp_gap(&mut rng);
        let session = format!("dev-{}", rng.random_range(0..24));
        let roll: f64 = rng.random();
        let draft = if roll < 0.55 {
            let file = file_pick.sample(&mut rng) as usize - 1;
            Draft {
                t,
                session,
                pool: "files",
                method: "resources/read",
                target: uri(file),
                args: serde_json::Value::Null,
                service_ms: service(&mut rng, READ_MS, None),
                errors: Vec::new(),
                answer: Some(format!("f{file}v{}", versions[file])),
                invalidates: Vec::new(),
                links: Vec::new(),
            }
        } else if roll < 0.85 {
            let query = query_pick.sample(&mut rng) as usize - 1;
            let files: Vec<usize> = (0..FILES_PER_QUERY)
                .map(|m| (mix(query as u64, m) % FILES as u64) as usize)
                .collect();
            let version: u32 = files.iter().map(|&f| versions[f]).sum();
            // Each query cluster is indexed on one replica, where it is twice as fast.
            let home = (mix(seed, query as u64 % 8) % SPEEDS.len() as u64) as usize;
            let mut text_rng = StdRng::seed_from_u64(mix(seed, query as u64));
            Draft {
                t,
                session,
                pool: "files",
                method: "tools/call",
                target: String::from("search_code"),
                // The symbol makes the arguments name the query: the answer depends on the
                // query's own files, so two queries must never send the same arguments (the
                // phrase and path alone took only 160 values for 500 queries, and an exact
                // cache then "wrongly" served one query's answer to another that sent the very
                // same request).
                args: object([
                    (
                        "pattern",
                        json!(format!(
                            "{} handler_{query}",
                            phrase(&mut text_rng, query % 8, 2)
                        )),
                    ),
                    ("path", json!(format!("src/mod{}", query % 40))),
                ]),
                service_ms: service(&mut rng, SEARCH_MS, Some(home)),
                errors: Vec::new(),
                answer: Some(format!("q{query}v{version}")),
                invalidates: Vec::new(),
                // The hits name the files they come from, as `resource_link`s.
                links: files.iter().map(|&f| uri(f)).collect(),
            }
        } else {
            let file = file_pick.sample(&mut rng) as usize - 1;
            versions[file] += 1;
            let len = rng.random_range(64..2048);
            Draft {
                t,
                session,
                pool: "files",
                method: "tools/call",
                target: String::from("write_file"),
                args: object([
                    ("path", json!(uri(file))),
                    ("content", json!(filler(&mut rng, len))),
                ]),
                service_ms: service(&mut rng, WRITE_MS, None),
                errors: Vec::new(),
                answer: None,
                invalidates: vec![uri(file)],
                links: Vec::new(),
            }
        };
        drafts.push(draft);
    }
    assemble(
        header,
        drafts,
        "hotspot: Zipf(1.1) file reads and searches with 15% writes; writes announce their own \
         URI only and searches link the files they matched",
    )
}

fn service(rng: &mut StdRng, base_ms: f64, home: Option<usize>) -> Vec<f64> {
    SPEEDS
        .iter()
        .enumerate()
        .map(|(r, speed)| {
            let affinity = if home == Some(r) { 0.5 } else { 1.0 };
            base_ms * speed * affinity * lognormal(rng, NOISE_SIGMA)
        })
        .collect()
}
