//! The WIT contract versions this host loads. Each released version has its
//! own module with its one `bindgen!` and the conversions that changed; the
//! conversions every version shares come from [`shared_conversions!`].
//! [`Version::of`] reads which version a component was built for, and
//! [`PluginPre`] and [`Bindings`] hide the difference from the rest of the
//! runtime. Nothing outside `runtime` sees generated types.

use std::collections::BTreeMap;

use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Result, Store};

use crate::runtime::state::PluginState;
use crate::model;

/// What every contract version's module has beside its `bindgen!`:
/// `add_to_linker`, the `host` import, and the conversions between the host's
/// [`model`] and the version's generated types. `$wit` and `$wit_host` name
/// the version's generated `types` and `host` modules (imported in the calling
/// module); each `$field = $convert` is a context field added since 0.1.0 and
/// the function (`fn(&model::Context) -> …`) that fills it.
macro_rules! shared_conversions {
    ($wit:ident, $wit_host:ident $(, $field:ident = $convert:ident)* $(,)?) => {
        /// Adds this version's `host` import to `linker`.
        pub fn add_to_linker(linker: &mut wasmtime::component::Linker<PluginState>) -> wasmtime::Result<()> {
            Notifier::add_to_linker::<PluginState, wasmtime::component::HasSelf<PluginState>>(linker, |state| state)
        }

        impl $wit::Host for PluginState {}

        impl $wit_host::Host for PluginState {
            fn log(&mut self, level: $wit_host::Level, message: String) {
                let level = match level {
                    $wit_host::Level::Debug => tracing::Level::DEBUG,
                    $wit_host::Level::Info => tracing::Level::INFO,
                    $wit_host::Level::Warn => tracing::Level::WARN,
                    $wit_host::Level::Error => tracing::Level::ERROR,
                };
                self.guest_log(level, &message);
            }
        }

        impl From<&model::Event> for $wit::Event {
            fn from(e: &model::Event) -> Self {
                $wit::Event {
                    id: e.id.clone(),
                    source: e.source.clone(),
                    kind: e.kind.clone(),
                    business_id: e.business_id.clone(),
                    received_at: e.received_at.clone(),
                    data: e.data.clone(),
                }
            }
        }

        fn money(m: &model::Money) -> $wit::Money {
            $wit::Money { amount: m.amount.clone(), currency: m.currency.clone() }
        }

        fn customer(c: &model::Customer) -> $wit::Customer {
            $wit::Customer {
                id: c.id.clone(),
                name: c.name.clone(),
                email: c.email.clone(),
                mobile: c.mobile.clone(),
                phone: c.phone.clone(),
            }
        }

        fn invoice(i: &model::Invoice) -> $wit::Invoice {
            $wit::Invoice {
                id: i.id.clone(),
                number: i.number.clone(),
                status: i.status.clone(),
                total: money(&i.total),
                amount_due: money(&i.amount_due),
                due_date: i.due_date.clone(),
                view_url: i.view_url.clone(),
            }
        }

        fn estimate(e: &model::Estimate) -> $wit::Estimate {
            $wit::Estimate {
                id: e.id.clone(),
                number: e.number.clone(),
                status: e.status.clone(),
                total: money(&e.total),
                due_date: e.due_date.clone(),
                view_url: e.view_url.clone(),
            }
        }

        impl From<&model::Context> for $wit::Context {
            fn from(c: &model::Context) -> Self {
                $wit::Context {
                    business_name: c.business_name.clone(),
                    customer: c.customer.as_ref().map(customer),
                    invoice: c.invoice.as_ref().map(invoice),
                    estimate: c.estimate.as_ref().map(estimate),
                    now: c.now.clone(),
                    settings: c.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                    $($field: $convert(c),)*
                }
            }
        }

        /// The WIT context for `c`, with `defaults` (the plugin's configured
        /// settings) filling in every setting `c` does not already have.
        pub fn context(c: &model::Context, defaults: &BTreeMap<String, String>) -> $wit::Context {
            let mut context = $wit::Context::from(c);
            let extra = defaults.iter().filter(|(k, _)| !c.settings.contains_key(*k));
            context.settings.extend(extra.map(|(k, v)| (k.clone(), v.clone())));
            context
        }

        impl From<$wit::Recipient> for model::Recipient {
            fn from(r: $wit::Recipient) -> Self {
                match r {
                    $wit::Recipient::Customer => model::Recipient::Customer,
                    $wit::Recipient::Team(name) => model::Recipient::Team(name),
                    $wit::Recipient::Number(number) => model::Recipient::Number(number),
                }
            }
        }

        impl From<$wit::Message> for model::Message {
            fn from(m: $wit::Message) -> Self {
                model::Message { to: m.to.into(), body: m.body, key: m.key, not_before: m.not_before }
            }
        }

        impl From<$wit::Action> for model::Action {
            fn from(a: $wit::Action) -> Self {
                match a {
                    $wit::Action::Sms(m) => model::Action::Sms(m.into()),
                    $wit::Action::Call(m) => model::Action::Call(m.into()),
                    $wit::Action::Cancel(prefix) => model::Action::Cancel { prefix },
                }
            }
        }

        impl From<$wit::Manifest> for model::Manifest {
            fn from(m: $wit::Manifest) -> Self {
                model::Manifest { name: m.name, version: m.version, description: m.description, subscribes: m.subscribes }
            }
        }
    };
}

