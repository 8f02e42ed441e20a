//! Wave OAuth and GraphQL enrichment against a local Wave stand-in (a real
//! HTTP server on 127.0.0.1): token refresh ahead of expiry under concurrent
//! events, refresh-token rotation, `invalid_grant`, GraphQL errors, phone
//! normalization, the lookup cache and the reconciliation sweep.

#[path = "support/wave_standin.rs"]
mod wave_standin;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use ml_connector::app::App;
use ml_connector::config::Config;
use ml_connector::dispatch::dispatcher::{DispatchError, Dispatcher};
use ml_connector::dispatch::enrich::{ClockOnly, EnrichError, Enrichers};
use ml_connector::inbox::Inbox;
use ml_connector::metrics::Metrics;
use ml_connector::model::{Context, Event};
use ml_connector::secrets::{MasterKey, Vault};
use ml_connector::sinks::Sinks;
use ml_connector::sources::poll::{CycleOutcome, PollDriver};
use ml_connector::sources::wave::enrich::{self, WaveEnricher};
use ml_connector::sources::wave::graphql::GraphQlClient;
use ml_connector::sources::wave::oauth::{self, ConnectionStatus, OAuthSettings, TokenState, WaveOAuth};
use ml_connector::sources::wave::reconcile::Reconciler;
use ml_connector::sources::wave::secrets::WAVE_CLIENT_SECRET;
use ml_connector::store::sqlite::SqliteStore;
use ml_connector::store::{EventStatus, Lease, NewEvent, Store};
use serde_json::{Value, json};
use wave_standin::{CLIENT_SECRET, StandIn, customer_node, invoice_node};

const BUSINESS: &str = "63c77f29-875c-4cdc-947d-07430f628043";

/// One test's world: a runtime, the stand-in, a store with sealed secrets, and the product's pieces.
struct World {
    rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    wave: StandIn,
    store: Arc<dyn Store>,
    key: Arc<MasterKey>,
    vault: Vault,
    oauth: Arc<WaveOAuth>,
    client: Arc<GraphQlClient>,
    enrichers: Arc<Enrichers>,
}

impl World {
    /// A connected world whose access token `access-0` expires in `expires_in`.
    fn new(expires_in: chrono::Duration) -> World {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let wave = rt.block_on(wave_standin::start("access-0", "refresh-0"));
        wave.with(|w| {
            w.customers.insert("21840161".into(), customer_node(BUSINESS, "21840161", "Dana Smith", Some("(415) 555-2671"), Some("415.555.0100")));
            w.invoices.insert("2496756670638588934".into(), invoice_node(BUSINESS, "2496756670638588934", "INV-0042", "PAID", "0.00"));
        });
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("wave.db")).unwrap());
        let key = Arc::new(MasterKey::generate());
        let vault = Vault::new(store.clone(), Some(key.clone()));
        rt.block_on(vault.put(WAVE_CLIENT_SECRET, CLIENT_SECRET)).unwrap();
        let state = TokenState {
            access_token: "access-0".into(),
            refresh_token: Some("refresh-0".into()),
            expires_at: Utc::now() + expires_in,
            scope: "business:read customer:read invoice:read".into(),
            business_id: Some(BUSINESS.into()),
            broken: None,
        };
        rt.block_on(oauth::save_state(&vault, &state)).unwrap();
        let settings = OAuthSettings {
            client_id: "client-1".into(),
            authorize_url: wave.authorize_url(),
            token_url: wave.token_url(),
            redirect_uri: "https://connector.example/oauth/wave/callback".into(),
        };
        let oauth = Arc::new(rt.block_on(WaveOAuth::new(settings, vault.clone())).unwrap());
        let client = Arc::new(GraphQlClient::new(wave.graphql_url(), oauth.clone()).unwrap());
        let clock = ClockOnly { timezone: ml_connector::timezone::Timezone::parse("-05:00").unwrap() };
        let enricher = WaveEnricher::new(client.clone(), oauth.clone(), clock.clone(), enrich::region("US").unwrap(), None);
        let mut enrichers = Enrichers::new(Arc::new(clock));
        enrichers.register("wave", Arc::new(enricher));
        World { rt, _dir: dir, wave, store, key, vault, oauth, client, enrichers: Arc::new(enrichers) }
    }

    /// The production enricher's context for `event`.
    fn context(&self, event: &Event) -> Result<Context, EnrichError> {
        self.rt.block_on(self.enrichers.context(event))
    }

    fn stored_state(&self) -> TokenState {
        stored_state(&self.vault)
    }
}

