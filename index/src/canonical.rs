//! Canonical JSON and stable request keys.
//!
//! Two requests that mean the same thing must produce the same cache key and the same
//! embedding, whatever key order, whitespace, escapes or number spelling the client used.
//! [`canonical_json`] follows RFC 8785 (JCS) in spirit:
//! - object members sorted by the UTF-16 code units of their keys, no insignificant whitespace;
//! - strings re-escaped minimally (`\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00xx`),
//!   everything else literal UTF-8; no Unicode normalisation (JCS does none either); lone
//!   surrogates are refused;
//! - duplicate keys are refused (I-JSON);
//! - numbers: one spelling per *decimal* value (`1`, `1.0`, `10e-1` and `1E0` all become `1`;
//!   `-0` becomes `0`), laid out like ECMAScript's `Number.prototype.toString` (plain up to 21
//!   integer digits, `1e+21` style beyond). Unlike JCS, the digits are exact rather than
//!   rounded through binary64, so two distinct numbers (say two 20-digit ids) never share a
//!   cache key.
//!
//! [`request_key`] hashes (method, name, canonical arguments) with xxh3 and fixed seeds, so keys
//! are identical across runs, machines and versions of this crate that keep [`KEY_VERSION`].

use crate::error::CanonicalError;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Deepest nesting [`canonical_json`] accepts.
pub const MAX_DEPTH: usize = 128;

/// Bumped whenever the canonical form or the key hashing changes: persisted keys from another
/// version must not be compared with new ones.
pub const KEY_VERSION: u32 = 1;

const KEY_SEED: u64 = 0x7665_6367_6174_6531; // "vecgate1"

/// Writes the canonical form of `raw` into `out` (cleared first).
///
/// Allocates a little scratch space per call; on the hot path keep a [`Canonicalizer`] instead.
pub fn canonical_json(raw: &str, out: &mut String) -> Result<(), CanonicalError> {
    Canonicalizer::default().canonicalize(raw, out)
}

/// A reusable canonicaliser: keeps its scratch buffers between calls so steady-state use does
/// not allocate.
#[derive(Debug, Default)]
pub struct Canonicalizer {
    /// Member ranges `(start, key_end, end)` in `out` of the objects being parsed (a stack).
    members: Vec<(usize, usize, usize)>,
    /// Copy of an object's members while they are rewritten in sorted order.
    reorder: String,
    /// Significant digits of the number being normalised.
    digits: String,
}

impl Canonicalizer {
    /// Writes the canonical form of `raw` into `out` (cleared first).
    pub fn canonicalize(&mut self, raw: &str, out: &mut String) -> Result<(), CanonicalError> {
        out.clear();
        self.members.clear();
        let mut parser = Parser {
            bytes: raw.as_bytes(),
            text: raw,
            pos: 0,
            scratch: self,
        };
        parser.skip_ws();
        parser.value(out, 0)?;
        parser.skip_ws();
        if parser.pos != parser.bytes.len() {
            return Err(parser.err("trailing characters after the JSON value"));
        }
        Ok(())
    }
}

struct Parser<'a, 's> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
    scratch: &'s mut Canonicalizer,
}

