//! The QAD source over real HTTP against the QAD stand-in
//! (`tests/support/qad_standin.rs`): the session (401 mid-page, 403, 429 with
//! `Retry-After`), the three-way-match cycle and its event ids, the cursor,
//! the enricher's context, write-back with `concurrencyHash`, and no
//! credential in logs or in plaintext in the store.

#[path = "support/qad_standin.rs"]
mod qad_standin;
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ml_connector::model::{Event, Recipient};
use ml_connector::dispatch::enrich::{ClockOnly, Enrichers};
use ml_connector::secrets::{MasterKey, Vault};
use ml_connector::sources::qad::client::QadClient;
use ml_connector::sources::qad::config::{QadConfig, WritebackTarget};
use ml_connector::sources::qad::enrich::QadEnricher;
use ml_connector::sources::qad::error::PollError;
use ml_connector::sources::poll::PollBatch;
use ml_connector::sources::qad::poller::QadPoller;
use ml_connector::sources::qad::writeback::{self, Line, WritebackError};
use ml_connector::sources::qad::{password_secret, session_secret};
use ml_connector::store::sqlite::SqliteStore;
use ml_connector::store::{InsertOutcome, Store};
use qad_standin::{CLIENT_ID, PASSWORD, StandIn, USERNAME, invoice_row, order_row, receipt_row};
use serde_json::json;

/// A tenant against a fresh stand-in, with its store.
struct Tenant {
    qad: StandIn,
    store: Arc<dyn Store>,
    client: Arc<QadClient>,
    poller: QadPoller,
    dir: tempfile::TempDir,
}

async fn tenant_with(configure: impl FnOnce(&mut QadConfig)) -> Tenant {
    let qad = qad_standin::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("store.db")).unwrap());
    let vault = Vault::new(store.clone(), Some(Arc::new(MasterKey::generate())));
    vault.put(&password_secret("acme"), PASSWORD).await.unwrap();
    let mut config = QadConfig::new("acme", &qad.base, USERNAME).unwrap();
    config.page_size = 2;
    config.retry_base = Duration::from_millis(20);
    config.request_timeout = Duration::from_secs(5);
    config.people.insert("B01".into(), Recipient::Number("+15555550101".into()));
    config.people.insert("B02".into(), Recipient::Team("purchasing".into()));
    configure(&mut config);
    let client = Arc::new(QadClient::new(config, vault).unwrap());
    let poller = QadPoller::new(client.clone());
    Tenant { qad, store, client, poller, dir }
}

async fn tenant() -> Tenant {
    tenant_with(|_| {}).await
}

/// Requests to QAD's API (everything but token grants) answered `status`, any status when `None`.
fn api_calls(qad: &qad_standin::Qad, status: Option<u16>) -> usize {
    qad.seen.iter().filter(|s| !s.kind.starts_with("token:") && status.is_none_or(|st| st == s.status)).count()
}

fn ids(batch: &PollBatch) -> Vec<&str> {
    batch.events.iter().map(|e| e.id.as_str()).collect()
}

fn orders(n: usize) -> Vec<serde_json::Value> {
    (1..=n).map(|i| order_row(&format!("PO-{i}"), "S100", "B01", "P", "100.00", "2026-11-30")).collect()
}

#[tokio::test]
async fn a_401_mid_page_gets_one_refresh_and_the_page_completes() {
    let t = tenant().await;
    t.qad.with(|q| {
        q.orders = orders(5);
        q.faults.revoke_on_page = Some(2);
    });
    let batch = t.poller.poll(None).await.unwrap();
    assert_eq!(batch.events.len(), 5, "all three pages read: {:?}", ids(&batch));
    t.qad.with(|q| {
        assert_eq!(q.count("browse", Some(401)), 1);
        assert_eq!(q.count("token:refresh_token", Some(200)), 1, "one refresh");
        assert_eq!(q.count("token:password", None), 1, "no second login");
        assert_eq!(q.count("securityControl", None), 1, "client id read once");
    });
}

