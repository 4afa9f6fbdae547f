//! The demo tools: code search, file reads, summaries, tickets, a per-replica key-value store,
//! and tools that exercise progress, cancellation and server-to-client requests.
//!
//! Each call first sleeps for the [latency model](super::latency)'s time (aborting if the client
//! cancels), then does its (cheap) work.

// Sampling, roots and LoggingLevel are deprecated by rmcp for protocol 2026-07-28 only; this
// server speaks them to 2025-06-18 / 2025-11-25 clients, where they are current.
#![allow(deprecated)]

use std::time::Duration;

use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolResult, ContentBlock, CreateMessageRequestParams, ElicitRequestParams,
        ElicitationAction, ElicitationSchema, JsonObject, LoggingLevel, ProgressNotificationParam,
        Resource, SamplingMessage,
    },
    service::RequestContext,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::{
    catalog::{
        AskLlmArgs, ConfirmArgs, CreateTicketArgs, KvGetArgs, KvPutArgs, LongTaskArgs,
        ReadFileArgs, SearchCodeArgs, SleepArgs, TextArgs,
    },
    fixtures,
    latency::ToolCost,
    state::{KV_URI_PREFIX, Replica, Session, TICKETS_URI},
};

/// Longest `sleep` accepted.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Bounds of `long_task`.
const MAX_STEPS: u32 = 1000;
const MAX_STEP: Duration = Duration::from_secs(10);

/// What a tool call can see: its replica, its session and the request.
pub(crate) struct CallContext<'a> {
    pub(crate) replica: &'a Replica,
    pub(crate) session: &'a Session,
    pub(crate) request: &'a RequestContext<RoleServer>,
}

/// The call was cancelled by the client while it waited.
pub(crate) struct Cancelled;

impl From<Cancelled> for ErrorData {
    fn from(_: Cancelled) -> Self {
        // rmcp drops responses to cancelled requests; this only documents the outcome.
        ErrorData::internal_error("request cancelled", None)
    }
}

impl CallContext<'_> {
    /// Sleeps for `duration` unless the request is cancelled first.
    pub(crate) async fn wait(&self, duration: Duration) -> Result<(), Cancelled> {
        if duration.is_zero() {
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = self.request.ct.cancelled() => Err(Cancelled),
        }
    }

    /// Sleeps for the modelled latency of `tool` at `cost`.
    async fn work(&self, tool: &str, cost: ToolCost<'_>) -> Result<(), Cancelled> {
        self.wait(self.replica.latency.sample(tool, cost)).await
    }
}

/// Parses tool arguments; a mismatch is a tool execution error (SEP-1303), so the model sees it.
pub(crate) fn parse_args<T: DeserializeOwned>(
    tool: &str,
    args: JsonObject,
) -> Result<T, CallToolResult> {
    serde_json::from_value(serde_json::Value::Object(args)).map_err(|e| {
        CallToolResult::error(vec![ContentBlock::text(format!(
            "invalid arguments for {tool}: {e}"
        ))])
    })
}

