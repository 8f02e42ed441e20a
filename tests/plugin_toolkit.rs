//! The plugin author's toolkit end to end: `ml-connector plugin test` on the
//! default plugins' cases and on failing ones (a readable diff, exit 1), and
//! `ml-connector plugin new` for both languages: scaffolded into a temp
//! folder, built with the real toolchains (cargo for wasm32-wasip2;
//! npm and componentize-qjs), tested with `plugin test`, and loaded by
//! `serve` from a `[[plugins]] path`, as the README walks an author through.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use ml_connector::builtin;
use serde_json::Value;
use support::site::Site;
use support::{js, tests_dir};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ml-connector")).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs a build step in `dir`, asserting that it succeeds.
fn run_in(dir: &Path, cmd: &mut Command) {
    let out = cmd.current_dir(dir).output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed in {}:\n{}", dir.display(), text(&out));
}

#[test]
fn plugin_test_passes_every_default_plugin_on_its_own_cases() {
    let cases = tests_dir().join("cases");
    for b in builtin::all() {
        let out = cli(&["plugin", "test", b.name, cases.to_str().unwrap()]);
        let report = text(&out);
        assert!(out.status.success(), "{}:\n{report}", b.name);
        assert!(report.contains(" passed, 0 failed; ") && !report.contains("FAIL"), "{}:\n{report}", b.name);
    }
}

#[test]
fn plugin_test_shows_what_differs_and_exits_1_when_a_case_fails() {
    let dir = tempfile::tempdir().unwrap();
    let copy = |from: &str, to: &str| {
        let target = dir.path().join(to);
        std::fs::create_dir_all(&target).unwrap();
        for file in ["event.json", "context.json", "expected.json", "plugin"] {
            let source = tests_dir().join("cases").join(from).join(file);
            if source.exists() {
                std::fs::copy(source, target.join(file)).unwrap();
            }
        }
        target
    };
    copy("invoice-paid-paid", "a-passes");
    let differs = copy("invoice-paid-paid", "b-differs");
    let expected = std::fs::read_to_string(differs.join("expected.json")).unwrap().replace("Thank you!", "Thanks!");
    std::fs::write(differs.join("expected.json"), expected).unwrap();
    let refusal = copy("invoice-paid-overpaid", "c-expects-an-error");
    std::fs::remove_file(refusal.join("expected.json")).unwrap();
    std::fs::write(refusal.join("error.txt"), "not that").unwrap();
    let unsubscribed = copy("invoice-sent-sent", "d-not-subscribed");
    std::fs::write(unsubscribed.join("plugin"), "invoice-paid").unwrap();
    let incomplete = copy("invoice-paid-paid", "e-incomplete");
    std::fs::remove_file(incomplete.join("expected.json")).unwrap();
    // A case that expects the plugin's own error passes when the failure says it.
    let broken = copy("invoice-paid-paid", "f-refuses-broken-data");
    let event = std::fs::read_to_string(broken.join("event.json")).unwrap().replace("\"amount_paid\"", "\"amount\"");
    std::fs::write(broken.join("event.json"), event).unwrap();
    std::fs::remove_file(broken.join("expected.json")).unwrap();
    std::fs::write(broken.join("error.txt"), "missing field `amount_paid`\n").unwrap();

    let out = cli(&["plugin", "test", "invoice-paid", dir.path().to_str().unwrap()]);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(report.contains("PASS a-passes\n"), "{report}");
    assert!(report.contains("FAIL b-differs: the actions differ from expected.json:\n--- expected.json\n+++ actual\n"), "{report}");
    assert!(report.contains("\n-    \"body\": \"Acme Plumbing: Thanks! We received"), "{report}");
    assert!(report.contains("\n+    \"body\": \"Acme Plumbing: Thank you! We received"), "{report}");
    assert!(report.contains("FAIL c-expects-an-error: the plugin returned actions, error.txt expects a failure"), "{report}");
    assert!(report.contains("FAIL d-not-subscribed: invalid case: invoice-paid does not subscribe to invoice.sent"), "{report}");
    assert!(report.contains("FAIL e-incomplete: invalid case: has neither expected.json nor error.txt"), "{report}");
    assert!(report.contains("PASS f-refuses-broken-data\n"), "{report}");
    assert!(report.contains("2 passed, 4 failed"), "{report}");
}

