//! The demo server's MCP handler: dispatches every request of one session to the catalog,
//! resources, prompts and replica state.

#![allow(deprecated)] // logging/setLevel and resources/subscribe: current for 2025-11-25 clients.

use std::sync::Arc;

use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, CompleteRequestParams, CompleteResult,
        GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse,
        ReadResourceResult, ServerCapabilities, ServerInfo, SetLevelRequestParams,
        SubscribeRequestParams, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext},
};

use super::{
    catalog, conformance, prompts, resources,
    state::{Replica, Session},
    tools::{self, CallContext},
};

/// One MCP session on a demo replica. Cloning shares the session (rmcp clones handlers freely).
#[derive(Debug, Clone)]
pub(crate) struct DemoServer {
    replica: Arc<Replica>,
    session: Arc<Session>,
}

impl DemoServer {
    /// A handler for a new session on `replica`.
    pub(crate) fn new_session(replica: &Arc<Replica>) -> Self {
        Self {
            session: Arc::new(replica.new_session()),
            replica: replica.clone(),
        }
    }
}

impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerInfo {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_resources_subscribe()
            .enable_resources_list_changed()
            .enable_prompts()
            .enable_logging()
            .enable_completions()
            .build();
        ServerInfo::new(capabilities)
            .with_server_info(Implementation::new(
                "vecgate-demo",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(format!(
                "vecgate demo server, replica {}: synthetic code search, files, summaries, \
                 tickets and a per-replica key-value store, plus the MCP conformance tools.",
                self.replica.latency.replica()
            ))
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.replica.register_peer(self.session.id, context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(catalog::all_tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.as_ref();
        let args = request.arguments.unwrap_or_default();
        let call = CallContext {
            replica: &self.replica,
            session: &self.session,
            request: &cx,
        };
        let result = match tools::call(&call, name, args.clone()).await {
            Some(result) => result,
            None => match conformance::call(&call, name, args).await {
                Some(result) => result,
                None => Err(ErrorData::invalid_params(
                    format!("no tool named {name}"),
                    None,
                )),
            },
        };
        result.map(Into::into)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(resources::list(
            &self.replica,
        )))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = resources::read(&self.replica, &request.uri)?;
        Ok(ReadResourceResult::new(contents).into())
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if !resources::is_known(&request.uri) {
            return Err(ErrorData::invalid_params(
                format!(
                    "cannot subscribe to {}: not a resource of this server",
                    request.uri
                ),
                None,
            ));
        }
        self.replica
            .subscribe(self.session.id, cx.peer.clone(), &request.uri);
        let message = format!("Subscribed to resource: {}", request.uri);
        self.session
            .log(&cx.peer, LoggingLevel::Info, &message)
            .await;
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.replica.unsubscribe(self.session.id, &request.uri);
        let message = format!("Unsubscribed from resource: {}", request.uri);
        self.session
            .log(&cx.peer, LoggingLevel::Info, &message)
            .await;
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _cx: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        prompts::get(&self.replica, &request.name, &request.arguments).map(Into::into)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        prompts::complete(&self.replica, &request)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _cx: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.session.set_log_level(request.level);
        Ok(())
    }
}