#[tokio::test]
async fn a_403_breaks_the_tenant_without_a_retry_loop_and_polling_resumes_once_fixed() {
    let t = tenant().await;
    t.qad.with(|q| {
        q.orders = orders(1);
        q.faults.forbidden = true;
    });
    let err = t.poller.poll(None).await.unwrap_err();
    assert!(matches!(&err, PollError::Broken { reason } if reason.contains("HTTP 403") && reason.contains("Access is denied")), "{err}");
    assert_eq!(t.qad.with(|q| api_calls(q, None)), 1, "a 403 is not retried");
    assert!(t.client.health().broken.unwrap().contains("403"));

    t.qad.with(|q| q.faults.forbidden = false);
    let batch = t.poller.poll(None).await.unwrap();
    assert_eq!(ids(&batch), ["qad:acme:purchase_order:PO-1:pending_approval"]);
    assert_eq!(t.client.health().broken, None);
}

#[tokio::test]
async fn a_429_waits_its_retry_after_before_the_retry() {
    let t = tenant().await;
    t.qad.with(|q| {
        q.orders = orders(1);
        q.faults.too_many.push_back(1);
    });
    t.poller.poll(None).await.unwrap();
    t.qad.with(|q| {
        let browses: Vec<_> = q.seen.iter().filter(|s| !s.kind.starts_with("token:")).collect();
        assert_eq!(browses[0].status, 429);
        assert_eq!(browses[1].status, 200);
        let waited = browses[1].at.duration_since(browses[0].at);
        assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before Retry-After: 1");
    });
}

#[tokio::test]
async fn a_5xx_is_retried_and_too_many_retries_are_retryable_for_the_driver() {
    let t = tenant_with(|c| c.max_retries = 2).await;
    t.qad.with(|q| {
        q.orders = orders(1);
        q.faults.server_errors = 2;
    });
    assert_eq!(t.poller.poll(None).await.unwrap().events.len(), 1);
    t.qad.with(|q| q.faults.server_errors = 10);
    let err = t.poller.poll(None).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(t.qad.with(|q| api_calls(q, Some(503))), 2 + 3, "two, then one try and two retries");
}

#[tokio::test]
async fn at_most_two_requests_are_in_flight_per_tenant() {
    let t = tenant().await;
    t.qad.with(qad_standin::seed_demo);
    t.poller.poll(None).await.unwrap(); // logged in
    t.qad.with(|q| q.faults = qad_standin::Faults { slow: 6, slow_ms: 200, ..Default::default() });
    let lookup = |code: &'static str| {
        let client = t.client.clone();
        async move { client.get_json("api/erp/supplierV2s", &[("supplierCode".into(), code.into())], "supplier").await }
    };
    let results = tokio::join!(lookup("S100"), lookup("S200"), lookup("S300"), lookup("S100"), lookup("S200"), lookup("S300"));
    for result in [results.0, results.1, results.2, results.3, results.4, results.5] {
        result.unwrap();
    }
    assert_eq!(t.qad.with(|q| q.max_in_flight), 2);
}

#[tokio::test]
async fn a_receipt_posted_after_an_invoice_waited_yields_events_in_cycle_order_and_no_stale_alert() {
    let t = tenant().await;
    t.qad.with(|q| {
        q.orders = vec![order_row("PO-78", "S200", "B02", "O", "940.00", "2026-11-30")];
        q.invoices = vec![invoice_row("SI-1042", "PO-78", "S200", "AP-INITIAL", "0.00", "940.00", "2026-11-30")];
    });
    let first = t.poller.poll(None).await.unwrap();
    assert_eq!(ids(&first), ["qad:acme:supplier_invoice:SI-1042:awaiting_receipt"]);

    t.qad.with(|q| {
        q.today = "2026-12-01".into();
        q.post_receipt("RCV-9", "PO-78", "S200");
    });
    let second = t.poller.poll(first.cursor.clone()).await.unwrap();
    assert_eq!(ids(&second), ["qad:acme:goods_receipt:RCV-9:posted", "qad:acme:supplier_invoice:SI-1042:matched"]);
    let data: serde_json::Value = serde_json::from_str(&second.events[0].data).unwrap();
    assert_eq!(data["waiting_invoices"], json!(["SI-1042"]));
    assert_eq!(data["row"]["prh_hist.prh_nbr"], "PO-78", "data carries the row as read");
}