/// The token state in the store, read from any thread (also inside the stand-in's handlers).
fn stored_state(vault: &Vault) -> TokenState {
    let vault = vault.clone();
    std::thread::spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(oauth::load_state(&vault)))
        .join()
        .unwrap()
        .unwrap()
        .unwrap()
}

fn event(id: &str, kind: &str, data: Value) -> Event {
    Event {
        id: id.into(),
        source: "wave".into(),
        kind: kind.into(),
        business_id: BUSINESS.into(),
        received_at: "2026-04-29T10:00:00.000Z".into(),
        data: data.to_string(),
    }
}

fn paid(id: &str, customer: &str) -> Event {
    event(id, "invoice.paid", json!({"amount_paid": "8.98", "currency_code": "USD", "customer_id": customer, "invoice_id": "2496756670638588934"}))
}

#[test]
fn concurrent_events_share_one_refresh_when_the_token_nears_expiry() {
    // Five minutes left is inside the refresh margin: refresh now, not on failure.
    let world = World::new(chrono::Duration::minutes(5));
    world.wave.with(|w| {
        w.refresh_delay = Duration::from_millis(300);
        for i in 0..8 {
            w.customers.insert(format!("c{i}"), customer_node(BUSINESS, &format!("c{i}"), "Dana Smith", Some("+1 415 555 2671"), None));
        }
    });
    let contexts: Vec<_> = world.rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let enrichers = world.enrichers.clone();
                tokio::spawn(async move { enrichers.context(&paid(&format!("evt-{i}"), &format!("c{i}"))).await })
            })
            .collect();
        let mut contexts = Vec::new();
        for task in tasks {
            contexts.push(task.await.unwrap());
        }
        contexts
    });
    for context in contexts {
        let context = context.unwrap();
        assert_eq!(context.business_name, "Acme Plumbing");
        assert_eq!(context.customer.unwrap().mobile.as_deref(), Some("+14155552671"));
    }
    assert_eq!(world.wave.with(|w| w.refresh_calls()), 1, "exactly one refresh for eight concurrent events");
    // Every GraphQL call used the refreshed token.
    world.wave.with(|w| assert!(!w.valid_access.is_empty()));
    let state = world.stored_state();
    assert_eq!(state.access_token, "access-1");
    assert_eq!(state.refresh_token.as_deref(), Some("refresh-1"));
    assert!(state.expires_at > Utc::now() + chrono::Duration::minutes(100));
    // The refresh is the form Wave documents, client credentials in the body.
    let form = world.wave.with(|w| w.token_calls[0].clone());
    for (field, value) in [
        ("grant_type", "refresh_token"),
        ("refresh_token", "refresh-0"),
        ("client_id", "client-1"),
        ("client_secret", CLIENT_SECRET),
        ("redirect_uri", "https://connector.example/oauth/wave/callback"),
    ] {
        assert_eq!(form.get(field).map(String::as_str), Some(value), "{field} in {form:?}");
    }
}

#[test]
fn a_refresh_that_fails_for_now_keeps_using_the_still_valid_token() {
    let world = World::new(chrono::Duration::minutes(5));
    world.wave.with(|w| w.token_failures.push_back(503));
    let context = world.context(&paid("evt-keep", "21840161")).unwrap();
    assert_eq!(context.invoice.unwrap().number, "INV-0042");
    assert_eq!(world.stored_state().access_token, "access-0", "nothing was replaced");
    assert!(matches!(world.oauth.status(), ConnectionStatus::Connected { .. }), "a 5xx is not a broken connection");
    // The next lookup tries the refresh again, and it now succeeds.
    world.context(&paid("evt-keep-2", "21840161")).unwrap();
    assert_eq!(world.wave.with(|w| w.refresh_calls()), 2);
    assert_eq!(world.stored_state().access_token, "access-1");
}