fn text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn tool_error(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

macro_rules! args {
    ($tool:expr, $args:expr) => {
        match parse_args($tool, $args) {
            Ok(args) => args,
            Err(result) => return Ok(result),
        }
    };
}

/// Runs demo tool `name`; `None` if there is no demo tool of that name.
pub(crate) async fn call(
    cx: &CallContext<'_>,
    name: &str,
    args: JsonObject,
) -> Option<Result<CallToolResult, ErrorData>> {
    let result = match name {
        "search_code" => search_code(cx, args).await,
        "read_file" => read_file(cx, args).await,
        "summarize" => summarize(cx, args).await,
        "create_ticket" => create_ticket(cx, args).await,
        "kv_get" => kv_get(cx, args).await,
        "kv_put" => kv_put(cx, args).await,
        "echo" => echo(args),
        "sleep" => sleep(cx, args).await,
        "long_task" => long_task(cx, args).await,
        "ask_llm" => ask_llm(cx, args).await,
        "confirm" => confirm(cx, args).await,
        "list_roots" => list_roots(cx).await,
        _ => return None,
    };
    Some(result)
}

fn echo(args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: TextArgs = args!("echo", args);
    Ok(text(args.text))
}

async fn search_code(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: SearchCodeArgs = args!("search_code", args);
    let cost = ToolCost::SearchCode {
        repo: &args.repo,
        query_bytes: args.query.len(),
    };
    cx.work("search_code", cost).await?;
    let hits = fixtures::search(&args.repo, &args.query, 5);
    let mut out = format!(
        "{} hit(s) for {:?} in {} (replica {})\n",
        hits.len(),
        args.query,
        args.repo,
        cx.replica.latency.replica()
    );
    for (path, line) in hits {
        out.push_str(&format!("{path}:{line}\n"));
    }
    Ok(text(out))
}

async fn read_file(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: ReadFileArgs = args!("read_file", args);
    let cost = ToolCost::ReadFile {
        repo: &args.repo,
        path: &args.path,
    };
    cx.work("read_file", cost).await?;
    Ok(text(fixtures::file_excerpt(&args.repo, &args.path)))
}

async fn summarize(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: TextArgs = args!("summarize", args);
    let cost = ToolCost::Summarize {
        text_bytes: args.text.len(),
    };
    cx.work("summarize", cost).await?;
    let first_sentence = args
        .text
        .split_inclusive(['.', '!', '?'])
        .next()
        .unwrap_or("")
        .trim();
    Ok(text(format!(
        "{} ({} words, {} lines)",
        first_sentence,
        args.text.split_whitespace().count(),
        args.text.lines().count()
    )))
}

async fn create_ticket(
    cx: &CallContext<'_>,
    args: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let args: CreateTicketArgs = args!("create_ticket", args);
    if args.title.trim().is_empty() {
        return Ok(tool_error("create_ticket: title must not be empty"));
    }
    let cost = ToolCost::CreateTicket {
        bytes: args.title.len() + args.body.len(),
    };
    cx.work("create_ticket", cost).await?;
    let ticket = cx.replica.add_ticket(&args.title, &args.body);
    cx.session
        .log(
            &cx.request.peer,
            LoggingLevel::Notice,
            &format!("created ticket #{}: {}", ticket.id, ticket.title),
        )
        .await;
    cx.replica.notify_updated(TICKETS_URI).await;
    Ok(text(format!("created ticket #{}", ticket.id)))
}

async fn kv_get(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: KvGetArgs = args!("kv_get", args);
    cx.work("kv_get", ToolCost::KvGet).await?;
    Ok(match cx.replica.kv_get(&args.key) {
        // The value, and a link to the resource it was read from: a cache that watches the
        // resource knows when this answer goes stale.
        Some(value) => CallToolResult::success(vec![
            ContentBlock::text(value),
            ContentBlock::resource_link(Resource::new(
                format!("{KV_URI_PREFIX}{}", args.key),
                format!("kv:{}", args.key),
            )),
        ]),
        None => tool_error(format!(
            "no key {:?} on replica {}",
            args.key,
            cx.replica.latency.replica()
        )),
    })
}

async fn kv_put(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: KvPutArgs = args!("kv_put", args);
    cx.work("kv_put", ToolCost::KvPut).await?;
    let previous = cx.replica.kv_put(&args.key, &args.value);
    cx.replica
        .notify_updated(&format!("{KV_URI_PREFIX}{}", args.key))
        .await;
    if previous.is_none() {
        // A new key is a new resource.
        cx.replica.notify_resource_list_changed().await;
    }
    Ok(text(format!(
        "stored {:?} on replica {}",
        args.key,
        cx.replica.latency.replica()
    )))
}

async fn sleep(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: SleepArgs = args!("sleep", args);
    let requested = Duration::from_millis(args.ms);
    if requested > MAX_SLEEP {
        return Ok(tool_error(format!(
            "sleep: ms must be at most {}",
            MAX_SLEEP.as_millis()
        )));
    }
    cx.work("sleep", ToolCost::Exact(requested)).await?;
    Ok(text(format!("slept {} ms", args.ms)))
}

async fn long_task(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: LongTaskArgs = args!("long_task", args);
    let step = Duration::from_millis(args.step_ms);
    if args.steps == 0 || args.steps > MAX_STEPS || step > MAX_STEP {
        return Ok(tool_error(format!(
            "long_task: steps must be 1..={MAX_STEPS} and step_ms at most {}",
            MAX_STEP.as_millis()
        )));
    }
    let token = cx.request.meta.get_progress_token();
    let peer = &cx.request.peer;
    cx.session
        .log(
            peer,
            LoggingLevel::Info,
            &format!("long_task: {} steps", args.steps),
        )
        .await;
    for done in 1..=args.steps {
        cx.work("long_task", ToolCost::Exact(step)).await?;
        if let Some(token) = &token {
            let progress = ProgressNotificationParam::new(token.clone(), f64::from(done))
                .with_total(f64::from(args.steps))
                .with_message(format!("step {done} of {}", args.steps));
            // A client that went away is handled by the cancellation of the request.
            let _ = peer.notify_progress(progress).await;
        }
    }
    Ok(text(format!("completed {} steps", args.steps)))
}

async fn ask_llm(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: AskLlmArgs = args!("ask_llm", args);
    cx.work("ask_llm", ToolCost::ClientRoundTrip).await?;
    let params =
        CreateMessageRequestParams::new(vec![SamplingMessage::user_text(args.prompt)], 200);
    Ok(match cx.request.peer.create_message(params).await {
        Ok(result) => {
            let answer = result
                .message
                .content
                .first()
                .and_then(|c| c.as_text())
                .map(|t| t.text.clone())
                .unwrap_or_default();
            text(format!("{} says: {answer}", result.model))
        }
        Err(e) => tool_error(format!("ask_llm: the client did not sample: {e}")),
    })
}

async fn confirm(cx: &CallContext<'_>, args: JsonObject) -> Result<CallToolResult, ErrorData> {
    let args: ConfirmArgs = args!("confirm", args);
    cx.work("confirm", ToolCost::ClientRoundTrip).await?;
    let schema: ElicitationSchema = serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "confirmed": {"type": "boolean", "title": "Confirm", "description": "Answer yes or no", "default": false}
        },
        "required": ["confirmed"]
    }))
    .map_err(|e| ErrorData::internal_error(format!("confirm schema: {e}"), None))?;
    let params = ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: args.question,
        requested_schema: schema,
    };
    Ok(match cx.request.peer.create_elicitation(params).await {
        Ok(result) => {
            let confirmed = result
                .content
                .as_ref()
                .and_then(|c| c.get("confirmed"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            match result.action {
                ElicitationAction::Accept => text(if confirmed { "confirmed" } else { "refused" }),
                ElicitationAction::Decline => text("declined"),
                _ => text("cancelled"),
            }
        }
        Err(e) => tool_error(format!("confirm: the client did not elicit: {e}")),
    })
}

async fn list_roots(cx: &CallContext<'_>) -> Result<CallToolResult, ErrorData> {
    cx.work("list_roots", ToolCost::ClientRoundTrip).await?;
    Ok(match cx.request.peer.list_roots().await {
        Ok(result) => {
            let roots: Vec<String> = result
                .roots
                .iter()
                .map(|root| match &root.name {
                    Some(name) => format!("{name}: {}", root.uri),
                    None => root.uri.clone(),
                })
                .collect();
            text(format!("{} root(s)\n{}", roots.len(), roots.join("\n")))
        }
        Err(e) => tool_error(format!("list_roots: the client did not list roots: {e}")),
    })
}
