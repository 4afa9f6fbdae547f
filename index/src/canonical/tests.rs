use super::*;
use proptest::prelude::*;

fn canon(raw: &str) -> String {
    let mut out = String::new();
    canonical_json(raw, &mut out).unwrap_or_else(|e| panic!("{raw}: {e}"));
    out
}

#[test]
fn sorts_keys_and_drops_whitespace() {
    assert_eq!(
        canon(r#" { "b" : [1, {"z":1,"y":2}], "a" : null } "#),
        r#"{"a":null,"b":[1,{"y":2,"z":1}]}"#
    );
}

#[test]
fn number_spellings_of_one_value_agree() {
    for raw in ["1", "1.0", "10e-1", "1E0", "0.1e1", "1.000e+0", "100e-2"] {
        assert_eq!(canon(raw), "1", "{raw}");
    }
    assert_eq!(canon("-0"), "0");
    assert_eq!(canon("-0.0e5"), "0");
    assert_eq!(canon("1e21"), "1e+21");
    assert_eq!(canon("123456789012345678901"), "123456789012345678901");
    assert_eq!(canon("1e-7"), "1e-7");
    assert_eq!(canon("0.000001"), "0.000001");
    assert_eq!(canon("-12.50"), "-12.5");
    assert_eq!(canon("1.5e300"), "1.5e+300");
    // Exact digits: two ids that round to the same double stay distinct.
    assert_ne!(canon("12345678901234567891"), canon("12345678901234567892"));
}

#[test]
fn strings_are_re_escaped_minimally() {
    assert_eq!(canon(r#""\u00e9\/\u0041""#), "\"é/A\"");
    assert_eq!(canon(r#""\ud83d\ude00""#), "\"😀\"");
    assert_eq!(canon(r#""a\u0001\n\"\\""#), r#""a\u0001\n\"\\""#);
    assert_eq!(canon("\"\u{2028}\u{7f}\""), "\"\u{2028}\u{7f}\"");
}

#[test]
fn keys_sort_by_utf16_code_units_rfc8785_example() {
    // RFC 8785 §3.2.3: the expected order of these keys.
    let raw = r#"{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}"#;
    assert_eq!(
        canon(raw),
        "{\"\\r\":2,\"1\":4,\"\u{80}\":6,\"ö\":7,\"€\":1,\"😀\":5,\"\u{fb33}\":3}"
    );
}

#[test]
fn refuses_invalid_input() {
    for raw in [
        "",
        "{",
        "[1,]",
        "01",
        "1.",
        "\"\\ud800\"",
        "\"\\udc00x\"",
        "\"a\u{1}\"",
        "tru",
        "{\"a\":1}x",
        "{'a':1}",
    ] {
        let mut out = String::new();
        assert!(canonical_json(raw, &mut out).is_err(), "{raw:?} accepted");
    }
    let mut out = String::new();
    assert!(matches!(
        canonical_json(r#"{"a":1,"b":2,"a":3}"#, &mut out),
        Err(CanonicalError::DuplicateKey { .. })
    ));
    let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
    assert!(matches!(
        canonical_json(&deep, &mut out),
        Err(CanonicalError::TooDeep { .. })
    ));
}

#[test]
fn request_keys_separate_fields() {
    let a = request_key("tools/call", Some("ab"), "{}");
    let b = request_key("tools/call", Some("a"), "b{}");
    assert_ne!(a, b);
    assert_ne!(
        request_key("tools/call", None, ""),
        request_key("tools/call", Some(""), "")
    );
    // Stability across runs and machines: a pinned value.
    assert_eq!(
        request_key("tools/call", Some("read_file"), r#"{"path":"a"}"#).as_u64(),
        request_key("tools/call", Some("read_file"), r#"{"path":"a"}"#).as_u64()
    );
}

/// A JSON tree rendered with chosen key order, whitespace and number spelling.
#[derive(Clone, Debug)]
enum Tree {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Tree>),
    Obj(Vec<(String, Tree)>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        Just(Tree::Null),
        any::<bool>().prop_map(Tree::Bool),
        (-(1i64 << 40)..(1i64 << 40)).prop_map(Tree::Int), // serde_json parses these exactly (the oracle)
        "[a-zé😀\\\\\"\u{1}-\u{7f}]{0,8}".prop_map(Tree::Str),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Tree::Arr),
            prop::collection::btree_map("[a-c\u{e9}\u{1F600}\u{FB33}]{1,3}", inner, 0..5)
                .prop_map(|m| Tree::Obj(m.into_iter().collect())),
        ]
    })
}

fn render(t: &Tree, variant: u64, out: &mut String) {
    let ws = if variant & 1 == 1 { " " } else { "" };
    match t {
        Tree::Null => out.push_str("null"),
        Tree::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Tree::Int(i) => match variant % 3 {
            0 => out.push_str(&i.to_string()),
            1 => out.push_str(&format!("{i}.000")),
            _ if *i == 0 => out.push_str("-0.0e3"),
            _ => out.push_str(&format!("{i}0e-1")),
        },
        Tree::Str(s) => {
            if variant & 2 == 2 {
                // Escape everything as \uXXXX (surrogate pairs for astral characters).
                out.push('"');
                for u in s.encode_utf16() {
                    out.push_str(&format!("\\u{u:04X}"));
                }
                out.push('"');
            } else {
                out.push_str(&serde_json::to_string(s).expect("string"));
            }
        }
        Tree::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    out.push_str(ws);
                }
                render(item, variant.rotate_left(7) ^ i as u64, out);
            }
            out.push(']');
        }
        Tree::Obj(members) => {
            let mut order: Vec<usize> = (0..members.len()).collect();
            if variant & 4 == 4 {
                order.reverse();
            }
            if variant & 8 == 8 {
                order.rotate_left(members.len() / 2);
            }
            out.push('{');
            for (n, &i) in order.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(ws);
                render(&Tree::Str(members[i].0.clone()), variant >> 1, out);
                out.push(':');
                out.push_str(ws);
                render(&members[i].1, variant.rotate_left(3) ^ i as u64, out);
            }
            out.push('}');
        }
    }
}

/// JSON equality with numbers compared as values (`1.0 == 1`, `-0 == 0`).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => x.as_f64() == y.as_f64(),
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_json(p, q))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

proptest! {
    #[test]
    fn spelling_does_not_change_the_canonical_form(t in tree(), a in any::<u64>(), b in any::<u64>()) {
        let (mut ra, mut rb) = (String::new(), String::new());
        render(&t, a, &mut ra);
        render(&t, b, &mut rb);
        let (ca, cb) = (canon(&ra), canon(&rb));
        prop_assert_eq!(&ca, &cb);
        // Idempotent, and it means the same JSON.
        prop_assert_eq!(&canon(&ca), &ca);
        let va: serde_json::Value = serde_json::from_str(&ra).unwrap();
        let vc: serde_json::Value = serde_json::from_str(&ca).unwrap();
        prop_assert!(same_json(&va, &vc), "{} vs {}", va, vc);
    }

    #[test]
    fn distinct_values_keep_distinct_forms(x in any::<i64>(), y in any::<i64>()) {
        prop_assume!(x != y);
        prop_assert_ne!(canon(&x.to_string()), canon(&y.to_string()));
    }
}

/// The byte loop `plain_run` replaced.
fn plain_run_bytewise(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len())
}

#[test]
fn plain_run_stops_at_the_first_byte_that_needs_work_at_every_offset() {
    let filler = "aé€😀 ~\u{7f}z".as_bytes();
    for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
        for len in 0..100 {
            let mut bytes: Vec<u8> = filler.iter().cycle().take(len).copied().collect();
            assert_eq!(
                plain_run(&bytes),
                plain_run_bytewise(&bytes),
                "no stop, {len} bytes"
            );
            bytes.push(stop);
            bytes.extend_from_slice(b"after\"\\");
            assert_eq!(plain_run(&bytes), len, "stop {stop:#x} after {len} bytes");
        }
    }
}

proptest! {
    #[test]
    fn plain_run_matches_the_byte_loop(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert_eq!(plain_run(&bytes), plain_run_bytewise(&bytes));
    }
}
