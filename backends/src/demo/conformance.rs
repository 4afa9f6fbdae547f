//! The tools the official MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16)
//! calls by fixed name, answering exactly what its server scenarios expect.
//!
//! They are always part of the catalog: cheap, and they let the suite run against a demo replica
//! directly and through vecgate in the same way.

#![allow(deprecated)] // Sampling and LoggingLevel: current for the suite's 2025-11-25 client.

use std::time::Duration;

use rmcp::{
    ErrorData,
    model::{
        AudioContent, CallToolResult, ContentBlock, CreateMessageRequestParams,
        ElicitRequestParams, ElicitationAction, ElicitationSchema, JsonObject, LoggingLevel,
        ProgressNotificationParam, ResourceContents, SamplingMessage, Tool,
    },
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    catalog::{empty_schema, schema_object},
    fixtures::{PNG_1X1_BASE64, WAV_BASE64},
    tools::{CallContext, parse_args},
};

/// Pause between the notifications of the logging and progress tools (the suite expects ~50 ms).
const STEP: Duration = Duration::from_millis(50);
/// How long `test_reconnection` waits for the client to resume its closed stream.
const RESUME_WAIT: Duration = Duration::from_secs(10);

/// The conformance tools, in `tools/list` order.
pub(crate) fn tools() -> Vec<Tool> {
    let none = |name: &'static str, description: &'static str| {
        Tool::new(name, description, empty_schema())
    };
    vec![
        none("test_simple_text", "Returns a simple text content block."),
        none(
            "test_image_content",
            "Returns an image content block (1x1 PNG).",
        ),
        none(
            "test_audio_content",
            "Returns an audio content block (WAV).",
        ),
        none(
            "test_embedded_resource",
            "Returns an embedded text resource.",
        ),
        none(
            "test_multiple_content_types",
            "Returns text, image and resource content together.",
        ),
        none(
            "test_tool_with_logging",
            "Sends three info log messages while it runs.",
        ),
        none(
            "test_tool_with_progress",
            "Reports progress 0, 50 and 100 of 100.",
        ),
        none("test_error_handling", "Always fails with isError: true."),
        none(
            "test_reconnection",
            "Closes its SSE stream mid-call and answers after the client resumes (SEP-1699).",
        ),
        Tool::new(
            "test_sampling",
            "Asks the client's model for a completion (sampling/createMessage).",
            schema_object(json!({
                "type": "object",
                "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
                "required": ["prompt"]
            })),
        ),
        Tool::new(
            "test_elicitation",
            "Asks the user for input (elicitation/create).",
            schema_object(json!({
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The message to show the user"}},
                "required": ["message"]
            })),
        ),
        none(
            "test_elicitation_sep1034_defaults",
            "Elicits a form whose fields all have defaults (SEP-1034).",
        ),
        none(
            "test_elicitation_sep1330_enums",
            "Elicits a form with every enum variant (SEP-1330).",
        ),
        Tool::new(
            "json_schema_2020_12_tool",
            "Tool with JSON Schema 2020-12 features ($schema, $defs, additionalProperties; SEP-1613).",
            schema_object(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
                    }
                },
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
                "additionalProperties": false
            })),
        ),
    ]
}

#[derive(Deserialize)]
struct PromptArgs {
    prompt: String,
}

#[derive(Deserialize)]
struct MessageArgs {
    message: String,
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// Runs conformance tool `name`; `None` if there is no such tool.
pub(crate) async fn call(
    cx: &CallContext<'_>,
    name: &str,
    args: JsonObject,
) -> Option<Result<CallToolResult, ErrorData>> {
    let result = match name {
        "test_simple_text" => Ok(text("This is a simple text response for testing.")),
        "test_image_content" => Ok(CallToolResult::success(vec![ContentBlock::image(
            PNG_1X1_BASE64,
            "image/png",
        )])),
        "test_audio_content" => Ok(CallToolResult::success(vec![ContentBlock::Audio(
            AudioContent::new(WAV_BASE64, "audio/wav"),
        )])),
        "test_embedded_resource" => Ok(CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::text(
                "This is an embedded resource content.",
                "test://embedded-resource",
            ),
        )])),
        "test_multiple_content_types" => Ok(CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(PNG_1X1_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    r#"{"test":"data","value":123}"#,
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])),
        "test_tool_with_logging" => with_logging(cx).await,
        "test_tool_with_progress" => with_progress(cx).await,
        "test_error_handling" => Ok(CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])),
        "test_reconnection" => reconnection(cx).await,
        "test_sampling" => match parse_args::<PromptArgs>(name, args) {
            Ok(args) => sampling(cx, args.prompt).await,
            Err(result) => Ok(result),
        },
        "test_elicitation" => match parse_args::<MessageArgs>(name, args) {
            Ok(args) => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}
                    },
                    "required": ["username", "email"]
                });
                elicit(cx, args.message, schema, "User response").await
            }
            Err(result) => Ok(result),
        },
        "test_elicitation_sep1034_defaults" => {
            elicit(
                cx,
                "Please review and update the form fields with defaults".into(),
                sep1034_schema(),
                "Elicitation completed",
            )
            .await
        }
        "test_elicitation_sep1330_enums" => {
            elicit(
                cx,
                "Please select options from the enum fields".into(),
                sep1330_schema(),
                "Elicitation completed",
            )
            .await
        }
        "json_schema_2020_12_tool" => Ok(text(format!(
            "JSON Schema 2020-12 tool called with: {}",
            Value::Object(args)
        ))),
        _ => return None,
    };
    Some(result)
}

