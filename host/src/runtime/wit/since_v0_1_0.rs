//! Bindings for `ml-connector:plugin@0.1.0` (frozen; `wit/since_v0.1.0/`) and
//! conversions between its generated types and the host's own types. Its
//! context has no `reply`: a plugin built for it reads a reply from `event.data`.

use std::collections::BTreeMap;

use crate::runtime::state::PluginState;
use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "notifier",
    // Event and context are lowered straight from borrowed host data, not cloned first.
    ownership: Borrowing { duplicate_if_necessary: true },
});

use self::ml_connector::plugin::host as wit_host;
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.1.0";

shared_conversions!(wit, wit_host, Recipient);