#[test]
fn a_429_with_retry_after_holds_further_lookups_until_it_passes() {
    let world = World::new(chrono::Duration::hours(2));
    world.wave.with(|w| {
        w.graphql_failures.push_back(429);
        w.retry_after = Some(1);
    });
    let err = world.context(&paid("evt-429", "21840161")).unwrap_err();
    assert!(err.to_string().contains("retry after 1"), "{err}");
    let held = world.context(&paid("evt-429", "21840161")).unwrap_err();
    assert!(held.to_string().contains("rate limited"), "{held}");
    assert_eq!(world.wave.with(|w| w.graphql_calls.len()), 1, "nothing was sent while Wave asked to wait");
    std::thread::sleep(Duration::from_millis(1100));
    assert!(world.context(&paid("evt-429", "21840161")).is_ok());
}

#[test]
fn the_rotated_refresh_token_is_stored_before_the_new_access_token_is_used() {
    let world = World::new(chrono::Duration::minutes(1));
    let vault = world.vault.clone();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    world.wave.with(|w| {
        w.on_graphql = Some(Arc::new(move |token: &str| {
            let stored = stored_state(&vault);
            seen2.lock().unwrap().push((token.to_owned(), stored.access_token, stored.refresh_token));
        }))
    });
    world.context(&paid("evt-rot", "21840161")).unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (used, stored_access, stored_refresh) = &seen[0];
    assert_eq!(used, "access-1");
    assert_eq!(stored_access, "access-1", "the new access token was used before it was stored");
    assert_eq!(stored_refresh.as_deref(), Some("refresh-1"), "the rotated refresh token was not stored first");
    // The old refresh token is dead at Wave; the stored one is the live one.
    assert_eq!(world.wave.with(|w| w.valid_refresh.clone()), "refresh-1");
}

#[test]
fn invalid_grant_breaks_the_connection_and_events_wait_in_the_store() {
    let world = World::new(chrono::Duration::minutes(-1));
    world.wave.with(|w| w.refresh_error = Some("invalid_grant".into()));

    // Through the real dispatcher: the event stays pending, nothing is dropped.
    let waiting = NewEvent {
        id: "evt-wait".into(),
        source: "wave".into(),
        kind: "invoice.paid".into(),
        business_id: Some(BUSINESS.into()),
        record: None,
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        data: json!({"customer_id": "21840161", "invoice_id": "2496756670638588934", "amount_paid": "8.98", "currency_code": "USD"}).to_string(),
    };
    world.rt.block_on(world.store.insert_events(vec![waiting])).unwrap();
    let lease = Lease::new("test", Duration::from_secs(30));
    let dispatcher = Arc::new(Dispatcher::new(
        world.store.clone(),
        Arc::new(Vec::new()),
        world.enrichers.clone(),
        Sinks::default(),
        Arc::new(Metrics::default()),
        lease,
        Arc::new(tokio::sync::Notify::new()),
    ));
    for _ in 0..3 {
        let err = world.rt.block_on(dispatcher.dispatch_pending()).unwrap_err();
        assert!(matches!(err, DispatchError::Enrich(EnrichError::Unavailable(_))), "{err}");
        assert!(err.to_string().contains("invalid_grant"), "{err}");
    }
    assert_eq!(world.rt.block_on(world.store.get_event("evt-wait")).unwrap().unwrap().status, EventStatus::Pending);
    assert_eq!(world.wave.with(|w| w.refresh_calls()), 1, "a broken connection does not keep calling Wave");
    assert_eq!(world.wave.with(|w| w.graphql_calls.len()), 0);

    let ConnectionStatus::Broken { reason } = world.oauth.status() else { panic!("not broken: {:?}", world.oauth.status()) };
    assert!(reason.contains("invalid_grant"), "{reason}");
    assert_eq!(world.stored_state().broken.as_deref(), Some(reason.as_str()), "wave status reads the reason from the store");

    // /healthz of the service built on this store says so, with the reason, and stays 200 so
    // webhooks keep flowing.
    let mut config = Config::default();
    config.store.path = world._dir.path().join("wave.db");
    config.wave.client_id = Some("client-1".into());
    config.wave.token_url = world.wave.token_url();
    config.wave.graphql_url = world.wave.graphql_url();
    let health: Value = world.rt.block_on(async {
        let app = App::build(config, world.store.clone(), Some(world.key.clone())).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(ml_connector::server::serve(listener, app.router(), std::time::Duration::from_secs(30), std::future::pending()));
        let response = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    });
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["wave"]["status"], "broken", "{health}");
    assert!(health["wave"]["reason"].as_str().unwrap().contains("invalid_grant"), "{health}");
}

