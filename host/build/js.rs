//! The JavaScript plugins' part of `build.rs`: every `plugins/*/plugin.js`
//! and `tests/plugins/*/plugin.js` is built into a component with the SDK's
//! `ml-connector-js-build` (componentize-qjs), from the toolchain `npm ci`
//! installed in `sdk/js/node_modules`. Nothing here touches the network.
//!
//! Without Node.js or without that install, the plugins are not built: the
//! build says why in a cargo warning and hands the reason to the tests
//! (`ML_CONNECTOR_JS_UNAVAILABLE`), which then fail under `CI=true` and say
//! `SKIPPED` otherwise. `scripts/test` installs both before it builds.
//!
//! A plugin is rebuilt only when its inputs change (its folder, the SDK's
//! sources and WIT, the componentize-qjs version): each `.wasm` has a
//! `.inputs` stamp beside it holding their hash.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The oldest Node.js componentize-qjs supports.
const MIN_NODE_MAJOR: u32 = 18;

/// A JavaScript plugin: a folder holding `plugin.js`.
pub struct JsPlugin {
    /// The folder's name, which is also the `.wasm` file's stem.
    pub name: String,
    dir: PathBuf,
}

/// The JavaScript plugin folders under `dir`, sorted.
pub fn plugins_in(dir: &Path) -> Vec<JsPlugin> {
    let mut found: Vec<JsPlugin> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.path().join("plugin.js").is_file())
        .map(|e| JsPlugin { name: e.file_name().to_string_lossy().into_owned(), dir: e.path() })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// Builds started in the background; [`Builds::finish`] waits for them.
pub struct Builds {
    /// Per build: the plugin's name, its stamp file, its inputs' hash, the process.
    running: Vec<(String, PathBuf, String, Child)>,
}

/// Starts building every plugin in `plugins` whose inputs changed into
/// `out_dir`, or returns why JavaScript plugins cannot be built here.
pub fn start(root: &Path, plugins: &[JsPlugin], out_dir: &Path) -> Result<Builds, String> {
    let sdk = root.join("sdk/js");
    let tool = toolchain(&sdk)?;
    fs::create_dir_all(out_dir).expect("create the JavaScript plugins' output folder");
    let mut running = Vec::new();
    for plugin in plugins {
        let wasm = out_dir.join(format!("{}.wasm", plugin.name));
        let stamp = wasm.with_extension("inputs");
        let inputs = format!("{:016x}", inputs_hash(&sdk, &plugin.dir, &tool));
        if wasm.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == inputs) {
            continue;
        }
        let mut cmd = Command::new("node");
        cmd.arg(sdk.join("bin/build.mjs"))
            .arg(plugin.dir.join("plugin.js"))
            .arg("-o")
            .arg(&wasm)
            .arg("--module-root")
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // A plugin that needs more than the contract brings its own world.
        if plugin.dir.join("wit").is_dir() {
            cmd.arg("--wit").arg(plugin.dir.join("wit")).args(["--world", "plugin"]);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("run node to build {}: {e}", plugin.name));
        running.push((plugin.name.clone(), stamp, inputs, child));
    }
    Ok(Builds { running })
}

impl Builds {
    /// Waits for every build; a failed one fails the whole build with its output.
    pub fn finish(self) {
        for (name, stamp, inputs, child) in self.running {
            let output = child.wait_with_output().unwrap_or_else(|e| panic!("wait for the build of {name}: {e}"));
            assert!(
                output.status.success(),
                "building the JavaScript plugin {name} failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            fs::write(&stamp, inputs).expect("record the build stamp");
        }
    }
}

/// What identifies the installed toolchain (componentize-qjs's manifest), or
/// why there is none usable.
fn toolchain(sdk: &Path) -> Result<String, String> {
    let version = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("Node.js is not installed (`node --version`: {e})"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < MIN_NODE_MAJOR {
        return Err(format!("Node.js {version} is too old (componentize-qjs needs {MIN_NODE_MAJOR} or later)"));
    }
    let installed = sdk.join("node_modules/componentize-qjs/package.json");
    let manifest = fs::read_to_string(&installed)
        .map_err(|_| format!("{} is missing: run `npm ci` in sdk/js", installed.display()))?;
    let have = json(&manifest)["version"].as_str().map(str::to_string);
    let sdk_manifest = fs::read_to_string(sdk.join("package.json")).expect("read sdk/js/package.json");
    let wanted = json(&sdk_manifest)["dependencies"]["componentize-qjs"].as_str().map(str::to_string);
    if wanted.is_none() || wanted != have {
        return Err(format!(
            "sdk/js/node_modules has componentize-qjs {} but sdk/js/package.json pins {}: run `npm ci` in sdk/js",
            have.as_deref().unwrap_or("?"),
            wanted.as_deref().unwrap_or("?")
        ));
    }
    Ok(manifest)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// A hash of everything a plugin's component is built from.
fn inputs_hash(sdk: &Path, plugin_dir: &Path, toolchain: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    toolchain.hash(&mut hasher);
    for dir in [plugin_dir.to_path_buf(), sdk.join("src"), sdk.join("bin"), sdk.join("wit")] {
        hash_files(&dir, &mut hasher);
    }
    hasher.finish()
}

/// Feeds every file under `dir` (links followed), path and content, to `hasher`.
fn hash_files(dir: &Path, hasher: &mut DefaultHasher) {
    let mut entries: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(read) => read.filter_map(Result::ok).map(|e| e.path()).collect(),
        Err(_) => return,
    };
    entries.sort();
    for path in entries {
        if path.is_dir() {
            hash_files(&path, hasher);
        } else if let Ok(bytes) = fs::read(&path) {
            path.hash(hasher);
            bytes.hash(hasher);
        }
    }
}
