//! Bindings for `ml-connector:plugin@0.1.0` (frozen; `wit/since_v0.1.0/`) and
//! conversions between its generated types and the host's own types.

use std::collections::BTreeMap;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Engine, Result};

use crate::runtime::state::PluginState;
use crate::runtime::types;

wasmtime::component::bindgen!({
    path: "../wit/since_v0.1.0",
    world: "notifier",
});

pub use self::exports::ml_connector::plugin::handler as handler;
use self::ml_connector::plugin::host::{self as wit_host, Level};
use self::ml_connector::plugin::types as wit;

/// The export a component must have to be loaded under this version.
pub const HANDLER_EXPORT: &str = "ml-connector:plugin/handler@0.1.0";

/// The linker for this version: WASI p2 (locked down per store) plus our `host` import.
/// Built once per [`Runtime`](crate::runtime::Runtime) and shared by every plugin.
pub fn linker(engine: &Engine) -> Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Notifier::add_to_linker::<PluginState, HasSelf<PluginState>>(&mut linker, |state| state)?;
    Ok(linker)
}

impl wit::Host for PluginState {}

impl wit_host::Host for PluginState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.guest_log(level, &message);
    }
}

impl From<&types::Event> for wit::Event {
    fn from(e: &types::Event) -> Self {
        wit::Event {
            id: e.id.clone(),
            source: e.source.clone(),
            kind: e.kind.clone(),
            business_id: e.business_id.clone(),
            received_at: e.received_at.clone(),
            data: e.data.clone(),
        }
    }
}

fn money(m: &types::Money) -> wit::Money {
    wit::Money { amount: m.amount.clone(), currency: m.currency.clone() }
}

/// The WIT context for `c`, with `defaults` (the plugin's configured settings)
/// filling in every setting `c` does not already have.
pub fn context(c: &types::Context, defaults: &BTreeMap<String, String>) -> wit::Context {
    let mut context = wit::Context::from(c);
    let extra = defaults.iter().filter(|(k, _)| !c.settings.contains_key(*k));
    context.settings.extend(extra.map(|(k, v)| (k.clone(), v.clone())));
    context
}

impl From<&types::Context> for wit::Context {
    fn from(c: &types::Context) -> Self {
        wit::Context {
            business_name: c.business_name.clone(),
            customer: c.customer.as_ref().map(|c| wit::Customer {
                id: c.id.clone(),
                name: c.name.clone(),
                email: c.email.clone(),
                mobile: c.mobile.clone(),
                phone: c.phone.clone(),
            }),
            invoice: c.invoice.as_ref().map(|i| wit::Invoice {
                id: i.id.clone(),
                number: i.number.clone(),
                status: i.status.clone(),
                total: money(&i.total),
                amount_due: money(&i.amount_due),
                due_date: i.due_date.clone(),
                view_url: i.view_url.clone(),
            }),
            estimate: c.estimate.as_ref().map(|e| wit::Estimate {
                id: e.id.clone(),
                number: e.number.clone(),
                status: e.status.clone(),
                total: money(&e.total),
                due_date: e.due_date.clone(),
                view_url: e.view_url.clone(),
            }),
            now: c.now.clone(),
            settings: c.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }
}

impl From<wit::Recipient> for types::Recipient {
    fn from(r: wit::Recipient) -> Self {
        match r {
            wit::Recipient::Customer => types::Recipient::Customer,
            wit::Recipient::Team(name) => types::Recipient::Team(name),
            wit::Recipient::Number(number) => types::Recipient::Number(number),
        }
    }
}

impl From<wit::Message> for types::Message {
    fn from(m: wit::Message) -> Self {
        types::Message { to: m.to.into(), body: m.body, key: m.key, not_before: m.not_before }
    }
}

impl From<wit::Action> for types::Action {
    fn from(a: wit::Action) -> Self {
        match a {
            wit::Action::Sms(m) => types::Action::Sms(m.into()),
            wit::Action::Call(m) => types::Action::Call(m.into()),
            wit::Action::Cancel(prefix) => types::Action::Cancel { prefix },
        }
    }
}

impl From<wit::Manifest> for types::Manifest {
    fn from(m: wit::Manifest) -> Self {
        types::Manifest { name: m.name, version: m.version, description: m.description, subscribes: m.subscribes }
    }
}
