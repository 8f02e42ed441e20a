//! Guest SDK for ml-connector notification plugins.
//!
//! A plugin is a WebAssembly component that receives one verified event plus
//! the context the host looked up, and answers with [`Action`]s: send an SMS,
//! place a voice call, or cancel its own messages that have not been sent yet.
//! It performs no I/O; the host does all of that.
//!
//! ```no_run
//! use ml_connector_sdk::{Action, Context, Event, Manifest, Plugin, Recipient};
//!
//! pub struct Hello;
//!
//! impl Plugin for Hello {
//!     fn describe() -> Manifest {
//!         Manifest {
//!             name: "hello".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Says hello to new customers.".into(),
//!             subscribes: vec!["customer.created".into()],
//!         }
//!     }
//!
//!     fn handle(event: Event, _context: Context) -> Result<Vec<Action>, String> {
//!         Ok(vec![Action::sms(Recipient::Customer, "Hello!", format!("hello:{}", event.id))])
//!     }
//! }
//!
//! ml_connector_sdk::export_plugin!(Hello);
//! ```
//!
//! Because [`Plugin::handle`] is an ordinary Rust function, a plugin's logic
//! unit-tests natively with `cargo test`; [`testing`] loads the fixture files
//! the host's `ml-connector plugin run` uses, so both check the same cases.
#![warn(missing_docs)]

#[cfg(any(all(target_arch = "wasm32", feature = "arena"), test))]
pub mod arena;
pub mod log;
pub mod money;
pub mod qad;
pub mod settings;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
pub mod time;
pub mod twilio;
pub mod wave;

/// Generated component bindings; plumbing for [`export_plugin!`] and this crate.
#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit/since_v0.3.0",
        world: "notifier",
        pub_export_macro: true,
        additional_derives: [PartialEq, Clone],
    });
}

/// The allocator plugins run on in wasm; see [`arena`].
#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

pub use settings::Settings;
pub use wave::WaveEvent;

/// What a plugin implements: `describe()` returns its [`Manifest`] (name,
/// version, the event kinds it subscribes to) and `handle(event, context)`
/// decides the [`Action`]s for one event. Both are associated functions, so a
/// unit struct implements it and tests call `MyPlugin::handle(event, context)`
/// directly. Export the implementation with [`export_plugin!`].
pub use wit::exports::ml_connector::plugin::handler::Guest as Plugin;
/// Severity of a [`log`] message.
pub use wit::ml_connector::plugin::host::Level;
/// One SMS, call or cancellation to perform; build with [`Action::sms`],
/// [`Action::call`] and [`Action::cancel`].
pub use wit::ml_connector::plugin::types::Action;
/// How a [`SentMessage`] went out: SMS or call.
pub use wit::ml_connector::plugin::types::Channel;
/// What the host looked up for the event; see [`Context::settings`] and,
/// for an inbound SMS, [`Context::reply`](Context#structfield.reply).
pub use wit::ml_connector::plugin::types::Context;
/// The event's customer, from the host's lookup.
pub use wit::ml_connector::plugin::types::Customer;
/// The event's estimate, from the host's lookup.
pub use wit::ml_connector::plugin::types::Estimate;
/// A verified event; read Wave's with [`WaveEvent::parse`].
pub use wit::ml_connector::plugin::types::Event;
/// The event's invoice, from the host's lookup.
pub use wit::ml_connector::plugin::types::Invoice;
/// What [`Plugin::describe`] returns.
pub use wit::ml_connector::plugin::types::Manifest;
/// An SMS or call: recipient, text, key, earliest send time.
pub use wit::ml_connector::plugin::types::Message;
/// A decimal amount with its currency; see [`money`].
pub use wit::ml_connector::plugin::types::Money;
/// Who a message goes to; the host resolves it to a number.
pub use wit::ml_connector::plugin::types::Recipient;
/// An inbound SMS with the message it answers and that message's source
/// event; see [`twilio`].
pub use wit::ml_connector::plugin::types::Reply;
/// A message the host sent (or holds) for a plugin: what a [`Reply`] answers.
pub use wit::ml_connector::plugin::types::SentMessage;
/// What the host read and looked up for a QAD event; see [`qad`].
pub use wit::ml_connector::plugin::types::QadContext;
/// A goods receipt from QAD.
pub use wit::ml_connector::plugin::types::QadGoodsReceipt;
/// A buyer or approver and where to reach them.
pub use wit::ml_connector::plugin::types::QadPerson;
/// A purchase order header from QAD.
pub use wit::ml_connector::plugin::types::QadPurchaseOrder;
/// A supplier from QAD, phone in E.164.
pub use wit::ml_connector::plugin::types::QadSupplier;
/// A supplier invoice from QAD.
pub use wit::ml_connector::plugin::types::QadSupplierInvoice;