#[tokio::test]
async fn an_invoice_whose_receipt_already_posted_is_not_alerted_as_awaiting_receipt() {
    let t = tenant().await;
    t.qad.with(|q| {
        q.auto_match = false;
        q.receipts = vec![receipt_row("RCV-1", "PO-5", "S100", "2026-11-29"), receipt_row("RCV-2", "PO-6", "S100", "2026-11-30")];
    });
    let first = t.poller.poll(None).await.unwrap();
    assert_eq!(ids(&first), ["qad:acme:goods_receipt:RCV-1:posted", "qad:acme:goods_receipt:RCV-2:posted"]);
    // AP has not matched yet: the invoice arrives still in its initial status.
    t.qad.with(|q| q.invoices = vec![invoice_row("SI-7", "PO-5", "S100", "AP-INITIAL", "0", "50.00", "2026-11-30")]);
    let second = t.poller.poll(first.cursor).await.unwrap();
    assert!(!ids(&second).iter().any(|id| id.ends_with(":awaiting_receipt")), "{:?}", ids(&second));
    // RCV-1 is older than the receipts' watermark, so the incremental read did not list it.
    assert!(t.qad.with(|q| q.seen.iter().any(|s| s.kind == "browse" && s.detail.contains("prh_hist.prh_nbr,eq,PO-5,literal"))), "the receipt was looked up");
}

#[tokio::test]
async fn a_state_change_gives_exactly_one_new_event() {
    let t = tenant().await;
    t.qad.with(qad_standin::seed_demo);
    let first = t.poller.poll(None).await.unwrap();
    let outcomes = t.store.insert_events(first.events.clone()).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == InsertOutcome::Inserted));

    t.qad.with(|q| {
        q.today = "2026-12-01".into();
        assert!(q.set("supplier_invoice", "SI-1042", "CInvoice.CInvoiceHoldAmountTC", json!("940.00")));
    });
    let second = t.poller.poll(first.cursor).await.unwrap();
    let outcomes = t.store.insert_events(second.events.clone()).await.unwrap();
    let new: Vec<&str> = second.events.iter().zip(&outcomes).filter(|(_, o)| **o == InsertOutcome::Inserted).map(|(e, _)| e.id.as_str()).collect();
    assert_eq!(new, ["qad:acme:supplier_invoice:SI-1042:on_hold"]);
    assert!(t.qad.with(|q| q.seen.iter().any(|s| s.detail.contains("po_mstr.po_mod_date,ge,2026-11-30,literal"))), "the second poll is incremental");
}

#[tokio::test]
async fn the_same_records_polled_again_from_the_old_cursor_give_the_same_ids() {
    let t = tenant().await;
    t.qad.with(qad_standin::seed_demo);
    let first = t.poller.poll(None).await.unwrap();
    assert_eq!(
        ids(&first),
        [
            "qad:acme:goods_receipt:RCV-500:posted",
            "qad:acme:purchase_order:PO-77:pending_approval",
            "qad:acme:supplier_invoice:SI-1042:awaiting_receipt",
            "qad:acme:supplier_invoice:SI-1043:on_hold",
        ]
    );
    // A crash before the cursor was stored: the driver polls again from the same cursor.
    let again = t.poller.poll(None).await.unwrap();
    assert_eq!(ids(&again), ids(&first));
    let from_cursor = t.poller.poll(first.cursor.clone()).await.unwrap();
    let replay = t.poller.poll(first.cursor).await.unwrap();
    assert_eq!(ids(&from_cursor), ids(&replay));
}

