//! Every released WIT version loads side by side: the SDK's 0.3.0 plugins see
//! `context.qad`, plugins built for the frozen 0.2.0 still see `context.reply`,
//! plugins built for the frozen 0.1.0 keep working on the same contexts, and a
//! component that implements none is refused by name.

mod support;

use std::path::Path;
use std::process::Command;

use ml_connector::builtin;
use ml_connector::model::qad::{QadContext, QadPerson, QadPurchaseOrder, QadSupplier};
use ml_connector::model::{Action, Channel, Context, Event, Money, Recipient, Reply, SentMessage};
use ml_connector::runtime::{Limits, LoadError, Runtime, RuntimeOptions};
use support::{load, tests_dir};

/// A reply to an overdue-invoice call, as the dispatcher builds it.
fn reply_context() -> (Event, Context) {
    let source = Event {
        id: "evt-7".into(),
        source: "wave".into(),
        kind: "invoice.overdue".into(),
        business_id: "biz".into(),
        received_at: "2026-04-29T09:00:00.000Z".into(),
        data: r#"{"invoice_id":"24967"}"#.into(),
    };
    let reply = Reply {
        sid: "SM1".into(),
        from: "+15555550123".into(),
        to: "+15005550006".into(),
        body: "PAID?".into(),
        opt_out_type: None,
        received_at: "2026-04-29T14:15:00.000Z".into(),
        original: Some(SentMessage {
            plugin: "invoice-overdue".into(),
            key: "overdue:24967:call".into(),
            channel: Channel::Call,
            to: Recipient::Team("accounting".into()),
            to_number: Some("+15555550123".into()),
            body: "Invoice 42 is overdue.".into(),
            sid: Some("CA1".into()),
            status: "sent".into(),
            delivery_status: Some("completed".into()),
        }),
        source_event: Some(source),
    };
    let event = Event {
        id: "twilio:SM1".into(),
        source: "twilio".into(),
        kind: "message.received".into(),
        business_id: "biz".into(),
        received_at: "2026-04-29T14:15:00.000Z".into(),
        data: "{}".into(),
    };
    let mut context = Context::bare("2026-04-29T10:15:00-04:00".into());
    context.business_name = "Acme Plumbing".into();
    context.reply = Some(reply);
    (event, context)
}

fn sms_body(actions: &[Action]) -> &str {
    match actions {
        [Action::Sms(m)] => &m.body,
        other => panic!("expected one SMS, got {other:?}"),
    }
}

#[test]
fn each_plugin_is_loaded_under_the_version_it_was_built_for() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    for old in ["counter", "misbehave", "context-echo"] {
        assert_eq!(load(&rt, old).contract_version(), "0.1.0", "{old}");
    }
    assert_eq!(load(&rt, "reply-forward").contract_version(), "0.2.0");
    for b in builtin::all() {
        let plugin = rt.load(b.name, b.wasm, Limits::default(), Default::default()).unwrap();
        assert_eq!(plugin.contract_version(), "0.3.0", "default plugin {} is built with the SDK", b.name);
    }
}

#[test]
fn a_0_2_0_plugin_reads_the_reply_the_message_it_answers_and_its_source_event() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let (event, context) = reply_context();
    let actions = load(&rt, "reply-forward").handle(&event, &context).unwrap().actions;
    assert_eq!(
        sms_body(&actions),
        "Reply from +15555550123 about invoice.overdue evt-7 (call overdue:24967:call by invoice-overdue, completed): PAID?"
    );

    let mut orphan = context.clone();
    let reply = orphan.reply.as_mut().unwrap();
    (reply.original, reply.source_event) = (None, None);
    let actions = load(&rt, "reply-forward").handle(&event, &orphan).unwrap().actions;
    assert_eq!(sms_body(&actions), "Reply from +15555550123 about no event (no message): PAID?");

    let mut no_reply = context;
    no_reply.reply = None;
    let err = load(&rt, "reply-forward").handle(&event, &no_reply).unwrap_err();
    assert_eq!(err.cause.to_string(), "returned an error: a message.received event without context.reply");
}

