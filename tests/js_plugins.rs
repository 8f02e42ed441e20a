//! JavaScript plugins through the production runtime: `invoice-paid-js`
//! gives byte-identical actions to its Rust twin on every `invoice-paid`
//! case and runs in `serve` from a `[[plugins]] path`; the hostile
//! `misbehave-js` is stopped or refused like its Rust counterpart (exception
//! with message and stack, deadline, memory cap, no files, environment or
//! network); and JavaScript and Rust plugins share the instance pool under
//! concurrent load. Needs the components host/build.rs builds with Node.js
//! (see `support::js`).

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ml_connector::builtin;
use ml_connector::harness::{self, cases};
use ml_connector::model::{Context, Event};
use ml_connector::runtime::{Failure, Limits, Plugin, PluginError, Runtime, RuntimeOptions};
use support::{event, js, tests_dir};

fn load_js(rt: &Runtime, name: &str, limits: Limits) -> Plugin {
    rt.load(name, &js::wasm(name), limits, BTreeMap::new()).unwrap()
}

fn builtin(rt: &Runtime, name: &str, limits: Limits) -> Plugin {
    let b = builtin::find(name).unwrap();
    rt.load(b.name, b.wasm, limits, BTreeMap::new()).unwrap()
}

/// Limits whose deadline no well-behaved call reaches, even on a machine
/// busy with other tests: the deadline is wall-clock time.
fn patient() -> Limits {
    Limits { deadline: Duration::from_secs(10), ..Limits::default() }
}

/// `misbehave-js`'s failure on an event of `kind` (the default memory cap).
fn misbehave(kind: &str, data: &str) -> PluginError {
    let rt = js::runtime(RuntimeOptions::default());
    let plugin = load_js(&rt, "misbehave-js", patient());
    let context = Context::bare("2026-04-29T10:00:00Z".into());
    plugin.handle(&event(kind, data), &context).map(|i| i.actions).unwrap_err()
}