#[tokio::test]
async fn a_mapped_field_missing_from_the_browse_breaks_the_tenant_naming_browse_and_field() {
    let t = tenant_with(|c| {
        let po = c.browses.get_mut(&ml_connector::sources::qad::records::RecordKind::PurchaseOrder).unwrap();
        po.fields.insert("buyer".into(), "po_mstr.po_buyer_typo".into());
    })
    .await;
    t.qad.with(|q| q.orders = orders(1));
    let err = t.poller.poll(None).await.unwrap_err();
    assert_eq!(
        err,
        PollError::broken(
            "browse urn:browse:mfg:po803: field `po_mstr.po_buyer_typo` (mapped as `buyer`) is not in its rows; fix [qad.browses.purchase_order] fields.buyer"
        )
    );
}

#[tokio::test]
async fn the_enricher_builds_the_typed_context_with_the_supplier_phone_and_the_responsible_person() {
    let t = tenant_with(|c| c.display_name = Some("Acme Manufacturing".into())).await;
    t.qad.with(qad_standin::seed_demo);
    let batch = t.poller.poll(None).await.unwrap();
    let clock = ClockOnly { timezone: ml_connector::timezone::Timezone::parse("-05:00").unwrap() };
    let mut enrichers = Enrichers::new(Arc::new(clock.clone()));
    enrichers.register("qad", Arc::new(QadEnricher::new([t.client.clone()], clock)));
    let event = |id: &str| {
        let e = batch.events.iter().find(|e| e.id == id).unwrap();
        Event { id: e.id.clone(), source: e.source.clone(), kind: e.kind.clone(), business_id: "acme".into(), received_at: String::new(), data: e.data.clone() }
    };
    let invoice = enrichers.context(&event("qad:acme:supplier_invoice:SI-1042:awaiting_receipt")).await.unwrap();
    assert_eq!(invoice.business_name, "Acme Manufacturing");
    let qad = invoice.qad.unwrap();
    assert_eq!(qad.record_id, "qad:acme:supplier_invoice:SI-1042");
    let supplier = qad.supplier.unwrap();
    assert_eq!((supplier.name.as_deref(), supplier.phone.as_deref()), (Some("Bolt & Nut Co"), Some("+12125550100")), "from its contact");
    assert_eq!(qad.supplier_invoice.unwrap().amount.unwrap().amount, "940.00");
    assert_eq!(qad.purchase_order.unwrap().number, "PO-78", "the invoice's PO was looked up");
    let person = qad.responsible.unwrap();
    assert_eq!((person.code.as_str(), person.contact), ("B02", Some(Recipient::Team("purchasing".into()))));

    let order = enrichers.context(&event("qad:acme:purchase_order:PO-77:pending_approval")).await.unwrap().qad.unwrap();
    assert_eq!(order.supplier.unwrap().phone.as_deref(), Some("+14155552671"));
    assert_eq!(order.responsible.unwrap().contact, Some(Recipient::Number("+15555550101".into())));
    let on_hold = enrichers.context(&event("qad:acme:supplier_invoice:SI-1043:on_hold")).await.unwrap().qad.unwrap();
    assert_eq!(on_hold.supplier.unwrap().phone, None, "\"not on file\" is not dialable");
    enrichers.context(&event("qad:acme:supplier_invoice:SI-1042:awaiting_receipt")).await.unwrap();
    assert_eq!(t.qad.with(|q| q.count("supplier", None)), 3, "one lookup per supplier, then the cache");
}

fn target() -> WritebackTarget {
    WritebackTarget { component: "purchaseOrderHeaders".into(), key: "purchaseOrderNumber".into(), field: "remarks".into(), extra: Default::default() }
}

fn line(marker: &str) -> Line {
    Line { marker: marker.into(), text: "SMS to +15555550101 sent (SM123)".into() }
}

