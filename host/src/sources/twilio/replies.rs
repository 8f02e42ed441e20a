//! The context of an inbound SMS reply (`message.received`): the message it answers and that
//! message's source event, read from the store at dispatch, and the source event's own
//! enrichment (business, customer, invoice) from its source's enricher, so a plugin sees a
//! "PAID?" reply next to the invoice it is about.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::SecondsFormat;

use super::callbacks::{MESSAGE_RECEIVED, ReceivedData};
use crate::dispatch::enrich::{EnrichError, Enricher, Enrichers};
use crate::dispatch::plugin_event;
use crate::model::{Context, Event, Reply, SentMessage};
use crate::store::{OutboxMessage, Store, StoreError};

/// The enricher of Twilio's events: a `message.received` gets `context.reply` and the context of
/// its source event; any other Twilio event gets the fallback's.
pub struct ReplyEnricher {
    store: Arc<dyn Store>,
}

impl ReplyEnricher {
    /// Replies are looked up in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        ReplyEnricher { store }
    }

    async fn sent_message(&self, m: OutboxMessage) -> Result<SentMessage, StoreError> {
        Ok(SentMessage {
            delivery_status: self.store.delivery_status(m.row.id).await?,
            plugin: m.row.plugin,
            key: m.row.key,
            channel: m.row.channel,
            to: m.row.to,
            to_number: m.to_number,
            body: m.row.body,
            sid: m.sid,
            status: m.row.status.as_str().to_owned(),
        })
    }
}

#[async_trait]
impl Enricher for ReplyEnricher {
    async fn context(&self, event: &Event, all: &Enrichers) -> Result<Context, EnrichError> {
        if event.kind != MESSAGE_RECEIVED {
            return all.fallback(event).await;
        }
        let data: ReceivedData = match serde_json::from_str(&event.data) {
            Ok(data) => data,
            Err(e) => {
                tracing::error!(event_id = %event.id, error = %e, "Unreadable reply data; plugins get the event without context.reply.");
                return all.fallback(event).await;
            }
        };
        let unavailable = |e: StoreError| EnrichError::Unavailable(format!("cannot read the replied-to message: {e}"));
        let original = match &data.original {
            Some(o) => self.store.get_message(o.id).await.map_err(unavailable)?,
            None => None,
        };
        let original = match original {
            Some(m) => Some(self.sent_message(m).await.map_err(unavailable)?),
            None => None,
        };
        let source_event = match &data.source_event {
            Some(s) => self.store.get_event(&s.id).await.map_err(unavailable)?.map(|e| plugin_event(&e)),
            None => None,
        };
        let mut context = match &source_event {
            Some(source) => all.context(source).await?,
            None => all.fallback(event).await?,
        };
        let reply = data.reply;
        let received_at = chrono::DateTime::parse_from_rfc3339(&reply.received_at)
            .map(|t| t.to_utc().to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or(reply.received_at);
        context.reply = Some(Reply {
            sid: reply.sid,
            from: reply.from,
            to: reply.to,
            body: reply.body,
            opt_out_type: reply.opt_out_type,
            received_at,
            original,
            source_event,
        });
        Ok(context)
    }
}