/// The (event, context) of a case folder, as `plugin test` reads them.
fn case_input(case: &cases::Case) -> (Event, Context) {
    let context = harness::parse_context(&std::fs::read(case.dir.join("context.json")).unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(&context.now).unwrap().to_utc();
    let event = harness::parse_event_at(&std::fs::read(case.dir.join("event.json")).unwrap(), at).unwrap();
    (event, context)
}

#[test]
fn the_javascript_twin_returns_byte_identical_actions_on_every_invoice_paid_case() {
    if !js::ready("the_javascript_twin_returns_byte_identical_actions_on_every_invoice_paid_case", js::unbuilt()) {
        return;
    }
    let rt = js::runtime(RuntimeOptions::default());
    let (rust, javascript) = (builtin(&rt, "invoice-paid", patient()), load_js(&rt, "invoice-paid-js", patient()));
    let (twin_cases, _) = cases::select(cases::find(&tests_dir().join("cases")).unwrap(), "invoice-paid");
    assert_eq!(twin_cases.len(), 4, "the invoice-paid cases");
    for case in &twin_cases {
        let (event, context) = case_input(case);
        let bytes = |plugin: &Plugin| {
            let actions = plugin.handle(&event, &context).unwrap_or_else(|e| panic!("{}: {e}", case.name)).actions;
            serde_json::to_vec(&harness::actions_json(&actions)).unwrap()
        };
        assert_eq!(String::from_utf8(bytes(&javascript)).unwrap(), String::from_utf8(bytes(&rust)).unwrap(), "{}", case.name);
        assert_eq!(cases::run(&javascript, case), cases::Outcome::Passed, "{}", case.name);
    }
    assert_eq!(javascript.contract_version(), "0.2.0");
    assert_eq!(javascript.manifest().subscribes, rust.manifest().subscribes);
}

#[test]
fn plugin_test_runs_the_javascript_twin_on_the_rust_plugins_cases() {
    if !js::ready("plugin_test_runs_the_javascript_twin_on_the_rust_plugins_cases", js::unbuilt()) {
        return;
    }
    let wasm = js::wasm_path("invoice-paid-js");
    let out = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args(["plugin", "test", wasm.to_str().unwrap(), tests_dir().join("cases").to_str().unwrap(), "--cases-for", "invoice-paid"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("PASS invoice-paid-overpaid") && stdout.contains("4 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_javascript_exception_fails_the_event_with_its_message_and_stack() {
    if !js::ready("a_javascript_exception_fails_the_event_with_its_message_and_stack", js::unbuilt()) {
        return;
    }
    let err = misbehave("test.throw", "{}");
    let Failure::Guest(text) = &err.cause else { panic!("expected the plugin's failure, got {err}") };
    assert!(text.starts_with("uncaught TypeError: cannot read property 'property' of null\n"), "{text}");
    assert!(text.contains("    at handle (/tests/plugins/misbehave-js/plugin.js:"), "no stack in {text}");
    assert!(err.to_string().starts_with("plugin misbehave-js failed on event evt-test.throw: "), "{err}");
}

#[test]
fn a_plugin_error_fails_the_event_with_exactly_its_message() {
    if !js::ready("a_plugin_error_fails_the_event_with_exactly_its_message", js::unbuilt()) {
        return;
    }
    assert_eq!(misbehave("test.fail", "{}").cause, Failure::Guest("refused on purpose".into()));
}

#[test]
fn a_javascript_infinite_loop_is_stopped_at_the_deadline() {
    if !js::ready("a_javascript_infinite_loop_is_stopped_at_the_deadline", js::unbuilt()) {
        return;
    }
    let rt = js::runtime(RuntimeOptions::default());
    for deadline in [Limits::default().deadline, Duration::from_millis(5)] {
        let plugin = load_js(&rt, "misbehave-js", Limits { deadline, ..Limits::default() });
        let err = plugin.handle(&event("test.loop", "{}"), &Context::bare("2026-04-29T10:00:00Z".into())).unwrap_err();
        assert_eq!(err.cause, Failure::Deadline(deadline));
    }
}

#[test]
fn a_javascript_allocation_bomb_hits_the_memory_cap() {
    if !js::ready("a_javascript_allocation_bomb_hits_the_memory_cap", js::unbuilt()) {
        return;
    }
    let err = misbehave("test.alloc", "{}");
    assert_eq!(err.cause, Failure::Memory(16 << 20));
    assert!(err.to_string().contains("memory limit 16 MiB exceeded"), "{err}");
}

#[test]
fn files_environment_and_network_are_out_of_a_javascript_plugins_reach() {
    if !js::ready("files_environment_and_network_are_out_of_a_javascript_plugins_reach", js::unbuilt()) {
        return;
    }
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("ML_CONNECTOR_TEST_LEAK", "should-not-be-seen") };
    assert_eq!(misbehave("test.read-file", "{}").cause, Failure::Guest("no preopened directories".into()));
    assert_eq!(misbehave("test.env", "{}").cause, Failure::Guest("no environment and no arguments".into()));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let err = misbehave("test.socket", &addr);
    assert_eq!(err.cause, Failure::Guest(format!("cannot connect to {addr}: access-denied")));
    let accepted = listener.accept();
    assert!(matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "a connection got through: {accepted:?}");

    let Failure::Guest(lookup) = misbehave("test.lookup", "localhost").cause else { panic!("a name was resolved") };
    assert!(lookup.starts_with("cannot resolve localhost: "), "{lookup}");
}

#[test]
fn a_rust_plugin_still_runs_beside_each_hostile_javascript_one() {
    if !js::ready("a_rust_plugin_still_runs_beside_each_hostile_javascript_one", js::unbuilt()) {
        return;
    }
    let rt = js::runtime(RuntimeOptions::default());
    let plugins = [load_js(&rt, "misbehave-js", Limits::default()), support::load(&rt, "counter")];
    let kinds = ["test.throw", "test.loop", "test.alloc", "test.read-file", "test.env", "test.socket", "test.lookup"];
    support::counter_runs_beside(&plugins, &kinds, "127.0.0.1:9");
}

#[test]
fn the_pool_holds_its_full_size_of_javascript_instances_at_once() {
    if !js::ready("the_pool_holds_its_full_size_of_javascript_instances_at_once", js::unbuilt()) {
        return;
    }
    let options = RuntimeOptions::default();
    let rt = js::runtime(options.clone());
    let plugin = load_js(&rt, "invoice-paid-js", patient());
    let held: Vec<_> = (0..options.max_instances)
        .map(|i| plugin.reusable_instance().unwrap_or_else(|e| panic!("instance {i} of {}: {e}", options.max_instances)))
        .collect();
    assert_eq!(held.len() as u32, options.max_instances);
    drop(held);
    let (event, context) = case_input(&cases::find(&tests_dir().join("cases/invoice-paid-paid")).unwrap()[0]);
    assert_eq!(plugin.handle(&event, &context).unwrap().actions.len(), 1, "the pool is whole again");
}

#[test]
fn javascript_and_rust_plugins_run_side_by_side_under_concurrent_load() {
    if !js::ready("javascript_and_rust_plugins_run_side_by_side_under_concurrent_load", js::unbuilt()) {
        return;
    }
    const THREADS: u32 = 8;
    const ROUNDS: usize = 20;
    // A pool exactly as large as the number of threads: every thread may hold
    // an instance of either kind at the same time.
    let rt = js::runtime(RuntimeOptions { max_instances: THREADS, ..RuntimeOptions::default() });
    let mut plugins: Vec<Plugin> = builtin::all().iter().map(|b| builtin(&rt, b.name, patient())).collect();
    plugins.push(load_js(&rt, "invoice-paid-js", patient()));
    let all_cases = cases::find(&tests_dir().join("cases")).unwrap();
    // Each plugin with its cases (the twin with invoice-paid's) and their expected actions.
    type Case = (Event, Context, serde_json::Value);
    let work: Vec<(&Plugin, Vec<Case>)> = plugins
        .iter()
        .map(|p| {
            let name = p.name().strip_suffix("-js").unwrap_or(p.name());
            let (mine, _) = cases::select(all_cases.clone(), name);
            let inputs = mine
                .iter()
                .map(|c| {
                    let (event, context) = case_input(c);
                    let expected: serde_json::Value =
                        serde_json::from_slice(&std::fs::read(c.dir.join("expected.json")).unwrap()).unwrap();
                    (event, context, expected)
                })
                .collect();
            (p, inputs)
        })
        .collect();
    std::thread::scope(|scope| {
        for thread in 0..THREADS as usize {
            let work = &work;
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    // Each thread starts at a different plugin, so kinds interleave.
                    for i in 0..work.len() {
                        let (plugin, inputs) = &work[(thread + round + i) % work.len()];
                        let (event, context, expected) = &inputs[round % inputs.len()];
                        let actions = plugin.handle(event, context).unwrap_or_else(|e| panic!("thread {thread}: {e}")).actions;
                        assert_eq!(&harness::actions_json(&actions), expected, "{} on {}", plugin.name(), event.id);
                    }
                }
            });
        }
    });
}

