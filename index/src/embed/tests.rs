use super::*;
use crate::workload::Workload;
use proptest::prelude::*;

fn embed(e: &HashingEmbedder, method: &str, name: Option<&str>, args: Option<&str>) -> Vec<f32> {
    let mut v = vec![0.0; e.dim()];
    e.embed(
        &RequestView {
            method,
            name,
            arguments: args,
        },
        &mut v,
    )
    .expect("embed");
    v
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn refuses_a_wrong_buffer() {
    let e = HashingEmbedder::new(64);
    let mut v = vec![0.0; 63];
    let req = RequestView {
        method: "ping",
        name: None,
        arguments: None,
    };
    assert_eq!(
        e.embed(&req, &mut v),
        Err(EmbedError::WrongDimension {
            expected: 64,
            received: 63
        })
    );
}

#[test]
fn similar_requests_are_nearer_than_different_ones() {
    let e = HashingEmbedder::default();
    let a = embed(
        &e,
        "tools/call",
        Some("read_file"),
        Some(r#"{"path":"src/main.rs"}"#),
    );
    let a2 = embed(
        &e,
        "tools/call",
        Some("read_file"),
        Some(r#"{ "path" : "src/main.rs" }"#),
    );
    let b = embed(
        &e,
        "tools/call",
        Some("read_file"),
        Some(r#"{"path":"src/lib.rs"}"#),
    );
    let c = embed(
        &e,
        "tools/call",
        Some("get_weather"),
        Some(r#"{"city":"Paris"}"#),
    );
    assert!(
        (dot(&a, &a2) - 1.0).abs() < 1e-6,
        "whitespace must not matter"
    );
    assert!(dot(&a, &b) > 0.6, "same tool, near path: {}", dot(&a, &b));
    assert!(dot(&a, &b) < 0.99);
    assert!(dot(&a, &c) < dot(&a, &b), "other tool must be farther");
}

#[test]
fn numbers_embed_by_magnitude() {
    let e = HashingEmbedder::default();
    let ten = embed(&e, "tools/call", Some("t"), Some(r#"{"limit":10}"#));
    let twelve = embed(&e, "tools/call", Some("t"), Some(r#"{"limit":12}"#));
    let huge = embed(&e, "tools/call", Some("t"), Some(r#"{"limit":100000}"#));
    assert!(dot(&ten, &twelve) > dot(&ten, &huge));
}

#[test]
fn malformed_and_hostile_arguments_still_embed() {
    let e = HashingEmbedder::default();
    let deep = "[".repeat(10_000);
    for args in ["{", "nonsense", "{\"a\":[1,2", deep.as_str(), "\"\\", ""] {
        let v = embed(&e, "tools/call", Some("x"), Some(args));
        let n: f32 = v.iter().map(|x| x * x).sum();
        assert!(
            (n - 1.0).abs() < 1e-4 && v.iter().all(|x| x.is_finite()),
            "{args:?}"
        );
    }
}

#[test]
fn known_vector_is_stable_across_builds() {
    // Pinned figures: a change here invalidates every stored snapshot and dataset, so it must
    // come with a new embedder id.
    let e = HashingEmbedder::new(16);
    let v = embed(
        &e,
        "tools/call",
        Some("read_file"),
        Some(r#"{"path":"a.rs"}"#),
    );
    let pinned: Vec<i32> = v.iter().map(|x| (x * 1000.0).round() as i32).collect();
    assert_eq!(pinned, PINNED_16);
    assert_eq!(e.id(), "hashing-v1/dim=16/seed=6d63702d656d6231");
}

const PINNED_16: [i32; 16] = [
    -340, 138, 0, -478, 119, 119, 0, 0, 0, 239, 0, 0, 0, 119, -156, -716,
];

proptest! {
    #[test]
    fn embeddings_are_normalised_and_deterministic(seed in any::<u64>(), dim in 8usize..300) {
        let e = HashingEmbedder::new(dim);
        let mut w = Workload::new(seed);
        let req = w.next_request();
        let mut a = vec![0.0; dim];
        let mut b = vec![1.0; dim];
        e.embed(&req.view(), &mut a).unwrap();
        e.embed(&req.view(), &mut b).unwrap();
        prop_assert_eq!(&a, &b);
        let n: f32 = a.iter().map(|x| x * x).sum();
        prop_assert!((n - 1.0).abs() < 1e-4);
        prop_assert!(a.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn arbitrary_text_never_fails(args in ".{0,200}", name in "[a-z_]{0,12}") {
        let e = HashingEmbedder::new(32);
        let mut v = vec![0.0; 32];
        e.embed(&RequestView { method: "tools/call", name: Some(&name), arguments: Some(&args) }, &mut v).unwrap();
        prop_assert!(v.iter().all(|x| x.is_finite()));
    }
}
