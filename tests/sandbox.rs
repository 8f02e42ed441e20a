//! The sandbox holds against hostile plugins: each misbehaviour is stopped or
//! rejected with an error naming plugin, event and cause, and a well-behaved
//! plugin in the same run still produces its actions.

mod support;

use std::time::Duration;

use ml_connector::dispatch::run_plugins;
use ml_connector::runtime::cache::CacheOutcome;
use ml_connector::model::{Action, Context, Event};
use ml_connector::runtime::{Failure, Limits, LoadError, Plugin, Runtime, RuntimeOptions};
use ml_connector::sinks::twilio::twiml;
use support::{event, load, test_wasm};

fn misbehave(rt: &Runtime) -> Plugin {
    load(rt, "misbehave")
}

fn run(rt: &Runtime, kind: &str, data: &str) -> Result<Vec<Action>, ml_connector::runtime::PluginError> {
    misbehave(rt).handle(&event(kind, data), &Context::bare("2026-04-29T10:00:00Z".into())).map(|i| i.actions)
}

#[test]
fn an_infinite_loop_is_stopped_at_the_deadline() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.loop", "").unwrap_err();
    assert_eq!(err.cause, Failure::Deadline(Duration::from_millis(50)));
    let text = err.to_string();
    assert!(text.contains("plugin misbehave failed on event evt-test.loop: deadline exceeded after 50 ms"), "{text}");
}

#[test]
fn the_deadline_is_configurable_per_plugin() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let limits = Limits { deadline: Duration::from_millis(5), ..Limits::default() };
    let plugin = rt.load("misbehave", &test_wasm("misbehave"), limits, Default::default()).unwrap();
    let err = plugin.handle(&event("test.loop", ""), &Context::bare("2026-04-29T10:00:00Z".into())).unwrap_err();
    assert_eq!(err.cause, Failure::Deadline(Duration::from_millis(5)));
}

#[test]
fn allocating_without_bound_hits_the_memory_cap() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.alloc", "").unwrap_err();
    assert_eq!(err.cause, Failure::Memory(16 << 20));
    assert!(err.to_string().contains("memory limit 16 MiB exceeded"), "{err}");
}

#[test]
fn a_panic_is_reported_with_its_message() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.panic", "").unwrap_err();
    let Failure::Trap { stderr, .. } = &err.cause else { panic!("expected a trap, got {err}") };
    assert!(stderr.contains("misbehave panicked on purpose"), "{stderr}");
    assert!(err.to_string().contains("plugin misbehave failed on event evt-test.panic: trapped"), "{err}");
}

/// Runs misbehave's `kind` with a deadline that 4,096 writes fit in even in a debug build on
/// a busy machine: these tests are about the output budget, not the deadline.
fn chatty(kind: &str) -> Result<Vec<Action>, ml_connector::runtime::PluginError> {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let limits = Limits { deadline: Duration::from_secs(10), ..Limits::default() };
    let plugin = rt.load("misbehave", &test_wasm("misbehave"), limits, Default::default()).unwrap();
    plugin.handle(&event(kind, ""), &Context::bare("2026-04-29T10:00:00Z".into())).map(|i| i.actions)
}

#[test]
fn output_over_the_budget_is_truncated_and_the_plugin_still_succeeds() {
    // 1 MiB to stdout and 1 MiB to stderr: 16 times the budget. A closed stream would panic
    // the guest; a truncated one lets it answer.
    let actions = chatty("test.chatter").unwrap();
    let [Action::Sms(m)] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!(m.body, "said a lot");
}

#[test]
fn a_trap_after_much_output_reports_the_tail_of_stderr() {
    let err = chatty("test.chatter-panic").unwrap_err();
    let Failure::Trap { stderr, .. } = &err.cause else { panic!("expected a trap, got {err}") };
    assert!(stderr.contains("last words after the chatter"), "{stderr}");
    assert!(stderr.len() <= 2048, "{} bytes", stderr.len());
}

#[test]
fn files_are_out_of_reach() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET").unwrap();
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.read-file", secret.to_str().unwrap()).unwrap_err();
    let Failure::Guest(msg) = &err.cause else { panic!("expected the plugin's own error, got {err}") };
    assert!(msg.starts_with("cannot read"), "{msg}");
    assert!(!err.to_string().contains("TOP-SECRET"));
}

#[test]
fn the_environment_and_arguments_are_empty() {
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("ML_CONNECTOR_TEST_LEAK", "should-not-be-seen") };
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.env", "").unwrap_err();
    assert_eq!(err.cause, Failure::Guest("no environment and no arguments".into()));
}

#[test]
fn sockets_cannot_be_opened() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.socket", &addr).unwrap_err();
    let Failure::Guest(msg) = &err.cause else { panic!("expected the plugin's own error, got {err}") };
    assert!(msg.starts_with(&format!("cannot connect to {addr}")), "{msg}");
    let accepted = listener.accept();
    assert!(matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "a connection got through: {accepted:?}");
}

