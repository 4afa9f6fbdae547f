//! The feature-hashing embedder: cheap enough for every request, deterministic everywhere.
//!
//! Each request yields a bag of weighted features; each feature's 64-bit hash picks a slot
//! (high bits) and a sign (low bit), the "hashing trick" of Weinberger et al. (ICML 2009), so
//! collisions cancel in expectation instead of piling up. Features:
//!
//! | family | hashed from | weight | why |
//! |---|---|---|---|
//! | method | method | 2.0 | `tools/call` vs `resources/read` differ in kind |
//! | name | method, tool/URI | 3.0 | the tool dominates latency and result shape |
//! | key path | path of keys from the root (array indices folded) | 1.0 | argument structure |
//! | value type | path, JSON type | 0.5 | schema drift shows even when values differ |
//! | exact value | path, raw value text | 1.0 | identical arguments give identical vectors |
//! | token | lower-cased ASCII-alphanumeric run | 0.8/√(1+len/8) | shared words in free text |
//! | trigram | lower-cased character 3-gram | 0.6/√(len) | typos, paths, partial overlaps |
//! | magnitude | path, sign, ⌊log2 \|x\|⌋ | 1.0 | `limit: 10` is nearer `12` than `10000` |
//! | size | ⌊log2 bytes⌋, depth, array/object lengths | 0.5 | cost grows with size |
//!
//! Work is bounded: only the first [`TEXT_WINDOW`] bytes of a string feed tokens and trigrams
//! (the exact-value hash covers all of it), nesting beyond the walker's depth is skipped, and
//! after [`MAX_TEXT_FEATURES`] text features only structure is added. xxh3 with fixed seeds and
//! integer-only mixing make the result identical on every machine; the only floating-point
//! steps are the weighted sums and the final normalisation, which are evaluated in a fixed order.

use super::scan::{self, Literal, MAX_WALK_DEPTH, Visitor};
use super::{Embedder, RequestView, normalize};
use crate::error::EmbedError;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Dimension chosen by measurement (see the crate docs, "Choosing the dimension").
pub const DEFAULT_DIM: usize = 128;

/// Bytes of each string that feed tokens and trigrams.
pub const TEXT_WINDOW: usize = 256;

/// Text features (tokens + trigrams) per request beyond which only structure is embedded.
pub const MAX_TEXT_FEATURES: usize = 4096;

const SEED: u64 = 0x6d63_702d_656d_6231; // "mcp-emb1"

/// Feature-hashing [`Embedder`]. Stateless apart from its dimension and seed, so one instance is
/// shared by every thread.
#[derive(Clone, Debug)]
pub struct HashingEmbedder {
    dim: usize,
    seed: u64,
    id: String,
}

impl HashingEmbedder {
    /// An embedder writing `dim`-dimensional vectors (`dim` ≥ 8).
    pub fn new(dim: usize) -> HashingEmbedder {
        Self::with_seed(dim, SEED)
    }

    /// An embedder with another seed: vectors from different seeds are not comparable.
    pub fn with_seed(dim: usize, seed: u64) -> HashingEmbedder {
        let dim = dim.max(8);
        HashingEmbedder {
            dim,
            seed,
            id: format!("hashing-v1/dim={dim}/seed={seed:016x}"),
        }
    }
}

impl Default for HashingEmbedder {
    fn default() -> Self {
        Self::new(DEFAULT_DIM)
    }
}

impl Embedder for HashingEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn embed(&self, req: &RequestView<'_>, out: &mut [f32]) -> Result<(), EmbedError> {
        if out.len() != self.dim {
            return Err(EmbedError::WrongDimension {
                expected: self.dim,
                received: out.len(),
            });
        }
        out.fill(0.0);
        let mut sink = Sink {
            out,
            dim: self.dim as u64,
            seed: self.seed,
            paths: [0; MAX_WALK_DEPTH + 2],
            text_features: 0,
        };
        let method = xxh3_64_with_seed(req.method.as_bytes(), self.seed);
        sink.add(method, 2.0);
        let mut root = method;
        if let Some(name) = req.name {
            root = xxh3_64_with_seed(name.as_bytes(), method);
            sink.add(root, 3.0);
        }
        sink.paths[0] = root;
        if let Some(args) = req.arguments {
            let bytes = args.as_bytes();
            sink.add(mix(root ^ 0x5153, log2_bucket(bytes.len() as f64)), 0.5);
            if !scan::walk(bytes, &mut sink) {
                sink.add(mix(root, 0xBAD), 0.5);
            }
        }
        normalize(sink.out)
    }
}

/// Accumulates hashed features into the output vector while the walker runs.
struct Sink<'o> {
    out: &'o mut [f32],
    dim: u64,
    seed: u64,
    /// `paths[d]`: hash of the key path down to depth `d` (0 = the request root).
    paths: [u64; MAX_WALK_DEPTH + 2],
    text_features: usize,
}