#[test]
fn a_0_1_0_plugin_gets_the_same_context_without_the_reply() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let (event, context) = reply_context();
    let echo = load(&rt, "context-echo");
    let with_reply = echo.handle(&event, &context).unwrap().actions;
    assert_eq!(sms_body(&with_reply), "customer=none mobile=none phone=none invoice=none business=Acme Plumbing");
    let mut without = context;
    without.reply = None;
    assert_eq!(echo.handle(&event, &without).unwrap().actions, with_reply);
}

/// What the QAD enricher gives a reply to a pending-approval SMS.
fn with_qad(mut context: Context) -> Context {
    context.qad = Some(QadContext {
        tenant: "acme".into(),
        record: "purchase_order".into(),
        record_id: "qad:acme:purchase_order:PO-77".into(),
        state: "pending_approval".into(),
        supplier: Some(QadSupplier { code: "S100".into(), name: Some("Acme Steel".into()), phone: Some("+14155552671".into()) }),
        purchase_order: Some(QadPurchaseOrder {
            number: "PO-77".into(),
            supplier_code: Some("S100".into()),
            buyer: Some("B01".into()),
            approver: None,
            status: Some("P".into()),
            total: Some(Money { amount: "18250.00".into(), currency: "USD".into() }),
            due_date: None,
        }),
        goods_receipt: None,
        supplier_invoice: None,
        responsible: Some(QadPerson { code: "B01".into(), contact: Some(Recipient::Number("+15555550101".into())) }),
        waiting_invoices: vec![],
    });
    context
}

#[test]
fn plugins_built_for_0_1_0_and_0_2_0_get_the_same_context_without_the_qad_records() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let (event, context) = reply_context();
    for old in ["context-echo", "reply-forward"] {
        let plugin = load(&rt, old);
        let plain = plugin.handle(&event, &context).unwrap().actions;
        assert_eq!(plugin.handle(&event, &with_qad(context.clone())).unwrap().actions, plain, "{old}");
    }
}

#[test]
fn a_0_3_0_plugin_reads_the_qad_records() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let b = builtin::all().iter().find(|b| b.name == "qad-po-approvals").expect("qad-po-approvals is built in");
    let plugin = rt.load(b.name, b.wasm, Limits::default(), Default::default()).unwrap();
    let event = Event {
        id: "qad:acme:purchase_order:PO-77:pending_approval".into(),
        source: "qad".into(),
        kind: "purchase_order.pending_approval".into(),
        business_id: "acme".into(),
        received_at: "2026-11-30T14:00:00.000Z".into(),
        data: "{}".into(),
    };
    let actions = plugin.handle(&event, &with_qad(Context::bare("2026-11-30T09:00:00-05:00".into()))).unwrap().actions;
    let [Action::Sms(sms), Action::Call(follow_up)] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!(sms.to, Recipient::Number("+15555550101".into()));
    assert_eq!(sms.body, "Purchase order PO-77 to Acme Steel for $18,250.00 waits for your approval. Reply when done.");
    assert_eq!(follow_up.not_before.as_deref(), Some("2026-11-30T11:00:00-05:00"));
}

#[test]
fn a_component_without_a_known_handler_is_refused_naming_every_version() {
    // The smallest valid component: magic, component-model version and layer, no sections.
    let empty = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = rt.load("empty", &empty, Limits::default(), Default::default()).unwrap_err();
    assert!(matches!(err, LoadError::Contract { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "plugin empty: exports none of ml-connector:plugin/handler@0.3.0, ml-connector:plugin/handler@0.2.0, \
         ml-connector:plugin/handler@0.1.0; build it with ml-connector-sdk (WIT 0.3.0)"
    );
}

#[test]
fn plugin_run_takes_a_reply_event_and_a_context_with_its_reply() {
    let fixtures = tests_dir().join("fixtures");
    let wasm = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join("reply_forward.wasm");
    let out = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args(["plugin", "run", wasm.to_str().unwrap(), "--event"])
        .arg(fixtures.join("events/twilio/message.received.json"))
        .arg("--context")
        .arg(fixtures.join("contexts/message.received.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let actions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        actions,
        serde_json::json!([{
            "action": "sms",
            "to": "team:accounting",
            "body": "Reply from +15555550123 about invoice.overdue test-event-id (sms overdue:123 by invoice-overdue, delivered): PAID?",
            "key": "reply:twilio:SM5e3f4c2a1b0d9e8f7a6b5c4d3e2f1a0b",
            "not_before": null
        }])
    );
}
