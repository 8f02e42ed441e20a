//! Native test helpers (not built for wasm32): run a plugin's `handle` on the
//! same fixture files that `ml-connector plugin run` feeds the built `.wasm`.
//!
//! A case is a folder holding `event.json` (a Wave webhook body), `plugin`
//! (the plugin's name), `context.json` and `expected.json` (the actions, see
//! [`actions_to_json`]). [`check_cases`] runs every case of one plugin; with
//! `UPDATE_EXPECTED=1` in the environment it rewrites `expected.json` from
//! what the plugin returned instead, for review in the diff.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    Action, Channel, Context, Customer, Error, Estimate, Event, Invoice, Money, Plugin, QadContext,
    QadGoodsReceipt, QadPerson, QadPurchaseOrder, QadSupplier, QadSupplierInvoice, Recipient,
    Reply, SentMessage,
};

/// Builds an [`Event`] from a Wave webhook body (`event_id`, `event_type`,
/// `business_id`, `data`), as the host does after verifying it.
pub fn wave_event(json: &str, received_at: &str) -> Result<Event, Error> {
    #[derive(Deserialize)]
    struct Webhook {
        event_id: String,
        event_type: String,
        business_id: String,
        data: Value,
    }
    let webhook: Webhook = serde_json::from_str(json)
        .map_err(|e| Error::new(format!("not a Wave webhook body: {e}")))?;
    Ok(Event {
        id: webhook.event_id,
        source: "wave".into(),
        kind: webhook.event_type,
        business_id: webhook.business_id,
        received_at: received_at.into(),
        data: webhook.data.to_string(),
    })
}

/// Builds an [`Event`] from an event fixture: a Wave webhook body (see
/// [`wave_event`], with `received_at`), or an event in the host's own form
/// (`{"id", "source", "kind", "business_id", "received_at", "data"}`, `data`
/// as JSON text), e.g. `tests/fixtures/events/twilio/message.received.json`.
pub fn event(json: &str, received_at: &str) -> Result<Event, Error> {
    let host_form = serde_json::from_str::<Value>(json).is_ok_and(|v| v.get("source").is_some());
    if !host_form {
        return wave_event(json, received_at);
    }
    serde_json::from_str::<HostEvent>(json)
        .map(Event::from)
        .map_err(|e| Error::new(format!("not an event in the host's form: {e}")))
}

/// An [`Event`] in the host's JSON form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostEvent {
    id: String,
    source: String,
    kind: String,
    business_id: String,
    received_at: String,
    data: String,
}

impl From<HostEvent> for Event {
    fn from(e: HostEvent) -> Event {
        Event {
            id: e.id,
            source: e.source,
            kind: e.kind,
            business_id: e.business_id,
            received_at: e.received_at,
            data: e.data,
        }
    }
}

