//! The WIT contract versions this host loads. Each released version has its
//! own module with its one `bindgen!` and the conversions that changed; the
//! conversions every version shares come from [`shared_conversions!`].
//! [`Version::of`] reads which version a component was built for, and
//! [`PluginPre`] and [`Bindings`] hide the difference from the rest of the
//! runtime. Nothing outside `runtime` sees generated types.

use std::collections::BTreeMap;

use std::sync::atomic::{AtomicBool, Ordering};

use wasmtime::component::{Component, ComponentExportIndex, Func, Instance, InstancePre, Linker};
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
    ($wit:ident, $wit_host:ident, $recipient:ident $(, $field:ident = $convert:ident)* $(,)?) => {
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

        /// The event as the guest receives it, borrowed from `e`.
        fn event(e: &model::Event) -> $wit::Event<'_> {
            $wit::Event {
                id: &e.id,
                source: &e.source,
                kind: &e.kind,
                business_id: &e.business_id,
                received_at: &e.received_at,
                data: &e.data,
            }
        }

        fn money(m: &model::Money) -> $wit::Money<'_> {
            $wit::Money { amount: &m.amount, currency: &m.currency }
        }

        fn customer(c: &model::Customer) -> $wit::Customer<'_> {
            $wit::Customer {
                id: &c.id,
                name: &c.name,
                email: c.email.as_deref(),
                mobile: c.mobile.as_deref(),
                phone: c.phone.as_deref(),
            }
        }

        fn invoice(i: &model::Invoice) -> $wit::Invoice<'_> {
            $wit::Invoice {
                id: &i.id,
                number: &i.number,
                status: &i.status,
                total: money(&i.total),
                amount_due: money(&i.amount_due),
                due_date: i.due_date.as_deref(),
                view_url: i.view_url.as_deref(),
            }
        }

        fn estimate(e: &model::Estimate) -> $wit::Estimate<'_> {
            $wit::Estimate {
                id: &e.id,
                number: &e.number,
                status: &e.status,
                total: money(&e.total),
                due_date: e.due_date.as_deref(),
                view_url: e.view_url.as_deref(),
            }
        }

        /// The WIT context for `c`, borrowed from it and from `lists`.
        fn context<'a>(c: &'a model::Context, lists: &'a super::Lists<'a>) -> $wit::Context<'a> {
            $wit::Context {
                business_name: &c.business_name,
                customer: c.customer.as_ref().map(customer),
                invoice: c.invoice.as_ref().map(invoice),
                estimate: c.estimate.as_ref().map(estimate),
                now: &c.now,
                settings: &lists.settings,
                $($field: $convert(c, lists),)*
            }
        }

        /// Checks that `instance`'s handler exports have this version's types. Once per
        /// component is enough: every instance of it has the same exports.
        pub fn typecheck(
            store: &mut wasmtime::Store<PluginState>,
            instance: &wasmtime::component::Instance,
            exports: &super::HandlerExports,
        ) -> wasmtime::Result<()> {
            instance.get_typed_func::<(), ($wit::Manifest,)>(&mut *store, &exports.describe)?;
            instance.get_typed_func::<($wit::Event<'_>, $wit::Context<'_>), (Result<Vec<$wit::Action>, String>,)>(&mut *store, &exports.handle)?;
            Ok(())
        }

        /// Calls `describe`, an export that [`typecheck`] checked.
        pub fn describe(store: &mut wasmtime::Store<PluginState>, describe: wasmtime::component::Func) -> wasmtime::Result<model::Manifest> {
            // SAFETY: `describe` is the `describe` export of an instance of a component whose
            // exports `typecheck` found to have exactly these types (see `PluginPre`).
            let describe = unsafe { wasmtime::component::TypedFunc::<(), ($wit::Manifest,)>::new_unchecked(describe) };
            Ok(describe.call(store, ())?.0.into())
        }

        /// Calls `handle`, an export that [`typecheck`] checked, with `context`, its settings
        /// filled in from `defaults`.
        pub fn handle(
            store: &mut wasmtime::Store<PluginState>,
            handle: wasmtime::component::Func,
            event: &model::Event,
            context: &model::Context,
            defaults: &BTreeMap<String, String>,
        ) -> wasmtime::Result<Result<Vec<model::Action>, String>> {
            // SAFETY: as in `describe`.
            let handle = unsafe {
                wasmtime::component::TypedFunc::<($wit::Event<'_>, $wit::Context<'_>), (Result<Vec<$wit::Action>, String>,)>::new_unchecked(handle)
            };
            let lists = super::Lists::new(context, defaults);
            let (result,) = handle.call(store, (self::event(event), self::context(context, &lists)))?;
            Ok(result.map(|actions| actions.into_iter().map(Into::into).collect()))
        }

        impl From<$wit::$recipient> for model::Recipient {
            fn from(r: $wit::$recipient) -> Self {
                match r {
                    $wit::$recipient::Customer => model::Recipient::Customer,
                    $wit::$recipient::Team(name) => model::Recipient::Team(name),
                    $wit::$recipient::Number(number) => model::Recipient::Number(number),
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
        fn reply<'a>(c: &'a model::Context, _: &super::Lists<'a>) -> Option<$wit::Reply<'a>> {
            c.reply.as_ref().map(|r| $wit::Reply {
                sid: &r.sid,
                from: &r.from,
                to: &r.to,
                body: &r.body,
                opt_out_type: r.opt_out_type.as_deref(),
                received_at: &r.received_at,
                original: r.original.as_ref().map(sent_message),
                source_event: r.source_event.as_ref().map(event),
            })
        }

        fn recipient(r: &model::Recipient) -> $wit::RecipientParam<'_> {
            match r {
                model::Recipient::Customer => $wit::RecipientParam::Customer,
                model::Recipient::Team(name) => $wit::RecipientParam::Team(name),
                model::Recipient::Number(number) => $wit::RecipientParam::Number(number),
            }
        }

        fn sent_message(m: &model::SentMessage) -> $wit::SentMessage<'_> {
            $wit::SentMessage {
                plugin: &m.plugin,
                key: &m.key,
                channel: match m.channel {
                    model::Channel::Sms => $wit::Channel::Sms,
                    model::Channel::Call => $wit::Channel::Call,
                },
                to: recipient(&m.to),
                to_number: m.to_number.as_deref(),
                body: &m.body,
                sid: m.sid.as_deref(),
                status: &m.status,
                delivery_status: m.delivery_status.as_deref(),
            }
        }
    };
}

