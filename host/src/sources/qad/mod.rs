//! QAD source (Adaptive ERP / EE): polled, since QAD has no push. Per tenant
//! ([`config::QadConfig`]): an OAuth password-grant session ([`session`]), at
//! most two requests in flight with jittered backoff ([`http`]), paged
//! browses ([`browse`]) read in the three-way-match order — goods receipts,
//! purchase orders, supplier invoices — into typed records ([`records`]),
//! the states that need a person turned into events with deterministic ids
//! ([`states`]), an opaque cursor for incremental reads ([`cursor`]), and one
//! cycle of it all ([`poller::QadPoller::poll`]). [`enrich`] builds the plugin
//! context (supplier phone from `supplierV2s`, responsible person);
//! [`writeback`] appends message outcomes to the QAD record.

pub mod browse;
pub mod client;
pub mod config;
pub mod cursor;
pub mod enrich;
pub mod error;
pub mod http;
pub mod poller;
pub mod records;
pub mod session;
pub mod states;
pub mod supplier;
pub mod writeback;

/// The `source` of QAD events.
pub const SOURCE: &str = "qad";

/// Sealed secret holding a tenant's password: `qad.<name>.password`.
pub fn password_secret(tenant: &str) -> String {
    format!("qad.{tenant}.password")
}

/// Sealed secret holding a tenant's session (tokens and their expiry, JSON): `qad.<name>.session`.
pub fn session_secret(tenant: &str) -> String {
    format!("qad.{tenant}.session")
}

/// The record id events, outbox rows and `audit --record` share:
/// `qad:{tenant}:{record}:{key}`, e.g. `qad:acme:purchase_order:PO-77`.
pub fn record_of(tenant: &str, record: records::RecordKind, key: &str) -> String {
    format!("qad:{tenant}:{record}:{key}")
}
