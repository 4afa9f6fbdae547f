//! Resources and resource templates: static `demo://` documents, the ticket list and key-value
//! entries that tools change (and notify about), repository summaries by template, and the
//! conformance suite's `test://` resources.

use rmcp::{
    ErrorData,
    model::{Resource, ResourceContents, ResourceTemplate},
};
use serde_json::json;

use super::{
    fixtures::{PATHS, PNG_1X1_BASE64, REPOS, file_size_kib},
    state::{KV_URI_PREFIX, Replica, TICKETS_URI},
};

const README_URI: &str = "demo://readme";
const LOGO_URI: &str = "demo://logo.png";
const REPO_URI_PREFIX: &str = "demo://repo/";
const WATCHED_URI: &str = "test://watched-resource";

const README: &str = "# vecgate demo server\n\nA synthetic MCP server with code search, file \
reads, summaries, tickets and a per-replica key-value store. Latencies depend on the replica and \
the arguments, so a router can learn which replica is fastest for what.\n";

/// Every concrete resource, the key-value entries of this replica included.
pub(crate) fn list(replica: &Replica) -> Vec<Resource> {
    let mut resources = vec![
        Resource::new(README_URI, "readme")
            .with_title("Demo server README")
            .with_description("What the demo server is")
            .with_mime_type("text/markdown"),
        Resource::new(LOGO_URI, "logo")
            .with_title("Demo logo")
            .with_description("A 1x1 PNG (binary resource)")
            .with_mime_type("image/png"),
        Resource::new(TICKETS_URI, "tickets")
            .with_title("Tickets")
            .with_description("Tickets created with create_ticket; updated on every new ticket")
            .with_mime_type("text/plain"),
    ];
    resources.extend(replica.kv_keys().into_iter().map(|key| {
        Resource::new(format!("{KV_URI_PREFIX}{key}"), format!("kv:{key}"))
            .with_description("A key-value entry of this replica; updated by kv_put")
            .with_mime_type("text/plain")
    }));
    resources.extend([
        Resource::new("test://static-text", "static-text")
            .with_title("Static Text Resource")
            .with_description("A static text resource for testing")
            .with_mime_type("text/plain"),
        Resource::new("test://static-binary", "static-binary")
            .with_title("Static Binary Resource")
            .with_description("A static binary resource (image) for testing")
            .with_mime_type("image/png"),
        Resource::new(WATCHED_URI, "watched-resource")
            .with_title("Watched Resource")
            .with_description("A resource clients can subscribe to")
            .with_mime_type("text/plain"),
    ]);
    resources
}

/// The resource templates.
pub(crate) fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{REPO_URI_PREFIX}{{name}}"), "repo")
            .with_title("Repository summary")
            .with_description("Files and sizes of a demo repository")
            .with_mime_type("application/json"),
        ResourceTemplate::new(format!("{KV_URI_PREFIX}{{key}}"), "kv")
            .with_title("Key-value entry")
            .with_description("The value stored under a key on this replica")
            .with_mime_type("text/plain"),
        ResourceTemplate::new("test://template/{id}/data", "template")
            .with_title("Resource Template")
            .with_description("A resource template with parameter substitution")
            .with_mime_type("application/json"),
    ]
}

/// Reads `uri`; unknown URIs are `resource not found` (-32002).
pub(crate) fn read(replica: &Replica, uri: &str) -> Result<Vec<ResourceContents>, ErrorData> {
    let text =
        |body: String, mime: &str| vec![ResourceContents::text(body, uri).with_mime_type(mime)];
    let contents = match uri {
        README_URI => text(README.to_owned(), "text/markdown"),
        LOGO_URI | "test://static-binary" => {
            vec![ResourceContents::blob(PNG_1X1_BASE64, uri).with_mime_type("image/png")]
        }
        TICKETS_URI => {
            let tickets = replica.tickets();
            let mut body = format!("{} ticket(s)\n", tickets.len());
            for ticket in tickets {
                body.push_str(&format!(
                    "#{} {}: {}\n",
                    ticket.id, ticket.title, ticket.body
                ));
            }
            text(body, "text/plain")
        }
        "test://static-text" => text(
            "This is the content of the static text resource.".to_owned(),
            "text/plain",
        ),
        WATCHED_URI => text("Watched resource content".to_owned(), "text/plain"),
        _ => {
            if let Some(key) = uri.strip_prefix(KV_URI_PREFIX) {
                match replica.kv_get(key) {
                    Some(value) => text(value, "text/plain"),
                    None => return Err(not_found(uri)),
                }
            } else if let Some(name) = uri.strip_prefix(REPO_URI_PREFIX) {
                if !REPOS.contains(&name) {
                    return Err(not_found(uri));
                }
                let files: Vec<_> = PATHS
                    .iter()
                    .map(|path| json!({"path": path, "kib": file_size_kib(name, path)}))
                    .collect();
                text(
                    json!({"repo": name, "files": files}).to_string(),
                    "application/json",
                )
            } else if let Some(id) = uri
                .strip_prefix("test://template/")
                .and_then(|rest| rest.strip_suffix("/data"))
                .filter(|id| !id.is_empty() && !id.contains('/'))
            {
                let body =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                text(body.to_string(), "application/json")
            } else {
                return Err(not_found(uri));
            }
        }
    };
    Ok(contents)
}

/// Whether `uri` names a resource that exists now (subscriptions are accepted for any URI this
/// server can serve, key-value entries included before they are written).
pub(crate) fn is_known(uri: &str) -> bool {
    uri.starts_with("demo://") || uri.starts_with("test://")
}

fn not_found(uri: &str) -> ErrorData {
    ErrorData::resource_not_found(format!("no resource {uri}"), Some(json!({"uri": uri})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{latency::LatencyModel, options::DemoProfile};

    fn replica() -> Replica {
        Replica::new(LatencyModel::new(0, DemoProfile::Instant, Vec::new()), None)
    }

    #[test]
    fn every_listed_resource_reads_back() {
        let replica = replica();
        replica.kv_put("color", "blue");
        for resource in list(&replica) {
            let contents = read(&replica, &resource.uri).unwrap();
            assert_eq!(contents.len(), 1, "{}", resource.uri);
        }
        assert!(list(&replica).iter().any(|r| r.uri == "demo://kv/color"));
    }

    #[test]
    fn templates_substitute_and_unknowns_are_not_found() {
        let replica = replica();
        let Ok(contents) = read(&replica, "test://template/123/data") else {
            panic!()
        };
        let ResourceContents::TextResourceContents { text, .. } = &contents[0] else {
            panic!()
        };
        assert!(text.contains("\"123\""));
        assert!(read(&replica, "demo://repo/tokio").is_ok());
        for missing in [
            "demo://repo/nope",
            "demo://kv/absent",
            "test://template//data",
            "file:///etc/passwd",
        ] {
            assert!(read(&replica, missing).is_err(), "{missing}");
        }
    }
}
