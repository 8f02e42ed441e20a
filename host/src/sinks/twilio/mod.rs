//! The Twilio sink: SMS and voice calls, drained from the outbox by the sink driver.
//!
//! One file per piece: [`request_builder`] turns an outbox row into a form body (pure),
//! [`service`] is the `tower::Service` over reqwest, [`retry`] decides what a response means,
//! [`phone`] normalises numbers to E.164, [`twiml`] escapes voice text, [`state`] is the sink's
//! own state in the store (opt-outs, Lookups cache, callbacks, replies), and [`sink`] implements
//! [`Sink`](crate::sinks::Sink) over them.

use std::sync::Arc;
use std::time::Duration;

use self::service::{Credentials, TwilioService};
use self::sink::{TwilioSettings, TwilioSink};
use crate::config::{Config, TwilioMode};
use crate::secrets::Vault;
use crate::sources::BuildError;
use crate::store::Store;

pub mod message_tag;
pub mod phone;
pub mod request_builder;
pub mod retry;
pub mod service;
pub mod sink;
pub mod state;
pub mod twiml;

/// Twilio account auth token: the Basic auth password (with the account SID), and the key
/// Twilio signs its webhooks with, even when the sender authenticates with an API key.
pub const TWILIO_AUTH_TOKEN: &str = "twilio.auth_token";
/// Twilio API key SID, used instead of the account SID as the Basic auth user when set.
pub const TWILIO_API_KEY_SID: &str = "twilio.api_key_sid";
/// Twilio API key secret, paired with [`TWILIO_API_KEY_SID`].
pub const TWILIO_API_KEY_SECRET: &str = "twilio.api_key_secret";

/// The Twilio sink `config` describes. In live mode the credentials come from the store: the API
/// key when both its secrets are set, else the account SID with `twilio.auth_token`; without
/// either, live mode refuses to start.
pub async fn build(config: &Config, store: Arc<dyn Store>, vault: &Vault) -> Result<TwilioSink, BuildError> {
    let settings = TwilioSettings::from_config(config);
    if config.twilio.mode == TwilioMode::DryRun {
        return Ok(TwilioSink::new(store, None, settings));
    }
    let account_sid = config.twilio.account_sid.clone().ok_or_else(|| BuildError::Config { message: "live mode needs twilio.account_sid".into() })?;
    let credentials = match (vault.get(TWILIO_API_KEY_SID).await?, vault.get(TWILIO_API_KEY_SECRET).await?) {
        (Some(sid), Some(secret)) => Credentials { username: sid.expose().to_owned(), password: secret },
        _ => {
            let token = vault.get(TWILIO_AUTH_TOKEN).await?.ok_or_else(|| BuildError::Config {
                message: format!(
                    "live mode needs the secret {TWILIO_AUTH_TOKEN} (or {TWILIO_API_KEY_SID} and {TWILIO_API_KEY_SECRET}): `ml-connector secrets set {TWILIO_AUTH_TOKEN}`"
                ),
            })?;
            Credentials { username: account_sid, password: token }
        }
    };
    let service = TwilioService::new(&config.twilio.api_base, &config.twilio.lookups_base, credentials, Duration::from_millis(config.twilio.request_timeout_ms))
        .map_err(|e| BuildError::Config { message: format!("cannot set up the Twilio client: {e}") })?;
    Ok(TwilioSink::new(store, Some(service), settings))
}
