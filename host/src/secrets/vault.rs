//! The store's sealed secrets together with the master key that opens them: [`Vault`] reads and
//! writes one secret by name, [`SecretSet`] keeps the decrypted secrets a webhook is verified
//! against and reloads them from the store when a signature fails to match (at most every few
//! seconds), so `secrets set` on a running server takes effect without a restart.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{MasterKey, SecretString, SecretsError};
use crate::store::{SecretStore, StoreError};

/// Reload a [`SecretSet`] on a mismatch at most this often.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Why a secret could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening failed (wrong master key?).
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// A secret is stored but no master key is set to open it.
    #[error("the secret {name} is stored but no master key is set (ML_CONNECTOR_MASTER_KEY or [secrets] master_key_file)")]
    NoKey {
        /// The secret's name.
        name: String,
    },
}

/// Sealed secrets and the key to them.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn SecretStore>,
    key: Option<Arc<MasterKey>>,
}

impl Vault {
    /// The secrets in `store`, opened with `key` (none: nothing can be opened or stored).
    pub fn new(store: Arc<dyn SecretStore>, key: Option<Arc<MasterKey>>) -> Self {
        Vault { store, key }
    }

    /// The master key, when one is set.
    pub fn key(&self) -> Option<&Arc<MasterKey>> {
        self.key.as_ref()
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn SecretStore> {
        &self.store
    }

    /// The secret `name`, opened; `None` when it is not stored.
    pub async fn get(&self, name: &str) -> Result<Option<SecretString>, VaultError> {
        let Some(sealed) = self.store.get_secret(name).await? else { return Ok(None) };
        let key = self.key.as_ref().ok_or_else(|| VaultError::NoKey { name: name.to_owned() })?;
        Ok(Some(key.open(name, &sealed)?))
    }

    /// Seals `value` and stores it as `name` (replacing an older value).
    pub async fn put(&self, name: &str, value: &str) -> Result<(), VaultError> {
        let key = self.key.as_ref().ok_or_else(|| VaultError::NoKey { name: name.to_owned() })?;
        self.store.put_secret(name, key.seal(name, value)?).await?;
        Ok(())
    }

    /// Every stored secret whose name `matches`, opened, in name order. With no master key
    /// there are none.
    pub async fn all(&self, matches: fn(&str) -> bool) -> Result<Vec<SecretString>, VaultError> {
        if self.key.is_none() {
            return Ok(Vec::new());
        }
        let mut secrets = Vec::new();
        for (name, _) in self.store.list_secrets().await?.into_iter().filter(|(name, _)| matches(name)) {
            if let Some(secret) = self.get(&name).await? {
                secrets.push(secret);
            }
        }
        Ok(secrets)
    }
}

/// The secrets one kind of signature is checked against (every stored name that `matches`),
/// reloaded on demand.
pub struct SecretSet {
    vault: Vault,
    matches: fn(&str) -> bool,
    current: RwLock<Arc<Vec<SecretString>>>,
    last_load: Mutex<Option<Instant>>,
}

impl SecretSet {
    /// Loads every secret whose name `matches`.
    pub async fn load(vault: Vault, matches: fn(&str) -> bool) -> Result<Self, VaultError> {
        let secrets = vault.all(matches).await?;
        Ok(SecretSet { vault, matches, current: RwLock::new(Arc::new(secrets)), last_load: Mutex::new(Some(Instant::now())) })
    }

    /// The secrets loaded now.
    pub fn current(&self) -> Arc<Vec<SecretString>> {
        self.current.read().expect("secret set lock").clone()
    }

    /// Reloads from the store unless that was done in the last few seconds; the fresh set, or
    /// `None` when it is too soon (or the store failed, which is logged).
    pub async fn reload(&self) -> Option<Arc<Vec<SecretString>>> {
        {
            let mut last = self.last_load.lock().expect("secret set lock");
            if last.is_some_and(|at| at.elapsed() < RELOAD_EVERY) {
                return None;
            }
            *last = Some(Instant::now());
        }
        match self.vault.all(self.matches).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.current.write().expect("secret set lock") = fresh.clone();
                Some(fresh)
            }
            Err(e) => {
                tracing::error!(error = %e, "Could not reload webhook secrets from the store.");
                None
            }
        }
    }
}