/// Most characters an SMS body may have.
pub const MAX_SMS_CHARS: usize = 1600;
/// Most bytes a voice call's text may have once escaped into TwiML.
pub const MAX_CALL_BYTES: usize = 4000;
/// Most bytes a message key may have.
pub const MAX_KEY_BYTES: usize = 128;
/// Most actions one `handle` call may return.
pub const MAX_ACTIONS: usize = 20;

/// `"Acme Plumbing: "`, to start a message with so the recipient knows who is
/// writing; empty when the host knows no business name.
pub fn sender(context: &Context) -> String {
    match context.business_name.trim() {
        "" => String::new(),
        name => [name, ": "].concat(),
    }
}

/// Exports `$plugin` (a type implementing [`Plugin`]) as the component's
/// `handler`. Use it once per plugin crate, at the top level:
///
/// ```text
/// ml_connector_sdk::export_plugin!(MyPlugin);
/// ```
///
/// It expands to nothing outside wasm32, so the same crate builds natively
/// for `cargo test`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::wit::export!($plugin with_types_in $crate::wit);
    };
}

/// An error from one of the SDK's helpers, with a message meant for the
/// host's log. Converts into the `String` that [`Plugin::handle`] returns, so
/// `?` works inside `handle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<Error> for String {
    fn from(error: Error) -> String {
        error.0
    }
}

impl Action {
    /// An SMS to `to`, sent as soon as possible.
    pub fn sms(to: Recipient, body: impl Into<String>, key: impl Into<String>) -> Action {
        Action::Sms(Message {
            to,
            body: body.into(),
            key: key.into(),
            not_before: None,
        })
    }

    /// A voice call to `to` that speaks `body`, placed as soon as possible.
    pub fn call(to: Recipient, body: impl Into<String>, key: impl Into<String>) -> Action {
        Action::Call(Message {
            to,
            body: body.into(),
            key: key.into(),
            not_before: None,
        })
    }

    /// Cancels this plugin's unsent messages whose key starts with `prefix`.
    pub fn cancel(prefix: impl Into<String>) -> Action {
        Action::Cancel(prefix.into())
    }

    /// Holds an SMS or call until `at` (RFC 3339); a cancel is returned as is.
    pub fn not_before(mut self, at: impl Into<String>) -> Action {
        if let Action::Sms(message) | Action::Call(message) = &mut self {
            message.not_before = Some(at.into());
        }
        self
    }
}

/// Checks `actions` against the host's limits ([`MAX_ACTIONS`],
/// [`MAX_SMS_CHARS`], [`MAX_CALL_BYTES`], [`MAX_KEY_BYTES`]); meant for a
/// plugin's tests.
pub fn check_limits(actions: &[Action]) -> Result<(), Error> {
    if actions.len() > MAX_ACTIONS {
        return Err(Error::new(format!(
            "{} actions, at most {MAX_ACTIONS} allowed",
            actions.len()
        )));
    }
    for action in actions {
        if let Action::Sms(message) = action
            && message.body.chars().count() > MAX_SMS_CHARS
        {
            return Err(Error::new(format!(
                "SMS `{}` has {} characters, at most {MAX_SMS_CHARS} allowed",
                message.key,
                message.body.chars().count()
            )));
        }
        if let Action::Call(message) = action
            && twiml_escaped_len(&message.body) > MAX_CALL_BYTES
        {
            return Err(Error::new(format!(
                "call `{}` has {} bytes once escaped, at most {MAX_CALL_BYTES} allowed",
                message.key,
                twiml_escaped_len(&message.body)
            )));
        }
        if let Action::Sms(Message { key, .. }) | Action::Call(Message { key, .. }) = action
            && key.len() > MAX_KEY_BYTES
        {
            return Err(Error::new(format!(
                "key `{key}` has {} bytes, at most {MAX_KEY_BYTES} allowed",
                key.len()
            )));
        }
    }
    Ok(())
}

/// The length of `text` once XML-escaped, as the host puts it into TwiML.
fn twiml_escaped_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".len(),
            '<' | '>' => "&lt;".len(),
            '"' | '\'' => "&quot;".len(),
            c => c.len_utf8(),
        })
        .sum()
}

impl Context {
    /// This plugin's settings from the host configuration.
    pub fn settings(&self) -> Settings<'_> {
        Settings::new(&self.settings)
    }
}

impl Money {
    /// The amount with its currency for people to read, e.g. `$8.98`; see
    /// [`money::format`].
    pub fn display(&self) -> String {
        money::format(&self.amount, &self.currency)
    }
}