#[test]
fn serve_loads_the_javascript_plugin_from_a_path_beside_the_rust_one() {
    if !js::ready("serve_loads_the_javascript_plugin_from_a_path_beside_the_rust_one", js::unbuilt()) {
        return;
    }
    // A deadline no busy test machine reaches: it is wall-clock time.
    let plugins = format!(
        "[[plugins]]\nname = \"invoice-paid\"\ndeadline_ms = 5000\n\n[[plugins]]\npath = \"{}\"\ndeadline_ms = 5000\n",
        js::wasm_path("invoice-paid-js").display()
    );
    let site = support::site::Site::new("", &plugins);
    site.set_secret("wave.webhook_secret", "whsec-js-e2e");
    let server = site.start();
    let sent = site.stdout(&["wave", "send-test-event", "invoice.paid", "--url", &format!("{}/webhooks/wave", server.base)]);
    assert!(sent.starts_with("200"), "{sent}");
    let outbox = || site.json(&["outbox", "list", "--json"]).as_array().unwrap().clone();
    site.wait_for("both plugins' messages", || outbox().len() == 2);
    let rows = outbox();
    let by = |plugin: &str| rows.iter().find(|r| r["plugin"] == plugin).unwrap_or_else(|| panic!("no {plugin} row in {rows:?}"));
    let (rust, javascript) = (by("invoice-paid"), by("invoice-paid-js"));
    for field in ["channel", "to", "body", "event_id"] {
        assert_eq!(rust[field], javascript[field], "{field}");
    }
    assert!(javascript["body"].as_str().unwrap().contains("We received your payment of $8.98"), "{javascript}");
    let events = site.json(&["events", "list", "--json"]);
    assert_eq!(events[0]["status"], "dispatched", "{events}");
    drop(server);
}
