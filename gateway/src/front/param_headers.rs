//! `Mcp-Param-{Name}` headers (2026-07-28 `x-mcp-header`): a tool may mark parameters of its
//! `inputSchema` with `"x-mcp-header": "Name"`, and clients mirror those arguments into
//! headers so intermediaries can route on them. vecgate processes the body, so it must check
//! that each mirrored header matches the body (HTTP 400 with -32020 `HeaderMismatch` otherwise):
//! a present argument needs its header, with the same value after Base64-sentinel decoding
//! (integers compared as numbers, booleans as `true`/`false`); an absent or `null` argument
//! must have no header.
//!
//! Only annotations the spec allows are honoured: reachable from the schema root through
//! `properties` keys alone, on string, integer or boolean parameters, with a header-token
//! name. Anything else is not a valid annotation and is ignored here.

use http::HeaderMap;
use serde_json::Value;
use vecgate_backends::jsonrpc::{ErrorObject, Message, code};

use crate::gateway::Gateway;

/// One `x-mcp-header` annotation: the header name part and the property path.
#[derive(Debug, PartialEq, Eq)]
struct Mirrored {
    name: String,
    path: Vec<String>,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Collect the annotations of `schema`, following only `properties`.
fn annotations(schema: &Value, path: &mut Vec<String>, out: &mut Vec<Mirrored>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, sub) in props {
        path.push(key.clone());
        if let Some(name) = sub.get("x-mcp-header").and_then(Value::as_str)
            && is_token(name)
            && matches!(
                sub.get("type").and_then(Value::as_str),
                Some("string" | "integer" | "boolean")
            )
        {
            out.push(Mirrored {
                name: name.to_owned(),
                path: path.clone(),
            });
        }
        annotations(sub, path, out);
        path.pop();
    }
}

/// Whether a decoded header value stands for the body value.
fn matches(header: &str, body: &Value) -> bool {
    match body {
        Value::String(s) => header == s,
        Value::Bool(b) => header == if *b { "true" } else { "false" },
        Value::Number(n) => header
            .trim()
            .parse::<f64>()
            .ok()
            .zip(n.as_f64())
            .is_some_and(|(h, b)| h == b),
        _ => false,
    }
}

fn mismatch(message: String) -> ErrorObject {
    ErrorObject::new(code::HEADER_MISMATCH, format!("Header mismatch: {message}"))
}

/// Check the `Mcp-Param-*` headers of a stateless `tools/call` against its arguments.
pub fn check(gw: &Gateway, headers: &HeaderMap, msg: &Message) -> Result<(), ErrorObject> {
    if msg.method.as_deref() != Some("tools/call") {
        return Ok(());
    }
    let peek = msg.peek_params();
    let Some(name) = peek.name.as_deref() else {
        return Ok(());
    };
    let catalog = gw.catalog.load();
    // An unknown tool is the pipeline's error to report.
    let Some(route) = catalog.tool(name) else {
        return Ok(());
    };
    let Some(pool_catalog) = gw.pool(route.pool).and_then(|p| p.catalog()) else {
        return Ok(());
    };
    let Some(item) = pool_catalog.tools.iter().find(|t| t.key == *route.upstream) else {
        return Ok(());
    };
    let tool: Value = serde_json::from_str(item.raw.get()).unwrap_or_default();
    let mut mirrored = Vec::new();
    if let Some(schema) = tool.get("inputSchema") {
        annotations(schema, &mut Vec::new(), &mut mirrored);
    }
    if mirrored.is_empty() {
        return Ok(());
    }
    let arguments: Value = peek
        .arguments
        .and_then(|a| serde_json::from_str(a.get()).ok())
        .unwrap_or_default();
    for m in &mirrored {
        let value = m
            .path
            .iter()
            .try_fold(&arguments, |v, k| v.get(k))
            .filter(|v| !v.is_null());
        let header_name = format!("mcp-param-{}", m.name.to_ascii_lowercase());
        let header = headers.get(header_name.as_str());
        match (value, header) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(mismatch(format!(
                    "Mcp-Param-{} is set but argument {:?} is absent",
                    m.name,
                    m.path.join(".")
                )));
            }
            (Some(_), None) => {
                return Err(mismatch(format!(
                    "Mcp-Param-{} is required: argument {:?} is present",
                    m.name,
                    m.path.join(".")
                )));
            }
            (Some(value), Some(raw)) => {
                let decoded = raw.to_str().ok().and_then(super::stateless::header_value);
                let Some(decoded) = decoded else {
                    return Err(mismatch(format!(
                        "Mcp-Param-{} has invalid characters or a bad Base64 value",
                        m.name
                    )));
                };
                if !matches(&decoded, value) {
                    return Err(mismatch(format!(
                        "Mcp-Param-{} value {decoded:?} does not match body value {value}",
                        m.name
                    )));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_statically_reachable_primitive_annotations_count() {
        let schema = json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {
                "dry": {"type": "boolean", "x-mcp-header": "Dry-Run"}
            }},
            "ratio": {"type": "number", "x-mcp-header": "Ratio"},
            "bad": {"type": "string", "x-mcp-header": "has space"},
            "list": {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}}
        }});
        let mut out = Vec::new();
        annotations(&schema, &mut Vec::new(), &mut out);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        let names: Vec<_> = out.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Dry-Run", "Region"]);
        assert_eq!(out[0].path, ["opts", "dry"]);
    }

    #[test]
    fn values_compare_by_type() {
        assert!(matches("us-west1", &json!("us-west1")));
        assert!(matches("42", &json!(42)));
        assert!(matches("42.0", &json!(42)));
        assert!(!matches("43", &json!(42)));
        assert!(matches("true", &json!(true)));
        assert!(!matches("True", &json!(true)));
    }
}
