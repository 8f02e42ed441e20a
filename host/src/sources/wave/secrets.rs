//! The Wave webhook secrets the receiver checks signatures against: every
//! stored `wave.webhook_secret[.<suffix>]`, decrypted once and reloaded from
//! the store when a signature fails to match (at most every few seconds), so
//! `secrets set` on a running server takes effect without a restart.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::secrets::{MasterKey, SecretString, SecretsError, is_webhook_secret};
use crate::sources::wave::signature::{self, SignatureError};
use crate::store::{Store, StoreError};

/// Reload the secrets on a mismatch at most this often.
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// Why the secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Decrypting failed (wrong master key?).
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

/// The current webhook secrets and where to reload them from.
pub struct WebhookSecrets {
    store: Arc<dyn Store>,
    key: Option<Arc<MasterKey>>,
    current: RwLock<Arc<Vec<SecretString>>>,
    last_load: Mutex<Instant>,
}

impl WebhookSecrets {
    /// Loads every webhook secret from `store`. With no master key there are none.
    pub fn load(store: Arc<dyn Store>, key: Option<Arc<MasterKey>>) -> Result<Self, LoadError> {
        let secrets = read(&*store, key.as_deref())?;
        Ok(WebhookSecrets { store, key, current: RwLock::new(Arc::new(secrets)), last_load: Mutex::new(Instant::now()) })
    }

    /// How many secrets are loaded.
    pub fn count(&self) -> usize {
        self.current.read().expect("secrets lock").len()
    }

    /// Verifies a signature header, reloading the secrets once if none matches.
    pub fn verify(&self, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> Result<(), SignatureError> {
        let secrets = self.current.read().expect("secrets lock").clone();
        match signature::verify(header, body, &secrets, now, tolerance_secs) {
            Err(SignatureError::Mismatch | SignatureError::NoSecrets) if self.reload_due() => {
                match read(&*self.store, self.key.as_deref()) {
                    Ok(fresh) => {
                        let fresh = Arc::new(fresh);
                        *self.current.write().expect("secrets lock") = fresh.clone();
                        signature::verify(header, body, &fresh, now, tolerance_secs)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "Could not reload the Wave webhook secrets.");
                        signature::verify(header, body, &secrets, now, tolerance_secs)
                    }
                }
            }
            result => result,
        }
    }

    fn reload_due(&self) -> bool {
        let mut last = self.last_load.lock().expect("reload lock");
        if last.elapsed() < RELOAD_EVERY {
            return false;
        }
        *last = Instant::now();
        true
    }
}

fn read(store: &dyn Store, key: Option<&MasterKey>) -> Result<Vec<SecretString>, LoadError> {
    let Some(key) = key else { return Ok(Vec::new()) };
    let mut secrets = Vec::new();
    for (name, _) in store.list_secrets()?.into_iter().filter(|(name, _)| is_webhook_secret(name)) {
        if let Some(sealed) = store.get_secret(&name)? {
            secrets.push(key.open(&name, &sealed)?);
        }
    }
    Ok(secrets)
}
