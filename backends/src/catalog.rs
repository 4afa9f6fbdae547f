//! What an upstream offers: its negotiated identity ([`ServerInfo`]) and its tools, resources,
//! resource templates and prompts ([`Catalog`]), each item kept raw so unknown fields survive.

use crate::jsonrpc::to_raw;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;

/// What `initialize` (or `server/discover`) told us about an upstream.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// The negotiated protocol version (`2025-11-25`, …, or `2026-07-28` when stateless).
    pub protocol_version: String,
    /// The server's `capabilities` object, raw.
    pub capabilities: Box<RawValue>,
    /// The server's `serverInfo` object, raw (`null` when absent).
    pub server_info: Box<RawValue>,
    /// The server's `instructions`, if any.
    pub instructions: Option<String>,
    /// True when the upstream speaks the stateless 2026-07-28 revision (no `initialize`; the
    /// protocol fields travel in every request's `_meta`).
    pub stateless: bool,
}

impl ServerInfo {
    /// Whether the server declares the capability `name` (`tools`, `resources`, `prompts`,
    /// `logging`, `completions`, …).
    pub fn has_capability(&self, name: &str) -> bool {
        self.capability(name).is_some()
    }

    /// Whether the capability `name` has the boolean flag `flag` set (e.g. `resources.subscribe`).
    pub fn capability_flag(&self, name: &str, flag: &str) -> bool {
        self.capability(name)
            .and_then(|c| c.get(flag).and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
    }

    fn capability(&self, name: &str) -> Option<serde_json::Value> {
        let caps: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(self.capabilities.get()).ok()?;
        caps.get(name).filter(|v| !v.is_null()).cloned()
    }
}

/// Everything one upstream lists. Replicas of a pool are interchangeable, so a pool's catalog
/// is the catalog of any of its ready replicas.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The server this catalog came from.
    pub server: Arc<ServerInfo>,
    /// `tools/list`, all pages, in the server's order.
    pub tools: Vec<CatalogItem>,
    /// `resources/list`, all pages.
    pub resources: Vec<CatalogItem>,
    /// `resources/templates/list`, all pages.
    pub resource_templates: Vec<CatalogItem>,
    /// `prompts/list`, all pages.
    pub prompts: Vec<CatalogItem>,
}

impl Catalog {
    /// An empty catalog for `server`.
    pub fn empty(server: Arc<ServerInfo>) -> Catalog {
        Catalog {
            server,
            tools: Vec::new(),
            resources: Vec::new(),
            resource_templates: Vec::new(),
            prompts: Vec::new(),
        }
    }

    /// The items of one list.
    pub fn list(&self, kind: ListKind) -> &[CatalogItem] {
        match kind {
            ListKind::Tools => &self.tools,
            ListKind::Resources => &self.resources,
            ListKind::ResourceTemplates => &self.resource_templates,
            ListKind::Prompts => &self.prompts,
        }
    }

    /// Replace one list.
    pub fn set_list(&mut self, kind: ListKind, items: Vec<CatalogItem>) {
        match kind {
            ListKind::Tools => self.tools = items,
            ListKind::Resources => self.resources = items,
            ListKind::ResourceTemplates => self.resource_templates = items,
            ListKind::Prompts => self.prompts = items,
        }
    }

    /// The tool named `name`, if listed.
    pub fn tool(&self, name: &str) -> Option<&CatalogItem> {
        self.tools.iter().find(|t| t.key == name)
    }
}

/// One listed tool, resource, resource template or prompt.
#[derive(Clone, Debug)]
pub struct CatalogItem {
    /// The routing key: the tool or prompt `name`, the resource `uri`, the template
    /// `uriTemplate`.
    pub key: String,
    /// The whole object as the upstream sent it (unknown fields kept).
    pub raw: Box<RawValue>,
    /// The tool's behaviour hints; spec defaults for items that are not tools.
    pub annotations: ToolHints,
}

/// The MCP tool annotations that matter for caching and retries. They are hints from the
/// server, untrusted unless the operator trusts it (see the proxy checklist §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ToolHints {
    /// `readOnlyHint`, default false.
    pub read_only: bool,
    /// `destructiveHint`, default true (meaningful only when not read-only).
    pub destructive: bool,
    /// `idempotentHint`, default false.
    pub idempotent: bool,
    /// `openWorldHint`, default true.
    pub open_world: bool,
}

impl Default for ToolHints {
    /// The spec's conservative defaults: a tool with no annotations may write and reach the
    /// outside world.
    fn default() -> ToolHints {
        ToolHints {
            read_only: false,
            destructive: true,
            idempotent: false,
            open_world: true,
        }
    }
}

/// The four lists of a catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// `tools/list`.
    Tools,
    /// `resources/list`.
    Resources,
    /// `resources/templates/list`.
    ResourceTemplates,
    /// `prompts/list`.
    Prompts,
}

impl ListKind {
    /// All four, in fetch order.
    pub const ALL: [ListKind; 4] = [
        ListKind::Tools,
        ListKind::Resources,
        ListKind::ResourceTemplates,
        ListKind::Prompts,
    ];

