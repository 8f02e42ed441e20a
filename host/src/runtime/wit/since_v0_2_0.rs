//! Bindings for `ml-connector:plugin@0.2.0` (`wit/since_v0.2.0/`, the SDK's
//! version) and conversions between its generated types and the host's own.

use std::collections::BTreeMap;

use crate::runtime::state::PluginState;
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.2.0",
    world: "notifier",
    // Event and context are lowered straight from borrowed host data, not cloned first.
    ownership: Borrowing { duplicate_if_necessary: true },
});

use self::ml_connector::plugin::host as wit_host;
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.2.0";

shared_conversions!(wit, wit_host, RecipientResult, reply = reply);

reply_conversions!(wit);
