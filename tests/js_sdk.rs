//! The JavaScript SDK (`sdk/js`): its helpers give the Rust SDK's answers
//! (`npm test`), its TypeScript types check against itself and the
//! JavaScript plugins (`npm run check`, with `tsc`), and everything generated
//! from the WIT contract is up to date (`npm run generate -- --check`).

mod support;

use std::process::Command;

use support::js;

/// Runs `program args…` in sdk/js and asserts that it succeeds.
fn in_sdk(program: &str, args: &[&str]) -> String {
    let sdk = js::root().join("sdk/js");
    let out = Command::new(program).args(args).current_dir(&sdk).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} {args:?} failed in {}:\n{text}", sdk.display());
    text
}

#[test]
fn the_javascript_helpers_give_the_rust_sdks_answers() {
    if !js::ready("the_javascript_helpers_give_the_rust_sdks_answers", js::no_node()) {
        return;
    }
    let out = in_sdk("node", &["--test", "test/helpers.test.mjs"]);
    assert!(out.contains("# fail 0"), "{out}");
}

#[test]
fn the_typescript_types_check_against_the_sdk_and_the_javascript_plugins() {
    if !js::ready("the_typescript_types_check_against_the_sdk_and_the_javascript_plugins", js::no_node()) {
        return;
    }
    in_sdk("node_modules/.bin/tsc", &["-p", "jsconfig.json"]);
}

#[test]
fn the_types_and_wit_in_the_sdk_are_generated_from_the_contract() {
    if !js::ready("the_types_and_wit_in_the_sdk_are_generated_from_the_contract", js::no_node()) {
        return;
    }
    in_sdk("node", &["scripts/generate.mjs", "--check"]);
}

#[test]
fn the_sdks_copy_of_the_contract_is_the_released_one() {
    // Needs nothing but the files, so it also runs where Node.js is missing.
    let root = js::root();
    let copy = std::fs::read(root.join("sdk/js/wit/plugin.wit")).unwrap();
    let released = std::fs::read(root.join("wit/since_v0.2.0/plugin.wit")).unwrap();
    assert!(copy == released, "sdk/js/wit/plugin.wit differs from wit/since_v0.2.0: run `npm run generate` in sdk/js");
}
