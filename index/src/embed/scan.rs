//! A lenient, allocation-free JSON walker for the embedder.
//!
//! It reports keys, scalars and container boundaries to a [`Visitor`] straight from the raw
//! text, without decoding strings (escapes are left to the visitor) or building a tree. Bad
//! input ends the walk early and is reported through the return value; the embedding then covers
//! what was read. Nesting beyond [`MAX_WALK_DEPTH`] is skipped with a bracket counter, so
//! hostile depth costs O(length) and no stack.

/// Deepest level whose contents are reported.
pub(crate) const MAX_WALK_DEPTH: usize = 24;

/// What the walker saw.
pub(crate) trait Visitor {
    /// An object member's key (raw bytes between the quotes) at `depth` (1 = top-level members).
    fn key(&mut self, depth: usize, raw: &[u8]);
    /// The start of an array element at `depth`.
    fn element(&mut self, depth: usize);
    /// A string value (raw bytes between the quotes).
    fn string(&mut self, depth: usize, raw: &[u8]);
    /// A number value (raw text).
    fn number(&mut self, depth: usize, raw: &[u8]);
    /// `true`, `false` or `null`.
    fn literal(&mut self, depth: usize, value: Literal);
    /// The end of an object (`is_array == false`) or array holding `len` members.
    fn close(&mut self, depth: usize, is_array: bool, len: usize);
}

/// The three JSON literals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Literal {
    True,
    False,
    Null,
}

/// Walks `text`, returning false when it stopped on malformed input.
pub(crate) fn walk<V: Visitor>(text: &[u8], visitor: &mut V) -> bool {
    let mut w = Walker { b: text, pos: 0 };
    w.ws();
    let ok = w.value(visitor, 0).is_some();
    ok && {
        w.ws();
        w.pos == text.len()
    }
}

struct Walker<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Walker<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    fn value<V: Visitor>(&mut self, v: &mut V, depth: usize) -> Option<()> {
        match *self.b.get(self.pos)? {
            b'{' | b'[' if depth >= MAX_WALK_DEPTH => self.skip_container(),
            b'{' => self.object(v, depth),
            b'[' => self.array(v, depth),
            b'"' => {
                let raw = self.string_raw()?;
                v.string(depth, raw);
                Some(())
            }
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') =
                    self.b.get(self.pos)
                {
                    self.pos += 1;
                }
                v.number(depth, &self.b[start..self.pos]);
                Some(())
            }
            b't' => self.literal(v, depth, b"true", Literal::True),
            b'f' => self.literal(v, depth, b"false", Literal::False),
            b'n' => self.literal(v, depth, b"null", Literal::Null),
            _ => None,
        }
    }

    fn literal<V: Visitor>(
        &mut self,
        v: &mut V,
        depth: usize,
        word: &[u8],
        lit: Literal,
    ) -> Option<()> {
        if !self.b[self.pos..].starts_with(word) {
            return None;
        }
        self.pos += word.len();
        v.literal(depth, lit);
        Some(())
    }

    /// Returns the raw bytes between the quotes and moves past the closing quote.
    fn string_raw(&mut self) -> Option<&[u8]> {
        self.pos += 1;
        let start = self.pos;
        loop {
            // memchr's vectorised search: argument strings run to kilobytes, and a byte loop
            // here was the embedder's largest cost.
            let at = self.pos + memchr::memchr2(b'"', b'\\', self.b.get(self.pos..)?)?;
            if self.b[at] == b'"' {
                self.pos = at + 1;
                return Some(&self.b[start..at]);
            }
            self.pos = at + 2;
        }
    }

    fn object<V: Visitor>(&mut self, v: &mut V, depth: usize) -> Option<()> {
        self.pos += 1;
        let mut len = 0;
        self.ws();
        if self.b.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            v.close(depth, false, 0);
            return Some(());
        }
        loop {
            self.ws();
            if self.b.get(self.pos) != Some(&b'"') {
                return None;
            }
            let key = self.string_raw()?;
            v.key(depth + 1, key);
            self.ws();
            if self.b.get(self.pos) != Some(&b':') {
                return None;
            }
            self.pos += 1;
            self.ws();
            self.value(v, depth + 1)?;
            len += 1;
            self.ws();
            match *self.b.get(self.pos)? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    v.close(depth, false, len);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array<V: Visitor>(&mut self, v: &mut V, depth: usize) -> Option<()> {
        self.pos += 1;
        let mut len = 0;
        self.ws();
        if self.b.get(self.pos) == Some(&b']') {
            self.pos += 1;
            v.close(depth, true, 0);
            return Some(());
        }
        loop {
            self.ws();
            v.element(depth + 1);
            self.value(v, depth + 1)?;
            len += 1;
            self.ws();
            match *self.b.get(self.pos)? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    v.close(depth, true, len);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Skips a too-deep container by counting brackets outside strings.
    fn skip_container(&mut self) -> Option<()> {
        let mut open = 0usize;
        loop {
            match *self.b.get(self.pos)? {
                b'"' => {
                    self.string_raw()?;
                    continue;
                }
                b'{' | b'[' => open += 1,
                b'}' | b']' => {
                    open -= 1;
                    if open == 0 {
                        self.pos += 1;
                        return Some(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
    }
}
