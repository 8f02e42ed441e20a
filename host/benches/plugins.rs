//! Plugin cost per event: `cargo bench -p ml-connector --bench plugins`.
//!
//! Prints the median of many runs of: a fresh instance + `handle` for one
//! default plugin; the same for every default plugin on one event (each
//! plugin on a seed event it subscribes to); and, for comparison, a call on
//! a long-lived instance. Then the same for the JavaScript twin
//! `invoice-paid-js` (built by host/build.rs when Node.js is there), beside
//! `invoice-paid`. Numbers are printed, never asserted.
//!
//! Then where a fresh instance's time goes, phase by phase (`Plugin::profile`: state, store,
//! instantiate, lowering, the guest, lifting, dropping the store), and what the dispatcher adds
//! per event and per run: the recorded context (JSON + SHA-256), the actions' JSON, the
//! random seed (2 × SHA-256) and the WASI context (both only built when the guest calls WASI).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ml_connector::builtin;
use ml_connector::harness;
use ml_connector::model::{Context, Event};
use ml_connector::runtime::state::{PluginState, seed_bytes};
use ml_connector::runtime::{Limits, Phases, Plugin, Runtime, RuntimeOptions};
use ml_connector::store::RecordedContext;
use wasmtime_wasi::WasiView as _;

const ROUNDS: usize = 5_000;

/// The default memory cap; a deadline long enough that a busy machine preempting the bench
/// for a while does not fail a run (the deadline's cost does not depend on its length).
fn limits() -> Limits {
    Limits { deadline: Duration::from_secs(10), ..Limits::default() }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn measure(mut f: impl FnMut()) -> Duration {
    for _ in 0..200 {
        f(); // warm the pool and caches
    }
    median((0..ROUNDS).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed()
    }).collect())
}

/// The fixture case for `plugin` (its first one), as (event, context).
fn case_for(plugin: &str) -> (Event, Context) {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cases");
    let mut dirs: Vec<_> = std::fs::read_dir(&cases).expect("tests/cases").map(|e| e.unwrap().path()).collect();
    dirs.sort();
    let dir = dirs
        .into_iter()
        .find(|d| std::fs::read_to_string(d.join("plugin")).map(|p| p.trim() == plugin).unwrap_or(false))
        .unwrap_or_else(|| panic!("no case for {plugin}"));
    let event = harness::parse_event(&std::fs::read(dir.join("event.json")).unwrap()).unwrap();
    let context = harness::parse_context(&std::fs::read(dir.join("context.json")).unwrap()).unwrap();
    (event, context)
}

