//! Twilio as a source: signed status callbacks and inbound SMS replies (`webhooks`), and the
//! context a reply gives plugins (`replies`).

pub mod callbacks;
pub mod replies;
pub mod signature;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::post;

use self::replies::ReplyEnricher;
use self::webhooks::TwilioWebhooks;
use super::{BuildError, SourceContext, SourceParts};
use crate::secrets::SecretSet;

/// Builds the Twilio source: its two webhook routes and the reply enricher.
pub async fn build(ctx: &SourceContext) -> Result<SourceParts, BuildError> {
    let auth_token = Arc::new(SecretSet::load(ctx.vault.clone(), webhooks::is_auth_token).await?);
    if auth_token.current().is_empty() {
        tracing::warn!("No twilio.auth_token is stored: Twilio webhooks get 503 until `ml-connector secrets set twilio.auth_token`.");
    }
    let state = TwilioWebhooks {
        public_url: ctx.config.server.resolved_public_url().trim_end_matches('/').to_owned(),
        auth_token,
        store: ctx.store.clone(),
        inbox: ctx.inbox.clone(),
        metrics: ctx.metrics.clone(),
    };
    let routes = Router::new().route(webhooks::STATUS_PATH, post(webhooks::status)).route(webhooks::INBOUND_PATH, post(webhooks::inbound)).with_state(state);
    Ok(SourceParts { routes: Some(routes), enricher: Some((callbacks::SOURCE, Arc::new(ReplyEnricher::new(ctx.store.clone())))), ..SourceParts::default() })
}