    /// The list method.
    pub fn method(self) -> &'static str {
        match self {
            ListKind::Tools => "tools/list",
            ListKind::Resources => "resources/list",
            ListKind::ResourceTemplates => "resources/templates/list",
            ListKind::Prompts => "prompts/list",
        }
    }

    /// The field of the list result holding the items.
    pub fn field(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources => "resources",
            ListKind::ResourceTemplates => "resourceTemplates",
            ListKind::Prompts => "prompts",
        }
    }

    /// The server capability that enables this list.
    pub fn capability(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources | ListKind::ResourceTemplates => "resources",
            ListKind::Prompts => "prompts",
        }
    }

    /// The list a `notifications/*/list_changed` method invalidates (resources cover templates).
    pub fn from_list_changed(method: &str) -> &'static [ListKind] {
        match method {
            "notifications/tools/list_changed" => &[ListKind::Tools],
            "notifications/resources/list_changed" => {
                &[ListKind::Resources, ListKind::ResourceTemplates]
            }
            "notifications/prompts/list_changed" => &[ListKind::Prompts],
            _ => &[],
        }
    }

    fn key_field(self) -> &'static str {
        match self {
            ListKind::Tools | ListKind::Prompts => "name",
            ListKind::Resources => "uri",
            ListKind::ResourceTemplates => "uriTemplate",
        }
    }

    /// A bit for this kind in a small set.
    pub(crate) fn bit(self) -> u8 {
        match self {
            ListKind::Tools => 1,
            ListKind::Resources => 2,
            ListKind::ResourceTemplates => 4,
            ListKind::Prompts => 8,
        }
    }
}

/// One page of a list result: its items and the next cursor.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) items: Vec<CatalogItem>,
    pub(crate) next_cursor: Option<String>,
}

/// Parse one page of a list result; items without their key field are skipped (and counted
/// by the caller as a protocol oddity, not an error: one bad tool must not hide the others).
pub(crate) fn parse_page(kind: ListKind, result: &RawValue) -> Result<Page, String> {
    let page: serde_json::Map<String, serde_json::Value> = serde_json::from_str(result.get())
        .map_err(|e| format!("{} result is not an object: {e}", kind.method()))?;
    let next_cursor = match page.get("nextCursor") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "{}: nextCursor is not a string: {other}",
                kind.method()
            ));
        }
    };
    let items = match page.get(kind.field()) {
        Some(serde_json::Value::Array(items)) => items,
        None => {
            return Ok(Page {
                items: Vec::new(),
                next_cursor,
            });
        }
        Some(_) => {
            return Err(format!(
                "{}: {:?} is not an array",
                kind.method(),
                kind.field()
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Some(key) = item
            .get(kind.key_field())
            .and_then(serde_json::Value::as_str)
        else {
            tracing::debug!(
                list = kind.method(),
                "skipping an item without its key field"
            );
            continue;
        };
        let annotations = if kind == ListKind::Tools {
            hints(item.get("annotations"))
        } else {
            ToolHints::default()
        };
        out.push(CatalogItem {
            key: key.to_owned(),
            raw: to_raw(item),
            annotations,
        });
    }
    Ok(Page {
        items: out,
        next_cursor,
    })
}

fn hints(annotations: Option<&serde_json::Value>) -> ToolHints {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Wire {
        read_only_hint: Option<bool>,
        destructive_hint: Option<bool>,
        idempotent_hint: Option<bool>,
        open_world_hint: Option<bool>,
    }
    let defaults = ToolHints::default();
    let Some(wire) = annotations.and_then(|a| Wire::deserialize(a).ok()) else {
        return defaults;
    };
    ToolHints {
        read_only: wire.read_only_hint.unwrap_or(defaults.read_only),
        destructive: wire.destructive_hint.unwrap_or(defaults.destructive),
        idempotent: wire.idempotent_hint.unwrap_or(defaults.idempotent),
        open_world: wire.open_world_hint.unwrap_or(defaults.open_world),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn tool_pages_keep_unknown_fields_and_read_hints() {
        let page = parse_page(
            ListKind::Tools,
            &raw(r#"{"tools":[{"name":"a","inputSchema":{},"x-extra":[1],"annotations":{"readOnlyHint":true,"openWorldHint":false}},{"name":"b"},{"noname":1}],"nextCursor":"c2"}"#),
        )
        .unwrap();
        assert_eq!(page.next_cursor.as_deref(), Some("c2"));
        assert_eq!(page.items.len(), 2);
        assert!(page.items[0].raw.get().contains("\"x-extra\":[1]"));
        let a = page.items[0].annotations;
        assert!(a.read_only && !a.open_world && a.destructive && !a.idempotent);
        assert_eq!(page.items[1].annotations, ToolHints::default());
    }

    #[test]
    fn keys_per_list_and_bad_pages() {
        let page = parse_page(
            ListKind::ResourceTemplates,
            &raw(r#"{"resourceTemplates":[{"uriTemplate":"f://{x}"}]}"#),
        )
        .unwrap();
        assert_eq!(page.items[0].key, "f://{x}");
        assert!(page.next_cursor.is_none());
        assert!(parse_page(ListKind::Tools, &raw("[]")).is_err());
        assert!(parse_page(ListKind::Tools, &raw(r#"{"tools":{}}"#)).is_err());
        assert!(parse_page(ListKind::Tools, &raw(r#"{"tools":[],"nextCursor":3}"#)).is_err());
    }

    #[test]
    fn capabilities_are_read_from_the_raw_object() {
        let info = ServerInfo {
            protocol_version: "2025-11-25".into(),
            capabilities: raw(
                r#"{"tools":{"listChanged":true},"resources":{"subscribe":true},"prompts":null}"#,
            ),
            server_info: raw("null"),
            instructions: None,
            stateless: false,
        };
        assert!(info.has_capability("tools") && info.has_capability("resources"));
        assert!(!info.has_capability("prompts") && !info.has_capability("logging"));
        assert!(info.capability_flag("resources", "subscribe"));
        assert!(!info.capability_flag("tools", "subscribe"));
    }
}