#[test]
fn plugin_test_fails_when_no_case_is_for_the_plugin() {
    let out = cli(&["plugin", "test", "customer-welcome", tests_dir().join("cases").to_str().unwrap(), "--cases-for", "nobody"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("error: no cases for nobody in"), "{}", text(&out));
}

#[test]
fn plugin_new_refuses_a_bad_name_and_a_folder_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(&["plugin", "new", "Bad_Name", "--lang", "js", "--dir", dir.path().join("p").to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("\"Bad_Name\" is not a plugin name"), "{}", text(&out));
    std::fs::write(dir.path().join("mine.txt"), "keep").unwrap();
    let out = cli(&["plugin", "new", "pay-alert", "--lang", "rust", "--dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("already exists and is not empty"), "{}", text(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "nothing written");
}

/// `plugin new NAME --lang LANG` into `dir`, asserting it succeeds.
fn scaffold(name: &str, lang: &str, dir: &Path) {
    let out = cli(&["plugin", "new", name, "--lang", lang, "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Next:"), "{}", text(&out));
}

/// `plugin test WASM cases` in the plugin's folder passes its one case.
fn passes_its_case(dir: &Path, wasm: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ml-connector"))
        .args(["plugin", "test", wasm.to_str().unwrap(), "cases"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("PASS invoice-paid\n1 passed, 0 failed"), "{}", text(&out));
}

/// `serve` with the plugin from `[[plugins]] path`, beside the built-ins: Wave's sample payment
/// becomes the plugin's message to the team.
fn serve_runs(wasm: &Path, name: &str) {
    let site = Site::new("", &format!("[[plugins]]\npath = \"{}\"\nallow_to = [\"team:accounting\"]\n", wasm.display()));
    site.set_secret("wave.webhook_secret", "whsec-toolkit-e2e");
    let server = site.start();
    let sent = site.stdout(&["wave", "send-test-event", "invoice.paid", "--url", &format!("{}/webhooks/wave", server.base)]);
    assert!(sent.starts_with("200"), "{sent}");
    let outbox = || site.json(&["outbox", "list", "--json"]).as_array().unwrap().iter().filter(|r| r["plugin"] == name).cloned().collect::<Vec<Value>>();
    site.wait_for("the new plugin's message", || !outbox().is_empty());
    let rows = outbox();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["plugin"].as_str(), rows[0]["to"].as_str()), (Some(name), Some("team:accounting")), "{rows:?}");
    assert_eq!(rows[0]["body"], "Payment of $8.98 received.", "no business name or invoice before Wave is connected");
}

#[test]
fn a_new_rust_plugin_builds_passes_its_case_and_runs_in_serve() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("pay-alert");
    scaffold("pay-alert", "rust", &plugin);
    // The test's builds share one target folder, so a second run is quick.
    let target = js::root().join("target/scaffold-e2e");
    let cargo = || {
        let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
            cmd.env_remove(var);
        }
        cmd.env("CARGO_TARGET_DIR", &target);
        cmd
    };
    run_in(&plugin, cargo().arg("test"));
    run_in(&plugin, cargo().args(["build", "--release", "--target", "wasm32-wasip2"]));
    let wasm = target.join("wasm32-wasip2/release/pay_alert.wasm");
    passes_its_case(&plugin, &wasm);
    serve_runs(&wasm, "pay-alert");
}

#[test]
fn a_new_javascript_plugin_builds_passes_its_case_and_runs_in_serve() {
    if !js::ready("a_new_javascript_plugin_builds_passes_its_case_and_runs_in_serve", js::no_node()) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("pay-alert-js");
    scaffold("pay-alert-js", "js", &plugin);
    // The registry is only asked for what npm's cache (filled by sdk/js's `npm ci`) lacks.
    run_in(&plugin, Command::new("npm").args(["install", "--no-audit", "--no-fund", "--prefer-offline"]));
    assert!(plugin.join("node_modules/ml-connector-sdk/src/index.js").is_file(), "the SDK is copied, not linked");
    // The jsconfig.json it comes with type-checks it against the contract (with the SDK's tsc).
    run_in(&plugin, Command::new(js::root().join("sdk/js/node_modules/.bin/tsc")).args(["-p", "jsconfig.json"]));
    run_in(&plugin, Command::new("npm").args(["run", "build"]));
    let wasm = plugin.join("pay-alert-js.wasm");
    passes_its_case(&plugin, &wasm);
    serve_runs(&wasm, "pay-alert-js");
}
