//! Rewriting of request params for a shared upstream session: the caller's
//! `_meta.progressToken` is swapped for a replica-unique one (and restored on the way back),
//! and stateless (2026-07-28) upstreams get the protocol fields in every `_meta`. Values are
//! kept raw; only the top-level and `_meta` objects are re-keyed.

use crate::jsonrpc::to_raw;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A `_meta` object, its values raw.
pub(super) type Meta = BTreeMap<String, Box<RawValue>>;

/// Rewritten params and the caller's original progress token.
pub(super) type Rewritten = (Option<Box<RawValue>>, Option<Box<RawValue>>);

/// Our ids and tokens are integers; accept them echoed as numbers or numeric strings.
pub(super) fn parse_id(raw: &RawValue) -> Option<u64> {
    let text = raw.get().trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    text.parse().ok()
}

/// Replace `params._meta.progressToken` by `token` (returning the caller's), and add the
/// stateless protocol fields to `_meta` when the upstream needs them. Params without either
/// are passed through untouched.
pub(super) fn rewrite_request_params(
    params: Option<Box<RawValue>>,
    token: u64,
    stateless: Option<&Meta>,
) -> Result<Rewritten, String> {
    let has_token = params
        .as_ref()
        .is_some_and(|p| p.get().contains("progressToken"));
    if !has_token && stateless.is_none() {
        return Ok((params, None));
    }
    let mut object: BTreeMap<String, Box<RawValue>> = match &params {
        Some(p) => {
            serde_json::from_str(p.get()).map_err(|e| format!("params is not an object: {e}"))?
        }
        None => BTreeMap::new(),
    };
    let mut meta: BTreeMap<String, Box<RawValue>> = match object.get("_meta") {
        Some(m) => serde_json::from_str(m.get())
            .map_err(|e| format!("params._meta is not an object: {e}"))?,
        None => BTreeMap::new(),
    };
    let original = meta.remove("progressToken");
    if original.is_some() {
        meta.insert("progressToken".into(), to_raw(&token));
    }
    if let Some(extra) = stateless {
        for (k, v) in extra {
            meta.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if original.is_none() && stateless.is_none() {
        return Ok((params, None));
    }
    object.insert("_meta".into(), to_raw(&meta));
    Ok((Some(to_raw(&object)), original))
}

/// `params` with one top-level field replaced.
pub(super) fn replace_field(
    params: Option<&RawValue>,
    field: &str,
    value: Box<RawValue>,
) -> Result<Box<RawValue>, String> {
    let mut object: BTreeMap<String, Box<RawValue>> = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|e| e.to_string())?,
        None => BTreeMap::new(),
    };
    object.insert(field.to_owned(), value);
    Ok(to_raw(&object))
}

/// `params` without `_meta[key]` (and without `_meta` if that leaves it empty).
pub(super) fn remove_meta_key(
    params: Option<&RawValue>,
    key: &str,
) -> Result<Box<RawValue>, String> {
    let mut object: BTreeMap<String, Box<RawValue>> = match params {
        Some(p) => serde_json::from_str(p.get()).map_err(|e| e.to_string())?,
        None => BTreeMap::new(),
    };
    if let Some(meta) = object.remove("_meta") {
        let mut meta: BTreeMap<String, Box<RawValue>> =
            serde_json::from_str(meta.get()).map_err(|e| format!("_meta: {e}"))?;
        meta.remove(key);
        if !meta.is_empty() {
            object.insert("_meta".into(), to_raw(&meta));
        }
    }
    Ok(to_raw(&object))
}