impl Parser<'_, '_> {
    fn err(&self, reason: &'static str) -> CanonicalError {
        CanonicalError::Syntax {
            offset: self.pos,
            reason,
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value(&mut self, out: &mut String, depth: usize) -> Result<(), CanonicalError> {
        if depth > MAX_DEPTH {
            return Err(CanonicalError::TooDeep { limit: MAX_DEPTH });
        }
        match self.bytes.get(self.pos) {
            Some(b'{') => self.object(out, depth),
            Some(b'[') => self.array(out, depth),
            Some(b'"') => self.string(out),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            Some(b't') => self.literal(out, "true"),
            Some(b'f') => self.literal(out, "false"),
            Some(b'n') => self.literal(out, "null"),
            Some(_) => Err(self.err("expected a JSON value")),
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn literal(&mut self, out: &mut String, word: &'static str) -> Result<(), CanonicalError> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            out.push_str(word);
            Ok(())
        } else {
            Err(self.err("invalid literal"))
        }
    }

    fn array(&mut self, out: &mut String, depth: usize) -> Result<(), CanonicalError> {
        self.pos += 1;
        out.push('[');
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b']') {
            self.pos += 1;
            out.push(']');
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(out, depth + 1)?;
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    out.push(',');
                }
                Some(b']') => {
                    self.pos += 1;
                    out.push(']');
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' in array")),
            }
        }
    }

    fn object(&mut self, out: &mut String, depth: usize) -> Result<(), CanonicalError> {
        let object_offset = self.pos;
        self.pos += 1;
        out.push('{');
        let body_start = out.len();
        let base = self.scratch.members.len();
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            out.push('}');
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b'"') {
                return Err(self.err("expected a string key"));
            }
            let start = out.len();
            self.string(out)?;
            let key_end = out.len();
            self.skip_ws();
            if self.bytes.get(self.pos) != Some(&b':') {
                return Err(self.err("expected ':' after key"));
            }
            self.pos += 1;
            out.push(':');
            self.skip_ws();
            self.value(out, depth + 1)?;
            self.scratch.members.push((start, key_end, out.len()));
            self.skip_ws();
            match self.bytes.get(self.pos) {
                Some(b',') => {
                    self.pos += 1;
                    out.push(',');
                }
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.err("expected ',' or '}' in object")),
            }
        }
        self.sort_members(out, base, body_start, object_offset)?;
        self.scratch.members.truncate(base);
        out.push('}');
        Ok(())
    }

    /// Rewrites the members written since `body_start` in canonical key order.
    fn sort_members(
        &mut self,
        out: &mut String,
        base: usize,
        body_start: usize,
        object_offset: usize,
    ) -> Result<(), CanonicalError> {
        let scratch = &mut *self.scratch;
        let members = &mut scratch.members[base..];
        let sorted = members
            .windows(2)
            .all(|w| compare_keys(&out[w[0].0..w[0].1], &out[w[1].0..w[1].1]).is_lt());
        if sorted {
            return Ok(());
        }
        members.sort_unstable_by(|a, b| compare_keys(&out[a.0..a.1], &out[b.0..b.1]));
        if members
            .windows(2)
            .any(|w| compare_keys(&out[w[0].0..w[0].1], &out[w[1].0..w[1].1]).is_eq())
        {
            return Err(CanonicalError::DuplicateKey {
                offset: object_offset,
            });
        }
        scratch.reorder.clear();
        for (i, m) in members.iter().enumerate() {
            if i > 0 {
                scratch.reorder.push(',');
            }
            scratch.reorder.push_str(&out[m.0..m.2]);
        }
        out.truncate(body_start);
        out.push_str(&scratch.reorder);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, CanonicalError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let nibble = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid hex digit in \\u escape"))?;
            v = v * 16 + nibble;
        }
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self, out: &mut String) -> Result<(), CanonicalError> {
        self.pos += 1; // opening quote
        out.push('"');
        loop {
            // Copy the longest run that needs no work in one go.
            let run_start = self.pos;
            self.pos += plain_run(&self.bytes[self.pos..]);
            out.push_str(&self.text[run_start..self.pos]);
            match self.bytes.get(self.pos) {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    out.push('"');
                    return Ok(());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let c = match self.bytes.get(self.pos) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            push_escaped_char(out, c);
                            continue;
                        }
                        _ => return Err(self.err("invalid escape")),
                    };
                    self.pos += 1;
                    push_escaped_char(out, c);
                }
                Some(_) => return Err(self.err("raw control character in string")),
            }
        }
    }

    /// Decodes the `XXXX` (and a following `\uXXXX` low surrogate) after `\u`.
    fn unicode_escape(&mut self) -> Result<char, CanonicalError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(self.err("lone high surrogate"));
                }
                self.pos += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.err("high surrogate not followed by a low surrogate"));
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.err("lone low surrogate")),
            other => other,
        };
        char::from_u32(code).ok_or_else(|| self.err("invalid code point"))
    }

    fn digits_run(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self, out: &mut String) -> Result<(), CanonicalError> {
        let negative = self.bytes[self.pos] == b'-';
        if negative {
            self.pos += 1;
        }
        let int_start = self.pos;
        let int_len = self.digits_run();
        if int_len == 0 {
            return Err(self.err("expected digits"));
        }
        if int_len > 1 && self.bytes[int_start] == b'0' {
            return Err(self.err("leading zero in number"));
        }
        let (mut frac_start, mut frac_len) = (self.pos, 0);
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            frac_start = self.pos;
            frac_len = self.digits_run();
            if frac_len == 0 {
                return Err(self.err("expected digits after '.'"));
            }
        }
        let mut exponent: i64 = 0;
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            let exp_negative = match self.bytes.get(self.pos) {
                Some(b'-') => {
                    self.pos += 1;
                    true
                }
                Some(b'+') => {
                    self.pos += 1;
                    false
                }
                _ => false,
            };
            let exp_start = self.pos;
            if self.digits_run() == 0 {
                return Err(self.err("expected exponent digits"));
            }
            for &d in &self.bytes[exp_start..self.pos] {
                // Saturate: exponents this large only matter as "huge", and saturating keeps
                // distinct realistic values distinct.
                exponent = exponent
                    .saturating_mul(10)
                    .saturating_add(i64::from(d - b'0'));
            }
            if exp_negative {
                exponent = -exponent;
            }
        }
        let digits = &mut self.scratch.digits;
        digits.clear();
        digits.push_str(&self.text[int_start..int_start + int_len]);
        digits.push_str(&self.text[frac_start..frac_start + frac_len]);
        let mut exponent = exponent.saturating_sub(frac_len as i64);
        write_decimal(out, negative, digits, &mut exponent);
        Ok(())
    }
}