#[test]
fn an_authentication_error_refreshes_once_and_the_retry_succeeds() {
    let world = World::new(chrono::Duration::hours(2));
    world.wave.with(|w| w.unauthenticated = 1);
    let context = world.context(&paid("evt-auth", "21840161")).unwrap();
    assert_eq!(context.invoice.unwrap().number, "INV-0042");
    assert_eq!(world.wave.with(|w| w.refresh_calls()), 1);
    assert_eq!(world.wave.with(|w| w.graphql_calls.len()), 2);
    assert_eq!(world.stored_state().access_token, "access-1");
}

#[test]
fn a_token_still_refused_after_the_refresh_breaks_the_connection() {
    let world = World::new(chrono::Duration::hours(2));
    world.wave.with(|w| w.unauthenticated = 2);
    assert!(world.context(&paid("evt-revoked", "21840161")).is_err());
    assert!(matches!(world.oauth.status(), ConnectionStatus::Broken { .. }));
    assert_eq!(world.wave.with(|w| w.graphql_calls.len()), 2, "one retry only");
}

#[test]
fn a_customer_wave_does_not_know_leaves_the_context_without_a_customer() {
    let world = World::new(chrono::Duration::hours(2));
    let context = world.context(&paid("evt-nf", "404404")).unwrap();
    assert!(context.customer.is_none());
    assert_eq!(context.invoice.unwrap().number, "INV-0042");
    assert_eq!(context.business_name, "Acme Plumbing");
}

#[test]
fn an_unparseable_phone_number_becomes_none_and_the_others_are_e164() {
    let world = World::new(chrono::Duration::hours(2));
    world.wave.with(|w| {
        w.customers.insert("77".into(), customer_node(BUSINESS, "77", "Lee Park", Some("call me maybe"), Some("(415) 555-0100")));
    });
    let customer = world.context(&paid("evt-phone", "77")).unwrap().customer.unwrap();
    assert_eq!(customer.mobile, None);
    assert_eq!(customer.phone.as_deref(), Some("+14155550100"));
    assert_eq!(customer.name, "Lee Park");
    assert_eq!(customer.email.as_deref(), Some("lee.park@example.com"));
}

#[test]
fn a_5xx_makes_the_event_wait_and_the_next_attempt_succeeds() {
    let world = World::new(chrono::Duration::hours(2));
    world.wave.with(|w| w.graphql_failures.extend([503, 502]));
    for _ in 0..2 {
        let err = world.context(&paid("evt-5xx", "21840161")).unwrap_err();
        assert!(err.to_string().contains("50"), "{err}");
    }
    let context = world.context(&paid("evt-5xx", "21840161")).unwrap();
    assert_eq!(context.invoice.unwrap().number, "INV-0042");
}

#[test]
fn lookups_send_seed_encoded_ids_as_variables_never_in_the_query_text() {
    let world = World::new(chrono::Duration::hours(2));
    world.context(&paid("evt-vars", "21840161")).unwrap();
    let call = world.wave.with(|w| w.graphql_calls[0].clone());
    let query = call["query"].as_str().unwrap();
    assert!(!query.contains("21840161") && !query.contains(BUSINESS), "{query}");
    assert_eq!(call["variables"]["businessId"], ml_connector::sources::wave::ids::business(BUSINESS));
    assert_eq!(call["variables"]["customerId"], ml_connector::sources::wave::ids::customer(BUSINESS, "21840161"));
    assert_eq!(call["variables"]["invoiceId"], ml_connector::sources::wave::ids::invoice(BUSINESS, "2496756670638588934"));
}

