//! Which `ML_CONNECTOR_*` variables the process may carry: the override of every key, and the
//! few that are not config keys. Any other is refused, so a typo is not silently ignored.

use super::{ConfigError, ENV_KEYS, ENV_PREFIX, env_var};

/// `ML_CONNECTOR_*` variables that are not config keys: the master key, logging, the store URL
/// (config key `store.url`, from the PostgreSQL work), and what the test suites set
/// (`ML_CONNECTOR_WASM_DIR`, `ML_CONNECTOR_JS_WASM_DIR` and `ML_CONNECTOR_JS_UNAVAILABLE` by
/// `host/build.rs`, which cargo also sets when it runs the tests; `ML_CONNECTOR_TEST_*` by tests).
const OTHER_VARIABLES: &[&str] = &[
    crate::secrets::MASTER_KEY_ENV,
    "ML_CONNECTOR_LOG",
    "ML_CONNECTOR_LOG_FORMAT",
    "ML_CONNECTOR_STORE_URL",
    "ML_CONNECTOR_WASM_DIR",
    "ML_CONNECTOR_JS_WASM_DIR",
    "ML_CONNECTOR_JS_UNAVAILABLE",
];

/// Prefix of variables reserved for the test suites.
const TEST_PREFIX: &str = "ML_CONNECTOR_TEST_";

/// Refuses an `ML_CONNECTOR_*` variable that names no key (a typo would otherwise be ignored
/// silently), suggesting the closest known name.
pub fn check_variable_names<I: IntoIterator<Item = String>>(names: I) -> Result<(), ConfigError> {
    let known: Vec<String> = ENV_KEYS
        .iter()
        .map(|(section, key, _)| env_var(section, key))
        .chain(OTHER_VARIABLES.iter().map(|v| (*v).to_owned()))
        .collect();
    for name in names {
        if !name.starts_with(ENV_PREFIX) || name.starts_with(TEST_PREFIX) || known.contains(&name) {
            continue;
        }
        let closest = known
            .iter()
            .map(|k| (strsim::levenshtein(k, &name), k))
            .min()
            .filter(|(distance, _)| *distance <= 3)
            .map(|(_, k)| format!("; did you mean {k}?"))
            .unwrap_or_default();
        return Err(ConfigError::UnknownVariable { var: name, hint: closest });
    }
    Ok(())
}