/// The lists a WIT context borrows that the host's context does not hold as slices: built
/// once per call, before the context that points into them.
pub struct Lists<'a> {
    /// The call's settings, then the plugin's configured ones it does not override.
    settings: Vec<(&'a str, &'a str)>,
    /// `context.qad.waiting_invoices` (0.3.0 on).
    waiting_invoices: Vec<&'a str>,
}

impl<'a> Lists<'a> {
    /// The lists for `c`, with `defaults` (the plugin's configured settings) filling in every
    /// setting `c` does not already have.
    fn new(c: &'a model::Context, defaults: &'a BTreeMap<String, String>) -> Self {
        let extra = defaults.iter().filter(|(k, _)| !c.settings.contains_key(*k));
        let settings = c.settings.iter().chain(extra).map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let waiting_invoices = c.qad.as_ref().map(|q| q.waiting_invoices.iter().map(String::as_str).collect()).unwrap_or_default();
        Lists { settings, waiting_invoices }
    }
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

/// Where a component's `describe` and `handle` are, looked up once at load.
#[derive(Clone, Copy)]
pub struct HandlerExports {
    describe: ComponentExportIndex,
    handle: ComponentExportIndex,
}

/// A component linked and pre-instantiated under the version it was built for.
///
/// Instantiating does not check the exports' types each time, as the generated bindings would
/// (about 0.6 µs of a fresh instance's 9–14 µs with the 0.3.0 context, release build): the
/// first instance is checked, and every later one comes from the same component.
pub struct PluginPre {
    version: Version,
    pre: InstancePre<PluginState>,
    exports: HandlerExports,
    checked: AtomicBool,
}

impl PluginPre {
    /// Links `component` as a plugin of `version` (see [`Version::of`]).
    pub fn new(linker: &Linker<PluginState>, component: &Component, version: Version) -> Result<Self> {
        let pre = linker.instantiate_pre(component)?;
        let handler = component
            .get_export_index(None, version.handler_export())
            .ok_or_else(|| wasmtime::Error::msg(format!("no export {}", version.handler_export())))?;
        let export = |name: &str| {
            component
                .get_export_index(Some(&handler), name)
                .ok_or_else(|| wasmtime::Error::msg(format!("{} exports no function {name}", version.handler_export())))
        };
        let exports = HandlerExports { describe: export("describe")?, handle: export("handle")? };
        Ok(PluginPre { version, pre, exports, checked: AtomicBool::new(false) })
    }

    /// The version it was linked under.
    pub fn version(&self) -> Version {
        self.version
    }

    /// A new instance in `store`.
    pub fn instantiate(&self, store: &mut Store<PluginState>) -> Result<Bindings> {
        let instance = self.pre.instantiate(&mut *store)?;
        if !self.checked.load(Ordering::Acquire) {
            match self.version {
                Version::V0_1_0 => since_v0_1_0::typecheck(store, &instance, &self.exports)?,
                Version::V0_2_0 => since_v0_2_0::typecheck(store, &instance, &self.exports)?,
                Version::V0_3_0 => since_v0_3_0::typecheck(store, &instance, &self.exports)?,
            }
            self.checked.store(true, Ordering::Release);
        }
        Ok(Bindings { version: self.version, instance, exports: self.exports })
    }
}

/// One instance's `describe` and `handle`, whatever its version. Each call looks up only the
/// export it calls.
pub struct Bindings {
    version: Version,
    instance: Instance,
    exports: HandlerExports,
}

impl Bindings {
    /// Calls `describe`.
    pub fn describe(&self, store: &mut Store<PluginState>) -> Result<model::Manifest> {
        let describe = self.func(store, &self.exports.describe)?;
        match self.version {
            Version::V0_1_0 => since_v0_1_0::describe(store, describe),
            Version::V0_2_0 => since_v0_2_0::describe(store, describe),
            Version::V0_3_0 => since_v0_3_0::describe(store, describe),
        }
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
        let handle = self.func(store, &self.exports.handle)?;
        match self.version {
            Version::V0_1_0 => since_v0_1_0::handle(store, handle, event, context, defaults),
            Version::V0_2_0 => since_v0_2_0::handle(store, handle, event, context, defaults),
            Version::V0_3_0 => since_v0_3_0::handle(store, handle, event, context, defaults),
        }
    }

    fn func(&self, store: &mut Store<PluginState>, export: &ComponentExportIndex) -> Result<Func> {
        self.instance.get_func(store, export).ok_or_else(|| wasmtime::Error::msg("the instance lost a checked export"))
    }
}
