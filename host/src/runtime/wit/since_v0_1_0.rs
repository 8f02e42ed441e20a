//! Bindings for `ml-connector:plugin@0.1.0` (frozen; `wit/since_v0.1.0/`) and
//! conversions between its generated types and the host's own types.

use std::collections::BTreeMap;

use wasmtime::Result;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::state::PluginState;
use crate::runtime::types;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "notifier",
});

use self::ml_connector::plugin::host as wit_host;
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.1.0";

/// Adds this version's `host` import to `linker`.
pub fn add_to_linker(linker: &mut Linker<PluginState>) -> Result<()> {
    Notifier::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |state| state)
}

shared_conversions!(wit, wit_host);

/// 0.1.0 has no `reply`: a plugin built for it reads a reply from `event.data`.
impl From<&types::Context> for wit::Context {
    fn from(c: &types::Context) -> Self {
        wit::Context {
            business_name: c.business_name.clone(),
            customer: c.customer.as_ref().map(customer),
            invoice: c.invoice.as_ref().map(invoice),
            estimate: c.estimate.as_ref().map(estimate),
            now: c.now.clone(),
            settings: settings(&c.settings),
        }
    }
}
