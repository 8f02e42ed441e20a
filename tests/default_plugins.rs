//! Every default plugin against every fixture case (`tests/cases/<case>/`):
//! the embedded wasm, run by the production runtime, must produce exactly
//! `expected.json`. Also drives the `ml-connector plugin` CLI end to end.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ml_connector::builtin;
use ml_connector::harness::{self, Harness};
use ml_connector::model::grants::Grants;
use ml_connector::runtime::Limits;
use serde_json::Value;
use support::tests_dir;

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn cases() -> Vec<std::path::PathBuf> {
    let mut cases: Vec<_> = std::fs::read_dir(tests_dir().join("cases")).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    cases
}

#[test]
fn every_case_produces_exactly_its_expected_actions() {
    let harness = Harness::new().unwrap();
    let cases = cases();
    assert!(!cases.is_empty(), "no fixture cases found");
    let mut failures = Vec::new();
    for case in &cases {
        let name = std::fs::read_to_string(case.join("plugin")).unwrap().trim().to_string();
        let plugin = harness.load(&name, Limits::default(), BTreeMap::new()).unwrap();
        let body = std::fs::read(case.join("event.json")).unwrap();
        let context = harness::parse_context(&std::fs::read(case.join("context.json")).unwrap()).unwrap();
        let got = match harness.run(&plugin, &body, Some(&context)) {
            Ok(inv) => harness::actions_json(&inv.actions),
            Err(e) => Value::String(format!("error: {e}")),
        };
        let expected = read_json(&case.join("expected.json"));
        if got != expected {
            failures.push(format!("{}:\n  expected {expected}\n  got      {got}", case.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_case_addresses_only_what_its_plugin_is_granted_by_default() {
    let mut checked = 0;
    for case in cases() {
        let Ok(expected) = std::fs::read(case.join("expected.json")) else { continue };
        let name = std::fs::read_to_string(case.join("plugin")).unwrap().trim().to_string();
        let actions: Vec<ml_connector::model::Action> = serde_json::from_slice(&expected).unwrap();
        let context = harness::parse_context(&std::fs::read(case.join("context.json")).unwrap()).unwrap();
        // The case's settings as the plugin's configured ones; its responsible person as the
        // tenant's `people` map.
        let people: Vec<_> = context.qad.iter().filter_map(|q| q.responsible.as_ref()?.contact.clone()).collect();
        let default = builtin::default_grants(&name, &context.settings, &people, "US").unwrap_or_else(|| panic!("{name} has no default grants"));
        let grants = Grants::new(default, "US");
        assert_eq!(grants.check(&actions), Ok(()), "{}", case.display());
        checked += actions.len();
    }
    assert!(checked > 0, "no actions checked");
}

#[test]
fn every_default_plugin_subscription_is_covered_by_a_seed_case() {
    let harness = Harness::new().unwrap();
    let mut covered: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in cases() {
        let name = std::fs::read_to_string(case.join("plugin")).unwrap().trim().to_string();
        let event = read_json(&case.join("event.json"));
        // A Wave webhook body names its kind `event_type`; an event in the host's form, `kind`.
        let kind = event["event_type"].as_str().or(event["kind"].as_str()).unwrap().to_string();
        covered.entry(name).or_default().push(kind);
    }
    for b in builtin::all() {
        let plugin = harness.load(b.name, Limits::default(), BTreeMap::new()).unwrap();
        assert_eq!(plugin.name(), b.name, "the manifest name must be the crate name");
        for kind in &plugin.manifest().subscribes {
            let kinds = covered.get(b.name).map(Vec::as_slice).unwrap_or_default();
            assert!(kinds.contains(kind), "{}: no case for {kind}", b.name);
        }
    }
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ml-connector")).args(args).output().unwrap()
}

#[test]
fn plugin_run_prints_the_actions_as_json() {
    let case = cases().into_iter().find(|c| c.ends_with("invoice-paid-paid")).expect("case invoice-paid-paid");
    let out = cli(&[
        "plugin",
        "run",
        "invoice-paid",
        "--event",
        case.join("event.json").to_str().unwrap(),
        "--context",
        case.join("context.json").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, read_json(&case.join("expected.json")));
    let budget = String::from_utf8_lossy(&out.stderr);
    assert!(budget.contains("of 50 ms; memory peak") && budget.contains("of 16 MiB"), "{budget}");
}

#[test]
fn plugin_run_exits_nonzero_with_the_cause_when_the_plugin_fails() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("misbehave.wasm");
    std::fs::write(&wasm, support::test_wasm("misbehave")).unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, r#"{"event_id":"e-1","event_type":"test.panic","business_id":"b","data":{}}"#).unwrap();
    let out = cli(&["plugin", "run", wasm.to_str().unwrap(), "--event", event.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: plugin misbehave failed on event e-1: trapped"), "{stderr}");
    assert!(stderr.contains("misbehave panicked on purpose"), "{stderr}");
    // The guest's own stderr reaches the host log, tagged with plugin and event.
    assert!(stderr.contains(r#"plugin="misbehave" event_id=e-1 stream="stderr""#), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn plugin_run_explains_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let event = dir.path().join("event.json");
    std::fs::write(&event, "{not json").unwrap();
    let out = cli(&["plugin", "run", "invoice-paid", "--event", event.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("event fixture: not a Wave event"));
    let out = cli(&["plugin", "run", "no-such-plugin", "--event", event.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no default plugin is called \"no-such-plugin\""));
}

#[test]
fn plugin_list_and_inspect_show_the_manifests() {
    let out = cli(&["plugin", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8_lossy(&out.stdout);
    for b in builtin::all() {
        assert!(listing.contains(b.name), "{} missing from:\n{listing}", b.name);
    }
    assert!(listing.contains("invoice.paid"), "{listing}");
    assert!(listing.contains("wit 0.3.0"), "{listing}");

    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("counter.wasm");
    std::fs::write(&wasm, support::test_wasm("counter")).unwrap();
    let out = cli(&["plugin", "inspect", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["name"], "counter");
    assert_eq!(manifest["subscribes"], serde_json::json!(["*"]));
    assert_eq!(manifest["wit"], "0.1.0", "counter is built against the frozen 0.1.0 contract");
}

#[test]
fn configured_settings_reach_the_plugin_and_context_settings_override_them() {
    use ml_connector::model::{Action, Recipient};
    let harness = Harness::new().unwrap();
    let case = tests_dir().join("cases/invoice-overdue-overdue");
    let body = std::fs::read(case.join("event.json")).unwrap();
    let mut context = harness::parse_context(&std::fs::read(case.join("context.json")).unwrap()).unwrap();
    context.settings.clear();
    let configured = BTreeMap::from([("team_contact".to_string(), "collections".to_string())]);
    let plugin = harness.load("invoice-overdue", Limits::default(), configured).unwrap();
    let call_to = |context: &ml_connector::model::Context| {
        let actions = harness.run(&plugin, &body, Some(context)).unwrap().actions;
        actions.into_iter().find_map(|a| match a {
            Action::Call(m) => Some(m.to),
            _ => None,
        })
    };
    assert_eq!(call_to(&context), Some(Recipient::Team("collections".into())));
    context.settings.insert("team_contact".into(), "ops".into());
    assert_eq!(call_to(&context), Some(Recipient::Team("ops".into())));
}

/// The default plugins are built without WASI (`host/build.rs`): each imports at most the
/// contract's own interfaces, which is what makes a fresh instance of one cheap.
#[test]
fn the_default_plugins_import_nothing_but_the_contract() {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = wasmtime::Engine::new(&config).unwrap();
    for plugin in builtin::all() {
        let component = wasmtime::component::Component::new(&engine, plugin.wasm).unwrap();
        let ty = component.component_type();
        let foreign: Vec<&str> = ty.imports(&engine).map(|(name, _)| name).filter(|name| !name.starts_with("ml-connector:plugin/")).collect();
        assert!(foreign.is_empty(), "{} imports {foreign:?}", plugin.name);
    }
}
