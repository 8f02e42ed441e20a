//! Plugin cost per event: `cargo bench -p ml-connector --bench plugins`.
//!
//! Prints the median of many runs of: a fresh instance + `handle` for one
//! default plugin; the same for every default plugin on one event (each
//! plugin on a seed event it subscribes to); and, for comparison, a call on
//! a long-lived instance. Then the same for the JavaScript twin
//! `invoice-paid-js` (built by host/build.rs when Node.js is there), beside
//! `invoice-paid`. Numbers are printed, never asserted.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ml_connector::builtin;
use ml_connector::harness;
use ml_connector::model::{Context, Event};
use ml_connector::runtime::{Limits, Plugin, Runtime, RuntimeOptions};
use ml_connector::sources::wave::payload;

const ROUNDS: usize = 5_000;

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
    let event = payload::parse(&std::fs::read(dir.join("event.json")).unwrap(), chrono::Utc::now()).unwrap();
    let context = harness::parse_context(&std::fs::read(dir.join("context.json")).unwrap()).unwrap();
    (event, context)
}

fn main() {
    let rt = Runtime::new(&RuntimeOptions::default()).expect("runtime");
    let plugins: Vec<Plugin> = builtin::all()
        .iter()
        .map(|b| rt.load(b.name, b.wasm, Limits::default(), BTreeMap::new()).expect("load"))
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
    javascript(&rt, &plugins);
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
    let js = rt.load("invoice-paid-js", &wasm, Limits::default(), BTreeMap::new()).expect("load invoice-paid-js");
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