#[tokio::test]
async fn write_back_appends_one_line_and_a_retried_append_is_not_doubled() {
    let t = tenant().await;
    t.qad.with(qad_standin::seed_demo);
    let done = writeback::append(&t.client, &target(), "PO-77", &line("[mlc:1:sent]")).await.unwrap();
    assert!(done.written && done.rejections.is_empty());
    let again = writeback::append(&t.client, &target(), "PO-77", &line("[mlc:1:sent]")).await.unwrap();
    assert!(!again.written);
    writeback::append(&t.client, &target(), "PO-77", &line("[mlc:1:delivered]")).await.unwrap();
    t.qad.with(|q| {
        assert_eq!(q.headers["PO-77"].remarks, "[mlc:1:sent] SMS to +15555550101 sent (SM123)\n[mlc:1:delivered] SMS to +15555550101 sent (SM123)");
        assert_eq!(q.writes.len(), 2);
        let body = &q.writes[0];
        assert_eq!(body["supplementaryMessages"], json!([]));
        assert_eq!(body["purchaseOrderHeaders"][0]["concurrencyHash"], "1");
    });
}

#[tokio::test]
async fn a_stale_concurrency_hash_is_read_again_and_retried() {
    let t = tenant().await;
    t.qad.with(|q| {
        qad_standin::seed_demo(q);
        q.faults.edit_after_read = 1;
    });
    let done = writeback::append(&t.client, &target(), "PO-77", &line("[mlc:2:sent]")).await.unwrap();
    assert_eq!(done.rejections, ["concurrencyHash: The record was changed by another user"]);
    let remarks = t.qad.with(|q| q.headers["PO-77"].remarks.clone());
    assert_eq!(remarks, "Buyer: expedite\n[mlc:2:sent] SMS to +15555550101 sent (SM123)", "the buyer's edit is kept");
}

#[tokio::test]
async fn success_false_on_every_attempt_is_a_rejection_with_each_reason() {
    let t = tenant().await;
    t.qad.with(|q| {
        qad_standin::seed_demo(q);
        q.faults.reject_writes = 10;
    });
    let err = writeback::append(&t.client, &target(), "PO-77", &line("[mlc:3:failed]")).await.unwrap_err();
    let WritebackError::Rejected { rejections, .. } = err else { panic!("{err}") };
    assert_eq!(rejections, vec!["Record locked by another session".to_string(); 3]);
    assert_eq!(t.qad.with(|q| q.count("po:post", None)), 3);
    let missing = writeback::append(&t.client, &target(), "PO-404", &line("[mlc:4:sent]")).await.unwrap_err();
    assert!(matches!(missing, WritebackError::NotFound { .. }), "{missing}");
}

/// A log sink for the test's own subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn no_qad_credential_reaches_the_log_or_the_store_in_plaintext() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || sink.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (dir, tokens) = rt.block_on(async {
        let t = tenant_with(|c| c.token_request = ml_connector::sources::qad::config::TokenRequest::Query).await;
        t.qad.with(|q| {
            qad_standin::seed_demo(q);
            q.faults.revoke_on_page = Some(1);
        });
        t.poller.poll(None).await.unwrap();
        t.qad.with(|q| q.faults.forbidden = true);
        t.poller.poll(None).await.unwrap_err();
        assert!(t.store.get_secret(&session_secret("acme")).await.unwrap().is_some(), "the session is stored, sealed");
        let tokens: Vec<String> = t.qad.with(|q| q.access.iter().chain(&q.refresh).cloned().collect());
        (t.dir, tokens)
    });
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("QAD tenant is broken"), "the log was captured: {logs}");
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        stored.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(!tokens.is_empty());
    for secret in tokens.iter().map(String::as_str).chain([PASSWORD]) {
        assert!(!logs.contains(secret), "{secret} in the log");
        assert!(!stored.contains(secret), "{secret} in the store");
    }
}