/// Writes `±digits × 10^exponent` in the canonical layout (see the module docs).
fn write_decimal(out: &mut String, negative: bool, digits: &str, exponent: &mut i64) {
    let significant = digits.trim_start_matches('0');
    let trimmed = significant.trim_end_matches('0');
    if trimmed.is_empty() {
        out.push('0');
        return;
    }
    *exponent = exponent.saturating_add((significant.len() - trimmed.len()) as i64);
    let d = trimmed;
    // Position of the decimal point relative to the first digit, as in ECMAScript's `n`.
    let n = (d.len() as i64).saturating_add(*exponent);
    if negative {
        out.push('-');
    }
    if *exponent >= 0 && n <= 21 {
        out.push_str(d);
        for _ in 0..*exponent {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        let split = n as usize;
        out.push_str(&d[..split]);
        out.push('.');
        out.push_str(&d[split..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..-n {
            out.push('0');
        }
        out.push_str(d);
    } else {
        out.push_str(&d[..1]);
        if d.len() > 1 {
            out.push('.');
            out.push_str(&d[1..]);
        }
        let e = n - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&e.unsigned_abs().to_string());
    }
}

fn push_escaped_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x20 => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let v = c as usize;
            out.push_str("\\u00");
            out.push(HEX[v >> 4] as char);
            out.push(HEX[v & 0xF] as char);
        }
        c => out.push(c),
    }
}

/// Iterates the characters of a canonical (already escaped, quoted) key.
fn key_chars(quoted: &str) -> impl Iterator<Item = char> + '_ {
    let inner = &quoted[1..quoted.len() - 1];
    let mut chars = inner.chars();
    std::iter::from_fn(move || {
        let c = chars.next()?;
        if c != '\\' {
            return Some(c);
        }
        Some(match chars.next()? {
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                // Canonical output only uses \u00xx for control characters.
                let hex: String = chars.by_ref().take(4).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).unwrap_or(0)).unwrap_or('\0')
            }
            other => other, // '"' and '\\'
        })
    })
}