/// `context.reply` (new in 0.2.0) for a version that has it: `reply` and
/// `sent_message`, converting into the version's generated `$wit` types.
macro_rules! reply_conversions {
    ($wit:ident) => {
        fn reply(c: &model::Context) -> Option<$wit::Reply> {
            c.reply.as_ref().map(|r| $wit::Reply {
                sid: r.sid.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                body: r.body.clone(),
                opt_out_type: r.opt_out_type.clone(),
                received_at: r.received_at.clone(),
                original: r.original.as_ref().map(sent_message),
                source_event: r.source_event.as_ref().map($wit::Event::from),
            })
        }

        fn recipient(r: &model::Recipient) -> $wit::Recipient {
            match r {
                model::Recipient::Customer => $wit::Recipient::Customer,
                model::Recipient::Team(name) => $wit::Recipient::Team(name.clone()),
                model::Recipient::Number(number) => $wit::Recipient::Number(number.clone()),
            }
        }

        fn sent_message(m: &model::SentMessage) -> $wit::SentMessage {
            $wit::SentMessage {
                plugin: m.plugin.clone(),
                key: m.key.clone(),
                channel: match m.channel {
                    model::Channel::Sms => $wit::Channel::Sms,
                    model::Channel::Call => $wit::Channel::Call,
                },
                to: recipient(&m.to),
                to_number: m.to_number.clone(),
                body: m.body.clone(),
                sid: m.sid.clone(),
                status: m.status.clone(),
                delivery_status: m.delivery_status.clone(),
            }
        }
    };
}

pub mod since_v0_1_0;
pub mod since_v0_2_0;
pub mod since_v0_3_0;

/// A released contract version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// `ml-connector:plugin@0.1.0`.
    V0_1_0,
    /// `ml-connector:plugin@0.2.0`: adds `context.reply`.
    V0_2_0,
    /// `ml-connector:plugin@0.3.0`: adds `context.qad`.
    V0_3_0,
}

impl Version {
    /// Every version this host loads, newest first.
    pub const ALL: [Version; 3] = [Version::V0_3_0, Version::V0_2_0, Version::V0_1_0];
    /// The version the SDK targets.
    pub const LATEST: Version = Version::V0_3_0;

    /// `"0.2.0"`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V0_1_0 => "0.1.0",
            Version::V0_2_0 => "0.2.0",
            Version::V0_3_0 => "0.3.0",
        }
    }

    /// The handler export a component built for this version has.
    pub fn handler_export(self) -> &'static str {
        match self {
            Version::V0_1_0 => since_v0_1_0::HANDLER_EXPORT,
            Version::V0_2_0 => since_v0_2_0::HANDLER_EXPORT,
            Version::V0_3_0 => since_v0_3_0::HANDLER_EXPORT,
        }
    }

    /// The newest version whose handler `component` exports, if any.
    pub fn of(component: &Component) -> Option<Version> {
        Version::ALL.into_iter().find(|v| component.get_export_index(None, v.handler_export()).is_some())
    }
}