async fn with_logging(cx: &CallContext<'_>) -> Result<CallToolResult, ErrorData> {
    let messages = [
        "Tool execution started",
        "Tool processing data",
        "Tool execution completed",
    ];
    for (i, message) in messages.into_iter().enumerate() {
        if i > 0 {
            cx.wait(STEP).await?;
        }
        cx.session
            .log(&cx.request.peer, LoggingLevel::Info, message)
            .await;
    }
    Ok(text("Tool with logging executed successfully"))
}

async fn with_progress(cx: &CallContext<'_>) -> Result<CallToolResult, ErrorData> {
    let token = cx.request.meta.get_progress_token();
    for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
        if i > 0 {
            cx.wait(STEP).await?;
        }
        if let Some(token) = &token {
            let param = ProgressNotificationParam::new(token.clone(), progress)
                .with_total(100.0)
                .with_message(format!("Completed step {progress} of 100"));
            let _ = cx.request.peer.notify_progress(param).await;
        }
    }
    Ok(text("Tool with progress executed successfully"))
}

/// Closes the POST SSE stream carrying this call (HTTP only), waits until the client resumes it
/// with `Last-Event-ID`, then answers on the resumed stream.
async fn reconnection(cx: &CallContext<'_>) -> Result<CallToolResult, ErrorData> {
    let session = cx
        .request
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|value| value.to_str().ok());
    let (Some(streams), Some(session)) = (cx.replica.streams.as_ref(), session) else {
        return Ok(text(
            "Reconnection test completed (no SSE stream to close on this transport).",
        ));
    };
    match streams.close_stream(session, &cx.request.id).await {
        Ok((http_request_id, resumed)) => {
            let outcome = tokio::select! {
                _ = tokio::time::timeout(RESUME_WAIT, resumed.notified()) => Ok(()),
                () = cx.request.ct.cancelled() => Err(ErrorData::internal_error("request cancelled", None)),
            };
            streams.stop_waiting(session, http_request_id);
            outcome?;
            Ok(text(
                "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.",
            ))
        }
        // A JSON (non-SSE) response has no stream to close: answer directly.
        Err(_) => Ok(text(
            "Reconnection test completed (the response is not an SSE stream).",
        )),
    }
}

async fn sampling(cx: &CallContext<'_>, prompt: String) -> Result<CallToolResult, ErrorData> {
    let params = CreateMessageRequestParams::new(vec![SamplingMessage::user_text(prompt)], 100);
    Ok(match cx.request.peer.create_message(params).await {
        Ok(result) => {
            let answer = result
                .message
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .unwrap_or_else(|| "No response".into());
            text(format!("LLM response: {answer}"))
        }
        Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
            "Sampling not supported or error: {e}"
        ))]),
    })
}

async fn elicit(
    cx: &CallContext<'_>,
    message: String,
    schema: Value,
    label: &str,
) -> Result<CallToolResult, ErrorData> {
    let requested_schema: ElicitationSchema = serde_json::from_value(schema)
        .map_err(|e| ErrorData::internal_error(format!("elicitation schema: {e}"), None))?;
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message,
        requested_schema,
    };
    Ok(match cx.request.peer.create_elicitation(params).await {
        Ok(result) => {
            let action = match result.action {
                ElicitationAction::Accept => "accept",
                ElicitationAction::Decline => "decline",
                _ => "cancel",
            };
            let content = result.content.unwrap_or_else(|| json!({}));
            text(format!("{label}: action={action}, content={content}"))
        }
        Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
            "Elicitation not supported or error: {e}"
        ))]),
    })
}

/// SEP-1034: a default for every primitive type.
fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "description": "Verification status", "default": true}
        },
        "required": []
    })
}

/// SEP-1330: untitled/titled single-select, legacy `enumNames`, untitled/titled multi-select.
fn sep1330_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "description": "Select one option", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {
                "type": "string", "description": "Select one option with titles",
                "oneOf": [
                    {"const": "value1", "title": "First Option"},
                    {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"}
                ]
            },
            "legacyEnum": {
                "type": "string", "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array", "description": "Select multiple options", "minItems": 1, "maxItems": 3,
                "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
            },
            "titledMulti": {
                "type": "array", "description": "Select multiple options with titles", "minItems": 1, "maxItems": 3,
                "items": {"anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"}
                ]}
            }
        },
        "required": []
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed rmcp schema must keep every field the suite checks (it would silently drop
    /// unknown ones).
    #[test]
    fn elicitation_schemas_survive_rmcp_types() {
        for schema in [sep1034_schema(), sep1330_schema()] {
            let typed: ElicitationSchema = serde_json::from_value(schema.clone()).unwrap();
            let back = serde_json::to_value(&typed).unwrap();
            for (name, property) in schema["properties"].as_object().unwrap() {
                for (key, value) in property.as_object().unwrap() {
                    assert_eq!(&back["properties"][name][key], value, "{name}.{key}");
                }
            }
        }
    }

    #[test]
    fn json_schema_2020_12_keywords_are_advertised() {
        let tool = tools()
            .into_iter()
            .find(|t| t.name == "json_schema_2020_12_tool")
            .unwrap();
        assert_eq!(
            tool.input_schema["$schema"],
            json!("https://json-schema.org/draft/2020-12/schema")
        );
        assert!(tool.input_schema.contains_key("$defs"));
        assert_eq!(tool.input_schema["additionalProperties"], json!(false));
    }
}
