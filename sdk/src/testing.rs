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

use crate::{Action, Context, Customer, Error, Estimate, Event, Invoice, Money, Plugin, Recipient};

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
///  "settings": {"lead_days": "3"}}
/// ```
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
    })
}

/// Runs `P::handle` on a Wave webhook body and a `context.json` text; the
/// event's `received_at` is the context's `now`. Panics if either input is
/// malformed or if the actions break the host's limits
/// ([`crate::check_limits`]), since both are bugs in the test or the plugin.
pub fn run<P: Plugin>(event_json: &str, context_json: &str) -> Result<Vec<Action>, String> {
    let context = context(context_json).unwrap_or_else(|e| panic!("{e}"));
    let event = wave_event(event_json, &context.now).unwrap_or_else(|e| panic!("{e}"));
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