impl Sink<'_> {
    #[inline]
    fn add(&mut self, h: u64, weight: f32) {
        // Slot from the high 32 bits (multiply-shift range reduction, no modulo bias worth
        // mentioning), sign from the lowest bit.
        let slot = (((h >> 32) * self.dim) >> 32) as usize;
        let signed = if h & 1 == 0 { weight } else { -weight };
        self.out[slot] += signed;
    }

    fn path(&self, depth: usize) -> u64 {
        self.paths[depth.min(MAX_WALK_DEPTH + 1)]
    }

    fn text(&mut self, raw: &[u8]) {
        let window = &raw[..raw.len().min(TEXT_WINDOW)];
        if self.text_features >= MAX_TEXT_FEATURES {
            return;
        }
        let token_weight = 0.8 / (1.0 + window.len() as f32 / 8.0).sqrt();
        let mut token: u64 = FNV_OFFSET;
        let mut token_len = 0usize;
        let mut i = 0;
        while i < window.len() {
            let b = window[i];
            let is_word = b.is_ascii_alphanumeric() || b >= 0x80;
            if b == b'\\' {
                // Skip the escape (`\n`, `\"`, `\u00e9`): it separates words.
                i += if window.get(i + 1) == Some(&b'u') {
                    6
                } else {
                    2
                };
            } else {
                i += 1;
            }
            if is_word {
                token = (token ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(FNV_PRIME);
                token_len += 1;
                continue;
            }
            if token_len > 0 {
                self.add(mix(token, self.seed ^ 0x7), token_weight);
                self.text_features += 1;
            }
            token = FNV_OFFSET;
            token_len = 0;
        }
        if token_len > 0 {
            self.add(mix(token, self.seed ^ 0x7), token_weight);
            self.text_features += 1;
        }
        if window.len() >= 3 {
            let gram_weight = 0.6 / ((window.len() - 2) as f32).sqrt();
            // A rolling trigram (byte i at bits 0..8, i+1 at 8..16, i+2 at 16..24): each byte
            // is lowered once instead of three times.
            let lower = |b: u8| u64::from(b.to_ascii_lowercase());
            let salt = self.seed ^ 0x3;
            let mut g = lower(window[0]) << 8 | lower(window[1]) << 16;
            for &b in &window[2..] {
                g = g >> 8 | lower(b) << 16;
                self.add(mix(g, salt), gram_weight);
            }
            self.text_features += window.len() - 2;
        }
    }
}

impl Visitor for Sink<'_> {
    fn key(&mut self, depth: usize, raw: &[u8]) {
        let h = xxh3_64_with_seed(raw, self.path(depth - 1));
        if depth <= MAX_WALK_DEPTH + 1 {
            self.paths[depth] = h;
        }
        self.add(h, 1.0);
    }

    fn element(&mut self, depth: usize) {
        if depth <= MAX_WALK_DEPTH + 1 {
            self.paths[depth] = mix(self.path(depth - 1), 0xA77A);
        }
    }

    fn string(&mut self, depth: usize, raw: &[u8]) {
        let path = self.path(depth);
        self.add(mix(path, TYPE_STRING), 0.5);
        self.add(xxh3_64_with_seed(raw, path ^ 0x5717), 1.0);
        self.text(raw);
    }

    fn number(&mut self, depth: usize, raw: &[u8]) {
        let path = self.path(depth);
        self.add(mix(path, TYPE_NUMBER), 0.5);
        self.add(xxh3_64_with_seed(raw, path ^ 0x4E55), 1.0);
        // The walker only hands over ASCII number characters, so this is valid UTF-8.
        let value = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
        let magnitude = if value == 0.0 {
            0x2E20
        } else {
            log2_bucket(value.abs()) ^ if value < 0.0 { 0x8000 } else { 0 }
        };
        self.add(mix(path ^ 0x3A6, magnitude), 1.0);
    }

    fn literal(&mut self, depth: usize, value: Literal) {
        let path = self.path(depth);
        let tag = match value {
            Literal::True => 0x7E,
            Literal::False => 0xFA,
            Literal::Null => 0x0,
        };
        self.add(mix(path, TYPE_LITERAL), 0.5);
        self.add(mix(path ^ 0x1175, tag), 1.0);
    }

    fn close(&mut self, depth: usize, is_array: bool, len: usize) {
        let path = self.path(depth);
        let tag = if is_array { TYPE_ARRAY } else { TYPE_OBJECT };
        self.add(mix(path, tag), 0.5);
        self.add(mix(path ^ tag, log2_bucket(len as f64 + 1.0)), 0.5);
        if depth > 0 {
            self.add(mix(self.seed ^ 0xDE, depth as u64), 0.2);
        }
    }
}

const TYPE_STRING: u64 = 1;
const TYPE_NUMBER: u64 = 2;
const TYPE_LITERAL: u64 = 3;
const TYPE_ARRAY: u64 = 4;
const TYPE_OBJECT: u64 = 5;
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Mixes two words into a well-spread hash (the splitmix64 finaliser).
#[inline]
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `⌊log2 x⌋` clamped to ±1100 and offset to stay positive, as a feature tag; 0 for x < 2^-1100.
fn log2_bucket(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 || !x.is_finite() {
        return 0;
    }
    // Exact for every finite positive double: read the binary exponent.
    let exp = ((x.to_bits() >> 52) & 0x7FF) as i64 - 1023;
    (exp.clamp(-1100, 1100) + 1200) as u64
}