#[test]
fn a_burst_for_one_customer_costs_one_query_until_customer_updated_invalidates_it() {
    let world = World::new(chrono::Duration::hours(2));
    let estimate = |id: &str| {
        event(id, "estimate.sent", json!({"estimate_id": "5", "customer_id": "21840161", "currency_code": "USD", "status": "sent", "amount": "200.00", "due_date": "2026-04-30"}))
    };
    for i in 0..5 {
        let context = world.context(&estimate(&format!("evt-burst-{i}"))).unwrap();
        assert_eq!(context.customer.unwrap().name, "Dana Smith");
        assert_eq!(context.estimate.unwrap().total.amount, "200.00");
    }
    assert_eq!(world.wave.with(|w| w.graphql_calls.len()), 1);

    world.wave.with(|w| {
        w.customers.insert("21840161".into(), customer_node(BUSINESS, "21840161", "Dana Jones", Some("(415) 555-2671"), None));
    });
    let updated = event("evt-upd", "customer.updated", json!({"customer_id": "21840161"}));
    assert_eq!(world.context(&updated).unwrap().customer.unwrap().name, "Dana Jones");
    assert_eq!(world.wave.with(|w| w.graphql_calls.len()), 2);
}

#[test]
fn the_reconciliation_sweep_emits_each_missing_overdue_invoice_once() {
    let world = World::new(chrono::Duration::hours(2));
    // 60 overdue invoices: two pages of 50. One already arrived by webhook.
    world.wave.with(|w| w.overdue = (1..=60).map(|i| format!("9{i:03}")).collect());
    let webhook = NewEvent {
        id: "webhook-overdue".into(),
        source: "wave".into(),
        kind: "invoice.overdue".into(),
        business_id: Some(BUSINESS.into()),
        record: None,
        received_at: Utc::now(),
        body: b"{}".to_vec(),
        data: json!({"invoice_id": "9001", "customer_id": "21840161", "due_date": "2026-04-30"}).to_string(),
    };
    world.rt.block_on(world.store.insert_events(vec![webhook])).unwrap();
    // Through the production poll driver and inbox.
    let reconciler = Arc::new(Reconciler::new(world.client.clone(), world.store.clone(), Some(BUSINESS.into()), Duration::from_secs(3600)));
    let (first, second) = world.rt.block_on(async {
        let inbox = Inbox::start(world.store.clone(), 16, Arc::new(tokio::sync::Notify::new()));
        let driver = PollDriver::new(reconciler, inbox, world.store.clone(), Lease::new("test", Duration::from_secs(30)), Arc::new(Metrics::default()));
        (driver.run_once().await.unwrap(), driver.run_once().await.unwrap())
    });
    assert_eq!(first, CycleOutcome::Polled { found: 59, stored: 59 }, "60 listed, one known from its webhook");
    assert_eq!(second, CycleOutcome::Polled { found: 0, stored: 0 }, "a repeated sweep stores nothing new");

    let stored = world.rt.block_on(world.store.get_event("reconcile:invoice.overdue:9002:2026-04-30")).unwrap().expect("deterministic id");
    assert_eq!(stored.kind, "invoice.overdue");
    assert_eq!(stored.status, EventStatus::Pending, "it goes through the dispatcher like a webhook");
    let data: Value = serde_json::from_str(&stored.data).unwrap();
    assert_eq!(data["invoice_id"], "9002");
    assert_eq!(data["customer_id"], "21840161");
    assert_eq!(data["invoice_balance"], "10.00");
    assert!(world.rt.block_on(world.store.get_event("reconcile:invoice.overdue:9001:2026-04-30")).unwrap().is_none(), "the webhook already covered 9001");
}

#[test]
fn the_plugins_clock_runs_in_the_wave_business_time_zone_and_falls_back_to_the_configured_one() {
    // The stand-in's business reports America/Chicago (UTC-6 in winter, UTC-5 in summer).
    let world = World::new(chrono::Duration::hours(2));
    let context = world.context(&event("evt-tz", "invoice.overdue", json!({"invoice_id": "9"}))).unwrap();
    assert_eq!(context.timezone.as_deref(), Some("America/Chicago"));
    let chicago = ml_connector::timezone::Timezone::parse("America/Chicago").unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(&context.now).unwrap();
    assert_eq!(context.now, chicago.rfc3339(now.with_timezone(&Utc)), "now is Chicago's wall clock: {}", context.now);

    // A business without a time zone (Wave's null): the configured zone, -05:00 here.
    let world = World::new(chrono::Duration::hours(2));
    world.wave.with(|w| w.business_timezone = None);
    let context = world.context(&event("evt-tz-none", "invoice.overdue", json!({"invoice_id": "9"}))).unwrap();
    assert_eq!(context.timezone, None);
    assert!(context.now.ends_with("-05:00"), "{}", context.now);
}