fn main() {
    let rt = Runtime::new(&RuntimeOptions::default()).expect("runtime");
    let plugins: Vec<Plugin> = builtin::all()
        .iter()
        .map(|b| rt.load(b.name, b.wasm, limits(), BTreeMap::new()).expect("load"))
        .collect();
    let inputs: Vec<(Event, Context)> = plugins.iter().map(|p| case_for(p.name())).collect();

    println!("median per event over {ROUNDS} runs ({} default plugins)", plugins.len());
    for (plugin, (event, context)) in plugins.iter().zip(&inputs) {
        let fresh = measure(|| {
            plugin.handle(event, context).expect("handle");
        });
        let mut instance = plugin.reusable_instance().expect("instance");
        let reused = measure(|| {
            instance.handle(event, context).expect("call").expect("handle");
        });
        println!(
            "  {:<18} fresh instance + handle: {:>7.1} µs   long-lived instance: {:>6.1} µs",
            plugin.name(),
            fresh.as_secs_f64() * 1e6,
            reused.as_secs_f64() * 1e6
        );
    }
    let all = measure(|| {
        for (plugin, (event, context)) in plugins.iter().zip(&inputs) {
            plugin.handle(event, context).expect("handle");
        }
    });
    println!("  all {} plugins, fresh instance each: {:.1} µs", plugins.len(), all.as_secs_f64() * 1e6);
    phases(&plugins, &inputs);
    per_dispatch(&plugins, &inputs);
    javascript(&rt, &plugins);
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The median of each phase of a fresh-instance call, per plugin.
fn phases(plugins: &[Plugin], inputs: &[(Event, Context)]) {
    type Phase = (&'static str, fn(&Phases) -> Duration);
    const PHASES: [Phase; 7] = [
        ("state", |p| p.state),
        ("store", |p| p.store),
        ("instantiate", |p| p.instantiate),
        ("lower", |p| p.lower),
        ("guest", |p| p.guest),
        ("lift", |p| p.lift),
        ("drop", |p| p.drop),
    ];
    println!("phases of a fresh instance + handle, median µs over {ROUNDS} runs (each phase's own median)");
    for (plugin, (event, context)) in plugins.iter().zip(inputs) {
        let profile = || plugin.profile(event, context).expect("profile");
        for _ in 0..200 {
            profile();
        }
        let runs: Vec<Phases> = (0..ROUNDS).map(|_| profile()).collect();
        let mut line = format!("  {:<18} phases:", plugin.name());
        let mut total = 0.0;
        for (name, phase) in PHASES {
            let median = us(median(runs.iter().map(phase).collect()));
            total += median;
            line.push_str(&format!(" {name} {median:.2}"));
        }
        let wasi = if runs.iter().any(|p| p.used_wasi) { "yes" } else { "no" };
        println!("{line}   sum {total:.1}   WASI calls: {wasi}");
    }
}

/// What the dispatcher and the sandbox add around the calls.
fn per_dispatch(plugins: &[Plugin], inputs: &[(Event, Context)]) {
    println!("per-dispatch costs, median µs over {ROUNDS} runs");
    let (event, context) = &inputs[0];
    let record = measure(|| {
        let json = serde_json::to_string(std::hint::black_box(context)).expect("context JSON");
        std::hint::black_box(RecordedContext::new(json));
    });
    println!("  recorded context (JSON + SHA-256), once per event: {:.2} µs", us(record));
    let actions = plugins[0].handle(event, context).expect("handle").actions;
    let json = measure(|| {
        std::hint::black_box(serde_json::to_string(std::hint::black_box(&actions)).expect("actions JSON"));
    });
    println!("  actions JSON ({} action(s) of {}), per run: {:.2} µs", actions.len(), plugins[0].name(), us(json));
    let seed = measure(|| {
        std::hint::black_box(seed_bytes(std::hint::black_box(&event.id)));
    });
    println!("  random seed (2 x SHA-256), per run that calls WASI: {:.2} µs", us(seed));
    let state = measure(|| {
        std::hint::black_box(PluginState::new("bench".into(), &event.id, Duration::ZERO, 16 << 20));
    });
    let wasi = measure(|| {
        let mut state = PluginState::new("bench".into(), &event.id, Duration::ZERO, 16 << 20);
        std::hint::black_box(state.ctx());
    });
    println!(
        "  store state: {:.2} µs without a WASI context, {:.2} µs with one (built only when the guest calls WASI)",
        us(state),
        us(wasi)
    );
}

/// The JavaScript twin's cost per event beside its Rust twin's, on the same case.
fn javascript(rt: &Runtime, plugins: &[Plugin]) {
    let unavailable = env!("ML_CONNECTOR_JS_UNAVAILABLE");
    if !unavailable.is_empty() {
        println!("JavaScript: invoice-paid-js was not built ({unavailable})");
        return;
    }
    let path = Path::new(env!("ML_CONNECTOR_JS_WASM_DIR")).join("invoice-paid-js.wasm");
    let wasm = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let js = rt.load("invoice-paid-js", &wasm, limits(), BTreeMap::new()).expect("load invoice-paid-js");
    let rust = plugins.iter().find(|p| p.name() == "invoice-paid").expect("invoice-paid");
    let (event, context) = case_for("invoice-paid");
    let fresh = |plugin: &Plugin| {
        measure(|| {
            plugin.handle(&event, &context).expect("handle");
        })
    };
    let (js_fresh, rust_fresh) = (fresh(&js), fresh(rust));
    let mut instance = js.reusable_instance().expect("instance");
    let reused = measure(|| {
        instance.handle(&event, &context).expect("call").expect("handle");
    });
    let peak = js.handle(&event, &context).expect("handle").memory_peak;
    println!("JavaScript (QuickJS via componentize-qjs, {:.1} MB component), median over {ROUNDS} runs", wasm.len() as f64 / 1e6);
    println!(
        "  {:<18} fresh instance + handle: {:>7.1} µs   long-lived instance: {:>6.1} µs   memory peak {:.2} MiB",
        js.name(),
        js_fresh.as_secs_f64() * 1e6,
        reused.as_secs_f64() * 1e6,
        peak as f64 / f64::from(1 << 20)
    );
    println!(
        "  {:<18} fresh instance + handle: {:>7.1} µs   (JavaScript / Rust: {:.0}x)",
        rust.name(),
        rust_fresh.as_secs_f64() * 1e6,
        js_fresh.as_secs_f64() / rust_fresh.as_secs_f64()
    );
}