/// Builds a [`Context`] from the `context.json` format, as strictly as the
/// host's `plugin run` reads it: every top-level key optional but `now`;
/// in `customer`, `invoice` and `estimate` only the `option` fields of the
/// WIT records may be left out; `settings` is a JSON object of strings.
///
/// ```json
/// {"business_name": "Acme Plumbing",
///  "customer": {"id": "21840161", "name": "Jane Doe", "email": null, "mobile": "+15555550123", "phone": null},
///  "invoice": {"id": "24967", "number": "INV-0042", "status": "PAID",
///              "total": {"amount": "8.98", "currency": "USD"}, "amount_due": {"amount": "0.00", "currency": "USD"},
///              "due_date": "2026-05-15", "view_url": "https://…"},
///  "estimate": {"id": "123", "number": "EST-7", "status": "SENT",
///               "total": {"amount": "200.00", "currency": "USD"}, "due_date": "2026-04-30", "view_url": null},
///  "now": "2026-04-29T10:15:00-04:00",
///  "settings": {"lead_days": "3"},
///  "reply": {"sid": "SM1", "from": "+15555550123", "to": "+15005550006", "body": "PAID?",
///            "opt_out_type": null, "received_at": "2026-04-29T14:15:00.000Z",
///            "original": {"plugin": "invoice-overdue", "key": "overdue:24967", "channel": "sms",
///                         "to": "customer", "to_number": "+15555550123", "body": "…",
///                         "sid": "SM0", "status": "sent", "delivery_status": "delivered"},
///            "source_event": {"id": "evt-1", "source": "wave", "kind": "invoice.overdue",
///                             "business_id": "…", "received_at": "…", "data": "{…}"}},
///  "qad": {"tenant": "acme", "record": "supplier_invoice", "record_id": "qad:acme:supplier_invoice:SI-1042",
///          "state": "awaiting_receipt", "supplier": {"code": "S200", "name": "Bolt & Nut Co", "phone": "+12125550100"},
///          "purchase_order": {"number": "PO-78", "buyer": "B02", "total": {"amount": "940.00", "currency": "USD"}},
///          "supplier_invoice": {"reference": "SI-1042", "po_number": "PO-78", "status": "AP-INITIAL",
///                               "amount": {"amount": "940.00", "currency": "USD"}},
///          "responsible": {"code": "B02", "contact": "team:purchasing"}, "waiting_invoices": []}}
/// ```
///
/// `to` is `"customer"`, `"team:NAME"` or a number, as in `expected.json`;
/// `source_event.data` is the event's data as JSON text.
pub fn context(json: &str) -> Result<Context, Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct MoneyJson {
        amount: String,
        currency: String,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct CustomerJson {
        id: String,
        name: String,
        email: Option<String>,
        mobile: Option<String>,
        phone: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct InvoiceJson {
        id: String,
        number: String,
        status: String,
        total: MoneyJson,
        amount_due: MoneyJson,
        due_date: Option<String>,
        view_url: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct EstimateJson {
        id: String,
        number: String,
        status: String,
        total: MoneyJson,
        due_date: Option<String>,
        view_url: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "lowercase")]
    enum ChannelJson {
        Sms,
        Call,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct SentMessageJson {
        plugin: String,
        key: String,
        channel: ChannelJson,
        to: String,
        to_number: Option<String>,
        body: String,
        sid: Option<String>,
        status: String,
        delivery_status: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ReplyJson {
        sid: String,
        from: String,
        to: String,
        body: String,
        opt_out_type: Option<String>,
        received_at: String,
        original: Option<SentMessageJson>,
        source_event: Option<HostEvent>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct QadSupplierJson {
        code: String,
        name: Option<String>,
        phone: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct QadPurchaseOrderJson {
        number: String,
        supplier_code: Option<String>,
        buyer: Option<String>,
        approver: Option<String>,
        status: Option<String>,
        total: Option<MoneyJson>,
        due_date: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct QadGoodsReceiptJson {
        receiver: String,
        po_number: Option<String>,
        supplier_code: Option<String>,
        date: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct QadSupplierInvoiceJson {
        reference: String,
        po_number: Option<String>,
        supplier_code: Option<String>,
        status: Option<String>,
        amount: Option<MoneyJson>,
        hold: Option<MoneyJson>,
        due_date: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct QadPersonJson {
        code: String,
        contact: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct QadJson {
        tenant: String,
        record: String,
        record_id: String,
        state: String,
        supplier: Option<QadSupplierJson>,
        purchase_order: Option<QadPurchaseOrderJson>,
        goods_receipt: Option<QadGoodsReceiptJson>,
        supplier_invoice: Option<QadSupplierInvoiceJson>,
        responsible: Option<QadPersonJson>,
        #[serde(default)]
        waiting_invoices: Vec<String>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ContextJson {
        #[serde(default)]
        business_name: String,
        customer: Option<CustomerJson>,
        invoice: Option<InvoiceJson>,
        estimate: Option<EstimateJson>,
        now: String,
        #[serde(default)]
        settings: BTreeMap<String, String>,
        reply: Option<ReplyJson>,
        qad: Option<QadJson>,
    }
    let money = |m: MoneyJson| Money {
        amount: m.amount,
        currency: m.currency,
    };
    let c: ContextJson =
        serde_json::from_str(json).map_err(|e| Error::new(format!("not a context.json: {e}")))?;
    Ok(Context {
        business_name: c.business_name,
        customer: c.customer.map(|c| Customer {
            id: c.id,
            name: c.name,
            email: c.email,
            mobile: c.mobile,
            phone: c.phone,
        }),
        invoice: c.invoice.map(|i| Invoice {
            id: i.id,
            number: i.number,
            status: i.status,
            total: money(i.total),
            amount_due: money(i.amount_due),
            due_date: i.due_date,
            view_url: i.view_url,
        }),
        estimate: c.estimate.map(|e| Estimate {
            id: e.id,
            number: e.number,
            status: e.status,
            total: money(e.total),
            due_date: e.due_date,
            view_url: e.view_url,
        }),
        now: c.now,
        settings: c.settings.into_iter().collect(),
        reply: c.reply.map(|r| Reply {
            sid: r.sid,
            from: r.from,
            to: r.to,
            body: r.body,
            opt_out_type: r.opt_out_type,
            received_at: r.received_at,
            original: r.original.map(|m| SentMessage {
                plugin: m.plugin,
                key: m.key,
                channel: match m.channel {
                    ChannelJson::Sms => Channel::Sms,
                    ChannelJson::Call => Channel::Call,
                },
                to: recipient(m.to),
                to_number: m.to_number,
                body: m.body,
                sid: m.sid,
                status: m.status,
                delivery_status: m.delivery_status,
            }),
            source_event: r.source_event.map(Event::from),
        }),
        qad: c.qad.map(|q| QadContext {
            tenant: q.tenant,
            record: q.record,
            record_id: q.record_id,
            state: q.state,
            supplier: q.supplier.map(|s| QadSupplier { code: s.code, name: s.name, phone: s.phone }),
            purchase_order: q.purchase_order.map(|p| QadPurchaseOrder {
                number: p.number,
                supplier_code: p.supplier_code,
                buyer: p.buyer,
                approver: p.approver,
                status: p.status,
                total: p.total.map(money),
                due_date: p.due_date,
            }),
            goods_receipt: q.goods_receipt.map(|r| QadGoodsReceipt {
                receiver: r.receiver,
                po_number: r.po_number,
                supplier_code: r.supplier_code,
                date: r.date,
            }),
            supplier_invoice: q.supplier_invoice.map(|i| QadSupplierInvoice {
                reference: i.reference,
                po_number: i.po_number,
                supplier_code: i.supplier_code,
                status: i.status,
                amount: i.amount.map(money),
                hold: i.hold.map(money),
                due_date: i.due_date,
            }),
            responsible: q.responsible.map(|p| QadPerson { code: p.code, contact: p.contact.map(recipient) }),
            waiting_invoices: q.waiting_invoices,
        }),
    })
}

/// A recipient from its `expected.json` form: `customer`, `team:NAME` or a number.
fn recipient(text: String) -> Recipient {
    if text == "customer" {
        Recipient::Customer
    } else if let Some(name) = text.strip_prefix("team:") {
        Recipient::Team(name.into())
    } else {
        Recipient::Number(text)
    }
}

/// Runs `P::handle` on an event fixture (see [`event`]) and a `context.json`
/// text; a Wave event's `received_at` is the context's `now`. Panics if either input is
/// malformed or if the actions break the host's limits
/// ([`crate::check_limits`]), since both are bugs in the test or the plugin.
pub fn run<P: Plugin>(event_json: &str, context_json: &str) -> Result<Vec<Action>, String> {
    let context = context(context_json).unwrap_or_else(|e| panic!("{e}"));
    let event = event(event_json, &context.now).unwrap_or_else(|e| panic!("{e}"));
    let actions = P::handle(event, context)?;
    crate::check_limits(&actions).unwrap_or_else(|e| panic!("{e}"));
    Ok(actions)
}

/// The `expected.json` form of actions: `{"action": "sms"|"call", "to":
/// "customer"|"team:NAME"|"<number>", "body", "key", "not_before": null|"…"}`
/// or `{"action": "cancel", "prefix": "…"}`.
pub fn actions_to_json(actions: &[Action]) -> Value {
    let to = |recipient: &Recipient| match recipient {
        Recipient::Customer => "customer".to_string(),
        Recipient::Team(name) => format!("team:{name}"),
        Recipient::Number(number) => number.clone(),
    };
    let message = |kind: &str, m: &crate::Message| json!({"action": kind, "to": to(&m.to), "body": m.body, "key": m.key, "not_before": m.not_before});
    Value::Array(
        actions
            .iter()
            .map(|action| match action {
                Action::Sms(m) => message("sms", m),
                Action::Call(m) => message("call", m),
                Action::Cancel(prefix) => json!({"action": "cancel", "prefix": prefix}),
            })
            .collect(),
    )
}

/// Runs every case folder under `cases_dir` whose `plugin` file names
/// `plugin`, and panics listing each case whose actions differ from its
/// `expected.json` (or that errs). With `UPDATE_EXPECTED=1` it writes the
/// actions to `expected.json` instead.
pub fn check_cases<P: Plugin>(cases_dir: impl AsRef<Path>, plugin: &str) {
    let cases_dir = cases_dir.as_ref();
    let update = std::env::var_os("UPDATE_EXPECTED").is_some_and(|v| v == "1");
    let read = |path: &Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let mut dirs: Vec<_> = std::fs::read_dir(cases_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", cases_dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|dir| dir.join("plugin").is_file() && read(&dir.join("plugin")).trim() == plugin)
        .collect();
    dirs.sort();
    assert!(
        !dirs.is_empty(),
        "no cases for plugin {plugin} in {}",
        cases_dir.display()
    );

    let mut failures = Vec::new();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy();
        let actual = match run::<P>(
            &read(&dir.join("event.json")),
            &read(&dir.join("context.json")),
        ) {
            Ok(actions) => actions_to_json(&actions),
            Err(message) => {
                failures.push(format!("{name}: handle failed: {message}"));
                continue;
            }
        };
        let expected_path = dir.join("expected.json");
        if update {
            let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
            std::fs::write(&expected_path, text).unwrap();
            continue;
        }
        let expected: Value = serde_json::from_str(&read(&expected_path))
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        if actual != expected {
            failures.push(format!(
                "{name}:\n  expected {}\n  actual   {}",
                serde_json::to_string_pretty(&expected).unwrap(),
                serde_json::to_string_pretty(&actual).unwrap()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY_EVENT: &str = include_str!("../../tests/fixtures/events/twilio/message.received.json");
    const REPLY_CONTEXT: &str = include_str!("../../tests/fixtures/contexts/message.received.json");

    #[test]
    fn host_form_events_and_reply_contexts_parse_as_the_host_reads_them() {
        let event = event(REPLY_EVENT, "ignored").unwrap();
        assert_eq!((event.source.as_str(), event.kind.as_str()), ("twilio", "message.received"));
        assert_eq!(event.received_at, "2026-04-29T18:15:00.000Z");
        let context = context(REPLY_CONTEXT).unwrap();
        let reply = context.reply.unwrap();
        assert_eq!(reply.body, "PAID?");
        let original = reply.original.unwrap();
        assert_eq!((original.channel, original.to), (Channel::Sms, Recipient::Customer));
        assert_eq!(original.delivery_status.as_deref(), Some("delivered"));
        assert_eq!(reply.source_event.unwrap().kind, "invoice.overdue");
    }

    #[test]
    fn wave_bodies_still_parse_and_bad_host_form_events_are_errors() {
        let wave = include_str!("../../tests/fixtures/events/wave/invoice.overdue.json");
        let event = event(wave, "2026-04-29T10:00:00Z").unwrap();
        assert_eq!((event.source.as_str(), event.received_at.as_str()), ("wave", "2026-04-29T10:00:00Z"));
        let err = super::event(r#"{"source": "twilio", "kind": "message.received"}"#, "t").unwrap_err();
        assert!(err.to_string().starts_with("not an event in the host's form: missing field `id`"), "{err}");
    }
}
