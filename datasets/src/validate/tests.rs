use super::*;

const HEADER: &str = r#"{"vecgate_dataset":1,"pools":[{"name":"p","replicas":[{"name":"a","slots":2},{"name":"b","slots":1}]}]}"#;

fn check(lines: &[&str]) -> ValidationReport {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    validate_file(&path).unwrap()
}

fn located(report: &ValidationReport) -> Vec<(usize, &str)> {
    report
        .problems
        .iter()
        .map(|p| (p.line, p.field.as_str()))
        .collect()
}

#[test]
fn a_valid_file_has_no_problems() {
    let report = check(&[
        HEADER,
        r#"{"t_ms":0,"session":"s","pool":"p","method":"tools/call","target":"x","service_ms":{"a":1,"b":2},"links":["file:///a"]}"#,
        r#"{"t_ms":1,"session":"s","pool":"p","method":"tools/call","served_by":"b","latency_ms":3,"errors":{"b":"e"}}"#,
    ]);
    assert!(report.is_valid(), "{:?}", report.problems);
    assert_eq!((report.records, report.full, report.partial), (2, 1, 1));
}

#[test]
fn problems_name_their_line_and_field() {
    let report = check(&[
        HEADER,
        r#"{"t_ms":5,"session":"s","pool":"p","method":"m","service_ms":{"a":1,"b":-2}}"#,
        r#"{"t_ms":4,"session":"s","pool":"p","method":"m","service_ms":{"a":1,"b":2}}"#,
        r#"{"t_ms":6,"session":"s","pool":"q","method":"m","service_ms":{"a":1}}"#,
        r#"{"t_ms":7,"session":"s","pool":"p","method":"m","service_ms":{"a":1,"c":2}}"#,
        r#"{"t_ms":8,"session":"s","pool":"p","method":"m","servce_ms":{"a":1}}"#,
        r#"{"t_ms":9,"session":"s","pool":"p","method":"m","served_by":"z"}"#,
        r#"not json"#,
        r#"{"t_ms":10,"session":3,"pool":"p","method":"m","service_ms":{"a":1,"b":1},"errors":{"c":"x"}}"#,
        r#"{"t_ms":11,"session":"s","pool":"p","method":"m","service_ms":{"a":1,"b":1},"links":"file:///a"}"#,
    ]);
    let found = located(&report);
    for expected in [
        (2, "service_ms.b"),
        (3, "t_ms"),
        (4, "pool"),
        (5, "service_ms.c"),
        (5, "service_ms.b"),
        (6, "servce_ms"),
        (6, "service_ms"),
        (7, "served_by"),
        (7, "latency_ms"),
        (8, "-"),
        (9, "session"),
        (9, "errors.c"),
        (10, "links"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    assert_eq!(report.problem_count, report.problems.len());
    assert!(!report.is_valid());
}

#[test]
fn header_problems_are_reported_on_line_one() {
    let report = check(&[
        r#"{"vecgate_dataset":2,"pools":[{"name":"p","cache_invalidation":"never","replicas":[{"name":"a","slots":0},{"name":"a","slots":1}]}]}"#,
    ]);
    let found = located(&report);
    for expected in [
        (1, "vecgate_dataset"),
        (1, "pools[0].cache_invalidation"),
        (1, "pools[0].replicas[0].slots"),
        (1, "pools[0].replicas[1].name"),
    ] {
        assert!(found.contains(&expected), "{expected:?} not in {found:?}");
    }
    let events = check(&[
        r#"{"vecgate_dataset":1,"pools":[{"name":"p","replicas":[{"name":"a","slots":1}]}],"events":[{"pool":"p","replica":"z","from_ms":5,"to_ms":1,"kind":"down"}]}"#,
    ]);
    let found = located(&events);
    assert!(found.contains(&(1, "events[0]")), "{found:?}");
}

#[test]
fn read_dataset_stops_at_the_first_problem_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.jsonl");
    let lines = [
        HEADER,
        r#"{"t_ms":0,"session":"s","pool":"p","method":"m","service_ms":{"a":1,"b":2}}"#,
        r#"{"t_ms":1,"session":"s","pool":"p","method":"m","service_ms":{"a":1}}"#,
    ];
    std::fs::write(&path, lines.join("\n")).unwrap();
    let err = crate::io::read_dataset(&path).unwrap_err();
    match err {
        crate::DatasetError::Invalid { line, field, .. } => {
            assert_eq!((line, field.as_str()), (3, "service_ms.b"));
        }
        other => panic!("unexpected {other}"),
    }
}
