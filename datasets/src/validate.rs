//! Checks a dataset and reports every problem with its line and field.
//!
//! The checks run on the parsed JSON value before typed deserialisation, so a problem names
//! the field it is about (`service_ms.r2: must be a finite number >= 0, got -3`) instead of
//! serde's first complaint. [`crate::io::read_dataset`] runs the same checks and stops at the
//! first problem; [`validate_file`] runs them all and collects up to [`MAX_PROBLEMS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::DatasetError;
use crate::format::{FORMAT_VERSION, Header, Record};
use crate::io::open_lines;

/// How many problems [`validate_file`] keeps (it still counts the rest).
pub const MAX_PROBLEMS: usize = 200;

/// One thing wrong with a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number (the header is line 1).
    pub line: usize,
    /// Dotted field path (`service_ms.r2`), or `-` for the whole line.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

/// The outcome of [`validate_file`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ValidationReport {
    /// Records read (valid or not).
    pub records: usize,
    /// Records with service times on every replica.
    pub full: usize,
    /// Records with only the serving replica's latency.
    pub partial: usize,
    /// The first [`MAX_PROBLEMS`] problems, in file order.
    pub problems: Vec<Problem>,
    /// All problems, including those not kept.
    pub problem_count: usize,
}

impl ValidationReport {
    /// True when the file has no problem.
    pub fn is_valid(&self) -> bool {
        self.problem_count == 0
    }
}

/// Checks the file at `path` (plain or zstd). I/O failures are errors; content problems are
/// reported in the [`ValidationReport`].
pub fn validate_file(path: &Path) -> Result<ValidationReport, DatasetError> {
    let mut report = ValidationReport::default();
    let mut lines = open_lines(path)?;
    let push = |report: &mut ValidationReport, line: usize, issues: Vec<Issue>| {
        for (field, message) in issues {
            report.problem_count += 1;
            if report.problems.len() < MAX_PROBLEMS {
                report.problems.push(Problem {
                    line,
                    field,
                    message,
                });
            }
        }
    };
    let Some(first) = lines.next_line()? else {
        return Err(DatasetError::Empty { path: path.into() });
    };
    let mut checker = match RecordChecker::from_header_line(&first.1) {
        Ok(checker) => checker,
        Err(issues) => {
            push(&mut report, first.0, issues);
            return Ok(report);
        }
    };
    while let Some((line_no, line)) = lines.next_line()? {
        if line.trim().is_empty() {
            continue;
        }
        report.records += 1;
        match checker.check(&line) {
            Ok(record) => {
                if record.service_ms.is_empty() {
                    report.partial += 1;
                } else {
                    report.full += 1;
                }
            }
            Err(issues) => push(&mut report, line_no, issues),
        }
    }
    Ok(report)
}

/// A problem before it is given its line: (field, message).
pub(crate) type Issue = (String, String);

fn issue(field: impl Into<String>, message: impl Into<String>) -> Issue {
    (field.into(), message.into())
}

/// Checks records against a header, one line at a time.
pub(crate) struct RecordChecker {
    header: Header,
    /// Replica names per pool.
    replicas: BTreeMap<String, BTreeSet<String>>,
    /// Arrival time of the previous valid record.
    last_t_ms: f64,
}

