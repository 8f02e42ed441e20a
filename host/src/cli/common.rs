//! What most commands need: the configuration, the store and the master key.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::config::Config;
use crate::secrets::{MASTER_KEY_ENV, MasterKey, Vault};
use crate::store::Store;

/// Loads the configuration (file, then `ML_CONNECTOR_*` overrides).
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    Ok(Config::load_with_process_env(path)?)
}

/// Opens (and migrates) the configured store.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    crate::store::open(&config.store).with_context(|| match &config.store.url {
        Some(_) => "cannot open the PostgreSQL store".to_owned(),
        None => format!("cannot open the store at {}", config.store.path.display()),
    })
}

/// The master key from `ML_CONNECTOR_MASTER_KEY` or `[secrets] master_key_file`, if either is set.
pub fn master_key(config: &Config) -> anyhow::Result<Option<MasterKey>> {
    Ok(MasterKey::load(&|name| std::env::var(name).ok(), config.secrets.master_key_file.as_deref())?)
}

/// The master key, or an error that says how to provide one.
pub fn require_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    master_key(config)?.with_context(|| {
        format!(
            "no master key: set {MASTER_KEY_ENV} (base64 of 32 random bytes, e.g. `openssl rand -base64 32`) \
             or [secrets] master_key_file"
        )
    })
}

/// The store's secrets with the master key, which must be set.
pub fn vault(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Vault> {
    Ok(Vault::new(store.clone(), Some(Arc::new(require_master_key(config)?))))
}
