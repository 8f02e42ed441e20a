//! Shared helpers for the end-to-end tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod console;
pub mod js;
pub mod postgres;
pub mod secret_logs;
pub mod site;

use std::path::{Path, PathBuf};

use ml_connector::model::Event;
use ml_connector::runtime::{Limits, Plugin, Runtime};

/// The workspace's top-level `tests/` folder.
pub fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests")
}

/// A test plugin built by host/build.rs, by package name.
pub fn test_wasm(name: &str) -> Vec<u8> {
    let path = Path::new(env!("ML_CONNECTOR_WASM_DIR")).join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Loads a test plugin with default limits and no settings.
pub fn load(rt: &Runtime, name: &str) -> Plugin {
    rt.load(name, &test_wasm(name), Limits::default(), Default::default()).unwrap()
}

/// An event of `kind` whose id is `evt-<kind>` and whose data is `data`.
pub fn event(kind: &str, data: &str) -> Event {
    Event {
        id: format!("evt-{kind}"),
        source: "test".into(),
        kind: kind.into(),
        business_id: "biz".into(),
        received_at: "2026-04-29T10:00:00Z".into(),
        data: data.into(),
    }
}

/// Runs `[hostile, counter]` on an event of each kind (with `data`): the
/// hostile plugin fails, named with the event, and `counter` still returns
/// its one action.
pub fn counter_runs_beside(plugins: &[Plugin; 2], kinds: &[&str], data: &str) {
    let hostile = plugins[0].name();
    for kind in kinds {
        let context = ml_connector::model::Context::bare("2026-04-29T10:00:00Z".into());
        let runs = ml_connector::dispatch::run_plugins(plugins, &event(kind, data), &context);
        assert_eq!(runs.len(), 2);
        let err = runs[0].outcome.as_ref().unwrap_err();
        assert_eq!((err.plugin.as_str(), err.event_id.as_str()), (hostile, format!("evt-{kind}").as_str()));
        let ok = runs[1].outcome.as_ref().unwrap_or_else(|e| panic!("counter failed beside {kind}: {e}"));
        assert_eq!(ok.actions.len(), 1, "{kind}");
    }
}
