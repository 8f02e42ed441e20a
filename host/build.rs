//! Builds the default plugins (`plugins/*`) for `wasm32-unknown-unknown` and
//! makes components of them, builds the test plugins (`tests/plugins/*`) for
//! `wasm32-wasip2`, puts every component in `target/wasm-plugins/components`
//! and embeds the default ones in the binary, so a fresh `cargo build` gives
//! an `ml-connector` that runs them with no extra files.
//!
//! The wasm crates are built by one nested cargo invocation per target into
//! their own target directory (`target/wasm-plugins`): a separate directory
//! avoids deadlocking on the outer build's lock, and one invocation shares the
//! SDK and its dependencies between the plugins of a target.
//!
//! JavaScript plugins (`plugin.js` folders in the same places) are built
//! beside them by `build/js.rs` when Node.js and `sdk/js`'s `npm ci` are
//! there; they are not embedded (see the README's Plugins section).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build/js.rs"]
mod js;

/// The guest stack: 64 KiB instead of Rust's 1 MiB default makes a fresh
/// instance several times cheaper and is plenty for a pure decider.
const GUEST_RUSTFLAGS: &str = "-Clink-arg=-zstack-size=65536";

/// The default plugins' target: with no WASI at all, a component is one core module with no
/// imports to wire up, which makes a fresh instance about 2 µs cheaper than on `wasm32-wasip2`
/// (README, Benchmarks). A panic's message is lost there (the failure keeps the trap and its
/// backtrace), which the default plugins can afford.
const DEFAULTS_TARGET: &str = "wasm32-unknown-unknown";
/// The test plugins' target, the one users build for: they probe the WASI sandbox, and check
/// that a panic's message reaches the failure.
const TESTS_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().expect("host/ lives in the workspace root").to_path_buf();
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));

    for watched in ["wit", "sdk", "plugins", "tests/plugins", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let defaults = crate_names(&root.join("plugins"));
    let test_plugins = crate_names(&root.join("tests/plugins"));
    let mut js_plugins = js::plugins_in(&root.join("plugins"));
    js_plugins.extend(js::plugins_in(&root.join("tests/plugins")));
    let plugins_dir = root.join("target").join("wasm-plugins");
    let js_dir = plugins_dir.join("js");
    let js_builds = js::start(&root, &js_plugins, &js_dir);
    let wasm_dir = plugins_dir.join("components");
    fs::create_dir_all(&wasm_dir).expect("create target/wasm-plugins/components");
    let cores = build_wasm(&root, &plugins_dir, DEFAULTS_TARGET, &defaults);
    for name in &defaults {
        let file = wasm_file(name);
        let core = fs::read(cores.join(&file)).unwrap_or_else(|e| panic!("built plugin {name} is missing: {e}"));
        let component = wit_component::ComponentEncoder::default()
            .module(&core)
            .and_then(|encoder| encoder.validate(true).encode())
            .unwrap_or_else(|e| panic!("making a component of {name}: {e:#}"));
        fs::write(wasm_dir.join(&file), component).expect("write a default plugin's component");
    }
    let tests = build_wasm(&root, &plugins_dir, TESTS_TARGET, &test_plugins);
    for name in &test_plugins {
        let file = wasm_file(name);
        fs::copy(tests.join(&file), wasm_dir.join(&file)).unwrap_or_else(|e| panic!("copy test plugin {name}: {e}"));
    }
    let js_unavailable = match js_builds {
        Ok(builds) => {
            builds.finish();
            String::new()
        }
        Err(reason) => {
            println!("cargo:warning=JavaScript plugins not built: {reason}. `scripts/test` installs what they need.");
            reason
        }
    };
    println!("cargo:rustc-env=ML_CONNECTOR_JS_WASM_DIR={}", js_dir.display());
    println!("cargo:rustc-env=ML_CONNECTOR_JS_UNAVAILABLE={js_unavailable}");

    let mut code = String::from("static BUILTINS: &[Builtin] = &[\n");
    for name in &defaults {
        let path = wasm_dir.join(wasm_file(name));
        writeln!(code, "    Builtin {{ name: {name:?}, wasm: include_bytes!({:?}) }},", path.display()).unwrap();
    }
    code.push_str("];\n");
    fs::write(out_dir.join("builtin_plugins.rs"), code).expect("write builtin_plugins.rs");

    // Tests and benches find the test plugins' and the defaults' components here.
    println!("cargo:rustc-env=ML_CONNECTOR_WASM_DIR={}", wasm_dir.display());
}

/// The crate directory names under `dir`, sorted (each is a package name).
fn crate_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The file a plugin crate's build writes: its name with `_` for `-`, `.wasm`.
fn wasm_file(crate_name: &str) -> String {
    format!("{}.wasm", crate_name.replace('-', "_"))
}

/// Runs the nested cargo build of `packages` for `target` into `target_dir` and returns the
/// directory holding their `.wasm` files.
fn build_wasm(root: &Path, target_dir: &Path, target: &str, packages: &[String]) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args(["build", "--target", target, "--profile", "plugin", "--target-dir"])
        .arg(target_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    // The outer build's flags and target are for the host, not the guests.
    for var in ["RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_TARGET_DIR", "CARGO_BUILD_RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", GUEST_RUSTFLAGS);
    let status = cmd.status().expect("run cargo to build the wasm plugins");
    assert!(
        status.success(),
        "building the wasm plugins for {target} failed (is the target installed? run `rustup target add {target}`)"
    );
    target_dir.join(target).join("plugin")
}