#[test]
fn ten_thousand_actions_are_rejected() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let err = run(&rt, "test.flood", "").unwrap_err();
    assert_eq!(err.cause, Failure::Output("returned 10000 actions; at most 20 are allowed".into()));
}

#[test]
fn voice_text_cannot_inject_twiml() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let actions = run(&rt, "test.twiml", "").unwrap();
    let [Action::Call(call)] = actions.as_slice() else { panic!("expected one call, got {actions:?}") };
    let doc = twiml::say(&call.body);
    assert!(!doc.contains("<Dial>"), "{doc}");
    assert!(doc.contains("&lt;/Say&gt;&lt;Dial&gt;+15555550100&lt;/Dial&gt;"), "{doc}");
}

#[test]
fn a_well_behaved_plugin_still_runs_beside_each_hostile_one() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let plugins = [misbehave(&rt), load(&rt, "counter")];
    let kinds = ["test.loop", "test.alloc", "test.panic", "test.read-file", "test.env", "test.socket", "test.flood"];
    support::counter_runs_beside(&plugins, &kinds, "/etc/hostname");
}

#[test]
fn every_event_gets_a_fresh_instance() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let counter = load(&rt, "counter");
    let misbehaving = misbehave(&rt);
    for i in 0..5 {
        let ctx = Context::bare("2026-04-29T10:00:00Z".into());
        // A trap in between must not poison anything either.
        assert!(misbehaving.handle(&event("test.panic", ""), &ctx).is_err());
        let actions = counter.handle(&event(&format!("invoice.paid.{i}"), "{}"), &ctx).unwrap().actions;
        let [Action::Sms(m)] = actions.as_slice() else { panic!("{actions:?}") };
        assert_eq!(m.body, "call 1", "event {i} saw state from an earlier event");
    }
}

#[test]
fn compiled_plugins_are_cached_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let options = RuntimeOptions { cache_dir: Some(dir.path().to_path_buf()), ..RuntimeOptions::default() };
    let wasm = test_wasm("counter");
    {
        let rt = Runtime::new(&options).unwrap();
        let p = rt.load("counter", &wasm, Limits::default(), Default::default()).unwrap();
        assert_eq!(p.cache_outcome(), CacheOutcome::Compiled);
    }
    let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(cached.len(), 1, "one artifact per (wasm, engine config)");
    let rt = Runtime::new(&options).unwrap();
    let p = rt.load("counter", &wasm, Limits::default(), Default::default()).unwrap();
    assert_eq!(p.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(p.handle(&event("x", "{}"), &Context::bare("2026-04-29T10:00:00Z".into())).unwrap().actions.len(), 1);
}

#[test]
fn bytes_that_are_not_a_component_are_refused_at_load() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    for bytes in [&b"not wasm"[..], b"\0asm\x01\0\0\0"] {
        let err = rt.load("junk.wasm", bytes, Limits::default(), Default::default()).unwrap_err();
        assert!(matches!(err, LoadError::Compile { .. }), "{err}");
        assert!(err.to_string().starts_with("plugin junk.wasm: not a valid wasm component"), "{err}");
    }
}

#[test]
fn events_only_reach_subscribed_plugins() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let plugins = [misbehave(&rt)];
    let e: Event = event("invoice.paid", "{}");
    assert!(run_plugins(&plugins, &e, &Context::bare("2026-04-29T10:00:00Z".into())).is_empty());
}

/// The body of misbehave's `test.clock` answer for an event with id `id` at `now`.
fn clock_reading(plugin: &Plugin, id: &str, now: &str) -> String {
    let event = Event { id: id.into(), ..event("test.clock", "") };
    let actions = plugin.handle(&event, &Context::bare(now.into())).unwrap().actions;
    match &actions[..] {
        [Action::Sms(m)] => m.body.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_clock_and_randomness_a_plugin_sees_come_from_its_input_so_a_replay_is_identical() {
    let rt = Runtime::new(&RuntimeOptions::default()).unwrap();
    let plugin = misbehave(&rt);
    let first = clock_reading(&plugin, "evt-1", "2026-04-29T10:00:00.25Z");
    // The wall clock reads the context's `now` (1777456800 s and 0.25 s), the monotonic
    // clock stands still.
    assert!(first.starts_with("1777456800 250000000 "), "{first}");
    assert!(first.ends_with(" 0ns"), "{first}");
    assert_eq!(clock_reading(&plugin, "evt-1", "2026-04-29T10:00:00.25Z"), first, "a replay reads the same");
    let other = clock_reading(&plugin, "evt-2", "2026-04-29T10:00:00.25Z");
    assert_ne!(other.split(' ').nth(2), first.split(' ').nth(2), "another event gets other randomness: {first} / {other}");
    assert!(clock_reading(&plugin, "evt-1", "2026-12-01T00:00:00Z").starts_with("1796083200 0 "));
}