/// Orders one character as its UTF-16 code units would order (RFC 8785 §3.2.3).
fn utf16_rank(c: char) -> (u32, u32) {
    let v = c as u32;
    if v < 0x10000 {
        (v, 0)
    } else {
        let v = v - 0x10000;
        (0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
    }
}

/// Compares two canonical quoted keys by the UTF-16 code units of their decoded text.
fn compare_keys(a: &str, b: &str) -> std::cmp::Ordering {
    // Fast path: without escapes or non-ASCII, byte order is UTF-16 order.
    if a.is_ascii() && b.is_ascii() && !a[1..].contains('\\') && !b[1..].contains('\\') {
        return a[1..a.len() - 1].cmp(&b[1..b.len() - 1]);
    }
    key_chars(a)
        .map(utf16_rank)
        .cmp(key_chars(b).map(utf16_rank))
}

/// A stable 128-bit identity of a request: (method, name, canonical arguments).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestKey(pub u128);

impl RequestKey {
    /// The full 128-bit key (use where a collision would be served to a client).
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// A 64-bit key (the high half), for statistics and memo tables where a rare collision only
    /// costs accuracy.
    pub fn as_u64(self) -> u64 {
        (self.0 >> 64) as u64
    }
}

/// Hashes (method, name, canonical arguments) into a [`RequestKey`].
///
/// `canonical_args` must be the output of [`canonical_json`] (or empty for no arguments).
/// Fields are length-prefixed, so `("a", "bc")` and `("ab", "c")` differ.
pub fn request_key(method: &str, name: Option<&str>, canonical_args: &str) -> RequestKey {
    let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(KEY_SEED);
    hash_field(&mut hasher, method.as_bytes());
    match name {
        Some(name) => {
            hasher.update(&[1]);
            hash_field(&mut hasher, name.as_bytes());
        }
        None => hasher.update(&[0]),
    }
    hash_field(&mut hasher, canonical_args.as_bytes());
    RequestKey(hasher.digest128())
}

/// A 64-bit hash of method and name only (the routing "tool" feature).
pub fn tool_key(method: &str, name: Option<&str>) -> u64 {
    let h = xxh3_64_with_seed(method.as_bytes(), KEY_SEED);
    match name {
        Some(name) => xxh3_64_with_seed(name.as_bytes(), h),
        None => h,
    }
}

fn hash_field(hasher: &mut xxhash_rust::xxh3::Xxh3, bytes: &[u8]) {
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// Length of the run at the start of `bytes` that a JSON string copies as it is: up to the
/// first quote, backslash or control character (or the end). String arguments run to
/// kilobytes (the `affinity` dataset averages 3 KB a request): the byte loop cost ~4 ns a
/// byte, 9 % of a `vector` replay, and an 8-bytes-a-step SWAR loop still ~1.5 instructions a
/// byte, the largest single cost of a replay's features. So the quote or backslash is found
/// with memchr's vector search, and the span before it is checked for control characters 32
/// bytes at a time with a branch-free fold the compiler vectorises. The run ends on an ASCII
/// byte (UTF-8 bytes are ≥ 0x80 and never stop it), so the copy stays on a character boundary.
fn plain_run(bytes: &[u8]) -> usize {
    let stop = memchr::memchr2(b'"', b'\\', bytes).unwrap_or(bytes.len());
    first_control(&bytes[..stop]).unwrap_or(stop)
}

/// Position of the first byte below 0x20.
fn first_control(bytes: &[u8]) -> Option<usize> {
    const BLOCK: usize = 32;
    let mut at = 0;
    for block in bytes.chunks_exact(BLOCK) {
        if block.iter().fold(false, |seen, &b| seen | (b < 0x20)) {
            break;
        }
        at += BLOCK;
    }
    bytes[at..].iter().position(|&b| b < 0x20).map(|i| at + i)
}

#[cfg(test)]
mod tests;
