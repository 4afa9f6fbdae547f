//! The tool catalog: names, descriptions, input schemas and annotations of every demo tool.
//!
//! Argument types derive `JsonSchema`, so each advertised schema is generated from the same type
//! the call is parsed into (JSON Schema 2020-12, as rmcp generates it).

use std::sync::Arc;

use rmcp::{
    handler::server::common::schema_for_type,
    model::{JsonObject, Tool, ToolAnnotations},
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::conformance;

/// `search_code` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SearchCodeArgs {
    /// Repository to search (for example `tokio`).
    pub(crate) repo: String,
    /// Whitespace-separated terms that must all appear on a line.
    pub(crate) query: String,
}

/// `read_file` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ReadFileArgs {
    /// Repository to read from.
    pub(crate) repo: String,
    /// Path inside the repository (for example `src/lib.rs`).
    pub(crate) path: String,
}

/// `summarize` and `echo` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct TextArgs {
    /// The text.
    pub(crate) text: String,
}

/// `create_ticket` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct CreateTicketArgs {
    /// One-line title.
    pub(crate) title: String,
    /// Description.
    #[serde(default)]
    pub(crate) body: String,
}

/// `kv_get` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct KvGetArgs {
    /// Key to read.
    pub(crate) key: String,
}

/// `kv_put` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct KvPutArgs {
    /// Key to write.
    pub(crate) key: String,
    /// Value to store.
    pub(crate) value: String,
}

/// `sleep` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct SleepArgs {
    /// Milliseconds to sleep (at most 60000).
    pub(crate) ms: u64,
}

/// `long_task` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct LongTaskArgs {
    /// Number of steps (1..=1000); one progress notification per step.
    pub(crate) steps: u32,
    /// Milliseconds per step (at most 10000).
    pub(crate) step_ms: u64,
}

/// `ask_llm` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct AskLlmArgs {
    /// Prompt sent to the client's model with `sampling/createMessage`.
    pub(crate) prompt: String,
}

/// `confirm` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ConfirmArgs {
    /// Question shown to the user with `elicitation/create`.
    pub(crate) question: String,
}

/// Arguments of tools that take none.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct NoArgs {}

/// Annotations of a tool that only reads from a closed world: safe to cache.
fn cacheable() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .open_world(false)
        .idempotent(true)
}

/// Annotations of a tool without side effects whose answer depends on the outside world
/// (time, the client, a changing index): not cacheable.
fn read_only_open_world() -> ToolAnnotations {
    ToolAnnotations::new().read_only(true).open_world(true)
}

fn tool<T: JsonSchema + 'static>(
    name: &'static str,
    description: &'static str,
    annotations: ToolAnnotations,
) -> Tool {
    Tool::new(name, description, schema_for_type::<T>()).with_annotations(annotations)
}

/// The demo tools (the conformance tools come after them in `tools/list`).
pub(crate) fn demo_tools() -> Vec<Tool> {
    vec![
        tool::<SearchCodeArgs>(
            "search_code",
            "Search a repository for lines containing all query terms; returns path:line hits.",
            // The index is rebuilt as repositories change, so results vary over time.
            read_only_open_world(),
        ),
        tool::<ReadFileArgs>(
            "read_file",
            "Read a file of a repository (an excerpt plus its size).",
            cacheable(),
        ),
        tool::<TextArgs>(
            "summarize",
            "Summarize a text (first sentence, word and line counts). Slower for longer texts.",
            cacheable(),
        ),
        tool::<CreateTicketArgs>(
            "create_ticket",
            "Create a ticket in the tracker (changes demo://tickets).",
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        ),
        tool::<KvGetArgs>(
            "kv_get",
            "Read a key from this replica's key-value store (state is per replica).",
            // Read-only, but its answer changes with every kv_put: it claims no closed world
            // (openWorldHint stays at its default, true), so annotations alone never make it
            // cacheable.
            ToolAnnotations::new().read_only(true),
        ),
        tool::<KvPutArgs>(
            "kv_put",
            "Write a key to this replica's key-value store (changes demo://kv/{key}).",
            ToolAnnotations::new()
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
        tool::<TextArgs>(
            "echo",
            "Return the text unchanged, immediately.",
            cacheable(),
        ),
        tool::<SleepArgs>(
            "sleep",
            "Sleep for the given number of milliseconds, then answer.",
            read_only_open_world(),
        ),
        tool::<LongTaskArgs>(
            "long_task",
            "Run `steps` steps of `step_ms` each, reporting progress; can be cancelled.",
            read_only_open_world(),
        ),
        tool::<AskLlmArgs>(
            "ask_llm",
            "Ask the client's model a question (sampling/createMessage).",
            read_only_open_world(),
        ),
        tool::<ConfirmArgs>(
            "confirm",
            "Ask the user a yes/no question (elicitation/create).",
            read_only_open_world(),
        ),
        tool::<NoArgs>(
            "list_roots",
            "List the client's roots (roots/list).",
            read_only_open_world(),
        ),
    ]
}

/// Every tool this server offers, in a stable order.
pub(crate) fn all_tools() -> Vec<Tool> {
    let mut tools = demo_tools();
    tools.extend(conformance::tools());
    tools
}

/// `{"type": "object", "properties": {}}`: the schema of a tool without arguments.
pub(crate) fn empty_schema() -> Arc<JsonObject> {
    schema_object(json!({"type": "object", "properties": {}}))
}

/// A JSON object literal as a tool schema. Only called with `json!({...})` literals.
pub(crate) fn schema_object(value: serde_json::Value) -> Arc<JsonObject> {
    match value {
        serde_json::Value::Object(map) => Arc::new(map),
        // Unreachable with object literals; an empty object keeps the catalog valid regardless.
        _ => Arc::new(JsonObject::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_schemas_are_objects() {
        let tools = all_tools();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), tools.len());
        for tool in &tools {
            assert_eq!(
                tool.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                tool.name
            );
            assert!(tool.description.as_deref().is_some_and(|d| !d.is_empty()));
        }
    }

    #[test]
    fn annotations_say_what_is_cacheable() {
        let tools = all_tools();
        let find = |name: &str| tools.iter().find(|t| t.name == name).unwrap().clone();
        let cacheable = |name: &str| {
            let a = find(name).annotations.unwrap();
            a.read_only_hint == Some(true) && a.open_world_hint == Some(false)
        };
        assert!(cacheable("echo") && cacheable("read_file"));
        for not_cacheable in [
            "search_code",
            "create_ticket",
            "sleep",
            "kv_get",
            "kv_put",
            "ask_llm",
        ] {
            assert!(!cacheable(not_cacheable), "{not_cacheable}");
        }
        assert_eq!(
            find("create_ticket").annotations.unwrap().destructive_hint,
            Some(true)
        );
        let schema = serde_json::Value::Object((*find("read_file").input_schema).clone());
        assert_eq!(schema["required"], json!(["repo", "path"]));
    }
}