#[tokio::test]
async fn a_timeout_is_retried_and_a_configured_client_id_and_workspace_are_used() {
    let t = tenant_with(|c| {
        c.request_timeout = Duration::from_millis(300);
        c.client_id = Some(CLIENT_ID.into());
        c.workspace = Some("10USA_10USACO".into());
    })
    .await;
    t.qad.with(|q| {
        q.orders = orders(1);
        q.workspace = Some("10USA_10USACO".into());
        q.faults.slow = 1;
        q.faults.slow_ms = 2000;
    });
    assert_eq!(t.poller.poll(None).await.unwrap().events.len(), 1);
    t.qad.with(|q| {
        let receipts = q.seen.iter().filter(|s| s.kind == "browse" && s.detail.starts_with(qad_standin::RECEIPTS)).count();
        assert_eq!(receipts, 2, "the first page timed out and was asked again");
        assert_eq!(q.count("securityControl", None), 0, "the configured client id is used");
    });

    let without = tenant().await;
    without.qad.with(|q| {
        q.orders = orders(1);
        q.workspace = Some("10USA_10USACO".into());
    });
    let err = without.poller.poll(None).await.unwrap_err();
    assert!(matches!(&err, PollError::Broken { reason } if reason.contains("HTTP 400: Unknown workspace")), "{err}");
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_use_not_after_a_401() {
    let t = tenant().await;
    t.qad.with(|q| {
        q.orders = orders(1);
        q.expires_in = 2; // shorter than the 5 minute margin: renewed halfway, after 1 s
    });
    t.poller.poll(None).await.unwrap();
    // Let the token reach its refresh time (an age, not a measured duration: nothing is timed).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    t.poller.poll(None).await.unwrap();
    t.qad.with(|q| {
        assert_eq!(q.count("token:password", None), 1, "renewed by refresh, never a second login");
        assert!(q.count("token:refresh_token", Some(200)) >= 1, "refreshed ahead of expiry");
        assert_eq!(api_calls(q, Some(401)), 0, "never sent an expiring token");
    });
}

/// Runs the binary off the runtime's threads, so the stand-in keeps answering.
async fn run(mut cmd: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn qad_status_and_a_dry_run_poll_work_through_the_binary() {
    let qad = qad_standin::start().await;
    qad.with(qad_standin::seed_demo);
    let tenant = format!("[[qad]]\nname = \"acme\"\nbase_url = \"{}\"\nusername = \"{USERNAME}\"\n", qad.base);
    let site = support::site::Site::new("", &tenant);

    let out = run(site.cmd(&["qad", "status"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("BROKEN: no password stored: run `ml-connector secrets set qad.acme.password`"), "{text}");

    site.set_secret("qad.acme.password", PASSWORD);
    let out = run(site.cmd(&["qad", "status"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("connection: connected") && text.contains("session: token stored, sealed"), "{text}");

    let out = run(site.cmd(&["qad", "poll", "--once", "--dry-run"])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(ids[0], "qad:acme:goods_receipt:RCV-500:posted", "receipts first");
    assert!(String::from_utf8_lossy(&out.stderr).contains("next cursor: {"), "the cursor is printed");

    assert_eq!(site.json(&["events", "list", "--json"]), json!([]), "a dry run stores no event");

    // A real cycle through the poll driver: the same events stored, in order, and the cursor saved.
    let out = run(site.cmd(&["qad", "poll", "--once"])).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("qad:acme: 4 event(s) found, 4 new, stored; cursor saved"));
    let stored = site.json(&["events", "list", "--json"]);
    let mut stored: Vec<&str> = stored.as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    stored.reverse();
    assert_eq!(stored, ids, "stored in dispatch order");
    let again = run(site.cmd(&["qad", "poll", "--once"])).await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 new"), "{}", String::from_utf8_lossy(&again.stdout));
    let status = run(site.cmd(&["qad", "status", "--json"])).await;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status[0]["last_poll"].is_string() && status[0]["cursor"].is_string() && status[0]["next_run"].is_string(), "{status}");
}
