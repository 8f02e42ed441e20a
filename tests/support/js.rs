//! What tests of JavaScript plugins need: the components `host/build.rs`
//! built, Node.js and `sdk/js`'s `npm ci`. When something is missing a test
//! fails under `CI=true` (where `scripts/test` installs it all) and otherwise
//! prints `SKIPPED: …` and returns early.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ml_connector::runtime::{Runtime, RuntimeOptions};

/// The repository's root folder.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether `test` can go on: yes when nothing is `missing`; otherwise it
/// panics with the reason under `CI=true`, or prints `SKIPPED: {test}: …`
/// and says no.
pub fn ready(test: &str, missing: Option<String>) -> bool {
    let Some(reason) = missing else { return true };
    let hint = "`scripts/test` installs Node.js and npm and runs `npm ci` in sdk/js";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test} needs {reason} ({hint})");
    }
    // Straight to stderr, past the test harness's capture: a skip must show.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason} ({hint})");
    false
}

/// Why the JavaScript plugins were not built, if they were not.
pub fn unbuilt() -> Option<String> {
    match env!("ML_CONNECTOR_JS_UNAVAILABLE") {
        "" => None,
        reason => Some(format!("the JavaScript plugins, which were not built: {reason}")),
    }
}

/// Why Node.js and the SDK's packages cannot be used, if they cannot.
pub fn no_node() -> Option<String> {
    if Command::new("node").arg("--version").output().is_err() {
        return Some("Node.js, which is not installed".into());
    }
    let tools = root().join("sdk/js/node_modules/.bin/tsc");
    (!tools.exists()).then(|| format!("{}, which is missing", tools.display()))
}

/// The path of a JavaScript plugin built by host/build.rs, by folder name.
pub fn wasm_path(name: &str) -> PathBuf {
    Path::new(env!("ML_CONNECTOR_JS_WASM_DIR")).join(format!("{name}.wasm"))
}

/// The bytes of a JavaScript plugin built by host/build.rs, by folder name.
pub fn wasm(name: &str) -> Vec<u8> {
    let path = wasm_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A runtime that caches compiled components beside the built plugins, so
/// each test does not compile QuickJS again (seconds in a debug build).
pub fn runtime(options: RuntimeOptions) -> Runtime {
    let cache = Path::new(env!("ML_CONNECTOR_JS_WASM_DIR")).join("compiled");
    Runtime::new(&RuntimeOptions { cache_dir: Some(cache), ..options }).unwrap()
}