/// The linker every plugin shares: WASI p2 (locked down per store) plus the
/// `host` import of every version.
pub fn linker(engine: &Engine) -> Result<Linker<PluginState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    since_v0_1_0::add_to_linker(&mut linker)?;
    since_v0_2_0::add_to_linker(&mut linker)?;
    since_v0_3_0::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A component linked and pre-instantiated under the version it was built for.
pub enum PluginPre {
    /// Built for 0.1.0.
    V0_1_0(since_v0_1_0::NotifierPre<PluginState>),
    /// Built for 0.2.0.
    V0_2_0(since_v0_2_0::NotifierPre<PluginState>),
    /// Built for 0.3.0.
    V0_3_0(since_v0_3_0::NotifierPre<PluginState>),
}

impl PluginPre {
    /// Links `component` as a plugin of `version` (see [`Version::of`]).
    pub fn new(linker: &Linker<PluginState>, component: &Component, version: Version) -> Result<Self> {
        let pre = linker.instantiate_pre(component)?;
        Ok(match version {
            Version::V0_1_0 => PluginPre::V0_1_0(since_v0_1_0::NotifierPre::new(pre)?),
            Version::V0_2_0 => PluginPre::V0_2_0(since_v0_2_0::NotifierPre::new(pre)?),
            Version::V0_3_0 => PluginPre::V0_3_0(since_v0_3_0::NotifierPre::new(pre)?),
        })
    }

    /// The version it was linked under.
    pub fn version(&self) -> Version {
        match self {
            PluginPre::V0_1_0(_) => Version::V0_1_0,
            PluginPre::V0_2_0(_) => Version::V0_2_0,
            PluginPre::V0_3_0(_) => Version::V0_3_0,
        }
    }

    /// A new instance in `store`.
    pub fn instantiate(&self, store: &mut Store<PluginState>) -> Result<Bindings> {
        Ok(match self {
            PluginPre::V0_1_0(pre) => Bindings::V0_1_0(pre.instantiate(store)?),
            PluginPre::V0_2_0(pre) => Bindings::V0_2_0(pre.instantiate(store)?),
            PluginPre::V0_3_0(pre) => Bindings::V0_3_0(pre.instantiate(store)?),
        })
    }
}

/// One instance's exports, whatever its version.
pub enum Bindings {
    /// Built for 0.1.0.
    V0_1_0(since_v0_1_0::Notifier),
    /// Built for 0.2.0.
    V0_2_0(since_v0_2_0::Notifier),
    /// Built for 0.3.0.
    V0_3_0(since_v0_3_0::Notifier),
}

impl Bindings {
    /// Calls `describe`.
    pub fn describe(&self, store: &mut Store<PluginState>) -> Result<model::Manifest> {
        Ok(match self {
            Bindings::V0_1_0(b) => b.ml_connector_plugin_handler().call_describe(store)?.into(),
            Bindings::V0_2_0(b) => b.ml_connector_plugin_handler().call_describe(store)?.into(),
            Bindings::V0_3_0(b) => b.ml_connector_plugin_handler().call_describe(store)?.into(),
        })
    }

    /// Calls `handle` with `context`, its settings filled in from `defaults`.
    /// What this version's context has no field for is left out.
    pub fn handle(
        &self,
        store: &mut Store<PluginState>,
        event: &model::Event,
        context: &model::Context,
        defaults: &BTreeMap<String, String>,
    ) -> Result<Result<Vec<model::Action>, String>> {
        fn actions<A: Into<model::Action>>(r: Result<Vec<A>, String>) -> Result<Vec<model::Action>, String> {
            r.map(|actions| actions.into_iter().map(Into::into).collect())
        }
        Ok(match self {
            Bindings::V0_1_0(b) => {
                let (event, context) = (event.into(), since_v0_1_0::context(context, defaults));
                actions(b.ml_connector_plugin_handler().call_handle(store, &event, &context)?)
            }
            Bindings::V0_2_0(b) => {
                let (event, context) = (event.into(), since_v0_2_0::context(context, defaults));
                actions(b.ml_connector_plugin_handler().call_handle(store, &event, &context)?)
            }
            Bindings::V0_3_0(b) => {
                let (event, context) = (event.into(), since_v0_3_0::context(context, defaults));
                actions(b.ml_connector_plugin_handler().call_handle(store, &event, &context)?)
            }
        })
    }
}
