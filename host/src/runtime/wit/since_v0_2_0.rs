//! Bindings for `ml-connector:plugin@0.2.0` (`wit/since_v0.2.0/`, the SDK's
//! version) and conversions between its generated types and the host's own.

use std::collections::BTreeMap;

use crate::runtime::state::PluginState;
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "notifier",
});

use self::ml_connector::plugin::host as wit_host;
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.2.0";

shared_conversions!(wit, wit_host, reply = reply);

/// `context.reply`, new in 0.2.0.
fn reply(c: &model::Context) -> Option<wit::Reply> {
    c.reply.as_ref().map(|r| wit::Reply {
        sid: r.sid.clone(),
        from: r.from.clone(),
        to: r.to.clone(),
        body: r.body.clone(),
        opt_out_type: r.opt_out_type.clone(),
        received_at: r.received_at.clone(),
        original: r.original.as_ref().map(sent_message),
        source_event: r.source_event.as_ref().map(wit::Event::from),
    })
}

fn sent_message(m: &model::SentMessage) -> wit::SentMessage {
    wit::SentMessage {
        plugin: m.plugin.clone(),
        key: m.key.clone(),
        channel: match m.channel {
            model::Channel::Sms => wit::Channel::Sms,
            model::Channel::Call => wit::Channel::Call,
        },
        to: match &m.to {
            model::Recipient::Customer => wit::Recipient::Customer,
            model::Recipient::Team(name) => wit::Recipient::Team(name.clone()),
            model::Recipient::Number(number) => wit::Recipient::Number(number.clone()),
        },
        to_number: m.to_number.clone(),
        body: m.body.clone(),
        sid: m.sid.clone(),
        status: m.status.clone(),
        delivery_status: m.delivery_status.clone(),
    }
}
