//! Open requests: a request that stays pending until it is cancelled, the 2026-07-28
//! `subscriptions/listen` (see [`crate::listen`], which keeps one per stateless replica).
//!
//! Such a request has no deadline (the sweeper never sees one, [`super::deadline`]), is never
//! given messages that do not name it (a log line or server request on stdio belongs to the
//! calls in flight, not to a listen that is always in flight), and is not a call in flight
//! for health checks ([`Mux::pending_bounded`]). Over Streamable HTTP its POST's response
//! stream is closed when it is dropped rather than read to its end, because closing that
//! stream is how a 2026-07-28 server learns it was cancelled; over stdio dropping it sends
//! `notifications/cancelled`, like any abandoned call.
//!
//! What a listen carries names it by `_meta["io.modelcontextprotocol/subscriptionId"]` (the
//! request's id; on stdio that tag is the only way to tell). Its acknowledgement goes to the
//! request's events; every other notification goes on as unsolicited, without the tag (it
//! names vecgate's upstream request, which no client knows). The upstream ends a listen with
//! a response (then the request returns), or over stdio with `notifications/cancelled` naming
//! it ([`Mux::end_open`]).

use super::meta::{parse_id, remove_meta_key};
use super::{CallEventSink, Mux};
use crate::error::CallError;
use crate::jsonrpc::Message;
use crate::replica::CallEvent;
use serde_json::value::RawValue;
use tokio::time::Instant;

/// `_meta` key naming the `subscriptions/listen` request a notification belongs to.
pub(crate) const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

impl Mux {
    /// Send a request that stays open until the upstream ends it or the future is dropped
    /// (which cancels it upstream). Its acknowledgement arrives through `events`.
    pub(crate) async fn open_request(
        &self,
        method: &'static str,
        params: Option<Box<RawValue>>,
        events: CallEventSink,
    ) -> Result<Box<RawValue>, CallError> {
        self.request_inner(
            method.into(),
            params,
            Some(events),
            None,
            Instant::now(),
            None,
        )
        .await
    }

    /// Route what an open request carries (see the module doc). Returns the message to route
    /// on as usual, if it is not consumed here.
    pub(super) fn on_subscription_message(&self, mut message: Message) -> Option<Message> {
        // Only what a listen may carry is looked at (not progress or log lines, the common
        // notifications), and a substring test spares untagged ones a parse.
        let listen_kind = matches!(
            message.method.as_deref(),
            Some(
                "notifications/subscriptions/acknowledged"
                    | "notifications/resources/updated"
                    | "notifications/tools/list_changed"
                    | "notifications/prompts/list_changed"
                    | "notifications/resources/list_changed"
            )
        );
        let tagged = listen_kind
            && message
                .params
                .as_ref()
                .is_some_and(|p| p.get().contains(SUBSCRIPTION_ID));
        if !tagged {
            return Some(message);
        }
        let Some(id) = subscription_id(&message) else {
            return Some(message);
        };
        if message.method.as_deref() == Some("notifications/subscriptions/acknowledged") {
            let events = {
                let table = self.pending.lock();
                table
                    .calls
                    .get(&id)
                    .filter(|c| c.open)
                    .and_then(|c| c.events.clone())
            };
            match events {
                Some(events) => self.to_call(&events, CallEvent::Notification(message)),
                None => {
                    tracing::debug!(pool = %self.ident.pool_name, id, "acknowledgement of a listen no longer open")
                }
            }
            return None;
        }
        match remove_meta_key(message.params.as_deref(), SUBSCRIPTION_ID) {
            Ok(params) => message.params = Some(params),
            Err(e) => self.bad_message(b"", &format!("subscription notification params: {e}")),
        }
        Some(message)
    }

    /// The upstream ended the open request whose raw id is `raw_id` (server-sent
    /// `notifications/cancelled`): it returns [`CallError::Unavailable`]. Anything else named
    /// so is ignored (an upstream may cancel only its own requests and listens).
    pub(super) fn end_open(&self, raw_id: &str) {
        let Some(id) = RawValue::from_string(raw_id.to_owned())
            .ok()
            .and_then(|raw| parse_id(&raw))
        else {
            return;
        };
        let call = {
            let mut table = self.pending.lock();
            match table.calls.get(&id) {
                Some(call) if call.open => table.calls.remove(&id),
                _ => None,
            }
        };
        if let Some(call) = call {
            let _ = call.reply.send(Err(
                self.unavailable("the upstream ended the subscription".into())
            ));
        }
    }
}

/// The subscription id a notification is tagged with, if it is one of our (integer) ids.
fn subscription_id(message: &Message) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Meta<'a> {
        #[serde(rename = "io.modelcontextprotocol/subscriptionId", borrow)]
        id: Option<&'a RawValue>,
    }
    let meta = message.peek_params().meta?;
    let meta: Meta<'_> = serde_json::from_str(meta.get()).ok()?;
    parse_id(meta.id?)
}