impl RecordChecker {
    /// Parses and checks the header line.
    pub(crate) fn from_header_line(line: &str) -> Result<RecordChecker, Vec<Issue>> {
        let value = parse_object(line)?;
        let mut issues = check_header_value(&value);
        if !issues.is_empty() {
            return Err(issues);
        }
        let header: Header = serde_json::from_value(Value::Object(value))
            .map_err(|e| vec![issue("-", e.to_string())])?;
        let replicas: BTreeMap<String, BTreeSet<String>> = header
            .pools
            .iter()
            .map(|p| {
                (
                    p.name.clone(),
                    p.replicas.iter().map(|r| r.name.clone()).collect(),
                )
            })
            .collect();
        for (i, event) in header.events.iter().enumerate() {
            match replicas.get(&event.pool) {
                None => issues.push(issue(
                    format!("events[{i}].pool"),
                    format!("unknown pool {:?}", event.pool),
                )),
                Some(names) if !names.contains(&event.replica) => issues.push(issue(
                    format!("events[{i}].replica"),
                    format!("pool {:?} has no replica {:?}", event.pool, event.replica),
                )),
                Some(_) => {}
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        Ok(RecordChecker {
            header,
            replicas,
            last_t_ms: 0.0,
        })
    }

    /// The checked header.
    pub(crate) fn into_header(self) -> Header {
        self.header
    }

    /// Parses and checks one record line.
    pub(crate) fn check(&mut self, line: &str) -> Result<Record, Vec<Issue>> {
        let value = parse_object(line)?;
        let issues = self.check_record_value(&value);
        // Order is checked against the last well-formed time, even on an otherwise bad line,
        // so one bad field does not hide an ordering problem on the next line.
        if let Some(t) = value.get("t_ms").and_then(|t| non_negative(t).ok()) {
            self.last_t_ms = self.last_t_ms.max(t);
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        let record: Record = serde_json::from_value(Value::Object(value))
            .map_err(|e| vec![issue("-", e.to_string())])?;
        Ok(record)
    }

    fn check_record_value(&self, v: &Map<String, Value>) -> Vec<Issue> {
        const KNOWN: &[&str] = &[
            "t_ms",
            "session",
            "pool",
            "method",
            "target",
            "args",
            "service_ms",
            "errors",
            "served_by",
            "latency_ms",
            "answer",
            "invalidates",
            "links",
        ];
        let mut issues = unknown_fields(v, KNOWN);
        match v.get("t_ms") {
            None => issues.push(issue("t_ms", "missing (arrival time in ms)")),
            Some(t) => match non_negative(t) {
                Err(m) => issues.push(issue("t_ms", m)),
                Ok(t) if t < self.last_t_ms => issues.push(issue(
                    "t_ms",
                    format!(
                        "{t} is earlier than the previous record's {} (records must be in arrival order)",
                        self.last_t_ms
                    ),
                )),
                Ok(_) => {}
            },
        }
        for field in ["session", "method"] {
            require_string(v, field, &mut issues);
        }
        for field in ["target", "answer"] {
            if let Some(x) = v.get(field).filter(|x| !x.is_string()) {
                issues.push(issue(field, format!("must be a string, got {}", kind(x))));
            }
        }
        let pool = require_string(v, "pool", &mut issues);
        let replicas = pool.and_then(|p| {
            let found = self.replicas.get(p);
            if found.is_none() {
                issues.push(issue("pool", format!("unknown pool {p:?}")));
            }
            found
        });
        let full = v.contains_key("service_ms");
        let partial = v.contains_key("served_by") || v.contains_key("latency_ms");
        match (full, partial) {
            (true, true) => issues.push(issue(
                "service_ms",
                "a record has either service_ms (full) or served_by + latency_ms (partial), not both",
            )),
            (false, false) => issues.push(issue(
                "service_ms",
                "missing: give service_ms per replica, or served_by and latency_ms",
            )),
            _ => {}
        }
        if let Some(service) = v.get("service_ms") {
            match service.as_object() {
                None => issues.push(issue("service_ms", "must be an object {replica: ms}")),
                Some(map) => {
                    for (name, ms) in map {
                        if let Err(m) = non_negative(ms) {
                            issues.push(issue(format!("service_ms.{name}"), m));
                        }
                        check_replica(replicas, name, &format!("service_ms.{name}"), &mut issues);
                    }
                    if let Some(replicas) = replicas {
                        for name in replicas.iter().filter(|r| !map.contains_key(*r)) {
                            issues.push(issue(
                                format!("service_ms.{name}"),
                                "missing (full information needs every replica of the pool)",
                            ));
                        }
                    }
                }
            }
        }
        if partial {
            match v.get("served_by").map(|s| s.as_str()) {
                None => issues.push(issue("served_by", "missing (partial form)")),
                Some(None) => issues.push(issue("served_by", "must be a replica name")),
                Some(Some(name)) => check_replica(replicas, name, "served_by", &mut issues),
            }
            match v.get("latency_ms") {
                None => issues.push(issue("latency_ms", "missing (partial form)")),
                Some(ms) => {
                    if let Err(m) = non_negative(ms) {
                        issues.push(issue("latency_ms", m));
                    }
                }
            }
        }
        if let Some(errors) = v.get("errors") {
            match errors.as_object() {
                None => issues.push(issue("errors", "must be an object {replica: message}")),
                Some(map) => {
                    for (name, message) in map {
                        let field = format!("errors.{name}");
                        if !message.is_string() {
                            issues.push(issue(field.clone(), "must be a string"));
                        }
                        check_replica(replicas, name, &field, &mut issues);
                    }
                }
            }
        }
        for field in ["invalidates", "links"] {
            let ok = v.get(field).is_none_or(|list| {
                list.as_array()
                    .is_some_and(|a| a.iter().all(Value::is_string))
            });
            if !ok {
                issues.push(issue(field, "must be an array of URI strings"));
            }
        }
        issues
    }
}

fn check_header_value(v: &Map<String, Value>) -> Vec<Issue> {
    let mut issues = unknown_fields(
        v,
        &[
            "vecgate_dataset",
            "scenario",
            "seed",
            "description",
            "pools",
            "tools",
            "events",
        ],
    );
    match v.get("vecgate_dataset").and_then(Value::as_u64) {
        Some(n) if n == u64::from(FORMAT_VERSION) => {}
        Some(n) => issues.push(issue(
            "vecgate_dataset",
            format!("unsupported format version {n} (this build reads {FORMAT_VERSION})"),
        )),
        None => issues.push(issue(
            "vecgate_dataset",
            format!("missing: the header line must carry \"vecgate_dataset\": {FORMAT_VERSION}"),
        )),
    }
    let Some(pools) = v.get("pools").and_then(Value::as_array) else {
        issues.push(issue("pools", "missing or not an array"));
        return issues;
    };
    if pools.is_empty() {
        issues.push(issue("pools", "at least one pool is required"));
    }
    let mut pool_names = BTreeSet::new();
    for (i, pool) in pools.iter().enumerate() {
        let field = format!("pools[{i}]");
        let name = pool.get("name").and_then(Value::as_str);
        match name {
            None => issues.push(issue(format!("{field}.name"), "missing or not a string")),
            Some(n) if !pool_names.insert(n) => issues.push(issue(
                format!("{field}.name"),
                format!("duplicate pool {n:?}"),
            )),
            Some(_) => {}
        }
        match pool.get("cache_invalidation").map(Value::as_str) {
            None | Some(Some("any-write" | "announced")) => {}
            Some(_) => issues.push(issue(
                format!("{field}.cache_invalidation"),
                "must be \"any-write\" (the default) or \"announced\"",
            )),
        }
        let Some(replicas) = pool.get("replicas").and_then(Value::as_array) else {
            issues.push(issue(
                format!("{field}.replicas"),
                "missing or not an array",
            ));
            continue;
        };
        if replicas.is_empty() {
            issues.push(issue(format!("{field}.replicas"), "at least one replica"));
        }
        let mut names = BTreeSet::new();
        for (j, replica) in replicas.iter().enumerate() {
            let field = format!("{field}.replicas[{j}]");
            match replica.get("name").and_then(Value::as_str) {
                None => issues.push(issue(format!("{field}.name"), "missing or not a string")),
                Some(n) if !names.insert(n) => issues.push(issue(
                    format!("{field}.name"),
                    format!("duplicate replica {n:?}"),
                )),
                Some(_) => {}
            }
            match replica.get("slots").and_then(Value::as_u64) {
                Some(s) if (1..=u64::from(u32::MAX)).contains(&s) => {}
                _ => issues.push(issue(
                    format!("{field}.slots"),
                    "must be an integer >= 1 (requests served at once)",
                )),
            }
        }
    }
    if let Some(events) = v.get("events").and_then(Value::as_array) {
        for (i, event) in events.iter().enumerate() {
            let from = event.get("from_ms").and_then(Value::as_f64);
            let to = event.get("to_ms").and_then(Value::as_f64);
            match (from, to) {
                (Some(a), Some(b)) if a.is_finite() && b.is_finite() && a < b => {}
                _ => issues.push(issue(
                    format!("events[{i}]"),
                    "from_ms and to_ms must be finite with from_ms < to_ms",
                )),
            }
            let factor = event.get("factor").and_then(Value::as_f64).unwrap_or(1.0);
            if !(factor.is_finite() && factor > 0.0) {
                issues.push(issue(format!("events[{i}].factor"), "must be > 0"));
            }
        }
    }
    issues
}

fn parse_object(line: &str) -> Result<Map<String, Value>, Vec<Issue>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(vec![issue(
            "-",
            format!("expected a JSON object, got {}", kind(&other)),
        )]),
        Err(e) => Err(vec![issue("-", format!("not JSON: {e}"))]),
    }
}

fn unknown_fields(v: &Map<String, Value>, known: &[&str]) -> Vec<Issue> {
    v.keys()
        .filter(|k| !known.contains(&k.as_str()))
        .map(|k| issue(k.clone(), "unknown field"))
        .collect()
}

fn require_string<'v>(
    v: &'v Map<String, Value>,
    field: &str,
    issues: &mut Vec<Issue>,
) -> Option<&'v str> {
    match v.get(field) {
        None => {
            issues.push(issue(field, "missing"));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            issues.push(issue(
                field,
                format!("must be a string, got {}", kind(other)),
            ));
            None
        }
    }
}

fn check_replica(
    replicas: Option<&BTreeSet<String>>,
    name: &str,
    field: &str,
    issues: &mut Vec<Issue>,
) {
    if let Some(replicas) = replicas
        && !replicas.contains(name)
    {
        issues.push(issue(
            field,
            format!("unknown replica {name:?} for this pool"),
        ));
    }
}

fn non_negative(v: &Value) -> Result<f64, String> {
    match v.as_f64() {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("must be a finite number >= 0, got {v}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
