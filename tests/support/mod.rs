//! Shared helpers for the end-to-end tests.
#![allow(dead_code)] // each test binary uses a different subset

pub mod js;
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
